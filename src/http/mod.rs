//! The HTTP surface: one router, the per-request log line, the one place an error becomes a
//! response (a page for a person's navigation, JSON otherwise), and the small response helpers every
//! route uses. Route handlers live one group per file and stay thin: authenticate, check permission,
//! parse, call one service function, map the result. Must not hold SQL or token rules.

mod api_keys;
mod audit;
mod auth;
mod cookies;
mod cors;
mod health;
mod html;
mod oauth;
mod pages;
mod permissions;
mod sessions;
mod webhooks;
mod well_known;

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;
use worker::{Context, Env, Headers, Method, Request, Response};

use crate::domain::browser;
use crate::domain::cookie;
use crate::domain::encoding::bearer_token;
use crate::domain::ids::RequestId;
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;
use crate::service::identity::{self, Credential, Identity, Via};
use crate::service::limits::{self, Limit};
use crate::service::{App, Client};

/// Largest request body accepted anywhere (webhooks have their own, larger, limit).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest query-string value accepted (a longer one is a 400 naming the parameter).
const MAX_QUERY_VALUE: usize = 2048;

/// What a handler gets besides the request: the app (config + D1) and request facts.
pub struct Call {
    pub app: App,
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub cookies: String,
    pub url: worker::Url,
    /// Headers added to whatever response the route ends with, error or not (Set-Cookie, and the
    /// headers a protocol requires on its errors too, such as CORS on public OAuth endpoints).
    pub added_headers: RefCell<Vec<(&'static str, String)>>,
}

impl Call {
    pub fn set_cookie(&self, value: String) {
        self.add_header("Set-Cookie", value);
    }

    /// Appends a header to this request's answer, whatever it turns out to be.
    pub fn add_header(&self, name: &'static str, value: String) {
        self.added_headers.borrow_mut().push((name, value));
    }

    pub fn client(&self) -> Client {
        Client {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            device: None,
        }
    }

    /// How this request's credentials are presented (for the abuse limits).
    pub fn via(&self) -> Via<'_> {
        Via::Http {
            ip: self.ip.as_deref(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookie::get(&self.cookies, name)
    }

    /// The query parameters, last value wins; a value longer than 2048 bytes is a 400 naming it.
    pub fn query(&self) -> Result<HashMap<String, String>, AppError> {
        let mut out = HashMap::new();
        for (k, v) in self.url.query_pairs() {
            if v.len() > MAX_QUERY_VALUE {
                return Err(AppError::invalid_field(
                    &k.chars().take(40).collect::<String>(),
                    &format!("is longer than {MAX_QUERY_VALUE} bytes"),
                ));
            }
            out.insert(k.into_owned(), v.into_owned());
        }
        Ok(out)
    }
}

/// The routes. Path segments that name a resource stay raw strings here: each handler parses its
/// id kind with that kind's one constructor (and answers not-found for a malformed one).
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Home,
    Health,
    Authorize,
    Callback,
    Me,
    Refresh,
    Logout,
    Sessions,
    Session(String),
    ApiKeys,
    ApiKey(String),
    Permissions,
    Permission(String),
    Webhook,
    Audit,
    Jwks,
    AuthorizationServerMetadata,
    OAuthAuthorize,
    OAuthConsent,
    OAuthToken,
    OAuthRevoke,
    OAuthIntrospect,
    OAuthRegister,
    OAuthGrants,
    OAuthGrant(String),
    Favicon,
}

impl Route {
    fn resolve(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let id = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty() && s.len() <= 64);
        Some(match segments.as_slice() {
            [] => Route::Home,
            ["health"] => Route::Health,
            ["login"] | ["auth", "authorize"] => Route::Authorize,
            ["auth", "callback"] => Route::Callback,
            ["auth", "me"] => Route::Me,
            ["auth", "refresh"] => Route::Refresh,
            ["auth", "logout"] => Route::Logout,
            ["auth", "sessions"] => Route::Sessions,
            ["auth", "sessions", s] => Route::Session(id(s)?),
            ["apikeys"] => Route::ApiKeys,
            ["apikeys", k] => Route::ApiKey(id(k)?),
            ["permissions"] => Route::Permissions,
            ["permissions", p] => Route::Permission(id(p)?),
            ["webhooks", "workos"] => Route::Webhook,
            ["audit"] => Route::Audit,
            [".well-known", "jwks.json"] => Route::Jwks,
            // RFC 8414 §3, and the OpenID-style name MCP clients also try (same document).
            [".well-known", "oauth-authorization-server" | "openid-configuration"] => {
                Route::AuthorizationServerMetadata
            }
            ["oauth", "authorize"] => Route::OAuthAuthorize,
            ["oauth", "consent"] => Route::OAuthConsent,
            ["oauth", "token"] => Route::OAuthToken,
            ["oauth", "revoke"] => Route::OAuthRevoke,
            ["oauth", "introspect"] => Route::OAuthIntrospect,
            ["oauth", "register"] => Route::OAuthRegister,
            ["oauth", "grants"] => Route::OAuthGrants,
            ["oauth", "grants", g] => Route::OAuthGrant(id(g)?),
            ["favicon.ico"] => Route::Favicon,
            _ => return None,
        })
    }

    /// The methods of a route that browser apps on the allowed origins call with credentials
    /// (`fetch(..., {credentials: "include"})`), for CORS (`cors.rs`); `None`: no CORS at all.
    fn cors_methods(&self) -> Option<&'static str> {
        Some(match self {
            Route::Me | Route::Sessions | Route::Audit => "GET",
            Route::Refresh => "POST",
            Route::Logout | Route::ApiKeys | Route::Permissions => "GET, POST",
            Route::Session(_) | Route::ApiKey(_) | Route::Permission(_) => "DELETE",
            _ => return None,
        })
    }

    /// The largest body this route reads.
    fn body_limit(&self) -> usize {
        match self {
            Route::Webhook => webhooks::MAX_WEBHOOK_BYTES,
            _ => MAX_BODY_BYTES,
        }
    }
}

/// Entry point for every HTTP request. Never fails: errors become JSON responses here.
pub async fn handle(req: Request, env: Env, _ctx: Context) -> Response {
    let started = platform::now_ms();
    let request_id = req
        .headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .or_else(|| {
            platform::random()
                .ok()
                .map(|r| RequestId::generate(&r).into_string())
        })
        .unwrap_or_else(|| "req_unknown".to_owned());
    let method = req.method();
    let path = req.path();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    // A person navigating gets a page when something fails; a program gets the JSON error.
    let navigation = browser::wants_page(
        header("accept").as_deref(),
        header("sec-fetch-mode").as_deref(),
    );

    let mut extra = Extra::default();
    let outcome = dispatch(req, env, &request_id, navigation, &mut extra).await;
    let (mut response, error) = match outcome {
        Ok(r) => (r, None),
        Err(e) if navigation => (html::error_page(&e, &request_id), Some(e)),
        Err(e) => (e.to_response(), Some(e)),
    };
    let headers = response.headers_mut();
    for (name, value) in &extra.headers {
        let _ = headers.append(name, value);
    }
    if let Some(cors) = &extra.cors {
        cors.apply(headers);
    }
    let _ = headers.set("X-Request-Id", &request_id);
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    // The callback URL carries a code: never let it leak through Referer (RFC 6749 §10.6 spirit).
    let _ = headers.set("Referrer-Policy", "no-referrer");

    let status = response.status_code();
    let line = match status {
        500.. => log::error("request"),
        400.. => log::warn("request"),
        _ => log::info("request"),
    };
    let line = line
        .str("request_id", &request_id)
        .str("method", method.as_ref())
        .str("path", &path)
        .int("status", i64::from(status))
        .int("duration_ms", platform::now_ms().saturating_sub(started));
    match &error {
        Some(e) => line.app_error(e).emit(),
        None => line.emit(),
    }
    response
}

/// What a route adds to whatever response it ends with, error or not.
#[derive(Default)]
struct Extra {
    headers: Vec<(&'static str, String)>,
    cors: Option<cors::Cors>,
}

async fn dispatch(
    mut req: Request,
    env: Env,
    request_id: &str,
    navigation: bool,
    extra: &mut Extra,
) -> Result<Response, AppError> {
    let route = Route::resolve(&req.path()).ok_or_else(|| Code::NotFound.err())?;
    // Refuse oversized bodies before anything else reads them.
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<usize>().ok());
    let limit = route.body_limit();
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::payload_too_large(limit));
    }

    let method = req.method();
    // Health must answer even before the rest of the configuration is usable.
    if let Route::Health = route {
        return match method {
            Method::Get | Method::Head => health::get(&env).await,
            _ => Err(AppError::MethodNotAllowed { allow: "GET, HEAD" }),
        };
    }

    let app = App::new(env)?;
    let cors_methods = route.cors_methods();
    if cors_methods.is_some() {
        extra.cors = Some(cors::Cors::for_request(&req, &app.cfg));
    }
    let headers = req.headers();
    let ip = headers.get("cf-connecting-ip").ok().flatten();
    // The ceiling for one client address, before any work for the route.
    limits::check(Limit::Ip, &limits::client(ip.as_deref())).await?;
    if let (Method::Options, Some(methods)) = (&method, cors_methods) {
        return cors::preflight(&req, &app.cfg, methods);
    }
    // Only a person's navigation: a program calling 127.0.0.1 (curl, a JWKS fetch) is answered there.
    if app.cfg.development && navigation && matches!(method, Method::Get | Method::Head) {
        if let Some(target) = browser::loopback_redirect(req.url()?.as_str(), &app.cfg.self_origin)
        {
            return redirect(&target);
        }
    }
    let header = |name: &str| headers.get(name).ok().flatten();
    let call = Call {
        app,
        request_id: request_id.to_owned(),
        ip,
        user_agent: header("user-agent").map(|ua| ua.chars().take(512).collect()),
        cookies: header("cookie").unwrap_or_default(),
        url: req.url()?,
        added_headers: RefCell::new(Vec::new()),
    };
    let outcome = route_to(route, method, &mut req, &call).await;
    // Headers set by the route go out with its response, error or not (a failed callback must
    // still clear its flow cookie).
    extra.headers = call.added_headers.take();
    outcome
}

async fn route_to(
    route: Route,
    method: Method,
    req: &mut Request,
    c: &Call,
) -> Result<Response, AppError> {
    let allow = |allowed: &'static str| AppError::MethodNotAllowed { allow: allowed };
    match (route, method) {
        (Route::Home, Method::Get) => pages::home(c).await,
        (Route::Home, _) => Err(allow("GET")),
        (Route::Authorize, Method::Get) => auth::authorize(c).await,
        (Route::Authorize, _) => Err(allow("GET")),
        (Route::Callback, Method::Get) => auth::callback(req, c).await,
        (Route::Callback, _) => Err(allow("GET")),
        (Route::Me, Method::Get) => auth::me(req, c).await,
        (Route::Me, _) => Err(allow("GET")),
        (Route::Refresh, Method::Post) => auth::refresh(req, c).await,
        (Route::Refresh, _) => Err(allow("POST")),
        (Route::Logout, Method::Post) => auth::logout_post(req, c).await,
        (Route::Logout, Method::Get) => auth::logout_get(req, c).await,
        (Route::Logout, _) => Err(allow("GET, POST")),
        (Route::Sessions, Method::Get) => sessions::list(req, c).await,
        (Route::Sessions, _) => Err(allow("GET")),
        (Route::Session(id), Method::Delete) => sessions::revoke(req, c, &id).await,
        (Route::Session(_), _) => Err(allow("DELETE")),
        (Route::ApiKeys, Method::Post) => api_keys::create(req, c).await,
        (Route::ApiKeys, Method::Get) => api_keys::list(req, c).await,
        (Route::ApiKeys, _) => Err(allow("GET, POST")),
        (Route::ApiKey(id), Method::Delete) => api_keys::revoke(req, c, &id).await,
        (Route::ApiKey(_), _) => Err(allow("DELETE")),
        (Route::Permissions, Method::Get) => permissions::list(req, c).await,
        (Route::Permissions, Method::Post) => permissions::grant(req, c).await,
        (Route::Permissions, _) => Err(allow("GET, POST")),
        (Route::Permission(id), Method::Delete) => permissions::revoke(req, c, &id).await,
        (Route::Permission(_), _) => Err(allow("DELETE")),
        (Route::Webhook, Method::Post) => webhooks::receive(req, c).await,
        (Route::Webhook, _) => Err(allow("POST")),
        (Route::Audit, Method::Get) => audit::list(req, c).await,
        (Route::Audit, _) => Err(allow("GET")),
        (Route::Jwks, Method::Get | Method::Head) => well_known::jwks(c),
        (Route::Jwks | Route::AuthorizationServerMetadata, Method::Options) => {
            oauth::preflight(c, "GET, HEAD")
        }
        (Route::Jwks, _) => Err(allow("GET, HEAD, OPTIONS")),
        (Route::AuthorizationServerMetadata, Method::Get | Method::Head) => {
            well_known::authorization_server(c)
        }
        (Route::AuthorizationServerMetadata, _) => Err(allow("GET, HEAD, OPTIONS")),
        (Route::OAuthAuthorize, Method::Get) => oauth::authorize(c).await,
        (Route::OAuthAuthorize, _) => Err(allow("GET")),
        (Route::OAuthConsent, Method::Get) => oauth::consent_page(req, c).await,
        (Route::OAuthConsent, Method::Post) => oauth::consent_decision(req, c).await,
        (Route::OAuthConsent, _) => Err(allow("GET, POST")),
        (
            Route::OAuthToken | Route::OAuthRevoke | Route::OAuthIntrospect | Route::OAuthRegister,
            Method::Options,
        ) => oauth::preflight(c, "POST"),
        (Route::OAuthToken, Method::Post) => oauth::token(req, c).await,
        (Route::OAuthRevoke, Method::Post) => oauth::revoke(req, c).await,
        (Route::OAuthIntrospect, Method::Post) => oauth::introspect(req, c).await,
        (Route::OAuthRegister, Method::Post) => oauth::register(req, c).await,
        (
            Route::OAuthToken | Route::OAuthRevoke | Route::OAuthIntrospect | Route::OAuthRegister,
            _,
        ) => Err(allow("POST, OPTIONS")),
        (Route::OAuthGrants, Method::Get) => oauth::list_grants(req, c).await,
        (Route::OAuthGrants, Method::Delete) => oauth::revoke_client_grants(req, c).await,
        (Route::OAuthGrants, _) => Err(allow("GET, DELETE")),
        (Route::OAuthGrant(id), Method::Delete) => oauth::revoke_grant(req, c, &id).await,
        (Route::OAuthGrant(_), _) => Err(allow("DELETE")),
        (Route::Health, _) => Err(allow("GET, HEAD")),
        // Browsers ask for it on every page; there is none, and that is not worth a warning line.
        (Route::Favicon, _) => Ok(Response::builder().with_status(204).empty()),
    }
}

/// A JSON response with `Cache-Control: no-store` (every body here is about someone's account).
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, AppError> {
    json_text(status, serde_json::to_string(value)?)
}

/// `{"revoked": true, "id": …}`: what every `DELETE` of one thing answers.
pub fn revoked(id: &str) -> Result<Response, AppError> {
    json_text(
        200,
        crate::domain::json::Object::new()
            .bool("revoked", true)
            .str("id", id)
            .finish(),
    )
}

/// [`json`] for a body that is already JSON text (an object built with `domain::json::Object`).
pub fn json_text(status: u16, body: String) -> Result<Response, AppError> {
    let body = body.into_bytes();
    let headers = Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body))
}

/// A 302 whose headers stay mutable (`Response::redirect` has immutable headers, so Set-Cookie
/// could not be added to it).
pub fn redirect(location: &str) -> Result<Response, AppError> {
    let headers = Headers::new();
    headers.set("Location", location)?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::builder()
        .with_status(302)
        .with_headers(headers)
        .empty())
}

/// Reads the request body, refusing more than `limit` bytes as soon as they arrive, even when no
/// Content-Length was sent (a chunked upload is never read past its limit).
pub async fn read_body(req: &Request, limit: usize) -> Result<Vec<u8>, AppError> {
    platform::read_body_limited(req.inner(), limit)
        .await
        .map_err(|e| match e {
            platform::BodyError::TooLarge => AppError::payload_too_large(limit),
            platform::BodyError::Unreadable => {
                Code::InvalidRequest.with("The request body could not be read.")
            }
        })
}

/// Does the client want JSON rather than a browser redirect?
pub fn wants_json(req: &Request) -> bool {
    req.headers()
        .get("accept")
        .ok()
        .flatten()
        .is_some_and(|a| a.contains("application/json"))
}

/// Who is calling: a Bearer access token or API key, or else the session cookies (refreshed in
/// place when the access token has lapsed, see [`Call::cookie_identity`]). Cookie authentication
/// of a state-changing request also requires a same-origin `Origin` header, so a cross-site form
/// cannot act with the victim's cookie (SameSite=Lax already blocks most of it).
pub async fn authenticate(req: &Request, c: &Call) -> Result<Identity, AppError> {
    if let Some(header) = req.headers().get("authorization")? {
        let presented = bearer_token(&header).ok_or_else(|| {
            Code::InvalidToken.with("The Authorization header must be `Bearer <token>`.")
        })?;
        return identity::authenticate(&c.app, Credential::bearer(presented), c.via(), None).await;
    }
    if c.session_cookie().is_some() || c.refresh_cookie().is_some() {
        if !matches!(req.method(), Method::Get | Method::Head) {
            check_same_origin(req, c)?;
        }
        return c.cookie_identity().await;
    }
    Err(Code::Unauthenticated.err())
}

/// Refuses a cookie-authenticated state change whose `Origin` is not this worker or an allowed origin.
pub fn check_same_origin(req: &Request, c: &Call) -> Result<(), AppError> {
    let origin = req.headers().get("origin")?.unwrap_or_default();
    let cfg = &c.app.cfg;
    if origin == cfg.self_origin || cfg.allowed_origins.contains(&origin) {
        Ok(())
    } else {
        Err(Code::OriginNotAllowed.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_or_without_a_trailing_slash() {
        assert_eq!(Route::resolve("/"), Some(Route::Home));
        assert_eq!(Route::resolve("/health/"), Some(Route::Health));
        assert_eq!(Route::resolve("/login"), Some(Route::Authorize));
        assert_eq!(Route::resolve("/auth/authorize"), Some(Route::Authorize));
        assert_eq!(
            Route::resolve("/apikeys/key_1"),
            Some(Route::ApiKey("key_1".into()))
        );
        assert_eq!(
            Route::resolve("/auth/sessions/ses_1/"),
            Some(Route::Session("ses_1".into()))
        );
    }

    #[test]
    fn unknown_paths_and_oversized_or_empty_ids_resolve_to_nothing() {
        for path in [
            "/nope",
            "/auth",
            "/apikeys/a/b",
            "/auth/sessions//x",
            "/webhooks",
        ] {
            assert_eq!(Route::resolve(path), None, "{path}");
        }
        let long = format!("/apikeys/{}", "k".repeat(65));
        assert_eq!(Route::resolve(&long), None);
        assert_eq!(
            Route::resolve(&format!("/apikeys/{}", "k".repeat(64))),
            Some(Route::ApiKey("k".repeat(64)))
        );
    }

    #[test]
    fn only_the_session_routes_of_browser_apps_get_credentialed_cors() {
        assert_eq!(Route::Me.cors_methods(), Some("GET"));
        assert_eq!(Route::Refresh.cors_methods(), Some("POST"));
        assert_eq!(Route::ApiKey("k".into()).cors_methods(), Some("DELETE"));
        for route in [
            Route::Home,
            Route::Health,
            Route::Authorize,
            Route::Callback,
            Route::Webhook,
            Route::Jwks,
            Route::AuthorizationServerMetadata,
            Route::Favicon,
        ] {
            assert_eq!(route.cors_methods(), None, "{route:?}");
        }
        assert_eq!(Route::resolve("/favicon.ico"), Some(Route::Favicon));
    }

    #[test]
    fn only_the_webhook_route_takes_a_larger_body() {
        assert_eq!(Route::Webhook.body_limit(), webhooks::MAX_WEBHOOK_BYTES);
        assert_eq!(Route::Refresh.body_limit(), MAX_BODY_BYTES);
    }

    const _: () = assert!(webhooks::MAX_WEBHOOK_BYTES > MAX_BODY_BYTES);
}
