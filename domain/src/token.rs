//! Our own access and refresh tokens: JWS compact serialization (RFC 7515, RFC 7519; access tokens
//! profiled by RFC 9068) on the `jwt-compact` crate, with this project's stricter rules around it
//! (RFC 8725). No clock: `now` is a parameter.
//!
//! - Access tokens: EdDSA (Ed25519) with `JWT_SIGNING_KEY` by default, `kid` = the key's RFC 7638
//!   thumbprint, verifiable by anyone from the JWKS; HS256 with `JWT_SECRET` when no signing key is
//!   configured, and still verified during a migration. Refresh tokens: HS256 with
//!   `JWT_REFRESH_SECRET` (only this worker reads them).
//! - The `kid` selects the key and the key fixes the algorithm: the header's `alg` must be exactly
//!   that key's, so no token chooses how it is checked (no `none`, no HS256 made with a public key).
//!
//! Verification order, each step only when the previous passed: length cap → exactly three canonical
//! base64url segments (one token, one spelling) → header is exactly `{alg, typ, kid}` (`crit` and any
//! other member refused) → `typ` is the expected kind → `kid` names one of our keys → `alg` is that
//! key's → signature (jwt-compact) → claims parse → `iss` → `aud` → `exp` (no leeway) → `iat`/`nbf`
//! at most [`CLOCK_SKEW_SECS`] in the future. The crate's own validator is not used because it reads
//! the claims before the signature and ignores unknown header members.

use std::borrow::Cow;
use std::fmt;

use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, Claims, Header, UntrustedToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::encoding::{b64url_decode, b64url_encode, hmac_sha256, sha256, sha256_hex};

/// RFC 9068 §2.1: access tokens carry `typ: at+jwt`, so that no other JWT can be replayed as one.
pub const ACCESS_TYP: &str = "at+jwt";
/// Our own explicit type for refresh tokens (RFC 8725 §3.11: use explicit typing to separate kinds).
pub const REFRESH_TYP: &str = "rt+jwt";
/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
pub const MIN_SECRET_LEN: usize = 32;
/// Longer input is refused before any decoding or signature work (cheap DoS guard).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Tolerated clock skew for `iat` / `nbf` in the future (RFC 7519 §4.1.5 allows "some small leeway").
/// None on `exp`: a token is refused from its expiry second on.
pub const CLOCK_SKEW_SECS: i64 = 60;

const EDDSA: &str = "EdDSA";
const HS256: &str = "HS256";

/// Why a key from the configuration is unusable (the config names the variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// An HMAC secret of fewer than [`MIN_SECRET_LEN`] bytes.
    TooShort,
    /// Not a base64url 32-byte Ed25519 seed nor an Ed25519 PKCS#8 PEM private key.
    NotAnEd25519Key,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::TooShort => write!(f, "must be at least {MIN_SECRET_LEN} bytes"),
            KeyError::NotAnEd25519Key => f.write_str(
                "must be an Ed25519 private key: a base64url 32-byte seed or a PKCS#8 PEM",
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// jwt-compact's Ed25519 signs with random noise (hedged signatures), which needs the RNG; this one
/// signs deterministically (RFC 8032), so signing needs no randomness and the same claims give the
/// same token. Verification is the crate's.
#[derive(Debug, Clone, Copy, Default)]
struct Ed25519Deterministic;

impl Algorithm for Ed25519Deterministic {
    type SigningKey = SecretKey;
    type VerifyingKey = PublicKey;
    type Signature = ed25519_compact::Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(EDDSA)
    }

    fn sign(&self, signing_key: &SecretKey, message: &[u8]) -> Self::Signature {
        signing_key.sign(message, None)
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        key: &PublicKey,
        message: &[u8],
    ) -> bool {
        key.verify(message, signature).is_ok()
    }
}

/// PKCS#8 v1 DER of an Ed25519 private key is this 16-byte prefix and the 32-byte seed (RFC 8410 §7).
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 key pair; `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct Ed25519Key {
    pair: KeyPair,
    kid: String,
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ed25519Key {
    pub fn from_seed(seed: [u8; 32]) -> Result<Ed25519Key, KeyError> {
        let pair =
            KeyPair::try_from_seed(Seed::new(seed)).map_err(|_| KeyError::NotAnEd25519Key)?;
        let kid = b64url_encode(&JsonWebKey::from(&pair.pk).thumbprint::<sha2::Sha256>());
        Ok(Ed25519Key { pair, kid })
    }

    /// A key as configured: the base64url (unpadded) 32-byte seed, or the PKCS#8 PEM that
    /// `openssl genpkey -algorithm ed25519` prints.
    pub fn parse(text: &str) -> Result<Ed25519Key, KeyError> {
        let text = text.trim();
        let seed = if let Some(body) = text
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|rest| rest.strip_suffix("-----END PRIVATE KEY-----"))
        {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64_standard_decode(&compact).ok_or(KeyError::NotAnEd25519Key)?;
            der.strip_prefix(PKCS8_ED25519_PREFIX.as_slice())
                .and_then(|seed| <[u8; 32]>::try_from(seed).ok())
                .ok_or(KeyError::NotAnEd25519Key)?
        } else {
            b64url_decode(text)
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(KeyError::NotAnEd25519Key)?
        };
        Ed25519Key::from_seed(seed)
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK with `kid`, `alg` and `use` (for the JWKS).
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: b64url_encode(self.pair.pk.as_ref()),
            kid: self.kid.clone(),
            alg: EDDSA,
            key_use: "sig",
        }
    }
}

fn base64_standard_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// One JWK of the JWKS (RFC 7517, RFC 8037 for `OKP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Serialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// An HMAC-SHA256 secret and its public key id; `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct HmacKey {
    secret: Vec<u8>,
    key: Hs256Key,
    kid: String,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("kid", &self.kid)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl HmacKey {
    pub fn new(secret: &[u8]) -> Result<HmacKey, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort);
        }
        let mut material = b"auth-worker kid v1:".to_vec();
        material.extend_from_slice(secret);
        let mut kid = sha256_hex(&material);
        // 16 hex chars = 64 bits: plenty to tell a handful of keys apart. The hash input is
        // domain-separated and the secret is >= 256 bits, so the kid reveals nothing usable.
        kid.truncate(16);
        Ok(HmacKey {
            secret: secret.to_vec(),
            key: Hs256Key::new(secret),
            kid,
        })
    }

    /// First 16 hex chars of `sha256("auth-worker kid v1:" || secret)`: identifies, never reveals.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// HMAC-SHA256 of `message` under this secret (for derived, unguessable ids).
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.secret, message)
    }
}

/// A verification key: the key fixes the algorithm.
#[derive(Debug, Clone)]
enum VerifyingKey {
    EdDsa(PublicKey),
    Hs256(HmacKey),
}

impl VerifyingKey {
    fn alg(&self) -> &'static str {
        match self {
            VerifyingKey::EdDsa(_) => EDDSA,
            VerifyingKey::Hs256(_) => HS256,
        }
    }
}

#[derive(Debug, Clone)]
enum SigningKey {
    EdDsa(Ed25519Key),
    Hs256(HmacKey),
}

impl SigningKey {
    fn kid(&self) -> &str {
        match self {
            SigningKey::EdDsa(k) => k.kid(),
            SigningKey::Hs256(k) => k.kid(),
        }
    }
}

/// The keys of one token kind: the one that signs, and every one that verifies (by `kid`).
#[derive(Debug, Clone)]
pub struct KeySet {
    signer: SigningKey,
    verifiers: Vec<(String, VerifyingKey)>,
    published: Vec<Jwk>,
}

impl KeySet {
    /// Access-token keys. With an Ed25519 `current` key, tokens are EdDSA; `previous` (still
    /// accepted) and `next` (published before it signs) are verified too, and the three are
    /// published. The HMAC secrets are verified so that HS256 tokens issued before a switch to EdDSA
    /// stay valid until they expire; without an Ed25519 key the first of them signs (HS256 only).
    pub fn access(
        current: Option<Ed25519Key>,
        previous: Option<Ed25519Key>,
        next: Option<Ed25519Key>,
        hmac: Vec<HmacKey>,
    ) -> Option<KeySet> {
        let mut verifiers = Vec::new();
        let mut published = Vec::new();
        for k in [&current, &previous, &next].into_iter().flatten() {
            if verifiers.iter().all(|(kid, _)| kid != k.kid()) {
                verifiers.push((k.kid.clone(), VerifyingKey::EdDsa(k.pair.pk)));
                published.push(k.public_jwk());
            }
        }
        for k in &hmac {
            if verifiers.iter().all(|(kid, _)| kid != k.kid()) {
                verifiers.push((k.kid.clone(), VerifyingKey::Hs256(k.clone())));
            }
        }
        let signer = match current {
            Some(k) => SigningKey::EdDsa(k),
            None => SigningKey::Hs256(hmac.into_iter().next()?),
        };
        Some(KeySet {
            signer,
            verifiers,
            published,
        })
    }

    /// Refresh-token keys: HS256 with the current secret, and the previous one during a rotation.
    pub fn refresh(current: HmacKey, previous: Option<HmacKey>) -> KeySet {
        let mut verifiers = vec![(current.kid.clone(), VerifyingKey::Hs256(current.clone()))];
        if let Some(p) = previous.filter(|p| p.kid != current.kid) {
            verifiers.push((p.kid.clone(), VerifyingKey::Hs256(p)));
        }
        KeySet {
            signer: SigningKey::Hs256(current),
            verifiers,
            published: Vec::new(),
        }
    }

    /// The public keys anyone may verify with (EdDSA only; HMAC secrets are never published).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.published.clone(),
        }
    }

    /// The `kid` new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        self.signer.kid()
    }

    /// The algorithm new tokens are signed with.
    pub fn signing_alg(&self) -> &'static str {
        match self.signer {
            SigningKey::EdDsa(_) => EDDSA,
            SigningKey::Hs256(_) => HS256,
        }
    }

    fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
    }

    /// The HMAC key with this `kid`, for derivations tied to the key that signed a token.
    fn hmac(&self, kid: &str) -> Option<&HmacKey> {
        match self.find(kid) {
            Some(VerifyingKey::Hs256(k)) => Some(k),
            _ => None,
        }
    }

    /// The HMAC key new tokens are signed with, if this set signs with one.
    pub fn signing_hmac(&self) -> Option<&HmacKey> {
        match &self.signer {
            SigningKey::Hs256(k) => Some(k),
            SigningKey::EdDsa(_) => None,
        }
    }
}

/// `aud`: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// Absent only in HS256 tokens issued before audiences existed (then the default audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    pub sub: String,
    pub sid: String,
    pub email: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// OAuth clients only: the granted scopes (space-separated) and the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
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

/// Why a token was refused. For logs only: clients get one public code whatever the variant, so the
/// reason is not an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Too long, not three canonical base64url segments, a header that is not exactly
    /// `{alg,typ,kid}` JSON, or (only after the signature checked out) claims that do not parse.
    Malformed,
    /// `alg` is not the algorithm of the key the `kid` names (covers `none`, `RS256`, `hs256`, and
    /// HS256 signed with an EdDSA public key).
    UnsupportedAlgorithm,
    /// `kid` missing or naming none of our keys.
    UnknownKey,
    BadSignature,
    /// `typ` is not the expected one: a refresh token offered as an access token or vice versa.
    WrongTokenType,
    WrongIssuer,
    WrongAudience,
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
            TokenError::WrongAudience => "wrong_audience",
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

/// The only header we accept. `deny_unknown_fields` refuses `crit` (RFC 7515 §4.1.11), `jku`/`jwk`/
/// `x5u` (key injection, RFC 8725 §3.10), `cty`, `b64` (RFC 7797) and anything else we never emit;
/// serde also refuses duplicate members, so no two parsers can disagree about which `alg` counts.
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

fn sign<C: Serialize>(keys: &KeySet, typ: &str, claims: &C) -> Result<String, SignError> {
    let header = Header::empty()
        .with_key_id(keys.signer.kid())
        .with_token_type(typ);
    // `Claims::new` adds no time fields of its own: `iat`/`exp` are ours.
    let claims = Claims::new(claims);
    let token = match &keys.signer {
        SigningKey::EdDsa(k) => Ed25519Deterministic.token(&header, &claims, &k.pair.sk),
        SigningKey::Hs256(k) => Hs256.token(&header, &claims, &k.key),
    }
    .map_err(|_| SignError)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(SignError);
    }
    Ok(token)
}

/// `{"alg":…,"kid":…,"typ":"at+jwt"}`. Deterministic: same claims + same key ⇒ same string.
pub fn sign_access(keys: &KeySet, claims: &AccessClaims) -> Result<String, SignError> {
    sign(keys, ACCESS_TYP, claims)
}

/// `{"alg":"HS256","kid":…,"typ":"rt+jwt"}`. Deterministic, which the refresh race relies on.
pub fn sign_refresh(keys: &KeySet, claims: &RefreshClaims) -> Result<String, SignError> {
    sign(keys, REFRESH_TYP, claims)
}

/// The audience an access token must be for.
pub struct Expected<'a> {
    pub audience: &'a str,
    /// Tokens without `aud` (HS256 tokens from before audiences) count as for this audience only
    /// when it is the default one.
    pub audience_is_default: bool,
}

impl AccessClaims {
    /// Exact membership of the expected audience in `aud` (RFC 7519 §4.1.3; no prefix or case folding).
    pub fn check_audience(&self, expected: &Expected<'_>) -> Result<(), TokenError> {
        let for_us = match &self.aud {
            Some(aud) => aud.contains(expected.audience),
            None => expected.audience_is_default,
        };
        if for_us {
            Ok(())
        } else {
            Err(TokenError::WrongAudience)
        }
    }

    /// Still valid at `now` (for claims verified earlier and remembered): not expired, and not issued
    /// in the future beyond the skew.
    pub fn check_times(&self, now: i64) -> Result<(), TokenError> {
        if now >= self.exp {
            return Err(TokenError::Expired);
        }
        if self.iat > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

/// Verifies an access token's signature, header, issuer and times. The audience is the caller's
/// next check ([`AccessClaims::check_audience`]), so verified claims can be remembered once and
/// checked against any audience.
pub fn verify_access(
    keys: &KeySet,
    token: &str,
    expected_iss: &str,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    verify::<AccessClaims>(keys, token, ACCESS_TYP, expected_iss, now).map(|(claims, _)| claims)
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

/// Verifies a refresh token with `keys` (from [`KeySet::refresh`]).
pub fn verify_refresh(
    keys: &KeySet,
    token: &str,
    expected_iss: &str,
    now: i64,
) -> Result<VerifiedRefresh, TokenError> {
    let (claims, kid) = verify::<RefreshClaims>(keys, token, REFRESH_TYP, expected_iss, now)?;
    let key = keys.hmac(&kid).ok_or(TokenError::UnknownKey)?;
    let successor_jti = derive_jti(key, "rotate", &claims.jti);
    Ok(VerifiedRefresh {
        claims,
        successor_jti,
    })
}

/// `b64url(HMAC-SHA256(key, "jti v1:" || label || ":" || input))`, first 22 chars (132 bits).
/// Deterministic, and unguessable without the secret. `label` is a constant chosen by the caller and
/// must not contain `':'`, so that label/input pairs cannot collide.
pub fn derive_jti(key: &HmacKey, label: &str, input: &str) -> String {
    let message = format!("jti v1:{label}:{input}");
    b64url_encode(&key.mac(message.as_bytes()))
        .chars()
        .take(22)
        .collect()
}

/// Exactly three non-empty segments of canonical unpadded base64url: the alphabet `A-Za-z0-9-_`, no
/// padding, and no non-zero trailing bits (re-encoding gives the same text), so a token has exactly
/// one spelling that verifies.
fn canonical_segments(token: &str) -> Option<[&str; 3]> {
    let mut parts = token.split('.');
    let segments = [parts.next()?, parts.next()?, parts.next()?];
    if parts.next().is_some() {
        return None;
    }
    segments
        .iter()
        .all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && b64url_decode(seg).is_some_and(|bytes| b64url_encode(&bytes) == *seg)
        })
        .then_some(segments)
}

fn verify<C: TimedClaims>(
    keys: &KeySet,
    token: &str,
    expected_typ: &str,
    expected_iss: &str,
    now: i64,
) -> Result<(C, String), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let [header_b64, payload_b64, _] = canonical_segments(token).ok_or(TokenError::Malformed)?;
    let header_json = b64url_decode(header_b64).ok_or(TokenError::Malformed)?;
    let header: IncomingHeader =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;

    // RFC 8725 §3.11 / RFC 9068 §2.1: explicit typing stops a refresh token being used as an access
    // token and vice versa. We accept exactly what we issue.
    if header.typ.as_deref() != Some(expected_typ) {
        return Err(TokenError::WrongTokenType);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys.find(&kid).ok_or(TokenError::UnknownKey)?;
    // RFC 8725 §3.1: the key fixes the algorithm; the token never chooses it. Exact, case-sensitive.
    if header.alg != key.alg() {
        return Err(TokenError::UnsupportedAlgorithm);
    }

    // The signature before any claim is read (RFC 7515 §5.2).
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    let signing_input = token
        .rsplit_once('.')
        .map(|(input, _)| input.as_bytes())
        .ok_or(TokenError::Malformed)?;
    let valid = match key {
        VerifyingKey::EdDsa(pk) => {
            signature_valid(&Ed25519Deterministic, pk, &untrusted, signing_input)
        }
        VerifyingKey::Hs256(k) => signature_valid(&Hs256, &k.key, &untrusted, signing_input),
    };
    if !valid {
        return Err(TokenError::BadSignature);
    }

    let payload_json = b64url_decode(payload_b64).ok_or(TokenError::Malformed)?;
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
    Ok((claims, kid))
}

/// jwt-compact's signature check, with the length checked first (the crate's `try_from_slice`
/// assumes the exact length).
fn signature_valid<A: Algorithm>(
    alg: &A,
    key: &A::VerifyingKey,
    untrusted: &UntrustedToken<'_>,
    signing_input: &[u8],
) -> bool {
    let bytes = untrusted.signature_bytes();
    if <A::Signature as AlgorithmSignature>::LENGTH.is_some_and(|len| bytes.len() != len.get()) {
        return false;
    }
    match A::Signature::try_from_slice(bytes) {
        Ok(signature) => alg.verify_signature(&signature, key, signing_input),
        Err(_) => false,
    }
}

/// The SHA-256 of a whole token: the key under which a verified token may be remembered.
pub fn token_digest(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://auth.example.com";
    const NOW: i64 = 1_700_000_000;

    fn ed(byte: u8) -> Ed25519Key {
        Ed25519Key::from_seed([byte; 32]).unwrap()
    }

    fn hmac(byte: u8) -> HmacKey {
        HmacKey::new(&[byte; 32]).unwrap()
    }

    fn access_keys() -> KeySet {
        KeySet::access(Some(ed(1)), None, None, vec![hmac(9)]).unwrap()
    }

    fn refresh_keys() -> KeySet {
        KeySet::refresh(hmac(5), None)
    }

    fn expected() -> Expected<'static> {
        Expected {
            audience: ISS,
            audience_is_default: true,
        }
    }

    /// Verification and the audience check, as the identity service does them.
    fn verify_for(
        keys: &KeySet,
        token: &str,
        e: &Expected<'_>,
        now: i64,
    ) -> Result<AccessClaims, TokenError> {
        let claims = verify_access(keys, token, ISS, now)?;
        claims.check_audience(e)?;
        Ok(claims)
    }

    fn access() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            aud: Some(Audience::One(ISS.into())),
            sub: "usr_1".into(),
            sid: "ses_1".into(),
            email: "ada@example.com".into(),
            role: "member".into(),
            org_id: Some("org_1".into()),
            scope: None,
            client_id: None,
            iat: NOW,
            exp: NOW + 900,
            jti: "jti-1".into(),
        }
    }

    fn refresh() -> RefreshClaims {
        RefreshClaims {
            iss: ISS.into(),
            sub: "usr_1".into(),
            sid: "ses_1".into(),
            iat: NOW,
            exp: NOW + 86_400,
            jti: "rjti-1".into(),
        }
    }

    fn b64(s: &str) -> String {
        b64url_encode(s.as_bytes())
    }

    /// A token with an arbitrary header and payload, signed with `key` (EdDSA or HS256 by the key).
    fn forge(header: &str, payload: &str, key: Option<&SigningKey>) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = match key {
            Some(SigningKey::EdDsa(k)) => {
                b64url_encode(k.pair.sk.sign(input.as_bytes(), None).as_ref())
            }
            Some(SigningKey::Hs256(k)) => b64url_encode(&k.mac(input.as_bytes())),
            None => String::new(),
        };
        format!("{input}.{sig}")
    }

    fn access_json() -> String {
        serde_json::to_string(&access()).unwrap()
    }

    fn header(alg: &str, typ: &str, kid: &str) -> String {
        format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"}}"#)
    }

    #[test]
    fn rfc_8037_key_gives_its_published_thumbprint_and_public_key() {
        // RFC 8037 Appendix A.1 (seed `d`) and A.3 (thumbprint).
        let seed = b64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
        let k = Ed25519Key::from_seed(seed.try_into().unwrap()).unwrap();
        assert_eq!(k.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(
            k.public_jwk().x,
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
    }

    #[test]
    fn a_signing_key_parses_from_a_seed_or_an_openssl_pem() {
        let seed = [7u8; 32];
        let from_seed = Ed25519Key::parse(&b64url_encode(&seed)).unwrap();
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            crate::encoding::b64_standard(&der)
        );
        assert_eq!(Ed25519Key::parse(&pem).unwrap().kid(), from_seed.kid());
        for bad in [
            "",
            "short",
            &b64url_encode(&[1u8; 31]),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            assert_eq!(
                Ed25519Key::parse(bad).err(),
                Some(KeyError::NotAnEd25519Key),
                "{bad}"
            );
        }
        assert!(format!("{from_seed:?}").contains(from_seed.kid()));
    }

    #[test]
    fn eddsa_access_tokens_round_trip_and_signing_is_deterministic() {
        let t = sign_access(&access_keys(), &access()).unwrap();
        assert_eq!(
            verify_for(&access_keys(), &t, &expected(), NOW + 1),
            Ok(access())
        );
        assert_eq!(t, sign_access(&access_keys(), &access()).unwrap());
        let header: serde_json::Value =
            serde_json::from_slice(&b64url_decode(t.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], ed(1).kid());
    }

    #[test]
    fn hs256_only_deployments_sign_and_verify_with_the_secret() {
        let keys = KeySet::access(None, None, None, vec![hmac(9)]).unwrap();
        assert_eq!(keys.signing_alg(), "HS256");
        let t = sign_access(&keys, &access()).unwrap();
        assert_eq!(verify_for(&keys, &t, &expected(), NOW), Ok(access()));
        assert!(
            keys.jwks().keys.is_empty(),
            "HMAC secrets are never published"
        );
        assert!(KeySet::access(None, None, None, vec![]).is_none());
    }

    #[test]
    fn hs256_tokens_from_before_the_switch_verify_until_the_secret_is_removed() {
        let before = KeySet::access(None, None, None, vec![hmac(9)]).unwrap();
        let mut legacy = access();
        legacy.aud = None;
        let t = sign_access(&before, &legacy).unwrap();
        assert_eq!(verify_for(&access_keys(), &t, &expected(), NOW), Ok(legacy));
        let without_secret = KeySet::access(Some(ed(1)), None, None, vec![]).unwrap();
        assert_eq!(
            verify_for(&without_secret, &t, &expected(), NOW),
            Err(TokenError::UnknownKey)
        );
        // A token without `aud` is never good for another audience.
        let other = Expected {
            audience: "https://mcp.example.com",
            audience_is_default: false,
        };
        assert_eq!(
            verify_for(&access_keys(), &t, &other, NOW),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn previous_and_next_keys_verify_and_are_published_with_the_current_one() {
        let keys = KeySet::access(Some(ed(2)), Some(ed(1)), Some(ed(3)), vec![]).unwrap();
        let kids: Vec<_> = keys.jwks().keys.iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, [ed(2).kid(), ed(1).kid(), ed(3).kid()]);
        for signer in [1, 3] {
            let t = sign_access(
                &KeySet::access(Some(ed(signer)), None, None, vec![]).unwrap(),
                &access(),
            )
            .unwrap();
            assert_eq!(
                verify_for(&keys, &t, &expected(), NOW),
                Ok(access()),
                "key {signer}"
            );
        }
        let retired = KeySet::access(Some(ed(2)), None, None, vec![]).unwrap();
        let old = sign_access(
            &KeySet::access(Some(ed(1)), None, None, vec![]).unwrap(),
            &access(),
        )
        .unwrap();
        assert_eq!(
            verify_for(&retired, &old, &expected(), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn audiences_are_matched_exactly() {
        let mut c = access();
        c.aud = Some(Audience::Many(vec![
            "https://mcp.example.com/a".into(),
            ISS.into(),
        ]));
        let t = sign_access(&access_keys(), &c).unwrap();
        assert!(verify_for(&access_keys(), &t, &expected(), NOW).is_ok());
        for wrong in [
            "https://mcp.example.com",
            "https://mcp.example.com/a/",
            "HTTPS://AUTH.EXAMPLE.COM",
        ] {
            let e = Expected {
                audience: wrong,
                audience_is_default: false,
            };
            assert_eq!(
                verify_for(&access_keys(), &t, &e, NOW),
                Err(TokenError::WrongAudience),
                "{wrong}"
            );
        }
    }

    #[test]
    fn refresh_tokens_round_trip_and_are_not_access_tokens() {
        let t = sign_refresh(&refresh_keys(), &refresh()).unwrap();
        let v = verify_refresh(&refresh_keys(), &t, ISS, NOW + 1).unwrap();
        assert_eq!(v.claims, refresh());
        let with_secret = KeySet::access(Some(ed(1)), None, None, vec![hmac(5)]).unwrap();
        assert_eq!(
            verify_for(&with_secret, &t, &expected(), NOW),
            Err(TokenError::WrongTokenType)
        );
        let a = sign_access(
            &KeySet::access(None, None, None, vec![hmac(5)]).unwrap(),
            &access(),
        )
        .unwrap();
        assert_eq!(
            verify_refresh(&refresh_keys(), &a, ISS, NOW),
            Err(TokenError::WrongTokenType)
        );
    }

    #[test]
    fn the_successor_of_a_token_does_not_depend_on_which_key_is_current() {
        // Isolate A still signs with key 5; isolate B has rotated to key 6 and keeps key 5 as previous.
        let old = KeySet::refresh(hmac(5), None);
        let rotated = KeySet::refresh(hmac(6), Some(hmac(5)));
        let t = sign_refresh(&old, &refresh()).unwrap();
        let a = verify_refresh(&old, &t, ISS, NOW).unwrap();
        let b = verify_refresh(&rotated, &t, ISS, NOW).unwrap();
        assert_eq!(a.successor_jti, b.successor_jti);
        let fresh = sign_refresh(&rotated, &refresh()).unwrap();
        let c = verify_refresh(&rotated, &fresh, ISS, NOW).unwrap();
        assert_ne!(c.successor_jti, a.successor_jti);
    }

    #[test]
    fn refused_tokens_are_refused_for_the_right_reason() {
        let keys = access_keys();
        let current = SigningKey::EdDsa(ed(1));
        let secret = SigningKey::Hs256(hmac(9));
        let kid = ed(1).kid().to_owned();
        let hkid = hmac(9).kid().to_owned();
        let good = sign_access(&keys, &access()).unwrap();
        let (input, sig) = good.rsplit_once('.').unwrap();
        let mut flipped = b64url_decode(sig).unwrap();
        flipped[0] ^= 1;
        let mut elevated = access();
        elevated.role = "admin".into();
        let mut expired = access();
        expired.exp = NOW;
        let mut future = access();
        future.iat = NOW + CLOCK_SKEW_SECS + 1;
        let mut nbf = serde_json::to_value(access()).unwrap();
        nbf["nbf"] = serde_json::json!(NOW + 600);
        let mut foreign_iss = access();
        foreign_iss.iss = "https://evil.example.com".into();
        let public_key_as_hmac = {
            // Alg confusion: HS256 with the EdDSA public key as the secret, under the EdDSA kid.
            let pk = ed(1).pair.pk;
            let fake = HmacKey::new(pk.as_ref()).unwrap();
            let input = format!(
                "{}.{}",
                b64(&header("HS256", ACCESS_TYP, &kid)),
                b64(&access_json())
            );
            format!("{input}.{}", b64url_encode(&fake.mac(input.as_bytes())))
        };
        let cases: Vec<(&str, String, TokenError)> = vec![
            (
                "alg none",
                forge(&header("none", ACCESS_TYP, &kid), &access_json(), None),
                TokenError::Malformed,
            ),
            (
                "alg none, any signature",
                format!(
                    "{}.{}.AAAA",
                    b64(&header("none", ACCESS_TYP, &kid)),
                    b64(&access_json())
                ),
                TokenError::UnsupportedAlgorithm,
            ),
            (
                "RS256 claimed",
                forge(
                    &header("RS256", ACCESS_TYP, &kid),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::UnsupportedAlgorithm,
            ),
            (
                "HS256 with the public key",
                public_key_as_hmac,
                TokenError::UnsupportedAlgorithm,
            ),
            (
                "EdDSA under the HMAC kid",
                forge(
                    &header("EdDSA", ACCESS_TYP, &hkid),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::UnsupportedAlgorithm,
            ),
            (
                "lower-case eddsa",
                forge(
                    &header("eddsa", ACCESS_TYP, &kid),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::UnsupportedAlgorithm,
            ),
            (
                "unknown kid",
                forge(
                    &header("EdDSA", ACCESS_TYP, &ed(8).kid),
                    &access_json(),
                    Some(&SigningKey::EdDsa(ed(8))),
                ),
                TokenError::UnknownKey,
            ),
            (
                "no kid",
                forge(
                    r#"{"alg":"EdDSA","typ":"at+jwt"}"#,
                    &access_json(),
                    Some(&current),
                ),
                TokenError::UnknownKey,
            ),
            (
                "our kid, another key",
                forge(
                    &header("EdDSA", ACCESS_TYP, &kid),
                    &access_json(),
                    Some(&SigningKey::EdDsa(ed(8))),
                ),
                TokenError::BadSignature,
            ),
            (
                "crit",
                forge(
                    &format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","crit":["exp"]}}"#),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::Malformed,
            ),
            (
                "jku",
                forge(
                    &format!(
                        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","jku":"https://evil"}}"#
                    ),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::Malformed,
            ),
            (
                "duplicate alg",
                forge(
                    &format!(r#"{{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::Malformed,
            ),
            (
                "refresh typ",
                forge(
                    &header("EdDSA", REFRESH_TYP, &kid),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::WrongTokenType,
            ),
            (
                "generic JWT typ",
                forge(
                    &header("EdDSA", "JWT", &kid),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::WrongTokenType,
            ),
            (
                "no typ",
                forge(
                    &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
                    &access_json(),
                    Some(&current),
                ),
                TokenError::WrongTokenType,
            ),
            (
                "tampered payload",
                format!(
                    "{}.{}.{sig}",
                    input.split('.').next().unwrap(),
                    b64(&serde_json::to_string(&elevated).unwrap())
                ),
                TokenError::BadSignature,
            ),
            (
                "flipped signature",
                format!("{input}.{}", b64url_encode(&flipped)),
                TokenError::BadSignature,
            ),
            (
                "short signature",
                format!("{input}.{}", b64url_encode(&flipped[..32])),
                TokenError::BadSignature,
            ),
            (
                "empty signature",
                format!("{input}."),
                TokenError::Malformed,
            ),
            (
                "unparseable claims, valid signature",
                forge(
                    &header("EdDSA", ACCESS_TYP, &kid),
                    "not json",
                    Some(&current),
                ),
                TokenError::Malformed,
            ),
            (
                "unparseable claims, bad signature",
                forge(
                    &header("EdDSA", ACCESS_TYP, &kid),
                    "not json",
                    Some(&SigningKey::EdDsa(ed(8))),
                ),
                TokenError::BadSignature,
            ),
            (
                "wrong issuer",
                sign_access(&keys, &foreign_iss).unwrap(),
                TokenError::WrongIssuer,
            ),
            (
                "expired",
                sign_access(&keys, &expired).unwrap(),
                TokenError::Expired,
            ),
            (
                "issued in the future",
                sign_access(&keys, &future).unwrap(),
                TokenError::NotYetValid,
            ),
            (
                "nbf in the future",
                forge(
                    &header("EdDSA", ACCESS_TYP, &kid),
                    &nbf.to_string(),
                    Some(&current),
                ),
                TokenError::NotYetValid,
            ),
            (
                "HS256 with a secret we do not hold",
                forge(
                    &header("HS256", ACCESS_TYP, &hkid),
                    &access_json(),
                    Some(&SigningKey::Hs256(hmac(1))),
                ),
                TokenError::BadSignature,
            ),
            (
                "HS256 with our secret, wrong issuer",
                forge(
                    &header("HS256", ACCESS_TYP, &hkid),
                    &serde_json::to_string(&foreign_iss).unwrap(),
                    Some(&secret),
                ),
                TokenError::WrongIssuer,
            ),
        ];
        for (why, token, error) in cases {
            assert_eq!(
                verify_for(&keys, &token, &expected(), NOW),
                Err(error),
                "{why}"
            );
        }
    }

    #[test]
    fn only_the_canonical_spelling_of_a_token_verifies() {
        let keys = access_keys();
        let good = sign_access(&keys, &access()).unwrap();
        assert!(verify_for(&keys, &good, &expected(), NOW).is_ok());
        let [h, p, s] = canonical_segments(&good).unwrap();
        let sig = b64url_decode(s).unwrap();
        let standard = crate::encoding::b64_standard(&sig);
        // The 86-char signature's last character carries 4 unused bits.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = alphabet.find(s.chars().last().unwrap()).unwrap();
        let trailing = format!(
            "{}{}",
            &s[..s.len() - 1],
            &alphabet[(last ^ 1)..=(last ^ 1)]
        );
        for bad in [
            format!("{h}.{p}.{standard}"),
            format!("{h}.{p}.{}", standard.trim_end_matches('=')),
            format!("{h}.{p}.{s}=="),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}.{trailing}"),
            format!(" {good}"),
            format!("{good}.extra"),
            good.replace('.', ".."),
            String::new(),
            "a.b".into(),
        ] {
            assert_eq!(
                verify_for(&keys, &bad, &expected(), NOW),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_any_work_and_never_signed() {
        let mut c = access();
        c.email = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(sign_access(&access_keys(), &c), Err(SignError));
        let long = format!(
            "{}.{}",
            sign_access(&access_keys(), &access()).unwrap(),
            "A".repeat(MAX_TOKEN_LEN)
        );
        assert_eq!(
            verify_for(&access_keys(), &long, &expected(), NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn expiry_has_no_leeway() {
        let t = sign_access(&access_keys(), &access()).unwrap();
        assert!(verify_for(&access_keys(), &t, &expected(), NOW + 899).is_ok());
        assert_eq!(
            verify_for(&access_keys(), &t, &expected(), NOW + 900),
            Err(TokenError::Expired)
        );
        assert!(verify_for(&access_keys(), &t, &expected(), NOW - CLOCK_SKEW_SECS).is_ok());
    }

    #[test]
    fn hmac_keys_are_long_enough_and_debug_hides_every_secret() {
        assert_eq!(HmacKey::new(&[0; 31]).err(), Some(KeyError::TooShort));
        let k = HmacKey::new(b"super-secret-value-0123456789abcdef").unwrap();
        assert_eq!(k.kid().len(), 16);
        let dbg = format!("{:?}", KeySet::refresh(k.clone(), None));
        assert!(dbg.contains(k.kid()));
        assert!(!dbg.contains("super-secret"));
        assert!(!format!("{:?}", ed(1)).contains(&b64url_encode(&[1u8; 32])));
    }

    #[test]
    fn derived_jtis_are_deterministic_22_chars_and_key_bound() {
        let a = derive_jti(&hmac(1), "refresh", "rjti-1");
        assert_eq!(a.len(), 22);
        assert_eq!(a, derive_jti(&hmac(1), "refresh", "rjti-1"));
        assert_ne!(a, derive_jti(&hmac(1), "refresh", "rjti-2"));
        assert_ne!(a, derive_jti(&hmac(1), "other", "rjti-1"));
        assert_ne!(a, derive_jti(&hmac(2), "refresh", "rjti-1"));
    }

    #[test]
    fn error_codes_are_snake_case() {
        assert_eq!(
            TokenError::UnsupportedAlgorithm.as_str(),
            "unsupported_algorithm"
        );
        assert_eq!(TokenError::WrongAudience.to_string(), "wrong_audience");
    }
}
