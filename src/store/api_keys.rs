//! The `api_keys` table: SHA-256 of the key (never the key), its prefix and visible start, scopes,
//! expiry and revocation. Lookups by hash use the UNIQUE index on `key_hash`.

use serde::Deserialize;
use worker::d1::{D1Database, D1PreparedStatement};
use worker::query;

use crate::error::AppError;

#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub start: String,
    pub scopes: Option<String>,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// A key joined with the facts about its owner that authentication needs.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyWithOwner {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: Option<String>,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub email: String,
    pub role: String,
    pub is_active: i64,
}

const COLUMNS: &str =
    "id, user_id, name, prefix, start, scopes, last_used_at, expires_at, revoked_at, created_at";

pub struct NewKey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub start: &'a str,
    pub scopes: Option<&'a str>,
    pub expires_at: i64,
    pub now: i64,
}

pub fn insert(db: &D1Database, k: &NewKey<'_>) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, start, scopes, expires_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        k.id,
        k.user_id,
        k.name,
        k.key_hash,
        k.prefix,
        k.start,
        k.scopes,
        k.expires_at,
        k.now
    )?)
}

pub async fn find_by_hash(
    db: &D1Database,
    key_hash: &str,
) -> Result<Option<KeyWithOwner>, AppError> {
    super::first(query!(
        db,
        "SELECT k.id, k.user_id, k.name, k.scopes, k.last_used_at, k.expires_at, k.revoked_at,
                u.email, u.role, u.is_active
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
        key_hash
    )?)
    .await
}

/// The owner's keys that are not revoked, newest first.
pub async fn list_for_user(db: &D1Database, user_id: &str) -> Result<Vec<ApiKeyRow>, AppError> {
    super::all(query!(
        db,
        &format!(
            "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 200"
        ),
        user_id
    )?)
    .await
}

pub async fn find_for_user(
    db: &D1Database,
    user_id: &str,
    id: &str,
) -> Result<Option<ApiKeyRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND user_id = ?2"),
        id,
        user_id
    )?)
    .await
}

pub fn revoke(db: &D1Database, id: &str, now: i64) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE api_keys SET revoked_at = ?2, updated_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        id,
        now
    )?)
}

pub fn revoke_all_for_user(
    db: &D1Database,
    user_id: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "UPDATE api_keys SET revoked_at = ?2, updated_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        user_id,
        now
    )?)
}

/// Records use at most once a minute per key (the WHERE makes frequent calls no-ops).
pub async fn touch(db: &D1Database, id: &str, now: i64) -> Result<(), AppError> {
    super::run(query!(
        db,
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 60)",
        id,
        now
    )?)
    .await
    .map(|_| ())
}
