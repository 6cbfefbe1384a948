//! The `organizations` and `organization_memberships` tables, mirrored from WorkOS (their ids are
//! WorkOS's). Writes carry WorkOS's `updated_at` so an older event never overwrites a newer state.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::domain::ids::{OrganizationId, UserId};
use crate::error::AppError;
use crate::store::users::UserKey;

#[derive(Debug, Clone)]
pub struct MembershipRow {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub role: String,
    pub status: String,
    pub workos_updated_ms: Option<i64>,
}

impl super::FromRow for MembershipRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(MembershipRow {
            user_id: row.id("user_id", UserId::from_stored),
            organization_id: row.id("organization_id", OrganizationId::from_stored),
            role: row.text("role"),
            status: row.text("status"),
            workos_updated_ms: row.opt_int("workos_updated_ms"),
        })
    }
}

pub async fn find_org_updated_ms(
    db: &D1Database,
    id: &OrganizationId,
) -> Result<Option<Option<i64>>, AppError> {
    struct Row {
        workos_updated_ms: Option<i64>,
    }

    impl super::FromRow for Row {
        fn from_row(row: &super::Row) -> Result<Self, AppError> {
            row.check(Row {
                workos_updated_ms: row.opt_int("workos_updated_ms"),
            })
        }
    }
    let row: Option<Row> = super::first(query!(
        db,
        "SELECT workos_updated_ms FROM organizations WHERE id = ?1",
        id.as_str()
    )?)
    .await?;
    Ok(row.map(|r| r.workos_updated_ms))
}

/// Inserts or updates an organization unless the stored version is newer.
pub fn upsert_org(
    db: &D1Database,
    id: &OrganizationId,
    name: &str,
    updated_ms: Option<i64>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO organizations (id, name, workos_updated_ms, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
           workos_updated_ms = COALESCE(excluded.workos_updated_ms, organizations.workos_updated_ms),
           updated_at = excluded.updated_at
         WHERE organizations.workos_updated_ms IS NULL OR excluded.workos_updated_ms IS NULL
            OR excluded.workos_updated_ms >= organizations.workos_updated_ms",
        id.as_str(),
        name,
        updated_ms,
        now
    )?)
}

/// Makes sure an organization row exists without touching a known one (memberships may arrive first).
pub fn ensure_org(
    db: &D1Database,
    id: &OrganizationId,
    name: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO organizations (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (id) DO NOTHING",
        id.as_str(),
        name,
        now
    )?)
}

/// Deleting an organization cascades to its memberships, org-scoped grants and org-scoped sessions.
pub fn delete_org(db: &D1Database, id: &OrganizationId) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "DELETE FROM organizations WHERE id = ?1",
        id.as_str()
    )?)
}

pub async fn find_membership(db: &D1Database, id: &str) -> Result<Option<MembershipRow>, AppError> {
    super::first(query!(
        db,
        "SELECT user_id, organization_id, role, status, workos_updated_ms FROM organization_memberships WHERE id = ?1",
        id
    )?)
    .await
}

/// The membership of one of our users in an organization.
pub async fn find_membership_of(
    db: &D1Database,
    user_id: &UserId,
    organization_id: &OrganizationId,
) -> Result<Option<MembershipRow>, AppError> {
    super::first(query!(
        db,
        "SELECT user_id, organization_id, role, status, workos_updated_ms FROM organization_memberships
         WHERE user_id = ?1 AND organization_id = ?2",
        user_id.as_str(),
        organization_id.as_str()
    )?)
    .await
}

/// The membership of the user with WorkOS id `workos_user_id` in an organization.
pub async fn find_membership_for_workos_user(
    db: &D1Database,
    workos_user_id: &str,
    organization_id: &OrganizationId,
) -> Result<Option<MembershipRow>, AppError> {
    super::first(query!(
        db,
        "SELECT m.user_id, m.organization_id, m.role, m.status, m.workos_updated_ms
         FROM organization_memberships m JOIN users u ON u.id = m.user_id
         WHERE u.workos_id = ?1 AND m.organization_id = ?2",
        workos_user_id,
        organization_id.as_str()
    )?)
    .await
}

pub struct MembershipWrite<'a> {
    pub id: &'a str,
    pub user: UserKey<'a>,
    pub organization_id: &'a OrganizationId,
    pub role: &'a str,
    pub status: &'a str,
    pub updated_ms: Option<i64>,
    pub now: i64,
}

/// Inserts or updates a membership (keyed by WorkOS id, unique per user and organization) unless
/// the stored version is newer.
pub fn upsert_membership(
    db: &D1Database,
    m: &MembershipWrite<'_>,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        &format!("INSERT INTO organization_memberships (id, user_id, organization_id, role, status, workos_updated_ms, created_at, updated_at)
         VALUES (?1, {user}, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (user_id, organization_id) DO UPDATE SET id = excluded.id, role = excluded.role,
           status = excluded.status,
           workos_updated_ms = COALESCE(excluded.workos_updated_ms, organization_memberships.workos_updated_ms),
           updated_at = excluded.updated_at
         WHERE organization_memberships.workos_updated_ms IS NULL OR excluded.workos_updated_ms IS NULL
            OR excluded.workos_updated_ms >= organization_memberships.workos_updated_ms",
            user = m.user.sql(2)
        ),
        m.id,
        m.user.value(),
        m.organization_id.as_str(),
        m.role,
        m.status,
        m.updated_ms,
        m.now
    )?)
}

pub fn delete_membership(db: &D1Database, id: &str) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "DELETE FROM organization_memberships WHERE id = ?1",
        id
    )?)
}

/// Sets the status of a user's membership in an organization (directory sync deprovisioning).
pub fn set_membership_status(
    db: &D1Database,
    user_id: &UserId,
    organization_id: &OrganizationId,
    status: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE organization_memberships SET status = ?3, updated_at = ?4 WHERE user_id = ?1 AND organization_id = ?2",
        user_id.as_str(),
        organization_id.as_str(),
        status,
        now
    )?)
}
