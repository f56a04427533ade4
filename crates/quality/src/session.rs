//! The session a table's checks run in: the partition under check registered under the
//! table's own name, holding only that partition (rows computed but not yet published, or
//! one published partition of the lake), beside the whole lake tables its checks refer to.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{ArrayRef, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::{Lake, PARTITION_COLUMN};

use crate::error::QualityError;

/// Where the partition under check comes from.
pub enum Partition<'a> {
    /// Rows computed by a build and not yet published (write-audit-publish), without the
    /// `dt` column (the lake adds it when writing).
    Staged {
        /// Their schema.
        schema: SchemaRef,
        /// The rows.
        batches: &'a [RecordBatch],
        /// The session that computed them: the lake tables it holds are lent to the
        /// checks, not opened again.
        inputs: Option<&'a SessionContext>,
    },
    /// The partition already in the lake (read once into memory: the profile and every
    /// check then read it without decoding the files again).
    Published,
}

/// A session holding partition `dt` of `table` under its own name. `others` are the lake
/// tables the checks read besides it (registered whole; a missing one stays unregistered
/// and the check reading it reports the engine's error).
pub(crate) async fn partition_session(
    lake: &Lake,
    table: &str,
    dt: NaiveDate,
    partition: Partition<'_>,
    others: &[String],
) -> Result<SessionContext, QualityError> {
    let ctx = SessionContext::new();
    let lent = match &partition {
        Partition::Staged { inputs, .. } => *inputs,
        Partition::Published => None,
    };
    for other in others.iter().filter(|o| o.as_str() != table) {
        let provider = match lent {
            Some(inputs) => inputs.table_provider(other.as_str()).await.ok(),
            None => None,
        };
        match provider {
            Some(provider) => {
                ctx.register_table(other.as_str(), provider)
                    .map_err(|e| QualityError::engine(table, "lending a table", e))?;
            }
            None => lake.register(&ctx, other).await?,
        }
    }
    match partition {
        Partition::Staged {
            schema, batches, ..
        } => {
            let (schema, batches) = with_day(schema, batches, dt)?;
            let provider = MemTable::try_new(schema, vec![batches])
                .map_err(|e| QualityError::engine(table, "staging the partition", e))?;
            ctx.register_table(table, Arc::new(provider))
                .map_err(|e| QualityError::engine(table, "staging the partition", e))?;
        }
        Partition::Published => {
            let whole = format!("__whole_{table}");
            lake.register_as(&ctx, table, &whole).await?;
            if !ctx.table_exist(whole.as_str()).unwrap_or(false) {
                return Err(QualityError::NotInLake(table.to_string()));
            }
            let read = |e| QualityError::engine(table, "reading the partition", e);
            let frame = ctx
                .sql(&format!(
                    "SELECT * FROM {whole} WHERE {PARTITION_COLUMN} = '{dt}'"
                ))
                .await
                .map_err(read)?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(read)?;
            let provider = MemTable::try_new(schema, vec![batches]).map_err(read)?;
            ctx.deregister_table(whole.as_str()).map_err(read)?;
            ctx.register_table(table, Arc::new(provider))
                .map_err(read)?;
        }
    }
    Ok(ctx)
}

/// Staged rows with the `dt` column a published partition has, so a check reads both alike.
fn with_day(
    schema: SchemaRef,
    batches: &[RecordBatch],
    dt: NaiveDate,
) -> Result<(SchemaRef, Vec<RecordBatch>), QualityError> {
    if schema.field_with_name(PARTITION_COLUMN).is_ok() {
        return Ok((schema, batches.to_vec()));
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(PARTITION_COLUMN, DataType::Utf8, false));
    let with = Arc::new(Schema::new(fields));
    let day = dt.to_string();
    let out = batches
        .iter()
        .map(|b| {
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![
                day.as_str();
                b.num_rows()
            ])));
            RecordBatch::try_new(with.clone(), columns)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| QualityError::Arrow {
            what: "staging the partition".into(),
            source,
        })?;
    Ok((with, out))
}
