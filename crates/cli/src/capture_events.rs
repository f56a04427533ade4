//! OpenLineage events of the runs that land business tables in the lake: a sync (job
//! `sync`) and binlog capture (job `capture`). START when the run begins, then COMPLETE
//! with each ODS table written (its column lineage from the business schema, rows) or
//! FAIL with the error, which names tables and columns, never values.

use medlake_lineage::openlineage::{
    DatasetRef, Emitter, EventType, JobType, OutputDataset, OutputStats, RunEvent, RunRef,
};
use medlake_lineage::{all_ods_lineage, DatasetLineage, NodeKind};

use crate::config::Config;
use crate::lineage_cmd::lake_namespace;

/// One landing run's events (nothing is sent when no transport is configured).
pub struct LandingRun {
    emitter: Emitter,
    run: RunRef,
    job_type: JobType,
    lake_namespace: String,
    business_namespace: String,
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
            lake_namespace: lake_namespace(config),
            business_namespace: medlake_source::redact_url(&config.business.url),
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
            let mut out =
                OutputDataset::new(DatasetRef::new(self.lake_namespace.clone(), table.clone()));
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
            .map(|t| DatasetRef::new(self.business_namespace.clone(), t))
            .collect();
        let namespace_of = |name: &str| match medlake_lineage::kind_of(name) {
            NodeKind::Business => self.business_namespace.clone(),
            _ => self.lake_namespace.clone(),
        };
        self.emitter.emit(&event.to_json(&namespace_of)).await;
    }
}
