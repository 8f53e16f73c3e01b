//! Partial resync through failovers (PSYNC2): the replicas of a failed master continue with
//! the replica promoted in its place, and the old master continues too, unless it took writes
//! the new master never got: then it must load a full snapshot, which drops them.

use super::*;
use crate::slot::key_hash_slot;

/// Keys node 0 (slots 0–5460) serves.
fn keys_of_node0(count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| key_hash_slot(k.as_bytes()) <= 5460)
        .take(count)
        .collect()
}

/// Three masters, nodes 3 and 5 replicating node 0, node 4 replicating node 1; a few writes
/// on node 0, replicated everywhere.
fn shard_with_two_replicas() -> TestNet {
    let mut net = three_masters_three_replicas(2000);
    // Node 2 loses its replica below: it must not take one of node 0's back.
    for i in 0..6 {
        let reply = net.cmd(
            i,
            &["CONFIG", "SET", "cluster-allow-replica-migration", "no"],
        );
        assert_eq!(reply, Reply::ok());
    }
    let master0 = net.nodes[0].myself().to_string();
    assert_eq!(net.cmd(5, &["CLUSTER", "REPLICATE", &master0]), Reply::ok());
    net.advance(3000);
    for key in keys_of_node0(3) {
        assert_eq!(net.cmd(0, &["SET", &key, "before"]), Reply::ok());
    }
    net.advance(2000);
    assert_eq!(
        net.nodes[3].replication_offset(),
        net.nodes[0].replication_offset()
    );
    assert_eq!(
        net.nodes[5].replication_offset(),
        net.nodes[0].replication_offset()
    );
    net.events.clear();
    net
}

fn resyncs(net: &TestNet, node: usize) -> Vec<ClusterEvent> {
    net.events
        .iter()
        .filter(|(n, _)| *n == node)
        .map(|(_, e)| e.clone())
        .filter(|e| {
            matches!(
                e,
                ClusterEvent::PartialResync { .. } | ClusterEvent::FullResync { .. }
            )
        })
        .collect()
}

fn stat(net: &mut TestNet, node: usize, name: &str) -> String {
    let info = net.text(node, &["INFO", "all"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name}"))
        .to_string()
}

/// Node 0 fails while nodes 3 and 5 have everything; the winner of the election among them.
fn fail_over_node0(net: &mut TestNet) -> (usize, usize) {
    net.down.insert(0);
    net.advance(4 * 2000 + 3000);
    let winner = [3, 5]
        .into_iter()
        .find(|&i| net.nodes[i].cluster.me().is_master())
        .expect("a replica of node 0 was promoted");
    let sibling = 8 - winner;
    (winner, sibling)
}

#[test]
fn the_siblings_and_the_old_master_continue_with_the_promoted_replica() {
    let mut net = shard_with_two_replicas();
    let offset = net.nodes[0].replication_offset();
    let old_replid = net.nodes[0].repl.replid().to_string();
    let (winner, sibling) = fail_over_node0(&mut net);
    let winner_id = net.nodes[winner].myself();
    // The new master keeps the old history as its second ID, valid up to its offset.
    assert_eq!(net.nodes[winner].repl.replid2(), old_replid);
    assert_eq!(net.nodes[winner].repl.second_offset(), offset as i64 + 1);
    let new_replid = net.nodes[winner].repl.replid().to_string();
    assert_ne!(new_replid, old_replid);
    // Its sibling asked for the old ID and continued under the new one: nothing flushed.
    assert_eq!(
        resyncs(&net, sibling),
        vec![ClusterEvent::PartialResync {
            master: winner_id,
            offset
        }]
    );
    assert_eq!(net.nodes[sibling].repl.replid(), new_replid);
    assert_eq!(net.nodes[sibling].repl.replid2(), old_replid);
    // The old master comes back, follows the winner and continues too (it took no write the
    // winner lacks).
    net.down.remove(&0);
    net.advance(3 * 2000);
    assert_eq!(net.nodes[0].cluster.me().master, Some(winner_id));
    assert_eq!(
        resyncs(&net, 0),
        vec![ClusterEvent::PartialResync {
            master: winner_id,
            offset
        }]
    );
    assert_eq!(stat(&mut net, winner, "sync_partial_ok"), "2");
    assert_eq!(stat(&mut net, winner, "sync_full"), "0");
    // New writes reach both, at the same offsets.
    let key = &keys_of_node0(1)[0];
    assert_eq!(net.cmd(winner, &["SET", key, "after"]), Reply::ok());
    net.advance(1000);
    let now = net.time().unix_ms;
    for i in [0, sibling] {
        assert_eq!(
            net.nodes[i].replication_offset(),
            net.nodes[winner].replication_offset()
        );
        assert_eq!(net.nodes[i].db.len(), 3, "node {i} kept its data");
        assert!(net.nodes[i].db.get(key.as_bytes(), now).is_some());
    }
}

#[test]
fn an_old_master_that_took_writes_past_the_promotion_must_sync_in_full_and_loses_them() {
    let mut net = shard_with_two_replicas();
    let promoted_at = net.nodes[0].replication_offset();
    // The replicas stop hearing node 0, which takes one more write (a client on its side).
    net.repl_held.extend([3, 5]);
    let divergent = keys_of_node0(4).pop().expect("a fourth key");
    assert_eq!(net.cmd(0, &["SET", &divergent, "x"]), Reply::ok());
    let old_offset = net.nodes[0].replication_offset();
    assert!(old_offset > promoted_at);
    let (winner, sibling) = fail_over_node0(&mut net);
    let winner_id = net.nodes[winner].myself();
    net.repl_held.clear();
    net.advance(2000);
    assert_eq!(
        resyncs(&net, sibling),
        vec![ClusterEvent::PartialResync {
            master: winner_id,
            offset: promoted_at
        }]
    );
    // Back, node 0 asks to continue its own history past the winner's second offset: refused.
    net.down.remove(&0);
    net.advance(3 * 2000);
    assert_eq!(net.nodes[0].cluster.me().master, Some(winner_id));
    let winner_offset = net.nodes[winner].replication_offset();
    let resynced = resyncs(&net, 0);
    let [ClusterEvent::FullResync { master, offset, .. }] = resynced.as_slice() else {
        panic!("one full resync, got {resynced:?}");
    };
    assert_eq!(*master, winner_id);
    assert!(*offset >= promoted_at && *offset <= winner_offset);
    assert_eq!(stat(&mut net, winner, "sync_partial_err"), "1");
    assert_eq!(stat(&mut net, winner, "sync_full"), "1");
    let now = net.time().unix_ms;
    assert!(net.nodes[0].db.get(divergent.as_bytes(), now).is_none());
    assert_eq!(net.nodes[0].db.len(), 3);
    assert_eq!(net.nodes[0].replication_offset(), winner_offset);
}

#[test]
fn a_replica_whose_full_sync_is_still_arriving_loses_the_election_to_a_synced_one() {
    let mut net = three_masters_three_replicas(2000);
    for i in 0..6 {
        let reply = net.cmd(
            i,
            &["CONFIG", "SET", "cluster-allow-replica-migration", "no"],
        );
        assert_eq!(reply, Reply::ok());
    }
    for key in keys_of_node0(5) {
        assert_eq!(net.cmd(0, &["SET", &key, "v"]), Reply::ok());
    }
    net.advance(2000);
    // Node 5 leaves node 2 for node 0: another history, so a full sync, whose answer and
    // snapshot are held on the way (a slow transfer).
    net.repl_held.insert(5);
    net.events.clear();
    let master0 = net.nodes[0].myself().to_string();
    assert_eq!(net.cmd(5, &["CLUSTER", "REPLICATE", &master0]), Reply::ok());
    net.advance(2000);
    let link = net.nodes[5].repl.master_link().expect("a link to node 0");
    assert!(!link.up || link.loading, "not synced");
    let synced = net
        .events
        .iter()
        .any(|(n, e)| *n == 5 && matches!(e, ClusterEvent::ReplicationLinkUp { .. }));
    assert!(!synced);
    // Its offset is still its old history's, behind node 3's: it ranks after node 3.
    assert!(net.nodes[5].replication_offset() < net.nodes[3].replication_offset());
    net.events.clear();
    net.down.insert(0);
    net.advance(4 * 2000 + 3000);
    assert!(
        net.nodes[3].cluster.me().is_master(),
        "the synced replica won"
    );
    assert!(net.nodes[5].cluster.me().is_replica());
    let ranks: Vec<usize> = net
        .events
        .iter()
        .filter_map(|(n, e)| match e {
            ClusterEvent::ElectionScheduled { rank, .. } if *n == 5 => Some(*rank),
            _ => None,
        })
        .collect();
    assert!(ranks.iter().all(|&r| r >= 1), "{ranks:?}");
}
