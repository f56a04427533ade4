//! Capture state: how far each table's incremental sync has read (and the batch in flight),
//! and where binlog capture resumes.

use chrono::{Local, NaiveDate};

use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// A position in a table's change order: `(update_time, id)` of the last row captured.
pub type Position = (chrono::NaiveDateTime, i64);

/// How far incremental capture of one table has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureState {
    /// Sequence number of the last batch known to be committed to the lake.
    pub committed_batch: i64,
    /// Position after the last committed batch (`None` before the first).
    pub committed: Option<Position>,
    /// A batch that was being written when the last run stopped: its number and the
    /// position it would reach. Whether it reached the lake is read from the lake.
    pub pending: Option<(i64, Position)>,
    /// While a first capture (bootstrap) is in progress: the day its records belong to.
    pub bootstrap_dt: Option<NaiveDate>,
}

impl Catalog {
    /// The capture state of `table` (default state when it was never captured).
    pub fn capture_state(&self, table: &str) -> Result<CaptureState> {
        let row = self.db.query_opt(
            "SELECT committed_batch, committed_time, committed_id, pending_batch, pending_time,
                    pending_id, bootstrap_dt
             FROM capture_state WHERE table_name = ?1",
            sql_params![table],
        )?;
        let Some(row) = row else {
            return Ok(CaptureState::default());
        };
        let committed = match (
            row.opt_text(1, "capture_state.committed_time")?,
            row.opt_int(2, "capture_state.committed_id")?,
        ) {
            (Some(t), Some(id)) => Some((parse_time(&t, "capture_state.committed_time")?, id)),
            _ => None,
        };
        let pending = match (
            row.opt_int(3, "capture_state.pending_batch")?,
            row.opt_text(4, "capture_state.pending_time")?,
            row.opt_int(5, "capture_state.pending_id")?,
        ) {
            (Some(b), Some(t), Some(id)) => {
                Some((b, (parse_time(&t, "capture_state.pending_time")?, id)))
            }
            _ => None,
        };
        let bootstrap_dt = row
            .opt_text(6, "capture_state.bootstrap_dt")?
            .map(|d| {
                d.parse()
                    .map_err(|_| CatalogError::Corrupt("capture_state.bootstrap_dt"))
            })
            .transpose()?;
        Ok(CaptureState {
            committed_batch: row.int(0, "capture_state.committed_batch")?,
            committed,
            pending,
            bootstrap_dt,
        })
    }

    /// Records that batch `batch` reaching `position` is about to be written to the lake.
    pub fn set_pending(&self, table: &str, batch: i64, position: Position) -> Result<()> {
        self.db.execute(
            "INSERT INTO capture_state (table_name, pending_batch, pending_time, pending_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(table_name) DO UPDATE SET pending_batch = ?2, pending_time = ?3,
               pending_id = ?4",
            sql_params![table, batch, fmt_time(&position.0), position.1],
        )?;
        Ok(())
    }

    /// Records that batch `batch` is in the lake: the watermark moves to `position`.
    pub fn commit_batch(&self, table: &str, batch: i64, position: Position) -> Result<()> {
        self.db.execute(
            "INSERT INTO capture_state (table_name, committed_batch, committed_time, committed_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(table_name) DO UPDATE SET committed_batch = ?2, committed_time = ?3,
               committed_id = ?4, pending_batch = NULL, pending_time = NULL, pending_id = NULL",
            sql_params![table, batch, fmt_time(&position.0), position.1],
        )?;
        Ok(())
    }

    /// Marks a bootstrap of `table` as started (records belong to `dt`) or, with `None`, complete.
    pub fn set_bootstrap(&self, table: &str, dt: Option<NaiveDate>) -> Result<()> {
        self.db.execute(
            "INSERT INTO capture_state (table_name, bootstrap_dt) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET bootstrap_dt = ?2",
            sql_params![table, dt.map(|d| d.to_string())],
        )?;
        Ok(())
    }

    /// Forgets a pending batch that never reached the lake.
    pub fn clear_pending(&self, table: &str) -> Result<()> {
        self.db.execute(
            "UPDATE capture_state SET pending_batch = NULL, pending_time = NULL, pending_id = NULL
             WHERE table_name = ?1",
            sql_params![table],
        )?;
        Ok(())
    }

    /// Where binlog capture from `source` resumes: the binlog file and offset after the last
    /// transaction whose changes are all in the lake. `None` before the first capture.
    pub fn binlog_position(&self, source: &str) -> Result<Option<(String, u64)>> {
        let row = self.db.query_opt(
            "SELECT file, \"offset\" FROM binlog_position WHERE source = ?1",
            sql_params![source],
        )?;
        row.map(|r| {
            let file = r.text(0, "binlog_position.file")?;
            let offset = r.int(1, "binlog_position.offset")?;
            u64::try_from(offset)
                .map(|o| (file, o))
                .map_err(|_| CatalogError::Corrupt("binlog_position.offset"))
        })
        .transpose()
    }

    /// Every capture's committed binlog position: (capture key, file, offset), for the
    /// figures that tell how far each capture is behind its server.
    pub fn binlog_positions(&self) -> Result<Vec<(String, String, u64)>> {
        let rows = self.db.query(
            "SELECT source, file, \"offset\" FROM binlog_position ORDER BY source",
            vec![],
        )?;
        rows.iter()
            .map(|r| {
                let offset = u64::try_from(r.int(2, "binlog_position.offset")?)
                    .map_err(|_| CatalogError::Corrupt("binlog_position.offset"))?;
                Ok((
                    r.text(0, "binlog_position.source")?,
                    r.text(1, "binlog_position.file")?,
                    offset,
                ))
            })
            .collect()
    }

    /// Records that capture from `source` has everything before `file:offset` in the lake.
    pub fn set_binlog_position(&self, source: &str, file: &str, offset: u64) -> Result<()> {
        self.db.execute(
            "INSERT INTO binlog_position (source, file, \"offset\", updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(source) DO UPDATE SET file = ?2, \"offset\" = ?3, updated = ?4",
            sql_params![
                source,
                file,
                i64::try_from(offset).unwrap_or(i64::MAX),
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;
    use chrono::{NaiveDate, NaiveDateTime};

    fn t(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn pending_then_commit_moves_the_watermark() {
        for (backend, c) in catalogs("watermark") {
            assert_eq!(c.capture_state("payment").unwrap(), CaptureState::default());
            c.set_pending("payment", 1, (t(1), 7)).unwrap();
            let s = c.capture_state("payment").unwrap();
            assert_eq!(s.pending, Some((1, (t(1), 7))), "{backend}");
            assert_eq!(s.committed, None, "{backend}");
            c.commit_batch("payment", 1, (t(1), 7)).unwrap();
            let s = c.capture_state("payment").unwrap();
            assert_eq!(
                (s.committed_batch, s.committed, s.pending),
                (1, Some((t(1), 7)), None),
                "{backend}"
            );
            let day = NaiveDate::from_ymd_opt(2026, 1, 2);
            c.set_bootstrap("payment", day).unwrap();
            assert_eq!(
                c.capture_state("payment").unwrap().bootstrap_dt,
                day,
                "{backend}"
            );
            c.set_bootstrap("payment", None).unwrap();
            c.set_pending("payment", 2, (t(2), 9)).unwrap();
            c.clear_pending("payment").unwrap();
            let s = c.capture_state("payment").unwrap();
            assert_eq!((s.pending, s.bootstrap_dt), (None, None), "{backend}");
        }
    }

    #[test]
    fn binlog_position_is_kept_per_source() {
        for (backend, c) in catalogs("binlog") {
            assert_eq!(c.binlog_position("a").unwrap(), None);
            c.set_binlog_position("a", "binlog.000002", 4567).unwrap();
            c.set_binlog_position("b", "binlog.000001", 4).unwrap();
            c.set_binlog_position("a", "binlog.000003", 8).unwrap();
            assert_eq!(
                c.binlog_position("a").unwrap(),
                Some(("binlog.000003".to_string(), 8)),
                "{backend}"
            );
            assert_eq!(
                c.binlog_position("b").unwrap(),
                Some(("binlog.000001".to_string(), 4)),
                "{backend}"
            );
        }
    }
}
