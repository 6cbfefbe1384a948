//! The authorization request (RFC 6749 §4.1.1 as OAuth 2.1 and the MCP specification narrow it):
//! `response_type=code`, PKCE with S256 only, an exact redirect URI, one resource (RFC 8707) and
//! scopes within what it offers. Checked in two steps, because RFC 6749 §4.1.2.1 decides where an
//! error may go: until the client and its redirect URI are known, an error is shown to the person
//! and never redirected (an unverified redirect would be an open redirector); after that, errors go
//! back to the client, with `state` and `iss` (RFC 9207).

use url::Url;

use super::client::Client;
use super::params::Params;
use super::resource::{self, Resource};
use super::scope::{self, Scopes};
use super::{is_printable, Kind, Refusal};
use crate::pkce;

pub const MAX_STATE_LEN: usize = 1024;

/// Where the client's answers go, once the client is known: the registered redirect URI the request
/// names (exactly), or its only one. An error here is shown, never redirected.
pub fn redirect_uri(params: &Params, client: &Client) -> Result<String, Refusal> {
    match client.redirect_uri_for(params.get("redirect_uri")) {
        Some(uri) => Ok(uri.to_owned()),
        None if params.get("redirect_uri").is_some() => Err(Refusal::param(
            "redirect_uri",
            "is not registered for this client (it must match exactly)",
        )),
        None => Err(Refusal::param(
            "redirect_uri",
            "is required: this client has several",
        )),
    }
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub redirect_uri: String,
    /// The request named `redirect_uri` (then the token request must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Scopes,
}

/// The rest of the request, once [`redirect_uri`] has accepted `redirect`. Errors go to the client.
pub fn check(
    params: &Params,
    redirect: String,
    resources: &[Resource],
) -> Result<Request, Refusal> {
    let state = params.get("state").map(str::to_owned);
    if state
        .as_deref()
        .is_some_and(|s| s.len() > MAX_STATE_LEN || !is_printable(s))
    {
        return Err(Refusal::param(
            "state",
            &format!("must be at most {MAX_STATE_LEN} printable characters"),
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(Refusal::param("response_type", "is required (`code`)")),
        Some(_) => {
            return Err(Refusal::new(
                Kind::UnsupportedResponseType,
                "Only `response_type=code` is supported.",
            ))
        }
    }
    let challenge = params.get("code_challenge").ok_or_else(|| {
        Refusal::param("code_challenge", "is required: PKCE with S256 is mandatory")
    })?;
    match params.get("code_challenge_method") {
        Some("S256") => {}
        // RFC 7636 §4.3: an absent method means `plain`, which OAuth 2.1 servers refuse.
        None => {
            return Err(Refusal::param(
                "code_challenge_method",
                "is required and must be `S256` (absent means `plain`, which is refused)",
            ))
        }
        Some("plain") => {
            return Err(Refusal::param(
                "code_challenge_method",
                "`plain` is refused; use `S256`",
            ))
        }
        Some(_) => {
            return Err(Refusal::param(
                "code_challenge_method",
                "is not supported; use `S256`",
            ))
        }
    }
    if !pkce::is_valid_s256_challenge(challenge) {
        return Err(Refusal::param(
            "code_challenge",
            "must be the 43-character base64url SHA-256 of the verifier",
        ));
    }
    let resource = resource::select(resources, params.get("resource"))
        .map_err(|why| Refusal::new(Kind::InvalidTarget, format!("`resource` {why}.")))?;
    let scopes = scope::requested(params.get("scope"), &resource.scopes)?;
    Ok(Request {
        redirect_uri_given: params.get("redirect_uri").is_some(),
        redirect_uri: redirect,
        state,
        code_challenge: challenge.to_owned(),
        resource: resource.uri.clone(),
        scopes,
    })
}

/// The client's redirect URI with `extra` added to its query (any query it already has is kept,
/// RFC 6749 §3.1.2), `state` when the request had one, and `iss` (RFC 9207 §2) always.
pub fn callback_url(
    redirect_uri: &str,
    extra: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> Option<String> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::{AuthMethod, Source};
    use serde_json::json;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn client() -> Client {
        Client {
            client_id: "c".into(),
            name: "C".into(),
            redirect_uris: vec![
                "https://app.example.com/cb".into(),
                "http://127.0.0.1:9/cb".into(),
            ],
            auth_method: AuthMethod::None,
            refresh: true,
            source: Source::Configured,
            introspects_for: None,
        }
    }

    fn resources() -> Vec<Resource> {
        resource::parse_resources(
            &json!([{ "resource": RESOURCE, "name": "Notes", "scopes": ["notes:read", "notes:write"] }]).to_string(),
            true,
            "https://auth.example.com",
        )
        .unwrap()
    }

    fn params(extra: &str) -> Params {
        let base = format!(
            "response_type=code&client_id=c&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256&state=xyz{extra}"
        );
        Params::from_urlencoded(base.as_bytes()).unwrap()
    }

    fn run(p: &Params) -> Result<Request, Refusal> {
        let redirect = redirect_uri(p, &client())?;
        check(p, redirect, &resources())
    }

    #[test]
    fn a_complete_request_is_accepted_with_its_defaults() {
        let r = run(&params("")).unwrap();
        assert_eq!(r.redirect_uri, "https://app.example.com/cb");
        assert!(r.redirect_uri_given);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(r.resource, RESOURCE);
        assert_eq!(r.scopes.to_string(), "notes:read notes:write");
        let r = run(&params(
            "&scope=notes%3Aread&resource=HTTPS%3A%2F%2Fmcp.example.com%2Fmcp",
        ))
        .unwrap();
        assert_eq!(r.scopes.to_string(), "notes:read");
        assert_eq!(r.resource, RESOURCE);
    }

    #[test]
    fn pkce_must_be_s256_with_a_well_formed_challenge() {
        for (extra_query, needle) in [
            ("response_type=code&client_id=c&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", "code_challenge"),
            (&format!("response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={CHALLENGE}") as &str, "absent means `plain`"),
            (&format!("response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=plain"), "`plain` is refused"),
            (&format!("response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S512"), "not supported"),
            ("response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge=short&code_challenge_method=S256", "43-character"),
        ] {
            let p = Params::from_urlencoded(extra_query.as_bytes()).unwrap();
            let e = run(&p).unwrap_err();
            assert_eq!(e.kind, Kind::InvalidRequest, "{extra_query}");
            assert!(e.description.contains(needle), "{extra_query}: {e}");
        }
    }

    #[test]
    fn the_redirect_uri_must_be_registered_exactly_and_that_error_is_never_redirected() {
        let p =
            Params::from_urlencoded(b"redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2F").unwrap();
        assert!(redirect_uri(&p, &client())
            .unwrap_err()
            .description
            .contains("exactly"));
        let p = Params::from_urlencoded(b"response_type=code").unwrap();
        assert!(redirect_uri(&p, &client())
            .unwrap_err()
            .description
            .contains("several"));
    }

    #[test]
    fn other_problems_name_their_oauth_error() {
        for (extra, kind) in [
            (
                "&resource=https%3A%2F%2Fmcp.example.com%2Fother",
                Kind::InvalidTarget,
            ),
            (
                "&resource=https%3A%2F%2Fmcp.example.com%2Fmcp%23f",
                Kind::InvalidTarget,
            ),
            ("&scope=admin%3Aall", Kind::InvalidScope),
        ] {
            assert_eq!(
                run(&params(extra)).map_err(|e| e.kind),
                Err(kind),
                "{extra}"
            );
        }
        let p = Params::from_urlencoded(
            format!("response_type=token&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={CHALLENGE}&code_challenge_method=S256").as_bytes(),
        )
        .unwrap();
        assert_eq!(
            run(&p).map_err(|e| e.kind),
            Err(Kind::UnsupportedResponseType)
        );
        let p = Params::from_urlencoded(format!("{}&state=%07", "response_type=code").as_bytes())
            .unwrap();
        assert!(check(&p, "https://app.example.com/cb".into(), &resources()).is_err());
    }

    #[test]
    fn the_callback_keeps_the_registered_query_and_carries_state_and_iss_once() {
        let u = callback_url(
            "https://app.example.com/cb?tenant=1",
            &[("code", "abc")],
            Some("s t"),
            "https://auth.example.com",
        )
        .unwrap();
        assert_eq!(u, "https://app.example.com/cb?tenant=1&code=abc&state=s+t&iss=https%3A%2F%2Fauth.example.com");
        let u = callback_url(
            "com.example.app:/cb",
            &[("error", "access_denied")],
            None,
            "https://auth.example.com",
        )
        .unwrap();
        assert_eq!(
            u,
            "com.example.app:/cb?error=access_denied&iss=https%3A%2F%2Fauth.example.com"
        );
    }
}
