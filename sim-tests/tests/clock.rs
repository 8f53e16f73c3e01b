//! Clock faults: what a jump of a node's wall clock does to failure detection and elections,
//! with clusterlab's monotonic timeouts and with Redis 7.0's wall-clock ones
//! (`SimConfig::wall_clock_timeouts`, sim only). Every assertion reads typed events.
//!
//! Monotonic (ours): a jump of an hour, forward then back, on a master, on a replica and on
//! every node reaches the wall clock (`TIME` shows it) and nothing else: no PFAIL, FAIL or
//! election. A master killed while every clock steps back an hour is failed over as fast as
//! without the step.
//!
//! Wall clock (Redis's `mstime()`): a forward jump past the node timeout makes the node flag
//! PFAIL the peer it had a ping in flight to (the ping looks a jump old), yet no FAIL is
//! agreed and nobody fails over; a backward step on every node holds every timeout back, so
//! a killed master is failed over about one step later.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test clock`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::{ClusterEvent, Reply};
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::scenario::failover::replicas_of;
use clusterlab_sim::trace::{Event, TraceEvent};
use clusterlab_sim::SimConfig;

const NODE_TIMEOUT_MS: u64 = 5000;
const HOUR_MS: i64 = 3_600_000;

fn config(wall_clock_timeouts: bool) -> SimConfig {
    SimConfig {
        masters: 3,
        replicas: 1,
        node_timeout_ms: NODE_TIMEOUT_MS,
        wall_clock_timeouts,
        // Replicas synced before the faults: one that never finished its first full sync is
        // too stale to be promoted, whatever the clocks do.
        repl_diskless_sync_delay_s: 0,
        ..SimConfig::default()
    }
}

/// A created cluster, settled: every replica attached, every pong fresh.
async fn healthy(config: SimConfig) -> SimCluster {
    let cluster = SimCluster::builder().config(config).build();
    cluster.create().await.expect("create");
    cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
    sleep_ms(3000).await;
    cluster
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

fn now_us(cluster: &SimCluster) -> u64 {
    cluster.elapsed().as_micros() as u64
}

/// How far `node`'s `TIME` is from the harness's true wall clock, in ms.
async fn time_offset_ms(cluster: &SimCluster, node: usize) -> i64 {
    let reply = cluster.command(node, &["TIME"]).await.expect("TIME");
    let Reply::Array(parts) = reply else {
        panic!("TIME answered {reply:?}");
    };
    let field = |i: usize| match &parts[i] {
        Reply::Bulk(b) => String::from_utf8_lossy(b).parse::<i64>().expect("number"),
        other => panic!("TIME field {other:?}"),
    };
    let node_ms = field(0) * 1000 + field(1) / 1000;
    node_ms - clusterlab_net::clock::unix_now_ms() as i64
}

/// The failure-detection and election events since `from_us`, with the node that made them.
fn detections_since(cluster: &SimCluster, from_us: u64) -> Vec<(String, ClusterEvent)> {
    let events: Vec<TraceEvent> = cluster.trace().events();
    events
        .into_iter()
        .filter(|e| e.time_us >= from_us)
        .filter_map(|e| match e.event {
            Event::Cluster(c) if is_detection(&c) => Some((e.node, c)),
            _ => None,
        })
        .collect()
}

fn is_detection(event: &ClusterEvent) -> bool {
    matches!(
        event,
        ClusterEvent::PfailMarked { .. }
            | ClusterEvent::PfailCleared { .. }
            | ClusterEvent::FailMarked { .. }
            | ClusterEvent::FailQuorumReached { .. }
            | ClusterEvent::ElectionScheduled { .. }
            | ClusterEvent::ElectionStarted { .. }
            | ClusterEvent::Promoted { .. }
            | ClusterEvent::ClusterStateChanged { .. }
    )
}

/// Steps the clocks of `nodes` by `by_ms`, then checks `TIME` on the first one shows the
/// offset it now has (`expect_ms`, within a second).
async fn step_and_check(cluster: &SimCluster, nodes: &[usize], by_ms: i64, expect_ms: i64) {
    for &n in nodes {
        cluster.jump_clock(n, by_ms);
    }
    let seen_ms = time_offset_ms(cluster, nodes[0]).await;
    assert!(
        (seen_ms - expect_ms).abs() < 1000,
        "{seen_ms} ms, expected {expect_ms}"
    );
}

/// Monotonic timeouts: an hour forward, then two hours back, on `nodes`; nothing but the
/// wall clock notices.
fn monotonic_hour_jumps(seed: u64, nodes: fn(&SimConfig) -> Vec<usize>) {
    in_runtime(seed, async move {
        let config = config(false);
        let cluster = healthy(config.clone()).await;
        let nodes = nodes(&config);
        let from_us = now_us(&cluster);
        step_and_check(&cluster, &nodes, HOUR_MS, HOUR_MS).await;
        sleep_ms(3 * NODE_TIMEOUT_MS).await;
        step_and_check(&cluster, &nodes, -2 * HOUR_MS, -HOUR_MS).await;
        sleep_ms(3 * NODE_TIMEOUT_MS).await;
        let seen = detections_since(&cluster, from_us);
        assert!(
            seen.is_empty(),
            "jumps on {nodes:?} were noticed: {seen:#?}"
        );
    });
}

#[test]
fn monotonic_timeouts_ignore_an_hour_jump_on_a_master() {
    monotonic_hour_jumps(11, |_| vec![0]);
}

#[test]
fn monotonic_timeouts_ignore_an_hour_jump_on_a_replica() {
    monotonic_hour_jumps(12, |c| vec![replicas_of(c, 0)[0]]);
}

#[test]
fn monotonic_timeouts_ignore_an_hour_jump_on_every_node() {
    monotonic_hour_jumps(13, |c| (0..c.node_count()).collect());
}

/// Kills master 0 while every node's clock steps by `step_ms` (none: no step); returns how
/// long after the kill its replica was promoted.
fn failover_after_kill(seed: u64, wall_clock_timeouts: bool, step_ms: Option<i64>) -> u64 {
    in_runtime(seed, async move {
        let config = config(wall_clock_timeouts);
        let cluster = healthy(config.clone()).await;
        let replica = replicas_of(&config, 0)[0];
        let from_us = now_us(&cluster);
        for n in 0..cluster.len() {
            if let Some(by_ms) = step_ms {
                cluster.jump_clock(n, by_ms);
            }
        }
        cluster.kill(0);
        for _ in 0..1200 {
            sleep_ms(100).await;
            let promoted = cluster.trace().events().into_iter().find(|e| {
                e.time_us >= from_us
                    && e.node == cluster.node(replica).name
                    && matches!(e.event, Event::Cluster(ClusterEvent::Promoted { .. }))
            });
            if let Some(e) = promoted {
                return (e.time_us - from_us) / 1000;
            }
        }
        panic!("no failover within 120 s");
    })
}

/// Redis's failover bound for a shard of one replica: the node timeout, FAIL's propagation
/// and the election delay (500 ms + up to 500 ms random + rank × 1 s), with a tick's slack.
const FAILOVER_BOUND_MS: u64 = NODE_TIMEOUT_MS * 3 / 2 + 2500;

#[test]
fn monotonic_failover_is_not_delayed_by_every_clock_stepping_back() {
    let plain_ms = failover_after_kill(21, false, None);
    let stepped_ms = failover_after_kill(21, false, Some(-HOUR_MS));
    println!("monotonic failover: {plain_ms} ms, {stepped_ms} ms with every clock an hour back");
    assert!(plain_ms <= FAILOVER_BOUND_MS, "{plain_ms} ms");
    assert!(stepped_ms <= FAILOVER_BOUND_MS, "{stepped_ms} ms");
    assert!(
        plain_ms.abs_diff(stepped_ms) < 1000,
        "{plain_ms} vs {stepped_ms}"
    );
}

#[test]
fn wall_clock_failover_waits_about_one_backward_step() {
    let step_ms: i64 = 30_000;
    let plain_ms = failover_after_kill(22, true, None);
    let stepped_ms = failover_after_kill(22, true, Some(-step_ms));
    println!("wall-clock failover: {plain_ms} ms, {stepped_ms} ms with every clock 30 s back");
    assert!(plain_ms <= FAILOVER_BOUND_MS, "{plain_ms} ms");
    // PFAIL waits for the wall clock to pass the last data from the master by the node
    // timeout (Redis 7.0's `node_delay` is the smaller of the ping and data delays): a step
    // later than without it. Without the step, detection also waits for a ping, which goes
    // out up to half a node timeout after the kill; with it, a ping sent while the clock is
    // held is dated at the kill. So the delay is the step, less up to half a node timeout.
    let delay_ms = stepped_ms as i64 - plain_ms as i64;
    let earliest_ms = step_ms - NODE_TIMEOUT_MS as i64 / 2 - 1000;
    assert!(
        (earliest_ms..=step_ms + 2000).contains(&delay_ms),
        "delayed by {delay_ms} ms for a {step_ms} ms step"
    );
}

/// node2 (a master) hangs for 3.5 s, less than the node timeout: node1's ping to it, sent
/// once its last pong was half a node timeout old, is still in flight when node1's clock
/// jumps `jump_ms` ahead. Returns the detection events from the hang on.
fn forward_jump_during_a_ping(
    wall_clock_timeouts: bool,
    jump_ms: i64,
) -> (Vec<(String, ClusterEvent)>, String) {
    in_runtime(31, async move {
        let cluster = healthy(config(wall_clock_timeouts)).await;
        let hung = match cluster
            .command(1, &["CLUSTER", "MYID"])
            .await
            .expect("MYID")
        {
            Reply::Bulk(id) => String::from_utf8_lossy(&id).into_owned(),
            other => panic!("MYID answered {other:?}"),
        };
        let from_us = now_us(&cluster);
        cluster.pause(1);
        sleep_ms(3200).await;
        cluster.jump_clock(0, jump_ms);
        sleep_ms(300).await;
        cluster.resume(1);
        sleep_ms(3 * NODE_TIMEOUT_MS).await;
        (detections_since(&cluster, from_us), hung)
    })
}

#[test]
fn wall_clock_forward_jump_flags_pfail_but_fails_nobody_over() {
    let jump_ms = 2 * NODE_TIMEOUT_MS as i64;
    let (seen, hung) = forward_jump_during_a_ping(true, jump_ms);
    let flagged =
        |e: &ClusterEvent| matches!(e, ClusterEvent::PfailMarked { node } if node.as_str() == hung);
    let cleared = |e: &ClusterEvent| matches!(e, ClusterEvent::PfailCleared { node } if node.as_str() == hung);
    assert!(
        seen.iter().any(|(n, e)| n == "node1" && flagged(e)),
        "node1 never flagged {hung}: {seen:#?}"
    );
    // Only node1's own view, cleared at node2's pong: no FAIL agreed, no election.
    assert!(
        seen.iter()
            .all(|(n, e)| n == "node1" && (flagged(e) || cleared(e))),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|(_, e)| cleared(e)), "{seen:#?}");
    // The same hang and jump with monotonic timeouts: nothing.
    let (quiet, _) = forward_jump_during_a_ping(false, jump_ms);
    assert!(quiet.is_empty(), "{quiet:#?}");
}
