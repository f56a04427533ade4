//! Reference data that does not grow with time: the drug catalogue and the hospitals.
//!
//! The catalogue is the same for every seed and scale (a real platform has one drug
//! list); hospitals depend on the seed and their number on the scale.
//!
//! The drug catalogue is in `medicines` (its dosage forms in `forms`), the hospitals in
//! `hospitals`; this module re-exports what the rest of the simulator uses.

mod forms;
mod hospitals;
mod medicines;

pub(crate) use hospitals::{hospital, Hospital};
pub(crate) use medicines::{medicine, Medicine, MEDICINES};
