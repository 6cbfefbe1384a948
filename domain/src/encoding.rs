//! Byte encodings, hashes and constant-time comparison used by every other module. Must not hold
//! policy: callers decide what is valid; these helpers only encode, hash and compare.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// base64url without padding (RFC 4648 §5), as used by JWS (RFC 7515 §2) and PKCE (RFC 7636 §3).
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding (RFC 4648 §4), as Content-Security-Policy hash sources use.
pub fn b64_standard(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Strict base64url decoding: padding and non-canonical trailing bits are rejected, so every byte string
/// has exactly one accepted encoding (no signature malleability through alternative encodings).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Standard base64 with padding (RFC 4648 §4), strictly: what HTTP Basic credentials use.
pub fn b64_decode_standard(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    let n = nibble & 0x0f;
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

/// Decodes hexadecimal (either case) into exactly `N` bytes; anything else is `None`.
pub fn hex_decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (hex_value(*hi)?, hex_value(*lo)?),
            _ => return None,
        };
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase base32 with the RFC 4648 §6 alphabet (`a-z2-7`), no padding. Lowercase because ids end up
/// in URLs and logs where case-folding by tools must not change them.
pub fn base32_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u16 = 0;
    let mut bits: u32 = 0;
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_digit(acc >> bits));
        }
        // Only the low `bits` (< 5) bits are still pending; drop the rest so `acc` cannot overflow.
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(base32_digit(acc << (5 - bits)));
    }
    out
}

fn base32_digit(value: u16) -> char {
    // Masked to 5 bits, so the result is always in the alphabet; truncating to u8 is lossless.
    let v = (value & 0x1f) as u8;
    char::from(if v < 26 { b'a' + v } else { b'2' + v - 26 })
}

/// True for characters of the lowercase RFC 4648 base32 alphabet.
pub fn is_base32_lower_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '2'..='7')
}

/// The base62 alphabet used for API keys: digits, then upper case, then lower case, so that a
/// left-padded number keeps its order and `'0'` is the padding digit.
pub fn base62_digit(value: u8) -> char {
    let v = value % 62;
    char::from(match v {
        0..=9 => b'0' + v,
        10..=35 => b'A' + v - 10,
        _ => b'a' + v - 36,
    })
}

/// Inverse of [`base62_digit`].
pub fn base62_value(c: char) -> Option<u8> {
    let b = u8::try_from(c).ok()?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'Z' => Some(b - b'A' + 10),
        b'a'..=b'z' => Some(b - b'a' + 36),
        _ => None,
    }
}

/// The low `len` base62 digits of the big-endian number `bytes`, most significant digit first and
/// left-padded with `'0'`: the encoding is exactly `bytes mod 62^len`.
pub fn base62_fixed(bytes: &[u8], len: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(len);
    for _ in 0..len {
        // Schoolbook long division of `number` by 62, in place; the remainder is the next digit.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            // acc < 62 * 256, so the quotient fits in a byte.
            *byte = u8::try_from(acc / 62).unwrap_or(u8::MAX);
            remainder = acc % 62;
        }
        digits.push(base62_digit(u8::try_from(remainder).unwrap_or(0)));
    }
    digits.iter().rev().collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// HMAC-SHA256 (RFC 2104, test vectors RFC 4231).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = hmac_with_key(key);
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Builds the MAC through the infallible block-sized-key constructor after applying RFC 2104 §2's own
/// key preparation (keys longer than the 64-byte block are hashed first, shorter ones zero-padded). This is
/// exactly what `new_from_slice` does internally, minus the `Result` that can never be `Err` for HMAC and
/// that we would otherwise have to `expect`.
fn hmac_with_key(key: &[u8]) -> Hmac<Sha256> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    let hashed;
    let material: &[u8] = if key.len() > block.len() {
        hashed = sha256(key);
        &hashed
    } else {
        key
    };
    for (dst, src) in block.iter_mut().zip(material) {
        *dst = *src;
    }
    <Hmac<Sha256> as Mac>::new(&block)
}

/// Constant-time equality (via `subtle`). Inputs of different lengths are unequal; lengths are not secret.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Extracts the token from `Authorization: Bearer <token>` (RFC 6750 §2.1). The scheme is matched
/// case-insensitively (RFC 9110 §11.1); the token must follow the `b64token` grammar, so a header with a
/// second word, a comma-separated list or control characters yields `None` rather than a mangled token.
pub fn bearer_token(authorization_header: &str) -> Option<&str> {
    let header = authorization_header.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = header.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(|c| c == ' ' || c == '\t');
    is_b64token(token).then_some(token)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_round_trips_without_padding() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let s = b64url_encode(&bytes);
            assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
            assert_eq!(b64url_decode(&s), Some(bytes));
        }
    }

    #[test]
    fn b64url_decode_rejects_padding_std_alphabet_and_noncanonical_bits() {
        assert_eq!(b64url_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64url_decode("YQ=="), None);
        assert_eq!(b64url_decode("YR"), None, "non-zero trailing bits");
        assert_eq!(b64url_decode("a+b/"), None);
        assert_eq!(b64url_decode("Y"), None);
    }

    #[test]
    fn hex_is_lowercase_and_decodes_both_cases() {
        assert_eq!(hex(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
        assert_eq!(hex_decode_array::<2>("ABff"), Some([0xab, 0xff]));
        assert_eq!(hex_decode_array::<2>("abf"), None);
        assert_eq!(hex_decode_array::<2>("abfg"), None);
        assert_eq!(hex_decode_array::<1>("+1"), None);
    }

    #[test]
    fn sha256_matches_fips_180_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_vectors_including_long_keys() {
        // RFC 4231 §4.2 (test case 1).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // RFC 4231 §4.7 (test case 6): a 131-byte key must be hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // Exactly block-sized and empty keys agree with the library's own key handling.
        for key in [&[][..], &[1u8; 64][..], &[2u8; 65][..]] {
            let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            reference.update(b"msg");
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(key, b"msg"), expected);
        }
    }

    #[test]
    fn ct_eq_requires_same_length_and_content() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn base32_matches_rfc4648_vectors_in_lowercase() {
        // RFC 4648 §10, without padding.
        assert_eq!(base32_lower(b""), "");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foo"), "mzxw6");
        assert_eq!(base32_lower(b"foob"), "mzxw6yq");
        assert_eq!(base32_lower(b"fooba"), "mzxw6ytb");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_lower(&[0xff; 16]).len(), 26);
    }

    #[test]
    fn base62_fixed_is_left_padded_big_endian() {
        assert_eq!(base62_fixed(&[0], 3), "000");
        assert_eq!(base62_fixed(&[61], 2), "0z");
        assert_eq!(base62_fixed(&[62], 2), "10");
        assert_eq!(base62_fixed(&0xffff_ffffu32.to_be_bytes(), 6), "4gfFC3");
        for v in 0..62u8 {
            assert_eq!(base62_value(base62_digit(v)), Some(v));
        }
        assert_eq!(base62_value('-'), None);
        assert_eq!(base62_value('é'), None);
    }

    #[test]
    fn bearer_token_accepts_any_scheme_case_and_trims() {
        assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("  BEARER   sk_live_x  "), Some("sk_live_x"));
        assert_eq!(bearer_token("Bearer\tabc=="), Some("abc=="));
    }

    #[test]
    fn bearer_token_rejects_other_schemes_empty_and_junk() {
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer    "), None);
        assert_eq!(bearer_token(""), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer a,Bearer b"), None);
        assert_eq!(bearer_token("Bearer ==="), None);
        assert_eq!(bearer_token("Bearer a\r\nX: y"), None);
    }
}
