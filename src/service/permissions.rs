//! The one decision "may this principal do `action` on `resource` in this organization?", used by
//! the HTTP routes and by `checkPermission`, plus granting and revoking direct permissions. The
//! matching rules are pure (`domain::permission`); this module only gathers the facts from D1.

use serde_json::json;

use crate::domain::permission::{self, Grant, Name, Principal, Query, Scope, ADMIN_ROLE};
use crate::domain::time::format_rfc3339;
use crate::error::AppError;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::{identity, App, Client};
use crate::store::permissions::{self as perms, PermissionRow};
use crate::store::{self, users};

/// A validated question.
pub struct Question {
    pub resource: Name,
    pub action: Name,
    pub organization_id: Option<String>,
}

fn name(field: &str, value: &str) -> Result<Name, AppError> {
    Name::parse(value).map_err(|_| {
        AppError::invalid_field(
            field,
            "must be `*` or 1-64 characters of a-z, 0-9, `_`, `.` and `-`",
        )
    })
}

pub fn organization_id(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    match value {
        None => Ok(None),
        Some(v)
            if !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(AppError::invalid_field(
            field,
            "is not a valid organization id",
        )),
    }
}

/// An optional list of `resource:action` scopes in `fields[name]`.
pub fn scopes_field(
    fields: &crate::http::body::Fields,
    name: &str,
) -> Result<Option<Vec<Scope>>, AppError> {
    let Some(list) = fields.opt_string_list(name, 50, 130)? else {
        return Ok(None);
    };
    list.iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|_| {
            AppError::invalid_field(
                name,
                "must hold `resource:action` strings (a-z, 0-9, `_.-`, or `*`)",
            )
        })
}

impl Question {
    pub fn parse(
        resource: &str,
        action: &str,
        organization: Option<&str>,
    ) -> Result<Question, AppError> {
        Ok(Question {
            resource: name("resource", resource)?,
            action: name("action", action)?,
            organization_id: organization_id("organizationId", organization)?,
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
    user_id: &str,
    organization_id: Option<&str>,
) -> Result<Option<Facts>, AppError> {
    let Some(user) = users::find(&app.db, user_id).await? else {
        return Ok(None);
    };
    if user.is_active == 0 {
        return Ok(None);
    }
    let rows = perms::effective_grants(&app.db, user_id, organization_id).await?;
    // Rows were validated when written; a row that no longer parses grants nothing.
    let grants = rows
        .into_iter()
        .filter_map(|r| {
            Some(Grant {
                scope: Scope::new(Name::parse(&r.resource).ok()?, Name::parse(&r.action).ok()?),
                organization_id: r.organization_id,
            })
        })
        .collect();
    Ok(Some(Facts {
        is_admin: user.role == ADMIN_ROLE,
        grants,
    }))
}

/// The decision. `ceiling` is an API key's scopes (`None` for a person's own token).
pub async fn is_allowed(
    app: &App,
    user_id: &str,
    ceiling: Option<&[Scope]>,
    q: &Question,
) -> Result<bool, AppError> {
    let Some(f) = facts(app, user_id, q.organization_id.as_deref()).await? else {
        return Ok(false);
    };
    Ok(permission::is_allowed(
        &Principal {
            is_admin: f.is_admin,
            grants: &f.grants,
            ceiling,
        },
        &Query {
            resource: q.resource.as_str(),
            action: q.action.as_str(),
            organization_id: q.organization_id.as_deref(),
        },
    ))
}

/// The decision for an authenticated caller.
pub async fn caller_may(
    app: &App,
    who: &identity::Identity,
    q: &Question,
) -> Result<bool, AppError> {
    let ceiling = who.api_key.as_ref().and_then(|k| k.scopes.as_deref());
    is_allowed(app, &who.user_id, ceiling, q).await
}

/// Refuses with 403 unless the caller may manage permissions.
pub async fn require_manage(app: &App, who: &identity::Identity) -> Result<(), AppError> {
    let q = Question {
        resource: name("resource", "permissions")?,
        action: name("action", "manage")?,
        organization_id: None,
    };
    if caller_may(app, who, &q).await? {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "forbidden",
            "This requires the `permissions:manage` permission.",
        ))
    }
}

pub fn view(p: &PermissionRow) -> serde_json::Value {
    json!({
        "id": p.id,
        "userId": p.user_id,
        "resource": p.resource,
        "action": p.action,
        "organizationId": p.organization_id,
        "grantedBy": p.granted_by,
        "createdAt": format_rfc3339(p.created_at),
    })
}

/// Grants `q` to `user_id`. Idempotent: an identical grant returns the existing row and `false`.
pub async fn grant(
    app: &App,
    actor: &str,
    user_id: &str,
    q: &Question,
    client: &Client,
) -> Result<(PermissionRow, bool), AppError> {
    if users::find(&app.db, user_id).await?.is_none() {
        return Err(AppError::not_found(
            "user_not_found",
            "No user has this `userId`.",
        ));
    }
    let same = || {
        perms::find_same(
            &app.db,
            user_id,
            q.resource.as_str(),
            q.action.as_str(),
            q.organization_id.as_deref(),
        )
    };
    if let Some(existing) = same().await? {
        return Ok((existing, false));
    }
    let now = platform::now_secs();
    let row = PermissionRow {
        id: platform::new_id("perm")?,
        user_id: user_id.to_owned(),
        resource: q.resource.as_str().to_owned(),
        action: q.action.as_str().to_owned(),
        organization_id: q.organization_id.clone(),
        granted_by: Some(actor.to_owned()),
        created_at: now,
    };
    let written = store::batch(
        &app.db,
        vec![
            perms::insert(&app.db, &row)?,
            audit::stmt(
                app,
                Audit {
                    actor: Some(actor),
                    action: "permission.granted",
                    target_type: "user",
                    target_id: user_id,
                    ip: client.ip.as_deref(),
                    detail: Some(json!({ "permission_id": row.id, "scope": format!("{}:{}", row.resource, row.action), "organization_id": row.organization_id })),
                },
                now,
            )?,
        ],
    )
    .await;
    match written {
        Ok(_) => Ok((row, true)),
        Err(e) if store::is_unique_violation(&e) => {
            // A concurrent identical grant won: same answer as if it had come first.
            let existing = same().await?.ok_or(e)?;
            Ok((existing, false))
        }
        Err(e) if store::is_foreign_key_violation(&e) => Err(AppError::not_found(
            "organization_not_found",
            "No organization has this `organizationId`.",
        )),
        Err(e) => Err(e),
    }
}

/// Revokes a direct grant. `false` when no grant has this id.
pub async fn revoke(app: &App, actor: &str, id: &str, client: &Client) -> Result<bool, AppError> {
    if !crate::domain::ids::is_well_formed_id("perm", id) {
        return Ok(false);
    }
    let Some(row) = perms::find(&app.db, id).await? else {
        return Ok(false);
    };
    let now = platform::now_secs();
    store::batch(
        &app.db,
        vec![
            perms::delete(&app.db, id)?,
            audit::stmt(
                app,
                Audit {
                    actor: Some(actor),
                    action: "permission.revoked",
                    target_type: "user",
                    target_id: &row.user_id,
                    ip: client.ip.as_deref(),
                    detail: Some(json!({ "permission_id": id, "scope": format!("{}:{}", row.resource, row.action), "organization_id": row.organization_id })),
                },
                now,
            )?,
        ],
    )
    .await?;
    Ok(true)
}
