//! The command table: one file per command family, each exporting its [`CommandSpec`]s.
//!
//! A spec carries what `COMMAND` reports (arity, flags, key positions, ACL categories) and the
//! handler. Key positions also drive the cluster redirection check in `node.rs`.

use bytes::Bytes;

use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub mod bits;
pub mod cluster;
pub mod connection;
pub mod dump;
mod flags;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod keys;
pub mod lists;
pub(crate) mod long_double;
pub mod migrate;
pub mod propagate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod wait;
pub mod zsets;

pub use flags::CmdFlags;

/// A command handler. Arity has been checked; `args[0]` is the command name as sent.
pub type Handler = fn(&mut Node, ClientId, &[Bytes]) -> Reply;

pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// Redis command flags as `COMMAND` reports them (`write`, `readonly`, `fast`, …).
    pub flags: CmdFlags,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    /// ACL categories with their `@`.
    pub acl_categories: &'static [&'static str],
    /// `COMMAND DOCS` fields.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn is_write(&self) -> bool {
        self.flags.contains(CmdFlags::WRITE)
    }

    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH and QUIT run at once even inside MULTI.
    pub fn is_multi_control(&self) -> bool {
        matches!(
            self.name,
            "multi" | "exec" | "discard" | "watch" | "unwatch" | "quit" | "reset"
        )
    }

    /// The key of a command with exactly one key position (GET, SET, INCR, …), without
    /// building a list; `None` for every other command (then see [`CommandSpec::keys`]).
    pub fn single_key<'a>(&self, args: &'a [Bytes]) -> Option<&'a Bytes> {
        let one = self.first_key > 0
            && self.first_key == self.last_key
            && !self.flags.contains(CmdFlags::MOVABLEKEYS)
            && !matches!(self.name, "migrate" | "sort");
        one.then(|| args.get(self.first_key as usize)).flatten()
    }

    /// The key arguments, from the spec's first/last/step positions, or parsed for the
    /// commands whose keys move (MIGRATE, a key count, OBJECT's subcommands).
    pub fn keys<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        match self.name {
            "migrate" => return migrate_keys(args),
            "lmpop" | "sintercard" => return counted_keys(args, 1),
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
                return counted_keys(args, 2)
            }
            "sort" => {
                return sort::key_positions(args)
                    .into_iter()
                    .map(|i| &args[i])
                    .collect()
            }
            "zinter" | "zunion" | "zdiff" | "zintercard" | "zmpop" => return counted_keys(args, 1),
            "georadius" | "georadiusbymember" => return georadius_keys(args),
            // The destination, then the counted sources.
            "zinterstore" | "zunionstore" | "zdiffstore" => {
                let mut keys = counted_keys(args, 2);
                keys.insert(0, &args[1]);
                return keys;
            }
            "blmpop" | "bzmpop" => return counted_keys(args, 2),
            "xread" | "xreadgroup" => return streams::xread_keys(args),
            // The containers route by their subcommand's key: XGROUP CREATE <key> ….
            "xgroup" | "xinfo" if args.len() >= 3 => return vec![&args[2]],
            // Redis routes a container by its subcommand's keys: OBJECT ENCODING <key>.
            "object" if args.len() == 3 => return vec![&args[2]],
            "memory" if args.len() >= 3 && is(&args[1], "usage") => return vec![&args[2]],
            _ => {}
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let first = self.first_key as usize;
        let last = if self.last_key < 0 {
            args.len() as i32 + self.last_key
        } else {
            self.last_key
        };
        if last < 0 || (last as usize) >= args.len() {
            return Vec::new();
        }
        let step = self.key_step.max(1) as usize;
        (first..=last as usize)
            .step_by(step)
            .map(|i| &args[i])
            .collect()
    }
}

/// MIGRATE's keys move: the key argument, or everything after `KEYS` when it is empty.
fn migrate_keys(args: &[Bytes]) -> Vec<&Bytes> {
    match args.get(3) {
        Some(key) if !key.is_empty() => vec![key],
        _ => match args.iter().skip(6).position(|a| is(a, "keys")) {
            Some(at) => args[6 + at + 1..].iter().collect(),
            None => Vec::new(),
        },
    }
}

/// GEORADIUS[BYMEMBER]'s keys: the source, then the last STORE or STOREDIST key.
fn georadius_keys(args: &[Bytes]) -> Vec<&Bytes> {
    let mut keys: Vec<&Bytes> = args.get(1).into_iter().collect();
    let mut store = None;
    let mut i = 5;
    while i + 1 < args.len() {
        if is(&args[i], "store") || is(&args[i], "storedist") {
            store = Some(&args[i + 1]);
            i += 1;
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// `numkeys key …` at `args[at]`: the keys it counts, none if the count is not valid (the
/// command then fails on its own).
fn counted_keys(args: &[Bytes], at: usize) -> Vec<&Bytes> {
    let count = args.get(at).and_then(|n| parse_i64(n));
    match count.and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n > 0 && at + 1 + n <= args.len() => args[at + 1..at + 1 + n].iter().collect(),
        _ => Vec::new(),
    }
}

/// A command with fixed key positions (`[first, last, step]`) in `group`: what the families
/// with many keyed commands build their tables from.
#[allow(clippy::too_many_arguments)]
pub(crate) const fn keyed(
    group: &'static str,
    name: &'static str,
    arity: i32,
    flags: CmdFlags,
    [first_key, last_key, key_step]: [i32; 3],
    acl_categories: &'static [&'static str],
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key,
        last_key,
        key_step,
        acl_categories,
        group,
        summary,
        since,
        handler,
    }
}

/// A keyless command spec; only the fields that vary are arguments.
#[allow(clippy::too_many_arguments)]
pub(crate) const fn keyless(
    name: &'static str,
    arity: i32,
    flags: CmdFlags,
    acl_categories: &'static [&'static str],
    group: &'static str,
    summary: &'static str,
    since: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories,
        group,
        summary,
        since,
        handler,
    }
}

/// Every command we know, across all families.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    [
        strings::COMMANDS,
        keys::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        server::COMMANDS,
        replication::COMMANDS,
        connection::COMMANDS,
        cluster::COMMANDS,
        dump::COMMANDS,
        migrate::COMMANDS,
        wait::COMMANDS,
        server::persistence::COMMANDS,
        pubsub::COMMANDS,
        keys::RENAME_COMMANDS,
        bits::COMMANDS,
        hll::COMMANDS,
        sort::COMMANDS,
        zsets::COMMANDS,
        geo::COMMANDS,
        scripting::COMMANDS,
        streams::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// Most picks a negative HRANDFIELD/SRANDMEMBER count may ask for. Redis has no limit and
/// would build the whole reply in memory (2^63 picks exhaust any machine); a node in a test
/// bed must not die of one command, so larger counts are refused as out of range.
pub(crate) const RANDOM_REPEATS_MAX: u64 = 1 << 20;

/// Parses an argument as an i64 the way Redis does (no spaces, no `+`, fits in i64).
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with('+') || (text.len() > 1 && text.starts_with('0')) {
        return if text == "0" { Some(0) } else { None };
    }
    if text.starts_with("-0") {
        return None;
    }
    text.parse().ok()
}

/// Case-insensitive comparison of an argument with an ASCII word.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1.5",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn single_key_agrees_with_keys() {
        let args: Vec<Bytes> = ["X", "k1", "k2", "k3", "k4"]
            .iter()
            .map(|w| Bytes::from_static(w.as_bytes()))
            .collect();
        for spec in all() {
            for argc in 1..=args.len() {
                let args = &args[..argc];
                if let Some(key) = spec.single_key(args) {
                    assert_eq!(spec.keys(args), vec![key], "{}", spec.name);
                }
            }
        }
        let get = all().find(|s| s.name == "get").unwrap();
        assert_eq!(get.single_key(&args[..2]), Some(&args[1]));
        let mget = all().find(|s| s.name == "mget").unwrap();
        assert_eq!(mget.single_key(&args[..3]), None);
    }

    #[test]
    fn command_names_are_unique_and_lowercase() {
        let mut names: Vec<_> = all().map(|s| s.name).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| !c.is_ascii_uppercase())));
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
