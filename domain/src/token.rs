//! Our own access and refresh tokens: HS256 JWS compact serialization (RFC 7515, RFC 7519, profile of
//! RFC 9068 / RFC 8725). Must not accept any algorithm but HS256, any header it did not write itself, or a
//! token whose MAC has not been checked before its claims are read. No clock: `now` is a parameter.
//!
//! Why not a JWT crate: `jwt-compact` 0.8 deserializes the claims before it checks the MAC and ignores
//! unknown header members such as `crit`, so this module does the few JWS steps itself on hmac + base64.
//!
//! Verification order (each step only runs if the previous passed):
//! length/shape → `alg` is exactly `HS256` → `typ` is the expected one → `kid` names the current or
//! previous key → MAC → claims parse → `iss` → `exp` → `iat` / `nbf` not in the future.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::encoding::{b64url_decode, b64url_encode, ct_eq, hmac_sha256, sha256_hex};

/// RFC 9068 §2.1: access tokens carry `typ: at+jwt`, so that no other JWT can be replayed as one.
pub const ACCESS_TYP: &str = "at+jwt";
/// Our own explicit type for refresh tokens (RFC 8725 §3.11: use explicit typing to separate kinds).
pub const REFRESH_TYP: &str = "rt+jwt";
/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
pub const MIN_SECRET_LEN: usize = 32;
/// Longer input is rejected as `Malformed` before any decoding or MAC work (cheap DoS guard).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Tolerated clock skew for `iat` / `nbf` in the future (RFC 7519 §4.1.5 allows "some small leeway").
pub const CLOCK_SKEW_SECS: i64 = 60;

const ALG: &str = "HS256";

/// One HMAC secret and its public key id. Cloneable so a [`KeyRing`] can be shared; `Debug` shows the
/// `kid` only.
#[derive(Clone)]
pub struct SigningKey {
    secret: Vec<u8>,
    kid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Fewer than [`MIN_SECRET_LEN`] bytes.
    TooShort,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing secret must be at least {MIN_SECRET_LEN} bytes")
    }
}

impl std::error::Error for KeyError {}

impl SigningKey {
    pub fn new(secret: &[u8]) -> Result<SigningKey, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort);
        }
        let mut material = b"auth-worker kid v1:".to_vec();
        material.extend_from_slice(secret);
        let mut kid = sha256_hex(&material);
        // 16 hex chars = 64 bits: plenty to tell a handful of keys apart. ASCII, so any index is a char
        // boundary. The hash input is domain-separated and the secret is >= 256 bits, so the kid reveals
        // nothing usable about the secret.
        kid.truncate(16);
        Ok(SigningKey {
            secret: secret.to_vec(),
            kid,
        })
    }

    /// First 16 hex chars of `sha256("auth-worker kid v1:" || secret)`: identifies, never reveals.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn mac(&self, signing_input: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.secret, signing_input)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// The current key (signs and verifies) and, during a rotation, the previous one (verifies only), so
/// rotating a secret does not log everyone out.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl KeyRing {
    pub fn new(current: SigningKey, previous: Option<SigningKey>) -> KeyRing {
        // A "previous" equal to the current key adds nothing; dropping it keeps lookups unambiguous.
        let previous = previous.filter(|p| p.kid != current.kid);
        KeyRing { current, previous }
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// The key a token's `kid` names, if it is one of ours. `kid`s are public, so a plain comparison is fine.
    fn find(&self, kid: &str) -> Option<&SigningKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == kid)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub sid: String,
    pub email: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub iss: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a token was refused. For logs and metrics only: clients should get one public code
/// (e.g. `invalid_token`) whatever the variant, so the reason is not an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Too long, not three base64url segments, header not exactly `{alg,typ,kid}` JSON, or claims that do
    /// not parse (the latter only after the MAC checked out).
    Malformed,
    /// `alg` is anything but exactly `HS256` (covers `none`, `RS256`, `hs256`).
    UnsupportedAlgorithm,
    /// `kid` missing or naming neither the current nor the previous key.
    UnknownKey,
    BadSignature,
    /// `typ` is not the expected one: a refresh token offered as an access token or vice versa.
    WrongTokenType,
    WrongIssuer,
    Expired,
    NotYetValid,
}

impl TokenError {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedAlgorithm => "unsupported_algorithm",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::WrongTokenType => "wrong_token_type",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for TokenError {}

/// The claims could not be serialized, or the token would exceed [`MAX_TOKEN_LEN`] (and so could never
/// be verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignError;

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("token could not be signed")
    }
}

impl std::error::Error for SignError {}

/// The only header we write. Field order is fixed by the struct, so signing is deterministic.
#[derive(Serialize)]
struct OutgoingHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The only header we accept. `deny_unknown_fields` refuses `crit` (RFC 7515 §4.1.11), `jku`/`jwk`/`x5u`
/// (key injection, RFC 8725 §3.10), `b64` (RFC 7797) and anything else we never emit. serde also refuses
/// duplicate members, so no two parsers can disagree about which `alg` counts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Optional registered claim we honour although we never issue it (RFC 7519 §4.1.5).
#[derive(Deserialize)]
struct NotBefore {
    #[serde(default)]
    nbf: Option<i64>,
}

trait TimedClaims: DeserializeOwned {
    fn iss(&self) -> &str;
    fn iat(&self) -> i64;
    fn exp(&self) -> i64;
}

impl TimedClaims for AccessClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn iat(&self) -> i64 {
        self.iat
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl TimedClaims for RefreshClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn iat(&self) -> i64 {
        self.iat
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Header `{"alg":"HS256","typ":"at+jwt","kid":…}`. Deterministic: same claims + same key ⇒ same string.
pub fn sign_access(ring: &KeyRing, claims: &AccessClaims) -> Result<String, SignError> {
    sign(ring.current(), ACCESS_TYP, claims)
}

/// Header `{"alg":"HS256","typ":"rt+jwt","kid":…}`. Deterministic, which the refresh race relies on.
pub fn sign_refresh(ring: &KeyRing, claims: &RefreshClaims) -> Result<String, SignError> {
    sign(ring.current(), REFRESH_TYP, claims)
}

pub fn verify_access(
    ring: &KeyRing,
    token: &str,
    expected_iss: &str,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    verify(ring, token, ACCESS_TYP, expected_iss, now).map(|(claims, _)| claims)
}

/// A verified refresh token, with the `jti` its rotation must lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRefresh {
    pub claims: RefreshClaims,
    /// Derived with the key that signed *this* token, not with the current key: while a rotated
    /// `JWT_REFRESH_SECRET` reaches isolates one by one, an isolate still on the old secret and one
    /// already on the new one derive the same successor, so two concurrent refreshes of one token are
    /// seen as the race they are, not as theft.
    pub successor_jti: String,
}

pub fn verify_refresh(
    ring: &KeyRing,
    token: &str,
    expected_iss: &str,
    now: i64,
) -> Result<VerifiedRefresh, TokenError> {
    let (claims, key) = verify::<RefreshClaims>(ring, token, REFRESH_TYP, expected_iss, now)?;
    let successor_jti = derive_with(key, "rotate", &claims.jti);
    Ok(VerifiedRefresh {
        claims,
        successor_jti,
    })
}

/// `b64url(HMAC-SHA256(current secret, "jti v1:" || label || ":" || input))`, first 22 chars (132 bits).
/// Deterministic, and unguessable without the secret. `label` is a constant chosen by the caller and must
/// not contain `':'`, so that label/input pairs cannot collide.
pub fn derive_jti(ring: &KeyRing, label: &str, input: &str) -> String {
    derive_with(ring.current(), label, input)
}

fn derive_with(key: &SigningKey, label: &str, input: &str) -> String {
    let message = format!("jti v1:{label}:{input}");
    b64url_encode(&key.mac(message.as_bytes()))
        .chars()
        .take(22)
        .collect()
}

fn sign<C: Serialize>(key: &SigningKey, typ: &str, claims: &C) -> Result<String, SignError> {
    let header = serde_json::to_vec(&OutgoingHeader {
        alg: ALG,
        typ,
        kid: key.kid(),
    })
    .map_err(|_| SignError)?;
    let payload = serde_json::to_vec(claims).map_err(|_| SignError)?;

    // RFC 7515 §5.1: signing input = b64url(header) "." b64url(payload).
    let mut token = b64url_encode(&header);
    token.push('.');
    token.push_str(&b64url_encode(&payload));
    let mac = key.mac(token.as_bytes());
    token.push('.');
    token.push_str(&b64url_encode(&mac));

    if token.len() > MAX_TOKEN_LEN {
        return Err(SignError);
    }
    Ok(token)
}

fn verify<'r, C: TimedClaims>(
    ring: &'r KeyRing,
    token: &str,
    expected_typ: &str,
    expected_iss: &str,
    now: i64,
) -> Result<(C, &'r SigningKey), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    // Shape: exactly three segments, each strict base64url (RFC 7515 §7.1).
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if payload_b64.contains('.') {
        return Err(TokenError::Malformed);
    }
    let header_json = b64url_decode(header_b64).ok_or(TokenError::Malformed)?;
    let payload_json = b64url_decode(payload_b64).ok_or(TokenError::Malformed)?;
    let signature = b64url_decode(signature_b64).ok_or(TokenError::Malformed)?;
    let header: IncomingHeader =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;

    // RFC 8725 §3.1: the algorithm is fixed by us, never chosen by the token. Exact, case-sensitive
    // comparison (RFC 7515 §4.1.1), so "none", "RS256" and "hs256" all fail here.
    if header.alg != ALG {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    // RFC 8725 §3.11 / RFC 9068 §2.1: explicit typing stops a refresh token being used as an access
    // token and vice versa. We accept exactly what we issue.
    if header.typ.as_deref() != Some(expected_typ) {
        return Err(TokenError::WrongTokenType);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| ring.find(kid))
        .ok_or(TokenError::UnknownKey)?;

    // MAC before reading any claim (RFC 7515 §5.2), compared in constant time.
    if !ct_eq(&key.mac(signing_input.as_bytes()), &signature) {
        return Err(TokenError::BadSignature);
    }

    let claims: C = serde_json::from_slice(&payload_json).map_err(|_| TokenError::Malformed)?;
    let not_before: NotBefore =
        serde_json::from_slice(&payload_json).map_err(|_| TokenError::Malformed)?;

    if claims.iss() != expected_iss {
        return Err(TokenError::WrongIssuer);
    }
    // RFC 7519 §4.1.4: not accepted on or after `exp`; no leeway on expiry.
    if now >= claims.exp() {
        return Err(TokenError::Expired);
    }
    let latest_acceptable = now.saturating_add(CLOCK_SKEW_SECS);
    if claims.iat() > latest_acceptable || not_before.nbf.is_some_and(|nbf| nbf > latest_acceptable)
    {
        return Err(TokenError::NotYetValid);
    }
    Ok((claims, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://auth.example.com";
    const NOW: i64 = 1_700_000_000;

    fn key(byte: u8) -> SigningKey {
        SigningKey::new(&[byte; 32]).unwrap()
    }

    fn ring() -> KeyRing {
        KeyRing::new(key(1), None)
    }

    fn access() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            sub: "user_1".into(),
            sid: "ses_1".into(),
            email: "ada@example.com".into(),
            role: "member".into(),
            org_id: Some("org_1".into()),
            iat: NOW,
            exp: NOW + 900,
            jti: "jti-1".into(),
        }
    }

    fn refresh() -> RefreshClaims {
        RefreshClaims {
            iss: ISS.into(),
            sub: "user_1".into(),
            sid: "ses_1".into(),
            iat: NOW,
            exp: NOW + 86_400,
            jti: "rjti-1".into(),
        }
    }

    /// Builds a token with an arbitrary header and payload, MACed with `key` (or with a junk signature).
    fn forge(header: &str, payload: &str, key: Option<&SigningKey>) -> String {
        let input = format!(
            "{}.{}",
            b64url_encode(header.as_bytes()),
            b64url_encode(payload.as_bytes())
        );
        let sig = match key {
            Some(k) => b64url_encode(&k.mac(input.as_bytes())),
            None => String::new(),
        };
        format!("{input}.{sig}")
    }

    fn header(alg: &str, typ: &str, kid: &str) -> String {
        format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"}}"#)
    }

    fn access_json() -> String {
        serde_json::to_string(&access()).unwrap()
    }

    #[test]
    fn access_token_round_trips() {
        let t = sign_access(&ring(), &access()).unwrap();
        assert_eq!(verify_access(&ring(), &t, ISS, NOW + 1), Ok(access()));
    }

    #[test]
    fn refresh_token_round_trips() {
        let t = sign_refresh(&ring(), &refresh()).unwrap();
        assert_eq!(
            verify_refresh(&ring(), &t, ISS, NOW + 1).map(|v| v.claims),
            Ok(refresh())
        );
    }

    #[test]
    fn header_is_exactly_alg_typ_kid_in_that_order() {
        let t = sign_access(&ring(), &access()).unwrap();
        let header = b64url_decode(t.split('.').next().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            format!(
                r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
                key(1).kid()
            )
        );
    }

    #[test]
    fn signing_is_deterministic() {
        assert_eq!(
            sign_refresh(&ring(), &refresh()).unwrap(),
            sign_refresh(&ring(), &refresh()).unwrap()
        );
    }

    #[test]
    fn org_id_is_omitted_when_absent() {
        let mut c = access();
        c.org_id = None;
        let t = sign_access(&ring(), &c).unwrap();
        let payload = b64url_decode(t.split('.').nth(1).unwrap()).unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("org_id"));
        assert_eq!(verify_access(&ring(), &t, ISS, NOW), Ok(c));
    }

    #[test]
    fn rejects_short_secret() {
        assert_eq!(SigningKey::new(&[0; 31]).err(), Some(KeyError::TooShort));
        assert!(SigningKey::new(&[0; 32]).is_ok());
    }

    #[test]
    fn kid_is_16_hex_and_debug_hides_secret() {
        let k = SigningKey::new(b"super-secret-value-0123456789abcdef").unwrap();
        assert_eq!(k.kid().len(), 16);
        assert!(k.kid().chars().all(|c| c.is_ascii_hexdigit()));
        let dbg = format!("{:?}", KeyRing::new(k.clone(), None));
        assert!(dbg.contains(k.kid()));
        assert!(dbg.contains("<hidden>"));
        assert!(!dbg.contains("super-secret"));
        assert!(!dbg.contains("115, 117"), "no raw bytes either");
    }

    #[test]
    fn rejects_alg_none() {
        let t = forge(
            &header("none", ACCESS_TYP, key(1).kid()),
            &access_json(),
            None,
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_alg_rs256_even_when_maced_with_our_key() {
        // The classic RS256→HS256 confusion in reverse: the token claims RS256 but carries our HMAC.
        let t = forge(
            &header("RS256", ACCESS_TYP, key(1).kid()),
            &access_json(),
            Some(&key(1)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_lowercase_hs256() {
        let t = forge(
            &header("hs256", ACCESS_TYP, key(1).kid()),
            &access_json(),
            Some(&key(1)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_header_with_crit_or_embedded_key() {
        for extra in [
            r#","crit":["exp"]"#,
            r#","jku":"https://evil.example/jwks""#,
            r#","b64":false"#,
        ] {
            let h = format!(
                r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"{extra}}}"#,
                key(1).kid()
            );
            let t = forge(&h, &access_json(), Some(&key(1)));
            assert_eq!(
                verify_access(&ring(), &t, ISS, NOW),
                Err(TokenError::Malformed),
                "{extra}"
            );
        }
    }

    #[test]
    fn rejects_duplicate_alg_member() {
        let h = format!(
            r#"{{"alg":"none","alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
            key(1).kid()
        );
        let t = forge(&h, &access_json(), Some(&key(1)));
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rejects_tampered_payload() {
        let t = sign_access(&ring(), &access()).unwrap();
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut elevated = access();
        elevated.role = "admin".into();
        parts[1] = b64url_encode(serde_json::to_string(&elevated).unwrap().as_bytes());
        assert_eq!(
            verify_access(&ring(), &parts.join("."), ISS, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_tampered_signature_and_truncated_signature() {
        let t = sign_access(&ring(), &access()).unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut raw = b64url_decode(sig).unwrap();
        raw[0] ^= 1;
        let flipped = format!("{input}.{}", b64url_encode(&raw));
        assert_eq!(
            verify_access(&ring(), &flipped, ISS, NOW),
            Err(TokenError::BadSignature)
        );
        let short = format!("{input}.{}", b64url_encode(&raw[..16]));
        assert_eq!(
            verify_access(&ring(), &short, ISS, NOW),
            Err(TokenError::BadSignature)
        );
        let empty = format!("{input}.");
        assert_eq!(
            verify_access(&ring(), &empty, ISS, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_token_signed_by_another_secret_even_with_our_kid() {
        // Swapped kid: attacker signs with their own key but names ours.
        let t = forge(
            &header(ALG, ACCESS_TYP, key(1).kid()),
            &access_json(),
            Some(&key(9)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_unknown_or_missing_kid() {
        let foreign = KeyRing::new(key(9), None);
        let t = sign_access(&foreign, &access()).unwrap();
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::UnknownKey)
        );
        let no_kid = forge(
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            &access_json(),
            Some(&key(1)),
        );
        assert_eq!(
            verify_access(&ring(), &no_kid, ISS, NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn token_signed_with_previous_key_still_verifies_after_rotation() {
        let old = KeyRing::new(key(1), None);
        let t = sign_access(&old, &access()).unwrap();
        let rotated = KeyRing::new(key(2), Some(key(1)));
        assert_eq!(verify_access(&rotated, &t, ISS, NOW), Ok(access()));
        // New tokens use the new key ...
        let fresh = sign_access(&rotated, &access()).unwrap();
        assert_ne!(fresh, t);
        assert_eq!(verify_access(&rotated, &fresh, ISS, NOW), Ok(access()));
        // ... and once the previous key is removed, old tokens stop working.
        let done = KeyRing::new(key(2), None);
        assert_eq!(
            verify_access(&done, &t, ISS, NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn refresh_token_is_not_an_access_token() {
        let t = sign_refresh(&ring(), &refresh()).unwrap();
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::WrongTokenType)
        );
    }

    #[test]
    fn access_token_is_not_a_refresh_token() {
        let t = sign_access(&ring(), &access()).unwrap();
        assert_eq!(
            verify_refresh(&ring(), &t, ISS, NOW),
            Err(TokenError::WrongTokenType)
        );
    }

    #[test]
    fn rejects_missing_or_generic_typ() {
        let k = key(1);
        for h in [
            format!(r#"{{"alg":"HS256","kid":"{}"}}"#, k.kid()),
            header(ALG, "JWT", k.kid()),
            header(ALG, "AT+JWT", k.kid()),
        ] {
            let t = forge(&h, &access_json(), Some(&k));
            assert_eq!(
                verify_access(&ring(), &t, ISS, NOW),
                Err(TokenError::WrongTokenType),
                "{h}"
            );
        }
    }

    #[test]
    fn rejects_wrong_issuer() {
        let t = sign_access(&ring(), &access()).unwrap();
        assert_eq!(
            verify_access(&ring(), &t, "https://evil.example.com", NOW),
            Err(TokenError::WrongIssuer)
        );
    }

    #[test]
    fn rejects_expired_token_at_and_after_exp() {
        let t = sign_access(&ring(), &access()).unwrap();
        assert!(verify_access(&ring(), &t, ISS, NOW + 899).is_ok());
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW + 900),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, i64::MAX),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn rejects_token_issued_in_the_future_beyond_skew() {
        let t = sign_access(&ring(), &access()).unwrap();
        assert!(verify_access(&ring(), &t, ISS, NOW - CLOCK_SKEW_SECS).is_ok());
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW - CLOCK_SKEW_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn honours_nbf_claim() {
        let mut v = serde_json::to_value(access()).unwrap();
        v["nbf"] = serde_json::json!(NOW + 600);
        let t = forge(
            &header(ALG, ACCESS_TYP, key(1).kid()),
            &v.to_string(),
            Some(&key(1)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::NotYetValid)
        );
        assert!(verify_access(&ring(), &t, ISS, NOW + 600).is_ok());
    }

    #[test]
    fn rejects_validly_signed_but_unparseable_claims() {
        for payload in ["not json", "{}", r#"{"iss":"x"}"#, r#"[1,2]"#] {
            let t = forge(
                &header(ALG, ACCESS_TYP, key(1).kid()),
                payload,
                Some(&key(1)),
            );
            assert_eq!(
                verify_access(&ring(), &t, ISS, NOW),
                Err(TokenError::Malformed),
                "{payload}"
            );
        }
        let mut v = serde_json::to_value(access()).unwrap();
        v["nbf"] = serde_json::json!("soon");
        let t = forge(
            &header(ALG, ACCESS_TYP, key(1).kid()),
            &v.to_string(),
            Some(&key(1)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn unparseable_claims_with_bad_mac_report_bad_signature() {
        // The MAC is checked before the claims are read.
        let t = forge(
            &header(ALG, ACCESS_TYP, key(1).kid()),
            "not json",
            Some(&key(9)),
        );
        assert_eq!(
            verify_access(&ring(), &t, ISS, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_malformed_shapes() {
        let t = sign_access(&ring(), &access()).unwrap();
        let padded = {
            let (h, rest) = t.split_once('.').unwrap();
            format!("{h}=.{rest}")
        };
        for bad in [
            String::new(),
            "abc".to_string(),
            "a.b".to_string(),
            format!("{t}.extra"),
            format!(" {t}"),
            padded,
            t.replace('.', ".."),
            "e30.e30.".to_string(),
        ] {
            assert_eq!(
                verify_access(&ring(), &bad, ISS, NOW),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_oversized_token_before_any_work() {
        let mut c = access();
        c.email = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(sign_access(&ring(), &c), Err(SignError));
        let long = format!(
            "{}.{}",
            sign_access(&ring(), &access()).unwrap(),
            "A".repeat(MAX_TOKEN_LEN)
        );
        assert_eq!(
            verify_access(&ring(), &long, ISS, NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn derive_jti_is_deterministic_22_chars_and_key_bound() {
        let a = derive_jti(&ring(), "refresh", "rjti-1");
        assert_eq!(a.len(), 22);
        assert_eq!(a, derive_jti(&ring(), "refresh", "rjti-1"));
        assert_ne!(a, derive_jti(&ring(), "refresh", "rjti-2"));
        assert_ne!(a, derive_jti(&ring(), "other", "rjti-1"));
        assert_ne!(
            a,
            derive_jti(&KeyRing::new(key(2), None), "refresh", "rjti-1")
        );
        let expected = b64url_encode(&hmac_sha256(&[1; 32], b"jti v1:refresh:rjti-1"));
        assert_eq!(a, expected[..22]);
    }

    #[test]
    fn the_successor_of_a_token_does_not_depend_on_which_key_is_current() {
        // Isolate A still signs with key 1; isolate B has rotated to key 2 and keeps key 1 as previous.
        let old = KeyRing::new(key(1), None);
        let rotated = KeyRing::new(key(2), Some(key(1)));
        let t = sign_refresh(&old, &refresh()).unwrap();
        let a = verify_refresh(&old, &t, ISS, NOW).unwrap();
        let b = verify_refresh(&rotated, &t, ISS, NOW).unwrap();
        assert_eq!(a.successor_jti, b.successor_jti);
        // A token signed with the new key has a successor derived with the new key.
        let fresh = sign_refresh(&rotated, &refresh()).unwrap();
        assert_ne!(
            verify_refresh(&rotated, &fresh, ISS, NOW)
                .unwrap()
                .successor_jti,
            a.successor_jti
        );
    }

    #[test]
    fn key_ring_drops_a_previous_key_equal_to_current() {
        let r = KeyRing::new(key(1), Some(key(1)));
        assert!(r.previous.is_none());
    }

    #[test]
    fn error_codes_are_snake_case() {
        assert_eq!(
            TokenError::UnsupportedAlgorithm.as_str(),
            "unsupported_algorithm"
        );
        assert_eq!(TokenError::NotYetValid.to_string(), "not_yet_valid");
    }
}
