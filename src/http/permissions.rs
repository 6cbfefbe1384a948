//! `GET /permissions?userId=`, `POST /permissions`, `DELETE /permissions/:id`: direct grants,
//! managed by callers with `permissions:manage` (admins have it). Anyone may list their own.

use serde_json::json;
use worker::{Request, Response};

use super::body::Fields;
use super::{authenticate, json, query, read_body, Call, MAX_BODY_BYTES};
use crate::error::AppError;
use crate::service::permissions::{self, Question};
use crate::store;

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    let user_id = query(c)
        .get("userId")
        .cloned()
        .unwrap_or_else(|| identity.user_id.clone());
    if user_id != identity.user_id {
        permissions::require_manage(&c.app, &identity).await?;
    }
    let rows = store::permissions::list_for_user(&c.app.db, &user_id).await?;
    json(
        200,
        &json!({ "userId": user_id, "permissions": rows.iter().map(permissions::view).collect::<Vec<_>>() }),
    )
}

pub async fn grant(req: &mut Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    permissions::require_manage(&c.app, &identity).await?;
    let fields = Fields::from_json_bytes(&read_body(req, MAX_BODY_BYTES).await?)?;
    let user_id = fields.string("userId", 64)?;
    let resource = fields.string("resource", 64)?;
    let action = fields.string("action", 64)?;
    let org = fields.opt_string("organizationId", 64)?;
    let q = Question::parse(&resource, &action, org.as_deref())?;
    let (row, created) =
        permissions::grant(&c.app, &identity.user_id, &user_id, &q, &c.client()).await?;
    json(if created { 201 } else { 200 }, &permissions::view(&row))
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    permissions::require_manage(&c.app, &identity).await?;
    if !permissions::revoke(&c.app, &identity.user_id, id, &c.client()).await? {
        return Err(AppError::not_found(
            "permission_not_found",
            "No permission has this id.",
        ));
    }
    json(200, &json!({ "revoked": true, "id": id }))
}
