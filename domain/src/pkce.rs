//! PKCE (RFC 7636), both ways: as a client of WorkOS (the verifier is never held or persisted: it is
//! re-derived from our secret and the `state`, so nothing secret has to be stored between the two
//! redirects), and as the authorization server for MCP clients (S256 only, OAuth 2.1 §4.1.1).

use crate::encoding::{b64url_encode, ct_eq, hmac_sha256, sha256};

/// RFC 7636 §4.2, method `S256`: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn challenge_s256(verifier: &str) -> String {
    b64url_encode(&sha256(verifier.as_bytes()))
}

/// `b64url(HMAC-SHA256(secret, "pkce verifier v1:" || state))`: 43 characters of the unreserved set, i.e.
/// 256 bits of key-derived entropy (RFC 7636 §7.1 asks for at least 256 bits). Only someone holding
/// `secret` can compute it from the `state` that travels through the browser.
pub fn derive_verifier(secret: &[u8], state: &str) -> String {
    let mut message = b"pkce verifier v1:".to_vec();
    message.extend_from_slice(state.as_bytes());
    b64url_encode(&hmac_sha256(secret, &message))
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is the base64url (no padding) of a SHA-256: exactly 43 characters.
pub fn is_valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.6: does `verifier` hash to `challenge`? (Compared in constant time.)
pub fn verifies_s256(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier) && ct_eq(challenge_s256(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_matches_rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn derived_verifier_is_valid_deterministic_and_bound_to_secret_and_state() {
        let v = derive_verifier(b"secret-secret-secret-secret-1234", "state-1");
        assert_eq!(v.len(), 43);
        assert!(is_valid_verifier(&v));
        assert_eq!(
            v,
            derive_verifier(b"secret-secret-secret-secret-1234", "state-1")
        );
        assert_ne!(
            v,
            derive_verifier(b"secret-secret-secret-secret-1234", "state-2")
        );
        assert_ne!(
            v,
            derive_verifier(b"another-secret-another-secret-12", "state-1")
        );
    }

    #[test]
    fn verifier_rejects_characters_outside_unreserved() {
        let base = "a".repeat(42);
        assert!(is_valid_verifier(&format!("{base}~")));
        assert!(is_valid_verifier(&format!("{base}.")));
        for bad in ['+', '/', '=', ' ', '%', 'é'] {
            assert!(!is_valid_verifier(&format!("{base}{bad}")), "{bad}");
        }
    }

    #[test]
    fn s256_verification_accepts_only_the_matching_well_formed_verifier() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_s256_challenge(c));
        assert!(verifies_s256(v, c));
        assert!(!verifies_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            c
        ));
        assert!(
            !verifies_s256(c, c),
            "the challenge itself (plain) is not a verifier for it"
        );
        assert!(
            !verifies_s256("short", &challenge_s256("short")),
            "too short to be a verifier"
        );
        assert!(!is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
