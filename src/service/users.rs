//! The user rules every other service shares: whether an account may act (the one place a
//! deactivated account is refused), and the one JSON view of a user.

use std::ops::Deref;

use serde::Serialize;

use crate::domain::account::AccountStatus;
use crate::domain::ids::UserId;
use crate::domain::time::format_rfc3339;
use crate::error::{AppError, Code};
use crate::service::App;
use crate::store::users::{self, User};

/// The active-user rule: a deactivated account is refused with `user_deactivated`, everywhere.
pub fn ensure_active(status: AccountStatus) -> Result<(), AppError> {
    match status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Deactivated => Err(Code::UserDeactivated.err()),
    }
}

/// A user whose account is active. Only [`ActiveUser::try_from`] makes one.
#[derive(Debug, Clone)]
pub struct ActiveUser(User);

impl TryFrom<User> for ActiveUser {
    type Error = AppError;
    fn try_from(user: User) -> Result<ActiveUser, AppError> {
        ensure_active(user.status)?;
        Ok(ActiveUser(user))
    }
}

impl Deref for ActiveUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

/// The user with this id, if it exists and is active (`user_not_found` / `user_deactivated`).
pub async fn find_active(app: &App, id: &UserId) -> Result<ActiveUser, AppError> {
    users::find(&app.db, id)
        .await?
        .ok_or_else(|| Code::UserNotFound.err())?
        .try_into()
}

/// The JSON view of a user given to the user themselves and to sibling workers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    id: UserId,
    email: String,
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    picture: Option<String>,
    email_verified: bool,
    role: String,
    last_login_at: Option<String>,
    created_at: String,
}

impl UserView {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn email(&self) -> &str {
        &self.email
    }
    pub fn role(&self) -> &str {
        &self.role
    }
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        let name = match (&u.first_name, &u.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        };
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            name,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            picture: u.picture.clone(),
            email_verified: u.email_verified,
            role: u.role.clone(),
            last_login_at: u.last_login_at.map(format_rfc3339),
            created_at: format_rfc3339(u.created_at),
        }
    }
}
