//! BLPOP, BRPOP, BLMPOP, BLMOVE and BRPOPLPUSH: the list pops that wait for an element.
//!
//! Each first acts at once when a list has an element, replaying as its non-blocking form
//! (LPOP/RPOP `key`, LPOP/RPOP `key count`, LMOVE, RPOPLPUSH) as Redis 7.0 logs it. Finding
//! every list missing, it blocks (see `crate::blocking`) and is served later by the same
//! functions, with the same replay forms; inside EXEC (or a replayed stream) it answers at
//! once instead: a null array, or a nil for BLMOVE/BRPOPLPUSH. Timeouts are float seconds.

use bytes::Bytes;

use super::moves::{move_one_as, pop_counted, LmpopArgs};
use super::{remove_if_empty, write_list, End};
use crate::blocking::{parse_timeout, Waker, Wakes};
use crate::cmd::is;
use crate::cmd::keys::propagate;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

static POP: Waker = Waker {
    wakes_on: Wakes::List,
    serve: serve_pop,
    wants: None,
    gone: None,
};
static MPOP: Waker = Waker {
    wakes_on: Wakes::List,
    serve: serve_mpop,
    wants: None,
    gone: None,
};
static MOVE: Waker = Waker {
    wakes_on: Wakes::List,
    serve: serve_move,
    wants: None,
    gone: None,
};

/// Whether `key` holds a list now (`WRONGTYPE` for another type).
fn has_list(node: &mut Node, key: &Bytes) -> Result<bool, Reply> {
    write_list(node, key).map(|list| list.is_some())
}

pub(super) fn blpop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    blocking_pop(node, client, args)
}

pub(super) fn brpop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    blocking_pop(node, client, args)
}

/// BLPOP/BRPOP `key [key …] timeout`: `[key, element]` from the first list that has one.
fn blocking_pop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let deadline_ms = match parse_timeout(node, &args[args.len() - 1]) {
        Ok(deadline_ms) => deadline_ms,
        Err(e) => return e,
    };
    let keys = &args[1..args.len() - 1];
    node.pop_first_or_block(client, args, keys, deadline_ms, &POP, has_list)
}

/// Pops one element of the list at `key` for BLPOP/BRPOP; replays as LPOP/RPOP `key`.
fn serve_pop(node: &mut Node, _client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let (end, replay) = if is(&args[0], "blpop") {
        (End::Left, "LPOP")
    } else {
        (End::Right, "RPOP")
    };
    let list = write_list(node, key).ok().flatten().expect("a list");
    let item = end.pop(list).expect("stored lists are not empty");
    remove_if_empty(node, key);
    propagate(
        node,
        vec![Bytes::from_static(replay.as_bytes()), key.clone()],
    );
    Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Bulk(Bytes::from(item)),
    ])
}

/// BLMPOP `timeout numkeys key [key …] LEFT|RIGHT [COUNT count]`: LMPOP's reply, from the
/// first list that has an element. The other arguments are checked before the timeout.
pub(super) fn blmpop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match LmpopArgs::parse(&args[1..]) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let deadline_ms = match parse_timeout(node, &args[1]) {
        Ok(deadline_ms) => deadline_ms,
        Err(e) => return e,
    };
    node.pop_first_or_block(client, args, parsed.keys, deadline_ms, &MPOP, has_list)
}

fn serve_mpop(node: &mut Node, _client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let parsed = LmpopArgs::parse(&args[1..]).expect("parsed when it blocked");
    pop_counted(node, key, parsed.end, parsed.count)
}

/// BLMOVE `source destination LEFT|RIGHT LEFT|RIGHT timeout`.
pub(super) fn blmove(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if End::parse(&args[3]).is_none() || End::parse(&args[4]).is_none() {
        return Reply::syntax_error();
    }
    blocking_move(node, client, args, &args[5])
}

/// BRPOPLPUSH `source destination timeout`: BLMOVE `… RIGHT LEFT`.
pub(super) fn brpoplpush(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    blocking_move(node, client, args, &args[3])
}

/// Moves one element at once when the source list exists (the destination's type is checked
/// then), or blocks on the source alone.
fn blocking_move(node: &mut Node, client: ClientId, args: &[Bytes], timeout: &[u8]) -> Reply {
    let deadline_ms = match parse_timeout(node, timeout) {
        Ok(deadline_ms) => deadline_ms,
        Err(e) => return e,
    };
    let source = &args[1];
    match write_list(node, source) {
        Err(wrong_type) => return wrong_type,
        Ok(Some(_)) => return move_now(node, args, source, false),
        Ok(None) => {}
    }
    if !node.may_block(args) {
        return Reply::Nil;
    }
    node.block_on_keys(
        client,
        args,
        std::slice::from_ref(source),
        deadline_ms,
        &MOVE,
    );
    Reply::Nil
}

fn serve_move(node: &mut Node, _client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    move_now(node, args, key, true)
}

/// The move itself, replayed as RPOPLPUSH or LMOVE: with the ends as the client wrote them
/// when it runs at once, as `LEFT`/`RIGHT` once served, as Redis 7.0 writes them.
fn move_now(node: &mut Node, args: &[Bytes], source: &Bytes, served: bool) -> Reply {
    let destination = &args[2];
    if is(&args[0], "brpoplpush") {
        let replay = vec![
            Bytes::from_static(b"RPOPLPUSH"),
            source.clone(),
            destination.clone(),
        ];
        return move_one_as(node, source, destination, End::Right, End::Left, replay);
    }
    let from = End::parse(&args[3]).expect("checked before blocking");
    let to = End::parse(&args[4]).expect("checked before blocking");
    let word = |end: End, sent: &Bytes| match (served, end) {
        (false, _) => sent.clone(),
        (true, End::Left) => Bytes::from_static(b"LEFT"),
        (true, End::Right) => Bytes::from_static(b"RIGHT"),
    };
    let replay = vec![
        Bytes::from_static(b"LMOVE"),
        source.clone(),
        destination.clone(),
        word(from, &args[3]),
        word(to, &args[4]),
    ];
    move_one_as(node, source, destination, from, to, replay)
}
