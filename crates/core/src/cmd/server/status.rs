//! `TIME`, `ROLE` and `LASTSAVE`: small read-only answers about the node's clock, replication
//! role and (absent) snapshots.

use bytes::Bytes;

use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn time(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let ms = node.now.unix_ms;
    Reply::Array(vec![
        Reply::bulk_str(&(ms / 1000).to_string()),
        Reply::bulk_str(&((ms % 1000) * 1000).to_string()),
    ])
}

/// `[master, offset, [[ip, port, acked offset], …]]` or `[slave, master ip, master port,
/// state, offset]`, state being `connect`, `connecting`, `sync` or `connected`.
pub(super) fn role(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let me = node.cluster.me();
    let offset = me.repl_offset as i64;
    match me.master.and_then(|m| node.cluster.node(&m)) {
        Some(master) if me.is_replica() => {
            let link = node.repl.master_link().filter(|l| l.master == master.id);
            let state = match link {
                None => "connect",
                Some(l) if !l.up => "connecting",
                Some(l) if l.loading => "sync",
                Some(_) => "connected",
            };
            Reply::Array(vec![
                Reply::bulk_str("slave"),
                Reply::bulk_str(&master.ip),
                Reply::Integer(master.port as i64),
                Reply::bulk_str(state),
                Reply::Integer(offset),
            ])
        }
        _ => Reply::Array(vec![
            Reply::bulk_str("master"),
            Reply::Integer(offset),
            Reply::Array(
                node.repl
                    .replicas()
                    .map(|r| {
                        Reply::Array(vec![
                            Reply::bulk_str(&r.ip),
                            Reply::bulk_str(&r.port.to_string()),
                            Reply::bulk_str(&r.ack_offset.to_string()),
                        ])
                    })
                    .collect(),
            ),
        ]),
    }
}

/// No RDB snapshots are taken, so the last "save" is the start.
pub(super) fn lastsave(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(node.persistence.last_save_unix_s as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    #[test]
    fn time_role_lastsave() {
        let (mut n, c) = cluster_node();
        let at = Time {
            mono_ms: 10,
            unix_ms: 1_795_619_717_904,
        };
        assert_eq!(
            n.command(at, c, &words("time")),
            Reply::Array(vec![bulk("1795619717"), bulk("904000")])
        );
        assert_eq!(
            run_at(&mut n, c, at, "role"),
            Reply::Array(vec![
                bulk("master"),
                Reply::Integer(0),
                Reply::Array(vec![])
            ])
        );
        assert_eq!(run_at(&mut n, c, at, "lastsave"), Reply::Integer(1000));
        assert_eq!(
            run_at(&mut n, c, at, "time x"),
            err("ERR wrong number of arguments for 'time' command")
        );
    }
}
