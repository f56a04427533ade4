//! Who is asking: bearer API tokens and session cookies (with the session's CSRF token on
//! every request that is not a GET), checked by the `Caller` extractor before any API
//! handler runs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{ApiError, AppState};
use crate::accounts::Principal;
use crate::sessions::{same_secret, COOKIE as SESSION_COOKIE};

/// Who sent a request, and whether it came with a session (which needs CSRF checks).
pub(super) struct Caller {
    pub(super) principal: Principal,
    pub(super) session_csrf: Option<String>,
}

pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every API handler takes a `Caller`: the request is refused before the handler runs
/// unless it carries a valid token or session (and CSRF token).
impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        state.caller(&parts.method, &parts.headers)
    }
}

impl AppState {
    /// Authenticates a request by bearer token or session cookie. For a session, a
    /// request that is not a GET must carry the session's CSRF token.
    pub(super) fn caller(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or_else(ApiError::unauthenticated)?;
            let principal = self
                .logins
                .accounts()
                .token_principal(token.trim())
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "the API token is not valid",
                    )
                })?;
            return Ok(Caller {
                principal,
                session_csrf: None,
            });
        }
        let id = cookie_value(headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
        let session = self.sessions.get(id).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the session has expired or ended; log in again",
            )
        })?;
        if method != Method::GET {
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same_secret(sent, &session.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "the request's CSRF token does not match the session",
                ));
            }
        }
        Ok(Caller {
            principal: session.principal,
            session_csrf: Some(session.csrf),
        })
    }

    pub(super) fn session_cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.options.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        );
        // Built from base64url and digits only.
        HeaderValue::from_str(&cookie).expect("a cookie of safe characters")
    }
}

/// Lets `caller` through when their role is one of `roles`; anyone else is refused with a
/// 403 saying who may (`who`, e.g. "an admin") do `what`, and the refusal is audited.
pub(super) fn only_roles(
    state: &AppState,
    caller: &Caller,
    roles: &[crate::accounts::Role],
    who: &str,
    what: &str,
) -> Result<(), ApiError> {
    if roles.contains(&caller.principal.role) {
        return Ok(());
    }
    let message = format!("only {who} may {what}");
    let entry = medlake_catalog::AuditEntry {
        account: &caller.principal.name,
        channel: crate::query::Channel::Http.as_str(),
        statement: what,
        outcome: "refused",
        error: Some(&message),
        ..medlake_catalog::AuditEntry::default()
    };
    if let Err(e) = state.queries.catalog().audit(&entry) {
        tracing::error!(error = %e, "cannot write the query audit");
    }
    Err(ApiError::new(StatusCode::FORBIDDEN, "refused", message))
}
