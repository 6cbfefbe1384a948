//! Audit rows: every change to someone's access leaves one, written in the same D1 batch as the
//! change itself so that neither lands without the other. Details are chosen here and never include
//! a secret, token, code or key.

use worker::d1::D1PreparedStatement;

use crate::domain::ids::{AuditId, UserId};
use crate::error::AppError;
use crate::platform;
use crate::service::App;
use crate::store::{self, audit};

pub struct Audit<'a> {
    pub actor: Option<&'a UserId>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

/// A prepared insert, for a batch that carries several audit rows (see [`commit`] for the usual case).
pub fn stmt(app: &App, a: &Audit<'_>, now: i64) -> Result<D1PreparedStatement, AppError> {
    let id = AuditId::generate(&platform::random()?);
    audit::insert(
        &app.db,
        &audit::AuditEvent {
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

/// Writes `change` and the audit row that records it as one all-or-nothing batch; returns the
/// changed-row counts of `change`'s statements.
pub async fn commit(
    app: &App,
    mut change: Vec<D1PreparedStatement>,
    record: &Audit<'_>,
    now: i64,
) -> Result<Vec<usize>, AppError> {
    change.push(stmt(app, record, now)?);
    let mut counts = store::batch(&app.db, change).await?;
    counts.pop();
    Ok(counts)
}
