//! `POST /apikeys`, `GET /apikeys`, `DELETE /apikeys/:id`: a person (or one of their keys) manages
//! their own keys. The key itself appears only in the creation response.

use serde_json::json;
use worker::{Request, Response};

use super::body::Fields;
use super::{authenticate, json, read_body, Call, MAX_BODY_BYTES};
use crate::error::AppError;
use crate::service::api_keys::{self, CreateKey};

pub async fn create(req: &mut Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    let fields = Fields::from_json_bytes(&read_body(req, MAX_BODY_BYTES).await?)?;
    let created = api_keys::create(
        &c.app,
        &identity.user_id,
        identity.api_key.as_ref(),
        CreateKey::parse(&fields)?,
        &c.client(),
    )
    .await?;
    let mut body = api_keys::view(&created.row);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("key".into(), created.key.into());
    }
    json(201, &body)
}

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    let rows = api_keys::list(&c.app, &identity.user_id).await?;
    json(
        200,
        &json!({ "apiKeys": rows.iter().map(api_keys::view).collect::<Vec<_>>() }),
    )
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    if !api_keys::revoke(&c.app, &identity.user_id, id, &c.client()).await? {
        return Err(AppError::not_found(
            "api_key_not_found",
            "You have no API key with this id.",
        ));
    }
    json(200, &json!({ "revoked": true, "id": id }))
}
