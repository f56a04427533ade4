//! Web sessions: a random id in an HttpOnly cookie, a CSRF token per session, an expiry,
//! kept in the catalog.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::Local;
use medlake_catalog::Catalog;

use crate::accounts::{fill_random, token_hash, Principal, Role};
use crate::Result;

/// Name of the session cookie.
pub const COOKIE: &str = "medlake_session";

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who logged in.
    pub principal: Principal,
    /// The token every state-changing request of this session must echo in `X-CSRF-Token`.
    pub csrf: String,
}

/// The web sessions, kept in the catalog: a restart of the server logs nobody out, and
/// servers sharing a catalog share them. Only a hash of each session id is stored.
pub struct Sessions {
    catalog: Arc<Catalog>,
    lifetime: Duration,
}

impl Sessions {
    /// Sessions in `catalog` that last `lifetime` from login.
    pub fn new(catalog: Arc<Catalog>, lifetime: Duration) -> Sessions {
        Sessions { catalog, lifetime }
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Starts a session for `principal`; returns its id (the cookie value).
    pub fn start(&self, principal: &Principal) -> Result<String> {
        let id = random_token();
        let now = Local::now().naive_local();
        let lifetime = chrono::Duration::from_std(self.lifetime)
            .unwrap_or_else(|_| chrono::Duration::days(365));
        self.catalog.start_web_session(
            &token_hash(&id),
            &principal.name,
            &random_token(),
            now + lifetime,
            now,
        )?;
        Ok(id)
    }

    /// The session `id` stands for, unless it is unknown, expired, or its account is
    /// disabled (or the catalog cannot say: then nobody is let in).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Local::now().naive_local();
        let stored = match self.catalog.web_session(&token_hash(id), now) {
            Ok(stored) => stored?,
            Err(e) => {
                tracing::error!(error = %e, "cannot read web sessions");
                return None;
            }
        };
        let role = Role::parse(&stored.role).ok()?;
        Some(Session {
            principal: Principal {
                name: stored.account,
                role,
            },
            csrf: stored.csrf,
        })
    }

    /// Ends a session.
    pub fn end(&self, id: &str) -> Result<()> {
        Ok(self.catalog.end_web_session(&token_hash(id))?)
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
    fn a_session_lives_until_it_expires_or_ends_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let catalog = Arc::new(Catalog::open(&path).unwrap());
        let accounts = crate::Accounts::new(catalog.clone()).unwrap();
        accounts.create("wang", Role::Viewer, None).unwrap();
        let sessions = Sessions::new(catalog, Duration::from_secs(60));
        let id = sessions.start(&who()).unwrap();
        assert_eq!(sessions.get(&id).unwrap().principal, who());
        assert!(sessions.get("forged").is_none());

        // A new server on the same catalog knows the session.
        let restarted = Sessions::new(
            Arc::new(Catalog::open(&path).unwrap()),
            Duration::from_secs(60),
        );
        assert_eq!(restarted.get(&id).unwrap().principal, who());
        restarted.end(&id).unwrap();
        assert!(sessions.get(&id).is_none());

        let short = Sessions::new(Arc::new(Catalog::open(&path).unwrap()), Duration::ZERO);
        let id = short.start(&who()).unwrap();
        assert!(short.get(&id).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
