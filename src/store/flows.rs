//! The `login_flows` table: one row per started sign-in, keyed by the flow key (SHA-256 of its `state`
//! and of the browser binding, see `domain::login_flow::flow_key`), holding the validated return
//! target. Consuming a flow deletes it in the same statement, so a flow is single-use even under
//! concurrent callbacks.

use super::query;
use worker::d1::D1Database;

use crate::error::AppError;

#[derive(Debug)]
pub struct Flow {
    pub return_to: String,
    pub expires_at: i64,
}

impl super::FromRow for Flow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(Flow {
            return_to: row.text("return_to"),
            expires_at: row.int("expires_at"),
        })
    }
}

pub async fn insert(
    db: &D1Database,
    flow_key: &str,
    return_to: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), AppError> {
    // Abandoned flows are pruned by the cron trigger (service::retention).
    super::run(query!(
        db,
        "INSERT INTO login_flows (state_hash, return_to, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        flow_key,
        return_to,
        now,
        expires_at
    )?)
    .await
    .map(|_| ())
}

/// Deletes and returns the flow: the first caller gets it, every later one gets `None`.
pub async fn consume(db: &D1Database, flow_key: &str) -> Result<Option<Flow>, AppError> {
    super::first(query!(
        db,
        "DELETE FROM login_flows WHERE state_hash = ?1 RETURNING return_to, expires_at",
        flow_key
    )?)
    .await
}
