//! The admin operations against real Redis 7.0 nodes: what redis-cli does must work on the
//! real thing too, not only on clusterlab nodes (those are covered by the CLI's interop tests).

use super::create::tests::{connect_when_up, RedisNodes};
use super::*;
use clusterlab_core::slot::key_hash_slot;

/// Polls `check` through `entry` until it passes three times in a row with `nodes` nodes
/// loaded (gossip may still be settling after one clean pass; bounded).
async fn wait_clean(entry: &str, nodes: usize) -> CheckReport {
    let mut last = None;
    let mut clean = 0;
    for _ in 0..150 {
        if let (Ok(report), Ok(topology)) = (check(entry).await, load(entry).await) {
            if report.is_ok() && topology.nodes.len() == nodes {
                clean += 1;
                if clean == 3 {
                    return report;
                }
            } else {
                clean = 0;
            }
            last = Some(report);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cluster never checked clean with {nodes} nodes: {last:?}");
}

async fn wait_state_ok(addr: &str) {
    for _ in 0..100 {
        let info = cluster_info(addr).await.unwrap_or_default();
        if info_field(&info, "cluster_state") == Some("ok") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{addr} never reached cluster_state:ok");
}

/// A key in each of slots 0..=9.
fn low_slot_keys() -> Vec<String> {
    let mut keys = vec![String::new(); 10];
    for i in 0..100_000 {
        let key = format!("key{i}");
        let slot = usize::from(key_hash_slot(key.as_bytes()));
        if slot < 10 && keys[slot].is_empty() {
            keys[slot] = key;
        }
    }
    keys
}

#[tokio::test]
async fn add_reshard_check_fix_info_del_on_real_redis() {
    let Some(redis) = RedisNodes::start(5, 21800..22100) else {
        return;
    };
    let a = &redis.addrs;
    for addr in a {
        connect_when_up(addr).await;
    }
    create(&a[..3], 0).await.expect("create");
    for addr in &a[..3] {
        wait_state_ok(addr).await;
    }
    let keys = low_slot_keys();
    let mut first = connect_when_up(&a[0]).await;
    for key in &keys {
        first.ok(&["SET", key, "v"]).await.expect("SET");
    }
    let id1 = first.text(&["CLUSTER", "MYID"]).await.expect("myid");

    // A master and a replica of it join.
    let id4 = add_node(&a[3], &a[0], AddNodeRole::Master)
        .await
        .expect("add master");
    wait_clean(&a[0], 4).await;
    let replica = AddNodeRole::Replica {
        master_id: Some(id4.clone()),
    };
    let id5 = add_node(&a[4], &a[0], replica).await.expect("add replica");
    wait_clean(&a[0], 5).await;
    // A node refuses RESTORE-ASKING until its own cluster_state is ok (redis-cli too fails).
    for addr in a {
        wait_state_ok(addr).await;
    }

    // 10 slots with their keys move to the new master.
    let report = reshard(
        &a[0],
        Sources::Ids(vec![id1.clone()]),
        &id4,
        10,
        ReshardOptions::default(),
    )
    .await
    .expect("reshard");
    assert_eq!(report.moves.len(), 10);
    assert_eq!(report.keys(), 10);
    let mut fourth = connect_when_up(&a[3]).await;
    for slot in 0..10 {
        let n = fourth
            .int(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
            .await
            .expect("count");
        assert_eq!(n, 1, "slot {slot}");
    }
    wait_clean(&a[0], 5).await;
    let report_info = info(&a[0]).await.expect("info");
    let new = report_info
        .masters
        .iter()
        .find(|m| m.id == id4)
        .expect("new master");
    assert_eq!((new.keys, new.slots, new.replicas), (10, 10, 1));
    assert_eq!(report_info.keys(), 10);

    // An open slot is flagged, and fixed.
    fourth
        .ok(&["CLUSTER", "SETSLOT", "3", "MIGRATING", &id1])
        .await
        .expect("open slot");
    let open = check(&a[0]).await.expect("check");
    assert_eq!(open.open_slots, vec![3]);
    assert!(open.lines.contains(&format!(
        "[WARNING] Node {} has slots in migrating state 3.",
        a[3]
    )));
    fix(&a[0], ReshardOptions::default(), true)
        .await
        .expect("fix");
    wait_clean(&a[0], 5).await;
    let count = fourth
        .int(&["CLUSTER", "COUNTKEYSINSLOT", "3"])
        .await
        .expect("count");
    assert_eq!(count, 1, "the owner kept its key");

    // A stale copy on a node importing the slot (a MIGRATE that timed out): fix keeps the
    // owner's value and drops the copy.
    first
        .ok(&["CLUSTER", "SETSLOT", "3", "IMPORTING", &id4])
        .await
        .expect("importing");
    first.ok(&["ASKING"]).await.expect("asking");
    first
        .ok(&["SET", &keys[3], "stale"])
        .await
        .expect("stale copy");
    fix(&a[0], ReshardOptions::default(), true)
        .await
        .expect("fix");
    wait_clean(&a[0], 5).await;
    let value = fourth.text(&["GET", &keys[3]]).await.expect("GET");
    assert_eq!(value, "v");
    let stale = first
        .int(&["CLUSTER", "COUNTKEYSINSLOT", "3"])
        .await
        .expect("count");
    assert_eq!(stale, 0, "the stale copy is gone");

    // A copy equal to the owner's on the node the slot goes back to (a MIGRATE that timed out
    // after copying): the reshard finds BUSYKEY, compares the two copies (asking the importing
    // node) and replaces.
    first
        .ok(&["CLUSTER", "SETSLOT", "3", "IMPORTING", &id4])
        .await
        .expect("importing");
    first.ok(&["ASKING"]).await.expect("asking");
    first.ok(&["SET", &keys[3], "v"]).await.expect("equal copy");
    first
        .ok(&["CLUSTER", "SETSLOT", "3", "STABLE"])
        .await
        .expect("stable");

    // The replica goes, the slots go back, the master goes.
    del_node(&a[0], &id5).await.expect("del replica");
    reshard(
        &a[0],
        Sources::Ids(vec![id4.clone()]),
        &id1,
        10,
        ReshardOptions::default(),
    )
    .await
    .expect("reshard back");
    wait_clean(&a[0], 4).await;
    del_node(&a[0], &id4).await.expect("del master");
    wait_clean(&a[0], 3).await;
    let report_info = info(&a[0]).await.expect("info");
    assert_eq!(report_info.masters.len(), 3);
    assert_eq!(report_info.keys(), 10);
}
