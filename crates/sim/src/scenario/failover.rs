//! `failover`: a cluster with replicas (3 masters + 1 replica each unless configured
//! otherwise) under a failover schedule — timed crashes and restarts, partitions, pauses longer
//! than the node timeout and manual `CLUSTER FAILOVER [FORCE|TAKEOVER]` on replicas — while a
//! writer runs, then healed, as the campaign does it (a safety phase, then a liveness phase).
//!
//! Checked on top of the campaign's history invariants ([`SafetyMonitor`]: never two owners of
//! one slot in the same config epoch, epochs never going back; [`stale_promotions`]: no replica
//! promoted without having heard from its master since it started):
//!
//! - acknowledged writes may be lost only to a failover and only inside Redis's windows
//!   ([`classify_losses`]); the windows measured are in [`FailoverRun::windows`] and the trace;
//! - a node cut off with a minority of the masters stops acknowledging writes within
//!   [`minority_bound_ms`] ([`minority_writes`]);
//! - after healing, within [`liveness_bound_ms`]: every node says `cluster_state:ok`, all agree
//!   on all 16384 slots, one master per shard, every replica follows a master serving slots with
//!   `master_link_status:up`, and the masters' config epochs are distinct.
//!
//! Schedules come from [`schedule_strategy`] (a proptest strategy, so a failing schedule
//! shrinks; `planned_schedule` draws one from a seed) or from a seed file.
//!
//! Two fixed runs for the tutorial's steps live here too: [`crash_with_replicas`] (kill a
//! master, its replica takes over, the old master returns as a replica) and
//! [`minority_partition`] (an isolated master must refuse writes within the node timeout).

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;

use super::probe;
use super::{fetch_view, finish};
use crate::campaign::{
    announce_schedule, collect_phase, end_report, liveness_bound_ms, manual_failovers,
    names_by_addr, node_index_of, node_names, nodes_texts, not_whole, now_ms, observe_poll,
    phantom_value, poll_all, promotions, read_values_if_whole, spawn_sampler, views_of, wait_whole,
    whole, workload_spec, Fetched, LIVENESS_POLL_MS, SETUP_TIMEOUT_MS,
};
use crate::client::{describe_reply, info_field};
use crate::cluster::SimCluster;
use crate::faults::{
    from_episodes, ClusterShape, Episode, EpisodeKind, FailoverMode, Fault, FaultInjector,
    FaultSchedule, TimedFault,
};
use crate::history::{check_reads, superseded};
use crate::invariants::failover::{
    classify_losses, minority_writes, replicas_attached, FaultTimeline, LossWindows,
};
use crate::invariants::{config_epochs_distinct, fmt_ms, stale_promotions, SafetyMonitor, Sample};
use crate::report::{RunReport, Violation};
use crate::seeds::SimConfig;
use crate::view::NodeLine;
use crate::workload::{spawn_writer, Phase, WriteHistory, WriteOp};

/// The scenario's name in [`super::SCENARIOS`] and seed files.
pub const NAME: &str = "failover";

/// The `CLUSTER FAILOVER` options generated schedules use: the coordinated one (no option),
/// `FORCE` and `TAKEOVER`.
pub const FAILOVER_MODES: &[FailoverMode] = &[
    FailoverMode::Default,
    FailoverMode::Force,
    FailoverMode::Takeover,
];

/// Most steps (episodes and manual failovers) a generated schedule holds.
pub const MAX_STEPS: usize = 8;

/// How long setup waits for every replica's link to its master to come up.
pub const LINKS_UP_TIMEOUT_MS: u64 = 15_000;

/// The cluster the scenario runs: `config`, with at least one replica per master.
pub fn effective_config(config: &SimConfig) -> SimConfig {
    SimConfig {
        replicas: config.replicas.max(1),
        ..config.clone()
    }
}

/// How long an isolated master may keep acknowledging writes: it flags a peer `fail?` once a
/// ping has gone unanswered for a node timeout, the ping leaving up to half a node timeout after
/// the last pong, plus 1 s for ticks (the `partition` scenario's bound).
pub fn minority_bound_ms(node_timeout_ms: u64) -> u64 {
    super::partition::minority_bound_ms(node_timeout_ms)
}

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

// ---- schedules ---------------------------------------------------------------------------------

/// One generated step: a fault with its undo, or a manual failover.
#[derive(Clone, Debug)]
enum Step {
    Episode(Episode),
    Failover {
        at_ms: u64,
        node: usize,
        mode: FailoverMode,
    },
}

fn step_strategy(shape: &ClusterShape) -> BoxedStrategy<Step> {
    let nt = shape.node_timeout_ms.max(1);
    let span = shape.span_ms.max(1);
    let n = shape.nodes.max(3);
    let masters = if shape.masters.is_empty() {
        vec![0]
    } else {
        shape.masters.clone()
    };
    let mut replicas: Vec<usize> = (0..n).filter(|i| !masters.contains(i)).collect();
    if replicas.is_empty() {
        replicas.push(n - 1);
    }
    // Masters are the interesting victims: their loss is what makes replicas fail over.
    let victim = prop_oneof![2 => proptest::sample::select(masters), 1 => 0..n];
    let episode = |start_ms, duration_ms, kind| {
        Step::Episode(Episode {
            start_ms,
            duration_ms,
            kind,
        })
    };
    prop_oneof![
        3 => (0..span, nt / 2..=3 * nt, victim.clone())
            .prop_map(move |(s, d, node)| episode(s, d, EpisodeKind::Crash { node })),
        2 => (0..span, nt + nt / 5..=3 * nt, victim)
            .prop_map(move |(s, d, node)| episode(s, d, EpisodeKind::Pause { node })),
        2 => (
            0..span,
            nt / 2..=3 * nt,
            proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=((n - 1) / 2).max(1)),
        )
            .prop_map(move |(s, d, minority)| {
                episode(s, d, EpisodeKind::Partition { groups: vec![minority] })
            }),
        3 => (
            0..span,
            proptest::sample::select(replicas),
            proptest::sample::select(FAILOVER_MODES.to_vec()),
        )
            .prop_map(|(at_ms, node, mode)| Step::Failover { at_ms, node, mode }),
    ]
    .boxed()
}

/// Turns steps into a schedule: episodes through [`from_episodes`] (no overlaps on one knob,
/// a majority of masters kept up and together), manual failovers as they are.
fn to_schedule(steps: &[Step], shape: &ClusterShape) -> FaultSchedule {
    let mut episodes: Vec<Episode> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Episode(e) => Some(e.clone()),
            Step::Failover { .. } => None,
        })
        .collect();
    episodes.sort_by_key(|e| e.start_ms);
    let mut faults = from_episodes(&episodes, shape).0;
    faults.extend(steps.iter().filter_map(|s| match s {
        Step::Failover { at_ms, node, mode } => Some(TimedFault {
            at_ms: *at_ms,
            fault: Fault::ManualFailover {
                node: *node,
                mode: *mode,
            },
        }),
        Step::Episode(_) => None,
    }));
    FaultSchedule::new(faults)
}

/// A proptest strategy for failover schedules on `shape`: 1 to [`MAX_STEPS`] crashes (with
/// their restart), pauses beyond the node timeout, minority partitions (with their heal) and
/// manual failovers, at random times in the safety phase. Shrinking drops steps, moves them
/// earlier, shortens them and prefers lower node indices.
pub fn schedule_strategy(shape: &ClusterShape) -> BoxedStrategy<FaultSchedule> {
    let shape = shape.clone();
    proptest::collection::vec(step_strategy(&shape), 1..=MAX_STEPS)
        .prop_map(move |steps| to_schedule(&steps, &shape))
        .boxed()
}

/// The schedule `seed` draws for `config` (what a run without an explicit schedule uses).
pub fn planned_schedule(seed: u64, config: &SimConfig) -> FaultSchedule {
    let shape = ClusterShape::of(&effective_config(config));
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"failover");
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    schedule_strategy(&shape)
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default()
}

// ---- the run -----------------------------------------------------------------------------------

/// A failover run: the report, the loss windows measured and the schedule it ran.
#[derive(Clone, Debug, Default)]
pub struct FailoverRun {
    pub report: RunReport,
    pub windows: LossWindows,
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
    let shape = ClusterShape::of(&config);
    let cluster = SimCluster::builder()
        .config(config)
        .seed(seed)
        .appendfsync(AppendFsync::Always)
        .build();
    let mut run = Failover {
        cluster: &cluster,
        shape,
        violations: Vec::new(),
        monitor: SafetyMonitor::new(),
        samples: Vec::new(),
        final_texts: Vec::new(),
        windows: LossWindows::default(),
    };
    run.steps(&schedule).await;
    let windows = run.windows.clone();
    FailoverRun {
        report: run.finish(),
        windows,
        schedule,
    }
}

struct Failover<'a> {
    cluster: &'a SimCluster,
    shape: ClusterShape,
    violations: Vec<Violation>,
    monitor: SafetyMonitor,
    /// Every sample of both phases, in time order.
    samples: Vec<Sample>,
    /// `(node, CLUSTER NODES)` from the last liveness poll.
    final_texts: Vec<(String, String)>,
    windows: LossWindows,
}

/// What the safety phase leaves for the checks.
struct SafetyOutcome {
    history: WriteHistory,
    timeline: FaultTimeline,
    restarts: Vec<(String, u64)>,
    down: Vec<(String, u64, u64)>,
    /// `(node index, run ms)` of every `CLUSTER FAILOVER` the schedule sent.
    manual_failovers: Vec<(usize, u64)>,
}

fn us_to_ms(us: u64) -> u64 {
    if us == u64::MAX {
        u64::MAX
    } else {
        us / 1000
    }
}

impl Failover<'_> {
    fn record(&self, event: String) {
        self.cluster.trace().record("harness", event);
    }

    fn name(&self, node: usize) -> String {
        self.cluster.node(node).name.clone()
    }

    /// Whose replica `node` was at `at_ms`, by its own last sampled view.
    fn master_of(&self, node: usize, at_ms: u64) -> Option<usize> {
        let name = self.name(node);
        let sample = self
            .samples
            .iter()
            .rev()
            .find(|s| s.node == name && s.time_ms <= at_ms)?;
        let master = sample.myself()?.master.as_deref()?;
        let line = sample.lines.iter().find(|l| l.id == master)?;
        node_index_of(&line.addr)
    }

    async fn steps(&mut self, schedule: &FaultSchedule) {
        if let Err(v) = announce_schedule(self.cluster, schedule, self.shape.span_ms) {
            self.violations.push(v);
            return;
        }
        if let Err(e) = setup(self.cluster).await {
            self.violations.push(Violation::new("setup_failed", e));
            return;
        }
        let outcome = self.safety_phase(schedule).await;
        let settled = self.liveness_phase().await;
        self.check_writes(&outcome, settled).await;
        let names = names_by_addr(self.cluster);
        self.violations.extend(stale_promotions(
            &self.samples,
            &outcome.restarts,
            &outcome.down,
            &promotions(&self.cluster.trace().events()),
            &outcome.manual_failovers,
            &names,
        ));
        self.violations.extend(minority_writes(
            &outcome.history.ops,
            &outcome.timeline,
            &self.samples,
            self.cluster.len(),
            node_index_of,
            minority_bound_ms(self.shape.node_timeout_ms),
        ));
    }

    async fn safety_phase(&mut self, schedule: &FaultSchedule) -> SafetyOutcome {
        let span_ms = self.shape.span_ms;
        self.record(format!("safety phase for {span_ms} ms"));
        let writer = spawn_writer(self.cluster, workload_spec(&self.shape), Phase::default()).await;
        let sampler = spawn_sampler(self.cluster, span_ms).await;
        let start_ms = now_ms();
        let mut injector = FaultInjector::new(self.cluster);
        injector.run(schedule, span_ms).await;
        let (history, samples) = collect_phase(
            self.cluster,
            writer,
            sampler,
            &injector,
            &mut self.monitor,
            &mut self.violations,
        )
        .await;
        self.samples.extend(samples);
        let healed_at_ms = now_ms();
        // After the heal, so that nodes paused or down to the end have their way back recorded.
        injector.heal_all().await;
        let down_ms: Vec<(usize, u64, u64)> = injector
            .down_intervals()
            .into_iter()
            .map(|(node, from, to)| (node, from / 1000, us_to_ms(to)))
            .collect();
        let restarts = injector
            .restarts()
            .iter()
            .map(|&(node, at_us)| (self.name(node), at_us / 1000))
            .collect();
        let down = down_ms
            .iter()
            .map(|&(node, from, to)| (self.name(node), from, to))
            .collect();
        SafetyOutcome {
            history,
            timeline: FaultTimeline::new(schedule, start_ms, &down_ms, healed_at_ms, |n, t| {
                self.master_of(n, t)
            }),
            restarts,
            down,
            manual_failovers: manual_failovers(schedule, start_ms),
        }
    }

    /// Waits until the cluster is whole and every replica is attached, for good (one more node
    /// timeout); returns whether it was within [`liveness_bound_ms`].
    async fn liveness_phase(&mut self) -> bool {
        let heal_ms = now_ms();
        let bound_ms = liveness_bound_ms(self.shape.node_timeout_ms);
        let deadline_ms = heal_ms + bound_ms;
        self.record(format!(
            "liveness phase: whole with replicas attached within {bound_ms} ms"
        ));
        let addrs = self.cluster.addrs();
        let names = node_names(self.cluster);
        let stable_ms = self.shape.node_timeout_ms;
        let mut whole_since: Option<u64> = None;
        let mut links = Ok(());
        let (settled, last) = loop {
            let last = poll_all(self.cluster, &addrs, &names).await;
            observe_poll(&mut self.monitor, &mut self.samples, &last);
            let now = now_ms();
            let mut done = whole(&last, self.cluster.len()) && self.attached(&last).is_empty();
            if done {
                links = links_up(self.cluster).await;
                done = links.is_ok();
            }
            if done {
                let since = *whole_since.get_or_insert(now);
                if now - since >= stable_ms {
                    break (Some(since), last);
                }
            } else {
                whole_since = None;
                if now >= deadline_ms {
                    break (None, last);
                }
            }
            madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
        };
        self.final_texts = nodes_texts(&last);
        let views = views_of(&last);
        if let Some(since) = settled {
            self.record(format!(
                "whole with replicas attached after {} ms, and still after {stable_ms} ms more",
                since - heal_ms
            ));
            self.violations.extend(config_epochs_distinct(&views));
            return true;
        }
        self.report_not_whole(&last, &views, heal_ms, bound_ms, links);
        false
    }

    fn attached(&self, fetched: &[(String, Result<Fetched, String>)]) -> Vec<Violation> {
        views_of(fetched)
            .iter()
            .flat_map(|(name, lines)| replicas_attached(name, lines, self.shape.masters.len()))
            .collect()
    }

    fn report_not_whole(
        &mut self,
        last: &[(String, Result<Fetched, String>)],
        views: &[(String, Vec<NodeLine>)],
        heal_ms: u64,
        bound_ms: u64,
        links: Result<(), String>,
    ) {
        let context = format!(
            "{} after healing (bound {bound_ms} ms)",
            fmt_ms(now_ms() - heal_ms)
        );
        let mut extra = self.attached(last);
        if let Err(e) = links {
            extra.push(Violation::new("replica_link_down", e));
        }
        let found = not_whole(last, views, self.cluster.len(), &context, extra);
        let nothing_said = found.is_empty();
        self.violations.extend(found);
        if nothing_said {
            self.violations.push(Violation::new(
                "cluster_not_whole",
                format!("{context}: some node did not answer"),
            ));
        }
    }

    /// Reads every written key back: a lost acknowledged write must have been superseded by a
    /// failover and fall in one of Redis's windows.
    async fn check_writes(&mut self, outcome: &SafetyOutcome, settled: bool) {
        let history = &outcome.history;
        if history.ops.is_empty() {
            return;
        }
        let Some(values) =
            read_values_if_whole(self.cluster, history, settled, &mut self.violations).await
        else {
            return;
        };
        let mut lost: Vec<&WriteOp> = Vec::new();
        for check in check_reads(history, &values) {
            if let Some(phantom) = &check.phantom {
                self.violations.push(phantom_value(&check.key, phantom));
                continue;
            }
            let slot = key_hash_slot(check.key.as_bytes());
            for id in &check.lost_acked {
                let Some(op) = history.ops.iter().find(|op| op.id == *id) else {
                    continue;
                };
                let (start_ms, end_ms) = (op.start_us / 1000, op.end_us / 1000);
                if superseded(&self.samples, &op.addr, slot, start_ms, end_ms) {
                    lost.push(op);
                } else {
                    self.violations.push(Violation::new(
                        "acked_write_lost",
                        format!(
                            "{} = {} acknowledged by {} at {} is lost, and no failover \
                             superseded it",
                            op.key,
                            op.value,
                            op.addr,
                            fmt_ms(end_ms)
                        ),
                    ));
                }
            }
        }
        let (windows, violations) = classify_losses(
            history.acked_count(),
            &lost,
            |op| node_index_of(&op.addr),
            &outcome.timeline,
            minority_bound_ms(self.shape.node_timeout_ms),
        );
        self.record(format!("writes: {}", windows.describe()));
        self.violations.extend(violations);
        self.windows = windows;
    }

    fn finish(mut self) -> RunReport {
        end_report(
            self.cluster,
            NAME,
            &mut self.monitor,
            self.violations,
            self.final_texts,
        )
    }
}

/// Starts and creates the cluster; waits for `cluster_state:ok` everywhere and every
/// replica's link up.
async fn setup(cluster: &SimCluster) -> Result<(), String> {
    cluster.wait_listening().await.map_err(|e| e.to_string())?;
    cluster.create().await?;
    cluster.wait_cluster_ok(SETUP_TIMEOUT_MS).await?;
    wait_whole(cluster, SETUP_TIMEOUT_MS).await?;
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

// ---- the tutorial's crash step, with replicas ------------------------------------------------

/// The key the tutorial writes before the crash (slot 4998, node 1's) and its value.
pub const CRASH_KEY: &str = "key2";
pub const CRASH_VALUE: &str = "world";

/// A [`crash_with_replicas`] run: the report (its final views are the ones after the old
/// master came back) plus the views and timings the test snapshots and prints.
#[derive(Clone, Debug, Default)]
pub struct ReplicaCrashRun {
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
    /// Node indices: the killed master and the replica that took over.
    pub victim: usize,
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
        let (text, _) = fetch_view(cluster, index)
            .await
            .map_err(|e| Violation::new("cluster_nodes_unreadable", format!("{name}: {e}")))?;
        out.push((name, text));
    }
    Ok(out)
}

async fn crash_steps(cluster: &SimCluster, run: &mut ReplicaCrashRun) -> Result<(), Violation> {
    let nt = cluster.config().node_timeout_ms;
    setup(cluster)
        .await
        .map_err(|e| Violation::new("setup_failed", e))?;
    set_key(cluster, CRASH_KEY, CRASH_VALUE).await?;
    // As in the tutorial, time passes before the crash: the write is on the replica.
    madsim::time::sleep(Duration::from_millis(super::crash::SETTLE_MS)).await;
    let all: Vec<usize> = (0..cluster.len()).collect();
    run.before = all_views(cluster, &all).await?;
    let (victim, successor) = (run.victim, run.successor);
    let live: Vec<usize> = all.iter().copied().filter(|&i| i != victim).collect();
    let victim_addr = cluster.node(victim).addr();
    let successor_addr = cluster.node(successor).addr();

    cluster.kill(victim);
    let killed_ms = now_ms();
    let detect_bound_ms = super::crash::detect_bound_ms(nt);
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
    .map_err(|e| Violation::new("failure_not_detected", e))?;
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
    .map_err(|e| Violation::new("replica_not_promoted", e))?;
    run.promote_ms = Some(now_ms() - killed_ms);
    cluster.trace().record(
        "harness",
        format!("promoted after {} ms", now_ms() - killed_ms),
    );

    cluster.restart(victim);
    let restarted_ms = now_ms();
    let rejoin_bound_ms = liveness_bound_ms(nt);
    let successor_id = probe::my_id(cluster, successor)
        .await
        .map_err(|e| Violation::new("identity_unreadable", e))?;
    probe::wait_all(cluster, &all, rejoin_bound_ms, |observer| {
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
    .map_err(|e| Violation::new("old_master_not_replica", e))?;
    wait_links_up(cluster, rejoin_bound_ms)
        .await
        .map_err(|e| Violation::new("replica_link_down", e))?;
    run.rejoin_ms = Some(now_ms() - restarted_ms);
    super::crash::check_value(cluster, CRASH_KEY, CRASH_VALUE).await
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
            "write_refused",
            format!("SET {key}: {}", describe_reply(&r.reply)),
        )),
        Err(e) => Err(Violation::new("client_io", format!("SET {key}: {e}"))),
    }
}

// ---- a master cut off with a minority ------------------------------------------------------------

/// A [`minority_partition`] run.
#[derive(Clone, Debug, Default)]
pub struct MinorityRun {
    pub report: RunReport,
    /// Virtual ms from the cut to the last `+OK` the isolated master gave, and to its first
    /// `CLUSTERDOWN` refusal.
    pub last_ack_ms: Option<u64>,
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
        .map_err(|e| Violation::new("setup_failed", e))?;
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
            "minority_master_accepted_write",
            format!("node1 still not refusing writes {bound_ms} ms after the cut"),
        ));
    };
    run.refused_ms = Some(refused_at - cut_ms);
    run.refusal = Some(refusal);
    // Let the majority promote node 1's replica, then heal.
    madsim::time::sleep(Duration::from_millis(2 * nt)).await;
    injector.heal_all().await;
    let live_bound_ms = liveness_bound_ms(nt);
    probe::wait_all_ok(cluster, live_bound_ms)
        .await
        .map_err(|e| Violation::new("cluster_not_ok", e))?;
    wait_links_up(cluster, live_bound_ms)
        .await
        .map_err(|e| Violation::new("replica_link_down", e))?;
    let (_, lines) = fetch_view(cluster, minority[0])
        .await
        .map_err(|e| Violation::new("cluster_nodes_unreadable", e))?;
    let violations = replicas_attached("node1", &lines, cluster.config().masters);
    match violations.into_iter().next() {
        Some(v) => Err(v),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{check_majority, FaultKind};

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
