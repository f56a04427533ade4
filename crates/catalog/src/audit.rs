//! The query audit: one row per statement, append-only and tamper-evident.
//!
//! Each row carries `hash = SHA-256(prev_hash, the row's fields)`, where `prev_hash` is the
//! hash of the row before it; the first chained row starts from the empty string. A row
//! altered, inserted or deleted by hand anywhere but at the very end breaks the chain at
//! that row, which [`Catalog::verify_audit`] finds (`medlake audit verify`). Appends take a
//! lock that makes reading the previous hash and inserting one step (`Db::append_after_last`),
//! so concurrent statements, and several processes sharing a PostgreSQL catalog, still form
//! one chain. Rows written before the chain existed (no hash) are counted as unchained; a
//! row without a hash after a chained one is a break.
//!
//! What a row can not show: truncation of the newest rows leaves a valid shorter chain.
//! Exporting the head hash elsewhere (`medlake audit verify` prints it) closes that gap.

use chrono::{Local, NaiveDateTime};
use sha2::{Digest, Sha256};

use crate::db::{Row, SqlValue};
use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// What a statement did, as the audit records it: rows returned and time taken, each
/// unknown (`None`) when the statement did not get that far (refused, failed to plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditFigures {
    /// Rows returned to the client.
    pub rows: Option<u64>,
    /// Milliseconds from arrival to the last row (or the error).
    pub millis: Option<u64>,
}

/// One statement to audit: who, over which channel, what, how it ended, and what governed
/// it (the tables it read and the policies applied to them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// Account name.
    pub account: &'a str,
    /// `http`, `dashboard` or `pg`.
    pub channel: &'a str,
    /// The statement as sent.
    pub statement: &'a str,
    /// `ok`, `failed`, `refused`, `timeout` or `cancelled`.
    pub outcome: &'a str,
    /// Rows and time.
    pub figures: AuditFigures,
    /// Error message of a failed or refused statement.
    pub error: Option<&'a str>,
    /// Lake tables the statement read, comma-separated.
    pub tables: &'a str,
    /// Policies applied, `kind:id@version` comma-separated (e.g. `mask:phi-default@3`).
    pub policies: &'a str,
    /// A PHI column was read unmasked (a policy granted it).
    pub phi_unmasked: bool,
}

/// One audited statement as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Record id, increasing.
    pub id: i64,
    /// When the statement ended (its audit row was written).
    pub at: NaiveDateTime,
    /// Account name.
    pub account: String,
    /// `http`, `dashboard` or `pg`.
    pub channel: String,
    /// The statement as sent.
    pub statement: String,
    /// `ok`, `failed`, `refused`, `timeout` or `cancelled`.
    pub outcome: String,
    /// Rows returned, when it ran.
    pub rows: Option<u64>,
    /// Time taken, when it ran.
    pub millis: Option<u64>,
    /// Error message of a failed or refused statement.
    pub error: Option<String>,
    /// Lake tables read, comma-separated.
    pub tables: String,
    /// Policies applied (`kind:id@version`, comma-separated).
    pub policies: String,
    /// A PHI column was read unmasked.
    pub phi_unmasked: bool,
}

/// What to look for in the audit (every field optional; all given must match).
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    /// This account only.
    pub account: Option<String>,
    /// Statements that read this table.
    pub table: Option<String>,
    /// This outcome only.
    pub outcome: Option<String>,
    /// At or after this time.
    pub since: Option<NaiveDateTime>,
    /// Before this time.
    pub until: Option<NaiveDateTime>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The result of checking the audit's hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows whose hash and link are right.
    pub chained: u64,
    /// Rows from before the chain existed.
    pub unchained: u64,
    /// The first row that breaks the chain, and why.
    pub broken: Option<(i64, String)>,
    /// The newest row's hash (keep it elsewhere to detect truncation).
    pub head: Option<String>,
}

const COLUMNS: &str = "id, at, account, channel, statement, outcome, rows, millis, error, \
                       tables, policies, phi_unmasked, prev_hash, hash";

impl Catalog {
    /// Appends one statement to the audit, chained to the row before it; returns its id.
    pub fn audit(&self, entry: &AuditEntry<'_>) -> Result<i64> {
        let at = fmt_time(&Local::now().naive_local());
        let fields = Fields::of(entry, at);
        self.db.append_after_last(
            "SELECT hash FROM query_audit ORDER BY id DESC LIMIT 1",
            move |prev| {
                let prev = prev.unwrap_or_default();
                let hash = fields.hash(&prev);
                let mut params = fields.values();
                params.push(SqlValue::Text(prev));
                params.push(SqlValue::Text(hash));
                let sql = "INSERT INTO query_audit (at, account, channel, statement, outcome,
                     rows, millis, error, tables, policies, phi_unmasked, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id";
                (sql.to_string(), params)
            },
        )
    }

    /// The newest audit records, newest first; only `account`'s when given.
    pub fn audit_records(&self, account: Option<&str>, limit: usize) -> Result<Vec<AuditRecord>> {
        self.search_audit(&AuditSearch {
            account: account.map(str::to_string),
            limit,
            ..AuditSearch::default()
        })
    }

    /// Audit records matching `search`, newest first.
    pub fn search_audit(&self, search: &AuditSearch) -> Result<Vec<AuditRecord>> {
        let table = search.table.as_ref().map(|t| format!("%,{t},%"));
        let sql = format!(
            "SELECT {COLUMNS} FROM query_audit
             WHERE (CAST(?1 AS TEXT) IS NULL OR account = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR ',' || tables || ',' LIKE ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR outcome = ?3)
               AND (CAST(?4 AS TEXT) IS NULL OR at >= ?4)
               AND (CAST(?5 AS TEXT) IS NULL OR at < ?5)
             ORDER BY id DESC LIMIT ?6"
        );
        let rows = self.db.query(
            &sql,
            sql_params![
                search.account.as_deref(),
                table,
                search.outcome.as_deref(),
                search.since.as_ref().map(fmt_time),
                search.until.as_ref().map(fmt_time),
                i64::try_from(search.limit).unwrap_or(i64::MAX)
            ],
        )?;
        rows.iter()
            .map(|r| record_from_row(r).map(|(r, _)| r))
            .collect()
    }

    /// Walks the whole audit in id order and checks every row's hash and its link to the
    /// row before it.
    pub fn verify_audit(&self) -> Result<ChainReport> {
        let mut report = ChainReport {
            chained: 0,
            unchained: 0,
            broken: None,
            head: None,
        };
        let mut after: i64 = 0;
        let mut prev: Option<String> = None;
        loop {
            let sql =
                format!("SELECT {COLUMNS} FROM query_audit WHERE id > ?1 ORDER BY id LIMIT 5000");
            let rows = self.db.query(&sql, sql_params![after])?;
            if rows.is_empty() {
                return Ok(report);
            }
            for row in &rows {
                let (record, (prev_hash, hash)) = record_from_row(row)?;
                after = record.id;
                if let Some(why) = chain_break(&record, prev_hash, hash.as_deref(), &prev) {
                    report.broken = Some((record.id, why));
                    return Ok(report);
                }
                match hash {
                    None => report.unchained += 1,
                    Some(hash) => {
                        report.chained += 1;
                        report.head = Some(hash.clone());
                        prev = Some(hash);
                    }
                }
            }
        }
    }
}

/// Why `record` breaks the chain after `prev` (the hash of the chained row before it, if
/// any), or `None` when it holds.
fn chain_break(
    record: &AuditRecord,
    prev_hash: Option<String>,
    hash: Option<&str>,
    prev: &Option<String>,
) -> Option<String> {
    let Some(hash) = hash else {
        return prev
            .is_some()
            .then(|| "the row has no hash but rows before it do".to_string());
    };
    let prev_hash = prev_hash.unwrap_or_default();
    if prev.as_deref().unwrap_or_default() != prev_hash {
        return Some(
            "the row does not follow the row before it (one was removed or inserted)".into(),
        );
    }
    let entry = AuditEntry {
        account: &record.account,
        channel: &record.channel,
        statement: &record.statement,
        outcome: &record.outcome,
        figures: AuditFigures {
            rows: record.rows,
            millis: record.millis,
        },
        error: record.error.as_deref(),
        tables: &record.tables,
        policies: &record.policies,
        phi_unmasked: record.phi_unmasked,
    };
    let expected = Fields::of(&entry, fmt_time(&record.at)).hash(&prev_hash);
    (expected != hash).then(|| "the row's content does not match its hash (it was altered)".into())
}

/// A row's fields as stored, in one owned value the append closure can carry.
struct Fields {
    at: String,
    texts: [String; 5],
    rows: Option<i64>,
    millis: Option<i64>,
    error: Option<String>,
    phi_unmasked: i64,
}

impl Fields {
    fn of(entry: &AuditEntry<'_>, at: String) -> Fields {
        let as_i64 = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        Fields {
            at,
            texts: [
                entry.account.to_string(),
                entry.channel.to_string(),
                entry.statement.to_string(),
                entry.outcome.to_string(),
                entry.tables.to_string() + "\u{0}" + entry.policies,
            ],
            rows: as_i64(entry.figures.rows),
            millis: as_i64(entry.figures.millis),
            error: entry.error.map(str::to_string),
            phi_unmasked: i64::from(entry.phi_unmasked),
        }
    }

    /// SHA-256 over the previous hash and every field, each length-prefixed so that no two
    /// different rows hash the same text.
    fn hash(&self, prev: &str) -> String {
        let mut sha = Sha256::new();
        let mut put = |s: &str| {
            sha.update((s.len() as u64).to_le_bytes());
            sha.update(s.as_bytes());
        };
        put(prev);
        put(&self.at);
        for t in &self.texts {
            put(t);
        }
        let number = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        put(&number(self.rows));
        put(&number(self.millis));
        put(self.error.as_deref().unwrap_or("\u{0}none"));
        put(&self.phi_unmasked.to_string());
        sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn values(&self) -> Vec<SqlValue> {
        let (tables, policies) = self.texts[4]
            .split_once('\u{0}')
            .unwrap_or((&self.texts[4], ""));
        sql_params![
            self.at.clone(),
            self.texts[0].clone(),
            self.texts[1].clone(),
            self.texts[2].clone(),
            self.texts[3].clone(),
            self.rows,
            self.millis,
            self.error.clone(),
            tables.to_string(),
            policies.to_string(),
            self.phi_unmasked
        ]
    }
}

type Link = (Option<String>, Option<String>);

fn record_from_row(r: &Row) -> Result<(AuditRecord, Link)> {
    let record = AuditRecord {
        id: r.int(0, "query_audit.id")?,
        at: parse_time(&r.text(1, "query_audit.at")?, "query_audit.at")?,
        account: r.text(2, "query_audit.account")?,
        channel: r.text(3, "query_audit.channel")?,
        statement: r.text(4, "query_audit.statement")?,
        outcome: r.text(5, "query_audit.outcome")?,
        rows: r.opt_int(6, "query_audit.rows")?.map(|v| v.max(0) as u64),
        millis: r.opt_int(7, "query_audit.millis")?.map(|v| v.max(0) as u64),
        error: r.opt_text(8, "query_audit.error")?,
        tables: r.opt_text(9, "query_audit.tables")?.unwrap_or_default(),
        policies: r.opt_text(10, "query_audit.policies")?.unwrap_or_default(),
        phi_unmasked: r.opt_int(11, "query_audit.phi_unmasked")?.unwrap_or(0) != 0,
    };
    let link = (
        r.opt_text(12, "query_audit.prev_hash")?,
        r.opt_text(13, "query_audit.hash")?,
    );
    if link.1.as_ref().is_some_and(|h| h.len() != 64) {
        return Err(CatalogError::Corrupt("query_audit.hash"));
    }
    Ok((record, link))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    fn entry<'a>(account: &'a str, statement: &'a str, outcome: &'a str) -> AuditEntry<'a> {
        AuditEntry {
            account,
            channel: "pg",
            statement,
            outcome,
            figures: AuditFigures {
                rows: Some(1),
                millis: Some(3),
            },
            tables: "ods_patient_full",
            policies: "mask:phi-default@1",
            ..AuditEntry::default()
        }
    }

    #[test]
    fn the_audit_is_kept_per_account_and_searchable() {
        for (backend, catalog) in catalogs("audit") {
            let first = catalog.audit(&entry("wang", "SELECT 1", "ok")).unwrap();
            let second = catalog
                .audit(&AuditEntry {
                    error: Some("parse"),
                    tables: "",
                    ..entry("li", "SELEC", "failed")
                })
                .unwrap();
            assert!(second > first, "{backend}");
            let mine = catalog.audit_records(Some("wang"), 10).unwrap();
            assert_eq!(mine.len(), 1, "{backend}");
            assert_eq!((mine[0].rows, mine[0].millis), (Some(1), Some(3)));
            assert_eq!(mine[0].policies, "mask:phi-default@1", "{backend}");
            let all = catalog.audit_records(None, 10).unwrap();
            assert_eq!((all.len(), all[0].outcome.as_str()), (2, "failed"));
            assert_eq!(all[0].error.as_deref(), Some("parse"), "{backend}");
            let by_table = catalog
                .search_audit(&AuditSearch {
                    table: Some("ods_patient_full".into()),
                    limit: 10,
                    ..AuditSearch::default()
                })
                .unwrap();
            assert_eq!(by_table.len(), 1, "{backend}");
            assert_eq!(by_table[0].account, "wang", "{backend}");
        }
    }

    #[test]
    fn the_chain_holds_and_breaks_where_a_row_was_altered_or_removed() {
        for (backend, catalog) in catalogs("audit_chain") {
            for i in 0..5 {
                catalog
                    .audit(&entry("wang", &format!("SELECT {i}"), "ok"))
                    .unwrap();
            }
            let report = catalog.verify_audit().unwrap();
            assert_eq!(
                (report.chained, report.broken.clone()),
                (5, None),
                "{backend}"
            );
            assert!(report.head.is_some());
            catalog
                .db
                .execute(
                    "UPDATE query_audit SET statement = 'SELECT 42' WHERE id = 3",
                    Vec::new(),
                )
                .unwrap();
            let report = catalog.verify_audit().unwrap();
            assert_eq!(report.broken.as_ref().map(|b| b.0), Some(3), "{backend}");
            assert!(report.broken.unwrap().1.contains("altered"), "{backend}");
            catalog
                .db
                .execute(
                    "UPDATE query_audit SET statement = 'SELECT 2' WHERE id = 3",
                    Vec::new(),
                )
                .unwrap();
            assert_eq!(catalog.verify_audit().unwrap().broken, None, "{backend}");
            catalog
                .db
                .execute("DELETE FROM query_audit WHERE id = 2", Vec::new())
                .unwrap();
            let report = catalog.verify_audit().unwrap();
            assert_eq!(report.broken.as_ref().map(|b| b.0), Some(3), "{backend}");
            assert!(report.broken.unwrap().1.contains("removed"), "{backend}");
        }
    }
}
