//! `GET /auth/sessions` and `DELETE /auth/sessions/:id`: a person sees and ends their own sessions.
//! Someone else's session id answers 404, exactly like an unknown one.

use serde_json::json;
use worker::{Request, Response};

use super::{authenticate, json, Call};
use crate::error::AppError;
use crate::platform;
use crate::service::sessions;
use crate::store;

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    let rows =
        store::sessions::list_active(&c.app.db, &identity.user_id, platform::now_secs()).await?;
    let current = identity.session.as_ref().map(|s| s.id.as_str());
    let list: Vec<_> = rows.iter().map(|s| sessions::view(s, current)).collect();
    json(200, &json!({ "sessions": list }))
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let identity = authenticate(req, c).await?;
    if sessions::revoke(
        &c.app,
        id,
        Some(&identity.user_id),
        "revoked_by_user",
        &c.client(),
    )
    .await?
    .is_none()
    {
        return Err(AppError::not_found(
            "session_not_found",
            "You have no live session with this id.",
        ));
    }
    json(200, &json!({ "revoked": true, "id": id }))
}
