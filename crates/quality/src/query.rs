//! The SQL of each kind of check that counts failing rows, and the small helpers that run
//! a query for one number, one text or a few keys.
//!
//! The table under check is always read under its own name and holds only the partition
//! being checked (staged rows or one published partition; `session.rs` sees to that), so a
//! check's SQL never filters its own table by day. Other tables are whole lake tables and
//! are read at the partition's day (`WHERE dt = 'D'`).

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, Float64Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;

use crate::check::{column_sql, CheckKind};
use crate::error::QualityError;

/// Failing keys kept per check.
pub(crate) const SAMPLE_SIZE: usize = 5;

/// The `WHERE` condition a failing row meets, for the kinds that judge rows one by one
/// (`None` for the others); the table under check is read as `t`.
pub(crate) fn failing_rows_condition(kind: &CheckKind, dt: NaiveDate) -> Option<String> {
    match kind {
        CheckKind::NotNull { columns } => Some(
            columns
                .iter()
                .map(|c| format!("{} IS NULL", column_sql(c)))
                .collect::<Vec<_>>()
                .join(" OR "),
        ),
        CheckKind::AcceptedValues {
            column,
            values,
            dict,
        } => {
            let list: Vec<String> = match dict {
                Some(group) => medlake_schema::codes::dict_group(group)
                    .unwrap_or_default()
                    .iter()
                    .map(i64::to_string)
                    .collect(),
                None => values.iter().map(literal).collect(),
            };
            let c = column_sql(column);
            Some(format!(
                "{c} IS NOT NULL AND {c} NOT IN ({})",
                list.join(", ")
            ))
        }
        CheckKind::Range { column, min, max } => {
            let c = column_sql(column);
            let mut parts = Vec::new();
            if let Some(lo) = min {
                parts.push(format!("{c} < {lo}"));
            }
            if let Some(hi) = max {
                parts.push(format!("{c} > {hi}"));
            }
            Some(parts.join(" OR "))
        }
        CheckKind::Relationships { column, to } => {
            let (target, target_column) = to.split_once('.')?;
            // Qualified: inside the subquery an unqualified name would be the target's own
            // column when both tables have it (`doctor_id`), and every row would match.
            let c = format!("t.{}", column_sql(column));
            Some(format!(
                "{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {target} r \
                 WHERE r.dt = '{dt}' AND r.{target_column} = {c})"
            ))
        }
        _ => None,
    }
}

/// A declared value as a SQL literal (text quoted, quotes doubled).
fn literal(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// `{{ dt }}` of a check's own query, as the partition's day.
pub(crate) fn render_day(sql: &str, dt: NaiveDate) -> String {
    sql.replace("{{ dt }}", &dt.to_string())
        .replace("{{dt}}", &dt.to_string())
}

/// The tables a query reads (to register them before it runs).
pub(crate) fn tables_of(sql: &str) -> Result<Vec<String>, String> {
    let state = SessionContext::new().state();
    let dialect = state.config_options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| format!("the query does not parse: {e}"))?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| e.to_string())?;
    let mut tables: Vec<String> = refs.iter().map(|r| r.table().to_string()).collect();
    tables.sort();
    tables.dedup();
    Ok(tables)
}

/// Runs `sql` and collects its batches.
pub(crate) async fn collect(
    ctx: &SessionContext,
    table: &str,
    what: &str,
    sql: &str,
) -> Result<Vec<RecordBatch>, QualityError> {
    ctx.sql(sql)
        .await
        .map_err(|e| QualityError::engine(table, what, e))?
        .collect()
        .await
        .map_err(|e| QualityError::engine(table, what, e))
}

/// The first column of the first row of `sql` as a number (`None` when NULL or no row).
pub(crate) async fn scalar(
    ctx: &SessionContext,
    table: &str,
    what: &str,
    sql: &str,
) -> Result<Option<f64>, QualityError> {
    let batches = collect(ctx, table, what, sql).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let column =
        cast(batch.column(0), &DataType::Float64).map_err(|source| QualityError::Arrow {
            what: format!("{table}: {what}: the value is not a number"),
            source,
        })?;
    let numbers = column
        .as_any()
        .downcast_ref::<Float64Array>()
        .filter(|a| a.is_valid(0));
    Ok(numbers.map(|a| a.value(0)))
}

/// The first column of every row of `batches` as text (NULL as `NULL`), at most `limit`.
pub(crate) fn texts(batches: &[RecordBatch], limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let Ok(column) = cast(batch.column(0), &DataType::Utf8) else {
            continue;
        };
        let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        for i in 0..strings.len() {
            if out.len() >= limit {
                return out;
            }
            out.push(if strings.is_valid(i) {
                strings.value(i).to_string()
            } else {
                "NULL".to_string()
            });
        }
    }
    out
}

/// The key columns as one text expression (`a || '|' || b`), for samples.
pub(crate) fn key_sql(key: &[String]) -> String {
    key.iter()
        .map(|k| format!("CAST({} AS VARCHAR)", column_sql(k)))
        .collect::<Vec<_>>()
        .join(" || '|' || ")
}

/// An engine error as a message that names no value: quoted text is cut out, since an
/// error about a cast or a comparison may quote the value that broke it.
pub(crate) fn scrubbed(error: &QualityError) -> String {
    let text = error.to_string();
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        match (c, quoted) {
            ('\'', false) => {
                quoted = true;
                out.push_str("'…");
            }
            ('\'', true) => {
                quoted = false;
                out.push('\'');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    #[test]
    fn row_conditions_address_struct_fields_and_quote_text() {
        let kind = CheckKind::AcceptedValues {
            column: "data.kind".into(),
            values: vec![toml::Value::String("it's".into()), toml::Value::Integer(3)],
            dict: None,
        };
        assert_eq!(
            failing_rows_condition(&kind, day()).unwrap(),
            "data['kind'] IS NOT NULL AND data['kind'] NOT IN ('it''s', 3)"
        );
        let kind = CheckKind::Relationships {
            column: "doctor_id".into(),
            to: "dim_doctor.doctor_id".into(),
        };
        let sql = failing_rows_condition(&kind, day()).unwrap();
        assert!(
            sql.contains("FROM dim_doctor r WHERE r.dt = '2026-03-01'"),
            "{sql}"
        );
        assert!(failing_rows_condition(
            &CheckKind::RowCount {
                min: Some(1),
                max: None
            },
            day()
        )
        .is_none());
    }

    #[test]
    fn queries_name_their_tables_and_errors_lose_their_values() {
        let sql = render_day(
            "SELECT sum(a) FROM x JOIN y ON x.k = y.k WHERE dt = '{{ dt }}'",
            day(),
        );
        assert!(sql.contains("'2026-03-01'"));
        assert_eq!(tables_of(&sql).unwrap(), ["x", "y"]);
        assert!(tables_of("SELEC nonsense")
            .unwrap_err()
            .contains("does not parse"));
        let error = QualityError::Declaration {
            origin: "o".into(),
            reason: "Cannot cast 'Zhang San 110101' to Int64\nmore".into(),
        };
        assert_eq!(scrubbed(&error), "o: Cannot cast '…' to Int64");
    }
}
