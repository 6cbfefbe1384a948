//! Audit rows: every change to someone's access leaves one, written in the same D1 batch as the
//! change itself so that neither lands without the other. Details are chosen here and never include
//! a secret, token, code or key. Admins read them back page by page (`GET /audit`).

use serde::Serialize;
use worker::d1::D1PreparedStatement;

use crate::domain::encoding::{b64url_decode, b64url_encode};
use crate::domain::ids::{AuditId, UserId};
use crate::domain::permission::Scope;
use crate::domain::time::format_rfc3339;
use crate::error::{AppError, Code};
use crate::platform;
use crate::service::identity::Identity;
use crate::service::permissions::{self, Question};
use crate::service::App;
pub use crate::store::audit::When;
use crate::store::users::UserKey;
use crate::store::{self, audit};

pub struct Audit<'a> {
    pub actor: Option<UserKey<'a>>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    /// A JSON object's text (built with `domain::json::Object`).
    pub detail: Option<String>,
}

fn event<'a>(a: &'a Audit<'a>, id: &'a AuditId, now: i64) -> audit::AuditEvent<'a> {
    audit::AuditEvent {
        id,
        at: now,
        actor: a.actor,
        action: a.action,
        target_type: a.target_type,
        target_id: a.target_id,
        ip_address: a.ip,
        detail: a.detail.as_deref(),
    }
}

/// A prepared insert, for a batch that carries several audit rows (see [`commit`] for the usual case).
pub fn stmt(app: &App, a: &Audit<'_>, now: i64) -> Result<D1PreparedStatement, AppError> {
    stmt_when(app, a, When::Always, now)
}

/// A prepared insert that lands only if `when` holds as the batch reaches it: for a change whose own
/// statement may turn out to change nothing (a concurrent batch got there first), so the log says
/// what happened rather than what was attempted.
pub fn stmt_when(
    app: &App,
    a: &Audit<'_>,
    when: When<'_>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    let id = AuditId::generate(&platform::random()?);
    audit::insert_when(&app.db, &event(a, &id, now), when)
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

/// A validated request for audit rows (see `GET /audit`).
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub action: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub cursor: Option<Cursor>,
    pub limit: i64,
}

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// Where the previous page ended: its last row's time and id. Opaque to clients (base64url).
pub struct Cursor {
    at: i64,
    id: String,
}

impl Cursor {
    pub fn parse(raw: &str) -> Result<Cursor, AppError> {
        let refused =
            || AppError::invalid_field("cursor", "is not a cursor this endpoint returned");
        let text = b64url_decode(raw)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(refused)?;
        let (at, id) = text.split_once('.').ok_or_else(refused)?;
        Ok(Cursor {
            at: at.parse().map_err(|_| refused())?,
            id: AuditId::parse(id).map_err(|_| refused())?.into_string(),
        })
    }

    fn encode(at: i64, id: &AuditId) -> String {
        b64url_encode(format!("{at}.{id}").as_bytes())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    id: AuditId,
    at: String,
    actor_user_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    ip_address: Option<String>,
    detail: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    events: Vec<AuditEventView>,
    /// Pass back as `cursor` for the next (older) page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Reads audit rows, newest first, one page at a time. Needs `audit:read` (admins have it).
pub async fn read(app: &App, who: &Identity, q: &AuditQuery) -> Result<AuditPage, AppError> {
    let needed = Question {
        scope: Scope::parse("audit:read").map_err(|_| AppError::internal("bad scope literal"))?,
        organization_id: None,
    };
    if !permissions::caller_may(app, who, &needed).await? {
        return Err(
            Code::Forbidden.with("Reading the audit log needs the `audit:read` permission.")
        );
    }
    // One row more than asked tells whether there is a next page.
    let rows = audit::list(
        &app.db,
        &audit::AuditFilter {
            user_id: q.user_id.as_ref().map(UserId::as_str),
            action: q.action.as_deref(),
            from: q.from,
            to: q.to,
            before: q.cursor.as_ref().map(|c| (c.at, c.id.as_str())),
            limit: q.limit + 1,
        },
    )
    .await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > q.limit;
    let page: Vec<_> = rows
        .into_iter()
        .take(usize::try_from(q.limit).unwrap_or(0))
        .collect();
    let next_cursor = if more {
        page.last().map(|r| Cursor::encode(r.at, &r.id))
    } else {
        None
    };
    Ok(AuditPage {
        events: page
            .into_iter()
            .map(|r| AuditEventView {
                at: format_rfc3339(r.at),
                detail: r
                    .detail
                    .as_deref()
                    .and_then(|d| crate::domain::json::parse(d.as_bytes()).ok()),
                id: r.id,
                actor_user_id: r.actor_user_id,
                action: r.action,
                target_type: r.target_type,
                target_id: r.target_id,
                ip_address: r.ip_address,
            })
            .collect(),
        next_cursor,
    })
}
