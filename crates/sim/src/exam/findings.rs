//! The findings text of an imaging report: short Chinese radiology phrases fitting the
//! body part and the result (normal, positive, critical); synthetic, never copied from
//! anyone's report.

use medlake_schema::imaging::{body_part_label, modality_label, takes_contrast};
use rand::Rng;

use super::ExamPlan;

/// A normal finding, positive findings and critical findings.
type Phrases = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// The phrases of a body part.
fn phrases(body_part: &str) -> Phrases {
    match body_part {
        "HEAD" => (
            "脑实质未见异常密度影，脑室系统未见扩大，中线结构居中",
            &[
                "左侧基底节区见腔隙性梗死灶",
                "双侧额叶皮层下见多发缺血灶",
                "右侧上颌窦黏膜增厚",
            ],
            &[
                "左侧颞顶叶脑出血，出血量约25ml，周围见水肿带",
                "右侧大脑中动脉供血区大面积脑梗死",
            ],
        ),
        "CHEST" => (
            "双肺纹理清晰，未见明显实质性病变，心影大小正常",
            &[
                "右肺下叶见结节影，大小约8mm，边界清",
                "双肺下叶散在斑片状渗出影，考虑炎症",
                "左肺上叶见磨玻璃结节，大小约6mm",
            ],
            &[
                "右侧大量气胸，右肺压缩约70%",
                "双肺动脉主干及分支充盈缺损，考虑肺栓塞",
            ],
        ),
        "ABDOMEN" => (
            "肝、胆、胰、脾、双肾形态大小正常，未见明显异常",
            &[
                "肝右叶见类圆形低密度灶，考虑囊肿",
                "胆囊内见强回声团伴声影，考虑胆囊结石",
                "右肾下盏见小结石",
            ],
            &[
                "膈下见游离气体，考虑消化道穿孔",
                "腹主动脉瘤，最大径约6cm，周围见渗出",
            ],
        ),
        "PELVIS" => (
            "盆腔未见明显异常，骨盆诸骨骨质完整",
            &[
                "子宫肌层见结节影，考虑子宫肌瘤",
                "右侧髋关节间隙变窄，关节缘骨质增生",
            ],
            &["左侧股骨颈骨折，断端移位"],
        ),
        "SPINE" => (
            "脊柱生理曲度存在，椎体及附件未见明显异常",
            &[
                "L4/5椎间盘向后突出，硬膜囊受压",
                "颈椎退行性变，C5/6椎间隙变窄",
            ],
            &["L1椎体压缩性骨折，骨块突入椎管"],
        ),
        "KNEE" => (
            "膝关节诸骨骨质完整，关节间隙正常",
            &["内侧半月板后角撕裂", "膝关节退行性变，髌骨边缘骨质增生"],
            &["胫骨平台骨折，关节面塌陷"],
        ),
        "HAND" => (
            "手部诸骨骨质完整，关节间隙正常",
            &["第五掌骨颈骨折，对位尚可", "指间关节退行性变"],
            &["舟骨骨折伴月骨脱位"],
        ),
        "NECK" => (
            "甲状腺大小形态正常，实质回声均匀",
            &[
                "甲状腺右叶见低回声结节，大小约9mm，TI-RADS 3类",
                "双侧颈部见多发肿大淋巴结",
            ],
            &["甲状腺左叶实性结节伴微钙化，TI-RADS 5类"],
        ),
        "BREAST" => (
            "双侧乳腺腺体结构清晰，未见明显肿块",
            &["右乳外上象限见低回声结节，BI-RADS 3类", "双侧乳腺增生"],
            &["左乳内上象限见不规则肿块，边缘毛刺，BI-RADS 5类"],
        ),
        "HEART" => (
            "心脏各房室大小正常，室壁运动协调，射血分数正常",
            &["左心室壁增厚，舒张功能减低", "二尖瓣轻度反流"],
            &["大量心包积液", "左心室前壁运动消失，考虑急性心肌梗死"],
        ),
        _ => (
            "全身骨显像未见明显异常放射性浓聚",
            &["右侧第6肋局灶性放射性浓聚，考虑良性病变可能"],
            &["全身多发骨骼放射性浓聚，考虑骨转移"],
        ),
    }
}

/// What a positive report advises.
const ADVICE: &[&str] = &["建议结合临床", "建议定期复查", "建议进一步检查"];

/// The findings of `exam`'s report: how it was examined, what was seen, the impression.
pub(super) fn findings(rng: &mut impl Rng, exam: &ExamPlan) -> String {
    let method = if exam.contrast {
        "增强"
    } else if takes_contrast(exam.modality) {
        "平扫"
    } else {
        ""
    };
    let examined = format!(
        "{}{}{method}",
        modality_label(exam.modality).unwrap_or(exam.modality),
        body_part_label(exam.body_part).unwrap_or(exam.body_part),
    );
    let (normal, positive, critical) = phrases(exam.body_part);
    let mut pick = |list: &[&'static str]| list[rng.random_range(0..list.len())];
    let (seen, impression) = if exam.critical {
        (pick(critical), "危急值，已电话通知临床医师")
    } else if exam.positive {
        (pick(positive), pick(ADVICE))
    } else {
        (normal, "未见明显异常")
    };
    format!("检查方法：{examined}。检查所见：{seen}。印象：{impression}。")
}
