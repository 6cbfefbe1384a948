//! The `audit_events` table: append-only records of every change to someone's access. `detail` is
//! JSON chosen by the caller and must never contain a secret, token, code or key.

use worker::d1::{D1Database, D1PreparedStatement};
use worker::query;

use crate::domain::ids::{AuditId, UserId};
use crate::error::AppError;

pub struct AuditEvent<'a> {
    pub id: &'a AuditId,
    pub at: i64,
    pub actor_user_id: Option<&'a UserId>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip_address: Option<&'a str>,
    pub detail: Option<&'a serde_json::Value>,
}

pub fn insert(db: &D1Database, e: &AuditEvent<'_>) -> Result<D1PreparedStatement, AppError> {
    let detail = e.detail.map(|d| d.to_string());
    Ok(query!(
        db,
        "INSERT INTO audit_events (id, at, actor_user_id, action, target_type, target_id, ip_address, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        e.id.as_str(),
        e.at,
        e.actor_user_id.map(UserId::as_str),
        e.action,
        e.target_type,
        e.target_id,
        e.ip_address,
        detail
    )?)
}
