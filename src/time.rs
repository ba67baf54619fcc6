//! Time: instants are microseconds since the Unix epoch in UTC; days are whole UTC days.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

pub const SECOND: i64 = 1_000_000;
pub const DAY: i64 = 86_400 * SECOND;

/// The UTC day an instant falls in.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY)
}

/// Parses RFC 3339 (any offset, compared in UTC), or a plain date meaning 00:00 UTC.
pub fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    // PostHog exports sometimes use a space instead of the `T`.
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        let fixed = format!("{}T{}", &s[..10], &s[11..]);
        if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
            return Some(t.with_timezone(&Utc).timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_micros())
}

/// RFC 3339 in UTC with a `Z`, to the second when there are no fractions.
pub fn fmt_ts(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(ts)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ts.to_string())
}

/// `YYYY-MM-DD` of an instant.
pub fn fmt_date(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(ts)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ts.to_string())
}

pub fn now() -> i64 {
    Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_dates_and_rejects_junk() {
        let z = parse_ts("2026-05-01T12:00:00Z").unwrap();
        assert_eq!(parse_ts("2026-05-01T14:00:00+02:00"), Some(z));
        assert_eq!(parse_ts("2026-05-01 12:00:00Z"), Some(z));
        assert_eq!(parse_ts("2026-05-01"), Some(z - 12 * 3600 * SECOND));
        assert_eq!(parse_ts("yesterday"), None);
        assert_eq!(fmt_ts(z), "2026-05-01T12:00:00Z");
        assert_eq!(day_of(z) * DAY, parse_ts("2026-05-01").unwrap());
        assert_eq!(day_of(-1), -1);
    }
}
