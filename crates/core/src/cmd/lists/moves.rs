//! LMOVE, RPOPLPUSH and LMPOP: popping from one list (of several, for LMPOP) and pushing to
//! another. In cluster mode the keys must share a slot (the node's redirection check answers
//! CROSSSLOT before these run).

use bytes::Bytes;

use super::{list_for_push, read_list, remove_if_empty, write_list, End};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn lmove(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
        return Reply::syntax_error();
    };
    move_one(node, args, from, to)
}

pub(super) fn rpoplpush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    move_one(node, args, End::Right, End::Left)
}

fn move_one(node: &mut Node, args: &[Bytes], from: End, to: End) -> Reply {
    move_one_as(node, &args[1], &args[2], from, to, argv(args))
}

/// Pops at `from` of `source` and pushes at `to` of `destination` (the same key rotates it),
/// logging `replay` (BLMOVE replays as LMOVE). Both types are checked before anything moves.
pub(super) fn move_one_as(
    node: &mut Node,
    source: &Bytes,
    destination: &Bytes,
    from: End,
    to: End,
    replay: Vec<Bytes>,
) -> Reply {
    match read_list(node, source) {
        Err(wrong_type) => return wrong_type,
        Ok(None) => return Reply::Nil,
        Ok(Some(_)) => {}
    }
    if let Err(wrong_type) = read_list(node, destination) {
        return wrong_type;
    }
    let list = write_list(node, source)
        .ok()
        .flatten()
        .expect("checked above");
    let item = from.pop(list).expect("stored lists are not empty");
    // The source stays (maybe empty) until the push, so a rotation of one element works.
    let target = list_for_push(node, destination).expect("checked above");
    to.push(target, &item);
    remove_if_empty(node, source);
    propagate(node, replay);
    Reply::Bulk(Bytes::from(item))
}

/// LMPOP's arguments after parsing.
pub(super) struct LmpopArgs<'a> {
    pub(super) keys: &'a [Bytes],
    pub(super) end: End,
    pub(super) count: usize,
}

impl<'a> LmpopArgs<'a> {
    /// `numkeys key [key …] LEFT|RIGHT [COUNT count]`, with Redis's errors.
    pub(super) fn parse(args: &'a [Bytes]) -> Result<LmpopArgs<'a>, Reply> {
        let numkeys = parse_i64(&args[1])
            .filter(|&n| n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Reply::err("numkeys should be greater than 0"))?;
        let where_at = numkeys.checked_add(2).filter(|&at| at < args.len());
        let where_at = where_at.ok_or_else(Reply::syntax_error)?;
        let end = End::parse(&args[where_at]).ok_or_else(Reply::syntax_error)?;
        let count = match &args[where_at + 1..] {
            [] => 1,
            [word, n] if is(word, "count") => parse_i64(n)
                .filter(|&n| n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| Reply::err("count should be greater than 0"))?,
            _ => return Err(Reply::syntax_error()),
        };
        Ok(LmpopArgs {
            keys: &args[2..where_at],
            end,
            count,
        })
    }
}

/// LMPOP: up to `count` elements from the first non-empty list, as `[key, [elements]]`; a
/// null array when every list is missing. Replays as LPOP/RPOP `key popped-count`.
pub(super) fn lmpop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match LmpopArgs::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    for key in parsed.keys {
        match write_list(node, key) {
            Err(wrong_type) => return wrong_type,
            Ok(None) => continue,
            Ok(Some(_)) => return pop_counted(node, key, parsed.end, parsed.count),
        }
    }
    Reply::NilArray
}

/// Pops up to `count` elements at `end` of the list at `key` (which exists), as
/// `[key, [elements]]`; replays as LPOP/RPOP `key popped-count`.
pub(super) fn pop_counted(node: &mut Node, key: &Bytes, end: End, count: usize) -> Reply {
    let list = write_list(node, key)
        .ok()
        .flatten()
        .expect("the caller found a list");
    let n = count.min(list.len());
    let items: Vec<Reply> = (0..n)
        .filter_map(|_| end.pop(list))
        .map(|i| Reply::Bulk(Bytes::from(i)))
        .collect();
    remove_if_empty(node, key);
    let pop: &'static [u8] = match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    };
    // The count popped, not the one asked for, as Redis writes it.
    let count = Bytes::from(items.len().to_string());
    propagate(node, vec![Bytes::from_static(pop), key.clone(), count]);
    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(items)])
}
