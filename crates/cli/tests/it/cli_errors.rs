//! Bad input gets one clear line on stderr and a failing exit code, never a panic.

use std::process::Command;

fn medlake(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medlake"));
    cmd.current_dir(dir.path()).args(["--quiet"]).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("medlake runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected '{needle}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_config_file_is_named() {
    let (ok, _, err) = medlake(&["--config", "nope.toml", "config"], &[]);
    assert!(!ok);
    assert_one_line_error(&err, "nope.toml");
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[sync]\nparalelism = 3\n").unwrap();
    let (ok, _, err) = medlake(&["--config", file.to_str().unwrap(), "config"], &[]);
    assert!(!ok);
    assert_one_line_error(&err, "paralelism");
}

#[test]
fn unsupported_url_scheme_is_refused() {
    let (ok, _, err) = medlake(
        &["sync"],
        &[("MEDLAKE_BUSINESS_URL", "postgres://x@localhost/db")],
    );
    assert!(!ok);
    assert_one_line_error(&err, "unsupported database URL scheme");
}

#[test]
fn missing_sqlite_file_is_named() {
    let (ok, _, err) = medlake(
        &["sync"],
        &[("MEDLAKE_BUSINESS_URL", "sqlite://does/not/exist.db")],
    );
    assert!(!ok);
    assert_one_line_error(&err, "does/not/exist.db");
}

#[test]
fn unreachable_mysql_is_one_line_and_hides_the_password() {
    let (ok, _, err) = medlake(
        &["sync"],
        &[(
            "MEDLAKE_BUSINESS_URL",
            "mysql://root:s3cret@127.0.0.1:1/medlake",
        )],
    );
    assert!(!ok);
    assert_one_line_error(&err, "127.0.0.1:1");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "simulate",
        "sync",
        "lake",
        "runs",
        "config",
        "demo",
        "serve",
        "users",
        "users add",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let (ok, out, err) = medlake(&args, &[]);
        assert!(ok, "{cmd} --help failed: {err}");
        assert!(out.contains("Usage: medlake"), "{cmd}: {out}");
    }
}
