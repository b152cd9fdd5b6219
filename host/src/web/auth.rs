//! Who is asking: a bearer token (programs) or a session cookie (the console), and the
//! rules of each. A session's state-changing requests must carry its CSRF token; a token
//! that fails is answered slowly, and an address that keeps failing has its failures
//! turned away for a while (a valid token still gets in).

use super::client::Client;
use super::problem::Problem;
use super::state::AppState;
use crate::model::{Session, User};
use crate::service::{ErrorKind, Login, ServiceError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum_extra::extract::cookie::CookieJar;
use std::net::IpAddr;
use std::time::Instant;

/// The cookie that carries a console session's id.
pub const SESSION_COOKIE: &str = "connector_session";
/// The header that carries a session's CSRF token on API requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Checks a token from `ip`. A valid token always gets in; a failed check waits before
/// it is answered, and an address with too many recent failures is answered at once
/// with how long to wait.
pub async fn check_token(state: &AppState, ip: IpAddr, token: &str) -> Result<User, Problem> {
    match state.platform.access().authenticate(token).await {
        Ok(user) => Ok(user),
        Err(ServiceError::Unauthenticated) => {
            // Every failure waits, a throttled one too: guessing never gets faster.
            tokio::time::sleep(state.config.failed_login_delay).await;
            if let Some(wait) = state.throttle.wait(ip, Instant::now()) {
                return Err(Problem::throttled(wait));
            }
            state.throttle.failed(ip, Instant::now());
            Err(Problem::new(
                ErrorKind::Unauthenticated,
                "the token is not valid",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Logs in from `ip` with a token: the token, then a new session that lasts the
/// configured lifetime.
pub async fn log_in(state: &AppState, ip: IpAddr, token: &str) -> Result<Login, Problem> {
    let user = check_token(state, ip, token).await?;
    let lifetime = chrono::Duration::from_std(state.config.session_lifetime)
        .map_err(|e| Problem::invalid(format!("the session lifetime is out of range: {e}")))?;
    Ok(state.platform.access().login(user, lifetime).await?)
}

/// The client a request came from (see [`super::client::identify`]).
pub fn client(parts: &Parts) -> Client {
    parts.extensions.get::<Client>().copied().unwrap_or(Client {
        ip: IpAddr::from([0, 0, 0, 0]),
        https: false,
        via_proxy: false,
    })
}

/// Whether a browser sent this request from another site: `Sec-Fetch-Site` says so (a
/// header no page can set), or, from a browser that does not send it, `Origin` names
/// another host than the request's. A login from such a form would log the victim into
/// the attacker's session (login CSRF). `Origin` alone is not enough: under this host's
/// `Referrer-Policy: no-referrer`, browsers send `Origin: null` on their own forms too.
/// Clients that send neither header (scripts, curl) are not browsers on a page elsewhere.
/// `X-Forwarded-Host` counts only from a trusted proxy (`via_proxy`).
pub fn cross_site(headers: &HeaderMap, via_proxy: bool) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN) else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let host = text(header::HOST);
    let forwarded_host = text(HeaderName::from_static("x-forwarded-host")).filter(|_| via_proxy);
    match authority {
        Some(a) => !(host == Some(a) || forwarded_host == Some(a)),
        // `null` (a sandboxed frame, a data: page) or another scheme.
        None => true,
    }
}

/// The session a request's cookie names, if it names a live one.
pub async fn cookie_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, Session)>, Problem> {
    let jar = CookieJar::from_headers(headers);
    let Some(id) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    match state.platform.access().session(&id).await {
        Ok(session) => Ok(Some((id, session))),
        Err(ServiceError::Unauthenticated) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a method changes state (and so needs a session's CSRF token).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// An authenticated caller of the API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: User,
    /// What the caller came with: a console session, or the user's token.
    pub credential: Credential,
}

/// What a caller authenticated with: what per-session limits count by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A console session, by the SHA-256 of its id (the id itself is the cookie's secret).
    Session(String),
    /// The user's bearer token.
    Token,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Problem::new(
                        ErrorKind::Unauthenticated,
                        "the Authorization header must be `Bearer TOKEN`",
                    )
                })?;
            let user = check_token(state, client(parts).ip, token).await?;
            return Ok(Caller {
                user,
                credential: Credential::Token,
            });
        }
        let Some((id, session)) = cookie_session(state, &parts.headers).await? else {
            return Err(Problem::new(
                ErrorKind::Unauthenticated,
                "send `Authorization: Bearer TOKEN`, or log in",
            ));
        };
        if changes_state(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes())) {
                return Err(Problem::new(
                    ErrorKind::Forbidden,
                    format!(
                        "a session's changes must carry its CSRF token in the {CSRF_HEADER} header"
                    ),
                ));
            }
        }
        use sha2::Digest;
        Ok(Caller {
            user: session.user,
            credential: Credential::Session(hex::encode(sha2::Sha256::digest(id.as_bytes()))),
        })
    }
}

/// An authenticated caller who may change things.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Who.
    pub user: User,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Caller { user, .. } = Caller::from_request_parts(parts, state).await?;
        match user.role.may_change() {
            true => Ok(Admin { user }),
            false => Err(ServiceError::Forbidden {
                user: user.name,
                role: user.role,
            }
            .into()),
        }
    }
}

/// Compares secrets without telling by the time taken where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_form_posted_from_another_site_is_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        let host = ("host", "console.example:8443");
        for same in [
            vec![host, ("origin", "https://console.example:8443")],
            vec![host, ("sec-fetch-site", "same-origin")],
            // What a browser sends under `Referrer-Policy: no-referrer`.
            vec![host, ("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![host],
            vec![
                ("host", "127.0.0.1:9000"),
                ("x-forwarded-host", "console.example"),
                ("origin", "https://console.example"),
            ],
        ] {
            assert!(!cross_site(&headers(&same), true), "{same:?}");
        }
        for other in [
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "null")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![
                host,
                ("origin", "http://console.example:8443"),
                ("sec-fetch-site", "same-site"),
            ],
            vec![
                host,
                ("origin", "https://console.example:8443.evil.example"),
            ],
        ] {
            assert!(cross_site(&headers(&other), true), "{other:?}");
        }
    }

    #[test]
    fn a_forwarded_host_counts_only_from_a_trusted_proxy() {
        let mut map = HeaderMap::new();
        map.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        map.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        map.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(cross_site(&map, false));
        assert!(!cross_site(&map, true));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
