//! `medlake imaging`: DICOM metadata into the lake (`ingest`), the files that could not be
//! read (`quarantine`), the simulator's studies as DICOM files (`simulate`), and a series
//! preview as PNG (`preview`). The work is medlake-imaging's; this module parses and reports.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use indicatif::ProgressBar;
use medlake_imaging::ingest::IngestOptions;
use medlake_imaging::{ingest, IngestProgress, Source};
use medlake_lake::Lake;

use crate::config::Config;
use crate::progress::steps_bar;

/// `medlake imaging`.
#[derive(Debug, clap::Args)]
pub struct ImagingCommand {
    #[command(subcommand)]
    sub: ImagingSub,
}

#[derive(Debug, clap::Subcommand)]
enum ImagingSub {
    /// Land DICOM metadata in ods_dicom_instance, de-identified, exactly once: from a
    /// folder of Part 10 files (new and changed files only), from Orthanc's change feed
    /// (orthanc+http://HOST:8042) or from a DICOMweb server (dicomweb+http://HOST/dicom-web).
    Ingest(IngestArgs),
    /// List the files that could not be read as DICOM instances, and why.
    Quarantine {
        /// Only this source (a folder path or PACS address as given to ingest).
        #[arg(long)]
        source: Option<String>,
    },
    /// Write the studies of the simulated exams performed on a day as DICOM files
    /// (`<study uid>/<series uid>/<sop uid>.dcm`), as the hospitals' modalities would send.
    Simulate {
        /// The first day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: NaiveDate,
        /// Days from `--day` on.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// The folder to write into.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Render the middle image of a series to a PNG file.
    Preview {
        /// The Series Instance UID.
        #[arg(long)]
        series: String,
        /// The PNG file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `medlake imaging ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// A folder, orthanc+http://HOST:PORT or dicomweb+http://HOST/PATH.
    #[arg(long, value_name = "SOURCE")]
    pub from: String,
    /// Keep following Orthanc's change feed, polling every this many seconds, until Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    pub follow: Option<u64>,
    /// DICOMweb: the study dates to search, `YYYY-MM-DD..YYYY-MM-DD` (default: from the
    /// last day searched, or a week back, to today).
    #[arg(long, value_name = "FROM..TO")]
    pub study_dates: Option<String>,
}

/// Runs `medlake imaging`.
pub async fn run(config: &Config, command: &ImagingCommand, quiet: bool) -> Result<()> {
    match &command.sub {
        ImagingSub::Ingest(args) => run_ingest(config, args, quiet).await,
        ImagingSub::Quarantine { source } => quarantine(config, source.as_deref()),
        ImagingSub::Simulate { day, days, to } => simulate(config, *day, *days, to, quiet).await,
        ImagingSub::Preview { series, out } => preview(config, series, out).await,
    }
}

/// A progress bar over objects read, with quarantined files printed above it.
struct IngestBar(ProgressBar);

impl IngestProgress for IngestBar {
    fn started(&self, total: u64) {
        if total == 0 {
            self.0.set_length(0);
            self.0.set_message("following the source");
        } else {
            self.0.set_length(total);
        }
    }
    fn advanced(&self, n: u64) {
        self.0.inc(n);
        if self.0.length() == Some(0) {
            self.0.set_message(format!("{} read", self.0.position()));
        }
    }
    fn quarantined(&self, what: &str, reason: &str) {
        self.0.println(format!("quarantined {what}: {reason}"));
    }
}

async fn run_ingest(config: &Config, args: &IngestArgs, quiet: bool) -> Result<()> {
    let source = Source::parse(&args.from)?;
    let options = IngestOptions {
        batch: config.imaging.batch.max(1),
        dates: config.imaging.date_policy()?,
        login: config.imaging.login()?,
        study_dates: args.study_dates.as_deref().map(parse_dates).transpose()?,
        follow: args.follow.map(Duration::from_secs),
        crash_at: None,
    };
    let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    let catalog = config.open_catalog()?;
    let bar = IngestBar(steps_bar(0, "imaging ingest", quiet));
    let job = ingest(&lake, &catalog, &source, &options, &bar);
    let report = tokio::select! {
        report = job => report?,
        _ = tokio::signal::ctrl_c() => {
            bar.0.abandon_with_message("stopped");
            // Whatever was committed stays; the next run resumes after it.
            println!("stopped; the next run resumes where this one stood");
            return Ok(());
        }
    };
    bar.0.finish_and_clear();
    println!(
        "{}: {} read, {} landed ({} bytes) in {} commits, {} already in the lake, {} unchanged files skipped, {} quarantined{}",
        report.source,
        report.read,
        report.landed.landed,
        report.landed.bytes,
        report.landed.commits,
        report.landed.duplicates,
        report.unchanged,
        report.quarantined,
        if report.dicomdirs > 0 {
            format!(", {} DICOMDIR index files not landed", report.dicomdirs)
        } else {
            String::new()
        }
    );
    if report.quarantined > 0 {
        println!("`medlake imaging quarantine` lists the quarantined files and why");
    }
    Ok(())
}

fn parse_dates(range: &str) -> Result<(NaiveDate, NaiveDate)> {
    let Some((from, to)) = range.split_once("..") else {
        bail!("--study-dates is FROM..TO, e.g. 2026-03-01..2026-03-07");
    };
    let day = |s: &str| {
        s.trim()
            .parse::<NaiveDate>()
            .with_context(|| format!("--study-dates: {s} is not a day (YYYY-MM-DD)"))
    };
    let (from, to) = (day(from)?, day(to)?);
    if from > to {
        bail!("--study-dates: {from} is after {to}");
    }
    Ok((from, to))
}

fn quarantine(config: &Config, source: Option<&str>) -> Result<()> {
    let catalog = config.open_catalog()?;
    let key = match source {
        Some(s) => Some(medlake_imaging::ingest::source_key(&Source::parse(s)?)?),
        None => None,
    };
    let files = catalog.quarantined_imaging_files(key.as_deref())?;
    if files.is_empty() {
        println!("no file is in quarantine");
        return Ok(());
    }
    for f in &files {
        println!(
            "{}\t{}\t{} bytes\t{}\t{}",
            f.at, f.source, f.size, f.path, f.reason
        );
    }
    println!("{} files in quarantine", files.len());
    Ok(())
}

async fn simulate(
    config: &Config,
    day: NaiveDate,
    days: u32,
    to: &PathBuf,
    quiet: bool,
) -> Result<()> {
    let source = medlake_source::open(&config.business.url).with_context(|| {
        format!(
            "business database {}",
            medlake_source::redact_url(&config.business.url)
        )
    })?;
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for d in 0..days {
        let dt = day + chrono::Duration::days(i64::from(d));
        let plan = medlake_imaging::synth_day::studies_of_day(source.as_ref(), dt).await?;
        let bar = steps_bar(
            plan.studies.len() as u64,
            &format!("studies of {dt}"),
            quiet,
        );
        let (mut files, mut bytes) = (0usize, 0u64);
        for spec in &plan.studies {
            let written = medlake_imaging::synth::write_study(to, spec)?;
            files += written.files.len();
            bytes += written.bytes;
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!(
            "{dt}: {} exams performed, {} studies written ({files} files, {bytes} bytes), {} without their study, {} without an order",
            plan.performed,
            plan.studies.len(),
            plan.missing,
            plan.unordered
        );
    }
    Ok(())
}

async fn preview(config: &Config, series: &str, out: &PathBuf) -> Result<()> {
    let catalog = config.open_catalog()?;
    let png =
        medlake_imaging::preview::preview_series(&catalog, series, config.imaging.login()?).await?;
    std::fs::write(out, &png).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), png.len());
    Ok(())
}
