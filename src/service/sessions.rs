//! Sessions and our tokens: opening a session (one access token, one refresh token bound to the
//! session row), refresh rotation with reuse detection, revocation and listing.
//!
//! Rotation: the refresh token's `jti` is never stored, only its SHA-256. A refresh swaps
//! `refresh_hash` from the presented id to the next one in one conditional UPDATE (atomic in D1).
//! The next id and the new tokens' times are derived deterministically (HMAC of the old id, `iat` =
//! `rotated_at`), so a concurrent refresh that lost the swap within the grace window rebuilds exactly
//! the same pair. Presenting an older id after the window is treated as theft: the session is
//! revoked and audited (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).

use serde_json::json;
use worker::d1::D1PreparedStatement;

use crate::domain::encoding::{b64url_encode, sha256_hex};
use crate::domain::token::{self, AccessClaims, RefreshClaims};
use crate::error::AppError;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity;
use crate::service::{App, Client};
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::{self, users};

/// What a client receives after sign-in or refresh.
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    pub session_id: String,
    pub access_expires_at: i64,
    pub session_expires_at: i64,
}

/// The claims that go into an access token, read from the user row at issue time.
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub organization_id: Option<&'a str>,
}

/// Prepares a new session row and its tokens; the caller puts the statement in its batch.
pub fn open(
    app: &App,
    subject: &Subject<'_>,
    client: &Client,
    workos_session_id: Option<&str>,
    now: i64,
) -> Result<(D1PreparedStatement, TokenPair), AppError> {
    let session_id = platform::new_id("ses")?;
    let jti = b64url_encode(&platform::random::<16>()?);
    let pair = issue(app, subject, &session_id, &jti, now)?;
    let device = client.device.clone().or_else(|| {
        client
            .user_agent
            .as_deref()
            .map(crate::domain::device::describe)
    });
    let stmt = sessions::insert(
        &app.db,
        &NewSession {
            id: &session_id,
            user_id: subject.user_id,
            organization_id: subject.organization_id,
            refresh_hash: &sha256_hex(jti.as_bytes()),
            device: device.as_deref(),
            ip_address: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            workos_session_id,
            now,
            expires_at: pair.session_expires_at,
        },
    )?;
    Ok((stmt, pair))
}

/// Signs the pair for a session whose current refresh id is `refresh_jti`, as of `iat`.
fn issue(
    app: &App,
    s: &Subject<'_>,
    session_id: &str,
    refresh_jti: &str,
    iat: i64,
) -> Result<TokenPair, AppError> {
    let cfg = &app.cfg;
    let access = AccessClaims {
        iss: cfg.issuer.clone(),
        sub: s.user_id.to_owned(),
        sid: session_id.to_owned(),
        email: s.email.to_owned(),
        role: s.role.to_owned(),
        org_id: s.organization_id.map(str::to_owned),
        iat,
        exp: iat + cfg.access_ttl_secs,
        jti: token::derive_jti(&cfg.access_keys, "access", refresh_jti),
    };
    let refresh = RefreshClaims {
        iss: cfg.issuer.clone(),
        sub: s.user_id.to_owned(),
        sid: session_id.to_owned(),
        iat,
        exp: iat + cfg.refresh_ttl_secs,
        jti: refresh_jti.to_owned(),
    };
    let sign_failed = |_| AppError::internal("token signing failed");
    Ok(TokenPair {
        token: token::sign_access(&cfg.access_keys, &access).map_err(sign_failed)?,
        refresh_token: token::sign_refresh(&cfg.refresh_keys, &refresh).map_err(sign_failed)?,
        session_id: session_id.to_owned(),
        access_expires_at: access.exp,
        session_expires_at: refresh.exp,
    })
}

fn invalid_refresh(why: &str) -> AppError {
    AppError::unauthorized(
        "invalid_refresh_token",
        "The refresh token is invalid, expired or revoked; sign in again.",
    )
    .with_detail(why.to_owned())
}

/// Exchanges a refresh token for a new pair (see the module comment for the rotation rules).
pub async fn refresh(app: &App, presented: &str, client: &Client) -> Result<TokenPair, AppError> {
    let now = platform::now_secs();
    let claims = token::verify_refresh(&app.cfg.refresh_keys, presented, &app.cfg.issuer, now)
        .map_err(|e| invalid_refresh(e.as_str()))?;
    let presented_hash = sha256_hex(claims.jti.as_bytes());
    let next_jti = token::derive_jti(&app.cfg.refresh_keys, "rotate", &claims.jti);
    let next_hash = sha256_hex(next_jti.as_bytes());

    let session = sessions::find(&app.db, &claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub)
        .ok_or_else(|| invalid_refresh("unknown_session"))?;
    if session.revoked_at.is_some() {
        return Err(invalid_refresh("session_revoked"));
    }
    if session.expires_at <= now {
        return Err(invalid_refresh("session_expired"));
    }
    let user = users::find(&app.db, &session.user_id)
        .await?
        .ok_or_else(|| invalid_refresh("unknown_user"))?;
    if user.is_active == 0 {
        return Err(invalid_refresh("user_deactivated"));
    }
    let subject = Subject {
        user_id: &user.id,
        email: &user.email,
        role: &user.role,
        organization_id: session.organization_id.as_deref(),
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
        return issue(app, &subject, &session.id, &next_jti, now);
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
        return issue(app, &subject, &current.id, &next_jti, rotated_at);
    }
    revoke_for_reuse(app, &current, client, now).await?;
    Err(invalid_refresh("refresh_token_reuse"))
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
    store::batch(
        &app.db,
        vec![
            sessions::revoke(&app.db, &s.id, "refresh_token_reuse", now)?,
            audit::stmt(
                app,
                Audit {
                    actor: Some(&s.user_id),
                    action: "session.refresh_reuse_detected",
                    target_type: "session",
                    target_id: &s.id,
                    ip: client.ip.as_deref(),
                    detail: Some(json!({ "reason": "a rotated refresh token was presented after the grace window" })),
                },
                now,
            )?,
        ],
    )
    .await?;
    identity::forget_session(&s.id);
    Ok(())
}

/// Revokes one session. `owner` restricts it to that user's sessions. Returns the session (now
/// revoked, or already revoked: revoking twice is harmless), or `None` when there is no such
/// session (for that owner). A malformed id answers `None` without a query.
pub async fn revoke(
    app: &App,
    session_id: &str,
    owner: Option<&str>,
    reason: &str,
    client: &Client,
) -> Result<Option<SessionRow>, AppError> {
    if !crate::domain::ids::is_well_formed_id("ses", session_id) {
        return Ok(None);
    }
    let now = platform::now_secs();
    let Some(s) = sessions::find(&app.db, session_id).await? else {
        return Ok(None);
    };
    if owner.is_some_and(|o| o != s.user_id) {
        return Ok(None);
    }
    if s.revoked_at.is_some() {
        return Ok(Some(s));
    }
    store::batch(
        &app.db,
        vec![
            sessions::revoke(&app.db, &s.id, reason, now)?,
            audit::stmt(
                app,
                Audit {
                    actor: owner.or(Some(&s.user_id)),
                    action: "session.revoked",
                    target_type: "session",
                    target_id: &s.id,
                    ip: client.ip.as_deref(),
                    detail: Some(json!({ "reason": reason })),
                },
                now,
            )?,
        ],
    )
    .await?;
    identity::forget_session(&s.id);
    Ok(Some(s))
}

/// Opens a session for an existing, active user (the `createSession` RPC).
pub async fn create_for_user(
    app: &App,
    user_id: &str,
    client: &Client,
) -> Result<TokenPair, AppError> {
    let now = platform::now_secs();
    let user = users::find(&app.db, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user_not_found", "No user has this id."))?;
    if user.is_active == 0 {
        return Err(AppError::forbidden(
            "user_deactivated",
            "This user is deactivated.",
        ));
    }
    let subject = Subject {
        user_id: &user.id,
        email: &user.email,
        role: &user.role,
        organization_id: None,
    };
    let (stmt, pair) = open(app, &subject, client, None, now)?;
    store::batch(
        &app.db,
        vec![
            stmt,
            audit::stmt(
                app,
                Audit {
                    actor: Some(&user.id),
                    action: "session.created",
                    target_type: "session",
                    target_id: &pair.session_id,
                    ip: client.ip.as_deref(),
                    detail: Some(json!({ "via": "rpc" })),
                },
                now,
            )?,
        ],
    )
    .await?;
    Ok(pair)
}

/// The JSON view of a session shown to its owner (no hashes, no tokens).
pub fn view(s: &SessionRow, current_session: Option<&str>) -> serde_json::Value {
    use crate::domain::time::format_rfc3339 as t;
    json!({
        "id": s.id,
        "device": s.device,
        "ipAddress": s.ip_address,
        "userAgent": s.user_agent,
        "organizationId": s.organization_id,
        "createdAt": t(s.created_at),
        "lastUsedAt": t(s.last_used_at),
        "expiresAt": t(s.expires_at),
        "current": current_session == Some(s.id.as_str()),
    })
}
