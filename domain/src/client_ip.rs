//! Grouping client addresses for rate limits. One IPv4 address is one client; an IPv6 client
//! usually controls a whole /64 (SLAAC, privacy addresses), so IPv6 addresses are grouped by their
//! first 64 bits, or one client could rotate through 2^64 keys. Must not look anything up.

use std::net::IpAddr;

/// The rate-limit bucket of `ip` (from `CF-Connecting-IP`): the IPv4 address itself, or the /64 of an
/// IPv6 address (`2001:db8:1:2::/64`). Anything that does not parse as an address shares one bucket.
pub fn bucket(ip: Option<&str>) -> String {
    match ip.and_then(|s| s.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_are_their_own_bucket() {
        assert_eq!(bucket(Some("203.0.113.7")), "203.0.113.7");
        assert_ne!(bucket(Some("203.0.113.7")), bucket(Some("203.0.113.8")));
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_their_slash_64() {
        assert_eq!(bucket(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(
            bucket(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            bucket(Some("2001:db8:1:2::1"))
        );
        assert_ne!(
            bucket(Some("2001:db8:1:3::1")),
            bucket(Some("2001:db8:1:2::1"))
        );
        assert_eq!(bucket(Some("::ffff:203.0.113.7")), "203.0.113.7");
    }

    #[test]
    fn a_missing_or_junk_address_shares_one_bucket() {
        assert_eq!(bucket(None), "unknown");
        assert_eq!(bucket(Some("not an ip")), "unknown");
        assert_eq!(bucket(Some("")), "unknown");
    }
}
