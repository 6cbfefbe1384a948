//! A JSON object written field by field into a string: for log lines, audit details and small
//! answers. It costs a few bytes of WASM per field where `serde_json::json!` builds a map of values
//! and serialises it (the switch saved about 12 KiB of gzipped WASM; the README's performance
//! section). Values that are already typed (`Serialize` views) go in through [`Object::value`].

use serde::Serialize;

/// An object under construction; [`Object::finish`] closes it.
#[derive(Clone)]
pub struct Object {
    text: String,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

/// `s` as a JSON string literal (RFC 8259 §7: quote, backslash and control characters escaped).
pub fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let n = u32::from(c);
                out.push_str("\\u00");
                out.push(char::from_digit(n >> 4, 16).unwrap_or('0'));
                out.push(char::from_digit(n & 0xf, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Object {
    pub fn new() -> Object {
        Object {
            text: String::from("{"),
        }
    }

    #[inline(never)]
    fn key(&mut self, key: &str) -> &mut String {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        quote_into(&mut self.text, key);
        self.text.push(':');
        &mut self.text
    }

    #[inline(never)]
    pub fn str(mut self, key: &str, value: &str) -> Object {
        quote_into(self.key(key), value);
        self
    }

    /// `null` for `None`.
    #[inline(never)]
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Object {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    #[inline(never)]
    pub fn int(self, key: &str, value: i64) -> Object {
        let text = value.to_string();
        self.raw(key, &text)
    }

    pub fn bool(self, key: &str, value: bool) -> Object {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// `json` must already be one JSON value (an object built here, a number, `null`).
    #[inline(never)]
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key).push_str(json);
        self
    }

    /// A typed value, serialised by serde. Only for types whose serialisation cannot fail (no maps
    /// with non-string keys); a failure would write `null`.
    pub fn value<T: Serialize + ?Sized>(self, key: &str, value: &T) -> Object {
        let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        self.raw(key, &json)
    }

    /// The object's text.
    #[inline(never)]
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn an_empty_object_is_two_braces() {
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn fields_read_back_as_what_was_written() {
        let text = Object::new()
            .str("s", "x")
            .opt_str("none", None)
            .opt_str("some", Some("y"))
            .int("n", -42)
            .int("big", 9_007_199_254_740_991)
            .bool("t", true)
            .bool("f", false)
            .raw("inner", &Object::new().str("a", "b").finish())
            .value("list", &["p", "q"])
            .finish();
        assert_eq!(
            parse(&text),
            json!({"s": "x", "none": null, "some": "y", "n": -42, "big": 9_007_199_254_740_991_i64,
                   "t": true, "f": false, "inner": {"a": "b"}, "list": ["p", "q"]})
        );
    }

    #[test]
    fn every_character_that_json_must_escape_round_trips() {
        let mut hostile = String::from("quote \" backslash \\ slash / unicode é ✓ 𝄞 \u{2028}");
        for c in 0u8..0x20 {
            hostile.push(char::from(c));
        }
        hostile.push('\u{7f}');
        let text = Object::new().str(&hostile, &hostile).finish();
        let value = parse(&text);
        assert_eq!(value[&hostile], Value::String(hostile.clone()));
        assert!(
            !text.bytes().any(|b| b < 0x20),
            "no raw control byte: {text:?}"
        );
    }

    #[test]
    fn a_line_cannot_be_split_or_extended_by_its_values() {
        let text = Object::new()
            .str("msg", "a\nb\",\"level\":\"error")
            .finish();
        assert!(!text.contains('\n'));
        let value = parse(&text);
        assert_eq!(value.as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_copy_goes_on_apart_from_its_original() {
        let base = Object::new().str("a", "1");
        let more = base.clone().str("b", "2");
        assert_eq!(base.finish(), r#"{"a":"1"}"#);
        assert_eq!(more.finish(), r#"{"a":"1","b":"2"}"#);
    }
}

/// Parses JSON text into a `Value`, refusing any object that names a member twice. RFC 8259 §4
/// leaves the meaning of such an object open and readers disagree (first or last wins); serde's
/// derives refuse it, and so does every JSON reader here, so no other reader of the same text can
/// see a member we did not. Everything else is as `serde_json::from_slice::<Value>` reads it.
pub fn parse(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice::<Unique>(bytes).map(|u| u.0)
}

/// A setting that holds a JSON array of `what` (`OAUTH_CLIENTS`, `OAUTH_RESOURCES`), each entry read
/// by `entry`. The error is for the operator: it says what is wrong, never quoting a value.
pub fn parse_setting_list<T>(
    text: &str,
    what: &str,
    entry: fn(&serde_json::Value) -> Result<T, Shape>,
) -> Result<Vec<T>, String> {
    let value = parse(text.as_bytes()).map_err(|e| format!("is not JSON ({e})"))?;
    let items = value
        .as_array()
        .ok_or_else(|| format!("is not a JSON array of {what}"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(
            entry(item).map_err(|s| format!("is not a JSON array of {what} ({})", s.describe()))?,
        );
    }
    Ok(out)
}

/// A `Value` read by [`UniqueMembers`].
struct Unique(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueMembers).map(Unique)
    }
}

struct UniqueMembers;

impl<'de> serde::de::Visitor<'de> for UniqueMembers {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Number::from_f64(n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom("an object names a member twice"));
            }
            let Unique(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(serde_json::Value::Object(members))
    }
}

/// A parsed JSON object read field by field, with the rules a serde derive applies to a struct whose
/// optional fields are `#[serde(default)] Option<_>`: unknown keys are ignored, a required field must
/// be present and of its type, an optional one may be missing or `null`, and a value of the wrong
/// type is refused. Reading this way, rather than deriving `Deserialize` for every payload type, keeps
/// one JSON reader (`Value`'s) in the WASM (the README's performance section).
#[derive(Clone, Copy)]
pub struct Record<'a>(&'a serde_json::Map<String, serde_json::Value>);

/// The value is not the shape that was expected (which field, for the caller's own message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape(pub &'static str);

impl Shape {
    /// What [`Record::only`] reports.
    pub const UNKNOWN_KEY: Shape = Shape("an unknown key");

    /// For an operator's message: which field is wrong.
    pub fn describe(&self) -> String {
        if *self == Shape::UNKNOWN_KEY {
            "it has an unknown key".to_owned()
        } else {
            format!("`{}` is missing or not of its type", self.0)
        }
    }
}

impl<'a> Record<'a> {
    /// `value` must be an object.
    pub fn of(value: &'a serde_json::Value) -> Result<Record<'a>, Shape> {
        value.as_object().map(Record).ok_or(Shape("an object"))
    }

    fn present(self, key: &str) -> Option<&'a serde_json::Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A required string.
    pub fn str(self, key: &'static str) -> Result<String, Shape> {
        self.opt_str(key)?.ok_or(Shape(key))
    }

    /// A string, or `None` when missing or `null`.
    pub fn opt_str(self, key: &'static str) -> Result<Option<String>, Shape> {
        match self.present(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Shape(key)),
        }
    }

    /// A boolean, `default` when missing (`null` is not a boolean).
    pub fn bool_or(self, key: &'static str, default: bool) -> Result<bool, Shape> {
        match self.0.get(key) {
            None => Ok(default),
            Some(serde_json::Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Shape(key)),
        }
    }

    /// Refuses any key that is not one of `known` (like serde's `deny_unknown_fields`).
    pub fn only(self, known: &[&str]) -> Result<(), Shape> {
        if self.0.keys().all(|k| known.contains(&k.as_str())) {
            Ok(())
        } else {
            Err(Shape::UNKNOWN_KEY)
        }
    }

    /// The object as (key, value) pairs in key order, if every value is a string.
    pub fn strings(self) -> Option<Vec<(String, String)>> {
        self.0
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect()
    }

    /// Whether the key is there at all (`null` included).
    pub fn has(self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Any value, required (`null` counts as present).
    pub fn value(self, key: &'static str) -> Result<&'a serde_json::Value, Shape> {
        self.0.get(key).ok_or(Shape(key))
    }

    /// An object, or `None` when missing or `null`.
    pub fn opt_record(self, key: &'static str) -> Result<Option<Record<'a>>, Shape> {
        self.present(key)
            .map(|v| Record::of(v).map_err(|_| Shape(key)))
            .transpose()
    }

    /// A required array, each item read by `item`.
    pub fn list<T>(
        self,
        key: &'static str,
        item: fn(&serde_json::Value) -> Result<T, Shape>,
    ) -> Result<Vec<T>, Shape> {
        let Some(serde_json::Value::Array(items)) = self.present(key) else {
            return Err(Shape(key));
        };
        let mut out = Vec::with_capacity(items.len());
        for v in items {
            out.push(item(v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_reads_what_serde_json_reads_and_refuses_a_member_named_twice() {
        for text in [
            r#"{"a":[1,-2,3.5,1e400,"x\u00e9",true,null,{"b":{}}],"c":18446744073709551615}"#,
            r#"[{"a":1},{"a":2}]"#,
            "\"s\"",
            "0",
        ] {
            let ours = parse(text.as_bytes());
            let theirs = serde_json::from_str::<serde_json::Value>(text);
            assert_eq!(ours.ok(), theirs.ok(), "{text}");
        }
        for twice in [
            r#"{"a":1,"a":1}"#,
            r#"{"x":{"b":1,"b":2}}"#,
            r#"[{"k":"v","k":"w"}]"#,
        ] {
            assert!(parse(twice.as_bytes()).is_err(), "{twice}");
        }
        for bad in ["", "{", "[1,]", "{\"a\":1} x", "nul"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_null_and_wrong_types_follow_serdes_rules_for_defaulted_options() {
        let v = json!({"s": "x", "n": null, "num": 3, "b": true, "o": {"k": "v"}, "l": ["a", "b"]});
        let r = Record::of(&v).unwrap();
        assert_eq!(r.str("s"), Ok("x".into()));
        assert_eq!(r.str("n"), Err(Shape("n")));
        assert_eq!(r.str("missing"), Err(Shape("missing")));
        assert_eq!(r.opt_str("n"), Ok(None));
        assert_eq!(r.opt_str("missing"), Ok(None));
        assert_eq!(r.opt_str("num"), Err(Shape("num")));
        assert_eq!(r.bool_or("b", false), Ok(true));
        assert_eq!(r.bool_or("missing", true), Ok(true));
        assert_eq!(r.bool_or("n", false), Err(Shape("n")));
        assert_eq!(r.value("n"), Ok(&serde_json::Value::Null));
        assert!(r.value("missing").is_err());
        let o = r.opt_record("o").unwrap().unwrap();
        assert_eq!(o.str("k"), Ok("v".into()));
        assert!(r.opt_record("s").is_err());
        assert!(r.opt_record("n").unwrap().is_none());
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).ok_or(Shape("item"));
        assert_eq!(r.list("l", text), Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(r.list("s", text), Err(Shape("s")));
        assert_eq!(r.list("missing", text), Err(Shape("missing")));
        assert!(Record::of(&json!([1])).is_err());
    }
}
