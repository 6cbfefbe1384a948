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

/// No control characters (C0, DEL, C1) and no invisible formatting characters (zero-width ones,
/// bidirectional overrides and isolates, the byte-order mark): what a value shown on a page (a
/// client's name on the consent page) or written to a log must hold, so it reads as it is.
pub(crate) fn is_printable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || is_invisible_format(c))
}

fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::is_printable;

    #[test]
    fn printable_refuses_control_and_invisible_formatting_characters() {
        assert!(is_printable("Claude Desktop — für alle"));
        for bad in [
            "a\u{7}b",
            "Claude\u{200B}",
            "\u{202E}moc.ia",
            "x\u{2066}y",
            "\u{FEFF}name",
            "tab\there",
        ] {
            assert!(!is_printable(bad), "{bad:?}");
        }
    }
}
