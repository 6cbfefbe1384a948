//! The standing of a user account. Rows store it as `is_active` (1 or 0); it becomes this type once,
//! at the store boundary, so no rule ever compares an integer. Must not decide what a deactivated
//! account may still do: the worker's user service maps it to the one public refusal.

/// Whether a user may still authenticate and act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Deactivated (WorkOS deleted the user, or an operator did it): every session, key and grant is void.
    Deactivated,
}

impl AccountStatus {
    /// The stored `is_active` flag: 0 is deactivated; anything else (the schema allows only 1) is active.
    pub fn from_flag(is_active: i64) -> AccountStatus {
        if is_active == 0 {
            AccountStatus::Deactivated
        } else {
            AccountStatus::Active
        }
    }

    pub fn is_active(self) -> bool {
        self == AccountStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_deactivated_and_one_is_active() {
        assert_eq!(AccountStatus::from_flag(0), AccountStatus::Deactivated);
        assert_eq!(AccountStatus::from_flag(1), AccountStatus::Active);
        assert!(!AccountStatus::Deactivated.is_active());
    }
}
