//! Prefixed opaque identifiers (`user_…`, `ses_…`, `key_…`) built from caller-supplied random bytes.
//! Must not generate randomness itself, and an id must never be treated as a secret.

use crate::encoding::{base32_lower, is_base32_lower_char};

/// 16 random bytes (128 bits) in unpadded base32 take 26 characters.
pub const ID_BODY_LEN: usize = 26;

/// `"{prefix}_{26 lowercase base32 chars}"` (RFC 4648 §6 alphabet, no padding).
pub fn new_id(prefix: &str, random: &[u8; 16]) -> String {
    format!("{prefix}_{}", base32_lower(random))
}

/// True when `s` is `prefix`, `_`, then exactly 26 characters of the lowercase base32 alphabet.
/// Checked before an id from a URL or RPC argument reaches a query, so junk is a 400, not a lookup.
pub fn is_well_formed_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| body.len() == ID_BODY_LEN && body.chars().all(is_base32_lower_char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_id_has_prefix_and_26_char_body() {
        let id = new_id("user", &[0xab; 16]);
        assert!(id.starts_with("user_"));
        assert_eq!(id.len(), "user_".len() + 26);
        assert!(is_well_formed_id("user", &id));
    }

    #[test]
    fn different_random_bytes_give_different_ids() {
        let mut other = [0u8; 16];
        other[15] = 1;
        assert_ne!(new_id("ses", &[0u8; 16]), new_id("ses", &other));
    }

    #[test]
    fn rejects_wrong_prefix_length_case_or_alphabet() {
        let id = new_id("user", &[7; 16]);
        assert!(!is_well_formed_id("ses", &id));
        assert!(!is_well_formed_id("use", &id));
        assert!(!is_well_formed_id("user", &id.to_uppercase()));
        assert!(!is_well_formed_id("user", &id[..id.len() - 1]));
        assert!(!is_well_formed_id("user", &format!("{id}a")));
        assert!(!is_well_formed_id(
            "user",
            "user_0000000000000000000000000a"
        ));
        assert!(!is_well_formed_id(
            "user",
            "user-aaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
        assert!(!is_well_formed_id(
            "user",
            "user_aaaaaaaaaaaaaaaaaaaaaaaaa1"
        ));
        assert!(is_well_formed_id("user", "user_aaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }
}
