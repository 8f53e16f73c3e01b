//! `WAIT numreplicas timeout`: block until enough replicas acknowledged this client's last
//! write, or the timeout passes, then reply with how many did (Redis 7.0 semantics).
//!
//! The blocking itself lives in [`crate::replication`]: the handler either answers at once or
//! parks the client with [`crate::node::Effect::BlockClient`], and the node answers it later
//! with [`crate::node::Effect::UnblockClient`].

use bytes::Bytes;

use super::{keyless, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("wait", 3, F::NOSCRIPT, &["@slow", "@connection"], "generic", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", "3.0.0", wait),
];

const ON_REPLICA: &str = "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";

fn wait(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if node.cluster.me().is_replica() {
        return Reply::err(ON_REPLICA);
    }
    let Some(numreplicas) = parse_i64(&args[1]) else {
        return Reply::not_integer();
    };
    let timeout_ms = match parse_timeout_ms(&args[2]) {
        Ok(ms) => ms,
        Err(reply) => return reply,
    };
    let offset = node.clients[&client].woff;
    let acked = node.repl.replicas_acked(offset);
    // Inside EXEC (or a replayed stream) a client cannot block: it gets the count as is.
    let can_block = node.top_command == "wait" && !node.replaying;
    if acked >= numreplicas || !can_block {
        return Reply::Integer(acked);
    }
    let deadline_ms = (timeout_ms > 0).then(|| node.now.mono_ms.saturating_add(timeout_ms));
    node.block_for_acks(client, offset, numreplicas, deadline_ms);
    // Not sent: the driver waits for the UnblockClient effect instead.
    Reply::Nil
}

/// A millisecond timeout as Redis parses it; 0 means for ever.
fn parse_timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let Some(ms) = parse_i64(arg) else {
        return Err(Reply::err("timeout is not an integer or out of range"));
    };
    if ms < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    Ok(ms as u64)
}
