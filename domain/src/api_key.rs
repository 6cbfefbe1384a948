//! API key format: `sk_live_` / `sk_test_` + 32 base62 body characters + 6 base62 checksum characters.
//! Must not look anything up or keep the key: only its SHA-256 is ever stored, and a typo or truncation is
//! rejected here by the checksum, before any database work.
//!
//! Entropy: the body is the 256-bit random input reduced mod 62^32, i.e. log2(62^32) ≈ 190.5 bits (well
//! above the 128-bit floor). Because 2^256 / 62^32 ≈ 2^65.5, the reduction's bias is below 2^-65.
//! The checksum (CRC-32/IEEE, as in GitHub's token format) catches typos; it is not a security feature.

use std::fmt;

use crate::encoding::{base62_fixed, base62_value, sha256_hex};

pub const BODY_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
/// Both prefixes are 8 characters long.
pub const PREFIX_LEN: usize = 8;
pub const KEY_LEN: usize = PREFIX_LEN + BODY_LEN + CHECKSUM_LEN;
/// Characters of the body shown in listings after the prefix (`start`): 4 × 5.95 bits, not enough to help
/// a guesser.
const START_BODY_CHARS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEnvironment {
    Live,
    Test,
}

impl KeyEnvironment {
    pub fn prefix(&self) -> &'static str {
        match self {
            KeyEnvironment::Live => "sk_live_",
            KeyEnvironment::Test => "sk_test_",
        }
    }

    /// `"live"` or `"test"`, exactly.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(KeyEnvironment::Live),
            "test" => Some(KeyEnvironment::Test),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyEnvironment::Live => "live",
            KeyEnvironment::Test => "test",
        }
    }

    fn from_key(candidate: &str) -> Option<Self> {
        [KeyEnvironment::Live, KeyEnvironment::Test]
            .into_iter()
            .find(|env| candidate.starts_with(env.prefix()))
    }
}

/// A freshly generated key. `key` is shown to the user once and never stored; `Debug` hides it.
pub struct NewApiKey {
    pub key: String,
    pub prefix: &'static str,
    /// Prefix + first 4 body characters, for listings.
    pub start: String,
    /// `sha256_hex(key)`: what the database stores and looks up.
    pub hash: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &"<hidden>")
            .field("prefix", &self.prefix)
            .field("start", &self.start)
            .field("hash", &self.hash)
            .finish()
    }
}

/// A candidate that passed the format check. It is not yet known to be a real key: look `hash` up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    pub env: KeyEnvironment,
    pub hash: String,
    pub start: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyFormatError {
    UnknownPrefix,
    WrongLength,
    InvalidCharacter,
    ChecksumMismatch,
}

impl ApiKeyFormatError {
    pub fn as_str(&self) -> &'static str {
        match self {
            ApiKeyFormatError::UnknownPrefix => "unknown_prefix",
            ApiKeyFormatError::WrongLength => "wrong_length",
            ApiKeyFormatError::InvalidCharacter => "invalid_character",
            ApiKeyFormatError::ChecksumMismatch => "checksum_mismatch",
        }
    }
}

impl fmt::Display for ApiKeyFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ApiKeyFormatError {}

pub fn generate(env: KeyEnvironment, random: &[u8; 32]) -> NewApiKey {
    let prefix = env.prefix();
    let body = base62_fixed(random, BODY_LEN);
    let key = format!("{prefix}{body}{}", checksum(prefix, &body));
    NewApiKey {
        start: start_of(prefix, &body),
        hash: sha256_hex(key.as_bytes()),
        key,
        prefix,
    }
}

/// Checks prefix, then length, then alphabet, then checksum. No I/O.
pub fn parse(candidate: &str) -> Result<ParsedApiKey, ApiKeyFormatError> {
    let env = KeyEnvironment::from_key(candidate).ok_or(ApiKeyFormatError::UnknownPrefix)?;
    if candidate.len() != KEY_LEN {
        return Err(ApiKeyFormatError::WrongLength);
    }
    let rest = candidate
        .strip_prefix(env.prefix())
        .ok_or(ApiKeyFormatError::UnknownPrefix)?;
    if !rest.chars().all(|c| base62_value(c).is_some()) {
        return Err(ApiKeyFormatError::InvalidCharacter);
    }
    // All-ASCII from here on, so byte offsets are char boundaries; `split_at_checked` cannot panic anyway.
    let (body, sum) = rest
        .split_at_checked(BODY_LEN)
        .ok_or(ApiKeyFormatError::WrongLength)?;
    if checksum(env.prefix(), body) != sum {
        return Err(ApiKeyFormatError::ChecksumMismatch);
    }
    Ok(ParsedApiKey {
        env,
        hash: sha256_hex(candidate.as_bytes()),
        start: start_of(env.prefix(), body),
    })
}

/// Cheap routing test: does this bearer credential claim to be an API key rather than a JWT?
pub fn looks_like_api_key(s: &str) -> bool {
    KeyEnvironment::from_key(s).is_some()
}

fn start_of(prefix: &str, body: &str) -> String {
    let shown: String = body.chars().take(START_BODY_CHARS).collect();
    format!("{prefix}{shown}")
}

/// `base62(CRC-32/IEEE(prefix || body))`, 6 characters left-padded with `'0'` (62^6 > 2^32).
fn checksum(prefix: &str, body: &str) -> String {
    let crc = crc32_ieee(prefix.bytes().chain(body.bytes()));
    base62_fixed(&crc.to_be_bytes(), CHECKSUM_LEN)
}

/// CRC-32/IEEE 802.3 (reflected, polynomial 0xEDB88320, init and xorout 0xFFFFFFFF), bitwise: keys are
/// 40 bytes, so a table is not worth its size in the wasm binary.
fn crc32_ieee(bytes: impl Iterator<Item = u8>) -> u32 {
    let mut crc = u32::MAX;
    for byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(env: KeyEnvironment, seed: u8) -> NewApiKey {
        let random: [u8; 32] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
        generate(env, &random)
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32_ieee(b"123456789".iter().copied()), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b"".iter().copied()), 0);
    }

    #[test]
    fn generated_key_has_documented_shape() {
        let k = key(KeyEnvironment::Live, 1);
        assert_eq!(k.key.len(), KEY_LEN);
        assert_eq!(KEY_LEN, 46);
        assert!(k.key.starts_with("sk_live_"));
        assert_eq!(k.prefix, "sk_live_");
        assert_eq!(k.start, k.key[..12]);
        assert_eq!(k.hash, sha256_hex(k.key.as_bytes()));
        assert!(k.key[8..].chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn generated_key_parses_back() {
        for env in [KeyEnvironment::Live, KeyEnvironment::Test] {
            let k = key(env, 7);
            let p = parse(&k.key).unwrap();
            assert_eq!(
                p,
                ParsedApiKey {
                    env,
                    hash: k.hash.clone(),
                    start: k.start.clone()
                }
            );
        }
    }

    #[test]
    fn all_zero_and_all_ones_randomness_still_make_valid_keys() {
        for random in [[0u8; 32], [0xff; 32]] {
            let k = generate(KeyEnvironment::Test, &random);
            assert_eq!(k.key.len(), KEY_LEN);
            assert!(parse(&k.key).is_ok());
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = key(KeyEnvironment::Live, 3);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&k.key));
        assert!(dbg.contains("<hidden>"));
    }

    #[test]
    fn rejects_unknown_prefix() {
        let k = key(KeyEnvironment::Live, 2);
        assert_eq!(
            parse(&k.key.replacen("sk_live_", "sk_prod_", 1)),
            Err(ApiKeyFormatError::UnknownPrefix)
        );
        assert_eq!(
            parse(&k.key.replacen("sk_live_", "SK_LIVE_", 1)),
            Err(ApiKeyFormatError::UnknownPrefix)
        );
        assert_eq!(parse(""), Err(ApiKeyFormatError::UnknownPrefix));
        assert_eq!(
            parse("eyJhbGciOiJIUzI1NiJ9.e30.x"),
            Err(ApiKeyFormatError::UnknownPrefix)
        );
    }

    #[test]
    fn switching_environment_prefix_breaks_the_checksum() {
        let k = key(KeyEnvironment::Live, 2);
        assert_eq!(
            parse(&k.key.replacen("sk_live_", "sk_test_", 1)),
            Err(ApiKeyFormatError::ChecksumMismatch)
        );
    }

    #[test]
    fn rejects_truncated_or_extended_key() {
        let k = key(KeyEnvironment::Test, 4);
        assert_eq!(
            parse(&k.key[..KEY_LEN - 1]),
            Err(ApiKeyFormatError::WrongLength)
        );
        assert_eq!(
            parse(&format!("{}0", k.key)),
            Err(ApiKeyFormatError::WrongLength)
        );
        assert_eq!(parse("sk_test_"), Err(ApiKeyFormatError::WrongLength));
    }

    #[test]
    fn rejects_non_base62_characters() {
        let k = key(KeyEnvironment::Test, 5);
        let mut bad = k.key.clone();
        bad.replace_range(20..21, "-");
        assert_eq!(parse(&bad), Err(ApiKeyFormatError::InvalidCharacter));
        // A multi-byte character of the same byte length must not slip through.
        let mut wide = k.key.clone();
        wide.replace_range(20..22, "é");
        assert_eq!(parse(&wide), Err(ApiKeyFormatError::InvalidCharacter));
    }

    #[test]
    fn rejects_a_typo_in_the_body() {
        let k = key(KeyEnvironment::Live, 6);
        let mut typo = k.key.clone();
        let c = typo.as_bytes()[15];
        let replacement = if c == b'a' { "b" } else { "a" };
        typo.replace_range(15..16, replacement);
        assert_eq!(parse(&typo), Err(ApiKeyFormatError::ChecksumMismatch));
    }

    #[test]
    fn looks_like_api_key_checks_only_the_prefix() {
        assert!(looks_like_api_key("sk_live_x"));
        assert!(looks_like_api_key("sk_test_"));
        assert!(!looks_like_api_key("sk_other"));
        assert!(!looks_like_api_key("eyJhbGciOi"));
    }

    #[test]
    fn environment_names_round_trip() {
        for env in [KeyEnvironment::Live, KeyEnvironment::Test] {
            assert_eq!(KeyEnvironment::parse(env.as_str()), Some(env));
        }
        assert_eq!(KeyEnvironment::parse("LIVE"), None);
        assert_eq!(KeyEnvironment::parse("prod"), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn env() -> impl Strategy<Value = KeyEnvironment> {
            prop_oneof![Just(KeyEnvironment::Live), Just(KeyEnvironment::Test)]
        }

        proptest! {
            #[test]
            fn generated_keys_always_parse(env in env(), random in any::<[u8; 32]>()) {
                let k = generate(env, &random);
                let parsed = parse(&k.key);
                prop_assert_eq!(parsed, Ok(ParsedApiKey { env, hash: k.hash, start: k.start }));
            }

            #[test]
            fn any_single_character_change_is_rejected(
                env in env(),
                random in any::<[u8; 32]>(),
                position in 0..KEY_LEN,
                replacement in any::<char>(),
            ) {
                let k = generate(env, &random);
                let original = k.key.chars().nth(position).unwrap();
                prop_assume!(replacement != original);
                let changed: String = k.key.chars().enumerate()
                    .map(|(i, c)| if i == position { replacement } else { c })
                    .collect();
                prop_assert!(parse(&changed).is_err(), "{changed}");
            }

            #[test]
            fn any_single_base62_substitution_is_rejected(
                env in env(),
                random in any::<[u8; 32]>(),
                position in PREFIX_LEN..KEY_LEN,
                digit in 0u8..62,
            ) {
                // Same as above, restricted to in-alphabet substitutions, which only the checksum can catch.
                let k = generate(env, &random);
                let replacement = crate::encoding::base62_digit(digit);
                let original = k.key.chars().nth(position).unwrap();
                prop_assume!(replacement != original);
                let mut changed = k.key.clone();
                changed.replace_range(position..position + 1, &replacement.to_string());
                prop_assert_eq!(parse(&changed).err(), Some(ApiKeyFormatError::ChecksumMismatch));
            }

            #[test]
            fn any_truncation_is_rejected(env in env(), random in any::<[u8; 32]>(), len in 0..KEY_LEN) {
                let k = generate(env, &random);
                prop_assert!(parse(&k.key[..len]).is_err());
            }
        }
    }
}
