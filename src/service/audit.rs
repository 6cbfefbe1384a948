//! Building audit rows: every change to someone's access leaves one. Details are chosen here and
//! never include secrets.

use worker::d1::D1PreparedStatement;

use crate::error::AppError;
use crate::platform;
use crate::service::App;
use crate::store::audit::{self, AuditEvent};

pub struct Audit<'a> {
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

/// A prepared insert, to ride in the same batch as the change it records.
pub fn stmt(app: &App, a: Audit<'_>, now: i64) -> Result<D1PreparedStatement, AppError> {
    let id = platform::new_id("aud")?;
    audit::insert(
        &app.db,
        &AuditEvent {
            id: &id,
            at: now,
            actor_user_id: a.actor,
            action: a.action,
            target_type: a.target_type,
            target_id: a.target_id,
            ip_address: a.ip,
            detail: a.detail.as_ref(),
        },
    )
}
