//! The OAuth 2.1 authorization server's routes (`/oauth/*`): authorization and consent (pages for
//! people), token, revocation, introspection and registration (JSON for programs, RFC 6749 error
//! bodies with `Cache-Control: no-store` and `Pragma: no-cache`), and the connected apps a person
//! has authorized. The endpoints programs call are open to any origin (CORS `*`, no credentials:
//! browser-based MCP clients call them, and none of them reads a cookie).

use worker::{Request, Response};

use super::html::{self, escape};
use super::{
    authenticate, check_same_origin, json, json_text, read_body, redirect, revoked, Call,
    MAX_BODY_BYTES,
};
use crate::domain::json::Object as JsonObject;
use crate::domain::oauth::params::{basic_credentials, Params};
use crate::error::{AppError, Code};
use crate::service::identity::Identity;
use crate::service::limits::{self, Limit};
use crate::service::oauth::authorize::{self, ConsentView, Next};
use crate::service::oauth::clients::{self, Presented};
use crate::service::oauth::{grants, revocation, token};

/// What browsers may send to the endpoints programs call.
const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, MCP-Protocol-Version";

/// CORS for a public endpoint, on its answer whatever it is.
pub fn allow_any_origin(c: &Call) {
    c.add_header("Access-Control-Allow-Origin", "*".to_owned());
    c.add_header(
        "Access-Control-Expose-Headers",
        "WWW-Authenticate".to_owned(),
    );
}

/// The answer to a CORS preflight of a public endpoint.
pub fn preflight(c: &Call, methods: &'static str) -> Result<Response, AppError> {
    allow_any_origin(c);
    c.add_header("Access-Control-Allow-Methods", methods.to_owned());
    c.add_header(
        "Access-Control-Allow-Headers",
        CORS_ALLOW_HEADERS.to_owned(),
    );
    c.add_header("Access-Control-Max-Age", "86400".to_owned());
    Ok(Response::builder().with_status(204).empty())
}

/// Token-endpoint-style answers: never cached (RFC 6749 §5.1), open to any origin.
fn no_store(c: &Call) {
    allow_any_origin(c);
    c.add_header("Pragma", "no-cache".to_owned());
}

/// `GET /oauth/authorize`.
pub async fn authorize(c: &Call) -> Result<Response, AppError> {
    limits::check(Limit::SignIn, &limits::client(c.ip.as_deref())).await?;
    let params = Params::parse(c.url.query_pairs())?;
    match authorize::start(&c.app, &params).await? {
        Next::Consent { path } => redirect(&path),
        Next::BackToClient { location } => redirect(&location),
    }
}

/// The signed-in person, or where to send the browser to sign in first (then back to `path`).
async fn person(
    req: &Request,
    c: &Call,
    path: &str,
) -> Result<Result<Identity, Response>, AppError> {
    match authenticate(req, c).await {
        Ok(who) => Ok(Ok(who)),
        Err(e) if e.status() == 401 => {
            let login = format!(
                "/auth/authorize?return_to={}",
                String::from(js_sys::encode_uri_component(path))
            );
            Ok(Err(redirect(&login)?))
        }
        Err(e) => Err(e),
    }
}

/// `GET /oauth/consent?request=…`: the consent page, after sign-in.
pub async fn consent_page(req: &Request, c: &Call) -> Result<Response, AppError> {
    let q = c.query()?;
    let request_id = q.get("request").map(String::as_str).unwrap_or_default();
    let path = format!("/oauth/consent?request={request_id}");
    let who = match person(req, c, &path).await? {
        Ok(who) => who,
        Err(to_sign_in) => return Ok(to_sign_in),
    };
    let view = authorize::consent(&c.app, &who, request_id).await?;
    let targets: Vec<String> = view.redirect_csp_source.iter().cloned().collect();
    html::page_with_form_targets(
        &c.app.cfg,
        200,
        "Authorize an application",
        &consent_body(&view, &who.email),
        &targets,
    )
}

fn consent_body(v: &ConsentView, email: &str) -> String {
    let unverified = if v.vouched_for {
        String::new()
    } else {
        format!(
            "<p class=\"warning\" id=\"unverified\">This application is not verified by this service. \
             It says its name is <strong>{name}</strong>; it is identified by <code>{id}</code>. \
             Only continue if you started this from an application you trust.</p>",
            name = escape(&v.client_name),
            id = escape(&v.client_id),
        )
    };
    let loopback = if v.redirect_is_loopback {
        "<p class=\"warning\" id=\"loopback\">The authorization will be handed to a program on \
         <strong>this computer</strong> (a local address). Any program running here could be it: \
         continue only if you just started the sign-in from an application on this computer.</p>"
    } else {
        ""
    };
    let scopes: String = v
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(&s.to_string())))
        .collect();
    format!(
        "<h1>Authorize {name}?</h1>\
         <p><strong>{name}</strong> wants to act as <strong>{email}</strong> on <strong>{resource_name}</strong> \
         (<code>{resource}</code>), with these permissions:</p><ul id=\"scopes\">{scopes}</ul>\
         <p>If you allow it, you will be sent to <strong id=\"redirect-host\">{host}</strong>.</p>\
         {unverified}{loopback}\
         <form method=\"post\" action=\"/oauth/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
         <div class=\"actions\"><button id=\"approve\" type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
         <button id=\"deny\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>\
         <p class=\"muted\">You can revoke this later under connected apps (<code>GET /oauth/grants</code>).</p>",
        name = escape(&v.client_name),
        email = escape(email),
        resource_name = escape(&v.resource_name),
        resource = escape(&v.resource),
        host = escape(&v.redirect_host),
        request = escape(&v.request_id),
        token = escape(&v.form_token),
    )
}

/// `POST /oauth/consent`: the person's decision (a same-origin form post).
pub async fn consent_decision(req: &Request, c: &Call) -> Result<Response, AppError> {
    check_same_origin(req, c)?;
    let body = read_body(req, MAX_BODY_BYTES).await?;
    let form = Params::from_urlencoded(&body)?;
    let who = authenticate(req, c).await?;
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(AppError::invalid_field(
                "decision",
                "must be `approve` or `deny`",
            ))
        }
    };
    let location = authorize::decide(
        &c.app,
        &who,
        form.get("request").unwrap_or_default(),
        form.get("form_token").unwrap_or_default(),
        approve,
        c.ip.as_deref(),
    )
    .await?;
    redirect(&location)
}

/// The form of a token-endpoint-style request (`application/x-www-form-urlencoded`, RFC 6749 §3.2).
async fn form(req: &Request) -> Result<Params, AppError> {
    let is_form = req.headers().get("content-type")?.is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(
            Code::InvalidRequest.with("The body must be `application/x-www-form-urlencoded`.")
        );
    }
    Ok(Params::from_urlencoded(
        &read_body(req, MAX_BODY_BYTES).await?,
    )?)
}

/// How the client authenticates (RFC 6749 §2.3): Basic, or the form's `client_secret`, or only its
/// `client_id`. Using two methods at once is refused (§2.3.1).
fn presented(req: &Request, form: &Params) -> Result<Presented, AppError> {
    let header = req.headers().get("authorization")?;
    let basic = header.as_deref().map(basic_credentials);
    match basic {
        Some(Some(creds)) => {
            let (client_id, secret) = creds?;
            if form.get("client_secret").is_some() {
                return Err(
                    Code::InvalidRequest.with("Use one client authentication method, not two.")
                );
            }
            if form.get("client_id").is_some_and(|id| id != client_id) {
                return Err(Code::InvalidClient
                    .err()
                    .with_detail("basic_and_form_client_id_differ"));
            }
            Ok(Presented::Basic { client_id, secret })
        }
        Some(None) => Err(Code::InvalidRequest.with(
            "The Authorization header of this endpoint must use the Basic scheme, or be absent.",
        )),
        None => {
            let client_id = form
                .get("client_id")
                .ok_or_else(|| {
                    Code::InvalidClient.with("Client authentication is required (`client_id`).")
                })?
                .to_owned();
            Ok(match form.get("client_secret") {
                Some(secret) => Presented::Post {
                    client_id,
                    secret: secret.to_owned(),
                },
                None => Presented::Public { client_id },
            })
        }
    }
}

/// RFC 6749 §5.2: a client that tried Basic authentication and failed is challenged with Basic.
fn challenge_basic<T>(
    c: &Call,
    req: &Request,
    outcome: Result<T, AppError>,
) -> Result<T, AppError> {
    if let Err(e) = &outcome {
        let tried_basic = req
            .headers()
            .get("authorization")
            .ok()
            .flatten()
            .is_some_and(|h| basic_credentials(&h).is_some());
        if tried_basic && e.code() == Code::InvalidClient.as_str() {
            c.add_header("WWW-Authenticate", "Basic realm=\"auth\"".to_owned());
        }
    }
    outcome
}

/// `POST /oauth/token`.
pub async fn token(req: &Request, c: &Call) -> Result<Response, AppError> {
    no_store(c);
    let outcome = async {
        let form = form(req).await?;
        let presented = presented(req, &form)?;
        token::exchange(&c.app, &form, &presented, &c.client()).await
    }
    .await;
    json(200, &challenge_basic(c, req, outcome)?)
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was live.
pub async fn revoke(req: &Request, c: &Call) -> Result<Response, AppError> {
    no_store(c);
    let outcome = async {
        let form = form(req).await?;
        let presented = presented(req, &form)?;
        revocation::revoke(&c.app, &form, &presented, &c.client()).await
    }
    .await;
    challenge_basic(c, req, outcome)?;
    Ok(Response::builder().with_status(200).empty())
}

/// `POST /oauth/introspect` (RFC 7662), for resource servers' own clients.
pub async fn introspect(req: &Request, c: &Call) -> Result<Response, AppError> {
    no_store(c);
    let outcome = async {
        let form = form(req).await?;
        let presented = presented(req, &form)?;
        revocation::introspect(&c.app, &form, &presented).await
    }
    .await;
    json(200, &challenge_basic(c, req, outcome)?)
}

/// `POST /oauth/register` (RFC 7591), only when `OAUTH_DYNAMIC_REGISTRATION=on`.
pub async fn register(req: &Request, c: &Call) -> Result<Response, AppError> {
    if !c.app.cfg.oauth.dynamic_registration {
        return Err(Code::NotFound.err());
    }
    no_store(c);
    let body = read_body(req, MAX_BODY_BYTES).await?;
    let answer = clients::register(&c.app, &body, c.ip.as_deref()).await?;
    json(201, &answer)
}

/// `GET /oauth/grants`: the caller's connected apps.
pub async fn list_grants(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    let list = grants::list(&c.app, &who).await?;
    json_text(200, JsonObject::new().value("grants", &list).finish())
}

/// `DELETE /oauth/grants/:id`: revoke one connected app.
pub async fn revoke_grant(req: &Request, c: &Call, id: &str) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    if !grants::revoke(&c.app, &who, id, &c.client()).await? {
        return Err(Code::NotFound.with("You have no connected app with this id."));
    }
    revoked(id)
}

/// `DELETE /oauth/grants?client_id=…`: an administrator revokes every grant of one client.
pub async fn revoke_client_grants(req: &Request, c: &Call) -> Result<Response, AppError> {
    let who = authenticate(req, c).await?;
    let q = c.query()?;
    let client_id = q
        .get("client_id")
        .ok_or_else(|| AppError::invalid_field("client_id", "is required"))?;
    let client_id = crate::input::text("client_id", client_id, 2048)?;
    let revoked = grants::revoke_client(&c.app, &who, &client_id, &c.client()).await?;
    json_text(
        200,
        JsonObject::new()
            .value("revoked", &revoked)
            .str("clientId", &client_id)
            .finish(),
    )
}
