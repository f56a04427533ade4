//! The pages: the login form (and logging in and out), the web UI's one page and its
//! embedded static files, each served with a strict Content-Security-Policy.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tracing::info;

use super::auth::cookie_value;
use super::{escape_html, ApiError, AppState, ClientAddr};
use crate::login::{Attempt, LoginRefusal};
use crate::sessions::COOKIE as SESSION_COOKIE;

fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn login_html(message: Option<&str>) -> String {
    let message = message
        .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, escape_html(m)))
        .unwrap_or_default();
    crate::web::LOGIN_HTML.replace("{{message}}", &message)
}

pub(super) async fn login_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.caller(&Method::GET, &headers).is_ok() {
        return redirect("/");
    }
    page(login_html(None))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
}

pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    let attempt = Attempt {
        name: form.name.trim(),
        // Without a listener (tests) every attempt counts against one address.
        address: client.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        channel: "http",
        secure: state.tls,
    };
    let checked = state
        .logins
        .web_login(&attempt, form.password, state.tls)
        .await;
    match checked {
        Ok(principal) => {
            let id = match state.sessions.start(&principal) {
                Ok(id) => id,
                Err(e) => return ApiError::internal(e).into_response(),
            };
            let mut response = redirect("/");
            let max_age = state.sessions.lifetime().as_secs();
            response
                .headers_mut()
                .insert(SET_COOKIE, state.session_cookie(&id, max_age));
            response
        }
        Err(refusal) => {
            let (status, message) = match &refusal {
                LoginRefusal::WrongCredentials(_) => (
                    StatusCode::UNAUTHORIZED,
                    "Wrong account name or password. 账号或密码错误。".to_string(),
                ),
                LoginRefusal::Throttled(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{}. 登录失败次数过多，请稍后再试。", refusal.shown()),
                ),
                LoginRefusal::NeedsTls { .. } => (StatusCode::FORBIDDEN, refusal.shown()),
                LoginRefusal::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, refusal.shown()),
            };
            let mut response = page(login_html(Some(&message)));
            *response.status_mut() = status;
            response
        }
    }
}

pub(super) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match state.caller(&Method::POST, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(e) = state.sessions.end(id) {
            return ApiError::internal(e).into_response();
        }
    }
    info!(account = %caller.principal.name, "web logout");
    let mut response = redirect("/login");
    response
        .headers_mut()
        .insert(SET_COOKIE, state.session_cookie("", 0));
    response
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static(to))],
    )
        .into_response()
}

pub(super) async fn app_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.caller(&Method::GET, &headers) {
        Ok(_) => page(crate::web::APP_HTML.to_string()),
        Err(_) => redirect("/login"),
    }
}

pub(super) async fn static_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    match crate::web::asset(&file) {
        Some((content_type, body)) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
            ],
            body,
        )
            .into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such file").into_response(),
    }
}
