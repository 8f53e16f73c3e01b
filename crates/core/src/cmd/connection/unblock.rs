//! `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: wakes a client blocked on keys (BLPOP, …) from
//! another connection, with what a timeout gives or `-UNBLOCKED`. Answers 1 if it did.
//! Clients blocked in `WAIT` or on a pause are not woken by it here.

use bytes::Bytes;

use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn client_unblock(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    }
    let error = match args.get(3) {
        None => false,
        Some(reason) if is(reason, "timeout") => false,
        Some(reason) if is(reason, "error") => true,
        Some(_) => return Reply::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(target) = parse_i64(&args[2]) else {
        return Reply::not_integer();
    };
    let unblocked = u64::try_from(target).is_ok_and(|id| node.unblock_by_request(id, error));
    Reply::Integer(i64::from(unblocked))
}
