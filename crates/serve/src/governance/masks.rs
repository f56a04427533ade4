//! Column masks as DataFusion expressions: each [`MaskKind`] applied to a column of a
//! given type gives an expression of that same type (a masked column keeps its type, so
//! a client's described result does not change with the asker).
//!
//! The string masks are functions of their own (`mask_redact`, `mask_show_first_4`,
//! `mask_show_last_4`, `mask_hash`): a keyed hash must hold its key inside the function,
//! never in the plan's text (`EXPLAIN` shows plans), and "letters" must mean every
//! script's letters, or a Chinese name would pass a Latin-only redaction untouched.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, StringArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use deltalake::datafusion::execution::context::SessionState;
use deltalake::datafusion::logical_expr::{
    cast, lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use deltalake::datafusion::prelude::SessionContext;

use super::policy::MaskKind;

/// What a mask cannot do to a column (the statement is refused: fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplicable(pub String);

/// Registers the mask functions on `ctx`, the hash keyed with `key`.
pub fn register(ctx: &SessionContext, key: &[u8]) {
    for kind in [
        StringMask::Redact,
        StringMask::ShowFirst4,
        StringMask::ShowLast4,
        StringMask::Hash(Arc::new(key.to_vec())),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(MaskUdf::new(kind)));
    }
}

/// `kind` applied to `value` (a column or a field of `data`) of type `ty`, as an
/// expression of type `ty`. `state` and `schema` plan a custom mask's SQL.
pub fn masked(
    kind: &MaskKind,
    value: Expr,
    ty: &DataType,
    state: &SessionState,
) -> Result<Expr, NotApplicable> {
    let text = matches!(
        ty,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let dated = matches!(
        ty,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    let function = |name: &str, value: Expr| -> Result<Expr, NotApplicable> {
        if !text {
            return Err(NotApplicable(format!(
                "mask {} applies to text, not to {ty}",
                kind.name()
            )));
        }
        let udf = state
            .scalar_functions()
            .get(name)
            .cloned()
            .ok_or_else(|| NotApplicable(format!("mask function {name} is not registered")))?;
        Ok(cast(
            udf.call(vec![cast(value.clone(), DataType::Utf8)]),
            ty.clone(),
        ))
    };
    match kind {
        MaskKind::None => Ok(value),
        MaskKind::Nullify => Ok(cast(lit(ScalarValue::Null), ty.clone())),
        MaskKind::Redact => function("mask_redact", value),
        MaskKind::ShowFirst4 => function("mask_show_first_4", value),
        MaskKind::ShowLast4 => function("mask_show_last_4", value),
        MaskKind::Hash => function("mask_hash", value),
        MaskKind::DateShowYear if dated => Ok(cast(
            deltalake::datafusion::functions::datetime::expr_fn::date_trunc(
                lit("year"),
                cast(
                    value,
                    DataType::Timestamp(deltalake::arrow::datatypes::TimeUnit::Microsecond, None),
                ),
            ),
            ty.clone(),
        )),
        MaskKind::DateShowYear => Err(NotApplicable(format!(
            "mask date_show_year applies to dates and times, not to {ty}"
        ))),
        MaskKind::Custom(sql) => custom(sql, value, ty, state),
    }
}

/// The default mask of a PHI column of type `ty`: text redacted, dates cut to the year,
/// anything else nulled.
pub fn phi_default(ty: &DataType) -> MaskKind {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => MaskKind::Redact,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => MaskKind::DateShowYear,
        _ => MaskKind::Nullify,
    }
}

/// A custom mask: `sql` with `{col}` standing for the value, planned over a one-column
/// schema and cast back to the column's type.
fn custom(
    sql: &str,
    value: Expr,
    ty: &DataType,
    state: &SessionState,
) -> Result<Expr, NotApplicable> {
    const PLACEHOLDER: &str = "medlake_masked_value";
    let schema = DFSchema::from_unqualified_fields(
        vec![deltalake::arrow::datatypes::Field::new(
            PLACEHOLDER,
            ty.clone(),
            true,
        )]
        .into(),
        Default::default(),
    )
    .map_err(|e| NotApplicable(e.to_string()))?;
    let planned = state
        .create_logical_expr(&sql.replace("{col}", PLACEHOLDER), &schema)
        .map_err(|e| NotApplicable(format!("custom mask {sql:?} does not plan: {e}")))?;
    use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
    let replaced = planned
        .transform(|e| match e {
            Expr::Column(c) if c.name == PLACEHOLDER => Ok(Transformed::yes(value.clone())),
            other => Ok(Transformed::no(other)),
        })
        .map_err(|e| NotApplicable(e.to_string()))?
        .data;
    Ok(cast(replaced, ty.clone()))
}

/// The string masks that are functions.
#[derive(Debug, Clone)]
enum StringMask {
    Redact,
    ShowFirst4,
    ShowLast4,
    Hash(Arc<Vec<u8>>),
}

impl StringMask {
    fn name(&self) -> &'static str {
        match self {
            StringMask::Redact => "mask_redact",
            StringMask::ShowFirst4 => "mask_show_first_4",
            StringMask::ShowLast4 => "mask_show_last_4",
            StringMask::Hash(_) => "mask_hash",
        }
    }

    fn apply(&self, s: &str) -> String {
        match self {
            StringMask::Redact => s.chars().map(redact_char).collect(),
            StringMask::ShowFirst4 => {
                let mut out: String = s.chars().take(4).collect();
                out.extend(s.chars().skip(4).map(redact_char));
                out
            }
            StringMask::ShowLast4 => {
                let keep = s.chars().count().saturating_sub(4);
                s.chars()
                    .enumerate()
                    .map(|(i, c)| if i < keep { redact_char(c) } else { c })
                    .collect()
            }
            StringMask::Hash(key) => keyed_hash(key, s),
        }
    }
}

/// Ranger's redaction, for every script: letters to `x` (`X` for capitals), digits to `n`.
fn redact_char(c: char) -> char {
    if c.is_numeric() {
        'n'
    } else if c.is_uppercase() {
        'X'
    } else if c.is_alphabetic() {
        'x'
    } else {
        c
    }
}

/// The `hash` mask: the project's one keyed pseudonym ([`medlake_schema::pseudonym`],
/// HMAC-SHA-256 of `s` under `key`, the first 16 bytes in hex), so a masked business
/// identifier equals the pseudonym imaging ingest stored for the same value. Equal values
/// give equal hashes (joins and counts of distinct values still work), and without the
/// key a guessed value cannot be checked. An empty value stays empty, as every other
/// string mask leaves it: emptiness is all it shows.
pub fn keyed_hash(key: &[u8], s: &str) -> String {
    medlake_schema::pseudonym(key, s)
}

#[derive(Debug)]
struct MaskUdf {
    kind: StringMask,
    signature: Signature,
}

impl MaskUdf {
    fn new(kind: StringMask) -> MaskUdf {
        MaskUdf {
            kind,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl PartialEq for MaskUdf {
    fn eq(&self, other: &Self) -> bool {
        self.kind.name() == other.kind.name()
    }
}
impl Eq for MaskUdf {}
impl std::hash::Hash for MaskUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.name().hash(state);
    }
}

impl ScalarUDFImpl for MaskUdf {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(format!(
                "{} takes one argument",
                self.name()
            )));
        };
        match arg {
            ColumnarValue::Scalar(ScalarValue::Utf8(v)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(v.as_deref().map(|s| self.kind.apply(s))),
            )),
            ColumnarValue::Scalar(_) => {
                Err(DataFusionError::Plan(format!("{} takes text", self.name())))
            }
            ColumnarValue::Array(array) => {
                let strings = array
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Plan(format!("{} takes text", self.name())))?;
                let masked: StringArray = strings
                    .iter()
                    .map(|v| v.map(|s| self.kind.apply(s)))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(masked) as ArrayRef))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_every_script() {
        assert_eq!(
            StringMask::Redact.apply("张三 Li 13800138000"),
            "xx Xx nnnnnnnnnnn"
        );
        assert_eq!(
            StringMask::ShowLast4.apply("110101199003074512"),
            "nnnnnnnnnnnnnn4512"
        );
        assert_eq!(StringMask::ShowFirst4.apply("13800138000"), "1380nnnnnnn");
        assert_eq!(StringMask::ShowLast4.apply("abc"), "abc");
    }

    #[test]
    fn the_hash_is_keyed_and_stable() {
        let (a, b) = (keyed_hash(b"k1", "110101"), keyed_hash(b"k1", "110101"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert_ne!(a, keyed_hash(b"k2", "110101"));
        assert_ne!(a, keyed_hash(b"k1", "110102"));
        // The same pseudonym imaging ingest stores; nothing to hide in an empty value.
        assert_eq!(a, medlake_schema::pseudonym(b"k1", "110101"));
        assert_eq!(keyed_hash(b"k1", ""), "");
        assert_eq!(StringMask::Hash(Arc::new(b"k1".to_vec())).apply(""), "");
    }

    #[test]
    fn masks_keep_the_type_or_do_not_apply() {
        let ctx = SessionContext::new();
        register(&ctx, b"key");
        let state = ctx.state();
        let col = deltalake::datafusion::prelude::col("c");
        assert!(masked(&MaskKind::Redact, col.clone(), &DataType::Int64, &state).is_err());
        assert!(masked(
            &MaskKind::DateShowYear,
            col.clone(),
            &DataType::Utf8,
            &state
        )
        .is_err());
        assert!(masked(&MaskKind::Nullify, col.clone(), &DataType::Int64, &state).is_ok());
        assert!(masked(&MaskKind::Hash, col.clone(), &DataType::Utf8View, &state).is_ok());
        assert!(masked(
            &MaskKind::Custom("nope(".into()),
            col,
            &DataType::Utf8,
            &state
        )
        .is_err());
    }
}
