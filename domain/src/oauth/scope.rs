//! OAuth scopes (RFC 6749 §3.3): space-separated `resource:action` permission names, so that a
//! token's scope is a ceiling on the same permission model API keys use, and a broader scope
//! (`notes:*`) implies the narrower ones it covers (MCP 2026-07-28: servers "MUST account for scope
//! hierarchies"). `offline_access` is accepted where the MCP specification lets clients ask for it
//! and means nothing beyond that: refresh tokens go to the clients registered for them.

use super::{Kind, Refusal};
use crate::permission::{covers, Scope};

pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scopes of a request or a grant, in the order first given, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses a `scope` value: tokens separated by single spaces (`scope-token = 1*NQCHAR`), each a
    /// permission name or `offline_access` (dropped).
    pub fn parse(raw: &str) -> Result<Scopes, Refusal> {
        let mut out: Vec<Scope> = Vec::new();
        for token in raw.split(' ') {
            if token == OFFLINE_ACCESS {
                continue;
            }
            let scope = Scope::parse(token).map_err(|_| {
                Refusal::new(
                    Kind::InvalidScope,
                    format!(
                        "`{}` is not a scope this server knows.",
                        token.chars().take(64).collect::<String>()
                    ),
                )
            })?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Ok(Scopes(out))
    }

    pub fn from_vec(scopes: Vec<Scope>) -> Scopes {
        let mut out: Vec<Scope> = Vec::new();
        for s in scopes {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Scopes(out)
    }

    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every one of these is within one of `broader` (a request within what is offered, a
    /// downscoped refresh within its grant).
    pub fn within(&self, broader: &[Scope]) -> bool {
        self.0.iter().all(|s| broader.iter().any(|b| covers(b, s)))
    }

    /// Those of these that `broader` covers (a token request may narrow a grant, never widen it).
    pub fn intersect(&self, broader: &[Scope]) -> Scopes {
        Scopes(
            self.0
                .iter()
                .filter(|s| broader.iter().any(|b| covers(b, s)))
                .cloned()
                .collect(),
        )
    }

    /// Does one of these cover `needed`?
    pub fn allows(&self, needed: &Scope) -> bool {
        self.0.iter().any(|s| covers(s, needed))
    }
}

impl std::fmt::Display for Scopes {
    /// The wire form: names separated by single spaces.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// The scopes an authorization request is granted: those asked for, each within what the resource
/// offers (`invalid_scope` otherwise), or everything it offers when `scope` is omitted. A `scope`
/// that names nothing of the resource (only `offline_access`) is `invalid_scope`.
pub fn requested(raw: Option<&str>, offered: &[Scope]) -> Result<Scopes, Refusal> {
    let Some(raw) = raw else {
        return Ok(Scopes::from_vec(offered.to_vec()));
    };
    let asked = Scopes::parse(raw)?;
    if let Some(outside) = asked
        .0
        .iter()
        .find(|s| !offered.iter().any(|o| covers(o, s)))
    {
        return Err(Refusal::new(
            Kind::InvalidScope,
            format!("The scope `{outside}` is not offered by this resource."),
        ));
    }
    if asked.is_empty() {
        // Only `offline_access`: asking for nothing of the resource is not asking for all of it.
        return Err(Refusal::new(
            Kind::InvalidScope,
            "The request asks for no scope of this resource (only `offline_access`).",
        ));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scope {
        Scope::parse(v).unwrap()
    }

    #[test]
    fn scopes_parse_deduplicate_and_drop_offline_access() {
        let sc = Scopes::parse("notes:read offline_access notes:write notes:read").unwrap();
        assert_eq!(sc.to_string(), "notes:read notes:write");
        for bad in [
            "notes",
            "notes:read  notes:write",
            "Notes:read",
            "notes:read\tx:y",
            "",
        ] {
            assert_eq!(
                Scopes::parse(bad).map_err(|e| e.kind),
                Err(Kind::InvalidScope),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_request_gets_what_it_asks_within_the_offer_or_the_whole_offer() {
        let offered = [s("notes:read"), s("notes:write"), s("files:*")];
        assert_eq!(
            requested(Some("notes:read"), &offered).unwrap().to_string(),
            "notes:read"
        );
        assert_eq!(
            requested(Some("files:read"), &offered).unwrap().to_string(),
            "files:read"
        );
        assert_eq!(
            requested(None, &offered).unwrap().to_string(),
            "notes:read notes:write files:*"
        );
        assert_eq!(
            requested(Some("offline_access"), &offered).map_err(|e| e.kind),
            Err(Kind::InvalidScope)
        );
        assert_eq!(
            requested(Some("notes:read offline_access"), &offered)
                .unwrap()
                .to_string(),
            "notes:read"
        );
        assert_eq!(
            requested(Some("notes:*"), &offered).map_err(|e| e.kind),
            Err(Kind::InvalidScope)
        );
        assert_eq!(
            requested(Some("admin:all"), &offered).map_err(|e| e.kind),
            Err(Kind::InvalidScope)
        );
    }

    #[test]
    fn broader_scopes_imply_narrower_ones_and_never_the_reverse() {
        let granted = Scopes::parse("notes:* files:read").unwrap();
        assert!(granted.allows(&s("notes:write")));
        assert!(!granted.allows(&s("files:write")));
        assert!(Scopes::parse("notes:read")
            .unwrap()
            .within(granted.as_slice()));
        assert!(!Scopes::parse("files:*").unwrap().within(granted.as_slice()));
        assert_eq!(
            Scopes::parse("notes:read admin:all")
                .unwrap()
                .intersect(granted.as_slice())
                .to_string(),
            "notes:read"
        );
    }
}
