//! `GET /`: a small page for local development and smoke tests that shows who is signed in (from
//! the session cookie) with a sign-out link, or a sign-in link. Everything printed is HTML-escaped.

use worker::{Headers, Response};

use super::{Call, SESSION_COOKIE};
use crate::error::AppError;
use crate::service::identity::{self, Credential};

fn escape(s: &str) -> String {
    s.chars()
        .map(|ch| match ch {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

pub async fn home(c: &Call) -> Result<Response, AppError> {
    let who = match c.cookie(SESSION_COOKIE) {
        Some(t) => identity::authenticate(&c.app, Credential::AccessToken(t))
            .await
            .ok(),
        None => None,
    };
    let profile = match &who {
        Some(who) => identity::profile(&c.app, who).await.ok(),
        None => None,
    };
    let body = match (&who, &profile) {
        (Some(who), Some(p)) => {
            let u = &p.user;
            format!(
                "<h1>Signed in</h1><p id=\"who\">{name} &lt;{email}&gt;</p>\
                 <dl><dt>User id</dt><dd id=\"user-id\">{uid}</dd><dt>Role</dt><dd>{role}</dd>\
                 <dt>Organization</dt><dd>{org}</dd><dt>Session</dt><dd>{sid}</dd></dl>\
                 <p><a id=\"sign-out\" href=\"/auth/logout\">Sign out</a></p>",
                name = escape(u.name().unwrap_or_default()),
                email = escape(u.email()),
                uid = escape(who.user_id.as_str()),
                role = escape(u.role()),
                org = escape(who.organization_id.as_ref().map_or("none", |o| o.as_str())),
                sid = escape(who.session.as_ref().map_or("", |s| s.id.as_str())),
            )
        }
        _ => {
            "<h1>Not signed in</h1><p><a id=\"sign-in\" href=\"/login\">Sign in</a></p>".to_owned()
        }
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>auth</title></head>\
         <body style=\"font-family:system-ui;max-width:40rem;margin:3rem auto\">{body}</body></html>"
    );
    let headers = Headers::new();
    headers.set("Content-Type", "text/html; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set(
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    )?;
    headers.set("X-Frame-Options", "DENY")?;
    Ok(Response::builder()
        .with_headers(headers)
        .fixed(html.into_bytes()))
}
