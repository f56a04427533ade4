//! Synthetic but plausible personal data: Chinese names, mobile numbers, 18-digit
//! resident ID numbers (GB 11643 check digit), e-mail addresses, usernames, regions.
//!
//! Everything here is fake; nothing is derived from real people.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use crate::rng::pick_weighted;

/// A real province / city / district with its administrative division code
/// (the first six digits of a resident ID number issued there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct District {
    pub province: &'static str,
    pub city: &'static str,
    pub district: &'static str,
    pub code: u32,
}

macro_rules! districts {
    ($( $p:literal $c:literal [ $( $d:literal $code:literal ),* ] )*) => {
        &[ $( $( District { province: $p, city: $c, district: $d, code: $code }, )* )* ]
    };
}

/// A small table of real provinces, cities and districts.
pub(crate) const DISTRICTS: &[District] = districts! {
    "北京市" "北京市" ["东城区" 110101, "西城区" 110102, "朝阳区" 110105, "海淀区" 110108]
    "上海市" "上海市" ["黄浦区" 310101, "徐汇区" 310104, "静安区" 310106, "浦东新区" 310115]
    "天津市" "天津市" ["和平区" 120101, "河西区" 120103, "南开区" 120104]
    "重庆市" "重庆市" ["渝中区" 500103, "江北区" 500105, "沙坪坝区" 500106]
    "广东省" "广州市" ["越秀区" 440104, "海珠区" 440105, "天河区" 440106]
    "广东省" "深圳市" ["罗湖区" 440303, "福田区" 440304, "南山区" 440305]
    "浙江省" "杭州市" ["上城区" 330102, "拱墅区" 330105, "西湖区" 330106]
    "浙江省" "宁波市" ["海曙区" 330203, "江北区" 330205, "鄞州区" 330212]
    "江苏省" "南京市" ["玄武区" 320102, "秦淮区" 320104, "鼓楼区" 320106]
    "江苏省" "苏州市" ["虎丘区" 320505, "吴中区" 320506, "姑苏区" 320508]
    "四川省" "成都市" ["锦江区" 510104, "青羊区" 510105, "武侯区" 510107]
    "湖北省" "武汉市" ["江岸区" 420102, "江汉区" 420103, "武昌区" 420106]
    "湖南省" "长沙市" ["芙蓉区" 430102, "天心区" 430103, "岳麓区" 430104]
    "陕西省" "西安市" ["新城区" 610102, "碑林区" 610103, "雁塔区" 610113]
    "山东省" "济南市" ["历下区" 370102, "市中区" 370103, "槐荫区" 370104]
    "山东省" "青岛市" ["市南区" 370202, "市北区" 370203, "崂山区" 370212]
    "河南省" "郑州市" ["中原区" 410102, "二七区" 410103, "金水区" 410105]
    "福建省" "福州市" ["鼓楼区" 350102, "台江区" 350103, "仓山区" 350104]
    "辽宁省" "沈阳市" ["和平区" 210102, "沈河区" 210103, "皇姑区" 210105]
    "安徽省" "合肥市" ["瑶海区" 340102, "庐阳区" 340103, "蜀山区" 340104]
};

/// A district picked with big cities (listed first) more likely.
pub(crate) fn pick_district(rng: &mut impl Rng) -> &'static District {
    let u: f64 = rng.random();
    // Quadratic skew towards the front of the table (the largest cities).
    let i = ((u * u) * DISTRICTS.len() as f64) as usize;
    &DISTRICTS[i.min(DISTRICTS.len() - 1)]
}

const STREET_WORDS: &[&str] = &[
    "人民", "解放", "中山", "建设", "和平", "胜利", "新华", "光明", "长江", "黄河", "文化", "健康",
    "复兴", "东风", "朝阳", "青年", "学院", "科技", "滨江", "金桥",
];
const STREET_KINDS: &[&str] = &["路", "大道", "街", "东路", "西路", "南路", "北路"];

/// A street and number, e.g. `中山东路128号`.
pub(crate) fn street(rng: &mut impl Rng) -> String {
    let w = STREET_WORDS[rng.random_range(0..STREET_WORDS.len())];
    let k = STREET_KINDS[rng.random_range(0..STREET_KINDS.len())];
    format!("{w}{k}{}号", rng.random_range(1..=999))
}

/// Common surnames with rough relative frequencies.
const SURNAMES: &[(&str, f64)] = &[
    ("王", 7.1),
    ("李", 7.0),
    ("张", 6.7),
    ("刘", 5.4),
    ("陈", 4.5),
    ("杨", 3.1),
    ("黄", 2.2),
    ("赵", 2.0),
    ("吴", 2.0),
    ("周", 1.9),
    ("徐", 1.5),
    ("孙", 1.5),
    ("马", 1.4),
    ("朱", 1.3),
    ("胡", 1.3),
    ("郭", 1.2),
    ("何", 1.2),
    ("高", 1.1),
    ("林", 1.1),
    ("罗", 1.0),
    ("郑", 1.0),
    ("梁", 0.9),
    ("谢", 0.8),
    ("宋", 0.7),
    ("唐", 0.7),
    ("许", 0.7),
    ("韩", 0.7),
    ("冯", 0.6),
    ("邓", 0.6),
    ("曹", 0.6),
    ("彭", 0.6),
    ("曾", 0.6),
    ("肖", 0.6),
    ("田", 0.5),
    ("董", 0.5),
    ("袁", 0.5),
    ("潘", 0.5),
    ("于", 0.5),
    ("蒋", 0.5),
    ("蔡", 0.5),
    ("余", 0.5),
    ("杜", 0.5),
    ("叶", 0.4),
    ("程", 0.4),
    ("苏", 0.4),
    ("魏", 0.4),
    ("吕", 0.4),
    ("丁", 0.4),
    ("任", 0.4),
    ("沈", 0.4),
    ("姚", 0.4),
    ("卢", 0.4),
    ("姜", 0.3),
    ("崔", 0.3),
    ("钟", 0.3),
    ("谭", 0.3),
    ("陆", 0.3),
    ("汪", 0.3),
    ("范", 0.3),
    ("金", 0.3),
    ("石", 0.3),
    ("廖", 0.3),
    ("贾", 0.3),
    ("夏", 0.3),
    ("韦", 0.3),
    ("方", 0.3),
    ("白", 0.3),
    ("邹", 0.3),
    ("孟", 0.3),
    ("熊", 0.3),
    ("秦", 0.3),
    ("邱", 0.3),
    ("江", 0.3),
    ("尹", 0.2),
    ("薛", 0.2),
    ("段", 0.2),
    ("雷", 0.2),
    ("侯", 0.2),
    ("龙", 0.2),
    ("史", 0.2),
    ("陶", 0.2),
    ("黎", 0.2),
    ("贺", 0.2),
    ("顾", 0.2),
    ("毛", 0.2),
    ("郝", 0.2),
    ("龚", 0.2),
    ("邵", 0.2),
    ("万", 0.2),
    ("钱", 0.2),
    ("严", 0.2),
    ("武", 0.2),
    ("戴", 0.2),
    ("孔", 0.1),
    ("欧阳", 0.05),
    ("司马", 0.02),
    ("诸葛", 0.01),
];

const MALE_CHARS: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "阳", "建", "国",
    "志", "文", "博", "晨", "轩", "睿", "子", "昊", "然", "泽", "宏", "毅", "峰", "成", "亮", "东",
];
const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "慧", "婷", "雪", "琳",
    "晶", "倩", "颖", "洁", "萍", "红", "梅", "兰", "月", "欣", "怡", "佳", "雨", "涵", "诗", "梓",
    "思", "蕾", "薇", "璐", "悦", "彤", "瑶", "嘉", "雅", "琪", "妍", "晓", "文", "秀", "春", "菲",
];

/// A surname, common ones more likely, from a draw `u` in [0, 1).
pub(crate) fn surname(u: f64) -> &'static str {
    pick_weighted(SURNAMES, u)
}

/// A Chinese full name: surname plus one or two given-name characters.
pub(crate) fn chinese_name(rng: &mut impl Rng, male: bool) -> String {
    let surname = surname(rng.random());
    given_name(rng, surname, male)
}

/// A full name with a given surname (family members often share one).
pub(crate) fn given_name(rng: &mut impl Rng, surname: &str, male: bool) -> String {
    let chars = if male { MALE_CHARS } else { FEMALE_CHARS };
    let mut name = String::with_capacity(12);
    name.push_str(surname);
    name.push_str(chars[rng.random_range(0..chars.len())]);
    if rng.random_bool(0.7) {
        name.push_str(chars[rng.random_range(0..chars.len())]);
    }
    name
}

/// Mainland mobile prefixes in use (China Mobile, Unicom, Telecom, virtual operators).
const MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155, 156, 157,
    158, 159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191,
    193, 195, 198, 199,
];

/// An 11-digit mainland mobile number with a real prefix.
pub(crate) fn mobile(rng: &mut impl Rng) -> String {
    let prefix = MOBILE_PREFIXES[rng.random_range(0..MOBILE_PREFIXES.len())];
    format!("{prefix}{:08}", rng.random_range(0..100_000_000u32))
}

/// Whether `s` looks like a mainland mobile number (11 digits, `1[3-9]` prefix).
pub fn is_valid_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

/// GB 11643 weights of the first 17 digits.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// GB 11643 check character by (weighted sum mod 11).
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character of the first 17 digits.
fn id_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK[(sum % 11) as usize]
}

/// An 18-digit resident ID number: region, birth date, sequence (odd for men), check.
pub(crate) fn id_card(rng: &mut impl Rng, region: u32, birthday: NaiveDate, male: bool) -> String {
    let seq = rng.random_range(0..500u32) * 2 + u32::from(male);
    let mut s = format!(
        "{region:06}{:04}{:02}{:02}{seq:03}",
        birthday.year(),
        birthday.month(),
        birthday.day()
    );
    let check = id_check_char(s.as_bytes());
    s.push(char::from(check));
    s
}

/// Whether `s` is an 18-character ID number with a valid GB 11643 check character.
pub fn is_valid_id_card(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && id_check_char(&b[..17]) == b[17]
}

const SYLLABLES: &[&str] = &[
    "wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma",
    "zhu", "hu", "guo", "lin", "xiao", "ming", "hua", "jun", "wei", "fang", "jing", "ling", "yu",
    "hao", "tian", "xin", "yue", "chen", "long", "feng", "yun", "qing", "lei", "jie", "ning",
];
const EMAIL_DOMAINS: &[(&str, f64)] = &[
    ("qq.com", 35.0),
    ("163.com", 25.0),
    ("126.com", 10.0),
    ("sina.com", 5.0),
    ("gmail.com", 5.0),
    ("outlook.com", 5.0),
    ("foxmail.com", 5.0),
    ("hotmail.com", 4.0),
    ("aliyun.com", 4.0),
    ("139.com", 2.0),
];

/// A pinyin-looking handle, e.g. `xiaoming88`.
fn handle(rng: &mut impl Rng) -> String {
    let mut s = String::with_capacity(16);
    for _ in 0..rng.random_range(2..=3) {
        s.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
    }
    if rng.random_bool(0.7) {
        s.push_str(&rng.random_range(1..10_000u32).to_string());
    }
    s
}

/// An e-mail address; QQ mail uses a numeric account.
pub(crate) fn email(rng: &mut impl Rng) -> String {
    let domain = pick_weighted(EMAIL_DOMAINS, rng.random());
    if domain == "qq.com" {
        format!("{}@qq.com", rng.random_range(10_000..3_000_000_000u64))
    } else {
        format!("{}@{domain}", handle(rng))
    }
}

/// An app username: a handle, a WeChat-style default, or a numbered default.
pub(crate) fn username(rng: &mut impl Rng) -> String {
    match rng.random_range(0..10) {
        0..=4 => handle(rng),
        5..=7 => format!("wx_{}", hex(rng, 10)),
        _ => format!("用户{:08}", rng.random_range(0..100_000_000u32)),
    }
}

/// `n` random lowercase hex digits.
pub(crate) fn hex(rng: &mut impl Rng, n: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| char::from(DIGITS[rng.random_range(0..16)]))
        .collect()
}

/// A fake password hash (64 hex digits, like a salted SHA-256).
pub(crate) fn password_hash(rng: &mut impl Rng) -> String {
    hex(rng, 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Purpose};

    #[test]
    fn id_cards_have_valid_check_digits() {
        // The GB 11643 worked example.
        assert!(is_valid_id_card("11010519491231002X"));
        assert!(!is_valid_id_card("110105194912310021"));
        let mut rng = stream(1, Purpose::Patient, 1);
        let birthday = NaiveDate::from_ymd_opt(1988, 2, 29).unwrap();
        for _ in 0..1000 {
            let male = rng.random_bool(0.5);
            let id = id_card(&mut rng, 330106, birthday, male);
            assert!(is_valid_id_card(&id), "{id}");
            assert_eq!(&id[6..14], "19880229");
            assert_eq!((id.as_bytes()[16] - b'0') % 2 == 1, male);
        }
    }

    #[test]
    fn mobiles_are_valid() {
        let mut rng = stream(2, Purpose::User, 1);
        for _ in 0..1000 {
            let m = mobile(&mut rng);
            assert!(is_valid_mobile(&m), "{m}");
        }
        assert!(!is_valid_mobile("12012345678"));
        assert!(!is_valid_mobile("1381234567"));
    }

    #[test]
    fn names_and_emails_look_plausible() {
        let mut rng = stream(3, Purpose::User, 1);
        for _ in 0..200 {
            let male = rng.random_bool(0.5);
            let n = chinese_name(&mut rng, male);
            assert!((2..=4).contains(&n.chars().count()), "{n}");
            let e = email(&mut rng);
            assert_eq!(e.matches('@').count(), 1, "{e}");
            assert!(username(&mut rng).chars().count() <= 64);
        }
    }

    #[test]
    fn district_codes_are_unique() {
        let mut codes: Vec<u32> = DISTRICTS.iter().map(|d| d.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DISTRICTS.len());
    }
}
