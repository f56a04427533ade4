//! Typed access to the columns of an Arrow batch, shared by the two metric steps.
//!
//! Parquet strings come back as views and numbers in whatever type the plan chose; every
//! reader here wants one known array type, so each column is cast first and errors name the
//! table being built.

use deltalake::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;

use crate::error::WarehouseError;

/// Column `i` of `b` cast to `ty` and read as the array type `A` (Parquet strings come back
/// as views; every reader here wants one known type); errors name `table`.
pub(crate) fn typed_column<A: Array + Clone + 'static>(
    b: &RecordBatch,
    i: usize,
    ty: &DataType,
    table: &str,
) -> Result<A, WarehouseError> {
    let c = cast(b.column(i), ty).map_err(|e| WarehouseError::model(table, e))?;
    c.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| WarehouseError::model(table, format!("column {i} is not {ty}")))
}

/// Column `i` of `b` as text.
pub(crate) fn text_column(
    b: &RecordBatch,
    i: usize,
    table: &str,
) -> Result<StringArray, WarehouseError> {
    typed_column(b, i, &DataType::Utf8, table)
}

/// Column `i` of `b` as DOUBLE.
pub(crate) fn float_column(
    b: &RecordBatch,
    i: usize,
    table: &str,
) -> Result<Float64Array, WarehouseError> {
    typed_column(b, i, &DataType::Float64, table)
}
