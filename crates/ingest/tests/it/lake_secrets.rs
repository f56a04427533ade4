//! The scan both secret suites (crates/ingest and crates/cli) run over a lake: a column or
//! struct field named after a secret column, or a cell holding one of the source's hashes.
//! One file, included by both test binaries.

use std::collections::HashSet;

use deltalake::arrow::datatypes::{DataType, Fields};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use medlake_lake::Lake;

/// The words of 64 hex digits in a text: the shape of every hash these tests look for.
pub(crate) fn hex_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
}

/// Every field name of a schema, struct fields as `parent.field`.
fn field_names(fields: &Fields, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    for field in fields {
        let name = format!("{prefix}{}", field.name());
        if let DataType::Struct(inner) = field.data_type() {
            names.extend(field_names(inner, &format!("{name}.")));
        }
        names.push(name);
    }
    names
}

/// Whether a (possibly nested) field name is a secret column's.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    medlake_schema::business_tables()
        .iter()
        .any(|t| t.is_secret(leaf))
}

/// What in the lake holds a secret: a column or struct field named after one, or a cell
/// holding one of `hashes`.
pub(crate) async fn secrets_in_lake(lake: &Lake, hashes: &HashSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let options = FormatOptions::default();
    for name in lake.table_names().await.unwrap() {
        let schema = lake.table_schema(&name).await.unwrap().unwrap();
        for field in field_names(schema.fields(), "") {
            if is_secret_name(&field) {
                found.push(format!("{name}: column {field}"));
            }
        }
        for batch in lake.read_table(&name).await.unwrap() {
            let schema = batch.schema();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let cells = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
                let holds = (0..batch.num_rows()).any(|row| {
                    let text = cells.value(row).to_string();
                    let found = hex_words(&text).any(|w| hashes.contains(w));
                    found
                });
                if holds {
                    found.push(format!("{name}: a hash in {}", field.name()));
                }
            }
        }
    }
    found
}
