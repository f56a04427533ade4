//! `medlake-bench stream`: pulling a large result over the PostgreSQL protocol, as an
//! analyst pulls a month of facts into pandas. psql reads `--rows` generated rows (an id,
//! an amount, a text) from a server in this process through `COPY ... TO STDOUT` (csv and
//! binary) and through a cursor (`FETCH_COUNT`), writing them to /dev/null; the figures
//! are rows per second and the server's resident memory at its highest during each read
//! against before it, which stays flat when the rows stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use medlake_serve::{Accounts, QueryLimits, Role};

use crate::serve::free_port;

use medlake_cli::config::Config;

/// Settings of the streaming benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Rows each read pulls.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
}

/// Runs the streaming benchmark against a server over an empty lake in a temporary folder.
pub async fn run(args: &StreamArgs) -> Result<()> {
    let (_keep, dir) = crate::machine::work_dir(None)?;
    let config = Config::defaults_in(&dir);
    let lake = medlake_lake::Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    let catalog = Arc::new(config.open_catalog()?);
    let accounts = Accounts::new(catalog.clone())?;
    let password = accounts.create("streamer", Role::Analyst, None)?;
    let pg_port = free_port()?;
    let http = format!("127.0.0.1:{}", free_port()?);
    let options = crate::serve::server_options(&http, pg_port, QueryLimits::default());
    let server = tokio::spawn(medlake_serve::serve(lake, catalog, options));
    wait_for_port(pg_port).await?;
    println!("medlake-bench stream: {} rows per read", args.rows);
    crate::machine::print_machine();
    let query = format!(
        "SELECT value AS id, CAST(value * 3 AS DECIMAL(18, 2)) AS amount, \
         concat('row ', CAST(value AS VARCHAR)) AS note FROM generate_series(1, {})",
        args.rows
    );
    let reads = [
        (
            "COPY csv",
            format!("\\copy ({query}) to '/dev/null' csv"),
            None,
        ),
        (
            "COPY binary",
            format!("\\copy ({query}) to '/dev/null' with (format binary)"),
            None,
        ),
        ("cursor, FETCH 10000", query.clone(), Some("10000")),
    ];
    println!(
        "  {:<22} {:>10} {:>12} {:>14} {:>14}",
        "read", "seconds", "rows/s", "RSS before MiB", "RSS peak MiB"
    );
    for (what, command, fetch_count) in reads {
        let figures = measure(pg_port, &password, &command, fetch_count).await?;
        println!(
            "  {:<22} {:>10.1} {:>12.0} {:>14.0} {:>14.0}",
            what,
            figures.seconds,
            args.rows as f64 / figures.seconds,
            mib(figures.rss_before),
            mib(figures.rss_peak)
        );
    }
    server.abort();
    Ok(())
}

struct Figures {
    seconds: f64,
    rss_before: u64,
    rss_peak: u64,
}

/// Runs psql with `command` while sampling this process's resident memory.
async fn measure(
    port: u16,
    password: &str,
    command: &str,
    fetch_count: Option<&str>,
) -> Result<Figures> {
    let rss_before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (peak, done) = (peak.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let mut psql = std::process::Command::new("psql");
    psql.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "streamer"])
        .args([
            "-d",
            "medlake",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-o", "/dev/null"])
        .env("PGPASSWORD", password);
    if let Some(count) = fetch_count {
        psql.args(["-v", &format!("FETCH_COUNT={count}")]);
    }
    psql.args(["-c", command]);
    let started = Instant::now();
    // psql runs on a blocking thread while the server serves it on the runtime's.
    let out = tokio::task::spawn_blocking(move || psql.output())
        .await
        .context("waiting for psql")?
        .context("running psql (the PostgreSQL client)")?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Figures {
        seconds,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed),
    })
}

/// This process's resident memory now (VmRSS), in bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn wait_for_port(port: u16) -> Result<()> {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not come up on port {port}")
}
