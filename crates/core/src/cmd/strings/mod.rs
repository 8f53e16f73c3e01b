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
mod tests;
