//! How nodes are named: this node's announced address and hostname (kept in step with the
//! `cluster-announce-*` settings), peers' hostnames learnt from their messages, and the
//! endpoint `CLUSTER SLOTS`, `CLUSTER SHARDS` and `-MOVED`/`-ASK` give clients, chosen by
//! `cluster-preferred-endpoint-type` as Redis 7.0 chooses it.

use crate::bus::flags;
use crate::cluster::{Cluster, ClusterBus, ClusterNode};
use crate::config::{Config, EndpointType};
use crate::node_id::NodeId;
use crate::reply::Reply;

/// Puts the announced ports, hostname and (when set) IP on this node's own entry; true when
/// something `nodes.conf` shows changed.
pub(super) fn announce_myself(me: &mut ClusterNode, config: &Config) -> bool {
    assert!(me.has(flags::MYSELF), "only my own entry is announced");
    let before = (me.port, me.cport, me.hostname.clone(), me.ip.clone());
    me.port = config.announced_port();
    me.cport = config.announced_bus_port();
    me.hostname.clone_from(&config.announce.hostname);
    // An unset announce IP leaves the address the peers taught us (Redis re-learns it).
    if !config.announce.ip.is_empty() {
        me.ip.clone_from(&config.announce.ip);
    }
    before != (me.port, me.cport, me.hostname.clone(), me.ip.clone())
}

impl Cluster {
    /// The endpoint clients are told to use for `n` (Redis's `getPreferredEndpoint`): its IP,
    /// its hostname (`?` when it has none), or empty ("the address you already use").
    pub fn preferred_endpoint_of<'a>(&self, n: &'a ClusterNode) -> &'a str {
        match self.preferred_endpoint {
            EndpointType::Ip => &n.ip,
            EndpointType::Hostname if n.hostname.is_empty() => "?",
            EndpointType::Hostname => &n.hostname,
            EndpointType::UnknownEndpoint => "",
        }
    }

    /// `[endpoint, port, id, {extra}]` as `CLUSTER SLOTS` lists a node: the preferred
    /// endpoint first (a null for `unknown-endpoint`), then in the map the networking facts
    /// it did not give: the IP unless it was the IP, the hostname unless it was the hostname.
    pub(crate) fn slots_node_entry(&self, n: &ClusterNode) -> Reply {
        let endpoint = match self.preferred_endpoint {
            EndpointType::UnknownEndpoint => Reply::Nil,
            _ => Reply::bulk_str(self.preferred_endpoint_of(n)),
        };
        let mut extra = Vec::new();
        if self.preferred_endpoint != EndpointType::Ip {
            extra.push((Reply::bulk_str("ip"), Reply::bulk_str(&n.ip)));
        }
        if self.preferred_endpoint != EndpointType::Hostname && !n.hostname.is_empty() {
            extra.push((Reply::bulk_str("hostname"), Reply::bulk_str(&n.hostname)));
        }
        Reply::Array(vec![
            endpoint,
            Reply::Integer(n.port as i64),
            Reply::bulk_str(n.id.as_str()),
            Reply::Map(extra),
        ])
    }
}

impl ClusterBus<'_> {
    /// A PING, PONG or MEET names its sender's hostname; none means it announces none. A
    /// change is saved so that a restart from `nodes.conf` keeps it.
    pub(crate) fn note_peer_hostname(&mut self, id: NodeId, hostname: &str) {
        // My own hostname comes from my config, even if a message of mine came back to me.
        if id == self.cluster.myself {
            return;
        }
        let Some(node) = self.cluster.nodes.get_mut(&id) else {
            return;
        };
        if node.hostname != hostname {
            node.hostname = hostname.to_string();
            self.cluster.request_save(false);
        }
    }
}
