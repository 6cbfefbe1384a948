//! `GET /.well-known/jwks.json` and the authorization server metadata (`oauth-authorization-server`,
//! also as `openid-configuration`): public documents any origin may read (CORS `*`) and caches may
//! keep for a while (see the key rotation procedure in the README for why the JWKS lifetime is what
//! it is).

use serde::Serialize;
use worker::{Headers, Response};

use super::Call;
use crate::error::AppError;
use crate::service::discovery;

/// How long caches may keep the JWKS: a `JWT_SIGNING_KEY_NEXT` must be published at least this long
/// (plus margin) before it signs anything.
pub const JWKS_MAX_AGE_SECS: u32 = 600;

fn public_json<T: Serialize>(c: &Call, value: &T, max_age: u32) -> Result<Response, AppError> {
    super::oauth::allow_any_origin(c);
    let headers = Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Cache-Control", &format!("public, max-age={max_age}"))?;
    Ok(Response::builder()
        .with_headers(headers)
        .fixed(serde_json::to_vec(value)?))
}

pub fn jwks(c: &Call) -> Result<Response, AppError> {
    public_json(c, &discovery::jwks(&c.app), JWKS_MAX_AGE_SECS)
}

pub fn authorization_server(c: &Call) -> Result<Response, AppError> {
    public_json(c, &discovery::authorization_server(&c.app), 3600)
}
