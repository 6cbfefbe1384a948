//! The parameters of an OAuth request (a query string or a form body), read once with the rules
//! RFC 6749 §3.1 and §3.2 set for both: a parameter appears at most once, and one sent without a
//! value counts as absent. Each value is bounded, so nothing oversized reaches the checks behind.

use std::borrow::Cow;

use super::{Kind, Refusal};
use crate::encoding::b64_decode_standard;

/// The longest value any parameter may have (a CIMD `client_id` or redirect URI is at most this).
pub const MAX_VALUE_LEN: usize = 4096;
/// More distinct parameters than any OAuth request needs.
pub const MAX_PARAMS: usize = 32;

/// Parameters by name, each present at most once.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads `name=value` pairs (already percent-decoded, as `form_urlencoded::parse` yields them).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Params, Refusal> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            if value.is_empty() {
                // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
                // omitted from the request."
                continue;
            }
            let name_shown: String = name.chars().take(40).collect();
            if value.len() > MAX_VALUE_LEN {
                return Err(Refusal::param(
                    &name_shown,
                    &format!("is longer than {MAX_VALUE_LEN} bytes"),
                ));
            }
            if out.iter().any(|(n, _)| *n == name) {
                return Err(Refusal::param(&name_shown, "is given more than once"));
            }
            if out.len() >= MAX_PARAMS {
                return Err(Refusal::new(
                    Kind::InvalidRequest,
                    "The request has too many parameters.",
                ));
            }
            out.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params(out))
    }

    /// Reads a query string or an `application/x-www-form-urlencoded` body.
    pub fn from_urlencoded(bytes: &[u8]) -> Result<Params, Refusal> {
        Params::parse(url::form_urlencoded::parse(bytes))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, which must be there.
    pub fn required(&self, name: &str) -> Result<&str, Refusal> {
        self.get(name)
            .ok_or_else(|| Refusal::param(name, "is required"))
    }
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1): base64 of
/// `urlencode(client_id) ":" urlencode(client_secret)`. `None` when the header is not Basic at all;
/// `Some(Err)` when it is Basic but malformed.
pub fn basic_credentials(header: &str) -> Option<Result<(String, String), Refusal>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let malformed = || Refusal::new(Kind::InvalidClient, "The Basic credentials are malformed.");
    Some(
        b64_decode_standard(rest.trim())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                // application/x-www-form-urlencoded: `+` is a space, then percent-decoding.
                let decode = |s: &str| -> Option<String> {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8()
                        .ok()
                        .map(Cow::into_owned)
                };
                Some((decode(id)?, decode(secret)?))
            })
            .filter(|(id, _)| !id.is_empty())
            .ok_or_else(malformed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Params, Refusal> {
        Params::from_urlencoded(q.as_bytes())
    }

    #[test]
    fn a_parameter_given_twice_is_refused_by_name() {
        let e = parse("client_id=a&scope=x&client_id=b").unwrap_err();
        assert_eq!(e.kind, Kind::InvalidRequest);
        assert!(e.description.contains("`client_id`"), "{e}");
    }

    #[test]
    fn an_empty_value_counts_as_absent_and_values_are_decoded() {
        let p = parse("state=&scope=notes%3Aread+notes%3Awrite&state=s1").unwrap();
        assert_eq!(p.get("state"), Some("s1"));
        assert_eq!(p.get("scope"), Some("notes:read notes:write"));
        assert!(p
            .required("code")
            .unwrap_err()
            .description
            .contains("`code` is required"));
    }

    #[test]
    fn oversized_values_and_too_many_parameters_are_refused() {
        assert!(parse(&format!("x={}", "a".repeat(MAX_VALUE_LEN + 1))).is_err());
        assert!(parse(&format!("x={}", "a".repeat(MAX_VALUE_LEN))).is_ok());
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(parse(&many.join("&")).is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        use crate::encoding::b64_standard;
        let header = format!("Basic {}", b64_standard(b"my%20client:p%3Ass+w"));
        assert_eq!(
            basic_credentials(&header),
            Some(Ok(("my client".into(), "p:ss w".into())))
        );
        let header = format!("basic {}", b64_standard(b"id:"));
        assert_eq!(
            basic_credentials(&header),
            Some(Ok(("id".into(), String::new())))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        for bad in [
            "Basic !!!",
            "Basic aWQ",
            &format!("Basic {}", b64_standard(b"%FF:x")),
            &format!("Basic {}", b64_standard(b"no-colon")),
            &format!("Basic {}", b64_standard(b":secret")),
        ] {
            assert!(matches!(basic_credentials(bad), Some(Err(_))), "{bad}");
        }
    }
}
