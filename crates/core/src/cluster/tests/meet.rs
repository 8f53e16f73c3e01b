//! Meeting and gossip: a fresh node, three masters meeting, `nodes.conf` and restarts, epoch
//! collisions, `CLUSTER RESET`.

use super::*;

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
    // A restart is a new process: its peers' links to the old one are closed, not left
    // hanging (a hanging link would need the stall check to notice it, which steady pings
    // from the restarted node can postpone indefinitely).
    net.kill(0);
    net.advance(3 * node_timeout_ms);
    assert_eq!(net.info_field(1, "cluster_state"), "fail");
    let now = net.time();
    let mut restarted = Node::from_nodes_conf(config.clone(), now, 999, &saved).unwrap();
    assert_eq!(restarted.myself(), id);
    assert_eq!(restarted.cluster.current_epoch, 3);
    assert_eq!(restarted.cluster.me().slots.count(), 5461);
    // The start is announced with the identity and epochs the file kept.
    restarted.announce_start();
    let started = |effects: Vec<Effect>| {
        effects.into_iter().find_map(|e| match e {
            Effect::Event(event @ ClusterEvent::NodeStarted { .. }) => Some(event),
            _ => None,
        })
    };
    assert_eq!(
        started(restarted.take_effects()),
        Some(ClusterEvent::NodeStarted {
            id,
            loaded: true,
            current_epoch: 3,
            config_epoch: restarted.cluster.me().config_epoch,
            last_vote_epoch: 0,
            master: None,
            flagged: Vec::new(),
        })
    );
    let mut fresh = Node::new(config, now, 1000);
    fresh.announce_start();
    assert_eq!(
        started(fresh.take_effects()),
        Some(ClusterEvent::NodeStarted {
            id: fresh.myself(),
            loaded: false,
            current_epoch: 0,
            config_epoch: 0,
            last_vote_epoch: 0,
            master: None,
            flagged: Vec::new(),
        })
    );
    net.nodes[0] = restarted;
    net.clients[0] = net.nodes[0].client_connected(now, "10.0.0.99:5000".into(), ip_of(0));
    net.down.remove(&0);
    net.advance(3 * node_timeout_ms);
    for i in 0..3 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
        assert_eq!(net.info_field(i, "cluster_known_nodes"), "3");
    }
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
