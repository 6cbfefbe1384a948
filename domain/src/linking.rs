//! Whether a WorkOS user may take over a user row imported from another system (better-auth) that
//! has the same email and no WorkOS id yet. Taking it over hands that person the row's id, role,
//! permissions and everything other services keep under that id, so the only evidence accepted is
//! WorkOS's own statement that the person controls the address. Must not read storage: the caller
//! finds the imported row and writes the outcome.

use crate::workos::User;

/// What the first sight of a WorkOS user does to an imported row with the same email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The row becomes this WorkOS user's: it keeps its id, role and permissions.
    Link,
    /// The row stays unlinked; the WorkOS user gets a row of their own.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// WorkOS has not verified that this person controls the address (anyone can sign up with any
    /// address at a password or SSO connection that does not verify it).
    EmailUnverified,
}

impl Refusal {
    /// The reason recorded on the audit row.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::EmailUnverified => "email_unverified",
        }
    }
}

/// The one rule: link only when WorkOS says the email is verified.
pub fn claim(workos_user: &User) -> Claim {
    if workos_user.email_verified {
        Claim::Link
    } else {
        Claim::Refuse(Refusal::EmailUnverified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email_verified: bool) -> User {
        User::from_json(&serde_json::json!({
            "id": "user_01", "email": "ada@example.com", "email_verified": email_verified,
        }))
        .unwrap()
    }

    #[test]
    fn a_verified_email_links_the_imported_row() {
        assert_eq!(claim(&user(true)), Claim::Link);
    }

    #[test]
    fn an_unverified_email_never_links() {
        assert_eq!(claim(&user(false)), Claim::Refuse(Refusal::EmailUnverified));
        assert_eq!(Refusal::EmailUnverified.as_str(), "email_unverified");
    }

    #[test]
    fn a_payload_without_email_verified_counts_as_unverified() {
        // WorkOS always sends the field; if it ever did not, silence must not mean "verified".
        let u = User::from_json(&serde_json::json!({"id": "user_01", "email": "a@example.com"}))
            .unwrap();
        assert_eq!(claim(&u), Claim::Refuse(Refusal::EmailUnverified));
    }
}
