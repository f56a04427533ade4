//! OpenLineage events of the runs that land business tables in the lake: a sync (job
//! `sync`) and binlog capture (job `capture`). START when the run begins, then COMPLETE
//! with each ODS table written (its column lineage from the business schema, rows) or
//! FAIL with the error, which names tables and columns, never values.

use medlake_lineage::openlineage::{
    Emitter, EventType, JobType, Namespaces, OutputDataset, OutputStats, RunEvent, RunRef,
};
use medlake_lineage::{all_ods_lineage, DatasetLineage};

use crate::config::Config;
use crate::lineage_cmd::namespaces;

/// One landing run's events (nothing is sent when no transport is configured).
pub struct LandingRun {
    emitter: Emitter,
    run: RunRef,
    job_type: JobType,
    namespaces: Namespaces,
    ods: Vec<DatasetLineage>,
}

impl LandingRun {
    /// Starts a run of `job` and sends its START; `None` when events go nowhere.
    pub async fn start(
        config: &Config,
        emitter: &Emitter,
        job: &str,
        job_type: JobType,
    ) -> Option<LandingRun> {
        if !emitter.is_enabled() {
            return None;
        }
        let run = LandingRun {
            emitter: emitter.clone(),
            run: RunRef::new(config.lineage.namespace.clone(), job),
            job_type,
            namespaces: namespaces(config),
            ods: all_ods_lineage(),
        };
        run.send(EventType::Start, &[], None).await;
        Some(run)
    }

    /// Sends COMPLETE with the lake tables written and their rows (`None`: not counted).
    pub async fn complete(&self, written: &[(String, Option<u64>)]) {
        self.send(EventType::Complete, written, None).await;
    }

    /// Sends FAIL with why.
    pub async fn fail(&self, error: &str) {
        self.send(EventType::Fail, &[], Some(error)).await;
    }

    async fn send(&self, kind: EventType, written: &[(String, Option<u64>)], error: Option<&str>) {
        let mut event = RunEvent::new(kind, &self.run, self.job_type);
        event.error = error;
        let mut inputs = std::collections::BTreeSet::new();
        for (table, rows) in written {
            let lineage = self.ods.iter().find(|d| &d.dataset == table);
            if let Some(l) = lineage {
                inputs.extend(l.input_datasets());
            }
            let mut out = OutputDataset::new(self.namespaces.dataset(table));
            out.lineage = lineage;
            out.stats = rows.map(|rows| OutputStats {
                rows,
                bytes: 0,
                version: None,
            });
            event.outputs.push(out);
        }
        event.inputs = inputs
            .into_iter()
            .map(|t| self.namespaces.dataset(&t))
            .collect();
        let namespace_of = |name: &str| self.namespaces.of(name);
        self.emitter.emit(&event.to_json(&namespace_of)).await;
    }
}
