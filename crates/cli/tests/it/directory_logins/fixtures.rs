//! The directory test's fixtures: the OpenLDAP scripts/services.sh started (its passwords,
//! ldapmodify as its admin) and a CA with a server certificate made with openssl.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test directory scripts/services.sh made: its URL and the passwords it keeps.
pub(super) struct TestDirectory {
    pub(super) url: String,
    pub(super) password: String,
    admin_password: String,
}

impl TestDirectory {
    pub(super) fn from_env() -> TestDirectory {
        let url = std::env::var("MEDLAKE_TEST_LDAP_URL").unwrap_or_else(|_| {
            panic!("MEDLAKE_TEST_LDAP_URL is not set: run the tests through scripts/test.sh, which starts slapd")
        });
        let dir =
            PathBuf::from(std::env::var("MEDLAKE_TEST_LDAP_DIR").expect("MEDLAKE_TEST_LDAP_DIR"));
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
                .trim()
                .to_string()
        };
        TestDirectory {
            url,
            password: read("password"),
            admin_password: read("admin-password"),
        }
    }

    /// Applies an LDIF change as the directory's admin (ldapmodify, from ldap-utils).
    fn modify(&self, ldif: &str, tolerate_failure: bool) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args([
                "-x",
                "-H",
                &self.url,
                "-D",
                "cn=admin,dc=medlake,dc=test",
                "-w",
            ])
            .arg(&self.admin_password)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ldapmodify runs (scripts/services.sh installs ldap-utils)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() || tolerate_failure,
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub(super) fn set_disabled(&self, uid: &str, disabled: bool) {
        let dn = format!("dn: uid={uid},ou=people,dc=medlake,dc=test\nchangetype: modify\n");
        if disabled {
            self.modify(
                &format!("{dn}add: employeeType\nemployeeType: disabled\n"),
                false,
            );
        } else {
            // Absent already is fine.
            self.modify(&format!("{dn}delete: employeeType\n"), true);
        }
    }
}

/// A CA and a server certificate for `localhost` and 127.0.0.1, made with openssl.
pub(crate) struct TestCa {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    pub(crate) fn make(dir: &Path) -> TestCa {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=medlake test CA"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(dir, &ca);
        let mut csr = vec!["req", "-subj", "/CN=localhost", "-keyout", "server.key"];
        csr.extend(ec);
        csr.extend(["-out", "server.csr"]);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.pem",
            ],
        );
        TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}
