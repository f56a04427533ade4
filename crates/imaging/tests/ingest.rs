//! Folder ingest end to end on files the simulator's writer makes: incremental reads,
//! quarantine, de-identification, and one test per crash window of the sink's protocol.

use std::path::Path;

use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_imaging::ingest::{IngestOptions, NoProgress};
use medlake_imaging::synth::{write_study, StudySpec};
use medlake_imaging::{ingest, CrashPoint, ImagingError, Source, INSTANCE_TABLE};
use medlake_lake::Lake;

const PATIENT_NAME: &str = "Zhang^Weiguo";
const PATIENT_ID: &str = "31415926";

fn spec(exam_id: i64, modality: &str) -> StudySpec {
    StudySpec {
        exam_id,
        accession: format!("A{exam_id:012}"),
        patient_id: PATIENT_ID.into(),
        patient_name: PATIENT_NAME.into(),
        birth_date: NaiveDate::from_ymd_opt(1971, 5, 4),
        sex: "M".into(),
        modality: modality.into(),
        body_part: "CHEST".into(),
        performed_at: NaiveDate::from_ymd_opt(2026, 3, 2)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap(),
        station_name: "H12-CT-01".into(),
        ae_title: "H0012CT01".into(),
        manufacturer: "United Imaging".into(),
        model_name: "uCT 760".into(),
        institution: "First Hospital".into(),
    }
}

/// Three studies (CT, MR, DX): the number of files written.
fn write_fixture(dir: &Path) -> usize {
    [spec(11, "CT"), spec(12, "MR"), spec(13, "DX")]
        .iter()
        .map(|s| write_study(dir, s).unwrap().files.len())
        .sum()
}

async fn counts(lake: &Lake) -> (i64, i64) {
    let ctx = lake.session().await.unwrap();
    let batches = ctx
        .sql(&format!(
            "SELECT count(*), count(DISTINCT sop_instance_uid) FROM {INSTANCE_TABLE}"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let cell = |i: usize| {
        batches[0]
            .column(i)
            .as_any()
            .downcast_ref::<deltalake::arrow::array::Int64Array>()
            .unwrap()
            .value(0)
    };
    (cell(0), cell(1))
}

struct Fixture {
    _dir: tempfile::TempDir,
    files: std::path::PathBuf,
    lake: Lake,
    catalog: Catalog,
    written: usize,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("dicom");
    let written = write_fixture(&files);
    let lake = Lake::open(
        dir.path().join("lake").to_str().unwrap(),
        Default::default(),
    )
    .unwrap();
    Fixture {
        files,
        lake,
        catalog: Catalog::open_in_memory().unwrap(),
        written,
        _dir: dir,
    }
}

fn options(batch: usize, crash_at: Option<CrashPoint>) -> IngestOptions {
    IngestOptions {
        batch,
        crash_at,
        ..IngestOptions::default()
    }
}

#[tokio::test]
async fn a_folder_lands_every_instance_once_and_reads_only_new_or_changed_files() {
    let f = fixture();
    let source = Source::parse(f.files.to_str().unwrap()).unwrap();
    let first = ingest(&f.lake, &f.catalog, &source, &options(7, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.read as usize, f.written);
    assert_eq!(first.landed.landed as usize, f.written);
    assert!(first.landed.commits >= 2, "batches of 7: {first:?}");
    assert_eq!(counts(&f.lake).await, (f.written as i64, f.written as i64));

    let again = ingest(&f.lake, &f.catalog, &source, &options(7, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!((again.read, again.unchanged as usize), (0, f.written));

    // A file rewritten in place (new modification time) is read again but not landed twice.
    let one = walk(&f.files).remove(0);
    let bytes = std::fs::read(&one).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&one, bytes).unwrap();
    let third = ingest(&f.lake, &f.catalog, &source, &options(7, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        (third.read, third.landed.landed, third.landed.duplicates),
        (1, 0, 1)
    );
    assert_eq!(counts(&f.lake).await.0, f.written as i64);
}

#[tokio::test]
async fn a_crash_before_a_lake_commit_lands_that_batch_on_the_next_run() {
    let f = fixture();
    let source = Source::parse(f.files.to_str().unwrap()).unwrap();
    let crashed = ingest(
        &f.lake,
        &f.catalog,
        &source,
        &options(5, Some(CrashPoint::BeforeLakeCommit(2))),
        &NoProgress,
    )
    .await;
    assert!(
        matches!(crashed, Err(ImagingError::Crash(_))),
        "{crashed:?}"
    );
    assert_eq!(counts(&f.lake).await.0, 5, "only the first batch landed");
    let resumed = ingest(&f.lake, &f.catalog, &source, &options(5, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(resumed.landed.landed as usize, f.written - 5);
    assert_eq!(counts(&f.lake).await, (f.written as i64, f.written as i64));
}

#[tokio::test]
async fn a_crash_between_a_lake_commit_and_the_catalog_skips_that_batch_on_the_next_run() {
    let f = fixture();
    let source = Source::parse(f.files.to_str().unwrap()).unwrap();
    let crashed = ingest(
        &f.lake,
        &f.catalog,
        &source,
        &options(5, Some(CrashPoint::AfterLakeCommit(2))),
        &NoProgress,
    )
    .await;
    assert!(
        matches!(crashed, Err(ImagingError::Crash(_))),
        "{crashed:?}"
    );
    assert_eq!(
        counts(&f.lake).await.0,
        10,
        "two batches landed, the catalog knows one"
    );
    let resumed = ingest(&f.lake, &f.catalog, &source, &options(5, None), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        resumed.read as usize,
        f.written - 5,
        "the second batch is read again"
    );
    assert_eq!(resumed.landed.duplicates, 5, "and skipped");
    assert_eq!(counts(&f.lake).await, (f.written as i64, f.written as i64));
}

#[tokio::test]
async fn unreadable_files_are_quarantined_with_a_reason_and_the_run_goes_on() {
    let f = fixture();
    std::fs::write(f.files.join("notes.txt"), "not an image").unwrap();
    let good = walk(&f.files).remove(0);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(f.files.join("truncated.dcm"), &bytes[..200]).unwrap();
    let source = Source::parse(f.files.to_str().unwrap()).unwrap();
    let report = ingest(
        &f.lake,
        &f.catalog,
        &source,
        &options(100, None),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.quarantined, 2);
    assert_eq!(report.landed.landed as usize, f.written);
    let quarantined = f.catalog.quarantined_imaging_files(None).unwrap();
    let mut paths: Vec<&str> = quarantined.iter().map(|q| q.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["notes.txt", "truncated.dcm"]);
    for q in &quarantined {
        assert!(!q.reason.is_empty() && !q.reason.contains(&q.path), "{q:?}");
    }
    // Unchanged quarantined files are not tried again; fixed ones are, and leave quarantine.
    std::fs::write(f.files.join("truncated.dcm"), &bytes).unwrap();
    let again = ingest(
        &f.lake,
        &f.catalog,
        &source,
        &options(100, None),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!((again.read, again.quarantined), (1, 0));
    assert_eq!(f.catalog.quarantined_imaging_files(None).unwrap().len(), 1);
}

#[tokio::test]
async fn no_lake_file_holds_the_patients_name_id_or_birth_date() {
    let f = fixture();
    let source = Source::parse(f.files.to_str().unwrap()).unwrap();
    ingest(
        &f.lake,
        &f.catalog,
        &source,
        &options(100, None),
        &NoProgress,
    )
    .await
    .unwrap();
    let lake_dir = f.files.parent().unwrap().join("lake");
    let mut scanned = 0;
    for file in walk(&lake_dir) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [PATIENT_NAME, "Zhang", PATIENT_ID, "19710504", "MRN31415926"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds an identifier",
                file.display()
            );
        }
        scanned += 1;
    }
    assert!(scanned >= 2, "the lake holds data and log files");
    // And the pseudonym is the project's one keyed pseudonym under the catalog's key.
    let key = medlake_imaging::ingest::pseudonym_key(&f.catalog).unwrap();
    let ctx = f.lake.session().await.unwrap();
    let batches = ctx
        .sql(&format!(
            "SELECT DISTINCT patient_pseudonym FROM {INSTANCE_TABLE}"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let values = deltalake::arrow::compute::cast(
        batches[0].column(0),
        &deltalake::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let values = values
        .as_any()
        .downcast_ref::<deltalake::arrow::array::StringArray>()
        .unwrap();
    use deltalake::arrow::array::Array;
    assert_eq!(values.len(), 1);
    assert_eq!(values.value(0), medlake_schema::pseudonym(&key, PATIENT_ID));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}
