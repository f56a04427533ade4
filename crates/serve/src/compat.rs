//! Rewrites of statements BI tools send that DataFusion does not run as written.
//!
//! - `LIKE ... ESCAPE '/'` (SQLAlchemy's inspector): DataFusion only knows the backslash as
//!   escape character, so the pattern is translated to backslash escapes and the ESCAPE
//!   clause dropped; the match is the same.
//! - A scalar subquery into `pg_attrdef`, `pg_sequence` or `pg_collation` is NULL: no
//!   column of a lake table has a default, an identity sequence or a collation other than
//!   the default (oid 0), so PostgreSQL would find no row either. (DataFusion cannot plan
//!   these correlated subqueries inside CASE, where SQLAlchemy puts them.)
//! - A query reading `pg_index` alone (primary key and index reflection) projects NULLs and
//!   finds no row: lake tables have no indexes, and DataFusion cannot `unnest` the
//!   `indkey` vector datafusion-pg-catalog keeps as text.
//! - `<alias>.reloptions` (not a column of datafusion-pg-catalog's `pg_class`) is NULL, as
//!   for a PostgreSQL table without storage options.
//! - `x = ANY(<alias>.indkey)` and `ANY(<alias>.conkey)` are false: lake tables have no
//!   index or constraint columns (and those vectors are text in datafusion-pg-catalog).
//! - `<alias>.indisprimary = 'f'` and other catalog flags compared with PostgreSQL's text
//!   booleans: the text becomes a boolean (DataFusion does not coerce 'f' to false).
//! - A scalar subquery returning one unaggregated value (`(SELECT x FROM t WHERE t.k = o.k)`,
//!   all over PostgreSQL's catalog queries): DataFusion runs correlated scalar subqueries
//!   only when aggregated, so the value becomes `max(x)`, which is the same for the zero or
//!   one row PostgreSQL allows.

use std::ops::ControlFlow;

use deltalake::datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, BinaryOperator, Expr, GroupByExpr, Query, SelectItem,
    SetExpr, Statement, TableFactor, Value, VisitMut, VisitorMut,
};
use deltalake::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

/// The statement rewritten for DataFusion, or `None` when it runs as written.
pub fn rewrite(statement: &Statement) -> Option<Statement> {
    let mut rewritten = statement.clone();
    let mut changed = false;
    let _ = visit_expressions_mut(&mut rewritten, |expr| {
        if let Expr::Subquery(query) = expr {
            if reads_only_empty_catalogs(query) {
                *expr = null_keeping_placeholders(query);
                changed = true;
                return ControlFlow::<()>::Continue(());
            }
            changed |= aggregate_scalar_subquery(query);
        }
        let on_key_vector = match &*expr {
            Expr::AnyOp { right, .. } => is_key_vector(right),
            // datafusion-pg-catalog has already turned `x = ANY(v)` into `array_contains(v, x)`.
            Expr::Function(f)
                if ["array_has", "array_contains"]
                    .contains(&f.name.to_string().to_ascii_lowercase().as_str()) =>
            {
                f.args.to_string().split(',').next().is_some_and(|first| {
                    let first = first.trim_start_matches('(').trim().to_ascii_lowercase();
                    first.ends_with(".indkey") || first.ends_with(".conkey")
                })
            }
            _ => false,
        };
        if on_key_vector {
            *expr = Expr::Value(Value::Boolean(false).into());
            changed = true;
            return ControlFlow::<()>::Continue(());
        }
        if let Expr::BinaryOp { left, right, .. } = expr {
            if is_catalog_flag(left) {
                if let Some(flag) = boolean_text(right) {
                    **right = Expr::Value(Value::Boolean(flag).into());
                    changed = true;
                }
            }
        }
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts
                .last()
                .is_some_and(|p| p.value.eq_ignore_ascii_case("reloptions"))
            {
                *expr = Expr::Value(Value::Null.into());
                changed = true;
                return ControlFlow::<()>::Continue(());
            }
        }
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
        {
            if let Some(escape) = escape_char.as_ref().and_then(|e| single_char(&e.value)) {
                if escape != '\\' {
                    if let Some(translated) = backslash_pattern(pattern, escape) {
                        **pattern = translated;
                        *escape_char = None;
                        changed = true;
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed |= empty_index_reads(&mut rewritten);
    changed.then_some(rewritten)
}

/// Boolean columns of PostgreSQL's catalogs that drivers compare with `'t'`/`'f'`.
const CATALOG_FLAG_PREFIXES: &[&str] = &[
    "indis",
    "indimmediate",
    "relis",
    "relhas",
    "attis",
    "atthas",
    "attnotnull",
];

fn is_catalog_flag(expr: &Expr) -> bool {
    let name = match expr {
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.to_ascii_lowercase()),
        Expr::Identifier(ident) => Some(ident.value.to_ascii_lowercase()),
        _ => None,
    };
    name.is_some_and(|n| CATALOG_FLAG_PREFIXES.iter().any(|p| n.starts_with(p)))
}

/// `'t'`/`'f'` (PostgreSQL's text form of booleans) as a boolean.
fn boolean_text(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) if s == "t" || s == "true" => Some(true),
            Value::SingleQuotedString(s) if s == "f" || s == "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `<alias>.indkey` or `<alias>.conkey`: the column vectors of indexes and constraints.
fn is_key_vector(expr: &Expr) -> bool {
    matches!(expr, Expr::CompoundIdentifier(parts)
        if parts.last().is_some_and(|p| ["indkey", "conkey"].contains(&p.value.to_ascii_lowercase().as_str())))
}

/// Every query over `pg_index` alone, anywhere in the statement, made to return no row.
fn empty_index_reads(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_relations_mut_queries(statement, &mut |query: &mut Query| {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return;
        };
        let only_pg_index = select.from.len() == 1
            && select.from[0].joins.is_empty()
            && matches!(&select.from[0].relation, TableFactor::Table { name, .. }
                if name.to_string().to_ascii_lowercase().rsplit('.').next() == Some("pg_index"));
        if !only_pg_index || select.projection.iter().all(is_null_item) {
            return;
        }
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                *e = Expr::Value(Value::Null.into());
            }
        }
        let keep = select.selection.take();
        select.selection = Some(match keep {
            Some(w) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(w))),
                op: BinaryOperator::And,
                right: Box::new(Expr::Value(Value::Boolean(false).into())),
            },
            None => Expr::Value(Value::Boolean(false).into()),
        });
        changed = true;
    });
    changed
}

fn is_null_item(item: &SelectItem) -> bool {
    matches!(item, SelectItem::UnnamedExpr(Expr::Value(v)) | SelectItem::ExprWithAlias { expr: Expr::Value(v), .. } if v.value == Value::Null)
}

/// Calls `f` on every query of the statement (the top one, derived tables, subqueries).
fn visit_relations_mut_queries(
    statement: &mut Statement,
    f: &mut dyn FnMut(&mut Query),
) -> ControlFlow<()> {
    struct Queries<'a>(&'a mut dyn FnMut(&mut Query));
    impl VisitorMut for Queries<'_> {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            (self.0)(query);
            ControlFlow::Continue(())
        }
    }
    statement.visit(&mut Queries(f))
}

/// Catalog tables that hold no row for any column of a lake table.
const EMPTY_FOR_LAKE_TABLES: &[&str] = &["pg_attrdef", "pg_sequence", "pg_collation"];

/// Whether the subquery's FROM reads one of [`EMPTY_FOR_LAKE_TABLES`] (joined to anything).
fn reads_only_empty_catalogs(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let is_empty_catalog = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string().to_ascii_lowercase();
            let bare = name.rsplit('.').next().unwrap_or(&name).to_string();
            EMPTY_FOR_LAKE_TABLES.contains(&bare.as_str())
        }
        _ => false,
    };
    select.from.len() == 1 && is_empty_catalog(&select.from[0].relation)
}

/// NULL, still mentioning the subquery's parameters (`$n`) as text, so a prepared
/// statement keeps every parameter with the type the driver expects (SQLAlchemy passes
/// string literals of these subqueries as parameters).
fn null_keeping_placeholders(query: &Query) -> Expr {
    let mut placeholders = Vec::new();
    let _ = visit_expressions(query, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                placeholders.push(p.clone());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if placeholders.is_empty() {
        return Expr::Value(Value::Null.into());
    }
    let uses: Vec<String> = placeholders.iter().map(|p| format!("{p} = ''")).collect();
    let sql = format!("CASE WHEN {} THEN NULL ELSE NULL END", uses.join(" OR "));
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::Value(Value::Null.into()))
}

/// Aggregate functions: a subquery projecting one of these already returns one row.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "first_value",
    "last_value",
];

/// Wraps the one projected value of an unaggregated, ungrouped scalar subquery in `max()`.
fn aggregate_scalar_subquery(query: &mut Query) -> bool {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || grouped || query.limit_clause.is_some() {
        return false;
    }
    let value = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    if let Expr::Function(f) = value {
        let name = f.name.to_string().to_ascii_lowercase();
        let bare = name.rsplit('.').next().unwrap_or(&name);
        if AGGREGATES.contains(&bare) {
            return false;
        }
    }
    let wrapped = format!("max({value})");
    match Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&wrapped)
        .and_then(|mut p| p.parse_expr())
    {
        Ok(e) => {
            *value = e;
            true
        }
        Err(_) => false,
    }
}

fn single_char(value: &Value) -> Option<char> {
    match value {
        Value::SingleQuotedString(s) if s.chars().count() == 1 => s.chars().next(),
        _ => None,
    }
}

/// `pattern` with escape character `escape` turned into the same pattern with backslash
/// escapes: literal backslashes doubled, then `<escape>x` made `\x`.
fn backslash_pattern(pattern: &Expr, escape: char) -> Option<Expr> {
    let escape_regex = if escape.is_ascii_alphanumeric() {
        escape.to_string()
    } else {
        format!("\\{escape}")
    };
    let quote = |s: &str| s.replace('\'', "''");
    let sql = format!(
        "regexp_replace(replace({pattern}, '\\', '\\\\'), '{}(.)', '\\${{1}}', 'g')",
        quote(&escape_regex)
    );
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_slash_escape_becomes_a_backslash_escape() {
        let s = parse(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_' || '%' ESCAPE '/'",
        );
        let r = rewrite(&s).unwrap().to_string();
        assert!(!r.contains("ESCAPE"), "{r}");
        assert!(r.contains("regexp_replace(replace('pg_' || '%'"), "{r}");
    }

    #[test]
    fn a_scalar_subquery_gets_aggregated_once() {
        let s = parse(
            "SELECT (SELECT t.typcollation FROM pg_type t WHERE t.oid = a.atttypid) AS c, \
                       (SELECT count(*) FROM pg_class) AS n FROM pg_attribute a",
        );
        let r = rewrite(&s).unwrap().to_string();
        assert!(r.contains("(SELECT max(t.typcollation) FROM"), "{r}");
        assert!(r.contains("(SELECT count(*) FROM pg_class)"), "{r}");
        let again = rewrite(&parse(&r));
        assert!(again.is_none(), "an aggregated subquery is left alone");
    }

    #[test]
    fn subqueries_into_catalogs_without_lake_rows_are_null() {
        let s = parse(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT d.adbin FROM pg_catalog.pg_attrdef d \
                       WHERE d.adrelid = a.attrelid) ELSE NULL END FROM pg_attribute a",
        );
        let r = rewrite(&s).unwrap().to_string();
        assert!(r.contains("THEN NULL ELSE NULL"), "{r}");
    }

    #[test]
    fn index_reflection_finds_no_index() {
        let s = parse(
            "SELECT a.attname FROM pg_attribute a JOIN (SELECT unnest(ix.indkey) attnum, \
                       generate_subscripts(ix.indkey, 1) ord FROM pg_index ix \
                       WHERE ix.indrelid = $1 AND ix.indisprimary) k ON a.attnum = k.attnum",
        );
        let r = rewrite(&s).unwrap().to_string();
        assert!(
            r.contains("SELECT NULL AS attnum, NULL AS ord FROM pg_index"),
            "{r}"
        );
        assert!(
            r.contains("WHERE (ix.indrelid = $1 AND ix.indisprimary) AND false"),
            "{r}"
        );
        let r = rewrite(&parse(
            "SELECT 1 FROM pg_attribute a JOIN pg_index ix ON a.attnum = ANY(ix.indkey)",
        ))
        .unwrap()
        .to_string();
        assert!(r.ends_with("ON false"), "{r}");
        let r = rewrite(&parse(
            "SELECT 1 FROM pg_attribute a JOIN pg_index ix ON array_has(ix.indkey, a.attnum)",
        ))
        .unwrap()
        .to_string();
        assert!(r.ends_with("ON false"), "{r}");
        let r = rewrite(&parse(
            "SELECT 1 FROM pg_index ix, pg_class t WHERE ix.indisprimary = 'f' AND t.relkind = 'f'",
        ))
        .unwrap()
        .to_string();
        assert!(
            r.contains("ix.indisprimary = false AND t.relkind = 'f'"),
            "{r}"
        );
        let r = rewrite(&parse("SELECT i.reloptions FROM pg_class i"))
            .unwrap()
            .to_string();
        assert!(r.starts_with("SELECT NULL FROM pg_class"), "{r}");
    }

    #[test]
    fn other_statements_are_left_alone() {
        assert!(rewrite(&parse("SELECT 1 WHERE 'a' LIKE 'a%'")).is_none());
        assert!(rewrite(&parse("SELECT 1 WHERE 'a' LIKE 'a%' ESCAPE '\\'")).is_none());
    }
}
