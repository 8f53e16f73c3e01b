//! Failure detection: PFAIL after the node timeout, failure reports and their quorum and expiry,
//! FAIL on an isolated master, slot coverage.

use super::*;

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

/// After `kill -9` of a peer, reconnecting to it is refused, and on loopback the refusal is
/// asynchronous (`connect()` says EINPROGRESS first): Redis then frees the link and claims no
/// ping. The clock starts with the PING the cron queues on a still-connecting link, at the
/// latest once the last PONG is node_timeout/2 old; PFAIL follows a node timeout after it.
#[test]
fn a_killed_peer_is_timed_from_the_ping_queued_on_a_reconnect_not_from_the_refusal() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    let victim = net.nodes[2].myself();
    let t0 = net.now_ms;
    // Node 0 has just had the victim's PONG, and its once-a-second random ping is 900 ms away.
    let observer = &mut net.nodes[0];
    let n = observer.cluster.nodes.get_mut(&victim).unwrap();
    n.pong_received_ms = t0;
    n.ping_sent_ms = 0;
    observer.cluster.cron_runs = observer.cluster.cron_runs / 10 * 10 + 1;
    net.kill(2);
    assert_eq!(net.nodes[0].cluster.nodes[&victim].link, None);
    let mut ping_at_ms = None;
    for _ in 0..(node_timeout_ms / 100) {
        let (connects, sent) = (net.connects.len(), net.sent.len());
        net.advance(100);
        let to_victim: Vec<LinkId> = net.connects[connects..]
            .iter()
            .filter(|(from, _, dest)| *from == 0 && *dest == Some(2))
            .map(|(_, link, _)| *link)
            .collect();
        assert_eq!(to_victim.len(), 1, "one reconnect per cron pass");
        let pinged = net.sent[sent..].iter().any(|&(from, link, kind)| {
            from == 0 && link == to_victim[0] && kind == MessageType::Ping
        });
        let ping_sent_ms = net.nodes[0].cluster.nodes[&victim].ping_sent_ms;
        if pinged {
            assert_eq!(ping_sent_ms, net.now_ms, "the queued PING is the one timed");
            ping_at_ms = Some(net.now_ms);
            break;
        }
        assert_eq!(
            ping_sent_ms,
            0,
            "a refused connect is no ping (at {})",
            net.now_ms - t0
        );
    }
    let ping_at_ms = ping_at_ms.expect("no PING was queued on a reconnect");
    assert!(
        ping_at_ms >= t0 + 900 && ping_at_ms <= t0 + node_timeout_ms / 2 + 100,
        "PING at {}",
        ping_at_ms - t0
    );
    assert_eq!(net.nodes[0].cluster.nodes[&victim].link, None, "refused");
    let mut failing_at_ms = None;
    for _ in 0..(node_timeout_ms / 100 + 2) {
        net.advance(100);
        if net.nodes[0].cluster.nodes[&victim].is_failing() {
            failing_at_ms = Some(net.now_ms);
            break;
        }
    }
    assert_eq!(failing_at_ms, Some(ping_at_ms + node_timeout_ms + 100));
}

/// Redis sizes the PFAIL part of a gossip section by the PFAIL nodes it counted at the start
/// of the cron pass: a node flagged since is gossiped from the next pass on.
#[test]
fn a_new_pfail_node_is_gossiped_from_the_next_cron_pass() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let hung = net.nodes[2].myself();
    silence(&mut net, 2);
    let gossiped = |net: &mut TestNet| {
        let entries = net.nodes[0].bus().gossip_entries();
        entries.iter().filter(|g| g.id == hung).count()
    };
    net.nodes[0].cluster.nodes.get_mut(&hung).unwrap().flags |= flags::PFAIL;
    assert_eq!(gossiped(&mut net), 0, "not counted by the last cron pass");
    net.advance(100);
    assert!(net.nodes[0].cluster.nodes[&hung].has(flags::PFAIL));
    assert_eq!(gossiped(&mut net), 1, "counted now");
}

/// Redis keeps no `fail_time` in nodes.conf: a node restarted with a master flagged FAIL
/// there has `fail_time` 0 and clears the flag at the first PONG from it (`mstime() - 0` is
/// past the undo time). Our monotonic clock restarts with the process, so the loaded flag
/// must not wait for 2 × node timeout of the new process's clock.
#[test]
fn a_fail_flag_loaded_from_nodes_conf_clears_at_the_first_pong() {
    let node_timeout_ms = 20_000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    let failed = net.nodes[1].myself();
    silence(&mut net, 1);
    for _ in 0..40 {
        if net.nodes[0].cluster.nodes[&failed].has(flags::FAIL) {
            break;
        }
        net.advance(1000);
    }
    assert!(net.nodes[0].cluster.nodes[&failed].has(flags::FAIL));
    let fail_time_ms = net.nodes[2].cluster.nodes[&failed].fail_time_ms;
    assert!(fail_time_ms > 0, "node 2 flagged it FAIL itself");
    let saved = net.nodes[0].nodes_conf();
    let config = net.nodes[0].config.clone();
    net.kill(0);
    let now = net.time();
    let restarted = Node::from_nodes_conf(config, now, 999, &saved).unwrap();
    assert!(restarted.cluster.nodes[&failed].has(flags::FAIL), "loaded");
    net.nodes[0] = restarted;
    net.clients[0] = net.nodes[0].client_connected(now, "10.0.0.99:5000".into(), ip_of(0));
    net.down.remove(&0);
    net.down.remove(&1);
    net.advance(5000);
    // Still well inside the undo time of a FAIL flag set by this very clock.
    assert!(net.now_ms < fail_time_ms + 2 * node_timeout_ms);
    assert!(
        !net.nodes[0].cluster.nodes[&failed].has(flags::FAIL),
        "the restarted node clears the loaded FAIL at the first PONG"
    );
    assert_eq!(net.info_field(0, "cluster_state"), "ok");
    // Counter-case: the node that set the flag itself still waits for the undo time.
    assert!(net.nodes[2].cluster.nodes[&failed].has(flags::FAIL));
}

/// `DEBUG DROP-CLUSTER-PACKET-FILTER 1`: a node that drops every PONG stops hearing its peers'
/// answers (its pong times stand still), yet flags nobody PFAIL: their PINGs still arrive,
/// and Redis 7.0 counts any data received against the node timeout. `-1` ends it.
#[test]
fn a_node_dropping_pongs_hears_no_answers_until_the_filter_ends() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    net.nodes[0].config.enable_debug_command = crate::config::DebugCommand::Yes;
    let peer = net.nodes[1].myself();
    let pong_ms = |net: &TestNet| net.nodes[0].cluster.nodes[&peer].pong_received_ms;
    let drop_pongs = ["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "1"];
    assert_eq!(net.cmd(0, &drop_pongs), Reply::ok());
    let before = pong_ms(&net);
    net.advance(3 * node_timeout_ms);
    assert_eq!(pong_ms(&net), before, "no PONG got through");
    let flags = net.nodes[0].cluster.nodes[&peer].flags;
    assert_eq!(flags & flags::PFAIL, 0, "its PINGs still count as data");
    let allow_all = ["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "-1"];
    assert_eq!(net.cmd(0, &allow_all), Reply::ok());
    net.advance(node_timeout_ms);
    assert!(pong_ms(&net) > before);
    let not_a_number = ["DEBUG", "DROP-CLUSTER-PACKET-FILTER", "pong"];
    assert_eq!(net.cmd(0, &not_a_number), Reply::not_integer());
}

/// Redis 7.0 adopts the pong time a peer gossips about a node (the peer's wall clock, in
/// seconds) only while it has no doubt of that node itself (no ping pending, no failure
/// report, not flagged by the sender), and only up to 500 ms ahead of its own wall clock: a
/// peer whose clock runs ahead cannot make a silent node look fresh for long.
#[test]
fn gossiped_pong_times_are_adopted_at_most_half_a_second_ahead() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    // At x.600 s, the next whole second is 400 ms ahead and the one after 1400 ms.
    net.advance((1600 - net.now_ms % 1000) % 1000);
    assert_eq!(net.now_ms % 1000, 600);
    let peer = net.nodes[2].myself();
    let mut entry = crate::bus::GossipEntry {
        id: peer,
        ping_sent_s: 0,
        pong_received_s: 0,
        ip: ip_of(2),
        port: 7003,
        cport: 17003,
        flags: flags::MASTER,
    };
    let now = net.nodes[0].now;
    let second_s = (now.unix_ms / 1000) as u32;
    let adopt = |net: &mut TestNet, entry: &crate::bus::GossipEntry| {
        net.nodes[0].bus().refresh_pong_from_gossip(entry);
        net.nodes[0].cluster.nodes[&peer].pong_received_ms
    };
    let before_ms = net.nodes[0].cluster.nodes[&peer].pong_received_ms;
    assert_eq!(net.nodes[0].cluster.nodes[&peer].ping_sent_ms, 0);
    entry.pong_received_s = second_s + 2;
    assert_eq!(adopt(&mut net, &entry), before_ms, "1400 ms ahead: ignored");
    // Flagged by the sender, or with a ping of ours pending: ignored too.
    entry.pong_received_s = second_s + 1;
    entry.flags |= flags::PFAIL;
    assert_eq!(adopt(&mut net, &entry), before_ms);
    entry.flags &= !flags::PFAIL;
    let ping_sent = |net: &mut TestNet, ms: u64| {
        net.nodes[0]
            .cluster
            .nodes
            .get_mut(&peer)
            .unwrap()
            .ping_sent_ms = ms;
    };
    ping_sent(&mut net, now.mono_ms);
    assert_eq!(adopt(&mut net, &entry), before_ms);
    ping_sent(&mut net, 0);
    // 400 ms ahead: adopted, on our monotonic clock.
    assert_eq!(adopt(&mut net, &entry), now.mono_ms + 400);
    // An older time never replaces a newer one.
    entry.pong_received_s = second_s - 5;
    assert_eq!(adopt(&mut net, &entry), now.mono_ms + 400);
}
