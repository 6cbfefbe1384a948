//! The `users` table: our id, the WorkOS id, WorkOS-owned profile fields and local fields (role,
//! is_active). WorkOS-owned fields are only ever written from WorkOS data.

use serde::Deserialize;
use worker::d1::{D1Database, D1PreparedStatement};
use worker::query;

use crate::domain::account::AccountStatus;
use crate::domain::ids::UserId;
use crate::domain::workos::User as WorkosUser;
use crate::error::AppError;

/// A user as the services see it: the `is_active` flag is already an [`AccountStatus`].
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub picture: Option<String>,
    pub email_verified: bool,
    pub role: String,
    pub status: AccountStatus,
    pub last_login_at: Option<i64>,
    pub workos_updated_ms: Option<i64>,
    pub created_at: i64,
}

#[derive(Deserialize)]
struct Row {
    id: UserId,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    profile_picture_url: Option<String>,
    email_verified: i64,
    role: String,
    is_active: i64,
    last_login_at: Option<i64>,
    workos_updated_ms: Option<i64>,
    created_at: i64,
}

impl From<Row> for User {
    fn from(r: Row) -> User {
        User {
            id: r.id,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            picture: r.profile_picture_url,
            email_verified: r.email_verified != 0,
            role: r.role,
            status: AccountStatus::from_flag(r.is_active),
            last_login_at: r.last_login_at,
            workos_updated_ms: r.workos_updated_ms,
            created_at: r.created_at,
        }
    }
}

/// Which user a row written in the same batch belongs to: one whose id is known, or the one whose
/// `workos_id` this is, resolved inside the statement itself so that every row of a batch refers to
/// the id that is actually stored (two first sign-ins racing each other end in one user).
#[derive(Clone, Copy)]
pub enum UserKey<'a> {
    Id(&'a UserId),
    Workos(&'a str),
}

impl<'a> UserKey<'a> {
    /// The SQL expression for parameter `?n`.
    pub(super) fn sql(self, n: usize) -> String {
        match self {
            UserKey::Id(_) => format!("?{n}"),
            UserKey::Workos(_) => format!("(SELECT id FROM users WHERE workos_id = ?{n})"),
        }
    }

    pub(super) fn value(self) -> &'a str {
        match self {
            UserKey::Id(id) => id.as_str(),
            UserKey::Workos(workos_id) => workos_id,
        }
    }
}

const COLUMNS: &str =
    "id, email, first_name, last_name, profile_picture_url, email_verified, role, \
                       is_active, last_login_at, workos_updated_ms, created_at";

pub async fn find(db: &D1Database, id: &UserId) -> Result<Option<User>, AppError> {
    super::first_as::<Row, _>(query!(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        id.as_str()
    )?)
    .await
}

pub async fn find_by_workos_id(db: &D1Database, workos_id: &str) -> Result<Option<User>, AppError> {
    super::first_as::<Row, _>(query!(
        db,
        &format!("SELECT {COLUMNS} FROM users WHERE workos_id = ?1"),
        workos_id
    )?)
    .await
}

/// The oldest user with this email, compared case-insensitively (served by the NOCASE index).
pub async fn find_by_email(db: &D1Database, email: &str) -> Result<Option<User>, AppError> {
    super::first_as::<Row, _>(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM users WHERE email = ?1 COLLATE NOCASE ORDER BY created_at LIMIT 1"
        ),
        email
    )?)
    .await
}

/// Inserts the user or refreshes the WorkOS-owned fields of an existing one (matched on workos_id);
/// local fields (role, is_active, our id) are kept. `new_id` is used only when inserting.
/// `login_at` records a sign-in; `updated_ms` is WorkOS's `updated_at` (out-of-order guard: an older
/// version never overwrites a newer one).
pub fn upsert_from_workos(
    db: &D1Database,
    new_id: &UserId,
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
        new_id.as_str(),
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
pub fn deactivate(db: &D1Database, id: &UserId, now: i64) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE users SET is_active = 0, updated_at = ?2 WHERE id = ?1",
        id.as_str(),
        now
    )?)
}

/// Directory sync may rename a person; email and WorkOS-owned fields stay with AuthKit events.
pub fn update_names(
    db: &D1Database,
    id: &UserId,
    first_name: Option<&str>,
    last_name: Option<&str>,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE users SET first_name = COALESCE(?2, first_name), last_name = COALESCE(?3, last_name), updated_at = ?4
         WHERE id = ?1",
        id.as_str(),
        first_name,
        last_name,
        now
    )?)
}
