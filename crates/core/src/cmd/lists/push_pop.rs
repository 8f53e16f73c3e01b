//! LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with a count) and LLEN.

use bytes::Bytes;

use super::{list_for_push, read_list, remove_if_empty, write_list, End};
use crate::cmd::keys::{argv, propagate};
use crate::cmd::parse_i64;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn lpush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    push(node, args, End::Left, false)
}

pub(super) fn rpush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    push(node, args, End::Right, false)
}

pub(super) fn lpushx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    push(node, args, End::Left, true)
}

pub(super) fn rpushx(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    push(node, args, End::Right, true)
}

/// Pushes `args[2..]` one by one at `end` (so LPUSH reverses them); the `…X` forms only
/// onto an existing list. Answers the new length.
fn push(node: &mut Node, args: &[Bytes], end: End, only_existing: bool) -> Reply {
    let key = &args[1];
    match write_list(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) if only_existing => return Reply::Integer(0),
        Ok(_) => {}
    }
    let list = list_for_push(node, key).expect("the type was checked");
    for item in &args[2..] {
        end.push(list, item);
    }
    let len = list.len();
    propagate(node, argv(args));
    Reply::Integer(len as i64)
}

pub(super) fn lpop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    pop(node, args, End::Left)
}

pub(super) fn rpop(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    pop(node, args, End::Right)
}

/// LPOP/RPOP `key [count]`: one element (or nil) without a count; with one, an array of up to
/// `count` elements (a missing key is a null array, a count of 0 an empty array).
fn pop(node: &mut Node, args: &[Bytes], end: End) -> Reply {
    if args.len() > 3 {
        return Reply::wrong_arity(&String::from_utf8_lossy(&args[0]).to_ascii_lowercase());
    }
    let count = match args.get(2).map(|c| parse_i64(c)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::err("value is out of range, must be positive"),
    };
    let key = &args[1];
    let list = match write_list(node, key) {
        Err(wrong_type) => return wrong_type,
        Ok(None) if count.is_some() => return Reply::NilArray,
        Ok(None) => return Reply::Nil,
        Ok(Some(list)) => list,
    };
    let reply = match count {
        None => Reply::Bulk(Bytes::from(
            end.pop(list).expect("stored lists are not empty"),
        )),
        Some(0) => return Reply::Array(Vec::new()),
        Some(n) => {
            let taken = (0..n.min(list.len())).filter_map(|_| end.pop(list));
            Reply::Array(taken.map(|i| Reply::Bulk(Bytes::from(i))).collect())
        }
    };
    remove_if_empty(node, key);
    propagate(node, argv(args));
    reply
}

pub(super) fn llen(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match read_list(node, &args[1]) {
        Ok(list) => Reply::Integer(list.map_or(0, |l| l.len()) as i64),
        Err(wrong_type) => wrong_type,
    }
}
