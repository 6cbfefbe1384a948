//! The rules of this worker's OAuth 2.1 authorization server for MCP clients (MCP authorization,
//! revision 2026-07-28, and the earlier revisions it keeps working with): request parameters, client
//! metadata and redirect URIs, resource indicators (RFC 8707), scopes, authorization requests and
//! client authentication. Plain data in, one check, `Result` out: no I/O, no clock, no RNG.
//!
//! Every refusal is a [`Refusal`]: which OAuth error it is and a sentence that names the parameter.
//! The worker maps each [`Kind`] to its wire code and status in one place (src/error.rs).

pub mod authorize;
pub mod client;
pub mod params;
pub mod resource;
pub mod scope;

use std::fmt;

/// The OAuth errors this server answers with (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2,
/// RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    InvalidClientMetadata,
    InvalidRedirectUri,
}

/// A refused OAuth request: the error and a sentence for the client (never a secret or token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: Kind,
    pub description: String,
}

impl Refusal {
    pub fn new(kind: Kind, description: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            description: description.into(),
        }
    }

    /// `invalid_request` naming the parameter: "`name` problem."
    pub fn param(name: &str, problem: &str) -> Refusal {
        Refusal::new(Kind::InvalidRequest, format!("`{name}` {problem}."))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.description)
    }
}

/// No control characters (C0, DEL, C1): what a value that is shown on a page or written to a log
/// must hold.
pub(crate) fn is_printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}
