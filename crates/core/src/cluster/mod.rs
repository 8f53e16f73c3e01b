//! Cluster state: the nodes this node knows, slot ownership, epochs and bus links.
//!
//! The protocol rules that change this state live in the sibling modules: `gossip` (bus
//! messages, handshake), `links`, `cron`, `failure` (PFAIL/FAIL, cluster_state), `epochs`,
//! `roles` (promotion, votes), `slots` (what CLUSTER commands change) and `render`
//! (`CLUSTER NODES`/`INFO`/`SLOTS`/`SHARDS` text). Every slot change goes through
//! [`Cluster::assign_slot`] or [`Cluster::assign_slots`] so the owner table and the per-node
//! slot sets never disagree.

use std::collections::BTreeMap;

use crate::bus::{flags, MessageType};
use crate::config::Config;
use crate::effect::{LinkId, Time};
use crate::node_id::NodeId;
use crate::outbox::Outbox;
use crate::reply::Reply;
use crate::slot::{SlotSet, SLOT_COUNT};

mod cron;
mod endpoints;
mod epochs;
pub mod failover;
pub mod failure;
pub mod gossip;
mod links;
pub mod links_buffer;
pub mod migration;
pub mod nodes_conf;
pub mod render;
mod roles;
mod slots;

/// What the cluster-bus protocol (links and sending, the cron, gossip, elections) may touch,
/// borrowed from the node for one step, as openraft's engine handlers borrow only their
/// state. Whatever else a step needs (the keyspace, replication) the node passes in or acts on
/// afterwards, so these rules cannot reach the rest of the node by accident.
pub(crate) struct ClusterBus<'a> {
    pub cluster: &'a mut Cluster,
    pub out: &'a mut Outbox,
    /// The node's one rng, shared with commands: where each draw falls in its sequence is
    /// part of what a simulation seed replays.
    pub rng: &'a mut rand_chacha::ChaCha8Rng,
    pub config: &'a Config,
    pub now: Time,
}

impl ClusterBus<'_> {
    /// Failure detection on the same borrow (see [`failure::FailureDetector`]).
    pub(crate) fn failure(&mut self) -> failure::FailureDetector<'_> {
        failure::FailureDetector {
            cluster: self.cluster,
            out: self.out,
            now_ms: self.now.mono_ms,
            canaries: self.config.canaries,
        }
    }

    /// Whether a deliberate bug is switched on (simulation build only; see [`crate::canary`]).
    pub(crate) fn canary(&self, canary: crate::canary::Canary) -> bool {
        self.config.canaries.on(canary)
    }

    /// Work Redis does in `clusterBeforeSleep`: persist a changed configuration before any
    /// message or reply of this call is sent. A vote must be on disk before it leaves: a node
    /// whose save fails stops (as Redis exits) with the vote unsent, so its restart from the
    /// older file cannot vote twice in one epoch.
    pub(crate) fn before_reply(&mut self) {
        if self.cluster.take_state_update_request() {
            self.failure().update_cluster_state();
        }
        let Some(fsync) = self.cluster.take_save_request() else {
            return;
        };
        let fsync = fsync && !self.canary(crate::canary::Canary::NodesConfNoFsync);
        let view = render::ClusterView {
            cluster: self.cluster,
            now: self.now,
        };
        let contents = view.render_nodes_conf();
        self.out.push_save_first(contents, fsync);
    }
}

/// What this node knows about one cluster node (itself included).
#[derive(Clone, Debug)]
pub struct ClusterNode {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// The announced hostname (`cluster-announce-hostname`), empty when none.
    pub hostname: String,
    /// Flag bits from [`crate::bus::flags`].
    pub flags: u16,
    pub master: Option<NodeId>,
    pub config_epoch: u64,
    pub slots: SlotSet,
    /// Monotonic ms when the pending PING was sent; 0 = none pending.
    pub ping_sent_ms: u64,
    /// Monotonic ms of the last PONG (or a gossip-learnt estimate).
    pub pong_received_ms: u64,
    /// Monotonic ms of the last data of any kind from this node.
    pub data_received_ms: u64,
    pub fail_time_ms: u64,
    /// Masters that reported this node as PFAIL/FAIL, with the report time.
    pub fail_reports: BTreeMap<NodeId, u64>,
    pub created_ms: u64,
    pub repl_offset: u64,
    /// Our outbound link to it.
    pub link: Option<LinkId>,
    /// Its link to us, once we know who is on the other side.
    pub inbound_link: Option<LinkId>,
    /// Monotonic ms when I last voted for a replica of this master; 0 = never.
    pub voted_time_ms: u64,
    /// Monotonic ms since when this master has been orphaned (no working replica left); 0 = not.
    pub orphaned_since_ms: u64,
}

impl ClusterNode {
    pub fn new(id: NodeId, flags: u16, now: Time) -> ClusterNode {
        ClusterNode {
            id,
            ip: String::new(),
            port: 0,
            cport: 0,
            hostname: String::new(),
            flags,
            master: None,
            config_epoch: 0,
            slots: SlotSet::default(),
            ping_sent_ms: 0,
            pong_received_ms: 0,
            data_received_ms: 0,
            fail_time_ms: 0,
            fail_reports: BTreeMap::new(),
            created_ms: now.mono_ms,
            repl_offset: 0,
            link: None,
            inbound_link: None,
            voted_time_ms: 0,
            orphaned_since_ms: 0,
        }
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn is_master(&self) -> bool {
        self.has(flags::MASTER)
    }

    pub fn is_replica(&self) -> bool {
        self.has(flags::SLAVE)
    }

    pub fn is_failing(&self) -> bool {
        self.has(flags::PFAIL) || self.has(flags::FAIL)
    }

    pub fn in_handshake(&self) -> bool {
        self.has(flags::HANDSHAKE)
    }
}

/// A bus link as the node tracks it.
#[derive(Clone, Debug)]
pub struct Link {
    /// Outbound links are created for a node; inbound ones learn theirs from the first message.
    pub node: Option<NodeId>,
    pub outbound: bool,
    /// Outbound: the connection is up (`bus_link_connected` arrived).
    pub connected: bool,
    pub created_ms: u64,
    /// Unix ms of the creation, as `CLUSTER LINKS` shows it: taken once, so that the value
    /// never wobbles with the two clocks' reading (suite file 24 compares it for equality).
    pub created_unix_ms: u64,
    /// Inbound: the peer's address and ours as seen on the socket.
    pub peer_ip: String,
    pub local_ip: String,
    /// Its buffers as the driver last reported them (see `links_buffer.rs`).
    pub buffers: links_buffer::LinkBufferSizes,
}

/// The cluster as this node sees it.
pub struct Cluster {
    pub myself: NodeId,
    pub nodes: BTreeMap<NodeId, ClusterNode>,
    owners: SlotOwners,
    migrating: BTreeMap<u16, NodeId>,
    importing: BTreeMap<u16, NodeId>,
    current_epoch: u64,
    last_vote_epoch: u64,
    state_ok: bool,
    size: usize,
    /// A handful of links looked up on every message and cron pass: a B-tree of integer keys
    /// beats hashing them with SipHash.
    links: BTreeMap<LinkId, Link>,
    next_link_id: LinkId,
    stats_sent: [u64; 11],
    stats_received: [u64; 11],
    /// Monotonic ms of the first state update (a restarted master stays `fail` for a while).
    first_state_update_ms: Option<u64>,
    among_minority_since_ms: u64,
    cron_runs: u64,
    /// PFAIL nodes counted at the start of the last cron pass (Redis's `stats_pfail_nodes`):
    /// how many PFAIL entries a PING or PONG carries until the next pass.
    pfail_nodes_at_cron: usize,
    node_timeout_ms: u64,
    require_full_coverage: bool,
    /// What clients are told a node's address is (`cluster-preferred-endpoint-type`).
    preferred_endpoint: crate::config::EndpointType,
    /// Bus links, with their send buffers as the driver last reported them.
    link_buffers: links_buffer::LinkBuffers,
    /// nodes.conf must be rewritten (and fsynced) before replies go out.
    save_pending: bool,
    /// Slots or failure flags changed: recompute `cluster_state` before replying.
    state_update_pending: bool,
    fsync_pending: bool,
    /// Recently forgotten nodes, with the monotonic ms until which gossip must not re-add them.
    blacklist: BTreeMap<NodeId, u64>,
    /// This replica's failover election, if one is under way.
    election: failover::Election,
    /// A coordinated `CLUSTER FAILOVER`, on either side, if one is under way.
    manual_failover: failover::ManualFailover,
    /// This replica has no history to name (a full sync under way, none cached): it announces
    /// offset 0, as Redis's `replicationGetSlaveOffset` does. Set after every input.
    pub(crate) offset_unknown: bool,
}

impl Cluster {
    pub fn new(myself: NodeId, config: &Config, now: Time) -> Cluster {
        let mut my_flags = flags::MYSELF | flags::MASTER;
        if config.cluster_replica_no_failover {
            my_flags |= flags::NOFAILOVER;
        }
        let mut me = ClusterNode::new(myself, my_flags, now);
        endpoints::announce_myself(&mut me, config);
        let mut nodes = BTreeMap::new();
        nodes.insert(myself, me);
        Cluster {
            myself,
            nodes,
            owners: SlotOwners::new(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            // Redis starts with 1 and recomputes it once the start-up delay is over.
            size: 1,
            links: BTreeMap::new(),
            next_link_id: 1,
            stats_sent: [0; 11],
            stats_received: [0; 11],
            offset_unknown: false,
            first_state_update_ms: None,
            among_minority_since_ms: 0,
            cron_runs: 0,
            pfail_nodes_at_cron: 0,
            node_timeout_ms: config.cluster_node_timeout_ms,
            require_full_coverage: config.cluster_require_full_coverage,
            preferred_endpoint: config.announce.preferred_endpoint,
            link_buffers: links_buffer::LinkBuffers::new(config.announce.link_sendbuf_limit_bytes),
            save_pending: false,
            state_update_pending: false,
            fsync_pending: false,
            blacklist: BTreeMap::new(),
            election: failover::Election::default(),
            manual_failover: failover::ManualFailover::default(),
        }
    }

    pub fn me(&self) -> &ClusterNode {
        &self.nodes[&self.myself]
    }

    /// The replication offset `n` shows others (bus headers, `CLUSTER SLOTS|SHARDS`): its
    /// last known one, or for myself 0 while my offset is unknown (see `offset_unknown`).
    pub fn announced_offset(&self, n: &ClusterNode) -> u64 {
        if n.id == self.myself && self.offset_unknown {
            0
        } else {
            n.repl_offset
        }
    }

    pub fn me_mut(&mut self) -> &mut ClusterNode {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always known")
    }

    pub fn node(&self, id: &NodeId) -> Option<&ClusterNode> {
        self.nodes.get(id)
    }

    pub fn state_ok(&self) -> bool {
        self.state_ok
    }

    pub fn slot_owner(&self, slot: u16) -> Option<NodeId> {
        self.owners.owner(slot)
    }

    /// How many slots are assigned to some node.
    pub fn assigned_slot_count(&self) -> usize {
        self.owners.assigned
    }

    /// The nodes that own at least one slot, with how many, in no particular order.
    pub fn slot_counts(&self) -> impl Iterator<Item = (NodeId, usize)> + '_ {
        self.owners.counts()
    }

    /// `slots` split into runs of consecutive entries with the same owner, in order.
    pub fn owner_runs<'a>(
        &'a self,
        slots: &'a [u16],
    ) -> impl Iterator<Item = (Option<NodeId>, std::ops::Range<usize>)> + 'a {
        self.owners
            .entry_runs(slots)
            .map(|(entry, run)| (entry.map(|e| self.owners.ids[e]), run))
    }

    /// The slots in `claimed` that this node does not attribute to `id`, ascending: the only
    /// ones a claim by `id` can change. Cheap when they are none, the usual case for gossip.
    pub fn claimed_from_others(&self, id: &NodeId, claimed: &SlotSet) -> Vec<u16> {
        let Some(owned) = self.nodes.get(id).map(|n| &n.slots) else {
            return claimed.iter().collect();
        };
        let extra_words = || {
            let words = claimed.0.chunks_exact(8).zip(owned.0.chunks_exact(8));
            words.map(|(c, o)| {
                let c = u64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"));
                let o = u64::from_le_bytes(o.try_into().expect("chunks of 8 bytes"));
                c & !o
            })
        };
        let count: u32 = extra_words().map(u64::count_ones).sum();
        if count == 0 {
            return Vec::new();
        }
        let mut slots = Vec::with_capacity(count as usize);
        for (i, mut extra) in extra_words().enumerate() {
            while extra != 0 {
                slots.push((i * 64) as u16 + extra.trailing_zeros() as u16);
                extra &= extra - 1;
            }
        }
        slots
    }

    pub fn migrating_to(&self, slot: u16) -> Option<NodeId> {
        self.migrating.get(&slot).copied()
    }

    pub fn importing_from(&self, slot: u16) -> Option<NodeId> {
        self.importing.get(&slot).copied()
    }

    /// The known node (not in handshake) whose clients connect to `ip:port`.
    pub fn node_serving(&self, ip: &str, port: u16) -> Option<NodeId> {
        self.nodes
            .values()
            .find(|n| !n.in_handshake() && n.ip == ip && n.port == port)
            .map(|n| n.id)
    }

    /// Every slot myself imports, with its source.
    pub fn imports(&self) -> Vec<(u16, NodeId)> {
        self.importing.iter().map(|(&s, &n)| (s, n)).collect()
    }

    /// True when myself is a replica of `master`.
    pub fn replicates(&self, master: NodeId) -> bool {
        let me = self.me();
        me.is_replica() && me.master == Some(master)
    }

    /// The single place slot ownership changes: updates the owner table and both nodes' sets,
    /// and reports a real change to `out`.
    pub fn assign_slot(&mut self, slot: u16, owner: Option<NodeId>, out: &mut Outbox) {
        let old_owner = self.owners.owner(slot);
        if old_owner != owner {
            out.slot_assigned(slot, owner);
        }
        if let Some(old) = old_owner {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
        }
        if let Some(new) = owner {
            let node = self
                .nodes
                .get_mut(&new)
                .expect("slot owner must be a known node");
            node.slots.insert(slot);
        }
        self.owners.set(slot, owner);
        self.state_update_pending = true;
        self.assert_one_owner(slot);
    }

    /// A slot has exactly one owner in this node's view: the owner table and the nodes'
    /// slot sets agree (checked in debug and simulation builds, where every seed runs it).
    fn assert_one_owner(&self, slot: u16) {
        if cfg!(any(debug_assertions, madsim)) {
            let owner = self.owners.owner(slot);
            let holders = self
                .nodes
                .values()
                .filter(|n| n.slots.contains(slot))
                .count();
            assert_eq!(holders, usize::from(owner.is_some()), "slot {slot} holders");
            assert!(owner.is_none_or(|id| self.nodes[&id].slots.contains(slot)));
        }
    }

    /// [`Cluster::assign_slot`] for many slots at once, given in ascending order: each node
    /// involved is looked up once per run of slots it owned instead of once per slot, and the
    /// owner counts move a run at a time (gossip moves thousands of slots at once).
    pub fn assign_slots(&mut self, slots: &[u16], owner: Option<NodeId>, out: &mut Outbox) {
        debug_assert!(slots.windows(2).all(|w| w[0] < w[1]), "slots not ascending");
        if slots.is_empty() {
            return;
        }
        // Taken before any count drops, so a freed entry is never one of the old owners'.
        let new = owner.map(|id| self.owners.entry_for(id));
        let runs: Vec<_> = self.owners.entry_runs(slots).collect();
        for (old, run) in runs {
            let Some(old) = old else { continue };
            let run = &slots[run];
            if let Some(n) = self.nodes.get_mut(&self.owners.ids[old]) {
                for &slot in run {
                    n.slots.remove(slot);
                }
            }
            self.owners.counts[old] -= run.len();
            self.owners.assigned -= run.len();
        }
        if let (Some(id), Some(entry)) = (owner, new) {
            let node = self
                .nodes
                .get_mut(&id)
                .expect("slot owner must be a known node");
            for &slot in slots {
                node.slots.insert(slot);
            }
            self.owners.counts[entry] += slots.len();
            self.owners.assigned += slots.len();
        }
        let stored = new.map_or(0, SlotOwners::stored);
        for &slot in slots {
            self.owners.index[slot as usize] = stored;
        }
        self.state_update_pending = true;
        out.slots_assigned(slots, owner);
        if let (Some(&first), Some(&last)) = (slots.first(), slots.last()) {
            self.assert_one_owner(first);
            self.assert_one_owner(last);
        }
    }

    /// `MOVED 12539 127.0.0.1:7003` / `ASK …` for a slot and a target node.
    pub fn redirect_error(&self, kind: &str, slot: u16, target: NodeId) -> Reply {
        let node = &self.nodes[&target];
        let endpoint = self.preferred_endpoint_of(node);
        Reply::Error(format!("{kind} {slot} {endpoint}:{}", node.port))
    }

    pub fn new_link(&mut self, link: Link) -> LinkId {
        let id = self.next_link_id;
        self.next_link_id += 1;
        self.links.insert(id, link);
        id
    }

    pub fn count_sent(&mut self, kind: MessageType) {
        self.stats_sent[kind as usize] += 1;
    }

    pub fn count_received(&mut self, kind: MessageType) {
        self.stats_received[kind as usize] += 1;
    }

    /// Masters that serve at least one slot.
    pub fn slot_serving_masters(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes
            .values()
            .filter(|n| n.is_master() && !n.slots.is_empty())
    }

    /// Asks for nodes.conf to be written (and fsynced) before the replies of this call go out.
    pub fn request_save(&mut self, fsync: bool) {
        self.save_pending = true;
        self.fsync_pending |= fsync;
    }

    /// The save asked for since the last call, if any, with whether it must be fsynced.
    pub(crate) fn take_save_request(&mut self) -> Option<bool> {
        let fsync = std::mem::take(&mut self.fsync_pending);
        std::mem::take(&mut self.save_pending).then_some(fsync)
    }

    /// Whether slots or failure flags changed since the last call (`cluster_state` is due).
    pub(crate) fn take_state_update_request(&mut self) -> bool {
        std::mem::take(&mut self.state_update_pending)
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The last epoch this node voted in (kept in `nodes.conf`).
    pub fn last_vote_epoch(&self) -> u64 {
        self.last_vote_epoch
    }

    pub fn node_timeout_ms(&self) -> u64 {
        self.node_timeout_ms
    }

    pub fn require_full_coverage(&self) -> bool {
        self.require_full_coverage
    }

    /// The largest config epoch any known node has.
    pub fn max_config_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
    }
}

/// Who owns each slot, as a small index per slot into a table of owner ids: 32 KiB per node
/// instead of 16384 `Option<NodeId>` (656 KiB, allocated and zeroed at every node start), and
/// per-owner slot counts kept on the way, so coverage checks need not walk the slots.
struct SlotOwners {
    /// Per slot: 0 = unassigned, else 1 + an index into `ids`.
    index: Vec<u16>,
    ids: Vec<NodeId>,
    /// Slots per entry of `ids`; an entry whose count dropped to 0 is reused.
    counts: Vec<usize>,
    assigned: usize,
}

impl SlotOwners {
    fn new() -> SlotOwners {
        SlotOwners {
            index: vec![0; SLOT_COUNT],
            ids: Vec::new(),
            counts: Vec::new(),
            assigned: 0,
        }
    }

    fn owner(&self, slot: u16) -> Option<NodeId> {
        self.entry_of(slot).map(|e| self.ids[e])
    }

    /// The entry in `ids` of the owner of `slot`.
    fn entry_of(&self, slot: u16) -> Option<usize> {
        let index = self.index[slot as usize];
        (index != 0).then(|| usize::from(index) - 1)
    }

    /// What `index` stores for `entry`.
    fn stored(entry: usize) -> u16 {
        u16::try_from(entry + 1).expect("fewer owners than slots")
    }

    fn set(&mut self, slot: u16, owner: Option<NodeId>) {
        let new = owner.map(|id| self.entry_for(id));
        if let Some(old) = self.entry_of(slot) {
            self.counts[old] -= 1;
            self.assigned -= 1;
        }
        if let Some(e) = new {
            self.counts[e] += 1;
            self.assigned += 1;
        }
        self.index[slot as usize] = new.map_or(0, SlotOwners::stored);
    }

    /// `slots` split into runs of consecutive entries with the same owner entry, in order.
    fn entry_runs<'a>(
        &'a self,
        slots: &'a [u16],
    ) -> impl Iterator<Item = (Option<usize>, std::ops::Range<usize>)> + 'a {
        let mut start = 0;
        std::iter::from_fn(move || {
            let first = *slots.get(start)?;
            let entry = self.index[first as usize];
            let len = slots[start..]
                .iter()
                .take_while(|&&s| self.index[s as usize] == entry)
                .count();
            let run = start..start + len;
            start += len;
            Some((usize::from(entry).checked_sub(1), run))
        })
    }

    /// The entry of `id`, taking a free one (or a new one) if it owns nothing yet.
    fn entry_for(&mut self, id: NodeId) -> usize {
        if let Some(entry) = self.ids.iter().position(|o| *o == id) {
            return entry;
        }
        if let Some(entry) = self.counts.iter().position(|&c| c == 0) {
            self.ids[entry] = id;
            return entry;
        }
        self.ids.push(id);
        self.counts.push(0);
        self.ids.len() - 1
    }

    fn counts(&self) -> impl Iterator<Item = (NodeId, usize)> + '_ {
        self.ids
            .iter()
            .zip(&self.counts)
            .filter(|(_, &count)| count > 0)
            .map(|(id, &count)| (*id, count))
    }
}

#[cfg(test)]
mod tests;
