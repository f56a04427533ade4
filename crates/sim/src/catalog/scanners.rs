//! The scanners (imaging devices) of the partner hospitals: how many of each modality a
//! hospital has follows its level, drawn from (seed, hospital id), so the scanners of a
//! world never change and any hospital's can be regenerated alone.

use std::collections::HashMap;

use medlake_schema::imaging::{ae_title, modality_index, scanner_id, station_name, MODALITIES};
use medlake_schema::Value;
use rand::Rng;

use super::Hospital;
use crate::params::{from_us, DAY_US, MINUTE_US};
use crate::rng::{cumulative, pick_cumulative, stream, Purpose};

/// One scanner of a hospital.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    /// `hospital_id * 100 + k`, k = 1.. within the hospital.
    pub id: i64,
    pub hospital_id: i64,
    /// One of [`MODALITIES`].
    pub modality: &'static str,
    pub ae_title: String,
    pub station_name: String,
    pub manufacturer: &'static str,
    pub model_name: &'static str,
}

/// (manufacturer, model, market-share weight) of the scanners of a modality.
fn models(modality: &str) -> &'static [(&'static str, &'static str, f64)] {
    match modality {
        "CT" => &[
            ("GE Healthcare", "Revolution CT", 3.0),
            ("GE Healthcare", "Optima CT660", 2.0),
            ("Siemens Healthineers", "SOMATOM Force", 2.0),
            ("Siemens Healthineers", "SOMATOM go.Top", 2.0),
            ("United Imaging", "uCT 760", 3.0),
            ("Philips", "Incisive CT", 1.5),
            ("Canon", "Aquilion ONE", 1.5),
        ],
        "MR" => &[
            ("GE Healthcare", "SIGNA Architect", 2.5),
            ("Siemens Healthineers", "MAGNETOM Skyra", 2.5),
            ("United Imaging", "uMR 780", 3.0),
            ("Philips", "Ingenia 3.0T", 2.0),
            ("Canon", "Vantage Orian", 1.0),
        ],
        "DX" => &[
            ("GE Healthcare", "Definium 656", 2.0),
            ("Siemens Healthineers", "Ysio Max", 2.0),
            ("United Imaging", "uDR 780i", 3.0),
            ("Philips", "DigitalDiagnost C90", 2.0),
            ("Canon", "RADREX-i", 1.0),
        ],
        "CR" => &[
            ("Fujifilm", "FCR Capsula XLII", 3.0),
            ("Carestream", "DirectView CR 975", 2.0),
            ("Agfa", "CR 30-X", 2.0),
        ],
        "US" => &[
            ("GE Healthcare", "LOGIQ E10", 2.5),
            ("GE Healthcare", "Vivid E95", 1.0),
            ("Siemens Healthineers", "ACUSON Sequoia", 1.5),
            ("Philips", "EPIQ Elite", 2.5),
            ("Mindray", "Resona 7", 3.0),
            ("Canon", "Aplio i800", 1.0),
        ],
        "MG" => &[
            ("GE Healthcare", "Senographe Pristina", 2.0),
            ("Siemens Healthineers", "MAMMOMAT Revelation", 2.0),
            ("Hologic", "Selenia Dimensions", 2.0),
            ("United Imaging", "uMammo 890i", 1.5),
        ],
        _ => &[
            ("GE Healthcare", "Discovery NM/CT 670", 2.0),
            ("Siemens Healthineers", "Symbia Intevo", 2.0),
            ("Philips", "BrightView XCT", 1.0),
        ],
    }
}

/// How many scanners of each modality (CT, MR, DX, CR, US, MG, NM: [`MODALITIES`] order) a
/// hospital of `level` has: `(lo, hi)` with `hi >= 1` is a count drawn uniformly from
/// `lo..=hi`; `(0, p)` with `p < 1` is one scanner with probability `p`.
fn fleet(level: &str) -> [(f64, f64); 7] {
    match level {
        "三级甲等" => [
            (2.0, 4.0),
            (1.0, 3.0),
            (2.0, 4.0),
            (0.0, 0.5),
            (3.0, 6.0),
            (0.0, 0.7),
            (0.0, 0.5),
        ],
        "三级乙等" => [
            (1.0, 2.0),
            (1.0, 2.0),
            (1.0, 3.0),
            (0.0, 0.5),
            (2.0, 4.0),
            (0.0, 0.4),
            (0.0, 0.15),
        ],
        "二级甲等" => [
            (0.0, 0.9),
            (0.0, 0.5),
            (1.0, 2.0),
            (0.0, 0.5),
            (1.0, 3.0),
            (0.0, 0.15),
            (0.0, 0.0),
        ],
        "二级乙等" => [
            (0.0, 0.6),
            (0.0, 0.2),
            (1.0, 1.0),
            (0.0, 0.5),
            (1.0, 2.0),
            (0.0, 0.05),
            (0.0, 0.0),
        ],
        _ => [
            (0.0, 0.0),
            (0.0, 0.0),
            (1.0, 1.0),
            (0.0, 0.3),
            (1.0, 1.0),
            (0.0, 0.0),
            (0.0, 0.0),
        ],
    }
}

/// The scanners of `hospital` in a world seeded with `seed`, by modality in
/// [`MODALITIES`] order. Every hospital has at least one DX and one US; the first
/// hospital (always 三级甲等) has every modality, so every modality exists in any world.
pub(crate) fn hospital_scanners(seed: u64, hospital: &Hospital) -> Vec<Scanner> {
    let mut rng = stream(seed, Purpose::Scanner, hospital.id as u64);
    let mut scanners = Vec::new();
    for (&m, (lo, hi)) in MODALITIES.iter().zip(fleet(hospital.level)) {
        // Both draws always happen, so one modality's count never shifts another's.
        let (u_count, u_chance) = (rng.random::<f64>(), rng.random::<f64>());
        let mut count = if hi >= 1.0 {
            lo as i64 + (u_count * (hi - lo + 1.0)) as i64
        } else {
            i64::from(u_chance < hi)
        };
        if hospital.id == 1 {
            count = count.max(1);
        }
        let table = models(m);
        let cum = cumulative(table.iter().map(|&(_, _, w)| w));
        for n in 1..=count {
            let (manufacturer, model_name, _) = table[pick_cumulative(&cum, rng.random())];
            let k = scanners.len() as i64 + 1;
            scanners.push(Scanner {
                id: scanner_id(hospital.id, k),
                hospital_id: hospital.id,
                modality: m,
                ae_title: ae_title(hospital.id, m, n),
                station_name: station_name(hospital.id, m, n),
                manufacturer,
                model_name,
            });
        }
    }
    scanners
}

/// When a scanner's row was created: on the day its hospital joined, right after it.
pub(crate) fn scanner_time(launch: i64, scanner: &Scanner) -> i64 {
    launch + DAY_US / 2 + scanner.hospital_id * MINUTE_US + (scanner.id % 100) * 1_000_000
}

/// The `scanner` row of a scanner created at `t` (microseconds).
pub(crate) fn scanner_row(s: &Scanner, t: i64) -> Vec<Value> {
    let now = Value::DateTime(from_us(t));
    vec![
        Value::Int(s.id),
        Value::Int(s.hospital_id),
        Value::Text(s.modality.into()),
        Value::Text(s.ae_title.clone()),
        Value::Text(s.station_name.clone()),
        Value::Text(s.manufacturer.into()),
        Value::Text(s.model_name.into()),
        now.clone(),
        now,
    ]
}

/// Where exams of each modality can be done: the scanners per hospital and modality, and
/// the hospitals with a scanner of each modality weighted by their popularity.
pub(crate) struct ScannerIndex {
    /// Per hospital index (into `Setting::hospitals`), per modality index: scanner ids.
    at: Vec<[Vec<i64>; 7]>,
    /// Per modality index: hospital indexes with such a scanner.
    sites: [Vec<usize>; 7],
    /// Per modality index: cumulative hospital weights over `sites`.
    site_cum: [Vec<f64>; 7],
}

impl ScannerIndex {
    /// The index of `scanners` (those of `hospitals`, in any order).
    pub fn new(hospitals: &[Hospital], scanners: &[Scanner]) -> ScannerIndex {
        let mut at: Vec<[Vec<i64>; 7]> = hospitals
            .iter()
            .map(|_| std::array::from_fn(|_| Vec::new()))
            .collect();
        let position: HashMap<i64, usize> = hospitals
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id, i))
            .collect();
        for s in scanners {
            let hospital = position.get(&s.hospital_id).copied();
            if let (Some(h), Some(m)) = (hospital, modality_index(s.modality)) {
                at[h][m].push(s.id);
            }
        }
        let sites: [Vec<usize>; 7] =
            std::array::from_fn(|m| (0..at.len()).filter(|&h| !at[h][m].is_empty()).collect());
        let site_cum =
            std::array::from_fn(|m| cumulative(sites[m].iter().map(|&h| hospitals[h].weight)));
        ScannerIndex {
            at,
            sites,
            site_cum,
        }
    }

    /// The scanner ids of modality index `modality` in hospital index `hospital`.
    pub fn scanners(&self, hospital: usize, modality: usize) -> &[i64] {
        &self.at[hospital][modality]
    }

    /// A hospital index with a scanner of modality index `modality`, popular hospitals
    /// more often, for a draw `u` in [0, 1); `None` if no hospital has one.
    pub fn pick_site(&self, modality: usize, u: f64) -> Option<usize> {
        let sites = &self.sites[modality];
        if sites.is_empty() {
            return None;
        }
        Some(sites[pick_cumulative(&self.site_cum[modality], u)])
    }
}

#[cfg(test)]
mod tests {
    use super::super::hospital;
    use super::*;

    #[test]
    fn fleets_follow_the_level_and_names_are_unique() {
        let hospitals: Vec<Hospital> = (1..=60).map(|id| hospital(3, id)).collect();
        let scanners: Vec<Scanner> = hospitals
            .iter()
            .flat_map(|h| hospital_scanners(3, h))
            .collect();
        let index = ScannerIndex::new(&hospitals, &scanners);
        for (h, site) in hospitals.iter().enumerate() {
            let count = |m: &str| index.scanners(h, modality_index(m).unwrap()).len();
            assert!(count("DX") >= 1 && count("US") >= 1, "{}", site.id);
            if site.level.starts_with("一级") {
                assert_eq!(count("CT") + count("MR"), 0);
            }
            if site.level == "三级甲等" {
                assert!(count("CT") >= 2 && count("MR") >= 1);
            }
        }
        for (m, name) in MODALITIES.iter().enumerate() {
            assert!(index.pick_site(m, 0.5).is_some(), "{name}");
        }
        let mut titles: Vec<&str> = scanners.iter().map(|s| s.ae_title.as_str()).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), scanners.len());
        assert!(scanners
            .iter()
            .all(|s| s.id / 100 == s.hospital_id && s.id % 100 > 0));
    }
}
