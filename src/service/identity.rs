//! Who is calling: the one function that turns a presented credential (an access token or an API
//! key) into an [`Identity`], used by every HTTP route, every RPC method and every future caller.
//!
//! This is the hot path of `validateToken`, so each isolate remembers, for at most
//! `SESSION_CACHE_TTL_SECONDS`, whether a session is live (and its user active) and what an API key
//! resolves to. That TTL is the revocation bound for other isolates; in the isolate that revokes, the
//! entry is dropped at once. Token rules live in `domain::token` and here only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;

use crate::domain::api_key;
use crate::domain::ids::{ApiKeyId, OrganizationId, SessionId, UserId};
use crate::domain::oauth::scope::Scopes;
use crate::domain::permission::{self, Scope};
use crate::domain::time::format_rfc3339;
use crate::domain::token::{self, AccessClaims, Expected, TokenError};
use crate::error::{AppError, Code};
use crate::platform;
use crate::service::limits::{self, Limit};
use crate::service::sessions::{self, SessionView, TokenPair};
use crate::service::users::{self, UserView};
use crate::service::{App, Client};
use crate::store;
use crate::store::api_keys::KeyWithOwner;

/// Entries kept per isolate before the caches start over (bounds memory under key-spraying).
const MAX_CACHE_ENTRIES: usize = 10_000;

/// What a caller presented.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    AccessToken(&'a str),
    ApiKey(&'a str),
}

impl<'a> Credential<'a> {
    /// A Bearer value: API keys have their own recognisable shape; anything else is an access token.
    pub fn bearer(presented: &'a str) -> Credential<'a> {
        if api_key::looks_like_api_key(presented) {
            Credential::ApiKey(presented)
        } else {
            Credential::AccessToken(presented)
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionRef {
    pub id: SessionId,
    pub expires_at: i64,
}

/// The OAuth client an access token was issued to, and its scope (a ceiling on the holder's
/// permissions, like an API key's scopes).
#[derive(Debug, Clone)]
pub struct GrantRef {
    pub client_id: String,
    pub scope: Scopes,
}

#[derive(Debug, Clone)]
pub struct KeyRef {
    pub id: ApiKeyId,
    pub name: String,
    pub expires_at: i64,
    /// `None`: the owner's full permissions; `Some`: a ceiling.
    pub scopes: Option<Vec<Scope>>,
    /// The one organization the key acts in, if it is bound to one.
    pub organization_id: Option<OrganizationId>,
}

/// An authenticated caller: a person through one of their sessions, or through one of their API keys.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: UserId,
    pub email: String,
    pub role: String,
    pub organization_id: Option<OrganizationId>,
    pub session: Option<SessionRef>,
    pub api_key: Option<KeyRef>,
    /// Set when an OAuth client holds the token: which client, and the scope it was granted.
    pub grant: Option<GrantRef>,
    /// Until when (unix seconds) this answer may be given again without asking D1: the earlier of
    /// the credential's expiry and the end of the revocation bound of what was read. The entry
    /// module keeps answers of `validateToken` that long (src/entry.mjs).
    pub fresh_until: i64,
}

#[derive(Clone)]
enum Liveness {
    /// With the user's current role, so a demotion reaches callers within the same bound.
    Live {
        role: String,
    },
    Revoked,
    UserDeactivated,
}

thread_local! {
    static SESSIONS: RefCell<HashMap<SessionId, (Liveness, i64)>> = RefCell::new(HashMap::new());
    /// Only keys that exist: unknown keys are not cached, so sprayed guesses cannot evict real entries.
    static KEYS: RefCell<HashMap<String, (KeyWithOwner, i64)>> = RefCell::new(HashMap::new());
}

/// Drops what this isolate remembers of a session (call after revoking it), and every answer the
/// entry module kept.
pub fn forget_session(session_id: &SessionId) {
    SESSIONS.with(|c| c.borrow_mut().remove(session_id));
    platform::invalidate_answers();
}

/// Drops everything this isolate remembers (after a user is deactivated or keys are revoked in bulk).
pub fn forget_all() {
    SESSIONS.with(|c| c.borrow_mut().clear());
    KEYS.with(|c| c.borrow_mut().clear());
    platform::invalidate_answers();
}

/// Remembers `value` under `key` as of `now`, starting over when the cache is full (bounded memory).
fn remember<K: std::hash::Hash + Eq, V>(
    cache: &RefCell<HashMap<K, (V, i64)>>,
    key: K,
    value: V,
    now: i64,
) {
    let mut c = cache.borrow_mut();
    if c.len() >= MAX_CACHE_ENTRIES {
        c.clear();
    }
    c.insert(key, (value, now));
}

/// Where a credential was presented.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// An HTTP request from this client address (abuse limits apply: see `service::limits`).
    Http { ip: Option<&'a str> },
    /// A sibling worker over the service binding (trusted; it limits its own callers).
    Binding,
}

/// The one authentication path: who presented this credential? `audience` is what an access token
/// must be for (`None`: this worker's own audience, `JWT_AUDIENCE`); an API key has no audience, so
/// it is refused when another one is asked for. Bookkeeping it causes (an API key's `last_used_at`)
/// runs after the answer through `waitUntil`, never on the caller's time.
pub async fn authenticate(
    app: &App,
    credential: Credential<'_>,
    via: Via<'_>,
    audience: Option<&str>,
) -> Result<Identity, AppError> {
    let expected = Expected {
        audience: audience.unwrap_or(&app.cfg.audience),
        audience_is_default: audience.is_none_or(|a| a == app.cfg.audience),
    };
    match credential {
        Credential::AccessToken(t) => access_token(app, t, &expected).await,
        Credential::ApiKey(_) if !expected.audience_is_default => Err(Code::InvalidToken
            .with("An API key is not bound to this audience.")
            .with_detail("api_key_for_audience")),
        Credential::ApiKey(k) => api_key(app, k, via).await,
    }
}

/// Who holds a browser's session cookies (the access token, the refresh token; either may be
/// gone). When the access token is missing (its cookie lives only as long as the token, so the
/// browser drops it at expiry), expired or otherwise unusable, and a refresh token is there, the
/// session is refreshed in place by [`sessions::refresh`], the same rotation, grace window and reuse
/// detection as `POST /auth/refresh`; the new pair is returned for the caller to store as cookies.
/// A session the refresh token cannot continue (revoked, expired, reused) is refused as it is there.
pub async fn authenticate_browser(
    app: &App,
    access: Option<&str>,
    refresh: Option<&str>,
    via: Via<'_>,
    client: &Client,
) -> Result<(Identity, Option<TokenPair>), AppError> {
    let refused = match access {
        Some(t) => match authenticate(app, Credential::AccessToken(t), via, None).await {
            Ok(who) => return Ok((who, None)),
            Err(e) if !e.has_code(Code::TokenExpired) && !e.has_code(Code::InvalidToken) => {
                return Err(e)
            }
            Err(e) => e,
        },
        None => Code::Unauthenticated.err(),
    };
    let Some(refresh) = refresh else {
        return Err(refused);
    };
    let pair = sessions::refresh(app, refresh, client, &sessions::RefreshFor::FirstParty).await?;
    let who = authenticate(app, Credential::AccessToken(&pair.token), via, None).await?;
    Ok((who, Some(pair)))
}

/// An access token verified once in this isolate: its claims, with the ids already parsed.
struct Verified {
    claims: AccessClaims,
    user_id: UserId,
    session_id: SessionId,
    organization_id: Option<OrganizationId>,
    grant: Option<GrantRef>,
}

thread_local! {
    /// Verified access tokens by the SHA-256 of the whole token, each dropped at its `exp`: a token is
    /// verified (an Ed25519 signature check) once per isolate, then recognised by a hash and a lookup.
    static VERIFIED: RefCell<HashMap<[u8; 32], Rc<Verified>>> = RefCell::new(HashMap::new());
}

fn token_error(e: TokenError) -> AppError {
    match e {
        TokenError::Expired => Code::TokenExpired.err(),
        other => Code::InvalidToken.err().with_detail(other.as_str()),
    }
}

/// The token's verified claims: remembered ones if this isolate has verified it before.
fn verified(app: &App, t: &str, now: i64) -> Result<Rc<Verified>, AppError> {
    let digest = token::token_digest(t);
    if let Some(v) = VERIFIED.with(|c| c.borrow().get(&digest).cloned()) {
        v.claims.check_times(now).map_err(token_error)?;
        return Ok(v);
    }
    let claims =
        token::verify_access(&app.cfg.access_keys, t, &app.cfg.issuer, now).map_err(token_error)?;
    let malformed = |why: &'static str| Code::InvalidToken.err().with_detail(why);
    let v = Rc::new(Verified {
        user_id: UserId::parse(&claims.sub).map_err(|_| malformed("malformed_sub"))?,
        session_id: SessionId::parse(&claims.sid).map_err(|_| malformed("malformed_sid"))?,
        organization_id: claims
            .org_id
            .as_deref()
            .map(OrganizationId::parse)
            .transpose()
            .map_err(|_| malformed("malformed_org_id"))?,
        grant: match (&claims.client_id, &claims.scope) {
            (Some(client_id), scope) => Some(GrantRef {
                client_id: client_id.clone(),
                scope: Scopes::parse(scope.as_deref().unwrap_or_default())
                    .map_err(|_| malformed("malformed_scope"))?,
            }),
            (None, _) => None,
        },
        claims,
    });
    VERIFIED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHE_ENTRIES {
            c.retain(|_, v| v.claims.exp > now);
            if c.len() >= MAX_CACHE_ENTRIES {
                c.clear();
            }
        }
        c.insert(digest, v.clone());
    });
    Ok(v)
}

async fn access_token(app: &App, t: &str, expected: &Expected<'_>) -> Result<Identity, AppError> {
    let now = platform::now_secs();
    let v = verified(app, t, now)?;
    v.claims.check_audience(expected).map_err(token_error)?;
    let (liveness, fresh_until) = session_liveness(app, &v.session_id, now).await?;
    let role = match liveness {
        Liveness::Live { role } => role,
        Liveness::Revoked => return Err(Code::SessionRevoked.err()),
        Liveness::UserDeactivated => return Err(Code::UserDeactivated.err()),
    };
    Ok(Identity {
        user_id: v.user_id.clone(),
        email: v.claims.email.clone(),
        role,
        organization_id: v.organization_id.clone(),
        session: Some(SessionRef {
            id: v.session_id.clone(),
            expires_at: v.claims.exp,
        }),
        api_key: None,
        grant: v.grant.clone(),
        fresh_until: fresh_until.min(v.claims.exp),
    })
}

/// The session's liveness, and until when that reading may be trusted (the revocation bound).
async fn session_liveness(
    app: &App,
    sid: &SessionId,
    now: i64,
) -> Result<(Liveness, i64), AppError> {
    let ttl = app.cfg.session_cache_ttl_secs;
    let cached = SESSIONS.with(|c| c.borrow().get(sid).cloned());
    if let Some((verdict, checked_at)) = cached {
        if now - checked_at < ttl {
            return Ok((verdict, checked_at + ttl));
        }
    }
    let verdict = match store::sessions::liveness(&app.db, sid).await? {
        None => Liveness::Revoked,
        Some(l) if l.revoked_at.is_some() || l.expires_at <= now => Liveness::Revoked,
        Some(l) => match users::ensure_active(l.account) {
            Ok(()) => Liveness::Live { role: l.role },
            Err(_) => Liveness::UserDeactivated,
        },
    };
    if ttl > 0 {
        SESSIONS.with(|c| remember(c, sid.clone(), verdict.clone(), now));
    }
    Ok((verdict, now + ttl))
}

async fn api_key(app: &App, presented: &str, via: Via<'_>) -> Result<Identity, AppError> {
    let now = platform::now_secs();
    // The checksum rejects typos and truncations before any D1 query.
    let parsed = api_key::parse(presented)
        .map_err(|e| Code::ApiKeyMalformed.err().with_detail(e.as_str()))?;
    let ttl = app.cfg.session_cache_ttl_secs;
    let cached = KEYS.with(|c| c.borrow().get(&parsed.hash).cloned());
    let (row, read_at) = match cached {
        Some((row, checked_at)) if now - checked_at < ttl => (Some(row), checked_at),
        _ => {
            if let Via::Http { ip } = via {
                limits::check(Limit::ApiKeyLookup, &limits::client(ip)).await?;
            }
            let row = store::api_keys::find_by_hash(&app.db, &parsed.hash).await?;
            if let (Some(found), true) = (&row, ttl > 0) {
                KEYS.with(|c| remember(c, parsed.hash.clone(), found.clone(), now));
            }
            (row, now)
        }
    };
    let key = row.ok_or_else(|| Code::InvalidApiKey.err())?;
    if key.revoked_at.is_some() {
        return Err(Code::ApiKeyRevoked.err());
    }
    if key.expires_at <= now {
        return Err(Code::ApiKeyExpired.err());
    }
    users::ensure_active(key.owner)
        .map_err(|_| Code::UserDeactivated.with("The owner of this API key is deactivated."))?;
    if let Via::Http { .. } = via {
        limits::check(Limit::ApiKeyUse, key.id.as_str()).await?;
    }
    if key.last_used_at.is_none_or(|t| now - t >= 60) {
        // Remember the use so that this isolate does not write again within the minute.
        KEYS.with(|c| {
            if let Some((k, _)) = c.borrow_mut().get_mut(&parsed.hash) {
                k.last_used_at = Some(now);
            }
        });
        let id = key.id.clone();
        platform::defer(async move {
            if let Ok(db) = platform::env().d1("DB") {
                crate::service::api_keys::record_use(&db, &id).await;
            }
        });
    }
    let scopes = parse_scopes(key.scopes.as_deref())?;
    Ok(Identity {
        user_id: key.user_id,
        email: key.email,
        role: key.role,
        organization_id: key.organization_id.clone(),
        session: None,
        api_key: Some(KeyRef {
            id: key.id,
            name: key.name,
            expires_at: key.expires_at,
            scopes,
            organization_id: key.organization_id,
        }),
        grant: None,
        fresh_until: (read_at + ttl).min(key.expires_at),
    })
}

/// Account management (sessions, keys) needs a signed-in session, or an API key that was given the
/// reserved `account:manage` scope on purpose (see `domain::permission::key_may_manage_account`).
pub fn require_account_access(who: &Identity) -> Result<(), AppError> {
    match &who.api_key {
        None => Ok(()),
        Some(k) if permission::key_may_manage_account(k.scopes.as_deref()) => Ok(()),
        Some(_) => Err(Code::Forbidden.with(
            "Managing sessions and API keys needs a signed-in session or an API key with the `account:manage` scope.",
        )),
    }
}

/// Scopes are stored as a JSON array of `resource:action` strings, already validated on creation.
pub fn parse_scopes(stored: Option<&str>) -> Result<Option<Vec<Scope>>, AppError> {
    let Some(json) = stored else { return Ok(None) };
    let list: Vec<String> = serde_json::from_slice(json.as_bytes())?;
    let mut scopes = Vec::with_capacity(list.len());
    for s in &list {
        scopes.push(
            Scope::parse(s)
                .map_err(|_| AppError::internal("stored API key scope does not parse"))?,
        );
    }
    Ok(Some(scopes))
}

/// The session a refresh token or an access token names, if either still verifies (the refresh
/// token first: it outlives the access token). For signing out and revocation; no liveness check
/// (revoking twice is harmless).
pub fn session_of_tokens(
    app: &App,
    refresh_cookie: Option<&str>,
    access_cookie: Option<&str>,
) -> Option<SessionId> {
    let cfg = &app.cfg;
    let now = platform::now_secs();
    let sid = refresh_cookie
        .and_then(|t| token::verify_refresh(&cfg.refresh_keys, t, &cfg.issuer, now).ok())
        .map(|verified| verified.claims.sid)
        .or_else(|| {
            access_cookie
                .and_then(|t| verified(app, t, now).ok())
                .map(|v| v.session_id.to_string())
        })?;
    SessionId::parse(&sid).ok()
}

/// The API key part of an identity, as callers see it (never the key or its hash).
#[derive(Serialize)]
pub struct KeyRefView<'a> {
    id: &'a ApiKeyId,
    name: &'a str,
    scopes: Option<Vec<String>>,
}

impl<'a> From<&'a KeyRef> for KeyRefView<'a> {
    fn from(k: &'a KeyRef) -> Self {
        KeyRefView {
            id: &k.id,
            name: &k.name,
            scopes: k
                .scopes
                .as_ref()
                .map(|s| s.iter().map(ToString::to_string).collect()),
        }
    }
}

/// Who an identity is, as callers of the binding see it (`validateToken`, `checkMcpRequest`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityUserView<'a> {
    id: &'a UserId,
    email: &'a str,
    role: &'a str,
    organization_id: Option<&'a OrganizationId>,
}

impl<'a> From<&'a Identity> for IdentityUserView<'a> {
    fn from(i: &'a Identity) -> Self {
        IdentityUserView {
            id: &i.user_id,
            email: &i.email,
            role: &i.role,
            organization_id: i.organization_id.as_ref(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionRefView<'a> {
    id: &'a SessionId,
    expires_at: String,
}

/// `validateToken`'s answer for a valid credential.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView<'a> {
    valid: bool,
    user: IdentityUserView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionRefView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<KeyRefView<'a>>,
    /// For a token an OAuth client holds: the client and the granted scope (space-separated).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

impl<'a> From<&'a Identity> for IdentityView<'a> {
    fn from(i: &'a Identity) -> Self {
        IdentityView {
            valid: true,
            user: IdentityUserView::from(i),
            session: i.session.as_ref().map(|s| SessionRefView {
                id: &s.id,
                expires_at: format_rfc3339(s.expires_at),
            }),
            api_key: i.api_key.as_ref().map(KeyRefView::from),
            client_id: i.grant.as_ref().map(|g| g.client_id.as_str()),
            scope: i.grant.as_ref().map(|g| g.scope.to_string()),
        }
    }
}

/// `GET /auth/me`: the caller's full user record, session and key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile<'a> {
    pub user: UserView,
    pub session: Option<SessionView>,
    pub api_key: Option<KeyRefView<'a>>,
    pub organization_id: Option<&'a OrganizationId>,
}

/// The caller's profile. The account may have been deleted since the credential was checked.
pub async fn profile<'a>(app: &App, who: &'a Identity) -> Result<Profile<'a>, AppError> {
    let user = store::users::find(&app.db, &who.user_id)
        .await?
        .ok_or_else(|| Code::InvalidToken.with("The account no longer exists."))?;
    let session = match &who.session {
        Some(s) => store::sessions::find(&app.db, &s.id)
            .await?
            .map(|row| SessionView::of(&row, Some(&s.id))),
        None => None,
    };
    Ok(Profile {
        user: UserView::from(&user),
        session,
        api_key: who.api_key.as_ref().map(KeyRefView::from),
        organization_id: who.organization_id.as_ref(),
    })
}
