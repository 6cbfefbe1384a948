//! What an MCP server (a resource server, RFC 9728) asks this worker over the binding: "may the
//! holder of this token make this request to me?", answered with everything its HTTP answer needs
//! (401 `invalid_token`, or 403 `insufficient_scope` naming the scope the operation needs, in one
//! challenge), and the protected resource metadata it serves, so that the metadata and the token
//! rules come from one configuration.

use serde::Serialize;

use crate::domain::oauth::resource::Resource;
use crate::error::AppError;
use crate::service::identity::{self, Credential, Identity, IdentityUserView, Via};
use crate::service::permissions::{self, Question};
use crate::service::App;

/// One MCP request to decide on.
pub struct McpRequest<'a> {
    pub token: &'a str,
    /// The MCP server's own resource URI (its `aud`).
    pub resource: &'a str,
    /// The JSON-RPC method (`Mcp-Method`, or the body's `method`).
    pub method: Option<&'a str>,
    /// For `tools/call`: the tool (`Mcp-Name`, or `params.name`).
    pub tool: Option<&'a str>,
}

/// The answer, shaped for the MCP server's response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct McpAnswer {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "user_view")]
    user: Option<Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// Granted (allowed) scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// Refused: the HTTP status to answer with (401 or 403), the OAuth error and a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
    /// `insufficient_scope`: every scope this operation needs (the challenge's `scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    required_scope: Option<String>,
}

fn refused(status: u16, error: &'static str, description: impl Into<String>) -> McpAnswer {
    McpAnswer {
        allowed: false,
        user: None,
        client_id: None,
        scope: None,
        status: Some(status),
        error: Some(error),
        error_description: Some(description.into()),
        required_scope: None,
    }
}

fn configured<'a>(app: &'a App, resource: &str) -> Result<&'a Resource, AppError> {
    app.cfg.oauth.resource(resource).ok_or_else(|| {
        AppError::invalid_field("resource", "is not one of this worker's OAUTH_RESOURCES")
    })
}

/// The decision. Only an access token this worker issued to an OAuth client for exactly this
/// resource is accepted (MCP: servers "MUST NOT accept or transit any other tokens"): not an API key,
/// not a first-party token. A tool call needs the tool's permission in the token's scope (else
/// `insufficient_scope`: asking the person again can help) and held by the person (else
/// `forbidden`: it cannot).
pub async fn check(app: &App, q: &McpRequest<'_>) -> Result<McpAnswer, AppError> {
    let resource = configured(app, q.resource)?;
    let who = match identity::authenticate(
        app,
        Credential::bearer(q.token),
        Via::Binding,
        Some(&resource.uri),
    )
    .await
    {
        Ok(who) => who,
        Err(e) if e.status() < 500 => return Ok(refused(401, "invalid_token", e.description())),
        Err(e) => return Err(e),
    };
    let Some(grant) = &who.grant else {
        return Ok(refused(
            401,
            "invalid_token",
            "The token was not issued to an OAuth client.",
        ));
    };
    if q.method == Some("tools/call") {
        let Some(tool) = q.tool else {
            return Err(AppError::invalid_field(
                "tool",
                "is required for `tools/call`",
            ));
        };
        let Some(needed) = resource.tool_permission(tool) else {
            return Ok(refused(403, "forbidden", "This tool is not available."));
        };
        if !grant.scope.allows(needed) {
            let mut answer = refused(
                403,
                "insufficient_scope",
                format!("Calling this tool needs the `{needed}` scope."),
            );
            answer.required_scope = Some(needed.to_string());
            return Ok(answer);
        }
        let question = Question {
            scope: needed.clone(),
            organization_id: who.organization_id.clone(),
        };
        if !permissions::caller_may(app, &who, &question).await? {
            return Ok(refused(
                403,
                "forbidden",
                format!("You do not have the `{needed}` permission."),
            ));
        }
    }
    let client_id = grant.client_id.clone();
    let scope = grant.scope.to_string();
    Ok(McpAnswer {
        allowed: true,
        user: Some(who),
        client_id: Some(client_id),
        scope: Some(scope),
        status: None,
        error: None,
        error_description: None,
        required_scope: None,
    })
}

/// The caller, as `validateToken` shows one.
fn user_view<S: serde::Serializer>(who: &Option<Identity>, s: S) -> Result<S::Ok, S::Error> {
    who.as_ref().map(IdentityUserView::from).serialize(s)
}

/// RFC 9728 §2 protected resource metadata for one configured resource. `scopes_supported` never
/// lists `offline_access` (MCP 2026-07-28: refresh tokens are not a resource requirement).
#[derive(Serialize)]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: [String; 1],
    scopes_supported: Vec<String>,
    bearer_methods_supported: [&'static str; 1],
    resource_name: String,
}

pub fn resource_metadata(app: &App, resource: &str) -> Result<ResourceMetadata, AppError> {
    let r = configured(app, resource)?;
    Ok(ResourceMetadata {
        resource: r.uri.clone(),
        authorization_servers: [app.cfg.issuer.clone()],
        scopes_supported: r.scopes.iter().map(ToString::to_string).collect(),
        bearer_methods_supported: ["header"],
        resource_name: r.name.clone(),
    })
}
