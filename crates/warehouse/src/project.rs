//! A warehouse project: the models of every layer and the metric catalog, with the
//! dependency graph read from the SQL itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use deltalake::datafusion::prelude::SessionContext;
use include_dir::{include_dir, Dir};
use medlake_quality::QualityRules;

use crate::error::WarehouseError;
use crate::metrics::{MeasureKind, MetricCatalog, METRIC_CATALOG_TABLE, METRIC_VALUE_TABLE};
use crate::model::{Materialization, Model, LAYERS};
use crate::partials::METRIC_PARTIAL_TABLE;
use crate::template::{render, Vars};

/// The models shipped with medlake (the repository's `models/` folder).
static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../models");

/// File name of the metric catalog inside a project folder.
pub const METRICS_FILE: &str = "metrics.toml";

/// File name of the ODS tables' quality checks inside a project folder (optional; a
/// model declares its checks in its header).
pub const QUALITY_FILE: &str = "quality.toml";

/// What the runner executes for a table.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// A SQL model.
    Model(Box<Model>),
    /// Computes the measures' daily partial aggregates per dimension value.
    MetricPartials,
    /// Evaluates every metric instance into the long table.
    MetricValues,
    /// Writes the metric instances.
    MetricCatalog,
}

/// One node of the build graph: a table, how it is made, and what it reads.
#[derive(Debug, Clone)]
pub struct Step {
    /// Table written.
    pub name: String,
    /// Layer of the table.
    pub layer: String,
    /// How it is made.
    pub kind: StepKind,
    /// Steps it reads (edges of the graph).
    pub depends_on: BTreeSet<String>,
    /// Lake tables it reads that no step makes (the ODS layer).
    pub sources: BTreeSet<String>,
    /// Whether it reads its own earlier partitions (a keyed merge, or SQL naming itself).
    pub reads_itself: bool,
}

impl Step {
    /// The declaration at the head of its model (none for the steps made in Rust).
    pub fn declaration(&self) -> Option<&crate::model::Declaration> {
        match &self.kind {
            StepKind::Model(m) => Some(&m.declaration),
            _ => None,
        }
    }

    /// Its description, for listings.
    pub fn description(&self) -> &str {
        match &self.kind {
            StepKind::Model(m) => &m.declaration.description,
            StepKind::MetricPartials => "Each measure's daily partial aggregates per dimension value (sums, counts, min/max, and id sets for distinct counts), merged into 7- and 30-day windows without re-reading the facts.",
            StepKind::MetricValues => "Every metric instance's value per report day: the long table (report day, metric, window, dimension value, value) that dashboards, APIs, checks and alerts read.",
            StepKind::MetricCatalog => "The metric instances: name, Chinese and English label, definition, unit, dimension and window.",
        }
    }

    /// Its materialization, for listings.
    pub fn materialization(&self) -> &'static str {
        match &self.kind {
            StepKind::Model(m) => match m.declaration.materialization {
                Materialization::Snapshot => "snapshot",
                Materialization::Incremental => "incremental",
                Materialization::Scd2 => "scd2",
                Materialization::Accumulate => "accumulate",
            },
            StepKind::MetricPartials | StepKind::MetricValues => "incremental",
            StepKind::MetricCatalog => "snapshot",
        }
    }
}

/// Models and metrics, ordered so that every step comes after the steps it reads.
#[derive(Debug, Clone)]
pub struct Project {
    /// Steps in dependency order.
    pub steps: Vec<Step>,
    /// The metric catalog.
    pub metrics: MetricCatalog,
    /// Every table's quality checks: the models' from their headers, the ODS tables'
    /// from `quality.toml`.
    pub quality: QualityRules,
    /// Where the project was read from.
    pub origin: String,
}

impl Project {
    /// The models and metrics built into medlake.
    pub fn builtin() -> Result<Project, WarehouseError> {
        let mut files = Vec::new();
        for layer in LAYERS {
            if let Some(dir) = BUILTIN.get_dir(layer) {
                for f in dir.files() {
                    if let Some(text) = f.contents_utf8() {
                        files.push((f.path().display().to_string(), text.to_string()));
                    }
                }
            }
        }
        let metrics = BUILTIN
            .get_file(METRICS_FILE)
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| WarehouseError::definition(METRICS_FILE, "missing from the build"))?;
        let quality = BUILTIN
            .get_file(QUALITY_FILE)
            .and_then(|f| f.contents_utf8());
        Project::from_files(files, metrics, quality, "(built in)")
    }

    /// The models under `dir/<layer>/*.sql` and `dir/metrics.toml`.
    pub fn load(dir: &Path) -> Result<Project, WarehouseError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| WarehouseError::definition(p.display().to_string(), e))
        };
        let mut files = Vec::new();
        for layer in LAYERS {
            let folder = dir.join(layer);
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "sql") {
                    let shown = path
                        .strip_prefix(dir)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    files.push((shown, read(&path)?));
                }
            }
        }
        let metrics = read(&dir.join(METRICS_FILE))?;
        let quality_path = dir.join(QUALITY_FILE);
        let quality = match quality_path.exists() {
            true => Some(read(&quality_path)?),
            false => None,
        };
        Project::from_files(
            files,
            &metrics,
            quality.as_deref(),
            &dir.display().to_string(),
        )
    }

    /// Writes the built-in project into `dir`, to start a project of one's own from it.
    pub fn export_builtin(dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        BUILTIN.extract(dir)
    }

    fn from_files(
        mut files: Vec<(String, String)>,
        metrics_text: &str,
        quality_text: Option<&str>,
        origin: &str,
    ) -> Result<Project, WarehouseError> {
        files.sort();
        let mut models = Vec::new();
        for (path, text) in &files {
            let p = Path::new(path);
            let layer = p
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .unwrap_or_default();
            let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            models.push(Model::parse(name, layer, text, path)?);
        }
        let metrics = MetricCatalog::parse(metrics_text, METRICS_FILE)?;
        let quality = quality_rules(quality_text, &models)?;
        let mut steps = plan_steps(models, &metrics)?;
        add_check_inputs(&mut steps, &quality);
        let steps = order(steps)?;
        Ok(Project {
            steps,
            metrics,
            quality,
            origin: origin.to_string(),
        })
    }

    /// The step that writes `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// `names` and every step downstream of them, in dependency order.
    pub fn with_descendants(&self, names: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = names.clone();
        for s in &self.steps {
            if s.depends_on.iter().any(|d| out.contains(d)) {
                out.insert(s.name.clone());
            }
        }
        out
    }
}

/// The tables a SQL text reads, as DataFusion resolves them (CTE names excluded).
pub fn tables_read(sql: &str, origin: &str) -> Result<BTreeSet<String>, WarehouseError> {
    let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap_or_default();
    // Every variable any model may name, so any model's tables can be read off its SQL.
    let vars = Vars::for_day(day)
        .with("window_start", day)
        .with("since", day);
    let rendered = render(sql, &vars).map_err(|e| WarehouseError::definition(origin, e))?;
    let state = SessionContext::new().state();
    let dialect = state.config_options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(&rendered, &dialect)
        .map_err(|e| WarehouseError::definition(origin, format!("SQL does not parse: {e}")))?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| WarehouseError::definition(origin, e))?;
    Ok(refs.iter().map(|r| r.table().to_string()).collect())
}

fn plan_steps(models: Vec<Model>, metrics: &MetricCatalog) -> Result<Vec<Step>, WarehouseError> {
    let mut steps = Vec::new();
    let mut seen = BTreeSet::new();
    for m in models {
        if !seen.insert(m.name.clone()) {
            return Err(WarehouseError::definition(
                &m.origin,
                "a model of this name exists twice",
            ));
        }
        let mut reads = tables_read(&m.sql, &m.origin)?;
        let reads_itself = reads.remove(&m.name)
            || matches!(
                m.declaration.materialization,
                Materialization::Scd2 | Materialization::Accumulate
            );
        steps.push((
            reads_itself,
            m.name.clone(),
            m.layer.clone(),
            StepKind::Model(Box::new(m)),
            reads,
        ));
    }
    for reserved in [
        METRIC_PARTIAL_TABLE,
        METRIC_VALUE_TABLE,
        METRIC_CATALOG_TABLE,
    ] {
        if seen.contains(reserved) {
            return Err(WarehouseError::definition(
                reserved,
                "this name is the metric table medlake writes",
            ));
        }
    }
    steps.push((
        false,
        METRIC_PARTIAL_TABLE.into(),
        "dws".into(),
        StepKind::MetricPartials,
        metrics.sources(),
    ));
    let mut metric_reads = BTreeSet::from([METRIC_PARTIAL_TABLE.to_string()]);
    for m in &metrics.measures {
        if let MeasureKind::Query(sql) = &m.kind {
            metric_reads.extend(tables_read(
                sql,
                &format!("metrics.toml, measure {}", m.name),
            )?);
        }
    }
    steps.push((
        false,
        METRIC_VALUE_TABLE.into(),
        "ads".into(),
        StepKind::MetricValues,
        metric_reads,
    ));
    steps.push((
        false,
        METRIC_CATALOG_TABLE.into(),
        "ads".into(),
        StepKind::MetricCatalog,
        BTreeSet::new(),
    ));
    let names: BTreeSet<String> = steps.iter().map(|s| s.1.clone()).collect();
    Ok(steps
        .into_iter()
        .map(|(reads_itself, name, layer, kind, reads)| {
            let (depends_on, sources) = reads.into_iter().partition(|r| names.contains(r));
            Step {
                name,
                layer,
                kind,
                depends_on,
                sources,
                reads_itself,
            }
        })
        .collect())
}

/// The project's checks: `quality.toml`'s for the ODS tables, each model's own. A model's
/// failing rows are sampled by its `unique_key`, else by the columns of its first `unique`
/// check; its `phi` columns are never sampled or profiled by value.
fn quality_rules(text: Option<&str>, models: &[Model]) -> Result<QualityRules, WarehouseError> {
    let mut rules = match text {
        Some(text) => QualityRules::parse_file(text, QUALITY_FILE)?,
        None => QualityRules::default(),
    };
    for m in models {
        let decl = &m.declaration;
        let key = if decl.unique_key.is_empty() {
            m.checks
                .iter()
                .find_map(|c| match &c.kind {
                    medlake_quality::CheckKind::Unique { columns } => Some(columns.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        } else {
            decl.unique_key.clone()
        };
        rules.add(&m.name, m.checks.clone(), key, decl.phi.clone())?;
    }
    Ok(rules)
}

/// A step runs after the tables its checks read (a `relationships` target): they are its
/// inputs too, so the check reads their partition of the same day.
fn add_check_inputs(steps: &mut [Step], rules: &QualityRules) {
    let names: BTreeSet<String> = steps.iter().map(|s| s.name.clone()).collect();
    for step in steps.iter_mut() {
        for table in rules.referenced_tables(&step.name) {
            if names.contains(&table) {
                step.depends_on.insert(table);
            } else {
                step.sources.insert(table);
            }
        }
    }
}

/// Orders steps so each follows what it reads (Kahn's algorithm; ties by layer, then name).
fn order(steps: Vec<Step>) -> Result<Vec<Step>, WarehouseError> {
    let layer_rank = |l: &str| LAYERS.iter().position(|x| *x == l).unwrap_or(LAYERS.len());
    let mut pending: BTreeMap<(usize, String), Step> = steps
        .into_iter()
        .map(|s| ((layer_rank(&s.layer), s.name.clone()), s))
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .find(|(_, s)| s.depends_on.iter().all(|d| done.contains(d)))
            .map(|(k, _)| k.clone());
        match ready {
            Some(k) => {
                if let Some(s) = pending.remove(&k) {
                    done.insert(s.name.clone());
                    out.push(s);
                }
            }
            None => {
                let stuck: Vec<&str> = pending.values().map(|s| s.name.as_str()).collect();
                return Err(WarehouseError::Cycle(stuck.join(", ")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_project_orders_layers_and_reads_dependencies_from_sql() {
        let p = Project::builtin().unwrap();
        let pos = |n: &str| p.steps.iter().position(|s| s.name == n).unwrap();
        assert!(pos("dim_doctor") > pos("dim_hospital"));
        assert!(pos("dws_consultation_1d") > pos("dwd_consultation_paid"));
        assert!(pos(METRIC_PARTIAL_TABLE) > pos("dws_consultation_1d"));
        assert!(pos(METRIC_VALUE_TABLE) > pos(METRIC_PARTIAL_TABLE));
        assert!(pos("ads_trade_overview") > pos(METRIC_VALUE_TABLE));
        let doctor = p.step("dim_doctor").unwrap();
        assert!(doctor.depends_on.contains("dim_hospital"));
        assert!(doctor.sources.contains("ods_doctor_full"));
        assert!(doctor.sources.contains("ods_dict_full"));
        let zip = p.step("dim_patient_zip").unwrap();
        assert!(
            !zip.depends_on.contains("dim_patient_zip"),
            "self reads are not edges"
        );
    }

    #[test]
    fn a_cycle_is_refused_with_its_members() {
        let model = |name: &str, reads: &str| {
            (
                format!("dws/{name}.sql"),
                format!("/*\ndescription=\"d\"\ngrain=\"g\"\nmaterialization=\"incremental\"\n*/\nSELECT * FROM {reads}"),
            )
        };
        let metrics =
            "windows=[1]\nmeasures=[]\n[dimensions.overall]\nlabel_zh=\"全部\"\nlabel_en=\"All\"\n";
        let err = Project::from_files(
            vec![model("dws_a", "dws_b"), model("dws_b", "dws_a")],
            metrics,
            None,
            "test",
        )
        .unwrap_err();
        assert!(err.to_string().contains("dws_a, dws_b"), "{err}");
    }

    #[test]
    fn sql_that_does_not_parse_names_the_file() {
        let metrics =
            "windows=[1]\nmeasures=[]\n[dimensions.overall]\nlabel_zh=\"全部\"\nlabel_en=\"All\"\n";
        let err = Project::from_files(
            vec![(
                "dwd/dwd_x.sql".into(),
                "/*\ndescription=\"d\"\ngrain=\"g\"\nmaterialization=\"incremental\"\n*/\nSELEC 1"
                    .into(),
            )],
            metrics,
            None,
            "test",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("dwd/dwd_x.sql: SQL does not parse"),
            "{err}"
        );
    }
}
