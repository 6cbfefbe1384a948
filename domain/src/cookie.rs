//! `Set-Cookie` serialization and `Cookie` header parsing (RFC 6265). Must not let a name, value or path
//! add attributes or headers of its own, and must not print cookie values in `Debug` (they are tokens).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

pub struct SetCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub path: &'a str,
    /// Seconds; negative values are sent as 0 (RFC 6265 §5.2.2 treats both as "expire now").
    pub max_age: Option<i64>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: SameSite,
}

impl SetCookie<'_> {
    /// `"n=v; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax"`.
    ///
    /// Bytes not allowed in a cookie name (RFC 6265 §4.1.1 `token`), value (`cookie-octet`) or path
    /// (`path-value`: no CTLs, no `;`) are percent-encoded rather than copied, so a hostile value such as
    /// `x; Domain=evil.com` or one with CR/LF can never inject attributes or headers. Our own names and
    /// values (hex, base64url, JWTs) never need it. `SameSite=None` always gets `Secure`, because browsers
    /// drop a `SameSite=None` cookie that lacks it.
    pub fn to_header_value(&self) -> String {
        self.serialize(false)
    }

    fn serialize(&self, expire_in_1970: bool) -> String {
        let mut out = String::with_capacity(self.name.len() + self.value.len() + 64);
        out.push_str(&escape(self.name, is_token_byte));
        out.push('=');
        out.push_str(&escape(self.value, is_cookie_octet));
        if !self.path.is_empty() {
            out.push_str("; Path=");
            out.push_str(&escape(self.path, is_path_byte));
        }
        if let Some(max_age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", max_age.max(0)));
        }
        if expire_in_1970 {
            out.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure || self.same_site == SameSite::None {
            out.push_str("; Secure");
        }
        out.push_str("; SameSite=");
        out.push_str(self.same_site.as_str());
        out
    }
}

impl fmt::Debug for SetCookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetCookie")
            .field("name", &self.name)
            .field("value", &"<hidden>")
            .field("path", &self.path)
            .field("max_age", &self.max_age)
            .field("http_only", &self.http_only)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .finish()
    }
}

/// The name to use for a cookie that must be host-only: with `__Host-` when `secure` (the cookie is
/// then `Secure`, `Path=/` and without `Domain`: RFC 6265bis §4.1.3.2), so a sibling subdomain can
/// neither plant nor overwrite it. Browsers accept the prefix only from secure origins, so plain-http
/// development origins keep the bare name.
pub fn host_only_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// A `Set-Cookie` value that deletes `name` at `path`: empty value, `Max-Age=0` (RFC 6265 §5.2.2) and an
/// `Expires` in 1970 for old clients that ignore `Max-Age`.
pub fn expire(name: &str, path: &str, secure: bool) -> String {
    SetCookie {
        name,
        value: "",
        path,
        max_age: Some(0),
        http_only: true,
        secure,
        same_site: SameSite::Lax,
    }
    .serialize(true)
}

/// The value of the first cookie called exactly `name` (case-sensitive) in a `Cookie` request header
/// (RFC 6265 §5.4: pairs separated by `;`, optional whitespace tolerated). Pairs without `=` are skipped.
/// The first match is the one with the most specific path, which is the one we set.
pub fn get<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    pairs(cookie_header)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// RFC 6265 §4.1.1: a cookie name is an RFC 7230 `token`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte)
}

/// RFC 6265 §4.1.1: `*cookie-octet` (unquoted form).
pub fn is_valid_value(value: &str) -> bool {
    value.bytes().all(is_cookie_octet)
}

fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches(is_ows);
        (!name.is_empty()).then(|| (name, value.trim_matches(is_ows)))
    })
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 §4.1.1: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E` (no space, `"`, `,`, `;`, `\`).
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// RFC 6265 §4.1.1 `path-value`: any CHAR except CTLs or `;` (non-ASCII is escaped too).
fn is_path_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b';'
}

/// Percent-encodes every byte `allowed` rejects. Nothing decodes it: it only keeps hostile input inert.
fn escape(s: &str, allowed: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if allowed(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_only_names_carry_the_prefix_only_when_secure() {
        assert_eq!(host_only_name("auth_session", true), "__Host-auth_session");
        assert_eq!(host_only_name("auth_session", false), "auth_session");
        assert!(is_valid_name(&host_only_name("auth_session", true)));
    }

    fn flow(value: &str) -> SetCookie<'_> {
        SetCookie {
            name: "auth_flow_abc",
            value,
            path: "/",
            max_age: Some(600),
            http_only: true,
            secure: true,
            same_site: SameSite::Lax,
        }
    }

    #[test]
    fn serializes_in_the_documented_order() {
        assert_eq!(
            flow("v").to_header_value(),
            "auth_flow_abc=v; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn omits_flags_that_are_off() {
        let c = SetCookie {
            name: "n",
            value: "v",
            path: "/auth",
            max_age: None,
            http_only: false,
            secure: false,
            same_site: SameSite::Strict,
        };
        assert_eq!(c.to_header_value(), "n=v; Path=/auth; SameSite=Strict");
    }

    #[test]
    fn same_site_none_is_always_secure() {
        let mut c = flow("v");
        c.secure = false;
        c.same_site = SameSite::None;
        assert!(c.to_header_value().ends_with("; Secure; SameSite=None"));
    }

    #[test]
    fn hostile_value_cannot_inject_attributes_or_headers() {
        let v = flow("x; Domain=evil.com\r\nSet-Cookie: a=b").to_header_value();
        assert!(!v.contains("; Domain"));
        assert!(!v.contains('\r') && !v.contains('\n'));
        assert!(
            v.starts_with("auth_flow_abc=x%3B%20Domain=evil.com%0D%0ASet-Cookie:%20a=b; Path=/")
        );
    }

    #[test]
    fn hostile_name_and_path_are_escaped() {
        let c = SetCookie {
            name: "a=b; c",
            value: "v",
            path: "/; Domain=evil",
            max_age: Some(-5),
            http_only: false,
            secure: false,
            same_site: SameSite::Lax,
        };
        assert_eq!(
            c.to_header_value(),
            "a%3Db%3B%20c=v; Path=/%3B Domain=evil; Max-Age=0; SameSite=Lax"
        );
    }

    #[test]
    fn debug_hides_the_value() {
        let dbg = format!("{:?}", flow("eyJsecret"));
        assert!(!dbg.contains("eyJsecret"));
        assert!(dbg.contains("<hidden>"));
    }

    #[test]
    fn expire_sets_max_age_zero_and_epoch_expires() {
        assert_eq!(
            expire("auth_flow_abc", "/", true),
            "auth_flow_abc=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            expire("s", "/auth", false),
            "s=; Path=/auth; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn get_matches_exact_names_and_tolerates_spaces() {
        let h = "a=1;b=2;  auth_flow_x = 3 ;\tc=;d";
        assert_eq!(get(h, "a"), Some("1"));
        assert_eq!(get(h, "b"), Some("2"));
        assert_eq!(get(h, "auth_flow_x"), Some("3"));
        assert_eq!(get(h, "c"), Some(""));
        assert_eq!(get(h, "d"), None);
        assert_eq!(get(h, "auth_flow"), None);
        assert_eq!(get(h, "A"), None);
        assert_eq!(get("", "a"), None);
    }

    #[test]
    fn get_does_not_match_a_name_inside_another_value() {
        assert_eq!(get("x=a=1; y=2", "a"), None);
        assert_eq!(get("x=a=1; y=2", "x"), Some("a=1"));
    }

    #[test]
    fn get_returns_the_first_of_duplicate_names() {
        assert_eq!(get("s=first; s=second", "s"), Some("first"));
    }

    #[test]
    fn validates_names_and_values() {
        assert!(is_valid_name("auth_flow_0123abcd"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a=b"));
        assert!(is_valid_value("eyJ.abc-_"));
        assert!(!is_valid_value("a;b"));
        assert!(!is_valid_value("a\"b"));
    }
}
