//! Free text of the business: what patients write and doctors answer. Short Chinese
//! phrases consistent with the doctor's specialty; synthetic, never copied from anyone.

use rand::Rng;

/// (symptom the patient describes, diagnosis the doctor gives) per specialty code.
fn cases(specialty: i64) -> &'static [(&'static str, &'static str)] {
    match specialty {
        501 => &[
            ("发热、咽痛两天，伴有轻微咳嗽", "上呼吸道感染"),
            ("反复乏力、头晕一周", "贫血待查"),
            ("空腹血糖7.8，口干多饮", "2型糖尿病"),
        ],
        502 => &[
            ("手指划伤后红肿疼痛", "软组织感染"),
            ("右下腹隐痛一天", "急性阑尾炎待排"),
            ("颈部摸到一个包块", "淋巴结肿大"),
        ],
        503 => &[
            ("孩子发烧38.5度，精神尚可", "小儿上呼吸道感染"),
            ("宝宝腹泻三天，每天四五次", "小儿腹泻"),
            ("孩子咳嗽有痰一周", "急性支气管炎"),
        ],
        504 => &[
            ("月经不规律，周期推迟", "月经失调"),
            ("孕12周，想咨询产检注意事项", "早孕"),
            ("白带增多伴瘙痒", "阴道炎"),
        ],
        505 => &[
            ("脸上反复长痘", "痤疮"),
            ("皮肤瘙痒起红疹", "湿疹"),
            ("脚趾间脱皮瘙痒", "足癣"),
        ],
        506 => &[
            ("眼睛干涩发红", "干眼症"),
            ("眼睛红、分泌物多", "结膜炎"),
            ("看远处模糊", "屈光不正"),
        ],
        507 => &[
            ("牙龈出血肿痛", "牙龈炎"),
            ("牙疼，遇冷热加重", "牙髓炎"),
            ("口腔溃疡反复发作", "复发性口腔溃疡"),
        ],
        508 => &[
            ("鼻塞流涕打喷嚏", "过敏性鼻炎"),
            ("耳朵疼，听力下降", "中耳炎"),
            ("咽喉有异物感", "慢性咽炎"),
        ],
        509 => &[
            ("失眠多梦，容易疲劳", "心脾两虚"),
            ("手脚冰凉，怕冷", "阳虚体质"),
            ("食欲不振，腹胀", "脾胃虚弱"),
        ],
        510 => &[
            ("情绪低落，兴趣减退一个月", "抑郁状态"),
            ("经常紧张焦虑，心慌", "焦虑状态"),
            ("入睡困难，容易醒", "失眠症"),
        ],
        511 => &[
            ("反复头痛，两侧太阳穴明显", "紧张性头痛"),
            ("头晕，转头时加重", "眩晕症"),
            ("手脚发麻", "周围神经病变"),
        ],
        512 => &[
            ("血压偏高，160/100", "高血压"),
            ("活动后胸闷气短", "冠心病待排"),
            ("心慌，心跳不规律", "心律失常"),
        ],
        513 => &[
            ("胃痛反酸，饭后加重", "慢性胃炎"),
            ("大便不成形，腹痛", "肠易激综合征"),
            ("烧心，嗳气", "胃食管反流病"),
        ],
        514 => &[
            ("咳嗽咳痰两周", "急性支气管炎"),
            ("喘息，夜间加重", "支气管哮喘"),
            ("发热咳嗽，胸痛", "肺炎待排"),
        ],
        515 => &[
            ("腰痛，久坐后加重", "腰肌劳损"),
            ("膝关节疼，上下楼明显", "膝骨关节炎"),
            ("颈肩酸痛，手臂发麻", "颈椎病"),
        ],
        _ => &[
            ("尿频尿急尿痛", "尿路感染"),
            ("夜尿增多，排尿不畅", "前列腺增生"),
            ("腰部绞痛，尿中带血", "泌尿系结石"),
        ],
    }
}

const ASKS: &[&str] = &[
    "请问需要做什么检查？",
    "请问该吃什么药？",
    "严重吗？需要去医院吗？",
    "想咨询一下注意事项。",
    "之前吃过药但效果不明显。",
];
const ADVICE: &[&str] = &[
    "注意休息，清淡饮食",
    "多饮水，避免劳累",
    "按时服药，一周后复诊",
    "如症状加重请及时线下就医",
    "建议完善相关检查后复诊",
];

/// Which case of the specialty a consultation is about (chosen once, used by both texts).
pub(crate) fn case_index(rng: &mut impl Rng) -> usize {
    rng.random_range(0..3)
}

/// The patient's description of the problem.
pub(crate) fn description(rng: &mut impl Rng, specialty: i64, case: usize) -> String {
    let (symptom, _) = cases(specialty)[case % 3];
    format!("{symptom}，{}", ASKS[rng.random_range(0..ASKS.len())])
}

/// The doctor's diagnosis and advice.
pub(crate) fn diagnosis(rng: &mut impl Rng, specialty: i64, case: usize) -> String {
    let (_, diagnosis) = cases(specialty)[case % 3];
    format!(
        "初步诊断：{diagnosis}。建议：{}。",
        ADVICE[rng.random_range(0..ADVICE.len())]
    )
}

/// A review matching its rating.
pub(crate) fn review(rng: &mut impl Rng, rating: i64) -> String {
    let options: &[&str] = match rating {
        5 => &[
            "医生非常专业，解答很详细，谢谢！",
            "回复很及时，态度很好",
            "很耐心，讲得很清楚，推荐",
            "按医生说的用药后好多了",
            "好评",
        ],
        4 => &["整体不错，回复稍慢", "比较专业，建议很有帮助", "挺好的"],
        3 => &["一般，回答有点简单", "等待时间有点长"],
        2 => &["回复太慢了", "没有解决我的问题"],
        _ => &["很不满意，回答敷衍", "等了很久才回复，体验差"],
    };
    options[rng.random_range(0..options.len())].to_string()
}

/// The prescription's general instruction.
pub(crate) fn prescription_instruction(rng: &mut impl Rng) -> String {
    const OPTIONS: &[&str] = &[
        "遵医嘱服用，如有不适及时复诊",
        "饭后服用，服药期间忌辛辣油腻",
        "按疗程服用，症状缓解后不要自行停药",
        "服药期间避免饮酒，注意休息",
    ];
    OPTIONS[rng.random_range(0..OPTIONS.len())].to_string()
}

/// How to take one medicine, by dose type.
pub(crate) fn usage(rng: &mut impl Rng, dose_type: &str) -> String {
    let times = rng.random_range(1..=3);
    match dose_type {
        "片剂" => format!("口服，一日{times}次，一次{}片", rng.random_range(1..=2)),
        "胶囊剂" => format!("口服，一日{times}次，一次{}粒", rng.random_range(1..=2)),
        "丸剂" => format!("口服，一日{times}次，一次{}丸", rng.random_range(1..=8)),
        "颗粒剂" => format!("开水冲服，一日{times}次，一次1袋"),
        "口服溶液剂" | "混悬剂" | "糖浆剂" => format!(
            "口服，一日{times}次，一次{}ml",
            [5, 10, 15][rng.random_range(0..3)]
        ),
        "软膏剂" | "乳膏剂" => "外用，薄涂患处，一日2次".to_string(),
        "滴眼剂" => "滴眼，一次1-2滴，一日3-4次".to_string(),
        "喷雾剂" => "喷鼻，每侧1-2喷，一日1次".to_string(),
        _ => "遵医嘱使用".to_string(),
    }
}
