//! WorkOS User Management payload types, error parsing, retry policy and URL builders. The facts they
//! follow are collected in `tests/fixtures/workos-api.md`; "§N" below is a section of that document.
//! Must not do I/O or hold credentials: the worker's HTTP client uses these to build requests and read
//! answers. All payload types ignore unknown keys and tolerate missing optional keys; each is read
//! from parsed JSON by its `from_json` (see [`crate::json::Record`] for the rules).

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use url::form_urlencoded;

use crate::encoding::b64url_decode;
use crate::json::{Record, Shape};

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub profile_picture_url: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl User {
    pub fn from_json(v: &Value) -> Result<User, Shape> {
        let r = Record::of(v)?;
        Ok(User {
            id: r.str("id")?,
            email: r.str("email")?,
            email_verified: r.bool_or("email_verified", false)?,
            first_name: r.opt_str("first_name")?,
            last_name: r.opt_str("last_name")?,
            profile_picture_url: r.opt_str("profile_picture_url")?,
            created_at: r.opt_str("created_at")?,
            updated_at: r.opt_str("updated_at")?,
        })
    }
}

/// `POST /user_management/authenticate` 200 body (workos-api.md §2). `Debug` hides both tokens.
#[derive(Clone)]
pub struct AuthenticateResponse {
    pub user: User,
    pub organization_id: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    pub authentication_method: Option<String>,
}

impl AuthenticateResponse {
    pub fn from_json(v: &Value) -> Result<AuthenticateResponse, Shape> {
        let r = Record::of(v)?;
        Ok(AuthenticateResponse {
            user: User::from_json(r.value("user")?)?,
            organization_id: r.opt_str("organization_id")?,
            access_token: r.str("access_token")?,
            refresh_token: r.str("refresh_token")?,
            authentication_method: r.opt_str("authentication_method")?,
        })
    }
}

impl fmt::Debug for AuthenticateResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticateResponse")
            .field("user", &self.user)
            .field("organization_id", &self.organization_id)
            .field("access_token", &"<hidden>")
            .field("refresh_token", &"<hidden>")
            .field("authentication_method", &self.authentication_method)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Organization {
    pub fn from_json(v: &Value) -> Result<Organization, Shape> {
        let r = Record::of(v)?;
        Ok(Organization {
            id: r.str("id")?,
            name: r.str("name")?,
            created_at: r.opt_str("created_at")?,
            updated_at: r.opt_str("updated_at")?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RoleRef {
    pub slug: String,
}

#[derive(Clone, Debug)]
pub struct Membership {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub status: String,
    pub role: Option<RoleRef>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Membership {
    pub fn from_json(v: &Value) -> Result<Membership, Shape> {
        let r = Record::of(v)?;
        Ok(Membership {
            id: r.str("id")?,
            user_id: r.str("user_id")?,
            organization_id: r.str("organization_id")?,
            status: r.str("status")?,
            role: match r.opt_record("role")? {
                Some(role) => Some(RoleRef {
                    slug: role.str("slug")?,
                }),
                None => None,
            },
            created_at: r.opt_str("created_at")?,
            updated_at: r.opt_str("updated_at")?,
        })
    }

    /// The membership status as one of the three values WorkOS documents (§5), or `None` for anything
    /// else (which must not be stored: the table only holds these three).
    pub fn known_status(&self) -> Option<&'static str> {
        match self.status.as_str() {
            "active" => Some("active"),
            "inactive" => Some("inactive"),
            "pending" => Some("pending"),
            _ => None,
        }
    }

    /// The role slug, `member` when WorkOS sent none.
    pub fn role_slug(&self) -> &str {
        self.role.as_ref().map_or("member", |r| r.slug.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct SessionObject {
    pub id: String,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub status: Option<String>,
}

impl SessionObject {
    pub fn from_json(v: &Value) -> Result<SessionObject, Shape> {
        let r = Record::of(v)?;
        Ok(SessionObject {
            id: r.str("id")?,
            user_id: r.opt_str("user_id")?,
            organization_id: r.opt_str("organization_id")?,
            status: r.opt_str("status")?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct ListMetadata {
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug)]
pub struct List<T> {
    pub data: Vec<T>,
    pub list_metadata: Option<ListMetadata>,
}

impl<T> List<T> {
    /// A list whose items `item` reads.
    pub fn from_json(v: &Value, item: fn(&Value) -> Result<T, Shape>) -> Result<List<T>, Shape> {
        let r = Record::of(v)?;
        Ok(List {
            data: r.list("data", item)?,
            list_metadata: match r.opt_record("list_metadata")? {
                Some(m) => Some(ListMetadata {
                    before: m.opt_str("before")?,
                    after: m.opt_str("after")?,
                }),
                None => None,
            },
        })
    }
}

/// Webhook / Events API envelope (workos-api.md §6, §7). `data` is kept raw: its shape depends on `event`,
/// and unknown events must still be acknowledged.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: String,
    pub event: String,
    pub data: Value,
    pub created_at: Option<String>,
}

impl Event {
    pub fn from_json(v: &Value) -> Result<Event, Shape> {
        let r = Record::of(v)?;
        Ok(Event {
            id: r.str("id")?,
            event: r.str("event")?,
            data: r.value("data")?.clone(),
            created_at: r.opt_str("created_at")?,
        })
    }
}

/// A WorkOS error answer, normalized from its three shapes (workos-api.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// WorkOS's code (`invalid_grant`, `sso_required`, …) or `http_<status>` when it gave none usable.
    pub code: String,
    /// At most [`MAX_MESSAGE_CHARS`] characters, control characters replaced; safe for logs.
    pub message: String,
    /// From a delta-seconds `Retry-After` header.
    pub retry_after_secs: Option<u64>,
}

pub const MAX_MESSAGE_CHARS: usize = 200;
const MAX_CODE_LEN: usize = 64;

/// Codes that mean "the user must do something more" (workos-api.md §2, §3).
const STEP_UP_CODES: [&str; 5] = [
    "sso_required",
    "organization_selection_required",
    "email_verification_required",
    "mfa_enrollment",
    "mfa_challenge",
];

impl ApiError {
    /// Worth retrying later: timeout, rate limit, or a server-side failure.
    pub fn is_transient(&self) -> bool {
        is_retryable_status(self.status)
    }

    /// The code, refresh token or verifier is bad, expired or already used: never retry, end the flow.
    pub fn is_invalid_grant(&self) -> bool {
        self.code == "invalid_grant"
    }

    pub fn is_step_up(&self) -> bool {
        self.status == 403 || STEP_UP_CODES.contains(&self.code.as_str())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkOS {} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Normalizes `{"error","error_description"}` | `{"code","message",…}` | `{"message"}`; anything else
/// (HTML from a proxy, empty body, other JSON) becomes code `http_<status>` with a fixed message, so
/// foreign bodies are never copied into logs. Only these string fields are read: other fields (such as a
/// `pending_authentication_token`) are never copied.
pub fn parse_error(status: u16, body: &str, retry_after_header: Option<&str>) -> ApiError {
    let json = crate::json::parse(body.as_bytes())
        .ok()
        .filter(serde_json::Value::is_object);
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (code, message) = if json.is_none() {
        (None, String::from("unrecognized error response"))
    } else if let Some(error) = field("error") {
        (Some(error), field("error_description").unwrap_or_default())
    } else if let Some(code) = field("code") {
        (Some(code), field("message").unwrap_or_default())
    } else {
        (None, field("message").unwrap_or_default())
    };
    ApiError {
        status,
        code: code
            .filter(|c| is_plain_code(c))
            .unwrap_or_else(|| format!("http_{status}")),
        message: sanitize_message(&message),
        retry_after_secs: retry_after_header.and_then(parse_retry_after),
    }
}

fn is_plain_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Truncated to [`MAX_MESSAGE_CHARS`] characters (on a char boundary) with control characters replaced by
/// spaces, so a message cannot forge extra log lines.
fn sanitize_message(message: &str) -> String {
    message
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// RFC 9110 §10.2.3 delta-seconds. The HTTP-date form needs a clock and is ignored (the caller then
/// falls back to exponential backoff).
fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Retries after the first attempt (the WorkOS SDKs use 3).
pub const MAX_RETRIES: u32 = 3;
const BACKOFF_BASE_MS: f64 = 500.0;
const BACKOFF_FACTOR: f64 = 1.5;
/// A Worker must never sleep long; this caps both the computed delay and `Retry-After`.
pub const BACKOFF_CAP_MS: u64 = 8_000;

/// Delay before retry number `retry_index` (0-based). A `Retry-After` wins (seconds × 1000, capped at
/// [`BACKOFF_CAP_MS`]). Otherwise `base = min(500 ms × 1.5^index, cap)` with "equal jitter":
/// `base/2 + jitter_unit × base/2`, so retries spread out but never collapse to zero. `jitter_unit` is
/// expected in `[0, 1)`; NaN counts as 0 and other values are clamped.
pub fn backoff_ms(retry_index: u32, retry_after_secs: Option<u64>, jitter_unit: f64) -> u64 {
    if let Some(secs) = retry_after_secs {
        return secs.saturating_mul(1000).min(BACKOFF_CAP_MS);
    }
    // 1.5^20 × 500 ms is far beyond the cap already; bounding the exponent keeps the float finite.
    let exponent = i32::try_from(retry_index.min(20)).unwrap_or(20);
    let cap = BACKOFF_CAP_MS as f64;
    let base = (BACKOFF_BASE_MS * BACKOFF_FACTOR.powi(exponent)).min(cap);
    let jitter = if jitter_unit.is_nan() {
        0.0
    } else {
        jitter_unit.clamp(0.0, 1.0)
    };
    let delay = base / 2.0 + jitter * base / 2.0;
    // `delay` is finite and within [0, cap], so the saturating float-to-int cast is exact enough.
    delay.round().clamp(0.0, cap) as u64
}

/// 408, 429 and 5xx are transient (workos-api.md §3, §8); everything else is final.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

pub struct AuthorizeParams<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub provider: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub connection_id: Option<&'a str>,
    pub screen_hint: Option<&'a str>,
    pub login_hint: Option<&'a str>,
}

/// `GET {base}/user_management/authorize?…` (workos-api.md §1). `provider=authkit` is the default selector
/// unless a provider, organization or connection is given. Empty optional values count as absent. Every
/// value is form-urlencoded, so no parameter can smuggle in another.
pub fn authorize_url(api_base: &str, p: &AuthorizeParams) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", p.client_id)
        .append_pair("redirect_uri", p.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("state", p.state)
        .append_pair("code_challenge", p.code_challenge)
        .append_pair("code_challenge_method", "S256");

    let provider = non_empty(p.provider);
    let organization_id = non_empty(p.organization_id);
    let connection_id = non_empty(p.connection_id);
    let provider = match (provider, organization_id, connection_id) {
        (None, None, None) => Some("authkit"),
        _ => provider,
    };
    for (key, value) in [
        ("provider", provider),
        ("organization_id", organization_id),
        ("connection_id", connection_id),
        ("screen_hint", non_empty(p.screen_hint)),
        ("login_hint", non_empty(p.login_hint)),
    ] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    format!(
        "{}/user_management/authorize?{}",
        trim_base(api_base),
        query.finish()
    )
}

/// `GET {base}/user_management/sessions/logout?session_id=…&return_to=…` (workos-api.md §4).
pub fn logout_url(api_base: &str, session_id: &str, return_to: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("session_id", session_id);
    if let Some(return_to) = non_empty(return_to) {
        query.append_pair("return_to", return_to);
    }
    format!(
        "{}/user_management/sessions/logout?{}",
        trim_base(api_base),
        query.finish()
    )
}

fn trim_base(api_base: &str) -> &str {
    api_base.trim().trim_end_matches('/')
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// WorkOS access tokens are small; anything bigger is not one.
const MAX_WORKOS_TOKEN_LEN: usize = 16 * 1024;

/// Reads the `sid` claim of WorkOS's RS256 access token WITHOUT verifying its signature.
///
/// This is deliberate and only safe where it is used: the token arrives in the body of our own
/// server-to-server code-exchange response from WorkOS over TLS (workos-api.md §2), so it is as trustworthy as
/// the rest of that response. The value is only read to remember WorkOS's session id for logout; the token
/// is never accepted as a credential, and this function must never be applied to a token a client sent.
pub fn peek_session_id(workos_access_token: &str) -> Option<String> {
    if workos_access_token.len() > MAX_WORKOS_TOKEN_LEN {
        return None;
    }
    let mut parts = workos_access_token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims = crate::json::parse(&b64url_decode(payload)?).ok()?;
    Record::of(&claims)
        .ok()?
        .opt_str("sid")
        .ok()?
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn membership_status_accepts_only_the_documented_values() {
        let m = |status: &str| super::Membership {
            id: "om_1".into(),
            user_id: "user_1".into(),
            organization_id: "org_1".into(),
            status: status.into(),
            role: None,
            created_at: None,
            updated_at: None,
        };
        assert_eq!(m("active").known_status(), Some("active"));
        assert_eq!(m("pending").known_status(), Some("pending"));
        assert_eq!(m("Active").known_status(), None);
        assert_eq!(m("deleted").known_status(), None);
        assert_eq!(m("active").role_slug(), "member");
    }

    use super::*;
    use crate::encoding::b64url_encode;

    const FULL_USER: &str = r#"{"object":"user","id":"user_01E4","email":"a@example.com","email_verified":true,
        "first_name":"Ada","last_name":null,"profile_picture_url":null,"external_id":null,
        "last_sign_in_at":"2025-06-25T19:07:33.000Z","created_at":"c","updated_at":"u","metadata":{},"locale":null}"#;

    #[test]
    fn parses_authenticate_response_with_extra_and_missing_keys() {
        let body = format!(
            r#"{{"user":{FULL_USER},"organization_id":null,"access_token":"at","refresh_token":"rt",
                "impersonator":{{"email":"x","reason":null}}}}"#
        );
        let r = AuthenticateResponse::from_json(&parse(&body)).unwrap();
        assert_eq!(r.user.id, "user_01E4");
        assert_eq!(r.user.first_name.as_deref(), Some("Ada"));
        assert_eq!(r.user.last_name, None);
        assert!(r.organization_id.is_none());
        assert!(r.authentication_method.is_none());
        let minimal = User::from_json(&parse(r#"{"id":"u","email":"e"}"#)).unwrap();
        assert!(!minimal.email_verified);
    }

    #[test]
    fn authenticate_response_debug_hides_tokens() {
        let body = format!(
            r#"{{"user":{FULL_USER},"access_token":"secret-at","refresh_token":"secret-rt","authentication_method":"SSO"}}"#
        );
        let r = AuthenticateResponse::from_json(&parse(&body)).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("secret-at") && !dbg.contains("secret-rt"));
        assert!(dbg.contains("<hidden>"));
    }

    #[test]
    fn parses_membership_list_and_event() {
        let list = List::from_json(
            &parse(r#"{"object":"list","data":[{"object":"organization_membership","id":"om_1","user_id":"u",
               "organization_id":"o","organization_name":"Acme","status":"active","role":{"slug":"admin"},
               "roles":[{"slug":"admin"}],"created_at":"c","updated_at":"u"}],
               "list_metadata":{"before":null,"after":"om_1"}}"#),
            Membership::from_json,
        )
        .unwrap();
        assert_eq!(list.data[0].role.as_ref().unwrap().slug, "admin");
        assert_eq!(list.list_metadata.unwrap().after.as_deref(), Some("om_1"));
        let e = Event::from_json(&parse(
            r#"{"object":"event","id":"event_1","event":"dsync.group.created","data":{"x":1},"context":{}}"#,
        ))
        .unwrap();
        assert_eq!(e.event, "dsync.group.created");
        assert!(e.created_at.is_none());
        let org = Organization::from_json(&parse(
            r#"{"object":"organization","id":"org_1","name":"Acme","domains":[]}"#,
        ))
        .unwrap();
        assert_eq!(org.name, "Acme");
        let s =
            SessionObject::from_json(&parse(r#"{"object":"session","id":"session_1"}"#)).unwrap();
        assert!(s.user_id.is_none());
    }

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn payloads_of_the_wrong_shape_are_refused_with_the_field_named() {
        let user = |text: &str| User::from_json(&parse(text));
        assert_eq!(user(r#"{"email":"e"}"#).unwrap_err(), Shape("id"));
        assert_eq!(
            user(r#"{"id":"u","email":null}"#).unwrap_err(),
            Shape("email")
        );
        assert_eq!(user(r#"{"id":7,"email":"e"}"#).unwrap_err(), Shape("id"));
        assert_eq!(
            user(r#"{"id":"u","email":"e","first_name":3}"#).unwrap_err(),
            Shape("first_name")
        );
        assert_eq!(
            user(r#"{"id":"u","email":"e","email_verified":"yes"}"#).unwrap_err(),
            Shape("email_verified")
        );
        assert!(user("[]").is_err());
        let membership = |text: &str| Membership::from_json(&parse(text));
        let ok = r#"{"id":"om","user_id":"u","organization_id":"o","status":"active"}"#;
        assert!(membership(ok).unwrap().role.is_none());
        assert_eq!(
            membership(&ok.replace('}', r#","role":{"name":"x"}}"#)).unwrap_err(),
            Shape("slug")
        );
        assert_eq!(
            membership(&ok.replace('}', r#","role":"admin"}"#)).unwrap_err(),
            Shape("role")
        );
        let list = |text: &str| List::from_json(&parse(text), Membership::from_json);
        assert_eq!(list(r#"{"data":{}}"#).unwrap_err(), Shape("data"));
        assert!(list(&format!(r#"{{"data":[{ok},{{"id":1}}]}}"#)).is_err());
        assert!(Event::from_json(&parse(r#"{"id":"e","event":"x"}"#)).is_err());
        assert!(Event::from_json(&parse(r#"{"id":"e","event":"x","data":null}"#)).is_ok());
    }

    #[test]
    fn parses_oauth_style_error() {
        let e = parse_error(
            400,
            r#"{"error":"invalid_grant","error_description":"The code has expired."}"#,
            None,
        );
        assert_eq!(e.code, "invalid_grant");
        assert_eq!(e.message, "The code has expired.");
        assert!(e.is_invalid_grant());
        assert!(!e.is_transient());
        assert!(!e.is_step_up());
    }

    #[test]
    fn parses_code_message_error_and_step_up() {
        let e = parse_error(
            403,
            r#"{"code":"organization_selection_required","message":"Pick one","pending_authentication_token":"pat_secret","organizations":[]}"#,
            None,
        );
        assert_eq!(e.code, "organization_selection_required");
        assert!(e.is_step_up());
        assert!(!format!("{e:?}").contains("pat_secret"));
        let sso = parse_error(
            400,
            r#"{"error":"sso_required","error_description":"Use SSO","connection_ids":[]}"#,
            None,
        );
        assert!(sso.is_step_up());
        assert!(parse_error(403, "", None).is_step_up());
    }

    #[test]
    fn parses_message_only_error() {
        let e = parse_error(404, r#"{"message":"User not found"}"#, None);
        assert_eq!(e.code, "http_404");
        assert_eq!(e.message, "User not found");
    }

    #[test]
    fn non_json_error_gets_http_code_and_no_echo() {
        let e = parse_error(502, "<html>Bad gateway token=abc</html>", None);
        assert_eq!(e.code, "http_502");
        assert!(!e.message.contains("token=abc"));
        assert!(e.is_transient());
        assert_eq!(
            parse_error(500, r#"{"unexpected":true}"#, None).code,
            "http_500"
        );
        assert_eq!(
            parse_error(500, r#""just a string""#, None).code,
            "http_500"
        );
    }

    #[test]
    fn message_is_truncated_and_cannot_forge_log_lines() {
        let long = "é".repeat(500);
        let e = parse_error(400, &format!(r#"{{"message":"{long}"}}"#), None);
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS);
        let e = parse_error(400, r#"{"message":"a\nlevel=error forged"}"#, None);
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn odd_codes_fall_back_to_http_status() {
        let e = parse_error(
            400,
            r#"{"code":"bad code\nwith newline","message":"m"}"#,
            None,
        );
        assert_eq!(e.code, "http_400");
        let e = parse_error(400, &format!(r#"{{"code":"{}"}}"#, "a".repeat(65)), None);
        assert_eq!(e.code, "http_400");
    }

    #[test]
    fn retry_after_seconds_are_parsed_dates_ignored() {
        assert_eq!(parse_error(429, "{}", Some("7")).retry_after_secs, Some(7));
        assert_eq!(
            parse_error(429, "{}", Some(" 12 ")).retry_after_secs,
            Some(12)
        );
        assert_eq!(
            parse_error(429, "{}", Some("Wed, 21 Oct 2015 07:28:00 GMT")).retry_after_secs,
            None
        );
        assert_eq!(parse_error(429, "{}", Some("-1")).retry_after_secs, None);
        assert!(parse_error(429, "{}", None).is_transient());
        assert!(parse_error(408, "{}", None).is_transient());
    }

    #[test]
    fn backoff_grows_by_half_and_is_capped() {
        assert_eq!(backoff_ms(0, None, 0.999_999), 500);
        assert_eq!(backoff_ms(0, None, 0.0), 250);
        assert_eq!(backoff_ms(1, None, 0.999_999), 750);
        assert_eq!(backoff_ms(2, None, 0.999_999), 1125);
        assert_eq!(backoff_ms(30, None, 1.0), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(u32::MAX, None, 0.0), BACKOFF_CAP_MS / 2);
    }

    #[test]
    fn backoff_honours_retry_after_with_cap() {
        assert_eq!(backoff_ms(0, Some(2), 0.5), 2000);
        assert_eq!(backoff_ms(0, Some(0), 0.5), 0);
        assert_eq!(backoff_ms(0, Some(3600), 0.5), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(0, Some(u64::MAX), 0.5), BACKOFF_CAP_MS);
    }

    #[test]
    fn backoff_survives_bad_jitter() {
        assert_eq!(backoff_ms(0, None, f64::NAN), 250);
        assert_eq!(backoff_ms(0, None, -3.0), 250);
        assert_eq!(backoff_ms(0, None, f64::INFINITY), 500);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    fn params<'a>() -> AuthorizeParams<'a> {
        AuthorizeParams {
            client_id: "client_123",
            redirect_uri: "https://auth.example.com/auth/callback",
            state: "st",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            provider: None,
            organization_id: None,
            connection_id: None,
            screen_hint: None,
            login_hint: None,
        }
    }

    #[test]
    fn authorize_url_defaults_to_authkit_and_encodes_values() {
        let url = authorize_url("https://api.workos.com/", &params());
        assert_eq!(
            url,
            "https://api.workos.com/user_management/authorize?client_id=client_123\
             &redirect_uri=https%3A%2F%2Fauth.example.com%2Fauth%2Fcallback&response_type=code&state=st\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&provider=authkit"
        );
    }

    #[test]
    fn authorize_url_uses_given_selector_instead_of_authkit() {
        let mut p = params();
        p.organization_id = Some("org_1");
        p.login_hint = Some("a+b@example.com&provider=evil");
        p.screen_hint = Some("");
        let url = authorize_url("http://127.0.0.1:8787/workos", &p);
        assert!(url.starts_with("http://127.0.0.1:8787/workos/user_management/authorize?"));
        assert!(!url.contains("provider="));
        assert!(url.contains("&organization_id=org_1"));
        assert!(url.contains("&login_hint=a%2Bb%40example.com%26provider%3Devil"));
        assert!(!url.contains("screen_hint"));
        let mut p = params();
        p.provider = Some("GoogleOAuth");
        assert!(authorize_url("https://api.workos.com", &p).ends_with("&provider=GoogleOAuth"));
    }

    #[test]
    fn logout_url_encodes_return_to() {
        assert_eq!(
            logout_url(
                "https://api.workos.com//",
                "session_1",
                Some("https://app.example.com/?a=1&b=2")
            ),
            "https://api.workos.com/user_management/sessions/logout?session_id=session_1\
             &return_to=https%3A%2F%2Fapp.example.com%2F%3Fa%3D1%26b%3D2"
        );
        assert_eq!(
            logout_url("https://api.workos.com", "session_1", None),
            "https://api.workos.com/user_management/sessions/logout?session_id=session_1"
        );
    }

    #[test]
    fn peek_session_id_reads_sid_without_verifying() {
        let payload = b64url_encode(
            br#"{"iss":"https://api.workos.com","sub":"user_1","sid":"session_01H"}"#,
        );
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        assert_eq!(peek_session_id(&token), Some("session_01H".into()));
    }

    #[test]
    fn peek_session_id_returns_none_for_junk() {
        let no_sid = format!("h.{}.s", b64url_encode(br#"{"sub":"u"}"#));
        for t in ["", "a.b", "a.b.c.d", "h.!!!.s", "h.e30", &no_sid] {
            assert_eq!(peek_session_id(t), None, "{t}");
        }
        assert_eq!(peek_session_id(&"a".repeat(MAX_WORKOS_TOKEN_LEN + 1)), None);
    }
}
