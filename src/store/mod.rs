//! D1 repositories, one file per table group. All SQL of the worker lives under this module and
//! nowhere else. Functions either run one statement or return prepared statements for the caller
//! to put into one `db.batch` (D1's only transaction). Rows become typed values here (an `is_active`
//! integer never leaves this module). Must not hold business rules.

pub mod api_keys;
pub mod audit;
pub mod events;
pub mod flows;
pub mod oauth;
pub mod orgs;
pub mod permissions;
pub mod retention;
mod row;
pub mod sessions;
pub mod tombstones;
pub mod users;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::d1::{D1Database, D1PreparedStatement};
use worker::worker_sys::D1Database as D1DatabaseSys;

use crate::error::{AppError, Constraint};
pub use row::{FromRow, Row};

/// A value bound to a `?N` parameter, as D1 takes it: text as a string, whole numbers as a JS number
/// (exact to 2^53; a larger one binds as `undefined`, which D1 refuses, rather than as a rounded
/// number), `None` as NULL.
pub trait Bind {
    fn js(&self) -> JsValue;
}

impl Bind for str {
    fn js(&self) -> JsValue {
        JsValue::from_str(self)
    }
}

impl Bind for String {
    fn js(&self) -> JsValue {
        JsValue::from_str(self)
    }
}

impl Bind for i64 {
    #[allow(clippy::cast_precision_loss)] // only values within ±2^53, where the conversion is exact
    fn js(&self) -> JsValue {
        if self.unsigned_abs() <= 9_007_199_254_740_991 {
            JsValue::from_f64(*self as f64)
        } else {
            JsValue::UNDEFINED
        }
    }
}

impl<T: Bind + ?Sized> Bind for &T {
    fn js(&self) -> JsValue {
        (**self).js()
    }
}

impl<T: Bind> Bind for Option<T> {
    fn js(&self) -> JsValue {
        self.as_ref().map_or(JsValue::NULL, Bind::js)
    }
}

/// A statement with its parameters bound (what the `query!` macro calls).
pub fn prepare(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<D1PreparedStatement, AppError> {
    let db: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let prepared = db.prepare(sql).map_err(d1_error)?;
    if params.is_empty() {
        return Ok(prepared.into());
    }
    let params: js_sys::Array = params.iter().collect();
    prepared
        .bind(params)
        .map(D1PreparedStatement::from)
        .map_err(d1_error)
}

/// `query!(db, sql, a, b, …)`: `sql` prepared on `db` with `a` bound to `?1`, `b` to `?2`, … (each
/// a [`Bind`] value).
macro_rules! query {
    ($db:expr, $sql:expr $(, $param:expr)* $(,)?) => {
        $crate::store::prepare($db, $sql, &[$($crate::store::Bind::js(&$param)),*])
    };
}
pub(crate) use query;

/// The one place that recognises D1 constraint failures. D1 reports them only as message text
/// (SQLite's "UNIQUE constraint failed: …" / "FOREIGN KEY constraint failed"), so this is where that
/// text is read; everything above sees [`AppError::Constraint`].
fn classify(message: String) -> AppError {
    let kind = if message.contains("UNIQUE constraint failed") {
        Some(Constraint::Unique)
    } else if message.contains("FOREIGN KEY constraint failed") {
        Some(Constraint::ForeignKey)
    } else {
        None
    };
    match kind {
        Some(kind) => AppError::Constraint {
            kind,
            detail: format!("d1: {message}"),
        },
        None => AppError::internal(format!("d1: {message}")),
    }
}

/// A D1 call that threw: its message (SQLite's text is in the message or its `cause`).
fn d1_error(e: JsValue) -> AppError {
    let message = |v: &JsValue| {
        v.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
    };
    let cause = e
        .dyn_ref::<js_sys::Error>()
        .and_then(|err| message(&err.cause()));
    let text = match (message(&e), cause) {
        (Some(m), Some(c)) => format!("{m} ({c})"),
        (Some(m), None) => m,
        (None, _) => e
            .as_string()
            .unwrap_or_else(|| "the call failed".to_owned()),
    };
    classify(text)
}

/// Awaits a D1 call, a JS promise that may also fail to start.
async fn call(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, AppError> {
    JsFuture::from(promise.map_err(d1_error)?)
        .await
        .map_err(d1_error)
}

/// A result object's `error`, if D1 reported one there instead of throwing.
fn reported_error(result: &JsValue) -> Option<AppError> {
    js_sys::Reflect::get(result, &JsValue::from_str("error"))
        .ok()
        .and_then(|v| v.as_string())
        .map(classify)
}

/// A result object's `meta.changes`: how many rows a write changed.
fn changes(result: &JsValue) -> usize {
    js_sys::Reflect::get(result, &JsValue::from_str("meta"))
        .and_then(|meta| js_sys::Reflect::get(&meta, &JsValue::from_str("changes")))
        .ok()
        .and_then(|n| n.as_f64())
        .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= 4_294_967_295.0)
        .map_or(0, |n| n as usize)
}

/// Runs a statement and returns its rows.
pub async fn all<T: FromRow>(stmt: D1PreparedStatement) -> Result<Vec<T>, AppError> {
    let result = call(stmt.inner().all()).await?;
    if let Some(err) = reported_error(&result) {
        return Err(err);
    }
    row::rows(&result)
}

/// Runs a statement and returns its first row, if any.
pub async fn first<T: FromRow>(stmt: D1PreparedStatement) -> Result<Option<T>, AppError> {
    let value = call(stmt.inner().first(None)).await?;
    match Row::new(value) {
        Some(row) => T::from_row(&row).map(Some),
        None => Ok(None),
    }
}

/// Runs a statement and returns its first row converted from its raw row type `R`.
pub async fn first_as<R: FromRow, T: From<R>>(
    stmt: D1PreparedStatement,
) -> Result<Option<T>, AppError> {
    Ok(first::<R>(stmt).await?.map(T::from))
}

/// Runs a write and returns how many rows it changed.
pub async fn run(stmt: D1PreparedStatement) -> Result<usize, AppError> {
    let result = call(stmt.inner().run()).await?;
    if let Some(err) = reported_error(&result) {
        return Err(err);
    }
    Ok(changes(&result))
}

/// Runs statements as one all-or-nothing transaction and returns each statement's changed-row count.
pub async fn batch(
    db: &D1Database,
    stmts: Vec<D1PreparedStatement>,
) -> Result<Vec<usize>, AppError> {
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let statements: js_sys::Array = stmts.iter().map(|s| JsValue::from(s.inner())).collect();
    let db: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let results = call(db.batch(statements)).await?;
    let results = results
        .dyn_into::<js_sys::Array>()
        .map_err(|_| AppError::internal("d1: batch did not answer a list"))?;
    let mut counts = Vec::with_capacity(usize::try_from(results.length()).unwrap_or(0));
    for r in results.iter() {
        if let Some(err) = reported_error(&r) {
            return Err(err);
        }
        counts.push(changes(&r));
    }
    Ok(counts)
}

/// A trivial query: is D1 answering?
pub async fn ping(db: &D1Database) -> bool {
    matches!(
        call(db.prepare("SELECT 1 AS ok").inner().first(None)).await,
        Ok(v) if v.is_object()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_constraint_messages_become_typed_constraints() {
        let unique = classify(
            "D1_ERROR: UNIQUE constraint failed: permissions.user_id: SQLITE_CONSTRAINT".into(),
        );
        assert!(unique.is_constraint(Constraint::Unique));
        let fk = classify("FOREIGN KEY constraint failed: SQLITE_CONSTRAINT".into());
        assert!(fk.is_constraint(Constraint::ForeignKey));
        let other = classify("no such table: nope".into());
        assert!(!other.is_constraint(Constraint::Unique));
        assert_eq!(other.code(), "internal_error");
    }
}
