//! PostgreSQL functions BI tools and drivers call while they introspect a server, beyond
//! what datafusion-postgres provides. Each answers as PostgreSQL would for a database
//! without sequences or extension types.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::common::{DataFusionError, Result, ScalarValue};
use deltalake::datafusion::execution::context::SessionContext;
use deltalake::datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::rows::to_json_rows;

/// Registers the functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(version_udf());
    ctx.register_udf(to_regtype_udf());
    // No sequences: SQLAlchemy's inspector asks for every column.
    ctx.register_udf(Constant::udf(
        "pg_get_serial_sequence",
        2,
        Answer::Text(None),
    ));
    // One collation, visible to all.
    ctx.register_udf(Constant::udf(
        "pg_collation_is_visible",
        1,
        Answer::Bool(true),
    ));
    // Every type lives in pg_catalog, always on the search path.
    ctx.register_udf(Constant::udf("pg_type_is_visible", 1, Answer::Bool(true)));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::new()));
}

/// What `version()` answers. Drivers parse the PostgreSQL version out of it (SQLAlchemy
/// refuses a server whose version it cannot read); the rest says what really answers.
pub const SERVER_VERSION: &str = concat!(
    "PostgreSQL 16.0 (medlake ",
    env!("CARGO_PKG_VERSION"),
    ", Apache DataFusion)"
);

fn version_udf() -> ScalarUDF {
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                SERVER_VERSION.to_string(),
            ))))
        }),
    )
}

/// Built-in PostgreSQL type names (and SQL spellings) with their fixed oids.
const BUILTIN_TYPE_OIDS: &[(&str, i32)] = &[
    ("bool", 16),
    ("boolean", 16),
    ("bytea", 17),
    ("char", 18),
    ("name", 19),
    ("int8", 20),
    ("bigint", 20),
    ("int2", 21),
    ("smallint", 21),
    ("int4", 23),
    ("integer", 23),
    ("int", 23),
    ("text", 25),
    ("oid", 26),
    ("json", 114),
    ("float4", 700),
    ("real", 700),
    ("float8", 701),
    ("double precision", 701),
    ("bpchar", 1042),
    ("character", 1042),
    ("varchar", 1043),
    ("character varying", 1043),
    ("date", 1082),
    ("time", 1083),
    ("timestamp", 1114),
    ("timestamp without time zone", 1114),
    ("timestamptz", 1184),
    ("timestamp with time zone", 1184),
    ("interval", 1186),
    ("numeric", 1700),
    ("decimal", 1700),
    ("uuid", 2950),
    ("jsonb", 3802),
];

/// `to_regtype(name)`: the oid of a built-in type, NULL for any other (drivers probe for
/// extension types such as hstore this way; medlake has none).
fn to_regtype_udf() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let lookup = |name: Option<&str>| {
                let name = name?.trim().to_ascii_lowercase();
                let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
                BUILTIN_TYPE_OIDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, oid)| *oid)
            };
            match args.first() {
                Some(ColumnarValue::Scalar(ScalarValue::Utf8(name))) => Ok(ColumnarValue::Scalar(
                    ScalarValue::Int32(lookup(name.as_deref())),
                )),
                Some(ColumnarValue::Array(array)) => {
                    let names = array.as_string::<i32>();
                    let oids: Int32Array = names.iter().map(lookup).collect();
                    Ok(ColumnarValue::Array(Arc::new(oids)))
                }
                _ => Ok(ColumnarValue::Scalar(ScalarValue::Int32(None))),
            }
        }),
    )
}

/// A function of a fixed number of arguments of any type with a constant answer.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    signature: Signature,
    answer: Answer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    Text(Option<&'static str>),
    Bool(bool),
}

impl Constant {
    fn udf(name: &'static str, arguments: usize, answer: Answer) -> ScalarUDF {
        ScalarUDF::new_from_impl(Constant {
            name,
            signature: Signature::any(arguments, Volatility::Immutable),
            answer,
        })
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.answer {
            Answer::Text(_) => DataType::Utf8,
            Answer::Bool(_) => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(match self.answer {
            Answer::Text(t) => ScalarValue::Utf8(t.map(str::to_string)),
            Answer::Bool(b) => ScalarValue::Boolean(Some(b)),
        }))
    }
}

/// `json_build_object(key, value, ...)`: a JSON object as text (SQLAlchemy's inspector
/// builds identity column options with it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl JsonBuildObject {
    fn new() -> JsonBuildObject {
        JsonBuildObject {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Plan(
                "json_build_object takes key/value pairs".into(),
            ));
        }
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let (keys, values): (Vec<_>, Vec<_>) = arrays.chunks(2).map(|p| (&p[0], &p[1])).unzip();
        let fields: Vec<Field> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Field::new(format!("v{i}"), v.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            values.iter().map(|v| (*v).clone()).collect(),
        )?;
        let json_values = to_json_rows(&[batch])?;
        let options = FormatOptions::default();
        let key_text: Vec<ArrayFormatter<'_>> = keys
            .iter()
            .map(|k| ArrayFormatter::try_new(k.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()?;
        let objects: StringArray = json_values
            .iter()
            .enumerate()
            .map(|(row, cells)| {
                let object: serde_json::Map<String, serde_json::Value> = key_text
                    .iter()
                    .zip(cells.as_array().into_iter().flatten())
                    .map(|(k, v)| (k.value(row).to_string(), v.clone()))
                    .collect();
                Some(serde_json::Value::Object(object).to_string())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(objects)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_functions_answer_like_postgresql() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(
                "SELECT version(), to_regtype('int4'), to_regtype('hstore'), \
                  pg_get_serial_sequence('t', 'c'), json_build_object('a', 1, 'b', 'x'), \
                  pg_collation_is_visible(100)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let row = &to_json_rows(&batches).unwrap()[0];
        assert!(row[0].as_str().unwrap().starts_with("PostgreSQL 16"));
        assert_eq!(row[1], 23);
        assert!(row[2].is_null());
        assert!(row[3].is_null());
        assert_eq!(row[4], r#"{"a":1,"b":"x"}"#);
        assert_eq!(row[5], true);
    }
}
