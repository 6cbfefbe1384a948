//! The `auth` Cloudflare Worker: WorkOS AuthKit proves who a person is; this worker owns everything
//! after that (users, sessions, its own JWTs, API keys, permissions in D1, WorkOS sync).
//!
//! This file holds entry points only: `fetch` (the HTTP surface in [`http`]), `scheduled` (the Events
//! API catch-up in [`service::sync`]) and, through [`rpc`], the `AUTH_SERVICE` methods that sibling
//! workers call over a service binding. Pure rules live in the `auth-domain` crate (re-exported as
//! [`domain`]), which cannot import `worker` at all; SQL lives only in [`store`].
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub use auth_domain as domain;

mod config;
mod error;
mod http;
mod input;
mod platform;
mod rpc;
mod service;
mod store;
mod workos;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

/// Installs the panic hook (idempotent). Not `#[event(start)]`: that would export a `start`
/// function, which worker-build would attach to the entrypoint as one more RPC method.
pub(crate) fn init() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    init();
    Ok(http::handle(req, env, ctx).await)
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    init();
    service::sync::run_scheduled(&env).await;
}
