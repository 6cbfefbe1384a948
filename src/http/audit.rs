//! `GET /audit`: the audit log for callers with `audit:read`, newest first, filtered by `userId`,
//! `action`, `from` / `to` (RFC 3339 or unix seconds) and paged with `limit` and `cursor`.

use worker::{Request, Response};

use super::{authenticate, json, Call};
use crate::domain::time::parse_rfc3339_ms;
use crate::error::AppError;
use crate::input;
use crate::service::audit::{self, AuditQuery, Cursor, DEFAULT_PAGE, MAX_PAGE};

fn time(name: &str, raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| parse_rfc3339_ms(raw).map(|ms| ms.div_euclid(1000)))
        .ok_or_else(|| AppError::invalid_field(name, "must be an RFC 3339 time or unix seconds"))
}

pub async fn list(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    let q = c.query()?;
    let query = AuditQuery {
        user_id: q
            .get("userId")
            .map(|u| input::user_id("userId", u))
            .transpose()?,
        action: q
            .get("action")
            .map(|a| input::text("action", a, 64))
            .transpose()?,
        from: q.get("from").map(|t| time("from", t)).transpose()?,
        to: q.get("to").map(|t| time("to", t)).transpose()?,
        cursor: q.get("cursor").map(|raw| Cursor::parse(raw)).transpose()?,
        limit: match q.get("limit") {
            None => DEFAULT_PAGE,
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "limit",
                        &format!("must be a whole number from 1 to {MAX_PAGE}"),
                    )
                })?,
        },
    };
    json(200, &audit::read(&c.app, &who, &query).await?)
}
