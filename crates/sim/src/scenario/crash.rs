//! `crash`: the tutorial's node-down step. After `--cluster create`, `key2` is written through
//! the cluster client (it lands on the owner of slot 4998, node 1), then that master is killed
//! (a crash: its unsynced disk writes are lost). The other nodes must flag it `master,fail`,
//! report `cluster_state:fail` with `cluster_slots_fail` equal to its slot count, and refuse
//! keyed commands with `CLUSTERDOWN The cluster is down`, no sooner than one node timeout and
//! within [`detect_bound_ms`]. Restarted on the same disk, the node must come back with the same
//! node ID and epochs, still hold `key2`, and every node must say `cluster_state:ok` within
//! [`recover_bound_ms`] — but not before the others have kept it `fail` for two node timeouts
//! (a master with slots that answers again is cleared only then).

use std::time::Duration;

use clusterlab_core::Reply;

use super::probe::{self, Identity};
use super::{fetch_view, finish, slot_owner_addr, start_masters_only};
use crate::cluster::SimCluster;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;

use super::node_down::{check_fail_kept, check_key_survived, check_refuses_keys};
pub use super::node_down::{
    detect_bound_ms, recover_bound_ms, CRASH_KEY, CRASH_KEY_SLOT, CRASH_VALUE, FAIL_SEEN_SLACK_MS,
    SETTLE_MS,
};

/// A crash run: the report plus what the test snapshots and prints.
#[derive(Clone, Debug, Default)]
pub struct CrashRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// Virtual ms from the kill until every live node showed the failure.
    pub detect_ms: Option<u64>,
    /// Virtual ms from the restart until every node said `cluster_state:ok`.
    pub recover_ms: Option<u64>,
    /// `(node, CLUSTER NODES)` of every live node while the victim was failed.
    pub failed_views: Vec<(String, String)>,
    /// Virtual ms since the run started at which every live node showed the FAIL.
    pub failed_at_ms: u64,
}

/// The scenario's name in [`super::SCENARIOS`] and seed files.
pub const NAME: &str = "crash";

/// The registry's handle on this scenario.
pub struct Crash;

impl super::Scenario for Crash {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "kill the master of key2, then restart it on its disk: detection, refusal, recovery"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config).report
    }
}

/// The crash scenario with `seed`, in a fresh runtime.
pub fn run(seed: u64, config: &SimConfig) -> CrashRun {
    crate::runner::in_runtime(seed, crash_in(seed, config.clone()))
}

/// The crash scenario on the tutorial's cluster, seeded by the current runtime (for
/// `Runtime::check_determinism`).
pub async fn current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    crash_in(seed, SimConfig::default()).await.report
}

async fn crash_in(seed: u64, config: SimConfig) -> CrashRun {
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut violations = Vec::new();
    let mut run = CrashRun::default();
    crash_steps(&cluster, &mut run, &mut violations).await;
    run.report = finish(&cluster, NAME, violations).await;
    run
}

async fn crash_steps(cluster: &SimCluster, run: &mut CrashRun, violations: &mut Vec<Violation>) {
    if !start_masters_only(cluster, "crash", violations).await {
        return;
    }
    let Some(victim) = write_crash_key(cluster, violations).await else {
        return;
    };
    let before = match probe::identities(cluster).await {
        Ok(ids) => ids,
        Err(e) => {
            violations.push(Violation::new(ViolationKind::IdentityUnreadable, e));
            return;
        }
    };
    let victim_slots = match probe::slot_count_of(cluster, victim, victim).await {
        Ok(n) => n,
        Err(e) => {
            violations.push(Violation::new(ViolationKind::ClusterNodesUnreadable, e));
            return;
        }
    };
    madsim::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    if !crash_and_detect(cluster, victim, victim_slots, run, violations).await {
        return;
    }
    restart_and_recover(cluster, victim, &before, run, violations).await;
}

/// `SET key2 world` through the cluster client from the last node (as the tutorial does from
/// 7003); returns the index of the node that acknowledged it, the owner of slot 4998.
async fn write_crash_key(cluster: &SimCluster, violations: &mut Vec<Violation>) -> Option<usize> {
    let owner = slot_owner_addr(cluster, 0, CRASH_KEY_SLOT, violations).await?;
    let entry = cluster.len() - 1;
    let routed = cluster
        .on_client({
            let mut client = cluster.client(entry);
            async move {
                client
                    .command(&[b"SET", CRASH_KEY.as_bytes(), CRASH_VALUE.as_bytes()])
                    .await
            }
        })
        .await;
    let acked_by = match routed {
        Ok(r) if r.reply == Reply::ok() => r.hops.last().map(|h| h.addr.clone()),
        Ok(r) => {
            violations.push(Violation::new(
                ViolationKind::WriteRefused,
                format!("SET {CRASH_KEY} {CRASH_VALUE}: hops {:?}", r.hops),
            ));
            return None;
        }
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::ClientIo,
                format!("SET {CRASH_KEY}: {e}"),
            ));
            return None;
        }
    };
    if acked_by.as_deref() != Some(owner.as_str()) {
        violations.push(Violation::new(
            ViolationKind::SetRedirect,
            format!("SET {CRASH_KEY} acknowledged by {acked_by:?}, slot owner {owner}"),
        ));
        return None;
    }
    cluster.addrs().iter().position(|a| *a == owner)
}

/// Kills `victim`, then waits until every other node shows it failed; snapshots their views.
async fn crash_and_detect(
    cluster: &SimCluster,
    victim: usize,
    victim_slots: usize,
    run: &mut CrashRun,
    violations: &mut Vec<Violation>,
) -> bool {
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let live: Vec<usize> = (0..cluster.len()).filter(|&i| i != victim).collect();
    cluster.kill(victim);
    let bound_ms = detect_bound_ms(node_timeout_ms);
    let killed_at_ms = probe::now_ms(cluster);
    let detected = probe::wait_all(cluster, &live, bound_ms, |observer| {
        probe::sees_failed(cluster, observer, victim, victim_slots)
    })
    .await;
    let detect_ms = match detected {
        Ok(ms) => ms,
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::FailureNotDetected,
                format!(
                    "{} killed, bound {bound_ms} ms: {e}",
                    cluster.node(victim).name
                ),
            ));
            return false;
        }
    };
    run.detect_ms = Some(detect_ms);
    run.failed_at_ms = killed_at_ms + detect_ms;
    cluster.trace().record(
        "harness",
        format!(
            "failure of {} seen everywhere after {detect_ms} ms",
            cluster.node(victim).name
        ),
    );
    if detect_ms < node_timeout_ms {
        violations.push(Violation::new(
            ViolationKind::FailureDetectedEarly,
            format!("FAIL after {detect_ms} ms, node timeout {node_timeout_ms} ms"),
        ));
    }
    for &observer in &live {
        let name = cluster.node(observer).name.clone();
        match fetch_view(cluster, observer).await {
            Ok((text, _)) => run.failed_views.push((name, text)),
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClusterNodesUnreadable,
                format!("{name}: {e}"),
            )),
        }
        check_refuses_keys(cluster, observer, violations).await;
    }
    true
}

/// Restarts `victim` on its disk: same identity, `key2` still there, everything `ok`.
async fn restart_and_recover(
    cluster: &SimCluster,
    victim: usize,
    before: &[Identity],
    run: &mut CrashRun,
    violations: &mut Vec<Violation>,
) {
    cluster.restart(victim);
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let bound_ms = recover_bound_ms(node_timeout_ms);
    match probe::wait_all_ok(cluster, bound_ms).await {
        Ok(ms) => {
            run.recover_ms = Some(ms);
            let ok_at_ms = probe::now_ms(cluster);
            violations.extend(check_fail_kept(node_timeout_ms, run.failed_at_ms, ok_at_ms));
            cluster.trace().record(
                "harness",
                format!("cluster ok everywhere {ms} ms after restart"),
            );
        }
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::ClusterNotOk,
                format!("bound {bound_ms} ms after restart: {e}"),
            ));
            return;
        }
    }
    probe::check_identities(cluster, before, violations).await;
    check_key_survived(cluster, CRASH_KEY, CRASH_VALUE, violations).await;
}
