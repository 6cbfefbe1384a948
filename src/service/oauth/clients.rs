//! Which OAuth client is asking: finding a client by its `client_id` (the operator's list, the
//! registered ones, or a Client ID Metadata Document fetched and cached), authenticating one at the
//! token endpoint, and dynamic registration (RFC 7591) when it is switched on.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;

use crate::cimd;
use crate::domain::encoding::{b64url_encode, ct_eq, sha256, sha256_hex};
use crate::domain::ids::RegisteredClientId;
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::client::{
    self as rules, check_metadata_document_url, is_metadata_document_id, AuthMethod, Client, Source,
};
use crate::error::{AppError, Code, Constraint};
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::limits::{self, Limit};
use crate::service::App;
use crate::store::oauth::{self as store, NewClient, RegisteredRow};

/// Metadata documents kept per isolate: at most this many, each for its own lifetime.
const MAX_CACHED_DOCUMENTS: usize = 1_000;
/// A document without caching headers is reused this long; none longer than a day.
const DEFAULT_DOCUMENT_TTL_SECS: u64 = 300;
const MAX_DOCUMENT_TTL_SECS: u64 = 86_400;

thread_local! {
    static DOCUMENTS: RefCell<HashMap<String, (Client, i64)>> = RefCell::new(HashMap::new());
}

/// Why a `client_id` names no usable client (shown to the person at the authorization endpoint,
/// `invalid_client` at the token endpoint).
pub enum Unusable {
    Unknown,
    /// A metadata document URL that was refused or whose document was (the reason is public: it is
    /// about the client's own document).
    Document(String),
}

impl Unusable {
    /// As the authorization endpoint shows it (never redirected: RFC 6749 §4.1.2.1).
    pub fn at_authorization(self) -> AppError {
        match self {
            Unusable::Unknown => {
                Code::InvalidRequest.with("`client_id` names no client this server knows.")
            }
            Unusable::Document(why) => Code::InvalidRequest.with(format!(
                "The client's metadata document (its `client_id`) {why}."
            )),
        }
    }
}

/// The client `client_id` names.
pub async fn find(app: &App, client_id: &str) -> Result<Client, Unusable> {
    let oauth = &app.cfg.oauth;
    if let Some(c) = oauth
        .clients
        .iter()
        .find(|c| c.client.client_id == client_id)
    {
        return Ok(c.client.clone());
    }
    if RegisteredClientId::parse(client_id).is_ok() {
        return match store::find_client(&app.db, client_id).await {
            Ok(Some(row)) => registered_client(row).ok_or(Unusable::Unknown),
            Ok(None) => Err(Unusable::Unknown),
            Err(e) => {
                log_store_failure(&e);
                Err(Unusable::Unknown)
            }
        };
    }
    if oauth.metadata_documents && is_metadata_document_id(client_id) {
        return metadata_document(app, client_id).await;
    }
    Err(Unusable::Unknown)
}

fn log_store_failure(e: &AppError) {
    log::error("oauth client lookup failed").app_error(e).emit();
}

fn registered_client(row: RegisteredRow) -> Option<Client> {
    let redirect_uris: Vec<String> = serde_json::from_slice(row.redirect_uris.as_bytes()).ok()?;
    Some(Client {
        name: row.name.unwrap_or_else(|| row.id.clone()),
        client_id: row.id,
        redirect_uris,
        auth_method: AuthMethod::parse(&row.auth_method)?,
        refresh: row.refresh != 0,
        source: Source::Registered,
        introspects_for: None,
    })
}

/// Is this a metadata-document client on a host the operator blocked (`OAUTH_CIMD_BLOCKED_HOSTS`)?
fn is_blocked(app: &App, client_id: &str) -> bool {
    is_metadata_document_id(client_id)
        && worker::Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(|h| app.cfg.oauth.blocked_hosts.matches(h)))
            .unwrap_or(false)
}

const BLOCKED: &str = "is on a host this server does not accept clients from";

/// Refuses a client whose host was blocked after its request or grant began (consent, decisions).
pub fn ensure_not_blocked(app: &App, client_id: &str) -> Result<(), AppError> {
    if is_blocked(app, client_id) {
        return Err(Unusable::Document(BLOCKED.to_owned()).at_authorization());
    }
    Ok(())
}

/// A metadata document: from this isolate's cache, or fetched, checked and cached for as long as
/// its `Cache-Control` allows (errors and invalid documents are never cached, draft-00 §4.4).
async fn metadata_document(app: &App, client_id: &str) -> Result<Client, Unusable> {
    check_metadata_document_url(client_id).map_err(|why| Unusable::Document(why.to_owned()))?;
    if is_blocked(app, client_id) {
        return Err(Unusable::Document(BLOCKED.to_owned()));
    }
    let now = platform::now_secs();
    if let Some(c) = DOCUMENTS.with(|d| {
        d.borrow()
            .get(client_id)
            .filter(|(_, until)| now < *until)
            .map(|(c, _)| c.clone())
    }) {
        return Ok(c);
    }
    let doc = cimd::fetch(client_id)
        .await
        .map_err(|f| Unusable::Document(f.describe()))?;
    let client = rules::metadata_document(client_id, &doc.body).map_err(|r| {
        Unusable::Document(format!(
            "was refused: {}",
            r.description.trim_end_matches('.')
        ))
    })?;
    let ttl = rules::cache_lifetime(
        doc.cache_control.as_deref(),
        DEFAULT_DOCUMENT_TTL_SECS,
        MAX_DOCUMENT_TTL_SECS,
    );
    if ttl > 0 {
        DOCUMENTS.with(|d| {
            let mut d = d.borrow_mut();
            if d.len() >= MAX_CACHED_DOCUMENTS {
                d.retain(|_, (_, until)| now < *until);
                if d.len() >= MAX_CACHED_DOCUMENTS {
                    d.clear();
                }
            }
            d.insert(
                client_id.to_owned(),
                (
                    client.clone(),
                    now.saturating_add(i64::try_from(ttl).unwrap_or(0)),
                ),
            );
        });
    }
    Ok(client)
}

/// Is this client's origin vouched for (configured, or a metadata document on a trusted host)? The
/// consent page marks the others as unverified.
pub fn is_vouched_for(app: &App, client: &Client) -> bool {
    match client.source {
        Source::Configured => true,
        Source::Registered => false,
        Source::MetadataDocument => worker::Url::parse(&client.client_id)
            .ok()
            .and_then(|u| u.host_str().map(|h| app.cfg.oauth.trusted_hosts.matches(h)))
            .unwrap_or(false),
    }
}

/// How a client presented itself at the token, revocation or introspection endpoint.
pub enum Presented {
    /// `Authorization: Basic` (client_secret_basic).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the form (client_secret_post).
    Post { client_id: String, secret: String },
    /// `client_id` alone (a public client).
    Public { client_id: String },
}

impl Presented {
    pub fn client_id(&self) -> &str {
        match self {
            Presented::Basic { client_id, .. }
            | Presented::Post { client_id, .. }
            | Presented::Public { client_id } => client_id,
        }
    }

    fn method(&self) -> AuthMethod {
        match self {
            Presented::Basic { .. } => AuthMethod::ClientSecretBasic,
            Presented::Post { .. } => AuthMethod::ClientSecretPost,
            Presented::Public { .. } => AuthMethod::None,
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Presented::Basic { secret, .. } | Presented::Post { secret, .. } => Some(secret),
            Presented::Public { .. } => None,
        }
    }
}

/// A client that proved who it is.
pub struct Authenticated {
    pub client_id: String,
    /// The resource it may introspect tokens for (a resource server's own client).
    pub introspects_for: Option<String>,
}

/// Every authentication failure is this one answer (RFC 6749 §5.2); the reason goes to the log.
fn client_auth_failed(why: &str) -> AppError {
    Code::InvalidClient.err().with_detail(why.to_owned())
}

/// Checks the client's credentials with the method it registered, and only that one (presenting a
/// secret another way, or none where one is required, fails: RFC 6749 §2.3). A metadata-document
/// client is public by construction, so it is known by its URL without fetching the document.
pub async fn authenticate(app: &App, presented: &Presented) -> Result<Authenticated, AppError> {
    let client_id = presented.client_id();
    let oauth = &app.cfg.oauth;
    let (method, secret_sha256, introspects_for): (AuthMethod, Option<[u8; 32]>, Option<String>) =
        if let Some(c) = oauth
            .clients
            .iter()
            .find(|c| c.client.client_id == client_id)
        {
            (
                c.client.auth_method,
                c.secret_sha256,
                c.client.introspects_for.clone(),
            )
        } else if RegisteredClientId::parse(client_id).is_ok() {
            let row = store::find_client(&app.db, client_id)
                .await?
                .ok_or_else(|| client_auth_failed("unknown_client"))?;
            let method = AuthMethod::parse(&row.auth_method)
                .ok_or_else(|| AppError::internal("stored client has an unknown auth method"))?;
            let hash = row
                .secret_hash
                .as_deref()
                .and_then(crate::domain::encoding::hex_decode_array::<32>);
            (method, hash, None)
        } else if oauth.metadata_documents && check_metadata_document_url(client_id).is_ok() {
            // Blocked after it got a grant: its refreshes and codes stop too.
            if is_blocked(app, client_id) {
                return Err(client_auth_failed("metadata_document_host_blocked"));
            }
            (AuthMethod::None, None, None)
        } else {
            return Err(client_auth_failed("unknown_client"));
        };
    if presented.method() != method {
        return Err(client_auth_failed("authentication_method_not_registered"));
    }
    if method.has_secret() {
        let (Some(expected), Some(given)) = (secret_sha256, presented.secret()) else {
            return Err(client_auth_failed("no_secret"));
        };
        if !ct_eq(&sha256(given.as_bytes()), &expected) {
            return Err(client_auth_failed("wrong_secret"));
        }
    }
    Ok(Authenticated {
        client_id: client_id.to_owned(),
        introspects_for,
    })
}

/// What `POST /oauth/register` answers (RFC 7591 §3.2.1).
#[derive(Serialize)]
pub struct RegistrationAnswer {
    client_id: String,
    client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    /// Present (0: never) whenever a secret is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    grant_types: Vec<&'static str>,
    response_types: [&'static str; 1],
    token_endpoint_auth_method: &'static str,
}

/// Dynamic client registration. A public client's registration is idempotent: the same metadata
/// gets the same `client_id` back (clients that register on every start do not pile up). A
/// confidential client gets a new id and a secret shown once (only its SHA-256 is stored).
pub async fn register(
    app: &App,
    body: &[u8],
    ip: Option<&str>,
) -> Result<RegistrationAnswer, AppError> {
    limits::check(Limit::ClientRegistration, &limits::client(ip)).await?;
    let reg = rules::registration(body)?;
    let now = platform::now_secs();
    let grant_types = |refresh: bool| {
        if refresh {
            vec!["authorization_code", "refresh_token"]
        } else {
            vec!["authorization_code"]
        }
    };
    let answer = |id: String, issued_at: i64, secret: Option<String>| RegistrationAnswer {
        client_id: id,
        client_id_issued_at: issued_at,
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_name: reg.name.clone(),
        redirect_uris: reg.redirect_uris.clone(),
        grant_types: grant_types(reg.refresh),
        response_types: ["code"],
        token_endpoint_auth_method: reg.auth_method.as_str(),
    };
    let public = !reg.auth_method.has_secret();
    if public {
        if let Some(existing) = store::find_client_by_fingerprint(&app.db, &reg.fingerprint).await?
        {
            return Ok(answer(existing.id, existing.created_at, None));
        }
    }
    let id = RegisteredClientId::generate(&platform::random()?);
    let secret = if public {
        None
    } else {
        Some(format!("ocs_{}", b64url_encode(&platform::random::<32>()?)))
    };
    let secret_hash = secret.as_deref().map(|s| sha256_hex(s.as_bytes()));
    let redirect_uris_json = serde_json::to_string(&reg.redirect_uris)?;
    let insert = store::insert_client(
        &app.db,
        &NewClient {
            id: id.as_str(),
            name: reg.name.as_deref(),
            redirect_uris_json: &redirect_uris_json,
            auth_method: reg.auth_method.as_str(),
            refresh: reg.refresh,
            secret_hash: secret_hash.as_deref(),
            fingerprint: public.then_some(reg.fingerprint.as_str()),
            now,
        },
    )?;
    let redirect_hosts: Vec<String> = reg
        .redirect_uris
        .iter()
        .map(|u| rules::redirect_display(u))
        .collect();
    let written = audit::commit(
        app,
        vec![insert],
        &Audit {
            actor: None,
            action: "oauth.client_registered",
            target_type: "oauth_client",
            target_id: id.as_str(),
            ip,
            detail: Some(
                JsonObject::new()
                    .str("auth_method", reg.auth_method.as_str())
                    .value("redirect_hosts", &redirect_hosts)
                    .finish(),
            ),
        },
        now,
    )
    .await;
    match written {
        Ok(_) => Ok(answer(id.into_string(), now, secret)),
        // The same public registration, concurrently: the other one is stored; answer with it.
        Err(e) if public && e.is_constraint(Constraint::Unique) => {
            let existing = store::find_client_by_fingerprint(&app.db, &reg.fingerprint)
                .await?
                .ok_or(e)?;
            Ok(answer(existing.id, existing.created_at, None))
        }
        Err(e) => Err(e),
    }
}
