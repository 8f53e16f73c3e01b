//! `partition`: node 1 (the master of `key2`) is cut off from the other nodes in both
//! directions, while the client machine still reaches everyone, so both sides can be asked what
//! they believe:
//!
//! - the isolated side (node 1) flags both peers `fail?` (it cannot reach a FAIL quorum alone:
//!   `cluster_slots_pfail` is everything it does not own, `cluster_slots_fail:0`), so it sees
//!   no majority of masters: `cluster_state:fail`, and it refuses keyed commands — reads and
//!   writes — with `CLUSTERDOWN The cluster is down`. Not before one node timeout, and within
//!   [`minority_bound_ms`];
//! - the majority side flags node 1 `master,fail`, reports `cluster_state:fail` with
//!   `cluster_slots_fail` equal to node 1's slot count, and refuses keyed commands too, within
//!   [`detect_bound_ms`](super::node_down::detect_bound_ms) of the cut.
//!
//! After the heal every node must say `cluster_state:ok` within [`heal_bound_ms`] (but not
//! before the majority has kept node 1 `fail` for two node timeouts), and `key2` must still hold
//! the value written before the cut (the write attempted on the isolated node was refused, so
//! it must not show).

use clusterlab_core::{ClusterEvent, Reply};

pub use super::node_down::minority_bound_ms;
use super::node_down::{
    self, check_fail_kept, check_key_survived, check_refuses_keys, CRASH_KEY, CRASH_VALUE,
};
use super::probe::{self, Identity};
use super::{fetch_view, finish, start_masters_only};
use crate::cluster::SimCluster;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;
use crate::trace::Event;

/// Recovery bound after the heal: the majority clears FAIL of a master with slots two node
/// timeouts after setting it; the isolated master waits its rejoin delay (the node timeout,
/// clamped to 0.5–5 s) after seeing a majority again. One more node timeout and 2 s of margin.
pub fn heal_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 2000
}

/// A partition run: the report plus each side's beliefs while cut off.
#[derive(Clone, Debug, Default)]
pub struct PartitionRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// Virtual ms from the cut until the isolated node refused keyed commands.
    pub minority_down_ms: Option<u64>,
    /// Virtual ms from the cut until every majority node showed node 1 failed.
    pub majority_detect_ms: Option<u64>,
    /// Virtual ms from the heal until every node said `cluster_state:ok`.
    pub heal_ms: Option<u64>,
    /// `(node, CLUSTER NODES)` of every node, both sides, while partitioned.
    pub partitioned_views: Vec<(String, String)>,
    /// Virtual ms since the run started at which a majority node first marked node 1 FAIL (its
    /// own event; when the poll saw it if no event says so).
    pub failed_at_ms: u64,
}

/// The scenario's name in [`super::SCENARIOS`] and seed files.
pub const NAME: &str = "partition";

/// The registry's handle on this scenario.
pub struct Partition;

impl super::Scenario for Partition {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "cut one master off with a minority, then heal: it must stop writes, the rest recover"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config).report
    }
}

/// The partition scenario with `seed`, in a fresh runtime.
pub fn run(seed: u64, config: &SimConfig) -> PartitionRun {
    crate::runner::in_runtime(seed, partition_in(seed, config.clone()))
}

/// The partition scenario on the tutorial's cluster, seeded by the current runtime.
pub async fn current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    partition_in(seed, SimConfig::default()).await.report
}

async fn partition_in(seed: u64, config: SimConfig) -> PartitionRun {
    let cluster = SimCluster::builder().config(config).seed(seed).build();
    let mut violations = Vec::new();
    let mut run = PartitionRun::default();
    partition_steps(&cluster, &mut run, &mut violations).await;
    run.report = finish(&cluster, NAME, violations).await;
    run
}

/// The isolated node: node 1, the owner of `key2`'s slot in the tutorial's layout.
const ISOLATED: usize = 0;

async fn partition_steps(
    cluster: &SimCluster,
    run: &mut PartitionRun,
    violations: &mut Vec<Violation>,
) {
    if !start_masters_only(cluster, "partition", violations).await {
        return;
    }
    if !write_key(cluster, violations).await {
        return;
    }
    let Ok(before) = probe::identities(cluster).await else {
        violations.push(Violation::new(
            ViolationKind::IdentityUnreadable,
            "before the cut",
        ));
        return;
    };
    let isolated_slots = match probe::slot_count_of(cluster, ISOLATED, ISOLATED).await {
        Ok(n) => n,
        Err(e) => {
            violations.push(Violation::new(ViolationKind::ClusterNodesUnreadable, e));
            return;
        }
    };
    cut(cluster, true);
    let isolated_id = before[ISOLATED].id.clone();
    let detected = detect(cluster, isolated_slots, &isolated_id, run, violations).await;
    cut(cluster, false);
    if detected {
        heal(cluster, &before, run, violations).await;
    }
}

/// `SET key2 world` through the cluster client.
async fn write_key(cluster: &SimCluster, violations: &mut Vec<Violation>) -> bool {
    let routed = cluster
        .on_client({
            let mut client = cluster.client(0);
            async move {
                client
                    .command(&[b"SET", CRASH_KEY.as_bytes(), CRASH_VALUE.as_bytes()])
                    .await
            }
        })
        .await;
    match routed {
        Ok(r) if r.reply == Reply::ok() => true,
        other => {
            violations.push(Violation::new(
                ViolationKind::WriteRefused,
                format!("SET {CRASH_KEY} {CRASH_VALUE}: {other:?}"),
            ));
            false
        }
    }
}

/// Clogs (`true`) or unclogs every link between the isolated node and the others, both ways.
fn cut(cluster: &SimCluster, clog: bool) {
    for other in (0..cluster.len()).filter(|&i| i != ISOLATED) {
        for (from, to) in [(ISOLATED, other), (other, ISOLATED)] {
            if clog {
                cluster.clog_link(from, to);
            } else {
                cluster.unclog_link(from, to);
            }
        }
    }
}

/// When a majority node first marked `isolated` FAIL after `since_ms` (virtual ms since the run
/// started), from the nodes' own events. The poll for the majority starts only once the
/// isolated node is down, which may be well after the FAIL was set (each side's clock starts
/// with its own PING, up to half a node timeout after its last PONG); the two node timeouts a
/// FAIL is kept count from when it was set.
fn first_fail_marked_ms(cluster: &SimCluster, since_ms: u64, isolated: &str) -> Option<u64> {
    let isolated_name = &cluster.node(ISOLATED).name;
    cluster
        .trace()
        .events()
        .into_iter()
        .filter(|e| e.time_us >= since_ms * 1000 && e.node != *isolated_name)
        .find(|e| {
            matches!(&e.event, Event::Cluster(ClusterEvent::FailMarked { node, .. })
                if node.as_str() == isolated)
        })
        .map(|e| e.time_us / 1000)
}

/// Waits for both sides to see the partition, records when, snapshots every view.
async fn detect(
    cluster: &SimCluster,
    isolated_slots: usize,
    isolated_id: &str,
    run: &mut PartitionRun,
    violations: &mut Vec<Violation>,
) -> bool {
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let bound_ms = node_down::detect_bound_ms(node_timeout_ms);
    let start_ms = probe::now_ms(cluster);
    let majority: Vec<usize> = (0..cluster.len()).filter(|&i| i != ISOLATED).collect();
    let minority_bound = minority_bound_ms(node_timeout_ms);
    let minority = probe::wait_all(cluster, &[ISOLATED], minority_bound, |index| async move {
        let info = probe::cluster_info(cluster, index).await?;
        let state = probe::field(&info, "cluster_state");
        let get = cluster
            .command(index, &["GET", CRASH_KEY])
            .await
            .map_err(|e| format!("io error: {e}"))?;
        match (state, get) {
            ("fail", Reply::Error(e)) if e == "CLUSTERDOWN The cluster is down" => Ok(()),
            (state, get) => Err(format!(
                "cluster_state:{state}, GET {CRASH_KEY}: {}",
                crate::client::describe_reply(&get)
            )),
        }
    })
    .await;
    match minority {
        Ok(ms) => {
            run.minority_down_ms = Some(ms);
            if ms < node_timeout_ms {
                violations.push(Violation::new(
                    ViolationKind::MinorityDownEarly,
                    format!("isolated node down after {ms} ms, node timeout {node_timeout_ms} ms"),
                ));
            }
            let left_ms = minority_bound.saturating_sub(probe::now_ms(cluster) - start_ms);
            check_minority_view(cluster, isolated_slots, left_ms, violations).await;
        }
        Err(e) => violations.push(Violation::new(
            ViolationKind::MinorityStillUp,
            format!(
                "isolated {}, bound {minority_bound} ms: {e}",
                cluster.node(ISOLATED).name
            ),
        )),
    }
    let remaining_ms = bound_ms.saturating_sub(probe::now_ms(cluster) - start_ms);
    let detected = probe::wait_all(cluster, &majority, remaining_ms, |observer| {
        probe::sees_failed(cluster, observer, ISOLATED, isolated_slots)
    })
    .await;
    match detected {
        Ok(_) => {
            run.failed_at_ms = first_fail_marked_ms(cluster, start_ms, isolated_id)
                .unwrap_or_else(|| probe::now_ms(cluster));
            let ms = probe::now_ms(cluster) - start_ms;
            run.majority_detect_ms = Some(ms);
            if ms < node_timeout_ms {
                violations.push(Violation::new(
                    ViolationKind::FailureDetectedEarly,
                    format!("FAIL after {ms} ms, node timeout {node_timeout_ms} ms"),
                ));
            }
        }
        Err(e) => violations.push(Violation::new(
            ViolationKind::FailureNotDetected,
            format!(
                "{} cut off, bound {bound_ms} ms: {e}",
                cluster.node(ISOLATED).name
            ),
        )),
    }
    cluster.trace().record(
        "harness",
        format!(
            "partition seen: minority down after {:?} ms, majority detected after {:?} ms",
            run.minority_down_ms, run.majority_detect_ms
        ),
    );
    for index in 0..cluster.len() {
        let name = cluster.node(index).name.clone();
        match fetch_view(cluster, index).await {
            Ok((text, _)) => run.partitioned_views.push((name, text)),
            Err(e) => violations.push(Violation::new(
                ViolationKind::ClusterNodesUnreadable,
                format!("{name}: {e}"),
            )),
        }
        check_refuses_keys(cluster, index, violations).await;
    }
    run.minority_down_ms.is_some() && run.majority_detect_ms.is_some()
}

/// The isolated node comes to suspect every peer (within `bound_ms`; going down needed only a
/// majority of them) but can fail none: `cluster_slots_pfail` counts every slot it does not
/// own, `cluster_slots_fail` stays 0 (name `minority_view`).
async fn check_minority_view(
    cluster: &SimCluster,
    isolated_slots: usize,
    bound_ms: u64,
    violations: &mut Vec<Violation>,
) {
    let want_pfail = (crate::view::SLOTS - isolated_slots).to_string();
    let settled = |index| {
        let want_pfail = want_pfail.clone();
        async move {
            let info = probe::cluster_info(cluster, index).await?;
            let pfail = probe::field(&info, "cluster_slots_pfail");
            if pfail == want_pfail || probe::field(&info, "cluster_slots_fail") != "0" {
                Ok(())
            } else {
                Err(format!("cluster_slots_pfail:{pfail}"))
            }
        }
    };
    // Either outcome of the wait is judged by the reading below.
    let _ = probe::wait_all(cluster, &[ISOLATED], bound_ms, settled).await;
    match probe::cluster_info(cluster, ISOLATED).await {
        Ok(info) => {
            let pfail = probe::field(&info, "cluster_slots_pfail");
            let fail = probe::field(&info, "cluster_slots_fail");
            if pfail != want_pfail || fail != "0" {
                violations.push(Violation::new(
                    ViolationKind::MinorityView,
                    format!(
                        "isolated node: cluster_slots_pfail:{pfail} cluster_slots_fail:{fail}, \
                         want {want_pfail} and 0"
                    ),
                ));
            }
        }
        Err(e) => violations.push(Violation::new(ViolationKind::ClientIo, e)),
    }
}

/// After the heal: everything `ok` in bound, identities intact, `key2` unchanged.
async fn heal(
    cluster: &SimCluster,
    before: &[Identity],
    run: &mut PartitionRun,
    violations: &mut Vec<Violation>,
) {
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let bound_ms = heal_bound_ms(node_timeout_ms);
    match probe::wait_all_ok(cluster, bound_ms).await {
        Ok(ms) => {
            run.heal_ms = Some(ms);
            let ok_at_ms = probe::now_ms(cluster);
            violations.extend(check_fail_kept(node_timeout_ms, run.failed_at_ms, ok_at_ms));
            cluster.trace().record(
                "harness",
                format!("cluster ok everywhere {ms} ms after heal"),
            );
        }
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::ClusterNotOk,
                format!("bound {bound_ms} ms after heal: {e}"),
            ));
            return;
        }
    }
    probe::check_identities(cluster, before, violations).await;
    check_key_survived(cluster, CRASH_KEY, CRASH_VALUE, violations).await;
}
