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
pub(crate) mod tests;
