//! The admission rules of the one query path: which statements serving runs at all
//! (read-only ones) and which engine settings a connection may not change. Which tables,
//! rows and column values the asker reads is governance's answer, applied to the plan
//! (`crate::governance`).

use deltalake::datafusion::sql::sqlparser::ast::{CopySource, CopyTarget, Statement};
use deltalake::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

use super::QueryError;

/// Admits `statement` (for anyone), or says why not.
pub(crate) fn verdict(statement: &Statement) -> Result<(), QueryError> {
    if !is_read_only(statement) {
        return Err(QueryError::Refused(
            "medlake serves read-only SQL (SELECT, EXPLAIN, SHOW, SET, cursors, COPY ... TO STDOUT)"
                .to_string(),
        ));
    }
    // The PostgreSQL front shares one DataFusion session: an engine setting from one
    // connection would change every other's queries.
    if matches!(statement, Statement::Set(_))
        && statement
            .to_string()
            .to_ascii_lowercase()
            .contains("datafusion.")
    {
        return Err(QueryError::Refused(
            "engine settings (datafusion.*) belong to the server's configuration, not to a connection"
                .to_string(),
        ));
    }
    Ok(())
}

/// Statements that set up or end a PostgreSQL session's state rather than read rows
/// (settings, transactions, savepoints, cursors): the protocol front answers them itself
/// after they are admitted; every other admitted statement is planned and run here.
pub fn is_session_control(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
    )
}

/// `COPY ... TO STDOUT`: a read whose rows go to the client in a copy format (psql's
/// `\copy ... to 'file'`, psycopg's `cursor.copy()`). Copies from a client or to and from
/// the server's files or programs are not reads.
pub fn is_copy_to_client(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Copy {
            to: true,
            target: CopyTarget::Stdout,
            ..
        }
    )
}

/// The query a statement reads its rows with, when the statement wraps one: a cursor's
/// `DECLARE ... FOR query`, `COPY (query) TO STDOUT`, `COPY table [(columns)] TO STDOUT`
/// (which reads `SELECT columns FROM table`). The query path admits, plans and runs this
/// read, so a cursor or a copy sees exactly the rows the same `SELECT` would.
pub fn read_of(statement: &Statement) -> Option<Statement> {
    match statement {
        Statement::Declare { stmts } => {
            let query = stmts.first()?.for_query.as_ref()?;
            Some(Statement::Query(query.clone()))
        }
        Statement::Copy { source, .. } if is_copy_to_client(statement) => match source {
            CopySource::Query(query) => Some(Statement::Query(query.clone())),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                parse_one(&format!("SELECT {columns} FROM {table_name}")).ok()
            }
        },
        _ => None,
    }
}

/// Parses exactly one statement in the PostgreSQL dialect.
pub fn parse_one(sql: &str) -> Result<Statement, QueryError> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| parse_error(&e.to_string(), sql))?;
    match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => Ok(statement),
        (None, _) => Err(parse_error("empty statement", sql)),
        (Some(_), false) => Err(QueryError::Parse {
            message: format!("expected one statement, found {}", statements.len() + 1),
            line: None,
            column: None,
        }),
    }
}

/// A parse error with the position sqlparser puts in its message ("at Line: 1, Column: 8"),
/// or the end of `sql` when the statement ended too early.
fn parse_error(message: &str, sql: &str) -> QueryError {
    let number_after = |label: &str| {
        message.find(label).and_then(|i| {
            message[i + label.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
    };
    let clean = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")")
        .to_string();
    let (mut line, mut column) = (number_after("Line: "), number_after("Column: "));
    if line.is_none() && message.contains("found: EOF") {
        let trimmed = sql.trim_end();
        let last = trimmed.rsplit('\n').next().unwrap_or_default();
        line = Some(trimmed.lines().count().max(1) as u64);
        column = Some(last.chars().count() as u64 + 1);
    }
    QueryError::Parse {
        line,
        column,
        message: clean,
    }
}

/// Statements that only read: queries, plans, listings, and the session control drivers
/// send around every query (settings, transactions, cursors).
pub fn is_read_only(statement: &Statement) -> bool {
    is_session_control(statement)
        || is_copy_to_client(statement)
        || matches!(
            statement,
            Statement::Query(_)
                | Statement::Explain { .. }
                | Statement::ExplainTable { .. }
                | Statement::ShowVariables { .. }
                | Statement::ShowTables { .. }
                | Statement::ShowColumns { .. }
                | Statement::ShowCreate { .. }
                | Statement::ShowFunctions { .. }
                | Statement::ShowSchemas { .. }
                | Statement::ShowDatabases { .. }
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_carries_its_position() {
        match parse_one("SELECT 1 FORM t").unwrap_err() {
            QueryError::Parse { line, column, .. } => {
                assert_eq!(line, Some(1));
                assert!(column.is_some());
            }
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn an_early_end_is_placed_at_the_end() {
        match parse_one("SELECT metric\nFROM t WHERE").unwrap_err() {
            QueryError::Parse { line, column, .. } => {
                assert_eq!((line, column), (Some(2), Some(13)));
            }
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn only_reading_statements_are_read_only() {
        for sql in [
            "SELECT 1",
            "EXPLAIN SELECT 1",
            "SET search_path = public",
            "SHOW TABLES",
            "BEGIN",
            "COPY (SELECT 1) TO STDOUT",
            "COPY t (a, b) TO STDOUT WITH (FORMAT csv)",
        ] {
            assert!(is_read_only(&parse_one(sql).unwrap()), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "DELETE FROM t",
            "DROP TABLE t",
            "CREATE TABLE t (a INT)",
            "UPDATE t SET a = 1",
            "COPY t FROM STDIN",
            "COPY t TO '/etc/passwd'",
            "COPY (SELECT 1) TO PROGRAM 'rm -rf /'",
        ] {
            assert!(!is_read_only(&parse_one(sql).unwrap()), "{sql}");
        }
    }

    #[test]
    fn a_cursor_or_a_copy_reads_its_query() {
        let read = |sql: &str| read_of(&parse_one(sql).unwrap()).map(|s| s.to_string());
        assert_eq!(
            read("DECLARE c CURSOR WITH HOLD FOR SELECT a FROM t WHERE b > 1").as_deref(),
            Some("SELECT a FROM t WHERE b > 1")
        );
        assert_eq!(
            read("COPY (SELECT a FROM t) TO STDOUT WITH (FORMAT csv, HEADER)").as_deref(),
            Some("SELECT a FROM t")
        );
        assert_eq!(
            read("COPY t (a, b) TO STDOUT").as_deref(),
            Some("SELECT a, b FROM t")
        );
        assert_eq!(read("COPY t TO STDOUT").as_deref(), Some("SELECT * FROM t"));
        assert_eq!(read("COPY t FROM STDIN"), None);
        assert_eq!(read("SELECT 1"), None);
    }

    #[test]
    fn session_control_is_answered_by_the_front_and_queries_are_run_here() {
        for sql in [
            "SET search_path = public",
            "BEGIN",
            "SHOW search_path",
            "COMMIT",
        ] {
            assert!(is_session_control(&parse_one(sql).unwrap()), "{sql}");
        }
        for sql in ["SELECT 1", "EXPLAIN SELECT 1", "SHOW TABLES"] {
            assert!(!is_session_control(&parse_one(sql).unwrap()), "{sql}");
        }
    }
}
