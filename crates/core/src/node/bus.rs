//! The node's cluster-bus entry points and the thin dispatch onto [`ClusterBus`].
//!
//! The protocol rules live in `cluster/` and run on a `ClusterBus` (or a `FailureDetector`)
//! that borrows only the cluster, the outbox, the rng, the config and the time; the node's part
//! is to build that borrow, to run the steps in Redis's order, and to do what follows each
//! input (saving `nodes.conf`, replication's before-reply work).

use super::{LinkId, Node, Time};
use crate::bus::{Body, Message, MessageType};
use crate::cluster::ClusterBus;
use crate::db::Db;
use crate::node_id::NodeId;
use crate::replication::Replication;

impl Node {
    /// The cluster-bus protocol's share of the node (see [`crate::cluster::ClusterBus`]).
    pub(crate) fn bus(&mut self) -> ClusterBus<'_> {
        self.bus_parts().0
    }

    /// [`Node::bus`] and, beside it, what some protocol steps need of the rest of the node:
    /// the keyspace, which slot changes learned from a peer may empty (`cluster/gossip.rs`),
    /// and replication, whose data age decides whether a replica may win an election
    /// (`cluster/failover.rs`).
    fn bus_parts(&mut self) -> (ClusterBus<'_>, &mut Db, &Replication) {
        let bus = ClusterBus {
            cluster: &mut self.cluster,
            out: &mut self.out,
            rng: &mut self.rng,
            config: &self.config,
            now: self.now,
        };
        (bus, &mut self.db, &self.repl)
    }

    /// Sends to every node we have a connected outbound link with (not handshake nodes).
    pub(crate) fn broadcast(&mut self, kind: MessageType, body: Body) {
        self.bus().broadcast(kind, body);
    }

    /// The header this node puts on a message of `kind` now (tests build messages with it).
    #[cfg(test)]
    pub(crate) fn header(&self, kind: MessageType) -> crate::bus::Header {
        self.cluster.header(kind, &self.config)
    }

    /// Removes a node and everything that refers to it (`CLUSTER FORGET`, `RESET`).
    pub(crate) fn delete_node(&mut self, id: NodeId) {
        self.bus().delete_node(id);
    }

    /// The cluster as of now, for rendering (see `cluster/render.rs`).
    pub(crate) fn cluster_view(&self) -> crate::cluster::render::ClusterView<'_> {
        crate::cluster::render::ClusterView {
            cluster: &self.cluster,
            now: self.now,
        }
    }

    /// The cluster's 100 ms cron (see `cluster/cron.rs`).
    pub(crate) fn cluster_cron(&mut self) {
        let (mut bus, _, repl) = self.bus_parts();
        bus.cron(repl);
    }

    /// Work Redis does in `clusterBeforeSleep` (see [`ClusterBus::before_reply`]).
    pub(crate) fn cluster_before_reply(&mut self) {
        self.bus().before_reply();
    }

    /// After every input, the manual failover's checks (see `cluster/failover.rs`).
    pub(crate) fn manual_failover_before_reply(&mut self) {
        let (mut bus, _, repl) = self.bus_parts();
        bus.manual_failover_before_reply(repl);
    }

    /// Whether clients' writes are held back: the master side of a manual failover, or
    /// `CLIENT PAUSE` (either mode).
    pub(crate) fn writes_paused(&self) -> bool {
        self.cluster.writes_paused(self.now.mono_ms) || self.client_pause_now().is_some()
    }

    /// A peer connected to our bus port. `peer_ip` is its address, `local_ip` ours as it saw it.
    pub fn bus_link_accepted(&mut self, now: Time, peer_ip: String, local_ip: String) -> LinkId {
        self.set_time(now);
        self.bus().on_link_accepted(peer_ip, local_ip)
    }

    /// An outbound link asked for with [`Effect::Connect`](crate::effect::Effect::Connect) is up.
    pub fn bus_link_connected(&mut self, now: Time, link: LinkId) {
        self.set_time(now);
        self.bus().on_link_connected(link);
        self.cluster_before_reply();
        self.replication_before_reply();
    }

    /// The driver's report of its links' buffers, each cron tick (see
    /// `cluster/links_buffer.rs`): a link over `cluster-link-sendbuf-limit` is freed.
    pub fn bus_link_buffers(
        &mut self,
        now: Time,
        reports: &[(LinkId, crate::cluster::links_buffer::LinkBufferSizes)],
    ) {
        self.set_time(now);
        self.bus().on_link_buffers(reports);
        self.cluster_before_reply();
    }

    /// A link closed, failed to connect, or broke. Unknown links are ignored.
    pub fn bus_link_closed(&mut self, now: Time, link: LinkId) {
        self.set_time(now);
        self.bus().on_link_closed(link);
        self.cluster_before_reply();
        self.replication_before_reply();
    }

    /// A whole message arrived on a link.
    pub fn bus_message(&mut self, now: Time, link: LinkId, msg: Message) {
        self.set_time(now);
        if self.drop_bus_messages == Some(msg.header.kind) {
            return;
        }
        if self.on_published_message(&msg) {
            return;
        }
        let shard_owners = self.served_shard_slot_owners();
        let (mut bus, db, repl) = self.bus_parts();
        if bus.on_message(link, msg, db) {
            bus.handle_replica_failover(repl);
        }
        self.cluster_before_reply();
        self.replication_before_reply();
        self.drop_shard_channels_of_replaced_owners(&shard_owners);
        self.drop_unserved_shard_channels();
    }
}

/// Protocol steps the cluster tests call directly on a node.
#[cfg(test)]
impl Node {
    /// Redis's `clusterUpdateSlotsConfigWith`: `sender` claims `slots` at `config_epoch`.
    pub(crate) fn update_slots_config_with(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        slots: &crate::slot::SlotSet,
    ) {
        let (mut bus, db, _) = self.bus_parts();
        bus.update_slots_config_with(sender, config_epoch, slots, db);
    }

    /// PFAIL → FAIL once enough masters agree; the FAIL is broadcast so everyone converges.
    pub(crate) fn mark_failing_if_needed(&mut self, id: NodeId) {
        self.bus().mark_failing_if_needed(id);
    }

    pub(crate) fn on_auth_request(&mut self, sender: NodeId, h: &crate::bus::Header) {
        self.bus().on_auth_request(sender, h);
    }

    pub(crate) fn on_mfstart(&mut self, sender: NodeId) {
        self.bus().on_mfstart(sender);
    }

    pub(crate) fn note_paused_master_offset(&mut self, sender: NodeId, h: &crate::bus::Header) {
        self.bus().note_paused_master_offset(sender, h);
    }

    pub(crate) fn handle_replica_failover(&mut self) {
        let (mut bus, _, repl) = self.bus_parts();
        bus.handle_replica_failover(repl);
    }

    pub(crate) fn start_forced_failover(&mut self) {
        self.bus().start_forced_failover();
    }

    pub(crate) fn replace_my_master(&mut self, old_master: NodeId) {
        self.bus().replace_my_master(old_master);
    }
}
