//! What a browser is owed, decided from plain header values: CORS for the allowed origins (Fetch
//! Standard §3.2, "CORS protocol"), a page or JSON for a failed request, and the development-only
//! redirect from a loopback address to the configured origin. No I/O; the HTTP layer reads the
//! headers and writes the answers.

use url::Url;

use crate::return_to::{origin_of, AllowedOrigins};

/// Request headers a browser app may send cross-origin (beyond the CORS-safelisted ones).
pub const CORS_ALLOW_HEADERS: &str = "authorization, content-type";
/// Response headers a browser app may read (beyond the CORS-safelisted ones).
pub const CORS_EXPOSE_HEADERS: &str = "retry-after, www-authenticate, x-request-id";
/// How long a browser may reuse a preflight answer (Chromium caps it at 2 hours).
pub const CORS_MAX_AGE_SECS: u32 = 600;

/// The `Access-Control-Allow-Origin` value for a request with this `Origin`: the origin itself when it
/// is exactly (byte for byte) one of the allowed origins, else nothing. Browsers send `Origin`
/// serialized (lower-case scheme and host, default port dropped), the same form the configuration is
/// normalized to, so an exact comparison refuses nothing legitimate; never a wildcard, never a
/// reflection of an origin that is not configured.
pub fn cors_origin<'a>(origin: Option<&'a str>, allowed: &AllowedOrigins) -> Option<&'a str> {
    let origin = origin?;
    allowed
        .as_slice()
        .iter()
        .any(|o| o == origin)
        .then_some(origin)
}

/// Why a preflight (`OPTIONS` with `Access-Control-Request-Method`) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightRefusal {
    /// No `Origin`, or one that is not allowed.
    Origin,
    /// The method asked for is not one the route serves.
    Method,
}

/// Checks a preflight against the route's methods (`"GET, POST"`): `Ok(origin)` to answer with.
pub fn check_preflight<'a>(
    origin: Option<&'a str>,
    requested_method: Option<&str>,
    route_methods: &str,
    allowed: &AllowedOrigins,
) -> Result<&'a str, PreflightRefusal> {
    let origin = cors_origin(origin, allowed).ok_or(PreflightRefusal::Origin)?;
    let method = requested_method.ok_or(PreflightRefusal::Method)?;
    // Methods are case-sensitive tokens (RFC 9110 §9.1); browsers upper-case the standard ones.
    if route_methods.split(',').map(str::trim).any(|m| m == method) {
        Ok(origin)
    } else {
        Err(PreflightRefusal::Method)
    }
}

/// Does the client of a failed request want a page (a person navigating) rather than JSON (a
/// program)? A browser says so with `Sec-Fetch-Mode: navigate`; a `fetch()` says `cors`,
/// `same-origin` or `no-cors` and gets JSON whatever it accepts. (The header is read as a list:
/// browsers send one value, but a client library may append its own to the caller's.) Without
/// fetch metadata (older browsers, curl, SDKs), a page only when `Accept` names `text/html` and
/// not `application/json`.
pub fn wants_page(accept: Option<&str>, sec_fetch_mode: Option<&str>) -> bool {
    if let Some(modes) = sec_fetch_mode {
        return modes
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("navigate"));
    }
    let accept = accept.unwrap_or_default().to_ascii_lowercase();
    accept.contains("text/html") && !accept.contains("application/json")
}

/// Development only: a request that reached this worker on a loopback IP address (`127.0.0.1`,
/// `[::1]`; wrangler prints the former) while the configured origin names another host
/// (`localhost`) is sent to the same path on the configured origin. Cookies are per host, so a
/// sign-in started on `127.0.0.1` could never find its flow cookie on the callback, which WorkOS
/// sends to the configured origin. The target is always `self_origin`: the request decides only the
/// path and query, never where the browser goes.
pub fn loopback_redirect(request_url: &str, self_origin: &str) -> Option<String> {
    let url = Url::parse(request_url).ok()?;
    let is_loopback_ip = match url.host()? {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(_) => false,
    };
    let own = origin_of(self_origin)?;
    if !is_loopback_ip || origin_of(request_url).as_deref() == Some(own.as_str()) {
        return None;
    }
    let mut target = format!("{own}{}", url.path());
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> AllowedOrigins {
        AllowedOrigins::parse("https://app.example.com, http://localhost:3000").unwrap()
    }

    #[test]
    fn only_an_exactly_allowed_origin_is_named_back() {
        let a = allowed();
        assert_eq!(
            cors_origin(Some("https://app.example.com"), &a),
            Some("https://app.example.com")
        );
        assert_eq!(
            cors_origin(Some("http://localhost:3000"), &a),
            Some("http://localhost:3000")
        );
        for other in [
            "https://evil.com",
            "https://app.example.com.evil.com",
            "https://evil-app.example.com",
            "http://app.example.com",
            "https://app.example.com:444",
            "https://APP.example.com",
            "https://app.example.com/",
            "null",
            "*",
            "",
        ] {
            assert_eq!(cors_origin(Some(other), &a), None, "{other}");
        }
        assert_eq!(cors_origin(None, &a), None);
        assert_eq!(
            cors_origin(Some("https://app.example.com"), &AllowedOrigins::empty()),
            None
        );
    }

    #[test]
    fn a_preflight_needs_an_allowed_origin_and_a_method_the_route_serves() {
        let a = allowed();
        let app = Some("https://app.example.com");
        assert_eq!(
            check_preflight(app, Some("POST"), "GET, POST", &a),
            Ok("https://app.example.com")
        );
        assert_eq!(
            check_preflight(app, Some("DELETE"), "GET, POST", &a),
            Err(PreflightRefusal::Method)
        );
        assert_eq!(
            check_preflight(app, Some("post"), "GET, POST", &a),
            Err(PreflightRefusal::Method)
        );
        assert_eq!(
            check_preflight(app, None, "GET", &a),
            Err(PreflightRefusal::Method)
        );
        assert_eq!(
            check_preflight(Some("https://evil.com"), Some("GET"), "GET", &a),
            Err(PreflightRefusal::Origin)
        );
        assert_eq!(
            check_preflight(None, Some("GET"), "GET", &a),
            Err(PreflightRefusal::Origin)
        );
    }

    #[test]
    fn navigations_get_pages_and_programs_get_json() {
        let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_page(Some(browser_accept), Some("navigate")));
        assert!(wants_page(Some(browser_accept), None));
        assert!(!wants_page(Some(browser_accept), Some("cors")));
        assert!(wants_page(Some(browser_accept), Some("navigate, cors")));
        assert!(!wants_page(Some("*/*"), Some("same-origin")));
        assert!(!wants_page(Some("*/*"), None));
        assert!(!wants_page(None, None));
        assert!(!wants_page(Some("application/json"), None));
        assert!(!wants_page(Some("application/json, text/html"), None));
        assert!(wants_page(Some("TEXT/HTML"), None));
    }

    #[test]
    fn loopback_addresses_are_sent_to_the_configured_origin_with_path_and_query() {
        let own = "http://localhost:8787";
        assert_eq!(
            loopback_redirect("http://127.0.0.1:8787/login?return_to=%2F", own).as_deref(),
            Some("http://localhost:8787/login?return_to=%2F")
        );
        assert_eq!(
            loopback_redirect("http://[::1]:8787/", own).as_deref(),
            Some("http://localhost:8787/")
        );
        // Already on the configured origin, or a named host: nothing to do.
        assert_eq!(loopback_redirect("http://localhost:8787/login", own), None);
        assert_eq!(loopback_redirect("http://auth.local/login", own), None);
        // A configured origin that is itself the loopback address is served where it is.
        assert_eq!(
            loopback_redirect("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
            None
        );
    }

    #[test]
    fn the_redirect_target_never_leaves_the_configured_origin() {
        let own = "http://localhost:8787";
        for tricky in [
            "http://127.0.0.1:8787//evil.com/x",
            "http://127.0.0.1:8787/@evil.com",
            "http://user:pw@127.0.0.1:8787/x",
            "http://127.0.0.1:8787/%2F%2Fevil.com",
        ] {
            let target = loopback_redirect(tricky, own).unwrap();
            assert_eq!(
                origin_of(&target).as_deref(),
                Some(own),
                "{tricky} -> {target}"
            );
            assert!(target.starts_with("http://localhost:8787/"), "{target}");
        }
    }
}
