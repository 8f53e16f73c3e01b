//! List commands: pushes and pops at both ends, access by index and by value, LMOVE and LMPOP.
//!
//! Every command here meets a key through the shared lookups (lazy expiry, hit/miss counts)
//! and the typed accessors below (`WRONGTYPE` for a key of another type). A list that loses
//! its last element loses its key, as in Redis. Writes report their replay form through
//! `keys::propagate`: the command as sent, except LMPOP, which replays as LPOP/RPOP with a
//! count (what Redis 7.0 writes to its AOF and replicas). The blocking variants are in
//! `blocking`.
//!
//! Here: the command table and the helpers; the commands are in `push_pop`, `access` and
//! `moves`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::{lookup_read, lookup_write};
use crate::cmd::CmdFlags as F;
use crate::db::{Collection, List, Value, ValueRef};
use crate::node::Node;
use crate::reply::Reply;

mod access;
mod blocking;
mod moves;
mod push_pop;

use access::{lindex, linsert, lpos, lrange, lrem, lset, ltrim};
use blocking::{blmove, blmpop, blpop, brpop, brpoplpush};
use moves::{lmove, lmpop, rpoplpush};
use push_pop::{llen, lpop, lpush, lpushx, rpop, rpush, rpushx};

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "lpush",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Prepend one or multiple elements to a list",
        since: "1.0.0",
        handler: lpush,
    },
    CommandSpec {
        name: "rpush",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Append one or multiple elements to a list",
        since: "1.0.0",
        handler: rpush,
    },
    CommandSpec {
        name: "lpushx",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Prepend an element to a list, only if the list exists",
        since: "2.2.0",
        handler: lpushx,
    },
    CommandSpec {
        name: "rpushx",
        arity: -3,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Append an element to a list, only if the list exists",
        since: "2.2.0",
        handler: rpushx,
    },
    CommandSpec {
        name: "lpop",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Remove and get the first elements in a list",
        since: "1.0.0",
        handler: lpop,
    },
    CommandSpec {
        name: "rpop",
        arity: -2,
        flags: F::WRITE.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@fast"],
        group: "list",
        summary: "Remove and get the last elements in a list",
        since: "1.0.0",
        handler: rpop,
    },
    CommandSpec {
        name: "llen",
        arity: 2,
        flags: F::READONLY.union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@list", "@fast"],
        group: "list",
        summary: "Get the length of a list",
        since: "1.0.0",
        handler: llen,
    },
    CommandSpec {
        name: "lrange",
        arity: 4,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@list", "@slow"],
        group: "list",
        summary: "Get a range of elements from a list",
        since: "1.0.0",
        handler: lrange,
    },
    CommandSpec {
        name: "lindex",
        arity: 3,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@list", "@slow"],
        group: "list",
        summary: "Get an element from a list by its index",
        since: "1.0.0",
        handler: lindex,
    },
    CommandSpec {
        name: "lset",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Set the value of an element in a list by its index",
        since: "1.0.0",
        handler: lset,
    },
    CommandSpec {
        name: "linsert",
        arity: 5,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Insert an element before or after another element in a list",
        since: "2.2.0",
        handler: linsert,
    },
    CommandSpec {
        name: "lrem",
        arity: 4,
        flags: F::WRITE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Remove elements from a list",
        since: "1.0.0",
        handler: lrem,
    },
    CommandSpec {
        name: "ltrim",
        arity: 4,
        flags: F::WRITE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Trim a list to the specified range",
        since: "1.0.0",
        handler: ltrim,
    },
    CommandSpec {
        name: "lpos",
        arity: -3,
        flags: F::READONLY,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@read", "@list", "@slow"],
        group: "list",
        summary: "Return the index of matching elements on a list",
        since: "6.0.6",
        handler: lpos,
    },
    CommandSpec {
        name: "lmove",
        arity: 5,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Pop an element from a list, push it to another list and return it",
        since: "6.2.0",
        handler: lmove,
    },
    CommandSpec {
        name: "rpoplpush",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Remove the last element in a list, prepend it to another list and return it",
        since: "1.2.0",
        handler: rpoplpush,
    },
    CommandSpec {
        name: "lmpop",
        arity: -4,
        flags: F::WRITE.union(F::MOVABLEKEYS),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@write", "@list", "@slow"],
        group: "list",
        summary: "Pop elements from a list",
        since: "7.0.0",
        handler: lmpop,
    },
    CommandSpec {
        name: "blpop",
        arity: -3,
        flags: F::WRITE.union(F::NOSCRIPT).union(F::BLOCKING),
        first_key: 1,
        last_key: -2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow", "@blocking"],
        group: "list",
        summary: "Remove and get the first element in a list, or block until one is available",
        since: "2.0.0",
        handler: blpop,
    },
    CommandSpec {
        name: "brpop",
        arity: -3,
        flags: F::WRITE.union(F::NOSCRIPT).union(F::BLOCKING),
        first_key: 1,
        last_key: -2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow", "@blocking"],
        group: "list",
        summary: "Remove and get the last element in a list, or block until one is available",
        since: "2.0.0",
        handler: brpop,
    },
    CommandSpec {
        name: "blmove",
        arity: 6,
        flags: F::WRITE.union(F::DENYOOM).union(F::NOSCRIPT).union(F::BLOCKING),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow", "@blocking"],
        group: "list",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "6.2.0",
        handler: blmove,
    },
    CommandSpec {
        name: "brpoplpush",
        arity: 4,
        flags: F::WRITE.union(F::DENYOOM).union(F::NOSCRIPT).union(F::BLOCKING),
        first_key: 1,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@list", "@slow", "@blocking"],
        group: "list",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        since: "2.2.0",
        handler: brpoplpush,
    },
    CommandSpec {
        name: "blmpop",
        arity: -5,
        flags: F::WRITE.union(F::BLOCKING).union(F::MOVABLEKEYS),
        first_key: 0,
        last_key: 0,
        key_step: 0,
        acl_categories: &["@write", "@list", "@slow", "@blocking"],
        group: "list",
        summary: "Pop elements from a list, or block until one is available",
        since: "7.0.0",
        handler: blmpop,
    },
];

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` or `RIGHT`, in any case.
    fn parse(arg: &[u8]) -> Option<End> {
        if crate::cmd::is(arg, "left") {
            Some(End::Left)
        } else if crate::cmd::is(arg, "right") {
            Some(End::Right)
        } else {
            None
        }
    }

    fn pop(self, list: &mut List) -> Option<Box<[u8]>> {
        match self {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        }
    }

    fn push(self, list: &mut List, item: &[u8]) {
        match self {
            End::Left => list.push_front(item),
            End::Right => list.push_back(item),
        }
    }
}

/// The list at `key` for reading: `Ok(None)` when missing, `WRONGTYPE` for another type.
fn read_list<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a List>, Reply> {
    match lookup_read(node, key).map(|e| e.value) {
        None => Ok(None),
        Some(ValueRef::List(list)) => Ok(Some(list)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The list at `key` for changing in place: `Ok(None)` when missing, `WRONGTYPE` for another
/// type. A caller that empties it removes the key ([`remove_if_empty`]).
fn write_list<'a>(node: &'a mut Node, key: &[u8]) -> Result<Option<&'a mut List>, Reply> {
    match lookup_write(node, key).map(|e| e.into_collection_mut()) {
        None => Ok(None),
        Some(Some(Collection::List(list))) => Ok(Some(list)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

/// The list at `key`, created empty when missing (the caller pushes at once).
fn list_for_push<'a>(node: &'a mut Node, key: &[u8]) -> Result<&'a mut List, Reply> {
    if write_list(node, key)?.is_none() {
        node.db.set_owned(key, Value::List(List::new()), None);
    }
    Ok(write_list(node, key)?.expect("just created"))
}

/// Removes `key` when its list has no element left: Redis never stores an empty list.
fn remove_if_empty(node: &mut Node, key: &[u8]) {
    if let Ok(Some(list)) = write_list(node, key) {
        if list.is_empty() {
            node.db.remove(key);
        }
    }
}

/// A Redis list index (negative counts from the tail) as a position, if inside `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let at = if index < 0 { len + index } else { index };
    (0..len).contains(&at).then_some(at as usize)
}

/// The inclusive range LRANGE and LTRIM mean by `start stop` over `len` elements, or `None`
/// when it is empty: negative indexes count from the tail, the start clamps at 0 and the
/// stop at the last element.
fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).ok()?;
    let start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len_i + stop } else { stop };
    if start > stop || start >= len_i {
        return None;
    }
    Some((start as usize, stop.min(len_i - 1) as usize))
}

fn bulk_items<'a>(items: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Array(
        items
            .map(|i| Reply::Bulk(Bytes::copy_from_slice(i)))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
