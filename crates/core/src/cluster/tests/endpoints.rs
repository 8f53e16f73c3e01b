//! Announced hostnames and `cluster-preferred-endpoint-type`: hostnames reach the peers in
//! PING/PONG/MEET headers and show in `CLUSTER NODES`/`SLOTS`/`SHARDS`; the preferred endpoint
//! picks what clients are told in `CLUSTER SLOTS`, `CLUSTER SHARDS` and redirects; peers'
//! hostnames survive a restart from `nodes.conf`.

use super::*;

fn bulk(s: &str) -> Reply {
    Reply::bulk_str(s)
}

/// The three masters, each announcing `host-<i>.com`, gossiped to everyone.
fn three_named_masters() -> TestNet {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    for i in 0..3 {
        let name = format!("host-{i}.com");
        let set = ["CONFIG", "SET", "cluster-announce-hostname", name.as_str()];
        assert_eq!(net.cmd(i, &set), Reply::ok());
    }
    net.advance(3000);
    net
}

fn line_of<'a>(nodes: &'a str, id: &str) -> &'a str {
    nodes
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} missing from {nodes}"))
}

fn id_text(net: &TestNet, i: usize) -> String {
    net.nodes[i].myself().as_str().to_string()
}

#[test]
fn hostnames_travel_over_the_bus_into_nodes_and_slots() {
    let mut net = three_named_masters();
    let id0 = id_text(&net, 0);
    for i in 0..3 {
        let nodes = net.text(i, &["CLUSTER", "NODES"]);
        let fields: Vec<&str> = line_of(&nodes, &id0).split(' ').collect();
        assert_eq!(
            fields[1], "10.0.0.1:7001@17001,host-0.com",
            "seen by node {i}"
        );
    }
    assert_eq!(
        net.cmd(1, &["CLUSTER", "SLOTS"]),
        Reply::Array(vec![
            Reply::Array(vec![
                Reply::Integer(0),
                Reply::Integer(5460),
                Reply::Array(vec![
                    bulk("10.0.0.1"),
                    Reply::Integer(7001),
                    bulk(&id0),
                    Reply::Map(vec![(bulk("hostname"), bulk("host-0.com"))]),
                ]),
            ]),
            Reply::Array(vec![
                Reply::Integer(5461),
                Reply::Integer(10922),
                Reply::Array(vec![
                    bulk("10.0.0.2"),
                    Reply::Integer(7002),
                    bulk(&id_text(&net, 1)),
                    Reply::Map(vec![(bulk("hostname"), bulk("host-1.com"))]),
                ]),
            ]),
            Reply::Array(vec![
                Reply::Integer(10923),
                Reply::Integer(16383),
                Reply::Array(vec![
                    bulk("10.0.0.3"),
                    Reply::Integer(7003),
                    bulk(&id_text(&net, 2)),
                    Reply::Map(vec![(bulk("hostname"), bulk("host-2.com"))]),
                ]),
            ]),
        ])
    );
    // A node that stops announcing one is shown without it once its next PING arrives.
    let clear = ["CONFIG", "SET", "cluster-announce-hostname", ""];
    assert_eq!(net.cmd(0, &clear), Reply::ok());
    net.advance(3000);
    let nodes = net.text(2, &["CLUSTER", "NODES"]);
    assert!(
        line_of(&nodes, &id0).contains(" 10.0.0.1:7001@17001 "),
        "{nodes}"
    );
}

#[test]
fn preferred_endpoint_type_decides_slots_shards_and_redirects() {
    let mut net = three_named_masters();
    let clear = ["CONFIG", "SET", "cluster-announce-hostname", ""];
    assert_eq!(net.cmd(1, &clear), Reply::ok());
    net.advance(3000);
    let (id1, id2) = (id_text(&net, 1), id_text(&net, 2));
    // `foo` is in node 2's range, `c` in node 1's (which announces no hostname).
    assert_eq!(
        net.cmd(0, &["CLUSTER", "KEYSLOT", "foo"]),
        Reply::Integer(12182)
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "KEYSLOT", "c"]),
        Reply::Integer(7365)
    );
    let slots_entry = |net: &mut TestNet, run: usize| match net.cmd(0, &["CLUSTER", "SLOTS"]) {
        Reply::Array(runs) => match &runs[run] {
            Reply::Array(entry) => entry[2].clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };

    assert_eq!(
        net.cmd(0, &["SET", "foo", "x"]),
        Reply::error("MOVED 12182 10.0.0.3:7003")
    );

    let set = [
        "CONFIG",
        "SET",
        "cluster-preferred-endpoint-type",
        "hostname",
    ];
    assert_eq!(net.cmd(0, &set), Reply::ok());
    assert_eq!(
        slots_entry(&mut net, 2),
        Reply::Array(vec![
            bulk("host-2.com"),
            Reply::Integer(7003),
            bulk(&id2),
            Reply::Map(vec![(bulk("ip"), bulk("10.0.0.3"))]),
        ])
    );
    assert_eq!(
        slots_entry(&mut net, 1),
        Reply::Array(vec![
            bulk("?"),
            Reply::Integer(7002),
            bulk(&id1),
            Reply::Map(vec![(bulk("ip"), bulk("10.0.0.2"))]),
        ])
    );
    assert_eq!(
        net.cmd(0, &["SET", "foo", "x"]),
        Reply::error("MOVED 12182 host-2.com:7003")
    );
    assert_eq!(
        net.cmd(0, &["SET", "c", "x"]),
        Reply::error("MOVED 7365 ?:7002")
    );

    let set = [
        "CONFIG",
        "SET",
        "cluster-preferred-endpoint-type",
        "unknown-endpoint",
    ];
    assert_eq!(net.cmd(0, &set), Reply::ok());
    assert_eq!(
        slots_entry(&mut net, 2),
        Reply::Array(vec![
            Reply::Nil,
            Reply::Integer(7003),
            bulk(&id2),
            Reply::Map(vec![
                (bulk("ip"), bulk("10.0.0.3")),
                (bulk("hostname"), bulk("host-2.com")),
            ]),
        ])
    );
    assert_eq!(
        slots_entry(&mut net, 1),
        Reply::Array(vec![
            Reply::Nil,
            Reply::Integer(7002),
            bulk(&id1),
            Reply::Map(vec![(bulk("ip"), bulk("10.0.0.2"))]),
        ])
    );
    assert_eq!(
        net.cmd(0, &["SET", "foo", "x"]),
        Reply::error("MOVED 12182 :7003")
    );
}

#[test]
fn shards_name_the_endpoint_and_the_hostname() {
    let mut net = three_named_masters();
    let set = [
        "CONFIG",
        "SET",
        "cluster-preferred-endpoint-type",
        "hostname",
    ];
    assert_eq!(net.cmd(1, &set), Reply::ok());
    let Reply::Array(shards) = net.cmd(1, &["CLUSTER", "SHARDS"]) else {
        panic!("shards")
    };
    let id0 = id_text(&net, 0);
    let shard0 = shards
        .iter()
        .find(|s| format!("{s:?}").contains(&id0))
        .expect("node 0's shard");
    let Reply::Map(fields) = shard0 else {
        panic!("{shard0:?}")
    };
    assert_eq!(
        fields[0],
        (
            bulk("slots"),
            Reply::Array(vec![Reply::Integer(0), Reply::Integer(5460)])
        )
    );
    let offset = net.nodes[1]
        .cluster
        .node(&net.nodes[0].myself())
        .unwrap()
        .repl_offset;
    assert_eq!(
        fields[1],
        (
            bulk("nodes"),
            Reply::Array(vec![Reply::Map(vec![
                (bulk("id"), bulk(&id0)),
                (bulk("port"), Reply::Integer(7001)),
                (bulk("ip"), bulk("10.0.0.1")),
                (bulk("endpoint"), bulk("host-0.com")),
                (bulk("hostname"), bulk("host-0.com")),
                (bulk("role"), bulk("master")),
                (bulk("replication-offset"), Reply::Integer(offset as i64)),
                (bulk("health"), bulk("online")),
            ])])
        )
    );
}

#[test]
fn a_restart_from_nodes_conf_keeps_the_peers_hostnames() {
    let net = three_named_masters();
    let saved = net.nodes[1].nodes_conf();
    assert!(saved.contains("@17001,host-0.com "), "{saved}");
    assert!(saved.contains("@17002,host-1.com "), "{saved}");
    let mut config = net.nodes[1].config.clone();
    // My own hostname comes from the configuration I start with, not from the file.
    config.announce.hostname = "renamed.com".into();
    let restarted = Node::from_nodes_conf(config, net.time(), 7, &saved).unwrap();
    let c = &restarted.cluster;
    assert_eq!(
        c.node(&net.nodes[0].myself()).unwrap().hostname,
        "host-0.com"
    );
    assert_eq!(
        c.node(&net.nodes[2].myself()).unwrap().hostname,
        "host-2.com"
    );
    assert_eq!(c.me().hostname, "renamed.com");
}

#[test]
fn a_bad_hostname_is_refused_with_redis_wording_and_changes_nothing() {
    let mut net = three_named_masters();
    let long = "x".repeat(256);
    assert_eq!(
        net.cmd(0, &["CONFIG", "SET", "cluster-announce-hostname", &long]),
        Reply::error(
            "ERR CONFIG SET failed (possibly related to argument 'cluster-announce-hostname') \
             - Hostnames must be less than 256 characters"
        )
    );
    assert_eq!(
        net.cmd(0, &["CONFIG", "SET", "cluster-announce-hostname", "?.com"]),
        Reply::error(
            "ERR CONFIG SET failed (possibly related to argument 'cluster-announce-hostname') \
             - Hostnames may only contain alphanumeric characters, hyphens or dots"
        )
    );
    assert_eq!(net.nodes[0].cluster.me().hostname, "host-0.com");
}

#[test]
fn announced_ports_go_into_the_header_and_my_line() {
    let mut net = TestNet::new(1, 5000);
    let set = ["CONFIG", "SET", "cluster-announce-port", "9001"];
    assert_eq!(net.cmd(0, &set), Reply::ok());
    let set = ["CONFIG", "SET", "cluster-announce-bus-port", "19001"];
    assert_eq!(net.cmd(0, &set), Reply::ok());
    let header = net.nodes[0].header(MessageType::Ping);
    assert_eq!((header.port, header.cport), (9001, 19001));
    let nodes = net.text(0, &["CLUSTER", "NODES"]);
    assert!(nodes.contains(" :9001@19001 myself,master "), "{nodes}");
}
