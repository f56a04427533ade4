//! `medlake`: the command line. Parses arguments and config, then hands each command to
//! the crate that owns the capability; errors become one line on stderr.

use medlake_cli::{
    alerts_cmd, build_cmd, cdc_cmd, check_cmd, config, demo, governance_cmd, imaging_cmd, lake_cmd,
    lineage_cmd, report, schedule_cmd, serve_cmd, simulate_cmd, sync_cmd,
};

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use config::Config;

/// medlake: the data platform of an online consultation and imaging business, in one program.
///
/// It simulates (or reads) the business database, lands it in a Delta lake as ODS tables,
/// and reports what is there. Settings come from ./medlake.toml (or --config), overridden
/// by MEDLAKE_SECTION_KEY environment variables (e.g. MEDLAKE_BUSINESS_URL).
#[derive(Debug, Parser)]
#[command(name = "medlake", version, propagate_version = true)]
struct Cli {
    /// Config file (default: ./medlake.toml when it exists).
    #[arg(long, global = true, env = "MEDLAKE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play the business into the business database: masters, then day after day of
    /// consultations, payments, prescriptions and reviews.
    Simulate(simulate_cmd::SimulateArgs),
    /// Land the business database in the lake for a business day: full snapshots of
    /// master tables (ods_*_full) and change records (ods_*_inc), then reconcile.
    Sync(sync_cmd::SyncArgs),
    /// Show the lake's tables with partitions, rows and bytes (`lake forget-secrets`:
    /// drop the password hashes an older medlake landed).
    Lake(lake_cmd::LakeCommand),
    /// Show recorded runs (syncs, builds, captures) with their outcome, newest first.
    Runs {
        /// How many runs.
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Build the warehouse (dim, dwd, dws, ads and the metrics) for a day or a range of
    /// days, in dependency order, from the ODS tables of the lake.
    Build(build_cmd::BuildArgs),
    /// Run the quality checks of existing partitions without building (--day D [--table T]),
    /// list every declared check (--list), or show a check's history (--history CHECK).
    Check(check_cmd::CheckArgs),
    /// List the warehouse models with their layer, materialization and inputs.
    Models {
        /// Write the built-in models into this folder (then set warehouse.models to it).
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
    },
    /// List the metric catalog: base measures, or every instance with --instances.
    Metrics {
        /// Only measures whose name, labels, topic or definition contain this (中文 or English).
        search: Option<String>,
        /// One line per metric instance (measure x dimension x window).
        #[arg(long)]
        instances: bool,
    },
    /// Print the effective configuration (passwords hidden).
    Config,
    /// Run the whole chain on this machine, no server needed: simulate 30 days at a small
    /// scale, sync and build them day by day, and print the lake and headline metrics.
    Demo(demo::DemoArgs),
    /// Capture changes from the MySQL/MariaDB binlog (row format) as a replica: bootstrap
    /// from a consistent snapshot, then stream into ods_*_inc exactly once (or publish to
    /// Kafka with --to kafka, land Kafka with `cdc land`, or print Maxwell JSON with
    /// --to maxwell). Follows the binlog until Ctrl-C unless --once.
    Cdc(cdc_cmd::CdcCommand),
    /// Serve the web UI (dashboards, SQL Lab, catalog, runs), the JSON API and the
    /// PostgreSQL protocol over the lake. The first start creates an admin account and
    /// shows its generated password once.
    Serve(serve_cmd::ServeArgs),
    /// Run the daily pipeline of `[schedule]` (sync, build, checks) without a person:
    /// `run` in the foreground, `status` of its days, `rerun` a day.
    Schedule(schedule_cmd::ScheduleCommand),
    /// Alert rules and receivers: `list`, `check`, `export --prometheus` (a Prometheus
    /// rule file), `test --receiver NAME`.
    Alerts(alerts_cmd::AlertsCommand),
    /// Medical imaging: `ingest` DICOM metadata (folder, Orthanc, DICOMweb) de-identified
    /// into the lake, `quarantine` of unreadable files, `simulate` the simulated exams'
    /// studies as DICOM files, `preview` a series as PNG.
    Imaging(imaging_cmd::ImagingCommand),
    /// Manage the accounts of the web UI, API and PostgreSQL protocol: roles, granted
    /// roles and the attributes row filters read.
    Users(serve_cmd::UsersCommand),
    /// The policies: which tables, rows and column values each account reads (list, show,
    /// check, load, history, explain).
    Policies(governance_cmd::PoliciesCommand),
    /// The query audit: verify its hash chain, search it, export it as CSV.
    Audit(governance_cmd::AuditCommand),
    /// Column-level lineage: where a column, metric or chart comes from (--upstream, down
    /// to business columns), what a change would touch (--downstream), PHI origins (--phi).
    Lineage(lineage_cmd::LineageArgs),
}

fn init_logging(verbose: u8) {
    // delta-rs logs failures it also returns; medlake reports those itself, once.
    let default = match verbose {
        0 => "off,medlake=warn,medlake_sim=warn,medlake_source=warn,medlake_lake=warn,medlake_catalog=warn,medlake_ingest=warn,medlake_warehouse=warn,medlake_quality=warn,medlake_cdc=warn,medlake_imaging=warn,medlake_serve=warn",
        1 => "info",
        // datafusion-postgres logs each statement's text at debug; statements may hold
        // patient data, so its debug output stays off.
        _ => "debug,datafusion_postgres=info,pgwire=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let load = || Config::load(cli.config.as_deref(), &env);
    match cli.command {
        Command::Simulate(args) => simulate_cmd::run(&load()?, &args, cli.quiet).await,
        Command::Sync(args) => {
            let config = load()?;
            let handles = sync_cmd::Handles::open(&config)?;
            let outcome = sync_cmd::run(&handles, &config, &args, cli.quiet).await?;
            sync_cmd::print_outcome(&outcome);
            match &outcome.reconciliation {
                Some(r) if !r.all_match() => {
                    anyhow::bail!("reconciliation found differences (see above)")
                }
                _ => Ok(()),
            }
        }
        Command::Lake(lake) => lake_cmd::run(&load()?, &lake).await,
        Command::Runs { limit } => {
            let config = load()?;
            let catalog = config.open_catalog()?;
            report::print_runs(&catalog.recent_runs(limit)?);
            Ok(())
        }
        Command::Build(args) => {
            let reports = build_cmd::run(&load()?, &args, cli.quiet).await?;
            let failed: Vec<String> = reports
                .iter()
                .filter(|r| !r.succeeded())
                .map(|r| r.dt.to_string())
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!(
                    "the build of {} did not succeed (see above)",
                    failed.join(", ")
                )
            }
        }
        Command::Check(args) => check_cmd::run(&load()?, &args, cli.quiet).await,
        Command::Models { export } => {
            if let Some(dir) = export {
                medlake_warehouse::Project::export_builtin(&dir)
                    .with_context(|| format!("writing models into {}", dir.display()))?;
                println!(
                    "wrote the built-in models into {}; set MEDLAKE_WAREHOUSE_MODELS={} (or warehouse.models) to build from them",
                    dir.display(),
                    dir.display()
                );
                return Ok(());
            }
            build_cmd::print_models(&load()?.project()?);
            Ok(())
        }
        Command::Metrics { search, instances } => {
            let shown = build_cmd::print_metrics(&load()?.project()?, search.as_deref(), instances);
            if shown == 0 {
                anyhow::bail!("no metric matches {:?}", search.unwrap_or_default());
            }
            Ok(())
        }
        Command::Config => {
            print!("{}", load()?.to_toml_redacted());
            Ok(())
        }
        Command::Demo(args) => demo::run(&args, cli.quiet).await,
        Command::Serve(args) => serve_cmd::serve(&load()?, &args, cli.config.as_deref()).await,
        Command::Alerts(a) => alerts_cmd::run(&load()?, &a, cli.config.as_deref()).await,
        Command::Schedule(s) => schedule_cmd::run(&load()?, &s, cli.config.as_deref()).await,
        Command::Imaging(i) => imaging_cmd::run(&load()?, &i, cli.quiet).await,
        Command::Users(users) => serve_cmd::users(&load()?, &users),
        Command::Policies(p) => governance_cmd::policies(&load()?, &p).await,
        Command::Audit(a) => governance_cmd::audit(&load()?, &a),
        Command::Lineage(args) => lineage_cmd::run(&load()?, &args),
        Command::Cdc(cdc) => match &cdc.sub {
            Some(cdc_cmd::CdcSub::Land(args)) => cdc_cmd::land(&load()?, args, cli.quiet).await,
            None => cdc_cmd::run(&load()?, &cdc.args, cli.quiet).await,
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // Deep enough for any statement serving admits (see medlake_serve's query limits).
        .thread_stack_size(medlake_serve::SERVE_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
