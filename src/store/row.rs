//! D1 rows read column by column. A row arrives as a plain JS object (column name → `null`, a
//! number or a string); each row type says which columns it reads and as what ([`FromRow`]). Reading
//! by hand instead of through serde keeps one small reader per type in the WASM instead of a serde
//! visitor per type and deserializer (about 16 KiB gzipped; the README's performance section).

use std::cell::Cell;

use wasm_bindgen::{JsCast, JsValue};

use crate::error::AppError;

/// One row of a D1 result. Its readers never fail on their own: a column that is missing or of the
/// wrong type reads as empty and is remembered, and [`Row::check`] turns the finished value into that
/// error. (One check per row instead of one per column keeps each reader small.)
pub struct Row {
    value: JsValue,
    wrong: Cell<Option<(&'static str, &'static str)>>,
}

/// A type made from one D1 row.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, AppError>;
}

/// A whole number that a JS number holds exactly (what D1 gives for an INTEGER column).
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

impl Row {
    pub(super) fn new(value: JsValue) -> Option<Row> {
        value.is_object().then_some(Row {
            value,
            wrong: Cell::new(None),
        })
    }

    /// `value`, unless a column read for it was missing or of the wrong type.
    pub fn check<T>(&self, value: T) -> Result<T, AppError> {
        match self.wrong.take() {
            None => Ok(value),
            Some((column, want)) => Err(AppError::internal(format!(
                "d1: column {column} is not {want}"
            ))),
        }
    }

    #[inline(never)]
    fn mark(&self, column: &'static str, want: &'static str) {
        if self.wrong.get().is_none() {
            self.wrong.set(Some((column, want)));
        }
    }

    /// The column's value; `None` when it is NULL or not in the row.
    fn get(&self, column: &str) -> Option<JsValue> {
        js_sys::Reflect::get(&self.value, &JsValue::from_str(column))
            .ok()
            .filter(|v| !v.is_null() && !v.is_undefined())
    }

    #[inline(never)]
    pub fn opt_text(&self, column: &'static str) -> Option<String> {
        let value = self.get(column)?;
        let text = value.as_string();
        if text.is_none() {
            self.mark(column, "text");
        }
        text
    }

    #[inline(never)]
    pub fn text(&self, column: &'static str) -> String {
        match self.get(column) {
            Some(value) => value.as_string(),
            None => None,
        }
        .unwrap_or_else(|| {
            self.mark(column, "text");
            String::new()
        })
    }

    #[inline(never)]
    pub fn opt_int(&self, column: &'static str) -> Option<i64> {
        let value = self.get(column)?;
        match value.as_f64() {
            // Whole and within ±2^53: the conversion is exact.
            Some(n) if n.fract() == 0.0 && n.abs() <= MAX_EXACT => Some(n as i64),
            _ => {
                self.mark(column, "an integer");
                None
            }
        }
    }

    #[inline(never)]
    pub fn int(&self, column: &'static str) -> i64 {
        if self.get(column).is_none() {
            self.mark(column, "an integer");
            return 0;
        }
        self.opt_int(column).unwrap_or(0)
    }

    /// A text column holding one of our ids.
    pub fn id<T>(&self, column: &'static str, from_stored: fn(String) -> T) -> T {
        from_stored(self.text(column))
    }

    pub fn opt_id<T>(&self, column: &'static str, from_stored: fn(String) -> T) -> Option<T> {
        self.opt_text(column).map(from_stored)
    }
}

/// A statement's rows (`results` of a D1 result object).
pub(super) fn rows<T: FromRow>(result: &JsValue) -> Result<Vec<T>, AppError> {
    let results = js_sys::Reflect::get(result, &JsValue::from_str("results"))
        .ok()
        .and_then(|v| v.dyn_into::<js_sys::Array>().ok());
    let Some(results) = results else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(usize::try_from(results.length()).unwrap_or(0));
    for v in results.iter() {
        let row = Row::new(v).ok_or_else(|| AppError::internal("d1: a row is not an object"))?;
        out.push(T::from_row(&row)?);
    }
    Ok(out)
}
