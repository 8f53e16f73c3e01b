//! BZPOPMIN, BZPOPMAX and BZMPOP: the sorted-set pops that wait for a member (see
//! `crate::blocking`).
//!
//! Each pops at once from the first key holding a sorted set; finding none, it blocks and is
//! served later by the same functions. What is propagated is the non-blocking form Redis 7.0
//! writes: `ZPOPMIN|ZPOPMAX key` for the single pops, `ZPOPMIN|ZPOPMAX key <count popped>` for
//! BZMPOP. Inside EXEC (or a replayed stream) an empty wait answers a null array at once.

use bytes::Bytes;

use super::pops::{mpop_reply, parse_mpop, pop_members, pop_replay};
use crate::blocking::{parse_timeout, Waker, Wakes};
use crate::cmd::is;
use crate::cmd::keys::propagate;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

static POP: Waker = Waker {
    wakes_on: Wakes::ZSet,
    serve: serve_pop,
    wants: None,
    gone: None,
};
static MPOP: Waker = Waker {
    wakes_on: Wakes::ZSet,
    serve: serve_mpop,
    wants: None,
    gone: None,
};

/// Whether `key` holds a sorted set now (`WRONGTYPE` for another type).
fn has_zset(node: &mut Node, key: &Bytes) -> Result<bool, Reply> {
    super::write_zset(node, key).map(|z| z.is_some())
}

/// BZPOPMIN/BZPOPMAX `key [key …] timeout`: `[key, member, score]` from the first sorted
/// set that has a member.
pub(super) fn bzpop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let deadline_ms = match parse_timeout(node, &args[args.len() - 1]) {
        Ok(deadline_ms) => deadline_ms,
        Err(e) => return e,
    };
    let keys = &args[1..args.len() - 1];
    node.pop_first_or_block(client, args, keys, deadline_ms, &POP, has_zset)
}

fn serve_pop(node: &mut Node, _client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let from_max = is(&args[0], "bzpopmax");
    let popped = pop_members(node, key, 1, from_max).expect("checked: a sorted set");
    let Some((member, score)) = popped.into_iter().next() else {
        return Reply::NilArray;
    };
    // Redis 7.0 writes the single pop without a count.
    let name: &'static [u8] = if from_max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    propagate(node, vec![Bytes::from_static(name), key.clone()]);
    // The score: a double in RESP3, its text in RESP2 (`Reply::Double` does both).
    Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Bulk(member),
        Reply::Double(score),
    ])
}

/// BZMPOP `timeout numkeys key [key …] MIN|MAX [COUNT count]`: ZMPOP's reply from the first
/// sorted set that has a member. The other arguments are checked before the timeout.
pub(super) fn bzmpop(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let parsed = match parse_mpop(&args[2..]) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let deadline_ms = match parse_timeout(node, &args[1]) {
        Ok(deadline_ms) => deadline_ms,
        Err(e) => return e,
    };
    node.pop_first_or_block(client, args, parsed.keys, deadline_ms, &MPOP, has_zset)
}

fn serve_mpop(node: &mut Node, _client: ClientId, args: &[Bytes], key: &Bytes) -> Reply {
    let parsed = parse_mpop(&args[2..]).expect("parsed when it blocked");
    let popped =
        pop_members(node, key, parsed.count, parsed.from_max).expect("checked: a sorted set");
    if popped.is_empty() {
        return Reply::NilArray;
    }
    propagate(node, pop_replay(key, popped.len(), parsed.from_max));
    mpop_reply(key, popped)
}
