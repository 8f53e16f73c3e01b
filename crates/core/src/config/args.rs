//! Checks for one directive argument (booleans, bounded integers, memory sizes, enums, file
//! names, `save` pairs). The error texts are Redis's, since users and tests compare them.

use super::directives::{Kind, DEBUG_MODES};
use super::DebugCommand;
use crate::canary::{Canaries, Canary};

/// A canary name, accepted only by the simulation build.
pub(super) fn canary_arg(arg: &str) -> Result<Canary, String> {
    if !Canaries::AVAILABLE {
        return Err("canaries exist only in the simulation build (--cfg madsim)".into());
    }
    Canary::parse(arg).ok_or_else(|| format!("unknown canary '{arg}'"))
}

pub(super) fn bool_arg(arg: &str) -> Result<bool, String> {
    if arg.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

pub(super) fn int_arg(kind: Kind, arg: &str) -> Result<i64, String> {
    let Kind::Int { min, max } = kind else {
        unreachable!("int_arg on a non-integer directive");
    };
    let value = crate::cmd::parse_i64(arg.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if value < min || value > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(value)
}

pub(super) fn enum_arg(
    choices: &'static [&'static str],
    arg: &str,
) -> Result<&'static str, String> {
    choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(arg))
        .copied()
        .ok_or_else(|| {
            format!(
                "argument(s) must be one of the following: {}",
                choices.join(", ")
            )
        })
}

/// `no`, `yes` or `local`, for the settings that gate a dangerous feature.
pub(super) fn gate_arg(arg: &str) -> Result<DebugCommand, String> {
    Ok(match enum_arg(DEBUG_MODES, arg)? {
        "yes" => DebugCommand::Yes,
        "local" => DebugCommand::Local,
        _ => DebugCommand::No,
    })
}

/// Bytes with an optional unit (`1k` = 1000, `1kb` = 1024, …), as redis.conf allows.
pub(super) fn memory_arg(arg: &str) -> Result<u64, String> {
    let err = || "argument must be a memory value".to_string();
    let lower = arg.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(err()),
    };
    let number: u64 = digits.parse().map_err(|_| err())?;
    number.checked_mul(multiplier).ok_or_else(err)
}

/// Checks an accepted-but-ignored directive's value and returns it as `CONFIG GET` shows it.
pub(super) fn check_kind(kind: Kind, args: &[String]) -> Result<String, String> {
    if matches!(kind, Kind::Args) {
        return Ok(args.join(" "));
    }
    let arg = args.first().map(String::as_str).unwrap_or("");
    match kind {
        Kind::Bool => Ok(if bool_arg(arg)? { "yes" } else { "no" }.into()),
        Kind::Int { .. } => Ok(int_arg(kind, arg)?.to_string()),
        Kind::Memory => Ok(memory_arg(arg)?.to_string()),
        Kind::Enum(choices) => Ok(enum_arg(choices, arg)?.to_string()),
        Kind::Str | Kind::Args | Kind::Special => Ok(arg.to_string()),
    }
}

/// `appendfilename`, `appenddirname` and `dbfilename` must not contain a path.
pub(super) fn base_name(arg: &str, directive: &str, what: &str) -> Result<String, String> {
    if arg.contains(['/', '\\']) {
        return Err(format!("{directive} can't be a path, just a {what}"));
    }
    Ok(arg.to_string())
}

/// `save` arguments as (seconds, changes) pairs; Redis reads them with `strtoll`, so a
/// leading sign is fine but any trailing garbage is not.
pub(super) fn parse_save_pairs(args: &[String]) -> Result<Vec<(i64, i64)>, String> {
    let err = || "Invalid save parameters".to_string();
    if !args.len().is_multiple_of(2) {
        return Err(err());
    }
    let number = |s: &str| -> Option<i64> {
        let t = s.trim_start();
        if t.is_empty() {
            return Some(0);
        }
        t.parse::<i64>().ok()
    };
    let mut pairs = Vec::new();
    for pair in args.chunks(2) {
        let seconds = number(&pair[0]).ok_or_else(err)?;
        let changes = number(&pair[1]).ok_or_else(err)?;
        if seconds < 1 || changes < 0 {
            return Err(err());
        }
        pairs.push((seconds, changes));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{e, err};

    #[test]
    fn value_errors_have_redis_wording() {
        let cases = [
            ("port\n", e(1, "port", "wrong number of arguments")),
            ("port 7000 extra\n", e(1, "port 7000 extra", "wrong number of arguments")),
            ("port 7000 # c\n", e(1, "port 7000 # c", "wrong number of arguments")),
            ("port abc\n", e(1, "port abc", "argument couldn't be parsed into an integer")),
            ("port +5\n", e(1, "port +5", "argument couldn't be parsed into an integer")),
            ("port 05\n", e(1, "port 05", "argument couldn't be parsed into an integer")),
            ("port 1.0\n", e(1, "port 1.0", "argument couldn't be parsed into an integer")),
            ("port 70000\n", e(1, "port 70000", "argument must be between 0 and 65535 inclusive")),
            ("port -1\n", e(1, "port -1", "argument must be between 0 and 65535 inclusive")),
            ("appendonly maybe\n", e(1, "appendonly maybe", "argument must be 'yes' or 'no'")),
            ("appendonly \"\"\n", e(1, "appendonly \"\"", "argument must be 'yes' or 'no'")),
            (
                "appendfsync sometimes\n",
                e(1, "appendfsync sometimes", "argument(s) must be one of the following: everysec, always, no"),
            ),
            (
                "loglevel loud\n",
                e(1, "loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning"),
            ),
            (
                "enable-debug-command perhaps\n",
                e(1, "enable-debug-command perhaps", "argument(s) must be one of the following: no, yes, local"),
            ),
            (
                "cluster-node-timeout 1k\n",
                e(1, "cluster-node-timeout 1k", "argument couldn't be parsed into an integer"),
            ),
            (
                "cluster-node-timeout -5\n",
                e(1, "cluster-node-timeout -5", "argument must be between 0 and 9223372036854775807 inclusive"),
            ),
            (
                "cluster-port 70000\n",
                e(1, "cluster-port 70000", "argument must be between 0 and 65535 inclusive"),
            ),
            (
                "cluster-replica-validity-factor -1\n",
                e(1, "cluster-replica-validity-factor -1", "argument must be between 0 and 2147483647 inclusive"),
            ),
            (
                "cluster-slave-validity-factor abc\n",
                e(1, "cluster-slave-validity-factor abc", "argument couldn't be parsed into an integer"),
            ),
            (
                "cluster-migration-barrier -1\n",
                e(1, "cluster-migration-barrier -1", "argument must be between 0 and 2147483647 inclusive"),
            ),
            (
                "repl-ping-replica-period 0\n",
                e(1, "repl-ping-replica-period 0", "argument must be between 1 and 2147483647 inclusive"),
            ),
            ("save 1\n", e(1, "save 1", "Invalid save parameters")),
            ("save a b\n", e(1, "save a b", "Invalid save parameters")),
            ("save 0 0\n", e(1, "save 0 0", "Invalid save parameters")),
            ("save 1 -2\n", e(1, "save 1 -2", "Invalid save parameters")),
            ("save 1x 2\n", e(1, "save 1x 2", "Invalid save parameters")),
            ("daemonize\n", e(1, "daemonize", "wrong number of arguments")),
            (
                "appendfilename a/b\n",
                e(1, "appendfilename a/b", "appendfilename can't be a path, just a filename"),
            ),
            (
                "appenddirname a/b\n",
                e(1, "appenddirname a/b", "appenddirname can't be a path, just a dirname"),
            ),
            (
                "dbfilename a/b\n",
                e(1, "dbfilename a/b", "dbfilename can't be a path, just a filename"),
            ),
            (
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
                e(1, "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified."),
            ),
            ("maxmemory abc\n", e(1, "maxmemory abc", "argument must be a memory value")),
            ("maxmemory -1\n", e(1, "maxmemory -1", "argument must be a memory value")),
            ("hz abc\n", e(1, "hz abc", "argument couldn't be parsed into an integer")),
            (
                "maxmemory-policy x\n",
                e(
                    1,
                    "maxmemory-policy x",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
                ),
            ),
            ("requirepass\n", e(1, "requirepass", "wrong number of arguments")),
            ("include /x.conf\n", e(1, "include /x.conf", "Bad directive or wrong number of arguments")),
            ("APPENDONLY YES\nport x\n", e(2, "port x", "argument couldn't be parsed into an integer")),
            ("   # comment\n\t\nport x", e(3, "port x", "argument couldn't be parsed into an integer")),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text, &[]), expected, "{text:?}");
        }
    }
}
