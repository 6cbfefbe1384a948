//! The OAuth tables: registered clients (`oauth_clients`), authorization requests waiting for
//! consent (`oauth_requests`) and authorization codes (`oauth_codes`). Codes and requests are keyed
//! by the SHA-256 of their secret value, never the value. Redeeming a code is one batch that
//! consumes it and opens its grant (a session row) only if that consumption won.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::domain::ids::{OrganizationId, SessionId, UserId};
use crate::error::AppError;

/// What an authorization request or code carries about the grant it leads to.
#[derive(Debug, Clone)]
pub struct GrantTerms {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    /// `1`: the request named its redirect URI, so the token request must repeat it.
    pub redirect_uri_given: i64,
    pub code_challenge: String,
    pub resource: String,
    pub scope: String,
    pub refresh_allowed: i64,
}

/// A registered client's row.
#[derive(Debug, Clone)]
pub struct RegisteredRow {
    pub id: String,
    pub name: Option<String>,
    /// JSON array.
    pub redirect_uris: String,
    pub auth_method: String,
    pub refresh: i64,
    pub secret_hash: Option<String>,
    pub created_at: i64,
}

impl super::FromRow for RegisteredRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(RegisteredRow {
            id: row.text("id"),
            name: row.opt_text("name"),
            redirect_uris: row.text("redirect_uris"),
            auth_method: row.text("auth_method"),
            refresh: row.int("refresh"),
            secret_hash: row.opt_text("secret_hash"),
            created_at: row.int("created_at"),
        })
    }
}

const CLIENT_COLUMNS: &str =
    "id, name, redirect_uris, auth_method, refresh, secret_hash, created_at";

pub async fn find_client(db: &D1Database, id: &str) -> Result<Option<RegisteredRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1"),
        id
    )?)
    .await
}

pub async fn find_client_by_fingerprint(
    db: &D1Database,
    fingerprint: &str,
) -> Result<Option<RegisteredRow>, AppError> {
    super::first(query!(
        db,
        &format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE fingerprint = ?1"),
        fingerprint
    )?)
    .await
}

pub struct NewClient<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub redirect_uris_json: &'a str,
    pub auth_method: &'a str,
    pub refresh: bool,
    pub secret_hash: Option<&'a str>,
    /// Only public registrations carry one (they are idempotent on it).
    pub fingerprint: Option<&'a str>,
    pub now: i64,
}

pub fn insert_client(db: &D1Database, c: &NewClient<'_>) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO oauth_clients (id, name, redirect_uris, auth_method, refresh, secret_hash, fingerprint, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        c.id,
        c.name,
        c.redirect_uris_json,
        c.auth_method,
        i64::from(c.refresh),
        c.secret_hash,
        c.fingerprint,
        c.now
    )?)
}

/// A pending authorization request.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub terms: GrantTerms,
    pub state: Option<String>,
    pub expires_at: i64,
}

/// A row of `oauth_requests` or `oauth_codes` as D1 returns it: the grant's terms, which both
/// tables hold, and the columns only one of them has.
struct TermsRow {
    client_id: String,
    client_name: String,
    redirect_uri: String,
    redirect_uri_given: i64,
    code_challenge: String,
    resource: String,
    scope: String,
    refresh_allowed: i64,
    expires_at: i64,
    state: Option<String>,
    user_id: Option<UserId>,
    organization_id: Option<OrganizationId>,
    consumed_at: Option<i64>,
    session_id: Option<SessionId>,
}

impl super::FromRow for TermsRow {
    fn from_row(row: &super::Row) -> Result<Self, AppError> {
        row.check(TermsRow {
            client_id: row.text("client_id"),
            client_name: row.text("client_name"),
            redirect_uri: row.text("redirect_uri"),
            redirect_uri_given: row.int("redirect_uri_given"),
            code_challenge: row.text("code_challenge"),
            resource: row.text("resource"),
            scope: row.text("scope"),
            refresh_allowed: row.int("refresh_allowed"),
            expires_at: row.int("expires_at"),
            state: row.opt_text("state"),
            user_id: row.opt_id("user_id", UserId::from_stored),
            organization_id: row.opt_id("organization_id", OrganizationId::from_stored),
            consumed_at: row.opt_int("consumed_at"),
            session_id: row.opt_id("session_id", SessionId::from_stored),
        })
    }
}

impl TermsRow {
    fn split(self) -> (GrantTerms, Extra) {
        (
            GrantTerms {
                client_id: self.client_id,
                client_name: self.client_name,
                redirect_uri: self.redirect_uri,
                redirect_uri_given: self.redirect_uri_given,
                code_challenge: self.code_challenge,
                resource: self.resource,
                scope: self.scope,
                refresh_allowed: self.refresh_allowed,
            },
            Extra {
                expires_at: self.expires_at,
                state: self.state,
                user_id: self.user_id,
                organization_id: self.organization_id,
                consumed_at: self.consumed_at,
                session_id: self.session_id,
            },
        )
    }
}

struct Extra {
    expires_at: i64,
    state: Option<String>,
    user_id: Option<UserId>,
    organization_id: Option<OrganizationId>,
    consumed_at: Option<i64>,
    session_id: Option<SessionId>,
}

impl From<TermsRow> for PendingRequest {
    fn from(r: TermsRow) -> PendingRequest {
        let (terms, extra) = r.split();
        PendingRequest {
            terms,
            state: extra.state,
            expires_at: extra.expires_at,
        }
    }
}

const REQUEST_COLUMNS: &str =
    "client_id, client_name, redirect_uri, redirect_uri_given, code_challenge, resource, \
                               scope, refresh_allowed, state, expires_at";

pub fn insert_request(
    db: &D1Database,
    id_hash: &str,
    terms: &GrantTerms,
    state: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO oauth_requests (id_hash, client_id, client_name, redirect_uri, redirect_uri_given,
                                     code_challenge, resource, scope, refresh_allowed, state, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        id_hash,
        &terms.client_id,
        &terms.client_name,
        &terms.redirect_uri,
        terms.redirect_uri_given,
        &terms.code_challenge,
        &terms.resource,
        &terms.scope,
        terms.refresh_allowed,
        state,
        now,
        expires_at
    )?)
}

/// Reads a request without using it up (the consent page).
pub async fn find_request(
    db: &D1Database,
    id_hash: &str,
) -> Result<Option<PendingRequest>, AppError> {
    request(
        db,
        "SELECT {COLUMNS} FROM oauth_requests WHERE id_hash = ?1",
        id_hash,
    )
    .await
}

/// Deletes and returns the request: the first decision gets it, any later one `None`.
pub async fn take_request(
    db: &D1Database,
    id_hash: &str,
) -> Result<Option<PendingRequest>, AppError> {
    request(
        db,
        "DELETE FROM oauth_requests WHERE id_hash = ?1 RETURNING {COLUMNS}",
        id_hash,
    )
    .await
}

async fn request(
    db: &D1Database,
    sql: &str,
    id_hash: &str,
) -> Result<Option<PendingRequest>, AppError> {
    let sql = sql.replace("{COLUMNS}", REQUEST_COLUMNS);
    super::first_as::<TermsRow, _>(query!(db, &sql, id_hash)?).await
}

pub fn insert_code(
    db: &D1Database,
    code_hash: &str,
    terms: &GrantTerms,
    user_id: &UserId,
    organization_id: Option<&OrganizationId>,
    now: i64,
    expires_at: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO oauth_codes (code_hash, client_id, client_name, redirect_uri, redirect_uri_given,
                                  code_challenge, resource, scope, refresh_allowed, user_id, organization_id,
                                  created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        code_hash,
        &terms.client_id,
        &terms.client_name,
        &terms.redirect_uri,
        terms.redirect_uri_given,
        &terms.code_challenge,
        &terms.resource,
        &terms.scope,
        terms.refresh_allowed,
        user_id.as_str(),
        organization_id.map(OrganizationId::as_str),
        now,
        expires_at
    )?)
}

/// An authorization code's row.
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub terms: GrantTerms,
    pub user_id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// The grant its redemption opened.
    pub session_id: Option<SessionId>,
}

impl TryFrom<TermsRow> for CodeRow {
    type Error = AppError;
    fn try_from(r: TermsRow) -> Result<CodeRow, AppError> {
        let (terms, extra) = r.split();
        Ok(CodeRow {
            terms,
            user_id: extra
                .user_id
                .ok_or_else(|| AppError::internal("oauth code row without user_id"))?,
            organization_id: extra.organization_id,
            expires_at: extra.expires_at,
            consumed_at: extra.consumed_at,
            session_id: extra.session_id,
        })
    }
}

pub async fn find_code(db: &D1Database, code_hash: &str) -> Result<Option<CodeRow>, AppError> {
    super::first::<TermsRow>(query!(
        db,
        "SELECT client_id, client_name, redirect_uri, redirect_uri_given, code_challenge, resource, scope,
                refresh_allowed, user_id, organization_id, expires_at, consumed_at, session_id
         FROM oauth_codes WHERE code_hash = ?1",
        code_hash
    )?)
    .await?
    .map(CodeRow::try_from)
    .transpose()
}

/// The grant a redemption opens, and where it is used from.
pub struct Redemption<'a> {
    pub code_hash: &'a str,
    pub session_id: &'a SessionId,
    pub refresh_hash: &'a str,
    /// The scope granted (the code's, or narrower if the token request narrowed it).
    pub scope: &'a str,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

/// The two statements of a redemption, for one batch: consume the code for this session (only if
/// nobody did before), then open the session from the code's terms only if the code is now
/// consumed *for this session*. A concurrent redemption finds the code consumed and opens nothing.
pub fn redeem(db: &D1Database, r: &Redemption<'_>) -> Result<[D1PreparedStatement; 2], AppError> {
    let consume = query!(
        db,
        "UPDATE oauth_codes SET consumed_at = ?2, session_id = ?3
         WHERE code_hash = ?1 AND consumed_at IS NULL AND expires_at > ?2",
        r.code_hash,
        r.now,
        r.session_id.as_str()
    )?;
    let open = query!(
        db,
        "INSERT INTO sessions (id, user_id, organization_id, refresh_hash, rotated_at, device, ip_address, user_agent,
                               created_at, last_used_at, expires_at, client_id, client_name, redirect_uri, resource,
                               scope, refresh_allowed)
         SELECT ?1, c.user_id, c.organization_id, ?2, ?3, c.client_name, ?4, ?5, ?3, ?3, ?6, c.client_id,
                c.client_name, c.redirect_uri, c.resource, ?7, c.refresh_allowed
         FROM oauth_codes c WHERE c.code_hash = ?8 AND c.session_id = ?1",
        r.session_id.as_str(),
        r.refresh_hash,
        r.now,
        r.ip_address,
        r.user_agent,
        r.expires_at,
        r.scope,
        r.code_hash
    )?;
    Ok([consume, open])
}
