//! WorkOS webhook signatures (`WorkOS-Signature: t=<ms>, v1=<hex>`; WorkOS docs "Webhooks → Validating
//! events", tests/fixtures/workos-api.md §6). Must run on the raw body bytes before any JSON parsing, compare in constant
//! time, and never read a clock: `now_ms` is a parameter.

use std::fmt;

use crate::encoding::{ct_eq, hex, hex_decode_array, hmac_sha256};

/// WorkOS rejects timestamps more than 180 s from now, in either direction.
pub const TOLERANCE_MS: i64 = 180_000;

/// A header longer than this is refused as malformed before it is split.
const MAX_HEADER_LEN: usize = 1024;
/// Unix milliseconds fit comfortably in 16 digits until the year 318857.
const MAX_TIMESTAMP_DIGITS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, or an empty one.
    Missing,
    /// No `t`, several `t`, a non-numeric `t`, no `v1`, or a `v1` that is not 64 hex digits.
    Malformed,
    /// `t` is more than [`TOLERANCE_MS`] away from now (replay or badly skewed clock).
    Stale,
    /// No `v1` matches: wrong secret or tampered body.
    Mismatch,
}

impl SignatureError {
    pub fn as_str(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SignatureError {}

/// Verifies `header` against `body` and returns the signed timestamp `t` (unix ms).
///
/// The header is split on `,` and each part trimmed, so `t=1,v1=…`, `t=1, v1=…` and `t=1 ,  v1=…` are all
/// accepted. Several `v1` entries are allowed (secret rotation); unknown schemes are ignored for forward
/// compatibility. The MAC is `HMAC-SHA256(secret, "<t>.<raw body>")` with `<t>` exactly as sent.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now_ms: i64,
) -> Result<i64, SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let parsed = parse_header(header)?;

    if now_ms.abs_diff(parsed.timestamp) > TOLERANCE_MS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }

    let expected = mac(secret, parsed.timestamp_text, body);
    // Every candidate is compared (no early exit) so timing does not reveal which one matched.
    let matched = parsed
        .signatures
        .iter()
        .fold(false, |acc, candidate| ct_eq(&expected, candidate) | acc);
    if matched {
        Ok(parsed.timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `"t=<ms>, v1=<hex>"`: what WorkOS sends; used by tests and the local WorkOS stand-in.
pub fn sign(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    let t = timestamp_ms.to_string();
    format!("t={t}, v1={}", hex(&mac(secret, &t, body)))
}

fn mac(secret: &[u8], timestamp_text: &str, body: &[u8]) -> [u8; 32] {
    let mut message = Vec::with_capacity(timestamp_text.len() + 1 + body.len());
    message.extend_from_slice(timestamp_text.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    hmac_sha256(secret, &message)
}

struct ParsedHeader<'a> {
    timestamp: i64,
    timestamp_text: &'a str,
    signatures: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp: Option<(i64, &str)> = None;
    let mut signatures = Vec::new();
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or(SignatureError::Malformed)?;
        let value = value.trim();
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some((parse_timestamp(value)?, value));
            }
            "v1" => {
                signatures.push(hex_decode_array::<32>(value).ok_or(SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let (timestamp, timestamp_text) = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok(ParsedHeader {
        timestamp,
        timestamp_text,
        signatures,
    })
}

/// Decimal digits only: no sign, no spaces, bounded length.
fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    if value.is_empty()
        || value.len() > MAX_TIMESTAMP_DIGITS
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::Malformed);
    }
    value.parse().map_err(|_| SignatureError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const T: i64 = 1_700_000_000_000;
    const BODY: &str = r#"{"id":"event_01EHZNVPK3SFK441A1RGBFSHRT","event":"user.created","data":{"object":"user","id":"user_01E4ZCR3C56J083X43JQXF3JK5","email":"marcelina.davis@example.com","email_verified":true,"first_name":"Marcelina","last_name":"Davis","profile_picture_url":null,"external_id":null,"metadata":{},"last_sign_in_at":null,"locale":null,"created_at":"2026-01-15T12:00:00.000Z","updated_at":"2026-01-15T12:00:00.000Z"},"created_at":"2026-01-15T12:00:00.000Z"}"#;
    const V1: &str = "ad11ee463d8318b9323e2cec5dcb932f8e5c3e5a782295d287d17641a425181c";

    #[test]
    fn matches_the_workos_reference_vector() {
        assert_eq!(sign(SECRET, T, BODY.as_bytes()), format!("t={T}, v1={V1}"));
        let header = format!("t={T}, v1={V1}");
        assert_eq!(verify(Some(&header), BODY.as_bytes(), SECRET, T), Ok(T));
    }

    #[test]
    fn tolerates_header_spacing_variants() {
        for header in [
            format!("t={T},v1={V1}"),
            format!("t={T}, v1={V1}"),
            format!("  t={T} ,   v1={V1}  "),
            format!("v1={V1}, t={T}"),
            format!("t = {T} , v1 = {V1}"),
            format!("t={T},\tv1={V1}"),
            format!("t={T}, v1={}", V1.to_uppercase()),
        ] {
            assert_eq!(
                verify(Some(&header), BODY.as_bytes(), SECRET, T),
                Ok(T),
                "{header}"
            );
        }
    }

    #[test]
    fn accepts_any_of_several_v1_signatures() {
        let header = format!("t={T}, v1={}, v1={V1}, v0=whatever", "0".repeat(64));
        assert_eq!(verify(Some(&header), BODY.as_bytes(), SECRET, T), Ok(T));
    }

    #[test]
    fn rejects_missing_header() {
        assert_eq!(verify(None, b"{}", SECRET, T), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("   "), b"{}", SECRET, T),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        for header in [
            format!("v1={V1}"),
            format!("t={T}"),
            format!("t={T}, v1=xyz"),
            format!("t={T}, v1={}", &V1[..62]),
            format!("t=-{T}, v1={V1}"),
            format!("t=+{T}, v1={V1}"),
            format!("t=1e12, v1={V1}"),
            format!("t=, v1={V1}"),
            format!("t={T}, t={T}, v1={V1}"),
            format!("t={T}; v1={V1}"),
            format!("t={T}, garbage, v1={V1}"),
            format!("t=99999999999999999, v1={V1}"),
            format!("t={T}, v1={V1}, {}", "x=y,".repeat(300)),
        ] {
            assert_eq!(
                verify(Some(&header), BODY.as_bytes(), SECRET, T),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn rejects_stale_timestamp_from_the_past() {
        let header = sign(SECRET, T, BODY.as_bytes());
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T + TOLERANCE_MS),
            Ok(T)
        );
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T + TOLERANCE_MS + 1),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn rejects_stale_timestamp_from_the_future() {
        let header = sign(SECRET, T, BODY.as_bytes());
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T - TOLERANCE_MS),
            Ok(T)
        );
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T - TOLERANCE_MS - 1),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn extreme_clock_values_do_not_overflow() {
        let header = sign(SECRET, T, BODY.as_bytes());
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, i64::MIN),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, i64::MAX),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn rejects_forged_signature() {
        let forged = sign(b"attacker-secret", T, BODY.as_bytes());
        assert_eq!(
            verify(Some(&forged), BODY.as_bytes(), SECRET, T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        let header = sign(SECRET, T, BODY.as_bytes());
        let tampered = BODY.replace("user.created", "user.deleted");
        assert_eq!(
            verify(Some(&header), tampered.as_bytes(), SECRET, T),
            Err(SignatureError::Mismatch)
        );
        let reformatted = format!("{BODY}\n");
        assert_eq!(
            verify(Some(&header), reformatted.as_bytes(), SECRET, T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_signature_replayed_with_a_fresh_timestamp() {
        // Moving `t` forward to dodge the staleness check breaks the MAC, which covers `t`.
        let header = format!("t={}, v1={V1}", T + 1);
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_leading_zero_timestamp_rewrite() {
        // Same number, different text: the MAC is over the text as sent.
        let header = format!("t=0{T}, v1={V1}");
        assert_eq!(
            verify(Some(&header), BODY.as_bytes(), SECRET, T),
            Err(SignatureError::Mismatch)
        );
    }
}
