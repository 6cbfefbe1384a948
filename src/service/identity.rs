//! Who is calling: turns an access token or an API key into an [`Identity`]. This is the hot path
//! of `validateToken`, so each isolate remembers, for at most `SESSION_CACHE_TTL_SECONDS`, whether a
//! session is live (and its user active) and what an API key resolves to. That TTL is the revocation
//! bound for other isolates; in the isolate that revokes, the entry is dropped at once.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::domain::api_key::{self, ApiKeyFormatError};
use crate::domain::permission::Scope;
use crate::domain::token::{self, TokenError};
use crate::error::AppError;
use crate::platform;
use crate::service::App;
use crate::store::api_keys::{self, KeyWithOwner};
use crate::store::sessions;

/// Entries kept per isolate before the caches start over (bounds memory under key-spraying).
const MAX_CACHE_ENTRIES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct SessionRef {
    pub id: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct KeyRef {
    pub id: String,
    pub name: String,
    pub expires_at: i64,
    /// `None`: the owner's full permissions; `Some`: a ceiling.
    pub scopes: Option<Vec<Scope>>,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub organization_id: Option<String>,
    pub session: Option<SessionRef>,
    pub api_key: Option<KeyRef>,
}

#[derive(Clone, PartialEq, Eq)]
enum Liveness {
    /// With the user's current role, so a demotion reaches callers within the same bound.
    Live {
        role: String,
    },
    Revoked,
    UserDeactivated,
}

thread_local! {
    static SESSIONS: RefCell<HashMap<String, (Liveness, i64)>> = RefCell::new(HashMap::new());
    /// Only keys that exist: unknown keys are not cached, so sprayed guesses cannot evict real entries.
    static KEYS: RefCell<HashMap<String, (KeyWithOwner, i64)>> = RefCell::new(HashMap::new());
}

/// Drops what this isolate remembers of a session (call after revoking it).
pub fn forget_session(session_id: &str) {
    SESSIONS.with(|c| c.borrow_mut().remove(session_id));
}

/// Drops everything this isolate remembers (after a user is deactivated or keys are revoked in bulk).
pub fn forget_all() {
    SESSIONS.with(|c| c.borrow_mut().clear());
    KEYS.with(|c| c.borrow_mut().clear());
}

/// Remembers `value` under `key` as of `now`, starting over when the cache is full (bounded memory).
fn remember<V>(cache: &RefCell<HashMap<String, (V, i64)>>, key: &str, value: V, now: i64) {
    let mut c = cache.borrow_mut();
    if c.len() >= MAX_CACHE_ENTRIES {
        c.clear();
    }
    c.insert(key.to_owned(), (value, now));
}

fn unauthorized(code: &'static str, description: &'static str) -> AppError {
    AppError::unauthorized(code, description)
}

pub async fn validate_access_token(app: &App, t: &str) -> Result<Identity, AppError> {
    let now = platform::now_secs();
    let claims = token::verify_access(&app.cfg.access_keys, t, &app.cfg.issuer, now).map_err(
        |e| match e {
            TokenError::Expired => {
                unauthorized("token_expired", "The access token has expired; refresh it.")
            }
            other => unauthorized("invalid_token", "The access token is invalid.")
                .with_detail(other.as_str()),
        },
    )?;
    let role = match session_liveness(app, &claims.sid, now).await? {
        Liveness::Live { role } => role,
        Liveness::Revoked => {
            return Err(unauthorized(
                "session_revoked",
                "This session has ended; sign in again.",
            ))
        }
        Liveness::UserDeactivated => {
            return Err(unauthorized(
                "user_deactivated",
                "This account is deactivated.",
            ))
        }
    };
    Ok(Identity {
        user_id: claims.sub,
        email: claims.email,
        role,
        organization_id: claims.org_id,
        session: Some(SessionRef {
            id: claims.sid,
            expires_at: claims.exp,
        }),
        api_key: None,
    })
}

async fn session_liveness(app: &App, sid: &str, now: i64) -> Result<Liveness, AppError> {
    let ttl = app.cfg.session_cache_ttl_secs;
    let cached = SESSIONS.with(|c| c.borrow().get(sid).cloned());
    if let Some((verdict, checked_at)) = cached {
        if now - checked_at < ttl {
            return Ok(verdict);
        }
    }
    let verdict = match sessions::liveness(&app.db, sid).await? {
        None => Liveness::Revoked,
        Some(l) if l.revoked_at.is_some() || l.expires_at <= now => Liveness::Revoked,
        Some(l) if l.is_active == 0 => Liveness::UserDeactivated,
        Some(l) => Liveness::Live { role: l.role },
    };
    if ttl > 0 {
        SESSIONS.with(|c| remember(c, sid, verdict.clone(), now));
    }
    Ok(verdict)
}

/// Validates an API key. The second value is `Some(key id)` when `last_used_at` is due an update
/// (at most once a minute per key); the caller does that write off the hot path.
pub async fn validate_api_key(
    app: &App,
    presented: &str,
) -> Result<(Identity, Option<String>), AppError> {
    let now = platform::now_secs();
    // The checksum rejects typos and truncations before any D1 query.
    let parsed = api_key::parse(presented).map_err(|e| {
        unauthorized("api_key_malformed", "The API key is malformed.").with_detail(match e {
            ApiKeyFormatError::UnknownPrefix => "unknown_prefix",
            ApiKeyFormatError::WrongLength => "wrong_length",
            ApiKeyFormatError::InvalidCharacter => "invalid_character",
            ApiKeyFormatError::ChecksumMismatch => "checksum_mismatch",
        })
    })?;
    let ttl = app.cfg.session_cache_ttl_secs;
    let cached = KEYS.with(|c| c.borrow().get(&parsed.hash).cloned());
    let row = match cached {
        Some((row, checked_at)) if now - checked_at < ttl => Some(row),
        _ => {
            let row = api_keys::find_by_hash(&app.db, &parsed.hash).await?;
            if let (Some(found), true) = (&row, ttl > 0) {
                KEYS.with(|c| remember(c, &parsed.hash, found.clone(), now));
            }
            row
        }
    };
    let key =
        row.ok_or_else(|| unauthorized("invalid_api_key", "The API key is not recognised."))?;
    if key.revoked_at.is_some() {
        return Err(unauthorized(
            "api_key_revoked",
            "The API key has been revoked.",
        ));
    }
    if key.expires_at <= now {
        return Err(unauthorized("api_key_expired", "The API key has expired."));
    }
    if key.is_active == 0 {
        return Err(unauthorized(
            "user_deactivated",
            "The owner of this API key is deactivated.",
        ));
    }
    let due = key.last_used_at.is_none_or(|t| now - t >= 60);
    if due {
        // Remember the use so that this isolate does not write again within the minute.
        KEYS.with(|c| {
            if let Some((k, _)) = c.borrow_mut().get_mut(&parsed.hash) {
                k.last_used_at = Some(now);
            }
        });
    }
    let scopes = parse_scopes(key.scopes.as_deref())?;
    Ok((
        Identity {
            user_id: key.user_id,
            email: key.email,
            role: key.role,
            organization_id: None,
            session: None,
            api_key: Some(KeyRef {
                id: key.id.clone(),
                name: key.name,
                expires_at: key.expires_at,
                scopes,
            }),
        },
        due.then_some(key.id),
    ))
}

/// Scopes are stored as a JSON array of `resource:action` strings, already validated on creation.
pub fn parse_scopes(stored: Option<&str>) -> Result<Option<Vec<Scope>>, AppError> {
    let Some(json) = stored else { return Ok(None) };
    let list: Vec<String> = serde_json::from_str(json)?;
    list.iter()
        .map(|s| {
            Scope::parse(s).map_err(|_| AppError::internal("stored API key scope does not parse"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
