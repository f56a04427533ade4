//! Secrets never land: the lake's side of `medlake_schema::Column::secret`.
//!
//! Capture leaves secret columns (password hashes) out where it reads rows: the sources'
//! select lists and `arrow_schema` (and so [`change_record_schema`](crate::change_record_schema)),
//! binlog rows and Maxwell JSON (`medlake-cdc` drops them by name, never into
//! `data_extra`). What remains is a lake an older medlake wrote, which holds them:
//!
//! - [`refuse_landed_secrets`]: both writers ask it before writing a table. A table whose
//!   schema still holds a secret is refused with the command that mends it: a snapshot
//!   would merge into that schema (new partitions without the hash, old ones keeping it)
//!   and new change records no longer fit it.
//! - [`forget_secrets`] (`medlake lake forget-secrets`): rewrites each such table without
//!   its secrets (columns, fields of `data`, keys of the `old` and `data_extra` JSON) and
//!   purges the history of every ODS table of a business table with secrets, so that no
//!   file of those tables holds them any more.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, StringArray, StructArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use medlake_lake::{Lake, LakeError, PurgeStats};
use medlake_schema::Table;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What can go wrong checking or forgetting landed secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A lake table still holds secret columns an older medlake landed.
    #[error(
        "lake table {table} holds the secret column(s) {columns}, landed by an older medlake: \
         run `medlake lake forget-secrets` (docs/permissions.md) before capturing into it again"
    )]
    Landed {
        /// The lake table.
        table: String,
        /// The secret columns it holds (`hashed_password`, `data.password`).
        columns: String,
    },
    /// Reading or rewriting the lake failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Rebuilding a table's rows without their secrets failed (a bug if it happens).
    #[error("forgetting secrets in {table}: {source}")]
    Rewrite {
        /// The lake table.
        table: String,
        /// Arrow's error (types and names, never values).
        #[source]
        source: ArrowError,
    },
}

/// What [`forget_secrets`] found and did in one lake table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetReport {
    /// The lake table.
    pub table: String,
    /// What was dropped: columns (`hashed_password`), fields of `data` (`data.password`)
    /// and keys of the change records' JSON (`old.password`, `data_extra.password`);
    /// empty when the table held no secret.
    pub dropped: Vec<String>,
    /// Rows rewritten without them (0 when nothing was dropped).
    pub rows: u64,
    /// Files the purge of the table's history deleted (none when it had no history).
    pub purged: PurgeStats,
}

/// Refuses to write `lake_table`, an ODS table of `table`, while its schema holds one of
/// `table`'s secret columns. No I/O for a table without secret columns.
pub async fn refuse_landed_secrets(
    lake: &Lake,
    table: &Table,
    lake_table: &str,
) -> Result<(), SecretsError> {
    if table.secret_columns().next().is_none() {
        return Ok(());
    }
    let Some(schema) = lake.table_schema(lake_table).await? else {
        return Ok(());
    };
    let landed = landed_secret_columns(table, &schema);
    if landed.is_empty() {
        return Ok(());
    }
    Err(SecretsError::Landed {
        table: lake_table.to_string(),
        columns: landed.join(", "),
    })
}

/// The secret columns of `table` in a lake schema: columns (`ods_<t>_full`) and fields of
/// a struct such as the change records' `data` (`ods_<t>_inc`, named `data.<column>`).
pub fn landed_secret_columns(table: &Table, schema: &Schema) -> Vec<String> {
    let mut landed = Vec::new();
    for field in schema.fields() {
        if table.is_secret(field.name()) {
            landed.push(field.name().to_string());
        } else if let DataType::Struct(inner) = field.data_type() {
            for f in inner.iter().filter(|f| table.is_secret(f.name())) {
                landed.push(format!("{}.{}", field.name(), f.name()));
            }
        }
    }
    landed
}

/// Drops every secret an older medlake landed from the ODS tables of the business tables
/// with secret columns: each table holding one is rewritten without it in one commit.
/// Then every one of those tables has its history purged
/// (`medlake_lake::Lake::purge_history`), whether it held a secret now or not: a run cut
/// short between a rewrite and its purge leaves the secrets in the history only, where
/// the next run must still find and delete them. One report per existing ODS table of
/// those business tables; a second run drops and deletes nothing. Capture into those
/// tables must be stopped meanwhile.
pub async fn forget_secrets(lake: &Lake) -> Result<Vec<ForgetReport>, SecretsError> {
    let mut reports = Vec::new();
    for table in medlake_schema::business_tables() {
        if table.secret_columns().next().is_none() {
            continue;
        }
        for (name, records) in [(table.ods_full_name(), false), (table.ods_inc_name(), true)] {
            if let Some(report) = forget_in(lake, table, &name, records).await? {
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

/// [`forget_secrets`] for one lake table (`records`: it holds change records), `None`
/// when the lake has no such table.
async fn forget_in(
    lake: &Lake,
    table: &Table,
    name: &str,
    records: bool,
) -> Result<Option<ForgetReport>, SecretsError> {
    let Some(schema) = lake.table_schema(name).await? else {
        return Ok(None);
    };
    let mut dropped: BTreeSet<String> = landed_secret_columns(table, &schema).into_iter().collect();
    let mut rows = 0;
    // A snapshot holds secrets only as columns; change records also in their JSON.
    if !dropped.is_empty() || records {
        let mut batches = Vec::new();
        for batch in lake.read_table(name).await? {
            let batch =
                without_secrets(table, &batch, records, &mut dropped).map_err(|source| {
                    SecretsError::Rewrite {
                        table: name.to_string(),
                        source,
                    }
                })?;
            batches.push(batch);
        }
        if !dropped.is_empty() {
            let new_schema = match batches.first() {
                Some(batch) => batch.schema(),
                None => schema_without_secrets(table, &schema),
            };
            rows = lake.overwrite_table(name, new_schema, batches).await?.rows;
        }
    }
    let purged = lake.purge_history(name).await?;
    Ok(Some(ForgetReport {
        table: name.to_string(),
        dropped: dropped.into_iter().collect(),
        rows,
        purged,
    }))
}

/// `batch` without `table`'s secrets: secret columns and struct fields left out and, in
/// change records (`records`), secret keys taken out of `old` and `data_extra` (which
/// always come out as plain text, so every batch of a table gets the same schema). What
/// was found is added to `dropped`.
fn without_secrets(
    table: &Table,
    batch: &RecordBatch,
    records: bool,
    dropped: &mut BTreeSet<String>,
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if table.is_secret(field.name()) {
            dropped.insert(field.name().to_string());
            continue;
        }
        let (field, column) = match (records, field.name().as_str()) {
            (true, "data") => struct_without_secrets(table, field, column, dropped)?,
            (true, "old" | "data_extra") => json_without_secrets(table, field, column, dropped)?,
            _ => (field.clone(), column.clone()),
        };
        fields.push(field);
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A schema without `table`'s secret columns and struct fields: the new schema of a table
/// with no rows to take it from.
fn schema_without_secrets(table: &Table, schema: &Schema) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .filter(|f| !table.is_secret(f.name()))
        .map(|f| match f.data_type() {
            DataType::Struct(inner) => {
                let kept: Vec<FieldRef> = inner
                    .iter()
                    .filter(|g| !table.is_secret(g.name()))
                    .cloned()
                    .collect();
                let data_type = DataType::Struct(Fields::from(kept));
                Arc::new(Field::new(f.name(), data_type, f.is_nullable()))
            }
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A struct column (`data`) without the fields named after a secret column.
fn struct_without_secrets(
    table: &Table,
    field: &FieldRef,
    column: &ArrayRef,
    dropped: &mut BTreeSet<String>,
) -> Result<(FieldRef, ArrayRef), ArrowError> {
    let Some(data) = column.as_any().downcast_ref::<StructArray>() else {
        return Ok((field.clone(), column.clone()));
    };
    let (inner, arrays, nulls) = data.clone().into_parts();
    let mut kept_fields = Vec::with_capacity(inner.len());
    let mut kept_arrays = Vec::with_capacity(inner.len());
    for (f, array) in inner.iter().zip(arrays) {
        if table.is_secret(f.name()) {
            dropped.insert(format!("{}.{}", field.name(), f.name()));
        } else {
            kept_fields.push(f.clone());
            kept_arrays.push(array);
        }
    }
    let fields = Fields::from(kept_fields);
    let array = StructArray::try_new(fields.clone(), kept_arrays, nulls)?;
    let field = Field::new(field.name(), DataType::Struct(fields), field.is_nullable());
    Ok((Arc::new(field), Arc::new(array)))
}

/// A JSON text column (`old`, `data_extra`) without the members named after a secret
/// column, as plain text. An emptied `data_extra` becomes NULL, as capture writes it.
fn json_without_secrets(
    table: &Table,
    field: &FieldRef,
    column: &ArrayRef,
    dropped: &mut BTreeSet<String>,
) -> Result<(FieldRef, ArrayRef), ArrowError> {
    let text = cast(column.as_ref(), &DataType::Utf8)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::CastError(format!("{} is not text", field.name())))?;
    let empty_is_null = field.name() == "data_extra";
    let mut values: Vec<Option<String>> = Vec::with_capacity(text.len());
    for value in text.iter() {
        values.push(
            value.and_then(|json| {
                strip_secret_keys(table, json, field.name(), empty_is_null, dropped)
            }),
        );
    }
    let field = Field::new(
        field.name(),
        DataType::Utf8,
        field.is_nullable() || empty_is_null,
    );
    Ok((Arc::new(field), Arc::new(StringArray::from(values))))
}

/// `json` without its members named after a secret column (each noted in `dropped` as
/// `<column>.<key>`). Text that is no object, or holds no secret, stays as written; the
/// members kept keep their order and their values' exact text (money keeps its digits).
fn strip_secret_keys(
    table: &Table,
    json: &str,
    column: &str,
    empty_is_null: bool,
    dropped: &mut BTreeSet<String>,
) -> Option<String> {
    let Ok(Members(members)) = serde_json::from_str::<Members>(json) else {
        return Some(json.to_string());
    };
    if !members.iter().any(|(key, _)| table.is_secret(key)) {
        return Some(json.to_string());
    }
    let mut kept = Vec::with_capacity(members.len());
    for (key, value) in members {
        if table.is_secret(&key) {
            dropped.insert(format!("{column}.{key}"));
        } else {
            kept.push((key, value));
        }
    }
    if kept.is_empty() && empty_is_null {
        return None;
    }
    Some(object_text(&kept))
}

/// Members as a JSON object's text, in their order.
fn object_text(members: &[(String, Box<RawValue>)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("{}:{}", serde_json::Value::String(key.clone()), value.get()))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A JSON object's members in their order, each value as its raw text.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
            members.push(member);
        }
        Ok(Members(members))
    }
}

#[cfg(test)]
mod tests;
