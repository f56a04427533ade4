//! Same parameters give the same rows; different seeds differ; days written one call
//! at a time equal days written in one call; parameters are checked on continuation.

use crate::common::{dump_sqlite, params, run_sqlite};
use medlake_sim::{simulate, BusinessWriter, Faults, SimError, Simulator, Target};

#[test]
fn same_seed_same_transactions_different_seed_differs() {
    let a = Simulator::new(params(1, 0.003)).unwrap();
    let b = Simulator::new(params(1, 0.003)).unwrap();
    let c = Simulator::new(params(2, 0.003)).unwrap();
    assert!(a.initial_population().eq(b.initial_population()));
    for day in 0..3 {
        assert_eq!(a.day_events(day), b.day_events(day), "day {day}");
    }
    assert_ne!(a.day_events(1), c.day_events(1));
    assert!(!a.initial_population().eq(c.initial_population()));
}

#[tokio::test]
async fn one_call_equals_day_by_day_and_same_seed_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(11, 0.004);
    let (all, daily, other) = (
        dir.path().join("all.db"),
        dir.path().join("daily.db"),
        dir.path().join("other.db"),
    );
    let state = run_sqlite(&all, &p, 5).await;
    assert_eq!(
        (state.days_done, state.population_loaded, state.txns_done),
        (5, true, 0)
    );
    run_sqlite(&daily, &p, 0).await;
    for day in 1..=5 {
        assert_eq!(run_sqlite(&daily, &p, 1).await.days_done, day);
    }
    let dump = dump_sqlite(&all);
    assert!(
        dump.iter().all(|(_, rows)| !rows.is_empty()),
        "every table has rows"
    );
    assert_eq!(dump, dump_sqlite(&daily));
    run_sqlite(&other, &params(12, 0.004), 5).await;
    assert_ne!(dump, dump_sqlite(&other));
}

#[tokio::test]
async fn continuing_with_other_parameters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    run_sqlite(&path, &params(3, 0.002), 1).await;
    for other in [params(4, 0.002), params(3, 0.003), {
        let mut p = params(3, 0.002);
        p.start = p.start.succ_opt().unwrap();
        p
    }] {
        let mut w = BusinessWriter::open(&Target::Sqlite(path.clone()))
            .await
            .unwrap();
        let err = simulate(&mut w, &other, 1, &Faults::none(), |_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, SimError::ParamsMismatch { .. }), "{err}");
        assert!(err.to_string().contains("seed=3"), "{err}");
    }
    let mut w = BusinessWriter::open(&Target::Sqlite(path)).await.unwrap();
    assert_eq!(w.state().await.unwrap().unwrap().days_done, 1);
}

#[test]
fn bad_parameters_and_targets_are_errors() {
    assert!(matches!(
        Simulator::new(params(1, 0.0)),
        Err(SimError::InvalidParams(_))
    ));
    assert!(matches!(
        Target::parse("ftp://x/y"),
        Err(SimError::BadUrl(_))
    ));
}
