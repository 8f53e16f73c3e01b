//! String commands: SET and its variants, the GET family, counters, APPEND and ranges.
//!
//! Key access goes through the shared lookups in `keys.rs` (lazy expiry, hit/miss counting) and
//! every write reports its replay form through `keys::propagate`. GET, SET and INCR, the hot
//! paths, first probe the keyspace once (`Db::peek`) and take the shared lookups only for an
//! expired key, so a live or missing key costs one hash lookup instead of three.

use bytes::Bytes;

use super::keys::{already_past, argv, invalid_expire, lookup_read, lookup_write, propagate};
use super::{is, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::db::{EntryRef, Peek, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "set",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the string value of a key",
        since: "1.0.0",
        handler: set,
    },
    CommandSpec {
        name: "get",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key",
        since: "1.0.0",
        handler: get,
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key and delete the key",
        since: "6.2.0",
        handler: getdel,
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Get the value of a key and optionally set its expiration",
        since: "6.2.0",
        handler: getex,
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Set the value of a key, only if the key does not exist",
        since: "1.0.0",
        handler: setnx,
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the value and expiration of a key",
        since: "2.0.0",
        handler: setex,
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set the value and expiration in milliseconds of a key",
        since: "2.6.0",
        handler: psetex,
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the values of all the given keys",
        since: "1.0.0",
        handler: mget,
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set multiple keys to multiple values",
        since: "1.0.1",
        handler: mset,
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Set multiple keys to multiple values, only if none of the keys exist",
        since: "1.0.1",
        handler: msetnx,
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Increment the integer value of a key by one",
        since: "1.0.0",
        handler: incr,
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Decrement the integer value of a key by one",
        since: "1.0.0",
        handler: decr,
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Increment the integer value of a key by the given amount",
        since: "1.0.0",
        handler: incrby,
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Decrement the integer value of a key by the given number",
        since: "1.0.0",
        handler: decrby,
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        group: "string",
        summary: "Append a value to a key",
        since: "2.0.0",
        handler: append,
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        group: "string",
        summary: "Get the length of the value stored in a key",
        since: "2.2.0",
        handler: strlen,
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@string", "@slow"],
        group: "string",
        summary: "Get a substring of the string stored at a key",
        since: "2.4.0",
        handler: getrange,
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Overwrite part of a string at key starting at the specified offset",
        since: "2.2.0",
        handler: setrange,
    },
];

/// Largest string a command may build (`proto-max-bulk-len`'s default, 512 MB).
const STRING_MAX_BYTES: usize = 512 * 1024 * 1024;

fn string_value<'a>(entry: &EntryRef<'a>) -> &'a [u8] {
    entry.value.as_string()
}

/// A copy of a stored string for a reply (the keyspace keeps values packed with their keys).
fn string_copy(entry: &EntryRef<'_>) -> Bytes {
    Bytes::copy_from_slice(string_value(entry))
}

fn bulk_or_nil(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

fn too_long() -> Reply {
    Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)")
}

// ---- SET and its options ------------------------------------------------------------------

/// How an expiry argument is given.
#[derive(Copy, Clone, Debug, PartialEq)]
enum ExpireForm {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireForm {
    fn parse(word: &[u8]) -> Option<ExpireForm> {
        [
            ("ex", ExpireForm::Ex),
            ("px", ExpireForm::Px),
            ("exat", ExpireForm::ExAt),
            ("pxat", ExpireForm::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| is(word, name))
        .map(|(_, form)| form)
    }

    /// The absolute unix-ms expiry `arg` names, with Redis's checks: positive, and no overflow
    /// once converted to absolute milliseconds.
    fn expires_at_ms(self, arg: &[u8], name: &str, now_ms: u64) -> Result<u64, Reply> {
        let value = parse_i64(arg).ok_or_else(Reply::not_integer)?;
        let seconds = matches!(self, ExpireForm::Ex | ExpireForm::ExAt);
        if value <= 0 || (seconds && value > i64::MAX / 1000) {
            return Err(invalid_expire(name));
        }
        let mut at_ms = if seconds { value * 1000 } else { value };
        if matches!(self, ExpireForm::Ex | ExpireForm::Px) {
            let now = i64::try_from(now_ms).map_err(|_| invalid_expire(name))?;
            at_ms = at_ms.checked_add(now).ok_or_else(|| invalid_expire(name))?;
        }
        Ok(u64::try_from(at_ms).expect("checked positive"))
    }
}

/// SET's `NX` / `XX`: whether the key's presence allows the write.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Condition {
    #[default]
    Always,
    /// `NX`.
    IfMissing,
    /// `XX`.
    IfExists,
}

/// What a write without a new TTL does to the key's old one (`KEEPTTL` keeps it).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum OldTtl {
    #[default]
    Clear,
    Keep,
}

/// The options SET and GETEX share, as parsed; which ones a command accepts differs.
#[derive(Default)]
struct SetOptions<'a> {
    condition: Condition,
    get: bool,
    old_ttl: OldTtl,
    persist: bool,
    expire: Option<(ExpireForm, &'a Bytes)>,
}

impl<'a> SetOptions<'a> {
    /// Parses `[NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]` for SET (`for_set`) or
    /// `[EX|PX|EXAT|PXAT n|PERSIST]` for GETEX. Repeating an option is fine; mixing exclusive
    /// ones, unknown words and a missing number are all `ERR syntax error`.
    fn parse(args: &'a [Bytes], for_set: bool) -> Result<SetOptions<'a>, Reply> {
        let mut o = SetOptions::default();
        let mut i = 0;
        while i < args.len() {
            let word = &args[i];
            if for_set && is(word, "nx") && o.condition != Condition::IfExists {
                o.condition = Condition::IfMissing;
            } else if for_set && is(word, "xx") && o.condition != Condition::IfMissing {
                o.condition = Condition::IfExists;
            } else if for_set && is(word, "get") {
                o.get = true;
            } else if for_set && is(word, "keepttl") && o.expire.is_none() {
                o.old_ttl = OldTtl::Keep;
            } else if !for_set && is(word, "persist") && o.expire.is_none() {
                o.persist = true;
            } else if let Some(form) = ExpireForm::parse(word) {
                let compatible = o.old_ttl == OldTtl::Clear
                    && !o.persist
                    && o.expire.is_none_or(|(f, _)| f == form);
                match args.get(i + 1) {
                    Some(value) if compatible => o.expire = Some((form, value)),
                    _ => return Err(Reply::syntax_error()),
                }
                i += 1;
            } else {
                return Err(Reply::syntax_error());
            }
            i += 1;
        }
        Ok(o)
    }

    fn expires_at_ms(&self, name: &str, now_ms: u64) -> Result<Option<u64>, Reply> {
        self.expire
            .map(|(form, arg)| form.expires_at_ms(arg, name, now_ms))
            .transpose()
    }
}

/// Stores `value` at `key` unless `condition` forbids it; returns whether it wrote. A plain
/// write clears the TTL; `OldTtl::Keep` as `ttl_rule` keeps it; `expires_at_ms` sets a new one.
fn store(
    node: &mut Node,
    key: &Bytes,
    value: &Bytes,
    condition: Condition,
    ttl_rule: OldTtl,
    expires_at_ms: Option<u64>,
) -> bool {
    let keepttl = ttl_rule == OldTtl::Keep;
    let current_ttl = match node.db.peek_mut(key, node.now.unix_ms) {
        Peek::Live(_) if condition == Condition::IfMissing => return false,
        Peek::Live(mut entry) => {
            let old_ttl = entry.expires_at_ms();
            let new_ttl = expires_at_ms.or(if keepttl { old_ttl } else { None });
            if new_ttl == old_ttl {
                // Same key, same TTL: only the value changes, no index does.
                entry.set_value(ValueRef::String(value));
                return true;
            }
            Some(old_ttl)
        }
        Peek::Missing => None,
        Peek::Expired => lookup_write(node, key).map(|e| e.expires_at_ms()),
    };
    let found = current_ttl.is_some();
    let allowed = match condition {
        Condition::Always => true,
        Condition::IfMissing => !found,
        Condition::IfExists => found,
    };
    if !allowed {
        return false;
    }
    let kept = if keepttl { current_ttl.flatten() } else { None };
    node.db
        .set(key, ValueRef::String(value), expires_at_ms.or(kept));
    true
}

/// `SET key value PXAT <ms>`: how every SET-like write with a TTL replays, so that a restart
/// or a replica does not stretch the TTL.
fn set_pxat(key: &Bytes, value: &Bytes, at_ms: u64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        value.clone(),
        Bytes::from_static(b"PXAT"),
        Bytes::from(at_ms.to_string()),
    ]
}

fn set(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = match SetOptions::parse(&args[3..], true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let expires_at_ms = match options.expires_at_ms("set", node.now.unix_ms) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let (key, value) = (&args[1], &args[2]);
    let old = options
        .get
        .then(|| lookup_read(node, key).map(|e| string_copy(&e)));
    let written = store(
        node,
        key,
        value,
        options.condition,
        options.old_ttl,
        expires_at_ms,
    );
    if written {
        let replay = match (options.expire, expires_at_ms) {
            (Some((form, _)), Some(at)) if form != ExpireForm::PxAt => set_pxat(key, value, at),
            (None, _) if options.get => without_get(args),
            _ => argv(args),
        };
        propagate(node, replay);
    }
    match old {
        Some(old) => bulk_or_nil(old),
        None if written => Reply::ok(),
        None => Reply::Nil,
    }
}

/// SET's arguments minus the GET option (a replay has no one to answer). Only options are
/// looked at: the key or the value may well be the word `get`.
fn without_get(args: &[Bytes]) -> Vec<Bytes> {
    let options = args[3..].iter().filter(|a| !is(a, "get"));
    args[..3].iter().chain(options).cloned().collect()
}

fn setnx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let written = store(
        node,
        &args[1],
        &args[2],
        Condition::IfMissing,
        OldTtl::Clear,
        None,
    );
    if written {
        propagate(node, argv(args));
    }
    Reply::Integer(i64::from(written))
}

fn setex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    set_with_ttl(node, args, ExpireForm::Ex, "setex")
}

fn psetex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    set_with_ttl(node, args, ExpireForm::Px, "psetex")
}

/// SETEX / PSETEX `key ttl value`.
fn set_with_ttl(node: &mut Node, args: &[Bytes], form: ExpireForm, name: &str) -> Reply {
    let at_ms = match form.expires_at_ms(&args[2], name, node.now.unix_ms) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let (key, value) = (&args[1], &args[3]);
    store(
        node,
        key,
        value,
        Condition::Always,
        OldTtl::Clear,
        Some(at_ms),
    );
    propagate(node, set_pxat(key, value, at_ms));
    Reply::ok()
}

fn mset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::wrong_arity("mset");
    }
    for pair in args[1..].chunks(2) {
        node.db.set(&pair[0], ValueRef::String(&pair[1]), None);
    }
    propagate(node, argv(args));
    Reply::ok()
}

/// All or nothing: sets every key only when none of them exists.
fn msetnx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::wrong_arity("msetnx");
    }
    for pair in args[1..].chunks(2) {
        if lookup_write(node, &pair[0]).is_some() {
            return Reply::Integer(0);
        }
    }
    for pair in args[1..].chunks(2) {
        node.db.set(&pair[0], ValueRef::String(&pair[1]), None);
    }
    propagate(node, argv(args));
    Reply::Integer(1)
}

// ---- GET family ---------------------------------------------------------------------------

fn get(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    bulk_or_nil(read_string(node, &args[1]))
}

/// `lookup_read` and a copy of the value, with one probe unless the key has expired.
fn read_string(node: &mut Node, key: &[u8]) -> Option<Bytes> {
    match node.db.peek(key, node.now.unix_ms) {
        Peek::Live(entry) => {
            let value = string_copy(&entry);
            node.stats.keyspace_hits += 1;
            return Some(value);
        }
        Peek::Missing => {
            node.stats.keyspace_misses += 1;
            return None;
        }
        Peek::Expired => {}
    }
    lookup_read(node, key).map(|e| string_copy(&e))
}

fn mget(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let values = args[1..]
        .iter()
        .map(|key| bulk_or_nil(read_string(node, key)))
        .collect();
    Reply::Array(values)
}

fn getdel(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(value) = lookup_read(node, key).map(|e| string_copy(&e)) else {
        return Reply::Nil;
    };
    node.db.remove(key);
    propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
    Reply::Bulk(value)
}

/// GETEX `key [EX|PX|EXAT|PXAT n|PERSIST]`: the value, then the TTL change.
fn getex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = match SetOptions::parse(&args[2..], false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let expires_at_ms = match options.expires_at_ms("getex", node.now.unix_ms) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let key = &args[1];
    let Some(entry) = lookup_read(node, key) else {
        return Reply::Nil;
    };
    let (value, had_ttl) = (string_copy(&entry), entry.expires_at_ms.is_some());
    if let Some(at_ms) = expires_at_ms {
        if already_past(node, i64::try_from(at_ms).unwrap_or(i64::MAX)) {
            node.db.remove(key);
            propagate(node, vec![Bytes::from_static(b"DEL"), key.clone()]);
        } else {
            node.db.set_expiry(key, Some(at_ms));
            let at = Bytes::from(at_ms.to_string());
            propagate(
                node,
                vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), at],
            );
        }
    } else if options.persist && had_ttl {
        node.db.set_expiry(key, None);
        propagate(node, vec![Bytes::from_static(b"PERSIST"), key.clone()]);
    }
    Reply::Bulk(value)
}

fn strlen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let len = lookup_read(node, &args[1]).map_or(0, |e| string_value(&e).len());
    Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX))
}

// ---- counters -----------------------------------------------------------------------------

fn incr(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    add_to_integer(node, args, 1)
}

fn decr(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    add_to_integer(node, args, -1)
}

fn incrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(delta) => add_to_integer(node, args, delta),
        None => Reply::not_integer(),
    }
}

fn decrby(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Some(i64::MIN) => Reply::err("decrement would overflow"),
        Some(delta) => add_to_integer(node, args, -delta),
        None => Reply::not_integer(),
    }
}

/// Adds `delta` to the integer at `args[1]` (missing = 0), keeping any TTL.
fn add_to_integer(node: &mut Node, args: &[Bytes], delta: i64) -> Reply {
    let key = &args[1];
    if let Peek::Live(mut entry) = node.db.peek_mut(key, node.now.unix_ms) {
        // The common case, changed in place with one lookup.
        let Some(current) = parse_i64(entry.value().as_string()) else {
            return Reply::not_integer();
        };
        let Some(new) = current.checked_add(delta) else {
            return Reply::err("increment or decrement would overflow");
        };
        entry.set_value(ValueRef::String(itoa::Buffer::new().format(new).as_bytes()));
        propagate(node, argv(args));
        return Reply::Integer(new);
    }
    let current = match lookup_write(node, key) {
        Some(entry) => match parse_i64(entry.value().as_string()) {
            Some(n) => Some(n),
            None => return Reply::not_integer(),
        },
        None => None,
    };
    let Some(new) = current.unwrap_or(0).checked_add(delta) else {
        return Reply::err("increment or decrement would overflow");
    };
    let mut buffer = itoa::Buffer::new();
    let text = buffer.format(new).as_bytes();
    match lookup_write(node, key) {
        Some(mut entry) => entry.set_value(ValueRef::String(text)),
        None => node.db.set(key, ValueRef::String(text), None),
    }
    propagate(node, argv(args));
    Reply::Integer(new)
}

// ---- APPEND and ranges --------------------------------------------------------------------

fn append(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (key, suffix) = (&args[1], &args[2]);
    let new_len = match lookup_write(node, key) {
        None => {
            node.db.set(key, ValueRef::String(suffix), None);
            suffix.len()
        }
        Some(mut entry) => {
            let total = entry.value().as_string().len() + suffix.len();
            if total > STRING_MAX_BYTES {
                return too_long();
            }
            entry.append(suffix)
        }
    };
    propagate(node, argv(args));
    Reply::Integer(i64::try_from(new_len).unwrap_or(i64::MAX))
}

/// GETRANGE `key start end`, both inclusive, negative counting from the end, clamped.
fn getrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::not_integer();
    };
    let Some(entry) = lookup_read(node, &args[1]) else {
        return Reply::Bulk(Bytes::new());
    };
    let value = string_value(&entry);
    match substring_bounds(value.len(), start, end) {
        Some((from, to)) => Reply::Bulk(Bytes::copy_from_slice(&value[from..=to])),
        None => Reply::Bulk(Bytes::new()),
    }
}

/// Inclusive byte bounds of GETRANGE over a string of `len` bytes, or `None` when empty.
fn substring_bounds(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return None;
    }
    let len_i = i64::try_from(len).ok()?;
    let resolve = |i: i64| if i < 0 { (len_i + i).max(0) } else { i };
    let (start, end) = (resolve(start), resolve(end).min(len_i - 1));
    if start > end {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// SETRANGE `key offset value`: overwrites from `offset`, zero-padding a gap; returns the new
/// length. An empty value changes nothing (and creates no key).
fn setrange(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(offset) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let Ok(offset) = usize::try_from(offset) else {
        return Reply::err("offset is out of range");
    };
    let (key, patch) = (&args[1], &args[3]);
    let current = lookup_write(node, key).map(|e| e.value().as_string().to_vec());
    if patch.is_empty() {
        let len = current.map_or(0, |v| v.len());
        return Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX));
    }
    let end = offset.saturating_add(patch.len());
    if end > STRING_MAX_BYTES {
        return too_long();
    }
    let mut buf = current.unwrap_or_default();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(patch);
    let new_len = buf.len();
    match lookup_write(node, key) {
        Some(mut entry) => entry.set_value(ValueRef::String(&buf)),
        None => node.db.set(key, ValueRef::String(&buf), None),
    }
    propagate(node, argv(args));
    Reply::Integer(i64::try_from(new_len).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::keys::tests::{bulk, err, int, ok, take_propagated, Harness};

    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";

    fn invalid(name: &str) -> Reply {
        err(&format!("ERR invalid expire time in '{name}' command"))
    }

    #[test]
    fn set_and_get() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.cmd(&["SET", "k", "v"]), ok());
        assert_eq!(h.cmd(&["get", "k"]), bulk("v"));
        assert_eq!(h.cmd(&["SET", "k", ""]), ok());
        assert_eq!(h.cmd(&["GET", "k"]), bulk(""));
        assert_eq!(
            h.cmd(&["SET", "k"]),
            err("ERR wrong number of arguments for 'set' command")
        );
        assert_eq!(
            h.cmd(&["GET", "k", "x"]),
            err("ERR wrong number of arguments for 'get' command")
        );
    }

    #[test]
    fn set_option_errors() {
        let mut h = Harness::new();
        let cases: &[(&[&str], Reply)] = &[
            (&["nx", "xx"], err(SYNTAX)),
            (&["xx", "nx"], err(SYNTAX)),
            (&["ex", "10", "px", "10"], err(SYNTAX)),
            (&["ex", "10", "keepttl"], err(SYNTAX)),
            (&["keepttl", "ex", "10"], err(SYNTAX)),
            (&["exat", "10", "pxat", "10"], err(SYNTAX)),
            (&["ex"], err(SYNTAX)),
            (&["ex", "10", "px"], err(SYNTAX)),
            (&["foo"], err(SYNTAX)),
            (&["persist"], err(SYNTAX)),
            (&["ex", "abc", "nx", "xx"], err(SYNTAX)),
            (&["ex", "0"], invalid("set")),
            (&["ex", "-1"], invalid("set")),
            (&["px", "0"], invalid("set")),
            (&["pxat", "0"], invalid("set")),
            (&["ex", "9223372036854775807"], invalid("set")),
            (&["ex", "9223372036854775"], invalid("set")),
            (&["px", "9223372036854000000"], invalid("set")),
            (&["exat", "9223372036854775807"], invalid("set")),
            (&["ex", "abc"], err(NOT_INT)),
            (&["ex", "1.5"], err(NOT_INT)),
            (&["ex", "01"], err(NOT_INT)),
            (&["ex", "+1"], err(NOT_INT)),
        ];
        for (options, expected) in cases {
            let mut args = vec!["SET", "k", "v"];
            args.extend_from_slice(options);
            assert_eq!(&h.cmd(&args), expected, "{options:?}");
        }
        assert_eq!(h.cmd(&["EXISTS", "k"]), int(0), "no error wrote anything");
        // Absolute forms may reach the largest representable time.
        assert_eq!(h.cmd(&["SET", "k", "v", "exat", "9223372036854775"]), ok());
        assert_eq!(
            h.cmd(&["SET", "k", "v", "pxat", "9223372036854775807"]),
            ok()
        );
        assert_eq!(h.cmd(&["PTTL", "k"]), int(9223372036854775807 - 1_000_000));
    }

    #[test]
    fn set_nx_xx_and_get() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["SET", "k", "v", "XX"]), Reply::Nil);
        assert_eq!(h.cmd(&["SET", "k", "v", "xx", "get"]), Reply::Nil);
        assert_eq!(h.cmd(&["EXISTS", "k"]), int(0));
        assert_eq!(h.cmd(&["SET", "k", "v1", "nx", "get"]), Reply::Nil);
        assert_eq!(h.cmd(&["GET", "k"]), bulk("v1"));
        assert_eq!(h.cmd(&["SET", "k", "v2", "NX"]), Reply::Nil);
        assert_eq!(
            h.cmd(&["SET", "k", "v2", "NX", "GET"]),
            bulk("v1"),
            "old value, not set"
        );
        assert_eq!(h.cmd(&["GET", "k"]), bulk("v1"));
        assert_eq!(h.cmd(&["SET", "k", "v3", "xx", "GET"]), bulk("v1"));
        assert_eq!(h.cmd(&["SET", "k", "v4", "GET", "GET"]), bulk("v3"));
        assert_eq!(h.cmd(&["SET", "k", "v5", "nx", "nx"]), Reply::Nil);
        assert_eq!(h.cmd(&["SET", "k", "v5", "xx"]), ok());
        assert_eq!(h.cmd(&["GET", "k"]), bulk("v5"));
    }

    #[test]
    fn set_expiry_forms() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["SET", "k", "v", "EX", "10"]), ok());
        assert_eq!(h.cmd(&["PTTL", "k"]), int(10_000));
        assert_eq!(h.cmd(&["SET", "k", "v", "px", "1500"]), ok());
        assert_eq!(h.cmd(&["PTTL", "k"]), int(1500));
        assert_eq!(h.cmd(&["SET", "k", "v", "EXAT", "1005"]), ok());
        assert_eq!(h.cmd(&["PTTL", "k"]), int(5000));
        assert_eq!(h.cmd(&["SET", "k", "v", "PXAT", "1000250"]), ok());
        assert_eq!(h.cmd(&["PTTL", "k"]), int(250));
        assert_eq!(h.cmd(&["SET", "k", "v", "ex", "10", "ex", "20"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(20), "the last EX wins");
        assert_eq!(h.cmd(&["SET", "k", "w", "KEEPTTL"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(20));
        assert_eq!(h.cmd(&["SET", "k", "w"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(-1), "a plain SET clears the TTL");
        // A past absolute time stores the key, which then reads as expired.
        assert_eq!(h.cmd(&["SET", "k", "v", "EXAT", "1"]), ok());
        assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.node.stats.expired_keys, 1);
    }

    #[test]
    fn ttl_runs_out_as_the_clock_moves() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "v", "PX", "1000"]);
        h.advance_ms(999);
        assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
        h.advance_ms(1);
        assert_eq!(h.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(h.node.stats.expired_keys, 1);
        assert_eq!(
            h.cmd(&["SET", "k", "v", "XX"]),
            Reply::Nil,
            "expired is missing for XX"
        );
    }

    #[test]
    fn expired_keys_take_the_lazy_expiry_path_in_get_set_and_incr() {
        let mut h = Harness::new();
        for key in ["g", "s", "i"] {
            h.cmd(&["SET", key, "7", "PX", "10"]);
        }
        h.advance_ms(10);
        take_propagated();
        assert_eq!(h.cmd(&["GET", "g"]), Reply::Nil);
        assert_eq!(h.cmd(&["SET", "s", "v", "NX"]), ok());
        assert_eq!(h.cmd(&["TTL", "s"]), int(-1));
        assert_eq!(
            h.cmd(&["INCR", "i"]),
            int(1),
            "an expired counter starts at 0"
        );
        assert_eq!(h.cmd(&["TTL", "i"]), int(-1));
        assert_eq!(
            take_propagated(),
            vec!["DEL g", "DEL s", "SET s v NX", "DEL i", "INCR i"]
        );
        assert_eq!(h.node.stats.expired_keys, 3);
        assert_eq!(
            (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
            (2, 1),
            "the GET missed, the two TTLs hit"
        );
    }

    #[test]
    fn overwrites_in_place_keep_or_clear_the_ttl_as_asked() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "a", "EX", "100"]);
        assert_eq!(h.cmd(&["SET", "k", "b", "KEEPTTL"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(100));
        assert_eq!(h.cmd(&["SET", "k", "c", "EX", "100"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(100));
        assert_eq!(h.cmd(&["SET", "k", "d"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(-1));
        assert_eq!(h.node.db.expiring_count(), 0, "the expiry index follows");
        assert_eq!(h.cmd(&["SET", "k", "e", "XX"]), ok());
        assert_eq!(h.cmd(&["SET", "k", "f", "NX"]), Reply::Nil);
        assert_eq!(h.cmd(&["GET", "k"]), bulk("e"));
        assert_eq!(h.node.db.len(), 1);
    }

    #[test]
    fn counters_are_stored_as_decimal_text() {
        let mut h = Harness::new();
        for n in [0, 7, -7, 10, -10, 1234567890, i64::MAX, i64::MIN] {
            let text = n.to_string();
            h.cmd(&["SET", "k", &text]);
            assert_eq!(h.cmd(&["INCRBY", "k", "0"]), int(n), "{n}");
            assert_eq!(h.cmd(&["GET", "k"]), bulk(&text), "{n}");
        }
    }

    #[test]
    fn set_propagates_replayable_forms() {
        let mut h = Harness::new();
        h.cmd(&["set", "k", "v", "EX", "10", "GET"]);
        h.cmd(&["SET", "k", "v", "px", "10"]);
        h.cmd(&["SET", "get", "get", "GET", "nx", "get"]);
        h.cmd(&["SET", "k", "v", "NX"]);
        h.cmd(&["SET", "k", "v", "pxat", "2000000", "GET"]);
        h.cmd(&["SETEX", "k", "5", "v"]);
        h.cmd(&["PSETEX", "k", "5", "v"]);
        h.cmd(&["SETNX", "n", "v"]);
        h.cmd(&["SETNX", "n", "v"]);
        assert_eq!(
            take_propagated(),
            vec![
                "SET k v PXAT 1010000",
                "SET k v PXAT 1000010",
                "SET get get nx",
                "SET k v pxat 2000000 GET",
                "SET k v PXAT 1005000",
                "SET k v PXAT 1000005",
                "SETNX n v",
            ]
        );
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["SETNX", "k", "v"]), int(1));
        assert_eq!(h.cmd(&["SETNX", "k", "w"]), int(0));
        assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
        assert_eq!(h.cmd(&["SETEX", "k", "0", "v"]), invalid("setex"));
        assert_eq!(h.cmd(&["SETEX", "k", "-5", "v"]), invalid("setex"));
        assert_eq!(
            h.cmd(&["SETEX", "k", "9223372036854775", "v"]),
            invalid("setex")
        );
        assert_eq!(h.cmd(&["SETEX", "k", "abc", "v"]), err(NOT_INT));
        assert_eq!(h.cmd(&["PSETEX", "k", "0", "v"]), invalid("psetex"));
        assert_eq!(h.cmd(&["SETEX", "k", "10", "x"]), ok());
        assert_eq!(h.cmd(&["TTL", "k"]), int(10));
        assert_eq!(h.cmd(&["SETNX", "k", "y"]), int(0));
        assert_eq!(
            h.cmd(&["TTL", "k"]),
            int(10),
            "a failed SETNX keeps the TTL"
        );
        assert_eq!(h.cmd(&["PSETEX", "k", "1500", "z"]), ok());
        assert_eq!(h.cmd(&["PTTL", "k"]), int(1500));
        assert_eq!(h.cmd(&["GET", "k"]), bulk("z"));
        assert_eq!(
            h.cmd(&["SETEX", "k", "10"]),
            err("ERR wrong number of arguments for 'setex' command")
        );
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut h = Harness::new();
        assert_eq!(
            h.cmd(&["MSET", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            h.cmd(&["MSETNX", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(h.cmd(&["MSET", "a", "1", "b", "2"]), ok());
        assert_eq!(
            h.cmd(&["MGET", "a", "b", "zz", "a"]),
            Reply::Array(vec![bulk("1"), bulk("2"), Reply::Nil, bulk("1")])
        );
        assert_eq!(h.cmd(&["MSETNX", "a", "1", "c", "3"]), int(0));
        assert_eq!(h.cmd(&["EXISTS", "c"]), int(0), "all or nothing");
        assert_eq!(h.cmd(&["MSETNX", "c", "3", "d", "4"]), int(1));
        assert_eq!(h.cmd(&["MSETNX", "n", "x", "n", "y"]), int(1));
        assert_eq!(h.cmd(&["GET", "n"]), bulk("y"));
        assert_eq!(h.cmd(&["MSET", "t", "1", "t", "2"]), ok());
        assert_eq!(h.cmd(&["GET", "t"]), bulk("2"));
        h.cmd(&["SET", "e", "v", "EX", "100"]);
        assert_eq!(h.cmd(&["MSET", "e", "1"]), ok());
        assert_eq!(h.cmd(&["TTL", "e"]), int(-1), "MSET clears TTLs");
    }

    #[test]
    fn counters_and_their_errors() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["INCR", "n"]), int(1));
        assert_eq!(h.cmd(&["INCRBY", "n", "41"]), int(42));
        assert_eq!(h.cmd(&["DECR", "n"]), int(41));
        assert_eq!(h.cmd(&["DECRBY", "n", "-9"]), int(50));
        assert_eq!(h.cmd(&["GET", "n"]), bulk("50"));
        assert_eq!(h.cmd(&["DECRBY", "m", "5"]), int(-5));
        for bad in [
            "abc",
            " 1",
            "007",
            "",
            "-0",
            "+1",
            "1.0",
            "123456789012345678901",
        ] {
            h.cmd(&["SET", "s", bad]);
            assert_eq!(h.cmd(&["INCR", "s"]), err(NOT_INT), "{bad:?}");
        }
        assert_eq!(h.cmd(&["INCRBY", "n", "abc"]), err(NOT_INT));
        assert_eq!(h.cmd(&["DECRBY", "n", "1.5"]), err(NOT_INT));
        let overflow = err("ERR increment or decrement would overflow");
        h.cmd(&["SET", "i", "9223372036854775807"]);
        assert_eq!(h.cmd(&["INCR", "i"]), overflow);
        h.cmd(&["SET", "i", "-9223372036854775808"]);
        assert_eq!(h.cmd(&["DECR", "i"]), overflow);
        assert_eq!(h.cmd(&["INCRBY", "i", "-1"]), overflow);
        assert_eq!(
            h.cmd(&["GET", "i"]),
            bulk("-9223372036854775808"),
            "unchanged"
        );
        let decrement = err("ERR decrement would overflow");
        assert_eq!(h.cmd(&["DECRBY", "i", "-9223372036854775808"]), decrement);
        assert_eq!(
            h.cmd(&["DECRBY", "fresh", "-9223372036854775808"]),
            decrement
        );
        assert_eq!(h.cmd(&["EXISTS", "fresh"]), int(0));
        h.cmd(&["SET", "i", "0"]);
        assert_eq!(
            h.cmd(&["DECRBY", "i", "9223372036854775807"]),
            int(-9223372036854775807)
        );
    }

    #[test]
    fn counters_keep_the_ttl_and_count_no_keyspace_reads() {
        let mut h = Harness::new();
        h.cmd(&["SET", "n", "5", "EX", "100"]);
        take_propagated();
        assert_eq!(h.cmd(&["INCR", "n"]), int(6));
        assert_eq!(h.cmd(&["INCRBY", "new", "3"]), int(3));
        assert_eq!(
            (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
            (0, 0)
        );
        assert_eq!(h.cmd(&["TTL", "n"]), int(100));
        assert_eq!(take_propagated(), vec!["INCR n", "INCRBY new 3"]);
    }

    #[test]
    fn append_and_strlen() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["STRLEN", "k"]), int(0));
        assert_eq!(h.cmd(&["APPEND", "k", "abc"]), int(3));
        assert_eq!(h.cmd(&["APPEND", "k", ""]), int(3));
        h.cmd(&["EXPIRE", "k", "100"]);
        assert_eq!(h.cmd(&["APPEND", "k", "de"]), int(5));
        assert_eq!(h.cmd(&["GET", "k"]), bulk("abcde"));
        assert_eq!(h.cmd(&["STRLEN", "k"]), int(5));
        assert_eq!(h.cmd(&["TTL", "k"]), int(100), "APPEND keeps the TTL");
    }

    #[test]
    fn getrange_clamps_like_redis() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "abc"]);
        let cases = [
            ("0", "-1", "abc"),
            ("-100", "100", "abc"),
            ("2", "1", ""),
            ("5", "10", ""),
            ("-1", "-5", ""),
            ("0", "0", "a"),
            ("-2", "-1", "bc"),
            ("1", "9223372036854775807", "bc"),
            ("-9223372036854775808", "-1", "abc"),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                h.cmd(&["GETRANGE", "k", start, end]),
                bulk(expected),
                "{start} {end}"
            );
        }
        assert_eq!(h.cmd(&["GETRANGE", "nope", "0", "1"]), bulk(""));
        assert_eq!(h.cmd(&["GETRANGE", "k", "a", "1"]), err(NOT_INT));
        assert_eq!(h.cmd(&["GETRANGE", "k", "0", "x"]), err(NOT_INT));
        h.cmd(&["SET", "e", ""]);
        assert_eq!(h.cmd(&["GETRANGE", "e", "0", "-1"]), bulk(""));
    }

    #[test]
    fn setrange_pads_and_checks_limits() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "abc"]);
        assert_eq!(h.cmd(&["SETRANGE", "k", "1", "Z"]), int(3));
        assert_eq!(h.cmd(&["GET", "k"]), bulk("aZc"));
        assert_eq!(h.cmd(&["SETRANGE", "k", "5", "zz"]), int(7));
        assert_eq!(h.cmd(&["GET", "k"]), Reply::bulk(&b"aZc\0\0zz"[..]));
        assert_eq!(h.cmd(&["SETRANGE", "k", "1", ""]), int(7));
        assert_eq!(h.cmd(&["SETRANGE", "new", "2", "ab"]), int(4));
        assert_eq!(h.cmd(&["GET", "new"]), Reply::bulk(&b"\0\0ab"[..]));
        assert_eq!(h.cmd(&["SETRANGE", "nope", "0", ""]), int(0));
        assert_eq!(
            h.cmd(&["EXISTS", "nope"]),
            int(0),
            "empty value creates nothing"
        );
        let out_of_range = err("ERR offset is out of range");
        assert_eq!(h.cmd(&["SETRANGE", "k", "-1", "x"]), out_of_range);
        assert_eq!(h.cmd(&["SETRANGE", "k", "-1", ""]), out_of_range);
        assert_eq!(h.cmd(&["SETRANGE", "k", "abc", "x"]), err(NOT_INT));
        let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        assert_eq!(h.cmd(&["SETRANGE", "nope", "536870912", "x"]), too_big);
        assert_eq!(
            h.cmd(&["SETRANGE", "k", "9223372036854775807", "x"]),
            too_big
        );
        assert_eq!(h.cmd(&["SETRANGE", "nope", "536870912", ""]), int(0));
        h.cmd(&["SET", "t", "v", "EX", "100"]);
        h.cmd(&["SETRANGE", "t", "0", "w"]);
        assert_eq!(h.cmd(&["TTL", "t"]), int(100));
    }

    #[test]
    fn getdel_returns_then_deletes() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "v", "EX", "10"]);
        take_propagated();
        assert_eq!(h.cmd(&["GETDEL", "k"]), bulk("v"));
        assert_eq!(h.cmd(&["GETDEL", "k"]), Reply::Nil);
        assert_eq!(h.cmd(&["TTL", "k"]), int(-2));
        assert_eq!(take_propagated(), vec!["DEL k"]);
        assert_eq!(h.node.db.expiring_count(), 0);
    }

    #[test]
    fn getex_changes_the_ttl() {
        let mut h = Harness::new();
        assert_eq!(h.cmd(&["GETEX", "nope", "EX", "10"]), Reply::Nil);
        h.cmd(&["SET", "x", "1"]);
        take_propagated();
        assert_eq!(h.cmd(&["GETEX", "x"]), bulk("1"));
        assert_eq!(h.cmd(&["GETEX", "x", "EX", "100"]), bulk("1"));
        assert_eq!(h.cmd(&["TTL", "x"]), int(100));
        assert_eq!(h.cmd(&["GETEX", "x", "PX", "5000"]), bulk("1"));
        assert_eq!(h.cmd(&["PTTL", "x"]), int(5000));
        assert_eq!(h.cmd(&["GETEX", "x", "PERSIST"]), bulk("1"));
        assert_eq!(h.cmd(&["GETEX", "x", "persist"]), bulk("1"));
        assert_eq!(h.cmd(&["TTL", "x"]), int(-1));
        assert_eq!(h.cmd(&["GETEX", "x", "PXAT", "2000000"]), bulk("1"));
        assert_eq!(
            take_propagated(),
            vec![
                "PEXPIREAT x 1100000",
                "PEXPIREAT x 1005000",
                "PERSIST x",
                "PEXPIREAT x 2000000"
            ]
        );
        // An absolute time in the past deletes; that is not an expiration.
        assert_eq!(h.cmd(&["GETEX", "x", "EXAT", "1"]), bulk("1"));
        assert_eq!(h.cmd(&["EXISTS", "x"]), int(0));
        assert_eq!(take_propagated(), vec!["DEL x"]);
        assert_eq!(h.node.stats.expired_keys, 0);
    }

    #[test]
    fn getex_errors() {
        let mut h = Harness::new();
        h.cmd(&["SET", "x", "1"]);
        assert_eq!(h.cmd(&["GETEX", "x", "EX", "0"]), invalid("getex"));
        assert_eq!(h.cmd(&["GETEX", "x", "PXAT", "-5"]), invalid("getex"));
        assert_eq!(h.cmd(&["GETEX", "x", "EX", "a"]), err(NOT_INT));
        for options in [
            &["PX", "10", "EX", "10"][..],
            &["foo"],
            &["EX"],
            &["KEEPTTL"],
            &["NX"],
            &["GET"],
            &["PERSIST", "EX", "10"],
            &["EX", "10", "PERSIST"],
        ] {
            let mut args = vec!["GETEX", "x"];
            args.extend_from_slice(options);
            assert_eq!(h.cmd(&args), err(SYNTAX), "{options:?}");
        }
        assert_eq!(h.cmd(&["TTL", "x"]), int(-1));
    }

    #[test]
    fn reads_count_keyspace_hits_and_misses() {
        let mut h = Harness::new();
        h.cmd(&["SET", "k", "v"]);
        let reads: &[&[&str]] = &[
            &["GET", "k"],
            &["GET", "m"],
            &["GETDEL", "m"],
            &["GETEX", "m"],
            &["SET", "k", "v", "GET"],
            &["STRLEN", "k"],
            &["GETRANGE", "k", "0", "1"],
            &["MGET", "k", "m"],
        ];
        for args in reads {
            h.cmd(args);
        }
        assert_eq!(h.node.stats.keyspace_hits, 5);
        assert_eq!(h.node.stats.keyspace_misses, 4);
        // Writes look keys up without counting.
        for args in [
            &["SETNX", "k", "v"][..],
            &["APPEND", "k", "x"],
            &["SETRANGE", "k", "0", "a"],
            &["MSETNX", "k", "v"],
        ] {
            h.cmd(args);
        }
        assert_eq!(
            (h.node.stats.keyspace_hits, h.node.stats.keyspace_misses),
            (5, 4)
        );
    }

    #[test]
    fn specs_match_redis_command_info() {
        let spec = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect(name);
        let mset = spec("mset");
        assert_eq!(
            (mset.arity, mset.first_key, mset.last_key, mset.key_step),
            (-3, 1, -1, 2)
        );
        let args: Vec<Bytes> = ["MSET", "a", "1", "b", "2"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(mset.keys(&args), vec![&args[1], &args[3]]);
        assert_eq!(spec("get").flags, &["readonly", "fast"]);
        assert_eq!(spec("set").flags, &["write", "denyoom"]);
        assert_eq!(
            spec("setnx").acl_categories,
            &["@write", "@string", "@fast"]
        );
        assert_eq!(
            spec("getrange").acl_categories,
            &["@read", "@string", "@slow"]
        );
        assert_eq!((spec("getex").arity, spec("getex").since), (-2, "6.2.0"));
        assert!(COMMANDS.iter().all(|s| s.group == "string"));
    }
}
