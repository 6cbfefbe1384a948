//! D1 repositories, one file per table group. All SQL of the worker lives under this module and
//! nowhere else. Functions either run one statement or return prepared statements for the caller
//! to put into one `db.batch` (D1's only transaction). Must not hold business rules.

pub mod api_keys;
pub mod audit;
pub mod flows;
pub mod orgs;
pub mod permissions;
pub mod sessions;
pub mod sync;
pub mod users;

use serde::de::DeserializeOwned;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::error::AppError;

/// Runs a statement and returns its rows.
pub async fn all<T: DeserializeOwned>(stmt: D1PreparedStatement) -> Result<Vec<T>, AppError> {
    let result = stmt.all().await?;
    if let Some(err) = result.error() {
        return Err(AppError::internal(format!("d1: {err}")));
    }
    Ok(result.results::<T>()?)
}

/// Runs a statement and returns its first row, if any.
pub async fn first<T: DeserializeOwned>(stmt: D1PreparedStatement) -> Result<Option<T>, AppError> {
    Ok(stmt.first::<T>(None).await?)
}

/// Runs a write and returns how many rows it changed.
pub async fn run(stmt: D1PreparedStatement) -> Result<usize, AppError> {
    let result = stmt.run().await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// Runs statements as one all-or-nothing transaction and returns each statement's changed-row count.
pub async fn batch(
    db: &D1Database,
    stmts: Vec<D1PreparedStatement>,
) -> Result<Vec<usize>, AppError> {
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let results = db.batch(stmts).await?;
    results
        .iter()
        .map(|r| {
            if let Some(err) = r.error() {
                return Err(AppError::internal(format!("d1 batch: {err}")));
            }
            Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0))
        })
        .collect()
}

/// Is this D1 failure a UNIQUE constraint violation (a duplicate, not our fault)?
pub fn is_unique_violation(e: &AppError) -> bool {
    matches!(e, AppError::Internal { detail } if detail.contains("UNIQUE constraint failed"))
}

/// Is this D1 failure a FOREIGN KEY violation (a reference to a row that does not exist)?
pub fn is_foreign_key_violation(e: &AppError) -> bool {
    matches!(e, AppError::Internal { detail } if detail.contains("FOREIGN KEY constraint failed"))
}

/// A trivial query: is D1 answering?
pub async fn ping(db: &D1Database) -> bool {
    matches!(
        db.prepare("SELECT 1 AS ok")
            .first::<serde_json::Value>(None)
            .await,
        Ok(Some(_))
    )
}
