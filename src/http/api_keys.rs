//! `POST /apikeys`, `GET /apikeys`, `DELETE /apikeys/:id`: a person (or one of their keys) manages
//! their own keys. The key itself appears only in the creation response.

use worker::{Request, Response};

use super::{authenticate, json, json_text, read_body, revoked, Call, MAX_BODY_BYTES};
use crate::domain::ids::ApiKeyId;
use crate::domain::json::Object as JsonObject;
use crate::error::{AppError, Code};
use crate::input::Fields;
use crate::service::api_keys::{self, ApiKeyView, CreateKey};
use crate::service::identity;

pub async fn create(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    identity::require_account_access(&who)?;
    let fields = Fields::from_json_bytes(&read_body(req, MAX_BODY_BYTES).await?)?;
    let created = api_keys::create(
        &c.app,
        &who.user_id,
        who.api_key.as_ref(),
        CreateKey::parse(&fields)?,
        &c.client(),
    )
    .await?;
    json(201, &ApiKeyView::from(created))
}

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    identity::require_account_access(&who)?;
    let list = api_keys::list(&c.app, &who.user_id).await?;
    json_text(200, JsonObject::new().value("apiKeys", &list).finish())
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    identity::require_account_access(&who)?;
    let id = ApiKeyId::parse(id).map_err(|_| Code::ApiKeyNotFound.err())?;
    if !api_keys::revoke(&c.app, &who.user_id, &id, who.api_key.as_ref(), &c.client()).await? {
        return Err(Code::ApiKeyNotFound.err());
    }
    revoked(id.as_str())
}
