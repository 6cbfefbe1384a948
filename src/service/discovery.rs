//! What this worker publishes for others to find and verify it: the JWKS of its access-token keys
//! and its OAuth authorization server metadata (RFC 8414). Pure views of the configuration.

use serde::Serialize;

use crate::domain::token::JwkSet;
use crate::service::App;

/// The public keys that verify access tokens: the current, the previous and the next one.
pub fn jwks(app: &App) -> JwkSet {
    app.cfg.access_keys.jwks()
}

/// RFC 8414 §2 metadata.
#[derive(Serialize)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub jwks_uri: String,
}

pub fn authorization_server(app: &App) -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        issuer: app.cfg.issuer.clone(),
        jwks_uri: format!("{}/.well-known/jwks.json", app.cfg.self_origin),
    }
}
