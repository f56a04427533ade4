//! The data catalog's API: one search over tables, columns, metrics and models; the
//! lineage graph (walks from a column, table, metric or dashboard, and the table-level
//! graph the web UI draws); a metric's page; and what the table pages take from lineage
//! (PHI tags, own and inherited) and from the Delta log (versions, schema changes).
//!
//! Lineage shows structure (which column feeds which, and how), never row values, so any
//! logged-in caller may read it; the search lists only tables the caller's policies let
//! them read. The graph is read from the catalog on a blocking thread and kept for
//! [`LINEAGE_MAX_AGE`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use medlake_lake::VersionInfo;
use medlake_lineage::{
    kind_of, phi_columns, walk_json, Direction, FieldRef, LineageGraph, NodeKind, PhiColumn,
    METRIC_PREFIX,
};
use medlake_warehouse::metrics::MeasureKind;
use medlake_warehouse::{Declaration, Project};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::lineage_graph::{phi_declarations, platform_graph};

/// How long a lineage graph read from the catalog is used before it is read again (a
/// build records new lineage).
pub(super) const LINEAGE_MAX_AGE: Duration = Duration::from_secs(30);
/// Most hits per group of a search.
const MAX_HITS: usize = 50;
/// Delta versions a table page lists.
const HISTORY_VERSIONS: usize = 50;

/// The lineage graph as last read, with the PHI columns found along it.
pub(super) struct Lineage {
    /// The platform's graph.
    pub(super) graph: LineageGraph,
    /// Every PHI column of the lake (declared or inherited), by field.
    pub(super) phi: BTreeMap<FieldRef, PhiColumn>,
}

/// The lineage graph kept between requests, with when it was read.
#[derive(Default)]
pub(super) struct LineageCache(tokio::sync::Mutex<Option<(Instant, Arc<Lineage>)>>);

impl AppState {
    /// The models and metrics, or a 503 when this server has none.
    fn project(&self) -> Result<&Arc<Project>, ApiError> {
        self.options.project.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this server did not load the models and metrics, which lineage and metric pages need",
            )
        })
    }

    /// The lineage graph, read again from the catalog when the kept one is older than
    /// [`LINEAGE_MAX_AGE`]. One request reads it while the others wait for it.
    pub(super) async fn catalog_lineage(&self) -> Result<Arc<Lineage>, ApiError> {
        let project = self.project()?.clone();
        let mut kept = self.lineage.0.lock().await;
        if let Some((read_at, lineage)) = kept.as_ref() {
            if read_at.elapsed() < LINEAGE_MAX_AGE {
                return Ok(lineage.clone());
            }
        }
        let catalog = self.queries.catalog().clone();
        let lineage = tokio::task::spawn_blocking(move || {
            let (graph, _recorded) = platform_graph(&catalog, &project, None)?;
            let phi = phi_columns(&graph, &phi_declarations(&project))
                .into_iter()
                .map(|c| (c.field.clone(), c))
                .collect();
            Ok::<_, medlake_lineage::StoreError>(Lineage { graph, phi })
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let lineage = Arc::new(lineage);
        *kept = Some((Instant::now(), lineage.clone()));
        Ok(lineage)
    }
}

/// The declaration of the model that makes table `name`, if a model does.
pub(super) fn declaration<'a>(project: Option<&'a Project>, name: &str) -> Option<&'a Declaration> {
    project?.step(name)?.declaration()
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /api/search?q=`: tables (those the caller may read), their columns, measures and
/// models whose names, labels, descriptions, docs or tags hold `q` (any case).
pub(super) async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(p): Query<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let needle = p.q.unwrap_or_default().trim().to_lowercase();
    if needle.is_empty() {
        return Ok(Json(
            json!({ "tables": [], "columns": [], "metrics": [], "models": [] }),
        ));
    }
    let hit = |texts: &[&str]| texts.iter().any(|t| t.to_lowercase().contains(&needle));
    let project = state.options.project.as_deref();
    let lake_tables = state.queries.tables().await;
    let steps = project.map(|p| p.steps.as_slice()).unwrap_or_default();
    let names = lake_tables.iter().map(|t| t.name.as_str());
    let readable = state.queries.governance().readable(
        &caller.principal,
        names.chain(steps.iter().map(|s| s.name.as_str())),
    );
    let visible = |name: &str| readable.contains(name);
    let ctx = state.queries.context();
    let mut tables = Vec::new();
    let mut columns = Vec::new();
    for t in &lake_tables {
        if !visible(&t.name) {
            continue;
        }
        let doc = state.options.table_docs.get(&t.name);
        let description = doc.map_or("", |d| d.description.as_str());
        let decl = declaration(project, &t.name);
        let tags: Vec<&str> =
            decl.map_or(Vec::new(), |d| d.tags.iter().map(String::as_str).collect());
        let owner = decl.and_then(|d| d.owner.as_deref());
        let mut texts = vec![t.name.as_str(), description, owner.unwrap_or_default()];
        texts.extend(&tags);
        if tables.len() < MAX_HITS && hit(&texts) {
            tables.push(json!({
                "name": t.name, "description": description, "tags": tags, "owner": owner,
            }));
        }
        if columns.len() >= MAX_HITS {
            continue;
        }
        let names: Vec<String> = match ctx.table_provider(t.name.as_str()).await {
            Ok(provider) => provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            Err(_) => doc
                .map(|d| d.columns.keys().cloned().collect())
                .unwrap_or_default(),
        };
        for column in names {
            let text = doc
                .and_then(|d| d.columns.get(&column))
                .map_or("", String::as_str);
            if columns.len() < MAX_HITS && hit(&[column.as_str(), text]) {
                columns.push(json!({ "table": t.name, "column": column, "doc": text }));
            }
        }
    }
    let metrics: Vec<Value> = project
        .map(|p| {
            p.metrics
                .measures
                .iter()
                .filter(|m| {
                    hit(
                        &[&m.name, &m.label_zh, &m.label_en, &m.definition, &m.topic]
                            .map(String::as_str),
                    )
                })
                .take(MAX_HITS)
                .map(|m| {
                    json!({
                        "name": m.name, "label_zh": m.label_zh, "label_en": m.label_en,
                        "definition": m.definition, "topic": m.topic,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let models: Vec<Value> = steps
        .iter()
        .filter(|s| visible(&s.name))
        .filter(|s| {
            let decl = declaration(project, &s.name);
            let mut texts = vec![s.name.as_str(), s.description(), s.layer.as_str()];
            texts.extend(
                decl.into_iter()
                    .flat_map(|d| d.tags.iter().map(String::as_str)),
            );
            texts.extend(decl.and_then(|d| d.owner.as_deref()));
            hit(&texts)
        })
        .take(MAX_HITS)
        .map(|s| json!({ "name": s.name, "layer": s.layer, "description": s.description() }))
        .collect();
    Ok(Json(json!({
        "tables": tables, "columns": columns, "metrics": metrics, "models": models,
    })))
}

#[derive(Deserialize)]
pub(super) struct LineageParams {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    depth: Option<usize>,
    #[serde(default)]
    direct: Option<bool>,
}

/// `GET /api/lineage?target=&direction=upstream|downstream&depth=&direct=`: a walk of the
/// lineage graph as `medlake lineage --format json` prints it.
pub(super) async fn lineage(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(p): Query<LineageParams>,
) -> Result<Json<Value>, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message);
    let target = p
        .target
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("name a target: a column, table, metric:NAME or dashboard:ID".into()))?;
    let direction = match p.direction.as_deref().unwrap_or("upstream") {
        "upstream" => Direction::Upstream,
        "downstream" => Direction::Downstream,
        other => {
            return Err(bad(format!(
                "direction {other:?} is neither upstream nor downstream"
            )))
        }
    };
    let lineage = state.catalog_lineage().await?;
    let start = lineage
        .graph
        .resolve(&target)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string()))?;
    let walk = lineage
        .graph
        .walk(&start, direction, p.depth, p.direct.unwrap_or(false));
    Ok(Json(walk_json(&walk)))
}

/// The node of the table-level graph that dataset `name` belongs to: a metric instance
/// (`metric:<measure>.<dimension>.<window>d`) belongs to its measure's node.
fn table_node(name: &str) -> &str {
    match name.strip_prefix(METRIC_PREFIX) {
        Some(rest) => match rest.find('.') {
            Some(dot) => &name[..METRIC_PREFIX.len() + dot],
            None => name,
        },
        None => name,
    }
}

/// The layer a node is drawn in: `business`, the model's layer (`ods`, `dim`, `dwd`,
/// `dws`, `ads`), `metric` or `dashboard`.
fn layer_of(name: &str, project: &Project) -> String {
    match kind_of(name) {
        NodeKind::Business => "business".into(),
        NodeKind::Metric => "metric".into(),
        NodeKind::Dashboard => "dashboard".into(),
        NodeKind::Lake => project
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.layer.clone())
            .unwrap_or_else(|| name.split('_').next().unwrap_or_default().to_string()),
    }
}

/// `GET /api/lineage/tables`: the graph by table for the web UI: `nodes` (name, kind,
/// layer, columns) and `links` (source, target, and whether any edge carries values).
pub(super) async fn lineage_tables(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let lineage = state.catalog_lineage().await?;
    let project = state.project()?;
    let mut nodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut links: BTreeMap<(String, String), bool> = BTreeMap::new();
    for t in state.queries.tables().await {
        nodes.entry(t.name).or_default();
    }
    for d in lineage.graph.datasets() {
        let target = table_node(&d.dataset).to_string();
        let columns = nodes.entry(target.clone()).or_default();
        if target == d.dataset {
            for c in &d.columns {
                if !columns.contains(&c.name) {
                    columns.push(c.name.clone());
                }
            }
        }
        let inputs = d.columns.iter().flat_map(|c| c.inputs.iter());
        for (field, subtypes) in inputs.chain(d.dataset_inputs.iter()) {
            let source = table_node(&field.dataset).to_string();
            nodes.entry(source.clone()).or_default();
            if source != target {
                let direct = subtypes.iter().any(|s| s.is_direct());
                *links.entry((source, target.clone())).or_default() |= direct;
            }
        }
    }
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|(name, mut columns)| {
            let kind = kind_of(&name);
            if let (NodeKind::Business, Some(table)) = (kind, medlake_schema::table(&name)) {
                columns = table
                    .captured_columns()
                    .iter()
                    .map(|c| c.name.to_string())
                    .collect();
            }
            json!({
                "name": name, "kind": kind, "layer": layer_of(&name, project),
                "columns": columns,
            })
        })
        .collect();
    let links: Vec<Value> = links
        .into_iter()
        .map(|((source, target), direct)| {
            json!({ "source": source, "target": target, "direct": direct })
        })
        .collect();
    Ok(Json(json!({ "nodes": nodes, "links": links })))
}

/// `GET /api/metrics/{name}`: a measure's declaration, formula and upstream lineage (down
/// to business columns; `null` before a build recorded it).
pub(super) async fn metric(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let project = state.project()?.clone();
    let m = project.metrics.measure(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no measure {name:?}"),
        )
    })?;
    let lineage = match state.catalog_lineage().await {
        Ok(l) => l
            .graph
            .resolve(&format!("{METRIC_PREFIX}{name}"))
            .ok()
            .map(|start| walk_json(&l.graph.walk(&start, Direction::Upstream, None, false))),
        // Logged where it failed; the declaration is still worth showing.
        Err(_) => None,
    };
    let dimensions: Vec<Value> = m
        .dimensions
        .iter()
        .map(|d| {
            let dim = project.metrics.dimensions.get(d);
            json!({
                "name": d,
                "label_zh": dim.map(|x| x.label_zh.as_str()),
                "label_en": dim.map(|x| x.label_en.as_str()),
                "key": dim.and_then(|x| x.key.as_deref()),
            })
        })
        .collect();
    let formula = match &m.kind {
        MeasureKind::Aggregate {
            source,
            parts,
            combined,
        } => {
            let parts: Vec<Value> = parts
                .iter()
                .map(|p| json!({ "call": p.call, "combine": p.combine.as_str() }))
                .collect();
            json!({ "kind": "aggregate", "source": source, "parts": parts, "combined": combined })
        }
        MeasureKind::Query(sql) => json!({ "kind": "query", "sql": sql }),
    };
    Ok(Json(json!({
        "name": m.name, "topic": m.topic, "label_zh": m.label_zh, "label_en": m.label_en,
        "definition": m.definition, "unit": m.unit, "dimensions": dimensions,
        "windows": m.windows, "formula": formula, "lineage": lineage,
    })))
}

/// The PHI tag of `column` of `table`: `"own"` (declared by its table, or the ODS layer's
/// landed business tag), `"inherited"` (derived from PHI), or none; with the business
/// columns it comes from. A struct column carries the tags of the fields inside it.
/// `declared` is the model's own `phi` list, for tables lineage does not know yet.
pub(super) fn phi_tag(
    lineage: Option<&Lineage>,
    table: &str,
    column: &str,
    declared: bool,
) -> (Option<&'static str>, Vec<String>) {
    let mut own = declared;
    let mut found = declared;
    let mut origins = std::collections::BTreeSet::new();
    if let Some(l) = lineage {
        let inside = format!("{column}.");
        let start = FieldRef::new(table, column);
        for (field, tag) in l.phi.range(start..) {
            if field.dataset != table || !field.field.starts_with(column) {
                break;
            }
            if field.field == column || field.field.starts_with(&inside) {
                found = true;
                own |= tag.declared;
                origins.extend(tag.origins.iter().map(|o| o.to_string()));
            }
        }
    }
    let tag = match (found, own) {
        (false, _) => None,
        (true, true) => Some("own"),
        (true, false) => Some("inherited"),
    };
    (tag, origins.into_iter().collect())
}

/// A commit time as RFC 3339 (UTC).
fn commit_time(ms: Option<i64>) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms?)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The table page's `history` (newest first), `freshness` (the last commit and its age)
/// and `schema_changes` (the versions that added or dropped columns), from the Delta log
/// of `table` (empty, with a warning logged, when it cannot be read).
pub(super) async fn table_history(state: &AppState, table: &str) -> (Value, Value, Value) {
    let versions: Vec<VersionInfo> =
        match state.queries.lake().history(table, HISTORY_VERSIONS).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%table, error = %e, "cannot read the table's history");
                Vec::new()
            }
        };
    let history: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version, "time": commit_time(v.timestamp_ms),
                "operation": v.operation, "rows_added": v.rows_added,
            })
        })
        .collect();
    let freshness = match versions.iter().find_map(|v| v.timestamp_ms) {
        Some(ms) => json!({
            "last_commit": commit_time(Some(ms)),
            "age_seconds": ((chrono::Utc::now().timestamp_millis() - ms) / 1000).max(0),
        }),
        None => Value::Null,
    };
    let changes: Vec<Value> = versions
        .iter()
        .filter_map(|v| {
            let c = v.schema_change.as_ref()?;
            Some(json!({
                "version": v.version, "time": commit_time(v.timestamp_ms),
                "added": c.added, "removed": c.removed,
            }))
        })
        .collect();
    (json!(history), freshness, json!(changes))
}
