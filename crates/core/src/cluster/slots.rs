//! Slot ownership and membership changes the `CLUSTER` commands ask for (ADDSLOTS, DELSLOTS,
//! FLUSHSLOTS, SETSLOT, MEET, FORGET, RESET), as operations on [`Cluster`].
//!
//! The handlers in `cmd/cluster.rs` parse and validate their arguments and choose the reply;
//! the state they change is changed here, through [`Cluster::assign_slot`] so the owner table,
//! the nodes' slot sets and the reported `SlotsAssigned` events never disagree, and with the
//! `nodes.conf` save each change needs.

use super::{Cluster, ClusterNode, Link};
use crate::bus::flags;
use crate::config::Config;
use crate::effect::Time;
use crate::event::ClusterEvent;
use crate::node_id::NodeId;
use crate::outbox::Outbox;
use crate::slot::SLOT_COUNT;

impl Cluster {
    pub fn knows(&self, id: &NodeId) -> bool {
        self.nodes.contains_key(id)
    }

    /// `id` is a known master.
    pub fn is_known_master(&self, id: &NodeId) -> bool {
        self.nodes.get(id).is_some_and(ClusterNode::is_master)
    }

    /// `id` is a known replica.
    pub fn is_known_replica(&self, id: &NodeId) -> bool {
        self.nodes.get(id).is_some_and(ClusterNode::is_replica)
    }

    /// Myself serves `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.slot_owner(slot) == Some(self.myself)
    }

    /// ADDSLOTS (`add`) or DELSLOTS of slots already checked: an import of any of them ends,
    /// and a deleted slot stops migrating.
    pub(crate) fn change_my_slots(&mut self, slots: &[u16], add: bool, out: &mut Outbox) {
        let owner = add.then_some(self.myself);
        for &slot in slots {
            self.set_import(slot, None, out);
            if !add {
                self.migrating.remove(&slot);
            }
            self.assign_slot(slot, owner, out);
        }
        self.request_save(false);
    }

    /// FLUSHSLOTS: myself serves nothing any more.
    pub(crate) fn flush_my_slots(&mut self, out: &mut Outbox) {
        let mine: Vec<u16> = self.me().slots.iter().collect();
        for slot in mine {
            self.assign_slot(slot, None, out);
        }
        self.request_save(false);
    }

    /// SETSLOT MIGRATING: keys of my `slot` that are gone are asked for at `target`.
    pub(crate) fn set_migrating(&mut self, slot: u16, target: NodeId) {
        self.migrating.insert(slot, target);
        self.request_save(false);
    }

    /// SETSLOT IMPORTING: `slot` may be written here by clients that sent ASKING.
    pub(crate) fn set_importing(&mut self, slot: u16, source: NodeId, out: &mut Outbox) {
        self.set_import(slot, Some(source), out);
        self.request_save(false);
    }

    /// SETSLOT STABLE: neither migrating nor importing.
    pub(crate) fn set_stable(&mut self, slot: u16, out: &mut Outbox) {
        self.migrating.remove(&slot);
        self.set_import(slot, None, out);
        self.request_save(false);
    }

    /// The one place the import table changes, so every change is reported.
    pub(crate) fn set_import(&mut self, slot: u16, from: Option<NodeId>, out: &mut Outbox) {
        let before = match from {
            Some(source) => self.importing.insert(slot, source),
            None => self.importing.remove(&slot),
        };
        if before != from {
            out.emit(ClusterEvent::ImportChanged { slot, from });
        }
    }

    /// Ends every import whose source `ends` picks.
    pub(crate) fn end_imports(&mut self, ends: impl Fn(&NodeId) -> bool, out: &mut Outbox) {
        let ended: Vec<u16> = self
            .importing
            .iter()
            .filter(|(_, source)| ends(source))
            .map(|(&slot, _)| slot)
            .collect();
        for slot in ended {
            self.set_import(slot, None, out);
        }
    }

    /// Ends a migration of `slot` without saving (SETSLOT NODE saves once at its end).
    pub(crate) fn close_migrating(&mut self, slot: u16) {
        self.migrating.remove(&slot);
    }

    /// Ends an import of `slot` without saving (SETSLOT NODE saves once at its end).
    pub(crate) fn close_importing(&mut self, slot: u16, out: &mut Outbox) {
        self.set_import(slot, None, out);
    }

    /// A MEET to this address is already under way.
    pub(crate) fn handshake_in_progress(&self, ip: &str, port: u16, cport: u16) -> bool {
        self.nodes
            .values()
            .any(|n| n.in_handshake() && n.ip == ip && n.port == port && n.cport == cport)
    }

    /// MEET: a node known only by its address until it answers with its real ID.
    pub(crate) fn add_handshake_node(
        &mut self,
        id: NodeId,
        ip: String,
        port: u16,
        cport: u16,
        now: Time,
    ) {
        let mut n = ClusterNode::new(id, flags::HANDSHAKE | flags::MEET, now);
        n.ip = ip;
        n.port = port;
        n.cport = cport;
        self.nodes.insert(id, n);
    }

    /// FORGET: gossip must not bring `id` back before `until_ms` (monotonic).
    pub(crate) fn ban(&mut self, id: NodeId, until_ms: u64) {
        self.blacklist.insert(id, until_ms);
    }

    /// Every known node but myself.
    pub(crate) fn others(&self) -> Vec<NodeId> {
        let myself = self.myself;
        self.nodes
            .keys()
            .copied()
            .filter(|id| *id != myself)
            .collect()
    }

    /// RESET of a replica: myself becomes a master of nothing.
    pub(crate) fn stop_replicating(&mut self) {
        let me = self.me_mut();
        me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
        me.master = None;
    }

    /// RESET: no slot is served, migrated or imported any more.
    pub(crate) fn unassign_all_slots(&mut self, out: &mut Outbox) {
        self.migrating.clear();
        self.end_imports(|_| true, out);
        for slot in 0..SLOT_COUNT as u16 {
            if self.slot_owner(slot).is_some() {
                self.assign_slot(slot, None, out);
            }
        }
    }

    /// RESET HARD: a new identity with every epoch at zero. The only place epochs go back, on
    /// purpose: this node starts a new life (see `epochs.rs`).
    pub(crate) fn hard_reset_identity(&mut self, new_id: NodeId) {
        self.current_epoch = 0;
        self.last_vote_epoch = 0;
        let mut me = self.nodes.remove(&self.myself).expect("myself");
        me.config_epoch = 0;
        me.id = new_id;
        self.nodes.insert(new_id, me);
        self.myself = new_id;
    }

    /// How many nodes this node knows, itself included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The known replicas of `master`, in ID order.
    pub fn replicas_of(&self, master: NodeId) -> impl Iterator<Item = &ClusterNode> {
        self.nodes
            .values()
            .filter(move |n| n.is_replica() && n.master == Some(master))
    }

    /// Bus links in the order they were made.
    pub fn links_in_order(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// CONFIG SET: the settings the cluster keeps its own copy of.
    pub(crate) fn apply_config(&mut self, config: &Config) {
        self.node_timeout_ms = config.cluster_node_timeout_ms;
        self.require_full_coverage = config.cluster_require_full_coverage;
        self.preferred_endpoint = config.announce.preferred_endpoint;
        self.link_buffers
            .set_limit(config.announce.link_sendbuf_limit_bytes);
        if super::endpoints::announce_myself(self.me_mut(), config) {
            self.request_save(false);
        }
        let nofailover = if config.cluster_replica_no_failover {
            flags::NOFAILOVER
        } else {
            0
        };
        let me = self.me_mut();
        if me.flags & flags::NOFAILOVER != nofailover {
            me.flags = (me.flags & !flags::NOFAILOVER) | nofailover;
            self.request_save(false);
        }
    }
}
