//! Cluster bus protocol, receiving side: PING/PONG/MEET gossip, handshake, FAIL and UPDATE
//! messages, and slot ownership following the highest config epoch.
//!
//! The rules follow Redis Cluster 7.0 (see `redis-cluster-reference.md` §6–§7): a MEET makes
//! the receiver add the sender under a random name in `handshake` state until a PONG on its own
//! outbound link reveals the real ID; gossip spreads node knowledge and failure reports; slot
//! ownership follows the highest config epoch. Links and sending live in `links.rs`, the
//! 100 ms cron in `cron.rs`. All of it runs on a `ClusterBus`; the one other part of the node
//! it touches is the keyspace (a lost slot's keys go), which the node passes in, and a winning
//! vote count is handed back to the node because the election step reads replication state.

use crate::bus::{flags, Body, GossipEntry, Header, Message, MessageType};
use crate::canary::Canary;
use crate::cluster::{ClusterBus, ClusterNode};
use crate::db::Db;
use crate::event::{ClusterEvent, EpochReason};
use crate::node::{LinkId, LogLevel};
use crate::node_id::NodeId;
use crate::slot::SlotSet;

impl ClusterBus<'_> {
    // ---- receiving -----------------------------------------------------------------------

    /// One message on `link`. Returns true when a vote just gave this replica a majority:
    /// the node then runs the election step (see [`ClusterBus::on_auth_ack`]).
    #[must_use]
    pub(crate) fn on_message(&mut self, link: LinkId, msg: Message, db: &mut Db) -> bool {
        let Some(l) = self.cluster.links.get(&link) else {
            return false;
        };
        let outbound = l.outbound;
        let kind = msg.header.kind;
        self.cluster.count_received(kind);
        let sender_id = msg.header.sender;
        let sender = self
            .cluster
            .nodes
            .get(&sender_id)
            .filter(|n| !n.in_handshake())
            .map(|n| n.id);
        if let Some(id) = sender {
            self.note_known_sender(link, id, outbound, &msg.header);
            self.note_paused_master_offset(id, &msg.header);
        }
        match kind {
            MessageType::Ping | MessageType::Pong | MessageType::Meet => {
                self.on_ping_pong_meet(link, outbound, sender, &msg, db)
            }
            MessageType::Fail => {
                if let (Some(_), Body::Fail(failing)) = (sender, &msg.body) {
                    self.failure().on_fail_message(*failing);
                }
            }
            MessageType::Update => {
                if let (
                    Some(_),
                    Body::Update {
                        config_epoch,
                        id,
                        slots,
                    },
                ) = (sender, &msg.body)
                {
                    self.on_update_message(*id, *config_epoch, slots, db);
                }
            }
            MessageType::AuthRequest => {
                if let Some(id) = sender {
                    self.on_auth_request(id, &msg.header);
                }
            }
            MessageType::AuthAck => {
                if let Some(id) = sender {
                    return self.on_auth_ack(id, &msg.header);
                }
            }
            MessageType::MfStart => {
                if let Some(id) = sender {
                    self.on_mfstart(id);
                }
            }
            _ => {}
        }
        false
    }

    /// Bookkeeping for any message from a node we know: liveness, inbound link, epochs.
    pub(crate) fn note_known_sender(
        &mut self,
        link: LinkId,
        id: NodeId,
        outbound: bool,
        h: &Header,
    ) {
        let now = self.now.mono_ms;
        if !outbound {
            let l = self
                .cluster
                .links
                .get_mut(&link)
                .expect("checked by caller");
            if l.node.is_none() {
                l.node = Some(id);
                let old = self.cluster.nodes[&id].inbound_link;
                self.cluster.nodes.get_mut(&id).expect("known").inbound_link = Some(link);
                if let Some(old) = old.filter(|&o| o != link) {
                    self.close_link(old);
                }
            }
        }
        // Epochs only move forward, whatever the message type.
        if h.current_epoch > self.cluster.current_epoch {
            self.cluster.raise_current_epoch(
                h.current_epoch,
                EpochReason::LearnedFromPeer,
                self.out,
            );
            self.cluster.request_save(true);
        }
        let node = self.cluster.nodes.get_mut(&id).expect("known");
        node.data_received_ms = now;
        node.repl_offset = h.repl_offset;
        if h.config_epoch > node.config_epoch && h.slaveof.is_none() {
            node.config_epoch = h.config_epoch;
            self.out.emit(ClusterEvent::PeerConfigEpochChanged {
                node: id,
                epoch: h.config_epoch,
            });
            self.cluster.request_save(true);
        }
    }

    pub(crate) fn on_ping_pong_meet(
        &mut self,
        link: LinkId,
        outbound: bool,
        sender: Option<NodeId>,
        msg: &Message,
        db: &mut Db,
    ) {
        let h = &msg.header;
        if matches!(h.kind, MessageType::Ping | MessageType::Meet) {
            self.learn_my_ip(link, h.kind);
            if sender.is_none() && h.kind == MessageType::Meet {
                self.add_node_from_meet(link, h);
            }
            self.send_ping(link, MessageType::Pong);
        }
        if outbound && !self.check_outbound_identity(link, h) {
            return;
        }
        // A completed handshake has just given the sender its real name.
        let sender = sender.or_else(|| {
            let known = self.cluster.nodes.get(&h.sender);
            known.filter(|n| !n.in_handshake()).map(|n| n.id)
        });
        let Some(sender) = sender else { return };
        if outbound && h.kind == MessageType::Pong {
            self.on_pong_from(sender);
        }
        // The sender's own word on `nofailover` is the latest: CONFIG SET may change it, and
        // election ranks must count only the replicas that really compete.
        let node = self.cluster.nodes.get_mut(&sender).expect("known");
        node.flags = (node.flags & !flags::NOFAILOVER) | (h.flags & flags::NOFAILOVER);
        self.update_role(sender, h);
        self.maybe_update_slots(sender, h, db);
        if !self.canary(Canary::EpochCollisionIgnored) {
            self.cluster
                .handle_epoch_collision(sender, h.config_epoch, self.out);
        }
        if let Body::Gossip(entries) = &msg.body {
            self.process_gossip(sender, entries);
        }
        self.note_peer_hostname(sender, &h.hostname);
    }

    /// Without an announced IP (`cluster-announce-ip`) a node learns its own address from the
    /// peers that talk to it.
    pub(crate) fn learn_my_ip(&mut self, link: LinkId, kind: MessageType) {
        if !self.config.announce.ip.is_empty() {
            return;
        }
        let local_ip = &self.cluster.links[&link].local_ip;
        let me = self.cluster.me();
        if local_ip.is_empty() || (kind != MessageType::Meet && !me.ip.is_empty()) {
            return;
        }
        if me.ip != *local_ip {
            let ip = local_ip.clone();
            self.out.log(
                LogLevel::Notice,
                format!("IP address for this node updated to {ip}"),
            );
            self.cluster.me_mut().ip = ip;
            self.cluster.request_save(false);
        }
    }

    /// A MEET from a stranger: remember it under a random name until our own link to it
    /// completes the handshake.
    pub(crate) fn add_node_from_meet(&mut self, link: LinkId, h: &Header) {
        let ip = if h.myip.is_empty() {
            self.cluster.links[&link].peer_ip.clone()
        } else {
            h.myip.clone()
        };
        let id = NodeId::random(self.rng);
        let mut node = ClusterNode::new(id, flags::HANDSHAKE, self.now);
        node.ip = ip;
        node.port = h.port;
        node.cport = h.cport;
        self.cluster.nodes.insert(id, node);
        self.cluster.request_save(false);
    }

    /// On our outbound link the peer must be who we think it is. Completes handshakes.
    /// Returns false when processing must stop.
    pub(crate) fn check_outbound_identity(&mut self, link: LinkId, h: &Header) -> bool {
        let Some(target) = self.cluster.links[&link].node else {
            return false;
        };
        let Some(node) = self.cluster.nodes.get(&target) else {
            return false;
        };
        if node.in_handshake() {
            if self.cluster.nodes.contains_key(&h.sender) {
                // We already know this node under its real name: keep that one.
                let (ip, port, cport) = (node.ip.clone(), h.port, h.cport);
                self.delete_node(target);
                self.update_address(h.sender, ip, port, cport);
                return false;
            }
            self.rename_handshake_node(target, h);
            return true;
        }
        if target != h.sender {
            self.out.log(
                LogLevel::Notice,
                format!(
                    "PONG contains mismatching sender ID. About node {target}: flagging noaddr"
                ),
            );
            let node = self.cluster.nodes.get_mut(&target).expect("known");
            node.flags |= flags::NOADDR;
            node.ip.clear();
            node.port = 0;
            node.cport = 0;
            self.close_link(link);
            self.cluster.request_save(false);
            return false;
        }
        true
    }

    pub(crate) fn rename_handshake_node(&mut self, old: NodeId, h: &Header) {
        let mut node = self.cluster.nodes.remove(&old).expect("known");
        node.id = h.sender;
        node.flags &= !flags::HANDSHAKE;
        node.flags |= h.flags & (flags::MASTER | flags::SLAVE);
        for l in self.cluster.links.values_mut() {
            if l.node == Some(old) {
                l.node = Some(h.sender);
            }
        }
        self.cluster.nodes.insert(h.sender, node);
        self.out.log(
            LogLevel::Verbose,
            format!("Handshake with node {old} completed, it is {}", h.sender),
        );
        self.cluster.request_save(false);
    }

    pub(crate) fn update_address(&mut self, id: NodeId, ip: String, port: u16, cport: u16) {
        let Some(node) = self.cluster.nodes.get_mut(&id) else {
            return;
        };
        if node.ip == ip && node.port == port && node.cport == cport {
            return;
        }
        node.ip = ip;
        node.port = port;
        node.cport = cport;
        node.flags &= !flags::NOADDR;
        if let Some(link) = node.link {
            self.close_link(link);
        }
        self.cluster.request_save(false);
    }

    /// A PONG on our own link proves the peer is alive.
    pub(crate) fn on_pong_from(&mut self, id: NodeId) {
        let now = self.now.mono_ms;
        let node = self.cluster.nodes.get_mut(&id).expect("known sender");
        node.pong_received_ms = now;
        node.ping_sent_ms = 0;
        if node.has(flags::PFAIL) {
            node.flags &= !flags::PFAIL;
            self.out.emit(ClusterEvent::PfailCleared { node: id });
        } else if node.has(flags::FAIL) {
            self.failure().clear_failure_if_needed(id);
        }
    }

    /// Master or replica, as the sender says.
    pub(crate) fn update_role(&mut self, id: NodeId, h: &Header) {
        let node = self.cluster.nodes.get_mut(&id).expect("known sender");
        match h.slaveof {
            None if !node.is_master() => {
                // A promoted replica may be orphaned later, like a master that had replicas.
                let migrate_to = if node.is_replica() {
                    flags::MIGRATE_TO
                } else {
                    0
                };
                node.flags = (node.flags & !flags::SLAVE) | flags::MASTER | migrate_to;
                node.master = None;
                self.cluster.request_save(false);
            }
            Some(master) if node.master != Some(master) || node.is_master() => {
                node.flags = (node.flags & !(flags::MASTER | flags::MIGRATE_TO)) | flags::SLAVE;
                node.master = Some(master);
                if node.config_epoch != 0 {
                    node.config_epoch = 0;
                    self.out.emit(ClusterEvent::PeerConfigEpochChanged {
                        node: node.id,
                        epoch: 0,
                    });
                }
                let slots: Vec<u16> = node.slots.iter().collect();
                self.cluster.assign_slots(&slots, None, self.out);
                self.cluster.request_save(false);
            }
            _ => {}
        }
    }

    /// A master whose claimed slots differ from what we know: adopt what its epoch allows,
    /// and tell it when someone else has a newer claim on its slots.
    pub(crate) fn maybe_update_slots(&mut self, sender: NodeId, h: &Header, db: &mut Db) {
        if h.slaveof.is_some() {
            return;
        }
        // Claimed slots we already attribute to the sender change nothing, so only the others
        // are walked; on a settled cluster there are none and every PING/PONG stops here.
        let others = self.cluster.claimed_from_others(&sender, &h.myslots);
        if others.is_empty() {
            return;
        }
        let refused =
            self.update_slots_config_from(sender, h.config_epoch, &h.myslots, &others, db);
        self.send_update_if_stale(sender, h.config_epoch, &refused);
    }

    /// `refused` are the claimed slots that the claim did not give the sender: the others are
    /// the sender's now, so they cannot have a newer owner.
    pub(crate) fn send_update_if_stale(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        refused: &[u16],
    ) {
        let newer_owner = refused.iter().find_map(|&slot| {
            let owner = self.cluster.slot_owner(slot)?;
            if owner == sender {
                return None;
            }
            let o = &self.cluster.nodes[&owner];
            (o.config_epoch > config_epoch).then_some(owner)
        });
        let (Some(owner), Some(link)) = (newer_owner, self.cluster.nodes[&sender].link) else {
            return;
        };
        let o = &self.cluster.nodes[&owner];
        let body = Body::Update {
            config_epoch: o.config_epoch,
            id: owner,
            slots: o.slots.clone(),
        };
        self.send(link, MessageType::Update, body);
    }

    /// Redis's `clusterUpdateSlotsConfigWith`: `sender` claims `slots` at `config_epoch`.
    pub(crate) fn update_slots_config_with(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        slots: &SlotSet,
        db: &mut Db,
    ) {
        let others = self.cluster.claimed_from_others(&sender, slots);
        self.update_slots_config_from(sender, config_epoch, slots, &others, db);
    }

    /// [`Self::update_slots_config_with`] given the claimed slots not yet attributed to the
    /// sender (ascending), since the ones it already owns need nothing. Returns those of
    /// `others` it did not give to the sender.
    pub(crate) fn update_slots_config_from(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        slots: &SlotSet,
        others: &[u16],
        db: &mut Db,
    ) -> Vec<u16> {
        if sender == self.cluster.myself {
            return others.to_vec();
        }
        let me = self.cluster.me();
        let cur_master = if me.is_master() {
            Some(self.cluster.myself)
        } else {
            me.master
        };
        let mut lost_from_my_master = 0usize;
        let mut dirty: Vec<u16> = Vec::new();
        let mut taken: Vec<u16> = Vec::with_capacity(others.len());
        let mut refused: Vec<u16> = Vec::new();
        // Slot by slot, Redis's rules only look at the slot's owner (and whether the slot is
        // being imported), so they are decided once per run of slots with the same owner.
        for (owner, run) in self.cluster.owner_runs(others) {
            debug_assert_ne!(
                owner,
                Some(sender),
                "slots {run:?} are the sender's already"
            );
            let owner_epoch = owner.map(|o| self.cluster.nodes[&o].config_epoch);
            let stays = owner_epoch.is_some_and(|epoch| epoch >= config_epoch);
            let mine = owner == Some(self.cluster.myself);
            let from_my_master = owner.is_some() && owner == cur_master;
            let run = &others[run];
            debug_assert!(run.iter().all(|&s| slots.contains(s)), "unclaimed slots");
            if stays {
                refused.extend_from_slice(run);
                continue;
            }
            // The common case (no slot imported, none of them mine) needs no per-slot look.
            if !mine && self.cluster.importing.is_empty() {
                taken.extend_from_slice(run);
                if from_my_master {
                    lost_from_my_master += run.len();
                }
                continue;
            }
            for &slot in run {
                if self.cluster.importing.contains_key(&slot) {
                    refused.push(slot);
                    continue;
                }
                if mine && db.count_in_slot(slot) > 0 {
                    dirty.push(slot);
                }
                if from_my_master {
                    lost_from_my_master += 1;
                }
                taken.push(slot);
            }
        }
        // Each decision above depends only on its own slot's owner, so the slots can all
        // change hands afterwards.
        if !taken.is_empty() {
            self.cluster.assign_slots(&taken, Some(sender), self.out);
            self.cluster.request_save(true);
        }
        if lost_from_my_master == 0 && dirty.is_empty() {
            return refused;
        }
        let sender_slots = slots.count();
        let master_now_empty = cur_master
            .and_then(|m| self.cluster.nodes.get(&m))
            .is_some_and(|m| m.slots.is_empty());
        // Without replica migration, only a failover (the sender took exactly my master's
        // slots) makes me follow; a master emptied by resharding stays a master.
        let follow =
            self.config.cluster_allow_replica_migration || sender_slots == lost_from_my_master;
        if lost_from_my_master > 0 && master_now_empty && follow {
            self.out.log(
                LogLevel::Notice,
                format!(
                    "Configuration change detected. Reconfiguring myself as a replica of {sender}"
                ),
            );
            self.cluster.become_replica_of(sender, self.out);
        } else {
            for slot in dirty {
                for key in db.keys_in_slot(slot, usize::MAX) {
                    db.remove(&key);
                }
            }
        }
        refused
    }

    pub(crate) fn process_gossip(&mut self, sender: NodeId, entries: &[GossipEntry]) {
        let sender_is_master = self.cluster.nodes[&sender].is_master();
        for g in entries {
            if self.cluster.nodes.contains_key(&g.id) {
                if sender_is_master && g.id != self.cluster.myself {
                    self.note_failure_report(g, sender);
                }
                self.refresh_pong_from_gossip(g);
                self.fix_address_from_gossip(g);
            } else if g.flags & flags::NOADDR == 0 && !self.cluster.blacklist.contains_key(&g.id) {
                self.add_node_from_gossip(g);
            }
        }
    }

    pub(crate) fn note_failure_report(&mut self, g: &GossipEntry, reporter: NodeId) {
        let failing = g.flags & (flags::PFAIL | flags::FAIL) != 0;
        if self.failure().note_failure_report(g.id, reporter, failing) {
            self.mark_failing_if_needed(g.id);
        }
    }

    /// Gossip may tell us a peer answered someone else recently; only trusted while we have
    /// no doubts about that peer ourselves.
    pub(crate) fn refresh_pong_from_gossip(&mut self, g: &GossipEntry) {
        if g.flags & (flags::PFAIL | flags::FAIL) != 0 {
            return;
        }
        let offset = super::render::clock_offset_ms(self.now);
        let now = self.now.mono_ms;
        let node = self.cluster.nodes.get_mut(&g.id).expect("known");
        if node.ping_sent_ms != 0 || !node.fail_reports.is_empty() {
            return;
        }
        let pong_mono = (g.pong_received_s as i64 * 1000 - offset).max(0) as u64;
        if pong_mono <= now + 500 && pong_mono > node.pong_received_ms {
            node.pong_received_ms = pong_mono;
        }
    }

    pub(crate) fn fix_address_from_gossip(&mut self, g: &GossipEntry) {
        let node = &self.cluster.nodes[&g.id];
        let stale = node.has(flags::FAIL | flags::NOADDR) && node.link.is_none();
        let differs = node.ip != g.ip || node.port != g.port || node.cport != g.cport;
        if stale && differs && g.flags & flags::NOADDR == 0 && !g.ip.is_empty() {
            self.update_address(g.id, g.ip.clone(), g.port, g.cport);
        }
    }

    pub(crate) fn add_node_from_gossip(&mut self, g: &GossipEntry) {
        if g.ip.is_empty() {
            return;
        }
        let role = g.flags & (flags::MASTER | flags::SLAVE | flags::NOFAILOVER);
        let mut node = ClusterNode::new(g.id, role, self.now);
        node.ip = g.ip.clone();
        node.port = g.port;
        node.cport = g.cport;
        self.cluster.nodes.insert(g.id, node);
        self.cluster.request_save(false);
    }

    pub(crate) fn on_update_message(
        &mut self,
        id: NodeId,
        config_epoch: u64,
        slots: &SlotSet,
        db: &mut Db,
    ) {
        if self.canary(Canary::UpdateIgnored) {
            return;
        }
        let Some(node) = self.cluster.nodes.get_mut(&id) else {
            return;
        };
        if node.config_epoch >= config_epoch {
            return;
        }
        if node.is_replica() {
            node.flags = (node.flags & !flags::SLAVE) | flags::MASTER;
            node.master = None;
        }
        node.config_epoch = config_epoch;
        self.out.emit(ClusterEvent::PeerConfigEpochChanged {
            node: id,
            epoch: config_epoch,
        });
        self.update_slots_config_with(id, config_epoch, slots, db);
        self.cluster.request_save(true);
    }
}
