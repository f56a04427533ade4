//! The setting every generator reads: the simulated world's parameters and derived facts,
//! the business tables, and the small populations that never change (hospitals, their
//! scanners and medicines, with their pick weights), all computed once per
//! [`crate::Simulator`].
//!
//! It has a module of its own so that the generators (`consult`, `master`) depend on it
//! alone, and the simulator proper (`sim`), which drives them, depends on them: no cycle.

use medlake_schema::Table;

use crate::catalog::{
    hospital, hospital_scanners, medicine, Hospital, Medicine, Scanner, ScannerIndex, MEDICINES,
};
use crate::error::{Result, SimError};
use crate::params::{SimParams, World};
use crate::rng::{cumulative, pareto, unit, Purpose};

/// The business tables the simulator writes, looked up once.
pub(crate) struct Tables {
    pub dict: &'static Table,
    pub hospital: &'static Table,
    pub scanner: &'static Table,
    pub medicine: &'static Table,
    pub doctor: &'static Table,
    pub user: &'static Table,
    pub patient: &'static Table,
    pub consultation: &'static Table,
    pub prescription: &'static Table,
    pub prescription_detail: &'static Table,
    pub payment: &'static Table,
    pub exam_order: &'static Table,
    pub exam_report: &'static Table,
}

impl Tables {
    fn load() -> Result<Tables> {
        let t = |name: &str| {
            medlake_schema::table(name).ok_or_else(|| SimError::Schema(format!("no table {name}")))
        };
        Ok(Tables {
            dict: t("dict")?,
            hospital: t("hospital")?,
            scanner: t("scanner")?,
            medicine: t("medicine")?,
            doctor: t("doctor")?,
            user: t("user")?,
            patient: t("patient")?,
            consultation: t("consultation")?,
            prescription: t("prescription")?,
            prescription_detail: t("prescription_detail")?,
            payment: t("payment")?,
            exam_order: t("exam_order")?,
            exam_report: t("exam_report")?,
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
    /// Every hospital's scanners, hospital by hospital.
    pub scanners: Vec<Scanner>,
    /// Where exams of each modality can be done.
    pub scanner_index: ScannerIndex,
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
        let scanners: Vec<Scanner> = hospitals
            .iter()
            .flat_map(|h| hospital_scanners(params.seed, h))
            .collect();
        let scanner_index = ScannerIndex::new(&hospitals, &scanners);
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
            scanners,
            scanner_index,
            medicines,
            medicine_cum,
        })
    }
}
