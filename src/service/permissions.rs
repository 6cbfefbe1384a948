//! The one decision "may this principal do `action` on `resource` in this organization?", used by
//! the HTTP routes and by `checkPermission`, plus listing, granting and revoking direct permissions.
//! The matching rules are pure (`domain::permission`); this module only gathers the facts from D1.

use serde::Serialize;

use crate::domain::ids::{OrganizationId, PermissionId, UserId};
use crate::domain::json::Object as JsonObject;
use crate::domain::permission::{self, Grant, Name, Principal, Query, Scope, ADMIN_ROLE};
use crate::domain::time::format_rfc3339;
use crate::error::{AppError, Code, Constraint};
use crate::input::Fields;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity::Identity;
use crate::service::users::ActiveUser;
use crate::service::{App, Client};
use crate::store::permissions::{self as perms, PermissionRow};
use crate::store::users;
use crate::store::users::UserKey;

/// A validated question (or grant): a `resource:action` scope, optionally in one organization.
pub struct Question {
    pub scope: Scope,
    pub organization_id: Option<OrganizationId>,
}

fn name(field: &str, value: &str) -> Result<Name, AppError> {
    Name::parse(value).map_err(|_| {
        AppError::invalid_field(
            field,
            "must be `*` or 1-64 characters of a-z, 0-9, `_`, `.` and `-`",
        )
    })
}

impl Question {
    /// Reads `resource`, `action` and `organizationId` (shared by `POST /permissions` and `checkPermission`).
    pub fn parse(f: &Fields) -> Result<Question, AppError> {
        Ok(Question {
            scope: Scope::new(
                name("resource", &f.string("resource", 64)?)?,
                name("action", &f.string("action", 64)?)?,
            ),
            organization_id: f.opt_organization_id("organizationId")?,
        })
    }
}

/// The permission facts of a user, loaded once per decision.
pub struct Facts {
    pub is_admin: bool,
    pub grants: Vec<Grant>,
}

/// Loads what decides a user's permissions in `organization_id`; `None` if the user is unknown or
/// deactivated (such a user may do nothing).
pub async fn facts(
    app: &App,
    user_id: &UserId,
    organization_id: Option<&OrganizationId>,
) -> Result<Option<Facts>, AppError> {
    let Some(user) = users::find(&app.db, user_id).await? else {
        return Ok(None);
    };
    let Ok(user) = ActiveUser::try_from(user) else {
        return Ok(None);
    };
    Ok(Some(Facts {
        is_admin: user.role == ADMIN_ROLE,
        grants: perms::effective_grants(&app.db, user_id, organization_id).await?,
    }))
}

/// The decision. `ceiling` is an API key's scopes (`None` for a person's own token).
pub async fn is_allowed(
    app: &App,
    user_id: &UserId,
    ceiling: Option<&[Scope]>,
    q: &Question,
) -> Result<bool, AppError> {
    let Some(f) = facts(app, user_id, q.organization_id.as_ref()).await? else {
        return Ok(false);
    };
    Ok(permission::is_allowed(
        &Principal {
            is_admin: f.is_admin,
            grants: &f.grants,
            ceiling,
        },
        &Query {
            resource: q.scope.resource.as_str(),
            action: q.scope.action.as_str(),
            organization_id: q.organization_id.as_ref().map(OrganizationId::as_str),
        },
    ))
}

/// The decision for an authenticated caller. An API key's scopes, or the scope an OAuth client was
/// granted, are a ceiling on what the person may do.
pub async fn caller_may(app: &App, who: &Identity, q: &Question) -> Result<bool, AppError> {
    let ceiling = match (&who.api_key, &who.grant) {
        (Some(k), _) => k.scopes.as_deref(),
        (None, Some(g)) => Some(g.scope.as_slice()),
        (None, None) => None,
    };
    is_allowed(app, &who.user_id, ceiling, q).await
}

/// Refuses with 403 unless the caller may manage permissions.
pub async fn require_manage(app: &App, who: &Identity) -> Result<(), AppError> {
    let q = Question {
        scope: Scope::new(name("resource", "permissions")?, name("action", "manage")?),
        organization_id: None,
    };
    if caller_may(app, who, &q).await? {
        Ok(())
    } else {
        Err(Code::Forbidden.with("This requires the `permissions:manage` permission."))
    }
}

/// The JSON view of a direct grant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionView {
    id: PermissionId,
    user_id: UserId,
    resource: String,
    action: String,
    organization_id: Option<OrganizationId>,
    granted_by: Option<UserId>,
    created_at: String,
}

impl From<&PermissionRow> for PermissionView {
    fn from(p: &PermissionRow) -> PermissionView {
        PermissionView {
            id: p.id.clone(),
            user_id: p.user_id.clone(),
            resource: p.resource.clone(),
            action: p.action.clone(),
            organization_id: p.organization_id.clone(),
            granted_by: p.granted_by.clone(),
            created_at: format_rfc3339(p.created_at),
        }
    }
}

/// The direct grants of `user_id`. Anyone may list their own; anyone else's needs `permissions:manage`.
pub async fn list(
    app: &App,
    who: &Identity,
    user_id: &UserId,
) -> Result<Vec<PermissionView>, AppError> {
    if *user_id != who.user_id {
        require_manage(app, who).await?;
    }
    Ok(perms::list_for_user(&app.db, user_id)
        .await?
        .iter()
        .map(PermissionView::from)
        .collect())
}

/// Grants `q` to `user_id`. Idempotent: an identical grant returns the existing row and `false`.
pub async fn grant(
    app: &App,
    actor: &UserId,
    user_id: &UserId,
    q: &Question,
    client: &Client,
) -> Result<(PermissionView, bool), AppError> {
    if users::find(&app.db, user_id).await?.is_none() {
        return Err(Code::UserNotFound.with("No user has this `userId`."));
    }
    let same = || perms::find_same(&app.db, user_id, &q.scope, q.organization_id.as_ref());
    if let Some(existing) = same().await? {
        return Ok((PermissionView::from(&existing), false));
    }
    let now = platform::now_secs();
    let row = PermissionRow {
        id: PermissionId::generate(&platform::random()?),
        user_id: user_id.clone(),
        resource: q.scope.resource.to_string(),
        action: q.scope.action.to_string(),
        organization_id: q.organization_id.clone(),
        granted_by: Some(actor.clone()),
        created_at: now,
    };
    let written = audit::commit(
        app,
        vec![perms::insert(&app.db, &row)?],
        &Audit {
            actor: Some(UserKey::Id(actor)),
            action: "permission.granted",
            target_type: "user",
            target_id: user_id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("permission_id", row.id.as_str())
                    .str("scope", &q.scope.to_string())
                    .opt_str(
                        "organization_id",
                        row.organization_id.as_ref().map(AsRef::as_ref),
                    )
                    .finish(),
            ),
        },
        now,
    )
    .await;
    match written {
        Ok(_) => Ok((PermissionView::from(&row), true)),
        Err(e) if e.is_constraint(Constraint::Unique) => {
            // A concurrent identical grant won: same answer as if it had come first.
            let existing = same().await?.ok_or(e)?;
            Ok((PermissionView::from(&existing), false))
        }
        Err(e) if e.is_constraint(Constraint::ForeignKey) => Err(Code::OrganizationNotFound.err()),
        Err(e) => Err(e),
    }
}

/// Revokes a direct grant. `false` when no grant has this id.
pub async fn revoke(
    app: &App,
    actor: &UserId,
    id: &PermissionId,
    client: &Client,
) -> Result<bool, AppError> {
    let Some(row) = perms::find(&app.db, id).await? else {
        return Ok(false);
    };
    let now = platform::now_secs();
    audit::commit(
        app,
        vec![perms::delete(&app.db, id)?],
        &Audit {
            actor: Some(UserKey::Id(actor)),
            action: "permission.revoked",
            target_type: "user",
            target_id: row.user_id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("permission_id", id.as_ref())
                    .str("scope", &format!("{}:{}", row.resource, row.action))
                    .opt_str(
                        "organization_id",
                        row.organization_id.as_ref().map(AsRef::as_ref),
                    )
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    Ok(true)
}
