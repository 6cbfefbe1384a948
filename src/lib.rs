//! The `auth` Cloudflare Worker: WorkOS AuthKit proves who a person is; this worker owns everything
//! after that (users, sessions, its own JWTs, API keys, permissions in D1, WorkOS sync).
//!
//! This file holds entry points only: `fetch` (the HTTP surface in [`http`]), `scheduled` (the cron
//! jobs in [`service::scheduled`]) and, through [`rpc`], the `AUTH_SERVICE` methods that sibling
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

mod cimd;
mod config;
mod error;
mod http;
mod input;
mod log;
mod platform;
mod rpc;
mod service;
mod store;
mod workos;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{event, Context, Env, Request, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    Ok(http::handle(req, env, ctx).await)
}

/// The cron entry point (`[triggers]` in wrangler.toml). The entry module (src/entry.mjs) serves it
/// as the default entrypoint's `scheduled` handler, which is also a method any bound worker can call
/// over RPC; only a call carrying the runtime's own `ScheduledController` runs the jobs. (Written by
/// hand rather than with `#[event(scheduled)]`, whose glue unwraps the controller's fields and would
/// trap on a plain object.)
#[wasm_bindgen]
pub async fn scheduled(controller: JsValue, env: JsValue, _ctx: JsValue) -> Result<(), JsValue> {
    if !is_cron_controller(&controller) {
        log::warn("scheduled refused: not called by the cron trigger").emit();
        return Err(
            js_sys::Error::new("forbidden: only the cron trigger runs scheduled jobs").into(),
        );
    }
    service::scheduled::run(&env.unchecked_into::<Env>()).await;
    Ok(())
}

/// `Object.prototype.toString` of the runtime's controller is `[object ScheduledController]`. RPC
/// arguments arrive structured-cloned (plain `[object Object]`) or as stubs (`[object JsRpcStub]`),
/// and neither can carry that tag, so this cannot be forged by a bound worker.
fn is_cron_controller(controller: &JsValue) -> bool {
    let object_prototype = js_sys::Object::get_prototype_of(&js_sys::Object::new());
    js_sys::Reflect::get(&object_prototype, &JsValue::from_str("toString"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|to_string| to_string.call0(controller).ok())
        .and_then(|tag| tag.as_string())
        .is_some_and(|tag| tag == "[object ScheduledController]")
}
