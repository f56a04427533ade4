//! The `pg_cursors` view: a connection's open cursors. psycopg asks it before closing a
//! named cursor it did not describe (`SELECT 1 FROM pg_catalog.pg_cursors WHERE name =
//! ...`), which SQLAlchemy's streamed reads and pandas' chunked `read_sql` do.
//!
//! The view differs per connection while the engine's catalog is shared, so a statement
//! that reads it is rewritten before it runs: each `pg_cursors` (or
//! `pg_catalog.pg_cursors`) it names becomes a derived table of the connection's
//! cursors, with PostgreSQL's columns (`name`, `statement`, `is_holdable`, `is_binary`,
//! `is_scrollable`, `creation_time`). The rewritten statement then runs through the one
//! query path like any other.

use std::ops::ControlFlow;

use deltalake::datafusion::sql::sqlparser::ast::{
    visit_relations, SetExpr, Statement, TableFactor, VisitMut, VisitorMut,
};

use super::cursor_registry::Listed;
use crate::query::parse_one;

/// Whether `statement` reads `pg_cursors`.
pub(super) fn reads_pg_cursors(statement: &Statement) -> bool {
    visit_relations(statement, |name| {
        if is_pg_cursors(&name.to_string()) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

fn is_pg_cursors(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('"', "");
    name == "pg_cursors" || name == "pg_catalog.pg_cursors"
}

/// `statement` with every `pg_cursors` it reads replaced by `cursors`.
pub(super) fn with_cursors(statement: &Statement, cursors: &[Listed]) -> Statement {
    let listing = listing_sql(cursors);
    let mut rewritten = statement.clone();
    let mut replacer = Replace { listing };
    let _ = rewritten.visit(&mut replacer);
    rewritten
}

/// The derived table of the cursors, as SQL.
fn listing_sql(cursors: &[Listed]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    if cursors.is_empty() {
        return "SELECT CAST(NULL AS VARCHAR) AS name, CAST(NULL AS VARCHAR) AS statement, \
                false AS is_holdable, false AS is_binary, false AS is_scrollable, \
                CAST(NULL AS TIMESTAMP) AS creation_time WHERE false"
            .to_string();
    }
    let rows: Vec<String> = cursors
        .iter()
        .map(|c| {
            format!(
                "({}, {}, {}, {}, false, TIMESTAMP {})",
                quote(&c.name),
                quote(&c.statement),
                c.holdable,
                c.binary,
                quote(&c.created.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
            )
        })
        .collect();
    format!(
        "SELECT column1 AS name, column2 AS statement, column3 AS is_holdable, \
         column4 AS is_binary, column5 AS is_scrollable, column6 AS creation_time \
         FROM (VALUES {}) AS cursors",
        rows.join(", ")
    )
}

struct Replace {
    listing: String,
}

impl VisitorMut for Replace {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return ControlFlow::Continue(());
        };
        if !is_pg_cursors(&name.to_string()) {
            return ControlFlow::Continue(());
        }
        let alias = alias
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "pg_cursors".to_string());
        let sql = format!("SELECT * FROM ({}) AS {alias}", self.listing);
        if let Some(derived) = first_table_factor(&sql) {
            *factor = derived;
        }
        ControlFlow::Continue(())
    }
}

/// The table factor of `SELECT * FROM <factor>`.
fn first_table_factor(sql: &str) -> Option<TableFactor> {
    let Statement::Query(query) = parse_one(sql).ok()? else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next().map(|t| t.relation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn pg_cursors_becomes_the_connections_cursors() {
        let statement =
            parse_one("SELECT 1 FROM pg_catalog.pg_cursors WHERE name = 'big'").unwrap();
        assert!(reads_pg_cursors(&statement));
        assert!(!reads_pg_cursors(
            &parse_one("SELECT 1 FROM pg_class").unwrap()
        ));
        let cursors = [Listed {
            name: "big".into(),
            statement: "DECLARE big CURSOR FOR SELECT 'it''s'".into(),
            holdable: true,
            binary: false,
            created: Utc::now(),
        }];
        let rewritten = with_cursors(&statement, &cursors).to_string();
        assert!(!rewritten.contains("pg_catalog.pg_cursors"), "{rewritten}");
        assert!(rewritten.contains("VALUES ('big'"), "{rewritten}");
        assert!(rewritten.contains("AS pg_cursors"), "{rewritten}");
        let empty =
            with_cursors(&parse_one("SELECT * FROM pg_cursors c").unwrap(), &[]).to_string();
        assert!(
            empty.contains("WHERE false") && empty.contains("AS c"),
            "{empty}"
        );
    }
}
