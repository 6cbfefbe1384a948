//! The `users` table: our id, the WorkOS id, WorkOS-owned profile fields and local fields (role,
//! is_active). WorkOS-owned fields are only ever written from WorkOS data. Rows imported from another
//! system (scripts/import-better-auth.mjs) have no WorkOS id until [`link_to_workos`].

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

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

impl super::FromRow for Row {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(Row {
            id: row.id("id", UserId::from_stored),
            email: row.text("email"),
            first_name: row.opt_text("first_name"),
            last_name: row.opt_text("last_name"),
            profile_picture_url: row.opt_text("profile_picture_url"),
            email_verified: row.int("email_verified"),
            role: row.text("role"),
            is_active: row.int("is_active"),
            last_login_at: row.opt_int("last_login_at"),
            workos_updated_ms: row.opt_int("workos_updated_ms"),
            created_at: row.int("created_at"),
        })
    }
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

/// The imported user (no `workos_id` yet) with this email, compared ASCII case-insensitively (SQLite's
/// NOCASE, as 0003's index and 0006's unique index compare it). 0006 allows at most one.
pub async fn find_unlinked_by_email(
    db: &D1Database,
    email: &str,
) -> Result<Option<User>, AppError> {
    super::first_as::<Row, _>(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM users WHERE email = ?1 COLLATE NOCASE AND workos_id IS NULL"
        ),
        email
    )?)
    .await
}

/// SQL that holds while user `?u` may be linked to WorkOS user `?w` whose email is `?e`: the row still
/// has no WorkOS id and has that email, and no row holds `?w` yet (one WorkOS user, one row). The
/// link and its audit row test this same predicate, one right after the other in one batch, so the
/// audit row exists exactly when the link happened, and of racing batches only the first links.
pub(super) fn linkable_sql(u: usize, e: usize, w: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM users WHERE id = ?{u} AND workos_id IS NULL AND email = ?{e} COLLATE NOCASE)
         AND {}",
        unclaimed_sql(w)
    )
}

/// SQL that holds while no row has WorkOS id `?w`, i.e. before that WorkOS user's first write.
pub(super) fn unclaimed_sql(w: usize) -> String {
    format!("NOT EXISTS (SELECT 1 FROM users WHERE workos_id = ?{w})")
}

/// Links an imported user to a WorkOS user (see [`linkable_sql`]; it changes nothing when the
/// predicate no longer holds). Put it before [`upsert_from_workos`] in the same batch: the upsert
/// then finds the linked row by `workos_id` and refreshes its WorkOS-owned fields, keeping our id,
/// role, standing and everything that refers to the id.
pub fn link_to_workos(
    db: &D1Database,
    id: &UserId,
    email: &str,
    workos_id: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        &format!(
            "UPDATE users SET workos_id = ?3, updated_at = ?4 WHERE id = ?1 AND {}",
            linkable_sql(1, 2, 3)
        ),
        id.as_str(),
        email,
        workos_id,
        now
    )?)
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
