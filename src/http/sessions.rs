//! `GET /auth/sessions` and `DELETE /auth/sessions/:id`: a person sees and ends their own sessions.
//! Someone else's session id answers 404, exactly like an unknown or malformed one.

use worker::{Request, Response};

use super::{authenticate, json_text, revoked, Call};
use crate::domain::ids::SessionId;
use crate::domain::json::Object as JsonObject;
use crate::error::{AppError, Code};
use crate::service::{identity, sessions};

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    identity::require_account_access(&who)?;
    let list = sessions::list(&c.app, &who).await?;
    json_text(200, JsonObject::new().value("sessions", &list).finish())
}

pub async fn revoke(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    identity::require_account_access(&who)?;
    let id = SessionId::parse(id).map_err(|_| Code::SessionNotFound.err())?;
    sessions::revoke(
        &c.app,
        &id,
        Some(&who.user_id),
        "revoked_by_user",
        &c.client(),
    )
    .await?
    .ok_or_else(|| Code::SessionNotFound.err())?;
    revoked(id.as_str())
}
