//! `medlake-bench cdc`: change capture figures against a real MariaDB/MySQL binlog.
//! Figures, not pass/fail: the README keeps the latest ones.
//!
//! 1. bootstrap of a simulated population and first day (rows/s);
//! 2. the binlog of the next simulated day through the reader alone (row changes/s);
//! 3. the same day from the binlog into the lake, exactly once (row changes/s);
//! 4. with `--kafka`, the same day from the binlog into Kafka, and from Kafka into a
//!    second lake (row changes/s each);
//! 5. a steady load of inserts at `--rate` changes/s while capture follows the binlog:
//!    latency from the source's commit to the lake's commit, p50/p99/max; with `--kafka`,
//!    again through Kafka and a following lander.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::machine::work_dir;
use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_cdc::{
    capture, land, BinlogSource, CaptureOptions, ChangeSink, Filter, KafkaSink, LakeSink,
    LandFigures, LandOptions, LandProgress, NoCaptureProgress, NoLandProgress, RowChange,
};
use medlake_lake::Lake;
use medlake_schema::Table;
use mysql_async::prelude::Queryable;

use medlake_cli::config::Config;
use medlake_cli::simulate_cmd::{self, SimulationPlan};

/// Benchmark settings.
#[derive(Debug, Clone, clap::Args)]
pub struct CdcBenchArgs {
    /// Server with a row-based binlog; the benchmark creates (and drops) the database
    /// medlake_bench_cdc on it.
    #[arg(
        long,
        env = "MEDLAKE_BENCH_BINLOG_URL",
        default_value = "mysql://root@127.0.0.1:3307"
    )]
    pub url: String,
    /// Scale of the simulated day (1 = 100,000 consultations a day).
    #[arg(long, default_value_t = 0.2)]
    pub scale: f64,
    /// Steady load for the latency figure, in row changes per second.
    #[arg(long, default_value_t = 5000)]
    pub rate: u64,
    /// How long the steady load runs, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Folder for the lake and catalog (default: a temporary folder, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Kafka brokers (`host:port`): also measure binlog -> Kafka and Kafka -> lake.
    #[arg(long, env = "MEDLAKE_BENCH_KAFKA")]
    pub kafka: Option<String>,
}

const DATABASE: &str = "medlake_bench_cdc";

/// The throughput table: what was done, how many rows or changes, in how many seconds.
#[derive(Default)]
struct StepFigures {
    rows: Vec<(&'static str, u64, f64)>,
}

impl StepFigures {
    /// Records a step that began at `started` and has just ended.
    fn record(&mut self, what: &'static str, count: u64, started: Instant) {
        self.rows
            .push((what, count, started.elapsed().as_secs_f64()));
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &CdcBenchArgs) -> Result<()> {
    let (_temp, dir) = work_dir(args.dir.as_deref())?;
    let server = args.url.trim_end_matches('/').to_string();
    let db_url = format!("{server}/{DATABASE}");
    let pool = mysql_async::Pool::new(server.as_str());
    let mut conn = pool
        .get_conn()
        .await
        .context("connecting to the binlog server")?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {DATABASE}"))
        .await?;
    drop(conn);

    let mut config = Config::defaults_in(&dir);
    config.business.url = db_url.clone();
    config.simulate.scale = args.scale;
    config.simulate.start = NaiveDate::from_ymd_opt(2026, 1, 5).context("start day")?;
    println!(
        "medlake-bench cdc: scale {}, steady load {} changes/s for {} s, in {}",
        args.scale,
        args.rate,
        args.seconds,
        dir.display()
    );
    let mut rows_table = StepFigures::default();

    // The population and a first day: every captured table has rows to bootstrap.
    simulate_cmd::simulate(&db_url, &SimulationPlan::from_config(&config, 1), true).await?;
    let source = BinlogSource::new(&db_url)?;
    let lake = Lake::open(&config.lake.url, config.lake_options())?;
    let catalog = config.open_catalog()?;
    let tables: Vec<&Table> = medlake_schema::business_tables()
        .iter()
        .filter(|t| t.changes)
        .collect();
    let options = CaptureOptions {
        database: DATABASE.into(),
        tables: tables.clone(),
        batch_rows: config.cdc.batch_rows,
        flush_interval: Duration::from_millis(config.cdc.flush_ms),
        follow: false,
        server_id: 900_000 + std::process::id() % 10_000,
        resync: Vec::new(),
    };
    let started = Instant::now();
    let mut sink = LakeSink::new(lake.clone());
    capture(&source, &mut sink, &catalog, &options, &NoCaptureProgress).await?;
    let bootstrap_rows = lake_rows(&lake, &tables).await?;
    rows_table.record(
        "bootstrap of the population and a first day into the lake (rows)",
        bootstrap_rows,
        started,
    );

    // Kafka starts from the same state: its topics (named for this run) and a second lake
    // get the bootstrap before the day is written.
    let kafka = match &args.kafka {
        Some(brokers) => {
            let client = medlake_cdc::connect(brokers).await?;
            let topic = format!("bench{}.%{{database}}.%{{table}}", std::process::id());
            let mut kafka_sink = KafkaSink::new(client.clone(), &topic, DATABASE)?;
            capture(
                &source,
                &mut kafka_sink,
                &catalog,
                &options,
                &NoCaptureProgress,
            )
            .await?;
            let landed = Lake::open(
                &dir.join("lake-from-kafka").display().to_string(),
                Default::default(),
            )?;
            let land_options = LandOptions {
                database: DATABASE.into(),
                tables: tables.clone(),
                topic,
                batch_rows: config.cdc.batch_rows,
                flush_interval: Duration::from_millis(config.cdc.flush_ms),
                follow: false,
            };
            land(&client, &landed, &land_options, &NoLandProgress).await?;
            Some((client, kafka_sink, landed, land_options))
        }
        None => None,
    };

    let before_day = source.master_position().await?;
    simulate_cmd::simulate(&db_url, &SimulationPlan::from_config(&config, 1), true).await?;

    let filter = Filter {
        include_databases: vec![DATABASE.into()],
        include_tables: tables.iter().map(|t| t.name.to_string()).collect(),
        ..Default::default()
    };
    let started = Instant::now();
    let mut stream = source
        .stream(&before_day, options.server_id, false, filter)
        .await?;
    let mut changes = 0u64;
    while let Some(tx) = stream.next().await? {
        changes += tx.changes.len() as u64;
    }
    rows_table.record(
        "reader: one day's binlog decoded (row changes)",
        changes,
        started,
    );

    let started = Instant::now();
    let figures = capture(&source, &mut sink, &catalog, &options, &NoCaptureProgress).await?;
    rows_table.record(
        "binlog -> lake: one day, exactly once (row changes)",
        figures.changes,
        started,
    );

    let mut paths = vec![("commit-to-lake", LoadPath::Direct(lake.clone()))];
    if let Some((client, mut kafka_sink, landed, land_options)) = kafka {
        let started = Instant::now();
        let figures = capture(
            &source,
            &mut kafka_sink,
            &catalog,
            &options,
            &NoCaptureProgress,
        )
        .await?;
        rows_table.record(
            "binlog -> Kafka: one day, exactly once (row changes)",
            figures.changes,
            started,
        );
        let started = Instant::now();
        let figures = land(&client, &landed, &land_options, &NoLandProgress).await?;
        rows_table.record(
            "Kafka -> lake: one day, exactly once (row changes)",
            figures.changes,
            started,
        );
        paths.push((
            "commit-to-lake through Kafka",
            LoadPath::Kafka {
                client,
                sink: kafka_sink,
                land: land_options,
                lake: landed,
            },
        ));
    }

    let mut latency_lines = Vec::new();
    for (round, (what, path)) in paths.into_iter().enumerate() {
        let first_id = 1_000_000_000_000 + round as i64 * 100_000_000;
        let latencies =
            steady_load(args, &source, &catalog, path, &db_url, &options, first_id).await?;
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        latency_lines.push(format!(
            "{what} latency at {} changes/s ({} changes, flush every {} ms): \
             p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            args.rate,
            latencies.len(),
            config.cdc.flush_ms,
            pct(0.5),
            pct(0.99),
            pct(1.0)
        ));
    }

    println!("\n| step | count | seconds | per second |");
    println!("|---|---:|---:|---:|");
    for (what, n, secs) in &rows_table.rows {
        println!(
            "| {what} | {n} | {secs:.2} | {:.0} |",
            *n as f64 / secs.max(1e-9)
        );
    }
    println!();
    for line in latency_lines {
        println!("{line}");
    }
    let mut conn = pool.get_conn().await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {DATABASE}"))
        .await?;
    drop(conn);
    pool.disconnect().await?;
    Ok(())
}

async fn lake_rows(lake: &Lake, tables: &[&'static Table]) -> Result<u64> {
    let summary = lake.summary().await?;
    Ok(summary
        .iter()
        .filter(|t| tables.iter().any(|b| b.ods_inc_name() == t.name))
        .map(|t| t.rows())
        .sum())
}

/// Where the steady load's changes go: into the lake directly, or through Kafka and the
/// lander into a second lake.
enum LoadPath {
    Direct(Lake),
    Kafka {
        client: Arc<medlake_cdc::KafkaClient>,
        sink: KafkaSink,
        land: LandOptions,
        lake: Lake,
    },
}

/// Inserts payments at a steady rate while capture follows; returns the sorted latencies
/// from each insert's commit to the lake commit holding it.
async fn steady_load(
    args: &CdcBenchArgs,
    source: &BinlogSource,
    catalog: &Catalog,
    mut path: LoadPath,
    db_url: &str,
    options: &CaptureOptions,
    first_id: i64,
) -> Result<Vec<Duration>> {
    if let LoadPath::Kafka {
        client,
        sink,
        land: land_options,
        lake,
    } = &mut path
    {
        // Catch up first: the binlog holds the direct run's load, which is not this run's.
        capture(source, sink, catalog, options, &NoCaptureProgress).await?;
        land(client, lake, land_options, &NoLandProgress).await?;
    }
    let latencies = Latencies::default();
    let mut follow = options.clone();
    follow.follow = true;
    let total = args.rate * args.seconds;
    let writer = {
        let sent = latencies.sent.clone();
        let (url, rate, seconds) = (db_url.to_string(), args.rate, args.seconds);
        tokio::spawn(async move { write_steadily(&url, rate, seconds, first_id, sent).await })
    };
    let wait_for_all = async {
        writer.await.context("load writer")??;
        let deadline = Instant::now() + Duration::from_secs(60);
        while latencies.count() < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<(), anyhow::Error>(())
    };
    match path {
        LoadPath::Direct(lake) => {
            let mut sink = LatencySink {
                inner: LakeSink::new(lake),
                latencies: latencies.clone(),
            };
            let capturing = capture(source, &mut sink, catalog, &follow, &NoCaptureProgress);
            tokio::select! {
                r = capturing => { r?; }
                r = wait_for_all => { r?; }
            }
        }
        LoadPath::Kafka {
            client,
            mut sink,
            land: mut land_options,
            lake,
        } => {
            let capturing = capture(source, &mut sink, catalog, &follow, &NoCaptureProgress);
            land_options.follow = true;
            // The lander runs on its own task, as it would in its own process.
            let progress = latencies.clone();
            let landing =
                tokio::spawn(async move { land(&client, &lake, &land_options, &progress).await });
            let abort = landing.abort_handle();
            let result = tokio::select! {
                r = capturing => r.map(drop).map_err(anyhow::Error::from),
                r = landing => match r {
                    Ok(r) => r.map(drop).map_err(anyhow::Error::from),
                    Err(e) => Err(anyhow::Error::from(e)),
                },
                r = wait_for_all => r,
            };
            abort.abort();
            result?;
        }
    }
    Ok(latencies.sorted())
}

/// Send times of the steady load's rows, and the time each took to land.
#[derive(Clone, Default)]
struct Latencies {
    sent: Arc<Mutex<HashMap<i64, Instant>>>,
    landed: Arc<Mutex<Vec<Duration>>>,
}

impl Latencies {
    /// Notes the landing, now, of those `changes` that the load sent.
    fn note<'a>(&self, changes: impl Iterator<Item = &'a RowChange>) {
        let now = Instant::now();
        let sent = self.sent.lock().map(|s| {
            changes
                .filter_map(|c| c.id().and_then(|id| s.get(&id).copied()))
                .collect::<Vec<_>>()
        });
        if let (Ok(sent), Ok(mut landed)) = (sent, self.landed.lock()) {
            landed.extend(sent.into_iter().map(|t| now.saturating_duration_since(t)));
        }
    }

    fn count(&self) -> u64 {
        self.landed.lock().map(|l| l.len()).unwrap_or(0) as u64
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut out = self.landed.lock().map(|l| l.clone()).unwrap_or_default();
        out.sort();
        out
    }
}

impl LandProgress for Latencies {
    fn landed(&self, _topic: &str, changes: &[RowChange], _figures: &LandFigures) {
        self.note(changes.iter());
    }
}

async fn write_steadily(
    url: &str,
    rate: u64,
    seconds: u64,
    first_id: i64,
    sent: Arc<Mutex<HashMap<i64, Instant>>>,
) -> Result<()> {
    let pool = mysql_async::Pool::new(url);
    let mut conn = pool.get_conn().await?;
    let ticks_per_second = 100;
    let per_tick = (rate / ticks_per_second).max(1);
    let mut interval = tokio::time::interval(Duration::from_millis(1000 / ticks_per_second));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_id = first_id;
    for _ in 0..seconds * ticks_per_second {
        interval.tick().await;
        let ids: Vec<i64> = (next_id..next_id + per_tick as i64).collect();
        next_id += per_tick as i64;
        let values: Vec<String> = ids
            .iter()
            .map(|id| format!("({id},1,NULL,NULL,10.00,202,NOW(6),NOW(6))"))
            .collect();
        conn.query_drop(format!(
            "INSERT INTO payment (id,user_id,consultation_id,prescription_id,payment_amount,\
             status,create_time,update_time) VALUES {}",
            values.join(",")
        ))
        .await?;
        let now = Instant::now();
        if let Ok(mut s) = sent.lock() {
            s.extend(ids.into_iter().map(|id| (id, now)));
        }
    }
    drop(conn);
    pool.disconnect().await?;
    Ok(())
}

/// The lake sink, noting for each bench row the time from its source commit to its lake commit.
struct LatencySink {
    inner: LakeSink,
    latencies: Latencies,
}

#[async_trait]
impl ChangeSink for LatencySink {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn table_version(&mut self, table: &'static Table) -> medlake_cdc::Result<Option<i64>> {
        self.inner.table_version(table).await
    }

    async fn write_table(
        &mut self,
        table: &'static Table,
        changes: &[&RowChange],
        version: i64,
    ) -> medlake_cdc::Result<()> {
        self.inner.write_table(table, changes, version).await?;
        self.latencies.note(changes.iter().copied());
        Ok(())
    }
}
