//! `medlake-bench imaging`: metadata ingest from a local folder. `--studies` simulated
//! studies (CT, MR, DX, US in turn, 64x64 16-bit images, ~9 KB a file) are written once,
//! then ingested into a fresh lake and catalog: files per second and MB per second of the
//! whole run (walk, header reads on every core, de-identification, lake commits, catalog
//! records), a second run over the unchanged folder, and the header read alone.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_imaging::ingest::{IngestOptions, NoProgress};
use medlake_imaging::synth::{write_study, StudySpec};
use medlake_imaging::{ingest, Source};
use medlake_lake::Lake;

use crate::machine::{cpu_seconds, peak_rss_bytes, print_machine};

/// Settings of the imaging benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct ImagingArgs {
    /// Studies written (about 5 files each).
    #[arg(long, default_value_t = 4_000)]
    pub studies: i64,
    /// Instances per lake commit.
    #[arg(long, default_value_t = 2_000)]
    pub batch: usize,
    /// Keep the files here (reused when present) instead of a temporary folder.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

fn spec(id: i64) -> StudySpec {
    let modalities = ["CT", "MR", "DX", "US"];
    StudySpec {
        exam_id: id,
        accession: format!("A{id:012}"),
        patient_id: (100_000 + id % 7_919).to_string(),
        patient_name: format!("Patient^{id}"),
        birth_date: NaiveDate::from_ymd_opt(1950 + (id % 60) as i32, 1, 1),
        sex: if id % 2 == 0 { "F".into() } else { "M".into() },
        modality: modalities[(id % 4) as usize].into(),
        body_part: "CHEST".into(),
        performed_at: NaiveDate::from_ymd_opt(2026, 3, 1 + (id % 28) as u32)
            .and_then(|d| d.and_hms_opt(8 + (id % 10) as u32, 0, 0))
            .unwrap_or_default(),
        station_name: format!("H{}-CT-01", id % 200),
        ae_title: format!("H{:04}CT01", id % 200),
        manufacturer: "United Imaging".into(),
        model_name: "uCT 760".into(),
        institution: format!("Hospital {}", id % 200),
    }
}

/// Runs the benchmark.
pub async fn run(args: &ImagingArgs) -> Result<()> {
    print_machine();
    let temp = tempfile::tempdir()?;
    let files = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().join("dicom"));
    let (mut count, mut bytes) = (0usize, 0u64);
    let started = Instant::now();
    if files.is_dir() {
        for entry in walk(&files) {
            count += 1;
            bytes += std::fs::metadata(entry).map(|m| m.len()).unwrap_or(0);
        }
        println!(
            "reusing {count} files ({:.1} MB) in {}",
            mb(bytes),
            files.display()
        );
    } else {
        for id in 1..=args.studies {
            let written = write_study(&files, &spec(id))?;
            count += written.files.len();
            bytes += written.bytes;
        }
        println!(
            "wrote {count} files ({:.1} MB) in {:.1} s",
            mb(bytes),
            started.elapsed().as_secs_f64()
        );
    }

    let header_started = Instant::now();
    for path in walk(&files) {
        let file = std::fs::File::open(&path)?;
        medlake_imaging::header::read_header(file).context("reading a header")?;
    }
    let header_seconds = header_started.elapsed().as_secs_f64();
    println!(
        "header read alone, one thread: {:.0} files/s",
        count as f64 / header_seconds
    );

    let lake = Lake::open(
        temp.path().join("lake").to_str().unwrap_or("lake"),
        Default::default(),
    )?;
    let catalog = Catalog::open(&temp.path().join("catalog.db"))?;
    let source = Source::parse(files.to_str().unwrap_or_default())?;
    let options = IngestOptions {
        batch: args.batch,
        ..IngestOptions::default()
    };
    for label in [
        "first ingest (every file new)",
        "second ingest (nothing changed)",
    ] {
        let cpu = cpu_seconds();
        let started = Instant::now();
        let report = ingest(&lake, &catalog, &source, &options, &NoProgress).await?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label}: {} files read, {} landed in {} commits, {:.2} s wall, {:.2} s CPU: {:.0} files/s, {:.1} MB/s",
            report.read,
            report.landed.landed,
            report.landed.commits,
            seconds,
            cpu_seconds() - cpu,
            count as f64 / seconds,
            mb(bytes) / seconds
        );
    }
    println!(
        "peak RSS {:.0} MiB",
        peak_rss_bytes() as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
