//! `medlake serve` and `medlake users`: the server over the lake, and its accounts.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medlake_serve::{
    Accounts, BuildLauncher, HttpOptions, LaunchError, PacsLogin, Role, ServeOptions, TableDoc,
};

use crate::config::Config;

/// Options of `medlake serve`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address of the web UI and JSON API (default: serve.http, 127.0.0.1:8787).
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    /// Port of the PostgreSQL protocol (default: serve.pg_port, 15432).
    #[arg(long, value_name = "PORT")]
    pg_port: Option<u16>,
    /// Host the PostgreSQL protocol listens on (default: serve.pg_host, 127.0.0.1).
    #[arg(long, value_name = "HOST")]
    pg_host: Option<String>,
    /// Do not run the scheduler of `[schedule]` in this server (run `medlake schedule run`
    /// elsewhere, or several servers where one schedules).
    #[arg(long)]
    no_scheduler: bool,
}

/// `medlake users`: accounts of the web UI, API and PostgreSQL protocol.
#[derive(Debug, Args)]
pub struct UsersCommand {
    #[command(subcommand)]
    sub: UsersSub,
}

#[derive(Debug, Subcommand)]
enum UsersSub {
    /// List accounts with their role.
    List,
    /// Create an account; its password is generated and shown once, or read from stdin.
    Add {
        /// Account name (lowercase letters, digits, '_', '.', '-').
        name: String,
        /// admin, analyst (SQL over every table) or viewer (report tables only).
        #[arg(long, default_value = "analyst")]
        role: String,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password: generated and shown once, or read from stdin.
    Passwd {
        /// Account name.
        name: String,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: no more logins, tokens stop working.
    Disable {
        /// Account name.
        name: String,
    },
    /// Enable a disabled account again (a directory account the directory disabled, once
    /// the directory lets the person in again).
    Enable {
        /// Account name.
        name: String,
    },
    /// Grant an extra role (e.g. phi_reader: PHI unmasked, every read audited as such;
    /// image_reader: series previews in the web UI, every one audited).
    Grant {
        /// Account name.
        name: String,
        /// The role to grant.
        role: String,
    },
    /// Take a granted role back.
    Revoke {
        /// Account name.
        name: String,
        /// The role to take back.
        role: String,
    },
    /// Set an attribute row filters read (`${user.hospitals}`), e.g.
    /// `medlake users set wang hospitals 1 7 12`; no values removes it.
    Set {
        /// Account name.
        name: String,
        /// Attribute name: hospitals, province, groups, ...
        attribute: String,
        /// Its values.
        values: Vec<String>,
    },
    /// Issue an API token (Authorization: Bearer ...) for an account, shown once.
    Token {
        /// Account name.
        name: String,
        /// What the token is for, e.g. "grafana".
        #[arg(long, default_value = "api")]
        label: String,
    },
}

fn accounts(config: &Config) -> Result<Accounts> {
    let catalog = config.open_catalog()?;
    Ok(Accounts::new(Arc::new(catalog))?)
}

fn password_from_stdin(wanted: bool) -> Result<Option<String>> {
    if !wanted {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// Runs `medlake users ...`.
pub fn users(config: &Config, command: &UsersCommand) -> Result<()> {
    let accounts = accounts(config)?;
    match &command.sub {
        UsersSub::List => {
            println!(
                "{:<24} {:<8} {:<6} {:<20} {:<9} attributes",
                "account", "role", "source", "created", "status"
            );
            for a in accounts.catalog().accounts()? {
                let status = if a.disabled { "disabled" } else { "active" };
                let created = a.created.format("%Y-%m-%d %H:%M:%S");
                let attributes: Vec<String> = accounts
                    .catalog()
                    .account_attributes(&a.name)?
                    .into_iter()
                    .map(|(k, v)| format!("{k}={}", v.join(",")))
                    .collect();
                println!(
                    "{:<24} {:<8} {:<6} {:<20} {status:<9} {}",
                    a.name,
                    a.role,
                    a.source,
                    created,
                    attributes.join(" ")
                );
            }
        }
        UsersSub::Grant { name, role } => {
            let roles = change_roles(&accounts, name, |roles| roles.push(role.clone()))?;
            println!("{name} now has the roles {}", roles.join(", "));
        }
        UsersSub::Revoke { name, role } => {
            let roles = change_roles(&accounts, name, |roles| roles.retain(|r| r != role))?;
            println!("{name} keeps the granted roles: {}", roles.join(", "));
        }
        UsersSub::Set {
            name,
            attribute,
            values,
        } => {
            existing(&accounts, name)?;
            accounts
                .catalog()
                .set_account_attribute(name, attribute, values)?;
            println!("{name}: {attribute} = {}", values.join(","));
        }
        UsersSub::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = Role::parse(role)?;
            let chosen = password_from_stdin(*password_stdin)?;
            let password = accounts.create(name, role, chosen.as_deref())?;
            println!("created account {name} ({role})");
            if chosen.is_none() {
                println!("password (shown once): {password}");
            }
        }
        UsersSub::Passwd {
            name,
            password_stdin,
        } => {
            let chosen = password_from_stdin(*password_stdin)?;
            let password = accounts.set_password(name, chosen.as_deref())?;
            println!("password of {name} changed");
            if chosen.is_none() {
                println!("password (shown once): {password}");
            }
        }
        UsersSub::Disable { name } => {
            accounts.disable(name)?;
            println!("account {name} disabled");
        }
        UsersSub::Enable { name } => {
            if !accounts.catalog().set_account_disabled(name, false)? {
                anyhow::bail!("there is no account named {name:?}");
            }
            println!("account {name} enabled");
        }
        UsersSub::Token { name, label } => {
            let token = accounts.issue_token(name, label)?;
            println!("API token for {name} (shown once; send as Authorization: Bearer <token>):");
            println!("{token}");
        }
    }
    Ok(())
}

fn existing(accounts: &Accounts, name: &str) -> Result<()> {
    if accounts.catalog().account(name)?.is_none() {
        anyhow::bail!("there is no account named {name:?}");
    }
    Ok(())
}

/// Changes the granted roles (attribute `roles`) of `name`; returns them.
fn change_roles(
    accounts: &Accounts,
    name: &str,
    change: impl FnOnce(&mut Vec<String>),
) -> Result<Vec<String>> {
    existing(accounts, name)?;
    let mut roles = accounts
        .catalog()
        .account_attributes(name)?
        .remove("roles")
        .unwrap_or_default();
    change(&mut roles);
    roles.sort();
    roles.dedup();
    accounts
        .catalog()
        .set_account_attribute(name, "roles", &roles)?;
    Ok(roles)
}

/// Starts `medlake [--config FILE] build --day D` as a child process with this process's
/// environment; a thread reaps it when it ends.
fn build_launcher(config_file: Option<&Path>) -> BuildLauncher {
    let config_file = config_file.map(Path::to_path_buf);
    BuildLauncher(Arc::new(move |day| {
        let exe = std::env::current_exe().map_err(LaunchError::Program)?;
        let mut command = std::process::Command::new(exe);
        if let Some(file) = &config_file {
            command.arg("--config").arg(file);
        }
        let mut child = command
            .args(["--quiet", "build", "--day", &day.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(LaunchError::Spawn)?;
        std::thread::spawn(move || child.wait());
        Ok(())
    }))
}

/// The model declarations as table docs (none when the models do not load: serving does
/// not depend on them).
fn table_docs(config: &Config) -> std::collections::BTreeMap<String, TableDoc> {
    let Ok(project) = config.project() else {
        return Default::default();
    };
    project
        .steps
        .iter()
        .map(|step| {
            let doc = match &step.kind {
                medlake_warehouse::StepKind::Model(m) => TableDoc {
                    description: m.declaration.description.clone(),
                    grain: m.declaration.grain.clone(),
                    columns: m.declaration.columns.clone(),
                    phi: m.declaration.phi.clone(),
                },
                _ => TableDoc {
                    description: step.description().to_string(),
                    ..Default::default()
                },
            };
            (step.name.clone(), doc)
        })
        .collect()
}

/// The serving options the config and flags ask for.
pub fn serve_options(
    config: &Config,
    args: &ServeArgs,
    config_file: Option<&Path>,
) -> Result<ServeOptions> {
    let s = &config.serve;
    let project = Arc::new(config.project()?);
    Ok(ServeOptions {
        http_addr: args.http.clone().unwrap_or_else(|| s.http.clone()),
        pg_host: args.pg_host.clone().unwrap_or_else(|| s.pg_host.clone()),
        pg_port: args.pg_port.unwrap_or(s.pg_port),
        http: HttpOptions {
            session_lifetime: Duration::from_secs(s.session_seconds),
            secure_cookies: s.secure_cookies,
            build_launcher: Some(build_launcher(config_file)),
            table_docs: table_docs(config),
            project: Some(project.clone()),
            imaging_login: PacsLogin(config.imaging.login().context("[imaging] PACS login")?),
        },
        refresh_every: Duration::from_secs(s.refresh_seconds.max(1)),
        pg_row_limit: (s.pg_row_limit > 0).then_some(s.pg_row_limit),
        limits: config.limits.query_limits(),
        governance: config.governance.options(
            &project,
            &crate::lineage_cmd::inherited_phi(config, &project),
        ),
        tls: s.tls.options()?,
        directory: config.auth.directory()?,
        throttle: config.auth.throttle()?,
        operations: None,
    })
}

/// Runs `medlake serve` until it fails or is stopped; `config_file` is the file the
/// config came from, handed to the builds the web UI starts.
pub async fn serve(config: &Config, args: &ServeArgs, config_file: Option<&Path>) -> Result<()> {
    let mut options = serve_options(config, args, config_file)?;
    let catalog = Arc::new(config.open_catalog()?);
    let lake = medlake_lake::Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    if let Some((name, password)) = Accounts::new(catalog.clone())?.ensure_first_admin()? {
        println!("first start: created account {name} (admin)");
        println!("password (shown once; change it with `medlake users passwd {name}`): {password}");
    }
    let scheduler = if args.no_scheduler {
        None
    } else {
        crate::operations::start_scheduler(config, catalog.clone(), config_file)?
    };
    let ops = crate::operations::operations(
        config,
        config_file,
        catalog.clone(),
        scheduler.as_ref().map(|s| s.status.clone()),
    )?;
    println!(
        "monitor: {} alert rules ({}), every {} s; {}",
        ops.monitor.rules.rules.len(),
        ops.monitor.rules_origin,
        ops.monitor.interval.as_secs(),
        medlake_ops::monitor::describe_receivers(&ops.monitor.notify)
    );
    if scheduler.is_some() {
        println!("scheduler: on ([schedule]); `medlake schedule status` shows its days");
    }
    options.operations = Some(ops);
    print_addresses(&options);
    tokio::select! {
        served = medlake_serve::serve(lake, catalog, options) => served.context("serving")?,
        _ = tokio::signal::ctrl_c() => println!("stopped"),
    }
    if let Some(scheduler) = scheduler {
        scheduler.stop().await;
    }
    Ok(())
}

/// Where to point a browser and psql.
pub fn print_addresses(options: &ServeOptions) {
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("web UI and API: {scheme}://{}/", options.http_addr);
    println!(
        "PostgreSQL:     psql -h {} -p {} -U <account> {}{}",
        options.pg_host,
        options.pg_port,
        medlake_serve::query::DATABASE,
        if options.tls.is_some() {
            " (TLS: sslmode=verify-full sslrootcert=<your CA>)"
        } else {
            ""
        }
    );
}
