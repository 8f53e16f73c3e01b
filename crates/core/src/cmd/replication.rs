//! `REPLCONF` and `PSYNC`: the master side of the replication handshake, as commands like any
//! other (Redis lists them among its server commands).
//!
//! A replica's driver sends `REPLCONF listening-port <port>` and `PSYNC ? -1` on a client
//! connection; PSYNC turns that client into a replica and streams it a snapshot of the
//! keyspace. From then on the replica only sends `REPLCONF ACK <offset>`. The replication state
//! these handlers touch (listening ports, replica clients, acknowledged offsets) belongs to
//! [`crate::replication::Replication`]; they reach it only through its narrow methods.

use bytes::Bytes;

use super::{is, keyless, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::node::{ClientId, LogLevel, Node};
use crate::reply::Reply;

const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

/// Listed right after the server family, where `COMMAND` has always shown them.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("replconf", -1, F::ADMIN.union(F::NOSCRIPT).union(F::LOADING).union(F::STALE).union(F::ALLOW_BUSY), ADMIN_ACL, "server", "An internal command for configuring the replication stream", "3.0.0", replconf),
    keyless("sync", 1, F::ADMIN.union(F::NOSCRIPT).union(F::NO_ASYNC_LOADING).union(F::NO_MULTI), ADMIN_ACL, "server", "Internal command used for replication", "1.0.0", sync),
    keyless("psync", -3, F::ADMIN.union(F::NOSCRIPT).union(F::NO_ASYNC_LOADING).union(F::NO_MULTI), ADMIN_ACL, "server", "An internal command used in replication", "2.8.0", psync),
];

/// `REPLCONF <option> <value> …`: `listening-port`, `capa` (`eof` is the one that matters
/// here), `rdb-only`, `ACK` (no reply at all, as Redis), `ip-address`, `GETACK`.
fn replconf(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::syntax_error();
    }
    for pair in args[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "listening-port") {
            let Some(port) = parse_i64(value) else {
                return Reply::not_integer();
            };
            let port = u16::try_from(port).unwrap_or(0);
            node.repl.note_listening_port(client, port);
        } else if is(option, "ack") {
            let Some(offset) = parse_i64(value) else {
                return Reply::not_integer();
            };
            let offset = u64::try_from(offset).unwrap_or(0);
            node.repl.note_ack(client, offset, node.now.mono_ms);
            node.replica_acked(client);
        } else if is(option, "capa") {
            if is(value, "eof") {
                node.repl.note_capa_eof(client);
            }
        } else if is(option, "rdb-only") {
            match parse_i64(value) {
                Some(v @ 0..=1) => node.repl.note_rdb_only(client, v == 1),
                _ => return Reply::err("value is out of range, value must between 0 and 1"),
            }
        } else if is(option, "ip-address") || is(option, "getack") {
        } else {
            return Reply::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            ));
        }
    }
    Reply::ok()
}

/// `PSYNC <replid> <offset>`: the client becomes a replica, and gets `+CONTINUE` and the
/// backlog, or (perhaps after the sync delay) `+FULLRESYNC` and a snapshot: see
/// [`crate::replication`]'s `psync` module. The answer travels in the replica's stream; the
/// reply returned here is never written (a replica client gets no replies).
fn psync(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let (replid, offset) = (String::from_utf8_lossy(&args[1]), parse_i64(&args[2]));
    start_sync(node, client, Some((&replid, offset)))
}

/// `SYNC`, the pre-PSYNC form: always a full sync, the payload with no `+FULLRESYNC` before
/// it (what `redis-cli --rdb` asks for).
fn sync(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    start_sync(node, client, None)
}

/// PSYNC (with its replid and offset) or SYNC (`None`).
fn start_sync(node: &mut Node, client: ClientId, psync: Option<(&str, Option<i64>)>) -> Reply {
    if node.cluster.me().is_replica() {
        return Reply::error("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    if node.repl.is_replica_client(client) {
        return Reply::ok();
    }
    let addr = &node.clients[&client].addr;
    let (ip, peer_port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "0"));
    let (ip, peer_port) = (ip.to_string(), peer_port.parse().unwrap_or(0));
    let replica = node
        .repl
        .add_replica(client, (ip, peer_port), psync.is_some(), node.now.mono_ms);
    let text = format!(
        "Replica {}:{} asks for synchronization",
        replica.ip, replica.port
    );
    node.log(LogLevel::Notice, text);
    let (replid, offset) = psync.unwrap_or(("?", None));
    node.answer_psync(client, replid, offset);
    Reply::ok()
}
