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
