//! The one config loader: built-in defaults, then a TOML file, then `MEDLAKE_*` variables.
//!
//! Every setting `section.key` can be overridden by the environment variable
//! `MEDLAKE_SECTION_KEY` (e.g. `MEDLAKE_BUSINESS_URL`, `MEDLAKE_SYNC_PARALLELISM`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

mod auth;
mod imaging;
mod limits;
mod lineage;

pub use auth::{AuthConfig, LdapConfig, TlsConfig};
pub use imaging::ImagingConfig;
pub use limits::LimitsConfig;
pub use lineage::LineageConfig;

/// medlake's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The business database.
    pub business: BusinessConfig,
    /// The lake.
    pub lake: LakeConfig,
    /// The catalog database.
    pub catalog: CatalogConfig,
    /// The simulator.
    pub simulate: SimulateConfig,
    /// Ingestion.
    pub sync: SyncConfig,
    /// The warehouse build.
    pub warehouse: WarehouseConfig,
    /// Change capture from the binlog.
    pub cdc: CdcConfig,
    /// Serving: the web UI, the JSON API and the PostgreSQL protocol.
    pub serve: ServeConfig,
    /// What one statement and one account may use when serving, per role.
    pub limits: LimitsConfig,
    /// Who reads what: the policy file (docs/permissions.md).
    #[serde(default)]
    pub governance: GovernanceConfig,
    /// Logins: the failed-login throttle and directory (LDAP) logins.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Where OpenLineage events go.
    #[serde(default)]
    pub lineage: LineageConfig,
    /// DICOM metadata ingest and previews (docs/imaging.md).
    #[serde(default)]
    pub imaging: ImagingConfig,
    /// The daily pipeline `medlake serve` (or `medlake schedule run`) runs by itself
    /// (docs/operations.md); none: nothing runs unless a person types it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<medlake_ops::schedule::ScheduleSection>,
    /// Alert rules, how often they are evaluated, receivers and routes (`[alerts]`,
    /// docs/operations.md); kept as written and checked when a server starts, so that an
    /// error names the receiver without quoting a line that may hold a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<toml::Value>,
}

/// Governance settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceConfig {
    /// A policy file (`policies.toml`): stored in the catalog as a new version whenever it
    /// changes. Empty: the built-in policies on a new catalog, then whatever an admin
    /// stored (`medlake policies load`, the web UI).
    #[serde(default)]
    pub policies: String,
}

impl GovernanceConfig {
    /// The serving side's options: this file, the PHI tags of the configured models and
    /// those lineage finds derived from PHI (`inherited`).
    pub fn options(
        &self,
        project: &medlake_warehouse::Project,
        inherited: &[medlake_lineage::PhiColumn],
    ) -> medlake_serve::GovernanceOptions {
        let phi = medlake_serve::governance::PhiTags::of(project).with_inherited(inherited);
        medlake_serve::GovernanceOptions {
            policy_file: (!self.policies.is_empty()).then(|| PathBuf::from(&self.policies)),
            phi: Some(phi),
        }
    }
}

/// Serving settings (`medlake serve`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of the web UI and JSON API.
    pub http: String,
    /// Host the PostgreSQL protocol listens on.
    pub pg_host: String,
    /// Port of the PostgreSQL protocol (not 5432, so it never collides with a PostgreSQL).
    pub pg_port: u16,
    /// Seconds a web login lasts (default 8 hours).
    pub session_seconds: u64,
    /// Mark the session cookie Secure: browsers send it over HTTPS and to localhost only.
    /// Turn off only behind a trusted network when serving plain HTTP to other machines.
    pub secure_cookies: bool,
    /// Seconds between looks for new lake versions (a finished build or sync).
    pub refresh_seconds: u64,
    /// Rows a PostgreSQL query returns at most; 0 = no limit (results stream to the
    /// client, so the server does not hold them; the web UI has its own limit).
    #[serde(default)]
    pub pg_row_limit: usize,
    /// HTTPS and PostgreSQL TLS (`[serve.tls]` cert and key).
    #[serde(default)]
    pub tls: TlsConfig,
}

/// Warehouse build settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Folder of models (`<layer>/*.sql` and `metrics.toml`), or `builtin` for the models
    /// shipped in the binary (`medlake models --export DIR` writes them out to start from).
    pub models: String,
    /// Models built at once.
    pub parallelism: usize,
    /// Extra attempts of a failing model.
    pub retries: u32,
}

/// Where the business database is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessConfig {
    /// `sqlite://PATH` (default) or `mysql://USER:PASSWORD@HOST:PORT/DB`.
    pub url: String,
}

/// Where the lake is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// A folder, or an object store URL (`s3://bucket/prefix`).
    pub url: String,
    /// Storage options for object stores (e.g. `AWS_ENDPOINT_URL`, `AWS_REGION`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Where the catalog is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// SQLite file of the catalog (the embedded default).
    pub path: PathBuf,
    /// A PostgreSQL catalog instead (`postgres://user:password@host:5432/database`), for a
    /// catalog several medlake processes share; empty = the SQLite file at `path`.
    #[serde(default)]
    pub url: String,
}

/// Simulator defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateConfig {
    /// Random seed.
    pub seed: u64,
    /// Scale factor: 1 = 100,000 consultations a day.
    pub scale: f64,
    /// First simulated business day.
    pub start: chrono::NaiveDate,
}

/// Ingestion settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Chunks read in parallel in a full snapshot.
    pub parallelism: usize,
    /// Ids per snapshot chunk.
    pub chunk_ids: i64,
    /// Rows per incremental batch (one lake commit each).
    pub batch_rows: usize,
}

/// Change capture settings (`medlake cdc`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdcConfig {
    /// Row changes after which a flush (one lake commit per table) is forced.
    pub batch_rows: usize,
    /// Longest wait, in milliseconds, between a change and its flush.
    pub flush_ms: u64,
    /// Replica server id to register with; 0 picks one from the process id.
    pub server_id: u32,
    /// Kafka brokers (`host:port`, comma-separated) for `cdc --to kafka` and `cdc land`.
    pub kafka_brokers: String,
    /// Each table's topic: `%{database}` and `%{table}` are replaced.
    pub kafka_topic: String,
}

impl Config {
    /// Defaults that keep everything under `data_dir`.
    pub fn defaults_in(data_dir: &Path) -> Config {
        Config {
            business: BusinessConfig {
                url: format!("sqlite://{}", data_dir.join("business.db").display()),
            },
            lake: LakeConfig {
                url: data_dir.join("lake").display().to_string(),
                options: BTreeMap::new(),
            },
            catalog: CatalogConfig {
                path: data_dir.join("catalog.db"),
                url: String::new(),
            },
            simulate: SimulateConfig {
                seed: 42,
                scale: 0.01,
                start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            },
            sync: SyncConfig {
                parallelism: 4,
                chunk_ids: 50_000,
                batch_rows: 200_000,
            },
            warehouse: WarehouseConfig {
                models: "builtin".into(),
                parallelism: 2,
                retries: 2,
            },
            cdc: CdcConfig {
                batch_rows: 20_000,
                flush_ms: 500,
                server_id: 0,
                kafka_brokers: "127.0.0.1:9092".into(),
                kafka_topic: medlake_cdc::DEFAULT_TOPIC.into(),
            },
            serve: ServeConfig {
                http: "127.0.0.1:8787".into(),
                pg_host: "127.0.0.1".into(),
                pg_port: 15432,
                session_seconds: 8 * 3600,
                secure_cookies: true,
                refresh_seconds: 30,
                pg_row_limit: 0,
                tls: TlsConfig::default(),
            },
            limits: LimitsConfig::default(),
            governance: GovernanceConfig::default(),
            auth: AuthConfig::default(),
            lineage: LineageConfig::default(),
            imaging: ImagingConfig::default(),
            schedule: None,
            alerts: None,
        }
    }

    /// The warehouse project the config names.
    pub fn project(&self) -> Result<medlake_warehouse::Project> {
        let project = if self.warehouse.models == "builtin" {
            medlake_warehouse::Project::builtin()
        } else {
            medlake_warehouse::Project::load(Path::new(&self.warehouse.models))
        };
        project.context("warehouse models")
    }

    /// Loads defaults, then `file` (an error if named and missing; `medlake.toml` in the
    /// current folder if present), then environment overrides from `env`.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config> {
        let mut tree = toml::Value::try_from(Config::defaults_in(Path::new("medlake-data")))
            .context("default config does not serialize")?;
        let path = match file {
            Some(p) if !p.is_file() => bail!("config file {} not found", p.display()),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("medlake.toml")).filter(|p| p.is_file()),
        };
        if let Some(path) = &path {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file_tree: toml::Value = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), one_line(&e.to_string())))?;
            merge(&mut tree, file_tree);
        }
        apply_env(&mut tree, env)?;
        let where_ = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "defaults".into());
        tree.try_into::<Config>().map_err(|e| {
            let message = with_suggestion(&one_line(&e.to_string()));
            anyhow::anyhow!("config ({where_}): {message}")
        })
    }

    /// The configuration as TOML, passwords in URLs hidden.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.business.url = medlake_source::redact_url(&shown.business.url);
        shown.catalog.url = medlake_source::redact_url(&shown.catalog.url);
        shown.lineage.openlineage_url = medlake_source::redact_url(&shown.lineage.openlineage_url);
        shown.alerts = shown
            .alerts
            .as_ref()
            .map(medlake_ops::monitor::config::redacted);
        for (k, v) in shown.lake.options.iter_mut() {
            if k.to_ascii_uppercase().contains("SECRET")
                || k.to_ascii_uppercase().contains("PASSWORD")
            {
                *v = "***".into();
            }
        }
        toml::to_string(&shown).unwrap_or_default()
    }

    /// Opens the catalog the config names: PostgreSQL when `catalog.url` is set, else the
    /// SQLite file at `catalog.path`.
    pub fn open_catalog(&self) -> Result<medlake_catalog::Catalog> {
        let catalog = if self.catalog.url.is_empty() {
            medlake_catalog::Catalog::open(&self.catalog.path)
        } else {
            medlake_catalog::Catalog::connect(&self.catalog.url)
        };
        catalog.map_err(|e| match e {
            // Already names the catalog.
            medlake_catalog::CatalogError::Open { .. } => anyhow::Error::new(e),
            other => {
                anyhow::Error::new(other).context(format!("catalog {}", self.catalog_location()))
            }
        })
    }

    /// Where the catalog is, as people read it (a password hidden).
    pub fn catalog_location(&self) -> String {
        if self.catalog.url.is_empty() {
            self.catalog.path.display().to_string()
        } else {
            medlake_source::redact_url(&self.catalog.url)
        }
    }

    /// Lake storage options as the lake wants them.
    pub fn lake_options(&self) -> HashMap<String, String> {
        self.lake.options.clone().into_iter().collect()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The environment variable of every setting: `MEDLAKE_SECTION_KEY` for each leaf.
fn setting_variables(tree: &toml::Value) -> Vec<String> {
    let Some(sections) = tree.as_table() else {
        return Vec::new();
    };
    sections
        .iter()
        .filter_map(|(section, value)| Some((section, value.as_table()?)))
        .flat_map(|(section, keys)| {
            keys.keys()
                .map(move |key| format!("MEDLAKE_{section}_{key}").to_ascii_uppercase())
        })
        .collect()
}

/// Refuses a `MEDLAKE_*` variable that looks like a setting but is none: one that names a
/// config section (`MEDLAKE_CATALOG_URI`) or is a letter or two away from a setting's
/// variable (`MEDLAKE_CATALG_URL`). A misspelt setting must not be silently ignored.
/// Other `MEDLAKE_*` variables (`MEDLAKE_CONFIG`, the test suite's `MEDLAKE_TEST_*`, the
/// scripts' own) are not settings and pass.
pub fn check_env(env: &HashMap<String, String>) -> Result<()> {
    let tree = toml::Value::try_from(Config::defaults_in(Path::new("medlake-data")))
        .context("default config does not serialize")?;
    let known = setting_variables(&tree);
    let sections: Vec<String> = tree
        .as_table()
        .map(|t| {
            t.keys()
                .map(|s| format!("MEDLAKE_{}_", s.to_ascii_uppercase()))
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<&String> = env.keys().filter(|k| k.starts_with("MEDLAKE_")).collect();
    names.sort();
    for name in names {
        if known.contains(name) || name == "MEDLAKE_CONFIG" {
            continue;
        }
        let near = closest(name, known.iter().map(String::as_str));
        let in_a_section = sections.iter().any(|s| name.starts_with(s.as_str()));
        let misspelt = near.is_some_and(|k| strsim::levenshtein(k, name) <= 2);
        if in_a_section || misspelt {
            match near {
                Some(k) => bail!("unknown setting {name} (did you mean {k}?)"),
                None => bail!("unknown setting {name} (see `medlake config` for the settings)"),
            }
        }
    }
    Ok(())
}

/// The closest of `candidates` to `name`, if it is near enough to be a misspelling.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::levenshtein(c, name), c))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, c)| c)
}

/// A serde "unknown field `x`, expected one of `a`, `b`" message with the closest
/// expected name suggested.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message.to_string();
    };
    let Some(field) = rest.split('`').next() else {
        return message.to_string();
    };
    // The expected names are the quoted words between "expected" and " in `section`".
    let expected = rest.split(" in `").next().unwrap_or(rest);
    let expected = expected.split('`').skip(2).step_by(2);
    match closest(field, expected) {
        Some(near) => format!("{message} (did you mean `{near}`?)"),
        None => message.to_string(),
    }
}

/// Overrides each leaf `section.key` from `MEDLAKE_SECTION_KEY`, parsed as the leaf's type.
fn apply_env(tree: &mut toml::Value, env: &HashMap<String, String>) -> Result<()> {
    check_env(env)?;
    let toml::Value::Table(sections) = tree else {
        return Ok(());
    };
    for (section, value) in sections.iter_mut() {
        let toml::Value::Table(keys) = value else {
            continue;
        };
        for (key, leaf) in keys.iter_mut() {
            let var = format!("MEDLAKE_{}_{}", section, key).to_ascii_uppercase();
            let Some(raw) = env.get(&var) else { continue };
            *leaf = match leaf {
                toml::Value::Integer(_) => toml::Value::Integer(
                    raw.trim()
                        .parse()
                        .with_context(|| format!("{var}={raw} is not a whole number"))?,
                ),
                toml::Value::Float(_) => toml::Value::Float(
                    raw.trim()
                        .parse()
                        .with_context(|| format!("{var}={raw} is not a number"))?,
                ),
                toml::Value::Boolean(_) => toml::Value::Boolean(
                    raw.trim()
                        .parse()
                        .with_context(|| format!("{var}={raw} is not true/false"))?,
                ),
                toml::Value::Table(_) => bail!("{var} names a section, not a setting"),
                _ => toml::Value::String(raw.clone()),
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
