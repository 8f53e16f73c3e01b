//! Log lines in redis-server's format (`pid:M 25 Nov 2025 15:09:00.123 * text`), written to
//! `logfile` or stdout, filtered by `loglevel`.
//!
//! Tools and people that read Redis logs look for this shape and for the level symbols
//! (`.` debug, `-` verbose, `*` notice, `#` warning), so the node keeps it. The node's levels
//! map onto tracing's as the server driver logs them: debug → TRACE, verbose → DEBUG,
//! notice → INFO, warning → WARN.

use std::fmt;
use std::io;

use clusterlab_net::clock::unix_now_ms;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The tracing filter for a redis.conf `loglevel`.
pub fn level_filter(loglevel: &str) -> LevelFilter {
    match loglevel.to_ascii_lowercase().as_str() {
        "debug" => LevelFilter::TRACE,
        "verbose" => LevelFilter::DEBUG,
        "warning" => LevelFilter::WARN,
        "nothing" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

/// Installs the global subscriber: Redis-format lines to `logfile` (appended) or to stdout
/// when it is empty.
pub fn init(logfile: &str, loglevel: &str) -> io::Result<()> {
    let writer = if logfile.is_empty() {
        BoxMakeWriter::new(io::stdout)
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)?;
        BoxMakeWriter::new(std::sync::Mutex::new(file))
    };
    install(writer, level_filter(loglevel));
    Ok(())
}

/// For the admin commands: warnings and errors only, to stderr, so their own output stays
/// readable.
pub fn init_stderr_warnings() {
    install(BoxMakeWriter::new(io::stderr), LevelFilter::WARN);
}

fn install(writer: BoxMakeWriter, level: LevelFilter) {
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(level)
        .with_ansi(false)
        .event_format(RedisFormat {
            pid: std::process::id(),
        })
        .try_init();
}

struct RedisFormat {
    pid: u32,
}

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let symbol = level_symbol(*event.metadata().level());
        let stamp = timestamp(unix_now_ms());
        write!(writer, "{}:M {stamp} {symbol} ", self.pid)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn level_symbol(level: Level) -> char {
    match level {
        Level::TRACE => '.',
        Level::DEBUG => '-',
        Level::INFO => '*',
        Level::WARN | Level::ERROR => '#',
    }
}

/// `25 Nov 2025 15:09:00.123` (UTC) for a unix time in milliseconds.
fn timestamp(unix_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let in_day = secs % 86_400;
    format!(
        "{day:02} {} {year} {:02}:{:02}:{:02}.{:03}",
        MONTHS[(month - 1) as usize],
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        unix_ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm: count in 400-year eras starting in March).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_the_calendar() {
        assert_eq!(timestamp(0), "01 Jan 1970 00:00:00.000");
        // 2019-04-12 10:35:15.455 UTC, the `pong-recv` of the tutorial's CLUSTER NODES.
        assert_eq!(timestamp(1_555_065_315_455), "12 Apr 2019 10:35:15.455");
        // A leap day and the last millisecond of a year.
        assert_eq!(timestamp(1_709_164_800_000), "29 Feb 2024 00:00:00.000");
        assert_eq!(timestamp(1_735_689_599_999), "31 Dec 2024 23:59:59.999");
    }

    #[test]
    fn loglevels_map_to_filters() {
        assert_eq!(level_filter("debug"), LevelFilter::TRACE);
        assert_eq!(level_filter("verbose"), LevelFilter::DEBUG);
        assert_eq!(level_filter("notice"), LevelFilter::INFO);
        assert_eq!(level_filter("WARNING"), LevelFilter::WARN);
        assert_eq!(level_filter("nothing"), LevelFilter::OFF);
    }

    #[test]
    fn level_symbols_are_redis_ones() {
        assert_eq!(level_symbol(Level::TRACE), '.');
        assert_eq!(level_symbol(Level::DEBUG), '-');
        assert_eq!(level_symbol(Level::INFO), '*');
        assert_eq!(level_symbol(Level::WARN), '#');
    }
}
