//! `failover`: a cluster with replicas (3 masters + 1 replica each unless configured
//! otherwise) under a failover schedule — timed crashes and restarts, partitions, pauses longer
//! than the node timeout and manual `CLUSTER FAILOVER [FORCE|TAKEOVER]` on replicas — while a
//! writer runs, then healed: the shared two-phase run ([`crate::runner::two_phase`]) with this
//! scenario's hooks.
//!
//! Checked on top of the campaign's history invariants
//! ([`SafetyMonitor`](crate::invariants::SafetyMonitor): never two owners of one slot in the same
//! config epoch, epochs never going back;
//! [`stale_promotions`](crate::invariants::stale_promotions): no replica promoted without having
//! heard from its master since it started):
//!
//! - acknowledged writes may be lost only to a failover and only inside Redis's windows
//!   ([`classify_losses`]); the windows measured are in [`FailoverRun::windows`] and the trace;
//! - a node cut off with a minority of the masters stops acknowledging writes within
//!   [`minority_bound_ms`] ([`minority_writes`]);
//! - after healing, within [`liveness_bound_ms`](crate::runner::liveness_bound_ms): every node
//!   says `cluster_state:ok`, all agree on all 16384 slots, one master per shard, every replica
//!   follows a master serving slots with `master_link_status:up`, and the masters' config
//!   epochs are distinct.
//!
//! Schedules come from [`schedule_strategy`] (a proptest strategy, so a failing schedule
//! shrinks; `planned_schedule` draws one from a seed; in `schedule`) or from a seed file.
//!
//! Two fixed runs for the tutorial's steps live in `fixed`: [`crash_with_replicas`] (kill a
//! master, its replica takes over, the old master returns as a replica) and
//! [`minority_partition`] (an isolated master must refuse writes within the node timeout).

use std::collections::BTreeMap;
use std::time::Duration;

use super::probe;
use crate::client::{describe_reply, info_field};
use crate::cluster::SimCluster;
use proptest::strategy::BoxedStrategy;

use crate::faults::{ClusterShape, FaultInjector, FaultSchedule};
use crate::history::RegisterCheck;
use crate::invariants::failover::{
    classify_losses, minority_writes, replicas_attached, FaultTimeline, LossWindows,
};
use crate::invariants::fmt_ms;
use crate::loss::{acked_set, LossConfig, LossRule, LossVerdict};
use crate::report::{RunReport, Violation, ViolationKind};
use crate::runner::evidence::node_index_of;
use crate::runner::poll::{now_ms, views_of, Polled};
use crate::runner::two_phase::{create_whole, us_to_ms};
use crate::runner::{run_two_phase, PhaseTimes, Run, SafetyOutcome, TwoPhase};
use crate::seeds::SimConfig;
use crate::trace::TraceEvent;
use crate::workload::WriteOp;

mod fixed;
mod schedule;

pub use fixed::{
    crash_with_replicas, crash_with_replicas_current, minority_partition, MinorityRun,
    ReplicaCrashRun, CRASH_KEY, CRASH_VALUE, MINORITY_WRITE_INTERVAL_MS,
};
pub use schedule::{planned_schedule, schedule_strategy, FAILOVER_MODES, MAX_STEPS};

/// The scenario's name in [`super::SCENARIOS`] and seed files.
pub const NAME: &str = "failover";

/// How long setup waits for every replica's link to its master to come up.
pub const LINKS_UP_TIMEOUT_MS: u64 = 15_000;

/// The cluster the scenario runs: `config`, with at least one replica per master.
pub fn effective_config(config: &SimConfig) -> SimConfig {
    SimConfig {
        replicas: config.replicas.max(1),
        ..config.clone()
    }
}

/// How long an isolated master may keep acknowledging writes (the `partition` scenario's
/// bound too).
pub use super::node_down::minority_bound_ms;

/// The replicas `create` attaches to master `master` (node indices).
pub fn replicas_of(config: &SimConfig, master: usize) -> Vec<usize> {
    let ips: Vec<String> = (1..=config.node_count())
        .map(|n| format!("10.0.0.{n}"))
        .collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    match clusterlab_net::admin::plan_create(&refs, config.replicas) {
        Ok(plan) => plan
            .replicas
            .iter()
            .filter(|(_, m)| *m == master)
            .map(|(r, _)| *r)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A failover run: the report, the loss windows measured and the schedule it ran.
#[derive(Clone, Debug, Default)]
pub struct FailoverRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// When each acknowledged write could still be lost, as measured.
    pub windows: LossWindows,
    /// The faults the run injected.
    pub schedule: FaultSchedule,
}

/// The registry's handle on this scenario.
pub struct FailoverScenario;

impl crate::scenario::Scenario for FailoverScenario {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "replicas under crashes, pauses, partitions and manual failovers; safety, then liveness"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config, None).report
    }

    fn run_with_schedule(
        &self,
        seed: u64,
        config: &SimConfig,
        schedule: FaultSchedule,
    ) -> Result<RunReport, String> {
        Ok(run(seed, config, Some(schedule)).report)
    }

    fn effective_config(&self, config: &SimConfig) -> SimConfig {
        effective_config(config)
    }

    fn schedule_strategy(&self, shape: &ClusterShape) -> Option<BoxedStrategy<FaultSchedule>> {
        Some(schedule_strategy(shape))
    }
}

/// Runs the scenario for `seed` in a fresh runtime; `schedule` replaces the seed's own.
pub fn run(seed: u64, config: &SimConfig, schedule: Option<FaultSchedule>) -> FailoverRun {
    let config = effective_config(config);
    let schedule = schedule.unwrap_or_else(|| planned_schedule(seed, &config));
    crate::runner::in_runtime(seed, failover_in(seed, config, schedule))
}

/// The scenario on 3 masters + 3 replicas with the seed's own schedule, seeded by the current
/// runtime (for `Runtime::check_determinism`).
pub async fn current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    let config = effective_config(&SimConfig::default());
    let schedule = planned_schedule(seed, &config);
    failover_in(seed, config, schedule).await.report
}

async fn failover_in(seed: u64, config: SimConfig, schedule: FaultSchedule) -> FailoverRun {
    let mut hooks = Failover {
        timeline: None,
        links: Ok(()),
        lost: Vec::new(),
        windows: LossWindows::default(),
        events: None,
    };
    let report = run_two_phase(&mut hooks, seed, config, &schedule).await;
    FailoverRun {
        report,
        windows: hooks.windows,
        schedule,
    }
}

/// The failover scenario's hooks into the two-phase run, and what they keep between phases.
struct Failover {
    /// The faults as they happened, for judging losses and minority writes.
    timeline: Option<FaultTimeline>,
    /// The last check of the replicas' links in the liveness phase.
    links: Result<(), String>,
    /// Acknowledged writes lost to a failover (which Redis allows, inside its windows).
    lost: Vec<WriteOp>,
    windows: LossWindows,
    /// The trace as the writes are judged (read once, for the [`LossRule`]).
    events: Option<Vec<TraceEvent>>,
}

/// Whose replica `node` was at `at_ms`, by its own last sampled view.
fn master_of(run: &Run<'_>, node: usize, at_ms: u64) -> Option<usize> {
    let name = run.name(node);
    let sample = run
        .samples
        .iter()
        .rev()
        .find(|s| s.node == name && s.time_ms <= at_ms)?;
    let master = sample.myself()?.master.as_deref()?;
    let line = sample.lines.iter().find(|l| l.id == master)?;
    node_index_of(&line.addr)
}

/// `replicas_attached` on every view of one poll.
fn attached(run: &Run<'_>, fetched: &[Polled]) -> Vec<Violation> {
    views_of(fetched)
        .iter()
        .flat_map(|(name, lines)| replicas_attached(name, lines, run.shape.masters.len()))
        .collect()
}

impl TwoPhase for Failover {
    fn name(&self) -> &'static str {
        NAME
    }

    fn liveness_goal(&self) -> &'static str {
        "whole with replicas attached"
    }

    /// Every replica's link to its master up.
    async fn after_setup(&mut self, run: &mut Run<'_>) -> Result<(), String> {
        wait_links_up(run.cluster, LINKS_UP_TIMEOUT_MS).await
    }

    /// The faults as they happened (down intervals, the heal), for the loss windows.
    async fn after_heal(
        &mut self,
        run: &mut Run<'_>,
        injector: &mut FaultInjector<'_>,
        schedule: &FaultSchedule,
        times: PhaseTimes,
    ) {
        let down_ms: Vec<(usize, u64, u64)> = injector
            .down_intervals()
            .into_iter()
            .map(|(node, from, to)| (node, from / 1000, us_to_ms(to)))
            .collect();
        let run: &Run<'_> = run;
        self.timeline = Some(FaultTimeline::new(
            schedule,
            times.injected_ms,
            &down_ms,
            times.healed_ms,
            |n, t| master_of(run, n, t),
        ));
    }

    /// Every replica attached to a master serving slots, with its link up.
    async fn also_whole(&mut self, run: &mut Run<'_>, last: &[Polled]) -> bool {
        if !attached(run, last).is_empty() {
            return false;
        }
        self.links = links_up(run.cluster).await;
        self.links.is_ok()
    }

    fn unsettled_evidence(&mut self, run: &Run<'_>, last: &[Polled]) -> Vec<Violation> {
        let mut extra = attached(run, last);
        if let Err(e) = &self.links {
            extra.push(Violation::new(ViolationKind::ReplicaLinkDown, e.clone()));
        }
        extra
    }

    /// A lost acknowledged write must be one the [`LossRule`] allows.
    fn judge_lost(
        &mut self,
        run: &mut Run<'_>,
        _outcome: &SafetyOutcome,
        check: &RegisterCheck,
        _slot: u16,
        lost: &[&WriteOp],
    ) {
        let _ = check;
        if lost.is_empty() {
            return;
        }
        let events = self
            .events
            .get_or_insert_with(|| run.cluster.trace().events());
        let rule = LossRule::new(events, LossConfig::for_fsync(run.cluster.aof().appendfsync));
        for op in lost {
            let verdict = acked_set(op).map(|write| rule.judge(&write));
            match verdict {
                Some(LossVerdict::Allowed(_)) => self.lost.push((*op).clone()),
                Some(LossVerdict::Violation(evidence)) => run.violations.push(Violation::new(
                    ViolationKind::AckedWriteLost,
                    format!("{} = {}: {evidence}", op.key, op.value),
                )),
                None => run.violations.push(Violation::new(
                    ViolationKind::AckedWriteLost,
                    format!(
                        "{} = {} acknowledged by {}, no node, at {} is lost",
                        op.key,
                        op.value,
                        op.addr,
                        fmt_ms(op.end_us / 1000)
                    ),
                )),
            }
        }
    }

    /// The writes lost to failovers must fall in one of Redis's windows.
    fn close_writes(&mut self, run: &mut Run<'_>, outcome: &SafetyOutcome) {
        let Some(timeline) = &self.timeline else {
            return;
        };
        let lost: Vec<&WriteOp> = self.lost.iter().collect();
        let (windows, violations) = classify_losses(
            outcome.history.acked_count(),
            &lost,
            |op| node_index_of(&op.addr),
            timeline,
            minority_bound_ms(run.shape.node_timeout_ms),
        );
        run.record(format!("writes: {}", windows.describe()));
        run.violations.extend(violations);
        self.windows = windows;
    }

    fn schedule_origin_ms(&self, times: PhaseTimes) -> u64 {
        times.injected_ms
    }

    /// A node cut off with a minority stops acknowledging writes in time.
    fn final_checks(
        &mut self,
        run: &mut Run<'_>,
        outcome: &SafetyOutcome,
        _events: &[TraceEvent],
        _names: &BTreeMap<String, String>,
        _manual_failovers: &[(usize, u64)],
    ) {
        let Some(timeline) = &self.timeline else {
            return;
        };
        run.violations.extend(minority_writes(
            &outcome.history.ops,
            timeline,
            &run.samples,
            run.cluster.len(),
            node_index_of,
            minority_bound_ms(run.shape.node_timeout_ms),
        ));
    }
}

/// Starts and creates the cluster; waits for `cluster_state:ok` everywhere, every view in
/// agreement and every replica's link up.
async fn setup(cluster: &SimCluster) -> Result<(), String> {
    create_whole(cluster).await?;
    wait_links_up(cluster, LINKS_UP_TIMEOUT_MS).await
}

/// `Ok` when every node that says `role:slave` in `INFO replication` also says
/// `master_link_status:up`; otherwise the first that does not.
pub async fn links_up(cluster: &SimCluster) -> Result<(), String> {
    for index in 0..cluster.len() {
        let name = &cluster.node(index).name;
        let reply = cluster
            .command(index, &["INFO", "replication"])
            .await
            .map_err(|e| format!("{name} INFO replication: {e}"))?;
        let role = info_field(&reply, "role");
        if role.as_deref() == Some("slave") {
            let link = info_field(&reply, "master_link_status");
            if link.as_deref() != Some("up") {
                return Err(format!("{name}: master_link_status {link:?}"));
            }
        } else if role.as_deref() != Some("master") {
            return Err(format!(
                "{name}: INFO replication {}",
                describe_reply(&reply)
            ));
        }
    }
    Ok(())
}

/// Polls [`links_up`] for at most `timeout_ms`.
pub async fn wait_links_up(cluster: &SimCluster, timeout_ms: u64) -> Result<(), String> {
    let start_ms = now_ms();
    loop {
        match links_up(cluster).await {
            Ok(()) => return Ok(()),
            Err(e) if now_ms() - start_ms >= timeout_ms => {
                return Err(format!("replication links after {timeout_ms} ms: {e}"))
            }
            Err(_) => madsim::time::sleep(Duration::from_millis(probe::POLL_MS)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{check_majority, FaultKind};
    use crate::faults::{ClusterShape, FailoverMode, Fault, TimedFault};
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    fn config() -> SimConfig {
        effective_config(&SimConfig::default())
    }

    #[test]
    fn the_default_shape_has_one_replica_per_master() {
        let c = config();
        assert_eq!((c.masters, c.replicas, c.node_count()), (3, 1, 6));
        // redis-cli's plan: node1's replica is node5, node2's node6, node3's node4.
        assert_eq!(replicas_of(&c, 0), vec![4]);
        assert_eq!(replicas_of(&c, 1), vec![5]);
        assert_eq!(replicas_of(&c, 2), vec![3]);
        assert_eq!(minority_bound_ms(5000), 8500);
    }

    #[test]
    fn generated_schedules_are_valid_varied_and_shrink_validly() {
        let c = config();
        let shape = ClusterShape::of(&c);
        assert_eq!(planned_schedule(3, &c), planned_schedule(3, &c));
        assert_ne!(planned_schedule(3, &c), planned_schedule(4, &c));
        let mut kinds = std::collections::BTreeSet::new();
        let mut runner = TestRunner::deterministic();
        let strategy = schedule_strategy(&shape);
        for _ in 0..100 {
            let mut tree = strategy.new_tree(&mut runner).unwrap();
            let schedule = tree.current();
            kinds.extend(schedule.fault_kinds());
            for _ in 0..20 {
                let s = tree.current();
                s.validate(shape.nodes).unwrap();
                check_majority(&s, &shape).unwrap();
                assert!(s
                    .iter()
                    .all(|f| f.at_ms < shape.span_ms + 3 * shape.node_timeout_ms));
                // Manual failovers go to replicas.
                assert!(s.iter().all(|f| match f.fault {
                    Fault::ManualFailover { node, .. } => !shape.masters.contains(&node),
                    _ => true,
                }));
                if !tree.simplify() {
                    break;
                }
            }
        }
        let kinds: Vec<FaultKind> = kinds.into_iter().collect();
        assert_eq!(
            kinds,
            [
                FaultKind::Crash,
                FaultKind::Heal,
                FaultKind::ManualFailover,
                FaultKind::Partition,
                FaultKind::Pause,
                FaultKind::Restart
            ]
        );
    }

    #[test]
    fn manual_failovers_serialize_in_seed_files() {
        let schedule = FaultSchedule::new(vec![TimedFault {
            at_ms: 5000,
            fault: Fault::ManualFailover {
                node: 4,
                mode: FailoverMode::Takeover,
            },
        }]);
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(
            json,
            r#"[{"at_ms":5000,"kind":"manual_failover","node":4,"mode":"takeover"}]"#
        );
        assert_eq!(
            serde_json::from_str::<FaultSchedule>(&json).unwrap(),
            schedule
        );
        assert_eq!(
            schedule.0[0].fault.to_string(),
            "manual failover node5 Takeover"
        );
        assert_eq!(
            FailoverMode::Default.args(),
            ["CLUSTER", "FAILOVER"].as_slice()
        );
    }
}
