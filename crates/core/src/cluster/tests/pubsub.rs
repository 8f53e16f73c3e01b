//! Pub/Sub across the bus: a PUBLISH reaches subscribers on every node, an SPUBLISH only the
//! nodes of its slot's shard; a shard subscription follows its slot (MOVED elsewhere, served
//! by the slot's replica, and dropped with a `sunsubscribe` push when the slot moves away).

use super::*;

fn pushes_on(net: &mut TestNet, node: usize) -> Vec<Vec<Reply>> {
    let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut net.pushes)
        .into_iter()
        .partition(|(n, _, _)| *n == node);
    net.pushes = rest;
    mine.into_iter().map(|(_, _, items)| items).collect()
}

fn b(s: &str) -> Reply {
    Reply::bulk_str(s)
}

/// A second connection to node `i` (its subscriber); returns its id.
fn subscriber(net: &mut TestNet, i: usize) -> crate::node::ClientId {
    let now = net.time();
    net.nodes[i].client_connected(now, "10.0.0.98:6000".into(), ip_of(i))
}

/// `words` sent by `client` on node `i`.
fn cmd_as(net: &mut TestNet, i: usize, client: crate::node::ClientId, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let now = net.time();
    let reply = net.nodes[i].command(now, client, &args);
    net.pump(i);
    net.deliver_all();
    reply
}

#[test]
fn publish_reaches_subscribers_on_every_node() {
    let mut net = three_masters_three_replicas(5000);
    for i in 0..6 {
        let s = subscriber(&mut net, i);
        cmd_as(&mut net, i, s, &["SUBSCRIBE", "news"]);
    }
    net.pushes.clear();
    assert_eq!(net.cmd(2, &["PUBLISH", "news", "hi"]), Reply::Integer(1));
    for i in 0..6 {
        assert_eq!(
            pushes_on(&mut net, i),
            vec![vec![b("message"), b("news"), b("hi")]],
            "node {i}"
        );
    }
}

#[test]
fn spublish_stays_in_its_shard_and_shard_subscriptions_follow_the_slot() {
    let mut net = three_masters_three_replicas(5000);
    // "orders" hashes to slot 12205... find its owner and that owner's replica.
    let slot = crate::slot::key_hash_slot(b"orders");
    let owner = (0..3)
        .find(|&i| net.nodes[i].cluster().slot_owner(slot) == Some(net.nodes[i].myself()))
        .expect("a master owns the slot");
    let replica = owner + 3;
    let other = (owner + 1) % 3;
    let moved = net.cmd(other, &["SSUBSCRIBE", "orders"]);
    assert!(
        matches!(&moved, Reply::Error(e) if e.starts_with("MOVED ")),
        "{moved:?}"
    );
    let s = subscriber(&mut net, owner);
    cmd_as(&mut net, owner, s, &["SSUBSCRIBE", "orders"]);
    // A replica of the slot's master serves it without READONLY.
    let s = subscriber(&mut net, replica);
    cmd_as(&mut net, replica, s, &["SSUBSCRIBE", "orders"]);
    net.pushes.clear();
    assert_eq!(
        net.cmd(owner, &["SPUBLISH", "orders", "o1"]),
        Reply::Integer(1)
    );
    for node in [owner, replica] {
        assert_eq!(
            pushes_on(&mut net, node),
            vec![vec![b("smessage"), b("orders"), b("o1")]],
            "node {node}"
        );
    }
    assert!(net.pushes.is_empty(), "{:?}", net.pushes);
    // The slot moves to another master: while it migrates, shard channels stay (no ASK, they
    // are no keys); at SETSLOT … NODE both subscribers are told and dropped.
    let target = net.nodes[other].myself().to_string();
    let source = net.nodes[owner].myself().to_string();
    let slot_arg = slot.to_string();
    let migrating = ["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &target];
    assert_eq!(net.cmd(owner, &migrating), Reply::ok());
    let importing = ["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &source];
    assert_eq!(net.cmd(other, &importing), Reply::ok());
    assert_eq!(
        net.cmd(owner, &["SPUBLISH", "orders", "o2"]),
        Reply::Integer(1)
    );
    assert_eq!(pushes_on(&mut net, owner).len(), 1);
    net.pushes.clear();
    for i in 0..6 {
        net.cmd(i, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &target]);
    }
    net.advance(2000);
    for node in [owner, replica] {
        assert_eq!(
            pushes_on(&mut net, node),
            vec![vec![b("sunsubscribe"), b("orders"), Reply::Integer(0)]],
            "node {node}"
        );
    }
    assert_eq!(
        net.cmd(owner, &["PUBSUB", "SHARDNUMSUB", "orders"]),
        Reply::Map(vec![(b("orders"), Reply::Integer(0))])
    );
}

/// A channel in master 0's slots (0-5460).
fn channel_of_node0() -> String {
    (0..)
        .map(|i| format!("news{i}"))
        .find(|c| crate::slot::key_hash_slot(c.as_bytes()) <= 5460)
        .expect("some channel hashes low")
}

#[test]
fn a_failover_drops_shard_subscribers_on_the_sibling_replica_only() {
    // Master 0 has two replicas: node 3 and node 6.
    let mut net = three_masters_with_replicas(5000, &[0]);
    let channel = channel_of_node0();
    let mut subscribers = Vec::new();
    for node in [0, 3, 6] {
        let s = subscriber(&mut net, node);
        cmd_as(&mut net, node, s, &["SSUBSCRIBE", &channel]);
        subscribers.push(s);
    }
    assert_eq!(net.cmd(0, &["SPUBLISH", &channel, "m1"]), Reply::Integer(1));
    net.pushes.clear();
    net.kill(0);
    let mut promoted = None;
    for _ in 0..60 {
        net.advance(500);
        promoted = [3, 6]
            .into_iter()
            .find(|&r| !net.nodes[r].cluster().me().is_replica());
        if promoted.is_some() {
            break;
        }
    }
    let promoted = promoted.expect("a replica was promoted");
    let sibling = if promoted == 3 { 6 } else { 3 };
    net.advance(3000);
    assert!(net.nodes[sibling]
        .cluster()
        .replicates(net.nodes[promoted].myself()));
    // Redis 7.0: the promoted replica left its master's replicas before it deleted the
    // slots, so its subscribers stay; the sibling deleted them as its master's and drops its.
    assert_eq!(pushes_on(&mut net, promoted), Vec::<Vec<Reply>>::new());
    assert_eq!(
        pushes_on(&mut net, sibling),
        vec![vec![b("sunsubscribe"), b(&channel), Reply::Integer(0)]]
    );
    assert_eq!(
        net.cmd(promoted, &["SPUBLISH", &channel, "m2"]),
        Reply::Integer(1)
    );
    assert_eq!(
        pushes_on(&mut net, promoted),
        vec![vec![b("smessage"), b(&channel), b("m2")]]
    );
    assert_eq!(pushes_on(&mut net, sibling), Vec::<Vec<Reply>>::new());
}
