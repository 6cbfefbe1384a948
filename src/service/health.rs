//! Liveness: is the configuration usable and does D1 answer a trivial query?

use serde::Serialize;
use worker::Env;

use crate::config;
use crate::domain::time::format_rfc3339;
use crate::error::AppError;
use crate::platform;
use crate::store;

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub service: &'static str,
    pub timestamp: String,
    pub db: &'static str,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.db == "ok"
    }
}

/// Checks the configuration first (a misconfigured worker is not healthy: the error names the
/// variable), then D1.
pub async fn check(env: &Env) -> Result<Health, AppError> {
    config::load(env)?;
    let db = match env.d1("DB") {
        Ok(db) if store::ping(&db).await => "ok",
        Ok(_) => "error",
        Err(_) => "unbound",
    };
    Ok(Health {
        status: if db == "ok" { "ok" } else { "degraded" },
        service: "auth",
        timestamp: format_rfc3339(platform::now_secs()),
        db,
    })
}
