//! SET and its options (`NX`/`XX`, `GET`, `EX`/`PX`/`EXAT`/`PXAT`, `KEEPTTL`), its
//! variants SETNX, SETEX, PSETEX, MSET and MSETNX, and GETEX, which shares SET's option parser.

use bytes::Bytes;

use super::{bulk_or_nil, string_copy};
use crate::cmd::keys::{
    already_past, argv, expiry_now_ms, invalid_expire, lookup_read, lookup_write, propagate,
};
use crate::cmd::{is, parse_i64};
use crate::db::{Peek, ValueRef};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

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
    let now_ms = expiry_now_ms(node);
    let current_ttl = match node.db.peek_mut(key, now_ms) {
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

pub(super) fn set(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let options = match SetOptions::parse(&args[3..], true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let expires_at_ms = match options.expires_at_ms("set", node.now.unix_ms) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let (key, value) = (&args[1], &args[2]);
    // GET on a key of another type fails the whole command before anything is written.
    let old = if options.get {
        match lookup_read(node, key).map(|e| string_copy(&e)).transpose() {
            Ok(old) => Some(old),
            Err(wrong_type) => return wrong_type,
        }
    } else {
        None
    };
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

pub(super) fn setnx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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

pub(super) fn setex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    set_with_ttl(node, args, ExpireForm::Ex, "setex")
}

pub(super) fn psetex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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

pub(super) fn mset(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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
pub(super) fn msetnx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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

/// GETEX `key [EX|PX|EXAT|PXAT n|PERSIST]`: the value, then the TTL change.
pub(super) fn getex(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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
    let (value, had_ttl) = match string_copy(&entry) {
        Ok(value) => (value, entry.expires_at_ms.is_some()),
        Err(wrong_type) => return wrong_type,
    };
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
