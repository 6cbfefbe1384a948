//! The `sessions` table: one row per sign-in, holding only hashes of refresh-token ids (never a
//! token), the device facts shown to the user, and revocation state. Rotation is a compare-and-swap
//! on `refresh_hash`, which D1 executes atomically.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::domain::account::AccountStatus;
use crate::domain::ids::{OrganizationId, SessionId, UserId};
use crate::error::AppError;
use crate::store::users::UserKey;

/// A session row (rows this worker wrote, so the ids are read without re-checking).
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub refresh_hash: String,
    pub previous_refresh_hash: Option<String>,
    pub rotated_at: Option<i64>,
    pub device: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub workos_session_id: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Set on an OAuth grant (0005): the client it was issued to and its terms.
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uri: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
    pub refresh_allowed: i64,
}

impl super::FromRow for SessionRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(SessionRow {
            id: row.id("id", SessionId::from_stored),
            user_id: row.id("user_id", UserId::from_stored),
            organization_id: row.opt_id("organization_id", OrganizationId::from_stored),
            refresh_hash: row.text("refresh_hash"),
            previous_refresh_hash: row.opt_text("previous_refresh_hash"),
            rotated_at: row.opt_int("rotated_at"),
            device: row.opt_text("device"),
            ip_address: row.opt_text("ip_address"),
            user_agent: row.opt_text("user_agent"),
            workos_session_id: row.opt_text("workos_session_id"),
            created_at: row.int("created_at"),
            last_used_at: row.int("last_used_at"),
            expires_at: row.int("expires_at"),
            revoked_at: row.opt_int("revoked_at"),
            client_id: row.opt_text("client_id"),
            client_name: row.opt_text("client_name"),
            redirect_uri: row.opt_text("redirect_uri"),
            resource: row.opt_text("resource"),
            scope: row.opt_text("scope"),
            refresh_allowed: row.int("refresh_allowed"),
        })
    }
}

impl SessionRow {
    /// An OAuth grant's terms, or `None` for a first-party session.
    pub fn grant(&self) -> Option<Grant<'_>> {
        Some(Grant {
            client_id: self.client_id.as_deref()?,
            client_name: self.client_name.as_deref().unwrap_or_default(),
            resource: self.resource.as_deref()?,
            scope: self.scope.as_deref().unwrap_or_default(),
            refresh_allowed: self.refresh_allowed != 0,
        })
    }
}

/// What an OAuth grant's session row says about the grant.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
    pub refresh_allowed: bool,
}

const COLUMNS: &str = "id, user_id, organization_id, refresh_hash, previous_refresh_hash, rotated_at, device, \
                       ip_address, user_agent, workos_session_id, created_at, last_used_at, expires_at, revoked_at, \
                       client_id, client_name, redirect_uri, resource, scope, refresh_allowed";

pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user: UserKey<'a>,
    pub organization_id: Option<&'a OrganizationId>,
    pub refresh_hash: &'a str,
    pub device: Option<&'a str>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub workos_session_id: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

pub fn insert(db: &D1Database, s: &NewSession<'_>) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        &format!(
            "INSERT INTO sessions (id, user_id, organization_id, refresh_hash, rotated_at, device, ip_address,
                                   user_agent, workos_session_id, created_at, last_used_at, expires_at)
             VALUES (?1, {user}, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?5, ?5, ?10)",
            user = s.user.sql(2)
        ),
        s.id.as_str(),
        s.user.value(),
        s.organization_id.map(OrganizationId::as_str),
        s.refresh_hash,
        s.now,
        s.device,
        s.ip_address,
        s.user_agent,
        s.workos_session_id,
        s.expires_at
    )?)
}

pub async fn find(db: &D1Database, id: &SessionId) -> Result<Option<SessionRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
        id.as_str()
    )?)
    .await
}

/// The compare-and-swap at the heart of refresh rotation: succeeds (1 row) only for the caller that
/// presents the current refresh id of a live session.
pub async fn rotate(
    db: &D1Database,
    id: &SessionId,
    expected_hash: &str,
    new_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, AppError> {
    let changed = super::run(query!(
        db,
        "UPDATE sessions SET previous_refresh_hash = refresh_hash, refresh_hash = ?3, rotated_at = ?4,
                             last_used_at = ?4, expires_at = ?5
         WHERE id = ?1 AND refresh_hash = ?2 AND revoked_at IS NULL AND expires_at > ?4",
        id.as_str(),
        expected_hash,
        new_hash,
        now,
        expires_at
    )?)
    .await?;
    Ok(changed == 1)
}

/// Which live sessions of a user to list.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Sign-ins (browser or API): what `GET /auth/sessions` shows.
    SignIns,
    /// OAuth grants: the connected apps.
    Grants,
}

/// Live sessions of a user of one kind, newest first.
pub async fn list_active(
    db: &D1Database,
    user_id: &UserId,
    kind: Kind,
    now: i64,
) -> Result<Vec<SessionRow>, AppError> {
    let which = match kind {
        Kind::SignIns => "client_id IS NULL",
        Kind::Grants => "client_id IS NOT NULL",
    };
    super::all(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM sessions WHERE user_id = ?1 AND {which} AND revoked_at IS NULL AND expires_at > ?2
             ORDER BY created_at DESC, id DESC LIMIT 100"
        ),
        user_id.as_str(),
        now
    )?)
    .await
}

/// The live grants of one OAuth client (every user's).
pub async fn live_grant_ids_of_client(
    db: &D1Database,
    client_id: &str,
    now: i64,
) -> Result<Vec<SessionId>, AppError> {
    ids(query!(
        db,
        "SELECT id FROM sessions WHERE client_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        client_id,
        now
    )?)
    .await
}

/// Revokes every live grant of one OAuth client.
pub fn revoke_grants_of_client(
    db: &D1Database,
    client_id: &str,
    reason: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE client_id = ?1 AND revoked_at IS NULL",
        client_id,
        now,
        reason
    )?)
}

/// Revokes one session; revoking twice keeps the first time and reason.
pub fn revoke(
    db: &D1Database,
    id: &SessionId,
    reason: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        id.as_str(),
        now,
        reason
    )?)
}

pub fn revoke_all_for_user(
    db: &D1Database,
    user_id: &UserId,
    reason: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL",
        user_id.as_str(),
        now,
        reason
    )?)
}

/// Our live sessions opened from one WorkOS session (for `session.revoked`).
pub async fn ids_for_workos_session(
    db: &D1Database,
    workos_session_id: &str,
) -> Result<Vec<SessionId>, AppError> {
    ids(query!(
        db,
        "SELECT id FROM sessions WHERE workos_session_id = ?1 AND revoked_at IS NULL",
        workos_session_id
    )?)
    .await
}

/// The session ids a `SELECT id …` returns.
async fn ids(stmt: D1PreparedStatement) -> Result<Vec<SessionId>, AppError> {
    struct Id {
        id: SessionId,
    }

    impl super::FromRow for Id {
        fn from_row(row: &super::Row) -> Result<Self, AppError> {
            row.check(Id {
                id: row.id("id", SessionId::from_stored),
            })
        }
    }
    let rows: Vec<Id> = super::all(stmt).await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// What the hot path needs to know to trust an access token: is the session live and its user active?
#[derive(Debug, Clone)]
pub struct Liveness {
    pub revoked_at: Option<i64>,
    pub expires_at: i64,
    pub account: AccountStatus,
    pub role: String,
}

struct LivenessRow {
    revoked_at: Option<i64>,
    expires_at: i64,
    is_active: i64,
    role: String,
}

impl super::FromRow for LivenessRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(LivenessRow {
            revoked_at: row.opt_int("revoked_at"),
            expires_at: row.int("expires_at"),
            is_active: row.int("is_active"),
            role: row.text("role"),
        })
    }
}

impl From<LivenessRow> for Liveness {
    fn from(r: LivenessRow) -> Liveness {
        Liveness {
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
            account: AccountStatus::from_flag(r.is_active),
            role: r.role,
        }
    }
}

pub async fn liveness(db: &D1Database, id: &SessionId) -> Result<Option<Liveness>, AppError> {
    super::first_as::<LivenessRow, _>(query!(
        db,
        "SELECT s.revoked_at, s.expires_at, u.is_active, u.role FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = ?1",
        id.as_str()
    )?)
    .await
}

/// Revokes a user's sessions scoped to one organization (their membership there ended).
pub fn revoke_for_user_in_org(
    db: &D1Database,
    user_id: &UserId,
    organization_id: &OrganizationId,
    reason: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4
         WHERE user_id = ?1 AND organization_id = ?2 AND revoked_at IS NULL",
        user_id.as_str(),
        organization_id.as_str(),
        now,
        reason
    )?)
}
