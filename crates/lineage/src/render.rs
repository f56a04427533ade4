//! A walk shown to people (text), to programs (JSON) and to Graphviz (DOT).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::field::{FieldRef, Subtype};
use crate::graph::{Direction, NodeKind, Walk};

/// A walk as text: the fields reached grouped by kind, each with how it is linked.
pub fn walk_text(walk: &Walk) -> String {
    let mut out = String::new();
    let start: Vec<String> = walk.start.iter().map(|f| f.to_string()).collect();
    let way = match walk.direction {
        Direction::Upstream => "comes from",
        Direction::Downstream => "feeds",
    };
    let _ = writeln!(out, "{} {way}:", start.join(", "));
    if walk.reached.is_empty() {
        let _ = writeln!(out, "  nothing medlake knows of");
        return out;
    }
    for kind in [
        NodeKind::Business,
        NodeKind::Lake,
        NodeKind::Metric,
        NodeKind::Dashboard,
    ] {
        let of_kind: Vec<_> = walk.reached.iter().filter(|r| r.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let (direct, indirect): (Vec<_>, Vec<_>) = of_kind.into_iter().partition(|r| r.direct);
        for (group, label) in [
            (direct, "value"),
            (indirect, "shaped by (filters, joins, keys)"),
        ] {
            if group.is_empty() {
                continue;
            }
            let heading = match (kind, walk.direction, label) {
                (_, Direction::Downstream, "value") => {
                    format!("{} whose values follow", title(kind))
                }
                (_, Direction::Downstream, _) => format!("{} whose rows it shapes", title(kind)),
                (_, Direction::Upstream, "value") => {
                    format!("{} its value is computed from", title(kind))
                }
                _ => format!("{} that decide its rows", title(kind)),
            };
            let _ = writeln!(out, "\n  {heading} ({}):", group.len());
            let width = group
                .iter()
                .map(|r| r.field.to_string().len())
                .max()
                .unwrap_or(0);
            for r in group {
                let how = names(&r.via);
                let _ = writeln!(
                    out,
                    "    {:width$}  {how}  (depth {})",
                    r.field.to_string(),
                    r.depth
                );
            }
        }
    }
    out
}

fn title(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Business => "business columns",
        NodeKind::Lake => "lake columns",
        NodeKind::Metric => "metrics",
        NodeKind::Dashboard => "dashboard charts",
    }
}

fn names(subtypes: &BTreeSet<Subtype>) -> String {
    subtypes
        .iter()
        .map(|s| format!("{} {}", s.kind(), s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A walk as JSON: `start`, `direction`, `nodes` (field, kind, depth, direct) and `edges`
/// (from, to, and each transformation's `type` and `subtype`).
pub fn walk_json(walk: &Walk) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = walk
        .reached
        .iter()
        .map(|r| {
            serde_json::json!({
                "dataset": r.field.dataset,
                "field": r.field.field,
                "name": r.field.to_string(),
                "kind": r.kind,
                "depth": r.depth,
                "direct": r.direct,
                "via": r.via.iter().map(|s| serde_json::json!({ "type": s.kind(), "subtype": s.name() })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let edges: Vec<serde_json::Value> = walk
        .edges
        .iter()
        .map(|e| {
            let transformations: Vec<serde_json::Value> = e
                .subtypes
                .iter()
                .map(|s| serde_json::json!({ "type": s.kind(), "subtype": s.name() }))
                .collect();
            serde_json::json!({
                "from": e.from.to_string(),
                "to": e.to.to_string(),
                "transformations": transformations,
            })
        })
        .collect();
    serde_json::json!({
        "start": walk.start.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "direction": walk.direction,
        "nodes": nodes,
        "edges": edges,
    })
}

/// A walk as a Graphviz digraph: one cluster per dataset, DIRECT edges solid, INDIRECT
/// dashed.
pub fn walk_dot(walk: &Walk) -> String {
    let mut by_dataset: BTreeMap<&str, BTreeSet<&FieldRef>> = BTreeMap::new();
    for f in walk
        .start
        .iter()
        .chain(walk.reached.iter().map(|r| &r.field))
    {
        by_dataset.entry(f.dataset.as_str()).or_default().insert(f);
    }
    let mut out =
        String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    for (i, (dataset, fields)) in by_dataset.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label={};",
            quoted(dataset)
        );
        for f in fields {
            let _ = writeln!(
                out,
                "    {} [label={}];",
                quoted(&f.to_string()),
                quoted(&f.field)
            );
        }
        out.push_str("  }\n");
    }
    for e in &walk.edges {
        let direct = e.subtypes.iter().any(|s| s.is_direct());
        let label = e
            .subtypes
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{}];",
            quoted(&e.from.to_string()),
            quoted(&e.to.to_string()),
            quoted(&label),
            if direct { "" } else { ", style=dashed" }
        );
    }
    out.push_str("}\n");
    out
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
