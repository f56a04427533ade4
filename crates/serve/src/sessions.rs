//! Web sessions: a random id in an HttpOnly cookie, a CSRF token per session, an expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::accounts::{fill_random, Principal};

/// Name of the session cookie.
pub const COOKIE: &str = "medlake_session";

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who logged in.
    pub principal: Principal,
    /// The token every state-changing request of this session must echo in `X-CSRF-Token`.
    pub csrf: String,
    expires: Instant,
}

/// The live sessions of one server (in memory: a restart logs everyone out).
pub struct Sessions {
    lifetime: Duration,
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Sessions that last `lifetime` from login.
    pub fn new(lifetime: Duration) -> Sessions {
        Sessions {
            lifetime,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Starts a session for `principal`; returns its id (the cookie value).
    pub fn start(&self, principal: Principal) -> String {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            expires: Instant::now() + self.lifetime,
        };
        let mut live = self.lock();
        let now = Instant::now();
        live.retain(|_, s| s.expires > now);
        live.insert(id.clone(), session);
        id
    }

    /// The session `id` stands for, unless it is unknown or expired.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut live = self.lock();
        match live.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                live.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Role;

    fn who() -> Principal {
        Principal {
            name: "wang".into(),
            role: Role::Viewer,
        }
    }

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.start(who());
        assert_eq!(sessions.get(&id).unwrap().principal, who());
        assert!(sessions.get("forged").is_none());
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        let short = Sessions::new(Duration::ZERO);
        let id = short.start(who());
        assert!(short.get(&id).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
