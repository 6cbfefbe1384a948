//! Retention: what the cron trigger deletes, and when. Every table that grows with use has a
//! documented lifetime (README "Retention"); rows past it are deleted in batches of
//! `RETENTION_BATCH_SIZE`, at most `RETENTION_MAX_BATCHES` per table per run, so one run stays well
//! inside a Worker's limits however far behind it is (the next run continues).
//!
//! Never deleted early: a live session (only sessions that *ended* before the cutoff go), an event id
//! still inside WorkOS's redelivery window (the minimum webhook retention exceeds the Events API's 30
//! days), or an audit row younger than the audit period (at least 90 days).

use crate::domain::json::Object;
use crate::error::AppError;
use crate::log;
use crate::platform;
use crate::service::App;
use crate::store::retention::{self, Prunable};

const DAY: i64 = 86_400;

/// The cutoff for each table: rows at or before it may go.
fn cutoffs(app: &App, now: i64) -> [(Prunable, i64); 7] {
    let r = &app.cfg.retention;
    [
        (Prunable::LoginFlows, now),
        (Prunable::OAuthRequests, now),
        (Prunable::OAuthCodes, now - DAY),
        (Prunable::EndedSessions, now - r.sessions_days * DAY),
        (Prunable::WebhookEvents, now - r.webhook_events_days * DAY),
        (Prunable::QuarantinedEvents, now - r.audit_days * DAY),
        (Prunable::AuditEvents, now - r.audit_days * DAY),
    ]
}

/// One pruning pass over every table; returns the rows deleted per table.
pub async fn prune(app: &App) -> Result<Vec<(&'static str, usize)>, AppError> {
    let now = platform::now_secs();
    let r = &app.cfg.retention;
    let mut deleted = Vec::new();
    for (table, cutoff) in cutoffs(app, now) {
        let mut total = 0;
        for _ in 0..r.max_batches {
            let n = retention::prune(&app.db, table, cutoff, r.batch_size).await?;
            total += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < r.batch_size {
                break;
            }
        }
        deleted.push((table.name(), total));
    }
    Ok(deleted)
}

/// The cron job: one pass, summarised in one log line.
pub async fn run(app: &App) {
    match prune(app).await {
        Ok(deleted) => {
            let counts = deleted
                .into_iter()
                .fold(Object::new(), |counts, (table, n)| {
                    counts.int(table, i64::try_from(n).unwrap_or(i64::MAX))
                });
            log::info("retention")
                .raw("deleted", &counts.finish())
                .emit();
        }
        Err(e) => log::error("retention failed").app_error(&e).emit(),
    }
}
