//! `POST /webhooks/workos`: WorkOS events, verified over the raw body before any parsing
//! (tests/fixtures/workos-api.md §6: HMAC-SHA256 of "<t>.<body>", constant-time, 180 s window both ways).
//! Unsigned, forged or stale → 401 with nothing written; malformed JSON under a valid signature →
//! 400; a failure while applying → 500 so WorkOS retries (the batch left nothing half-applied).

use worker::{Request, Response};

use super::{json_text, read_body, Call};
use crate::domain::json::Object as JsonObject;
use crate::domain::webhook;
use crate::domain::workos::Event;
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;
use crate::service::limits::{self, Limit};
use crate::service::sync::{self, Source};

/// WorkOS events are small; this leaves room for large directory-sync payloads.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

pub async fn receive(req: &Request, c: &Call) -> Result<Response, AppError> {
    limits::check(Limit::Webhook, &limits::client(c.ip.as_deref())).await?;
    let secret = c
        .app
        .cfg
        .workos_webhook_secret
        .as_ref()
        .ok_or(AppError::Misconfigured {
            var: "WORKOS_WEBHOOK_SECRET",
            problem: "is not set",
        })?;
    let signature = req.headers().get("workos-signature")?;
    let body = read_body(req, MAX_WEBHOOK_BYTES).await?;
    webhook::verify(
        signature.as_deref(),
        &body,
        secret.expose().as_bytes(),
        platform::now_ms(),
    )
    .map_err(|e| Code::InvalidSignature.err().with_detail(e.as_str()))?;
    let event = crate::domain::json::parse(&body)
        .ok()
        .and_then(|v| Event::from_json(&v).ok())
        .ok_or_else(|| Code::InvalidJson.with("The event is not a JSON WorkOS event envelope."))?;
    if event.id.is_empty()
        || event.id.len() > 128
        || event.event.is_empty()
        || event.event.len() > 128
    {
        return Err(Code::InvalidEvent.with("The event has no usable `id` or `event`."));
    }
    let outcome = sync::apply(&c.app, &event, Source::Webhook).await?;
    log::info("workos event")
        .str("request_id", &c.request_id)
        .str("event_id", &event.id)
        .str("event", &event.event)
        .str("outcome", outcome.as_str())
        .emit();
    json_text(
        200,
        JsonObject::new()
            .bool("received", true)
            .str("outcome", outcome.as_str())
            .finish(),
    )
}
