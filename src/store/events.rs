//! `webhook_events` (ids of WorkOS events already applied, for de-duplication), `quarantined_events`
//! (events that could not be applied) and `sync_state` (the Events API cursor).

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::error::AppError;

const EVENTS_CURSOR: &str = "workos_events_cursor";

pub async fn is_processed(db: &D1Database, event_id: &str) -> Result<bool, AppError> {
    struct One {
        #[allow(dead_code)]
        id: String,
    }

    impl super::FromRow for One {
        fn from_row(row: &super::Row) -> Result<Self, AppError> {
            row.check(One { id: row.text("id") })
        }
    }
    let row: Option<One> = super::first(query!(
        db,
        "SELECT id FROM webhook_events WHERE id = ?1",
        event_id
    )?)
    .await?;
    Ok(row.is_some())
}

/// Marks an event applied. In the same batch as the event's effects: both land or neither does.
/// A concurrent duplicate makes the whole batch fail on the primary key, so an effect never applies twice.
pub fn mark_processed(
    db: &D1Database,
    event_id: &str,
    event: &str,
    source: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO webhook_events (id, event, source, processed_at) VALUES (?1, ?2, ?3, ?4)",
        event_id,
        event,
        source,
        now
    )?)
}

/// Sets aside an event that cannot be applied (see `service::sync`); idempotent.
pub fn quarantine(
    db: &D1Database,
    event_id: &str,
    event: &str,
    source: &str,
    reason: &str,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO quarantined_events (id, event, source, reason, quarantined_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO NOTHING",
        event_id,
        event,
        source,
        reason,
        now
    )?)
}

pub async fn cursor(db: &D1Database) -> Result<Option<String>, AppError> {
    struct Row {
        value: String,
    }

    impl super::FromRow for Row {
        fn from_row(row: &super::Row) -> Result<Self, AppError> {
            row.check(Row {
                value: row.text("value"),
            })
        }
    }
    let row: Option<Row> = super::first(query!(
        db,
        "SELECT value FROM sync_state WHERE name = ?1",
        EVENTS_CURSOR
    )?)
    .await?;
    Ok(row.map(|r| r.value))
}

pub async fn set_cursor(db: &D1Database, value: &str, now: i64) -> Result<(), AppError> {
    super::run(query!(
        db,
        "INSERT INTO sync_state (name, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        EVENTS_CURSOR,
        value,
        now
    )?)
    .await
    .map(|_| ())
}
