//! The drug catalogue: the generics table, manufacturers and brand syllables from which
//! medicine `id` is drawn, the same for every simulated world.

use rand::Rng;

use super::forms::{
    Form, CAPSULE, CREAM, DISP_TABLET, EYE_DROPS, GRANULE, INJECTION, NASAL_SPRAY, OINTMENT,
    ORAL_LIQUID, PILL, SOLID, SR_TABLET, SUSPENSION, SYRUP, TABLET,
};
use crate::rng::{stream, Purpose};

/// Number of medicines in the catalogue.
pub(crate) const MEDICINES: i64 = 1000;
/// Seed of the catalogue: fixed, so every simulated world shares one drug list.
const CATALOGUE_SEED: u64 = 0x6d65_646c_616b_6500;

/// A generic drug: Chinese and English name, TCM or chemical, forms, strength, price range (yuan).
struct Generic {
    cn: &'static str,
    en: &'static str,
    tcm: bool,
    forms: &'static [Form],
    strength: &'static str,
    price: (f64, f64),
}

macro_rules! g {
    ($cn:literal, $en:literal, $forms:expr, $strength:literal, $lo:literal, $hi:literal) => {
        Generic {
            cn: $cn,
            en: $en,
            tcm: false,
            forms: $forms,
            strength: $strength,
            price: ($lo, $hi),
        }
    };
    (tcm $cn:literal, $en:literal, $forms:expr, $strength:literal, $lo:literal, $hi:literal) => {
        Generic {
            cn: $cn,
            en: $en,
            tcm: true,
            forms: $forms,
            strength: $strength,
            price: ($lo, $hi),
        }
    };
}

const GENERICS: &[Generic] = &[
    g!(
        "阿莫西林",
        "Amoxicillin",
        &[CAPSULE, DISP_TABLET, GRANULE],
        "0.25g",
        8.0,
        30.0
    ),
    g!(
        "头孢克肟",
        "Cefixime",
        &[CAPSULE, DISP_TABLET, GRANULE],
        "0.1g",
        12.0,
        45.0
    ),
    g!(
        "头孢呋辛酯",
        "Cefuroxime Axetil",
        SOLID,
        "0.25g",
        15.0,
        50.0
    ),
    g!(
        "阿奇霉素",
        "Azithromycin",
        &[TABLET, CAPSULE, GRANULE],
        "0.25g",
        10.0,
        40.0
    ),
    g!(
        "左氧氟沙星",
        "Levofloxacin",
        &[TABLET, EYE_DROPS],
        "0.5g",
        10.0,
        35.0
    ),
    g!(
        "布洛芬",
        "Ibuprofen",
        &[SR_TABLET, CAPSULE, SUSPENSION],
        "0.3g",
        8.0,
        28.0
    ),
    g!(
        "对乙酰氨基酚",
        "Paracetamol",
        &[TABLET, SUSPENSION],
        "0.5g",
        5.0,
        15.0
    ),
    g!(
        "氯雷他定",
        "Loratadine",
        &[TABLET, SYRUP],
        "10mg",
        10.0,
        30.0
    ),
    g!(
        "西替利嗪",
        "Cetirizine",
        &[TABLET, ORAL_LIQUID],
        "10mg",
        10.0,
        35.0
    ),
    g!("地氯雷他定", "Desloratadine", &[TABLET], "5mg", 15.0, 45.0),
    g!("奥美拉唑", "Omeprazole", &[CAPSULE], "20mg", 8.0, 40.0),
    g!(
        "雷贝拉唑钠",
        "Rabeprazole Sodium",
        &[TABLET],
        "10mg",
        20.0,
        80.0
    ),
    g!("铝碳酸镁", "Hydrotalcite", &[TABLET], "0.5g", 15.0, 35.0),
    g!(
        "蒙脱石",
        "Montmorillonite",
        &[GRANULE, SUSPENSION],
        "3g",
        10.0,
        25.0
    ),
    g!("多潘立酮", "Domperidone", &[TABLET], "10mg", 10.0, 25.0),
    g!(
        "二甲双胍",
        "Metformin",
        &[TABLET, SR_TABLET],
        "0.5g",
        5.0,
        30.0
    ),
    g!("格列美脲", "Glimepiride", &[TABLET], "2mg", 15.0, 50.0),
    g!("阿卡波糖", "Acarbose", &[TABLET], "50mg", 30.0, 90.0),
    g!("氨氯地平", "Amlodipine", &[TABLET], "5mg", 10.0, 45.0),
    g!("硝苯地平", "Nifedipine", &[SR_TABLET], "30mg", 10.0, 40.0),
    g!(
        "缬沙坦",
        "Valsartan",
        &[CAPSULE, TABLET],
        "80mg",
        20.0,
        60.0
    ),
    g!("厄贝沙坦", "Irbesartan", &[TABLET], "0.15g", 15.0, 50.0),
    g!(
        "美托洛尔",
        "Metoprolol",
        &[TABLET, SR_TABLET],
        "47.5mg",
        8.0,
        30.0
    ),
    g!(
        "阿托伐他汀钙",
        "Atorvastatin Calcium",
        &[TABLET],
        "20mg",
        20.0,
        80.0
    ),
    g!(
        "瑞舒伐他汀钙",
        "Rosuvastatin Calcium",
        &[TABLET],
        "10mg",
        25.0,
        90.0
    ),
    g!("阿司匹林", "Aspirin", &[TABLET], "100mg", 5.0, 20.0),
    g!("氯吡格雷", "Clopidogrel", &[TABLET], "75mg", 30.0, 120.0),
    g!(
        "左甲状腺素钠",
        "Levothyroxine Sodium",
        &[TABLET],
        "50μg",
        15.0,
        40.0
    ),
    g!("甲钴胺", "Mecobalamin", SOLID, "0.5mg", 15.0, 45.0),
    g!("维生素C", "Vitamin C", &[TABLET], "0.1g", 3.0, 12.0),
    g!(
        "复合维生素B",
        "Compound Vitamin B",
        &[TABLET],
        "复方",
        3.0,
        12.0
    ),
    g!(
        "葡萄糖酸钙",
        "Calcium Gluconate",
        &[TABLET, ORAL_LIQUID],
        "0.5g",
        8.0,
        25.0
    ),
    g!(
        "碳酸钙D3",
        "Calcium Carbonate and Vitamin D3",
        &[TABLET, GRANULE],
        "0.6g",
        20.0,
        60.0
    ),
    g!(
        "孟鲁司特钠",
        "Montelukast Sodium",
        &[TABLET, GRANULE],
        "10mg",
        30.0,
        90.0
    ),
    g!(
        "氨溴索",
        "Ambroxol",
        &[TABLET, ORAL_LIQUID, SYRUP],
        "30mg",
        8.0,
        30.0
    ),
    g!(
        "右美沙芬",
        "Dextromethorphan",
        &[TABLET, SYRUP],
        "15mg",
        8.0,
        25.0
    ),
    g!("舍曲林", "Sertraline", &[TABLET], "50mg", 40.0, 120.0),
    g!("帕罗西汀", "Paroxetine", &[TABLET], "20mg", 40.0, 110.0),
    g!("艾司唑仑", "Estazolam", &[TABLET], "1mg", 5.0, 20.0),
    g!("坦索罗辛", "Tamsulosin", &[CAPSULE], "0.2mg", 30.0, 90.0),
    g!("非那雄胺", "Finasteride", &[TABLET], "5mg", 30.0, 100.0),
    g!("甲硝唑", "Metronidazole", &[TABLET], "0.2g", 5.0, 20.0),
    g!(
        "双氯芬酸钠",
        "Diclofenac Sodium",
        &[SR_TABLET, CREAM],
        "75mg",
        8.0,
        30.0
    ),
    g!("塞来昔布", "Celecoxib", &[CAPSULE], "0.2g", 20.0, 70.0),
    g!("氟桂利嗪", "Flunarizine", &[CAPSULE], "5mg", 10.0, 30.0),
    g!(
        "奥司他韦",
        "Oseltamivir",
        &[CAPSULE, GRANULE],
        "75mg",
        30.0,
        90.0
    ),
    g!("莫匹罗星", "Mupirocin", &[OINTMENT], "2%", 15.0, 35.0),
    g!(
        "糠酸莫米松",
        "Mometasone Furoate",
        &[CREAM, NASAL_SPRAY],
        "0.1%",
        20.0,
        60.0
    ),
    g!("阿昔洛韦", "Acyclovir", &[CREAM, TABLET], "3%", 5.0, 20.0),
    g!("红霉素", "Erythromycin", &[OINTMENT], "1%", 3.0, 10.0),
    g!("酮康唑", "Ketoconazole", &[CREAM], "2%", 10.0, 30.0),
    g!("夫西地酸", "Fusidic Acid", &[CREAM], "2%", 20.0, 40.0),
    g!(
        "玻璃酸钠",
        "Sodium Hyaluronate",
        &[EYE_DROPS],
        "0.1%",
        20.0,
        60.0
    ),
    g!("妥布霉素", "Tobramycin", &[EYE_DROPS], "0.3%", 10.0, 30.0),
    g!(
        "布地奈德",
        "Budesonide",
        &[NASAL_SPRAY],
        "64μg",
        40.0,
        120.0
    ),
    g!(
        "丙酸氟替卡松",
        "Fluticasone Propionate",
        &[NASAL_SPRAY],
        "50μg",
        50.0,
        130.0
    ),
    g!(
        "头孢曲松钠",
        "Ceftriaxone Sodium",
        &[INJECTION],
        "1g",
        5.0,
        30.0
    ),
    g!(tcm "连花清瘟", "Lianhua Qingwen", &[CAPSULE, GRANULE], "0.35g", 12.0, 30.0),
    g!(tcm "板蓝根", "Banlangen", &[GRANULE], "10g", 8.0, 20.0),
    g!(tcm "六味地黄", "Liuwei Dihuang", &[PILL], "浓缩丸", 10.0, 30.0),
    g!(tcm "蒲地蓝消炎", "Pudilan Xiaoyan", &[TABLET, ORAL_LIQUID], "0.3g", 20.0, 45.0),
    g!(tcm "小柴胡", "Xiaochaihu", &[GRANULE], "10g", 10.0, 25.0),
    g!(tcm "藿香正气", "Huoxiang Zhengqi", &[ORAL_LIQUID, CAPSULE], "10ml", 8.0, 20.0),
    g!(tcm "复方丹参", "Compound Danshen", &[TABLET, PILL], "0.32g", 10.0, 30.0),
    g!(tcm "感冒清热", "Ganmao Qingre", &[GRANULE], "12g", 10.0, 25.0),
    g!(tcm "清开灵", "Qingkailing", &[CAPSULE], "0.25g", 10.0, 25.0),
    g!(tcm "逍遥", "Xiaoyao", &[PILL], "水丸", 10.0, 25.0),
    g!(tcm "健胃消食", "Jianwei Xiaoshi", &[TABLET], "0.8g", 8.0, 20.0),
    g!(tcm "银翘解毒", "Yinqiao Jiedu", &[TABLET, PILL], "0.5g", 6.0, 18.0),
    g!(tcm "养血清脑", "Yangxue Qingnao", &[GRANULE], "4g", 30.0, 70.0),
];

const MANUFACTURERS: &[(&str, bool)] = &[
    ("华北制药", false),
    ("石药集团", false),
    ("扬子江药业", false),
    ("恒瑞医药", false),
    ("齐鲁制药", false),
    ("科伦药业", false),
    ("修正药业", false),
    ("北京同仁堂", false),
    ("云南白药", false),
    ("广州白云山", false),
    ("哈药集团", false),
    ("华润三九", false),
    ("以岭药业", false),
    ("天士力", false),
    ("复星医药", false),
    ("辉瑞", true),
    ("拜耳", true),
    ("阿斯利康", true),
    ("葛兰素史克", true),
    ("诺华", true),
    ("赛诺菲", true),
    ("默沙东", true),
];

const BRAND_SYLLABLES: &[&str] = &[
    "康", "达", "欣", "宁", "舒", "安", "泰", "诺", "维", "力", "佳", "乐", "通", "平", "立", "美",
    "瑞", "信", "优", "畅",
];

/// One row of the drug catalogue.
#[derive(Debug, Clone)]
pub(crate) struct Medicine {
    pub id: i64,
    pub name: String,
    pub name_en: String,
    pub trade_name: String,
    pub dose_type: &'static str,
    pub specs: String,
    pub approval_code: String,
    pub price_cents: i64,
}

/// The specification string of a pack, e.g. `0.25g×24粒` or `100ml`.
fn specs(rng: &mut impl Rng, strength: &str, form: Form) -> String {
    match form.unit {
        "ml" => format!("{}ml", [60, 100, 120, 150][rng.random_range(0..4)]),
        "g" => format!("{}g", [10, 15, 20][rng.random_range(0..3)]),
        "支" => format!(
            "{strength}×{}{}",
            [1, 5, 10][rng.random_range(0..3)],
            form.unit
        ),
        unit => format!(
            "{strength}×{}{unit}",
            [6, 12, 24, 28, 30, 36, 48][rng.random_range(0..7)]
        ),
    }
}

/// Medicine `id` (1..=[`MEDICINES`]); the same for every simulated world.
pub(crate) fn medicine(id: i64) -> Medicine {
    let mut rng = stream(CATALOGUE_SEED, Purpose::Catalogue, id as u64);
    let g = &GENERICS[rng.random_range(0..GENERICS.len())];
    let form = g.forms[rng.random_range(0..g.forms.len())];
    let (maker, imported) = MANUFACTURERS[rng.random_range(0..MANUFACTURERS.len())];
    let letter = if imported {
        'J'
    } else if g.tcm {
        'Z'
    } else {
        'H'
    };
    let trade: String = (0..2)
        .map(|_| BRAND_SYLLABLES[rng.random_range(0..BRAND_SYLLABLES.len())])
        .collect();
    let yuan = g.price.0 + rng.random::<f64>() * (g.price.1 - g.price.0);
    Medicine {
        id,
        name: format!("{}{}", g.cn, form.suffix),
        name_en: format!("{} {}", g.en, form.en),
        trade_name: format!("{trade}（{maker}）"),
        dose_type: form.dose_type,
        specs: specs(&mut rng, g.strength, form),
        approval_code: format!(
            "国药准字{letter}{}{:04}",
            rng.random_range(1985..2024),
            rng.random_range(0..10_000)
        ),
        // Prices end in a multiple of ten cents, like real price tags.
        price_cents: ((yuan * 10.0).round() as i64) * 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_fixed_and_priced() {
        let a = medicine(17);
        let b = medicine(17);
        assert_eq!(a.name, b.name);
        assert_eq!(a.price_cents, b.price_cents);
        for id in 1..=MEDICINES {
            let m = medicine(id);
            assert!(
                m.price_cents >= 300 && m.price_cents % 10 == 0,
                "{}",
                m.price_cents
            );
            assert!(m.approval_code.starts_with("国药准字"));
        }
    }
}
