//! The `audit_events` table: append-only records of every change to someone's access. `detail` is
//! JSON chosen by the caller and must never contain a secret, token, code or key.

use worker::d1::{D1Database, D1PreparedStatement};
use worker::wasm_bindgen::JsValue;

use crate::domain::ids::{AuditId, SessionId, UserId};
use crate::error::AppError;
use crate::store::users::{self, UserKey};

pub struct AuditEvent<'a> {
    pub id: &'a AuditId,
    pub at: i64,
    pub actor: Option<UserKey<'a>>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip_address: Option<&'a str>,
    /// A JSON object's text.
    pub detail: Option<&'a str>,
}

/// When an audit row is written: always, or only if a condition holds at the moment the batch
/// reaches the row (the same condition the change it records depends on), so that no row records
/// what did not happen.
#[derive(Clone, Copy)]
pub enum When<'a> {
    Always,
    /// The session exists (a batch that opens it may have lost a race, e.g. to redeem a code).
    SessionExists(&'a SessionId),
    /// `users::link_to_workos` with these values would link now: put the row right before it.
    Linkable {
        user: &'a UserId,
        email: &'a str,
        workos_id: &'a str,
    },
    /// No user has this WorkOS id yet: put the row before the statement that writes the first one.
    WorkosIdUnclaimed(&'a str),
}

pub fn insert_when(
    db: &D1Database,
    e: &AuditEvent<'_>,
    when: When<'_>,
) -> Result<D1PreparedStatement, AppError> {
    let text = |v: Option<&str>| v.map_or(JsValue::NULL, JsValue::from);
    let (actor_sql, actor) = match e.actor {
        Some(a) => (a.sql(3), Some(a.value())),
        None => ("?3".to_owned(), None),
    };
    let mut params = vec![
        JsValue::from(e.id.as_str()),
        secs(e.at),
        text(actor),
        JsValue::from(e.action),
        JsValue::from(e.target_type),
        JsValue::from(e.target_id),
        text(e.ip_address),
        text(e.detail),
    ];
    // D1 refuses more bound values than the statement has parameters: each condition adds its own.
    let condition = match when {
        When::Always => "1".to_owned(),
        When::SessionExists(id) => {
            params.push(JsValue::from(id.as_str()));
            "EXISTS (SELECT 1 FROM sessions WHERE id = ?9)".to_owned()
        }
        When::Linkable {
            user,
            email,
            workos_id,
        } => {
            params.extend([user.as_str(), email, workos_id].map(JsValue::from));
            users::linkable_sql(9, 10, 11)
        }
        When::WorkosIdUnclaimed(workos_id) => {
            params.push(JsValue::from(workos_id));
            users::unclaimed_sql(9)
        }
    };
    let sql = format!(
        "INSERT INTO audit_events (id, at, actor_user_id, action, target_type, target_id, ip_address, detail)
         SELECT ?1, ?2, {actor_sql}, ?4, ?5, ?6, ?7, ?8 WHERE {condition}"
    );
    super::prepare(db, &sql, &params)
}

/// One audit row as read back.
#[derive(Debug, Clone)]
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

impl super::FromRow for AuditRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(AuditRow {
            id: row.id("id", AuditId::from_stored),
            at: row.int("at"),
            actor_user_id: row.opt_text("actor_user_id"),
            action: row.text("action"),
            target_type: row.opt_text("target_type"),
            target_id: row.opt_text("target_id"),
            ip_address: row.opt_text("ip_address"),
            detail: row.opt_text("detail"),
        })
    }
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

/// Unix seconds as D1 takes numbers (f64, exact to 2^53; an i64 would cross as a BigInt D1 refuses).
#[allow(clippy::cast_precision_loss)]
fn secs(t: i64) -> JsValue {
    JsValue::from_f64(t as f64)
}

pub async fn list(db: &D1Database, f: &AuditFilter<'_>) -> Result<Vec<AuditRow>, AppError> {
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
    super::all(super::prepare(db, &sql, &params)?).await
}
