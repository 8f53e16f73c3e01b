//! Generic keyspace commands (DEL, EXISTS, the EXPIRE family, TTL, TYPE, KEYS, SCAN, DBSIZE,
//! FLUSHALL, …) and the key access rules every command family shares: lazy expiry, keyspace
//! hit/miss counting, the active expiry sweep, and [`propagate`], the one place a write reports
//! how to replay it.

use bytes::Bytes;
use rand::Rng;

use super::{is, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::db::{EntryMut, EntryRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Most keys one [`active_expire_cycle`] removes; the rest wait for the next tick (or for a
/// client to touch them). Bounds the time a tick can take whatever the workload.
pub(crate) const ACTIVE_EXPIRE_KEYS_PER_CYCLE: usize = 1000;

/// SCAN's COUNT when the client gives none.
const SCAN_DEFAULT_COUNT: usize = 10;

/// RANDOMKEY tries this many picks on a replica, where expired keys stay until the master's DEL.
const RANDOMKEY_MAX_TRIES: usize = 100;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: F::WRITE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        group: "generic",
        summary: "Delete a key",
        since: "1.0.0",
        handler: del,
    },
    CommandSpec {
        name: "unlink",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        since: "4.0.0",
        handler: del,
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Determine if a key exists",
        since: "1.0.0",
        handler: exists,
    },
    CommandSpec {
        name: "expire",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set a key's time to live in seconds",
        since: "1.0.0",
        handler: expire,
    },
    CommandSpec {
        name: "pexpire",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set a key's time to live in milliseconds",
        since: "2.6.0",
        handler: pexpire,
    },
    CommandSpec {
        name: "expireat",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set the expiration for a key as a UNIX timestamp",
        since: "1.2.0",
        handler: expireat,
    },
    CommandSpec {
        name: "pexpireat",
        arity: -3,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        since: "2.6.0",
        handler: pexpireat,
    },
    CommandSpec {
        name: "ttl",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Get the time to live for a key in seconds",
        since: "1.0.0",
        handler: ttl,
    },
    CommandSpec {
        name: "pttl",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Get the time to live for a key in milliseconds",
        since: "2.6.0",
        handler: pttl,
    },
    CommandSpec {
        name: "persist",
        arity: 2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        group: "generic",
        summary: "Remove the expiration from a key",
        since: "2.2.0",
        handler: persist,
    },
    CommandSpec {
        name: "type",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "generic",
        summary: "Determine the type stored at key",
        since: "1.0.0",
        handler: type_,
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow", "@dangerous"],
        group: "generic",
        summary: "Find all keys matching the given pattern",
        since: "1.0.0",
        handler: keys,
    },
    CommandSpec {
        name: "scan",
        arity: -2,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        group: "generic",
        summary: "Incrementally iterate the keys space",
        since: "2.8.0",
        handler: scan,
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: F::READONLY,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        group: "generic",
        summary: "Return a random key from the keyspace",
        since: "1.0.0",
        handler: randomkey,
    },
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: F::READONLY.union(F::FAST),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@read", "@fast"],
        group: "server",
        summary: "Return the number of keys in the selected database",
        since: "1.0.0",
        handler: dbsize,
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: F::WRITE,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "server",
        summary: "Remove all keys from all databases",
        since: "1.0.0",
        handler: flush,
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: F::WRITE,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        group: "server",
        summary: "Remove all keys from the current database",
        since: "1.0.0",
        handler: flush,
    },
];

// ---- shared key access --------------------------------------------------------------------

/// Replicas keep logically expired keys until their master's `DEL` arrives, as in Redis, so
/// that a replica never diverges from the stream it replays.
fn deletes_expired_keys(node: &Node) -> bool {
    // A master paused for a manual failover keeps its offset still, expiry included.
    !node.cluster.me().is_replica() && !node.writes_paused()
}

/// Lazy expiry: removes `key` when its TTL has passed, counting it and propagating a `DEL`.
/// Callers then see the key as missing whether or not it was removed (see `Db::get`).
pub(crate) fn expire_if_due(node: &mut Node, key: &[u8]) {
    if !node.db.is_expired(key, node.now.unix_ms) || !deletes_expired_keys(node) {
        return;
    }
    node.db.remove(key);
    node.stats.expired_keys += 1;
    propagate(
        node,
        vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
    );
}

/// A read lookup: expires the key if due and counts a keyspace hit or miss, like Redis's
/// `lookupKeyRead` (GET, MGET, EXISTS, TTL, TYPE, …).
pub(crate) fn lookup_read<'a>(node: &'a mut Node, key: &[u8]) -> Option<EntryRef<'a>> {
    expire_if_due(node, key);
    let found = node.db.contains(key, node.now.unix_ms);
    if found {
        node.stats.keyspace_hits += 1;
    } else {
        node.stats.keyspace_misses += 1;
    }
    node.db.get(key, node.now.unix_ms)
}

/// A write lookup: expires the key if due; no hit/miss counting (`lookupKeyWrite`).
pub(crate) fn lookup_write<'a>(node: &'a mut Node, key: &[u8]) -> Option<EntryMut<'a>> {
    expire_if_due(node, key);
    let now_ms = node.now.unix_ms;
    node.db.get_mut(key, now_ms)
}

/// The seam for persistence and replication: every write that changed the keyspace calls this
/// with the command that replays it exactly (relative TTLs turned absolute, lazy expiry as
/// `DEL`, no `GET` option), as Redis feeds its AOF and replicas.
pub(crate) fn propagate(node: &mut Node, argv: Vec<Bytes>) {
    debug_assert!(!argv.is_empty(), "propagating an empty command");
    #[cfg(test)]
    tests::record_propagated(&argv);
    node.log_write(&argv);
}

/// Removes up to [`ACTIVE_EXPIRE_KEYS_PER_CYCLE`] keys whose TTL has passed, soonest first.
/// The node calls it from its 100 ms tick so that keys nobody reads still go away.
pub(crate) fn active_expire_cycle(node: &mut Node) {
    if !deletes_expired_keys(node) {
        return;
    }
    let due = node
        .db
        .due_for_expiry(node.now.unix_ms, ACTIVE_EXPIRE_KEYS_PER_CYCLE);
    for key in due {
        expire_if_due(node, &key);
    }
}

/// Arguments as one owned command line, for [`propagate`].
pub(crate) fn argv(args: &[Bytes]) -> Vec<Bytes> {
    args.to_vec()
}

// ---- DEL, EXISTS, TYPE ----------------------------------------------------------------------

/// DEL and UNLINK (we free memory synchronously either way).
fn del(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut deleted = 0;
    for key in &args[1..] {
        expire_if_due(node, key);
        if node.db.remove(key) {
            deleted += 1;
        }
    }
    if deleted > 0 {
        propagate(node, argv(args));
    }
    Reply::Integer(deleted)
}

/// Counts every argument that exists, duplicates included.
fn exists(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut count = 0;
    for key in &args[1..] {
        if lookup_read(node, key).is_some() {
            count += 1;
        }
    }
    Reply::Integer(count)
}

fn type_(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let name = lookup_read(node, &args[1]).map_or("none", |e| e.value.type_name());
    Reply::simple(name)
}

// ---- EXPIRE family, TTL, PERSIST ----------------------------------------------------------

/// The NX / XX / GT / LT conditions of the EXPIRE family (Redis 7.0).
#[derive(Default, Debug, PartialEq)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    fn parse(options: &[Bytes]) -> Result<ExpireCondition, Reply> {
        let mut cond = ExpireCondition::default();
        for option in options {
            if is(option, "nx") {
                cond.nx = true;
            } else if is(option, "xx") {
                cond.xx = true;
            } else if is(option, "gt") {
                cond.gt = true;
            } else if is(option, "lt") {
                cond.lt = true;
            } else {
                return Err(Reply::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(option)
                )));
            }
        }
        if cond.nx && (cond.xx || cond.gt || cond.lt) {
            return Err(Reply::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if cond.gt && cond.lt {
            return Err(Reply::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(cond)
    }

    /// Whether a new expiry `new_ms` may replace `current_ms` (None = no TTL, i.e. infinite).
    fn allows(&self, current_ms: Option<u64>, new_ms: i64) -> bool {
        let current = current_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        if self.nx && current.is_some() {
            return false;
        }
        if self.xx && current.is_none() {
            return false;
        }
        if self.gt && current.is_none_or(|t| new_ms <= t) {
            return false;
        }
        if self.lt && current.is_some_and(|t| new_ms >= t) {
            return false;
        }
        true
    }
}

#[derive(Copy, Clone, PartialEq)]
enum TimeUnit {
    Seconds,
    Milliseconds,
}

fn expire(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let base_ms = node.now.unix_ms;
    expire_generic(node, args, "expire", base_ms, TimeUnit::Seconds)
}

fn pexpire(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let base_ms = node.now.unix_ms;
    expire_generic(node, args, "pexpire", base_ms, TimeUnit::Milliseconds)
}

fn expireat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    expire_generic(node, args, "expireat", 0, TimeUnit::Seconds)
}

fn pexpireat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    expire_generic(node, args, "pexpireat", 0, TimeUnit::Milliseconds)
}

/// `ERR invalid expire time in '<name>' command`.
pub(crate) fn invalid_expire(name: &str) -> Reply {
    Reply::err(format!("invalid expire time in '{name}' command"))
}

/// The absolute unix-ms time an EXPIRE-family argument names. Negative results are allowed
/// (they mean "already expired"); only overflow is an error.
fn expire_when_ms(arg: &[u8], name: &str, base_ms: u64, unit: TimeUnit) -> Result<i64, Reply> {
    let mut when = parse_i64(arg).ok_or_else(Reply::not_integer)?;
    if unit == TimeUnit::Seconds {
        when = when.checked_mul(1000).ok_or_else(|| invalid_expire(name))?;
    }
    let base = i64::try_from(base_ms).map_err(|_| invalid_expire(name))?;
    when.checked_add(base).ok_or_else(|| invalid_expire(name))
}

fn expire_generic(
    node: &mut Node,
    args: &[Bytes],
    name: &str,
    base_ms: u64,
    unit: TimeUnit,
) -> Reply {
    let cond = match ExpireCondition::parse(&args[3..]) {
        Ok(cond) => cond,
        Err(e) => return e,
    };
    let when_ms = match expire_when_ms(&args[2], name, base_ms, unit) {
        Ok(when) => when,
        Err(e) => return e,
    };
    let key = &args[1];
    let Some(entry) = lookup_write(node, key) else {
        return Reply::Integer(0);
    };
    if !cond.allows(entry.expires_at_ms(), when_ms) {
        return Reply::Integer(0);
    }
    if already_past(node, when_ms) {
        // An expiry in the past deletes at once; it is a deletion, not an expiration.
        node.db.remove(key);
        propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
        return Reply::Integer(1);
    }
    let when_ms = u64::try_from(when_ms).expect("future times are positive");
    node.db.set_expiry(key, Some(when_ms));
    let mut replay = argv(args);
    if name != "pexpireat" {
        replay[0] = Bytes::from_static(b"PEXPIREAT");
        replay[2] = Bytes::from(when_ms.to_string());
    }
    propagate(node, replay);
    Reply::Integer(1)
}

/// Whether an absolute expiry time has already passed, so the key should go now. Replicas
/// store it instead and wait for the master's `DEL`.
pub(crate) fn already_past(node: &Node, when_ms: i64) -> bool {
    let now = i64::try_from(node.now.unix_ms).unwrap_or(i64::MAX);
    when_ms <= now && deletes_expired_keys(node)
}

/// Milliseconds left for `key`: `Err(-2)` missing, `Err(-1)` no TTL.
fn remaining_ms(node: &mut Node, key: &[u8]) -> Result<u64, i64> {
    let entry = lookup_read(node, key).ok_or(-2)?;
    let at_ms = entry.expires_at_ms.ok_or(-1)?;
    Ok(at_ms.saturating_sub(node.now.unix_ms))
}

fn ttl(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match remaining_ms(node, &args[1]) {
        Ok(ms) => Reply::Integer(i64::try_from(ms.saturating_add(500) / 1000).unwrap_or(i64::MAX)),
        Err(code) => Reply::Integer(code),
    }
}

fn pttl(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match remaining_ms(node, &args[1]) {
        Ok(ms) => Reply::Integer(i64::try_from(ms).unwrap_or(i64::MAX)),
        Err(code) => Reply::Integer(code),
    }
}

fn persist(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let had_ttl = lookup_write(node, key).is_some_and(|e| e.expires_at_ms().is_some());
    if !had_ttl {
        return Reply::Integer(0);
    }
    node.db.set_expiry(key, None);
    propagate(node, argv(args));
    Reply::Integer(1)
}

// ---- KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSH* -------------------------------------------------

/// KEYS lists live keys without removing expired ones (it never deletes, as in Redis).
fn keys(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let pattern = &args[1];
    let now_ms = node.now.unix_ms;
    let matched = node
        .db
        .entries_in_order()
        .filter(|e| e.is_live(now_ms) && pattern_matches(pattern, e.key))
        .map(|e| Reply::Bulk(Bytes::copy_from_slice(e.key)))
        .collect();
    Reply::Array(matched)
}

/// `*` alone matches every key, the empty one included (the matcher alone would not: a
/// pattern only matches an empty text when it is empty itself).
fn pattern_matches(pattern: &[u8], key: &[u8]) -> bool {
    pattern == b"*" || crate::text::glob_match(pattern, key, false)
}

/// A SCAN cursor as Redis reads it (`strtoul`): optional sign, digits, nothing else; a
/// negative number wraps; the empty string is 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Some(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

struct ScanOptions {
    count: usize,
    pattern: Option<Bytes>,
    type_name: Option<Bytes>,
}

impl ScanOptions {
    fn parse(options: &[Bytes]) -> Result<ScanOptions, Reply> {
        let mut parsed = ScanOptions {
            count: SCAN_DEFAULT_COUNT,
            pattern: None,
            type_name: None,
        };
        for pair in options.chunks(2) {
            let [name, value] = pair else {
                return Err(Reply::syntax_error());
            };
            if is(name, "count") {
                let count = parse_i64(value).ok_or_else(Reply::not_integer)?;
                if count < 1 {
                    return Err(Reply::syntax_error());
                }
                parsed.count = usize::try_from(count).unwrap_or(usize::MAX);
            } else if is(name, "match") {
                parsed.pattern = Some(value.clone());
            } else if is(name, "type") {
                parsed.type_name = Some(value.clone());
            } else {
                return Err(Reply::syntax_error());
            }
        }
        Ok(parsed)
    }

    fn wants(&self, key: &[u8], entry: EntryRef<'_>) -> bool {
        let pattern_ok = self
            .pattern
            .as_ref()
            .is_none_or(|p| pattern_matches(p, key));
        let type_ok = self
            .type_name
            .as_ref()
            .is_none_or(|t| is(t, entry.value.type_name()));
        pattern_ok && type_ok
    }
}

/// The cursor is a scan position plus one (0 is reserved for start and end). Positions are
/// fixed per key, so a key present for the whole scan lies in exactly one step's range.
fn scan(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::err("invalid cursor");
    };
    let options = match ScanOptions::parse(&args[2..]) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let (visited, next) = node.db.scan(cursor.saturating_sub(1), options.count);
    let mut found = Vec::new();
    for key in visited {
        expire_if_due(node, &key);
        if let Some(entry) = node.db.get(&key, node.now.unix_ms) {
            if options.wants(&key, entry) {
                found.push(Reply::Bulk(key));
            }
        }
    }
    let next_cursor = next.map_or(0, |position| position + 1);
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next_cursor.to_string())),
        Reply::Array(found),
    ])
}

fn randomkey(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    for _ in 0..RANDOMKEY_MAX_TRIES {
        let pick = node.rng.gen::<u64>();
        let Some(key) = node.db.key_near(pick).map(Bytes::copy_from_slice) else {
            return Reply::Nil;
        };
        expire_if_due(node, &key);
        if node.db.contains(&key, node.now.unix_ms) {
            return Reply::Bulk(key);
        }
    }
    // Only a replica full of expired keys gets here; like Redis, answer with one of them.
    match node.db.key_near(node.rng.gen::<u64>()) {
        Some(key) => Reply::Bulk(Bytes::copy_from_slice(key)),
        None => Reply::Nil,
    }
}

fn dbsize(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(i64::try_from(node.db.len()).unwrap_or(i64::MAX))
}

/// FLUSHALL and FLUSHDB (cluster mode has one database). ASYNC frees synchronously here.
fn flush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match &args[1..] {
        [] => {}
        [mode] if is(mode, "async") || is(mode, "sync") => {}
        _ => return Reply::syntax_error(),
    }
    node.db.clear();
    propagate(node, argv(args));
    Reply::ok()
}

// ---- glob matching ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        static PROPAGATED: RefCell<Vec<Vec<Bytes>>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record_propagated(argv: &[Bytes]) {
        PROPAGATED.with(|p| p.borrow_mut().push(argv.to_vec()));
    }

    /// Commands propagated on this test thread since the last call, as text.
    pub(crate) fn take_propagated() -> Vec<String> {
        PROPAGATED.with(|p| {
            p.borrow_mut()
                .drain(..)
                .map(|argv| {
                    argv.iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        })
    }

    // ---- harness shared with the strings tests ----

    use crate::config::Config;
    use crate::node::Time;

    /// A node with one connected client and a clock the test moves.
    pub(crate) struct Harness {
        pub(crate) node: Node,
        pub(crate) client: ClientId,
        pub(crate) now: Time,
    }

    impl Harness {
        pub(crate) fn new() -> Harness {
            let now = Time {
                mono_ms: 0,
                unix_ms: 1_000_000,
            };
            let mut node = Node::new(Config::default(), now, 1);
            let client =
                node.client_connected(now, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
            take_propagated();
            Harness { node, client, now }
        }

        pub(crate) fn cmd(&mut self, args: &[&str]) -> Reply {
            let args: Vec<Bytes> = args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            self.node.command(self.now, self.client, &args)
        }

        pub(crate) fn advance_ms(&mut self, ms: u64) {
            self.now.mono_ms += ms;
            self.now.unix_ms += ms;
        }

        /// One active expiry cycle at the harness's clock.
        pub(crate) fn expire_cycle(&mut self) {
            self.node.now = self.now;
            active_expire_cycle(&mut self.node);
        }

        pub(crate) fn become_replica(&mut self) {
            self.node.cluster.me_mut().flags = crate::bus::flags::SLAVE;
        }
    }

    pub(crate) fn bulk(s: &str) -> Reply {
        Reply::bulk_str(s)
    }

    pub(crate) fn int(n: i64) -> Reply {
        Reply::Integer(n)
    }

    pub(crate) fn err(text: &str) -> Reply {
        Reply::Error(text.to_string())
    }

    pub(crate) fn ok() -> Reply {
        Reply::ok()
    }

    fn bulks(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    /// Sorted key names from a KEYS reply.
    fn names(reply: Reply) -> Vec<String> {
        let Reply::Array(items) = reply else {
            panic!("not an array: {reply:?}");
        };
        let mut names: Vec<String> = items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf8"),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        names.sort();
        names
    }

    /// One SCAN call: (next cursor, keys).
    fn scan_step(h: &mut Harness, args: &[&str]) -> (String, Vec<String>) {
        let reply = h.cmd(args);
        let Reply::Array(mut parts) = reply else {
            panic!("SCAN reply: {reply:?}");
        };
        assert_eq!(parts.len(), 2);
        let keys = names(parts.pop().expect("keys"));
        let Some(Reply::Bulk(cursor)) = parts.pop() else {
            panic!("SCAN cursor");
        };
        (String::from_utf8(cursor.to_vec()).expect("utf8"), keys)
    }

    /// Runs a whole SCAN; `between` runs after every step. Bounded in steps.
    fn full_scan(
        h: &mut Harness,
        extra: &[&str],
        mut between: impl FnMut(&mut Harness, usize),
    ) -> Vec<String> {
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        for step in 0..10_000 {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let (next, keys) = scan_step(h, &args);
            seen.extend(keys);
            if next == "0" {
                return seen;
            }
            between(h, step);
            cursor = next;
        }
        panic!("SCAN did not finish");
    }

    // ---- DEL, EXISTS, TYPE ----

    #[test]
    fn del_and_unlink_count_distinct_existing_keys() {
        let mut h = Harness::new();
        h.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(h.cmd(&["DEL", "a", "a", "nope"]), int(1));
        assert_eq!(h.cmd(&["unlink", "b", "c", "b"]), int(2));
        assert_eq!(h.cmd(&["DEL", "a"]), int(0));
        assert_eq!(
            h.cmd(&["DEL"]),
            err("ERR wrong number of arguments for 'del' command")
        );
        assert_eq!(h.cmd(&["DBSIZE"]), int(0));
        assert_eq!(
            take_propagated().last().map(String::as_str),
            Some("unlink b c b")
        );
    }

    #[test]
    fn del_of_nothing_propagates_nothing() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["DEL", "x"]), int(0));
        assert_eq!(take_propagated(), Vec::<String>::new());
    }

    #[test]
    fn exists_counts_duplicates_and_stats() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1"]);
        assert_eq!(h.cmd(&["EXISTS", "a", "a", "nope", "a"]), int(3));
        assert_eq!(h.node.stats.keyspace_hits, 3);
        assert_eq!(h.node.stats.keyspace_misses, 1);
    }

    #[test]
    fn type_names_strings_and_missing_keys() {
        let mut h = Harness::new();
        h.cmd(&["SET", "s", "1"]);
        assert_eq!(h.cmd(&["TYPE", "s"]), Reply::simple("string"));
        assert_eq!(h.cmd(&["TYPE", "nope"]), Reply::simple("none"));
        assert_eq!(h.node.stats.keyspace_misses, 1);
    }

    // ---- EXPIRE family ----

    #[test]
    fn expire_conditions_follow_redis_7() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1"]);
        assert_eq!(h.cmd(&["EXPIRE", "nope", "10"]), int(0));
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "xx"]), int(0));
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "10", "gt"]),
            int(0),
            "no TTL = infinite"
        );
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "NX"]), int(1));
        assert_eq!(h.cmd(&["EXPIRE", "a", "20", "nx"]), int(0));
        assert_eq!(h.cmd(&["EXPIRE", "a", "5", "xx"]), int(1));
        assert_eq!(h.cmd(&["EXPIRE", "a", "100", "gt"]), int(1));
        assert_eq!(h.cmd(&["EXPIRE", "a", "50", "gt"]), int(0));
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "100", "gt"]),
            int(0),
            "equal is not greater"
        );
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "lt"]), int(1));
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "xx", "gt", "gt"]), int(0));
        assert_eq!(h.cmd(&["TTL", "a"]), int(10));
        assert_eq!(h.cmd(&["PERSIST", "a"]), int(1));
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "10", "lt"]),
            int(1),
            "anything is less than infinite"
        );
        assert_eq!(h.cmd(&["TTL", "a"]), int(10));
    }

    #[test]
    fn expire_option_errors() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1"]);
        let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "nx", "xx"]), err(nx));
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "gt", "nx"]), err(nx));
        assert_eq!(h.cmd(&["EXPIRE", "a", "10", "nx", "lt"]), err(nx));
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "10", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "10", "foo"]),
            err("ERR Unsupported option foo")
        );
        // Options are checked before the number.
        assert_eq!(
            h.cmd(&["EXPIRE", "a", "abc", "foo"]),
            err("ERR Unsupported option foo")
        );
        let not_int = err("ERR value is not an integer or out of range");
        assert_eq!(h.cmd(&["EXPIRE", "a", "abc"]), not_int);
        assert_eq!(h.cmd(&["PEXPIRE", "a", "1.5"]), not_int);
        assert_eq!(
            h.cmd(&["EXPIRE", "a"]),
            err("ERR wrong number of arguments for 'expire' command")
        );
        assert_eq!(h.cmd(&["TTL", "a"]), int(-1), "errors change nothing");
    }

    #[test]
    fn expire_overflow_is_an_invalid_expire_time() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1"]);
        let max = "9223372036854775807";
        let cases = [
            ("EXPIRE", max, "expire"),
            ("EXPIRE", "9223372036854775", "expire"),
            ("EXPIRE", "-9223372036854775808", "expire"),
            ("PEXPIRE", max, "pexpire"),
            ("EXPIREAT", max, "expireat"),
            ("EXPIREAT", "-9223372036854775808", "expireat"),
        ];
        for (cmd, when, name) in cases {
            assert_eq!(
                h.cmd(&[cmd, "a", when]),
                err(&format!("ERR invalid expire time in '{name}' command")),
                "{cmd} {when}"
            );
        }
        assert_eq!(h.cmd(&["PEXPIREAT", "a", max]), int(1));
        assert_eq!(h.cmd(&["PTTL", "a"]), int(i64::MAX - 1_000_000));
    }

    #[test]
    fn expire_in_the_past_deletes_without_counting_an_expiration() {
        let mut h = Harness::new();
        for (cmd, when) in [
            ("EXPIRE", "0"),
            ("EXPIRE", "-1"),
            ("PEXPIRE", "-9223372036854775808"),
            ("EXPIREAT", "1"),
            ("PEXPIREAT", "1000000"),
        ] {
            h.cmd(&["SET", "a", "1"]);
            take_propagated();
            assert_eq!(h.cmd(&[cmd, "a", when]), int(1), "{cmd} {when}");
            assert_eq!(h.cmd(&["EXISTS", "a"]), int(0));
            assert_eq!(take_propagated(), vec!["DEL a"]);
        }
        assert_eq!(h.node.stats.expired_keys, 0);
    }

    #[test]
    fn expire_propagates_as_absolute_pexpireat() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1"]);
        take_propagated();
        h.cmd(&["expire", "a", "10", "gt", "lt"]);
        h.cmd(&["expire", "a", "10", "nx"]);
        h.cmd(&["PEXPIRE", "a", "500", "xx"]);
        h.cmd(&["EXPIREAT", "a", "2000"]);
        h.cmd(&["pexpireat", "a", "3000000"]);
        h.cmd(&["EXPIRE", "a", "10", "nx"]);
        assert_eq!(
            take_propagated(),
            vec![
                "PEXPIREAT a 1010000 nx",
                "PEXPIREAT a 1000500 xx",
                "PEXPIREAT a 2000000",
                "pexpireat a 3000000",
            ]
        );
    }

    #[test]
    fn ttl_and_pttl_count_down_with_the_clock() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["TTL", "nope"]), int(-2));
        assert_eq!(h.cmd(&["PTTL", "nope"]), int(-2));
        h.cmd(&["SET", "a", "1"]);
        assert_eq!(h.cmd(&["TTL", "a"]), int(-1));
        assert_eq!(h.cmd(&["PTTL", "a"]), int(-1));
        h.cmd(&["PEXPIRE", "a", "2000"]);
        h.advance_ms(500);
        assert_eq!(h.cmd(&["PTTL", "a"]), int(1500));
        assert_eq!(h.cmd(&["TTL", "a"]), int(2), "rounded to nearest");
        h.advance_ms(1);
        assert_eq!(h.cmd(&["TTL", "a"]), int(1));
        h.advance_ms(1499);
        assert_eq!(h.cmd(&["PTTL", "a"]), int(-2));
        assert_eq!(h.node.stats.expired_keys, 1);
    }

    #[test]
    fn persist_removes_a_ttl_once() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1", "EX", "10"]);
        take_propagated();
        assert_eq!(h.cmd(&["PERSIST", "a"]), int(1));
        assert_eq!(h.cmd(&["PERSIST", "a"]), int(0));
        assert_eq!(h.cmd(&["PERSIST", "nope"]), int(0));
        assert_eq!(h.cmd(&["TTL", "a"]), int(-1));
        assert_eq!(take_propagated(), vec!["PERSIST a"]);
        assert_eq!(h.node.db.expiring_count(), 0);
    }

    // ---- lazy and active expiry ----

    #[test]
    fn expired_keys_vanish_lazily_and_are_counted() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1", "PX", "100"]);
        take_propagated();
        h.advance_ms(99);
        assert_eq!(h.cmd(&["GET", "a"]), bulk("1"));
        h.advance_ms(1);
        assert_eq!(h.cmd(&["DBSIZE"]), int(1), "still stored until touched");
        assert_eq!(h.cmd(&["GET", "a"]), Reply::Nil);
        assert_eq!(h.cmd(&["DBSIZE"]), int(0));
        assert_eq!(h.node.stats.expired_keys, 1);
        assert_eq!(h.node.stats.keyspace_hits, 1);
        assert_eq!(h.node.stats.keyspace_misses, 1);
        assert_eq!(take_propagated(), vec!["DEL a"]);
    }

    #[test]
    fn active_expiry_removes_due_keys_in_bounded_batches() {
        let mut h = Harness::new();
        let n = ACTIVE_EXPIRE_KEYS_PER_CYCLE + 500;
        for i in 0..n {
            h.cmd(&["SET", &format!("t{i}"), "v", "PX", "100"]);
        }
        h.cmd(&["SET", "later", "v", "PX", "5000"]);
        h.cmd(&["SET", "forever", "v"]);
        h.expire_cycle();
        assert_eq!(h.node.db.len(), n + 2, "nothing due yet");
        h.advance_ms(100);
        take_propagated();
        h.expire_cycle();
        assert_eq!(h.node.db.len(), 500 + 2);
        assert_eq!(
            h.node.stats.expired_keys,
            ACTIVE_EXPIRE_KEYS_PER_CYCLE as u64
        );
        assert!(take_propagated().iter().all(|c| c.starts_with("DEL t")));
        h.expire_cycle();
        assert_eq!(h.node.db.len(), 2);
        assert_eq!(h.node.stats.expired_keys, n as u64);
        assert_eq!(h.cmd(&["EXISTS", "later", "forever"]), int(2));
    }

    #[test]
    fn replicas_hide_expired_keys_but_keep_them_for_the_master_del() {
        let mut h = Harness::new();
        h.cmd(&["SET", "a", "1", "PX", "100"]);
        h.become_replica();
        h.advance_ms(100);
        take_propagated();
        assert_eq!(h.cmd(&["GET", "a"]), Reply::Nil);
        assert_eq!(h.cmd(&["TTL", "a"]), int(-2));
        h.expire_cycle();
        assert_eq!(h.node.db.len(), 1);
        assert_eq!(h.node.stats.expired_keys, 0);
        assert_eq!(take_propagated(), Vec::<String>::new());
    }

    // ---- KEYS ----

    #[test]
    fn keys_matches_patterns_and_skips_expired_keys_without_deleting() {
        let mut h = Harness::new();
        h.cmd(&[
            "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
        ]);
        h.cmd(&["SET", "", "empty"]);
        h.cmd(&["SET", "hbllo", "1", "PX", "10"]);
        h.advance_ms(10);
        assert_eq!(
            names(h.cmd(&["KEYS", "h?llo"])),
            ["hallo", "hello", "hxllo"]
        );
        assert_eq!(
            names(h.cmd(&["KEYS", "h*llo"])),
            ["hallo", "heeeello", "hello", "hllo", "hxllo"]
        );
        assert_eq!(names(h.cmd(&["KEYS", "h[ae]llo"])), ["hallo", "hello"]);
        assert_eq!(names(h.cmd(&["KEYS", "h[^e]llo"])), ["hallo", "hxllo"]);
        assert_eq!(names(h.cmd(&["KEYS", "h[a-b]llo"])), ["hallo"]);
        let all = h.cmd(&["KEYS", "*"]);
        assert_eq!(all, h.cmd(&["KEYS", "*"]), "same order every time");
        assert_eq!(
            names(h.cmd(&["KEYS", "*"])).len(),
            6,
            "`*` includes the empty key"
        );
        assert_eq!(names(h.cmd(&["KEYS", "**"])).len(), 5, "`**` does not");
        assert_eq!(names(h.cmd(&["KEYS", ""])), [""]);
        assert_eq!(h.cmd(&["KEYS", "nomatch*"]), Reply::Array(vec![]));
        assert_eq!(h.cmd(&["DBSIZE"]), int(7), "KEYS never deletes");
        assert_eq!(h.node.stats.expired_keys, 0);
    }

    // ---- SCAN ----

    #[test]
    fn scan_returns_every_key_exactly_once_on_a_still_keyspace() {
        let mut h = Harness::new();
        for i in 0..300 {
            h.cmd(&["SET", &format!("key:{i}"), "v"]);
        }
        let mut seen = full_scan(&mut h, &["COUNT", "7"], |_, _| {});
        seen.sort();
        let mut expected: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn scan_never_misses_keys_present_throughout_while_others_change() {
        let mut h = Harness::new();
        for i in 0..400 {
            h.cmd(&["SET", &format!("stay:{i}"), "v"]);
            h.cmd(&["SET", &format!("go:{i}"), "v"]);
        }
        // Between steps: delete some keys and add new ones in every part of the order.
        let seen = full_scan(&mut h, &["COUNT", "5"], |h, step| {
            for j in 0..4 {
                let n = step * 4 + j;
                h.cmd(&["DEL", &format!("go:{n}")]);
                h.cmd(&["SET", &format!("new:{n}"), "v"]);
            }
        });
        for i in 0..400 {
            let key = format!("stay:{i}");
            assert!(seen.contains(&key), "{key} missed");
        }
        assert!(seen.iter().all(|k| !k.is_empty()));
    }

    #[test]
    fn scan_filters_by_match_and_type() {
        let mut h = Harness::new();
        for i in 0..50 {
            h.cmd(&["SET", &format!("user:{i}"), "v"]);
            h.cmd(&["SET", &format!("item:{i}"), "v"]);
        }
        let users = full_scan(&mut h, &["MATCH", "user:*", "COUNT", "9"], |_, _| {});
        assert_eq!(users.len(), 50);
        assert!(users.iter().all(|k| k.starts_with("user:")));
        assert_eq!(full_scan(&mut h, &["TYPE", "STRING"], |_, _| {}).len(), 100);
        assert_eq!(full_scan(&mut h, &["type", "hash"], |_, _| {}).len(), 0);
        assert_eq!(
            full_scan(&mut h, &["TYPE", "nosuchtype"], |_, _| {}).len(),
            0
        );
        let both = full_scan(
            &mut h,
            &["COUNT", "1000", "MATCH", "item:1*", "TYPE", "string"],
            |_, _| {},
        );
        assert_eq!(both.len(), 11);
        // Repeated options: the last one counts.
        assert_eq!(
            full_scan(&mut h, &["MATCH", "x*", "MATCH", "*"], |_, _| {}).len(),
            100
        );
    }

    #[test]
    fn scan_removes_expired_keys_it_meets() {
        let mut h = Harness::new();
        h.cmd(&["SET", "live", "v"]);
        h.cmd(&["SET", "dead", "v", "PX", "5"]);
        h.advance_ms(5);
        assert_eq!(full_scan(&mut h, &[], |_, _| {}), vec!["live"]);
        assert_eq!(h.node.stats.expired_keys, 1);
        assert_eq!(h.cmd(&["DBSIZE"]), int(1));
    }

    #[test]
    fn scan_arguments_and_errors() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "v"]);
        let done = |keys: &[&str]| Reply::Array(vec![bulk("0"), bulks(keys)]);
        assert_eq!(h.cmd(&["SCAN", "0"]), done(&["k"]));
        assert_eq!(h.cmd(&["SCAN", ""]), done(&["k"]), "empty cursor is 0");
        assert_eq!(h.cmd(&["SCAN", "+0"]), done(&["k"]));
        assert_eq!(
            h.cmd(&["SCAN", "-1"]),
            done(&[]),
            "wraps to the largest cursor"
        );
        assert_eq!(h.cmd(&["SCAN", "18446744073709551615"]), done(&[]));
        let invalid = err("ERR invalid cursor");
        for bad in ["abc", "18446744073709551616", " 5", "5 ", "-", "1.0"] {
            assert_eq!(h.cmd(&["SCAN", bad]), invalid, "{bad:?}");
        }
        let syntax = err("ERR syntax error");
        assert_eq!(h.cmd(&["SCAN", "0", "COUNT", "0"]), syntax);
        assert_eq!(h.cmd(&["SCAN", "0", "COUNT", "-1"]), syntax);
        assert_eq!(h.cmd(&["SCAN", "0", "COUNT"]), syntax);
        assert_eq!(h.cmd(&["SCAN", "0", "MATCH"]), syntax);
        assert_eq!(h.cmd(&["SCAN", "0", "foo", "bar"]), syntax);
        assert_eq!(
            h.cmd(&["SCAN", "0", "COUNT", "abc"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            h.cmd(&["SCAN", "abc", "COUNT", "0"]),
            invalid,
            "cursor first"
        );
        assert_eq!(
            h.cmd(&["SCAN"]),
            err("ERR wrong number of arguments for 'scan' command")
        );
    }

    #[test]
    fn scan_cursor_is_never_zero_before_the_end() {
        let mut h = Harness::new();
        for i in 0..30 {
            h.cmd(&["SET", &format!("k{i}"), "v"]);
        }
        let (cursor, keys) = scan_step(&mut h, &["SCAN", "0", "COUNT", "10"]);
        assert_ne!(cursor, "0");
        assert!(keys.len() >= 10);
        assert!(cursor.parse::<u64>().expect("numeric") <= crate::db::POSITION_END);
    }

    // ---- RANDOMKEY, DBSIZE, FLUSH ----

    #[test]
    fn randomkey_returns_live_keys_only() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["RANDOMKEY"]), Reply::Nil);
        for i in 0..20 {
            h.cmd(&["SET", &format!("dead{i}"), "v", "PX", "1"]);
        }
        h.cmd(&["SET", "alive", "v"]);
        h.advance_ms(1);
        for _ in 0..5 {
            assert_eq!(h.cmd(&["RANDOMKEY"]), bulk("alive"));
        }
        h.cmd(&["DEL", "alive"]);
        assert_eq!(h.cmd(&["RANDOMKEY"]), Reply::Nil);
        assert_eq!(h.node.db.len(), 0);
    }

    #[test]
    fn flushall_and_flushdb_options() {
        let mut h = Harness::new();
        for args in [
            &["FLUSHALL"][..],
            &["FLUSHALL", "async"],
            &["flushall", "SYNC"],
            &["FLUSHDB"],
            &["FLUSHDB", "ASYNC"],
        ] {
            h.cmd(&["MSET", "a", "1", "b", "2"]);
            assert_eq!(h.cmd(&["DBSIZE"]), int(2));
            assert_eq!(h.cmd(args), ok(), "{args:?}");
            assert_eq!(h.cmd(&["DBSIZE"]), int(0));
        }
        h.cmd(&["SET", "a", "1"]);
        let syntax = err("ERR syntax error");
        assert_eq!(h.cmd(&["FLUSHALL", "foo"]), syntax);
        assert_eq!(h.cmd(&["FLUSHALL", "async", "sync"]), syntax);
        assert_eq!(h.cmd(&["FLUSHDB", "foo"]), syntax);
        assert_eq!(h.cmd(&["DBSIZE"]), int(1));
        assert_eq!(
            h.cmd(&["DBSIZE", "x"]),
            err("ERR wrong number of arguments for 'dbsize' command")
        );
    }

    #[test]
    fn specs_match_redis_command_info() {
        let spec = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect(name);
        let del = spec("del");
        assert_eq!(
            (del.arity, del.first_key, del.last_key, del.key_step),
            (-2, 1, -1, 1)
        );
        let args: Vec<Bytes> = ["DEL", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(del.keys(&args), vec![&args[1], &args[2]]);
        assert_eq!(spec("keys").flags, &["readonly"]);
        assert_eq!(
            spec("keys").acl_categories,
            &["@keyspace", "@read", "@slow", "@dangerous"]
        );
        assert!(spec("scan").keys(&args).is_empty());
        assert_eq!(spec("dbsize").group, "server");
        assert_eq!(spec("expire").flags, &["write", "fast"]);
    }
}
