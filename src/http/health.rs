//! `GET /health`: liveness plus a trivial D1 query. Answers even when secrets are missing (so an
//! operator can see the worker runs) but then reports the configuration problem by name.

use worker::{Env, Response};

use super::json;
use crate::error::AppError;
use crate::service::health;

pub async fn get(env: &Env) -> Result<Response, AppError> {
    let h = health::check(env).await?;
    json(if h.is_ok() { 200 } else { 503 }, &h)
}
