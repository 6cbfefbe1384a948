//! API keys: creation (the key is shown once; only its SHA-256 is stored), listing and revocation.
//! Scopes requested for a key must be within what its owner may do, and a key used to create
//! another key passes on its own ceiling: a key can never mint a broader one.

use serde::Serialize;

use crate::domain::api_key::{self, KeyEnvironment};
use crate::domain::ids::{ApiKeyId, OrganizationId, UserId};
use crate::domain::json::Object as JsonObject;
use crate::domain::permission::{self, Scope};
use crate::domain::time::format_rfc3339;
use crate::error::{AppError, Code};
use crate::input::Fields;
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity::{self, KeyRef};
use crate::service::limits::{self, Limit};
use crate::service::users::{self, ActiveUser};
use crate::service::{permissions, App, Client};
use crate::store::api_keys::{self as keys, ApiKeyRow, NewKey};
use crate::store::orgs;
use crate::store::users::UserKey;

pub const DEFAULT_EXPIRES_IN_DAYS: i64 = 90;
pub const MAX_EXPIRES_IN_DAYS: i64 = 365;
pub const MAX_NAME_CHARS: usize = 100;

pub struct CreateKey {
    pub name: String,
    pub expires_in_days: i64,
    /// `None`: the deployment's default (see [`default_environment`]).
    pub environment: Option<KeyEnvironment>,
    pub scopes: Option<Vec<Scope>>,
    pub organization_id: Option<OrganizationId>,
}

impl CreateKey {
    /// Parses the fields shared by `POST /apikeys` and the `createApiKey` RPC.
    pub fn parse(fields: &Fields) -> Result<CreateKey, AppError> {
        let name = fields.string("name", MAX_NAME_CHARS)?;
        let expires_in_days = fields
            .opt_int("expiresInDays", 1, MAX_EXPIRES_IN_DAYS)?
            .unwrap_or(DEFAULT_EXPIRES_IN_DAYS);
        let environment = fields
            .opt_string("environment", 8)?
            .map(|e| {
                KeyEnvironment::parse(&e).ok_or_else(|| {
                    AppError::invalid_field("environment", "must be `live` or `test`")
                })
            })
            .transpose()?;
        Ok(CreateKey {
            name,
            expires_in_days,
            environment,
            scopes: fields.opt_scopes("scopes")?,
            organization_id: fields.opt_organization_id("organizationId")?,
        })
    }
}

/// The environment of a key created without one: `test` (`sk_test_`) on a development deployment,
/// so keys made while trying things out are never mistaken for production ones; `live` otherwise.
pub fn default_environment(development: bool) -> KeyEnvironment {
    if development {
        KeyEnvironment::Test
    } else {
        KeyEnvironment::Live
    }
}

pub struct Created {
    pub row: ApiKeyRow,
    /// The full key: returned to the caller once, never stored or logged.
    pub key: String,
}

/// Creates a key for `owner_id`. `creator` is the API key making the request, if one is: the new key
/// can be no broader, cannot outlive it and stays in its organization (a leaked short-lived key
/// cannot mint a long-lived or wider one).
pub async fn create(
    app: &App,
    owner_id: &UserId,
    creator: Option<&KeyRef>,
    req: CreateKey,
    client: &Client,
) -> Result<Created, AppError> {
    let creator_ceiling = creator.and_then(|k| k.scopes.as_deref());
    limits::check(Limit::AccountWrite, owner_id.as_str()).await?;
    let user = users::find_active(app, owner_id).await?;
    let organization_id = match (
        req.organization_id,
        creator.and_then(|k| k.organization_id.as_ref()),
    ) {
        (None, inherited) => inherited.cloned(),
        (Some(requested), Some(bound)) if requested != *bound => return Err(Code::Forbidden.with(
            "A key bound to an organization can only create keys bound to the same organization.",
        )),
        (Some(requested), _) => Some(requested),
    };
    if let Some(org) = &organization_id {
        check_member(app, &user, org).await?;
    }
    let scopes = match (req.scopes, creator_ceiling) {
        (Some(requested), ceiling) => {
            check_within_owner(app, &user.id, &requested).await?;
            if let Some(ceiling) = ceiling {
                if let Some(s) = requested
                    .iter()
                    .find(|r| !ceiling.iter().any(|c| permission::covers(c, r)))
                {
                    return Err(Code::ScopeNotAllowed.with(format!(
                        "Scope `{s}` is broader than the key making this request."
                    )));
                }
            }
            Some(requested)
        }
        (None, ceiling) => ceiling.map(<[Scope]>::to_vec),
    };
    let scopes_json = scopes
        .as_ref()
        .map(|s| serde_json::to_string(&s.iter().map(ToString::to_string).collect::<Vec<_>>()))
        .transpose()?;

    let now = platform::now_secs();
    let environment = req
        .environment
        .unwrap_or_else(|| default_environment(app.cfg.development));
    let generated = api_key::generate(environment, &platform::random::<32>()?);
    let id = ApiKeyId::generate(&platform::random()?);
    let requested_expiry = now + req.expires_in_days * 86_400;
    let expires_at = creator.map_or(requested_expiry, |k| requested_expiry.min(k.expires_at));
    audit::commit(
        app,
        vec![keys::insert(
            &app.db,
            &NewKey {
                id: &id,
                user_id: &user.id,
                name: &req.name,
                key_hash: &generated.hash,
                prefix: generated.prefix,
                start: &generated.start,
                scopes: scopes_json.as_deref(),
                organization_id: organization_id.as_ref(),
                expires_at,
                now,
            },
        )?],
        &Audit {
            actor: Some(UserKey::Id(owner_id)),
            action: "api_key.created",
            target_type: "api_key",
            target_id: id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("name", &req.name)
                    .str("start", &generated.start)
                    .opt_str("scopes", scopes_json.as_deref())
                    .opt_str(
                        "organization_id",
                        organization_id.as_ref().map(AsRef::as_ref),
                    )
                    .int("expires_at", expires_at)
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    Ok(Created {
        row: ApiKeyRow {
            id,
            name: req.name,
            prefix: generated.prefix.to_owned(),
            start: generated.start.clone(),
            scopes: scopes_json,
            organization_id,
            last_used_at: None,
            expires_at,
            revoked_at: None,
            created_at: now,
        },
        key: generated.key,
    })
}

/// A key may only be bound to an organization its owner actively belongs to (admins: any).
async fn check_member(app: &App, owner: &ActiveUser, org: &OrganizationId) -> Result<(), AppError> {
    if owner.role == permission::ADMIN_ROLE {
        return Ok(());
    }
    match orgs::find_membership_of(&app.db, &owner.id, org).await? {
        Some(m) if m.status == "active" => Ok(()),
        _ => Err(Code::Forbidden
            .with("A key can only be bound to an organization its owner is an active member of.")),
    }
}

/// Every requested scope must be covered by something the owner may do (any organization). The
/// reserved `account:manage` is the owner's own to hand out and needs no grant.
async fn check_within_owner(
    app: &App,
    user_id: &UserId,
    requested: &[Scope],
) -> Result<(), AppError> {
    let facts = permissions::facts(app, user_id, None)
        .await?
        .ok_or_else(|| Code::UserDeactivated.err())?;
    if facts.is_admin {
        return Ok(());
    }
    match requested.iter().find(|r| {
        !r.is_account_manage() && !facts.grants.iter().any(|g| permission::covers(&g.scope, r))
    }) {
        None => Ok(()),
        Some(s) => {
            Err(Code::ScopeNotAllowed.with(format!("You may not grant scope `{s}` to a key.")))
        }
    }
}

/// The JSON view of a key for its owner: everything but the key (which only creation shows).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    id: ApiKeyId,
    name: String,
    prefix: String,
    start: String,
    scopes: Option<Vec<String>>,
    organization_id: Option<OrganizationId>,
    last_used_at: Option<String>,
    expires_at: String,
    created_at: String,
    /// Present only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<&ApiKeyRow> for ApiKeyView {
    fn from(k: &ApiKeyRow) -> ApiKeyView {
        ApiKeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            start: k.start.clone(),
            scopes: k
                .scopes
                .as_deref()
                .and_then(|s| serde_json::from_slice(s.as_bytes()).ok()),
            organization_id: k.organization_id.clone(),
            last_used_at: k.last_used_at.map(format_rfc3339),
            expires_at: format_rfc3339(k.expires_at),
            created_at: format_rfc3339(k.created_at),
            key: None,
        }
    }
}

impl From<Created> for ApiKeyView {
    fn from(c: Created) -> ApiKeyView {
        ApiKeyView {
            key: Some(c.key),
            ..ApiKeyView::from(&c.row)
        }
    }
}

pub async fn list(app: &App, user_id: &UserId) -> Result<Vec<ApiKeyView>, AppError> {
    Ok(keys::list_for_user(&app.db, user_id)
        .await?
        .iter()
        .map(ApiKeyView::from)
        .collect())
}

/// Revokes one of `user_id`'s keys. `by` is the API key making the request, if one is: it may not
/// revoke a key broader than itself (more scopes, unscoped, or outside its organization). `false`
/// when the user has no key with this id; revoking a revoked key is harmless (`true`, nothing written).
pub async fn revoke(
    app: &App,
    user_id: &UserId,
    key_id: &ApiKeyId,
    by: Option<&KeyRef>,
    client: &Client,
) -> Result<bool, AppError> {
    let Some(row) = keys::find_for_user(&app.db, user_id, key_id).await? else {
        return Ok(false);
    };
    if let Some(by) = by {
        let target_scopes = identity::parse_scopes(row.scopes.as_deref())?;
        let same_org = by.organization_id.is_none() || by.organization_id == row.organization_id;
        if !same_org || !permission::no_broader_than(target_scopes.as_deref(), by.scopes.as_deref())
        {
            return Err(Code::Forbidden.with("An API key cannot revoke a key broader than itself."));
        }
    }
    if row.revoked_at.is_some() {
        return Ok(true);
    }
    let now = platform::now_secs();
    audit::commit(
        app,
        vec![keys::revoke(&app.db, key_id, now)?],
        &Audit {
            actor: Some(UserKey::Id(user_id)),
            action: "api_key.revoked",
            target_type: "api_key",
            target_id: key_id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("name", &row.name)
                    .str("start", &row.start)
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    // The cache is keyed by key hash, which is not at hand: start this isolate's caches over.
    identity::forget_all();
    Ok(true)
}

/// Records that a key was used (at most once a minute per key, see the store). Bookkeeping only:
/// a failure is logged and never refuses the request that used a valid key.
pub async fn record_use(db: &worker::d1::D1Database, key_id: &ApiKeyId) {
    if let Err(e) = keys::touch(db, key_id, platform::now_secs()).await {
        log::warn("api key last_used_at not recorded")
            .str("key_id", key_id.as_str())
            .opt_str("detail", e.log_detail().as_deref())
            .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_default_to_test_in_development_and_live_in_production() {
        assert_eq!(default_environment(true), KeyEnvironment::Test);
        assert_eq!(default_environment(false), KeyEnvironment::Live);
    }
}
