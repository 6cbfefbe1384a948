//! Pruning by age, in bounded batches: each call deletes at most `limit` rows of one table that are
//! past their cutoff, and says how many it deleted. What "past" means per table is decided here from
//! the cutoff the service passes; which cutoff is the service's rule.

use super::query;
use worker::d1::D1Database;

use crate::error::AppError;

/// A table that grows with use, and the rows of it that are no longer needed.
#[derive(Clone, Copy, Debug)]
pub enum Prunable {
    /// Sign-ins that expired (they are single-use and live ten minutes).
    LoginFlows,
    /// Sessions that ended (revoked or expired) before the cutoff: live sessions never match.
    EndedSessions,
    /// De-duplication ids of WorkOS events processed before the cutoff.
    WebhookEvents,
    /// Quarantined WorkOS events set aside before the cutoff.
    QuarantinedEvents,
    /// Audit rows older than the cutoff.
    AuditEvents,
    /// OAuth authorization requests nobody answered in time (they live ten minutes).
    OAuthRequests,
    /// OAuth authorization codes that expired before the cutoff (kept a while after their minute,
    /// so that a late replay still finds, and revokes, what the code opened).
    OAuthCodes,
}

impl Prunable {
    pub fn name(self) -> &'static str {
        match self {
            Prunable::LoginFlows => "login_flows",
            Prunable::EndedSessions => "sessions",
            Prunable::WebhookEvents => "webhook_events",
            Prunable::QuarantinedEvents => "quarantined_events",
            Prunable::AuditEvents => "audit_events",
            Prunable::OAuthRequests => "oauth_requests",
            Prunable::OAuthCodes => "oauth_codes",
        }
    }

    /// The rows this prunes, given the cutoff as `?1`.
    fn condition(self) -> &'static str {
        match self {
            Prunable::LoginFlows => "expires_at <= ?1",
            Prunable::EndedSessions => "revoked_at <= ?1 OR expires_at <= ?1",
            Prunable::WebhookEvents => "processed_at <= ?1",
            Prunable::QuarantinedEvents => "quarantined_at <= ?1",
            Prunable::AuditEvents => "at <= ?1",
            Prunable::OAuthRequests | Prunable::OAuthCodes => "expires_at <= ?1",
        }
    }
}

/// Deletes up to `limit` rows of `table` matched by its condition at `cutoff`.
pub async fn prune(
    db: &D1Database,
    table: Prunable,
    cutoff: i64,
    limit: i64,
) -> Result<usize, AppError> {
    super::run(query!(
        db,
        &format!(
            "DELETE FROM {name} WHERE rowid IN (SELECT rowid FROM {name} WHERE {condition} LIMIT ?2)",
            name = table.name(),
            condition = table.condition()
        ),
        cutoff,
        limit
    )?)
    .await
}
