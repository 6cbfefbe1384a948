//! The one error type of the worker, and the one place that maps it to a status and the public JSON
//! body `{"error": "<code>", "error_description": "<sentence>"}`. Internal detail (D1 messages, WorkOS
//! request ids, reasons a token failed) goes to the log line of the request, never to the client.

use std::borrow::Cow;

use worker::{Headers, Response};

#[derive(Debug)]
pub enum AppError {
    /// The caller's mistake or a refused credential: a public code and sentence, nothing internal.
    /// `detail` is for the log only (for example which token check failed).
    Client {
        status: u16,
        code: &'static str,
        description: Cow<'static, str>,
        detail: Option<String>,
    },
    MethodNotAllowed {
        allow: &'static str,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    /// WorkOS answered with an error we pass on (400 invalid_grant, 403 step-up) or failed (502).
    Upstream {
        status: u16,
        code: String,
        description: String,
        detail: String,
    },
    /// A variable or secret is missing or unusable. The name is public (operators need it); the value never is.
    Misconfigured {
        var: &'static str,
        problem: &'static str,
    },
    /// Our own fault. The client sees only `internal_error` and the request id.
    Internal {
        detail: String,
    },
}

impl AppError {
    pub fn client(
        status: u16,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        AppError::Client {
            status,
            code,
            description: description.into(),
            detail: None,
        }
    }
    pub fn bad_request(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::client(400, code, description)
    }
    pub fn unauthorized(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::client(401, code, description)
    }
    pub fn forbidden(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::client(403, code, description)
    }
    pub fn not_found(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::client(404, code, description)
    }
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::client(
            413,
            "payload_too_large",
            format!("The request body is larger than {limit_bytes} bytes."),
        )
    }
    /// A 400 that names the offending field, as every input check should.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Self::bad_request("invalid_request", format!("`{field}` {problem}."))
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        AppError::Internal {
            detail: detail.into(),
        }
    }
    /// Attach log-only detail to a client error (ignored for other kinds).
    pub fn with_detail(mut self, why: impl Into<String>) -> Self {
        if let AppError::Client { detail, .. } = &mut self {
            *detail = Some(why.into());
        }
        self
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Client { status, .. } | AppError::Upstream { status, .. } => *status,
            AppError::MethodNotAllowed { .. } => 405,
            AppError::RateLimited { .. } => 429,
            AppError::Misconfigured { .. } | AppError::Internal { .. } => 500,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            AppError::Client { code, .. } => code,
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Upstream { code, .. } => code,
            AppError::Misconfigured { .. } => "server_misconfigured",
            AppError::Internal { .. } => "internal_error",
        }
    }

    pub fn description(&self) -> Cow<'_, str> {
        match self {
            AppError::Client { description, .. } => Cow::Borrowed(description.as_ref()),
            AppError::MethodNotAllowed { allow } => {
                Cow::Owned(format!("This route allows only: {allow}."))
            }
            AppError::RateLimited { retry_after_secs } => Cow::Owned(format!(
                "Too many requests; retry after {retry_after_secs} seconds."
            )),
            AppError::Upstream { description, .. } => Cow::Borrowed(description.as_str()),
            AppError::Misconfigured { var, problem } => {
                Cow::Owned(format!("The server is misconfigured: {var} {problem}."))
            }
            AppError::Internal { .. } => {
                Cow::Borrowed("An internal error occurred; quote the request id to the operator.")
            }
        }
    }

    /// What the log line of the request records beyond the public code.
    pub fn log_detail(&self) -> Option<String> {
        match self {
            AppError::Client { detail, .. } => detail.clone(),
            AppError::Upstream { detail, .. } => Some(detail.clone()),
            AppError::Misconfigured { var, problem } => Some(format!("{var} {problem}")),
            AppError::Internal { detail } => Some(detail.clone()),
            AppError::MethodNotAllowed { .. } | AppError::RateLimited { .. } => None,
        }
    }

    /// The single mapping to an HTTP response.
    pub fn to_response(&self) -> Response {
        let headers = Headers::new();
        match self {
            AppError::MethodNotAllowed { allow } => {
                let _ = headers.set("Allow", allow);
            }
            AppError::RateLimited { retry_after_secs } => {
                let _ = headers.set("Retry-After", &retry_after_secs.to_string());
            }
            AppError::Client { status: 401, .. } => {
                // RFC 6750 §3: tell Bearer clients how they failed, without details.
                let _ = headers.set("WWW-Authenticate", "Bearer realm=\"auth\"");
            }
            _ => {}
        }
        error_body_response(self.status(), self.code(), &self.description(), headers)
    }
}

/// Builds `{"error","error_description"}` with `Cache-Control: no-store`; also used for errors that
/// never became an [`AppError`]. Cannot fail.
pub fn error_body_response(
    status: u16,
    code: &str,
    description: &str,
    headers: Headers,
) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.to_string().into_bytes())
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::internal(format!("worker: {e}"))
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::internal(format!("json: {e}"))
    }
}
