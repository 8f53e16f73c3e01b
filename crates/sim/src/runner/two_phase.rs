//! The two-phase run, as TigerBeetle's VOPR does it, shared by the scenarios that run a fault
//! schedule ([`TwoPhase`] says what each adds):
//!
//! 1. **Setup**: nodes listening, `create`, `cluster_state:ok` everywhere and every view in
//!    agreement, then [`TwoPhase::after_setup`].
//! 2. **Safety phase** (the schedule's span): the workload — the single writer
//!    ([`super::workload_spec`]) or the append clients a scenario asks for
//!    ([`TwoPhase::append_spec`]) — and the sampler run while the [`FaultInjector`] plays the schedule; every sample goes through the
//!    [`SafetyMonitor`]. Then every fault is healed.
//! 3. **Liveness phase**: within [`super::liveness_bound_ms`] every node must say
//!    `cluster_state:ok`, all must agree on the owner of all 16384 slots (plus whatever
//!    [`TwoPhase::also_whole`] asks), and stay so for one more node timeout; then the masters'
//!    config epochs must be distinct.
//! 4. **Writes**: every written key is read back and judged against the writer's history (a
//!    value no write carried is `phantom_value`; lost acknowledged writes go to
//!    [`TwoPhase::judge_lost`]); the append clients' keys are read back and their history
//!    judged by [`crate::append`], losses by the loss rule.
//! 5. **Whole-run checks**: no stale replica promoted ([`stale_promotions`]), every typed
//!    event by the protocol's rules ([`crate::event_checks`]), then
//!    [`TwoPhase::final_checks`]; `end_report` closes the report.

use std::collections::BTreeMap;

use clusterlab_core::event::ConfigEpochReason;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::ClusterEvent;

use super::evidence::{
    manual_failovers, names_by_addr, phantom_value, promotions, read_values_if_whole,
};
use super::poll::{
    node_names, nodes_texts, not_whole, now_ms, observe_poll, poll_all, views_of, wait_whole,
    whole, Polled,
};
use super::sampler::spawn_sampler;
use super::{
    liveness_bound_ms, workload_slots, workload_spec, CLUSTER_OK_TIMEOUT_MS, LIVENESS_POLL_MS,
};
use crate::append::client::{spawn_clients, Clients};
use crate::append::run::{check_appends, Appends};
use crate::append::{AppendHistory, AppendSpec};
use crate::cluster::SimCluster;
use crate::faults::{ClusterShape, FaultInjector, FaultSchedule};
use crate::history::{check_reads, RegisterCheck};
use crate::invariants::{config_epochs_distinct, fmt_ms, stale_promotions, SafetyMonitor, Sample};
use crate::loss::LossConfig;
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;
use crate::trace::{Event, RunPhase, TraceEvent};
use crate::view::NodeLine;
use crate::workload::{spawn_writer, Phase, WriteHistory, WriteOp};

/// What a scenario adds to the two-phase run. Every hook has a default that adds nothing, but
/// [`name`](TwoPhase::name), [`judge_lost`](TwoPhase::judge_lost) and
/// [`close_writes`](TwoPhase::close_writes). Hooks run in the order listed here; they may await
/// (talk to the nodes), and what they do goes into the trace like everything else.
// Driven only by `run_two_phase` on madsim's single thread: no `Send` bound is wanted.
#[allow(async_fn_in_trait)]
pub trait TwoPhase {
    /// The scenario's name, for the report.
    fn name(&self) -> &'static str;

    /// What the liveness phase waits for, as its trace lines say it (`whole … within`).
    fn liveness_goal(&self) -> &'static str {
        "whole"
    }

    /// After the cluster is created and whole, before the safety phase.
    async fn after_setup(&mut self, run: &mut Run<'_>) -> Result<(), String> {
        let _ = run;
        Ok(())
    }

    /// The append clients to run in the safety phase instead of the single writer (`None`:
    /// the writer).
    fn append_spec(&self, run: &Run<'_>) -> Option<AppendSpec> {
        let _ = run;
        None
    }

    /// The safety phase's samples and the workload's history (the writer's or the append
    /// clients'), once the schedule has run (before the samples join [`Run::samples`]).
    fn check_safety_phase(
        &mut self,
        run: &mut Run<'_>,
        samples: &[Sample],
        history: &WriteHistory,
        appends: &AppendHistory,
    ) {
        let _ = (run, samples, history, appends);
    }

    /// Right after every fault was healed, with the injector that ran them.
    async fn after_heal(
        &mut self,
        run: &mut Run<'_>,
        injector: &mut FaultInjector<'_>,
        schedule: &FaultSchedule,
        times: PhaseTimes,
    ) {
        let _ = (run, injector, schedule, times);
    }

    /// Before the liveness phase's first poll (an operator's repairs).
    async fn before_liveness(&mut self, run: &mut Run<'_>, outcome: &SafetyOutcome) {
        let _ = (run, outcome);
    }

    /// After each liveness poll, before its time is taken.
    async fn after_poll(&mut self, run: &mut Run<'_>, last: &[Polled]) {
        let _ = (run, last);
    }

    /// Operator actions dated at the poll's time `now_ms`.
    async fn tend(&mut self, run: &mut Run<'_>, last: &[Polled], now_ms: u64) {
        let _ = (run, last, now_ms);
    }

    /// What being whole asks beyond every node ok and every view agreeing; asked only of a
    /// poll that is whole that far.
    async fn also_whole(&mut self, run: &mut Run<'_>, last: &[Polled]) -> bool {
        let _ = (run, last);
        true
    }

    /// More checks once the cluster stayed whole (after the config epochs were checked).
    fn settled_checks(
        &mut self,
        run: &Run<'_>,
        views: &[(String, Vec<NodeLine>)],
    ) -> Vec<Violation> {
        let _ = (run, views);
        Vec::new()
    }

    /// Once the cluster stayed whole after the heal, before the final reads, with the last
    /// poll's views (an operator's planned maintenance).
    async fn after_settled(&mut self, run: &mut Run<'_>, views: &[(String, Vec<NodeLine>)]) {
        let _ = (run, views);
    }

    /// Why [`also_whole`](TwoPhase::also_whole) did not hold when the bound ran out.
    fn unsettled_evidence(&mut self, run: &Run<'_>, last: &[Polled]) -> Vec<Violation> {
        let _ = (run, last);
        Vec::new()
    }

    /// Judges the acknowledged writes to one key (in `slot`) that its read-back says were
    /// lost (`lost`; may be empty).
    fn judge_lost(
        &mut self,
        run: &mut Run<'_>,
        outcome: &SafetyOutcome,
        check: &RegisterCheck,
        slot: u16,
        lost: &[&WriteOp],
    );

    /// After every key was judged.
    fn close_writes(&mut self, run: &mut Run<'_>, outcome: &SafetyOutcome);

    /// Where the schedule's time 0 is in run ms, for dating its manual failovers.
    fn schedule_origin_ms(&self, times: PhaseTimes) -> u64 {
        times.started_ms
    }

    /// The checks on the whole run, after [`stale_promotions`]. `events` is the trace as it
    /// stands, `names` maps `addr` to node name, `manual_failovers` is `(node, run ms)`.
    fn final_checks(
        &mut self,
        run: &mut Run<'_>,
        outcome: &SafetyOutcome,
        events: &[TraceEvent],
        names: &BTreeMap<String, String>,
        manual_failovers: &[(usize, u64)],
    ) {
        let _ = (run, outcome, events, names, manual_failovers);
    }
}

/// What every two-phase run carries from start to report; the hooks get it.
pub struct Run<'a> {
    /// The simulated cluster under test.
    pub cluster: &'a SimCluster,
    /// Its shape and node timeout, as the schedule and the bounds read them.
    pub shape: ClusterShape,
    /// Every violation found so far, in the order found.
    pub violations: Vec<Violation>,
    /// The history checks fed with every sample.
    pub monitor: SafetyMonitor,
    /// Every sample of both phases, in time order.
    pub samples: Vec<Sample>,
    /// `(node, CLUSTER NODES)` from the last liveness poll.
    pub final_texts: Vec<(String, String)>,
}

impl Run<'_> {
    /// A harness line in the trace.
    pub fn record(&self, event: impl Into<Event>) {
        self.cluster.trace().record("harness", event);
    }

    /// Node `node`'s name.
    pub fn name(&self, node: usize) -> String {
        self.cluster.node(node).name.clone()
    }
}

/// When the safety phase's steps happened, in run ms.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    /// The safety phase began (before the writer and the sampler started).
    pub started_ms: u64,
    /// The injector started on the schedule (after the writer and the sampler started).
    pub injected_ms: u64,
    /// The schedule was over and the heal began.
    pub healed_ms: u64,
}

/// What the safety phase leaves for the liveness phase and the checks.
pub struct SafetyOutcome {
    /// Every write the single writer sent, with how it ended (empty when append clients ran).
    pub history: WriteHistory,
    /// What the append clients did (nothing when the single writer ran).
    pub appends: Appends,
    /// `(node index, virtual µs)` of every wipe.
    pub wiped: Vec<(usize, u64)>,
    /// `(node, ms)` of every restart, and `(node, from ms, to ms)` of every stretch a node was
    /// crashed or paused (`u64::MAX`: to the end), for [`stale_promotions`].
    pub restarts: Vec<(String, u64)>,
    /// See `restarts`.
    pub down: Vec<(String, u64, u64)>,
    /// When the phase started and when it was healed.
    pub times: PhaseTimes,
}

/// Runs the two phases of `hooks`'s scenario for `seed` on `config` (its `appendfsync`)
/// with `schedule`, inside the current runtime, and closes the report.
pub async fn run_two_phase<H: TwoPhase>(
    hooks: &mut H,
    seed: u64,
    config: SimConfig,
    schedule: &FaultSchedule,
) -> RunReport {
    let shape = ClusterShape::of(&config);
    let cluster = SimCluster::builder()
        .appendfsync(config.appendfsync.policy())
        .config(config)
        .seed(seed)
        .build();
    let mut run = Run {
        cluster: &cluster,
        shape,
        violations: Vec::new(),
        monitor: SafetyMonitor::new(),
        samples: Vec::new(),
        final_texts: Vec::new(),
    };
    steps(&mut run, hooks, schedule).await;
    end_report(
        run.cluster,
        hooks.name(),
        &mut run.monitor,
        run.violations,
        run.final_texts,
    )
}

async fn steps<H: TwoPhase>(run: &mut Run<'_>, hooks: &mut H, schedule: &FaultSchedule) {
    if let Err(v) = announce_schedule(run.cluster, schedule, run.shape.span_ms) {
        run.violations.push(v);
        return;
    }
    if let Err(e) = setup(run, hooks).await {
        run.violations
            .push(Violation::new(ViolationKind::SetupFailed, e));
        return;
    }
    let outcome = safety_phase(run, hooks, schedule).await;
    let settled = liveness_phase(run, hooks, &outcome).await;
    check_writes(run, hooks, &outcome, settled).await;
    let rule_config = LossConfig::for_fsync(run.cluster.aof().appendfsync);
    check_appends(run, &outcome.appends, settled, rule_config).await;
    let names = names_by_addr(run.cluster);
    let manual = manual_failovers(schedule, hooks.schedule_origin_ms(outcome.times));
    // Node events, read once for the checks that date what nodes did.
    let events = run.cluster.trace().events();
    // `cluster-replica-validity-factor 0` turns Redis's data-age test off: a replica that never
    // heard from its master since it started may then win, so the check does not apply.
    if run.cluster.config().validity_factor > 0 {
        run.violations.extend(stale_promotions(
            &run.samples,
            &outcome.restarts,
            &outcome.down,
            &promotions(&events),
            &manual,
            &names,
        ));
    }
    let nt = run.shape.node_timeout_ms;
    run.violations
        .extend(crate::event_checks::check_events(&events, nt));
    let maxmemory = run.cluster.config().maxmemory.as_ref();
    run.violations
        .extend(crate::invariants::evictions::check_evictions(
            &events, maxmemory,
        ));
    hooks.final_checks(run, &outcome, &events, &names, &manual);
}

/// Starts and creates the cluster and waits until it is whole, then the scenario's own setup.
async fn setup<H: TwoPhase>(run: &mut Run<'_>, hooks: &mut H) -> Result<(), String> {
    create_whole(run.cluster).await?;
    hooks.after_setup(run).await
}

/// Nodes listening, `create`, `cluster_state:ok` everywhere and every view in agreement (each
/// bounded by [`CLUSTER_OK_TIMEOUT_MS`]).
pub async fn create_whole(cluster: &SimCluster) -> Result<(), String> {
    cluster.wait_listening().await.map_err(|e| e.to_string())?;
    cluster.create().await?;
    cluster.wait_cluster_ok(CLUSTER_OK_TIMEOUT_MS).await?;
    wait_whole(cluster, CLUSTER_OK_TIMEOUT_MS).await
}

async fn safety_phase<H: TwoPhase>(
    run: &mut Run<'_>,
    hooks: &mut H,
    schedule: &FaultSchedule,
) -> SafetyOutcome {
    let span_ms = run.shape.span_ms;
    let started_ms = now_ms();
    run.record(RunPhase::Safety { span_ms });
    let append_spec = hooks.append_spec(run);
    let (workload, slot_pool) = match &append_spec {
        Some(spec) => (
            Workload::Appends(spawn_clients(run.cluster, spec)),
            crate::append::workload_slots(&spec.keys),
        ),
        None => {
            let spec = workload_spec(&run.shape);
            let slots = workload_slots(&spec);
            (
                Workload::Writer(spawn_writer(run.cluster, spec, Phase::default()).await),
                slots,
            )
        }
    };
    let sampler = spawn_sampler(run.cluster, span_ms).await;
    let injected_ms = now_ms();
    let mut injector = FaultInjector::new(run.cluster).with_slot_pool(slot_pool);
    injector.run(schedule, span_ms).await;
    let (history, appends, samples) = collect_phase(
        run.cluster,
        workload,
        sampler,
        &injector,
        &mut run.monitor,
        &mut run.violations,
    )
    .await;
    hooks.check_safety_phase(run, &samples, &history, &appends);
    let appends = Appends {
        spec: append_spec,
        history: appends,
    };
    run.samples.extend(samples);
    let wiped = injector.wiped().to_vec();
    let healed_ms = now_ms();
    // After the heal, so that nodes paused or down to the end have their way back recorded.
    injector.heal_all().await;
    let times = PhaseTimes {
        started_ms,
        injected_ms,
        healed_ms,
    };
    hooks.after_heal(run, &mut injector, schedule, times).await;
    let restarts = injector
        .restarts()
        .iter()
        .map(|&(node, at_us)| (run.name(node), at_us / 1000))
        .collect();
    let down = injector
        .down_intervals()
        .into_iter()
        .map(|(node, from_us, to_us)| (run.name(node), from_us / 1000, us_to_ms(to_us)))
        .collect();
    SafetyOutcome {
        history,
        appends,
        wiped,
        restarts,
        down,
        times,
    }
}

/// µs to ms, keeping `u64::MAX` (an interval that never ended) as it is.
pub fn us_to_ms(us: u64) -> u64 {
    if us == u64::MAX {
        u64::MAX
    } else {
        us / 1000
    }
}

/// Waits for the cluster to be whole for good (one more node timeout); returns whether it
/// was, within [`liveness_bound_ms`].
async fn liveness_phase<H: TwoPhase>(
    run: &mut Run<'_>,
    hooks: &mut H,
    outcome: &SafetyOutcome,
) -> bool {
    let heal_ms = now_ms();
    let liveness_bound_ms = liveness_bound_ms(run.shape.node_timeout_ms);
    let deadline_ms = heal_ms + liveness_bound_ms;
    let goal = hooks.liveness_goal();
    run.record(RunPhase::Liveness {
        goal: goal.to_string(),
        bound_ms: liveness_bound_ms,
    });
    hooks.before_liveness(run, outcome).await;
    let addrs = run.cluster.addrs();
    let names = node_names(run.cluster);
    let stable_ms = run.shape.node_timeout_ms;
    let mut whole_since: Option<u64> = None;
    let (settled, last) = loop {
        let last = poll_all(run.cluster, &addrs, &names).await;
        observe_poll(&mut run.monitor, &mut run.samples, &last);
        hooks.after_poll(run, &last).await;
        let now = now_ms();
        hooks.tend(run, &last, now).await;
        if whole(&last, run.cluster.len()) && hooks.also_whole(run, &last).await {
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
        madsim::time::sleep(std::time::Duration::from_millis(LIVENESS_POLL_MS)).await;
    };
    run.final_texts = nodes_texts(&last);
    let views = views_of(&last);
    if let Some(since) = settled {
        run.record(RunPhase::Settled {
            goal: goal.to_string(),
            after_ms: since - heal_ms,
            stable_ms,
        });
        run.violations.extend(config_epochs_distinct(&views));
        let more = hooks.settled_checks(run, &views);
        run.violations.extend(more);
        hooks.after_settled(run, &views).await;
        return true;
    }
    let context = format!(
        "{} after healing (bound {liveness_bound_ms} ms)",
        fmt_ms(now_ms() - heal_ms)
    );
    let extra = hooks.unsettled_evidence(run, &last);
    let found = not_whole(&last, &views, run.cluster.len(), &context, extra);
    let nothing_said = found.is_empty();
    run.violations.extend(found);
    if nothing_said {
        run.violations.push(Violation::new(
            ViolationKind::ClusterNotWhole,
            format!("{context}: some node did not answer"),
        ));
    }
    false
}

/// Reads every written key back and judges it against the history (only when the cluster
/// `settled` does a failed read count: one never whole cannot serve reads, and that is
/// already reported).
async fn check_writes<H: TwoPhase>(
    run: &mut Run<'_>,
    hooks: &mut H,
    outcome: &SafetyOutcome,
    settled: bool,
) {
    let history = &outcome.history;
    if history.ops.is_empty() {
        return;
    }
    let Some(values) =
        read_values_if_whole(run.cluster, history, settled, &mut run.violations).await
    else {
        return;
    };
    for check in check_reads(history, &values) {
        if let Some(phantom) = &check.phantom {
            run.violations.push(phantom_value(&check.key, phantom));
            continue;
        }
        let slot = key_hash_slot(check.key.as_bytes());
        let lost: Vec<&WriteOp> = check
            .lost_acked
            .iter()
            .filter_map(|id| history.ops.iter().find(|op| op.id == *id))
            .collect();
        hooks.judge_lost(run, outcome, &check, slot, &lost);
    }
    hooks.close_writes(run, outcome);
}

/// Checks `schedule` fits the cluster and says in the trace what it will do.
fn announce_schedule(
    cluster: &SimCluster,
    schedule: &FaultSchedule,
    span_ms: u64,
) -> Result<(), Violation> {
    schedule
        .validate(cluster.len())
        .map_err(|e| Violation::new(ViolationKind::BadSchedule, e))?;
    cluster.trace().record(
        "harness",
        format!(
            "schedule {} faults ({}) over {} ms",
            schedule.len(),
            schedule.kinds().join(","),
            span_ms
        ),
    );
    Ok(())
}

/// The safety phase's workload: the single writer or the append clients.
enum Workload {
    Writer(madsim::task::JoinHandle<WriteHistory>),
    Appends(Clients),
}

/// Ends a safety phase's workload and sampler and feeds the monitor every restart the
/// injector made, then every sample; returns the histories and the samples.
async fn collect_phase(
    cluster: &SimCluster,
    workload: Workload,
    sampler: madsim::task::JoinHandle<Vec<Sample>>,
    injector: &FaultInjector<'_>,
    monitor: &mut SafetyMonitor,
    violations: &mut Vec<Violation>,
) -> (WriteHistory, AppendHistory, Vec<Sample>) {
    let (mut history, mut appends) = (WriteHistory::default(), AppendHistory::default());
    let joined = match workload {
        Workload::Writer(writer) => writer.await.map(|h| history = h).map_err(|e| e.to_string()),
        Workload::Appends(clients) => clients.join().await.map(|h| appends = h),
    };
    if let Err(e) = joined {
        violations.push(Violation::new(ViolationKind::WorkloadFailed, e));
    }
    let samples = sampler.await.unwrap_or_default();
    for &(node, at_us) in injector.restarts() {
        let name = cluster.node(node).name.clone();
        monitor.note_restart(at_us / 1000, &name);
    }
    for sample in &samples {
        monitor.observe(sample);
    }
    (history, appends, samples)
}

/// The config epochs nodes took by agreement, as their typed events say (an election won,
/// `CLUSTER SET-CONFIG-EPOCH` at create), go to the monitor (see
/// [`SafetyMonitor::only_agreed_epochs`]).
fn note_agreed_epochs(cluster: &SimCluster, monitor: &mut SafetyMonitor) {
    let addrs: BTreeMap<String, String> = cluster
        .nodes()
        .iter()
        .map(|n| (n.name.clone(), n.addr()))
        .collect();
    let agreed = cluster
        .trace()
        .events()
        .into_iter()
        .filter_map(|event| match event.event.cluster()? {
            ClusterEvent::ConfigEpochChanged {
                epoch,
                reason: ConfigEpochReason::Election | ConfigEpochReason::SetConfigEpoch,
            } => Some((addrs.get(&event.node)?.clone(), *epoch)),
            _ => None,
        })
        .collect();
    monitor.only_agreed_epochs(agreed);
}

/// Closes a two-phase run: the monitor's findings, the end line and every violation go to
/// the trace, and the report carries the last `CLUSTER NODES` texts.
fn end_report(
    cluster: &SimCluster,
    scenario: &str,
    monitor: &mut SafetyMonitor,
    mut violations: Vec<Violation>,
    final_texts: Vec<(String, String)>,
) -> RunReport {
    note_agreed_epochs(cluster, monitor);
    violations.extend(monitor.violations());
    cluster.trace().record(
        "harness",
        format!(
            "end samples={} network_messages={}",
            monitor.samples(),
            cluster.network_messages()
        ),
    );
    crate::scenario::close_report(cluster, scenario, violations, final_texts)
}
