//! UTC days and times: the export writes one file per UTC day, and takes dates on the command
//! line (`2026-12-07`, or a full RFC 3339 time).

use std::time::{Duration, UNIX_EPOCH};

pub const DAY_MS: u64 = 24 * 3600 * 1000;

/// `at_ms` as RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(at_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms)).to_string()
}

/// The UTC day holding `at_ms`, as `YYYY-MM-DD`.
pub fn day(at_ms: u64) -> String {
    let mut s = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at_ms)).to_string();
    s.truncate(10);
    s
}

/// The start of the UTC day holding `at_ms`.
pub fn day_start(at_ms: u64) -> u64 {
    at_ms - at_ms % DAY_MS
}

/// A date (`YYYY-MM-DD`: its midnight UTC) or an RFC 3339 time, as ms since the epoch.
pub fn parse(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let t = if s.len() == 10 {
        humantime::parse_rfc3339_weak(&format!("{s} 00:00:00"))
    } else {
        humantime::parse_rfc3339_weak(s)
    }
    .map_err(|e| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time: {e}"))?;
    let since = t.duration_since(UNIX_EPOCH).map_err(|_| format!("{s:?} is before 1970"))?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates() {
        let t = parse("2026-12-07").unwrap();
        assert_eq!(t % DAY_MS, 0);
        assert_eq!(day(t), "2026-12-07");
        assert_eq!(day(t + DAY_MS - 1), "2026-12-07");
        assert_eq!(day(t + DAY_MS), "2026-12-08");
        assert_eq!(parse("2026-12-07T12:00:00Z").unwrap(), t + DAY_MS / 2);
        assert_eq!(day_start(t + 5), t);
        assert_eq!(rfc3339(t + 5), "2026-12-07T00:00:00.005Z");
        assert!(parse("yesterday").is_err());
    }
}
