//! Credentialed CORS for browser apps on the origins in `ALLOWED_RETURN_ORIGINS`, on the session
//! routes such an app calls (the router says which, with [`super::Route::cors_methods`]). The
//! decisions are `domain::browser`'s; this module reads the request headers and writes the answer.
//!
//! Must not: answer for any origin that is not configured exactly, use `*`, or relax the CSRF rule
//! (a cookie-authenticated state change still needs an allowed `Origin`, `super::check_same_origin`).

use worker::{Headers, Request, Response};

use crate::config::Config;
use crate::domain::browser::{
    self, PreflightRefusal, CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECS,
};
use crate::error::{AppError, Code};

/// What one request of a CORS route gets on its response, whatever the outcome.
pub struct Cors {
    /// The allowed origin that asked, named back with credentials allowed; `None` for same-origin
    /// requests, programs and origins that are not allowed (they get no CORS headers at all).
    origin: Option<String>,
}

impl Cors {
    /// For a request to a route that serves browser apps.
    pub fn for_request(req: &Request, cfg: &Config) -> Cors {
        let origin = header(req, "origin");
        Cors {
            origin: browser::cors_origin(origin.as_deref(), &cfg.allowed_origins)
                .map(str::to_owned),
        }
    }

    /// Adds the headers: `Vary: Origin` always (the answer depends on it, so no cache may mix them),
    /// the grant only for an allowed origin.
    pub fn apply(&self, headers: &Headers) {
        let _ = headers.append("Vary", "Origin");
        if let Some(origin) = &self.origin {
            let _ = headers.set("Access-Control-Allow-Origin", origin);
            let _ = headers.set("Access-Control-Allow-Credentials", "true");
            let _ = headers.set("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
        }
    }
}

/// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`) for a route serving `methods`.
/// A refused one is a 403 without CORS headers, which the browser reports as a CORS failure.
pub fn preflight(req: &Request, cfg: &Config, methods: &str) -> Result<Response, AppError> {
    let origin = header(req, "origin");
    let requested = header(req, "access-control-request-method");
    let origin = browser::check_preflight(
        origin.as_deref(),
        requested.as_deref(),
        methods,
        &cfg.allowed_origins,
    )
    .map_err(|refusal| match refusal {
        PreflightRefusal::Origin => Code::OriginNotAllowed
            .with("This origin may not call this route from a browser.")
            .with_detail("cors_preflight_origin"),
        PreflightRefusal::Method => Code::InvalidRequest
            .with(format!(
                "`Access-Control-Request-Method` must be one of: {methods}."
            ))
            .with_detail("cors_preflight_method"),
    })?;
    let headers = Headers::new();
    headers.set("Access-Control-Allow-Origin", origin)?;
    headers.set("Access-Control-Allow-Credentials", "true")?;
    headers.set("Access-Control-Allow-Methods", methods)?;
    headers.set("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS)?;
    headers.set("Access-Control-Max-Age", &CORS_MAX_AGE_SECS.to_string())?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::builder()
        .with_status(204)
        .with_headers(headers)
        .empty())
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}
