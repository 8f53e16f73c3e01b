//! A client blocked in BLPOP on a master, in the simulator (virtual time, the real driver):
//! when a manual failover demotes that master, the client is let go as Redis 7.0 does it
//! (`-UNBLOCKED …`, then the connection closes); asking the old master again redirects to the
//! new one, where the client blocks again and a push wakes it. Also: a timeout is answered in
//! virtual time, about when it is due.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test blocking`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_sim::client::ClusterClient;
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::scenario::failover::replicas_of;
use clusterlab_sim::SimConfig;

const SEED: u64 = 17;
const UNBLOCKED: &str = "UNBLOCKED force unblock from blocking operation, instance state \
                         changed (master -> replica?)";

fn config() -> SimConfig {
    SimConfig {
        masters: 3,
        replicas: 1,
        node_timeout_ms: 5000,
        // Replicas synced at once, so the manual failover has a replica caught up.
        repl_diskless_sync_delay_s: 0,
        ..SimConfig::default()
    }
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

/// A created cluster, settled: every replica attached.
async fn healthy() -> SimCluster {
    let cluster = SimCluster::builder().config(config()).build();
    cluster.create().await.expect("create");
    cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
    sleep_ms(3000).await;
    cluster
}

/// A key in master 0's slots (0-5460).
fn key_of_master0() -> String {
    (0..)
        .map(|i| format!("b{i}"))
        .find(|k| clusterlab_core::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .expect("some key hashes low")
}

fn blocked_clients(reply: &Reply) -> String {
    clusterlab_sim::client::info_field(reply, "blocked_clients").unwrap_or_default()
}

#[test]
fn a_client_blocked_on_a_master_is_let_go_when_it_fails_over_and_follows_the_redirect() {
    in_runtime(SEED, async {
        let cluster = healthy().await;
        let replica = replicas_of(&config(), 0)[0];
        let (old, new) = (cluster.node(0).addr(), cluster.node(replica).addr());
        let key = key_of_master0();
        let machine = cluster.client_machine(0);
        let trace = cluster.trace().clone();
        let (old2, key2) = (old.clone(), key.clone());
        let blocked = machine.spawn(async move {
            let mut client = ClusterClient::new("blocked", old2.clone(), trace.clone());
            client.set_timeout_ms(120_000);
            let first = client
                .send_to(&old2, &[b"BLPOP", key2.as_bytes(), b"0"])
                .await;
            // Asked again on a fresh connection, the old master redirects; followed, the
            // client blocks on the new master until the push.
            let mut again = ClusterClient::new("blocked", old2.clone(), trace);
            again.set_timeout_ms(120_000);
            let routed = again.command(&[b"BLPOP", key2.as_bytes(), b"0"]).await;
            (first, routed)
        });
        sleep_ms(500).await;
        let info = cluster
            .command(0, &["INFO", "clients"])
            .await
            .expect("INFO");
        assert_eq!(blocked_clients(&info), "1");

        let failover = cluster.command(replica, &["CLUSTER", "FAILOVER"]).await;
        assert_eq!(failover.expect("CLUSTER FAILOVER"), Reply::ok());
        // Once the new master blocks the retried BLPOP, a push there serves it.
        let mut pushed = false;
        for _ in 0..200 {
            sleep_ms(100).await;
            let info = cluster
                .command(replica, &["INFO", "clients"])
                .await
                .expect("INFO");
            if blocked_clients(&info) == "1" {
                let push = cluster.command(replica, &["RPUSH", &key, "x"]).await;
                assert_eq!(push.expect("RPUSH"), Reply::Integer(1));
                pushed = true;
                break;
            }
        }
        assert!(pushed, "the retried BLPOP never blocked on the new master");
        let (first, routed) = blocked.await.expect("client task");
        assert_eq!(first.expect("BLPOP answered"), Reply::error(UNBLOCKED));
        let routed = routed.expect("BLPOP retried");
        let hops: Vec<&str> = routed.hops.iter().map(|h| h.addr.as_str()).collect();
        assert_eq!(hops, [old.as_str(), new.as_str()], "{:?}", routed.hops);
        let slot = clusterlab_core::slot::key_hash_slot(key.as_bytes());
        assert_eq!(
            routed.hops[0].reply,
            Reply::Error(format!("MOVED {slot} {new}"))
        );
        let pair = Reply::Array(vec![Reply::bulk(key.clone()), Reply::bulk("x")]);
        assert_eq!(routed.reply, pair);
        let info = cluster
            .command(0, &["INFO", "clients"])
            .await
            .expect("INFO");
        assert_eq!(blocked_clients(&info), "0", "the old master forgot it");
    });
}

#[test]
fn a_blocking_timeout_runs_in_virtual_time() {
    in_runtime(SEED, async {
        let cluster = healthy().await;
        let key = key_of_master0();
        let start = cluster.elapsed();
        let reply = cluster.command(0, &["BLPOP", &key, "2.5"]).await;
        let waited_ms = (cluster.elapsed() - start).as_millis();
        assert_eq!(reply.expect("BLPOP"), Reply::NilArray);
        // Due after 2500 ms; the node's 100 ms tick answers it at the next one.
        assert!(
            (2500..=2700).contains(&waited_ms),
            "answered after {waited_ms} ms"
        );
    });
}
