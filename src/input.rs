//! Untrusted input shared by both adapters (HTTP bodies and query strings, RPC arguments): one rule
//! for strings (trimmed, non-empty, at most N characters) and typed fields of a JSON object, with
//! errors that name the field and never echo its value (a value may be a token). Sits below `http`
//! and `rpc` so services can take parsed input without knowing where it came from. Must not do I/O.

use serde_json::{Map, Value};

use crate::domain::ids::{IdError, OrganizationId, UserId};
use crate::domain::permission::Scope;
use crate::error::{AppError, Code};

/// The one string rule: surrounding white space is dropped; the rest must be 1..=`max` characters.
pub fn text(name: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let s = raw.trim();
    if s.is_empty() {
        Err(AppError::invalid_field(name, "must not be empty"))
    } else if s.chars().count() > max {
        Err(AppError::invalid_field(
            name,
            &format!("must be at most {max} characters"),
        ))
    } else {
        Ok(s.to_owned())
    }
}

/// A user id from a caller (see `domain::ids::UserId`).
pub fn user_id(name: &str, raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw.trim())
        .map_err(|IdError| AppError::invalid_field(name, "is not a valid user id"))
}

/// An organization id from a caller (see `domain::ids::OrganizationId`).
pub fn organization_id(name: &str, raw: &str) -> Result<OrganizationId, AppError> {
    OrganizationId::parse(raw.trim())
        .map_err(|IdError| AppError::invalid_field(name, "is not a valid organization id"))
}

/// The most scopes one list may hold, and the longest scope (`resource:action`, 64 + 1 + 64).
pub const MAX_SCOPES: usize = 50;
pub const MAX_SCOPE_LEN: usize = 129;

/// One JSON object of untrusted input.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Parses bytes that must hold one JSON object.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Fields, AppError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Code::InvalidRequest.with("The request body must be a JSON object."));
        }
        match crate::domain::json::parse(bytes) {
            Ok(v) => Fields::from_value(v),
            Err(_) => Err(Code::InvalidJson.err()),
        }
    }

    pub fn from_value(v: Value) -> Result<Fields, AppError> {
        match v {
            Value::Object(map) => Ok(Fields(map)),
            _ => Err(Code::InvalidRequest.with("Expected a JSON object.")),
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string (see [`text`]).
    pub fn string(&self, name: &str, max: usize) -> Result<String, AppError> {
        self.opt_string(name, max)?
            .ok_or_else(|| AppError::invalid_field(name, "is required"))
    }

    pub fn opt_string(&self, name: &str, max: usize) -> Result<Option<String>, AppError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => text(name, s, max).map(Some),
            Some(_) => Err(AppError::invalid_field(name, "must be a string")),
        }
    }

    pub fn user_id(&self, name: &str) -> Result<UserId, AppError> {
        user_id(
            name,
            &self.string(name, crate::domain::ids::MAX_OPAQUE_ID_LEN)?,
        )
    }

    pub fn opt_organization_id(&self, name: &str) -> Result<Option<OrganizationId>, AppError> {
        self.opt_string(name, crate::domain::ids::MAX_OPAQUE_ID_LEN)?
            .map(|s| organization_id(name, &s))
            .transpose()
    }

    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AppError> {
        let refused = || {
            AppError::invalid_field(name, &format!("must be a whole number from {min} to {max}"))
        };
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => Err(refused()),
            },
            Some(_) => Err(refused()),
        }
    }

    /// An optional list of `resource:action` scopes.
    pub fn opt_scopes(&self, name: &str) -> Result<Option<Vec<Scope>>, AppError> {
        let refused = || {
            AppError::invalid_field(
                name,
                &format!(
                    "must be an array of at most {MAX_SCOPES} `resource:action` strings (a-z, 0-9, `_.-`, or `*`)"
                ),
            )
        };
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() <= MAX_SCOPES => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if s.len() <= MAX_SCOPE_LEN => {
                        Scope::parse(s).map_err(|_| refused())
                    }
                    _ => Err(refused()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        Fields::from_value(v).unwrap()
    }

    #[test]
    fn text_is_trimmed_and_measured_in_characters() {
        assert_eq!(text("name", "  ci deploy ", 9).unwrap(), "ci deploy");
        assert_eq!(text("name", "éééé", 4).unwrap(), "éééé");
        assert!(text("name", "ééééé", 4).is_err());
        let e = text("name", "   ", 4).unwrap_err();
        assert!(e.description().contains("`name`"));
    }

    #[test]
    fn a_missing_or_null_field_is_absent_and_a_wrong_type_is_refused_by_name() {
        let f = fields(json!({"a": null, "b": 3, "s": "x"}));
        assert_eq!(f.opt_string("a", 10).unwrap(), None);
        assert_eq!(f.opt_string("zzz", 10).unwrap(), None);
        let e = f.opt_string("b", 10).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.description().contains("`b`"));
        assert!(f
            .string("a", 10)
            .unwrap_err()
            .description()
            .contains("required"));
    }

    #[test]
    fn numbers_must_be_whole_and_in_range() {
        let f = fields(json!({"n": 5, "f": 1.5, "s": "5", "big": 1000}));
        assert_eq!(f.opt_int("n", 1, 10).unwrap(), Some(5));
        for name in ["f", "s", "big"] {
            assert!(f.opt_int(name, 1, 10).is_err(), "{name}");
        }
    }

    #[test]
    fn scopes_must_be_resource_action_pairs() {
        let f =
            fields(json!({"ok": ["docs:read", "*:*"], "bad": ["docs"], "not_list": "docs:read"}));
        assert_eq!(f.opt_scopes("ok").unwrap().unwrap().len(), 2);
        assert!(f.opt_scopes("bad").is_err());
        assert!(f.opt_scopes("not_list").is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("r{i}:read")).collect();
        assert!(fields(json!({ "s": many })).opt_scopes("s").is_err());
    }

    #[test]
    fn ids_use_the_one_rule_of_their_kind() {
        let f =
            fields(json!({"u": "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "o": "org/evil", "bad": "a b"}));
        assert!(f.user_id("u").is_ok());
        assert!(f.user_id("bad").is_err());
        assert!(f.opt_organization_id("o").is_err());
        assert_eq!(f.opt_organization_id("missing").unwrap(), None);
    }

    #[test]
    fn the_body_must_be_one_json_object() {
        assert_eq!(
            Fields::from_json_bytes(b"  ").err().unwrap().code(),
            "invalid_request"
        );
        assert_eq!(
            Fields::from_json_bytes(b"{").err().unwrap().code(),
            "invalid_json"
        );
        assert_eq!(
            Fields::from_json_bytes(b"[1]").err().unwrap().code(),
            "invalid_request"
        );
        assert!(Fields::from_json_bytes(b"{\"a\":1}").is_ok());
    }
}
