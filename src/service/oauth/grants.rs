//! Connected apps: the OAuth grants a person has given (client, resource, scope, when), revoking one
//! of them, and, for administrators (`oauth:manage`), revoking every grant of one client.

use serde::Serialize;

use crate::domain::ids::SessionId;
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::client::redirect_display;
use crate::domain::permission::Scope;
use crate::domain::time::format_rfc3339;
use crate::error::{AppError, Code};
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity::{self, Identity};
use crate::service::permissions::{self, Question};
use crate::service::{sessions, App, Client};
use crate::store::sessions::{self as store, Kind, SessionRow};
use crate::store::users::UserKey;

/// One connected app as its owner sees it (no token, no hash).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    id: SessionId,
    client_id: String,
    client_name: String,
    resource: String,
    scope: String,
    /// Where its authorizations went (tells two installations of one client apart).
    redirect_host: String,
    /// When the grant was given, and last refreshed (access tokens are not recorded one by one).
    created_at: String,
    last_used_at: String,
    expires_at: String,
}

impl GrantView {
    fn of(row: &SessionRow) -> Option<GrantView> {
        let g = row.grant()?;
        Some(GrantView {
            id: row.id.clone(),
            client_id: g.client_id.to_owned(),
            client_name: g.client_name.to_owned(),
            resource: g.resource.to_owned(),
            scope: g.scope.to_owned(),
            redirect_host: row
                .redirect_uri
                .as_deref()
                .map(redirect_display)
                .unwrap_or_default(),
            created_at: format_rfc3339(row.created_at),
            last_used_at: format_rfc3339(row.last_used_at),
            expires_at: format_rfc3339(row.expires_at),
        })
    }
}

/// The caller's live grants, newest first.
pub async fn list(app: &App, who: &Identity) -> Result<Vec<GrantView>, AppError> {
    identity::require_account_access(who)?;
    let rows =
        store::list_active(&app.db, &who.user_id, Kind::Grants, platform::now_secs()).await?;
    Ok(rows.iter().filter_map(GrantView::of).collect())
}

fn manage_question() -> Result<Question, AppError> {
    Ok(Question {
        scope: Scope::parse("oauth:manage").map_err(|_| AppError::internal("bad scope literal"))?,
        organization_id: None,
    })
}

/// Revokes one grant: the caller's own, or anyone's with `oauth:manage`. `false` when there is no
/// such grant (for this caller).
pub async fn revoke(
    app: &App,
    who: &Identity,
    grant_id: &str,
    from: &Client,
) -> Result<bool, AppError> {
    identity::require_account_access(who)?;
    let Ok(id) = SessionId::parse(grant_id) else {
        return Ok(false);
    };
    let Some(row) = store::find(&app.db, &id).await? else {
        return Ok(false);
    };
    if row.grant().is_none() {
        return Ok(false);
    }
    let owner = if row.user_id == who.user_id {
        Some(&who.user_id)
    } else if permissions::caller_may(app, who, &manage_question()?).await? {
        None
    } else {
        return Ok(false);
    };
    Ok(
        sessions::revoke(app, &id, owner, "revoked_connected_app", from)
            .await?
            .is_some(),
    )
}

/// Revokes every live grant of `client_id` (all users). Needs `oauth:manage`. Returns how many.
pub async fn revoke_client(
    app: &App,
    who: &Identity,
    client_id: &str,
    from: &Client,
) -> Result<usize, AppError> {
    if !permissions::caller_may(app, who, &manage_question()?).await? {
        return Err(
            Code::Forbidden.with("Revoking a client's grants needs the `oauth:manage` permission.")
        );
    }
    let now = platform::now_secs();
    let live = store::live_grant_ids_of_client(&app.db, client_id, now).await?;
    let counts = audit::commit(
        app,
        vec![store::revoke_grants_of_client(
            &app.db,
            client_id,
            "client_revoked_by_admin",
            now,
        )?],
        &Audit {
            actor: Some(UserKey::Id(&who.user_id)),
            action: "oauth.client_grants_revoked",
            target_type: "oauth_client",
            target_id: client_id,
            ip: from.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .int("grants", i64::try_from(live.len()).unwrap_or(i64::MAX))
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    for id in &live {
        identity::forget_session(id);
    }
    Ok(counts.first().copied().unwrap_or(0))
}
