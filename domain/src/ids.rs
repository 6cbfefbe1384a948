//! Identifiers, one type per kind, each with the one constructor that decides what a well-formed id
//! of that kind is. Ids we mint are `<prefix>_<26 lowercase base32 chars>` (128 random bits from the
//! caller: this module must not generate randomness itself); ids that come from elsewhere (WorkOS
//! organizations, users imported with their old ids) are opaque but bounded. An id is never a secret.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::encoding::{base32_lower, is_base32_lower_char};

/// 16 random bytes (128 bits) in unpadded base32 take 26 characters.
pub const ID_BODY_LEN: usize = 26;
/// The longest opaque id accepted (WorkOS ids are about 30 characters; imported ids are often UUIDs).
pub const MAX_OPAQUE_ID_LEN: usize = 64;

/// Why a string is not an id of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdError;

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a well-formed id")
    }
}

impl std::error::Error for IdError {}

/// `"{prefix}_{26 lowercase base32 chars}"` (RFC 4648 §6 alphabet, no padding).
fn minted(prefix: &str, random: &[u8; 16]) -> String {
    format!("{prefix}_{}", base32_lower(random))
}

/// True when `s` is `prefix`, `_`, then exactly 26 characters of the lowercase base32 alphabet.
fn is_minted(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| body.len() == ID_BODY_LEN && body.chars().all(is_base32_lower_char))
}

/// 1..=64 characters of `A-Z a-z 0-9 _ -`: what WorkOS ids, our ids, UUIDs and the ids of common auth
/// libraries are made of, and nothing that could break out of a URL, header or log line.
fn is_opaque(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_OPAQUE_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, prefix = $prefix:literal, accepts = $accepts:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id of this kind from 16 caller-supplied random bytes.
            pub fn generate(random: &[u8; 16]) -> Self {
                $name(minted($prefix, random))
            }

            /// The one rule for this kind of id.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let accepts: fn(&str) -> bool = $accepts;
                if accepts(s) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(IdError)
                }
            }

            /// An id read back from this worker's own database, as it was written (only ids that
            /// came through [`Self::parse`] or [`Self::generate`] are written), the same as its serde form.
            pub fn from_stored(s: String) -> Self {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A user: `usr_…` when minted here; users imported from another system keep their old opaque id.
    UserId, prefix = "usr", accepts = is_opaque
);
id_type!(
    /// A session (one sign-in, or one OAuth grant): always minted here.
    SessionId, prefix = "ses", accepts = |s| is_minted("ses", s)
);
id_type!(
    /// An API key's public id (never the key itself).
    ApiKeyId, prefix = "key", accepts = |s| is_minted("key", s)
);
id_type!(
    /// A direct permission grant.
    PermissionId, prefix = "perm", accepts = |s| is_minted("perm", s)
);
id_type!(
    /// An audit row.
    AuditId, prefix = "aud", accepts = |s| is_minted("aud", s)
);
id_type!(
    /// A request, for log lines when the platform gave none.
    RequestId, prefix = "req", accepts = |s| is_minted("req", s)
);
id_type!(
    /// An OAuth client registered through dynamic client registration (RFC 7591).
    RegisteredClientId, prefix = "cli", accepts = |s| is_minted("cli", s)
);
id_type!(
    /// A WorkOS organization (`org_…` at WorkOS; kept opaque so test and imported ids work too).
    OrganizationId, prefix = "org", accepts = is_opaque
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_has_its_prefix_and_a_26_char_body_and_parses_back() {
        let id = SessionId::generate(&[0xab; 16]);
        assert!(id.as_str().starts_with("ses_"));
        assert_eq!(id.as_str().len(), "ses_".len() + ID_BODY_LEN);
        assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
        let user = UserId::generate(&[1; 16]);
        assert!(user.as_str().starts_with("usr_"), "{user}");
    }

    #[test]
    fn different_random_bytes_give_different_ids() {
        let mut other = [0u8; 16];
        other[15] = 1;
        assert_ne!(ApiKeyId::generate(&[0u8; 16]), ApiKeyId::generate(&other));
    }

    #[test]
    fn minted_kinds_refuse_wrong_prefix_length_case_or_alphabet() {
        let id = SessionId::generate(&[7; 16]).into_string();
        assert!(ApiKeyId::parse(&id).is_err());
        assert!(SessionId::parse(&id.to_uppercase()).is_err());
        assert!(SessionId::parse(&id[..id.len() - 1]).is_err());
        assert!(SessionId::parse(&format!("{id}a")).is_err());
        assert!(SessionId::parse("ses_0000000000000000000000000a").is_err());
        assert!(SessionId::parse("ses-aaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(SessionId::parse("ses_aaaaaaaaaaaaaaaaaaaaaaaaa1").is_err());
        assert!(SessionId::parse("ses_aaaaaaaaaaaaaaaaaaaaaaaaaa").is_ok());
        assert!(PermissionId::parse("perm_aaaaaaaaaaaaaaaaaaaaaaaaaa").is_ok());
    }

    #[test]
    fn opaque_kinds_take_foreign_ids_but_nothing_that_could_break_out() {
        for ok in [
            "org_01EHZNVPK3SFK441A1RGBFSHRT",
            "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "Jt1sKbXW9hYV3pD2qR8mN0aLcE5uZ7yF",
            "a",
        ] {
            assert!(UserId::parse(ok).is_ok(), "{ok}");
            assert!(OrganizationId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " org_1",
            "org_1\n",
            "org/1",
            "org%2F1",
            "org.1",
            "<script>",
            &"a".repeat(MAX_OPAQUE_ID_LEN + 1),
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
            assert!(OrganizationId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = OrganizationId::parse("org_1").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"org_1\"");
        let back: OrganizationId = serde_json::from_str("\"org_1\"").unwrap();
        assert_eq!(back, id);
    }
}
