//! Signing in through WorkOS AuthKit: starting a flow (state, PKCE S256, return target) and
//! completing it (code exchange, user upsert, organization and membership, session and tokens).
//!
//! The PKCE verifier is derived with a server secret (HMAC) from the flow's `state` and its browser
//! binding (a second random value kept only in an httpOnly cookie), so it is never stored and never
//! appears in a URL or cookie (RFC 7636 §4.1 only asks that it be unguessable). Someone who steals the
//! callback URL has the code and the state but not the binding: they can neither find the flow nor
//! produce the verifier. A failed
//! exchange writes nothing: the user, session and audit rows go to D1 in one batch after WorkOS
//! has answered.

use crate::domain::ids::OrganizationId;
use crate::domain::json::Object as JsonObject;
use crate::domain::login_flow::{self, FLOW_TTL_SECS};
use crate::domain::return_to::ReturnTarget;
use crate::domain::workos::{self as wos, AuthenticateResponse, AuthorizeParams};
use crate::domain::{pkce, time};
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::sessions::{self, Subject, TokenPair};
use crate::service::users as user_rules;
use crate::service::{App, Client};
use crate::store::users::{self, User, UserKey};
use crate::store::{flows, orgs};
use crate::workos::{Failure, WorkOs};

/// Options the caller may pass through to AuthKit.
#[derive(Default)]
pub struct AuthorizeOptions {
    pub provider: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub screen_hint: Option<String>,
    pub login_hint: Option<String>,
}

pub struct Started {
    pub authorize_url: String,
    pub state: String,
    /// Goes into the flow cookie, never into a URL.
    pub binding: String,
}

/// Starts a browser sign-in: records a single-use flow for `return_to` and builds the WorkOS URL.
pub async fn start(
    app: &App,
    return_to: &ReturnTarget,
    opts: &AuthorizeOptions,
) -> Result<Started, AppError> {
    let now = platform::now_secs();
    let state = login_flow::new_state(&platform::random::<32>()?);
    let binding = login_flow::new_state(&platform::random::<32>()?);
    flows::insert(
        &app.db,
        &login_flow::flow_key(&state, &binding),
        return_to.as_str(),
        now,
        now + FLOW_TTL_SECS,
    )
    .await?;
    let seed = login_flow::verifier_seed(&state, &binding);
    let authorize_url = authorize_url(app, &app.cfg.workos_redirect_uri, &state, &seed, opts);
    Ok(Started {
        authorize_url,
        state,
        binding,
    })
}

/// The WorkOS authorization URL for `state`, with the S256 challenge of the verifier derived from
/// `pkce_seed`.
pub fn authorize_url(
    app: &App,
    redirect_uri: &str,
    state: &str,
    pkce_seed: &str,
    opts: &AuthorizeOptions,
) -> String {
    let challenge = pkce::challenge_s256(&verifier_for(app, pkce_seed));
    wos::authorize_url(
        &app.cfg.workos_api_base,
        &AuthorizeParams {
            client_id: &app.cfg.workos_client_id,
            redirect_uri,
            state,
            code_challenge: &challenge,
            provider: opts.provider.as_deref(),
            organization_id: opts.organization_id.as_ref().map(OrganizationId::as_str),
            connection_id: None,
            screen_hint: opts.screen_hint.as_deref(),
            login_hint: opts.login_hint.as_deref(),
        },
    )
}

/// The verifier whose challenge was sent for `pkce_seed`.
pub fn verifier_for(app: &App, pkce_seed: &str) -> String {
    pkce::derive_verifier(app.cfg.flow_secret.expose().as_bytes(), pkce_seed)
}

pub fn invalid_state(why: &str) -> AppError {
    Code::InvalidState.err().with_detail(why.to_owned())
}

/// Consumes the flow of `state` + `binding`: `Ok(return target)` once; an unknown (never started,
/// other browser, stolen state), reused or expired flow is `invalid_state`.
pub async fn consume_flow(app: &App, state: &str, binding: &str) -> Result<String, AppError> {
    let flow = flows::consume(&app.db, &login_flow::flow_key(state, binding))
        .await?
        .ok_or_else(|| invalid_state("unknown_or_used_flow"))?;
    if flow.expires_at <= platform::now_secs() {
        return Err(invalid_state("expired_state"));
    }
    Ok(flow.return_to)
}

pub struct SignedIn {
    pub pair: TokenPair,
    pub user: User,
}

/// Exchanges `code` at WorkOS and signs the person in. Nothing is written unless WorkOS succeeds.
pub async fn complete(
    app: &App,
    code: &str,
    verifier: Option<&str>,
    client: &Client,
) -> Result<SignedIn, AppError> {
    let workos = WorkOs::new(&app.cfg);
    let auth = workos
        .authenticate_code(
            code,
            verifier,
            client.ip.as_deref(),
            client.user_agent.as_deref(),
        )
        .await
        .map_err(exchange_refused)?;
    let org_id = auth
        .organization_id
        .as_deref()
        .map(OrganizationId::parse)
        .transpose()
        .map_err(|_| AppError::internal("WorkOS answered with a malformed organization id"))?;
    // Decided before the organization reads, so a deactivated account is refused without more
    // WorkOS calls. (The decision may be stale by the time the batch runs; the batch's own guards
    // settle races, see `user_rules::from_workos`.)
    let user = user_write(app, &auth, client).await?;
    let org = match org_id {
        Some(org_id) => Some(organization_facts(&workos, &auth, org_id).await),
        None => None,
    };
    write_sign_in(app, &auth, user, org.as_ref(), client).await
}

/// The statements that write the signed-in person's user row: inserted with a fresh id, updated, or
/// an imported row linked to them (see [`user_rules::from_workos`]). A deactivated account, or a
/// deactivated imported one this would link, signs in nowhere: nothing is written.
async fn user_write(
    app: &App,
    auth: &AuthenticateResponse,
    client: &Client,
) -> Result<user_rules::WorkosUserWrite, AppError> {
    let now = platform::now_secs();
    let updated_ms = auth
        .user
        .updated_at
        .as_deref()
        .and_then(time::parse_rfc3339_ms);
    let write = user_rules::from_workos(
        app,
        &auth.user,
        updated_ms,
        Some(now),
        &user_rules::Origin {
            ip: client.ip.as_deref(),
            detail: JsonObject::new().str("via", "sign_in"),
        },
        now,
    )
    .await?;
    if let Some(stored) = &write.stored {
        user_rules::ensure_active(stored.status)?;
    }
    Ok(write)
}

/// WorkOS refused the code exchange: an incomplete request (typically no PKCE verifier because the
/// caller did not pass the `state` the authorization URL was made with) is the caller's to fix, not
/// a WorkOS outage.
fn exchange_refused(f: Failure) -> AppError {
    if f.is_invalid_request() {
        let detail = f.describe();
        return Code::InvalidRequest
            .with(
                "WorkOS refused the code exchange as incomplete; pass the same `state` the \
                 authorization URL was made with (it carries the PKCE verifier).",
            )
            .with_detail(detail);
    }
    f.into()
}

struct OrgFacts {
    id: OrganizationId,
    name: String,
    membership: Option<wos::Membership>,
}

async fn organization_facts(
    workos: &WorkOs<'_>,
    auth: &AuthenticateResponse,
    org_id: OrganizationId,
) -> OrgFacts {
    let name = match workos.get_organization(org_id.as_str()).await {
        Ok(o) => o.name,
        Err(e) => {
            log::warn("sign-in: organization read failed")
                .str("organization_id", org_id.as_str())
                .str("error", &e.describe())
                .emit();
            org_id.to_string()
        }
    };
    let membership = match workos
        .list_memberships(&auth.user.id, Some(org_id.as_str()))
        .await
    {
        Ok(list) => list
            .data
            .into_iter()
            .find(|m| m.organization_id == org_id.as_str()),
        Err(e) => {
            log::warn("sign-in: membership read failed")
                .str("organization_id", org_id.as_str())
                .str("error", &e.describe())
                .emit();
            None
        }
    };
    OrgFacts {
        id: org_id,
        name,
        membership,
    }
}

/// Writes the sign-in as one batch: the user (`user`, from [`user_write`]), the organization and
/// membership, the session and its audit row. Every dependent row names its user by WorkOS id
/// inside the statement, so concurrent first sign-ins of one person (two tabs, a double click, a
/// webhook racing the callback) all attach to the one row that is stored, and of racing links only
/// the first changes anything. The tokens are signed after the batch, from the stored row.
async fn write_sign_in(
    app: &App,
    auth: &AuthenticateResponse,
    user: user_rules::WorkosUserWrite,
    org: Option<&OrgFacts>,
    client: &Client,
) -> Result<SignedIn, AppError> {
    let now = platform::now_secs();
    let owner = UserKey::Workos(&auth.user.id);
    let mut stmts = user.statements;
    if let Some(o) = org {
        stmts.push(orgs::ensure_org(&app.db, &o.id, &o.name, now)?);
        // A status outside WorkOS's documented three is not stored (sync never blocks sign-in).
        if let Some((m, status)) = o
            .membership
            .as_ref()
            .and_then(|m| Some((m, m.known_status()?)))
        {
            stmts.push(orgs::upsert_membership(
                &app.db,
                &orgs::MembershipWrite {
                    id: &m.id,
                    user: owner,
                    organization_id: &o.id,
                    role: m.role_slug(),
                    status,
                    updated_ms: m.updated_at.as_deref().and_then(time::parse_rfc3339_ms),
                    now,
                },
            )?);
        }
    }
    let organization_id = org.map(|o| &o.id);
    let workos_sid = wos::peek_session_id(&auth.access_token);
    let (session_stmt, opened) = sessions::open(
        app,
        owner,
        organization_id,
        client,
        workos_sid.as_deref(),
        now,
    )?;
    stmts.push(session_stmt);
    audit::commit(
        app,
        stmts,
        &Audit {
            actor: Some(owner),
            action: "session.created",
            target_type: "session",
            target_id: opened.id.as_str(),
            ip: client.ip.as_deref(),
            detail: Some(
                JsonObject::new()
                    .str("via", "workos")
                    .opt_str("method", auth.authentication_method.as_deref())
                    .opt_str("organization_id", organization_id.map(AsRef::as_ref))
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    let user = users::find_by_workos_id(&app.db, &auth.user.id)
        .await?
        .ok_or_else(|| AppError::internal("user row missing right after sign-in"))?;
    let pair = opened.tokens(
        app,
        &Subject {
            user_id: &user.id,
            email: &user.email,
            role: &user.role,
            organization_id,
        },
    )?;
    Ok(SignedIn { pair, user })
}
