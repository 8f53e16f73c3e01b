//! Two fixed failover runs for the tutorial's steps: [`crash_with_replicas`] (kill a master,
//! its replica takes over, the old master returns as a replica) and [`minority_partition`] (an
//! isolated master must refuse writes within the node timeout).

use std::time::Duration;

use clusterlab_core::Reply;

use super::{effective_config, replicas_of, setup, wait_links_up};
use crate::client::describe_reply;
use crate::cluster::SimCluster;
use crate::faults::{Fault, FaultInjector};
use crate::invariants::failover::replicas_attached;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::runner::liveness_bound_ms;
use crate::runner::poll::now_ms;
use crate::scenario::{fetch_view, finish};
use crate::scenario::{node_down, probe};
use crate::seeds::SimConfig;

/// The key the tutorial writes before the crash (slot 4998, node 1's) and its value.
pub use crate::scenario::node_down::{CRASH_KEY, CRASH_VALUE};

/// A [`crash_with_replicas`] run: the report (its final views are the ones after the old
/// master came back) plus the views and timings the test snapshots and prints.
#[derive(Clone, Debug, Default)]
pub struct ReplicaCrashRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// `(node, CLUSTER NODES)` of every node before the kill.
    pub before: Vec<(String, String)>,
    /// Of every live node once all of them flag the victim `fail`.
    pub failed: Vec<(String, String)>,
    /// Virtual ms from the kill until every live node showed the FAIL.
    pub detect_ms: Option<u64>,
    /// Virtual ms from the kill until the replica served the slots and every live node said
    /// `cluster_state:ok`.
    pub promote_ms: Option<u64>,
    /// Virtual ms from the restart until the old master was an attached replica of the new one.
    pub rejoin_ms: Option<u64>,
    /// Node index of the killed master.
    pub victim: usize,
    /// Node index of the replica that took over.
    pub successor: usize,
}

/// Kills node 1 (`key2`'s master) of 3 masters + 3 replicas: its replica must be promoted
/// automatically, and node 1, restarted, must come back as that replica's replica.
pub fn crash_with_replicas(seed: u64) -> ReplicaCrashRun {
    crate::runner::in_runtime(seed, crash_with_replicas_in(seed))
}

/// [`crash_with_replicas`] seeded by the current runtime.
pub async fn crash_with_replicas_current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    crash_with_replicas_in(seed).await.report
}

async fn crash_with_replicas_in(seed: u64) -> ReplicaCrashRun {
    let config = effective_config(&SimConfig::default());
    let victim = 0;
    let mut run = ReplicaCrashRun {
        victim,
        successor: replicas_of(&config, victim).first().copied().unwrap_or(0),
        ..ReplicaCrashRun::default()
    };
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut violations = Vec::new();
    if let Err(e) = crash_steps(&cluster, &mut run).await {
        violations.push(e);
    }
    run.report = finish(&cluster, "failover-crash", violations).await;
    run
}

async fn all_views(
    cluster: &SimCluster,
    nodes: &[usize],
) -> Result<Vec<(String, String)>, Violation> {
    let mut out = Vec::new();
    for &index in nodes {
        let name = cluster.node(index).name.clone();
        let (text, _) = fetch_view(cluster, index).await.map_err(|e| {
            Violation::new(
                ViolationKind::ClusterNodesUnreadable,
                format!("{name}: {e}"),
            )
        })?;
        out.push((name, text));
    }
    Ok(out)
}

async fn crash_steps(cluster: &SimCluster, run: &mut ReplicaCrashRun) -> Result<(), Violation> {
    let nt = cluster.config().node_timeout_ms;
    setup(cluster)
        .await
        .map_err(|e| Violation::new(ViolationKind::SetupFailed, e))?;
    set_key(cluster, CRASH_KEY, CRASH_VALUE).await?;
    // As in the tutorial, time passes before the crash: the write is on the replica.
    madsim::time::sleep(Duration::from_millis(node_down::SETTLE_MS)).await;
    let all: Vec<usize> = (0..cluster.len()).collect();
    run.before = all_views(cluster, &all).await?;
    let (victim, successor) = (run.victim, run.successor);
    let live: Vec<usize> = all.iter().copied().filter(|&i| i != victim).collect();
    let victim_addr = cluster.node(victim).addr();
    let successor_addr = cluster.node(successor).addr();

    cluster.kill(victim);
    let killed_ms = now_ms();
    let detect_bound_ms = node_down::detect_bound_ms(nt);
    let detected = probe::wait_all(cluster, &live, detect_bound_ms, |observer| {
        let victim_addr = victim_addr.clone();
        async move {
            let line = probe::line_about(cluster, observer, &victim_addr).await?;
            if line.has_flag("fail") {
                Ok(())
            } else {
                Err(format!("flags {}", line.flags.join(",")))
            }
        }
    })
    .await
    .map_err(|e| Violation::new(ViolationKind::FailureNotDetected, e))?;
    run.detect_ms = Some(detected);
    run.failed = all_views(cluster, &live).await?;

    // Election: 500 ms + up to 500 ms + rank × 1 s after FAIL, then the UPDATE spreads.
    let promote_bound_ms = detect_bound_ms + 5000;
    probe::wait_all(cluster, &live, promote_bound_ms, |observer| {
        let successor_addr = successor_addr.clone();
        async move {
            let (line, state) = probe::line_and_state(cluster, observer, &successor_addr).await?;
            if line.is_master() && line.slots == [(0, 5460)] && state == "ok" {
                Ok(())
            } else {
                Err(format!(
                    "successor flags {} slots {:?}, cluster_state:{state}",
                    line.flags.join(","),
                    line.slots
                ))
            }
        }
    })
    .await
    .map_err(|e| Violation::new(ViolationKind::ReplicaNotPromoted, e))?;
    run.promote_ms = Some(now_ms() - killed_ms);
    cluster.trace().record(
        "harness",
        format!("promoted after {} ms", now_ms() - killed_ms),
    );

    cluster.restart(victim);
    let restarted_ms = now_ms();
    let liveness_bound_ms = liveness_bound_ms(nt);
    let successor_id = probe::my_id(cluster, successor)
        .await
        .map_err(|e| Violation::new(ViolationKind::IdentityUnreadable, e))?;
    probe::wait_all(cluster, &all, liveness_bound_ms, |observer| {
        let successor_id = successor_id.clone();
        let victim_addr = victim_addr.clone();
        async move {
            let (line, state) = probe::line_and_state(cluster, observer, &victim_addr).await?;
            let follows = !line.is_master() && line.master.as_deref() == Some(&successor_id);
            let clean = !line.has_flag("fail") && !line.has_flag("fail?");
            if follows && clean && state == "ok" {
                Ok(())
            } else {
                Err(format!(
                    "old master flags {} following {:?}, cluster_state:{state}",
                    line.flags.join(","),
                    line.master
                ))
            }
        }
    })
    .await
    .map_err(|e| Violation::new(ViolationKind::OldMasterNotReplica, e))?;
    wait_links_up(cluster, liveness_bound_ms)
        .await
        .map_err(|e| Violation::new(ViolationKind::ReplicaLinkDown, e))?;
    run.rejoin_ms = Some(now_ms() - restarted_ms);
    node_down::check_value(cluster, CRASH_KEY, CRASH_VALUE).await
}

/// `SET key value` through the cluster client; `Err` unless `+OK`.
async fn set_key(
    cluster: &SimCluster,
    key: &'static str,
    value: &'static str,
) -> Result<(), Violation> {
    let routed = cluster
        .on_client({
            let mut client = cluster.client(0);
            async move {
                client
                    .command(&[b"SET", key.as_bytes(), value.as_bytes()])
                    .await
            }
        })
        .await;
    match routed {
        Ok(r) if r.reply == Reply::ok() => Ok(()),
        Ok(r) => Err(Violation::new(
            ViolationKind::WriteRefused,
            format!("SET {key}: {}", describe_reply(&r.reply)),
        )),
        Err(e) => Err(Violation::new(
            ViolationKind::ClientIo,
            format!("SET {key}: {e}"),
        )),
    }
}

// ---- a master cut off with a minority ---------------------------------------------------------

/// A [`minority_partition`] run.
#[derive(Clone, Debug, Default)]
pub struct MinorityRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// Virtual ms from the cut to the last `+OK` the isolated master gave.
    pub last_ack_ms: Option<u64>,
    /// Virtual ms from the cut to its first `CLUSTERDOWN` refusal.
    pub refused_ms: Option<u64>,
    /// The refusal, verbatim.
    pub refusal: Option<String>,
}

/// How often the minority-side client writes to the isolated master.
pub const MINORITY_WRITE_INTERVAL_MS: u64 = 100;

/// On 3 masters + 3 replicas, node 1 (a master) and the replica of another master are cut off
/// from the other four; a client that still reaches node 1 writes to it directly (no
/// redirects) every [`MINORITY_WRITE_INTERVAL_MS`] until it answers `CLUSTERDOWN`. The
/// majority side promotes node 1's replica; after the heal everything is whole again and node 1
/// is a replica.
pub fn minority_partition(seed: u64) -> MinorityRun {
    crate::runner::in_runtime(seed, minority_in(seed))
}

async fn minority_in(seed: u64) -> MinorityRun {
    let config = effective_config(&SimConfig::default());
    let minority = vec![0, replicas_of(&config, 1).first().copied().unwrap_or(5)];
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut run = MinorityRun::default();
    let mut violations = Vec::new();
    if let Err(e) = minority_steps(&cluster, &minority, &mut run).await {
        violations.push(e);
    }
    run.report = finish(&cluster, "failover-minority", violations).await;
    run
}

async fn minority_steps(
    cluster: &SimCluster,
    minority: &[usize],
    run: &mut MinorityRun,
) -> Result<(), Violation> {
    let nt = cluster.config().node_timeout_ms;
    setup(cluster)
        .await
        .map_err(|e| Violation::new(ViolationKind::SetupFailed, e))?;
    let mut injector = FaultInjector::new(cluster);
    injector.apply(&Fault::Partition {
        groups: vec![minority.to_vec()],
    });
    let cut_ms = now_ms();
    let addr = cluster.node(minority[0]).addr();
    let trace = cluster.trace().clone();
    let bound_ms = 3 * nt;
    let (last_ack, refused) = cluster
        .on_client(async move {
            let mut client = crate::client::ClusterClient::new("minority", addr.clone(), trace);
            client.set_timeout_ms(1000);
            let (mut last_ack, mut refused) = (None, None);
            for _ in 0..bound_ms / MINORITY_WRITE_INTERVAL_MS {
                match client
                    .send_to(&addr, &[b"SET", CRASH_KEY.as_bytes(), b"minority"])
                    .await
                {
                    Ok(r) if r == Reply::ok() => last_ack = Some(now_ms()),
                    Ok(Reply::Error(e)) if e.starts_with("CLUSTERDOWN") => {
                        refused = Some((now_ms(), e));
                        break;
                    }
                    _ => {}
                }
                madsim::time::sleep(Duration::from_millis(MINORITY_WRITE_INTERVAL_MS)).await;
            }
            (last_ack, refused)
        })
        .await;
    run.last_ack_ms = last_ack.map(|t| t - cut_ms);
    let Some((refused_at, refusal)) = refused else {
        return Err(Violation::new(
            ViolationKind::MinorityMasterAcceptedWrite,
            format!("node1 still not refusing writes {bound_ms} ms after the cut"),
        ));
    };
    run.refused_ms = Some(refused_at - cut_ms);
    run.refusal = Some(refusal);
    // Let the majority promote node 1's replica, then heal.
    madsim::time::sleep(Duration::from_millis(2 * nt)).await;
    injector.heal_all().await;
    let liveness_bound_ms = liveness_bound_ms(nt);
    probe::wait_all_ok(cluster, liveness_bound_ms)
        .await
        .map_err(|e| Violation::new(ViolationKind::ClusterNotOk, e))?;
    wait_links_up(cluster, liveness_bound_ms)
        .await
        .map_err(|e| Violation::new(ViolationKind::ReplicaLinkDown, e))?;
    let (_, lines) = fetch_view(cluster, minority[0])
        .await
        .map_err(|e| Violation::new(ViolationKind::ClusterNodesUnreadable, e))?;
    let violations = replicas_attached("node1", &lines, cluster.config().masters);
    match violations.into_iter().next() {
        Some(v) => Err(v),
        None => Ok(()),
    }
}
