//! The scheduler (`[schedule]`): simulated business days arrive and are synced, built and
//! checked by `medlake serve` with no command typed; a server stopped while days arrive
//! catches them up in order when it starts again; two schedulers (`medlake schedule run`)
//! on one catalog never run the same day twice, and the one standing by takes over when
//! the other stops.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use medlake_catalog::{Catalog, DayState, Outcome, RunKind, ScheduleDay};

use crate::common::{days, Sandbox};
use crate::serve::start_server;

const START: &str = "2026-03-01";

/// A sandbox whose `medlake.toml` schedules sync, build and check of every day the
/// simulator finishes, looking for work every second.
fn scheduled_sandbox() -> Sandbox {
    let sandbox = Sandbox::sqlite();
    std::fs::write(
        sandbox.dir.path().join("medlake.toml"),
        format!(
            "[schedule]\nsteps = [\"sync\", \"build\", \"check\"]\nready = \"simulator\"\n\
             from = \"{START}\"\npoll = \"1s\"\nlease_ttl = \"4s\"\nretries = 0\n"
        ),
    )
    .unwrap();
    sandbox
}

/// Plays one more business day into the business database.
fn simulate_one_day(sandbox: &Sandbox) {
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.003", "--seed", "9", "--start", START,
    ]);
}

fn catalog(sandbox: &Sandbox) -> Catalog {
    Catalog::connect(sandbox.dir.path().join("catalog.db").to_str().unwrap()).unwrap()
}

fn book(sandbox: &Sandbox) -> BTreeMap<String, ScheduleDay> {
    catalog(sandbox)
        .schedule_days(None, 1_000)
        .unwrap()
        .into_iter()
        .map(|d| (d.day.to_string(), d))
        .collect()
}

/// Waits until every day in `wanted` has succeeded; fails on a day that failed.
fn wait_for_days(sandbox: &Sandbox, wanted: &[String], schedulers: &mut [Child]) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let book = book(sandbox);
        for d in book.values() {
            assert_ne!(
                d.state,
                DayState::Failed,
                "{} failed: {:?}",
                d.day,
                d.message
            );
        }
        if wanted
            .iter()
            .all(|w| book.get(w).is_some_and(|d| d.state == DayState::Succeeded))
        {
            return;
        }
        for s in schedulers.iter_mut() {
            if let Ok(Some(status)) = s.try_wait() {
                let log = std::fs::read_to_string(
                    sandbox.dir.path().join(format!("scheduler-{}.log", s.id())),
                );
                panic!("a scheduler exited: {status}\n{}", log.unwrap_or_default());
            }
        }
        assert!(
            Instant::now() < deadline,
            "days {wanted:?} not done: {book:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Starts `medlake schedule run`, its output in `scheduler-<pid>.log`.
fn start_scheduler(sandbox: &Sandbox) -> Child {
    let log = tempfile::NamedTempFile::new_in(sandbox.dir.path()).unwrap();
    let child = sandbox
        .command(&["schedule", "run"])
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("medlake starts");
    log.persist(
        sandbox
            .dir
            .path()
            .join(format!("scheduler-{}.log", child.id())),
    )
    .unwrap();
    child
}

/// Stops a scheduler as Ctrl-C does (it gives its lease up).
fn interrupt(child: &mut Child) {
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

/// Succeeded build runs per (model, day); every build run of the sandbox.
fn build_runs(sandbox: &Sandbox) -> (BTreeMap<(String, String), usize>, usize) {
    let runs = catalog(sandbox).recent_runs(100_000).unwrap();
    let builds: Vec<_> = runs.iter().filter(|r| r.kind == RunKind::Build).collect();
    let mut succeeded = BTreeMap::new();
    for r in &builds {
        if r.outcome == Outcome::Succeeded {
            let key = (
                r.target.clone(),
                r.dt.map(|d| d.to_string()).unwrap_or_default(),
            );
            *succeeded.entry(key).or_insert(0) += 1;
        }
    }
    (succeeded, builds.len())
}

#[test]
fn arriving_days_are_built_without_a_command_and_a_restart_catches_up_in_order() {
    let sandbox = scheduled_sandbox();
    let all = days(START, 5);
    simulate_one_day(&sandbox);
    // From a cold start, `medlake serve` runs the scheduler of `[schedule]`.
    let (mut scheduler, _, _) = start_server(&sandbox, &[]);
    // Three business days arrive one after another; each is synced, built and checked.
    for n in 1..=3 {
        if n > 1 {
            simulate_one_day(&sandbox);
        }
        wait_for_days(&sandbox, &all[..n], std::slice::from_mut(&mut scheduler));
    }
    let (succeeded, _) = build_runs(&sandbox);
    for day in &all[..3] {
        assert!(
            succeeded.keys().any(|(_, d)| d == day),
            "no build of {day}: {succeeded:?}"
        );
        let checked = catalog(&sandbox)
            .recent_runs(100_000)
            .unwrap()
            .iter()
            .any(|r| r.kind == RunKind::Check && r.dt.map(|d| d.to_string()).as_ref() == Some(day));
        assert!(checked, "{day} was not checked");
    }
    // Down while two more days arrive; started again, it catches up, oldest first.
    interrupt(&mut scheduler);
    simulate_one_day(&sandbox);
    simulate_one_day(&sandbox);
    assert!(
        !book(&sandbox).contains_key(&all[3]),
        "nothing runs while it is down"
    );
    let (mut scheduler, _, _) = start_server(&sandbox, &[]);
    wait_for_days(&sandbox, &all, std::slice::from_mut(&mut scheduler));
    interrupt(&mut scheduler);
    let book = book(&sandbox);
    let (fourth, fifth) = (&book[&all[3]], &book[&all[4]]);
    assert!(
        fourth.finished.unwrap() <= fifth.started.unwrap(),
        "the missed days ran in order: {fourth:?} {fifth:?}"
    );
    for day in &all {
        assert_eq!(book[day].attempts, 1, "{day} ran once");
    }
    // The status command shows the book.
    let out = sandbox.run(&["schedule", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&all[4]) && text.contains("succeeded"),
        "{text}"
    );
}

#[test]
fn two_schedulers_never_run_the_same_day_twice_and_the_standby_takes_over() {
    let sandbox = scheduled_sandbox();
    let all = days(START, 4);
    for _ in 0..3 {
        simulate_one_day(&sandbox);
    }
    let mut schedulers = vec![start_scheduler(&sandbox), start_scheduler(&sandbox)];
    wait_for_days(&sandbox, &all[..3], &mut schedulers);
    let (succeeded, total) = build_runs(&sandbox);
    assert!(!succeeded.is_empty());
    for ((model, day), n) in &succeeded {
        assert_eq!(*n, 1, "{model} of {day} was built {n} times");
    }
    assert_eq!(
        total,
        succeeded.values().sum::<usize>(),
        "no build ran twice, even failed"
    );
    let book = book(&sandbox);
    let holders: Vec<&str> = book.values().map(|d| d.holder.as_str()).collect();
    assert!(
        holders.windows(2).all(|w| w[0] == w[1]),
        "one scheduler ran every day: {holders:?}"
    );
    for d in book.values() {
        assert_eq!(d.attempts, 1, "{} claimed once", d.day);
    }
    // The acting scheduler stops; the one standing by takes the next day.
    let lease = catalog(&sandbox).lease("scheduler").unwrap().unwrap();
    let acting = schedulers
        .iter()
        .position(|c| lease.holder.contains(&format!(":{}:", c.id())))
        .expect("the lease names one of the two processes");
    let mut first = schedulers.remove(acting);
    interrupt(&mut first);
    simulate_one_day(&sandbox);
    wait_for_days(&sandbox, &all, &mut schedulers);
    let fourth = &self::book(&sandbox)[&all[3]];
    assert_ne!(fourth.holder, lease.holder, "the standby ran the new day");
    assert!(fourth.token > lease.token, "with a newer fencing token");
    interrupt(&mut schedulers[0]);
}
