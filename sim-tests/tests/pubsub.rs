//! Shard subscribers across a failover and a reshard, in the simulator (the real driver,
//! virtual time). A channel in master 0's slots has a subscriber on master 0 and on each of
//! its two replicas; `SPUBLISH`ed messages reach all three. Then:
//!
//! - master 0 crashes: its subscriber's connection ends. One replica wins the election and
//!   keeps its subscriber (Redis 7.0's `clusterFailoverReplaceYourMaster` deletes the old
//!   master's slots after the promoted node left its master's replica list, so nothing is
//!   dropped there); the other replica, hearing its master's slots claimed by its sibling,
//!   drops its shard subscribers with a `sunsubscribe` push (`clusterDelSlot` while it still
//!   serves the old master's slots). That subscriber resubscribes at the new owner, and later
//!   messages reach both.
//! - the slot moves to master 1 (a reshard): the new owner's subscribers get `sunsubscribe`;
//!   `SSUBSCRIBE` there answers `MOVED`, and at master 1 later messages arrive.
//!
//! Also a plain `SUBSCRIBE`r on one node gets a `PUBLISH` sent to another, across a short
//! partition between the two once it heals.
//!
//! Every frame each subscriber received is compared whole; each run replays to the same
//! trace hash.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test pubsub`.
#![cfg(madsim)]

mod common;

use std::time::Duration;

use clusterlab_core::Reply;
use clusterlab_net::admin::{self, ReshardOptions};
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::scenario::failover::replicas_of;
use clusterlab_sim::SimConfig;
use common::subscriber::{event, message, smessage, Subscriber};

const SEED: u64 = 29;
/// How long a subscriber listens after each step, in virtual ms.
const LISTEN_MS: u64 = 500;

fn config() -> SimConfig {
    SimConfig {
        masters: 3,
        replicas: 2,
        node_timeout_ms: 5000,
        repl_diskless_sync_delay_s: 0,
        ..SimConfig::default()
    }
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

/// A channel in master 0's slots (0-5460).
fn channel_of_master0() -> String {
    (0..)
        .map(|i| format!("news{i}"))
        .find(|c| clusterlab_core::slot::key_hash_slot(c.as_bytes()) <= 5460)
        .expect("some channel hashes low")
}

fn ssubscribed(channel: &str, count: i64) -> Reply {
    event("ssubscribe", channel, Reply::Integer(count))
}

fn sunsubscribed(channel: &str, count: i64) -> Reply {
    event("sunsubscribe", channel, Reply::Integer(count))
}

/// `ROLE`'s first field and, for a replica, its master's port.
async fn role(cluster: &SimCluster, node: usize) -> Option<(String, Option<i64>)> {
    let Ok(Reply::Array(items)) = cluster.command(node, &["ROLE"]).await else {
        return None;
    };
    let kind = match items.first() {
        Some(Reply::Bulk(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => return None,
    };
    let port = match items.get(2) {
        Some(Reply::Integer(p)) if kind == "slave" => Some(*p),
        _ => None,
    };
    Some((kind, port))
}

/// Polls until `wanted` holds for some node of `nodes`; returns it.
async fn wait_for_role(
    cluster: &SimCluster,
    nodes: &[usize],
    wanted: impl Fn(&(String, Option<i64>)) -> bool,
) -> usize {
    for _ in 0..600 {
        for &node in nodes {
            if role(cluster, node).await.as_ref().is_some_and(&wanted) {
                return node;
            }
        }
        sleep_ms(100).await;
    }
    panic!("no node of {nodes:?} reached the role wanted within 60 s");
}

fn port_of(cluster: &SimCluster, node: usize) -> i64 {
    let addr = cluster.node(node).addr();
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

async fn spublish(cluster: &SimCluster, node: usize, channel: &str, text: &str) -> Reply {
    cluster
        .command(node, &["SPUBLISH", channel, text])
        .await
        .expect("SPUBLISH")
}

/// Moves `slot` from the master at `from` to the master at `to`, as `redis-cli --cluster
/// reshard` moves one slot.
async fn move_slot(cluster: &SimCluster, from: usize, to: usize, slot: u16) {
    let (from, to) = (cluster.node(from).addr(), cluster.node(to).addr());
    let moved = cluster
        .on_client(async move {
            let mut topology = admin::topology::load(&from)
                .await
                .map_err(|e| e.to_string())?;
            let index = |addr: &str| topology.nodes.iter().position(|n| n.addr == addr);
            let (source, target) = (index(&from).expect("source"), index(&to).expect("target"));
            admin::reshard::move_slot(
                &mut topology,
                source,
                target,
                slot,
                ReshardOptions::default(),
            )
            .await
            .map_err(|e| e.to_string())
        })
        .await;
    assert_eq!(moved, Ok(0), "the channel's slot holds no keys");
}

/// What the run observed, compared across two runs of one seed.
#[derive(Debug, PartialEq)]
struct Outcome {
    trace_hash: u64,
    promoted: usize,
}

fn shard_subscribers_follow_failover_and_reshard(seed: u64) -> Outcome {
    in_runtime(seed, async {
        let config = config();
        let cluster = SimCluster::builder().config(config.clone()).build();
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        sleep_ms(3000).await;
        let replicas = replicas_of(&config, 0);
        assert_eq!(replicas.len(), 2);
        let channel = channel_of_master0();
        let ch = channel.as_str();
        let slot = clusterlab_core::slot::key_hash_slot(ch.as_bytes());

        let mut on_master =
            Subscriber::open(&cluster, 0, "sub-master", &cluster.node(0).addr()).await;
        let mut on_a =
            Subscriber::open(&cluster, 1, "sub-a", &cluster.node(replicas[0]).addr()).await;
        let mut on_b =
            Subscriber::open(&cluster, 2, "sub-b", &cluster.node(replicas[1]).addr()).await;
        for sub in [&mut on_master, &mut on_a, &mut on_b] {
            let got = sub.command(&["SSUBSCRIBE", ch], LISTEN_MS).await;
            assert_eq!(got, [ssubscribed(ch, 1)]);
        }
        // SPUBLISH counts this node's receivers only, as Redis does.
        assert_eq!(spublish(&cluster, 0, ch, "one").await, Reply::Integer(1));
        assert_eq!(spublish(&cluster, 0, ch, "two").await, Reply::Integer(1));
        let before = [smessage(ch, "one"), smessage(ch, "two")];
        for sub in [&mut on_master, &mut on_a, &mut on_b] {
            assert_eq!(sub.read_for(LISTEN_MS).await, before);
        }

        // The master crashes; one replica is promoted, the other follows it.
        cluster.kill(0);
        assert_eq!(on_master.read_for(LISTEN_MS).await, []);
        assert!(
            on_master.closed,
            "the crashed master's subscriber kept its link"
        );
        let promoted = wait_for_role(&cluster, &replicas, |r| r.0 == "master").await;
        let sibling = *replicas
            .iter()
            .find(|&&r| r != promoted)
            .expect("two replicas");
        let new_port = port_of(&cluster, promoted);
        wait_for_role(&cluster, &[sibling], |r| r.1 == Some(new_port)).await;
        let (on_new, on_sibling) = if promoted == replicas[0] {
            (&mut on_a, &mut on_b)
        } else {
            (&mut on_b, &mut on_a)
        };
        assert_eq!(on_new.read_for(LISTEN_MS).await, []);
        assert_eq!(on_sibling.read_for(LISTEN_MS).await, [sunsubscribed(ch, 0)]);
        let new_addr = cluster.node(promoted).addr();
        let mut again = Subscriber::open(&cluster, 3, "sub-again", &new_addr).await;
        assert_eq!(
            again.command(&["SSUBSCRIBE", ch], LISTEN_MS).await,
            [ssubscribed(ch, 1)]
        );
        assert_eq!(
            spublish(&cluster, promoted, ch, "three").await,
            Reply::Integer(2)
        );
        assert_eq!(on_new.read_for(LISTEN_MS).await, [smessage(ch, "three")]);
        assert_eq!(again.read_for(LISTEN_MS).await, [smessage(ch, "three")]);
        assert_eq!(on_sibling.read_for(LISTEN_MS).await, []);

        // The old master returns (as a replica); then the slot moves to master 1.
        cluster.restart(0);
        cluster
            .wait_cluster_ok(30_000)
            .await
            .expect("cluster ok after restart");
        sleep_ms(2000).await;
        move_slot(&cluster, promoted, 1, slot).await;
        assert_eq!(on_new.read_for(LISTEN_MS).await, [sunsubscribed(ch, 0)]);
        assert_eq!(again.read_for(LISTEN_MS).await, [sunsubscribed(ch, 0)]);
        let moved = Reply::Error(format!("MOVED {slot} {}", cluster.node(1).addr()));
        assert_eq!(again.command(&["SSUBSCRIBE", ch], LISTEN_MS).await, [moved]);
        let mut at_owner =
            Subscriber::open(&cluster, 4, "sub-owner", &cluster.node(1).addr()).await;
        assert_eq!(
            at_owner.command(&["SSUBSCRIBE", ch], LISTEN_MS).await,
            [ssubscribed(ch, 1)]
        );
        assert_eq!(spublish(&cluster, 1, ch, "four").await, Reply::Integer(1));
        assert_eq!(at_owner.read_for(LISTEN_MS).await, [smessage(ch, "four")]);
        for sub in [on_new, &mut again, on_sibling] {
            assert_eq!(sub.read_for(LISTEN_MS).await, []);
        }
        Outcome {
            trace_hash: cluster.trace().hash(),
            promoted,
        }
    })
}

#[test]
fn shard_subscribers_across_a_failover_and_a_reshard() {
    let first = shard_subscribers_follow_failover_and_reshard(SEED);
    let second = shard_subscribers_follow_failover_and_reshard(SEED);
    assert_eq!(first, second, "same seed, same run");
}

/// `PUBLISH plain <text>` sent to node 0.
async fn publish(cluster: &SimCluster, text: &str) -> Reply {
    let reply = cluster.command(0, &["PUBLISH", "plain", text]).await;
    reply.expect("PUBLISH")
}

/// A plain subscriber on one node gets what is published on another, also across a partition
/// between the two, shorter than half the node timeout, once it heals (the bus carries
/// `PUBLISH` to every node).
#[test]
fn a_publish_reaches_a_subscriber_on_another_node_after_a_partition_heals() {
    let first = publish_across_a_healed_partition(SEED);
    assert_eq!(
        first,
        publish_across_a_healed_partition(SEED),
        "same seed, same trace"
    );
}

/// The run of the test above; returns its trace hash.
fn publish_across_a_healed_partition(seed: u64) -> u64 {
    in_runtime(seed, async {
        let cluster = SimCluster::builder().config(config()).build();
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        sleep_ms(3000).await;
        let mut sub = Subscriber::open(&cluster, 0, "sub", &cluster.node(2).addr()).await;
        let got = sub.command(&["SUBSCRIBE", "plain"], LISTEN_MS).await;
        assert_eq!(got, [event("subscribe", "plain", Reply::Integer(1))]);
        // PUBLISH counts the receiving node's own subscribers: none on node 0.
        assert_eq!(publish(&cluster, "before").await, Reply::Integer(0));
        assert_eq!(sub.read_for(LISTEN_MS).await, [message("plain", "before")]);
        // Cut both directions between the publisher and the subscriber's node for less than
        // half the node timeout, so neither side drops the bus link.
        cluster.clog_link(0, 2);
        cluster.clog_link(2, 0);
        assert_eq!(publish(&cluster, "during").await, Reply::Integer(0));
        sleep_ms(2000).await;
        cluster.unclog_link(0, 2);
        cluster.unclog_link(2, 0);
        cluster
            .wait_cluster_ok(30_000)
            .await
            .expect("cluster ok after heal");
        sleep_ms(1000).await;
        let during = sub.read_for(LISTEN_MS).await;
        assert_eq!(publish(&cluster, "after").await, Reply::Integer(0));
        let after = sub.read_for(LISTEN_MS).await;
        // The link was clogged, not closed: what was published meanwhile waited in it and
        // arrives once it heals, before what is published after.
        assert_eq!(during, [message("plain", "during")]);
        assert_eq!(after, [message("plain", "after")]);
        cluster.trace().hash()
    })
}
