//! Sessions and our tokens: opening a session (one access token, one refresh token bound to the
//! session row), refresh rotation with reuse detection, revocation and listing.
//!
//! Rotation: the refresh token's `jti` is never stored, only its SHA-256. A refresh swaps
//! `refresh_hash` from the presented id to the next one in one conditional UPDATE (atomic in D1).
//! The next id and the new tokens' times are derived deterministically (HMAC of the old id, `iat` =
//! `rotated_at`), so a concurrent refresh that lost the swap within the grace window rebuilds exactly
//! the same pair. Presenting an older id after the window is treated as theft: the session is
//! revoked and audited (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).

use serde::Serialize;
use worker::d1::D1PreparedStatement;

use crate::domain::encoding::{b64url_encode, sha256_hex};
use crate::domain::ids::{OrganizationId, SessionId, UserId};
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::scope::Scopes;
use crate::domain::time::format_rfc3339;
use crate::domain::token::{self, AccessClaims, Audience, RefreshClaims};
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity::{self, Identity};
use crate::service::limits::{self, Limit};
use crate::service::users::{self, ActiveUser};
use crate::service::{App, Client};
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::users::UserKey;
use crate::workos::WorkOs;

/// What a client receives after sign-in or refresh.
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    pub session_id: SessionId,
    pub access_expires_at: i64,
    pub session_expires_at: i64,
    /// The access token's scope (OAuth grants only).
    pub scope: Option<String>,
}

/// The claims that go into an access token, read from the user row at issue time.
pub struct Subject<'a> {
    pub user_id: &'a UserId,
    pub email: &'a str,
    pub role: &'a str,
    pub organization_id: Option<&'a OrganizationId>,
}

/// What an OAuth grant puts into its access tokens (RFC 9068 §2.2: `aud`, `scope`, `client_id`).
#[derive(Clone)]
pub struct GrantClaims<'a> {
    pub resource: &'a str,
    /// The grant's scope, or the narrower one a token request asked for.
    pub scope: String,
    pub client_id: &'a str,
}

/// A session whose row is about to be written (by the statement [`open`] returns, in the caller's
/// batch). Its tokens are signed with [`Opened::tokens`] once the owner's stored id and role are known.
pub struct Opened {
    pub id: SessionId,
    refresh_jti: String,
    opened_at: i64,
}

impl Opened {
    pub fn tokens(&self, app: &App, subject: &Subject<'_>) -> Result<TokenPair, AppError> {
        sign_pair(
            app,
            subject,
            None,
            &self.id,
            &self.refresh_jti,
            self.opened_at,
        )
    }
}

/// Prepares a new session row for `owner`, optionally scoped to an organization.
pub fn open(
    app: &App,
    owner: UserKey<'_>,
    organization_id: Option<&OrganizationId>,
    client: &Client,
    workos_session_id: Option<&str>,
    now: i64,
) -> Result<(D1PreparedStatement, Opened), AppError> {
    let id = SessionId::generate(&platform::random()?);
    let refresh_jti = b64url_encode(&platform::random::<16>()?);
    let device = client.device.clone().or_else(|| {
        client
            .user_agent
            .as_deref()
            .map(crate::domain::device::describe)
    });
    let stmt = sessions::insert(
        &app.db,
        &NewSession {
            id: &id,
            user: owner,
            organization_id,
            refresh_hash: &sha256_hex(refresh_jti.as_bytes()),
            device: device.as_deref(),
            ip_address: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            workos_session_id,
            now,
            expires_at: now + app.cfg.refresh_ttl_secs,
        },
    )?;
    Ok((
        stmt,
        Opened {
            id,
            refresh_jti,
            opened_at: now,
        },
    ))
}

/// Signs the pair for a session whose current refresh id is `refresh_jti`, as of `iat`. `grant`:
/// the session is an OAuth grant, so the access token is for its resource only, with its scope and
/// client.
pub fn sign_pair(
    app: &App,
    s: &Subject<'_>,
    grant: Option<&GrantClaims<'_>>,
    session_id: &SessionId,
    refresh_jti: &str,
    iat: i64,
) -> Result<TokenPair, AppError> {
    let cfg = &app.cfg;
    let audience = grant.map_or(cfg.audience.as_str(), |g| g.resource);
    let access = AccessClaims {
        iss: cfg.issuer.clone(),
        aud: Some(Audience::One(audience.to_owned())),
        sub: s.user_id.to_string(),
        sid: session_id.to_string(),
        email: s.email.to_owned(),
        role: s.role.to_owned(),
        org_id: s.organization_id.map(ToString::to_string),
        iat,
        exp: iat + cfg.access_ttl_secs,
        scope: grant.map(|g| g.scope.clone()),
        client_id: grant.map(|g| g.client_id.to_owned()),
        jti: token::derive_jti(&cfg.refresh_secret, "access", refresh_jti),
    };
    let refresh = RefreshClaims {
        iss: cfg.issuer.clone(),
        sub: s.user_id.to_string(),
        sid: session_id.to_string(),
        iat,
        exp: iat + cfg.refresh_ttl_secs,
        jti: refresh_jti.to_owned(),
    };
    let sign_failed = |_| AppError::internal("token signing failed");
    Ok(TokenPair {
        token: token::sign_access(&cfg.access_keys, &access).map_err(sign_failed)?,
        refresh_token: token::sign_refresh(&cfg.refresh_keys, &refresh).map_err(sign_failed)?,
        session_id: session_id.clone(),
        access_expires_at: access.exp,
        session_expires_at: refresh.exp,
        scope: access.scope.clone(),
    })
}

/// Every refusal of a refresh token is this one public error; the reason goes to the log only.
fn invalid_refresh(why: &str) -> AppError {
    Code::InvalidRefreshToken.err().with_detail(why.to_owned())
}

/// Who is refreshing, which decides which sessions a refresh token may rotate.
pub enum RefreshFor<'a> {
    /// `POST /auth/refresh` and `refreshSession`: sign-in sessions only.
    FirstParty,
    /// The token endpoint, for an authenticated OAuth client: only its own grants, for the grant's
    /// resource, with at most the grant's scope (RFC 6749 §6).
    Client {
        client_id: &'a str,
        resource: Option<&'a str>,
        scope: Option<&'a Scopes>,
    },
}

/// Exchanges a refresh token for a new pair (see the module comment for the rotation rules).
pub async fn refresh(
    app: &App,
    presented: &str,
    client: &Client,
    purpose: &RefreshFor<'_>,
) -> Result<TokenPair, AppError> {
    let now = platform::now_secs();
    let verified = token::verify_refresh(&app.cfg.refresh_keys, presented, &app.cfg.issuer, now)
        .map_err(|e| invalid_refresh(e.as_str()))?;
    let claims = &verified.claims;
    let sid = SessionId::parse(&claims.sid).map_err(|_| invalid_refresh("malformed_sid"))?;
    // Only a token this worker signed gets this far: the limit is per session, before any D1 work.
    limits::check(Limit::Refresh, sid.as_str()).await?;
    let presented_hash = sha256_hex(claims.jti.as_bytes());
    let next_jti = &verified.successor_jti;
    let next_hash = sha256_hex(next_jti.as_bytes());

    let session = sessions::find(&app.db, &sid)
        .await?
        .filter(|s| s.user_id.as_str() == claims.sub)
        .ok_or_else(|| invalid_refresh("unknown_session"))?;
    if session.revoked_at.is_some() {
        return Err(invalid_refresh("session_revoked"));
    }
    if session.expires_at <= now {
        return Err(invalid_refresh("session_expired"));
    }
    let grant = grant_claims(&session, purpose)?;
    let user: ActiveUser = crate::store::users::find(&app.db, &session.user_id)
        .await?
        .ok_or_else(|| invalid_refresh("unknown_user"))?
        .try_into()
        .map_err(|_| invalid_refresh("user_deactivated"))?;
    let subject = Subject {
        user_id: &user.id,
        email: &user.email,
        role: &user.role,
        organization_id: session.organization_id.as_ref(),
    };

    if session.refresh_hash == presented_hash
        && sessions::rotate(
            &app.db,
            &session.id,
            &presented_hash,
            &next_hash,
            now,
            now + app.cfg.refresh_ttl_secs,
        )
        .await?
    {
        return sign_pair(app, &subject, grant.as_ref(), &session.id, next_jti, now);
    }

    // Lost the swap, or an old token. Re-read: a concurrent winner may have rotated just now.
    let current = sessions::find(&app.db, &session.id)
        .await?
        .ok_or_else(|| invalid_refresh("unknown_session"))?;
    if current.revoked_at.is_some() {
        return Err(invalid_refresh("session_revoked"));
    }
    if let Some(rotated_at) = within_grace(
        &current,
        &presented_hash,
        &next_hash,
        now,
        app.cfg.refresh_grace_secs,
    ) {
        // Same inputs as the winner => the very same tokens.
        return sign_pair(
            app,
            &subject,
            grant.as_ref(),
            &current.id,
            next_jti,
            rotated_at,
        );
    }
    revoke_for_reuse(app, &current, client, now).await?;
    Err(invalid_refresh("refresh_token_reuse"))
}

/// The grant claims the refreshed access token carries, after checking that `purpose` may refresh
/// this session: a first-party refresh never rotates an OAuth grant (its tokens would lose their
/// audience binding), and a client only its own grant, within its resource and scope.
fn grant_claims<'s>(
    session: &'s SessionRow,
    purpose: &'s RefreshFor<'_>,
) -> Result<Option<GrantClaims<'s>>, AppError> {
    match (purpose, session.grant()) {
        (RefreshFor::FirstParty, None) => Ok(None),
        (RefreshFor::FirstParty, Some(_)) => {
            Err(invalid_refresh("oauth_grant_at_first_party_refresh"))
        }
        (RefreshFor::Client { .. }, None) => {
            Err(invalid_refresh("first_party_session_at_token_endpoint"))
        }
        (
            RefreshFor::Client {
                client_id,
                resource,
                scope,
            },
            Some(g),
        ) => {
            if g.client_id != *client_id {
                return Err(invalid_refresh("issued_to_another_client"));
            }
            if !g.refresh_allowed {
                return Err(invalid_refresh("client_not_registered_for_refresh"));
            }
            if let Some(r) = resource {
                if crate::domain::oauth::resource::normalize(r).ok().as_deref() != Some(g.resource)
                {
                    return Err(Code::InvalidTarget
                        .with("`resource` is not the resource this grant is for.")
                        .with_detail("refresh_for_another_resource"));
                }
            }
            let scope = match scope {
                None => g.scope.to_owned(),
                Some(asked) => {
                    let granted = Scopes::parse(g.scope)
                        .map_err(|_| AppError::internal("stored grant scope does not parse"))?;
                    if asked.is_empty() {
                        return Err(Code::InvalidScope.with(
                            "The refresh asks for no scope of this grant (only `offline_access`).",
                        ));
                    }
                    if !asked.within(granted.as_slice()) {
                        return Err(Code::InvalidScope
                            .with("A refresh may narrow the grant's scope, never widen it."));
                    }
                    // Narrowed: the token carries what was asked (RFC 6749 §6); the grant keeps its scope.
                    asked.to_string()
                }
            };
            Ok(Some(GrantClaims {
                resource: g.resource,
                scope,
                client_id: g.client_id,
            }))
        }
    }
}

/// `Some(rotated_at)` when `presented_hash` was rotated to `next_hash` no more than `grace` seconds ago.
fn within_grace(
    s: &SessionRow,
    presented_hash: &str,
    next_hash: &str,
    now: i64,
    grace: i64,
) -> Option<i64> {
    let rotated_at = s.rotated_at?;
    let same_rotation =
        s.previous_refresh_hash.as_deref() == Some(presented_hash) && s.refresh_hash == next_hash;
    (same_rotation && now - rotated_at <= grace).then_some(rotated_at)
}

async fn revoke_for_reuse(
    app: &App,
    s: &SessionRow,
    client: &Client,
    now: i64,
) -> Result<(), AppError> {
    audit::commit(
        app,
        vec![sessions::revoke(
            &app.db,
            &s.id,
            "refresh_token_reuse",
            now,
        )?],
        &Audit {
            actor: Some(UserKey::Id(&s.user_id)),
            action: "session.refresh_reuse_detected",
            target_type: "session",
            target_id: s.id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str(
                        "reason",
                        "a rotated refresh token was presented after the grace window",
                    )
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    identity::forget_session(&s.id);
    Ok(())
}

/// Revokes one session. `owner` restricts it to that user's sessions. Returns the session (now
/// revoked, or already revoked: revoking twice is harmless), or `None` when there is no such
/// session (for that owner).
pub async fn revoke(
    app: &App,
    session_id: &SessionId,
    owner: Option<&UserId>,
    reason: &str,
    client: &Client,
) -> Result<Option<SessionRow>, AppError> {
    let now = platform::now_secs();
    let Some(s) = sessions::find(&app.db, session_id).await? else {
        return Ok(None);
    };
    if owner.is_some_and(|o| *o != s.user_id) {
        return Ok(None);
    }
    if s.revoked_at.is_some() {
        return Ok(Some(s));
    }
    audit::commit(
        app,
        vec![sessions::revoke(&app.db, &s.id, reason, now)?],
        &Audit {
            actor: Some(UserKey::Id(owner.unwrap_or(&s.user_id))),
            action: "session.revoked",
            target_type: "session",
            target_id: s.id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(JsonObject::new().str("reason", reason).finish()),
        },
        now,
    )
    .await?;
    identity::forget_session(&s.id);
    Ok(Some(s))
}

/// Ends the session a browser held when it signed in again: its cookies are being replaced by the
/// new session's, so the old one could only linger, unreachable, until it expired. The WorkOS
/// session is left alone (the new sign-in may share it). Best effort: a failure is logged and the
/// new sign-in stands.
pub async fn end_replaced(app: &App, previous: &SessionId, client: &Client) {
    if let Err(e) = revoke(app, previous, None, "signed_in_again", client).await {
        log::warn("ending the replaced session failed")
            .app_error(&e)
            .emit();
    }
}

/// Ends the WorkOS session a sign-in came from, after the answer (best effort: ours is already revoked).
pub fn end_workos_session_later(app: &App, workos_session_id: Option<String>) {
    let Some(sid) = workos_session_id else { return };
    let cfg = app.cfg.clone();
    platform::defer(async move {
        if let Err(e) = WorkOs::new(&cfg).revoke_session(&sid).await {
            log::warn("workos session revoke failed")
                .str("error", &e.describe())
                .emit();
        }
    });
}

/// Opens a session for an existing, active user (the `createSession` RPC).
pub async fn create_for_user(
    app: &App,
    user_id: &UserId,
    client: &Client,
) -> Result<TokenPair, AppError> {
    let now = platform::now_secs();
    limits::check(Limit::AccountWrite, user_id.as_str()).await?;
    let user = users::find_active(app, user_id).await?;
    let subject = Subject {
        user_id: &user.id,
        email: &user.email,
        role: &user.role,
        organization_id: None,
    };
    let (stmt, opened) = open(app, UserKey::Id(&user.id), None, client, None, now)?;
    let pair = opened.tokens(app, &subject)?;
    audit::commit(
        app,
        vec![stmt],
        &Audit {
            actor: Some(UserKey::Id(&user.id)),
            action: "session.created",
            target_type: "session",
            target_id: pair.session_id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(JsonObject::new().str("via", "rpc").finish()),
        },
        now,
    )
    .await?;
    Ok(pair)
}

/// The caller's live sessions, newest first, marking the one they are using.
pub async fn list(app: &App, who: &Identity) -> Result<Vec<SessionView>, AppError> {
    let rows = sessions::list_active(
        &app.db,
        &who.user_id,
        sessions::Kind::SignIns,
        platform::now_secs(),
    )
    .await?;
    let current = who.session.as_ref().map(|s| &s.id);
    Ok(rows.iter().map(|s| SessionView::of(s, current)).collect())
}

/// The JSON view of a session shown to its owner (no hashes, no tokens).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    id: SessionId,
    device: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    organization_id: Option<OrganizationId>,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    current: bool,
}

impl SessionView {
    pub fn of(s: &SessionRow, current_session: Option<&SessionId>) -> SessionView {
        SessionView {
            id: s.id.clone(),
            device: s.device.clone(),
            ip_address: s.ip_address.clone(),
            user_agent: s.user_agent.clone(),
            organization_id: s.organization_id.clone(),
            created_at: format_rfc3339(s.created_at),
            last_used_at: format_rfc3339(s.last_used_at),
            expires_at: format_rfc3339(s.expires_at),
            current: current_session == Some(&s.id),
        }
    }
}
