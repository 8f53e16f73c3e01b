//! Clients blocked on keys (BLPOP) in a cluster: the slot checks at call time, and what the
//! client gets when its slot moves away, the cluster goes down or its master is demoted.

use super::*;

/// A key in node 0's slots (0-5460) and its slot.
fn key_of_node0() -> (String, u16) {
    let key = (0..)
        .map(|i| format!("b{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .expect("some key hashes low");
    let slot = crate::slot::key_hash_slot(key.as_bytes());
    (key, slot)
}

/// Node 0's client blocks in `BLPOP key 0`.
fn block_on_node0(net: &mut TestNet, key: &str) -> ClientId {
    let c0 = net.clients[0];
    assert_eq!(net.cmd(0, &["BLPOP", key, "0"]), Reply::Nil, "not sent");
    assert!(net.blocked.contains(&(0, c0)));
    c0
}

#[test]
fn blocking_pops_are_routed_like_any_keyed_command() {
    let mut net = three_masters_three_replicas(2000);
    let (key, slot) = key_of_node0();
    let moved = Reply::Error(format!("MOVED {slot} 10.0.0.1:7001"));
    assert_eq!(net.cmd(1, &["BLPOP", &key, "0"]), moved);
    assert_eq!(net.cmd(1, &["BLMPOP", "0", "1", &key, "LEFT"]), moved);
    let other = (0..)
        .map(|i| format!("o{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) != slot)
        .expect("another slot");
    let crossslot = Reply::error("CROSSSLOT Keys in request don't hash to the same slot");
    assert_eq!(net.cmd(0, &["BRPOP", &key, &other, "0"]), crossslot);
    assert_eq!(
        net.cmd(0, &["BLMOVE", &key, &other, "LEFT", "LEFT", "0"]),
        crossslot
    );
    assert!(net.blocked.is_empty());
}

#[test]
fn a_client_blocked_on_a_slot_that_moved_away_gets_moved_from_the_cron() {
    let mut net = three_masters_three_replicas(2000);
    let (key, slot) = key_of_node0();
    let c0 = block_on_node0(&mut net, &key);
    let target = net.nodes[1].myself().to_string();
    let now = net.time();
    let other = net.nodes[0].client_connected(now, "10.0.0.99:5001".into(), ip_of(0));
    let setslot: Vec<Bytes> = ["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &target]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    assert_eq!(net.nodes[0].command(now, other, &setslot), Reply::ok());
    net.pump(0);
    assert!(
        net.unblocked.is_empty(),
        "answered by the cron, not at once"
    );
    net.advance(100);
    let moved = Reply::Error(format!("MOVED {slot} 10.0.0.2:7002"));
    assert_eq!(net.unblocked, vec![(0, c0, moved)]);
}

#[test]
fn a_client_blocked_on_a_master_cut_off_gets_clusterdown() {
    let mut net = three_masters_three_replicas(2000);
    let (key, _) = key_of_node0();
    let c0 = block_on_node0(&mut net, &key);
    net.isolated.insert(0);
    net.advance(4000);
    let down = Reply::error("CLUSTERDOWN The cluster is down");
    assert_eq!(net.unblocked, vec![(0, c0, down)]);
}

#[test]
fn a_client_blocked_on_a_master_that_fails_over_is_let_go() {
    let mut net = three_masters_three_replicas(2000);
    let (key, _) = key_of_node0();
    let c0 = block_on_node0(&mut net, &key);
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    net.advance(1000);
    assert!(net.nodes[0].cluster.me().is_replica(), "demoted");
    let text = "UNBLOCKED force unblock from blocking operation, instance state changed \
                (master -> replica?)";
    assert_eq!(net.unblocked, vec![(0, c0, Reply::error(text))]);
    // The new master serves the key; the old one now redirects there.
    assert_eq!(net.cmd(3, &["RPUSH", &key, "x"]), Reply::Integer(1));
}

#[test]
fn a_served_pop_reaches_the_replica_as_its_non_blocking_form() {
    let mut net = three_masters_three_replicas(2000);
    let (key, _) = key_of_node0();
    let c0 = block_on_node0(&mut net, &key);
    let now = net.time();
    let pusher = net.nodes[0].client_connected(now, "10.0.0.99:5001".into(), ip_of(0));
    let push: Vec<Bytes> = ["RPUSH", &key, "x", "y"]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    assert_eq!(net.nodes[0].command(now, pusher, &push), Reply::Integer(2));
    net.pump(0);
    net.advance(1000);
    let pair = Reply::Array(vec![Reply::bulk(key.clone()), Reply::bulk("x")]);
    assert_eq!(net.unblocked, vec![(0, c0, pair)]);
    let offset = net.nodes[0].replication_offset();
    assert_eq!(
        net.nodes[3].replication_offset(),
        offset,
        "the replica caught up"
    );
    assert_eq!(net.cmd(3, &["READONLY"]), Reply::ok());
    let left = Reply::Array(vec![Reply::bulk("y")]);
    assert_eq!(net.cmd(3, &["LRANGE", &key, "0", "-1"]), left);
}

/// Redis's suite file 16: a `READONLY` client's XREAD BLOCK on a replica waits there (the cron
/// does not redirect a read a replica may serve) and is served by the master's XADD arriving
/// in the replication stream; a write blocked there would be redirected.
#[test]
fn a_readonly_xread_blocked_on_a_replica_is_served_by_the_replicated_xadd() {
    let mut net = three_masters_three_replicas(2000);
    let (key, slot) = key_of_node0();
    let c3 = net.clients[3];
    let moved = Reply::Error(format!("MOVED {slot} 10.0.0.1:7001"));
    assert_eq!(
        net.cmd(3, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]),
        moved
    );
    assert_eq!(net.cmd(3, &["READONLY"]), Reply::ok());
    assert_eq!(
        net.cmd(3, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]),
        Reply::Nil,
        "not sent"
    );
    net.advance(1000);
    assert!(net.blocked.contains(&(3, c3)));
    assert!(net.unblocked.is_empty(), "still waiting after the cron ran");
    let now = net.time();
    let writer = net.nodes[0].client_connected(now, "10.0.0.99:5001".into(), ip_of(0));
    let add: Vec<Bytes> = ["XADD", &key, "5-1", "foo", "bar"]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    assert_eq!(net.nodes[0].command(now, writer, &add), Reply::bulk("5-1"));
    net.pump(0);
    net.advance(1000);
    let entry = Reply::Array(vec![
        Reply::bulk("5-1"),
        Reply::Array(vec![Reply::bulk("foo"), Reply::bulk("bar")]),
    ]);
    let served = Reply::Array(vec![Reply::Array(vec![
        Reply::bulk(key.clone()),
        Reply::Array(vec![entry]),
    ])]);
    assert_eq!(net.unblocked, vec![(3, c3, served)]);
}
