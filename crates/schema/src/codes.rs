//! The codes of table `dict` (docs/domain.md, 'Codes'): the id is the code, the value
//! its label.

/// Gender: male.
pub const GENDER_MALE: i64 = 101;
/// Gender: female.
pub const GENDER_FEMALE: i64 = 102;

/// Consultation created, no description yet.
pub const CONSULTATION_CREATED: i64 = 201;
/// Consultation awaiting payment; also payment/prescription "unpaid".
pub const AWAITING_PAYMENT: i64 = 202;
/// Consultation paid; also payment/prescription "paid".
pub const PAID: i64 = 203;
/// Doctor is diagnosing.
pub const IN_DIAGNOSIS: i64 = 204;
/// Diagnosis finished.
pub const DIAGNOSIS_FINISHED: i64 = 205;
/// A prescription was issued.
pub const PRESCRIPTION_ISSUED: i64 = 206;
/// The patient rated and reviewed the consultation.
pub const REVIEWED: i64 = 207;

/// Imaging exam ordered by the doctor (group `exam_status`).
pub const EXAM_ORDERED: i64 = 601;
/// Imaging exam fee paid.
pub const EXAM_PAID: i64 = 602;
/// Imaging exam scheduled on a scanner.
pub const EXAM_SCHEDULED: i64 = 603;
/// Imaging exam performed (the images are taken).
pub const EXAM_PERFORMED: i64 = 604;
/// Imaging exam reported by a radiologist (the `exam_report` row exists).
pub const EXAM_REPORTED: i64 = 605;
/// Imaging exam report verified by a senior radiologist.
pub const EXAM_VERIFIED: i64 = 606;
/// Imaging exam cancelled before it was performed.
pub const EXAM_CANCELLED: i64 = 607;

/// Imaging exam priority: routine (group `exam_priority`).
pub const PRIORITY_ROUTINE: i64 = 701;
/// Imaging exam priority: urgent.
pub const PRIORITY_URGENT: i64 = 702;
/// Imaging exam priority: stat (emergency).
pub const PRIORITY_STAT: i64 = 703;

/// The target time from an exam performed to its report, in minutes, by priority: routine
/// 1440 (24 hours), urgent 240 (4 hours), stat 60. Any other code gets the routine target.
pub fn report_target_minutes(priority: i64) -> i64 {
    match priority {
        PRIORITY_STAT => 60,
        PRIORITY_URGENT => 240,
        _ => 1440,
    }
}

/// Doctor titles, lowest first: 医士 .. 主任医师.
pub const TITLES: [(i64, &str); 5] = [
    (301, "医士"),
    (302, "医师"),
    (303, "主治医师"),
    (304, "副主任医师"),
    (305, "主任医师"),
];

/// Doctor specialties (departments).
pub const SPECIALTIES: [(i64, &str); 16] = [
    (501, "内科"),
    (502, "外科"),
    (503, "儿科"),
    (504, "妇产科"),
    (505, "皮肤科"),
    (506, "眼科"),
    (507, "口腔科"),
    (508, "耳鼻喉科"),
    (509, "中医科"),
    (510, "精神心理科"),
    (511, "神经内科"),
    (512, "心血管内科"),
    (513, "消化内科"),
    (514, "呼吸内科"),
    (515, "骨科"),
    (516, "泌尿外科"),
];

/// Every row of table `dict`: (code, label).
pub fn dict_rows() -> Vec<(i64, &'static str)> {
    let mut rows = vec![
        (GENDER_MALE, "男"),
        (GENDER_FEMALE, "女"),
        (CONSULTATION_CREATED, "已创建"),
        (AWAITING_PAYMENT, "待支付"),
        (PAID, "已支付"),
        (IN_DIAGNOSIS, "诊断中"),
        (DIAGNOSIS_FINISHED, "诊断完成"),
        (PRESCRIPTION_ISSUED, "已开处方"),
        (REVIEWED, "已评价"),
    ];
    rows.extend(TITLES);
    rows.extend(SPECIALTIES);
    rows.extend([
        (EXAM_ORDERED, "已开单"),
        (EXAM_PAID, "已缴费"),
        (EXAM_SCHEDULED, "已预约"),
        (EXAM_PERFORMED, "已检查"),
        (EXAM_REPORTED, "已报告"),
        (EXAM_VERIFIED, "已审核"),
        (EXAM_CANCELLED, "已取消"),
        (PRIORITY_ROUTINE, "常规"),
        (PRIORITY_URGENT, "加急"),
        (PRIORITY_STAT, "危急/急诊"),
    ]);
    rows
}

/// The named groups of dictionary codes, for checks that a column holds only the codes of
/// its group (`accepted_values` with `dict = "consultation_status"`).
pub const DICT_GROUPS: [&str; 7] = [
    "gender",
    "consultation_status",
    "payment_status",
    "title",
    "specialty",
    "exam_status",
    "exam_priority",
];

/// The codes of dictionary group `name` (one of [`DICT_GROUPS`]).
pub fn dict_group(name: &str) -> Option<Vec<i64>> {
    let codes = match name {
        "gender" => vec![GENDER_MALE, GENDER_FEMALE],
        "consultation_status" => (CONSULTATION_CREATED..=REVIEWED).collect(),
        // A payable (a consultation fee or a prescription) is unpaid or paid.
        "payment_status" => vec![AWAITING_PAYMENT, PAID],
        "title" => TITLES.iter().map(|(code, _)| *code).collect(),
        "specialty" => SPECIALTIES.iter().map(|(code, _)| *code).collect(),
        "exam_status" => (EXAM_ORDERED..=EXAM_CANCELLED).collect(),
        "exam_priority" => vec![PRIORITY_ROUTINE, PRIORITY_URGENT, PRIORITY_STAT],
        _ => return None,
    };
    Some(codes)
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn every_group_names_codes_of_the_dictionary() {
        let dict: Vec<i64> = dict_rows().iter().map(|(code, _)| *code).collect();
        for group in DICT_GROUPS {
            let codes = dict_group(group).unwrap();
            assert!(!codes.is_empty(), "{group}");
            assert!(codes.iter().all(|c| dict.contains(c)), "{group}");
        }
        assert_eq!(dict_group("consultation_status").unwrap().len(), 7);
        assert_eq!(dict_group("exam_status").unwrap().len(), 7);
        assert_eq!(dict_group("exam_priority").unwrap().len(), 3);
        let mut codes = dict.clone();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), dict.len(), "every code once");
        assert!(dict_group("nope").is_none());
    }

    #[test]
    fn report_targets_tighten_with_priority() {
        assert_eq!(report_target_minutes(PRIORITY_ROUTINE), 1440);
        assert_eq!(report_target_minutes(PRIORITY_URGENT), 240);
        assert_eq!(report_target_minutes(PRIORITY_STAT), 60);
    }
}
