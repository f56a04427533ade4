//! Lockout and rate limits on failed logins, per account name and per client address.
//!
//! The rule: `account_failures` failed logins for one name within `window` lock that name
//! for `lockout`; `address_failures` failed logins from one address within `window` block
//! that address for `lockout`. While locked, no password is even checked (a correct one
//! included), so guessing gains nothing. Names are counted whether or not an account of
//! that name exists, so a lockout says nothing about which accounts exist. A successful
//! login clears its name's failures (not its address's: one right password among a spray
//! of wrong ones is still a spray).
//!
//! The state is kept in memory: a restart forgets it, which costs an attacker a restart
//! of the server they cannot cause. Its counts ([`LoginCounts`]) are what monitoring
//! reads.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Entries kept before the ones with nothing left to remember are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Failed logins of one account name that lock it.
    pub account_failures: u32,
    /// Failed logins from one address that block it.
    pub address_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a lock or block lasts.
    pub lockout: Duration,
}

impl Default for ThrottleRules {
    /// 5 failures per account, 30 per address, within 15 minutes, lock for 15 minutes.
    fn default() -> ThrottleRules {
        ThrottleRules {
            account_failures: 5,
            address_failures: 30,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a login is not even tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttled {
    /// The account name is locked for this long still.
    Account(Duration),
    /// The client address is blocked for this long still.
    Address(Duration),
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, left) = match self {
            Throttled::Account(left) => ("this account", left),
            Throttled::Address(left) => ("this address", left),
        };
        let minutes = left.as_secs().div_ceil(60).max(1);
        write!(
            f,
            "too many failed logins for {what}: try again in {minutes} minute(s)"
        )
    }
}

/// Figures for monitoring (`GET /api/logins`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoginCounts {
    /// Logins that succeeded since the server started.
    pub succeeded: u64,
    /// Logins that failed (wrong password, unknown or disabled account, directory refusal).
    pub failed: u64,
    /// Attempts refused unchecked because their name or address was locked.
    pub throttled: u64,
    /// Locks and blocks imposed.
    pub lockouts: u64,
    /// Account names locked now.
    pub locked_accounts: Vec<String>,
    /// Addresses blocked now.
    pub blocked_addresses: Vec<String>,
}

#[derive(Debug, Default)]
struct Failures {
    recent: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Failures {
    fn locked_for(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Records a failure; true when it imposes a lock.
    fn add(&mut self, now: Instant, limit: u32, rules: &ThrottleRules) -> bool {
        self.forget_before(now, rules.window);
        self.recent.push_back(now);
        if self.recent.len() >= limit.max(1) as usize && self.locked_for(now).is_none() {
            self.locked_until = Some(now + rules.lockout);
            self.recent.clear();
            return true;
        }
        false
    }

    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
    }

    fn is_idle(&mut self, now: Instant, window: Duration) -> bool {
        self.forget_before(now, window);
        self.recent.is_empty() && self.locked_for(now).is_none()
    }
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
    counts: LoginCounts,
}

/// Failed-login bookkeeping shared by the web login and the PostgreSQL protocol.
#[derive(Debug, Default)]
pub struct Throttle {
    rules: ThrottleRules,
    state: Mutex<State>,
}

impl Throttle {
    /// A throttle with these thresholds.
    pub fn new(rules: ThrottleRules) -> Throttle {
        Throttle {
            rules,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is counters only: one a panicking thread left half-updated is still
        // safe to read.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login of `name` from `address` may be tried now.
    pub fn check(&self, name: &str, address: IpAddr) -> Result<(), Throttled> {
        self.check_at(name, address, Instant::now())
    }

    fn check_at(&self, name: &str, address: IpAddr, now: Instant) -> Result<(), Throttled> {
        let mut state = self.state();
        let address_lock = state
            .addresses
            .get(&address)
            .and_then(|f| f.locked_for(now));
        let account_lock = state.accounts.get(name).and_then(|f| f.locked_for(now));
        let refusal = match (address_lock, account_lock) {
            (Some(left), _) => Throttled::Address(left),
            (None, Some(left)) => Throttled::Account(left),
            (None, None) => return Ok(()),
        };
        state.counts.throttled += 1;
        Err(refusal)
    }

    /// Records a failed login.
    pub fn failed(&self, name: &str, address: IpAddr) {
        self.failed_at(name, address, Instant::now());
    }

    fn failed_at(&self, name: &str, address: IpAddr, now: Instant) {
        let rules = self.rules;
        let mut state = self.state();
        state.counts.failed += 1;
        let mut imposed = 0;
        let account = state.accounts.entry(name.to_string()).or_default();
        imposed += u64::from(account.add(now, rules.account_failures, &rules));
        let address = state.addresses.entry(address).or_default();
        imposed += u64::from(address.add(now, rules.address_failures, &rules));
        state.counts.lockouts += imposed;
        if state.accounts.len() + state.addresses.len() > SWEEP_ABOVE {
            state.accounts.retain(|_, f| !f.is_idle(now, rules.window));
            state.addresses.retain(|_, f| !f.is_idle(now, rules.window));
        }
    }

    /// Records a successful login: its name's failures are forgotten.
    pub fn succeeded(&self, name: &str) {
        let mut state = self.state();
        state.counts.succeeded += 1;
        state.accounts.remove(name);
    }

    /// The figures now.
    pub fn counts(&self) -> LoginCounts {
        let now = Instant::now();
        let state = self.state();
        let mut counts = state.counts.clone();
        counts.locked_accounts = locked(&state.accounts, now, |name| name.clone());
        counts.blocked_addresses = locked(&state.addresses, now, |ip| ip.to_string());
        counts
    }
}

fn locked<K>(map: &HashMap<K, Failures>, now: Instant, show: impl Fn(&K) -> String) -> Vec<String> {
    let mut names: Vec<String> = map
        .iter()
        .filter(|(_, f)| f.locked_for(now).is_some())
        .map(|(k, _)| show(k))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ThrottleRules {
        ThrottleRules {
            account_failures: 3,
            address_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
        }
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn an_account_locks_after_its_limit_and_unlocks_after_the_lockout() {
        let throttle = Throttle::new(rules());
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(throttle.check_at("wang", HOME, t0).is_ok(), "attempt {i}");
            throttle.failed_at("wang", HOME, t0);
        }
        // Locked for every address, and for the right password too (never checked).
        assert!(matches!(
            throttle.check_at("wang", AWAY, t0),
            Err(Throttled::Account(_))
        ));
        assert!(throttle.check_at("li", AWAY, t0).is_ok());
        let later = t0 + Duration::from_secs(301);
        assert!(throttle.check_at("wang", AWAY, later).is_ok());
        let counts = throttle.counts();
        assert_eq!(
            (counts.failed, counts.lockouts, counts.throttled),
            (3, 1, 1)
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let throttle = Throttle::new(rules());
        let t0 = Instant::now();
        for minute in 0..6 {
            let at = t0 + Duration::from_secs(61 * minute);
            throttle.failed_at("wang", HOME, at);
            assert!(
                throttle.check_at("wang", HOME, at).is_ok(),
                "minute {minute}"
            );
        }
    }

    #[test]
    fn an_address_spraying_many_names_is_blocked() {
        let throttle = Throttle::new(rules());
        let t0 = Instant::now();
        for i in 0..5 {
            throttle.failed_at(&format!("user{i}"), HOME, t0);
        }
        assert!(matches!(
            throttle.check_at("anyone", HOME, t0),
            Err(Throttled::Address(_))
        ));
        assert!(throttle.check_at("anyone", AWAY, t0).is_ok());
        assert_eq!(throttle.counts().blocked_addresses, vec!["10.0.0.1"]);
    }

    #[test]
    fn a_success_forgets_the_names_failures() {
        let throttle = Throttle::new(rules());
        let t0 = Instant::now();
        throttle.failed_at("wang", HOME, t0);
        throttle.failed_at("wang", HOME, t0);
        throttle.succeeded("wang");
        throttle.failed_at("wang", HOME, t0);
        assert!(throttle.check_at("wang", HOME, t0).is_ok());
        let message = Throttled::Account(Duration::from_secs(90)).to_string();
        assert_eq!(
            message,
            "too many failed logins for this account: try again in 2 minute(s)"
        );
    }
}
