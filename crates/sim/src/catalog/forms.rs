//! Dosage forms of the drug catalogue (tablets, syrup, eye drops, ...): each sets a
//! medicine's dose type, the suffix of its Chinese and English names, and its pack unit.
//! Kept apart from `medicines` so that file, with its long generics table, stays short.

/// A dosage form: dose type label, name suffix, English suffix, pack unit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Form {
    pub dose_type: &'static str,
    pub(super) suffix: &'static str,
    pub(super) en: &'static str,
    pub(super) unit: &'static str,
}

pub(super) const TABLET: Form = Form {
    dose_type: "片剂",
    suffix: "片",
    en: "Tablets",
    unit: "片",
};
pub(super) const SR_TABLET: Form = Form {
    dose_type: "片剂",
    suffix: "缓释片",
    en: "Sustained-release Tablets",
    unit: "片",
};
pub(super) const DISP_TABLET: Form = Form {
    dose_type: "片剂",
    suffix: "分散片",
    en: "Dispersible Tablets",
    unit: "片",
};
pub(super) const CAPSULE: Form = Form {
    dose_type: "胶囊剂",
    suffix: "胶囊",
    en: "Capsules",
    unit: "粒",
};
pub(super) const GRANULE: Form = Form {
    dose_type: "颗粒剂",
    suffix: "颗粒",
    en: "Granules",
    unit: "袋",
};
pub(super) const ORAL_LIQUID: Form = Form {
    dose_type: "口服溶液剂",
    suffix: "口服液",
    en: "Oral Liquid",
    unit: "ml",
};
pub(super) const SUSPENSION: Form = Form {
    dose_type: "混悬剂",
    suffix: "混悬液",
    en: "Suspension",
    unit: "ml",
};
pub(super) const SYRUP: Form = Form {
    dose_type: "糖浆剂",
    suffix: "糖浆",
    en: "Syrup",
    unit: "ml",
};
pub(super) const OINTMENT: Form = Form {
    dose_type: "软膏剂",
    suffix: "软膏",
    en: "Ointment",
    unit: "g",
};
pub(super) const CREAM: Form = Form {
    dose_type: "乳膏剂",
    suffix: "乳膏",
    en: "Cream",
    unit: "g",
};
pub(super) const EYE_DROPS: Form = Form {
    dose_type: "滴眼剂",
    suffix: "滴眼液",
    en: "Eye Drops",
    unit: "ml",
};
pub(super) const NASAL_SPRAY: Form = Form {
    dose_type: "喷雾剂",
    suffix: "鼻喷雾剂",
    en: "Nasal Spray",
    unit: "ml",
};
pub(super) const PILL: Form = Form {
    dose_type: "丸剂",
    suffix: "丸",
    en: "Pills",
    unit: "丸",
};
pub(super) const INJECTION: Form = Form {
    dose_type: "注射剂",
    suffix: "注射液",
    en: "Injection",
    unit: "支",
};

pub(super) const SOLID: &[Form] = &[TABLET, CAPSULE];
