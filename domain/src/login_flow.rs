//! The OAuth `state` of one browser login and the secret that binds it to that browser
//! (RFC 6749 §10.12, RFC 9700 §4.7). Must not store anything.
//!
//! `state` travels in URLs (to WorkOS and back), so it is public to anyone who sees the callback URL.
//! The browser also holds a second random value, the *binding*, in an httpOnly cookie named by
//! [`flow_cookie_name`]; it never appears in a URL. D1 keys the flow by [`flow_key`] of both, and the
//! PKCE verifier is derived from [`verifier_seed`] of both: a stolen `?code&state` alone can neither
//! find the flow nor redeem the code.

use crate::encoding::{b64url_encode, sha256_hex};

/// How long a login may take between `/auth/authorize` and `/auth/callback` (the WorkOS SDKs use 600 s).
pub const FLOW_TTL_SECS: i64 = 600;
pub const FLOW_COOKIE_PREFIX: &str = "auth_flow_";

const STATE_LEN: usize = 43;

/// 32 random bytes (256 bits) as 43 base64url characters.
pub fn new_state(random: &[u8; 32]) -> String {
    b64url_encode(random)
}

/// Exactly 43 characters of the base64url alphabet: checked before any lookup, so junk never reaches D1.
pub fn is_well_formed_state(s: &str) -> bool {
    s.len() == STATE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What D1 stores for a flow: a hash of state and binding (a database leak hands out neither).
pub fn flow_key(state: &str, binding: &str) -> String {
    sha256_hex(format!("flow key v2:{state}:{binding}").as_bytes())
}

/// The input from which the PKCE verifier is derived (with a server secret): both halves are needed.
pub fn verifier_seed(state: &str, binding: &str) -> String {
    format!("{state}.{binding}")
}

/// One cookie per flow, so several tabs can log in at once without overwriting each other; the name
/// reveals nothing about the state it holds.
pub fn flow_cookie_name(state: &str) -> String {
    let mut digest = sha256_hex(format!("flow cookie v1:{state}").as_bytes());
    // Hex is ASCII, so truncating at 16 is on a char boundary.
    digest.truncate(16);
    format!("{FLOW_COOKIE_PREFIX}{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie;

    #[test]
    fn new_state_is_43_chars_and_well_formed() {
        let s = new_state(&[0xfe; 32]);
        assert_eq!(s.len(), 43);
        assert!(is_well_formed_state(&s));
    }

    #[test]
    fn rejects_states_of_wrong_length_or_alphabet() {
        assert!(!is_well_formed_state(""));
        assert!(!is_well_formed_state(&"a".repeat(42)));
        assert!(!is_well_formed_state(&"a".repeat(44)));
        assert!(!is_well_formed_state(&format!("{}+", "a".repeat(42))));
        assert!(!is_well_formed_state(&format!("{}=", "a".repeat(42))));
        assert!(!is_well_formed_state(&format!("{}é", "a".repeat(41))));
    }

    #[test]
    fn flow_key_is_sha256_hex_and_needs_both_state_and_binding() {
        let s = new_state(&[1; 32]);
        let b = new_state(&[2; 32]);
        let k = flow_key(&s, &b);
        assert_eq!(k.len(), 64);
        assert!(!k.contains(&s) && !k.contains(&b));
        assert_ne!(
            k,
            flow_key(&s, &new_state(&[3; 32])),
            "another binding is another flow"
        );
        assert_ne!(k, flow_key(&b, &s), "the halves are not interchangeable");
    }

    #[test]
    fn verifier_seed_depends_on_the_binding() {
        let s = new_state(&[1; 32]);
        assert_ne!(
            verifier_seed(&s, &new_state(&[2; 32])),
            verifier_seed(&s, &new_state(&[3; 32]))
        );
    }

    #[test]
    fn flow_cookie_name_is_prefixed_stable_and_per_state() {
        let a = flow_cookie_name(&new_state(&[1; 32]));
        assert!(a.starts_with(FLOW_COOKIE_PREFIX));
        assert_eq!(a.len(), FLOW_COOKIE_PREFIX.len() + 16);
        assert_eq!(a, flow_cookie_name(&new_state(&[1; 32])));
        assert_ne!(a, flow_cookie_name(&new_state(&[2; 32])));
        assert!(cookie::is_valid_name(&a));
    }
}
