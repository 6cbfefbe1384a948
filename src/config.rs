//! Typed settings, read from vars and secrets once per isolate and checked before any request is
//! served. A missing or unusable value becomes [`AppError::Misconfigured`] naming the variable, never
//! its value. Must not panic and must not log secret values.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use worker::Env;

use crate::domain::encoding::{hex, hmac_sha256};
use crate::domain::oauth::client::{self as oauth_client, ConfiguredClient, HostList};
use crate::domain::oauth::resource::{self, Resource};
use crate::domain::return_to::{origin_of, AllowedOrigins};
use crate::domain::token::{Ed25519Key, HmacKey, KeySet};
use crate::error::AppError;

/// Marks the committed development secrets in `.dev.vars.example`; refused when ENVIRONMENT=production.
const DEV_ONLY_MARKER: &str = "dev-only-";
const DEFAULT_WORKOS_API_BASE: &str = "https://api.workos.com";

/// A secret string whose `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[derive(Debug)]
pub struct Config {
    pub workos_api_base: String,
    pub workos_client_id: String,
    pub workos_api_key: Secret,
    pub workos_client_secret: Secret,
    pub workos_redirect_uri: String,
    pub workos_webhook_secret: Option<Secret>,
    pub workos_timeout_ms: u64,
    /// Sign and verify access tokens (EdDSA by default; see `domain::token`).
    pub access_keys: KeySet,
    /// Sign and verify refresh tokens (HS256).
    pub refresh_keys: KeySet,
    /// The current refresh secret, which also derives token ids.
    pub refresh_secret: HmacKey,
    /// Derives PKCE verifiers from `state` (so no verifier is stored or sent to the browser).
    pub flow_secret: Secret,
    pub issuer: String,
    /// `aud` of the access tokens this worker issues for itself and its sibling workers.
    pub audience: String,
    /// Origin of this worker (that of WORKOS_REDIRECT_URI): relative return targets resolve against it.
    pub self_origin: String,
    pub allowed_origins: AllowedOrigins,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// How long an isolate trusts what it last read of a session or API key (the revocation bound).
    pub session_cache_ttl_secs: i64,
    /// How long after a rotation the previous refresh token still returns the same new pair.
    pub refresh_grace_secs: i64,
    pub secure_cookies: bool,
    /// `ENVIRONMENT=development`: development-only conveniences (the loopback redirect, `sk_test_`
    /// keys by default) are on; they are off in production.
    pub development: bool,
    pub retention: Retention,
    pub oauth: OAuth,
}

/// The OAuth authorization server for MCP clients (README "Use it from an MCP server").
#[derive(Debug)]
pub struct OAuth {
    /// `OAUTH_RESOURCES`: the MCP servers tokens are issued for. None: the authorization endpoint
    /// refuses every request (`invalid_target`).
    pub resources: Vec<Resource>,
    /// `OAUTH_CLIENTS`: clients the operator registered.
    pub clients: Vec<ConfiguredClient>,
    /// `OAUTH_DYNAMIC_REGISTRATION=on`: `POST /oauth/register` (RFC 7591; deprecated by MCP).
    pub dynamic_registration: bool,
    /// `OAUTH_CIMD` (default on): clients identified by a Client ID Metadata Document URL.
    pub metadata_documents: bool,
    /// Metadata-document hosts shown without the "unverified" warning.
    pub trusted_hosts: HostList,
    /// Metadata-document hosts refused outright.
    pub blocked_hosts: HostList,
}

impl OAuth {
    pub fn resource(&self, uri: &str) -> Option<&Resource> {
        resource::select(&self.resources, Some(uri)).ok()
    }
}

/// How long rows that grow with use are kept, and how much one cron run may delete.
#[derive(Debug, Clone)]
pub struct Retention {
    pub audit_days: i64,
    pub sessions_days: i64,
    pub webhook_events_days: i64,
    pub batch_size: i64,
    pub max_batches: i64,
}

thread_local! {
    static CACHED: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

/// The checked configuration, built on first use in this isolate.
pub fn load(env: &Env) -> Result<Rc<Config>, AppError> {
    if let Some(cfg) = CACHED.with(|c| c.borrow().clone()) {
        return Ok(cfg);
    }
    let cfg = Rc::new(Config::from_source(&|name| read(env, name))?);
    CACHED.with(|c| *c.borrow_mut() = Some(cfg.clone()));
    Ok(cfg)
}

fn read(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &wasm_bindgen::JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn missing(var: &'static str) -> AppError {
    AppError::Misconfigured {
        var,
        problem: "is not set",
    }
}

fn bad(var: &'static str, problem: &'static str) -> AppError {
    AppError::Misconfigured { var, problem }
}

impl Config {
    fn from_source(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, AppError> {
        let production = match get("ENVIRONMENT").as_deref() {
            None | Some("production") => true,
            Some("development") => false,
            Some(_) => return Err(bad("ENVIRONMENT", "must be `development` or `production`")),
        };
        let secret = |var: &'static str, required: bool| -> Result<Option<Secret>, AppError> {
            match get(var) {
                None if required => Err(missing(var)),
                None => Ok(None),
                Some(v) if production && v.starts_with(DEV_ONLY_MARKER) => {
                    Err(bad(var, "holds a development-only value in production"))
                }
                Some(v) => Ok(Some(Secret(v))),
            }
        };
        let hmac =
            |var: &'static str, required: bool| -> Result<Option<(HmacKey, Secret)>, AppError> {
                match secret(var, required)? {
                    Some(s) => HmacKey::new(s.expose().as_bytes())
                        .map(|k| Some((k, s)))
                        .map_err(|_| bad(var, "must be at least 32 bytes")),
                    None => Ok(None),
                }
            };
        // An Ed25519 key: a base64url seed or a PKCS#8 PEM. The development value in
        // .dev.vars.example carries the `dev-only-` marker in front of its seed.
        let ed25519 = |var: &'static str| -> Result<Option<Ed25519Key>, AppError> {
            match secret(var, false)? {
                Some(s) => {
                    let text = s.expose();
                    Ed25519Key::parse(text.strip_prefix(DEV_ONLY_MARKER).unwrap_or(text))
                        .map(Some)
                        .map_err(|_| {
                            bad(
                                var,
                                "must be an Ed25519 private key (base64url 32-byte seed or PKCS#8 PEM)",
                            )
                        })
                }
                None => Ok(None),
            }
        };
        let signing_key = ed25519("JWT_SIGNING_KEY")?;
        // JWT_SECRET signs access tokens only when there is no Ed25519 key; with one, it (and its
        // previous value) still verifies the HS256 tokens issued before the switch.
        let access_secret = hmac("JWT_SECRET", signing_key.is_none())?;
        let access_previous = hmac("JWT_SECRET_PREVIOUS", false)?;
        let (refresh_secret, refresh_text) =
            hmac("JWT_REFRESH_SECRET", true)?.ok_or_else(|| missing("JWT_REFRESH_SECRET"))?;
        let refresh_previous = hmac("JWT_REFRESH_SECRET_PREVIOUS", false)?;
        if access_secret
            .as_ref()
            .is_some_and(|(_, s)| s.expose() == refresh_text.expose())
        {
            return Err(bad("JWT_REFRESH_SECRET", "must differ from JWT_SECRET"));
        }
        let flow_secret = match &access_secret {
            Some((_, s)) => s.clone(),
            // Without JWT_SECRET, PKCE verifiers come from a key derived from the refresh secret.
            None => Secret(hex(&hmac_sha256(
                refresh_text.expose().as_bytes(),
                b"auth-worker pkce flow secret v1",
            ))),
        };
        let access_keys = KeySet::access(
            signing_key,
            ed25519("JWT_SIGNING_KEY_PREVIOUS")?,
            ed25519("JWT_SIGNING_KEY_NEXT")?,
            access_secret
                .into_iter()
                .chain(access_previous)
                .map(|(k, _)| k)
                .collect(),
        )
        .ok_or_else(|| missing("JWT_SIGNING_KEY"))?;
        let refresh_keys =
            KeySet::refresh(refresh_secret.clone(), refresh_previous.map(|(k, _)| k));

        let workos_client_id =
            get("WORKOS_CLIENT_ID").ok_or_else(|| missing("WORKOS_CLIENT_ID"))?;
        let workos_api_key =
            secret("WORKOS_API_KEY", true)?.ok_or_else(|| missing("WORKOS_API_KEY"))?;
        let workos_client_secret =
            secret("WORKOS_CLIENT_SECRET", false)?.unwrap_or_else(|| workos_api_key.clone());
        let workos_webhook_secret = secret("WORKOS_WEBHOOK_SECRET", false)?;

        let workos_redirect_uri =
            get("WORKOS_REDIRECT_URI").ok_or_else(|| missing("WORKOS_REDIRECT_URI"))?;
        let self_origin = origin_of(&workos_redirect_uri)
            .ok_or_else(|| bad("WORKOS_REDIRECT_URI", "must be an absolute http(s) URL"))?;
        let secure_cookies = self_origin.starts_with("https://");
        if production && !secure_cookies {
            return Err(bad("WORKOS_REDIRECT_URI", "must use https in production"));
        }

        let workos_api_base = get("WORKOS_API_BASE")
            .unwrap_or_else(|| DEFAULT_WORKOS_API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        match origin_of(&workos_api_base) {
            Some(o) if production && !o.starts_with("https://") => {
                return Err(bad("WORKOS_API_BASE", "must use https in production"))
            }
            Some(_) => {}
            None => return Err(bad("WORKOS_API_BASE", "must be an absolute http(s) URL")),
        }

        let allowed_origins = match get("ALLOWED_RETURN_ORIGINS") {
            Some(csv) => AllowedOrigins::parse(&csv).map_err(|_| {
                bad(
                    "ALLOWED_RETURN_ORIGINS",
                    "contains an entry that is not an http(s) origin",
                )
            })?,
            None => AllowedOrigins::empty(),
        };
        if production
            && allowed_origins
                .as_slice()
                .iter()
                .any(|o| !o.starts_with("https://"))
        {
            return Err(bad(
                "ALLOWED_RETURN_ORIGINS",
                "must list only https origins in production",
            ));
        }
        let issuer = get("JWT_ISSUER").unwrap_or_else(|| self_origin.clone());
        let audience = get("JWT_AUDIENCE").unwrap_or_else(|| issuer.clone());

        let number =
            |var: &'static str, default: i64, min: i64, max: i64| -> Result<i64, AppError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => match v.parse::<i64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(bad(
                            var,
                            "is not a whole number in its allowed range (see README)",
                        )),
                    },
                }
            };
        let oauth = oauth_settings(get, production, &audience)?;
        if !oauth.resources.is_empty() && issuer != self_origin {
            return Err(bad(
                "JWT_ISSUER",
                "must be this worker's origin when OAUTH_RESOURCES is set (MCP clients check the metadata's issuer against where they found it)",
            ));
        }
        Ok(Config {
            oauth,
            workos_api_base,
            workos_client_id,
            workos_api_key,
            workos_client_secret,
            workos_redirect_uri,
            workos_webhook_secret,
            workos_timeout_ms: u64::try_from(number("WORKOS_TIMEOUT_MS", 10_000, 100, 30_000)?)
                .unwrap_or(10_000),
            access_keys,
            refresh_keys,
            refresh_secret,
            flow_secret,
            issuer,
            audience,
            self_origin,
            allowed_origins,
            access_ttl_secs: number("ACCESS_TOKEN_TTL_SECONDS", 900, 1, 86_400)?,
            refresh_ttl_secs: number("REFRESH_TOKEN_TTL_SECONDS", 2_592_000, 60, 31_536_000)?,
            session_cache_ttl_secs: number("SESSION_CACHE_TTL_SECONDS", 30, 0, 300)?,
            refresh_grace_secs: number("REFRESH_REUSE_GRACE_SECONDS", 10, 0, 60)?,
            secure_cookies,
            development: !production,
            retention: Retention {
                // At least 90 days: an audit period must be closed before its rows may go.
                audit_days: number("RETENTION_AUDIT_DAYS", 365, 90, 3650)?,
                sessions_days: number("RETENTION_SESSIONS_DAYS", 30, 1, 3650)?,
                // More than the Events API's 30 days, so a redelivered event is still recognised.
                webhook_events_days: number("RETENTION_WEBHOOK_EVENTS_DAYS", 35, 31, 3650)?,
                batch_size: number("RETENTION_BATCH_SIZE", 500, 1, 5000)?,
                max_batches: number("RETENTION_MAX_BATCHES", 10, 1, 100)?,
            },
        })
    }
}

fn on_off(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, AppError> {
    match get(var).as_deref() {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(_) => Err(bad(var, "must be `on` or `off`")),
    }
}

fn oauth_settings(
    get: &dyn Fn(&str) -> Option<String>,
    production: bool,
    audience: &str,
) -> Result<OAuth, AppError> {
    let resources = match get("OAUTH_RESOURCES") {
        Some(json) => resource::parse_resources(&json, production, audience).map_err(|why| {
            log_refusal("OAUTH_RESOURCES", &why);
            bad(
                "OAUTH_RESOURCES",
                "is not a valid list of resources (the log says which entry and why)",
            )
        })?,
        None => Vec::new(),
    };
    let clients = match get("OAUTH_CLIENTS") {
        Some(json) => oauth_client::configured_clients(&json).map_err(|why| {
            log_refusal("OAUTH_CLIENTS", &why);
            bad(
                "OAUTH_CLIENTS",
                "is not a valid list of clients (the log says which entry and why)",
            )
        })?,
        None => Vec::new(),
    };
    for c in &clients {
        if let Some(r) = &c.client.introspects_for {
            if resource::select(&resources, Some(r)).is_err() {
                log_refusal(
                    "OAUTH_CLIENTS",
                    &format!(
                        "client `{}` introspects for `{r}`, which is not in OAUTH_RESOURCES",
                        c.client.client_id
                    ),
                );
                return Err(bad(
                    "OAUTH_CLIENTS",
                    "names an introspection_resource that OAUTH_RESOURCES does not list",
                ));
            }
        }
    }
    let hosts = |var: &'static str| -> Result<HostList, AppError> {
        HostList::parse(&get(var).unwrap_or_default()).map_err(|_| {
            bad(
                var,
                "must be comma-separated host names (`*.` allowed in front)",
            )
        })
    };
    Ok(OAuth {
        resources,
        clients,
        dynamic_registration: on_off(get, "OAUTH_DYNAMIC_REGISTRATION", false)?,
        metadata_documents: on_off(get, "OAUTH_CIMD", true)?,
        trusted_hosts: hosts("OAUTH_CIMD_TRUSTED_HOSTS")?,
        blocked_hosts: hosts("OAUTH_CIMD_BLOCKED_HOSTS")?,
    })
}

/// The reason a structured setting was refused, for the operator's log (`wrangler tail`). These
/// settings hold no secret (clients carry only their secret's hash), so the reason may quote them.
fn log_refusal(var: &str, why: &str) {
    crate::log::error("configuration refused")
        .str("var", var)
        .str("reason", why)
        .emit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dev() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("ENVIRONMENT", "development"),
            ("WORKOS_CLIENT_ID", "client_1"),
            ("WORKOS_API_KEY", "sk_test_1"),
            ("WORKOS_REDIRECT_URI", "http://localhost:8787/auth/callback"),
            ("JWT_SECRET", "dev-only-access-secret-0123456789abcdef"),
            (
                "JWT_REFRESH_SECRET",
                "dev-only-refresh-secret-0123456789abcdef",
            ),
        ])
    }

    fn production() -> HashMap<&'static str, &'static str> {
        let mut vars = dev();
        vars.insert("ENVIRONMENT", "production");
        vars.insert(
            "WORKOS_REDIRECT_URI",
            "https://auth.example.com/auth/callback",
        );
        vars.insert("JWT_SECRET", "a-real-access-secret-that-is-long-enough-1");
        vars.insert(
            "JWT_REFRESH_SECRET",
            "a-real-refresh-secret-that-is-long-enough-2",
        );
        vars
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, AppError> {
        Config::from_source(&|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    fn refused_var(vars: &HashMap<&'static str, &'static str>) -> &'static str {
        match load(vars) {
            Err(AppError::Misconfigured { var, .. }) => var,
            other => panic!("expected a misconfiguration, got {other:?}"),
        }
    }

    #[test]
    fn development_defaults_fill_every_optional_setting() {
        let cfg = load(&dev()).unwrap();
        assert_eq!(cfg.self_origin, "http://localhost:8787");
        assert_eq!(cfg.issuer, "http://localhost:8787");
        assert_eq!(cfg.workos_api_base, "https://api.workos.com");
        assert_eq!(cfg.access_ttl_secs, 900);
        assert_eq!(cfg.refresh_ttl_secs, 2_592_000);
        assert_eq!(cfg.session_cache_ttl_secs, 30);
        assert!(!cfg.secure_cookies);
        assert_eq!(cfg.workos_client_secret.expose(), "sk_test_1");
    }

    #[test]
    fn a_missing_required_setting_is_named() {
        for var in [
            "WORKOS_CLIENT_ID",
            "WORKOS_API_KEY",
            "WORKOS_REDIRECT_URI",
            "JWT_SECRET",
            "JWT_REFRESH_SECRET",
        ] {
            let mut vars = dev();
            vars.remove(var);
            assert_eq!(refused_var(&vars), var);
        }
    }

    #[test]
    fn production_refuses_development_values_and_plain_http() {
        assert!(load(&production()).is_ok());
        let mut vars = production();
        vars.insert("JWT_SECRET", "dev-only-access-secret-0123456789abcdef");
        assert_eq!(refused_var(&vars), "JWT_SECRET");
        let mut vars = production();
        vars.insert(
            "WORKOS_REDIRECT_URI",
            "http://auth.example.com/auth/callback",
        );
        assert_eq!(refused_var(&vars), "WORKOS_REDIRECT_URI");
        let mut vars = production();
        vars.insert("WORKOS_API_BASE", "http://127.0.0.1:8788");
        assert_eq!(refused_var(&vars), "WORKOS_API_BASE");
        let mut vars = production();
        vars.insert("ALLOWED_RETURN_ORIGINS", "http://app.example.com");
        assert_eq!(refused_var(&vars), "ALLOWED_RETURN_ORIGINS");
    }

    #[test]
    fn an_unset_environment_means_production() {
        let mut vars = dev();
        vars.remove("ENVIRONMENT");
        assert_eq!(refused_var(&vars), "JWT_SECRET");
    }

    #[test]
    fn secrets_must_be_long_enough_and_distinct() {
        let mut vars = dev();
        vars.insert("JWT_SECRET", "short");
        assert_eq!(refused_var(&vars), "JWT_SECRET");
        let mut vars = dev();
        vars.insert(
            "JWT_REFRESH_SECRET",
            "dev-only-access-secret-0123456789abcdef",
        );
        assert_eq!(refused_var(&vars), "JWT_REFRESH_SECRET");
    }

    #[test]
    fn numbers_outside_their_range_are_refused_by_name() {
        for (var, value) in [
            ("ACCESS_TOKEN_TTL_SECONDS", "0"),
            ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
            ("REFRESH_TOKEN_TTL_SECONDS", "59"),
            ("SESSION_CACHE_TTL_SECONDS", "301"),
            ("REFRESH_REUSE_GRACE_SECONDS", "-1"),
        ] {
            let mut vars = dev();
            vars.insert(var, value);
            assert_eq!(refused_var(&vars), var, "{var}={value}");
        }
    }

    #[test]
    fn an_ed25519_signing_key_makes_jwt_secret_optional_and_eddsa_the_default() {
        let mut vars = dev();
        vars.remove("JWT_SECRET");
        assert_eq!(
            refused_var(&vars),
            "JWT_SECRET",
            "nothing would sign access tokens"
        );
        vars.insert(
            "JWT_SIGNING_KEY",
            "dev-only-d8Ii3pL7A2Z1wX9Jx0m5bQhZ6n8cVt3KsEuYfRgHqWo",
        );
        let cfg = load(&vars).unwrap();
        assert_eq!(cfg.access_keys.signing_alg(), "EdDSA");
        assert_eq!(cfg.access_keys.jwks().keys.len(), 1);
        assert_eq!(cfg.audience, cfg.issuer);
        vars.insert("JWT_SIGNING_KEY", "not a key");
        assert_eq!(refused_var(&vars), "JWT_SIGNING_KEY");
    }

    #[test]
    fn production_refuses_the_development_signing_key() {
        let mut vars = production();
        vars.insert(
            "JWT_SIGNING_KEY",
            "dev-only-d8Ii3pL7A2Z1wX9Jx0m5bQhZ6n8cVt3KsEuYfRgHqWo",
        );
        assert_eq!(refused_var(&vars), "JWT_SIGNING_KEY");
        vars.insert(
            "JWT_SIGNING_KEY",
            "d8Ii3pL7A2Z1wX9Jx0m5bQhZ6n8cVt3KsEuYfRgHqWo",
        );
        assert!(load(&vars).is_ok());
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let cfg = load(&dev()).unwrap();
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("dev-only-access-secret"));
        assert!(!printed.contains("sk_test_1"));
    }

    #[test]
    fn oauth_settings_default_to_off_except_metadata_documents() {
        let cfg = load(&dev()).unwrap();
        assert!(cfg.oauth.resources.is_empty());
        assert!(!cfg.oauth.dynamic_registration);
        assert!(cfg.oauth.metadata_documents);
    }

    #[test]
    fn oauth_settings_are_checked_by_name() {
        let resources =
            r#"[{"resource":"http://localhost:8788/mcp","name":"Notes","scopes":["notes:read"]}]"#;
        let mut vars = dev();
        vars.insert("OAUTH_RESOURCES", resources);
        let cfg = load(&vars).unwrap();
        assert!(cfg.oauth.resource("HTTP://LOCALHOST:8788/mcp").is_some());
        for (var, value) in [
            ("OAUTH_RESOURCES", "[{}]"),
            ("OAUTH_CLIENTS", "nope"),
            ("OAUTH_DYNAMIC_REGISTRATION", "yes"),
            ("OAUTH_CIMD", "1"),
            ("OAUTH_CIMD_BLOCKED_HOSTS", "evil"),
            ("JWT_ISSUER", "https://issuer.example.com"),
            (
                "OAUTH_CLIENTS",
                r#"[{"client_id":"rs","client_name":"RS","token_endpoint_auth_method":"client_secret_basic","client_secret_sha256":"0000000000000000000000000000000000000000000000000000000000000000","introspection_resource":"https://other.example.com/mcp"}]"#,
            ),
        ] {
            let mut vars = vars.clone();
            vars.insert(var, value);
            assert_eq!(refused_var(&vars), var, "{var}={value}");
        }
    }
}
