//! Cluster bus protocol: links, handshake, PING/PONG/MEET gossip, FAIL and UPDATE messages,
//! and the 100 ms cron that pings peers and detects timeouts.
//!
//! The rules follow Redis Cluster 7.0 (see `redis-cluster-reference.md` §6–§7): every peer gets
//! an outbound link opened from the cron; a MEET makes the receiver add the sender under a random
//! name in `handshake` state until a PONG on its own outbound link reveals the real ID; gossip
//! spreads node knowledge and failure reports; slot ownership follows the highest config epoch.

use rand::Rng;

use crate::bus::{flags, Body, GossipEntry, Header, Message, MessageType};
use crate::canary::Canary;
use crate::cluster::{ClusterNode, Link};
use crate::event::{ClusterEvent, EpochReason, FailSource};
use crate::node::{Effect, LinkId, LogLevel, Node};
use crate::node_id::NodeId;
use crate::slot::SlotSet;

impl Node {
    // ---- links ---------------------------------------------------------------------------

    pub(crate) fn cluster_link_accepted(&mut self, peer_ip: String, local_ip: String) -> LinkId {
        let created_ms = self.now.mono_ms;
        self.cluster.new_link(Link {
            node: None,
            outbound: false,
            connected: true,
            created_ms,
            peer_ip,
            local_ip,
        })
    }

    pub(crate) fn cluster_link_connected(&mut self, link: LinkId) {
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

    pub(crate) fn cluster_link_closed(&mut self, link: LinkId) {
        let Some(l) = self.cluster.links.remove(&link) else {
            return;
        };
        let now = self.now.mono_ms;
        let Some(node) = l.node.and_then(|id| self.cluster.nodes.get_mut(&id)) else {
            return;
        };
        if node.link == Some(link) {
            node.link = None;
            // A peer we cannot reach is treated like one that does not answer our ping.
            if !l.connected && node.ping_sent_ms == 0 {
                node.ping_sent_ms = now;
            }
        }
        if node.inbound_link == Some(link) {
            node.inbound_link = None;
        }
    }

    /// Closes a link ourselves: the driver is told, and the link is forgotten at once.
    fn close_link(&mut self, link: LinkId) {
        if self.cluster.links.contains_key(&link) {
            self.out.push(Effect::CloseLink { link });
            self.cluster_link_closed(link);
        }
    }

    fn connect_to(&mut self, id: NodeId) {
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
            peer_ip: ip.clone(),
            local_ip: String::new(),
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
        self.cluster.assign_slots(&owned, None, &mut self.out);
        self.cluster.importing.retain(|_, n| *n != id);
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

    /// The header every message carries; a replica advertises its master's slots and epoch.
    pub(crate) fn header(&self, kind: MessageType) -> Header {
        let me = self.cluster.me();
        let master = me.master.and_then(|m| self.cluster.nodes.get(&m));
        let (config_epoch, myslots) = match (me.is_replica(), master) {
            (true, Some(m)) => (m.config_epoch, m.slots.clone()),
            _ => (me.config_epoch, me.slots.clone()),
        };
        Header {
            kind,
            port: self.config.port,
            cport: self.config.bus_port(),
            current_epoch: self.cluster.current_epoch,
            config_epoch,
            repl_offset: me.repl_offset,
            sender: self.cluster.myself,
            myslots,
            slaveof: if me.is_replica() { me.master } else { None },
            myip: String::new(),
            flags: me.flags,
            state_fail: !self.cluster.state_ok,
            mflags: self.manual_failover_mflags(),
        }
    }

    pub(crate) fn send(&mut self, link: LinkId, kind: MessageType, body: Body) {
        self.send_with_mflags(link, kind, body, 0);
    }

    fn send_with_mflags(&mut self, link: LinkId, kind: MessageType, body: Body, mflags: u8) {
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

    /// A few random healthy nodes (a tenth of the cluster, at least 3) plus every PFAIL node,
    /// so failure reports reach the quorum quickly.
    fn gossip_entries(&mut self) -> Vec<GossipEntry> {
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
        chosen.extend(pfail.map(|n| n.id));
        chosen
            .iter()
            .map(|id| self.gossip_entry(&self.cluster.nodes[id]))
            .collect()
    }

    fn gossip_entry(&self, n: &ClusterNode) -> GossipEntry {
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
        if mono_ms == 0 {
            return 0;
        }
        (mono_ms as i64 + self.clock_offset_ms()).max(0) as u64
    }

    fn clock_offset_ms(&self) -> i64 {
        self.now.unix_ms as i64 - self.now.mono_ms as i64
    }

    // ---- receiving -----------------------------------------------------------------------

    pub(crate) fn cluster_message(&mut self, link: LinkId, msg: Message) {
        let Some(l) = self.cluster.links.get(&link) else {
            return;
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
                self.on_ping_pong_meet(link, outbound, sender, &msg)
            }
            MessageType::Fail => {
                if let (Some(_), Body::Fail(failing)) = (sender, &msg.body) {
                    self.on_fail_message(*failing);
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
                    self.on_update_message(*id, *config_epoch, slots);
                }
            }
            MessageType::AuthRequest => {
                if let Some(id) = sender {
                    self.on_auth_request(id, &msg.header);
                }
            }
            MessageType::AuthAck => {
                if let Some(id) = sender {
                    self.on_auth_ack(id, &msg.header);
                }
            }
            MessageType::MfStart => {
                if let Some(id) = sender {
                    self.on_mfstart(id);
                }
            }
            _ => {}
        }
    }

    /// Bookkeeping for any message from a node we know: liveness, inbound link, epochs.
    fn note_known_sender(&mut self, link: LinkId, id: NodeId, outbound: bool, h: &Header) {
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
                &mut self.out,
            );
            self.cluster.request_save(true);
        }
        let node = self.cluster.nodes.get_mut(&id).expect("known");
        node.data_received_ms = now;
        node.repl_offset = h.repl_offset;
        if h.config_epoch > node.config_epoch && h.slaveof.is_none() {
            node.config_epoch = h.config_epoch;
            self.cluster.request_save(true);
        }
    }

    fn on_ping_pong_meet(
        &mut self,
        link: LinkId,
        outbound: bool,
        sender: Option<NodeId>,
        msg: &Message,
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
        self.update_role(sender, h);
        self.maybe_update_slots(sender, h);
        if !self.canary(Canary::EpochCollisionIgnored) {
            self.cluster
                .handle_epoch_collision(sender, h.config_epoch, &mut self.out);
        }
        if let Body::Gossip(entries) = &msg.body {
            self.process_gossip(sender, entries);
        }
    }

    /// Without an announced IP a node learns its own address from the peers that talk to it.
    fn learn_my_ip(&mut self, link: LinkId, kind: MessageType) {
        let local_ip = &self.cluster.links[&link].local_ip;
        let me = self.cluster.me();
        if local_ip.is_empty() || (kind != MessageType::Meet && !me.ip.is_empty()) {
            return;
        }
        if me.ip != *local_ip {
            let ip = local_ip.clone();
            self.log(
                LogLevel::Notice,
                format!("IP address for this node updated to {ip}"),
            );
            self.cluster.me_mut().ip = ip;
            self.cluster.request_save(false);
        }
    }

    /// A MEET from a stranger: remember it under a random name until our own link to it
    /// completes the handshake.
    fn add_node_from_meet(&mut self, link: LinkId, h: &Header) {
        let ip = if h.myip.is_empty() {
            self.cluster.links[&link].peer_ip.clone()
        } else {
            h.myip.clone()
        };
        let id = NodeId::random(&mut self.rng);
        let mut node = ClusterNode::new(id, flags::HANDSHAKE, self.now);
        node.ip = ip;
        node.port = h.port;
        node.cport = h.cport;
        self.cluster.nodes.insert(id, node);
        self.cluster.request_save(false);
    }

    /// On our outbound link the peer must be who we think it is. Completes handshakes.
    /// Returns false when processing must stop.
    fn check_outbound_identity(&mut self, link: LinkId, h: &Header) -> bool {
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
            self.log(
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

    fn rename_handshake_node(&mut self, old: NodeId, h: &Header) {
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
        self.log(
            LogLevel::Verbose,
            format!("Handshake with node {old} completed, it is {}", h.sender),
        );
        self.cluster.request_save(false);
    }

    fn update_address(&mut self, id: NodeId, ip: String, port: u16, cport: u16) {
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
    fn on_pong_from(&mut self, id: NodeId) {
        let now = self.now.mono_ms;
        let node = self.cluster.nodes.get_mut(&id).expect("known sender");
        node.pong_received_ms = now;
        node.ping_sent_ms = 0;
        if node.has(flags::PFAIL) {
            node.flags &= !flags::PFAIL;
            self.emit(ClusterEvent::PfailCleared { node: id });
        } else if node.has(flags::FAIL) {
            self.failure().clear_failure_if_needed(id);
        }
    }

    /// Master or replica, as the sender says.
    fn update_role(&mut self, id: NodeId, h: &Header) {
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
                node.config_epoch = 0;
                let slots: Vec<u16> = node.slots.iter().collect();
                self.cluster.assign_slots(&slots, None, &mut self.out);
                self.cluster.request_save(false);
            }
            _ => {}
        }
    }

    /// A master whose claimed slots differ from what we know: adopt what its epoch allows,
    /// and tell it when someone else has a newer claim on its slots.
    fn maybe_update_slots(&mut self, sender: NodeId, h: &Header) {
        if h.slaveof.is_some() {
            return;
        }
        // Claimed slots we already attribute to the sender change nothing, so only the others
        // are walked; on a settled cluster there are none and every PING/PONG stops here.
        let others = self.cluster.claimed_from_others(&sender, &h.myslots);
        if others.is_empty() {
            return;
        }
        let refused = self.update_slots_config_from(sender, h.config_epoch, &h.myslots, &others);
        self.send_update_if_stale(sender, h.config_epoch, &refused);
    }

    /// `refused` are the claimed slots that the claim did not give the sender: the others are
    /// the sender's now, so they cannot have a newer owner.
    fn send_update_if_stale(&mut self, sender: NodeId, config_epoch: u64, refused: &[u16]) {
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
    ) {
        let others = self.cluster.claimed_from_others(&sender, slots);
        self.update_slots_config_from(sender, config_epoch, slots, &others);
    }

    /// [`Self::update_slots_config_with`] given the claimed slots not yet attributed to the
    /// sender (ascending), since the ones it already owns need nothing. Returns those of
    /// `others` it did not give to the sender.
    fn update_slots_config_from(
        &mut self,
        sender: NodeId,
        config_epoch: u64,
        slots: &SlotSet,
        others: &[u16],
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
                if mine && self.db.count_in_slot(slot) > 0 {
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
            self.cluster
                .assign_slots(&taken, Some(sender), &mut self.out);
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
            self.log(
                LogLevel::Notice,
                format!(
                    "Configuration change detected. Reconfiguring myself as a replica of {sender}"
                ),
            );
            self.cluster.become_replica_of(sender, &mut self.out);
        } else {
            for slot in dirty {
                for key in self.db.keys_in_slot(slot, usize::MAX) {
                    self.db.remove(&key);
                }
            }
        }
        refused
    }

    fn process_gossip(&mut self, sender: NodeId, entries: &[GossipEntry]) {
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

    fn note_failure_report(&mut self, g: &GossipEntry, reporter: NodeId) {
        let now = self.now.mono_ms;
        let node = self.cluster.nodes.get_mut(&g.id).expect("known");
        if g.flags & (flags::PFAIL | flags::FAIL) != 0 {
            let is_new = node.fail_reports.insert(reporter, now).is_none();
            if is_new {
                self.log(
                    LogLevel::Verbose,
                    format!("Node {reporter} reported node {} as not reachable.", g.id),
                );
            }
            self.mark_failing_if_needed(g.id);
        } else if node.fail_reports.remove(&reporter).is_some() {
            self.log(
                LogLevel::Verbose,
                format!("Node {reporter} reported node {} is back online.", g.id),
            );
        }
    }

    /// Gossip may tell us a peer answered someone else recently; only trusted while we have
    /// no doubts about that peer ourselves.
    fn refresh_pong_from_gossip(&mut self, g: &GossipEntry) {
        if g.flags & (flags::PFAIL | flags::FAIL) != 0 {
            return;
        }
        let offset = self.clock_offset_ms();
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

    fn fix_address_from_gossip(&mut self, g: &GossipEntry) {
        let node = &self.cluster.nodes[&g.id];
        let stale = node.has(flags::FAIL | flags::NOADDR) && node.link.is_none();
        let differs = node.ip != g.ip || node.port != g.port || node.cport != g.cport;
        if stale && differs && g.flags & flags::NOADDR == 0 && !g.ip.is_empty() {
            self.update_address(g.id, g.ip.clone(), g.port, g.cport);
        }
    }

    fn add_node_from_gossip(&mut self, g: &GossipEntry) {
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

    fn on_fail_message(&mut self, failing: NodeId) {
        let now = self.now.mono_ms;
        let Some(node) = self.cluster.nodes.get_mut(&failing) else {
            return;
        };
        if node.has(flags::FAIL | flags::MYSELF) {
            return;
        }
        node.flags = (node.flags & !flags::PFAIL) | flags::FAIL;
        node.fail_time_ms = now;
        self.log(
            LogLevel::Notice,
            format!("FAIL message received about {failing}"),
        );
        self.emit(ClusterEvent::FailMarked {
            node: failing,
            source: FailSource::Message,
        });
        self.cluster.request_save(false);
    }

    fn on_update_message(&mut self, id: NodeId, config_epoch: u64, slots: &SlotSet) {
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
        self.update_slots_config_with(id, config_epoch, slots);
        self.cluster.request_save(true);
    }

    // ---- cron ----------------------------------------------------------------------------

    pub(crate) fn cluster_cron(&mut self) {
        if !self.config.cluster_enabled {
            return;
        }
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
        self.manual_failover_cron();
        if self.cluster.me().is_replica() {
            self.handle_replica_failover();
            self.handle_replica_migration();
        }
        self.failure().update_cluster_state();
    }

    fn connect_and_expire_handshakes(&mut self) {
        let now = self.now.mono_ms;
        let handshake_timeout_ms = self.cluster.node_timeout_ms.max(1000);
        // Decided for every node first (usually nothing is to be done, so nothing is
        // allocated): deleting or connecting one node changes nothing the others' decisions
        // read, so doing them afterwards, in the same order, is the same.
        let mut actions: Vec<(NodeId, bool)> = Vec::new();
        for n in self.cluster.nodes.values() {
            if n.has(flags::MYSELF | flags::NOADDR) {
                continue;
            }
            if n.in_handshake() && now.saturating_sub(n.created_ms) > handshake_timeout_ms {
                actions.push((n.id, true));
            } else if n.link.is_none() {
                actions.push((n.id, false));
            }
        }
        for (id, expired) in actions {
            if expired {
                self.log(
                    LogLevel::Verbose,
                    format!("Handshake with node {id} timed out, removing it."),
                );
                self.delete_node(id);
            } else {
                self.connect_to(id);
            }
        }
    }

    /// Once a second, ping the node we heard from least recently among five random ones.
    fn ping_oldest_of_random_sample(&mut self) {
        let candidates: Vec<NodeId> = self
            .cluster
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF | flags::HANDSHAKE) && n.ping_sent_ms == 0)
            .filter(|n| self.link_connected(n.link))
            .map(|n| n.id)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let mut best: Option<NodeId> = None;
        for _ in 0..5 {
            let id = candidates[self.rng.gen_range(0..candidates.len())];
            let pong = self.cluster.nodes[&id].pong_received_ms;
            if best.is_none_or(|b| pong < self.cluster.nodes[&b].pong_received_ms) {
                best = Some(id);
            }
        }
        let link = best.and_then(|id| self.cluster.nodes[&id].link);
        if let Some(link) = link {
            self.send_ping(link, MessageType::Ping);
        }
    }

    fn link_connected(&self, link: Option<LinkId>) -> bool {
        link.and_then(|l| self.cluster.links.get(&l))
            .is_some_and(|l| l.connected)
    }

    /// Per-peer cron work: drop a stalled link, keep pings flowing, flag PFAIL on timeout.
    fn check_peer(&mut self, id: NodeId) {
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
        if self.link_connected(n.link)
            && n.ping_sent_ms == 0
            && now.saturating_sub(n.pong_received_ms) > timeout_ms / 2
        {
            let link = n.link.expect("connected");
            self.send_ping(link, MessageType::Ping);
            return;
        }
        if n.ping_sent_ms == 0 || n.is_failing() {
            return;
        }
        let ping_delay_ms = now.saturating_sub(n.ping_sent_ms);
        let data_delay_ms = now.saturating_sub(n.data_received_ms);
        if ping_delay_ms.min(data_delay_ms) > timeout_ms {
            self.log(LogLevel::Debug, format!("*** NODE {id} possibly failing"));
            self.cluster.nodes.get_mut(&id).expect("known").flags |= flags::PFAIL;
            self.emit(ClusterEvent::PfailMarked { node: id });
            // The canary trusts this node's own timeout alone; Redis waits for reports.
            if self.canary(Canary::FailWithoutQuorum) {
                self.mark_failing_if_needed(id);
            }
        }
    }
}
