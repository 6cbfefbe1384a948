//! PKCE (RFC 7636) for the WorkOS authorization-code exchange. Must not hold or persist a verifier: it is
//! re-derived from our secret and the `state`, so nothing secret has to be stored between the two redirects.

use crate::encoding::{b64url_encode, hmac_sha256, sha256};

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

    /// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    fn is_valid_verifier(v: &str) -> bool {
        (43..=128).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
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
}
