//! `medlake-bench --serve`: the server under load, over a lake a warehouse bench built.
//!
//! Figures, as the serving issues ask: the latency of every dashboard API call (p50/p95 per
//! dashboard, over windows and filters), then PostgreSQL-protocol query latency with many
//! concurrent clients (each its own analyst account) for a stretch of minutes, with the
//! count of errors, while abusive clients run a cross join that only its timeout ends and
//! a dashboard reader measures the dashboards' latency under that load.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use medlake_serve::{Accounts, HttpOptions, QueryLimits, Role, ServeOptions};

use medlake_cli::config::Config;

/// Queries the PostgreSQL clients run in turn: what a BI tool sends for a dashboard.
const PG_QUERIES: &[&str] = &[
    "SELECT metric, dimension_value, value FROM ads_metric_value \
     WHERE dt = (SELECT max(dt) FROM ads_metric_value) AND window_days = 7 AND dimension = 'province'",
    "SELECT dt, value FROM ads_metric_value WHERE metric = 'total_paid_amount.overall.1d' ORDER BY dt",
    "SELECT dimension_label, value FROM ads_metric_value WHERE dt = (SELECT max(dt) FROM ads_metric_value) \
     AND measure = 'good_review_rate' AND dimension = 'hospital' AND window_days = 30 ORDER BY value DESC LIMIT 10",
    "SELECT topic, count(*) FROM ads_metric_catalog WHERE dt = (SELECT max(dt) FROM ads_metric_catalog) GROUP BY topic",
];

/// Latencies in milliseconds, and how many calls failed.
#[derive(Default)]
struct Sample {
    millis: Vec<f64>,
    errors: u64,
}

impl Sample {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

/// What an abusive client runs: every user crossed with every user, sorted.
const ABUSE: &str = "SELECT a.id, b.id FROM ods_user_full a CROSS JOIN ods_user_full b \
                     CROSS JOIN ods_user_full c ORDER BY a.id * 7 + b.id * 3 + c.id DESC LIMIT 5";

/// The analysts' statement timeout during the benchmark, so abusers are cut off several
/// times in a stretch.
const BENCH_ANALYST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the serving benchmark over the lake and catalog in `dir`.
pub async fn run(dir: &Path, seconds: u64, clients: usize, abusers: usize) -> Result<()> {
    let config = Config::defaults_in(dir);
    let lake = medlake_lake::Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    if !lake
        .table_names()
        .await
        .context("reading the lake")?
        .iter()
        .any(|t| t == "ads_metric_value")
    {
        bail!(
            "{} holds no built warehouse: run `medlake-bench --warehouse --dir {}` first",
            dir.display(),
            dir.display()
        );
    }
    let catalog = Arc::new(config.open_catalog()?);
    let accounts = Accounts::new(catalog.clone())?;
    let account = format!("bench{}", std::process::id());
    accounts.create(&account, Role::Analyst, None)?;
    let token = accounts.issue_token(&account, "bench")?;
    // Every load client and abuser is an analyst of its own, as on a real server.
    let mut logins = Vec::new();
    for i in 0..clients + abusers {
        let name = format!("{account}-{i}");
        let password = accounts.create(&name, Role::Analyst, None)?;
        logins.push((name, password));
    }
    let abuser_logins = logins.split_off(clients);
    let http = format!("127.0.0.1:{}", free_port()?);
    let pg_port = free_port()?;
    let options = server_options(&http, pg_port, bench_limits());
    let server = tokio::spawn(medlake_serve::serve(lake, catalog.clone(), options));
    wait_for(&http).await?;
    println!(
        "medlake-bench --serve over {} ({} clients for {seconds} s)",
        dir.display(),
        clients
    );
    crate::machine::print_machine();

    dashboard_latency(&http, &token).await?;
    let load = Load {
        port: pg_port,
        http: &http,
        token: &token,
        seconds,
    };
    pg_load(&load, &logins, &abuser_logins).await?;
    accounts.disable(&account)?;
    for (name, _) in logins.iter().chain(&abuser_logins) {
        accounts.disable(name)?;
    }
    server.abort();
    Ok(())
}

/// A server on loopback for a benchmark: no row limit, no refresh during the run.
pub(crate) fn server_options(http: &str, pg_port: u16, limits: QueryLimits) -> ServeOptions {
    ServeOptions {
        http_addr: http.to_string(),
        pg_host: "127.0.0.1".into(),
        pg_port,
        http: HttpOptions {
            session_lifetime: Duration::from_secs(3600),
            secure_cookies: true,
            build_launcher: None,
            table_docs: Default::default(),
            project: None,
            imaging_login: Default::default(),
        },
        refresh_every: Duration::from_secs(3600),
        pg_row_limit: None,
        limits,
        governance: Default::default(),
        tls: None,
        directory: None,
        throttle: Default::default(),
        operations: None,
    }
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for(http: &str) -> Result<()> {
    for _ in 0..300 {
        if get(http, "/healthz", None).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not come up on {http}")
}

/// One GET over a fresh connection (as the figures before reqwest measured); the status
/// and body.
async fn get(http: &str, path: &str, token: Option<&str>) -> Result<(u16, String)> {
    let mut request = reqwest::Client::new().get(format!("http://{http}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

async fn dashboard_latency(http: &str, token: &str) -> Result<()> {
    let (_, list) = get(http, "/api/dashboards", Some(token)).await?;
    let list: serde_json::Value = serde_json::from_str(&list).context("dashboard list")?;
    let ids: Vec<String> = list["dashboards"]
        .as_array()
        .context("dashboard list")?
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect();
    // The filters a viewer uses: none, a province, a hospital (taken from the first answer).
    let (_, first) = get(http, &format!("/api/dashboards/{}", ids[0]), Some(token)).await?;
    let first: serde_json::Value = serde_json::from_str(&first).context("dashboard data")?;
    let province = first["provinces"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hospital = first["hospitals"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let filters = [
        String::new(),
        format!("&province={}", url_escape(&province)),
        format!("&hospital={}", url_escape(&hospital)),
    ];
    println!("\ndashboard API (GET /api/dashboards/<id>, windows 1/7/30 x no filter/province/hospital, 5 rounds):");
    println!(
        "  {:<14} {:>6} {:>9} {:>9} {:>9} {:>7}",
        "dashboard", "calls", "p50 ms", "p95 ms", "max ms", "errors"
    );
    let mut all = Sample::default();
    for id in &ids {
        let mut sample = Sample::default();
        for _round in 0..5 {
            for window in [1, 7, 30] {
                for filter in &filters {
                    let path = format!("/api/dashboards/{id}?window={window}{filter}");
                    let started = Instant::now();
                    let ok = matches!(get(http, &path, Some(token)).await, Ok((200, _)));
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    for s in [&mut sample, &mut all] {
                        if ok {
                            s.millis.push(ms)
                        } else {
                            s.errors += 1
                        }
                    }
                }
            }
        }
        print_sample(id, &sample);
    }
    print_sample("all", &all);
    Ok(())
}

fn print_sample(name: &str, s: &Sample) {
    let max = s.millis.iter().copied().fold(0.0, f64::max);
    println!(
        "  {:<14} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>7}",
        name,
        s.millis.len() as u64 + s.errors,
        s.percentile(50.0),
        s.percentile(95.0),
        max,
        s.errors
    );
}

fn url_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The serving limits of the benchmark: the defaults, with a shorter analyst timeout.
fn bench_limits() -> QueryLimits {
    let mut limits = QueryLimits::default();
    limits.analyst.timeout = Some(BENCH_ANALYST_TIMEOUT);
    limits
}

/// Where and how long the load runs.
struct Load<'a> {
    port: u16,
    http: &'a str,
    token: &'a str,
    seconds: u64,
}

/// Runs `sqls` in turn from `login`'s own connection until `deadline`.
fn pg_client(
    port: u16,
    (account, password): (String, String),
    sqls: &'static [&'static str],
    first: usize,
    deadline: Instant,
) -> tokio::task::JoinHandle<Sample> {
    let conninfo = format!(
        "host=127.0.0.1 port={port} user={account} password={password} dbname={}",
        medlake_serve::query::DATABASE
    );
    tokio::spawn(async move {
        let mut sample = Sample::default();
        let connected = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await;
        let (pg, connection) = match connected {
            Ok(c) => c,
            Err(_) => {
                sample.errors += 1;
                return sample;
            }
        };
        tokio::spawn(connection);
        let mut i = first;
        while Instant::now() < deadline {
            let sql = sqls[i % sqls.len()];
            i += 1;
            let started = Instant::now();
            match pg.simple_query(sql).await {
                Ok(_) => sample.millis.push(started.elapsed().as_secs_f64() * 1000.0),
                Err(_) => sample.errors += 1,
            }
        }
        sample
    })
}

/// Reads the trade dashboard again and again until `deadline`.
async fn dashboards_under_load(http: &str, token: &str, deadline: Instant) -> Sample {
    let mut sample = Sample::default();
    let windows = [1, 7, 30];
    let mut i = 0;
    while Instant::now() < deadline {
        let path = format!("/api/dashboards/trade?window={}", windows[i % 3]);
        i += 1;
        let started = Instant::now();
        match get(http, &path, Some(token)).await {
            Ok((200, _)) => sample.millis.push(started.elapsed().as_secs_f64() * 1000.0),
            _ => sample.errors += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sample
}

async fn pg_load(
    load: &Load<'_>,
    logins: &[(String, String)],
    abuser_logins: &[(String, String)],
) -> Result<()> {
    let (port, seconds, clients) = (load.port, load.seconds, logins.len());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = logins
        .iter()
        .enumerate()
        .map(|(i, login)| pg_client(port, login.clone(), PG_QUERIES, i, deadline))
        .collect();
    let abusers: Vec<_> = abuser_logins
        .iter()
        .map(|login| pg_client(port, login.clone(), &[ABUSE], 0, deadline))
        .collect();
    let dashboards = dashboards_under_load(load.http, load.token, deadline).await;
    let mut all = Sample::default();
    for task in tasks {
        let s = task.await.context("a client task")?;
        all.millis.extend(s.millis);
        all.errors += s.errors;
    }
    let mut abuse = Sample::default();
    for task in abusers {
        let s = task.await.context("an abusive client task")?;
        abuse.millis.extend(s.millis);
        abuse.errors += s.errors;
    }
    println!(
        "\nPostgreSQL protocol ({clients} concurrent clients, each its own analyst, {seconds} s, {} queries in turn; \
         {} abusive clients running a cross join, analyst timeout {} s):",
        PG_QUERIES.len(),
        abuser_logins.len(),
        BENCH_ANALYST_TIMEOUT.as_secs()
    );
    println!(
        "  queries {}  ({:.1}/s)  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  errors {}",
        all.millis.len(),
        all.millis.len() as f64 / seconds.max(1) as f64,
        all.percentile(50.0),
        all.percentile(95.0),
        all.percentile(99.0),
        all.errors
    );
    println!(
        "  abusive statements ended by their timeout or an error: {} (completed: {})",
        abuse.errors,
        abuse.millis.len()
    );
    println!("  dashboards meanwhile (GET /api/dashboards/trade, one reader):");
    print_sample("trade", &dashboards);
    println!(
        "  peak memory {:.0} MiB",
        crate::machine::peak_rss_bytes() as f64 / (1 << 20) as f64
    );
    Ok(())
}
