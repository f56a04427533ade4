//! DICOM files not written by medlake (pydicom's bundled test studies: CT, MR and CR of
//! three patients, with a DICOMDIR) ingested from a folder: the lake counts the patients,
//! studies, series and instances pydicom counts, holds none of their identifiers, and
//! quarantines what is not DICOM.

use std::path::{Path, PathBuf};
use std::process::Command;

use deltalake::arrow::array::Int64Array;

use crate::common::{path_str, python, Sandbox};

/// Where the venv's pydicom keeps its test studies.
fn pydicom_studies() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import os, pydicom; print(os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files', 'dicomdirtests'))",
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pydicom is not importable: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(
        dir.is_dir(),
        "pydicom ships no dicomdirtests at {}",
        dir.display()
    );
    dir
}

pub fn copy_tree(from: &Path, to: &Path) -> usize {
    let mut copied = 0;
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copied += copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            copied += 1;
        }
    }
    copied
}

/// pydicom's own count of `folder` (scripts/imaging/count_dicom.py).
pub fn pydicom_count(folder: &Path, out: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/imaging/count_dicom.py");
    let status = Command::new(python())
        .arg(script)
        .arg(folder)
        .arg(out)
        .status()
        .expect("python runs");
    assert!(status.success(), "count_dicom.py failed");
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// Distinct patients, studies, series, instances and all rows of `ods_dicom_instance`.
pub fn lake_counts(sandbox: &Sandbox) -> [i64; 5] {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = sandbox.lake().session().await.unwrap();
        let batches = ctx
            .sql(
                "SELECT count(DISTINCT coalesce(patient_pseudonym, '')), count(DISTINCT study_instance_uid),
                        count(DISTINCT series_instance_uid), count(DISTINCT sop_instance_uid), count(*)
                 FROM ods_dicom_instance",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let cell = |i: usize| {
            batches[0]
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
        };
        [cell(0), cell(1), cell(2), cell(3), cell(4)]
    })
}

/// Fails naming the file, never the identifier, if any lake file holds one of `identifiers`.
pub fn assert_no_identifier_in(dir: &Path, identifiers: &[String]) -> usize {
    let mut scanned = 0;
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        for (i, needle) in identifiers.iter().enumerate() {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "identifier #{i} of the fixtures is in {}",
                entry.display()
            );
        }
        scanned += 1;
    }
    scanned
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn pydicom_studies_count_alike_in_the_lake_and_leave_no_identifier_there() {
    let sandbox = Sandbox::sqlite();
    let folder = sandbox.dir.path().join("incoming");
    let copied = copy_tree(&pydicom_studies(), &folder);
    assert!(copied > 10, "pydicom's studies: {copied} files");
    std::fs::write(
        folder.join("scanner-notes.txt"),
        "scanned by the night shift",
    )
    .unwrap();
    let expected = pydicom_count(&folder, &sandbox.dir.path().join("pydicom.json"));
    assert!(
        expected["unreadable"].as_i64().unwrap() >= 1,
        "pydicom reads scanner-notes.txt as DICOM"
    );

    let out = sandbox.run(&["imaging", "ingest", "--from", path_str(&folder)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("DICOMDIR"), "{stdout}");
    // Quarantined: every file pydicom cannot read, and nothing pydicom reads as an
    // instance (a broken DICOMDIR index may be either way). Paths name patients in this
    // fixture, so failures give counts only.
    let listed = sandbox.run(&["imaging", "quarantine"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    let quarantined: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').nth(3))
        .collect();
    let names = |key: &str| -> Vec<String> {
        expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (unreadable_files, dicomdirs) = (names("unreadable_files"), names("dicomdir_files"));
    let missed = unreadable_files
        .iter()
        .filter(|f| !quarantined.contains(&f.as_str()))
        .count();
    assert_eq!(
        missed, 0,
        "files pydicom cannot read that medlake did not quarantine"
    );
    let wrongly = quarantined
        .iter()
        .filter(|q| !unreadable_files.iter().any(|f| f == *q) && !dicomdirs.iter().any(|d| d == *q))
        .count();
    assert_eq!(
        wrongly, 0,
        "instances pydicom reads that medlake quarantined"
    );
    assert!(quarantined.contains(&"scanner-notes.txt"));
    assert!(listed.contains("not a DICOM"), "the reason is given");

    let [patients, studies, series, instances, rows] = lake_counts(&sandbox);
    assert_eq!(patients, expected["patients"].as_i64().unwrap(), "patients");
    assert_eq!(studies, expected["studies"].as_i64().unwrap(), "studies");
    assert_eq!(series, expected["series"].as_i64().unwrap(), "series");
    assert_eq!(
        instances,
        expected["instances"].as_i64().unwrap(),
        "instances"
    );
    assert_eq!(rows, instances, "each instance once");

    let identifiers: Vec<String> = expected["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(identifiers.len() >= 3, "the fixtures name their patients");
    assert!(assert_no_identifier_in(&sandbox.lake_path(), &identifiers) >= 2);

    // A second run reads nothing; the quarantine says what and why.
    let again = sandbox.run(&["imaging", "ingest", "--from", path_str(&folder)]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(": 0 read"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(lake_counts(&sandbox)[4], rows);
}

#[test]
fn a_missing_folder_or_an_unknown_address_is_one_clear_line() {
    let sandbox = Sandbox::sqlite();
    for (from, says) in [
        (
            "/nonexistent/dicom",
            "cannot open folder /nonexistent/dicom",
        ),
        ("ftp://user:hunter2@pacs/x", "unknown source"),
        ("orthanc+http://127.0.0.1:9", "is not answering"),
    ] {
        let out = sandbox
            .command(&["imaging", "ingest", "--from", from])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from}");
        assert!(stderr.contains(says), "{from}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}
