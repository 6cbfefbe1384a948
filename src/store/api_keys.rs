//! The `api_keys` table: SHA-256 of the key (never the key), its prefix and visible start, scopes,
//! expiry and revocation. Lookups by hash use the UNIQUE index on `key_hash`.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::domain::account::AccountStatus;
use crate::domain::ids::{ApiKeyId, OrganizationId, UserId};
use crate::error::AppError;

/// A key as its owner may see it (never the hash).
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub start: String,
    pub scopes: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl super::FromRow for ApiKeyRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(ApiKeyRow {
            id: row.id("id", ApiKeyId::from_stored),
            name: row.text("name"),
            prefix: row.text("prefix"),
            start: row.text("start"),
            scopes: row.opt_text("scopes"),
            organization_id: row.opt_id("organization_id", OrganizationId::from_stored),
            last_used_at: row.opt_int("last_used_at"),
            expires_at: row.int("expires_at"),
            revoked_at: row.opt_int("revoked_at"),
            created_at: row.int("created_at"),
        })
    }
}

/// A key joined with the facts about its owner that authentication needs.
#[derive(Debug, Clone)]
pub struct KeyWithOwner {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub email: String,
    pub role: String,
    pub owner: AccountStatus,
}

struct KeyWithOwnerRow {
    id: ApiKeyId,
    user_id: UserId,
    name: String,
    scopes: Option<String>,
    organization_id: Option<OrganizationId>,
    last_used_at: Option<i64>,
    expires_at: i64,
    revoked_at: Option<i64>,
    email: String,
    role: String,
    is_active: i64,
}

impl super::FromRow for KeyWithOwnerRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(KeyWithOwnerRow {
            id: row.id("id", ApiKeyId::from_stored),
            user_id: row.id("user_id", UserId::from_stored),
            name: row.text("name"),
            scopes: row.opt_text("scopes"),
            organization_id: row.opt_id("organization_id", OrganizationId::from_stored),
            last_used_at: row.opt_int("last_used_at"),
            expires_at: row.int("expires_at"),
            revoked_at: row.opt_int("revoked_at"),
            email: row.text("email"),
            role: row.text("role"),
            is_active: row.int("is_active"),
        })
    }
}

impl From<KeyWithOwnerRow> for KeyWithOwner {
    fn from(r: KeyWithOwnerRow) -> KeyWithOwner {
        KeyWithOwner {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            scopes: r.scopes,
            organization_id: r.organization_id,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            email: r.email,
            role: r.role,
            owner: AccountStatus::from_flag(r.is_active),
        }
    }
}

const COLUMNS: &str =
    "id, user_id, name, prefix, start, scopes, organization_id, last_used_at, expires_at, \
                       revoked_at, created_at";

pub struct NewKey<'a> {
    pub id: &'a ApiKeyId,
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub start: &'a str,
    pub scopes: Option<&'a str>,
    pub organization_id: Option<&'a OrganizationId>,
    pub expires_at: i64,
    pub now: i64,
}

pub fn insert(db: &D1Database, k: &NewKey<'_>) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, start, scopes, organization_id, expires_at,
                               created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        k.id.as_str(),
        k.user_id.as_str(),
        k.name,
        k.key_hash,
        k.prefix,
        k.start,
        k.scopes,
        k.organization_id.map(OrganizationId::as_str),
        k.expires_at,
        k.now
    )?)
}

pub async fn find_by_hash(
    db: &D1Database,
    key_hash: &str,
) -> Result<Option<KeyWithOwner>, AppError> {
    super::first_as::<KeyWithOwnerRow, _>(query!(
        db,
        "SELECT k.id, k.user_id, k.name, k.scopes, k.organization_id, k.last_used_at, k.expires_at, k.revoked_at,
                u.email, u.role, u.is_active
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
        key_hash
    )?)
    .await
}

/// The owner's keys that are not revoked, newest first.
pub async fn list_for_user(db: &D1Database, user_id: &UserId) -> Result<Vec<ApiKeyRow>, AppError> {
    super::all(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 200"
        ),
        user_id.as_str()
    )?)
    .await
}

pub async fn find_for_user(
    db: &D1Database,
    user_id: &UserId,
    id: &ApiKeyId,
) -> Result<Option<ApiKeyRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND user_id = ?2"),
        id.as_str(),
        user_id.as_str()
    )?)
    .await
}

pub fn revoke(db: &D1Database, id: &ApiKeyId, now: i64) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE api_keys SET revoked_at = ?2, updated_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        id.as_str(),
        now
    )?)
}

pub fn revoke_all_for_user(
    db: &D1Database,
    user_id: &UserId,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE api_keys SET revoked_at = ?2, updated_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        user_id.as_str(),
        now
    )?)
}

/// Records use at most once a minute per key (the WHERE makes frequent calls no-ops).
pub async fn touch(db: &D1Database, id: &ApiKeyId, now: i64) -> Result<(), AppError> {
    super::run(query!(
        db,
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 60)",
        id.as_str(),
        now
    )?)
    .await
    .map(|_| ())
}
