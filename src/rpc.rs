//! The `AUTH_SERVICE` service-binding methods (JS RPC on the worker's default entrypoint). This is
//! the only module with `#[wasm_bindgen]` exports besides the `fetch` and `scheduled` entry points
//! in lib.rs. The entry module (src/entry.mjs) gives bound workers exactly the methods it names, each
//! calling one export here; the end-to-end suite fails on an unexpected export or method.
//!
//! Each method is a thin adapter: parse the JS arguments into typed values with the same rules the
//! HTTP routes use (`crate::input`; bad ones answer the documented error shape or reject with a clear
//! message, never panic), call the same service the HTTP routes use, and convert the result with the
//! same `Serialize` views.

use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::domain::ids::{ApiKeyId, SessionId};
use crate::domain::json::Object as JsonObject;
use crate::domain::{login_flow, return_to, time::format_rfc3339, token};
use crate::error::AppError;
use crate::input::{self, Fields};
use crate::log;
use crate::platform;
use crate::service::api_keys::{self, ApiKeyView, CreateKey};
use crate::service::identity::{self, Credential, IdentityView, Via};
use crate::service::login::{self, AuthorizeOptions};
use crate::service::permissions::{self, Question};
use crate::service::users::UserView;
use crate::service::{oauth, sessions, App, Client};

/// The longest audience (a resource URL) a caller may ask for.
const MAX_AUDIENCE: usize = 2048;

fn app() -> Result<App, AppError> {
    App::new(platform::env())
}

/// A string argument under the shared rule (`input::text`). Its length is checked on the JS side
/// first (at most two UTF-16 units per character), so an oversized string is never copied into WASM.
fn string_arg(value: &JsValue, name: &str, max: usize) -> Result<String, AppError> {
    let Some(js) = value.dyn_ref::<js_sys::JsString>() else {
        return Err(AppError::invalid_field(name, "must be a string"));
    };
    if usize::try_from(js.length()).unwrap_or(usize::MAX) > max.saturating_mul(2) {
        return Err(AppError::invalid_field(
            name,
            &format!("must be at most {max} characters"),
        ));
    }
    input::text(name, &String::from(js), max)
}

fn opt_string_arg(value: &JsValue, name: &str, max: usize) -> Result<Option<String>, AppError> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        string_arg(value, name, max).map(Some)
    }
}

/// How much of an object argument is read: nesting depth, values in all, characters in all. A
/// self-referencing object runs into the depth bound instead of recursing until the module traps.
const MAX_DEPTH: usize = 4;
const MAX_VALUES: usize = 256;
const MAX_TEXT_UNITS: usize = 64 * 1024;

/// An object argument as JSON fields. Only plain data is read (objects whose prototype is
/// `Object.prototype` or null, arrays, strings, finite numbers, booleans, null): an RPC stub, a
/// class instance or a function is refused without touching its properties.
fn object_arg(value: JsValue, name: &str) -> Result<Fields, AppError> {
    if !is_plain_object(&value) {
        return Err(AppError::invalid_field(name, "must be a plain object"));
    }
    let mut budget = Budget {
        values: MAX_VALUES,
        text_units: MAX_TEXT_UNITS,
    };
    let v = plain_json(&value, 0, &mut budget).map_err(|why| AppError::invalid_field(name, why))?;
    Fields::from_value(v)
}

struct Budget {
    values: usize,
    text_units: usize,
}

fn is_plain_object(v: &JsValue) -> bool {
    if !v.is_object() || js_sys::Array::is_array(v) {
        return false;
    }
    let proto = js_sys::Object::get_prototype_of(v);
    proto.is_null() || proto == js_sys::Object::get_prototype_of(&js_sys::Object::new())
}

fn plain_json(v: &JsValue, depth: usize, budget: &mut Budget) -> Result<Value, &'static str> {
    budget.values = budget
        .values
        .checked_sub(1)
        .ok_or("holds too many values")?;
    if v.is_null() || v.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        // JS has one number type: a whole number becomes a JSON integer, as JSON.parse would give.
        #[allow(clippy::cast_possible_truncation)]
        let whole = n as i64;
        #[allow(clippy::cast_precision_loss)]
        if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 && whole as f64 == n {
            return Ok(Value::Number(whole.into()));
        }
        return serde_json::Number::from_f64(n)
            .map(Value::Number)
            .ok_or("holds a number that is not finite");
    }
    if let Some(s) = v.dyn_ref::<js_sys::JsString>() {
        budget.text_units = budget
            .text_units
            .checked_sub(usize::try_from(s.length()).unwrap_or(usize::MAX))
            .ok_or("holds too much text")?;
        return Ok(Value::String(String::from(s)));
    }
    if depth >= MAX_DEPTH {
        return Err("is nested too deeply (or refers to itself)");
    }
    if let Some(items) = v.dyn_ref::<js_sys::Array>() {
        if usize::try_from(items.length()).unwrap_or(usize::MAX) > budget.values {
            return Err("holds too many values");
        }
        return items
            .iter()
            .map(|item| plain_json(&item, depth + 1, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if !is_plain_object(v) {
        return Err("must hold only plain data (objects, arrays, strings, numbers, booleans)");
    }
    let keys = js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>());
    if usize::try_from(keys.length()).unwrap_or(usize::MAX) > budget.values {
        return Err("holds too many values");
    }
    let mut map = serde_json::Map::new();
    for key in keys.iter() {
        let Some(k) = key.as_string() else { continue };
        let item = js_sys::Reflect::get(v, &key).map_err(|_| "could not be read")?;
        map.insert(k, plain_json(&item, depth + 1, budget)?);
    }
    Ok(Value::Object(map))
}

/// A view as a JS value: serialized once with serde_json (the same code the HTTP answers use) and
/// parsed by the engine's JSON.parse, rather than built field by field across the boundary.
fn to_js<T: Serialize>(v: &T) -> JsValue {
    serde_json::to_string(v).map_or(JsValue::NULL, |text| text_to_js(&text))
}

/// JSON text (an object built with `domain::json::Object`) as a JS value.
fn text_to_js(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}

/// A rejection carrying `<code>: <description>` (no internals; those go to the log).
fn reject(method: &str, e: &AppError) -> JsValue {
    log_failure(method, e);
    js_sys::Error::new(&format!("{}: {}", e.code(), e.description())).into()
}

fn log_failure(method: &str, e: &AppError) {
    log::failure("rpc", e)
        .str("method", method)
        .app_error(e)
        .emit();
}

/// `validateToken(token, {audience}?)` → `{valid:true, user, session?, apiKey?}` or
/// `{valid:false, error}` (the entry module unwraps it, see below). Never rejects. With `audience`, an access token must carry exactly it in
/// `aud` (an MCP server passes its own resource URL); without, this worker's own audience.
#[wasm_bindgen(js_name = validateToken)]
pub async fn validate_token(token: JsValue, options: JsValue) -> JsValue {
    let result = async {
        let t = string_arg(&token, "token", token::MAX_TOKEN_LEN)?;
        let audience = if options.is_undefined() || options.is_null() {
            None
        } else {
            object_arg(options, "options")?.opt_string("audience", MAX_AUDIENCE)?
        };
        identity::authenticate(
            &app()?,
            Credential::bearer(&t),
            Via::Binding,
            audience.as_deref(),
        )
        .await
    }
    .await;
    // `[answer, reuse until (unix ms)]`: the entry module answers the same credential from memory until
    // then (0: never).
    let (answer, fresh_until) = match result {
        Ok(who) => (to_js(&IdentityView::from(&who)), who.fresh_until),
        Err(e) => {
            if e.status() >= 500 {
                log_failure("validateToken", &e);
            }
            let answer = JsonObject::new()
                .bool("valid", false)
                .str("error", e.code())
                .finish();
            (text_to_js(&answer), 0)
        }
    };
    #[allow(clippy::cast_precision_loss)]
    let until_ms = JsValue::from_f64(fresh_until.saturating_mul(1000) as f64);
    js_sys::Array::of2(&answer, &until_ms).into()
}

/// `checkPermission({userId, resource, action, organizationId?, scopes?})` → boolean. `scopes` is
/// an optional ceiling (an API key's scopes as returned by `validateToken`).
#[wasm_bindgen(js_name = checkPermission)]
pub async fn check_permission(query: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let f = object_arg(query, "query")?;
        let user_id = f.user_id("userId")?;
        let q = Question::parse(&f)?;
        // A caller-supplied ceiling (an API key's scopes) can only narrow the answer.
        let ceiling = f.opt_scopes("scopes")?;
        permissions::is_allowed(&app()?, &user_id, ceiling.as_deref(), &q).await
    }
    .await;
    result
        .map(JsValue::from_bool)
        .map_err(|e| reject("checkPermission", &e))
}

/// `createApiKey({userId, name, expiresInDays?, environment?, scopes?})` →
/// `{success:true, apiKey}` (the key view, with the key shown once) or `{success:false, error}`.
#[wasm_bindgen(js_name = createApiKey)]
pub async fn create_api_key(params: JsValue) -> JsValue {
    let result = async {
        let f = object_arg(params, "params")?;
        let user_id = f.user_id("userId")?;
        let req = CreateKey::parse(&f)?;
        api_keys::create(&app()?, &user_id, None, req, &Client::default()).await
    }
    .await;
    match result {
        Ok(created) => text_to_js(
            &JsonObject::new()
                .bool("success", true)
                .value("apiKey", &ApiKeyView::from(created))
                .finish(),
        ),
        Err(e) => {
            log_failure("createApiKey", &e);
            text_to_js(
                &JsonObject::new()
                    .bool("success", false)
                    .str("error", e.code())
                    .str("error_description", &e.description())
                    .finish(),
            )
        }
    }
}

/// `revokeApiKey(userId, keyId)` → boolean (false when that user has no such key).
#[wasm_bindgen(js_name = revokeApiKey)]
pub async fn revoke_api_key(user_id: JsValue, key_id: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let user_id = input::user_id("userId", &string_arg(&user_id, "userId", 64)?)?;
        let Ok(key_id) = ApiKeyId::parse(&string_arg(&key_id, "keyId", 64)?) else {
            return Ok(false);
        };
        api_keys::revoke(&app()?, &user_id, &key_id, None, &Client::default()).await
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
        sessions::refresh(
            &app()?,
            &t,
            &Client::default(),
            &sessions::RefreshFor::FirstParty,
        )
        .await
    }
    .await;
    result
        .map(|p| {
            text_to_js(
                &JsonObject::new()
                    .str("token", &p.token)
                    .str("refreshToken", &p.refresh_token)
                    .finish(),
            )
        })
        .map_err(|e| reject("refreshSession", &e))
}

/// `revokeSession(sessionId)` → boolean: true once the session is revoked (also when it already
/// was), false when no session has this id.
#[wasm_bindgen(js_name = revokeSession)]
pub async fn revoke_session(session_id: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let Ok(id) = SessionId::parse(&string_arg(&session_id, "sessionId", 64)?) else {
            return Ok(false);
        };
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
        let user_id = f.user_id("userId")?;
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
            let session = JsonObject::new()
                .str("id", p.session_id.as_str())
                .str("expiresAt", &format_rfc3339(p.session_expires_at))
                .finish();
            text_to_js(
                &JsonObject::new()
                    .str("token", &p.token)
                    .str("refreshToken", &p.refresh_token)
                    .raw("session", &session)
                    .finish(),
            )
        })
        .map_err(|e| reject("createSession", &e))
}

/// `checkMcpRequest({token, resource, method?, tool?})` → `{allowed:true, user, clientId, scope}` or
/// `{allowed:false, status, error, errorDescription, requiredScope?}`: may the holder of `token` make
/// this request to the MCP server whose resource URI is `resource`? (A `tools/call` names its tool.)
/// Rejects only when the question itself is malformed or `resource` is not configured.
#[wasm_bindgen(js_name = checkMcpRequest)]
pub async fn check_mcp_request(query: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let f = object_arg(query, "query")?;
        let token = f.string("token", token::MAX_TOKEN_LEN)?;
        let resource = f.string("resource", MAX_AUDIENCE)?;
        let method = f.opt_string("method", 128)?;
        let tool = f.opt_string("tool", 128)?;
        oauth::mcp::check(
            &app()?,
            &oauth::mcp::McpRequest {
                token: &token,
                resource: &resource,
                method: method.as_deref(),
                tool: tool.as_deref(),
            },
        )
        .await
    }
    .await;
    result
        .map(|answer| to_js(&answer))
        .map_err(|e| reject("checkMcpRequest", &e))
}

/// `getResourceMetadata(resource)` → the RFC 9728 protected resource metadata an MCP server serves
/// for its resource URI (authorization server, scopes); rejects for an unconfigured resource.
#[wasm_bindgen(js_name = getResourceMetadata)]
pub async fn get_resource_metadata(resource: JsValue) -> Result<JsValue, JsValue> {
    let result = (|| {
        let resource = string_arg(&resource, "resource", MAX_AUDIENCE)?;
        oauth::mcp::resource_metadata(&app()?, &resource)
    })();
    result
        .map(|m| to_js(&m))
        .map_err(|e| reject("getResourceMetadata", &e))
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
            None => login_flow::new_state(&platform::random::<32>()?),
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

/// `exchangeWorkOSCode(code, state)` → `{accessToken, refreshToken, user}` (our own tokens).
/// `state` is required: every URL `getWorkOSAuthURL` makes carries a PKCE challenge derived from its
/// state, so an exchange without it could only fail at WorkOS.
#[wasm_bindgen(js_name = exchangeWorkOSCode)]
pub async fn exchange_workos_code(code: JsValue, state: JsValue) -> Result<JsValue, JsValue> {
    let result = async {
        let code = string_arg(&code, "code", 512)?;
        let state = opt_string_arg(&state, "state", 512)?.ok_or_else(|| {
            AppError::invalid_field(
                "state",
                "is required: pass the `state` of the URL getWorkOSAuthURL returned (it carries the PKCE verifier)",
            )
        })?;
        let app = app()?;
        let verifier = login::verifier_for(&app, &state);
        login::complete(&app, &code, Some(&verifier), &Client::default()).await
    }
    .await;
    result
        .map(|s| {
            text_to_js(
                &JsonObject::new()
                    .str("accessToken", &s.pair.token)
                    .str("refreshToken", &s.pair.refresh_token)
                    .value("user", &UserView::from(&s.user))
                    .finish(),
            )
        })
        .map_err(|e| reject("exchangeWorkOSCode", &e))
}
