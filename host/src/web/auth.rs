//! Who is asking: a bearer token (programs) or a session cookie (the console), and the
//! rules of each. A session's state-changing requests must carry its CSRF token; a token
//! that fails is answered slowly, and an address that keeps failing is turned away for a
//! while.

use super::problem::Problem;
use super::state::AppState;
use crate::model::{Session, User};
use crate::service::{ErrorKind, Login, ServiceError};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::cookie::CookieJar;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that carries a console session's id.
pub const SESSION_COOKIE: &str = "connector_session";
/// The header that carries a session's CSRF token on API requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failed token checks an address may make within [`FAILURE_WINDOW`].
const MAX_FAILURES: usize = 10;
/// How far back failed checks count.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses the throttle remembers before it forgets the quiet ones.
const REMEMBERED: usize = 10_000;

/// Recent failed token checks by address.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// How long `ip` must wait before it may try again, if it must.
    fn wait(&self, ip: IpAddr, at: Instant) -> Option<Duration> {
        let mut all = self.failures.lock().expect("throttle lock");
        let recent = all.get_mut(&ip)?;
        while recent
            .front()
            .is_some_and(|t| at.duration_since(*t) > FAILURE_WINDOW)
        {
            recent.pop_front();
        }
        let oldest = *recent.front()?;
        (recent.len() >= MAX_FAILURES)
            .then(|| FAILURE_WINDOW.saturating_sub(at.duration_since(oldest)))
    }

    /// Notes a failed check from `ip`.
    fn failed(&self, ip: IpAddr, at: Instant) {
        let mut all = self.failures.lock().expect("throttle lock");
        if all.len() >= REMEMBERED {
            all.retain(|_, r| {
                r.back()
                    .is_some_and(|t| at.duration_since(*t) <= FAILURE_WINDOW)
            });
        }
        let recent = all.entry(ip).or_default();
        recent.push_back(at);
        if recent.len() > MAX_FAILURES {
            recent.pop_front();
        }
    }
}

/// Checks a token for `ip`: the throttle first, then the store; a failure waits before
/// it is answered.
pub async fn check_token(
    state: &AppState,
    ip: Option<IpAddr>,
    token: &str,
) -> Result<User, Problem> {
    let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Some(wait) = state.throttle.wait(ip, Instant::now()) {
        return Err(Problem::throttled(wait));
    }
    match state.platform.access().authenticate(token).await {
        Ok(user) => Ok(user),
        Err(ServiceError::Unauthenticated) => {
            state.throttle.failed(ip, Instant::now());
            tokio::time::sleep(state.config.failed_login_delay).await;
            Err(Problem::new(
                ErrorKind::Unauthenticated,
                "the token is not valid",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Logs in from `ip` with a token: the throttle, the token, then a new session that lasts
/// the configured lifetime.
pub async fn log_in(state: &AppState, ip: IpAddr, token: &str) -> Result<Login, Problem> {
    let user = check_token(state, Some(ip), token).await?;
    let lifetime = chrono::Duration::from_std(state.config.session_lifetime)
        .map_err(|e| Problem::invalid(format!("the session lifetime is out of range: {e}")))?;
    Ok(state.platform.access().login(user, lifetime).await?)
}

/// The address a request came from.
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
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
            let user = check_token(state, peer(parts), token).await?;
            return Ok(Caller { user });
        }
        let Some((_, session)) = cookie_session(state, &parts.headers).await? else {
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
        Ok(Caller { user: session.user })
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
        let Caller { user } = Caller::from_request_parts(parts, state).await?;
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
    fn an_address_that_keeps_failing_waits_then_may_try_again() {
        let throttle = LoginThrottle::default();
        let (ip, start) = (IpAddr::from([10, 0, 0, 1]), Instant::now());
        for i in 0..MAX_FAILURES {
            assert_eq!(
                throttle.wait(ip, start),
                None,
                "failure {i} is still allowed"
            );
            throttle.failed(ip, start);
        }
        let wait = throttle.wait(ip, start + Duration::from_secs(1)).unwrap();
        assert!(wait <= FAILURE_WINDOW && wait >= FAILURE_WINDOW - Duration::from_secs(2));
        assert_eq!(
            throttle.wait(IpAddr::from([10, 0, 0, 2]), start),
            None,
            "others are not"
        );
        let later = start + FAILURE_WINDOW + Duration::from_secs(1);
        assert_eq!(throttle.wait(ip, later), None, "the window passes");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
