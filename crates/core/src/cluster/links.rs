//! Cluster bus links and sending: accepting and opening links, learning who is on the other
//! side, deleting a node with its links, building message headers and gossip sections.
//!
//! Every peer gets an outbound link opened from the cron; inbound links learn their node from
//! the first message. All of it runs on a [`ClusterBus`]: the header needs only cluster state
//! (this node's replication offset is kept on its own `ClusterNode`) and the config.

use rand::Rng;

use crate::bus::{flags, Body, GossipEntry, Header, Message, MessageType};
use crate::cluster::{Cluster, ClusterBus, ClusterNode, Link};
use crate::config::Config;
use crate::node::{Effect, LinkId};
use crate::node_id::NodeId;

impl ClusterBus<'_> {
    // ---- links ---------------------------------------------------------------------------

    pub(crate) fn on_link_accepted(&mut self, peer_ip: String, local_ip: String) -> LinkId {
        let created_ms = self.now.mono_ms;
        self.cluster.new_link(Link {
            node: None,
            outbound: false,
            connected: true,
            created_ms,
            created_unix_ms: self.now.unix_ms,
            peer_ip,
            local_ip,
            buffers: Default::default(),
        })
    }

    pub(crate) fn on_link_connected(&mut self, link: LinkId) {
        let Some(l) = self.cluster.links.get_mut(&link) else {
            return;
        };
        l.connected = true;
        let Some(id) = l.node else { return };
        let Some(node) = self.cluster.nodes.get(&id) else {
            return;
        };
        let old_ping_sent_ms = node.ping_sent_ms;
        let kind = if node.has(flags::MEET) {
            MessageType::Meet
        } else {
            MessageType::Ping
        };
        self.send_ping(link, kind);
        let node = self.cluster.nodes.get_mut(&id).expect("checked above");
        // A ping that went unanswered before the reconnect still counts for failure detection.
        if old_ping_sent_ms != 0 {
            node.ping_sent_ms = old_ping_sent_ms;
        }
        node.flags &= !flags::MEET;
    }

    pub(crate) fn on_link_closed(&mut self, link: LinkId) {
        let Some(l) = self.cluster.links.remove(&link) else {
            return;
        };
        let Some(node) = l.node.and_then(|id| self.cluster.nodes.get_mut(&id)) else {
            return;
        };
        if node.link == Some(link) {
            // A connect that failed leaves `ping_sent_ms` alone. Redis claims a ping only when
            // `connect()` itself fails synchronously; a non-blocking connect to a dead peer's
            // port (kill -9, even on loopback) returns EINPROGRESS and the refusal comes later
            // through the event loop, which just frees the link. What starts the clock on such
            // a peer is the cron's PING queued on the still-connecting link (`check_peer`,
            // `ping_oldest_of_random_sample`): up to node_timeout/2 after its last PONG, so a
            // killed node is flagged PFAIL that much later than "timeout after the kill".
            node.link = None;
        }
        if node.inbound_link == Some(link) {
            node.inbound_link = None;
        }
    }

    /// Closes a link ourselves: the driver is told, and the link is forgotten at once.
    pub(crate) fn close_link(&mut self, link: LinkId) {
        if self.cluster.links.contains_key(&link) {
            self.out.push(Effect::CloseLink { link });
            self.on_link_closed(link);
        }
    }

    pub(crate) fn connect_to(&mut self, id: NodeId) {
        let now = self.now.mono_ms;
        let node = &self.cluster.nodes[&id];
        if node.ip.is_empty() {
            return;
        }
        let (ip, port) = (node.ip.clone(), node.cport);
        let link = self.cluster.new_link(Link {
            node: Some(id),
            outbound: true,
            connected: false,
            created_ms: now,
            created_unix_ms: self.now.unix_ms,
            peer_ip: ip.clone(),
            local_ip: String::new(),
            buffers: Default::default(),
        });
        self.cluster.nodes.get_mut(&id).expect("known").link = Some(link);
        self.out.push(Effect::Connect { link, ip, port });
    }

    /// Removes a node and everything that refers to it.
    pub(crate) fn delete_node(&mut self, id: NodeId) {
        assert_ne!(id, self.cluster.myself, "cannot delete myself");
        let Some(node) = self.cluster.nodes.get(&id) else {
            return;
        };
        let links: Vec<LinkId> = node.link.into_iter().chain(node.inbound_link).collect();
        for link in links {
            self.close_link(link);
        }
        let owned: Vec<u16> = self.cluster.nodes[&id].slots.iter().collect();
        self.cluster.assign_slots(&owned, None, self.out);
        self.cluster.end_imports(|source| *source == id, self.out);
        self.cluster.migrating.retain(|_, n| *n != id);
        for other in self.cluster.nodes.values_mut() {
            other.fail_reports.remove(&id);
        }
        self.cluster.nodes.remove(&id);
        // Links that were still unidentified may point at it no more.
        for l in self.cluster.links.values_mut() {
            if l.node == Some(id) {
                l.node = None;
            }
        }
        self.cluster.request_save(false);
    }

    // ---- sending -------------------------------------------------------------------------

    /// The header every message carries (see [`Cluster::header`]).
    pub(crate) fn header(&self, kind: MessageType) -> Header {
        self.cluster.header(kind, self.config)
    }

    pub(crate) fn send(&mut self, link: LinkId, kind: MessageType, body: Body) {
        self.send_with_mflags(link, kind, body, 0);
    }

    pub(crate) fn send_with_mflags(
        &mut self,
        link: LinkId,
        kind: MessageType,
        body: Body,
        mflags: u8,
    ) {
        let mut header = self.header(kind);
        header.mflags |= mflags;
        self.cluster.count_sent(kind);
        self.out.push(Effect::Send {
            link,
            msg: Message { header, body },
        });
    }

    /// Sends to every node we have a connected outbound link with (not handshake nodes).
    pub(crate) fn broadcast(&mut self, kind: MessageType, body: Body) {
        self.broadcast_with_mflags(kind, body, 0);
    }

    pub(crate) fn broadcast_with_mflags(&mut self, kind: MessageType, body: Body, mflags: u8) {
        let links: Vec<LinkId> = self
            .cluster
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF) && !n.in_handshake())
            .filter_map(|n| n.link)
            .filter(|l| self.cluster.links.get(l).is_some_and(|l| l.connected))
            .collect();
        for link in links {
            self.send_with_mflags(link, kind, body.clone(), mflags);
        }
    }

    /// Sends to the other nodes of my shard: my master (or, as a master, me) and its replicas
    /// (`SPUBLISH` reaches exactly them).
    pub(crate) fn send_to_my_shard(&mut self, kind: MessageType, body: Body) {
        let me = self.cluster.me();
        let master = if me.is_replica() {
            me.master
        } else {
            Some(me.id)
        };
        let links: Vec<LinkId> = self
            .cluster
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF) && !n.in_handshake())
            .filter(|n| Some(n.id) == master || (n.is_replica() && n.master == master))
            .filter_map(|n| n.link)
            .filter(|l| self.cluster.links.get(l).is_some_and(|l| l.connected))
            .collect();
        for link in links {
            self.send_with_mflags(link, kind, body.clone(), 0);
        }
    }

    /// PING, PONG or MEET with a gossip section.
    pub(crate) fn send_ping(&mut self, link: LinkId, kind: MessageType) {
        let gossip = self.gossip_entries();
        if kind == MessageType::Ping {
            let target = self.cluster.links.get(&link).and_then(|l| l.node);
            if let Some(node) = target.and_then(|id| self.cluster.nodes.get_mut(&id)) {
                node.ping_sent_ms = self.now.mono_ms;
            }
        }
        self.send(link, kind, Body::Gossip(gossip));
    }

    /// A few random healthy nodes (a tenth of the cluster, at least 3) plus the PFAIL nodes,
    /// so failure reports reach the quorum quickly.
    ///
    /// The PFAIL part holds as many entries as there were PFAIL nodes when the cron pass
    /// began (Redis sizes it by `stats_pfail_nodes`, counted in the cron's reconnect loop): a
    /// node flagged PFAIL by a pass is gossiped from the next pass on, up to 100 ms later.
    pub(crate) fn gossip_entries(&mut self) -> Vec<GossipEntry> {
        let ids: Vec<NodeId> = self.cluster.nodes.keys().copied().collect();
        let fresh_nodes = ids.len().saturating_sub(2);
        let wanted = (ids.len() / 10).max(3).min(fresh_nodes);
        let mut chosen: Vec<NodeId> = Vec::with_capacity(wanted);
        let mut attempts_left = wanted * 3;
        while chosen.len() < wanted && attempts_left > 0 {
            attempts_left -= 1;
            let id = ids[self.rng.gen_range(0..ids.len())];
            let n = &self.cluster.nodes[&id];
            let skip = n.has(flags::MYSELF)
                || n.has(flags::PFAIL)
                || n.has(flags::HANDSHAKE | flags::NOADDR)
                || (n.link.is_none() && n.slots.is_empty());
            if !skip && !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        let pfail = self.cluster.nodes.values().filter(|n| {
            n.has(flags::PFAIL) && !n.has(flags::HANDSHAKE | flags::NOADDR | flags::MYSELF)
        });
        chosen.extend(pfail.take(self.cluster.pfail_nodes_at_cron).map(|n| n.id));
        chosen
            .iter()
            .map(|id| self.gossip_entry(&self.cluster.nodes[id]))
            .collect()
    }

    pub(crate) fn gossip_entry(&self, n: &ClusterNode) -> GossipEntry {
        GossipEntry {
            id: n.id,
            ping_sent_s: (self.unix_ms_of(n.ping_sent_ms) / 1000) as u32,
            pong_received_s: (self.unix_ms_of(n.pong_received_ms) / 1000) as u32,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            flags: n.flags,
        }
    }

    /// Converts a monotonic timestamp to the unix-ms value Redis shows (0 stays 0).
    pub(crate) fn unix_ms_of(&self, mono_ms: u64) -> u64 {
        super::render::unix_ms_of(mono_ms, self.now)
    }
}

impl ClusterBus<'_> {
    /// PFAIL → FAIL once enough masters agree; the FAIL is broadcast so everyone converges.
    pub(crate) fn mark_failing_if_needed(&mut self, id: NodeId) {
        if self.failure().mark_failing_if_needed(id) {
            self.broadcast(MessageType::Fail, Body::Fail(id));
            self.cluster.request_save(true);
        }
    }
}

impl Cluster {
    /// The header every message carries; a replica advertises its master's slots and epoch.
    pub(crate) fn header(&self, kind: MessageType, config: &Config) -> Header {
        let me = self.me();
        let master = me.master.and_then(|m| self.nodes.get(&m));
        let (config_epoch, myslots) = match (me.is_replica(), master) {
            (true, Some(m)) => (m.config_epoch, m.slots.clone()),
            _ => (me.config_epoch, me.slots.clone()),
        };
        Header {
            kind,
            port: config.announced_port(),
            cport: config.announced_bus_port(),
            current_epoch: self.current_epoch,
            config_epoch,
            repl_offset: self.announced_offset(me),
            sender: self.myself,
            myslots,
            slaveof: if me.is_replica() { me.master } else { None },
            myip: config.announce.ip.clone(),
            hostname: me.hostname.clone(),
            flags: me.flags,
            state_fail: !self.state_ok,
            mflags: self.manual_failover_mflags(),
        }
    }
}
