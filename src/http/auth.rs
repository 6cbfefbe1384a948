//! Routes of the sign-in flow: authorize, callback, me, refresh and logout. Each reads its input,
//! calls one service, and maps the result to JSON or, for browser navigation, cookies + 302.

use serde_json::json;
use worker::{Request, Response};

use super::{
    authenticate, check_same_origin, json, read_body, redirect, wants_json, Call, MAX_BODY_BYTES,
    REFRESH_COOKIE, REFRESH_COOKIE_PATH, SESSION_COOKIE,
};
use crate::domain::cookie::{self, SameSite, SetCookie};
use crate::domain::login_flow;
use crate::domain::return_to::{self, ReturnTarget, ReturnToError};
use crate::domain::token;
use crate::domain::workos as wos;
use crate::error::{AppError, Code};
use crate::input::{self, Fields};
use crate::platform;
use crate::service::identity;
use crate::service::login::{self, invalid_state, AuthorizeOptions};
use crate::service::sessions::{self, TokenPair};
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

/// A hint passed through to AuthKit: short, and made of characters such values actually use.
fn hint(
    q: &std::collections::HashMap<String, String>,
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
    c.set_cookie(
        SetCookie {
            name: &login_flow::flow_cookie_name(&started.state),
            value: &started.binding,
            path: &callback_path(c),
            max_age: Some(login_flow::FLOW_TTL_SECS),
            http_only: true,
            secure: c.app.cfg.secure_cookies,
            same_site: SameSite::Lax,
        }
        .to_header_value(),
    );
    redirect(&started.authorize_url)
}

fn callback_path(c: &Call) -> String {
    worker::Url::parse(&c.app.cfg.workos_redirect_uri)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".to_owned())
}

/// `GET /auth/callback`: checks state, exchanges the code, signs the person in.
pub async fn callback(req: &Request, c: &Call) -> Result<Response, AppError> {
    let q = c.query()?;
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let well_formed = login_flow::is_well_formed_state(state);
    if well_formed {
        // Whatever happens next, this flow's cookie is spent.
        c.set_cookie(cookie::expire(
            &login_flow::flow_cookie_name(state),
            &callback_path(c),
            c.app.cfg.secure_cookies,
        ));
    }
    // Reference §1: handle `error` before looking for `code`.
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
        return json(
            200,
            &json!({
                "token": signed_in.pair.token,
                "refreshToken": signed_in.pair.refresh_token,
                "user": UserView::from(&signed_in.user),
            }),
        );
    }
    set_session_cookies(c, &signed_in.pair);
    redirect(&return_to)
}

/// The browser binding this browser holds for `state`, if any. It is only looked up by its hash
/// (with the state) in D1, so no secret is compared here.
fn binding_of<'a>(c: &'a Call, state: &str) -> Option<&'a str> {
    if !login_flow::is_well_formed_state(state) {
        return None;
    }
    c.cookie(&login_flow::flow_cookie_name(state))
        .filter(|b| login_flow::is_well_formed_state(b))
}

fn set_session_cookies(c: &Call, pair: &TokenPair) {
    let cfg = &c.app.cfg;
    let now = platform::now_secs();
    c.set_cookie(
        SetCookie {
            name: SESSION_COOKIE,
            value: &pair.token,
            path: "/",
            max_age: Some((pair.access_expires_at - now).max(0)),
            http_only: true,
            secure: cfg.secure_cookies,
            same_site: SameSite::Lax,
        }
        .to_header_value(),
    );
    c.set_cookie(
        SetCookie {
            name: REFRESH_COOKIE,
            value: &pair.refresh_token,
            path: REFRESH_COOKIE_PATH,
            max_age: Some((pair.session_expires_at - now).max(0)),
            http_only: true,
            secure: cfg.secure_cookies,
            same_site: SameSite::Lax,
        }
        .to_header_value(),
    );
}

fn clear_session_cookies(c: &Call) {
    let secure = c.app.cfg.secure_cookies;
    c.set_cookie(cookie::expire(SESSION_COOKIE, "/", secure));
    c.set_cookie(cookie::expire(REFRESH_COOKIE, REFRESH_COOKIE_PATH, secure));
}

/// `GET /auth/me`: the caller's user and session (or API key).
pub async fn me(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    json(200, &identity::profile(&c.app, &who).await?)
}

/// `POST /auth/refresh`: `{"refreshToken"}` in the body (answered in the body), or the refresh
/// cookie (answered with new cookies only: httpOnly tokens never enter page scripts).
pub async fn refresh(req: &mut Request, c: &Call) -> Result<Response, AppError> {
    let body = read_body(req, MAX_BODY_BYTES).await?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Fields::from_json_bytes(&body)?.opt_string("refreshToken", token::MAX_TOKEN_LEN)?
    };
    if let Some(presented) = from_body {
        let pair = sessions::refresh(&c.app, &presented, &c.client()).await?;
        return json(
            200,
            &json!({ "token": pair.token, "refreshToken": pair.refresh_token }),
        );
    }
    let presented = c
        .cookie(REFRESH_COOKIE)
        .ok_or_else(|| {
            AppError::invalid_field(
                "refreshToken",
                "is required (in the body or the refresh cookie)",
            )
        })?
        .to_owned();
    check_same_origin(req, c)?;
    match sessions::refresh(&c.app, &presented, &c.client()).await {
        Ok(pair) => {
            set_session_cookies(c, &pair);
            json(
                200,
                &json!({ "refreshed": true, "accessTokenExpiresAt": crate::domain::time::format_rfc3339(pair.access_expires_at) }),
            )
        }
        Err(e) => {
            // Only a refused token ends the browser session; a server fault must not sign anyone out.
            if e.status() == 401 {
                clear_session_cookies(c);
            }
            Err(e)
        }
    }
}

/// `POST /auth/logout`: revokes the caller's session.
pub async fn logout_api(req: &Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    let session = identity.session.ok_or_else(|| Code::NoSession.err())?;
    let workos_sid = sessions::revoke(
        &c.app,
        &session.id,
        Some(&identity.user_id),
        "logout",
        &c.client(),
    )
    .await?
    .and_then(|s| s.workos_session_id);
    sessions::end_workos_session_later(&c.app, workos_sid);
    clear_session_cookies(c);
    json(200, &json!({ "message": "Logged out successfully" }))
}

/// `GET /auth/logout`: browser sign-out. Revokes the session named by the refresh (or access)
/// cookie, clears the cookies, then sends the browser through WorkOS logout back to `return_to`.
pub async fn logout_browser(req: &Request, c: &Call) -> Result<Response, AppError> {
    let q = c.query()?;
    let target = return_target(c, q.get("return_to").map(String::as_str))?;
    let cfg = &c.app.cfg;
    let absolute_target = match &target {
        ReturnTarget::Absolute(u) => u.clone(),
        ReturnTarget::Path(p) => format!("{}{}", cfg.self_origin, p),
    };
    // SameSite=Lax cookies ride along on cross-site top-level navigations: another site must not be
    // able to sign people out with a link. (Browsers send Sec-Fetch-Site; a missing one is a
    // non-browser client, which cannot be forced into this.)
    if req.headers().get("sec-fetch-site")?.as_deref() == Some("cross-site") {
        return redirect(&absolute_target);
    }
    let session_id =
        identity::session_of_cookies(&c.app, c.cookie(REFRESH_COOKIE), c.cookie(SESSION_COOKIE));
    clear_session_cookies(c);
    let Some(session_id) = session_id else {
        return redirect(&absolute_target);
    };
    let workos_sid = sessions::revoke(&c.app, &session_id, None, "logout", &c.client())
        .await?
        .and_then(|s| s.workos_session_id);
    match workos_sid {
        Some(sid) => redirect(&wos::logout_url(
            &cfg.workos_api_base,
            &sid,
            Some(&absolute_target),
        )),
        None => redirect(&absolute_target),
    }
}
