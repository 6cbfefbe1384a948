//! Abuse limits through the Workers Rate Limiting binding: coarse, per Cloudflare location, keyed by
//! what identifies the actor (a session, an API key, a user; an IP address, grouped by /64 for IPv6,
//! only where nothing better exists and as an overall ceiling). The counts are approximate by design;
//! anything that must be exact (refresh-token reuse, single-use codes) is decided in D1 instead.
//!
//! Each limit is one binding in wrangler.toml (`[[ratelimits]]`, where the numbers are tuned; every
//! limiter there uses `period = 60`, which is what `Retry-After` says). A binding that is not
//! configured imposes no limit, so a deployment can drop one deliberately.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::worker_sys::RateLimiter as RateLimiterSys;

use crate::domain::client_ip;
use crate::error::AppError;
use crate::log;
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
    match ask(&limiter, &key).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AppError::RateLimited {
            retry_after_secs: PERIOD_SECS,
        }),
        Err(e) => {
            // The limiter is a guard, not a dependency: if it fails, serve the request.
            let detail = e.dyn_ref::<js_sys::Error>().map_or_else(
                || "the call failed".to_owned(),
                |e| String::from(e.message()),
            );
            log::warn("rate limiter unavailable")
                .str("binding", limit.binding())
                .str("detail", &detail)
                .emit();
            Ok(())
        }
    }
}

/// `limiter.limit({key})`: whether this use is within the limit (the binding's `success`).
async fn ask(limiter: &worker::RateLimiter, key: &str) -> Result<bool, JsValue> {
    let limiter: &RateLimiterSys = limiter.as_ref().unchecked_ref();
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &JsValue::from_str("key"), &JsValue::from_str(key))?;
    let outcome = JsFuture::from(limiter.limit(options)?).await?;
    let success = js_sys::Reflect::get(&outcome, &JsValue::from_str("success"))?;
    // An answer without a boolean `success` is the binding failing, not a verdict.
    success
        .as_bool()
        .ok_or_else(|| JsValue::from(js_sys::Error::new("the answer has no boolean `success`")))
}

/// The actor key for a client address (see `domain::client_ip::bucket`).
pub fn client(ip: Option<&str>) -> String {
    client_ip::bucket(ip)
}
