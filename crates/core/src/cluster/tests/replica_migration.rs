//! Replica migration: to an orphaned master, the migration barrier,
//! `cluster-allow-replica-migration`.

use super::*;

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

/// Redis 7.0 saves `nodes.conf` for `CLUSTER REPLICATE` without fsync
/// (`CLUSTER_TODO_SAVE_CONFIG` only) and asks for no save at all when a replica migrates; a
/// master emptied by `SETSLOT … NODE` that turns replica fsyncs (`CLUSTER_TODO_FSYNC_CONFIG`).
#[test]
fn replicate_and_replica_migration_save_without_fsync() {
    let mut net = masters_with_replicas(&[0, 1, 1], |_| {});
    let m2 = net.nodes[2].myself().to_string();
    let replicate = ["CLUSTER", "REPLICATE", m2.as_str()];
    assert_eq!(
        super::slots::save_fsyncs(&mut net, 3, &replicate),
        vec![false]
    );
    assert_eq!(
        net.nodes[3].cluster.me().master,
        Some(net.nodes[2].myself())
    );
    // Node 3 left master 0 orphaned: the smaller of 4 and 5 migrates to it, unsynced.
    let mover = if net.nodes[4].myself() < net.nodes[5].myself() {
        4
    } else {
        5
    };
    net.saves.clear();
    net.fsynced_saves.clear();
    net.advance(8000);
    assert_eq!(
        masters_seen(&net, mover),
        BTreeSet::from([Some(net.nodes[0].myself())])
    );
    assert!(net.saves.contains(&mover), "the migration is saved");
    assert!(
        !net.fsynced_saves.contains(&mover),
        "{:?}",
        net.fsynced_saves
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

/// A replica in the middle of a manual failover that moves to another master (replica
/// migration, `CLUSTER REPLICATE`) drops the manual failover: it was agreed with the old
/// master, and kept it would let the replica take the new master's slots unfailed (found by
/// the simulator: seed 450248, 3 masters × 2 replicas).
#[test]
fn a_new_master_ends_a_manual_failover_under_way() {
    let mut net = three_masters_three_replicas(2000);
    let (old_master, new_master) = (net.nodes[0].myself(), net.nodes[1].myself());
    let replica = &mut net.nodes[3].cluster;
    assert_eq!(replica.me().master, Some(old_master));
    let under_way = crate::cluster::failover::ManualFailover {
        end_ms: 10_000,
        master_offset: Some(5),
        can_start: true,
        ..Default::default()
    };
    replica.manual_failover = under_way.clone();
    replica.election.manual = true;
    let mut out = crate::outbox::Outbox::default();
    // The same master again changes nothing.
    replica.become_replica_of(old_master, &mut out);
    assert_eq!(replica.manual_failover, under_way);
    assert!(replica.election.manual);
    replica.become_replica_of(new_master, &mut out);
    assert_eq!(
        replica.manual_failover,
        crate::cluster::failover::ManualFailover::default()
    );
    assert!(!replica.election.manual);
    assert_eq!(replica.me().master, Some(new_master));
}
