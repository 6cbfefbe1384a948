//! The protected resources (MCP servers) this authorization server issues tokens for, from
//! `OAUTH_RESOURCES`: each has one canonical URI (the `aud` of its tokens, RFC 8707), the scopes a
//! client may ask for, and which `resource:action` permission each of its tools needs.
//!
//! A requested `resource` matches a configured one when they are equal after the normalisation the
//! MCP specification asks servers to be robust to (an uppercase scheme or host; RFC 3986 §6.2.2.1):
//! nothing else is forgiven, so `https://mcp.example.com/mcp/` is another resource than
//! `https://mcp.example.com/mcp`.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::is_printable;
use crate::json::{Record, Shape};
use crate::permission::Scope;

pub const MAX_RESOURCES: usize = 32;
pub const MAX_TOOLS: usize = 256;

/// One protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The canonical URI, as tokens carry it in `aud` and its metadata names it.
    pub uri: String,
    /// Shown on the consent page and in the resource's metadata (`resource_name`).
    pub name: String,
    /// What a client may ask for (its metadata's `scopes_supported`).
    pub scopes: Vec<Scope>,
    /// Tool name → the permission calling it needs.
    pub tools: BTreeMap<String, Scope>,
}

impl Resource {
    /// The permission `tools/call` of `tool` needs, if the tool is known.
    pub fn tool_permission(&self, tool: &str) -> Option<&Scope> {
        self.tools.get(tool)
    }
}

/// A resource URI in the form compared: absolute `http(s)`, no fragment, no user info, scheme and
/// host lowercased and the default port dropped (what URL parsing does); the path, query and any
/// trailing slash exactly as given.
pub fn normalize(uri: &str) -> Result<String, &'static str> {
    if uri.len() > 2048 || !is_printable(uri) || uri.contains(['\\', ' ']) {
        return Err("is not a valid URI");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    let url = Url::parse(uri).map_err(|_| "is not an absolute URI")?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err("must be an http(s) URI");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    let mut out = url.to_string();
    // URL serialisation adds `/` to an empty path; a resource given without one keeps none
    // (`https://mcp.example.com` is how the MCP specification writes such a resource).
    let given_path_empty = uri
        .split_once("://")
        .map(|(_, rest)| !rest.contains('/'))
        .unwrap_or(false);
    if given_path_empty && url.path() == "/" && url.query().is_none() {
        out.pop();
    }
    Ok(out)
}

struct Configured {
    resource: String,
    name: String,
    scopes: Vec<String>,
    tools: Vec<(String, String)>,
}

const CONFIGURED_KEYS: [&str; 4] = ["resource", "name", "scopes", "tools"];

impl Configured {
    /// One entry: `tools` is optional; any other key is refused (a typo must not pass silently).
    fn from_json(v: &Value) -> Result<Configured, Shape> {
        let r = Record::of(v)?;
        r.only(&CONFIGURED_KEYS)?;
        let text = |v: &Value| v.as_str().map(str::to_owned).ok_or(Shape("scopes"));
        // Optional, but an object when given (`null` included in "given", as serde had it).
        let tools = if r.has("tools") {
            let t = r.opt_record("tools")?.ok_or(Shape("tools"))?;
            t.strings().ok_or(Shape("tools"))?
        } else {
            Vec::new()
        };
        Ok(Configured {
            resource: r.str("resource")?,
            name: r.str("name")?,
            scopes: r.list("scopes", text)?,
            tools,
        })
    }
}

/// Parses `OAUTH_RESOURCES`: a JSON array of `{resource, name, scopes, tools}`. Every tool's
/// permission must be within one of the resource's scopes (otherwise no token could ever call it).
/// `production` refuses plain-http resources. `own_audience` (this worker's `JWT_AUDIENCE`) may not
/// be listed: a client must never obtain a token for this worker's own API.
pub fn parse_resources(
    json: &str,
    production: bool,
    own_audience: &str,
) -> Result<Vec<Resource>, String> {
    let list = crate::json::parse_setting_list(json, "resources", Configured::from_json)?;
    if list.len() > MAX_RESOURCES {
        return Err(format!("lists more than {MAX_RESOURCES} resources"));
    }
    let mut out: Vec<Resource> = Vec::new();
    for c in list {
        let shown: String = c.resource.chars().take(80).collect();
        let refuse = |why: &str| format!("resource `{shown}` {why}");
        let uri = normalize(&c.resource).map_err(refuse)?;
        if uri != c.resource {
            return Err(refuse(
                "is not in canonical form (lowercase scheme and host, no default port)",
            ));
        }
        if production && !uri.starts_with("https://") {
            return Err(refuse("must use https in production"));
        }
        if uri == own_audience {
            return Err(refuse("is this worker's own audience (JWT_AUDIENCE)"));
        }
        if out.iter().any(|r| r.uri == uri) {
            return Err(refuse("is listed twice"));
        }
        let name = c.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || !is_printable(&name) {
            return Err(refuse("needs a name of 1-100 printable characters"));
        }
        let mut scopes: Vec<Scope> = Vec::new();
        for s in &c.scopes {
            let scope = Scope::parse(s)
                .map_err(|_| refuse(&format!("has a scope `{s}` that is not `resource:action`")))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(refuse("needs at least one scope"));
        }
        if c.tools.len() > MAX_TOOLS {
            return Err(refuse(&format!("lists more than {MAX_TOOLS} tools")));
        }
        let mut tools = BTreeMap::new();
        for (tool, permission) in c.tools {
            if tool.is_empty() || tool.len() > 128 || !is_printable(&tool) {
                return Err(refuse(
                    "has a tool name that is empty, too long or not printable",
                ));
            }
            let p = Scope::parse(&permission).map_err(|_| {
                refuse(&format!(
                    "maps tool `{tool}` to `{permission}`, which is not `resource:action`"
                ))
            })?;
            if !scopes.iter().any(|s| crate::permission::covers(s, &p)) {
                return Err(refuse(&format!(
                    "maps tool `{tool}` to `{permission}`, which none of its scopes covers"
                )));
            }
            tools.insert(tool, p);
        }
        out.push(Resource {
            uri,
            name,
            scopes,
            tools,
        });
    }
    Ok(out)
}

/// The configured resource a request names. Several `resource` values are not supported (one token,
/// one audience). With none given (clients of the 2025-03-26 revision send none), the first
/// configured resource is meant: the operator lists the default first.
pub fn select<'a>(
    resources: &'a [Resource],
    requested: Option<&str>,
) -> Result<&'a Resource, &'static str> {
    match requested {
        None => resources
            .first()
            .ok_or("names no resource this server protects (none is configured)"),
        Some(r) => {
            let wanted = normalize(r)?;
            resources
                .iter()
                .find(|res| res.uri == wanted)
                .ok_or("is not a resource this server issues tokens for")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources() -> Vec<Resource> {
        parse_resources(
            &json!([{ "resource": "https://mcp.example.com/mcp", "name": "Notes",
                      "scopes": ["notes:read", "notes:write", "notes:read"],
                      "tools": { "search": "notes:read", "create": "notes:write" } }])
            .to_string(),
            true,
            "https://auth.example.com",
        )
        .unwrap()
    }

    #[test]
    fn resources_parse_with_deduplicated_scopes_and_tool_permissions() {
        let r = resources();
        assert_eq!(r[0].uri, "https://mcp.example.com/mcp");
        assert_eq!(r[0].scopes.len(), 2);
        assert_eq!(
            r[0].tool_permission("create")
                .map(ToString::to_string)
                .as_deref(),
            Some("notes:write")
        );
        assert_eq!(r[0].tool_permission("delete"), None);
    }

    #[test]
    fn bad_resource_configurations_are_refused_with_the_reason() {
        for (bad, why) in [
            (
                json!([{ "resource": "http://mcp.example.com/mcp", "name": "N", "scopes": ["a:b"] }]),
                "https",
            ),
            (
                json!([{ "resource": "https://MCP.example.com/mcp", "name": "N", "scopes": ["a:b"] }]),
                "canonical",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp#x", "name": "N", "scopes": ["a:b"] }]),
                "fragment",
            ),
            (
                json!([{ "resource": "https://auth.example.com", "name": "N", "scopes": ["a:b"] }]),
                "own audience",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": [] }]),
                "at least one scope",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": ["notes"] }]),
                "resource:action",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": ["notes:read"], "tools": {"rm": "notes:delete"} }]),
                "covers",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "", "scopes": ["a:b"] }]),
                "name",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": ["a:b"], "extra": 1 }]),
                "unknown key",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": ["a:b"], "tools": null }]),
                "`tools`",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": ["a:b"], "tools": {"t": 1} }]),
                "`tools`",
            ),
            (
                json!([{ "resource": "https://mcp.example.com/mcp", "name": "N", "scopes": "a:b" }]),
                "`scopes`",
            ),
            (json!({}), "JSON"),
        ] {
            let e =
                parse_resources(&bad.to_string(), true, "https://auth.example.com").unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let twice = r#"[{"resource": "https://mcp.example.com/mcp", "name": "N", "name": "M", "scopes": ["a:b"]}]"#;
        assert!(parse_resources(twice, true, "https://auth.example.com").is_err());
        assert!(parse_resources(
            &json!([{ "resource": "http://localhost:8788/mcp", "name": "N", "scopes": ["a:b"] }])
                .to_string(),
            false,
            "http://localhost:8787"
        )
        .is_ok());
    }

    #[test]
    fn a_requested_resource_matches_only_its_canonical_uri_up_to_scheme_and_host_case() {
        let r = resources();
        assert!(select(&r, Some("https://mcp.example.com/mcp")).is_ok());
        assert!(select(&r, Some("HTTPS://MCP.EXAMPLE.COM/mcp")).is_ok());
        assert!(select(&r, Some("https://mcp.example.com:443/mcp")).is_ok());
        for other in [
            "https://mcp.example.com/mcp/",
            "https://mcp.example.com/MCP",
            "https://mcp.example.com/mcp#frag",
            "https://mcp.example.com",
            "https://mcp.example.com/mcp?x=1",
            "mcp.example.com/mcp",
            "https://user@mcp.example.com/mcp",
        ] {
            assert!(select(&r, Some(other)).is_err(), "{other}");
        }
        assert_eq!(
            select(&r, None).map(|x| x.uri.as_str()),
            Ok("https://mcp.example.com/mcp")
        );
    }

    #[test]
    fn with_several_resources_the_first_is_the_default() {
        let two = parse_resources(
            &json!([{ "resource": "https://a.example.com", "name": "A", "scopes": ["a:b"] },
                    { "resource": "https://b.example.com/mcp", "name": "B", "scopes": ["a:b"] }])
            .to_string(),
            true,
            "https://auth.example.com",
        )
        .unwrap();
        assert_eq!(two[0].uri, "https://a.example.com");
        assert_eq!(select(&two, None).map(|r| r.name.as_str()), Ok("A"));
        assert_eq!(
            select(&two, Some("https://b.example.com/mcp")).map(|r| r.name.as_str()),
            Ok("B")
        );
        assert_eq!(
            select(&two, Some("https://a.example.com")).map(|r| r.name.as_str()),
            Ok("A")
        );
        assert!(select(&[], None).is_err());
    }
}
