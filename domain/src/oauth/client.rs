//! OAuth clients: what this server knows of one (name, redirect URIs, how it authenticates, whether
//! it may refresh), and the checks that admit one from each source: Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document-00, the MCP 2026-07-28 default), dynamic client
//! registration (RFC 7591, off unless configured) and the operator's own list.
//!
//! Redirect URIs are compared as exact strings, always (OAuth 2.1 §2.3.1; MCP "exact redirect URIs").

use serde_json::Value;
use url::{Host, Url};

use super::{is_printable, Kind, Refusal};
use crate::encoding::sha256_hex;
use crate::json;

pub const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_REDIRECT_URI_LEN: usize = 2048;
pub const MAX_CLIENT_NAME_LEN: usize = 100;
pub const MAX_CLIENT_ID_URL_LEN: usize = 2048;

/// How a client proves itself at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: `client_id` in the body, nothing to prove (PKCE protects the code).
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub const SUPPORTED: [&'static str; 3] = ["none", "client_secret_basic", "client_secret_post"];

    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn has_secret(self) -> bool {
        self != AuthMethod::None
    }
}

/// Where a client's registration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `OAUTH_CLIENTS`, set by the operator.
    Configured,
    /// `POST /oauth/register` (RFC 7591).
    Registered,
    /// The `client_id` is an https URL serving the client's metadata.
    MetadataDocument,
}

/// A client as the authorization server uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    /// Its `grant_types` include `refresh_token`: it gets refresh tokens.
    pub refresh: bool,
    pub source: Source,
    /// A confidential client allowed to introspect tokens issued for this resource (RFC 7662).
    pub introspects_for: Option<String>,
}

impl Client {
    /// Every redirect URI is on the client's own machine (loopback): the consent page warns that
    /// such a client cannot be told apart from any other program there (MCP security
    /// considerations: "additional warnings for localhost-only redirect URIs").
    pub fn redirects_only_to_loopback(&self) -> bool {
        !self.redirect_uris.is_empty() && self.redirect_uris.iter().all(|u| is_loopback_redirect(u))
    }

    /// The redirect URI a request may use: `presented` when it equals a registered one exactly, or
    /// differs from a registered loopback one in its port only (OAuth 2.1 §8.4.2, RFC 8252 §7.3:
    /// native apps listen on whatever port is free); the only registered one when none is
    /// presented (OAuth 2.1 §4.1.1 allows omitting it then).
    pub fn redirect_uri_for<'a>(&'a self, presented: Option<&'a str>) -> Option<&'a str> {
        match presented {
            Some(p) => self
                .redirect_uris
                .iter()
                .find(|u| *u == p || same_loopback_but_port(u, p))
                .map(|_| p),
            None => match self.redirect_uris.as_slice() {
                [only] => Some(only.as_str()),
                _ => None,
            },
        }
    }
}

/// A redirect URI a client may register: `https`, `http` on a loopback host (RFC 8252 §7.3), or a
/// private-use scheme in reverse-domain form (RFC 8252 §7.1, such as `com.example.app:/cb`); never
/// a fragment, user info or a script-capable scheme.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err("is too long");
    }
    if !is_printable(uri) || uri.contains(['\\', ' ']) {
        return Err("holds a character a URL cannot");
    }
    let url = Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err("uses http on a host that is not loopback"),
        "https" => Err("has no host"),
        scheme if scheme.contains('.') => Ok(()),
        _ => {
            Err("uses a scheme that is not https, loopback http or a reverse-domain private scheme")
        }
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Both are `http` loopback URIs that differ in their port at most (everything else, including the
/// host's spelling, the path and the query, is compared exactly).
fn same_loopback_but_port(registered: &str, presented: &str) -> bool {
    let (Ok(mut r), Ok(mut p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if r.scheme() != "http" || !is_loopback_host(&r) || !is_loopback_host(&p) {
        return false;
    }
    if r.set_port(None).is_err() || p.set_port(None).is_err() {
        return false;
    }
    r.as_str() == p.as_str() && !presented.contains(['#', '\\'])
}

/// `http` on a loopback host.
pub fn is_loopback_redirect(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|u| u.scheme() == "http" && is_loopback_host(&u))
}

/// What the consent page shows as where the code will go: the host (with port), or the scheme of a
/// private-use redirect.
pub fn redirect_display(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(u) => match u.host_str() {
            Some(h) => match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            },
            None => format!("{}:", u.scheme()),
        },
        Err(_) => String::new(),
    }
}

/// The redirect URI as a Content-Security-Policy source: its origin for `http(s)`, its `scheme:` for
/// a private-use scheme (so a consent form's answer may redirect there).
pub fn redirect_csp_source(uri: &str) -> Option<String> {
    let u = Url::parse(uri).ok()?;
    match u.scheme() {
        "https" | "http" => Some(u.origin().ascii_serialization()).filter(|o| o != "null"),
        scheme => Some(format!("{scheme}:")),
    }
}

/// Is this `client_id` a Client ID Metadata Document URL? Only URL-shaped ids are; they must then
/// pass [`check_metadata_document_url`].
pub fn is_metadata_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// A CIMD `client_id` (draft-00 §3): https, a path other than `/`, no single- or double-dot
/// segments, no fragment, no user info, no query (a SHOULD NOT this server enforces), and unchanged
/// by URL normalisation (the document's `client_id` is compared to it as a plain string). The host
/// must be a public DNS name: IP literals, `localhost`, `*.localhost` and single-label names are
/// refused here, before any fetch (server-side request forgery, draft-00 §6.5); names that resolve
/// to private addresses are the platform's to refuse (see README).
pub fn check_metadata_document_url(client_id: &str) -> Result<Url, &'static str> {
    if client_id.len() > MAX_CLIENT_ID_URL_LEN {
        return Err("is too long");
    }
    if !is_printable(client_id) || client_id.contains(['\\', ' ', '#', '?']) {
        return Err("must not hold a fragment, query, space or backslash");
    }
    let url = Url::parse(client_id).map_err(|_| "is not a URL")?;
    if url.scheme() != "https" {
        return Err("must use https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    let raw_path = client_id
        .strip_prefix("https://")
        .and_then(|rest| rest.find('/').and_then(|i| rest.get(i..)))
        .unwrap_or("");
    if raw_path.is_empty() || raw_path == "/" {
        return Err("must have a path");
    }
    if raw_path.split('/').any(|seg| {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    }) {
        return Err("must not have `.` or `..` path segments");
    }
    match url.host() {
        // A trailing dot names the same host as without it: refused, so the host lists of the
        // trust policy (and anything else keyed by host) see one spelling only.
        Some(Host::Domain(d)) if d.ends_with('.') => {
            return Err("must not end its host name with a dot");
        }
        Some(Host::Domain(d)) => {
            if d == "localhost" || d.ends_with(".localhost") || !d.contains('.') {
                return Err("must be on a public host name");
            }
        }
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Err("must use a host name, not an address"),
        None => return Err("has no host"),
    }
    if url.as_str() != client_id {
        return Err("is not in normal form (lowercase scheme and host, no default port)");
    }
    Ok(url)
}

/// A host list of the metadata-document trust policy (`OAUTH_CIMD_TRUSTED_HOSTS`,
/// `OAUTH_CIMD_BLOCKED_HOSTS`): comma-separated host names, each exact or `*.` + a domain (any host
/// under it, not the domain itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList(Vec<String>);

impl HostList {
    pub fn parse(csv: &str) -> Result<HostList, String> {
        let mut out = Vec::new();
        for entry in csv.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let name = entry.strip_prefix("*.").unwrap_or(entry);
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.contains('.')
                && name.split('.').all(|label| !label.is_empty())
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !ok {
                return Err(entry.to_owned());
            }
            out.push(entry.to_owned());
        }
        Ok(HostList(out))
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host.as_str();
        self.0.iter().any(|p| match p.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            None => p == host,
        })
    }
}

/// Client metadata as a document or a registration request carries it (RFC 7591 §2). Unknown
/// members are ignored.
#[derive(Debug, Default)]
struct Metadata {
    client_id: Option<Value>,
    client_name: Option<Value>,
    redirect_uris: Option<Value>,
    token_endpoint_auth_method: Option<Value>,
    /// Not in RFC 7591: some CIMD documents (ChatGPT's) list the methods they can use.
    token_endpoint_auth_methods_supported: Option<Value>,
    grant_types: Option<Value>,
    response_types: Option<Value>,
    client_secret: Option<Value>,
    client_secret_expires_at: Option<Value>,
}

/// A JSON object of client metadata (its members' types are checked one by one, by name; a member
/// that is `null` counts as absent).
fn metadata_object(body: &[u8]) -> Option<Metadata> {
    let value = json::parse(body).ok()?;
    let object = value.as_object()?;
    let member = |name: &str| object.get(name).filter(|v| !v.is_null()).cloned();
    Some(Metadata {
        client_id: member("client_id"),
        client_name: member("client_name"),
        redirect_uris: member("redirect_uris"),
        token_endpoint_auth_method: member("token_endpoint_auth_method"),
        token_endpoint_auth_methods_supported: member("token_endpoint_auth_methods_supported"),
        grant_types: member("grant_types"),
        response_types: member("response_types"),
        client_secret: member("client_secret"),
        client_secret_expires_at: member("client_secret_expires_at"),
    })
}

fn bad_metadata(why: impl Into<String>) -> Refusal {
    Refusal::new(Kind::InvalidClientMetadata, why)
}

fn string_list(v: Option<&Value>, name: &str) -> Result<Option<Vec<String>>, Refusal> {
    let Some(v) = v else { return Ok(None) };
    let strings: Option<Vec<String>> = v.as_array().and_then(|items| {
        items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect()
    });
    match strings {
        Some(list) => Ok(Some(list)),
        None => Err(bad_metadata(format!(
            "`{name}` must be an array of strings."
        ))),
    }
}

fn opt_string(v: Option<&Value>, name: &str) -> Result<Option<String>, Refusal> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_metadata(format!("`{name}` must be a string."))),
    }
}

fn client_name(raw: Option<String>) -> Result<Option<String>, Refusal> {
    match raw {
        None => Ok(None),
        Some(n) => {
            let n = n.trim().to_owned();
            if n.is_empty() || n.chars().count() > MAX_CLIENT_NAME_LEN || !is_printable(&n) {
                Err(bad_metadata(format!(
                    "`client_name` must be 1-{MAX_CLIENT_NAME_LEN} printable characters."
                )))
            } else {
                Ok(Some(n))
            }
        }
    }
}

fn redirect_uris(m: &Metadata) -> Result<Vec<String>, Refusal> {
    let uris = string_list(m.redirect_uris.as_ref(), "redirect_uris")?.unwrap_or_default();
    if uris.is_empty() {
        return Err(Refusal::new(
            Kind::InvalidRedirectUri,
            "`redirect_uris` must list at least one URI.",
        ));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(Refusal::new(
            Kind::InvalidRedirectUri,
            format!("`redirect_uris` may list at most {MAX_REDIRECT_URIS} URIs."),
        ));
    }
    for u in &uris {
        check_redirect_uri(u).map_err(|why| {
            Refusal::new(Kind::InvalidRedirectUri, format!("A redirect URI {why}."))
        })?;
    }
    Ok(uris)
}

/// The grant types; `None` in the metadata means `["authorization_code"]` (RFC 7591 §2).
fn grant_types(m: &Metadata) -> Result<Vec<String>, Refusal> {
    Ok(string_list(m.grant_types.as_ref(), "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]))
}

fn response_types(m: &Metadata) -> Result<Vec<String>, Refusal> {
    Ok(string_list(m.response_types.as_ref(), "response_types")?
        .unwrap_or_else(|| vec!["code".to_owned()]))
}

/// A registration request (RFC 7591 §3.1) as JSON: checked, with defaults applied. Only what this
/// server can honour is accepted: the authorization code grant (with refresh tokens if asked), the
/// `code` response type, and the three authentication methods.
pub fn registration(body: &[u8]) -> Result<Registration, Refusal> {
    let m = metadata_object(body).ok_or_else(|| {
        bad_metadata("The registration request must be a JSON object of client metadata.")
    })?;
    let redirect_uris = redirect_uris(&m)?;
    let grants = grant_types(&m)?;
    if let Some(other) = grants
        .iter()
        .find(|g| *g != "authorization_code" && *g != "refresh_token")
    {
        return Err(bad_metadata(format!(
            "The grant type `{}` is not supported; use `authorization_code` (and `refresh_token`).",
            other.chars().take(64).collect::<String>()
        )));
    }
    if !grants.iter().any(|g| g == "authorization_code") {
        return Err(bad_metadata(
            "`grant_types` must include `authorization_code`.",
        ));
    }
    let responses = response_types(&m)?;
    if responses.iter().any(|r| r != "code") || responses.is_empty() {
        return Err(bad_metadata("`response_types` may only be `[\"code\"]`."));
    }
    // RFC 7591 §2: the default method is client_secret_basic.
    let method = match opt_string(
        m.token_endpoint_auth_method.as_ref(),
        "token_endpoint_auth_method",
    )? {
        None => AuthMethod::ClientSecretBasic,
        Some(s) => AuthMethod::parse(&s).ok_or_else(|| {
            bad_metadata(format!(
                "`token_endpoint_auth_method` must be one of {}.",
                AuthMethod::SUPPORTED.join(", ")
            ))
        })?,
    };
    let name = client_name(opt_string(m.client_name.as_ref(), "client_name")?)?;
    let refresh = grants.iter().any(|g| g == "refresh_token");
    let fingerprint = sha256_hex(
        serde_json::json!({
            "v": 1,
            "name": name,
            "redirect_uris": redirect_uris,
            "method": method.as_str(),
            "refresh": refresh,
        })
        .to_string()
        .as_bytes(),
    );
    Ok(Registration {
        name,
        redirect_uris,
        auth_method: method,
        refresh,
        fingerprint,
    })
}

/// A checked registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    pub refresh: bool,
    /// The same metadata always gives the same fingerprint (registration of a public client is
    /// idempotent on it).
    pub fingerprint: String,
}

impl Registration {
    pub fn into_client(self, client_id: String) -> Client {
        Client {
            name: self.name.unwrap_or_else(|| client_id.clone()),
            client_id,
            redirect_uris: self.redirect_uris,
            auth_method: self.auth_method,
            refresh: self.refresh,
            source: Source::Registered,
            introspects_for: None,
        }
    }
}

/// A fetched Client ID Metadata Document (draft-00 §4.1): a JSON object whose `client_id` is the
/// URL it came from, exactly, with a `client_name` and redirect URIs (MCP: "at least"). Such a client
/// is public: a document that asks for a shared secret is refused (draft-00 §4.1), and one whose
/// preferred method this server lacks (`private_key_jwt`) is accepted as `none` when it also lists
/// `none`.
pub fn metadata_document(url: &str, body: &[u8]) -> Result<Client, Refusal> {
    let m = metadata_object(body)
        .ok_or_else(|| bad_metadata("The client metadata document is not a JSON object."))?;
    if opt_string(m.client_id.as_ref(), "client_id")?.as_deref() != Some(url) {
        return Err(bad_metadata(
            "The document's `client_id` is not the URL it was fetched from.",
        ));
    }
    if m.client_secret.is_some() || m.client_secret_expires_at.is_some() {
        return Err(bad_metadata(
            "A client metadata document must not carry a secret.",
        ));
    }
    let name = client_name(opt_string(m.client_name.as_ref(), "client_name")?)?
        .ok_or_else(|| bad_metadata("The client metadata document has no `client_name`."))?;
    let redirect_uris = redirect_uris(&m)?;
    let listed = string_list(
        m.token_endpoint_auth_methods_supported.as_ref(),
        "token_endpoint_auth_methods_supported",
    )?
    .unwrap_or_default();
    match opt_string(
        m.token_endpoint_auth_method.as_ref(),
        "token_endpoint_auth_method",
    )?
    .as_deref()
    {
        None | Some("none") => {}
        Some("client_secret_basic" | "client_secret_post" | "client_secret_jwt") => {
            return Err(bad_metadata(
                "A client metadata document must not use a shared-secret authentication method.",
            ))
        }
        Some(_) if listed.iter().any(|m| m == "none") => {}
        Some(_) => {
            return Err(bad_metadata(
                "The document's `token_endpoint_auth_method` is not supported here (use `none`).",
            ))
        }
    }
    let grants = grant_types(&m)?;
    if !grants.iter().any(|g| g == "authorization_code") {
        return Err(bad_metadata(
            "`grant_types` must include `authorization_code`.",
        ));
    }
    if !response_types(&m)?.iter().any(|r| r == "code") {
        return Err(bad_metadata("`response_types` must include `code`."));
    }
    Ok(Client {
        client_id: url.to_owned(),
        name,
        redirect_uris,
        auth_method: AuthMethod::None,
        refresh: grants.iter().any(|g| g == "refresh_token"),
        source: Source::MetadataDocument,
        introspects_for: None,
    })
}

/// How long a fetched metadata document may be reused, in seconds (draft-00 §4.4: respect HTTP
/// cache headers, within the server's own bounds). `no-store`, `no-cache` and `private` (this server
/// is a shared cache) mean 0; `s-maxage` wins over `max-age`; either is capped at `ceiling`; without
/// either, `default`.
pub fn cache_lifetime(cache_control: Option<&str>, default: u64, ceiling: u64) -> u64 {
    let Some(header) = cache_control else {
        return default.min(ceiling);
    };
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (
                n.trim().to_owned(),
                Some(v.trim().trim_matches('"').to_owned()),
            ),
            None => (directive.clone(), None),
        };
        match (name.as_str(), value) {
            ("no-store" | "no-cache" | "private", _) => return 0,
            ("max-age", Some(v)) => max_age = v.parse::<u64>().ok().or(Some(0)),
            ("s-maxage", Some(v)) => s_maxage = v.parse::<u64>().ok().or(Some(0)),
            _ => {}
        }
    }
    s_maxage.or(max_age).unwrap_or(default).min(ceiling)
}

/// One entry of `OAUTH_CLIENTS`.
struct Configured {
    client_id: String,
    client_name: String,
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: String,
    /// Hex SHA-256 of the client secret (the secret itself is never configured here).
    client_secret_sha256: Option<String>,
    grant_types: Option<Vec<String>>,
    /// The resource this client may introspect tokens for (a resource server's own client).
    introspection_resource: Option<String>,
}

const CONFIGURED_KEYS: [&str; 7] = [
    "client_id",
    "client_name",
    "redirect_uris",
    "token_endpoint_auth_method",
    "client_secret_sha256",
    "grant_types",
    "introspection_resource",
];

impl Configured {
    /// One entry; any key not listed above is refused (a typo must not pass silently).
    fn from_json(v: &Value) -> Result<Configured, json::Shape> {
        let r = json::Record::of(v)?;
        r.only(&CONFIGURED_KEYS)?;
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or(json::Shape("a list item"))
        };
        Ok(Configured {
            client_id: r.str("client_id")?,
            client_name: r.str("client_name")?,
            redirect_uris: if r.has("redirect_uris") {
                r.list("redirect_uris", text)?
            } else {
                Vec::new()
            },
            token_endpoint_auth_method: r.str("token_endpoint_auth_method")?,
            client_secret_sha256: r.opt_str("client_secret_sha256")?,
            grant_types: if r.value("grant_types").is_ok_and(|v| !v.is_null()) {
                Some(r.list("grant_types", text)?)
            } else {
                None
            },
            introspection_resource: r.opt_str("introspection_resource")?,
        })
    }
}

/// A configured client with its secret's hash.
#[derive(Debug, Clone)]
pub struct ConfiguredClient {
    pub client: Client,
    pub secret_sha256: Option<[u8; 32]>,
}

/// Parses `OAUTH_CLIENTS`: a JSON array of clients the operator registers by hand. A client with a
/// secret method names the SHA-256 of its secret; an introspecting resource server needs one.
pub fn configured_clients(json: &str) -> Result<Vec<ConfiguredClient>, String> {
    let list = json::parse_setting_list(json, "clients", Configured::from_json)?;
    let mut out: Vec<ConfiguredClient> = Vec::new();
    for c in list {
        let id = c.client_id.clone();
        let refuse =
            |why: &str| format!("client `{}` {why}", id.chars().take(64).collect::<String>());
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(refuse(
                "must have a client_id of 1-64 characters of A-Z a-z 0-9 - _ .",
            ));
        }
        if out.iter().any(|o| o.client.client_id == id) {
            return Err(refuse("is listed twice"));
        }
        let method = AuthMethod::parse(&c.token_endpoint_auth_method)
            .ok_or_else(|| refuse("has an unknown token_endpoint_auth_method"))?;
        let secret_sha256 = match (&c.client_secret_sha256, method.has_secret()) {
            (Some(h), true) => {
                Some(crate::encoding::hex_decode_array::<32>(h).ok_or_else(|| {
                    refuse("has a client_secret_sha256 that is not 64 hex digits")
                })?)
            }
            (None, true) => return Err(refuse("needs client_secret_sha256 for its method")),
            (Some(_), false) => return Err(refuse("is public (`none`) but has a secret")),
            (None, false) => None,
        };
        for u in &c.redirect_uris {
            check_redirect_uri(u)
                .map_err(|why| refuse(&format!("has a redirect URI that {why}")))?;
        }
        let grants = c
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
        if grants
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
        {
            return Err(refuse(
                "lists a grant type other than authorization_code and refresh_token",
            ));
        }
        if c.introspection_resource.is_some() && secret_sha256.is_none() {
            return Err(refuse("introspects, so it must authenticate with a secret"));
        }
        if c.redirect_uris.is_empty() && c.introspection_resource.is_none() {
            return Err(refuse("needs redirect_uris"));
        }
        let name = client_name(Some(c.client_name)).map_err(|e| refuse(&e.description))?;
        out.push(ConfiguredClient {
            client: Client {
                client_id: id.clone(),
                name: name.unwrap_or(id),
                redirect_uris: c.redirect_uris,
                auth_method: method,
                refresh: grants.iter().any(|g| g == "refresh_token"),
                source: Source::Configured,
                introspects_for: c.introspection_resource,
            },
            secret_sha256,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redirect_uris_must_be_https_loopback_http_or_a_reverse_domain_scheme() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "http://[::1]:8080/cb",
            "cursor.anysphere.retrieval:/oauth/callback",
            "com.example.app:/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://localhost.evil.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "https://example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "https://example.com/c b",
            "/relative",
            "myapp:/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(check_redirect_uri(&format!(
            "https://a.com/{}",
            "x".repeat(MAX_REDIRECT_URI_LEN)
        ))
        .is_err());
    }

    #[test]
    fn the_redirect_uri_is_matched_exactly_or_defaulted_only_when_there_is_one() {
        let mut c = client(&["https://app.example.com/cb"]);
        assert_eq!(
            c.redirect_uri_for(Some("https://app.example.com/cb")),
            Some("https://app.example.com/cb")
        );
        for near in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
        ] {
            assert_eq!(c.redirect_uri_for(Some(near)), None, "{near}");
        }
        assert_eq!(c.redirect_uri_for(None), Some("https://app.example.com/cb"));
        c.redirect_uris.push("http://127.0.0.1:9/cb".into());
        assert_eq!(c.redirect_uri_for(None), None);
        assert!(!c.redirects_only_to_loopback());
        assert!(client(&["http://127.0.0.1:9/cb", "http://localhost:9/cb"])
            .redirects_only_to_loopback());
    }

    #[test]
    fn a_loopback_redirect_may_come_back_on_any_port_and_nothing_else_may_differ() {
        let c = client(&[
            "http://127.0.0.1:8976/callback",
            "http://localhost/cb",
            "https://app.example.com:8443/cb",
        ]);
        for ok in [
            "http://127.0.0.1:8976/callback",
            "http://127.0.0.1:50123/callback",
            "http://127.0.0.1/callback",
            "http://localhost:6274/cb",
        ] {
            assert_eq!(c.redirect_uri_for(Some(ok)), Some(ok), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:50123/callback/",
            "http://127.0.0.1:50123/callback?x=1",
            "http://localhost:50123/callback",
            "http://127.0.0.2:50123/callback",
            "https://127.0.0.1:50123/callback",
            "https://app.example.com:9443/cb",
            "https://app.example.com/cb",
            "http://127.0.0.1:50123/callback#f",
        ] {
            assert_eq!(c.redirect_uri_for(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn metadata_document_urls_follow_draft_00_section_3_and_stay_off_internal_hosts() {
        assert!(check_metadata_document_url("https://app.example.com/oauth/client.json").is_ok());
        assert!(check_metadata_document_url("https://app.example.com:8443/c").is_ok());
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/./client.json",
            "https://app.example.com/%2E%2E/client.json",
            "https://app.example.com/client.json#x",
            "https://app.example.com/client.json?v=1",
            "https://user@app.example.com/client.json",
            "https://127.0.0.1/client.json",
            "https://10.0.0.7/client.json",
            "https://[::1]/client.json",
            "https://localhost/client.json",
            "https://metadata.localhost/client.json",
            "https://intranet/client.json",
            "https://APP.example.com/client.json",
            "https://app.example.com:443/client.json",
            "https://app.example.com/cli ent.json",
            "https://app.example.com./client.json",
        ] {
            assert!(check_metadata_document_url(bad).is_err(), "{bad}");
        }
    }

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn doc(v: serde_json::Value) -> Result<Client, Refusal> {
        metadata_document(URL, v.to_string().as_bytes())
    }

    #[test]
    fn a_metadata_document_must_name_its_own_url_and_carry_name_and_redirects() {
        let ok = doc(json!({"client_id": URL, "client_name": "Example", "redirect_uris": ["http://127.0.0.1:9/cb"],
                            "grant_types": ["authorization_code", "refresh_token"]}))
        .unwrap();
        assert_eq!(ok.client_id, URL);
        assert_eq!(ok.auth_method, AuthMethod::None);
        assert!(ok.refresh);
        assert_eq!(ok.source, Source::MetadataDocument);
        let refused = [
            json!({"client_id": "https://app.example.com/oauth/other.json", "client_name": "E", "redirect_uris": ["https://a.com/cb"]}),
            json!({"client_id": format!("{URL}/"), "client_name": "E", "redirect_uris": ["https://a.com/cb"]}),
            json!({"client_name": "E", "redirect_uris": ["https://a.com/cb"]}),
            json!({"client_id": URL, "redirect_uris": ["https://a.com/cb"]}),
            json!({"client_id": URL, "client_name": "E"}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": []}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": ["javascript:x"]}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": ["https://a.com/cb"], "client_secret": "s"}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"client_id": URL, "client_name": "E", "redirect_uris": ["https://a.com/cb"], "grant_types": ["client_credentials"]}),
            json!([URL]),
        ];
        for r in refused {
            assert!(doc(r.clone()).is_err(), "{r}");
        }
        assert!(metadata_document(URL, b"{not json").is_err());
    }

    #[test]
    fn a_document_preferring_private_key_jwt_is_public_when_it_also_lists_none() {
        let c = doc(json!({"client_id": URL, "client_name": "ChatGPT", "redirect_uris": ["https://chatgpt.com/connector/oauth/x"],
            "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"], "response_types": ["code", "id_token"]}))
        .unwrap();
        assert_eq!(c.auth_method, AuthMethod::None);
        assert!(!c.refresh);
    }

    fn reg(v: serde_json::Value) -> Result<Registration, Refusal> {
        registration(v.to_string().as_bytes())
    }

    #[test]
    fn metadata_that_names_a_member_twice_is_refused_whichever_copy_a_reader_would_take() {
        let twice = br#"{"redirect_uris":["https://a.example.com/cb"],"redirect_uris":["https://b.example.com/cb"]}"#;
        assert!(registration(twice).is_err());
        let doc_twice = format!(
            r#"{{"client_id":"{URL}","client_name":"A","client_name":"B","redirect_uris":["http://127.0.0.1:9/cb"]}}"#
        );
        assert!(metadata_document(URL, doc_twice.as_bytes()).is_err());
    }

    #[test]
    fn registration_applies_rfc_7591_defaults_and_refuses_what_this_server_cannot_honour() {
        let r = reg(json!({"redirect_uris": ["https://a.example.com/cb"]})).unwrap();
        assert_eq!(r.auth_method, AuthMethod::ClientSecretBasic);
        assert!(!r.refresh);
        let public = reg(json!({"client_name": "Inspector", "redirect_uris": ["http://localhost:6274/cb"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "application_type": "native", "scope": "notes:read"}))
        .unwrap();
        assert_eq!(public.auth_method, AuthMethod::None);
        assert!(public.refresh);
        for (bad, kind) in [
            (json!({"redirect_uris": []}), Kind::InvalidRedirectUri),
            (
                json!({"redirect_uris": ["http://a.example.com/cb"]}),
                Kind::InvalidRedirectUri,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "grant_types": ["password"]}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "response_types": []}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "response_types": ["token"]}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "client_name": ""}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example.com/cb"], "client_name": "a\u{7}b"}),
                Kind::InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": "https://a.example.com/cb"}),
                Kind::InvalidClientMetadata,
            ),
            (json!(["x"]), Kind::InvalidClientMetadata),
        ] {
            assert_eq!(reg(bad.clone()).map_err(|e| e.kind), Err(kind), "{bad}");
        }
    }

    #[test]
    fn the_same_registration_has_the_same_fingerprint_and_any_change_another() {
        let a = json!({"client_name": "A", "redirect_uris": ["http://localhost:1/cb"], "token_endpoint_auth_method": "none"});
        let b = json!({"token_endpoint_auth_method": "none", "redirect_uris": ["http://localhost:1/cb"], "client_name": "A", "logo_uri": "x"});
        assert_eq!(
            reg(a.clone()).unwrap().fingerprint,
            reg(b.clone()).unwrap().fingerprint
        );
        let c = json!({"client_name": "A", "redirect_uris": ["http://localhost:2/cb"], "token_endpoint_auth_method": "none"});
        assert_ne!(
            reg(a.clone()).unwrap().fingerprint,
            reg(c.clone()).unwrap().fingerprint
        );
    }

    #[test]
    fn configured_clients_need_a_secret_hash_for_secret_methods_and_never_a_secret() {
        let hash = "a".repeat(64);
        let list = configured_clients(&json!([
            {"client_id": "cli-tool", "client_name": "CLI", "redirect_uris": ["http://127.0.0.1:8976/cb"], "token_endpoint_auth_method": "none"},
            {"client_id": "notes-rs", "client_name": "Notes MCP", "token_endpoint_auth_method": "client_secret_basic",
             "client_secret_sha256": hash, "introspection_resource": "https://mcp.example.com/mcp"},
        ]).to_string())
        .unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0].client.refresh);
        assert_eq!(
            list[1].client.introspects_for.as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        for bad in [
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "client_secret_post"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none", "client_secret_sha256": hash}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none", "client_secret": "s"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["http://a.com/cb"], "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none"},
                   {"client_id": "c", "client_name": "D", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": "https://a.com/cb", "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": null, "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb", 7], "token_endpoint_auth_method": "none"}]),
            json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none", "grant_types": ["implicit"]}]),
            json!([{"client_id": 1, "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none"}]),
            json!({"client_id": "c"}),
        ] {
            assert!(configured_clients(&bad.to_string()).is_err(), "{bad}");
        }
        let typo = json!([{"client_id": "c", "client_name": "C", "redirect_uri": ["https://a.com/cb"], "token_endpoint_auth_method": "none"}]);
        assert!(configured_clients(&typo.to_string())
            .unwrap_err()
            .contains("unknown key"));
        let wrong =
            json!([{"client_id": "c", "client_name": 5, "token_endpoint_auth_method": "none"}]);
        assert!(configured_clients(&wrong.to_string())
            .unwrap_err()
            .contains("`client_name`"));
        let no_grants = json!([{"client_id": "c", "client_name": "C", "redirect_uris": ["https://a.com/cb"], "token_endpoint_auth_method": "none", "grant_types": null}]);
        assert!(
            configured_clients(&no_grants.to_string()).unwrap()[0]
                .client
                .refresh
        );
    }

    #[test]
    fn document_caching_follows_cache_control_within_the_ceiling() {
        assert_eq!(cache_lifetime(None, 300, 86_400), 300);
        assert_eq!(cache_lifetime(Some("max-age=600"), 300, 86_400), 600);
        assert_eq!(
            cache_lifetime(Some("public, max-age=600, s-maxage=60"), 300, 86_400),
            60
        );
        assert_eq!(cache_lifetime(Some("max-age=9999999"), 300, 86_400), 86_400);
        assert_eq!(cache_lifetime(Some("max-age=60, no-store"), 300, 86_400), 0);
        assert_eq!(cache_lifetime(Some("No-Cache"), 300, 86_400), 0);
        assert_eq!(cache_lifetime(Some("private, max-age=60"), 300, 86_400), 0);
        assert_eq!(cache_lifetime(Some("max-age=soon"), 300, 86_400), 0);
        assert_eq!(cache_lifetime(Some("immutable"), 300, 86_400), 300);
    }

    #[test]
    fn host_lists_match_exact_names_and_wildcard_subdomains_only() {
        let l = HostList::parse(" claude.ai, *.example.com ,").unwrap();
        assert!(l.matches("claude.ai"));
        assert!(l.matches("app.example.com"));
        assert!(l.matches("a.b.example.com"));
        assert!(!l.matches("example.com"));
        assert!(!l.matches("evilexample.com"));
        assert!(!l.matches("claude.ai.evil.com"));
        assert!(l.matches("claude.ai."), "a trailing dot is the same host");
        assert!(l.matches("App.Example.com"));
        for bad in [
            "*",
            "*.com.",
            "Claude.ai",
            "localhost",
            "a b.com",
            "https://claude.ai",
        ] {
            assert!(HostList::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_redirect_becomes_the_csp_source_of_its_origin_or_scheme() {
        assert_eq!(
            redirect_csp_source("https://claude.ai/api/mcp/auth_callback").as_deref(),
            Some("https://claude.ai")
        );
        assert_eq!(
            redirect_csp_source("http://127.0.0.1:33418/cb").as_deref(),
            Some("http://127.0.0.1:33418")
        );
        assert_eq!(
            redirect_csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }

    #[test]
    fn the_consent_page_shows_the_host_or_the_private_scheme() {
        assert_eq!(
            redirect_display("https://claude.ai/api/mcp/auth_callback"),
            "claude.ai"
        );
        assert_eq!(
            redirect_display("http://127.0.0.1:33418/cb"),
            "127.0.0.1:33418"
        );
        assert_eq!(redirect_display("com.example.app:/cb"), "com.example.app:");
    }

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "C".into(),
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            auth_method: AuthMethod::None,
            refresh: true,
            source: Source::Configured,
            introspects_for: None,
        }
    }
}
