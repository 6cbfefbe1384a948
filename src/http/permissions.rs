//! `GET /permissions?userId=`, `POST /permissions`, `DELETE /permissions/:id`: direct grants,
//! managed by callers with `permissions:manage` (admins have it). Anyone may list their own.

use worker::{Request, Response};

use super::{authenticate, json, json_text, read_body, revoked, Call, MAX_BODY_BYTES};
use crate::domain::ids::PermissionId;
use crate::domain::json::Object as JsonObject;
use crate::error::{AppError, Code};
use crate::input::{self, Fields};
use crate::service::permissions::{self, Question};

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    let user_id = match c.query()?.get("userId") {
        Some(raw) => input::user_id("userId", raw)?,
        None => who.user_id.clone(),
    };
    let list = permissions::list(&c.app, &who, &user_id).await?;
    json_text(
        200,
        JsonObject::new()
            .str("userId", user_id.as_str())
            .value("permissions", &list)
            .finish(),
    )
}

pub async fn grant(req: &mut Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    permissions::require_manage(&c.app, &who).await?;
    let fields = Fields::from_json_bytes(&read_body(req, MAX_BODY_BYTES).await?)?;
    let user_id = fields.user_id("userId")?;
    let q = Question::parse(&fields)?;
    let (view, created) =
        permissions::grant(&c.app, &who.user_id, &user_id, &q, &c.client()).await?;
    json(if created { 201 } else { 200 }, &view)
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    permissions::require_manage(&c.app, &who).await?;
    let id = PermissionId::parse(id).map_err(|_| Code::PermissionNotFound.err())?;
    if !permissions::revoke(&c.app, &who.user_id, &id, &c.client()).await? {
        return Err(Code::PermissionNotFound.err());
    }
    revoked(id.as_str())
}
