//! The `AUTH_SERVICE` service-binding methods (JS RPC on the worker's default entrypoint). This is
//! the only module with `#[wasm_bindgen]` exports: worker-build attaches every exported function to
//! the entrypoint, so each export here is callable by every bound worker. Export deliberately; the
//! end-to-end suite fails on an unexpected name.
//!
//! Each method is a thin adapter: parse the JS arguments into typed values (bad ones answer the
//! documented error shape or reject with a clear message, never panic), call the same service the
//! HTTP routes use, and convert the result. Bindings are read through `import { env } from
//! "cloudflare:workers"` because an RPC call receives only the caller's arguments.

use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::Env;

use crate::domain::{login_flow, return_to, time::format_rfc3339, token};
use crate::error::AppError;
use crate::http::body::Fields;
use crate::service::api_keys::{self, CreateKey};
use crate::service::identity::{self, Identity};
use crate::service::login::{self, AuthorizeOptions};
use crate::service::permissions::{self, Question};
use crate::service::{sessions, App, Client};

#[wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    static ENV: JsValue;
}

fn app() -> Result<App, AppError> {
    crate::init();
    let env: Env = ENV.with(JsValue::clone).unchecked_into();
    App::new(env)
}

const MAX_ID: usize = 64;

/// A string argument, or a 400-style error naming it.
fn string_arg(value: &JsValue, name: &str, max: usize) -> Result<String, AppError> {
    match value.as_string() {
        Some(s) if !s.is_empty() && s.len() <= max => Ok(s),
        Some(s) if s.is_empty() => Err(AppError::invalid_field(name, "must not be empty")),
        Some(_) => Err(AppError::invalid_field(
            name,
            &format!("must be at most {max} characters"),
        )),
        None => Err(AppError::invalid_field(name, "must be a string")),
    }
}

fn opt_string_arg(value: &JsValue, name: &str, max: usize) -> Result<Option<String>, AppError> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        string_arg(value, name, max).map(Some)
    }
}

/// An object argument as JSON fields.
fn object_arg(value: JsValue, name: &str) -> Result<Fields, AppError> {
    if !value.is_object() || js_sys::Array::is_array(&value) {
        return Err(AppError::invalid_field(name, "must be an object"));
    }
    let v: Value = serde_wasm_bindgen::from_value(value)
        .map_err(|_| AppError::invalid_field(name, "must be a plain object"))?;
    Fields::from_value(v)
}

fn to_js(v: &Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}

/// A rejection carrying `<code>: <description>` (no internals; those go to the log).
fn reject(method: &str, e: &AppError) -> JsValue {
    log_failure(method, e);
    js_sys::Error::new(&format!("{}: {}", e.code(), e.description())).into()
}

fn log_failure(method: &str, e: &AppError) {
    let line = json!({"level": if e.status() >= 500 { "error" } else { "warn" }, "msg": "rpc", "method": method,
                      "error": e.code(), "detail": e.log_detail()});
    if e.status() >= 500 {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

fn identity_view(i: &Identity) -> Value {
    let mut out = json!({
        "valid": true,
        "user": { "id": i.user_id, "email": i.email, "role": i.role, "organizationId": i.organization_id },
    });
    if let Some(obj) = out.as_object_mut() {
        if let Some(s) = &i.session {
            obj.insert(
                "session".into(),
                json!({ "id": s.id, "expiresAt": format_rfc3339(s.expires_at) }),
            );
        }
        if let Some(k) = &i.api_key {
            obj.insert(
                "apiKey".into(),
                json!({ "id": k.id, "name": k.name,
                        "scopes": k.scopes.as_ref().map(|s| s.iter().map(ToString::to_string).collect::<Vec<_>>()) }),
            );
        }
    }
    out
}

/// `validateToken(token)` → `{valid:true, user, session?, apiKey?}` or `{valid:false, error}`. Never rejects.
#[wasm_bindgen(js_name = validateToken)]
pub async fn validate_token(token: JsValue) -> JsValue {
    let result = async {
        let t = string_arg(&token, "token", token::MAX_TOKEN_LEN)?;
        let app = app()?;
        if crate::domain::api_key::looks_like_api_key(&t) {
            let (identity, touch) = identity::validate_api_key(&app, &t).await?;
            if let Some(key_id) = touch {
                // At most once a minute per key and isolate; cheap enough to await here.
                api_keys::record_use(&app.db, &key_id).await;
            }
            Ok(identity)
        } else {
            identity::validate_access_token(&app, &t).await
        }
    }
    .await;
    match result {
        Ok(identity) => to_js(&identity_view(&identity)),
        Err(e) => {
            if e.status() >= 500 {
                log_failure("validateToken", &e);
            }
            to_js(&json!({ "valid": false, "error": e.code() }))
        }
    }
}

/// `checkPermission({userId, resource, action, organizationId?, scopes?})` → boolean. `scopes` is
/// an optional ceiling (an API key's scopes as returned by `validateToken`).
#[wasm_bindgen(js_name = checkPermission)]
pub async fn check_permission(query: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let f = object_arg(query, "query")?;
        let user_id = f.string("userId", MAX_ID)?;
        let q = Question::parse(
            &f.string("resource", 64)?,
            &f.string("action", 64)?,
            f.opt_string("organizationId", MAX_ID)?.as_deref(),
        )?;
        // A caller-supplied ceiling (an API key's scopes) can only narrow the answer.
        let ceiling = permissions::scopes_field(&f, "scopes")?;
        permissions::is_allowed(&app()?, &user_id, ceiling.as_deref(), &q).await
    }
    .await;
    result
        .map(JsValue::from_bool)
        .map_err(|e| reject("checkPermission", &e))
}

/// `createApiKey({userId, name, expiresInDays?, environment?, scopes?})` →
/// `{success:true, apiKey:{id,key,prefix,start,name,expiresAt}}` or `{success:false, error}`.
#[wasm_bindgen(js_name = createApiKey)]
pub async fn create_api_key(params: JsValue) -> JsValue {
    let result = async {
        let f = object_arg(params, "params")?;
        let user_id = f.string("userId", MAX_ID)?;
        let req = CreateKey::parse(&f)?;
        api_keys::create(&app()?, &user_id, None, req, &Client::default()).await
    }
    .await;
    match result {
        Ok(c) => to_js(&json!({
            "success": true,
            "apiKey": { "id": c.row.id, "key": c.key, "prefix": c.row.prefix, "start": c.row.start, "name": c.row.name,
                        "expiresAt": format_rfc3339(c.row.expires_at), "createdAt": format_rfc3339(c.row.created_at) },
        })),
        Err(e) => {
            log_failure("createApiKey", &e);
            to_js(
                &json!({ "success": false, "error": e.code(), "error_description": e.description() }),
            )
        }
    }
}

/// `revokeApiKey(userId, keyId)` → boolean (false when that user has no such key).
#[wasm_bindgen(js_name = revokeApiKey)]
pub async fn revoke_api_key(user_id: JsValue, key_id: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let user_id = string_arg(&user_id, "userId", MAX_ID)?;
        let key_id = string_arg(&key_id, "keyId", MAX_ID)?;
        api_keys::revoke(&app()?, &user_id, &key_id, &Client::default()).await
    }
    .await;
    result
        .map(JsValue::from_bool)
        .map_err(|e| reject("revokeApiKey", &e))
}

/// `refreshSession(refreshToken)` → `{token, refreshToken}`; rejects when the token is not valid.
#[wasm_bindgen(js_name = refreshSession)]
pub async fn refresh_session(refresh_token: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let t = string_arg(&refresh_token, "refreshToken", token::MAX_TOKEN_LEN)?;
        sessions::refresh(&app()?, &t, &Client::default()).await
    }
    .await;
    result
        .map(|p| to_js(&json!({ "token": p.token, "refreshToken": p.refresh_token })))
        .map_err(|e| reject("refreshSession", &e))
}

/// `revokeSession(sessionId)` → boolean: true once the session is revoked (also when it already
/// was), false when no session has this id.
#[wasm_bindgen(js_name = revokeSession)]
pub async fn revoke_session(session_id: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let id = string_arg(&session_id, "sessionId", MAX_ID)?;
        let revoked =
            sessions::revoke(&app()?, &id, None, "revoked_by_service", &Client::default()).await?;
        Ok(revoked.is_some())
    }
    .await;
    result
        .map(JsValue::from_bool)
        .map_err(|e| reject("revokeSession", &e))
}

/// `createSession({userId, ipAddress?, userAgent?, device?})` → `{token, refreshToken, session}`.
#[wasm_bindgen(js_name = createSession)]
pub async fn create_session(params: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let f = object_arg(params, "params")?;
        let user_id = f.string("userId", MAX_ID)?;
        let client = Client {
            ip: f.opt_string("ipAddress", 64)?,
            user_agent: f.opt_string("userAgent", 512)?,
            device: f.opt_string("device", 64)?,
        };
        sessions::create_for_user(&app()?, &user_id, &client).await
    }
    .await;
    result
        .map(|p| {
            to_js(&json!({
                "token": p.token,
                "refreshToken": p.refresh_token,
                "session": { "id": p.session_id, "expiresAt": format_rfc3339(p.session_expires_at) },
            }))
        })
        .map_err(|e| reject("createSession", &e))
}

/// `getWorkOSAuthURL(redirectUri, state?)` → the WorkOS authorization URL. `redirectUri` is where
/// WorkOS sends the code (this worker's callback, or an allowed origin's); the caller keeps `state`
/// and hands it back to `exchangeWorkOSCode`, which derives the PKCE verifier from it.
#[wasm_bindgen(js_name = getWorkOSAuthURL)]
pub async fn get_workos_auth_url(
    redirect_uri: JsValue,
    state: JsValue,
) -> Result<JsValue, JsValue> {
    let result = (|| {
        let app = app()?;
        let raw = string_arg(&redirect_uri, "redirectUri", 2048)?;
        let target = return_to::validate(&raw, &app.cfg.self_origin, &app.cfg.allowed_origins)
            .map_err(|_| {
                AppError::invalid_field(
                    "redirectUri",
                    "is not this worker's origin or an allowed origin",
                )
            })?;
        let redirect = match target {
            return_to::ReturnTarget::Absolute(u) => u,
            return_to::ReturnTarget::Path(p) => format!("{}{}", app.cfg.self_origin, p),
        };
        let state = match opt_string_arg(&state, "state", 512)? {
            Some(s)
                if s.len() >= 16
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
            {
                s
            }
            Some(_) => {
                return Err(AppError::invalid_field(
                    "state",
                    "must be 16-512 URL-safe characters",
                ))
            }
            None => login_flow::new_state(&crate::platform::random::<32>()?),
        };
        Ok(login::authorize_url(
            &app,
            &redirect,
            &state,
            &state,
            &AuthorizeOptions::default(),
        ))
    })();
    result
        .map(|u| JsValue::from_str(&u))
        .map_err(|e| reject("getWorkOSAuthURL", &e))
}

/// `exchangeWorkOSCode(code, state?)` → `{accessToken, refreshToken, user}` (our own tokens).
#[wasm_bindgen(js_name = exchangeWorkOSCode)]
pub async fn exchange_workos_code(code: JsValue, state: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let code = string_arg(&code, "code", 512)?;
        let state = opt_string_arg(&state, "state", 512)?;
        let app = app()?;
        let verifier = state.as_deref().map(|s| login::verifier_for(&app, s));
        login::complete(&app, &code, verifier.as_deref(), &Client::default()).await
    }
    .await;
    result
        .map(|s| {
            to_js(&json!({
                "accessToken": s.pair.token,
                "refreshToken": s.pair.refresh_token,
                "user": login::user_view(&s.user),
            }))
        })
        .map_err(|e| reject("exchangeWorkOSCode", &e))
}
