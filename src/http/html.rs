//! Pages for people: every HTML answer of the worker is built here, from one template with one
//! stylesheet, under a Content-Security-Policy that allows exactly that stylesheet (by hash) and
//! nothing else that could run, including the page a failed navigation gets instead of the JSON
//! error ([`error_page`]). Every value printed is HTML-escaped by [`escape`].

use worker::{Headers, Response};

use crate::config::Config;
use crate::domain::encoding::{b64_standard, sha256};
use crate::domain::return_to::origin_of;
use crate::error::{AppError, Code};

/// The only stylesheet (inline, allowed by its hash).
const STYLE: &str =
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;\
line-height:1.5;color:#1b1b1f}h1{font-size:1.5rem}dt{font-weight:600}dd{margin:0 0 .5rem}\
a,button{font:inherit}button{padding:.4rem 1rem;cursor:pointer}.muted{color:#5b5b66}\
.actions{display:flex;gap:1rem;align-items:center;margin-top:1.5rem}\
.warning{border-left:4px solid #b35900;background:#fff4e5;padding:.5rem 1rem}code{font-size:.9em}";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The policy of every page: no script, no frames, the stylesheet by hash, forms only to
/// `form_targets` (CSP source expressions).
fn content_security_policy(form_targets: &[String]) -> String {
    let style_hash = b64_standard(&sha256(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; img-src 'self'; form-action {}; \
         frame-ancestors 'none'; base-uri 'none'",
        form_targets.join(" ")
    )
}

/// Where this worker's forms may post: itself, and where its form answers redirect (WorkOS logout
/// and the allowed return origins).
fn form_targets(cfg: &Config) -> Vec<String> {
    let mut targets = vec!["'self'".to_owned()];
    targets.extend(origin_of(&cfg.workos_api_base));
    targets.extend(cfg.allowed_origins.as_slice().iter().cloned());
    targets
}

/// A complete page. `body` must already be escaped HTML.
pub fn page(cfg: &Config, status: u16, title: &str, body: &str) -> Result<Response, AppError> {
    render(status, title, body, &form_targets(cfg), Headers::new())
}

/// A page whose form's answer redirects to `redirects_to` too (CSP `form-action` also governs the
/// redirects that follow a form submission). Each entry is a CSP source: an origin or `scheme:`.
pub fn page_with_form_targets(
    cfg: &Config,
    status: u16,
    title: &str,
    body: &str,
    redirects_to: &[String],
) -> Result<Response, AppError> {
    let mut targets = form_targets(cfg);
    targets.extend(redirects_to.iter().cloned());
    render(status, title, body, &targets, Headers::new())
}

fn render(
    status: u16,
    title: &str,
    body: &str,
    form_targets: &[String],
    headers: Headers,
) -> Result<Response, AppError> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        title = escape(title),
    );
    headers.set("Content-Type", "text/html; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set(
        "Content-Security-Policy",
        &content_security_policy(form_targets),
    )?;
    headers.set("X-Frame-Options", "DENY")?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

/// What a person is told after a failed navigation, and where they can go from there.
#[derive(Debug, PartialEq, Eq)]
struct NextStep {
    title: &'static str,
    advice: &'static str,
    label: &'static str,
    href: &'static str,
}

fn next_step(e: &AppError) -> NextStep {
    let step = |title, advice, label, href| NextStep {
        title,
        advice,
        label,
        href,
    };
    let start_again = "Start again";
    let home = "Go to the home page";
    if let AppError::StepUp { .. } = e {
        return step(
            "Sign-in needs another step",
            "Start again and complete every step WorkOS asks for.",
            start_again,
            "/login",
        );
    }
    let code = match e {
        AppError::Public { code, .. } => Some(*code),
        _ => None,
    };
    match (code, e.status()) {
        (
            Some(
                Code::InvalidState
                | Code::AccessDenied
                | Code::AuthorizationFailed
                | Code::InvalidGrant
                | Code::InvalidReturnTo,
            ),
            _,
        ) => step(
            "Sign-in did not complete",
            "Nothing was changed. Start the sign-in again from the beginning.",
            start_again,
            "/login",
        ),
        (Some(Code::UserDeactivated), _) => step(
            "This account is deactivated",
            "Ask an administrator of this service to reactivate it.",
            home,
            "/",
        ),
        (Some(Code::WorkosUnavailable), _) => step(
            "The sign-in service did not answer",
            "This is usually brief. Start again in a moment.",
            start_again,
            "/login",
        ),
        (_, 401) => step(
            "You are not signed in",
            "Your session has ended or was never started here. Sign in to continue.",
            "Sign in",
            "/login",
        ),
        (_, 403) => step(
            "Not allowed",
            "You are signed in, but this is not something you may do here.",
            home,
            "/",
        ),
        (_, 404) => step("Not found", "There is nothing at this address.", home, "/"),
        (_, 429) => step(
            "Too many requests",
            "Wait a minute, then try again.",
            home,
            "/",
        ),
        _ if matches!(e, AppError::Misconfigured { .. }) => step(
            "This service is misconfigured",
            "Its operator must fix the setting named above (in development: edit .dev.vars, then restart npm run dev).",
            "Try again",
            "/",
        ),
        (_, 500..) => step(
            "Something went wrong on our side",
            "Try again; if it keeps happening, quote the request id below to the operator.",
            home,
            "/",
        ),
        _ => step(
            "This request could not be served",
            "Go back to the home page and try again from there.",
            home,
            "/",
        ),
    }
}

/// The page for a failed navigation: the same status and protocol headers as the JSON error
/// (`AppError::to_response`), the public sentence, what to do next, the code and the request id.
/// Never fails: if the page cannot be built, the JSON error is answered instead.
pub fn error_page(e: &AppError, request_id: &str) -> Response {
    let step = next_step(e);
    let body = format!(
        "<h1>{title}</h1><p id=\"error-description\">{description}</p><p>{advice}</p>\
         <div class=\"actions\"><a id=\"next-step\" href=\"{href}\">{label}</a></div>\
         <p class=\"muted\">Error <code id=\"error-code\">{code}</code> · request id <code>{request_id}</code></p>",
        title = escape(step.title),
        description = escape(&e.description()),
        advice = escape(step.advice),
        href = escape(step.href),
        label = escape(step.label),
        code = escape(e.code()),
        request_id = escape(request_id),
    );
    render(
        e.status(),
        step.title,
        &body,
        &["'none'".to_owned()],
        e.protocol_headers(),
    )
    .unwrap_or_else(|_| e.to_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sign_in_offers_to_start_again() {
        for code in [
            Code::InvalidState,
            Code::AccessDenied,
            Code::InvalidGrant,
            Code::InvalidReturnTo,
            Code::WorkosUnavailable,
        ] {
            assert_eq!(next_step(&code.err()).href, "/login", "{code:?}");
        }
        let step_up = AppError::StepUp {
            code: "organization_selection_required".into(),
            detail: String::new(),
        };
        assert_eq!(next_step(&step_up).href, "/login");
    }

    #[test]
    fn an_ended_session_offers_to_sign_in_and_other_refusals_go_home() {
        for code in [
            Code::Unauthenticated,
            Code::TokenExpired,
            Code::InvalidRefreshToken,
        ] {
            assert_eq!(next_step(&code.err()).label, "Sign in", "{code:?}");
        }
        for e in [
            Code::Forbidden.err(),
            Code::OriginNotAllowed.err(),
            Code::NotFound.err(),
            Code::UserDeactivated.err(),
            AppError::internal("x"),
            AppError::MethodNotAllowed { allow: "GET" },
        ] {
            assert_eq!(next_step(&e).href, "/", "{e:?}");
        }
    }

    #[test]
    fn a_misconfiguration_says_where_to_fix_it() {
        let e = AppError::Misconfigured {
            var: "JWT_SECRET",
            problem: "is missing",
        };
        assert!(next_step(&e).advice.contains(".dev.vars"));
    }

    #[test]
    fn escaping_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
