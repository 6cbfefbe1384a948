//! The user rules every other service shares: whether an account may act (the one place a
//! deactivated account is refused), which row a WorkOS user's data is written to (the one place an
//! imported account is linked), and the one JSON view of a user.

use std::ops::Deref;

use serde::Serialize;
use worker::d1::D1PreparedStatement;

use crate::domain::account::AccountStatus;
use crate::domain::ids::UserId;
use crate::domain::json::Object as JsonObject;
use crate::domain::linking::{self, Claim};
use crate::domain::time::format_rfc3339;
use crate::domain::workos::User as WorkosUser;
use crate::error::{AppError, Code};
use crate::platform;
use crate::service::audit::{self, Audit, When};
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

/// Where WorkOS user data came from, for the audit rows a first write may carry.
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    /// Facts that identify the occasion (`{"via":"sign_in"}`, or the event id and type), still
    /// open for the audit rows to add to.
    pub detail: JsonObject,
}

/// The statements that write a WorkOS user's data, for the caller's batch.
pub struct WorkosUserWrite {
    pub statements: Vec<D1PreparedStatement>,
    /// The row they write to, as far as can be known before the batch runs (a concurrent batch may
    /// still create or link it first: statements that need the stored id name it by WorkOS id).
    pub user_id: UserId,
    /// The stored row they update or link, if any: its standing decides whether a sign-in goes on.
    pub stored: Option<User>,
}

/// Decides which row WorkOS user `u` is written to, for sign-ins and events alike. The row that has
/// their WorkOS id; else an imported row with the same email and no WorkOS id, linked only if WorkOS
/// says the email is verified ([`linking::claim`]); else a new row. Every refused link is audited
/// (target: the imported row, which stays as it was) and the new user gets a row of its own; the
/// email is not unique among WorkOS users' rows, so that insert cannot collide with the imported one.
pub async fn from_workos(
    app: &App,
    u: &WorkosUser,
    updated_ms: Option<i64>,
    login_at: Option<i64>,
    origin: &Origin<'_>,
    now: i64,
) -> Result<WorkosUserWrite, AppError> {
    let upsert = |id: &UserId| users::upsert_from_workos(&app.db, id, u, updated_ms, login_at, now);
    if let Some(stored) = users::find_by_workos_id(&app.db, &u.id).await? {
        return Ok(WorkosUserWrite {
            statements: vec![upsert(&stored.id)?],
            user_id: stored.id.clone(),
            stored: Some(stored),
        });
    }
    let new_id = UserId::generate(&platform::random()?);
    let Some(imported) = users::find_unlinked_by_email(&app.db, &u.email).await? else {
        return Ok(WorkosUserWrite {
            statements: vec![upsert(&new_id)?],
            user_id: new_id,
            stored: None,
        });
    };
    let detail = origin.detail.clone().str("workos_user_id", &u.id);
    let record = |action, detail: JsonObject| Audit {
        actor: None,
        action,
        target_type: "user",
        target_id: imported.id.as_str(),
        ip: origin.ip,
        detail: Some(detail.finish()),
    };
    match linking::claim(u) {
        Claim::Link => {
            let when = When::Linkable {
                user: &imported.id,
                email: &u.email,
                workos_id: &u.id,
            };
            Ok(WorkosUserWrite {
                statements: vec![
                    audit::stmt_when(app, &record("user.linked", detail), when, now)?,
                    users::link_to_workos(&app.db, &imported.id, &u.email, &u.id, now)?,
                    upsert(&new_id)?,
                ],
                user_id: imported.id.clone(),
                stored: Some(imported),
            })
        }
        Claim::Refuse(why) => {
            let detail = detail.str("reason", why.as_str());
            // Recorded once, by the batch that writes this WorkOS user's first row.
            let when = When::WorkosIdUnclaimed(&u.id);
            Ok(WorkosUserWrite {
                statements: vec![
                    audit::stmt_when(app, &record("user.link_refused", detail), when, now)?,
                    upsert(&new_id)?,
                ],
                user_id: new_id,
                stored: None,
            })
        }
    }
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
