//! The partner hospitals: their levels, names fitting level and place, and hospital `id`
//! of a world, drawn from the seed (how many there are follows the scale).

use chrono::NaiveDate;
use rand::Rng;

use crate::identity::{pick_district, street, District};
use crate::rng::{pareto, pick_weighted, stream, Purpose};

/// Hospital levels with their share of hospitals, doctor-share weight and fee factor.
const LEVELS: &[(&str, f64, f64, f64)] = &[
    ("三级甲等", 30.0, 5.0, 1.25),
    ("三级乙等", 10.0, 2.5, 1.0),
    ("二级甲等", 30.0, 1.5, 0.85),
    ("二级乙等", 15.0, 1.0, 0.75),
    ("一级甲等", 10.0, 0.4, 0.6),
    ("一级乙等", 5.0, 0.3, 0.6),
];

/// One partner hospital.
#[derive(Debug, Clone)]
pub(crate) struct Hospital {
    pub id: i64,
    pub name: String,
    pub alias: String,
    pub level: &'static str,
    pub district: &'static District,
    pub street: String,
    pub established: NaiveDate,
    pub beds: i64,
    pub departments: i64,
    pub staff: i64,
    pub insurance: bool,
    /// Share of doctors and patients (popularity), relative.
    pub weight: f64,
    /// Multiplier on doctor fees.
    pub fee_factor: f64,
}

impl Hospital {
    /// The full postal address.
    pub fn address(&self) -> String {
        let d = self.district;
        if d.province == d.city {
            format!("{}{}{}", d.city, d.district, self.street)
        } else {
            format!("{}{}{}{}", d.province, d.city, d.district, self.street)
        }
    }
}

const CN_NUMBERS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// A name and alias fitting the level and place.
fn hospital_name(rng: &mut impl Rng, level: &str, d: &District) -> (String, String) {
    let city = d.city.trim_end_matches('市');
    let n = CN_NUMBERS[rng.random_range(0..CN_NUMBERS.len())];
    let district = d.district.trim_end_matches('区');
    if level.starts_with("三级") {
        match rng.random_range(0..5) {
            0 if d.province != d.city => {
                let p = d.province.trim_end_matches('省');
                (format!("{p}省人民医院"), format!("{p}省医"))
            }
            0 | 1 => (format!("{city}市第{n}人民医院"), format!("{city}市{n}院")),
            2 => (
                format!("{city}医科大学附属第{n}医院"),
                format!("{city}医附{n}院"),
            ),
            3 => (format!("{city}市中医院"), format!("{city}中医院")),
            _ => (format!("{city}市妇幼保健院"), format!("{city}妇幼")),
        }
    } else if level.starts_with("二级") {
        match rng.random_range(0..3) {
            0 => (
                format!("{city}市{}人民医院", d.district),
                format!("{district}人医"),
            ),
            1 => (
                format!("{city}市{}中医医院", d.district),
                format!("{district}中医"),
            ),
            _ => (format!("{city}市第{n}医院"), format!("{city}{n}医")),
        }
    } else {
        let s = STREET_TOWNS[rng.random_range(0..STREET_TOWNS.len())];
        (
            format!("{}{s}社区卫生服务中心", d.district),
            format!("{s}社区"),
        )
    }
}

const STREET_TOWNS: &[&str] = &[
    "东湖", "南湖", "西山", "北苑", "新城", "城南", "城北", "滨江", "花园", "望京",
];

/// Hospital `id` of a world seeded with `seed`.
pub(crate) fn hospital(seed: u64, id: i64) -> Hospital {
    let mut rng = stream(seed, Purpose::Hospital, id as u64);
    let table: Vec<(usize, f64)> = LEVELS.iter().enumerate().map(|(i, l)| (i, l.1)).collect();
    let drawn = pick_weighted(&table, rng.random());
    // The first hospitals have fixed levels, so even the smallest world has the top levels.
    let level_index = match id {
        1 => 0,
        2 => 1,
        3 => 2,
        _ => drawn,
    };
    let (level, _, level_weight, fee_factor) = LEVELS[level_index];
    let district = pick_district(&mut rng);
    let (name, alias) = hospital_name(&mut rng, level, district);
    let beds = match level {
        "三级甲等" => rng.random_range(1000..4000),
        "三级乙等" => rng.random_range(600..1500),
        "二级甲等" => rng.random_range(300..800),
        "二级乙等" => rng.random_range(150..400),
        _ => rng.random_range(10..100),
    };
    let departments = if level.starts_with("三级") {
        rng.random_range(30..60)
    } else if level.starts_with("二级") {
        rng.random_range(15..35)
    } else {
        rng.random_range(5..12)
    };
    let staff = (beds as f64 * rng.random_range(1.2..1.8)) as i64;
    let old = level.starts_with("三级");
    let year = if old {
        rng.random_range(1900..2005)
    } else {
        rng.random_range(1950..2015)
    };
    let established =
        NaiveDate::from_ymd_opt(year, rng.random_range(1..=12), rng.random_range(1..=28))
            .unwrap_or_default();
    Hospital {
        id,
        name,
        alias,
        level,
        district,
        street: street(&mut rng),
        established,
        beds,
        departments,
        staff,
        insurance: rng.random_bool(if old { 0.97 } else { 0.85 }),
        weight: level_weight * pareto(rng.random(), 1.3, 20.0),
        fee_factor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hospitals_are_plausible() {
        for id in 1..=50 {
            let h = hospital(5, id);
            assert!(
                h.name.ends_with("医院") || h.name.ends_with("中心") || h.name.ends_with("保健院"),
                "{}",
                h.name
            );
            assert!(h.address().contains(h.district.district));
            assert!(h.beds > 0 && h.staff > 0 && h.weight >= 0.3);
        }
    }
}
