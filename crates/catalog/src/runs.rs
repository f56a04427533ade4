//! Run records: every job (a table's sync, a model's build) with its start, end, rows,
//! bytes and outcome, the history `medlake runs` and the web UI show.

use chrono::{Local, NaiveDate, NaiveDateTime};

use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// The kinds of job that keep run records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// A full snapshot of one master table (`ods_<table>_full`).
    FullSync,
    /// Incremental capture by query of one table (`ods_<table>_inc`).
    IncSync,
    /// The build of one warehouse step for one day.
    Build,
    /// Change capture from a binlog (one run per `medlake cdc` invocation).
    Cdc,
}

impl RunKind {
    /// Every kind, for listings and checks.
    pub const ALL: [RunKind; 4] = [
        RunKind::FullSync,
        RunKind::IncSync,
        RunKind::Build,
        RunKind::Cdc,
    ];

    /// The name stored in the catalog and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::FullSync => "full-sync",
            RunKind::IncSync => "inc-sync",
            RunKind::Build => "build",
            RunKind::Cdc => "cdc",
        }
    }

    /// The kind stored as `name`, if medlake knows it.
    pub fn parse(name: &str) -> Option<RunKind> {
        RunKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still running, or died without recording an end.
    Running,
    /// Finished.
    Succeeded,
    /// Stopped with an error.
    Failed,
    /// Not run because something it needs failed.
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "skipped" => Outcome::Skipped,
            _ => Outcome::Running,
        }
    }
}

/// One recorded run of a job on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Run id.
    pub id: i64,
    /// Job kind.
    pub kind: RunKind,
    /// What it worked on, e.g. a table name.
    pub target: String,
    /// Business day, where the job has one.
    pub dt: Option<NaiveDate>,
    /// Local start time.
    pub started: NaiveDateTime,
    /// Local end time, `None` while running.
    pub ended: Option<NaiveDateTime>,
    /// Outcome.
    pub outcome: Outcome,
    /// Rows moved.
    pub rows: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Error message of a failed run (never holds row values).
    pub message: Option<String>,
}

impl Catalog {
    /// Starts a run record and returns its id.
    pub fn start_run(&self, kind: RunKind, target: &str, dt: Option<NaiveDate>) -> Result<i64> {
        let row = self.db.query_opt(
            "INSERT INTO run (kind, target, dt, started, outcome)
             VALUES (?1, ?2, ?3, ?4, 'running') RETURNING id",
            sql_params![
                kind.as_str(),
                target,
                dt.map(|d| d.to_string()),
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        row.ok_or(CatalogError::Corrupt("run.id"))?.int(0, "run.id")
    }

    /// Ends run `id` with its outcome and figures.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: Outcome,
        rows: u64,
        bytes: u64,
        message: Option<&str>,
    ) -> Result<()> {
        self.db.execute(
            "UPDATE run SET ended = ?2, outcome = ?3, rows = ?4, bytes = ?5, message = ?6
             WHERE id = ?1",
            sql_params![
                id,
                fmt_time(&Local::now().naive_local()),
                outcome.as_str(),
                i64::try_from(rows).unwrap_or(i64::MAX),
                i64::try_from(bytes).unwrap_or(i64::MAX),
                message
            ],
        )?;
        Ok(())
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = self.db.query(
            "SELECT id, kind, target, dt, started, ended, outcome, rows, bytes, message
             FROM run ORDER BY id DESC LIMIT ?1",
            sql_params![i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter().map(run_record).collect()
    }
}

fn run_record(r: &crate::db::Row) -> Result<RunRecord> {
    let kind = r.text(1, "run.kind")?;
    Ok(RunRecord {
        id: r.int(0, "run.id")?,
        kind: RunKind::parse(&kind).ok_or(CatalogError::Corrupt("run.kind"))?,
        target: r.text(2, "run.target")?,
        dt: r
            .opt_text(3, "run.dt")?
            .map(|d| d.parse().map_err(|_| CatalogError::Corrupt("run.dt")))
            .transpose()?,
        started: parse_time(&r.text(4, "run.started")?, "run.started")?,
        ended: r
            .opt_text(5, "run.ended")?
            .map(|e| parse_time(&e, "run.ended"))
            .transpose()?,
        outcome: Outcome::parse(&r.text(6, "run.outcome")?),
        rows: r.int(7, "run.rows")?.max(0) as u64,
        bytes: r.int(8, "run.bytes")?.max(0) as u64,
        message: r.opt_text(9, "run.message")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_survives_reopen() {
        let t2 = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/catalog.db");
        {
            let c = Catalog::connect(&format!("sqlite://{}", path.display())).unwrap();
            c.commit_batch("user", 3, (t2, 9)).unwrap();
            let id = c.start_run(RunKind::Build, "dim_user", day).unwrap();
            c.finish_run(id, Outcome::Succeeded, 5, 6, None).unwrap();
            let id = c.start_run(RunKind::IncSync, "user", None).unwrap();
            c.finish_run(id, Outcome::Failed, 1, 2, Some("boom"))
                .unwrap();
        }
        let c = Catalog::open(&path).unwrap();
        assert_eq!(c.capture_state("user").unwrap().committed, Some((t2, 9)));
        let runs = c.recent_runs(5).unwrap();
        assert_eq!(runs[0].outcome, Outcome::Failed);
        assert_eq!(runs[0].message.as_deref(), Some("boom"));
        assert_eq!((runs[0].kind, runs[0].dt), (RunKind::IncSync, None));
        assert_eq!((runs[1].kind, runs[1].dt), (RunKind::Build, day));
        assert_eq!(runs[1].rows, 5);
    }
}

#[cfg(test)]
mod on_both_backends {
    use super::*;
    use crate::testing::catalogs;

    #[test]
    fn runs_are_numbered_and_listed_newest_first() {
        for (backend, c) in catalogs("runs") {
            let day = NaiveDate::from_ymd_opt(2026, 1, 7);
            let first = c.start_run(RunKind::FullSync, "hospital", day).unwrap();
            let second = c.start_run(RunKind::Cdc, "medical", None).unwrap();
            assert!(second > first, "{backend}");
            c.finish_run(first, Outcome::Succeeded, 10, 2_000, None)
                .unwrap();
            c.finish_run(second, Outcome::Failed, 0, 0, Some("lost"))
                .unwrap();
            let runs = c.recent_runs(10).unwrap();
            assert_eq!(runs.len(), 2, "{backend}");
            assert_eq!(
                (runs[0].kind, runs[0].outcome),
                (RunKind::Cdc, Outcome::Failed)
            );
            assert_eq!(runs[0].message.as_deref(), Some("lost"), "{backend}");
            assert_eq!((runs[1].dt, runs[1].rows, runs[1].bytes), (day, 10, 2_000));
            assert!(runs[1].ended.is_some(), "{backend}");
        }
    }
}
