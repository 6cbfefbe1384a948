//! The OAuth 2.1 authorization server for MCP clients (MCP authorization, revision 2026-07-28). The
//! person signs in through the same WorkOS flow as everywhere else; this worker then asks for their
//! consent, issues an authorization code, and exchanges it for an access token bound to one MCP
//! server (`aud` = its resource URI, RFC 8707) plus a rotating refresh token.
//!
//! A grant is a session row that names its client, resource and scope (migration 0005), so the
//! rotation, grace window, reuse detection, revocation bound and liveness check of sessions apply to
//! it unchanged. The rules are pure (`domain::oauth`); this module gathers facts and writes.

pub mod authorize;
pub mod clients;
pub mod grants;
pub mod mcp;
pub mod revocation;
pub mod token;

use crate::domain::encoding::{b64url_encode, sha256_hex};
use crate::error::AppError;
use crate::platform;

/// A fresh secret value (an authorization code, a request id): 256 bits, base64url.
fn secret_value() -> Result<String, AppError> {
    Ok(b64url_encode(&platform::random::<32>()?))
}

/// What D1 stores for a secret value of kind `kind` (never the value itself).
fn stored_hash(kind: &str, value: &str) -> String {
    sha256_hex(format!("oauth {kind} v1:{value}").as_bytes())
}
