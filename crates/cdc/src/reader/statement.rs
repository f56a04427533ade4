//! Statements in the binlog: a DDL statement is logged by kind and object; a data change
//! logged as a statement (a session with `binlog_format=STATEMENT` or `MIXED`) is named by
//! its table, since capture cannot turn it into rows. Neither ever logs a literal.

use tracing::{info, warn};

/// The words that can stand between a DDL verb and the object it names.
const DDL_FILLERS: [&str; 8] = [
    "TABLE",
    "IF",
    "NOT",
    "EXISTS",
    "DATABASE",
    "TEMPORARY",
    "OR",
    "REPLACE",
];

/// Logs a non-transactional statement (DDL): its kind and object, never literals.
pub fn log_statement(schema: &str, statement: &str) {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let known = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
    match upper.first() {
        Some(first) if known.contains(&first.as_str()) => {
            // e.g. ALTER TABLE `consultation` ADD COLUMN ...: the kind and the object name.
            let object = words
                .iter()
                .zip(&upper)
                .skip(1)
                .find(|(_, u)| !DDL_FILLERS.contains(&u.as_str()))
                .map(|(w, _)| w.trim_matches('`'))
                .unwrap_or("?");
            info!(
                schema,
                statement = %first,
                object,
                "DDL seen; later rows decode by the column names in their table maps"
            );
        }
        first => {
            // The first word is a keyword (or garbage): never a value.
            let keyword = first
                .filter(|w| w.len() <= 20 && w.chars().all(|c| c.is_ascii_alphabetic()))
                .map_or("?", String::as_str);
            warn!(
                schema,
                keyword, "statement in the binlog not understood; skipped (capture goes on)"
            );
        }
    }
}

/// The database and table a data-changing statement (`INSERT`, `REPLACE`, `UPDATE`,
/// `DELETE`) writes, `schema` being the session's current database; `None` for any other
/// statement. For a multi-table statement, the first table named.
pub fn dml_target(schema: &str, statement: &str) -> Option<(String, String)> {
    let mut words = statement
        .split(|c: char| c.is_whitespace() || c == '(')
        .filter(|w| !w.is_empty());
    let verb = words.next()?.to_ascii_uppercase();
    let skip: &[&str] = &[
        "LOW_PRIORITY",
        "DELAYED",
        "HIGH_PRIORITY",
        "IGNORE",
        "QUICK",
        "INTO",
        "FROM",
    ];
    if !matches!(verb.as_str(), "INSERT" | "REPLACE" | "UPDATE" | "DELETE") {
        return None;
    }
    let name = words.find(|w| !skip.contains(&w.to_ascii_uppercase().as_str()))?;
    let name = name.trim_end_matches([',', ';']);
    let (database, table) = match split_qualified(name) {
        (Some(db), table) => (db, table),
        (None, table) => (schema.to_string(), table),
    };
    (!table.is_empty()).then_some((database, table))
}

/// `db.table`, `` `db`.`table` `` or `table`, without the quotes.
fn split_qualified(name: &str) -> (Option<String>, String) {
    let unquote = |s: &str| s.trim_matches('`').to_string();
    match name.split_once("`.`").or_else(|| name.split_once('.')) {
        Some((db, table)) => (Some(unquote(db)), unquote(table)),
        None => (None, unquote(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::dml_target;

    #[test]
    fn data_changing_statements_name_their_table() {
        let t = |s| dml_target("medical", s);
        let pair = |d: &str, t: &str| Some((d.to_string(), t.to_string()));
        assert_eq!(
            t("UPDATE payment SET status = 1 WHERE id = 2"),
            pair("medical", "payment")
        );
        assert_eq!(
            t("insert into `other`.`payment`(id) values (1)"),
            pair("other", "payment")
        );
        assert_eq!(
            t("DELETE LOW_PRIORITY FROM medical.user WHERE id = 1"),
            pair("medical", "user")
        );
        assert_eq!(
            t("REPLACE INTO consultation VALUES (1)"),
            pair("medical", "consultation")
        );
        assert_eq!(t("ALTER TABLE payment ADD COLUMN x INT"), None);
        assert_eq!(t("UPDATE"), None);
    }
}
