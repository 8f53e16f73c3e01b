//! The wall-clock stamp on each printed chaos step (UTC, ISO 8601 with milliseconds), so a
//! client's own log lines can be lined up with the faults.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2026-12-08T00:41:02.123Z`.
pub fn now_utc() -> String {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    utc_text(unix_ms)
}

/// `unix_ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_text(unix_ms: u64) -> String {
    let days = unix_ms / 86_400_000;
    let ms_of_day = unix_ms % 86_400_000;
    let (year, month, day) = crate::logging::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @951782400` (a leap day of a year divisible by 400).
        assert_eq!(utc_text(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_text(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(utc_text(951_868_800_000), "2000-03-01T00:00:00.000Z");
        // `date -u -d @1796690462`.
        assert_eq!(utc_text(1_796_690_462_123), "2026-12-08T00:41:02.123Z");
        assert_eq!(utc_text(1_798_761_599_000), "2026-12-31T23:59:59.000Z");
    }
}
