//! The EXPIRE family (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT and their NX / XX / GT / LT
//! conditions), TTL, PTTL and PERSIST.

use bytes::Bytes;

use super::{argv, deletes_expired_keys, lookup_read, lookup_write, propagate};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

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

pub(super) fn expire(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let base_ms = node.now.unix_ms;
    expire_generic(node, args, "expire", base_ms, TimeUnit::Seconds)
}

pub(super) fn pexpire(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let base_ms = node.now.unix_ms;
    expire_generic(node, args, "pexpire", base_ms, TimeUnit::Milliseconds)
}

pub(super) fn expireat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    expire_generic(node, args, "expireat", 0, TimeUnit::Seconds)
}

pub(super) fn pexpireat(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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

pub(super) fn ttl(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match remaining_ms(node, &args[1]) {
        Ok(ms) => Reply::Integer(i64::try_from(ms.saturating_add(500) / 1000).unwrap_or(i64::MAX)),
        Err(code) => Reply::Integer(code),
    }
}

pub(super) fn pttl(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match remaining_ms(node, &args[1]) {
        Ok(ms) => Reply::Integer(i64::try_from(ms).unwrap_or(i64::MAX)),
        Err(code) => Reply::Integer(code),
    }
}

pub(super) fn persist(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let had_ttl = lookup_write(node, key).is_some_and(|e| e.expires_at_ms().is_some());
    if !had_ttl {
        return Reply::Integer(0);
    }
    node.db.set_expiry(key, None);
    propagate(node, argv(args));
    Reply::Integer(1)
}
