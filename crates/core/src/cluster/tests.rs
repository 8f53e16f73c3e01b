//! In-process tests of the cluster protocol: several `Node`s wired by a tiny loss-free network
//! that turns `Connect`/`Send`/`CloseLink` effects into calls on the peer, on a manual clock.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use crate::bus::{flags, Message};
use crate::config::Config;
use crate::node::{ClientId, Effect, LinkId, Node, Time};
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
                Effect::Log { text, .. } if std::env::var("TESTNET_LOG").is_ok() => {
                    eprintln!("{:>6} node{from}: {text}", self.now_ms)
                }
                _ => {}
            }
        }
    }

    fn deliver_all(&mut self) {
        let mut budget = 100_000;
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
    let conf = net.nodes[0].render_nodes_conf();
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
    assert_eq!(node.failure_report_count(target), 1);
    node.now.mono_ms = at + 2001;
    assert_eq!(node.failure_report_count(target), 0);
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
    // As after a restart of the replica while its master was already unreachable.
    let m = replica.cluster.nodes.get_mut(&master).unwrap();
    m.flags |= flags::FAIL;
    m.data_received_ms = 0;
    replica.take_effects();
    replica.handle_replica_failover();
    assert_eq!(
        replica.cluster.election.auth_time_ms, 0,
        "no election scheduled"
    );
    // Heard from recently: the election is scheduled.
    let now = replica.now.mono_ms;
    replica
        .cluster
        .nodes
        .get_mut(&master)
        .unwrap()
        .data_received_ms = now;
    replica.handle_replica_failover();
    assert!(replica.cluster.election.auth_time_ms > now);
}
