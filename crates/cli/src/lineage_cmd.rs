//! `medlake lineage`: where a number comes from (`--upstream`, down to business columns)
//! and what a change would touch (`--downstream`, up to dashboard charts), from the
//! lineage the builds recorded; `--phi` lists every PHI column of the lake and its origin.

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use medlake_lineage::openlineage::{Emitter, Namespaces};
use medlake_lineage::{phi_columns, Direction, LineageGraph, PhiColumn};
use medlake_serve::lineage_graph::{phi_declarations, platform_graph};
use medlake_warehouse::Project;

use crate::config::Config;

/// `medlake lineage`.
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// What to trace: a column (`payment.payment_amount`,
    /// `ods_payment_inc.data.payment_amount`, `dws_consultation_1d.paid_amount`), a table,
    /// a measure (`metric:pay_conversion_rate`), an instance
    /// (`metric:pay_conversion_rate.province.7d`) or a dashboard (`dashboard:trade`).
    target: Option<String>,
    /// Towards the inputs, down to business columns (the default).
    #[arg(long, conflicts_with = "downstream")]
    upstream: bool,
    /// Towards what reads it: model columns, metric instances, dashboard charts.
    #[arg(long)]
    downstream: bool,
    /// At most this many steps away.
    #[arg(long, value_name = "N")]
    depth: Option<usize>,
    /// Follow only DIRECT edges (values), not the filters, joins and keys that shape rows.
    #[arg(long)]
    direct: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The lineage that built this day (default: each step's latest build).
    #[arg(long, value_name = "YYYY-MM-DD")]
    day: Option<NaiveDate>,
    /// List every PHI column of the lake (declared and inherited) with its origin.
    #[arg(long, conflicts_with = "target")]
    phi: bool,
    /// List every dataset lineage knows, with its columns.
    #[arg(long, conflicts_with_all = ["target", "phi"])]
    list: bool,
}

/// How `medlake lineage` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
    /// Graphviz (`dot -Tsvg`).
    Dot,
}

/// Runs `medlake lineage`.
pub fn run(config: &Config, args: &LineageArgs) -> Result<()> {
    let project = config.project()?;
    let catalog = config.open_catalog()?;
    let (graph, recorded) =
        platform_graph(&catalog, &project, args.day).context("reading lineage from the catalog")?;
    if recorded == 0 {
        eprintln!(
            "note: no build has recorded lineage yet (run `medlake build`); only the ODS \
             layer and the dashboards are known"
        );
    }
    if args.list {
        print_list(&graph);
        return Ok(());
    }
    if args.phi {
        return print_phi(
            &phi_columns(&graph, &phi_declarations(&project)),
            args.format,
        );
    }
    let Some(target) = &args.target else {
        bail!("name what to trace (a column, table, metric:NAME or dashboard:ID), or use --phi or --list");
    };
    let start = graph.resolve(target)?;
    let direction = if args.downstream {
        Direction::Downstream
    } else {
        Direction::Upstream
    };
    let walk = graph.walk(&start, direction, args.depth, args.direct);
    match args.format {
        Format::Text => print!("{}", medlake_lineage::walk_text(&walk)),
        Format::Json => println!("{:#}", medlake_lineage::walk_json(&walk)),
        Format::Dot => print!("{}", medlake_lineage::walk_dot(&walk)),
    }
    Ok(())
}

fn print_list(graph: &LineageGraph) {
    for d in graph.datasets() {
        let columns: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
        println!("{}  ({})", d.dataset, columns.join(", "));
    }
}

fn print_phi(columns: &[PhiColumn], format: Format) -> Result<()> {
    if format == Format::Json {
        println!("{:#}", serde_json::to_value(columns)?);
        return Ok(());
    }
    println!("PHI columns in the lake ({}):", columns.len());
    let width = columns
        .iter()
        .map(|c| c.field.to_string().len())
        .max()
        .unwrap_or(0);
    for c in columns {
        let why = match (c.declared, c.origins.is_empty()) {
            (true, _) => "declared",
            (false, false) => "inherited, NOT DECLARED",
            (false, true) => "inherited",
        };
        let origins: Vec<String> = c.origins.iter().map(|o| o.to_string()).collect();
        let from = if origins.is_empty() {
            String::new()
        } else {
            format!("  from {}", origins.join(", "))
        };
        println!("  {:width$}  {why}{from}", c.field.to_string());
    }
    Ok(())
}

/// The lake columns lineage finds derived from PHI that no declaration names, for the
/// serving masks and the build's warning (empty, with a warning, when the catalog cannot
/// be read: the declared tags still apply).
pub fn inherited_phi(config: &Config, project: &Project) -> Vec<PhiColumn> {
    let graph = config
        .open_catalog()
        .and_then(|catalog| Ok(platform_graph(&catalog, project, None)?.0));
    match graph {
        Ok(graph) => phi_columns(&graph, &phi_declarations(project))
            .into_iter()
            .filter(|c| !c.declared)
            .collect(),
        Err(e) => {
            tracing::warn!("lineage's PHI tags are not available: {e:#}");
            Vec::new()
        }
    }
}

/// After a build: warns about model columns that derive from PHI but are declared neither
/// `phi` nor `deidentified` (they are masked all the same).
pub fn warn_undeclared_phi(config: &Config, project: &Project) {
    for c in inherited_phi(config, project) {
        let origins: Vec<String> = c.origins.iter().map(|o| o.to_string()).collect();
        eprintln!(
            "warning: {} derives from PHI ({}) but its model declares it neither phi nor \
             deidentified; it is masked as PHI",
            c.field,
            origins.join(", ")
        );
    }
}

/// The namespaces of this installation's datasets in OpenLineage events: the lake's URL (a
/// local folder as `file://` with an absolute path, so two machines' lakes never share a
/// name by accident) and the business database's URL without its password.
pub fn namespaces(config: &Config) -> Namespaces {
    let url = config.lake.url.trim();
    let lake = if url.contains("://") {
        medlake_source::redact_url(url)
    } else {
        let path = std::path::Path::new(url);
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        format!("file://{}", absolute.display())
    };
    Namespaces {
        lake,
        business: medlake_source::redact_url(&config.business.url),
    }
}

/// Says on stderr how many OpenLineage events could not be delivered (they are in the
/// log with why); nothing when all went through or none were sent.
pub fn report_delivery(emitter: &Emitter) {
    let counts = emitter.counts();
    if counts.failed > 0 {
        eprintln!(
            "warning: {} of {} OpenLineage deliveries failed (the work itself is done; run \
             with -v for why)",
            counts.failed,
            counts.failed + counts.delivered
        );
    }
}
