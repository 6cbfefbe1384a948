//! The authorization endpoint and the consent step. An authorization request is checked (client,
//! exact redirect URI, PKCE S256, resource, scope), stored for ten minutes under the hash of a random
//! id, and the browser is sent to the consent page, through the WorkOS sign-in first if needed. The
//! person's decision is a form post that names the request and carries a token bound to the request
//! and their session; approving issues a single-use code that lives one minute.
//!
//! Until the client and its redirect URI are known, errors are shown, never redirected; after that
//! they go back to the client (RFC 6749 §4.1.2.1). Every redirect to the client carries `iss`
//! (RFC 9207), and the metadata says so.

use super::clients::{self, Unusable};
use super::{secret_value, stored_hash};
use crate::domain::encoding::{b64url_encode, ct_eq, hmac_sha256};
use crate::domain::ids::SessionId;
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::authorize::{self as rules, callback_url};
use crate::domain::oauth::client::{is_loopback_redirect, redirect_csp_source, redirect_display};
use crate::domain::oauth::params::Params;
use crate::domain::oauth::scope::Scopes;
use crate::domain::permission::Scope;
use crate::error::{AppError, Code};
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::identity::Identity;
use crate::service::App;
use crate::store::oauth::{self as store, GrantTerms, PendingRequest};
use crate::store::users::UserKey;

/// How long a person has between the authorization request and their decision.
pub const REQUEST_TTL_SECS: i64 = 600;
/// How long an authorization code lives (OAuth 2.1 §4.1.2: short, and single use).
pub const CODE_TTL_SECS: i64 = 60;

/// Where the authorization endpoint sends the browser.
pub enum Next {
    /// To the consent page of the stored request (`/oauth/consent?request=…`).
    Consent { path: String },
    /// Back to the client, with an error (the client and redirect URI are verified).
    BackToClient { location: String },
}

/// Handles an authorization request. An `Err` is shown to the person (never redirected).
pub async fn start(app: &App, params: &Params) -> Result<Next, AppError> {
    let client_id = params.required("client_id")?;
    let client = clients::find(app, client_id)
        .await
        .map_err(Unusable::at_authorization)?;
    let redirect = rules::redirect_uri(params, &client)?;
    // From here on, a client that is vouched for hears about what is wrong with its request. Any
    // other one (a metadata document or a registration anyone can make, naming any redirect URI)
    // is shown the error instead: redirecting it without the person's interaction would make
    // this origin an open redirector (RFC 9700 §4.11.2).
    let state = params.get("state");
    let request = match rules::check(params, redirect.clone(), &app.cfg.oauth.resources) {
        Ok(r) => r,
        Err(refusal) if !clients::is_vouched_for(app, &client) => return Err(refusal.into()),
        Err(refusal) => {
            let e = AppError::from(refusal);
            let state = state
                .filter(|s| s.len() <= rules::MAX_STATE_LEN && !s.chars().any(char::is_control));
            return back_to_client(
                app,
                &redirect,
                &[("error", e.code()), ("error_description", &e.description())],
                state,
            )
            .map(|location| Next::BackToClient { location });
        }
    };
    let now = platform::now_secs();
    let id = secret_value()?;
    let terms = GrantTerms {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        redirect_uri: request.redirect_uri,
        redirect_uri_given: i64::from(request.redirect_uri_given),
        code_challenge: request.code_challenge,
        resource: request.resource,
        scope: request.scopes.to_string(),
        refresh_allowed: i64::from(client.refresh),
    };
    crate::store::run(store::insert_request(
        &app.db,
        &stored_hash("request", &id),
        &terms,
        request.state.as_deref(),
        now,
        now + REQUEST_TTL_SECS,
    )?)
    .await?;
    Ok(Next::Consent {
        path: format!("/oauth/consent?request={id}"),
    })
}

fn back_to_client(
    app: &App,
    redirect_uri: &str,
    extra: &[(&str, &str)],
    state: Option<&str>,
) -> Result<String, AppError> {
    callback_url(redirect_uri, extra, state, &app.cfg.issuer)
        .ok_or_else(|| AppError::internal("a registered redirect URI no longer parses"))
}

fn unknown_request() -> AppError {
    Code::InvalidRequest.with(
        "This authorization request is unknown, expired or already answered; start again from the app.",
    )
}

/// A request id as it travels in the consent URL and form: 43 base64url characters.
fn is_request_id(id: &str) -> bool {
    crate::domain::login_flow::is_well_formed_state(id)
}

/// What the consent page shows.
pub struct ConsentView {
    pub request_id: String,
    pub client_name: String,
    pub client_id: String,
    /// Configured, or a metadata document on a trusted host; otherwise the page says unverified.
    pub vouched_for: bool,
    /// Where the code goes: the host of the redirect URI (MCP: shown "clearly").
    pub redirect_host: String,
    /// The redirect URI is on the person's own machine: any program there could be the client.
    pub redirect_is_loopback: bool,
    /// The redirect URI as a CSP source, so the page's form may redirect there.
    pub redirect_csp_source: Option<String>,
    pub resource_name: String,
    pub resource: String,
    pub scopes: Vec<Scope>,
    /// Binds the form to this request and this session.
    pub form_token: String,
}

/// The consent page of a pending request, for the signed-in person `who`.
pub async fn consent(app: &App, who: &Identity, request_id: &str) -> Result<ConsentView, AppError> {
    let session = signed_in_session(who)?;
    let pending = pending(app, request_id).await?;
    let terms = &pending.terms;
    clients::ensure_not_blocked(app, &terms.client_id)?;
    let client = clients::find(app, &terms.client_id).await.ok();
    let resource = app.cfg.oauth.resource(&terms.resource);
    Ok(ConsentView {
        request_id: request_id.to_owned(),
        client_name: terms.client_name.clone(),
        client_id: terms.client_id.clone(),
        vouched_for: client
            .as_ref()
            .is_some_and(|c| clients::is_vouched_for(app, c)),
        redirect_host: redirect_display(&terms.redirect_uri),
        redirect_is_loopback: is_loopback_redirect(&terms.redirect_uri),
        redirect_csp_source: redirect_csp_source(&terms.redirect_uri),
        resource_name: resource.map_or_else(|| terms.resource.clone(), |r| r.name.clone()),
        resource: terms.resource.clone(),
        scopes: Scopes::parse(&terms.scope)
            .map_err(|_| AppError::internal("stored request scope does not parse"))?
            .as_slice()
            .to_vec(),
        form_token: form_token(app, request_id, session),
    })
}

/// Consent needs a person signed in with a session (not an API key, not another client's token).
fn signed_in_session(who: &Identity) -> Result<&SessionId, AppError> {
    match (&who.session, &who.api_key, &who.grant) {
        (Some(s), None, None) => Ok(&s.id),
        _ => {
            Err(Code::Forbidden
                .with("Authorizing an application needs a signed-in browser session."))
        }
    }
}

async fn pending(app: &App, request_id: &str) -> Result<PendingRequest, AppError> {
    if !is_request_id(request_id) {
        return Err(unknown_request());
    }
    let found = store::find_request(&app.db, &stored_hash("request", request_id))
        .await?
        .filter(|p| p.expires_at > platform::now_secs());
    found.ok_or_else(unknown_request)
}

/// HMAC of the request id and the session: a form posted from elsewhere, or by another session, or
/// for another request, does not carry it.
fn form_token(app: &App, request_id: &str, session: &SessionId) -> String {
    b64url_encode(&hmac_sha256(
        app.cfg.flow_secret.expose().as_bytes(),
        format!("oauth consent v1:{request_id}:{session}").as_bytes(),
    ))
}

/// The person's decision on a pending request: where the browser goes next (the client's redirect
/// URI, with a code or with `access_denied`).
pub async fn decide(
    app: &App,
    who: &Identity,
    request_id: &str,
    presented_token: &str,
    approve: bool,
    ip: Option<&str>,
) -> Result<String, AppError> {
    let session = signed_in_session(who)?;
    if !is_request_id(request_id) {
        return Err(unknown_request());
    }
    let expected = form_token(app, request_id, session);
    if !ct_eq(expected.as_bytes(), presented_token.as_bytes()) {
        return Err(Code::Forbidden
            .with("This consent form is not valid for your session; start again from the app.")
            .with_detail("consent_form_token_mismatch"));
    }
    let now = platform::now_secs();
    let pending = store::take_request(&app.db, &stored_hash("request", request_id))
        .await?
        .filter(|p| p.expires_at > now)
        .ok_or_else(unknown_request)?;
    let terms = &pending.terms;
    clients::ensure_not_blocked(app, &terms.client_id)?;
    let state = pending.state.as_deref();
    let actor = Some(UserKey::Id(&who.user_id));
    // Both audit rows name what was asked for.
    let asked = JsonObject::new()
        .str("resource", &terms.resource)
        .str("scope", &terms.scope);
    if !approve {
        audit::commit(
            app,
            vec![],
            &Audit {
                actor,
                action: "oauth.consent_denied",
                target_type: "oauth_client",
                target_id: &terms.client_id,
                ip,
                detail: Some(asked.finish()),
            },
            now,
        )
        .await?;
        return back_to_client(
            app,
            &terms.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The person declined the request."),
            ],
            state,
        );
    }
    let code = secret_value()?;
    audit::commit(
        app,
        vec![store::insert_code(
            &app.db,
            &stored_hash("code", &code),
            terms,
            &who.user_id,
            who.organization_id.as_ref(),
            now,
            now + CODE_TTL_SECS,
        )?],
        &Audit {
            actor,
            action: "oauth.authorized",
            target_type: "oauth_client",
            target_id: &terms.client_id,
            ip,
            detail: Some(
                asked
                    .str("redirect_host", &redirect_display(&terms.redirect_uri))
                    .finish(),
            ),
        },
        now,
    )
    .await?;
    back_to_client(app, &terms.redirect_uri, &[("code", &code)], state)
}
