//! The `permissions` (direct grants) and `role_permissions` (what a membership role grants) tables.

use serde::Deserialize;
use worker::d1::D1Database;
use worker::query;

use crate::error::AppError;

#[derive(Debug, Clone, Deserialize)]
pub struct GrantRow {
    pub resource: String,
    pub action: String,
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PermissionRow {
    pub id: String,
    pub user_id: String,
    pub resource: String,
    pub action: String,
    pub organization_id: Option<String>,
    pub granted_by: Option<String>,
    pub created_at: i64,
}

/// The grants that can apply to `user_id` in `organization_id`: direct grants plus those of the
/// roles of the user's active memberships, each scoped to its organization. With no organization,
/// all of them (the pure matcher decides which apply to an org-less question).
pub async fn effective_grants(
    db: &D1Database,
    user_id: &str,
    organization_id: Option<&str>,
) -> Result<Vec<GrantRow>, AppError> {
    super::all(query!(
        db,
        "SELECT resource, action, organization_id FROM permissions
           WHERE user_id = ?1 AND (?2 IS NULL OR organization_id IS NULL OR organization_id = ?2)
         UNION ALL
         SELECT rp.resource, rp.action, m.organization_id FROM organization_memberships m
           JOIN role_permissions rp ON rp.role = m.role
           WHERE m.user_id = ?1 AND m.status = 'active' AND (?2 IS NULL OR m.organization_id = ?2)",
        user_id,
        organization_id
    )?)
    .await
}

pub async fn list_for_user(db: &D1Database, user_id: &str) -> Result<Vec<PermissionRow>, AppError> {
    super::all(query!(
        db,
        "SELECT id, user_id, resource, action, organization_id, granted_by, created_at FROM permissions
         WHERE user_id = ?1 ORDER BY created_at DESC, id DESC",
        user_id
    )?)
    .await
}

pub async fn find(db: &D1Database, id: &str) -> Result<Option<PermissionRow>, AppError> {
    super::first(query!(
        db,
        "SELECT id, user_id, resource, action, organization_id, granted_by, created_at FROM permissions WHERE id = ?1",
        id
    )?)
    .await
}

pub async fn find_same(
    db: &D1Database,
    user_id: &str,
    resource: &str,
    action: &str,
    organization_id: Option<&str>,
) -> Result<Option<PermissionRow>, AppError> {
    super::first(query!(
        db,
        "SELECT id, user_id, resource, action, organization_id, granted_by, created_at FROM permissions
         WHERE user_id = ?1 AND resource = ?2 AND action = ?3 AND COALESCE(organization_id, '') = COALESCE(?4, '')",
        user_id,
        resource,
        action,
        organization_id
    )?)
    .await
}

pub fn insert(
    db: &D1Database,
    p: &PermissionRow,
) -> Result<worker::d1::D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO permissions (id, user_id, resource, action, organization_id, granted_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &p.id,
        &p.user_id,
        &p.resource,
        &p.action,
        &p.organization_id,
        &p.granted_by,
        p.created_at
    )?)
}

pub fn delete(db: &D1Database, id: &str) -> Result<worker::d1::D1PreparedStatement, AppError> {
    Ok(query!(db, "DELETE FROM permissions WHERE id = ?1", id)?)
}
