//! Abuse limits through the Workers Rate Limiting binding: coarse, per Cloudflare location, keyed by
//! what identifies the actor (a session, an API key, a user; an IP address, grouped by /64 for IPv6,
//! only where nothing better exists and as an overall ceiling). The counts are approximate by design;
//! anything that must be exact (refresh-token reuse, single-use codes) is decided in D1 instead.
//!
//! Each limit is one binding in wrangler.toml (`[[ratelimits]]`, where the numbers are tuned; every
//! limiter there uses `period = 60`, which is what `Retry-After` says). A binding that is not
//! configured imposes no limit, so a deployment can drop one deliberately.

use crate::domain::client_ip;
use crate::error::AppError;
use crate::platform;

/// Seconds a refused caller should wait: the period every limiter in wrangler.toml uses.
const PERIOD_SECS: u64 = 60;

#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// Every HTTP request of one client address: the ceiling under all the others.
    Ip,
    /// Starting a sign-in and its callback, per client address (there is no actor yet).
    SignIn,
    /// Refreshing one session.
    Refresh,
    /// Looking up an API key that is not in this isolate's cache, per client address: the cost a
    /// stream of guessed keys would otherwise put on D1.
    ApiKeyLookup,
    /// Requests made with one API key.
    ApiKeyUse,
    /// WorkOS webhook deliveries, per source address.
    Webhook,
    /// Creating API keys and sessions (over HTTP or the binding), per user.
    AccountWrite,
    /// OAuth dynamic client registrations, per client address.
    ClientRegistration,
}

impl Limit {
    fn binding(self) -> &'static str {
        match self {
            Limit::Ip => "RL_IP",
            Limit::SignIn => "RL_SIGN_IN",
            Limit::Refresh => "RL_REFRESH",
            Limit::ApiKeyLookup => "RL_API_KEY_LOOKUP",
            Limit::ApiKeyUse => "RL_API_KEY_USE",
            Limit::Webhook => "RL_WEBHOOK",
            Limit::AccountWrite => "RL_ACCOUNT_WRITE",
            Limit::ClientRegistration => "RL_CLIENT_REGISTRATION",
        }
    }
}

/// Counts one use of `limit` by `actor`; `rate_limited` (429 with `Retry-After`) once over.
pub async fn check(limit: Limit, actor: &str) -> Result<(), AppError> {
    let Ok(limiter) = platform::env().rate_limiter(limit.binding()) else {
        return Ok(());
    };
    // The binding sees only this key; it never leaves Cloudflare, but keep it free of secrets anyway.
    let key = format!("{}:{actor}", limit.binding());
    match limiter.limit(key).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => Err(AppError::RateLimited {
            retry_after_secs: PERIOD_SECS,
        }),
        Err(e) => {
            // The limiter is a guard, not a dependency: if it fails, serve the request.
            worker::console_warn!(
                "{}",
                serde_json::json!({"level":"warn","msg":"rate limiter unavailable","binding":limit.binding(),"detail":e.to_string()})
            );
            Ok(())
        }
    }
}

/// The actor key for a client address (see `domain::client_ip::bucket`).
pub fn client(ip: Option<&str>) -> String {
    client_ip::bucket(ip)
}
