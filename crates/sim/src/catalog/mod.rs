//! Reference data that does not grow with time: the drug catalogue, the hospitals and
//! their scanners.
//!
//! The catalogue is the same for every seed and scale (a real platform has one drug
//! list); hospitals and their scanners depend on the seed and their number on the scale.
//!
//! The drug catalogue is in `medicines` (its dosage forms in `forms`), the hospitals in
//! `hospitals`, their scanners in `scanners`; this module re-exports what the rest of
//! the simulator uses.

mod forms;
mod hospitals;
mod medicines;
mod scanners;

pub(crate) use hospitals::{hospital, Hospital};
pub(crate) use medicines::{medicine, Medicine, MEDICINES};
pub(crate) use scanners::{hospital_scanners, scanner_row, scanner_time, Scanner, ScannerIndex};
