//! What a dashboard reads through the one query path: the long table's values for a scope
//! (one SQL statement per call), the labels and windows of the metric catalog and the
//! hospital list (reference reads, kept until a table has a new version); rows come back
//! by column name.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Dashboard, CATALOG, VALUES};
use crate::accounts::Principal;
use crate::query::{Channel, QueryError, QueryOutput, QueryService};
use crate::rows::to_json_rows;

/// The slice of the long table the filters select: a dimension and one of its values.
pub(super) struct Scope {
    pub(super) dimension: &'static str,
    pub(super) value: String,
}

pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of a statement as JSON objects keyed by column name, through the query path;
/// `reference` reads are kept until a refresh finds a new table version (see
/// [`QueryService::run_reference`]).
pub(super) async fn rows(
    queries: &QueryService,
    who: &Principal,
    sql: &str,
    reference: bool,
) -> std::result::Result<Vec<Row>, QueryError> {
    let QueryOutput {
        schema, batches, ..
    } = if reference {
        queries
            .run_reference(who, Channel::Dashboard, sql, 100_000)
            .await?
    } else {
        queries.run(who, Channel::Dashboard, sql, 100_000).await?
    };
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let arrays = to_json_rows(&batches).map_err(|e| QueryError::Failed(e.to_string()))?;
    Ok(arrays
        .into_iter()
        .map(|row| {
            let values = match row {
                Value::Array(values) => values,
                other => vec![other],
            };
            names.iter().map(|n| n.to_string()).zip(values).collect()
        })
        .collect())
}

/// One result row, its values by column name.
pub(super) type Row = serde_json::Map<String, Value>;

/// The value of column `name` (null when the row has no such column).
pub(super) fn at<'a>(row: &'a Row, name: &str) -> &'a Value {
    row.get(name).unwrap_or(&Value::Null)
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Labels and units of every measure, by measure, from the newest metric catalog.
pub(super) async fn measure_labels(
    queries: &QueryService,
    who: &Principal,
    catalog_day: &str,
) -> std::result::Result<BTreeMap<String, Value>, QueryError> {
    let sql = format!(
        "SELECT measure, max(label_zh) AS label_zh, max(label_en) AS label_en, \
         max(unit) AS unit FROM {CATALOG} WHERE dt = {} GROUP BY measure",
        quote(catalog_day)
    );
    Ok(rows(queries, who, &sql, true)
        .await?
        .into_iter()
        .map(|r| {
            let labels = json!({
                "label_zh": at(&r, "label_zh"),
                "label_en": at(&r, "label_en"),
                "unit": at(&r, "unit"),
            });
            (text(at(&r, "measure")), labels)
        })
        .collect())
}

/// Labels of every dimension, by dimension, from the newest metric catalog.
pub(super) async fn dimension_labels(
    queries: &QueryService,
    who: &Principal,
    catalog_day: &str,
) -> std::result::Result<BTreeMap<String, Value>, QueryError> {
    let sql = format!(
        "SELECT DISTINCT dimension, dimension_label_zh, dimension_label_en FROM {CATALOG} \
         WHERE dt = {}",
        quote(catalog_day)
    );
    Ok(rows(queries, who, &sql, true)
        .await?
        .into_iter()
        .map(|r| {
            let labels = json!({
                "label_zh": at(&r, "dimension_label_zh"),
                "label_en": at(&r, "dimension_label_en"),
            });
            (text(at(&r, "dimension")), labels)
        })
        .collect())
}

/// The windows (in days) the metric catalog declares, shortest first.
pub(super) async fn windows(
    queries: &QueryService,
    who: &Principal,
    catalog_day: &str,
) -> std::result::Result<Vec<u32>, QueryError> {
    let sql = format!(
        "SELECT DISTINCT window_days FROM {CATALOG} WHERE dt = {} ORDER BY window_days",
        quote(catalog_day)
    );
    Ok(rows(queries, who, &sql, true)
        .await?
        .iter()
        .filter_map(|r| at(r, "window_days").as_u64())
        .filter_map(|w| u32::try_from(w).ok())
        .collect())
}

/// The hospitals (id, name, province, city) of the `dim_hospital` snapshot in force on
/// `snapshot` (none when no snapshot is that old).
pub(super) async fn hospitals(
    queries: &QueryService,
    who: &Principal,
    snapshot: Option<&String>,
) -> std::result::Result<Vec<Row>, QueryError> {
    let Some(snapshot) = snapshot else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT CAST(hospital_id AS VARCHAR) AS id, hospital_name AS name, province, city \
         FROM dim_hospital WHERE dt = {} ORDER BY hospital_name",
        quote(snapshot)
    );
    rows(queries, who, &sql, true).await
}

/// Column names of the rows of [`values_sql`].
pub(super) mod col {
    pub const MEASURE: &str = "measure";
    pub const DIMENSION: &str = "dimension";
    pub const DIMENSION_VALUE: &str = "dimension_value";
    pub const DIMENSION_LABEL: &str = "dimension_label";
    pub const DT: &str = "dt";
    pub const VALUE: &str = "value";
}

/// One read of the long table for a whole dashboard: the scope's values of every shown
/// measure over the trend days, and every value of the breakdowns' dimensions on the day.
pub(super) fn values_sql(
    dashboard: &Dashboard,
    measures: &[String],
    scope: &Scope,
    window: u32,
    (first, day): (&str, &str),
) -> String {
    let mut dimensions: Vec<String> = dashboard
        .breakdowns
        .iter()
        .map(|b| b.dimension.clone())
        .collect();
    dimensions.sort();
    dimensions.dedup();
    let on_day = if dimensions.is_empty() {
        String::new()
    } else {
        format!(
            " OR (dt = {} AND dimension IN ({}))",
            quote(day),
            list(&dimensions)
        )
    };
    format!(
        "SELECT measure, dimension, dimension_value, dimension_label, dt, value FROM {VALUES} \
         WHERE dt >= {} AND dt <= {} AND window_days = {window} AND measure IN ({}) \
           AND ((dimension = {} AND dimension_value = {}){on_day})",
        quote(first),
        quote(day),
        list(measures),
        quote(scope.dimension),
        quote(&scope.value),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_quoted_as_sql_strings() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(list(&["a".into(), "b'".into()]), "'a', 'b'''");
    }
}
