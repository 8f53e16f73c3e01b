//! `durability` / `durability-everysec`: a writer keeps setting `key:<n>` (spread over every
//! master) while a seed-chosen master is killed at a seed-chosen virtual time, left down for a
//! seed-chosen while, and restarted on its disk — and, for a third of the seeds, killed again
//! up to 5 s after that restart (while it replays, waits out its writable delay or serves
//! again) and restarted once more. Once every node says `cluster_state:ok` again, every written key
//! is read back and judged against the writer's history ([`crate::workload`]).
//!
//! - `appendfsync always` (`durability`): no acknowledged write is ever lost (name
//!   `acked_write_lost`).
//! - `appendfsync everysec` (`durability-everysec`): writes the crashed master acknowledged in
//!   the last moments before a crash may be lost, but the loss window — from the last
//!   surviving acknowledged write to the crash — stays within [`EVERYSEC_MAX_LOSS_MS`] for
//!   every crash (name `loss_window_exceeded`); nodes that did not crash lose nothing.
//!
//! In both modes no value appears that was never written or was refused (`phantom_value`), and
//! node IDs and current epochs survive the restarts (`node_id_changed`, `epoch_decreased`).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use clusterlab_core::config::AppendFsync;

use super::probe::{self, Identity};
use super::{finish, start_masters_only};
use crate::cluster::{mix64, SimCluster};
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;
use crate::view::parse_cluster_nodes;
use crate::workload::{self, KeyCheck, LossWindow, Phase, WorkloadSpec, WriteHistory};

/// `appendfsync everysec` may lose about the last second of writes (Redis documents up to two
/// seconds when a sync is slow); our bound.
pub const EVERYSEC_MAX_LOSS_MS: u64 = 2000;

/// The writer keeps going this long after the last restart, so writes hit the restarted
/// master too.
const AFTER_RESTART_MS: u64 = 2000;

/// What one durability run did and found.
#[derive(Clone, Debug, Default)]
pub struct DurabilityRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// The crashed node's name.
    pub victim: String,
    /// Every crash of the victim, in order.
    pub crashes: Vec<CrashRecord>,
    /// Writes the workload sent.
    pub ops: usize,
    /// Writes the cluster acknowledged.
    pub acked: usize,
}

/// One crash of the victim and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashRecord {
    /// Virtual µs since the run started at which the victim was killed.
    pub crash_us: u64,
    /// How long it stayed down.
    pub downtime_ms: u64,
    /// Loss of the writes it acknowledged since it last started (violations only under
    /// `always`).
    pub loss: LossWindow,
}

/// Seed-chosen fault timing, independent of how much of madsim's rng the run consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPlan {
    /// Index among the slot-serving masters, in node order.
    pub master_pick: usize,
    /// Since the writer started.
    pub kill_after_ms: u64,
    /// How long the victim stays down before its restart.
    pub downtime_ms: u64,
    /// `(time after the restart, downtime)` of a second crash.
    pub again: Option<(u64, u64)>,
}

impl CrashPlan {
    /// Kill 0.3–3 s into the writes (after the first everysec sync has had time to happen, and
    /// while the writer is busy), down for 0.1 s up to a node timeout and a half (with or
    /// without the others flagging it `fail`). One seed in three kills it again 0–5 s after its
    /// restart (while it replays its AOF, during its 2 s writable delay, or once it serves
    /// writes again), down for 0.1 s up to a node timeout.
    pub fn from_seed(seed: u64, masters: usize, node_timeout_ms: u64) -> CrashPlan {
        assert!(masters > 0, "no master to crash");
        let node_timeout_ms = node_timeout_ms.max(100);
        let mut rng = ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x6475_7261_6269_6c65));
        let master_pick = rng.gen_range(0..masters);
        let kill_after_ms = rng.gen_range(300..=3000);
        let downtime_ms = rng.gen_range(100..=node_timeout_ms * 3 / 2);
        let again = rng.gen_ratio(1, 3).then(|| {
            (
                rng.gen_range(0..=5000),
                rng.gen_range(100..=node_timeout_ms),
            )
        });
        CrashPlan {
            master_pick,
            kill_after_ms,
            downtime_ms,
            again,
        }
    }

    /// `(wait before the kill, downtime)` of every crash, in order.
    pub fn crashes(&self) -> Vec<(u64, u64)> {
        let mut crashes = vec![(self.kill_after_ms, self.downtime_ms)];
        crashes.extend(self.again);
        crashes
    }
}

/// The scenario's name for a policy.
pub fn scenario_name(policy: AppendFsync) -> &'static str {
    match policy {
        AppendFsync::Everysec => "durability-everysec",
        AppendFsync::No => "durability-no",
        AppendFsync::Always => "durability",
    }
}

/// The registry's handle on this scenario.
/// `Durability(AppendFsync::Always)` is `durability`, `Everysec` is `durability-everysec`.
pub struct Durability(pub AppendFsync);

impl super::Scenario for Durability {
    fn name(&self) -> &'static str {
        scenario_name(self.0)
    }

    fn about(&self) -> &'static str {
        match self.0 {
            AppendFsync::Always => {
                "kill and restart a master under writes (appendfsync always): no acked write lost"
            }
            _ => {
                "kill and restart a master under writes (appendfsync everysec): bounded loss window"
            }
        }
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config, self.0).report
    }
}

/// One durability run with `seed` and `policy`, in a fresh runtime.
pub fn run(seed: u64, config: &SimConfig, policy: AppendFsync) -> DurabilityRun {
    crate::runner::in_runtime(seed, durability_in(seed, config.clone(), policy))
}

/// `appendfsync always` on the tutorial's cluster, seeded by the current runtime.
pub async fn current_always() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    durability_in(seed, SimConfig::default(), AppendFsync::Always)
        .await
        .report
}

/// `appendfsync everysec` on the tutorial's cluster, seeded by the current runtime.
pub async fn current_everysec() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    durability_in(seed, SimConfig::default(), AppendFsync::Everysec)
        .await
        .report
}

async fn durability_in(seed: u64, config: SimConfig, policy: AppendFsync) -> DurabilityRun {
    let cluster = SimCluster::builder()
        .config(config)
        .seed(seed)
        .appendfsync(policy)
        .build();
    let mut violations = Vec::new();
    let mut run = DurabilityRun::default();
    durability_steps(&cluster, policy, &mut run, &mut violations).await;
    run.report = finish(&cluster, scenario_name(policy), violations).await;
    run
}

async fn durability_steps(
    cluster: &SimCluster,
    policy: AppendFsync,
    run: &mut DurabilityRun,
    violations: &mut Vec<Violation>,
) {
    if !start_masters_only(cluster, "durability", violations).await {
        return;
    }
    let before = match probe::identities(cluster).await {
        Ok(ids) => ids,
        Err(e) => {
            violations.push(Violation::new(ViolationKind::IdentityUnreadable, e));
            return;
        }
    };
    let Some((victim, plan)) = pick_victim(cluster, violations).await else {
        return;
    };
    let history = crash_under_load(cluster, victim, plan, run).await;
    recover_and_judge(cluster, policy, &before, victim, &history, run, violations).await;
}

/// The seed's plan and the master it picks, among the nodes that serve slots (in node order).
async fn pick_victim(
    cluster: &SimCluster,
    violations: &mut Vec<Violation>,
) -> Option<(usize, CrashPlan)> {
    let text = match cluster.command(0, &["CLUSTER", "NODES"]).await {
        Ok(reply) => crate::client::reply_text(&reply).unwrap_or_default(),
        Err(e) => {
            violations.push(Violation::new(
                ViolationKind::ClusterNodesUnreadable,
                e.to_string(),
            ));
            return None;
        }
    };
    let lines = parse_cluster_nodes(&text).unwrap_or_default();
    let masters: Vec<usize> = cluster
        .addrs()
        .iter()
        .enumerate()
        .filter(|(_, addr)| {
            lines
                .iter()
                .any(|l| &l.addr == *addr && l.is_master() && !l.slots.is_empty())
        })
        .map(|(index, _)| index)
        .collect();
    if masters.is_empty() {
        violations.push(Violation::new(ViolationKind::NoMaster, text));
        return None;
    }
    let plan = CrashPlan::from_seed(
        cluster.seed(),
        masters.len(),
        cluster.config().node_timeout_ms,
    );
    Some((masters[plan.master_pick], plan))
}

/// Runs the writer, kills and restarts `victim` as planned; returns the history. Each crash
/// is recorded in `run.crashes` (its loss is filled in once the keys are read back).
async fn crash_under_load(
    cluster: &SimCluster,
    victim: usize,
    plan: CrashPlan,
    run: &mut DurabilityRun,
) -> WriteHistory {
    let crashes = plan.crashes();
    let busy_ms: u64 = crashes.iter().map(|(wait, down)| wait + down).sum();
    let spec = WorkloadSpec {
        duration_ms: busy_ms + AFTER_RESTART_MS,
        ..WorkloadSpec::default()
    };
    let name = cluster.node(victim).name.clone();
    cluster.trace().record(
        "harness",
        format!("durability plan: crash {name}, (wait ms, down ms) {crashes:?}"),
    );
    let phase = Phase::default();
    let writer = workload::spawn_writer(cluster, spec, phase.clone()).await;
    for (wait_ms, downtime_ms) in crashes {
        madsim::time::sleep(Duration::from_millis(wait_ms)).await;
        run.crashes.push(CrashRecord {
            crash_us: cluster.elapsed().as_micros() as u64,
            downtime_ms,
            loss: LossWindow::default(),
        });
        // Fresh keys from now on: the old ones keep exactly what survives this crash.
        phase.advance();
        cluster.kill(victim);
        madsim::time::sleep(Duration::from_millis(downtime_ms)).await;
        cluster.restart(victim);
    }
    let history = match writer.await {
        Ok(history) => history,
        Err(e) => panic!("writer task failed: {e}"),
    };
    run.victim = name;
    run.ops = history.ops.len();
    run.acked = history.acked_count();
    history
}

/// How long after the writes every node must be `ok` again: a master with slots flagged
/// `fail` is cleared two node timeouts after it was flagged; plus a node timeout and 2 s.
fn recover_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 2000
}

/// Waits for recovery, checks identities, reads every key back and judges the history.
async fn recover_and_judge(
    cluster: &SimCluster,
    policy: AppendFsync,
    before: &[Identity],
    victim: usize,
    history: &WriteHistory,
    run: &mut DurabilityRun,
    violations: &mut Vec<Violation>,
) {
    let bound_ms = recover_bound_ms(cluster.config().node_timeout_ms);
    if let Err(e) = probe::wait_all_ok(cluster, bound_ms).await {
        violations.push(Violation::new(
            ViolationKind::ClusterNotOk,
            format!("bound {bound_ms} ms after the writes: {e}"),
        ));
        return;
    }
    probe::check_identities(cluster, before, violations).await;
    let reads = super::read_keys(cluster, history, violations).await;
    if !violations.is_empty() {
        return;
    }
    let checks = history.check_reads(&reads);
    let excused = measure_losses(cluster, policy, victim, history, &checks, run, violations);
    violations.extend(judge(history, &checks, &excused));
}

/// Fills in each crash's loss, reports everysec windows over the bound, and returns the lost
/// writes the policy excuses (under everysec, the victim's last ones before each crash).
fn measure_losses(
    cluster: &SimCluster,
    policy: AppendFsync,
    victim: usize,
    history: &WriteHistory,
    checks: &[KeyCheck],
    run: &mut DurabilityRun,
    violations: &mut Vec<Violation>,
) -> Vec<usize> {
    let victim_addr = cluster.node(victim).addr();
    // The writer's key sets are those of the default spec (only its duration differs).
    let spec = WorkloadSpec::default();
    let mut excused = Vec::new();
    for (phase, crash) in run.crashes.iter_mut().enumerate() {
        crash.loss =
            history.loss_window_us(checks, &spec, &victim_addr, phase as u64, crash.crash_us);
        let window_ms = crash.loss.window_us / 1000;
        cluster.trace().record(
            "harness",
            format!(
                "durability: crash of {} at {} µs: acknowledged since start {}, lost {}, \
                 loss window {window_ms} ms",
                run.victim,
                crash.crash_us,
                crash.loss.acked_before_crash,
                crash.loss.lost.len()
            ),
        );
        if policy != AppendFsync::Always {
            excused.extend(crash.loss.lost.iter().copied());
        }
        if policy == AppendFsync::Everysec && window_ms > EVERYSEC_MAX_LOSS_MS {
            violations.push(Violation::new(
                ViolationKind::LossWindowExceeded,
                format!(
                    "{} lost {} acknowledged writes at its crash at {} µs, the last surviving \
                     one {window_ms} ms before it (bound {EVERYSEC_MAX_LOSS_MS} ms)",
                    run.victim,
                    crash.loss.lost.len(),
                    crash.crash_us
                ),
            ));
        }
    }
    excused
}

/// Violations for lost acknowledged writes (except `excused` ones) and phantom values.
fn judge(history: &WriteHistory, checks: &[KeyCheck], excused: &[usize]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for check in checks {
        if let Some(value) = &check.phantom {
            violations.push(Violation::new(
                ViolationKind::PhantomValue,
                format!("{} reads {value:?}, never written there", check.key),
            ));
        }
        let lost: Vec<usize> = check
            .lost_acked
            .iter()
            .copied()
            .filter(|id| !excused.contains(id))
            .collect();
        if let Some(&first) = lost.first() {
            let op = history.ops.iter().find(|op| op.id == first);
            violations.push(Violation::new(
                ViolationKind::AckedWriteLost,
                format!(
                    "{} reads {:?}, but write {first} ({}) was acknowledged by {} at {} µs \
                     ({} acknowledged writes to it lost)",
                    check.key,
                    check.visible.map(workload::value_for),
                    op.map_or(String::new(), |op| op.value.clone()),
                    op.map_or("?", |op| op.addr.as_str()),
                    op.map_or(0, |op| op.end_us),
                    lost.len()
                ),
            ));
        }
    }
    violations
}
