//! The `audit_events` table: append-only records of every change to someone's access. `detail` is
//! JSON chosen by the caller and must never contain a secret, token, code or key.

use worker::d1::{D1Database, D1PreparedStatement};
use worker::query;

use crate::domain::ids::{AuditId, SessionId};
use crate::error::AppError;
use crate::store::users::UserKey;

pub struct AuditEvent<'a> {
    pub id: &'a AuditId,
    pub at: i64,
    pub actor: Option<UserKey<'a>>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip_address: Option<&'a str>,
    pub detail: Option<&'a serde_json::Value>,
}

pub fn insert(db: &D1Database, e: &AuditEvent<'_>) -> Result<D1PreparedStatement, AppError> {
    insert_where(db, e, None)
}

/// An audit row written only if the session `session_id` exists when the statement runs: for a
/// batch whose change may turn out to do nothing (a lost race), so that no row records what did
/// not happen.
pub fn insert_if_session_exists(
    db: &D1Database,
    e: &AuditEvent<'_>,
    session_id: &SessionId,
) -> Result<D1PreparedStatement, AppError> {
    insert_where(db, e, Some(session_id))
}

fn insert_where(
    db: &D1Database,
    e: &AuditEvent<'_>,
    session_exists: Option<&SessionId>,
) -> Result<D1PreparedStatement, AppError> {
    let detail = e.detail.map(|d| d.to_string());
    let (actor_sql, actor) = match e.actor {
        Some(a) => (a.sql(3), Some(a.value())),
        None => ("?3".to_owned(), None),
    };
    // ?9 is bound either way (D1 refuses unused parameters): NULL means no condition.
    let condition = if session_exists.is_some() {
        "WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?9)"
    } else {
        "WHERE ?9 IS NULL"
    };
    Ok(query!(
        db,
        &format!(
            "INSERT INTO audit_events (id, at, actor_user_id, action, target_type, target_id, ip_address, detail)
             SELECT ?1, ?2, {actor_sql}, ?4, ?5, ?6, ?7, ?8 {condition}"
        ),
        e.id.as_str(),
        e.at,
        actor,
        e.action,
        e.target_type,
        e.target_id,
        e.ip_address,
        detail,
        session_exists.map(SessionId::as_str)
    )?)
}

/// One audit row as read back.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuditRow {
    pub id: AuditId,
    pub at: i64,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip_address: Option<String>,
    pub detail: Option<String>,
}

/// Which audit rows to read, newest first.
pub struct AuditFilter<'a> {
    /// Rows where this user acted or was acted on.
    pub user_id: Option<&'a str>,
    pub action: Option<&'a str>,
    /// `from <= at < to`, unix seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Keyset cursor: only rows strictly older than `(at, id)`.
    pub before: Option<(i64, &'a str)>,
    pub limit: i64,
}

pub async fn list(db: &D1Database, f: &AuditFilter<'_>) -> Result<Vec<AuditRow>, AppError> {
    use worker::wasm_bindgen::JsValue;
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<JsValue> = Vec::new();
    let mut param = |value: JsValue| {
        params.push(value);
        params.len()
    };
    if let Some(user) = f.user_id {
        let n = param(user.into());
        conditions.push(format!("(actor_user_id = ?{n} OR target_id = ?{n})"));
    }
    if let Some(action) = f.action {
        let n = param(action.into());
        conditions.push(format!("action = ?{n}"));
    }
    // Unix seconds fit an f64 exactly (D1 takes numbers as f64).
    #[allow(clippy::cast_precision_loss)]
    let secs = |t: i64| JsValue::from_f64(t as f64);
    if let Some(from) = f.from {
        let n = param(secs(from));
        conditions.push(format!("at >= ?{n}"));
    }
    if let Some(to) = f.to {
        let n = param(secs(to));
        conditions.push(format!("at < ?{n}"));
    }
    if let Some((at, id)) = f.before {
        let a = param(secs(at));
        let i = param(id.into());
        conditions.push(format!("(at < ?{a} OR (at = ?{a} AND id < ?{i}))"));
    }
    let limit = param(secs(f.limit));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, at, actor_user_id, action, target_type, target_id, ip_address, detail
         FROM audit_events {filter} ORDER BY at DESC, id DESC LIMIT ?{limit}"
    );
    super::all(db.prepare(sql).bind(&params)?).await
}
