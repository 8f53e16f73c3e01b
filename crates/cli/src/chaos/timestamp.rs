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
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras of
/// 146,097 days whose years start on March 1st (so the leap day ends a year).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
