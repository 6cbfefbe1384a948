//! Parsing untrusted JSON objects (HTTP bodies and RPC arguments) into typed fields, with errors
//! that name the field and never echo its value (a value may be a token). Must not do I/O.

use serde_json::{Map, Value};

use crate::error::AppError;

pub struct Fields(Map<String, Value>);

impl Fields {
    /// Parses bytes that must hold one JSON object.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Fields, AppError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::bad_request(
                "invalid_request",
                "The request body must be a JSON object.",
            ));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => Fields::from_value(v),
            Err(_) => Err(AppError::bad_request(
                "invalid_json",
                "The request body is not valid JSON.",
            )),
        }
    }

    pub fn from_value(v: Value) -> Result<Fields, AppError> {
        match v {
            Value::Object(map) => Ok(Fields(map)),
            _ => Err(AppError::bad_request(
                "invalid_request",
                "Expected a JSON object.",
            )),
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string of 1..=max characters (after trimming).
    pub fn string(&self, name: &str, max: usize) -> Result<String, AppError> {
        self.opt_string(name, max)?
            .ok_or_else(|| AppError::invalid_field(name, "is required"))
    }

    pub fn opt_string(&self, name: &str, max: usize) -> Result<Option<String>, AppError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    Err(AppError::invalid_field(name, "must not be empty"))
                } else if s.chars().count() > max {
                    Err(AppError::invalid_field(
                        name,
                        &format!("must be at most {max} characters"),
                    ))
                } else {
                    Ok(Some(s.to_owned()))
                }
            }
            Some(_) => Err(AppError::invalid_field(name, "must be a string")),
        }
    }

    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AppError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => Err(AppError::invalid_field(
                    name,
                    &format!("must be a whole number from {min} to {max}"),
                )),
            },
            Some(_) => Err(AppError::invalid_field(
                name,
                &format!("must be a whole number from {min} to {max}"),
            )),
        }
    }

    pub fn opt_string_list(
        &self,
        name: &str,
        max_items: usize,
        max_len: usize,
    ) -> Result<Option<Vec<String>>, AppError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() <= max_items => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.is_empty() && s.len() <= max_len => Ok(s.clone()),
                    _ => Err(AppError::invalid_field(
                        name,
                        &format!("must hold non-empty strings of at most {max_len} characters"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(AppError::invalid_field(
                name,
                &format!("must be an array of at most {max_items} strings"),
            )),
        }
    }
}
