//! The setting every generator reads: the simulated world's parameters and derived facts,
//! the business tables, and the small populations that never change (hospitals and
//! medicines, with their pick weights), all computed once per [`crate::Simulator`].
//!
//! It has a module of its own so that the generators (`consult`, `master`) depend on it
//! alone, and the simulator proper (`sim`), which drives them, depends on them: no cycle.

use medlake_schema::Table;

use crate::catalog::{hospital, medicine, Hospital, Medicine, MEDICINES};
use crate::error::{Result, SimError};
use crate::params::{SimParams, World};
use crate::rng::{cumulative, pareto, unit, Purpose};

/// The business tables the simulator writes, looked up once.
pub(crate) struct Tables {
    pub dict: &'static Table,
    pub hospital: &'static Table,
    pub medicine: &'static Table,
    pub doctor: &'static Table,
    pub user: &'static Table,
    pub patient: &'static Table,
    pub consultation: &'static Table,
    pub prescription: &'static Table,
    pub prescription_detail: &'static Table,
    pub payment: &'static Table,
}

impl Tables {
    fn load() -> Result<Tables> {
        let t = |name: &str| {
            medlake_schema::table(name).ok_or_else(|| SimError::Schema(format!("no table {name}")))
        };
        Ok(Tables {
            dict: t("dict")?,
            hospital: t("hospital")?,
            medicine: t("medicine")?,
            doctor: t("doctor")?,
            user: t("user")?,
            patient: t("patient")?,
            consultation: t("consultation")?,
            prescription: t("prescription")?,
            prescription_detail: t("prescription_detail")?,
            payment: t("payment")?,
        })
    }
}

/// Everything the generators share: parameters, tables, and the small fixed populations.
pub(crate) struct Setting {
    pub world: World,
    pub tables: Tables,
    pub hospitals: Vec<Hospital>,
    /// Cumulative share of doctors per hospital.
    pub hospital_cum: Vec<f64>,
    pub medicines: Vec<Medicine>,
    /// Cumulative prescription popularity per medicine (a few drugs dominate).
    pub medicine_cum: Vec<f64>,
}

impl Setting {
    /// The setting of the world `params` describe; fails on unusable parameters.
    pub fn new(params: SimParams) -> Result<Setting> {
        let world = World::new(params)?;
        let hospitals: Vec<Hospital> = (1..=world.sizes.hospitals)
            .map(|id| hospital(params.seed, id))
            .collect();
        let hospital_cum = cumulative(hospitals.iter().map(|h| h.weight));
        let medicines: Vec<Medicine> = (1..=MEDICINES).map(medicine).collect();
        let medicine_cum = cumulative(
            (1..=MEDICINES)
                .map(|id| pareto(unit(0, Purpose::Catalogue, id as u64, 1), 0.9, 1000.0)),
        );
        Ok(Setting {
            world,
            tables: Tables::load()?,
            hospitals,
            hospital_cum,
            medicines,
            medicine_cum,
        })
    }
}
