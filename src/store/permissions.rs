//! The `permissions` (direct grants) and `role_permissions` (what a membership role grants) tables.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::domain::ids::{OrganizationId, PermissionId, UserId};
use crate::domain::permission::{Grant, Name, Scope};
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct PermissionRow {
    pub id: PermissionId,
    pub user_id: UserId,
    pub resource: String,
    pub action: String,
    pub organization_id: Option<OrganizationId>,
    pub granted_by: Option<UserId>,
    pub created_at: i64,
}

impl super::FromRow for PermissionRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(PermissionRow {
            id: row.id("id", PermissionId::from_stored),
            user_id: row.id("user_id", UserId::from_stored),
            resource: row.text("resource"),
            action: row.text("action"),
            organization_id: row.opt_id("organization_id", OrganizationId::from_stored),
            granted_by: row.opt_id("granted_by", UserId::from_stored),
            created_at: row.int("created_at"),
        })
    }
}

struct GrantRow {
    resource: String,
    action: String,
    organization_id: Option<String>,
}

impl super::FromRow for GrantRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(GrantRow {
            resource: row.text("resource"),
            action: row.text("action"),
            organization_id: row.opt_text("organization_id"),
        })
    }
}

const COLUMNS: &str = "id, user_id, resource, action, organization_id, granted_by, created_at";

/// The grants that can apply to `user_id` in `organization_id`: direct grants plus those of the
/// roles of the user's active memberships, each scoped to its organization. With no organization,
/// all of them (the pure matcher decides which apply to an org-less question). Names were validated
/// when written; a row that no longer parses grants nothing.
pub async fn effective_grants(
    db: &D1Database,
    user_id: &UserId,
    organization_id: Option<&OrganizationId>,
) -> Result<Vec<Grant>, AppError> {
    let rows: Vec<GrantRow> = super::all(query!(
        db,
        "SELECT resource, action, organization_id FROM permissions
           WHERE user_id = ?1 AND (?2 IS NULL OR organization_id IS NULL OR organization_id = ?2)
         UNION ALL
         SELECT rp.resource, rp.action, m.organization_id FROM organization_memberships m
           JOIN role_permissions rp ON rp.role = m.role
           WHERE m.user_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.organization_id = ?2)",
        user_id.as_str(),
        organization_id.map(OrganizationId::as_str)
    )?)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Grant {
                scope: Scope::new(Name::parse(&r.resource).ok()?, Name::parse(&r.action).ok()?),
                organization_id: r.organization_id,
            })
        })
        .collect())
}

pub async fn list_for_user(
    db: &D1Database,
    user_id: &UserId,
) -> Result<Vec<PermissionRow>, AppError> {
    super::all(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM permissions WHERE user_id = ?1 ORDER BY created_at DESC, id DESC"
        ),
        user_id.as_str()
    )?)
    .await
}

pub async fn find(db: &D1Database, id: &PermissionId) -> Result<Option<PermissionRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM permissions WHERE id = ?1"),
        id.as_str()
    )?)
    .await
}

/// The grant of exactly this tuple, if one exists (the tuple is unique).
pub async fn find_same(
    db: &D1Database,
    user_id: &UserId,
    scope: &Scope,
    organization_id: Option<&OrganizationId>,
) -> Result<Option<PermissionRow>, AppError> {
    super::first(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM permissions
             WHERE user_id = ?1 AND resource = ?2 AND action = ?3 AND COALESCE(organization_id, '') = COALESCE(?4, '')"
        ),
        user_id.as_str(),
        scope.resource.as_str(),
        scope.action.as_str(),
        organization_id.map(OrganizationId::as_str)
    )?)
    .await
}

pub fn insert(db: &D1Database, p: &PermissionRow) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO permissions (id, user_id, resource, action, organization_id, granted_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p.id.as_str(),
        p.user_id.as_str(),
        &p.resource,
        &p.action,
        p.organization_id.as_ref().map(OrganizationId::as_str),
        p.granted_by.as_ref().map(UserId::as_str),
        p.created_at
    )?)
}

pub fn delete(db: &D1Database, id: &PermissionId) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "DELETE FROM permissions WHERE id = ?1",
        id.as_str()
    )?)
}
