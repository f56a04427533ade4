//! The vocabulary of imaging exams (docs/domain.md, 'Imaging exams'): modalities, the body
//! parts each examines in DICOM terms, exam item codes, accession numbers and scanner
//! names. The simulator writes `scanner` and `exam_order` rows with it, and the DICOM
//! synthesiser writes the tags of the studies from the same words, so images and orders
//! match.

/// The imaging modalities, as DICOM Modality (0008,0060) codes: computed tomography,
/// magnetic resonance, digital radiography, computed radiography, ultrasound,
/// mammography and nuclear medicine.
pub const MODALITIES: [&str; 7] = ["CT", "MR", "DX", "CR", "US", "MG", "NM"];

/// The suffix of an exam item done with a contrast agent (CT and MR only).
pub const CONTRAST_SUFFIX: &str = "-C";

/// The position of `modality` in [`MODALITIES`], if it is one.
pub fn modality_index(modality: &str) -> Option<usize> {
    MODALITIES.iter().position(|m| *m == modality)
}

/// The Chinese label of a modality (for reports and dashboards), if it is one of
/// [`MODALITIES`].
pub fn modality_label(modality: &str) -> Option<&'static str> {
    Some(match modality {
        "CT" => "CT",
        "MR" => "磁共振",
        "DX" => "数字X线摄影",
        "CR" => "计算机X线摄影",
        "US" => "超声",
        "MG" => "乳腺X线摄影",
        "NM" => "核医学",
        _ => return None,
    })
}

/// The body parts a modality examines, as DICOM Body Part Examined (0018,0015) defined
/// terms; empty for an unknown modality. The thyroid is examined as `NECK`.
pub fn body_parts(modality: &str) -> &'static [&'static str] {
    match modality {
        "CT" => &["HEAD", "CHEST", "ABDOMEN", "PELVIS", "SPINE"],
        "MR" => &["HEAD", "SPINE", "KNEE", "ABDOMEN"],
        "DX" | "CR" => &["CHEST", "HAND", "KNEE", "SPINE", "PELVIS"],
        "US" => &["ABDOMEN", "NECK", "BREAST", "HEART"],
        "MG" => &["BREAST"],
        "NM" => &["WHOLEBODY", "HEART", "NECK"],
        _ => &[],
    }
}

/// The Chinese label of a body part of [`body_parts`], if it is one.
pub fn body_part_label(body_part: &str) -> Option<&'static str> {
    Some(match body_part {
        "HEAD" => "头颅",
        "CHEST" => "胸部",
        "ABDOMEN" => "腹部",
        "PELVIS" => "盆腔",
        "SPINE" => "脊柱",
        "KNEE" => "膝关节",
        "HAND" => "手部",
        "NECK" => "颈部",
        "BREAST" => "乳腺",
        "HEART" => "心脏",
        "WHOLEBODY" => "全身",
        _ => return None,
    })
}

/// Whether exams of `modality` can be done with a contrast agent (CT and MR).
pub fn takes_contrast(modality: &str) -> bool {
    matches!(modality, "CT" | "MR")
}

/// The exam item code of an exam: `<MODALITY>-<BODYPART>`, with [`CONTRAST_SUFFIX`] when
/// done with contrast, e.g. `CT-CHEST`, `MR-HEAD-C`.
pub fn exam_item(modality: &str, body_part: &str, contrast: bool) -> String {
    let suffix = if contrast { CONTRAST_SUFFIX } else { "" };
    format!("{modality}-{body_part}{suffix}")
}

/// An exam item code taken apart (see [`exam_item`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExamItem {
    /// One of [`MODALITIES`].
    pub modality: &'static str,
    /// One of the modality's [`body_parts`].
    pub body_part: &'static str,
    /// Whether the exam is done with a contrast agent.
    pub contrast: bool,
}

/// The parts of an exam item code, or `None` when it names no known modality and body
/// part of that modality, or contrast where the modality takes none.
pub fn parse_exam_item(item: &str) -> Option<ExamItem> {
    let (rest, contrast) = match item.strip_suffix(CONTRAST_SUFFIX) {
        Some(rest) => (rest, true),
        None => (item, false),
    };
    let (modality, body_part) = rest.split_once('-')?;
    let modality = MODALITIES[modality_index(modality)?];
    let body_part = *body_parts(modality).iter().find(|p| **p == body_part)?;
    if contrast && !takes_contrast(modality) {
        return None;
    }
    Some(ExamItem {
        modality,
        body_part,
        contrast,
    })
}

/// The accession number of exam order `exam_order_id`: `A` and the id zero-padded to 12
/// digits, e.g. `A000000012345` (13 characters, within DICOM's 16).
pub fn accession_no(exam_order_id: i64) -> String {
    format!("A{exam_order_id:012}")
}

/// The id of the `k`-th scanner (1-based, below 100) of hospital `hospital_id`.
pub fn scanner_id(hospital_id: i64, k: i64) -> i64 {
    hospital_id * 100 + k
}

/// The DICOM AE title of the `n`-th scanner (1-based) of `modality` in hospital
/// `hospital_id`, e.g. `H0012CT01`: unique, and within DICOM's 16 characters.
pub fn ae_title(hospital_id: i64, modality: &str, n: i64) -> String {
    format!("H{hospital_id:04}{modality}{n:02}")
}

/// The DICOM Station Name of the `n`-th scanner (1-based) of `modality` in hospital
/// `hospital_id`, e.g. `H12-CT-01`.
pub fn station_name(hospital_id: i64, modality: &str, n: i64) -> String {
    format!("H{hospital_id}-{modality}-{n:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modality_has_labelled_body_parts() {
        for m in MODALITIES {
            assert!(modality_label(m).is_some(), "{m}");
            assert!(!body_parts(m).is_empty(), "{m}");
            for part in body_parts(m) {
                assert!(body_part_label(part).is_some(), "{part}");
                assert!(part.len() <= 16, "{part}");
            }
        }
        assert!(body_parts("XA").is_empty() && modality_index("XA").is_none());
    }

    #[test]
    fn exam_items_round_trip() {
        assert_eq!(exam_item("CT", "CHEST", false), "CT-CHEST");
        assert_eq!(exam_item("MR", "HEAD", true), "MR-HEAD-C");
        for m in MODALITIES {
            for &part in body_parts(m) {
                for contrast in [false, true] {
                    let item = exam_item(m, part, contrast);
                    assert!(item.len() <= 32);
                    let parsed = parse_exam_item(&item);
                    if contrast && !takes_contrast(m) {
                        assert_eq!(parsed, None, "{item}");
                    } else {
                        let want = ExamItem {
                            modality: m,
                            body_part: part,
                            contrast,
                        };
                        assert_eq!(parsed, Some(want), "{item}");
                    }
                }
            }
        }
        assert_eq!(parse_exam_item("CT-KNEE"), None);
        assert_eq!(parse_exam_item("CT"), None);
    }

    #[test]
    fn identifiers_fit_dicom() {
        assert_eq!(accession_no(12_345), "A000000012345");
        assert_eq!(scanner_id(12, 3), 1203);
        assert_eq!(ae_title(12, "CT", 1), "H0012CT01");
        assert_eq!(station_name(12, "CT", 1), "H12-CT-01");
        assert!(ae_title(20_000, "MR", 12).len() <= 16);
        assert!(accession_no(999_999_999_999).len() <= 16);
    }
}
