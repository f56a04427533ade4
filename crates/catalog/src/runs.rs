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
    /// The quality checks of one table's partition run apart from a model's build: an ODS
    /// table's checks before a build reads it, or `medlake check`.
    Check,
    /// One `medlake imaging ingest` of DICOM metadata from a folder or a PACS.
    ImagingIngest,
}

impl RunKind {
    /// Every kind, for listings and checks.
    pub const ALL: [RunKind; 6] = [
        RunKind::FullSync,
        RunKind::IncSync,
        RunKind::Build,
        RunKind::Cdc,
        RunKind::Check,
        RunKind::ImagingIngest,
    ];

    /// The name stored in the catalog and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::FullSync => "full-sync",
            RunKind::IncSync => "inc-sync",
            RunKind::Build => "build",
            RunKind::Cdc => "cdc",
            RunKind::Check => "check",
            RunKind::ImagingIngest => "imaging-ingest",
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
    /// Starts a run record (with this process's id and host) and returns its id. Runs of
    /// the same kind that a dead process on this host left `running` are first marked
    /// failed (see [`fail_abandoned_runs`](Self::fail_abandoned_runs)).
    pub fn start_run(&self, kind: RunKind, target: &str, dt: Option<NaiveDate>) -> Result<i64> {
        self.fail_abandoned_runs(kind)?;
        let row = self.db.query_opt(
            "INSERT INTO run (kind, target, dt, started, outcome, pid, host)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6) RETURNING id",
            sql_params![
                kind.as_str(),
                target,
                dt.map(|d| d.to_string()),
                fmt_time(&Local::now().naive_local()),
                i64::from(std::process::id()),
                this_host()
            ],
        )?;
        row.ok_or(CatalogError::Corrupt("run.id"))?.int(0, "run.id")
    }

    /// Marks failed every run of `kind` still `running` whose process, on this host, is
    /// gone: it was killed (kill -9, out of memory) or its machine restarted before it
    /// could record an end. Runs of other hosts are left alone: whether their process lives
    /// cannot be told from here. Returns how many were marked.
    pub fn fail_abandoned_runs(&self, kind: RunKind) -> Result<u64> {
        let rows = self.db.query(
            "SELECT id, pid FROM run WHERE kind = ?1 AND outcome = 'running' AND host = ?2",
            sql_params![kind.as_str(), this_host()],
        )?;
        let mut marked = 0;
        for row in &rows {
            let id = row.int(0, "run.id")?;
            let Some(pid) = row.opt_int(1, "run.pid")? else {
                continue;
            };
            if pid == i64::from(std::process::id()) || process_alive(pid) {
                continue;
            }
            let message = format!(
                "ended without a record: process {pid} on {} is gone (killed or crashed)",
                this_host()
            );
            self.finish_run(id, Outcome::Failed, 0, 0, Some(&message))?;
            marked += 1;
        }
        Ok(marked)
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

    /// Sets the message of run `id` while it runs (a long capture reports what it could
    /// not land as it goes, so the record says it even if the process is killed).
    pub fn set_run_message(&self, id: i64, message: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE run SET message = ?2 WHERE id = ?1",
            sql_params![id, message],
        )?;
        Ok(())
    }

    /// The newest run of `kind` on `target` for day `dt`, if there was one.
    pub fn newest_run(
        &self,
        kind: RunKind,
        target: &str,
        dt: NaiveDate,
    ) -> Result<Option<RunRecord>> {
        let row = self.db.query_opt(
            "SELECT id, kind, target, dt, started, ended, outcome, rows, bytes, message
             FROM run WHERE kind = ?1 AND target = ?2 AND dt = ?3 ORDER BY id DESC LIMIT 1",
            sql_params![kind.as_str(), target, dt.to_string()],
        )?;
        row.as_ref().map(run_record).transpose()
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

/// This machine's name, as the kernel knows it (`localhost` when it cannot be read).
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether a process with id `pid` runs on this machine. A reused pid reads as alive,
/// which leaves a dead run `running` a little longer: never the reverse.
fn process_alive(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
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

    #[test]
    fn a_run_left_running_by_a_killed_process_is_failed_by_the_next_run_of_its_kind() {
        for (backend, c) in catalogs("abandoned") {
            // A process that has exited: its pid names no live process any more.
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let dead = i64::from(child.id());
            child.wait().unwrap();
            let killed = c.start_run(RunKind::Cdc, "medical", None).unwrap();
            let other_kind = c.start_run(RunKind::Build, "dim_user", None).unwrap();
            for id in [killed, other_kind] {
                c.db.execute(
                    "UPDATE run SET pid = ?2 WHERE id = ?1",
                    sql_params![id, dead],
                )
                .unwrap();
            }
            let alive = c.start_run(RunKind::Cdc, "other", None).unwrap();
            let next = c.start_run(RunKind::Cdc, "medical", None).unwrap();
            let runs = c.recent_runs(10).unwrap();
            let run = |id| runs.iter().find(|r| r.id == id).unwrap();
            assert_eq!(run(killed).outcome, Outcome::Failed, "{backend}");
            assert!(run(killed).ended.is_some(), "{backend}");
            let message = run(killed).message.clone().unwrap_or_default();
            assert!(
                message.contains("ended without a record"),
                "{backend}: {message}"
            );
            assert!(message.contains(&dead.to_string()), "{backend}: {message}");
            // This process lives; another kind is judged by its own next run.
            assert_eq!(run(alive).outcome, Outcome::Running, "{backend}");
            assert_eq!(run(next).outcome, Outcome::Running, "{backend}");
            assert_eq!(run(other_kind).outcome, Outcome::Running, "{backend}");
            c.start_run(RunKind::Build, "dim_user", None).unwrap();
            let runs = c.recent_runs(10).unwrap();
            let build = runs.iter().find(|r| r.id == other_kind).unwrap();
            assert_eq!(build.outcome, Outcome::Failed, "{backend}");
        }
    }
}
