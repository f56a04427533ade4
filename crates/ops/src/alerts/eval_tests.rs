//! Tests of the PromQL evaluator.
use super::*;
use crate::series::{Sample, Snapshot};

const MINUTE: i64 = 60_000;

fn history(snapshots: Vec<(i64, Vec<Sample>)>) -> History {
    let mut h = History::new(3_600_000);
    for (at_ms, samples) in snapshots {
        h.push(Snapshot { at_ms, samples });
    }
    h
}

fn run(h: &History, expr: &str, at_ms: i64) -> Vec<Element> {
    let parsed = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    evaluate(&parsed, h, at_ms).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Each element as (its `label`, its value), sorted.
fn by(v: &[Element], label: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = v
        .iter()
        .map(|e| (e.labels.get(label).cloned().unwrap_or_default(), e.value))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn selectors_match_labels_and_look_back_five_minutes() {
    let h = history(vec![
        (40_000, vec![Sample::new("x", &[("job", "c")], 9.0)]),
        (
            340_000,
            vec![
                Sample::new("x", &[("job", "a")], 1.0),
                Sample::new("x", &[("job", "b")], 2.0),
                Sample::new("y", &[("job", "a")], 7.0),
            ],
        ),
        (400_000, vec![Sample::new("x", &[("job", "a")], 5.0)]),
    ]);
    // b is missing from the newest snapshot but was there a minute before; c is older
    // than 5 minutes.
    let x = run(&h, "x", 400_000);
    assert_eq!(by(&x, "job"), pairs(&[("a", 5.0), ("b", 2.0)]));
    assert!(x
        .iter()
        .all(|e| e.labels.get(METRIC_NAME).map(String::as_str) == Some("x")));
    assert_eq!(
        by(&run(&h, r#"x{job=~"a|c"}"#, 400_000), "job"),
        pairs(&[("a", 5.0)])
    );
    assert_eq!(
        by(&run(&h, r#"x{job!~"a"}"#, 400_000), "job"),
        pairs(&[("b", 2.0)])
    );
    assert_eq!(
        by(&run(&h, r#"{__name__="x", job!="a"}"#, 400_000), "job"),
        pairs(&[("b", 2.0)])
    );
    // Exactly 5 minutes old is out; a millisecond younger is in.
    assert_eq!(
        by(&run(&h, "x", 340_000), "job"),
        pairs(&[("a", 1.0), ("b", 2.0)])
    );
    assert_eq!(by(&run(&h, "x", 339_999), "job"), pairs(&[("c", 9.0)]));
    assert!(run(&h, "nothing", 400_000).is_empty());
}

#[test]
fn rate_and_increase_extrapolate_over_a_counter_reset() {
    let values = [10.0, 20.0, 30.0, 5.0, 15.0];
    let h = history(
        (1..=5)
            .zip(values)
            .map(|(k, v)| (k * MINUTE, vec![Sample::new("c", &[("job", "a")], v)]))
            .collect(),
    );
    // (5m - 4m] window: 10+10+5 (from 0 after the reset)+10 = 35 over 4 minutes of
    // samples, extrapolated a minute back to the window's start: 35 * 5/4.
    let increase = run(&h, "increase(c[5m])", 5 * MINUTE);
    assert_eq!(increase.len(), 1);
    assert!(close(increase[0].value, 43.75), "{increase:?}");
    assert!(!increase[0].labels.contains_key(METRIC_NAME));
    assert_eq!(increase[0].labels.get("job").map(String::as_str), Some("a"));
    let rate = run(&h, "rate(c[5m])", 5 * MINUTE);
    assert!(close(rate[0].value, 43.75 / 300.0), "{rate:?}");
    // delta takes no reset into account: (15 - 10) * 5/4.
    assert!(close(run(&h, "delta(c[5m])", 5 * MINUTE)[0].value, 6.25));
    assert_eq!(run(&h, "resets(c[5m])", 5 * MINUTE)[0].value, 1.0);
    assert_eq!(run(&h, "max_over_time(c[5m])", 5 * MINUTE)[0].value, 30.0);
    // One sample in the window: no rate.
    assert!(run(&h, "rate(c[1m])", 5 * MINUTE).is_empty());
}

#[test]
fn histogram_quantile_interpolates_within_the_bucket() {
    let mut snapshots = Vec::new();
    for k in 1..=5 {
        let mut samples = Vec::new();
        for channel in ["a", "b"] {
            for (le, per_minute) in [("0.1", 30.0), ("0.5", 150.0), ("1", 300.0), ("+Inf", 300.0)] {
                samples.push(Sample::new(
                    "x_bucket",
                    &[("channel", channel), ("le", le)],
                    1_000.0 + per_minute * k as f64,
                ));
            }
        }
        snapshots.push((k * MINUTE, samples));
    }
    let h = history(snapshots);
    // Summed rates per bucket: 1, 5, 10, 10. Rank 9.5 falls in (0.5, 1] holding 5
    // observations, 4.5 of them below: 0.5 + 0.5 * 4.5/5.
    let q = run(
        &h,
        "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))",
        5 * MINUTE,
    );
    assert_eq!(q.len(), 1);
    assert!(q[0].labels.is_empty());
    assert!(close(q[0].value, 0.95), "{q:?}");
    let per_channel = run(
        &h,
        "histogram_quantile(0.5, rate(x_bucket[5m]))",
        5 * MINUTE,
    );
    assert_eq!(by(&per_channel, "channel").len(), 2);
    assert!(
        per_channel.iter().all(|e| close(e.value, 0.5)),
        "{per_channel:?}"
    );
}

#[test]
fn aggregations_group_by_and_without() {
    let h = history(vec![(
        MINUTE,
        vec![
            Sample::new("y", &[("channel", "sms"), ("kind", "a")], 1.0),
            Sample::new("y", &[("channel", "sms"), ("kind", "b")], 2.0),
            Sample::new("y", &[("channel", "email"), ("kind", "a")], 4.0),
        ],
    )]);
    let sums = run(&h, "sum by (channel) (y)", MINUTE);
    assert_eq!(by(&sums, "channel"), pairs(&[("email", 4.0), ("sms", 3.0)]));
    assert!(sums.iter().all(|e| e.labels.len() == 1));
    assert_eq!(
        by(&run(&h, "sum without (kind) (y)", MINUTE), "channel"),
        pairs(&[("email", 4.0), ("sms", 3.0)])
    );
    assert_eq!(
        by(&run(&h, "avg by (kind) (y)", MINUTE), "kind"),
        pairs(&[("a", 2.5), ("b", 2.0)])
    );
    assert_eq!(run(&h, "count(y)", MINUTE)[0].value, 3.0);
    assert_eq!(run(&h, "max(y)", MINUTE)[0].value, 4.0);
    assert_eq!(run(&h, "min(y)", MINUTE)[0].value, 1.0);
}

#[test]
fn comparisons_filter_or_give_zero_and_one_with_bool() {
    let h = history(vec![(
        MINUTE,
        vec![
            Sample::new("x", &[("job", "a")], 50.0),
            Sample::new("x", &[("job", "b")], 70.0),
        ],
    )]);
    let over = run(&h, "x > 60", MINUTE);
    assert_eq!(by(&over, "job"), pairs(&[("b", 70.0)]));
    assert!(over[0].labels.contains_key(METRIC_NAME));
    assert_eq!(by(&run(&h, "60 < x", MINUTE), "job"), pairs(&[("b", 70.0)]));
    let flags = run(&h, "x > bool 60", MINUTE);
    assert_eq!(by(&flags, "job"), pairs(&[("a", 0.0), ("b", 1.0)]));
    assert!(flags.iter().all(|e| !e.labels.contains_key(METRIC_NAME)));
    assert_eq!(
        by(&run(&h, "x * 2", MINUTE), "job"),
        pairs(&[("a", 100.0), ("b", 140.0)])
    );
    assert_eq!(
        run(&h, "1 > bool 2", MINUTE),
        vec![Element {
            labels: Labels::new(),
            value: 0.0
        }]
    );
}

#[test]
fn set_operators_and_one_to_one_matching() {
    let h = history(vec![(
        MINUTE,
        vec![
            Sample::new("a", &[("job", "1")], 1.0),
            Sample::new("a", &[("job", "2")], 2.0),
            Sample::new("b", &[("job", "2")], 20.0),
            Sample::new("b", &[("job", "3")], 30.0),
        ],
    )]);
    assert_eq!(by(&run(&h, "a and b", MINUTE), "job"), pairs(&[("2", 2.0)]));
    assert_eq!(
        by(&run(&h, "a unless b", MINUTE), "job"),
        pairs(&[("1", 1.0)])
    );
    assert_eq!(
        by(&run(&h, "a or b", MINUTE), "job"),
        pairs(&[("1", 1.0), ("2", 2.0), ("3", 30.0)])
    );
    let diff = run(&h, "a - on(job) b", MINUTE);
    assert_eq!(by(&diff, "job"), pairs(&[("2", -18.0)]));
    assert!(!diff[0].labels.contains_key(METRIC_NAME));
    // Ignoring `job` leaves two series of b with the same (empty) signature.
    let parsed = parse("a + ignoring(job) b").expect("parses");
    assert!(matches!(
        evaluate(&parsed, &h, MINUTE),
        Err(EvalError::Matching(_))
    ));
}

#[test]
fn absent_gives_the_equality_matchers_labels() {
    let h = history(vec![(MINUTE, vec![Sample::new("x", &[("job", "z")], 1.0)])]);
    let missing = run(&h, r#"absent(x{job="y", instance=~".+"})"#, MINUTE);
    let want: Labels = [("job".to_string(), "y".to_string())].into_iter().collect();
    assert_eq!(
        missing,
        vec![Element {
            labels: want,
            value: 1.0
        }]
    );
    assert!(run(&h, "absent(x)", MINUTE).is_empty());
}

#[test]
fn parse_refuses_what_the_evaluator_does_not_do() {
    for expr in [
        "x offset 5m",
        "topk(3, x)",
        "max_over_time(x[10m:1m])",
        "rate(x[5m])[30m:1m]",
        "x * on(job) group_left y",
        "x[5m]",
        "predict_linear(x[5m], 60)",
    ] {
        assert!(
            matches!(parse(expr), Err(EvalError::Unsupported(_))),
            "{expr}: {:?}",
            parse(expr)
        );
    }
    assert!(matches!(parse("x >"), Err(EvalError::Parse(_))));
    assert!(matches!(parse("1 > 2"), Err(EvalError::Parse(_))));
}

#[test]
fn metric_names_lists_the_selectors_names() {
    let expr = parse(r#"sum(rate(a[5m])) / b + on() {__name__="c"}"#).expect("parses");
    assert_eq!(metric_names(&expr), vec!["a", "b", "c"]);
}
