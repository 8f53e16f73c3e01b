//! In-process tests of the cluster protocol: several `Node`s wired by a tiny loss-free network
//! that turns `Connect`/`Send`/`CloseLink` effects into calls on the peer, on a manual clock.
//! Replication links are wired too: `ReplicaConnect` runs the handshake on the master, stream
//! bytes are applied on the replica (unless it is held back), and ACKs go out every second
//! and whenever the replica is asked for one.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use crate::bus::{flags, Message};
use crate::config::Config;
use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason, FailSource, PromotionKind};
use crate::node::{ClientId, Effect, LinkId, Node, Time};
use crate::replication::ReplLinkId;
use crate::reply::Reply;

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
            repl_links: HashMap::new(),
            repl_queue: VecDeque::new(),
            repl_held: BTreeSet::new(),
            blocked: BTreeSet::new(),
            unblocked: Vec::new(),
            events: Vec::new(),
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
                Effect::SaveConfig { .. } => self.saves.push(from),
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
                Effect::Log { text, .. } if std::env::var("TESTNET_LOG").is_ok() => {
                    eprintln!("{:>6} node{from}: {text}", self.now_ms)
                }
                _ => {}
            }
        }
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
            for (cmd, len) in crate::replication::tests::parse_stream(&data) {
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
        let reply = self.nodes[m].command(now, client, &words(&["PSYNC", "?", "-1"]));
        self.pump(m);
        let Reply::Simple(full) = reply else {
            self.repl_links.remove(&(from, link));
            self.nodes[from].replication_link_down(now, link);
            self.pump(from);
            return;
        };
        let parts: Vec<&str> = full.split(' ').collect();
        let offset = parts[2].parse().expect("FULLRESYNC offset");
        self.nodes[from].replication_link_up(now, link, parts[1], offset);
        self.pump(from);
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

#[test]
fn fresh_node_renders_like_redis() {
    let mut net = TestNet::new(1, 5000);
    let id = net.nodes[0].myself();
    assert_eq!(
        net.text(0, &["CLUSTER", "NODES"]),
        format!("{id} :7001@17001 myself,master - 0 0 0 connected\n")
    );
    assert_eq!(
        net.text(0, &["CLUSTER", "INFO"]),
        "cluster_state:fail\r\ncluster_slots_assigned:0\r\ncluster_slots_ok:0\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n\
         cluster_size:1\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n"
    );
    assert_eq!(
        net.cmd(0, &["SET", "foo", "bar"]),
        Reply::error("CLUSTERDOWN Hash slot not served")
    );
}

#[test]
fn slot_commands_check_everything_first() {
    let mut net = TestNet::new(1, 5000);
    let err = |t: &str| Reply::err(t);
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "1", "16384"]),
        err("Invalid or out of range slot")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "5", "5"]),
        err("Slot 5 specified multiple times")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "0", "1", "2"]),
        Reply::ok()
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "3", "2"]),
        err("Slot 2 is already busy")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "DELSLOTS", "5"]),
        err("Slot 5 is already unassigned")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTSRANGE", "5", "1"]),
        err("start slot number 5 is greater than end slot number 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTSRANGE", "1", "2", "3"]),
        err("wrong number of arguments for 'cluster|addslotsrange' command")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "NODES", "x"]),
        err("wrong number of arguments for 'cluster|nodes' command")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "foo"]),
        err("unknown subcommand 'foo'. Try CLUSTER HELP.")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "1", "2", "3", "4"]),
        err("unknown subcommand or wrong number of arguments for 'MEET'. Try CLUSTER HELP.")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "1.2.3", "5"]),
        err("Invalid node address specified: 1.2.3:5")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "127.0.0.1", "x"]),
        err("Invalid TCP base port specified: x")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "COUNTKEYSINSLOT", "99999"]),
        err("Invalid slot")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "GETKEYSINSLOT", "1", "-1"]),
        err("Invalid slot or number of keys")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "REPLICATE", "abc"]),
        err("Unknown node abc")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "KEYSLOT", "key"]),
        Reply::Integer(12539)
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "BUMPEPOCH"]),
        Reply::simple("BUMPED 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "BUMPEPOCH"]),
        Reply::simple("STILL 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "SET-CONFIG-EPOCH", "5"]),
        err("Node config epoch is already non-zero")
    );
    let id = net.nodes[0].myself();
    assert_eq!(
        net.text(0, &["CLUSTER", "NODES"]),
        format!("{id} :7001@17001 myself,master - 0 0 1 connected 0-2\n")
    );
}

#[test]
fn three_masters_meet_agree_and_serve() {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(|n| n.myself()).collect();
    for i in 0..3 {
        let dump = format!(
            "{}{}",
            net.text(i, &["CLUSTER", "INFO"]),
            net.text(i, &["CLUSTER", "NODES"])
        );
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}: {dump}");
        assert_eq!(net.info_field(i, "cluster_known_nodes"), "3");
        assert_eq!(net.info_field(i, "cluster_size"), "3");
        assert_eq!(net.info_field(i, "cluster_slots_assigned"), "16384");
        assert_eq!(net.info_field(i, "cluster_current_epoch"), "3");
        assert_eq!(net.info_field(i, "cluster_my_epoch"), (i + 1).to_string());
        let nodes = net.text(i, &["CLUSTER", "NODES"]);
        let ranges = ["0-5460", "5461-10922", "10923-16383"];
        for (j, range) in ranges.iter().enumerate() {
            let line = nodes
                .lines()
                .find(|l| l.starts_with(ids[j].as_str()))
                .unwrap_or_else(|| panic!("node {i} does not know node {j}: {nodes}"));
            let addr = format!("{}:{}@{}", ip_of(j), 7001 + j, 17001 + j);
            let flags = if i == j { "myself,master" } else { "master" };
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields[1], addr, "{line}");
            assert_eq!(fields[2], flags, "{line}");
            assert_eq!(fields[3], "-");
            assert_eq!(fields[6], (j + 1).to_string());
            assert_eq!(fields[7], "connected");
            assert_eq!(fields[8], *range);
        }
    }
    assert_eq!(
        net.cmd(0, &["SET", "key", "value"]),
        Reply::error("MOVED 12539 10.0.0.3:7003")
    );
    assert_eq!(
        net.cmd(2, &["GET", "key2"]),
        Reply::error("MOVED 4998 10.0.0.1:7001")
    );
    assert_eq!(
        net.cmd(0, &["MGET", "key", "key2"]),
        Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert!(!net.saves.is_empty(), "configuration changes must be saved");
}

#[test]
fn unreachable_master_is_failed_by_majority_and_comes_back() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    let failed = net.nodes[0].myself();
    net.down.insert(0);
    net.advance(node_timeout_ms / 2 + 500);
    assert_eq!(
        net.info_field(1, "cluster_state"),
        "ok",
        "not yet timed out"
    );
    net.advance(3 * node_timeout_ms);
    for i in 1..3 {
        assert_eq!(net.info_field(i, "cluster_state"), "fail");
        assert_eq!(net.info_field(i, "cluster_slots_fail"), "5461");
        let nodes = net.text(i, &["CLUSTER", "NODES"]);
        let line = nodes
            .lines()
            .find(|l| l.starts_with(failed.as_str()))
            .unwrap();
        assert_eq!(line.split(' ').nth(2), Some("master,fail"), "{line}");
        let flags = net.nodes[i].cluster.nodes[&failed].flags;
        assert_eq!(flags & flags::FAIL, flags::FAIL);
    }
    net.down.remove(&0);
    // FAIL of a master with slots is undone only after 2 × node timeout since it was set.
    net.advance(3 * node_timeout_ms);
    for i in 0..3 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
        assert_eq!(net.info_field(i, "cluster_slots_fail"), "0");
    }
}

#[test]
fn isolated_master_declares_fail_on_its_side() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    // Node 0 keeps running but hears nothing: its established links stall, new ones fail.
    net.isolated.insert(0);
    net.advance(2 * node_timeout_ms);
    assert_eq!(net.info_field(0, "cluster_state"), "fail");
    assert_eq!(
        net.cmd(0, &["GET", "key2"]),
        Reply::error("CLUSTERDOWN The cluster is down")
    );
}

#[test]
fn nodes_conf_has_vars_line_and_skips_handshakes() {
    let mut net = TestNet::new(1, 5000);
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "10.9.9.9", "7000"]),
        Reply::ok()
    );
    let conf = net.nodes[0].cluster_view().render_nodes_conf();
    let id = net.nodes[0].myself();
    assert_eq!(
        conf,
        format!("{id} :7001@17001 myself,master - 0 0 0 connected\nvars currentEpoch 0 lastVoteEpoch 0\n")
    );
    assert!(net.text(0, &["CLUSTER", "NODES"]).contains("handshake"));
    // The handshake never completes: it is dropped after max(node timeout, 1 s).
    net.advance(5200);
    assert!(!net.text(0, &["CLUSTER", "NODES"]).contains("handshake"));
}

#[test]
fn epoch_collision_is_resolved_by_the_smaller_id() {
    let mut net = TestNet::new(3, 5000);
    for i in 0..3 {
        let slot = (i * 10).to_string();
        assert_eq!(net.cmd(i, &["CLUSTER", "ADDSLOTS", &slot]), Reply::ok());
        assert_eq!(
            net.cmd(i, &["CLUSTER", "SET-CONFIG-EPOCH", "1"]),
            Reply::ok()
        );
    }
    for i in 1..3 {
        net.cmd(i, &["CLUSTER", "MEET", &ip_of(0), "7001"]);
    }
    net.advance(5000);
    let epochs: BTreeSet<u64> = net
        .nodes
        .iter()
        .map(|n| n.cluster.me().config_epoch)
        .collect();
    assert_eq!(epochs.len(), 3, "config epochs must end up distinct");
    // Each move was reported with its reason, naming the node it collided with.
    let moved: Vec<(usize, u64)> = net
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            ClusterEvent::ConfigEpochChanged {
                epoch,
                reason: ConfigEpochReason::Collision { other },
            } => {
                assert!(net.nodes[*i].myself() < *other, "the smaller ID moves");
                Some((*i, *epoch))
            }
            _ => None,
        })
        .collect();
    // Three equal epochs need at least two moves (a move may collide again).
    assert!(moved.len() >= 2, "{moved:?}");
    for (i, node) in net.nodes.iter().enumerate() {
        if let Some(&(_, last)) = moved.iter().rev().find(|(n, _)| *n == i) {
            assert_eq!(node.cluster.me().config_epoch, last, "node {i}");
        }
    }
}

#[test]
fn restart_from_nodes_conf_keeps_identity_and_rejoins() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    let saved = net.nodes[0].nodes_conf();
    let id = net.nodes[0].myself();
    let config = net.nodes[0].config.clone();
    net.down.insert(0);
    net.advance(3 * node_timeout_ms);
    assert_eq!(net.info_field(1, "cluster_state"), "fail");
    let now = net.time();
    let restarted = Node::from_nodes_conf(config, now, 999, &saved).unwrap();
    assert_eq!(restarted.myself(), id);
    assert_eq!(restarted.cluster.current_epoch, 3);
    assert_eq!(restarted.cluster.me().slots.count(), 5461);
    net.nodes[0] = restarted;
    net.clients[0] = net.nodes[0].client_connected(now, "10.0.0.99:5000".into(), ip_of(0));
    net.down.remove(&0);
    net.advance(3 * node_timeout_ms);
    for i in 0..3 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
        assert_eq!(net.info_field(i, "cluster_known_nodes"), "3");
    }
}

/// Stops delivering anything for `node`, keeping its links "connected" (a hung peer).
fn silence(net: &mut TestNet, node: usize) {
    net.down.insert(node);
}

#[test]
fn pfail_comes_exactly_after_the_node_timeout_without_a_pong() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    let hung = net.nodes[2].myself();
    silence(&mut net, 2);
    // A ping goes out within node_timeout/2 (+ one tick) of the last pong; PFAIL needs the
    // ping to stay unanswered for more than the node timeout.
    let observer = &net.nodes[0];
    let last_pong_ms = observer.cluster.nodes[&hung].pong_received_ms;
    let mut pfail_at_ms = None;
    for _ in 0..60 {
        net.advance(100);
        let n = &net.nodes[0].cluster.nodes[&hung];
        if n.has(flags::PFAIL) || n.has(flags::FAIL) {
            pfail_at_ms = Some(net.now_ms);
            break;
        }
    }
    let pfail_at_ms = pfail_at_ms.expect("PFAIL never set");
    let ping_sent_ms = pfail_at_ms - node_timeout_ms;
    assert!(
        ping_sent_ms > last_pong_ms && pfail_at_ms - last_pong_ms <= node_timeout_ms * 3 / 2 + 200,
        "pong {last_pong_ms}, pfail {pfail_at_ms}"
    );
}

#[test]
fn one_report_is_not_a_quorum_but_two_masters_are() {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    let target = net.nodes[2].myself();
    let reporter = net.nodes[1].myself();
    let now = net.time();
    let node = &mut net.nodes[0];
    node.cluster.nodes.get_mut(&target).unwrap().flags |= flags::PFAIL;
    // Quorum is 2 of 3 masters; myself counts as one, so one report from another master is
    // needed, and FAIL is then broadcast to every connected peer.
    node.mark_failing_if_needed(target);
    assert!(
        !node.cluster.nodes[&target].has(flags::FAIL),
        "own vote alone is no quorum"
    );
    node.cluster
        .nodes
        .get_mut(&target)
        .unwrap()
        .fail_reports
        .insert(reporter, now.mono_ms);
    node.take_effects();
    node.mark_failing_if_needed(target);
    assert!(node.cluster.nodes[&target].has(flags::FAIL));
    assert!(!node.cluster.nodes[&target].has(flags::PFAIL));
    let fails: Vec<_> = node
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => match msg.body {
                crate::bus::Body::Fail(id) => Some(id),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(fails, vec![target, target], "FAIL goes to both peers");
}

#[test]
fn failure_reports_expire_after_twice_the_node_timeout() {
    let mut net = TestNet::new(3, 1000);
    net.create_three_masters();
    let target = net.nodes[2].myself();
    let reporter = net.nodes[1].myself();
    let at = net.now_ms;
    let node = &mut net.nodes[0];
    node.cluster
        .nodes
        .get_mut(&target)
        .unwrap()
        .fail_reports
        .insert(reporter, at);
    node.now.mono_ms = at + 2000;
    assert_eq!(
        node.cluster.failure_report_count(target, node.now.mono_ms),
        1
    );
    node.now.mono_ms = at + 2001;
    assert_eq!(
        node.cluster.failure_report_count(target, node.now.mono_ms),
        0
    );
}

#[test]
fn partial_coverage_is_ok_only_when_full_coverage_is_not_required() {
    for (require, expected) in [(true, "fail"), (false, "ok")] {
        let mut net = TestNet::new(3, 5000);
        for node in &mut net.nodes {
            node.cluster.require_full_coverage = require;
        }
        net.create_three_masters();
        net.cmd(2, &["CLUSTER", "DELSLOTS", "16383"]);
        net.advance(1000);
        assert_eq!(
            net.info_field(2, "cluster_state"),
            expected,
            "require={require}"
        );
        assert_eq!(net.info_field(2, "cluster_slots_assigned"), "16383");
    }
}

/// Three masters (nodes 0–2) and one replica each (node 3+i replicates node i).
fn three_masters_three_replicas(node_timeout_ms: u64) -> TestNet {
    let mut net = TestNet::new(6, node_timeout_ms);
    net.create_three_masters();
    // As redis-cli does: every node gets its own epoch first, so nothing collides.
    for i in 3..6 {
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
    for _ in 0..20 {
        net.advance(1000);
        if (0..6).all(|i| net.info_field(i, "cluster_known_nodes") == "6") {
            break;
        }
    }
    for i in 3..6 {
        let master = net.nodes[i - 3].myself().to_string();
        assert_eq!(net.cmd(i, &["CLUSTER", "REPLICATE", &master]), Reply::ok());
    }
    net.advance(3000);
    net
}

#[test]
fn replica_of_a_failed_master_is_promoted_and_the_old_master_follows_it() {
    let node_timeout_ms = 2000;
    let mut net = three_masters_three_replicas(node_timeout_ms);
    let old_master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    for i in 0..6 {
        let nodes = net.text(i, &["CLUSTER", "NODES"]);
        let line = nodes
            .lines()
            .find(|l| l.starts_with(replica.as_str()))
            .unwrap();
        assert!(
            line.contains(&format!("slave {old_master}")),
            "node {i}: {line}"
        );
    }
    net.down.insert(0);
    net.advance(4 * node_timeout_ms + 3000);
    for i in 1..6 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
        assert_eq!(
            net.nodes[i].cluster.slot_owner(0),
            Some(replica),
            "node {i}"
        );
        assert_eq!(net.nodes[i].cluster.slot_owner(5460), Some(replica));
    }
    let promoted = net.nodes[3].cluster.me();
    assert!(promoted.is_master());
    assert_eq!(promoted.config_epoch, 7, "the election took a fresh epoch");
    // Only one replica was eligible, and it got votes from both live masters once.
    assert_eq!(net.nodes[1].cluster.last_vote_epoch, 7);
    assert_eq!(net.nodes[2].cluster.last_vote_epoch, 7);
    // The old master comes back, sees a newer claim on its slots and becomes a replica.
    net.down.remove(&0);
    net.advance(3 * node_timeout_ms);
    let me = net.nodes[0].cluster.me();
    assert!(me.is_replica(), "old master must follow the new one");
    assert_eq!(me.master, Some(replica));
    for i in 0..6 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
    }
}

#[test]
fn a_failover_reports_each_decision_as_a_typed_event() {
    let node_timeout_ms = 2000;
    let mut net = three_masters_three_replicas(node_timeout_ms);
    let old_master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    net.events.clear();
    net.down.insert(0);
    net.advance(4 * node_timeout_ms + 3000);
    let of = |net: &TestNet, i: usize| -> Vec<ClusterEvent> {
        net.events
            .iter()
            .filter(|(n, _)| *n == i)
            .map(|(_, e)| e.clone())
            .collect()
    };
    // The winner: the election, its epoch, the promotion and the slots, in that order.
    let winner: Vec<ClusterEvent> = of(&net, 3)
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                ClusterEvent::PfailMarked { .. }
                    | ClusterEvent::FailMarked { .. }
                    | ClusterEvent::ClusterStateChanged { .. }
                    | ClusterEvent::ReplicationLinkDown { .. }
                    | ClusterEvent::ElectionScheduled { .. }
            )
        })
        .collect();
    assert_eq!(
        winner,
        vec![
            ClusterEvent::CurrentEpochChanged {
                epoch: 7,
                reason: EpochReason::Election
            },
            ClusterEvent::ElectionStarted { epoch: 7 },
            ClusterEvent::ConfigEpochChanged {
                epoch: 7,
                reason: ConfigEpochReason::Election
            },
            ClusterEvent::Promoted {
                kind: PromotionKind::Election,
                config_epoch: 7,
                old_master
            },
            ClusterEvent::SlotsAssigned {
                ranges: vec![(0, 5460)],
                owner: Some(replica)
            },
        ]
    );
    assert!(matches!(
        of(&net, 3).first(),
        Some(ClusterEvent::ReplicationLinkDown { .. } | ClusterEvent::PfailMarked { .. })
    ));
    // Each live master voted once, for that replica of that master, in epoch 7.
    for voter in [1, 2] {
        let votes: Vec<ClusterEvent> = of(&net, voter)
            .into_iter()
            .filter(|e| matches!(e, ClusterEvent::VoteGranted { .. }))
            .collect();
        let expected = ClusterEvent::VoteGranted {
            epoch: 7,
            candidate: replica,
            master: old_master,
        };
        assert_eq!(votes, vec![expected], "voter {voter}");
    }
    // Every survivor flagged the old master FAIL exactly once, by quorum or by message,
    // after flagging it PFAIL itself or hearing the FAIL first.
    let mut by_quorum = 0;
    for i in 1..6 {
        let fails: Vec<FailSource> = of(&net, i)
            .into_iter()
            .filter_map(|e| match e {
                ClusterEvent::FailMarked { node, source } if node == old_master => Some(source),
                _ => None,
            })
            .collect();
        assert_eq!(fails.len(), 1, "node {i}: {fails:?}");
        by_quorum += usize::from(fails[0] == FailSource::Quorum);
    }
    assert!(by_quorum >= 1, "someone reached the quorum");
    assert!(
        net.events.iter().all(|(n, _)| *n != 0),
        "a down node emits nothing"
    );
}

#[test]
fn votes_are_refused_twice_in_one_epoch_and_for_stale_claims() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    let voter = &mut net.nodes[1];
    voter.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    voter.cluster.current_epoch = 10;
    let mut h = voter.header(crate::bus::MessageType::AuthRequest);
    h.sender = replica;
    h.current_epoch = 10;
    h.config_epoch = 1;
    h.myslots = net.nodes[0].cluster.me().slots.clone();
    h.slaveof = Some(master);
    let voter = &mut net.nodes[1];
    let acks = |v: &mut Node| {
        v.take_effects()
            .iter()
            .filter(|e| matches!(e, Effect::Send { msg, .. } if msg.header.kind == crate::bus::MessageType::AuthAck))
            .count()
    };
    voter.take_effects();
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 1, "first request in the epoch gets a vote");
    assert_eq!(voter.cluster.last_vote_epoch, 10);
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 0, "one vote per epoch");
    // A new epoch, but the same master was voted for less than 2 × node timeout ago.
    voter.cluster.current_epoch = 11;
    h.current_epoch = 11;
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 0, "no second vote for the same master so soon");
    voter.now.mono_ms += 4001;
    voter.cluster.nodes.get_mut(&master).unwrap().config_epoch = 5;
    voter.on_auth_request(replica, &h);
    assert_eq!(
        acks(voter),
        0,
        "a claim older than the slot owner's epoch is refused"
    );
    voter.cluster.nodes.get_mut(&master).unwrap().config_epoch = 1;
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 1);
}

#[test]
fn manual_failover_force_and_takeover_swap_roles() {
    let mut net = three_masters_three_replicas(2000);
    let err = |t: &str| Reply::err(t);
    assert_eq!(
        net.cmd(0, &["CLUSTER", "FAILOVER"]),
        err("You should send CLUSTER FAILOVER to a replica")
    );
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FAILOVER", "NOW"]),
        Reply::syntax_error()
    );
    let (old0, new0) = (net.nodes[0].myself(), net.nodes[3].myself());
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    net.advance(1000);
    let (old1, new1) = (net.nodes[1].myself(), net.nodes[4].myself());
    assert_eq!(
        net.cmd(4, &["CLUSTER", "FAILOVER", "TAKEOVER"]),
        Reply::ok()
    );
    net.advance(3000);
    for i in 0..6 {
        let c = &net.nodes[i].cluster;
        assert_eq!(c.slot_owner(0), Some(new0), "node {i}");
        assert_eq!(c.slot_owner(5461), Some(new1), "node {i}");
        assert_eq!(c.nodes[&old0].master, Some(new0), "node {i}");
        assert_eq!(c.nodes[&old1].master, Some(new1), "node {i}");
        assert_eq!(net.info_field(i, "cluster_state"), "ok");
    }
    let epochs: BTreeSet<u64> = [2, 3, 4]
        .iter()
        .map(|&i| net.nodes[i].cluster.me().config_epoch)
        .collect();
    assert_eq!(
        epochs.len(),
        3,
        "the three masters keep distinct epochs: {epochs:?}"
    );
}

#[test]
fn a_master_back_from_the_minority_waits_the_rejoin_delay() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    net.isolated.insert(0);
    net.advance(2 * node_timeout_ms);
    assert_eq!(net.info_field(0, "cluster_state"), "fail");
    net.isolated.remove(&0);
    // It hears from the others again at once, yet keeps refusing writes for the rejoin delay
    // (node timeout clamped to 500..5000 ms) after it last found itself in the minority.
    let mut ok_after_ms = None;
    let minority_until_ms = net.nodes[0].cluster.among_minority_since_ms;
    for _ in 0..100 {
        net.advance(100);
        if net.info_field(0, "cluster_state") == "ok" {
            ok_after_ms = Some(net.now_ms);
            break;
        }
    }
    let ok_at_ms = ok_after_ms.expect("never rejoined");
    let last_minority_ms = net.nodes[0].cluster.among_minority_since_ms;
    assert!(last_minority_ms >= minority_until_ms);
    assert!(
        ok_at_ms - last_minority_ms >= node_timeout_ms,
        "ok at {ok_at_ms}, minority until {last_minority_ms}"
    );
}

#[test]
fn cluster_reset_forgets_everything_and_hard_takes_a_new_identity() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    assert_eq!(net.cmd(0, &["SET", "key2", "v"]), Reply::ok());
    assert_eq!(
        net.cmd(0, &["CLUSTER", "RESET"]),
        Reply::err("CLUSTER RESET can't be called with master nodes containing keys")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "RESET", "NOW"]),
        Reply::syntax_error()
    );
    assert_eq!(net.cmd(0, &["DEL", "key2"]), Reply::Integer(1));
    let id = net.nodes[0].myself();
    assert_eq!(net.cmd(0, &["CLUSTER", "RESET", "SOFT"]), Reply::ok());
    assert_eq!(net.nodes[0].myself(), id, "soft keeps the ID");
    assert_eq!(net.info_field(0, "cluster_known_nodes"), "1");
    assert_eq!(net.info_field(0, "cluster_slots_assigned"), "0");
    assert_eq!(
        net.info_field(0, "cluster_current_epoch"),
        "3",
        "soft keeps epochs"
    );
    assert_eq!(net.cmd(0, &["CLUSTER", "RESET", "HARD"]), Reply::ok());
    assert_ne!(net.nodes[0].myself(), id);
    assert_eq!(net.info_field(0, "cluster_current_epoch"), "0");
    assert_eq!(net.info_field(0, "cluster_my_epoch"), "0");
}

#[test]
fn a_replica_that_never_heard_from_its_master_does_not_fail_over() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = &mut net.nodes[3];
    // As after a restart of the replica while its master was already unreachable: no
    // replication link has been up since it started. Bus traffic from the master proves
    // nothing about the replica's data.
    replica.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    replica.repl.set_link_down_since(0);
    replica.take_effects();
    replica.handle_replica_failover();
    assert_eq!(
        replica.cluster.election.auth_time_ms, 0,
        "no election scheduled"
    );
    // Its link was up until just now: the election is scheduled.
    let now = replica.now.mono_ms;
    replica.repl.set_link_down_since(now);
    replica.handle_replica_failover();
    assert!(replica.cluster.election.auth_time_ms > now);
}

/// A key that hashes into the slots the tutorial gives the first master (0–5460).
fn key_on_first_master(n: usize) -> String {
    (0..)
        .map(|i| format!("k{n}-{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .expect("some key hashes low")
}

/// Messages a node sent, as (kind, mflags, offset in the header).
fn sent(effects: &[Effect]) -> Vec<(crate::bus::MessageType, u8, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => {
                Some((msg.header.kind, msg.header.mflags, msg.header.repl_offset))
            }
            _ => None,
        })
        .collect()
}

fn logs(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn manual_failover_steps_have_exact_effects() {
    use crate::bus::{mflags, MessageType};
    let mut net = three_masters_three_replicas(2000);
    let (master, replica) = (net.nodes[0].myself(), net.nodes[3].myself());
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "v"]),
        Reply::ok()
    );
    net.advance(1000);
    let offset = net.nodes[0].replication_offset();
    assert!(offset > 0);
    assert_eq!(net.nodes[3].replication_offset(), offset, "in sync");

    // Replica: the command sends MFSTART to its master, nothing else.
    let now = net.time();
    let c3 = net.clients[3];
    let failover: Vec<Bytes> = ["CLUSTER", "FAILOVER"]
        .iter()
        .map(|w| Bytes::from_static(w.as_bytes()))
        .collect();
    assert_eq!(net.nodes[3].command(now, c3, &failover), Reply::ok());
    let effects = net.nodes[3].take_effects();
    assert_eq!(sent(&effects), vec![(MessageType::MfStart, 0, offset)]);
    assert_eq!(
        logs(&effects),
        vec!["Manual failover user request accepted."]
    );

    // Master: MFSTART from its replica pauses writes and pings it at once with PAUSED.
    net.nodes[0].on_mfstart(replica);
    let effects = net.nodes[0].take_effects();
    assert_eq!(
        sent(&effects),
        vec![(MessageType::Ping, mflags::PAUSED, offset)]
    );
    assert_eq!(
        logs(&effects),
        vec![format!("Manual failover requested by replica {replica}.")]
    );
    assert!(net.nodes[0].writes_paused());
    // A write waits; a read does not.
    let c0 = net.clients[0];
    let key = Bytes::from(key_on_first_master(1));
    let set = vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        Bytes::from_static(b"x"),
    ];
    assert_eq!(net.nodes[0].command(now, c0, &set), Reply::Nil);
    assert_eq!(
        net.nodes[0].take_effects(),
        vec![Effect::BlockClient { client: c0 }]
    );
    let get = vec![Bytes::from_static(b"GET"), key];
    let reader = c0_other(&mut net);
    assert_eq!(
        net.nodes[0].command(now, reader, &get),
        Reply::Nil,
        "a read is served (the key is missing)"
    );
    assert_eq!(net.nodes[0].take_effects(), vec![]);
    assert_eq!(net.nodes[0].replication_offset(), offset, "nothing written");
    // MFSTART from a node that is not my replica is ignored.
    let other = net.nodes[4].myself();
    net.nodes[1].on_mfstart(replica);
    net.nodes[0].on_mfstart(other);
    assert_eq!(net.nodes[1].take_effects(), vec![]);
    assert_eq!(net.nodes[0].take_effects(), vec![]);

    // Replica: a PAUSED header from its master gives the offset; caught up, the election
    // starts at once with FORCEACK.
    let mut h = net.nodes[0].header(MessageType::Ping);
    h.mflags = mflags::PAUSED;
    net.nodes[3].note_paused_master_offset(master, &h);
    assert_eq!(
        net.nodes[3].cluster.manual_failover.master_offset,
        Some(offset)
    );
    net.nodes[3].manual_failover_before_reply();
    let effects = net.nodes[3].take_effects();
    let auth: Vec<_> = sent(&effects)
        .into_iter()
        .filter(|(k, _, _)| *k == MessageType::AuthRequest)
        .collect();
    assert_eq!(auth.len(), 5, "to every other node: {effects:?}");
    assert!(auth.iter().all(|(_, f, _)| *f == mflags::FORCEACK));
    assert_eq!(
        logs(&effects)[..3],
        [
            format!("Received replication offset for paused master manual failover: {offset}"),
            "All master replication stream processed, manual failover can start.".into(),
            "Starting a failover election for epoch 7.".into(),
        ]
    );
}

/// A second client on node 0 (the first one may be blocked).
fn c0_other(net: &mut TestNet) -> ClientId {
    let now = net.time();
    net.nodes[0].client_connected(now, "10.0.0.99:5001".into(), ip_of(0))
}

#[test]
fn manual_failover_waits_for_the_replica_to_catch_up_and_loses_no_write() {
    let mut net = three_masters_three_replicas(2000);
    let (old, new) = (net.nodes[0].myself(), net.nodes[3].myself());
    let acked = key_on_first_master(0);
    assert_eq!(net.cmd(0, &["SET", &acked, "1"]), Reply::ok());
    // The replica lags: the write is in the master's offset, not yet in the replica's.
    net.repl_held.insert(3);
    let lagging = key_on_first_master(1);
    assert_eq!(net.cmd(0, &["SET", &lagging, "2"]), Reply::ok());
    let master_offset = net.nodes[0].replication_offset();
    assert!(net.nodes[3].replication_offset() < master_offset);

    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    assert!(net.nodes[0].writes_paused());
    assert_eq!(
        net.nodes[3].cluster.manual_failover.master_offset,
        Some(master_offset)
    );
    // A write sent now is held, not refused and not applied.
    let held = key_on_first_master(2);
    assert_eq!(net.cmd(0, &["SET", &held, "3"]), Reply::Nil);
    let c0 = net.clients[0];
    assert!(net.blocked.contains(&(0, c0)));
    net.advance(1000);
    assert!(net.nodes[3].cluster.me().is_replica(), "not caught up yet");
    assert_eq!(net.nodes[0].replication_offset(), master_offset);

    // Caught up: elected at once, the old master follows and its held write is redirected.
    net.repl_held.remove(&3);
    net.advance(100);
    assert!(net.nodes[3].cluster.me().is_master());
    assert_eq!(net.nodes[0].cluster.me().master, Some(new));
    assert!(!net.nodes[0].writes_paused());
    let slot = crate::slot::key_hash_slot(held.as_bytes());
    assert_eq!(
        net.unblocked,
        vec![(0, c0, Reply::Error(format!("MOVED {slot} 10.0.0.4:7004")))]
    );
    net.advance(2000);
    for i in 0..6 {
        assert_eq!(net.nodes[i].cluster.slot_owner(0), Some(new), "node {i}");
        assert_eq!(
            net.nodes[i].cluster.nodes[&old].master,
            Some(new),
            "node {i}"
        );
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
    }
    // Both writes acknowledged before the failover survive, on the new master and on the
    // old one, now its replica.
    for i in [3, 0] {
        assert_eq!(net.nodes[i].db().len(), 2, "node {i}");
    }
    assert_eq!(net.cmd(3, &["GET", &lagging]), Reply::bulk_str("2"));
    assert_eq!(
        net.nodes[0].replication_offset(),
        net.nodes[3].replication_offset()
    );
}

#[test]
fn manual_failover_times_out_and_the_master_resumes_writes() {
    let mut net = three_masters_three_replicas(2000);
    net.repl_held.insert(3);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    let held = key_on_first_master(1);
    assert_eq!(net.cmd(0, &["SET", &held, "2"]), Reply::Nil);
    net.advance(4900);
    assert!(net.unblocked.is_empty(), "still paused");
    net.advance(200);
    let c0 = net.clients[0];
    assert_eq!(
        net.unblocked,
        vec![(0, c0, Reply::ok())],
        "the held write ran"
    );
    assert!(net.nodes[3].cluster.me().is_replica());
    assert!(net.nodes[0].cluster.me().is_master());
    assert_eq!(net.nodes[3].cluster.manual_failover, Default::default());
    assert_eq!(net.cmd(0, &["GET", &held]), Reply::bulk_str("2"));
    // With its master failed the plain form is refused.
    let master = net.nodes[0].myself();
    net.nodes[3].cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FAILOVER"]),
        Reply::err("Master is down or failed, please use CLUSTER FAILOVER FORCE")
    );
}

#[test]
fn wait_counts_the_replica_that_acknowledged_the_write() {
    let mut net = three_masters_three_replicas(2000);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(0, &["WAIT", "1", "1000"]), Reply::Nil);
    // GETACK reached the replica, which answered at once.
    let c0 = net.clients[0];
    assert_eq!(net.unblocked, vec![(0, c0, Reply::Integer(1))]);
    net.repl_held.insert(3);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(1), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(0, &["WAIT", "1", "1000"]), Reply::Nil);
    net.advance(900);
    assert_eq!(net.unblocked.len(), 1);
    net.advance(100);
    assert_eq!(net.unblocked[1], (0, c0, Reply::Integer(0)), "timed out");
    assert_eq!(
        net.cmd(3, &["WAIT", "1", "0"]),
        Reply::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

/// Three masters (nodes 0–2) and one replica per entry of `masters`: node 3+i replicates
/// node `masters[i]`. `tweak` adjusts every replica's config before it joins.
fn masters_with_replicas(masters: &[usize], tweak: impl Fn(&mut Config)) -> TestNet {
    let count = 3 + masters.len();
    let mut net = TestNet::new(count, 2000);
    for i in 3..count {
        tweak(&mut net.nodes[i].config);
    }
    net.create_three_masters();
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
    for (i, &m) in masters.iter().enumerate() {
        let master = net.nodes[m].myself().to_string();
        assert_eq!(
            net.cmd(3 + i, &["CLUSTER", "REPLICATE", &master]),
            Reply::ok()
        );
    }
    net.advance(3000);
    net
}

/// Master of node `i` as every live node sees it.
fn masters_seen(net: &TestNet, i: usize) -> BTreeSet<Option<crate::node_id::NodeId>> {
    let id = net.nodes[i].myself();
    (0..net.nodes.len())
        .filter(|j| !net.down.contains(j))
        .map(|j| net.nodes[j].cluster.nodes[&id].master)
        .collect()
}

#[test]
fn the_smallest_replica_of_the_richest_master_migrates_to_an_orphaned_master() {
    // Node 3 replicates master 0; nodes 4 and 5 replicate master 1.
    let mut net = masters_with_replicas(&[0, 1, 1], |_| {});
    let (m0, m1) = (net.nodes[0].myself(), net.nodes[1].myself());
    let (mover, stayer) = if net.nodes[4].myself() < net.nodes[5].myself() {
        (4, 5)
    } else {
        (5, 4)
    };
    net.down.insert(3);
    // FAIL of node 3 takes about two node timeouts; migration waits 5 s more.
    net.advance(6000);
    assert_eq!(masters_seen(&net, mover), BTreeSet::from([Some(m1)]));
    net.advance(6000);
    assert_eq!(masters_seen(&net, mover), BTreeSet::from([Some(m0)]));
    assert_eq!(masters_seen(&net, stayer), BTreeSet::from([Some(m1)]));
    net.advance(3000);
    assert_eq!(
        net.nodes[mover].replication_offset(),
        net.nodes[0].replication_offset()
    );
    let port = net.nodes[mover].config.port;
    assert!(
        net.nodes[0].repl.replicas().any(|r| r.port == port),
        "the migrated replica is attached"
    );
}

#[test]
fn the_migration_barrier_and_allow_replica_migration_keep_replicas_in_place() {
    let tweaks: [fn(&mut Config); 2] = [
        |c| c.cluster_migration_barrier = 2,
        |c| c.cluster_allow_replica_migration = false,
    ];
    for tweak in tweaks {
        let mut net = masters_with_replicas(&[0, 1, 1], tweak);
        let m1 = net.nodes[1].myself();
        net.down.insert(3);
        net.advance(15000);
        for i in [4, 5] {
            assert_eq!(
                masters_seen(&net, i),
                BTreeSet::from([Some(m1)]),
                "node {i}"
            );
        }
    }
}

#[test]
fn without_replica_migration_a_master_emptied_by_resharding_stays_a_master() {
    for allow in [true, false] {
        let mut net = TestNet::new(3, 2000);
        net.create_three_masters();
        net.nodes[0].config.cluster_allow_replica_migration = allow;
        let m1 = net.nodes[1].myself();
        let mut slots = net.nodes[1].cluster.me().slots.clone();
        for slot in net.nodes[0].cluster.me().slots.iter() {
            slots.insert(slot);
        }
        net.nodes[0].update_slots_config_with(m1, 100, &slots);
        let me = net.nodes[0].cluster.me();
        assert!(me.slots.is_empty());
        assert_eq!(me.is_replica(), allow, "allow={allow}");
    }
    // A failover (the sender took exactly my slots) is followed either way.
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    net.nodes[0].config.cluster_allow_replica_migration = false;
    let m1 = net.nodes[1].myself();
    let slots = net.nodes[0].cluster.me().slots.clone();
    net.nodes[0].update_slots_config_with(m1, 100, &slots);
    assert_eq!(net.nodes[0].cluster.me().master, Some(m1));
    // SETSLOT NODE of my last slot: the same rule.
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    net.nodes[0].config.cluster_allow_replica_migration = false;
    let m1 = net.nodes[1].myself();
    for slot in 1..=5460 {
        let n = &mut net.nodes[0];
        n.cluster.assign_slot(slot, Some(m1), &mut n.out);
    }
    let target = net.nodes[1].myself().to_string();
    assert_eq!(
        net.cmd(0, &["CLUSTER", "SETSLOT", "0", "NODE", &target]),
        Reply::ok()
    );
    assert!(net.nodes[0].cluster.me().is_master());
}

#[test]
fn validity_factor_and_no_failover_gate_the_automatic_election_only() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = &mut net.nodes[3];
    replica.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    // Late enough that any data age fits before it.
    replica.now.mono_ms += 2_000_000;
    let now = replica.now.mono_ms;
    // Limit: ping period (10 s) + node timeout × factor (10) = 30 s of data age, and the age
    // counts from one node timeout after the last data.
    let schedule_after = |r: &mut Node, age_ms: u64, factor: u64| {
        r.config.cluster_replica_validity_factor = factor;
        r.cluster.election = Default::default();
        r.cluster.nodes.get_mut(&master).unwrap().data_received_ms = now - age_ms;
        r.handle_replica_failover();
        r.cluster.election.auth_time_ms != 0
    };
    assert!(schedule_after(replica, 32_000, 10));
    assert!(!schedule_after(replica, 32_001, 10));
    assert!(schedule_after(replica, 1_000_000, 0), "factor 0: no limit");
    replica.config.cluster_replica_no_failover = true;
    assert!(!schedule_after(replica, 1_000, 10), "nofailover");
    // A manual failover ignores both.
    replica.config.cluster_replica_validity_factor = 10;
    replica
        .cluster
        .nodes
        .get_mut(&master)
        .unwrap()
        .data_received_ms = now - 1_000_000;
    replica.take_effects();
    replica.start_forced_failover();
    replica.handle_replica_failover();
    assert!(replica.cluster.election.auth_sent, "FORCE still elects");
}

#[test]
fn setslot_and_forget_refuse_bad_input_with_redis_errors() {
    let mut net = three_masters_three_replicas(5000);
    let err = |t: String| Reply::err(t);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let (me, other) = (
        net.nodes[0].myself().to_string(),
        net.nodes[1].myself().to_string(),
    );
    let replica = net.nodes[3].myself().to_string();
    // node0 owns slots 0-5460, node1 5461-10922.
    for (words, expected) in [
        (
            vec!["CLUSTER", "SETSLOT", "100", "NODE", unknown],
            format!("Unknown node {unknown}"),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "6000", "IMPORTING", unknown],
            format!("I don't know about node {unknown}"),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "16384", "STABLE"],
            "Invalid or out of range slot".to_string(),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "100", "IMPORTING", other.as_str()],
            "I'm already the owner of hash slot 100".to_string(),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "100", "NODE", replica.as_str()],
            "Target node is not a master".to_string(),
        ),
        (
            vec!["CLUSTER", "FORGET", me.as_str()],
            "I tried hard but I can't forget myself...".to_string(),
        ),
    ] {
        assert_eq!(net.cmd(0, &words), err(expected), "{words:?}");
    }
    // node3 replicates node0.
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FORGET", me.as_str()]),
        err("Can't forget my master!".to_string())
    );
    // Nothing changed: node0 still owns slot 100 with no open slot.
    let nodes = net.text(0, &["CLUSTER", "NODES"]);
    let myself = nodes.lines().find(|l| l.contains("myself")).unwrap();
    assert!(myself.ends_with("connected 0-5460"), "{myself}");
}

#[test]
fn owner_table_counts_slots_and_reuses_freed_entries() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let mut out = crate::outbox::Outbox::default();
    let c = &mut net.nodes[0].cluster;
    assert_eq!(c.assigned_slot_count(), 16384);
    let mut counts: Vec<_> = c.slot_counts().collect();
    counts.sort();
    let mut expected = vec![(ids[0], 5461), (ids[1], 5462), (ids[2], 5461)];
    expected.sort();
    assert_eq!(counts, expected);
    // Node 3's slots go elsewhere one by one; its entry is then free for the next owner.
    for slot in 10923..=16383 {
        c.assign_slot(
            slot,
            if slot % 2 == 0 { None } else { Some(ids[1]) },
            &mut out,
        );
    }
    assert_eq!(c.assigned_slot_count(), 5461 + 5462 + 2731);
    assert!(c.slot_counts().all(|(id, _)| id != ids[2]));
    assert!(c.nodes[&ids[2]].slots.is_empty());
    c.assign_slot(10924, Some(ids[2]), &mut out);
    assert_eq!(c.slot_owner(10924), Some(ids[2]));
    assert_eq!(c.slot_owner(10923), Some(ids[1]));
    assert_eq!(c.slot_owner(10925), Some(ids[1]));
    assert_eq!(c.slot_owner(10926), None);
    assert_eq!(c.slot_counts().count(), 3);
    // One batch across runs of several owners (and unassigned slots) takes them all.
    let batch: Vec<u16> = (5000..=10930).collect();
    c.assign_slots(&batch, Some(ids[0]), &mut out);
    assert_eq!(c.slot_owner(10923), Some(ids[0]));
    assert_eq!(c.slot_owner(10931), Some(ids[1]));
    assert_eq!(c.nodes[&ids[1]].slots.count(), 2731 - 4);
    assert_eq!(c.nodes[&ids[2]].slots.count(), 0);
    assert_eq!(c.assigned_slot_count(), 10931 + 2727);
    // The owner table and every node's slot set agree slot by slot.
    for slot in 0..16384u16 {
        for (id, n) in &c.nodes {
            assert_eq!(
                n.slots.contains(slot),
                c.slot_owner(slot) == Some(*id),
                "{slot}"
            );
        }
    }
}

#[test]
fn claimed_from_others_lists_only_slots_not_yet_the_claimers() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let m1 = net.nodes[1].myself();
    let c = &net.nodes[0].cluster;
    let mut claim = c.nodes[&m1].slots.clone();
    assert!(c.claimed_from_others(&m1, &claim).is_empty());
    for slot in [0, 63, 64, 5460, 16383] {
        claim.insert(slot);
    }
    claim.remove(6000); // giving up a slot is not a claim on anything
    assert_eq!(
        c.claimed_from_others(&m1, &claim),
        vec![0, 63, 64, 5460, 16383]
    );
}

#[test]
fn stale_claim_gets_an_update_naming_the_newer_owner() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let (m1, m2) = (net.nodes[1].myself(), net.nodes[2].myself());
    // Node 2 (epoch 2) claims node 3's slots 10923..=10930 (epoch 3) besides its own.
    let mut msg = Message {
        header: net.nodes[1].header(crate::bus::MessageType::Ping),
        body: crate::bus::Body::Gossip(vec![]),
    };
    for slot in 10923..=10930 {
        msg.header.myslots.insert(slot);
    }
    let now = net.time();
    let link = net.nodes[0].cluster.nodes[&m1].link.expect("linked");
    net.nodes[0].take_effects();
    net.nodes[0].bus_message(now, link, msg);
    let c = &net.nodes[0].cluster;
    assert_eq!(c.slot_owner(10923), Some(m2), "the older epoch loses");
    let updates: Vec<_> = net.nodes[0]
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { link: to, msg } => match msg.body {
                crate::bus::Body::Update {
                    config_epoch, id, ..
                } => Some((to, config_epoch, id)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(updates, vec![(link, 3, m2)]);
}

#[test]
fn cluster_info_and_nodes_render_counts_ranges_and_open_slots() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", ids[2].as_str()];
    assert_eq!(net.cmd(0, &importing), Reply::ok());
    let info = net.text(0, &["CLUSTER", "INFO"]);
    let lines: Vec<&str> = info.split("\r\n").collect();
    assert_eq!(
        &lines[..9],
        &[
            "cluster_state:ok",
            "cluster_slots_assigned:16384",
            "cluster_slots_ok:16384",
            "cluster_slots_pfail:0",
            "cluster_slots_fail:0",
            "cluster_known_nodes:3",
            "cluster_size:3",
            "cluster_current_epoch:3",
            "cluster_my_epoch:1",
        ]
    );
    let c = &net.nodes[0].cluster;
    let ping_sent = format!("cluster_stats_messages_ping_sent:{}", c.stats_sent[0]);
    let total_sent = format!(
        "cluster_stats_messages_sent:{}",
        c.stats_sent.iter().sum::<u64>()
    );
    assert!(lines.contains(&ping_sent.as_str()), "{info}");
    assert!(lines.contains(&total_sent.as_str()), "{info}");
    assert!(info.ends_with("total_cluster_links_buffer_limit_exceeded:0\r\n"));
    let nodes = net.text(0, &["CLUSTER", "NODES"]);
    let mine = nodes.lines().find(|l| l.contains("myself")).unwrap();
    let head = format!("{} 10.0.0.1:7001@17001 myself,master - 0 ", ids[0]);
    let tail = format!(" 1 connected 0-5460 [12539-<-{}]", ids[2]);
    assert!(mine.starts_with(&head) && mine.ends_with(&tail), "{mine}");
    let third = nodes
        .lines()
        .find(|l| l.starts_with(ids[2].as_str()))
        .unwrap();
    assert!(third.ends_with(" 3 connected 10923-16383"), "{third}");
}
