//! D1 repositories, one file per table group. All SQL of the worker lives under this module and
//! nowhere else. Functions either run one statement or return prepared statements for the caller
//! to put into one `db.batch` (D1's only transaction). Rows become typed values here (an `is_active`
//! integer never leaves this module). Must not hold business rules.

pub mod api_keys;
pub mod audit;
pub mod events;
pub mod flows;
pub mod oauth;
pub mod orgs;
pub mod permissions;
pub mod retention;
pub mod sessions;
pub mod tombstones;
pub mod users;

use serde::de::DeserializeOwned;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::error::{AppError, Constraint};

/// The one place that recognises D1 constraint failures. D1 reports them only as message text
/// (SQLite's "UNIQUE constraint failed: …" / "FOREIGN KEY constraint failed"), so this is where that
/// text is read; everything above sees [`AppError::Constraint`].
fn classify(message: String) -> AppError {
    let kind = if message.contains("UNIQUE constraint failed") {
        Some(Constraint::Unique)
    } else if message.contains("FOREIGN KEY constraint failed") {
        Some(Constraint::ForeignKey)
    } else {
        None
    };
    match kind {
        Some(kind) => AppError::Constraint {
            kind,
            detail: format!("d1: {message}"),
        },
        None => AppError::internal(format!("d1: {message}")),
    }
}

fn d1_error(e: worker::Error) -> AppError {
    classify(e.to_string())
}

/// Runs a statement and returns its rows.
pub async fn all<T: DeserializeOwned>(stmt: D1PreparedStatement) -> Result<Vec<T>, AppError> {
    let result = stmt.all().await.map_err(d1_error)?;
    if let Some(err) = result.error() {
        return Err(classify(err));
    }
    Ok(result.results::<T>()?)
}

/// Runs a statement and returns its first row, if any.
pub async fn first<T: DeserializeOwned>(stmt: D1PreparedStatement) -> Result<Option<T>, AppError> {
    stmt.first::<T>(None).await.map_err(d1_error)
}

/// Runs a statement and returns its first row converted from its raw row type `R`.
pub async fn first_as<R: DeserializeOwned, T: From<R>>(
    stmt: D1PreparedStatement,
) -> Result<Option<T>, AppError> {
    Ok(first::<R>(stmt).await?.map(T::from))
}

/// Runs a write and returns how many rows it changed.
pub async fn run(stmt: D1PreparedStatement) -> Result<usize, AppError> {
    let result = stmt.run().await.map_err(d1_error)?;
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
    let results = db.batch(stmts).await.map_err(d1_error)?;
    results
        .iter()
        .map(|r| {
            if let Some(err) = r.error() {
                return Err(classify(err));
            }
            Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_constraint_messages_become_typed_constraints() {
        let unique = classify(
            "D1_ERROR: UNIQUE constraint failed: permissions.user_id: SQLITE_CONSTRAINT".into(),
        );
        assert!(unique.is_constraint(Constraint::Unique));
        let fk = classify("FOREIGN KEY constraint failed: SQLITE_CONSTRAINT".into());
        assert!(fk.is_constraint(Constraint::ForeignKey));
        let other = classify("no such table: nope".into());
        assert!(!other.is_constraint(Constraint::Unique));
        assert_eq!(other.code(), "internal_error");
    }
}
