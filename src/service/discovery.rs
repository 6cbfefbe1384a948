//! What this worker publishes for others to find and verify it: the JWKS of its access-token keys
//! and its OAuth authorization server metadata (RFC 8414, also served as OpenID-style discovery).
//! Pure views of the configuration.

use serde::Serialize;

use crate::domain::oauth::client::AuthMethod;
use crate::domain::oauth::scope::OFFLINE_ACCESS;
use crate::domain::token::JwkSet;
use crate::service::App;

/// The public keys that verify access tokens: the current, the previous and the next one.
pub fn jwks(app: &App) -> JwkSet {
    app.cfg.access_keys.jwks()
}

/// RFC 8414 §2 metadata, with the members the MCP authorization specification (2026-07-28) asks
/// for: PKCE S256, Client ID Metadata Documents, `iss` in authorization responses (RFC 9207 §3).
#[derive(Serialize)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    revocation_endpoint: String,
    introspection_endpoint: String,
    scopes_supported: Vec<String>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 2],
    code_challenge_methods_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    client_id_metadata_document_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

pub fn authorization_server(app: &App) -> AuthorizationServerMetadata {
    let cfg = &app.cfg;
    let at = |path: &str| format!("{}{path}", cfg.self_origin);
    let mut scopes: Vec<String> = Vec::new();
    for s in cfg.oauth.resources.iter().flat_map(|r| r.scopes.iter()) {
        let s = s.to_string();
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    // A client may ask for it (MCP 2026-07-28 §"Refresh tokens"); see domain::oauth::scope.
    scopes.push(OFFLINE_ACCESS.to_owned());
    AuthorizationServerMetadata {
        issuer: cfg.issuer.clone(),
        authorization_endpoint: at("/oauth/authorize"),
        token_endpoint: at("/oauth/token"),
        jwks_uri: at("/.well-known/jwks.json"),
        registration_endpoint: cfg
            .oauth
            .dynamic_registration
            .then(|| at("/oauth/register")),
        revocation_endpoint: at("/oauth/revoke"),
        introspection_endpoint: at("/oauth/introspect"),
        scopes_supported: scopes,
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: AuthMethod::SUPPORTED,
        revocation_endpoint_auth_methods_supported: AuthMethod::SUPPORTED,
        introspection_endpoint_auth_methods_supported: [
            AuthMethod::ClientSecretBasic.as_str(),
            AuthMethod::ClientSecretPost.as_str(),
        ],
        client_id_metadata_document_supported: cfg.oauth.metadata_documents,
        authorization_response_iss_parameter_supported: true,
    }
}
