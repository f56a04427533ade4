//! OpenLineage events of a build: the day's build is a run (job `build`), each step a run
//! of its own (job `build.<table>`) with the day's run as its parent; each emits START,
//! then COMPLETE with its output's schema, column lineage and statistics, or FAIL with the
//! error. Delivery never fails a build (`Emitter` logs and counts what it could not send).

use chrono::NaiveDate;
use medlake_lineage::openlineage::{
    DatasetRef, Emitter, EventType, JobType, Namespaces, OutputDataset, OutputStats, RunEvent,
    RunRef,
};

use crate::materialize::Written;
use crate::project::{Step, StepKind};

/// Where a build's events go and the namespaces they name.
#[derive(Debug, Clone)]
pub struct BuildEvents {
    /// Delivers the events.
    pub emitter: Emitter,
    /// The jobs' namespace (one medlake installation).
    pub job_namespace: String,
    /// The namespaces of the lake's and the business database's tables.
    pub namespaces: Namespaces,
}

impl BuildEvents {
    /// The run of a day's build.
    pub(crate) fn day_run(&self) -> RunRef {
        RunRef::new(self.job_namespace.clone(), "build")
    }

    /// Emits the day's START or end (COMPLETE when every step succeeded, else FAIL).
    pub(crate) async fn day(&self, run: &RunRef, dt: NaiveDate, end: Option<Option<&str>>) {
        let (kind, error) = match end {
            None => (EventType::Start, None),
            Some(None) => (EventType::Complete, None),
            Some(Some(e)) => (EventType::Fail, Some(e)),
        };
        let mut event = RunEvent::new(kind, run, JobType::BuildDay);
        let message = error.map(|e| format!("build of {dt}: {e}"));
        event.error = message.as_deref();
        self.send(&event).await;
    }

    /// The run of one step.
    pub(crate) fn step_run(&self, step: &Step) -> RunRef {
        RunRef::new(self.job_namespace.clone(), format!("build.{}", step.name))
    }

    /// Emits a step's START.
    pub(crate) async fn step_started(&self, run: &RunRef, parent: &RunRef, step: &Step) {
        let mut event = RunEvent::new(EventType::Start, run, JobType::BuildStep);
        event.parent = Some(parent);
        event.inputs = self.inputs(step);
        event.sql = step_sql(step);
        self.send(&event).await;
    }

    /// Emits a step's COMPLETE (with what it wrote) or FAIL (with why).
    pub(crate) async fn step_ended(
        &self,
        run: &RunRef,
        parent: &RunRef,
        step: &Step,
        outcome: Result<&Written, &str>,
    ) {
        let kind = match outcome {
            Ok(_) => EventType::Complete,
            Err(_) => EventType::Fail,
        };
        let mut event = RunEvent::new(kind, run, JobType::BuildStep);
        event.parent = Some(parent);
        event.inputs = self.inputs(step);
        event.sql = step_sql(step);
        match outcome {
            Ok(written) => event.outputs = vec![self.output(step, written)],
            Err(e) => event.error = Some(e),
        }
        self.send(&event).await;
    }

    fn inputs(&self, step: &Step) -> Vec<DatasetRef> {
        step.depends_on
            .iter()
            .chain(&step.sources)
            .map(|name| self.namespaces.dataset(name))
            .collect()
    }

    fn output<'a>(&self, step: &Step, written: &'a Written) -> OutputDataset<'a> {
        let mut out = OutputDataset::new(self.namespaces.dataset(&step.name));
        out.schema = written
            .schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        out.lineage = written
            .lineage
            .datasets
            .iter()
            .find(|d| d.dataset == step.name);
        out.stats = Some(OutputStats {
            rows: written.rows,
            bytes: written.bytes,
            version: i64::try_from(written.version).ok(),
        });
        out
    }

    async fn send(&self, event: &RunEvent<'_>) {
        if self.emitter.is_enabled() {
            let json = event.to_json(&|name: &str| self.namespaces.of(name));
            self.emitter.emit(&json).await;
        }
    }
}

fn step_sql(step: &Step) -> Option<&str> {
    match &step.kind {
        StepKind::Model(m) => Some(m.sql.as_str()),
        _ => None,
    }
}
