//! `GET /`: a small page for local development and smoke tests that shows who is signed in (from
//! the session cookies, refreshed in place like every cookie-authenticated route) with a sign-out
//! link, or a sign-in link.

use worker::Response;

use super::html::{escape, page};
use super::Call;
use crate::error::AppError;
use crate::service::identity;

pub async fn home(c: &Call) -> Result<Response, AppError> {
    let signed_in = c.session_cookie().is_some() || c.refresh_cookie().is_some();
    let who = match signed_in {
        true => c.cookie_identity().await.ok(),
        false => None,
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
                 <dt>Organization</dt><dd>{org}</dd><dt>Session</dt><dd id=\"session-id\">{sid}</dd></dl>\
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
    page(&c.app.cfg, 200, "auth", &body)
}
