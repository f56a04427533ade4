//! Lineage as the builds recorded it: each version of a step's column lineage (its body is
//! medlake-lineage's JSON; the catalog does not read it) kept once under the version's
//! hash, and, per step and business day, the version that built that day's partition. So
//! the lineage of a past day is the lineage that built it, even after the model changed.

use chrono::{Local, NaiveDate};

use crate::{fmt_time, Catalog, CatalogError, Result};

/// One step's lineage as a build recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageRecord {
    /// The step (the table it writes).
    pub step: String,
    /// The version (a hash of what the step ran).
    pub version: String,
    /// The business day of the build that used it.
    pub dt: NaiveDate,
    /// The lineage, as JSON.
    pub body: String,
}

impl Catalog {
    /// Records that `step` built partition `dt` with lineage `version`, keeping `body`
    /// under that version if it is new. A rebuild of the day replaces the day's version.
    pub fn record_lineage(
        &self,
        step: &str,
        version: &str,
        body: &str,
        dt: NaiveDate,
    ) -> Result<()> {
        let now = fmt_time(&Local::now().naive_local());
        self.db.execute(
            "INSERT INTO lineage_version (version, step, body, recorded) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(version) DO NOTHING",
            sql_params![version, step, body, now.clone()],
        )?;
        self.db.execute(
            "INSERT INTO lineage_build (step, dt, version, built) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(step, dt) DO UPDATE SET version = ?3, built = ?4",
            sql_params![step, dt.to_string(), version, now],
        )?;
        Ok(())
    }

    /// Every step's lineage: as of day `day` (the version that built that day's partition,
    /// else the step's latest build before it), or, without a day, the version of each
    /// step's most recent build.
    pub fn lineage_records(&self, day: Option<NaiveDate>) -> Result<Vec<LineageRecord>> {
        let rows = match day {
            Some(day) => self.db.query(
                "SELECT b.step, b.version, b.dt, v.body
                 FROM lineage_build b JOIN lineage_version v ON v.version = b.version
                 WHERE b.dt = (SELECT max(dt) FROM lineage_build l
                               WHERE l.step = b.step AND l.dt <= ?1)
                 ORDER BY b.step",
                sql_params![day.to_string()],
            )?,
            None => self.db.query(
                "SELECT b.step, b.version, b.dt, v.body
                 FROM lineage_build b JOIN lineage_version v ON v.version = b.version
                 WHERE b.built = (SELECT max(built) FROM lineage_build l WHERE l.step = b.step)
                 ORDER BY b.step",
                sql_params![],
            )?,
        };
        let mut out: Vec<LineageRecord> = Vec::new();
        for r in &rows {
            let step = r.text(0, "lineage_build.step")?;
            // Two builds of one step in the same instant: keep one.
            if out.last().is_some_and(|l| l.step == step) {
                continue;
            }
            out.push(LineageRecord {
                step,
                version: r.text(1, "lineage_build.version")?,
                dt: r
                    .text(2, "lineage_build.dt")?
                    .parse()
                    .map_err(|_| CatalogError::Corrupt("lineage_build.dt"))?,
                body: r.text(3, "lineage_version.body")?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn a_past_day_reads_the_version_that_built_it() {
        for (backend, catalog) in catalogs("lineage") {
            catalog
                .record_lineage("dwd_a", "v1", "[1]", day(1))
                .unwrap();
            catalog
                .record_lineage("dwd_a", "v1", "[1]", day(2))
                .unwrap();
            catalog
                .record_lineage("dwd_b", "w1", "[3]", day(2))
                .unwrap();
            catalog
                .record_lineage("dwd_a", "v2", "[2]", day(3))
                .unwrap();
            let on = |d| catalog.lineage_records(Some(day(d))).unwrap();
            assert_eq!(on(2)[0].version, "v1", "{backend}");
            assert_eq!(on(2)[1].step, "dwd_b", "{backend}");
            assert_eq!(on(3)[0].body, "[2]", "{backend}");
            assert_eq!(on(3)[1].dt, day(2), "latest before the day: {backend}");
            assert!(on(1).iter().all(|r| r.step == "dwd_a"), "{backend}");
            // Rebuilding day 1 with the old SQL makes v1 the latest build again.
            catalog
                .record_lineage("dwd_a", "v1", "[1]", day(1))
                .unwrap();
            let latest = catalog.lineage_records(None).unwrap();
            assert_eq!(latest[0].version, "v1", "{backend}");
            assert_eq!(latest.len(), 2, "{backend}");
        }
    }
}
