//! The `users` table: our id, the WorkOS id, WorkOS-owned profile fields and local fields (role,
//! is_active). WorkOS-owned fields are only ever written from WorkOS data.

use serde::Deserialize;
use worker::d1::{D1Database, D1PreparedStatement};
use worker::query;

use crate::domain::workos::User as WorkosUser;
use crate::error::AppError;

#[derive(Debug, Clone, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub profile_picture_url: Option<String>,
    pub email_verified: i64,
    pub role: String,
    pub is_active: i64,
    pub last_login_at: Option<i64>,
    pub workos_updated_ms: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, workos_id, email, first_name, last_name, profile_picture_url, email_verified, \
                       role, is_active, last_login_at, workos_updated_ms, created_at, updated_at";

pub async fn find(db: &D1Database, id: &str) -> Result<Option<UserRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        id
    )?)
    .await
}

pub async fn find_by_workos_id(
    db: &D1Database,
    workos_id: &str,
) -> Result<Option<UserRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE workos_id = ?1"),
        workos_id
    )?)
    .await
}

/// Inserts the user or refreshes the WorkOS-owned fields of an existing one (matched on workos_id);
/// local fields (role, is_active, our id) are kept. `new_id` is used only when inserting.
/// `login_at` records a sign-in; `updated_ms` is WorkOS's `updated_at` (out-of-order guard: an older
/// version never overwrites a newer one).
pub fn upsert_from_workos(
    db: &D1Database,
    new_id: &str,
    u: &WorkosUser,
    updated_ms: Option<i64>,
    login_at: Option<i64>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO users (id, workos_id, email, first_name, last_name, profile_picture_url, email_verified,
                            last_login_at, workos_updated_ms, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT (workos_id) DO UPDATE SET
           email = excluded.email, first_name = excluded.first_name, last_name = excluded.last_name,
           profile_picture_url = excluded.profile_picture_url, email_verified = excluded.email_verified,
           workos_updated_ms = COALESCE(excluded.workos_updated_ms, users.workos_updated_ms),
           last_login_at = COALESCE(excluded.last_login_at, users.last_login_at),
           updated_at = excluded.updated_at
         WHERE users.workos_updated_ms IS NULL OR excluded.workos_updated_ms IS NULL
            OR excluded.workos_updated_ms >= users.workos_updated_ms",
        new_id,
        &u.id,
        &u.email,
        &u.first_name,
        &u.last_name,
        &u.profile_picture_url,
        i64::from(u.email_verified),
        login_at,
        updated_ms,
        now
    )?)
}

/// Deactivates a user (WorkOS deleted them); the row stays so audit and foreign keys keep meaning.
pub fn deactivate(db: &D1Database, id: &str, now: i64) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE users SET is_active = 0, updated_at = ?2 WHERE id = ?1",
        id,
        now
    )?)
}

pub async fn find_by_email(db: &D1Database, email: &str) -> Result<Option<UserRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE email = ?1 COLLATE NOCASE ORDER BY created_at LIMIT 1"),
        email
    )?)
    .await
}

/// Directory sync may rename a person; email and WorkOS-owned fields stay with AuthKit events.
pub fn update_names(
    db: &D1Database,
    id: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE users SET first_name = COALESCE(?2, first_name), last_name = COALESCE(?3, last_name), updated_at = ?4
         WHERE id = ?1",
        id,
        first_name,
        last_name,
        now
    )?)
}
