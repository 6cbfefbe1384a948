//! `GET /health`: liveness plus a trivial D1 query. Answers even when secrets are missing (so an
//! operator can see the worker runs) but then reports the configuration problem by name.

use serde_json::json;
use worker::{Env, Response};

use super::json;
use crate::config;
use crate::domain::time::format_rfc3339;
use crate::error::AppError;
use crate::platform;

pub async fn get(env: &Env) -> Result<Response, AppError> {
    // Configuration is checked first: a misconfigured worker is not healthy.
    config::load(env)?;
    let db = match env.d1("DB") {
        Ok(db) if crate::store::ping(&db).await => "ok",
        Ok(_) => "error",
        Err(_) => "unbound",
    };
    let status = if db == "ok" { 200 } else { 503 };
    json(
        status,
        &json!({
            "status": if db == "ok" { "ok" } else { "degraded" },
            "service": "auth",
            "timestamp": format_rfc3339(platform::now_secs()),
            "db": db,
        }),
    )
}
