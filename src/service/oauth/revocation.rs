//! Token revocation (RFC 7009) and introspection (RFC 7662) for authenticated clients.
//!
//! Revoking either token of a grant revokes the grant (RFC 7009 §2.1 lets an authorization server
//! revoke the refresh token with its access token): access tokens are self-contained, so what makes
//! one stop working is its session ending, within the revocation bound. A token of another client,
//! or one that does not verify, is answered like a revoked one (RFC 7009 §2.2: 200 either way), so
//! the endpoint tells nobody which tokens exist.

use serde::Serialize;

use super::clients::{self, Presented};
use crate::domain::oauth::params::Params;
use crate::error::{AppError, Code};
use crate::service::identity::{self, Credential, Via};
use crate::service::sessions;
use crate::service::{App, Client};
use crate::store;

/// `POST /oauth/revoke`.
pub async fn revoke(
    app: &App,
    params: &Params,
    presented: &Presented,
    from: &Client,
) -> Result<(), AppError> {
    let client = clients::authenticate(app, presented).await?;
    let token = params.required("token")?;
    let Some(session_id) = identity::session_of_tokens(app, Some(token), Some(token)) else {
        return Ok(());
    };
    let Some(session) = store::sessions::find(&app.db, &session_id).await? else {
        return Ok(());
    };
    if session
        .grant()
        .is_some_and(|g| g.client_id == client.client_id)
    {
        sessions::revoke(app, &session.id, None, "revoked_by_client", from).await?;
    }
    Ok(())
}

/// An introspection answer (RFC 7662 §2.2). Inactive tokens say only that.
#[derive(Serialize)]
pub struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

const INACTIVE: Introspection = Introspection {
    active: false,
    scope: None,
    client_id: None,
    username: None,
    token_type: None,
    exp: None,
    sub: None,
    aud: None,
    iss: None,
};

/// `POST /oauth/introspect`: only for a resource server's own client (`introspection_resource` in
/// `OAUTH_CLIENTS`), and only about access tokens for that resource; anything else is inactive.
pub async fn introspect(
    app: &App,
    params: &Params,
    presented: &Presented,
) -> Result<Introspection, AppError> {
    let client = clients::authenticate(app, presented).await?;
    let resource = client.introspects_for.ok_or_else(|| {
        Code::Forbidden
            .with("This client may not introspect tokens (it is not a resource server's client).")
    })?;
    let token = params.required("token")?;
    let Ok(who) = identity::authenticate(
        app,
        Credential::AccessToken(token),
        Via::Binding,
        Some(&resource),
    )
    .await
    else {
        return Ok(INACTIVE);
    };
    let Some(grant) = who.grant else {
        return Ok(INACTIVE);
    };
    Ok(Introspection {
        active: true,
        scope: Some(grant.scope.to_string()),
        client_id: Some(grant.client_id),
        username: Some(who.email),
        token_type: Some("Bearer"),
        exp: who.session.map(|s| s.expires_at),
        sub: Some(who.user_id.into_string()),
        aud: Some(resource),
        iss: Some(app.cfg.issuer.clone()),
    })
}
