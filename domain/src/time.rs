//! RFC 3339 formatting and parsing of timestamps given as unix seconds / milliseconds. Must not read a
//! clock: the caller passes the time in.

use chrono::{DateTime, SecondsFormat};

/// 0000-01-01T00:00:00Z: RFC 3339 §5.6 only has four-digit years.
const MIN_RFC3339_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_RFC3339_SECS: i64 = 253_402_300_799;

/// Formats unix seconds as `2026-01-15T12:00:00Z` (RFC 3339 §5.6, UTC, no fraction). Values outside the
/// four-digit-year range are clamped to it, so the output is always valid RFC 3339.
pub fn format_rfc3339(unix_secs: i64) -> String {
    let secs = unix_secs.clamp(MIN_RFC3339_SECS, MAX_RFC3339_SECS);
    match DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Secs, true),
        // Unreachable after the clamp; the epoch is a harmless, obviously-wrong fallback.
        None => String::from("1970-01-01T00:00:00Z"),
    }
}

/// Parses an RFC 3339 date-time (`...Z`, `...+02:00`, optional fraction) into unix milliseconds.
/// WorkOS sends `2026-01-15T12:00:00.000Z`.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| dt.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_z_and_no_fraction() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_768_478_400), "2026-01-15T12:00:00Z");
    }

    #[test]
    fn out_of_range_seconds_are_clamped_to_four_digit_years() {
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn parses_workos_millisecond_timestamps() {
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T12:00:00.000Z"),
            Some(1_768_478_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T12:00:00.123Z"),
            Some(1_768_478_400_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T12:00:00Z"),
            Some(1_768_478_400_000)
        );
    }

    #[test]
    fn parses_offsets_into_utc() {
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T14:00:00+02:00"),
            Some(1_768_478_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T07:00:00-05:00"),
            Some(1_768_478_400_000)
        );
    }

    #[test]
    fn rejects_non_rfc3339_input() {
        for bad in [
            "",
            "2026-01-15",
            "2026-01-15T12:00:00",
            "yesterday",
            "1768478400",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for secs in [0, 1, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339(secs)), Some(secs * 1000));
        }
    }
}
