//! In-process tests of the cluster protocol: several `Node`s wired by a tiny loss-free network
//! that turns `Connect`/`Send`/`CloseLink` effects into calls on the peer, on a manual clock.
//! Replication links are wired too: `ReplicaConnect` runs the handshake on the master, stream
//! bytes are applied on the replica (unless it is held back), and ACKs go out every second
//! and whenever the replica is asked for one.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use crate::bus::{flags, Message, MessageType};
use crate::config::Config;
use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason, FailSource, PromotionKind};
use crate::node::{ClientId, Effect, LinkId, Node, Time};
use crate::replication::ReplLinkId;
use crate::reply::Reply;

mod blocked_keys;
mod endpoints;
mod failover;
mod failure;
mod links_buffer;
mod manual_failover;
mod meet;
mod migrate_in_flight;
mod psync;
mod pubsub;
mod readonly_subcommands;
mod replica_migration;
mod slots;

const UNIX_BASE_MS: u64 = 1_700_000_000_000;

struct TestNet {
    nodes: Vec<Node>,
    clients: Vec<ClientId>,
    /// (node, link) → (peer node, peer's link)
    pairs: HashMap<(usize, LinkId), (usize, LinkId)>,
    queue: VecDeque<(usize, LinkId, Message)>,
    /// Nodes that neither run nor receive (a paused process).
    down: BTreeSet<usize>,
    /// Nodes that run but whose traffic is dropped both ways (a partitioned process).
    isolated: BTreeSet<usize>,
    now_ms: u64,
    saves: Vec<usize>,
    /// Nodes (by index) of the saves above that asked for an fsync, in order.
    fsynced_saves: Vec<usize>,
    /// Replica (node, link) → master (node, the replica's client there).
    repl_links: HashMap<(usize, ReplLinkId), (usize, ClientId)>,
    /// Stream bytes on their way to a replica.
    repl_queue: VecDeque<(usize, ReplLinkId, Bytes)>,
    /// Replicas whose stream is held back (a slow link): bytes wait in `repl_queue`.
    repl_held: BTreeSet<usize>,
    /// Clients blocked (`WAIT`, paused writes), per node.
    blocked: BTreeSet<(usize, ClientId)>,
    /// Replies that unblocked clients got, in order.
    unblocked: Vec<(usize, ClientId, Reply)>,
    /// Every typed event, with the node that emitted it, in order.
    events: Vec<(usize, ClusterEvent)>,
    /// Every bus message a node handed to a link (delivered or not), in order: (node, link,
    /// message type).
    sent: Vec<(usize, LinkId, MessageType)>,
    /// Every outbound bus connect, reachable or not: (node, link, node it was meant for).
    connects: Vec<(usize, LinkId, Option<usize>)>,
    /// Push frames the nodes sent: `(node, client, items)`.
    pushes: Vec<(usize, crate::node::ClientId, Vec<Reply>)>,
}

fn ip_of(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

impl TestNet {
    fn new(count: usize, node_timeout_ms: u64) -> TestNet {
        let now = Time {
            mono_ms: 0,
            unix_ms: UNIX_BASE_MS,
        };
        let mut nodes = Vec::new();
        let mut clients = Vec::new();
        for i in 0..count {
            let config = Config {
                port: 7001 + i as u16,
                cluster_enabled: true,
                cluster_node_timeout_ms: node_timeout_ms,
                // Full syncs at once: these tests are about the cluster protocol.
                repl_diskless_sync_delay_s: 0,
                ..Config::default()
            };
            let mut node = Node::new(config, now, 100 + i as u64);
            clients.push(node.client_connected(now, "10.0.0.99:5000".into(), ip_of(i)));
            nodes.push(node);
        }
        TestNet {
            nodes,
            clients,
            pairs: HashMap::new(),
            queue: VecDeque::new(),
            down: BTreeSet::new(),
            isolated: BTreeSet::new(),
            now_ms: 0,
            saves: Vec::new(),
            fsynced_saves: Vec::new(),
            repl_links: HashMap::new(),
            repl_queue: VecDeque::new(),
            repl_held: BTreeSet::new(),
            blocked: BTreeSet::new(),
            unblocked: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
            connects: Vec::new(),
            pushes: Vec::new(),
        }
    }

    fn time(&self) -> Time {
        Time {
            mono_ms: self.now_ms,
            unix_ms: UNIX_BASE_MS + self.now_ms,
        }
    }

    fn cmd(&mut self, i: usize, words: &[&str]) -> Reply {
        let args: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let now = self.time();
        let reply = self.nodes[i].command(now, self.clients[i], &args);
        self.pump(i);
        self.deliver_all();
        reply
    }

    fn text(&mut self, i: usize, words: &[&str]) -> String {
        match self.cmd(i, words) {
            Reply::Verbatim(_, t) => t,
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn pump(&mut self, from: usize) {
        let now = self.time();
        let effects = self.nodes[from].take_effects();
        for effect in effects {
            match effect {
                Effect::Connect { link, ip, port } => {
                    let dest = (0..self.nodes.len())
                        .find(|&d| ip_of(d) == ip && self.nodes[d].config.bus_port() == port);
                    self.connects.push((from, link, dest));
                    let reachable = |d: &usize| {
                        !self.down.contains(d)
                            && !self.isolated.contains(d)
                            && !self.isolated.contains(&from)
                    };
                    match dest.filter(reachable) {
                        Some(d) => {
                            let inbound =
                                self.nodes[d].bus_link_accepted(now, ip_of(from), ip_of(d));
                            self.pairs.insert((from, link), (d, inbound));
                            self.pairs.insert((d, inbound), (from, link));
                            self.nodes[from].bus_link_connected(now, link);
                        }
                        None => self.nodes[from].bus_link_closed(now, link),
                    }
                    self.pump(from);
                }
                Effect::Send { link, msg } => {
                    self.sent.push((from, link, msg.header.kind));
                    if let Some(&(d, peer_link)) = self.pairs.get(&(from, link)) {
                        if self.isolated.contains(&from) || self.isolated.contains(&d) {
                            continue;
                        }
                        self.queue.push_back((d, peer_link, msg));
                    }
                }
                Effect::CloseLink { link } => {
                    if let Some((d, peer_link)) = self.pairs.remove(&(from, link)) {
                        self.pairs.remove(&(d, peer_link));
                        self.nodes[d].bus_link_closed(now, peer_link);
                        self.pump(d);
                    }
                }
                Effect::SaveConfig { fsync, .. } => {
                    self.saves.push(from);
                    if fsync {
                        self.fsynced_saves.push(from);
                    }
                }
                Effect::Event(event) => self.events.push((from, event)),
                Effect::ReplicaConnect { link, ip, port } => {
                    self.replica_connect(from, link, &ip, port)
                }
                Effect::ReplicaStream { client, data } => {
                    if let Some((r, link)) = self.replica_of_client(from, client) {
                        self.repl_queue.push_back((r, link, data));
                    }
                }
                Effect::ReplicaDisconnect { link } => {
                    if let Some((m, client)) = self.repl_links.remove(&(from, link)) {
                        self.nodes[m].client_disconnected(client);
                        self.pump(m);
                    }
                }
                Effect::CloseClient { client } => {
                    if let Some((r, link)) = self.replica_of_client(from, client) {
                        self.repl_links.remove(&(r, link));
                        self.nodes[from].client_disconnected(client);
                        self.nodes[r].replication_link_down(now, link);
                        self.pump(r);
                    }
                }
                Effect::ReplicaAck { link, offset } => self.send_ack(from, link, offset),
                Effect::BlockClient { client } => {
                    self.blocked.insert((from, client));
                }
                Effect::UnblockClient { client, reply } => {
                    self.blocked.remove(&(from, client));
                    self.unblocked.push((from, client, reply));
                }
                Effect::ClientPush { client, items } => self.pushes.push((from, client, items)),
                Effect::Log { text, .. } if std::env::var("TESTNET_LOG").is_ok() => {
                    eprintln!("{:>6} node{from}: {text}", self.now_ms)
                }
                _ => {}
            }
        }
    }

    /// `kill -9` of `node`: it stops, and the kernel closes its links, so every peer sees its
    /// links to and from it close.
    fn kill(&mut self, node: usize) {
        self.down.insert(node);
        let now = self.time();
        let mut ends: Vec<(usize, LinkId)> = Vec::new();
        for (&(a, _), &(b, b_link)) in &self.pairs {
            if a == node {
                ends.push((b, b_link));
            }
        }
        ends.sort();
        for (peer, link) in ends {
            let own = self.pairs.remove(&(peer, link));
            if let Some(own) = own {
                self.pairs.remove(&own);
            }
            self.nodes[peer].bus_link_closed(now, link);
            self.pump(peer);
        }
        self.deliver_all();
    }

    fn deliver_all(&mut self) {
        let mut budget = 100_000;
        loop {
            while let Some((d, link, msg)) = self.queue.pop_front() {
                budget -= 1;
                assert!(budget > 0, "message storm");
                if self.down.contains(&d) {
                    continue;
                }
                let now = self.time();
                self.nodes[d].bus_message(now, link, msg);
                self.pump(d);
            }
            if !self.deliver_streams() {
                return;
            }
        }
    }

    /// Applies queued stream bytes on replicas that are not held; true if any were.
    fn deliver_streams(&mut self) -> bool {
        let pending = std::mem::take(&mut self.repl_queue);
        let mut progressed = false;
        for (r, link, data) in pending {
            if self.down.contains(&r) || self.repl_held.contains(&r) {
                self.repl_queue.push_back((r, link, data));
                continue;
            }
            progressed = true;
            let now = self.time();
            let (answer, data) = crate::replication::tests::split_psync_answer(&data);
            match answer
                .as_deref()
                .map(|a| a.split(' ').collect::<Vec<_>>())
                .as_deref()
            {
                Some(["FULLRESYNC", replid, offset]) => {
                    let offset = offset.parse().expect("FULLRESYNC offset");
                    self.nodes[r].replication_link_up(now, link, replid, offset);
                }
                Some(["CONTINUE", replid]) => {
                    self.nodes[r].replication_link_continue(now, link, replid);
                }
                Some(other) => panic!("unexpected PSYNC answer {other:?}"),
                None => {}
            }
            self.pump(r);
            let mut data = data;
            if self.nodes[r].replication_awaiting_payload(link) {
                let used = self.nodes[r].replication_payload(now, link, data);
                data = &data[used.expect("a good payload")..];
                self.pump(r);
            }
            for (cmd, len) in crate::replication::tests::parse_stream(data) {
                let now = self.time();
                self.nodes[r].replication_apply(now, link, &cmd, len);
                self.pump(r);
            }
        }
        progressed
    }

    fn replica_of_client(&self, master: usize, client: ClientId) -> Option<(usize, ReplLinkId)> {
        self.repl_links
            .iter()
            .find(|(_, &(m, c))| m == master && c == client)
            .map(|(&(r, link), _)| (r, link))
    }

    /// The replica's side of the handshake, run at once on the master.
    fn replica_connect(&mut self, from: usize, link: ReplLinkId, ip: &str, port: u16) {
        let now = self.time();
        let master = (0..self.nodes.len())
            .find(|&d| ip_of(d) == ip && self.nodes[d].config.port == port)
            .filter(|d| !self.down.contains(d) && !self.isolated.contains(d));
        let Some(m) = master.filter(|_| !self.isolated.contains(&from)) else {
            self.nodes[from].replication_link_down(now, link);
            self.pump(from);
            return;
        };
        let client =
            self.nodes[m].client_connected(now, format!("{}:40000", ip_of(from)), ip_of(m));
        self.repl_links.insert((from, link), (m, client));
        let my_port = self.nodes[from].config.port.to_string();
        let words = |ws: &[&str]| -> Vec<Bytes> {
            ws.iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        self.nodes[m].command(
            now,
            client,
            &words(&["REPLCONF", "listening-port", &my_port]),
        );
        let Some((replid, offset)) = self.nodes[from].replication_psync_args(link) else {
            return;
        };
        let reply = self.nodes[m].command(now, client, &words(&["PSYNC", &replid, &offset]));
        self.pump(m);
        if reply.is_error() {
            self.repl_links.remove(&(from, link));
            self.nodes[from].replication_link_down(now, link);
            self.pump(from);
        }
    }

    fn send_ack(&mut self, replica: usize, link: ReplLinkId, offset: u64) {
        let Some(&(m, client)) = self.repl_links.get(&(replica, link)) else {
            return;
        };
        if self.down.contains(&m) || self.repl_held.contains(&replica) {
            return;
        }
        let now = self.time();
        let args: Vec<Bytes> = ["REPLCONF", "ACK", &offset.to_string()]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        self.nodes[m].command(now, client, &args);
        self.pump(m);
    }

    /// Every replica acknowledges its offset, as the driver does once a second.
    fn ack_all(&mut self) {
        let mut links: Vec<(usize, ReplLinkId)> = self.repl_links.keys().copied().collect();
        links.sort();
        for (r, link) in links {
            if !self.down.contains(&r) {
                let offset = self.nodes[r].replication_offset();
                self.send_ack(r, link, offset);
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        for _ in 0..ms / 100 {
            self.now_ms += 100;
            let now = self.time();
            for i in 0..self.nodes.len() {
                if !self.down.contains(&i) {
                    self.nodes[i].tick(now);
                    self.pump(i);
                }
            }
            if self.now_ms.is_multiple_of(1000) {
                self.ack_all();
            }
            self.deliver_all();
        }
    }

    /// The tutorial's three masters: ADDSLOTSRANGE, SET-CONFIG-EPOCH, MEET, then gossip.
    fn create_three_masters(&mut self) {
        let ranges = [("0", "5460"), ("5461", "10922"), ("10923", "16383")];
        for (i, (a, b)) in ranges.iter().enumerate() {
            assert_eq!(
                self.cmd(i, &["CLUSTER", "ADDSLOTSRANGE", a, b]),
                Reply::ok()
            );
            let epoch = (i + 1).to_string();
            assert_eq!(
                self.cmd(i, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]),
                Reply::ok()
            );
        }
        for i in 1..3 {
            assert_eq!(
                self.cmd(i, &["CLUSTER", "MEET", &ip_of(0), "7001"]),
                Reply::ok()
            );
        }
        // Like redis-cli: wait a second at a time until every node sees every slot assigned.
        for _ in 0..20 {
            self.advance(1000);
            let agreed = (0..3).all(|i| {
                self.info_field(i, "cluster_slots_assigned") == "16384"
                    && self.info_field(i, "cluster_known_nodes") == "3"
            });
            if agreed {
                self.advance(2000);
                return;
            }
        }
        panic!("the three masters never agreed");
    }

    fn info_field(&mut self, i: usize, field: &str) -> String {
        let info = self.text(i, &["CLUSTER", "INFO"]);
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {info}"))
            .to_string()
    }
}

/// Three masters (nodes 0–2) and one replica each (node 3+i replicates node i).
fn three_masters_three_replicas(node_timeout_ms: u64) -> TestNet {
    three_masters_with_replicas(node_timeout_ms, &[])
}

/// [`three_masters_three_replicas`], and one more replica (node 6, 7, …) for each master in
/// `extra`, in order.
fn three_masters_with_replicas(node_timeout_ms: u64, extra: &[usize]) -> TestNet {
    let count = 6 + extra.len();
    let mut net = TestNet::new(count, node_timeout_ms);
    net.create_three_masters();
    // As redis-cli does: every node gets its own epoch first, so nothing collides.
    for i in 3..count {
        let epoch = (i + 1).to_string();
        assert_eq!(
            net.cmd(i, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]),
            Reply::ok()
        );
        assert_eq!(
            net.cmd(i, &["CLUSTER", "MEET", &ip_of(0), "7001"]),
            Reply::ok()
        );
    }
    let known = count.to_string();
    for _ in 0..20 {
        net.advance(1000);
        if (0..count).all(|i| net.info_field(i, "cluster_known_nodes") == known) {
            break;
        }
    }
    let masters = (0..3).chain(extra.iter().copied());
    for (i, m) in (3..count).zip(masters) {
        let master = net.nodes[m].myself().to_string();
        assert_eq!(net.cmd(i, &["CLUSTER", "REPLICATE", &master]), Reply::ok());
    }
    net.advance(3000);
    net
}
