//! medlake beside a real Orthanc (Debian's `orthanc` and `orthanc-dicomweb`, installed by
//! scripts/services.sh): studies uploaded through Orthanc's REST API are ingested from its
//! change feed while the ingest is killed at random moments and restarted, and every
//! instance ends in the lake exactly once; the same studies through DICOMweb (QIDO-RS and
//! WADO-RS) count alike; a series preview is fetched back from Orthanc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::NaiveDate;
use medlake_imaging::synth::{write_study, StudySpec};

use crate::common::{path_str, Sandbox};
use crate::imaging_files::{assert_no_identifier_in, lake_counts};

/// Orthanc, killed when dropped.
struct Orthanc {
    child: Child,
    http: String,
    password: String,
    _dir: tempfile::TempDir,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    let f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut &f, &mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Orthanc {
    fn start() -> Orthanc {
        let plugin = std::env::var("MEDLAKE_TEST_ORTHANC_PLUGIN").unwrap_or_else(|_| {
            panic!("MEDLAKE_TEST_ORTHANC_PLUGIN is not set: run the tests through scripts/test.sh (scripts/services.sh installs Orthanc)")
        });
        let binary = Path::new("/usr/sbin/Orthanc");
        assert!(
            binary.is_file(),
            "Orthanc is missing: scripts/services.sh installs Debian's orthanc"
        );
        let dir = tempfile::tempdir().unwrap();
        let (http, dicom) = (free_port(), free_port());
        let password = random_password();
        let config = serde_json::json!({
            "Name": "medlake-test",
            "StorageDirectory": dir.path().join("storage"),
            "IndexDirectory": dir.path().join("index"),
            "HttpPort": http,
            "DicomPort": dicom,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": true,
            "RegisteredUsers": { "medlake": password },
            "StableAge": 1,
            "Plugins": [plugin],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
        });
        let config_path = dir.path().join("orthanc.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
        let child = Command::new(binary)
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("Orthanc starts");
        let orthanc = Orthanc {
            child,
            http: format!("127.0.0.1:{http}"),
            password,
            _dir: dir,
        };
        for _ in 0..300 {
            if orthanc.get("system").is_some() {
                return orthanc;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "Orthanc did not come up:\n{}",
            std::fs::read_to_string(orthanc._dir.path().join("orthanc.log")).unwrap_or_default()
        );
    }

    fn request(&self, method: &str, path: &str, body: Vec<u8>) -> Option<(u16, Vec<u8>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let url = format!("http://{}/{path}", self.http);
            let request = match method {
                "POST" => client.post(url).body(body),
                _ => client.get(url),
            };
            let response = request
                .basic_auth("medlake", Some(&self.password))
                .send()
                .await
                .ok()?;
            let status = response.status().as_u16();
            Some((status, response.bytes().await.ok()?.to_vec()))
        })
    }

    fn get(&self, path: &str) -> Option<serde_json::Value> {
        match self.request("GET", path, Vec::new()) {
            Some((200, body)) => serde_json::from_slice(&body).ok(),
            _ => None,
        }
    }

    fn upload(&self, files: &[PathBuf]) {
        for file in files {
            let (status, body) = self
                .request("POST", "instances", std::fs::read(file).unwrap())
                .expect("Orthanc answers an upload");
            assert_eq!(
                status,
                200,
                "upload refused: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    /// Waits until Orthanc has reported `studies` studies stable on its change feed.
    fn wait_stable(&self, studies: usize) {
        for _ in 0..600 {
            let changes = self.get("changes?since=0&limit=100000").unwrap();
            let stable = changes["Changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["ChangeType"] == "StableStudy")
                .map(|c| c["ID"].as_str().unwrap().to_string())
                .collect::<std::collections::BTreeSet<_>>();
            if stable.len() >= studies {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("Orthanc never reported {studies} stable studies");
    }
}

fn study(exam_id: i64, modality: &str, patient: usize) -> StudySpec {
    StudySpec {
        exam_id,
        accession: format!("A{exam_id:012}"),
        patient_id: format!("{}", 700_000 + patient),
        patient_name: format!("Liu^Xiaoming{patient}"),
        birth_date: NaiveDate::from_ymd_opt(1960 + patient as i32, 1, 15),
        sex: "F".into(),
        modality: modality.into(),
        body_part: "HEAD".into(),
        performed_at: NaiveDate::from_ymd_opt(2026, 3, 1 + (exam_id % 3) as u32)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
        station_name: "H3-MR-01".into(),
        ae_title: "H0003MR01".into(),
        manufacturer: "Siemens Healthineers".into(),
        model_name: "MAGNETOM Vida".into(),
        institution: "Third Hospital".into(),
    }
}

/// Writes `n` studies from exam `first` on; returns their files.
fn studies(dir: &Path, first: i64, n: i64) -> Vec<PathBuf> {
    let modalities = ["CT", "MR", "US", "DX"];
    (first..first + n)
        .flat_map(|id| {
            write_study(
                dir,
                &study(id, modalities[(id % 4) as usize], (id % 5) as usize),
            )
            .unwrap()
            .files
        })
        .collect()
}

#[test]
fn ingest_from_orthanc_killed_at_random_moments_lands_every_instance_once() {
    let orthanc = Orthanc::start();
    let sandbox = Sandbox::sqlite();
    let files_dir = sandbox.dir.path().join("modality");
    let first_wave = studies(&files_dir, 1, 24);
    orthanc.upload(&first_wave);
    orthanc.wait_stable(24);

    let from = format!("orthanc+http://{}", orthanc.http);
    let env = [
        ("MEDLAKE_IMAGING_PACS_USER", "medlake"),
        ("MEDLAKE_PACS_PASSWORD", orthanc.password.as_str()),
        ("MEDLAKE_IMAGING_BATCH", "4"),
    ];
    // Kill the ingest after pseudo-random delays (the same every run), then upload a
    // second wave half way, and let the last run finish.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut killed = 0;
    for round in 0..12 {
        if round == 6 {
            let second_wave = studies(&files_dir, 100, 16);
            orthanc.upload(&second_wave);
            orthanc.wait_stable(40);
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(40 + state % 260);
        let mut child = sandbox.spawn(&["imaging", "ingest", "--from", &from], &env);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= 3,
        "the ingest was killed mid-run only {killed} times"
    );
    let out = sandbox.run_env(&["imaging", "ingest", "--from", &from], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("orthanc+http://127.0.0.1"), "{stdout}");
    assert!(!stdout.contains(&orthanc.password));

    let in_orthanc = orthanc.get("instances").unwrap().as_array().unwrap().len() as i64;
    assert_eq!(in_orthanc, files_in(&files_dir) as i64);
    let [_, studies_in_lake, _, instances, rows] = lake_counts(&sandbox);
    assert_eq!(
        instances, in_orthanc,
        "every instance Orthanc holds is in the lake"
    );
    assert_eq!(rows, instances, "and only once");
    assert_eq!(studies_in_lake, 40);

    // The runs are in the catalog, the killed ones failed or abandoned, the last succeeded.
    let runs = sandbox.run(&["runs", "--limit", "1"]);
    let runs = String::from_utf8_lossy(&runs.stdout);
    assert!(
        runs.contains("imaging-ingest") && runs.contains(" ok"),
        "{runs}"
    );

    // The same studies through DICOMweb, into a second lake.
    let web = Sandbox::sqlite();
    let from_web = format!("dicomweb+http://{}/dicom-web/", orthanc.http);
    let out = web.run_env(
        &[
            "imaging",
            "ingest",
            "--from",
            &from_web,
            "--study-dates",
            "2026-03-01..2026-03-03",
        ],
        &env,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("landed"));
    assert_eq!(lake_counts(&web)[3], in_orthanc);
    let again = web.run_env(
        &[
            "imaging",
            "ingest",
            "--from",
            &from_web,
            "--study-dates",
            "2026-03-01..2026-03-03",
        ],
        &env,
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(" 0 landed"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(lake_counts(&web)[4], in_orthanc);

    // No lake file names a patient.
    let identifiers: Vec<String> = (0..5)
        .flat_map(|p| [format!("Xiaoming{p}"), format!("{}", 700_000 + p)])
        .collect();
    assert_no_identifier_in(&sandbox.lake_path(), &identifiers);
    assert_no_identifier_in(&web.lake_path(), &identifiers);

    // A series preview, fetched back from Orthanc and rendered.
    let series = any_series(&sandbox);
    let png = sandbox.dir.path().join("preview.png");
    sandbox.run_env(
        &[
            "imaging",
            "preview",
            "--series",
            &series,
            "--out",
            path_str(&png),
        ],
        &env,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                files_in(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn any_series(sandbox: &Sandbox) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = sandbox.lake().session().await.unwrap();
        let batches = ctx
            .sql("SELECT min(series_instance_uid) FROM ods_dicom_instance WHERE modality = 'CT'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = deltalake::arrow::compute::cast(
            batches[0].column(0),
            &deltalake::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        column
            .as_any()
            .downcast_ref::<deltalake::arrow::array::StringArray>()
            .unwrap()
            .value(0)
            .to_string()
    })
}
