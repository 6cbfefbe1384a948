//! Where the browser may be sent after login or logout. Must never produce a target on an origin that is
//! neither this worker's nor explicitly allowed (no open redirects: RFC 9700 §4.11, OWASP "Unvalidated
//! Redirects and Forwards").
//!
//! URLs are parsed with the WHATWG URL Standard (the `url` crate), the same algorithm browsers use, and the
//! target handed back is our own normalized serialization, so there is no gap between what was checked
//! here and what the browser will follow.

use std::fmt;

use url::Url;

/// Longer `return_to` values are refused outright.
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// Extra origins allowed as absolute targets, normalized `scheme://host[:port]` (lowercase host, default
/// port dropped). Hosts must be ASCII: an internationalised domain is written in its `xn--` form (the
/// WASM carries `url`'s ASCII-only IDNA back end, see Cargo.toml).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// Parses `ALLOWED_RETURN_ORIGINS`: comma-separated origins, whitespace around entries ignored, empty
    /// entries skipped. Each entry must be a bare `http(s)://host[:port]` (a trailing `/` is tolerated);
    /// a path, query, fragment, userinfo or `*` is refused with the offending entry as the error, so a
    /// misconfiguration is loud instead of silently widening or narrowing what is allowed.
    pub fn parse(csv: &str) -> Result<AllowedOrigins, String> {
        let mut origins = Vec::new();
        for entry in csv.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let origin = parse_bare_origin(entry).ok_or_else(|| entry.to_string())?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(AllowedOrigins { origins })
    }

    pub fn empty() -> Self {
        AllowedOrigins::default()
    }

    /// True when `origin` (e.g. an `Origin` header, or an entry in the same form as the configuration)
    /// names one of the allowed origins after normalization.
    pub fn contains(&self, origin: &str) -> bool {
        parse_bare_origin(origin).is_some_and(|o| self.origins.contains(&o))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.origins
    }
}

/// The normalized origin (`https://example.com`, `http://localhost:8787`) of an absolute http(s) URL, per
/// the URL Standard's origin serialization; `None` for anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    http_origin(&parsed)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTarget {
    /// A path on this worker's own origin (`/path?q#f`), normalized; never starts with `//`.
    Path(String),
    /// An absolute URL on this worker's origin or an allowed one, normalized.
    Absolute(String),
}

impl ReturnTarget {
    pub fn as_str(&self) -> &str {
        match self {
            ReturnTarget::Path(p) => p,
            ReturnTarget::Absolute(u) => u,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnToError {
    Empty,
    TooLong,
    /// Control characters, whitespace, backslashes, or not a `/path` nor an absolute `http(s)://` URL.
    Malformed,
    /// Well-formed but pointing somewhere we do not send browsers (foreign origin, other scheme, userinfo).
    NotAllowed,
}

impl ReturnToError {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReturnToError::Empty => "empty",
            ReturnToError::TooLong => "too_long",
            ReturnToError::Malformed => "malformed",
            ReturnToError::NotAllowed => "not_allowed",
        }
    }
}

impl fmt::Display for ReturnToError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ReturnToError {}

/// Validates a caller-supplied `return_to`.
///
/// - `/path?q#f` (one leading slash) becomes [`ReturnTarget::Path`] once resolving it against
///   `self_origin` is confirmed to stay there and its normalized form does not start with `//`
///   (`/..//evil.com` would otherwise normalize into a protocol-relative URL).
/// - An absolute `http(s)://` URL without userinfo whose origin is `self_origin` or in `allowed` becomes
///   [`ReturnTarget::Absolute`] (normalized).
/// - Everything else is refused. Control characters, whitespace and `\` are refused up front because
///   browsers silently strip or reinterpret them (`/\evil.com`, `/\t/evil.com` both mean `//evil.com`).
pub fn validate(
    raw: &str,
    self_origin: &str,
    allowed: &AllowedOrigins,
) -> Result<ReturnTarget, ReturnToError> {
    if raw.is_empty() {
        return Err(ReturnToError::Empty);
    }
    if raw.len() > MAX_RETURN_TO_LEN {
        return Err(ReturnToError::TooLong);
    }
    if raw.chars().any(is_forbidden_char) {
        return Err(ReturnToError::Malformed);
    }
    // Fail closed if our own origin is not a usable http(s) origin (a configuration error).
    let self_url = origin_of(self_origin)
        .and_then(|o| Url::parse(&o).ok())
        .ok_or(ReturnToError::NotAllowed)?;
    let own = http_origin(&self_url).ok_or(ReturnToError::NotAllowed)?;

    if raw.starts_with('/') {
        validate_path(raw, &self_url, &own)
    } else {
        validate_absolute(raw, &own, allowed)
    }
}

fn validate_path(raw: &str, self_url: &Url, own: &str) -> Result<ReturnTarget, ReturnToError> {
    if raw.starts_with("//") {
        // Protocol-relative: a different host (RFC 3986 §4.2).
        return Err(ReturnToError::NotAllowed);
    }
    let resolved = self_url.join(raw).map_err(|_| ReturnToError::Malformed)?;
    if http_origin(&resolved).as_deref() != Some(own) {
        return Err(ReturnToError::NotAllowed);
    }
    let mut path = resolved.path().to_string();
    if let Some(query) = resolved.query() {
        path.push('?');
        path.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        path.push('#');
        path.push_str(fragment);
    }
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(ReturnToError::NotAllowed);
    }
    Ok(ReturnTarget::Path(path))
}

fn validate_absolute(
    raw: &str,
    own: &str,
    allowed: &AllowedOrigins,
) -> Result<ReturnTarget, ReturnToError> {
    let (scheme, rest) = split_scheme(raw).ok_or(ReturnToError::Malformed)?;
    if !is_http_scheme(scheme) {
        // javascript:, data:, vbscript:, mailto:, …
        return Err(ReturnToError::NotAllowed);
    }
    // `https:evil.com` and `https:/evil.com` are accepted by browsers; we insist on the plain form.
    let after_slashes = rest.strip_prefix("//").ok_or(ReturnToError::Malformed)?;
    let authority = after_slashes
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        // Userinfo (`https://good.com@evil.com`, `https://user@good.com`): never legitimate here.
        return Err(ReturnToError::NotAllowed);
    }
    let url = Url::parse(raw).map_err(|_| ReturnToError::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ReturnToError::NotAllowed);
    }
    let origin = http_origin(&url).ok_or(ReturnToError::NotAllowed)?;
    if origin != own && !allowed.origins.contains(&origin) {
        return Err(ReturnToError::NotAllowed);
    }
    Ok(ReturnTarget::Absolute(url.into()))
}

/// `scheme ":" rest` when `raw` starts with an RFC 3986 §3.1 scheme.
fn split_scheme(raw: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

fn is_http_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")
}

fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c.is_whitespace() || c == '\\'
}

fn http_origin(url: &Url) -> Option<String> {
    matches!(url.scheme(), "http" | "https")
        .then(|| url.origin())
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization())
}

/// A configuration entry or `Origin` value: exactly `http(s)://host[:port]`, optionally with a trailing `/`.
fn parse_bare_origin(entry: &str) -> Option<String> {
    if entry
        .chars()
        .any(|c| is_forbidden_char(c) || c == '*' || c == '@')
    {
        return None;
    }
    let (scheme, rest) = split_scheme(entry)?;
    let authority = rest.strip_prefix("//")?;
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if !is_http_scheme(scheme) || authority.is_empty() || authority.contains(['/', '?', '#']) {
        return None;
    }
    origin_of(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF: &str = "https://auth.example.com";

    fn allowed() -> AllowedOrigins {
        AllowedOrigins::parse("https://good.com, http://localhost:3000").unwrap()
    }

    fn check(raw: &str) -> Result<ReturnTarget, ReturnToError> {
        validate(raw, SELF, &allowed())
    }

    #[test]
    fn accepts_relative_path_with_query_and_fragment() {
        assert_eq!(
            check("/dashboard?tab=1#top"),
            Ok(ReturnTarget::Path("/dashboard?tab=1#top".into()))
        );
        assert_eq!(check("/"), Ok(ReturnTarget::Path("/".into())));
    }

    #[test]
    fn relative_path_is_normalized() {
        assert_eq!(check("/a/../b/./c"), Ok(ReturnTarget::Path("/b/c".into())));
        assert_eq!(
            check("/caf\u{e9}"),
            Ok(ReturnTarget::Path("/caf%C3%A9".into()))
        );
    }

    #[test]
    fn accepts_allowed_absolute_origin_normalized() {
        assert_eq!(
            check("HTTPS://GOOD.com:443/app?x=1"),
            Ok(ReturnTarget::Absolute("https://good.com/app?x=1".into()))
        );
        assert_eq!(
            check("http://localhost:3000"),
            Ok(ReturnTarget::Absolute("http://localhost:3000/".into()))
        );
        assert_eq!(
            check("https://auth.example.com/done"),
            Ok(ReturnTarget::Absolute(
                "https://auth.example.com/done".into()
            ))
        );
    }

    #[test]
    fn rejects_empty_and_too_long() {
        assert_eq!(check(""), Err(ReturnToError::Empty));
        assert_eq!(
            check(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN))),
            Err(ReturnToError::TooLong)
        );
        assert!(check(&format!("/{}", "a".repeat(MAX_RETURN_TO_LEN - 1))).is_ok());
    }

    #[test]
    fn rejects_javascript_url() {
        assert_eq!(check("javascript:alert(1)"), Err(ReturnToError::NotAllowed));
        assert_eq!(
            check("JavaScript://good.com/%0aalert(1)"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_data_url() {
        assert_eq!(
            check("data:text/html,<script>alert(1)</script>"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_protocol_relative_url() {
        assert_eq!(check("//evil.com"), Err(ReturnToError::NotAllowed));
        assert_eq!(check("//evil.com/path"), Err(ReturnToError::NotAllowed));
        assert_eq!(check("///evil.com"), Err(ReturnToError::NotAllowed));
    }

    #[test]
    fn rejects_backslash_variants() {
        for raw in [
            "/\\evil.com",
            "\\\\evil.com",
            "https:\\\\evil.com",
            "https://good.com\\@evil.com",
        ] {
            assert_eq!(check(raw), Err(ReturnToError::Malformed), "{raw}");
        }
    }

    #[test]
    fn rejects_control_characters_and_whitespace() {
        for raw in [
            "/\t/evil.com",
            "/\n/evil.com",
            "java\tscript:alert(1)",
            " /x",
            "/x ",
            "/\u{0}",
            "/\u{2028}x",
        ] {
            assert_eq!(check(raw), Err(ReturnToError::Malformed), "{raw:?}");
        }
    }

    #[test]
    fn rejects_foreign_absolute_url() {
        assert_eq!(check("https://evil.com"), Err(ReturnToError::NotAllowed));
        assert_eq!(
            check("https://evil.com/#@good.com"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_lookalike_suffix_domain() {
        assert_eq!(
            check("https://good.com.evil.com"),
            Err(ReturnToError::NotAllowed)
        );
        assert_eq!(
            check("https://evilgood.com"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_userinfo() {
        assert_eq!(
            check("https://user@good.com"),
            Err(ReturnToError::NotAllowed)
        );
        assert_eq!(
            check("https://good.com@evil.com"),
            Err(ReturnToError::NotAllowed)
        );
        assert_eq!(
            check("https://good.com:pw@evil.com"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_other_port_and_scheme_downgrade() {
        assert_eq!(
            check("https://good.com:8443/"),
            Err(ReturnToError::NotAllowed)
        );
        assert_eq!(check("http://good.com/"), Err(ReturnToError::NotAllowed));
        assert_eq!(
            check("http://auth.example.com/"),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn rejects_dot_segments_that_normalize_to_protocol_relative() {
        assert_eq!(check("/..//evil.com"), Err(ReturnToError::NotAllowed));
        assert_eq!(check("/.//evil.com"), Err(ReturnToError::NotAllowed));
    }

    #[test]
    fn rejects_scheme_without_double_slash() {
        assert_eq!(check("https:evil.com"), Err(ReturnToError::Malformed));
        assert_eq!(check("https:/evil.com"), Err(ReturnToError::Malformed));
    }

    #[test]
    fn rejects_bare_relative_forms() {
        for raw in [
            "evil.com",
            "dashboard",
            "?next=1",
            "#x",
            "./x",
            "../x",
            "%2F%2Fevil.com",
        ] {
            assert_eq!(check(raw), Err(ReturnToError::Malformed), "{raw}");
        }
    }

    #[test]
    fn encoded_slashes_stay_a_path_on_our_origin() {
        assert_eq!(
            check("/%2F%2Fevil.com"),
            Ok(ReturnTarget::Path("/%2F%2Fevil.com".into()))
        );
        let fullwidth = check("/\u{ff0f}evil.com").unwrap();
        assert!(fullwidth.as_str().starts_with("/%EF%BC%8F"));
    }

    #[test]
    fn fails_closed_when_self_origin_is_unusable() {
        assert_eq!(
            validate("/x", "not a url", &allowed()),
            Err(ReturnToError::NotAllowed)
        );
        assert_eq!(
            validate("/x", "data:text/plain,x", &allowed()),
            Err(ReturnToError::NotAllowed)
        );
    }

    #[test]
    fn empty_allow_list_permits_only_self() {
        let none = AllowedOrigins::empty();
        assert!(validate("https://good.com/", SELF, &none).is_err());
        assert!(validate("https://auth.example.com/x", SELF, &none).is_ok());
    }

    #[test]
    fn origin_of_normalizes_case_and_default_ports() {
        assert_eq!(
            origin_of("HTTPS://Example.COM:443/x?y"),
            Some("https://example.com".into())
        );
        assert_eq!(
            origin_of("http://localhost:8787/"),
            Some("http://localhost:8787".into())
        );
        assert_eq!(
            origin_of("http://example.com:80"),
            Some("http://example.com".into())
        );
        assert_eq!(origin_of("ftp://example.com"), None);
        assert_eq!(origin_of("/relative"), None);
        assert_eq!(origin_of("javascript:alert(1)"), None);
    }

    #[test]
    fn hosts_must_be_ascii_and_punycode_is_accepted() {
        assert_eq!(
            origin_of("https://xn--caf-dma.example"),
            Some("https://xn--caf-dma.example".into())
        );
        for unicode in [
            "https://caf\u{e9}.example",
            "https://CAF\u{e9}.example",
            "https://caf%C3%A9.example",
            "https://\u{ff27}ood.com",
        ] {
            assert_eq!(origin_of(unicode), None, "{unicode}");
            assert_eq!(
                check(&format!("{unicode}/x")),
                Err(ReturnToError::Malformed),
                "{unicode}"
            );
            assert!(AllowedOrigins::parse(unicode).is_err(), "{unicode}");
        }
    }

    #[test]
    fn allowed_origins_parse_normalizes_and_reports_bad_entry() {
        let a = AllowedOrigins::parse(" https://App.Example.com:443/ ,, http://localhost:3000 ")
            .unwrap();
        assert_eq!(
            a.as_slice(),
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(a.contains("https://app.example.com"));
        assert!(a.contains("HTTPS://APP.EXAMPLE.COM"));
        assert!(!a.contains("https://app.example.com/path"));
        assert!(!a.contains("https://example.com"));
        assert!(AllowedOrigins::parse("").unwrap().as_slice().is_empty());
        for bad in [
            "https://a.com/path",
            "https://*.a.com",
            "*",
            "ftp://a.com",
            "a.com",
            "https://user@a.com",
            "https://a.com?x",
            "https://a.com#f",
            "https:a.com",
        ] {
            assert_eq!(
                AllowedOrigins::parse(&format!("https://ok.com,{bad}")),
                Err(bad.to_string()),
                "{bad}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// URL-structural pieces (drawn often) and host / scheme / confusable pieces (drawn less often).
        fn piece() -> impl Strategy<Value = &'static str> {
            let structural = prop::sample::select(vec![
                "/", "//", "\\", ".", "..", ":", "@", "?", "#", "%2f", "evil.com", "https://",
            ]);
            let other = prop::sample::select(vec![
                "%",
                "%5c",
                "%40",
                "%00",
                "https",
                "http",
                "HTTPS",
                "javascript",
                "data",
                "://",
                "good.com",
                "auth.example.com",
                ":443",
                ":8443",
                ":3000",
                "a",
                "\t",
                " ",
                "\u{3002}",
                "\u{ff0f}",
                "0x7f.1",
                "[::1]",
                "localhost",
                "xn--",
                "\u{200b}",
                "&",
                "=",
            ]);
            prop_oneof![3 => structural, 1 => other]
        }

        /// Whatever `validate` accepts, followed the way a browser follows a `Location` header, must land
        /// on our origin or an allowed one, without userinfo; a `Path` must never be protocol-relative.
        fn assert_lands_on_permitted_origin(raw: &str) -> Result<(), TestCaseError> {
            let Ok(target) = check(raw) else {
                return Ok(());
            };
            if let ReturnTarget::Path(p) = &target {
                prop_assert!(p.starts_with('/') && !p.starts_with("//"), "{p}");
            }
            let followed = Url::parse(SELF).unwrap().join(target.as_str()).unwrap();
            let origin = followed.origin().ascii_serialization();
            prop_assert!(
                [
                    "https://auth.example.com",
                    "https://good.com",
                    "http://localhost:3000"
                ]
                .contains(&origin.as_str()),
                "{raw:?} -> {followed}"
            );
            prop_assert!(followed.username().is_empty() && followed.password().is_none());
            Ok(())
        }

        proptest! {
            // Structural pieces are few, so many cases are cheap and reach the multi-piece attacks.
            #![proptest_config(ProptestConfig::with_cases(4096))]

            #[test]
            fn no_generated_input_yields_a_foreign_target(parts in prop::collection::vec(piece(), 1..8)) {
                assert_lands_on_permitted_origin(&parts.concat())?;
            }

            #[test]
            fn no_arbitrary_string_yields_a_foreign_target(raw in "\\PC{0,64}") {
                assert_lands_on_permitted_origin(&raw)?;
            }
        }
    }
}
