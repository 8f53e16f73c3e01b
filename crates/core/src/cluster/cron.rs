//! The cluster's 100 ms cron: connect to peers, expire handshakes, ping the oldest of a random
//! sample, detect ping timeouts (PFAIL), and drive the failover and replica-migration timers.
//!
//! It runs on a [`ClusterBus`]; the node passes replication state in, which the election step
//! reads.

use rand::Rng;

use crate::bus::{flags, MessageType};
use crate::canary::Canary;
use crate::cluster::ClusterBus;
use crate::event::ClusterEvent;
use crate::node::LogLevel;
use crate::node_id::NodeId;
use crate::replication::Replication;

impl ClusterBus<'_> {
    /// The whole cron, in Redis's order. Replication state is only read, by the election step.
    pub(crate) fn cron(&mut self, repl: &Replication) {
        if !self.config.cluster_enabled {
            return;
        }
        self.cron_peers();
        self.manual_failover_timed_out();
        self.manual_failover_cron();
        if self.cluster.me().is_replica() {
            self.handle_replica_failover(repl);
            self.cron_replica_migration();
        }
        self.failure().update_cluster_state();
    }

    /// Handshakes, connections, pings and ping timeouts.
    fn cron_peers(&mut self) {
        self.cluster.cron_runs += 1;
        let now = self.now.mono_ms;
        self.cluster.blacklist.retain(|_, until| *until > now);
        self.connect_and_expire_handshakes();
        if self.cluster.cron_runs.is_multiple_of(10) {
            self.ping_oldest_of_random_sample();
        }
        let ids: Vec<NodeId> = self.cluster.nodes.keys().copied().collect();
        for id in ids {
            self.check_peer(id);
        }
    }

    /// A replica's last cron step before the state update: replica migration.
    fn cron_replica_migration(&mut self) {
        let allowed = self.config.cluster_allow_replica_migration;
        let barrier = self.config.cluster_migration_barrier;
        let now_ms = self.now.mono_ms;
        self.cluster
            .handle_replica_migration(now_ms, allowed, barrier, self.out);
    }

    pub(crate) fn connect_and_expire_handshakes(&mut self) {
        let now = self.now.mono_ms;
        let handshake_timeout_ms = self.cluster.node_timeout_ms.max(1000);
        // Decided for every node first (usually nothing is to be done, so nothing is
        // allocated): deleting or connecting one node changes nothing the others' decisions
        // read, so doing them afterwards, in the same order, is the same.
        let mut actions: Vec<(NodeId, bool)> = Vec::new();
        let mut pfail_nodes = 0;
        for n in self.cluster.nodes.values() {
            if n.has(flags::MYSELF | flags::NOADDR) {
                continue;
            }
            pfail_nodes += usize::from(n.has(flags::PFAIL));
            if n.in_handshake() && now.saturating_sub(n.created_ms) > handshake_timeout_ms {
                actions.push((n.id, true));
            } else if n.link.is_none() {
                actions.push((n.id, false));
            }
        }
        self.cluster.pfail_nodes_at_cron = pfail_nodes;
        for (id, expired) in actions {
            if expired {
                self.out.log(
                    LogLevel::Verbose,
                    format!("Handshake with node {id} timed out, removing it."),
                );
                self.delete_node(id);
            } else {
                self.connect_to(id);
            }
        }
    }

    /// Once a second, ping the node we heard from least recently among five random draws.
    ///
    /// As in Redis's `clusterCron`, the five draws are from every known node (myself
    /// included) and a draw that cannot be pinged is simply wasted, so a peer is picked less
    /// often than a draw among the pingable ones alone would pick it. A link that is still
    /// connecting counts as a link: Redis sets `node->link` when it creates the link, before
    /// the connect completes, and queues the PING on it (see [`Self::check_peer`]).
    pub(crate) fn ping_oldest_of_random_sample(&mut self) {
        let ids: Vec<NodeId> = self.cluster.nodes.keys().copied().collect();
        let mut best: Option<NodeId> = None;
        for _ in 0..5 {
            let n = &self.cluster.nodes[&ids[self.rng.gen_range(0..ids.len())]];
            if n.link.is_none() || n.ping_sent_ms != 0 {
                continue;
            }
            if n.has(flags::MYSELF | flags::HANDSHAKE) {
                continue;
            }
            let pong = n.pong_received_ms;
            if best.is_none_or(|b| pong < self.cluster.nodes[&b].pong_received_ms) {
                best = Some(n.id);
            }
        }
        let link = best.and_then(|id| self.cluster.nodes[&id].link);
        if let Some(link) = link {
            self.send_ping(link, MessageType::Ping);
        }
    }

    /// Per-peer cron work: drop a stalled link, keep pings flowing, flag PFAIL on timeout.
    pub(crate) fn check_peer(&mut self, id: NodeId) {
        let now = self.now.mono_ms;
        let timeout_ms = self.cluster.node_timeout_ms;
        let Some(mut n) = self.cluster.nodes.get(&id) else {
            return;
        };
        if n.has(flags::MYSELF | flags::NOADDR | flags::HANDSHAKE) {
            return;
        }
        if let Some(link) = n.link {
            let created_ms = self.cluster.links.get(&link).map_or(now, |l| l.created_ms);
            let stalled = now.saturating_sub(created_ms) > timeout_ms
                && n.ping_sent_ms != 0
                && now.saturating_sub(n.ping_sent_ms) > timeout_ms / 2
                && now.saturating_sub(n.data_received_ms) > timeout_ms / 2;
            if stalled {
                self.close_link(link);
                n = &self.cluster.nodes[&id];
            }
        }
        // The link may still be connecting (it was opened by this very cron pass): the PING is
        // queued on it all the same, as Redis queues it on a link it has just created. That
        // PING is what starts the clock on a peer that died: a connect refused
        // asynchronously does not (see `on_link_closed`).
        if let Some(link) = n.link.filter(|_| {
            n.ping_sent_ms == 0 && now.saturating_sub(n.pong_received_ms) > timeout_ms / 2
        }) {
            self.send_ping(link, MessageType::Ping);
            return;
        }
        if n.ping_sent_ms == 0 || n.is_failing() {
            return;
        }
        let ping_delay_ms = now.saturating_sub(n.ping_sent_ms);
        let data_delay_ms = now.saturating_sub(n.data_received_ms);
        if ping_delay_ms.min(data_delay_ms) > timeout_ms {
            self.out
                .log(LogLevel::Debug, format!("*** NODE {id} possibly failing"));
            self.cluster.nodes.get_mut(&id).expect("known").flags |= flags::PFAIL;
            self.out.emit(ClusterEvent::PfailMarked { node: id });
            // The canary trusts this node's own timeout alone; Redis waits for reports.
            if self.canary(Canary::FailWithoutQuorum) {
                self.mark_failing_if_needed(id);
            }
        }
    }
}
