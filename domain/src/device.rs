//! A short human label for a session's device ("Chrome on macOS") derived from its User-Agent. Must never
//! echo the User-Agent: the output is assembled only from the fixed names below, so it is safe to show in
//! the session list and cannot carry markup or log-injection payloads.

/// Labels are built from fixed names, the longest being well under this.
pub const MAX_LABEL_LEN: usize = 64;
const UNKNOWN: &str = "Unknown device";
/// Only the start of a User-Agent is examined; real ones are a few hundred bytes.
const MAX_SCANNED_BYTES: usize = 512;

/// Non-browser clients, recognised by the UA's leading product token (RFC 9110 §10.1.5), compared
/// case-insensitively and exactly, so `nodejs-foo` is not `node`.
const CLIENTS: [(&str, &str); 15] = [
    ("curl", "curl"),
    ("wget", "Wget"),
    ("node", "Node.js"),
    ("node-fetch", "Node.js"),
    ("undici", "Node.js"),
    ("axios", "Node.js"),
    ("bun", "Bun"),
    ("deno", "Deno"),
    ("python-requests", "Python"),
    ("python-urllib", "Python"),
    ("python-httpx", "Python"),
    ("go-http-client", "Go"),
    ("okhttp", "OkHttp"),
    ("postmanruntime", "Postman"),
    ("insomnia", "Insomnia"),
];

/// Browsers in precedence order: Chromium derivatives advertise `Chrome/` and `Safari/` too, and Chrome
/// advertises `Safari/`, so the more specific tokens come first.
const BROWSERS: [(&[&str], &str); 7] = [
    (&["Edg/", "EdgA/", "EdgiOS/", "Edge/"], "Edge"),
    (&["OPR/", "Opera"], "Opera"),
    (&["SamsungBrowser/"], "Samsung Internet"),
    (&["Firefox/", "FxiOS/"], "Firefox"),
    (&["CriOS/", "Chrome/", "Chromium/"], "Chrome"),
    (&["Version/"], "Safari"),
    (&["Safari/"], "Safari"),
];

/// Operating systems in precedence order: iOS before macOS (iPhone UAs say "like Mac OS X"), Android and
/// ChromeOS before Linux.
const SYSTEMS: [(&[&str], &str); 7] = [
    (&["iPhone", "iPad", "iPod"], "iOS"),
    (&["Android"], "Android"),
    (&["CrOS"], "ChromeOS"),
    (&["Windows"], "Windows"),
    (&["Macintosh", "Mac OS X"], "macOS"),
    (&["Linux", "X11"], "Linux"),
    (&["FreeBSD"], "FreeBSD"),
];

/// `"Chrome on macOS"`, `"Firefox on Windows"`, `"Safari on iOS"`, `"curl"`, `"Node.js"`, … or
/// `"Unknown device"`. At most [`MAX_LABEL_LEN`] characters.
pub fn describe(user_agent: &str) -> String {
    let ua = scanned_prefix(user_agent.trim());
    if ua.is_empty() {
        return UNKNOWN.to_string();
    }
    if let Some(client) = client_name(ua) {
        return client.to_string();
    }
    let browser = first_match(ua, &BROWSERS);
    let system = first_match(ua, &SYSTEMS);
    let label = match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("Unknown browser on {s}"),
        (None, None) => UNKNOWN.to_string(),
    };
    // Always true by construction; kept so the documented bound cannot silently break.
    if label.len() <= MAX_LABEL_LEN {
        label
    } else {
        UNKNOWN.to_string()
    }
}

fn scanned_prefix(ua: &str) -> &str {
    let mut end = ua.len().min(MAX_SCANNED_BYTES);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    ua.get(..end).unwrap_or_default()
}

fn client_name(ua: &str) -> Option<&'static str> {
    let product = ua.split(['/', ' ', ';', '(']).next().unwrap_or_default();
    CLIENTS
        .iter()
        .find(|(token, _)| product.eq_ignore_ascii_case(token))
        .map(|(_, name)| *name)
}

fn first_match(ua: &str, table: &[(&[&str], &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(tokens, _)| tokens.iter().any(|t| ua.contains(t)))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const FIREFOX_WIN: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0";
    const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const EDGE_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51";
    const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15";
    const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36";
    const CHROME_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

    #[test]
    fn names_common_browsers_and_systems() {
        assert_eq!(describe(CHROME_MAC), "Chrome on macOS");
        assert_eq!(describe(FIREFOX_WIN), "Firefox on Windows");
        assert_eq!(describe(SAFARI_IOS), "Safari on iOS");
        assert_eq!(describe(EDGE_WIN), "Edge on Windows");
        assert_eq!(describe(SAFARI_MAC), "Safari on macOS");
        assert_eq!(describe(CHROME_ANDROID), "Chrome on Android");
        assert_eq!(describe(CHROME_IOS), "Chrome on iOS");
        assert_eq!(describe(FIREFOX_LINUX), "Firefox on Linux");
    }

    #[test]
    fn names_command_line_and_library_clients() {
        assert_eq!(describe("curl/8.5.0"), "curl");
        assert_eq!(describe("node"), "Node.js");
        assert_eq!(
            describe("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
            "Node.js"
        );
        assert_eq!(describe("undici"), "Node.js");
        assert_eq!(describe("python-requests/2.31.0"), "Python");
        assert_eq!(describe("Go-http-client/2.0"), "Go");
        assert_eq!(describe("PostmanRuntime/7.37.3"), "Postman");
        assert_eq!(describe("Deno/1.42.0"), "Deno");
    }

    #[test]
    fn unknown_or_empty_user_agent_is_unknown_device() {
        assert_eq!(describe(""), "Unknown device");
        assert_eq!(describe("   "), "Unknown device");
        assert_eq!(describe("SomethingElse/1.0"), "Unknown device");
        assert_eq!(describe("nodejs-lookalike/1.0"), "Unknown device");
    }

    #[test]
    fn never_echoes_the_user_agent() {
        let hostile = "<script>alert(1)</script> Chrome/1 (Windows)\r\nX-Injected: yes";
        let label = describe(hostile);
        assert_eq!(label, "Chrome on Windows");
        assert!(describe(&"é".repeat(10_000)).len() <= MAX_LABEL_LEN);
    }

    #[test]
    fn every_label_fits_the_bound() {
        for (_, b) in BROWSERS {
            for (_, s) in SYSTEMS {
                assert!(format!("{b} on {s}").len() <= MAX_LABEL_LEN);
            }
            assert!(format!("Unknown browser on {b}").len() <= MAX_LABEL_LEN);
        }
    }
}
