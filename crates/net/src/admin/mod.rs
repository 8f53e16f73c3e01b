//! redis-cli's `--cluster` operations as async functions over RESP, so the simulator can run
//! the tutorial without redis-cli and the CLI can offer them. Each operation sends the command
//! sequence redis-cli 7.0 sends (§5 of the reference) through our own [`Connection`], with
//! every wait bounded and every sleep on tokio's clock, so the same code runs on real sockets
//! and in madsim.
//!
//! - [`create()`]: assign slots, set epochs, meet, wait for agreement, attach replicas.
//! - [`topology`]: "load" — every reachable node's own `CLUSTER NODES`, parsed.
//! - [`check()`] / [`fix()`]: agreement, open slots, coverage; closing and covering them.
//! - [`add_node()`], [`del_node()`], [`reshard()`], [`rebalance()`], [`info()`].

use crate::client::Connection;
use clusterlab_core::Reply;
use std::io;
use std::time::Duration;

pub mod add_node;
pub mod check;
pub mod create;
pub mod del_node;
pub mod fix;
pub mod info;
pub mod rebalance;
pub mod reshard;
pub mod topology;

#[cfg(all(test, not(madsim)))]
mod real_redis_tests;

pub use add_node::{add_node, AddNodeRole};
pub use check::{check, CheckReport};
pub use create::{allocate_slots, create, plan_create, CreatePlan, JOIN_MAX_ROUNDS, JOIN_ROUND_MS};
pub use del_node::del_node;
pub use fix::{fix, DroppedCopies, FixReport};
pub use info::{info, InfoReport, MasterInfo};
pub use rebalance::{rebalance, RebalanceOptions, RebalanceReport};
pub use reshard::{move_slot, reshard, ReshardOptions, ReshardReport, Sources};
pub use topology::{load, ClusterNode, Topology};

/// A node that does not answer a command within this time is treated as unreachable.
pub const COMMAND_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("[ERR] Invalid node address '{0}' (expected ip:port)")]
    BadAddress(String),
    #[error("[ERR] Node {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("[ERR] Node {0} is not configured as a cluster node.")]
    NotClusterNode(String),
    #[error(
        "[ERR] Node {0} is not empty. Either the node already knows other nodes (check with \
         CLUSTER NODES) or contains some key in database 0."
    )]
    NotEmpty(String),
    #[error(
        "*** Redis Cluster requires at least 3 master nodes.\n*** This is not possible with \
         {nodes} nodes and {replicas} replicas per node.\n*** At least {needed} nodes are required."
    )]
    TooFewMasters {
        nodes: usize,
        replicas: usize,
        needed: usize,
    },
    /// An error reply, or a reply of the wrong shape.
    #[error("[ERR] Node {addr} replied to {command}: {reply}")]
    Command {
        addr: String,
        command: String,
        reply: String,
    },
    #[error("[ERR] Nodes don't agree about configuration after {rounds} rounds of waiting for the cluster to join")]
    JoinTimeout { rounds: usize },
    /// `reshard`/`rebalance` refuse to start on a cluster that `check` finds faulty.
    #[error("*** Please fix your cluster problems before resharding")]
    ClusterProblems,
    #[error("[ERR] No such node ID {0}")]
    NoSuchNode(String),
    #[error("[ERR] Node {0} is not empty! Reshard data away and try again.")]
    NodeHasSlots(String),
    /// A key being moved exists on the target with a different value; `--cluster-replace`
    /// overwrites it with the source's.
    #[error("[ERR] Calling MIGRATE: {reply}\n*** Target key exists, values differ (use --replace to overwrite)")]
    ValuesDiffer { reply: String },
    /// An operation-level refusal or failure, worded as redis-cli words it.
    #[error("{0}")]
    Failed(String),
}

/// Splits `ip:port` at its last colon (so IPv6 addresses work too).
pub fn parse_addr(addr: &str) -> Result<(String, u16), AdminError> {
    let bad = || AdminError::BadAddress(addr.to_string());
    let (ip, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if ip.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((ip.to_string(), port))
}

/// redis-cli's "config signature" of one node's `CLUSTER NODES` text: for every line that has
/// slots, `id:` plus its slot ranges sorted as strings and joined by `,` (`[…]` migration
/// entries ignored); those sorted and joined by `|`. `None` when no line has slots — such a
/// node never counts as agreeing.
pub fn join_signature(cluster_nodes: &str) -> Option<String> {
    let mut configs: Vec<String> = Vec::new();
    // Only newline-terminated lines count, as in redis-cli.
    let mut lines: Vec<&str> = cluster_nodes.split('\n').collect();
    lines.pop();
    for line in lines {
        let fields: Vec<&str> = line.splitn(9, ' ').collect();
        let [id, .., rest] = fields[..] else {
            continue;
        };
        if fields.len() < 9 {
            continue;
        }
        let mut ranges: Vec<&str> = rest
            .split(' ')
            .filter(|s| !s.is_empty() && !s.starts_with('['))
            .collect();
        if ranges.is_empty() {
            continue;
        }
        ranges.sort_unstable();
        configs.push(format!("{id}:{}", ranges.join(",")));
    }
    if configs.is_empty() {
        return None;
    }
    configs.sort_unstable();
    Some(configs.join("|"))
}

/// True when every node has a signature and they are all the same.
pub fn signatures_agree(signatures: &[Option<String>]) -> bool {
    match signatures.first() {
        Some(Some(first)) => signatures.iter().all(|s| s.as_ref() == Some(first)),
        _ => false,
    }
}

/// The value of `name:` in an `INFO`/`CLUSTER INFO` text.
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim_end())
    })
}

/// The id and bus port on the `myself` line of a `CLUSTER NODES` text.
pub fn myself_from_nodes(cluster_nodes: &str) -> Option<(String, u16)> {
    let line = cluster_nodes.lines().find(|line| {
        line.split(' ')
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    })?;
    let mut fields = line.split(' ');
    let id = fields.next()?.to_string();
    // ip:port@cport[,hostname]
    let address = fields.next()?;
    let (_, bus) = address.split_once('@')?;
    let cport = bus.split(',').next()?.parse().ok()?;
    Some((id, cport))
}

// ---------------------------------------------------------------------------------------------
// Talking to nodes
// ---------------------------------------------------------------------------------------------

/// A connection to one node that labels its errors with the node address. A timed-out or
/// failed command leaves the stream out of step with its replies, so the connection is
/// dropped and the next command opens a fresh one.
struct Node {
    addr: String,
    ip: String,
    port: u16,
    conn: Option<Connection>,
}

impl Node {
    async fn connect(addr: &str) -> Result<Node, AdminError> {
        let (ip, port) = parse_addr(addr)?;
        let mut node = Node {
            addr: addr.to_string(),
            ip,
            port,
            conn: None,
        };
        node.ensure_connected().await?;
        Ok(node)
    }

    fn io_error(&self, source: io::Error) -> AdminError {
        AdminError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    async fn ensure_connected(&mut self) -> Result<&mut Connection, AdminError> {
        if self.conn.is_none() {
            let timeout = Duration::from_millis(COMMAND_TIMEOUT_MS);
            let conn = tokio::time::timeout(timeout, Connection::connect(&self.addr))
                .await
                .map_err(|_| self.io_error(io::ErrorKind::TimedOut.into()))?
                .map_err(|e| self.io_error(e))?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Any reply to a command with binary arguments, error replies included, waiting at most
    /// `timeout_ms`.
    async fn call_bytes_within(
        &mut self,
        args: &[&[u8]],
        timeout_ms: u64,
    ) -> Result<Reply, AdminError> {
        let conn = self.ensure_connected().await?;
        let outcome =
            tokio::time::timeout(Duration::from_millis(timeout_ms), conn.command(args)).await;
        match outcome {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.conn = None;
                Err(self.io_error(e))
            }
            Err(_) => {
                self.conn = None;
                Err(self.io_error(io::ErrorKind::TimedOut.into()))
            }
        }
    }

    /// Any reply to a command with binary arguments (keys).
    async fn call_bytes(&mut self, args: &[&[u8]]) -> Result<Reply, AdminError> {
        self.call_bytes_within(args, COMMAND_TIMEOUT_MS).await
    }

    /// Any reply, error replies included.
    async fn call(&mut self, args: &[&str]) -> Result<Reply, AdminError> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call_bytes(&args).await
    }

    fn unexpected(&self, args: &[&str], reply: &Reply) -> AdminError {
        let command = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
        let reply = match reply {
            Reply::Error(text) => text.clone(),
            other => format!("unexpected reply {other:?}"),
        };
        AdminError::Command {
            addr: self.addr.clone(),
            command,
            reply,
        }
    }

    /// A command answered with a bulk or simple string.
    async fn text(&mut self, args: &[&str]) -> Result<String, AdminError> {
        match self.call(args).await? {
            Reply::Bulk(data) => Ok(String::from_utf8_lossy(&data).into_owned()),
            Reply::Simple(text) | Reply::Verbatim(_, text) => Ok(text),
            other => Err(self.unexpected(args, &other)),
        }
    }

    /// A command answered with `+OK`.
    async fn ok(&mut self, args: &[&str]) -> Result<(), AdminError> {
        match self.call(args).await? {
            Reply::Simple(text) if text == "OK" => Ok(()),
            other => Err(self.unexpected(args, &other)),
        }
    }

    /// A command answered with an integer.
    async fn int(&mut self, args: &[&str]) -> Result<i64, AdminError> {
        match self.call(args).await? {
            Reply::Integer(n) => Ok(n),
            other => Err(self.unexpected(args, &other)),
        }
    }

    /// A command answered with an array of bulk strings (keys).
    async fn bulk_array(&mut self, args: &[&str]) -> Result<Vec<bytes::Bytes>, AdminError> {
        match self.call(args).await? {
            Reply::Array(items) | Reply::Set(items) => items
                .into_iter()
                .map(|item| match item {
                    Reply::Bulk(b) => Ok(b),
                    other => Err(self.unexpected(args, &other)),
                })
                .collect(),
            other => Err(self.unexpected(args, &other)),
        }
    }
}

/// `CLUSTER NODES` of the node at `addr`.
pub async fn cluster_nodes(addr: &str) -> Result<String, AdminError> {
    Node::connect(addr).await?.text(&["CLUSTER", "NODES"]).await
}

/// `CLUSTER INFO` of the node at `addr`.
pub async fn cluster_info(addr: &str) -> Result<String, AdminError> {
    Node::connect(addr).await?.text(&["CLUSTER", "INFO"]).await
}
