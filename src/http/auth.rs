//! Routes of the sign-in flow: authorize, callback, me, refresh and logout. Each reads its input,
//! calls one service, and maps the result to JSON or, for browser navigation, cookies + a redirect.

use std::collections::HashMap;

use worker::{Request, Response};

use super::{
    authenticate, check_same_origin, html, json, json_text, read_body, redirect, wants_json, Call,
    MAX_BODY_BYTES,
};
use crate::domain::json::Object as JsonObject;
use crate::domain::login_flow;
use crate::domain::return_to::{self, ReturnTarget, ReturnToError};
use crate::domain::time::format_rfc3339;
use crate::domain::token;
use crate::domain::workos as wos;
use crate::error::{AppError, Code};
use crate::input::{self, Fields};
use crate::service::identity;
use crate::service::limits::{self, Limit};
use crate::service::login::{self, invalid_state, AuthorizeOptions};
use crate::service::sessions::{self, RefreshFor};
use crate::service::users::UserView;

/// Validates a post-login or post-logout target: a relative path, this origin, or an allowed origin.
fn return_target(c: &Call, raw: Option<&str>) -> Result<ReturnTarget, AppError> {
    let cfg = &c.app.cfg;
    return_to::validate(raw.unwrap_or("/"), &cfg.self_origin, &cfg.allowed_origins).map_err(|e| {
        let why = match e {
            ReturnToError::Empty => "is empty",
            ReturnToError::TooLong => "is too long",
            ReturnToError::Malformed => "is not a valid URL or path",
            ReturnToError::NotAllowed => "is not a relative path or an allowed origin",
        };
        Code::InvalidReturnTo.with(format!("`return_to` {why}."))
    })
}

/// The target as an absolute URL (relative paths resolve against this worker's origin).
fn absolute(c: &Call, target: &ReturnTarget) -> String {
    match target {
        ReturnTarget::Absolute(u) => u.clone(),
        ReturnTarget::Path(p) => format!("{}{}", c.app.cfg.self_origin, p),
    }
}

/// A hint passed through to AuthKit: short, and made of characters such values actually use.
fn hint(
    q: &HashMap<String, String>,
    name: &str,
    max: usize,
    extra: &[u8],
) -> Result<Option<String>, AppError> {
    match q.get(name) {
        None => Ok(None),
        Some(v)
            if !v.is_empty()
                && v.len() <= max
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b)) =>
        {
            Ok(Some(v.clone()))
        }
        Some(_) => Err(AppError::invalid_field(name, "has an invalid value")),
    }
}

/// `GET /auth/authorize` (alias `/login`): 302 to WorkOS with state and PKCE S256.
pub async fn authorize(c: &Call) -> Result<Response, AppError> {
    limits::check(Limit::SignIn, &limits::client(c.ip.as_deref())).await?;
    let q = c.query()?;
    let raw_target = q
        .get("return_to")
        .or_else(|| q.get("redirect_uri"))
        .map(String::as_str);
    let target = return_target(c, raw_target)?;
    let screen_hint = hint(&q, "screen_hint", 16, b"-")?;
    if screen_hint
        .as_deref()
        .is_some_and(|h| h != "sign-in" && h != "sign-up")
    {
        return Err(AppError::invalid_field(
            "screen_hint",
            "must be `sign-in` or `sign-up`",
        ));
    }
    let opts = AuthorizeOptions {
        provider: hint(&q, "provider", 40, b"_")?,
        organization_id: q
            .get("organization_id")
            .map(|o| input::organization_id("organization_id", o))
            .transpose()?,
        screen_hint,
        login_hint: hint(&q, "login_hint", 320, b"@._+-")?,
    };
    let started = login::start(&c.app, &target, &opts).await?;
    // Binds the flow to this browser; the name is per state so several tabs can sign in at once.
    c.set_flow_cookie(&started.state, &started.binding);
    redirect(&started.authorize_url)
}

/// `GET /auth/callback`: checks state, exchanges the code, signs the person in.
pub async fn callback(req: &Request, c: &Call) -> Result<Response, AppError> {
    limits::check(Limit::SignIn, &limits::client(c.ip.as_deref())).await?;
    let q = c.query()?;
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let well_formed = login_flow::is_well_formed_state(state);
    if well_formed {
        // Whatever happens next, this flow's cookie is spent.
        c.clear_flow_cookie(state);
    }
    // workos-api.md §1: handle `error` before looking for `code`.
    if let Some(error) = q.get("error") {
        if let Some(binding) = binding_of(c, state) {
            let _ = login::consume_flow(&c.app, state, binding).await;
        }
        let code = match error.as_str() {
            "access_denied" => Code::AccessDenied,
            "invalid_request" => Code::InvalidRequest,
            _ => Code::AuthorizationFailed,
        };
        return Err(code
            .with("Sign-in was not completed at WorkOS.")
            .with_detail(format!(
                "workos error={}",
                error.chars().take(64).collect::<String>()
            )));
    }
    if !well_formed {
        return Err(invalid_state(if state.is_empty() {
            "missing_state"
        } else {
            "malformed_state"
        }));
    }
    let binding =
        binding_of(c, state).ok_or_else(|| invalid_state("state_not_bound_to_this_browser"))?;
    let code = q
        .get("code")
        .filter(|code| !code.is_empty() && code.len() <= 512)
        .ok_or_else(|| AppError::invalid_field("code", "is required"))?;
    let return_to = login::consume_flow(&c.app, state, binding).await?;
    let verifier = login::verifier_for(&c.app, &login_flow::verifier_seed(state, binding));
    let signed_in = login::complete(&c.app, code, Some(&verifier), &c.client()).await?;

    if wants_json(req) {
        // The browser's cookies (and any session they name) stay as they were.
        return json_text(
            200,
            JsonObject::new()
                .str("token", &signed_in.pair.token)
                .str("refreshToken", &signed_in.pair.refresh_token)
                .value("user", &UserView::from(&signed_in.user))
                .finish(),
        );
    }
    // Signing in again from a browser that holds a session replaces it rather than piling up.
    if let Some(previous) =
        identity::session_of_tokens(&c.app, c.refresh_cookie(), c.session_cookie())
    {
        sessions::end_replaced(&c.app, &previous, &c.client()).await;
    }
    c.set_session_cookies(&signed_in.pair);
    redirect(&return_to)
}

/// The browser binding this browser holds for `state`, if any. It is only looked up by its hash
/// (with the state) in D1, so no secret is compared here.
fn binding_of<'a>(c: &'a Call, state: &str) -> Option<&'a str> {
    if !login_flow::is_well_formed_state(state) {
        return None;
    }
    c.flow_cookie(state)
        .filter(|b| login_flow::is_well_formed_state(b))
}

/// `GET /auth/me`: the caller's user and session (or API key).
pub async fn me(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    json(200, &identity::profile(&c.app, &who).await?)
}

/// `POST /auth/refresh`: `{"refreshToken"}` in the body (answered in the body), or the refresh
/// cookie (answered with new cookies only: httpOnly tokens never enter page scripts).
pub async fn refresh(req: &Request, c: &Call) -> Result<Response, AppError> {
    let body = read_body(req, MAX_BODY_BYTES).await?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Fields::from_json_bytes(&body)?.opt_string("refreshToken", token::MAX_TOKEN_LEN)?
    };
    if let Some(presented) = from_body {
        let pair =
            sessions::refresh(&c.app, &presented, &c.client(), &RefreshFor::FirstParty).await?;
        return json_text(
            200,
            JsonObject::new()
                .str("token", &pair.token)
                .str("refreshToken", &pair.refresh_token)
                .finish(),
        );
    }
    let presented = c
        .refresh_cookie()
        .ok_or_else(|| {
            AppError::invalid_field(
                "refreshToken",
                "is required (in the body or the refresh cookie)",
            )
        })?
        .to_owned();
    check_same_origin(req, c)?;
    match sessions::refresh(&c.app, &presented, &c.client(), &RefreshFor::FirstParty).await {
        Ok(pair) => {
            c.set_session_cookies(&pair);
            json_text(
                200,
                JsonObject::new()
                    .bool("refreshed", true)
                    .str(
                        "accessTokenExpiresAt",
                        &format_rfc3339(pair.access_expires_at),
                    )
                    .finish(),
            )
        }
        Err(e) => {
            c.end_refused_session(&e);
            Err(e)
        }
    }
}

/// `POST /auth/logout`. With a Bearer credential, or a cookie from a script: revokes the caller's
/// session and answers JSON. From the sign-out confirmation form (a browser form post, which
/// carries its `Origin` and so passes the same origin check as every cookie-authenticated state
/// change): signs the browser out like a same-origin `GET /auth/logout`.
pub async fn logout_post(req: &Request, c: &Call) -> Result<Response, AppError> {
    let is_form = req
        .headers()
        .get("content-type")?
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if is_form && req.headers().get("authorization")?.is_none() {
        check_same_origin(req, c)?;
        let body = read_body(req, MAX_BODY_BYTES).await?;
        let raw_target = worker::url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned());
        let target = return_target(c, raw_target.as_deref())?;
        return sign_out_browser(c, &target).await;
    }
    let who = authenticate(req, c).await?;
    let session = who.session.ok_or_else(|| Code::NoSession.err())?;
    let workos_sid = sessions::revoke(
        &c.app,
        &session.id,
        Some(&who.user_id),
        "logout",
        &c.client(),
    )
    .await?
    .and_then(|s| s.workos_session_id);
    sessions::end_workos_session_later(&c.app, workos_sid);
    c.clear_session_cookies();
    json_text(
        200,
        JsonObject::new()
            .str("message", "Logged out successfully")
            .finish(),
    )
}

/// `GET /auth/logout?return_to=`: browser sign-out. A link or redirect from anywhere can reach this
/// URL with the browser's cookies (SameSite=Lax allows top-level GETs), so only a navigation from
/// this worker's own pages (`Sec-Fetch-Site: same-origin`) signs out at once; any other (another
/// site, a sibling subdomain, a typed URL, a client that sends no fetch metadata) gets a page that
/// asks, whose form posts back with an `Origin` the POST route checks.
pub async fn logout_get(req: &Request, c: &Call) -> Result<Response, AppError> {
    let q = c.query()?;
    let target = return_target(c, q.get("return_to").map(String::as_str))?;
    let same_origin = req.headers().get("sec-fetch-site")?.as_deref() == Some("same-origin");
    if same_origin {
        return sign_out_browser(c, &target).await;
    }
    if c.session_cookie().is_none() && c.refresh_cookie().is_none() {
        // Nobody is signed in on this browser: nothing to confirm.
        return redirect(&absolute(c, &target));
    }
    let body = format!(
        "<h1>Sign out?</h1><p>Do you want to sign out of <strong>{origin}</strong>?</p>\
         <form method=\"post\" action=\"/auth/logout\"><input type=\"hidden\" name=\"return_to\" value=\"{target}\">\
         <div class=\"actions\"><button id=\"confirm-sign-out\" type=\"submit\">Sign out</button>\
         <a id=\"stay\" href=\"{target}\">Stay signed in</a></div></form>",
        origin = html::escape(&c.app.cfg.self_origin),
        target = html::escape(&absolute(c, &target)),
    );
    html::page(&c.app.cfg, 200, "Sign out?", &body)
}

/// Revokes the session the browser's cookies name, clears the cookies, then sends the browser
/// through WorkOS logout (which ends the WorkOS session too) back to `target`.
async fn sign_out_browser(c: &Call, target: &ReturnTarget) -> Result<Response, AppError> {
    let target = absolute(c, target);
    let session_id = identity::session_of_tokens(&c.app, c.refresh_cookie(), c.session_cookie());
    c.clear_session_cookies();
    let Some(session_id) = session_id else {
        return redirect(&target);
    };
    let workos_sid = sessions::revoke(&c.app, &session_id, None, "logout", &c.client())
        .await?
        .and_then(|s| s.workos_session_id);
    match workos_sid {
        Some(sid) => redirect(&wos::logout_url(
            &c.app.cfg.workos_api_base,
            &sid,
            Some(&target),
        )),
        None => redirect(&target),
    }
}
