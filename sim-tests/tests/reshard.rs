//! Slot migrations under load and faults in the simulator: a handful of seeds, each moving a
//! master's busy slots to another master while the writer runs and one fault (crash of source
//! or target, partition, isolation, pause) strikes mid-migration; after heal and `fix`, no
//! slot is open or unowned, no key is lost or held twice, no acknowledged write is lost.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test reshard`. Replay a seed with `MADSIM_TEST_SEED=N` (and
//! `MADSIM_TEST_NUM`, `MADSIM_TEST_CHECK_DETERMINISM`) on `reshard_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::scenario::reshard::{self, Fault};
use clusterlab_sim::SimConfig;

/// Seeds run by default: together they draw every fault at least once; 55 once lost a write
/// that raced a MIGRATE (seeds/0007), 1054 one that `fix` overwrote (seeds/0008).
const SEEDS: [u64; 8] = [1, 2, 3, 4, 6, 20, 55, 1054];

#[test]
fn migrations_survive_faults() {
    let config = SimConfig::default();
    let mut faults = Vec::new();
    for seed in SEEDS {
        let run = reshard::run(seed, &config);
        let plan = run.plan.expect("a plan");
        println!(
            "reshard seed {seed}: {:?} {}->{} after {} ms for {} ms, {} slots, migration {:?}, \
             fix rounds {}, {} ops ({} acked)",
            plan.fault,
            plan.source + 1,
            plan.target + 1,
            plan.fault_after_ms,
            plan.fault_ms,
            run.slots.len(),
            run.migration,
            run.fix_rounds,
            run.ops,
            run.acked
        );
        run.report.assert_ok();
        assert!(!run.slots.is_empty(), "seed {seed}: nothing to migrate");
        assert!(run.acked > 20, "seed {seed}: the writer barely ran");
        faults.push(plan.fault);
    }
    for fault in [
        Fault::CrashSource,
        Fault::CrashTarget,
        Fault::PartitionPair,
        Fault::IsolateSource,
        Fault::PauseSource,
        Fault::PauseTarget,
    ] {
        assert!(
            faults.contains(&fault),
            "{fault:?} not exercised: {faults:?}"
        );
    }
}

#[test]
fn same_seed_same_reshard() {
    let config = SimConfig::default();
    let first = reshard::run(3, &config);
    let second = reshard::run(3, &config);
    assert_eq!(first.report.violations, second.report.violations);
    assert_eq!(first.report.trace_hash, second.report.trace_hash);
    assert_eq!(first.migration, second.migration);
}

/// Runs the scenario for `MADSIM_TEST_SEED` (default 100) and the `MADSIM_TEST_NUM - 1` seeds
/// after it.
#[test]
fn reshard_seed_from_env() {
    let reports = reports_for_env_seeds(100, 2, reshard::current, |seed| {
        reshard::run(seed, &SimConfig::default()).report
    });
    for report in reports {
        report.assert_ok();
    }
}

/// An importer whose slot is unassigned in its own view refuses MIGRATE for the slot's keys
/// ("Hash slot not served") and every write while its cluster state is `fail`. It gets there
/// when its source becomes a replica (the source's slots are dropped) and stays there, since
/// claims on a slot being imported are ignored (seed 603221). `fix` tells it the owner first,
/// then moves its keys to the owner.
#[test]
fn fix_moves_keys_off_an_importer_that_sees_its_slot_unassigned() {
    use clusterlab_core::reply::Reply;
    use clusterlab_net::admin::{self, ReshardOptions};
    use clusterlab_sim::cluster::SimCluster;
    use clusterlab_sim::view::parse_cluster_nodes;
    use std::time::Duration;
    clusterlab_sim::runner::in_runtime(7, async {
        let cluster = SimCluster::builder().seed(7).replicas(1).build();
        cluster.wait_listening().await.unwrap();
        cluster.create().await.unwrap();
        cluster.wait_cluster_ok(30_000).await.unwrap();
        let text = |reply: Reply| match reply {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not a bulk reply: {other:?}"),
        };
        // `cluster_state:ok` needs only the slots: node1 learns who replicates node3 from that
        // replica's next PING or PONG, up to half a node timeout later.
        let mut lines = Vec::new();
        let mut replica = None;
        for _ in 0..100 {
            let view = text(cluster.command(0, &["CLUSTER", "NODES"]).await.unwrap());
            lines = parse_cluster_nodes(&view).unwrap();
            let id3 = &lines.iter().find(|l| l.addr == "10.0.0.3:7003").unwrap().id;
            replica = lines
                .iter()
                .find(|l| l.master.as_deref() == Some(id3.as_str()))
                .cloned();
            if replica.is_some() {
                break;
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        let id_of = |addr: &str| lines.iter().find(|l| l.addr == addr).unwrap().id.clone();
        let id3 = id_of("10.0.0.3:7003");
        let replica = replica.expect("node3 has a replica");
        let replica = cluster
            .addrs()
            .iter()
            .position(|a| *a == replica.addr)
            .unwrap();
        // Slot 12539 ("key") is node3's: node1 imports it and gets the key by MIGRATE.
        let ok = |reply: std::io::Result<Reply>, what: &str| {
            assert_eq!(reply.unwrap(), Reply::ok(), "{what}");
        };
        ok(cluster.command(2, &["SET", "key", "v"]).await, "SET");
        let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", id3.as_str()];
        ok(cluster.command(0, &importing).await, "IMPORTING");
        let migrate = ["MIGRATE", "10.0.0.1", "7001", "key", "0", "1000"];
        ok(cluster.command(2, &migrate).await, "MIGRATE");
        // node3's replica takes over once its bus links are up (a manual failover without a
        // link to the master does nothing, as in Redis); node3, a replica now, no longer
        // claims the slot.
        madsim::time::sleep(Duration::from_secs(3)).await;
        ok(
            cluster.command(replica, &["CLUSTER", "FAILOVER"]).await,
            "FAILOVER",
        );
        let replica_addr = cluster.addrs()[replica].clone();
        let mut view = String::new();
        for _ in 0..30 {
            madsim::time::sleep(Duration::from_millis(500)).await;
            view = text(cluster.command(0, &["CLUSTER", "NODES"]).await.unwrap());
            let lines = parse_cluster_nodes(&view).unwrap();
            let flags = |addr: &str| lines.iter().find(|l| l.addr == addr).unwrap().flags.clone();
            if flags(&replica_addr).contains(&"master".to_string())
                && flags("10.0.0.3:7003").contains(&"slave".to_string())
            {
                break;
            }
        }
        assert!(view.contains("[12539-<-"), "still importing: {view}");
        let owners: Vec<_> = parse_cluster_nodes(&view).unwrap();
        assert!(
            owners
                .iter()
                .all(|l| !l.slots.iter().any(|&(a, b)| a <= 12539 && 12539 <= b)),
            "12539 unassigned in node1's view: {view}"
        );
        let entry = cluster.addrs()[1].clone();
        let options = ReshardOptions {
            timeout_ms: 2000,
            ..ReshardOptions::default()
        };
        let report = cluster
            .on_client(async move { admin::fix(&entry, options, false).await })
            .await
            .expect("fix");
        let told = format!(">>> Telling 10.0.0.1:7001 that {replica_addr} owns slot 12539");
        assert!(report.actions.contains(&told), "{report:?}");
        assert_eq!(
            cluster.command(replica, &["GET", "key"]).await.unwrap(),
            Reply::Bulk("v".into())
        );
        let count = ["CLUSTER", "COUNTKEYSINSLOT", "12539"];
        assert_eq!(cluster.command(0, &count).await.unwrap(), Reply::Integer(0));
        let view = text(cluster.command(0, &["CLUSTER", "NODES"]).await.unwrap());
        assert!(!view.contains("[12539-<-"), "import closed: {view}");
    });
}
