//! Errors as `application/problem+json` (RFC 9457), typed by the service's error kinds.

use crate::policy::failure::FailureClass;
use crate::service::{ErrorKind, ServiceError, TestReport};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Where the problem types are named.
const TYPE_BASE: &str = "/api/v1/problems#";

/// An error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// What kind of problem (a URI reference): `…#invalid`, `…#not-found`, `…#conflict`,
    /// `…#connection-test`, `…#busy`, `…#store-unreachable`, `…#unauthenticated`,
    /// `…#forbidden`, or `…#failed-CLASS` with the failure's class.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and what to do, secrets scrubbed.
    pub detail: String,
    /// The connection test's steps, for a failed test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<TestReport>>,
    /// Seconds to wait before trying again, sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let (status, name, title) = describe(kind);
        Problem {
            kind: format!("{TYPE_BASE}{name}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            report: None,
            retry_after: None,
        }
    }

    /// Too many failed logins from one address.
    pub fn throttled(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs().max(1);
        Problem {
            kind: format!("{TYPE_BASE}throttled"),
            title: "Too many failed logins",
            status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            detail: format!("too many failed logins from this address; try again in {seconds} s"),
            report: None,
            retry_after: Some(seconds),
        }
    }

    /// Too many event streams open: the caller's own, or all of them.
    pub fn too_many_streams(detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("{TYPE_BASE}too-many-streams"),
            title: "Too many event streams",
            status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            detail: detail.into(),
            report: None,
            retry_after: Some(5),
        }
    }

    /// A request body larger than the route takes.
    pub fn too_large(limit: usize) -> Self {
        Problem {
            kind: format!("{TYPE_BASE}too-large"),
            title: "Request body too large",
            status: StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
            detail: format!(
                "the body is larger than the {} MiB this route takes",
                limit >> 20
            ),
            report: None,
            retry_after: None,
        }
    }

    /// A request the API cannot read (bad JSON, a bad query parameter).
    pub fn invalid(detail: impl Into<String>) -> Self {
        Problem::new(ErrorKind::Invalid, detail)
    }
}

fn describe(kind: ErrorKind) -> (StatusCode, String, &'static str) {
    let (status, name, title) = match kind {
        ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid", "The request is invalid"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        ErrorKind::Conflict => (
            StatusCode::CONFLICT,
            "conflict",
            "It clashes with what exists",
        ),
        ErrorKind::ConnectionTest => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "connection-test",
            "The connection test failed",
        ),
        ErrorKind::Busy => (StatusCode::CONFLICT, "busy", "A sync is already running"),
        ErrorKind::StoreUnreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unreachable",
            "The database cannot be reached",
        ),
        ErrorKind::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "A valid token or session is needed",
        ),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
        ErrorKind::Failed(class) => {
            let status = match class {
                FailureClass::Transient => StatusCode::SERVICE_UNAVAILABLE,
                FailureClass::Auth | FailureClass::Permission => StatusCode::BAD_GATEWAY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return (
                status,
                format!("failed-{}", class.as_str()),
                "The operation failed",
            );
        }
    };
    (status, name.to_string(), title)
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        let mut problem = Problem::new(e.kind(), e.to_string());
        if let ServiceError::ConnectionTest { report, saved } = e {
            // The CLI's wording names its flag; the API's names its field.
            problem.detail = format!(
                "connection test failed{}: {}",
                if saved {
                    ""
                } else {
                    ", nothing saved (send \"test\": false to save anyway)"
                },
                report.error.as_deref().unwrap_or("unknown error")
            );
            problem.report = Some(Box::new(report));
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if unauthenticated {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"connector-host\""),
            );
        }
        response
    }
}
