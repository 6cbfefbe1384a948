//! The token endpoint (RFC 6749 §4.1.3 and §6, as OAuth 2.1 narrows them): the authorization code
//! grant with PKCE, and the refresh token grant with mandatory rotation.
//!
//! A code is checked completely (client, expiry, redirect URI, verifier, resource, scope) before it
//! is touched, so a request that fails a check does not use it up. Redemption is one D1 batch that
//! consumes the code and opens the grant only if the consumption won: of two concurrent redemptions
//! one gets tokens, and since a second presentation of a code means it leaked, the grant the code
//! opened is then revoked (RFC 6749 §4.1.2; OAuth 2.1 §4.1.3).

use serde::Serialize;

use super::clients::{self, Presented};
use super::stored_hash;
use crate::domain::encoding::{b64url_encode, sha256_hex};
use crate::domain::ids::SessionId;
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::params::Params;
use crate::domain::oauth::resource;
use crate::domain::oauth::scope::Scopes;
use crate::domain::pkce;
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit, When};
use crate::service::identity;
use crate::service::sessions::{self, GrantClaims, RefreshFor, Subject, TokenPair};
use crate::service::users;
use crate::service::{App, Client};
use crate::store;
use crate::store::oauth::{CodeRow, Redemption};
use crate::store::users::UserKey;

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

impl TokenAnswer {
    fn of(pair: TokenPair, scope: String, with_refresh: bool) -> TokenAnswer {
        TokenAnswer {
            expires_in: (pair.access_expires_at - platform::now_secs()).max(0),
            access_token: pair.token,
            token_type: "Bearer",
            refresh_token: with_refresh.then_some(pair.refresh_token),
            scope,
        }
    }
}

fn invalid_grant(why: &str) -> AppError {
    Code::InvalidGrant.err().with_detail(why.to_owned())
}

/// `POST /oauth/token`: authenticates the client, then runs the grant it asks for.
pub async fn exchange(
    app: &App,
    params: &Params,
    presented: &Presented,
    from: &Client,
) -> Result<TokenAnswer, AppError> {
    let client = clients::authenticate(app, presented).await?;
    match params.get("grant_type") {
        Some("authorization_code") => redeem_code(app, params, &client.client_id, from).await,
        Some("refresh_token") => refresh(app, params, &client.client_id, from).await,
        Some(_) => Err(Code::UnsupportedGrantType.err()),
        None => Err(AppError::invalid_field("grant_type", "is required")),
    }
}

/// The scope a token request asks for, if it asks (a narrowing of the grant).
fn asked_scope(params: &Params) -> Result<Option<Scopes>, AppError> {
    params
        .get("scope")
        .map(Scopes::parse)
        .transpose()
        .map_err(AppError::from)
}

async fn redeem_code(
    app: &App,
    params: &Params,
    client_id: &str,
    from: &Client,
) -> Result<TokenAnswer, AppError> {
    let code = params.required("code")?;
    let code_hash = stored_hash("code", code);
    let now = platform::now_secs();
    let row = store::oauth::find_code(&app.db, &code_hash)
        .await?
        .ok_or_else(|| invalid_grant("unknown_code"))?;
    if row.terms.client_id != client_id {
        return Err(invalid_grant("code_of_another_client"));
    }
    if row.consumed_at.is_some() {
        revoke_for_replay(app, &row, from, now).await?;
        return Err(invalid_grant("code_replayed"));
    }
    if row.expires_at <= now {
        return Err(invalid_grant("code_expired"));
    }
    let given_redirect = params.get("redirect_uri");
    if given_redirect.is_some_and(|r| r != row.terms.redirect_uri)
        || (row.terms.redirect_uri_given != 0 && given_redirect.is_none())
    {
        return Err(invalid_grant("redirect_uri_mismatch"));
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| AppError::invalid_field("code_verifier", "is required (PKCE)"))?;
    if !pkce::verifies_s256(verifier, &row.terms.code_challenge) {
        return Err(invalid_grant("pkce_verifier_mismatch"));
    }
    if let Some(r) = params.get("resource") {
        if resource::normalize(r).ok().as_deref() != Some(row.terms.resource.as_str()) {
            return Err(Code::InvalidTarget
                .with("`resource` is not the resource this code was issued for."));
        }
    }
    let granted = Scopes::parse(&row.terms.scope)
        .map_err(|_| AppError::internal("stored code scope does not parse"))?;
    let scope = match asked_scope(params)? {
        None => granted,
        Some(asked) => {
            let narrowed = asked.intersect(granted.as_slice());
            if narrowed.is_empty() {
                return Err(Code::InvalidScope.with("None of the requested scopes was granted."));
            }
            narrowed
        }
    };
    let user = users::find_active(app, &row.user_id)
        .await
        .map_err(|_| invalid_grant("user_not_active"))?;

    let session_id = SessionId::generate(&platform::random()?);
    let refresh_jti = b64url_encode(&platform::random::<16>()?);
    let refresh_allowed = row.terms.refresh_allowed != 0;
    let expires_at = now
        + if refresh_allowed {
            app.cfg.refresh_ttl_secs
        } else {
            app.cfg.access_ttl_secs
        };
    let scope_text = scope.to_string();
    let [consume, open] = store::oauth::redeem(
        &app.db,
        &Redemption {
            code_hash: &code_hash,
            session_id: &session_id,
            refresh_hash: &sha256_hex(refresh_jti.as_bytes()),
            scope: &scope_text,
            ip_address: from.ip.as_deref(),
            user_agent: from.user_agent.as_deref(),
            now,
            expires_at,
        },
    )?;
    let record = audit::stmt_when(
        app,
        &Audit {
            actor: Some(UserKey::Id(&row.user_id)),
            action: "session.created",
            target_type: "session",
            target_id: session_id.as_str(),
            ip: from.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("via", "oauth")
                    .str("client_id", client_id)
                    .str("resource", &row.terms.resource)
                    .str("scope", &scope_text)
                    .finish(),
            ),
        },
        When::SessionExists(&session_id),
        now,
    )?;
    let counts = store::batch(&app.db, vec![consume, open, record]).await?;
    if counts.first().copied() != Some(1) {
        // Another redemption consumed the code between the read and this batch: the code was
        // presented twice, so what it opened is revoked too.
        if let Some(winner) = store::oauth::find_code(&app.db, &code_hash).await? {
            revoke_for_replay(app, &winner, from, now).await?;
        }
        return Err(invalid_grant("code_redeemed_concurrently"));
    }
    let pair = sessions::sign_pair(
        app,
        &Subject {
            user_id: &user.id,
            email: &user.email,
            role: &user.role,
            organization_id: row.organization_id.as_ref(),
        },
        Some(&GrantClaims {
            resource: &row.terms.resource,
            scope: scope_text.clone(),
            client_id,
        }),
        &session_id,
        &refresh_jti,
        now,
    )?;
    Ok(TokenAnswer::of(pair, scope_text, refresh_allowed))
}

/// A code presented again: the grant its first redemption opened is revoked (and audited).
async fn revoke_for_replay(
    app: &App,
    row: &CodeRow,
    from: &Client,
    now: i64,
) -> Result<(), AppError> {
    let Some(sid) = &row.session_id else {
        return Ok(());
    };
    let revoked = sessions::revoke(app, sid, None, "authorization_code_replay", from).await?;
    if revoked.is_some() {
        log::warn("authorization code replayed; its grant is revoked")
            .str("session_id", sid.as_str())
            .str("client_id", &row.terms.client_id)
            .int("at", now)
            .emit();
    }
    identity::forget_session(sid);
    Ok(())
}

async fn refresh(
    app: &App,
    params: &Params,
    client_id: &str,
    from: &Client,
) -> Result<TokenAnswer, AppError> {
    let presented = params.required("refresh_token")?;
    let scope = asked_scope(params)?;
    let pair = sessions::refresh(
        app,
        presented,
        from,
        &RefreshFor::Client {
            client_id,
            resource: params.get("resource"),
            scope: scope.as_ref(),
        },
    )
    .await
    .map_err(|e| match e {
        // At the token endpoint every refused refresh token is `invalid_grant` (RFC 6749 §5.2).
        AppError::Public {
            code: Code::InvalidRefreshToken,
            detail,
            ..
        } => invalid_grant(detail.as_deref().unwrap_or("invalid_refresh_token")),
        other => other,
    })?;
    let scope = pair.scope.clone().unwrap_or_default();
    Ok(TokenAnswer::of(pair, scope, true))
}
