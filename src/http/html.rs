//! Pages for people: every HTML answer of the worker is built here, from one template with one
//! stylesheet, under a Content-Security-Policy that allows exactly that stylesheet (by hash) and
//! nothing else that could run. Every value printed is HTML-escaped by [`escape`].

use worker::{Headers, Response};

use crate::config::Config;
use crate::domain::encoding::{b64_standard, sha256};
use crate::domain::return_to::origin_of;
use crate::error::AppError;

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

/// The policy of every page: no script, no frames, the stylesheet by hash, forms only to this worker
/// (and to where its form answers redirect: WorkOS logout, the allowed return origins, and
/// `redirects_to`, a page's own extra targets such as an OAuth client's redirect URI).
fn content_security_policy(cfg: &Config, redirects_to: &[String]) -> String {
    let style_hash = b64_standard(&sha256(STYLE.as_bytes()));
    let mut form_targets = vec!["'self'".to_owned()];
    form_targets.extend(origin_of(&cfg.workos_api_base));
    form_targets.extend(cfg.allowed_origins.as_slice().iter().cloned());
    form_targets.extend(redirects_to.iter().cloned());
    format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; img-src 'self'; form-action {}; \
         frame-ancestors 'none'; base-uri 'none'",
        form_targets.join(" ")
    )
}

/// A complete page. `body` must already be escaped HTML.
pub fn page(cfg: &Config, status: u16, title: &str, body: &str) -> Result<Response, AppError> {
    page_with_form_targets(cfg, status, title, body, &[])
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
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        title = escape(title),
    );
    let headers = Headers::new();
    headers.set("Content-Type", "text/html; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set(
        "Content-Security-Policy",
        &content_security_policy(cfg, redirects_to),
    )?;
    headers.set("X-Frame-Options", "DENY")?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
