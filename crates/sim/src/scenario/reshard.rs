//! `reshard`: slot migrations under load and under faults. After `create`, a seed-chosen
//! source master's slots that hold the writer's keys (plus three keys per slot written
//! beforehand) are moved one by one to a seed-chosen target with `net::admin::move_slot` —
//! the reshard sequence redis-cli sends — while the writer ([`crate::workload`]) keeps
//! setting its keys through a cluster client that follows `MOVED`/`ASK`. Meanwhile one
//! seed-chosen fault strikes: the source or the target crashes (and restarts on its disk), the
//! pair is partitioned, the source is cut off from everyone, or the source or target is
//! paused past the node timeout. The fault is healed, the migration (if the fault broke it)
//! is left as it was, and `admin::fix` runs until `admin::check` passes.
//!
//! Then (names): no slot is left open or unowned and the views agree (`slots_not_stable`,
//! plus the `views_agree` names); no key of a migrated slot is held by a master that does not
//! own the slot (`key_duplicated`); every key written beforehand reads back its value
//! (`key_lost`); the writer's acknowledged writes survive as a linearizable register
//! (`acked_write_lost`, `phantom_value`; nodes run `appendfsync always`).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use clusterlab_net::admin::{self, ReshardOptions};

use super::admin_steps::{on_admin, step, wait_agreement, wait_members_ok};
use super::finish;
use super::probe::{self, my_id};
use crate::cluster::{mix64, SimCluster};
use crate::report::{RunReport, Violation, ViolationKind};
use crate::seeds::SimConfig;
use crate::workload::{self, Phase, WorkloadSpec, WriteHistory};

/// Scenario name.
pub const NAME: &str = "reshard";

/// Keys written into each migrated slot before the migration starts.
pub const PRE_KEYS_PER_SLOT: usize = 3;

/// The fault that strikes during the migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The source master crashes (and restarts).
    CrashSource,
    /// The target master crashes (and restarts).
    CrashTarget,
    /// Source and target cannot reach each other (both directions).
    PartitionPair,
    /// The source cannot reach anyone, nor anyone it.
    IsolateSource,
    /// The source master is paused past the node timeout.
    PauseSource,
    /// The target master is paused past the node timeout.
    PauseTarget,
}

const FAULTS: [Fault; 6] = [
    Fault::CrashSource,
    Fault::CrashTarget,
    Fault::PartitionPair,
    Fault::IsolateSource,
    Fault::PauseSource,
    Fault::PauseTarget,
];

/// Seed-chosen pair, fault and timing, independent of how much of madsim's rng the run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReshardPlan {
    /// Node index of the master the slots leave.
    pub source: usize,
    /// Node index of the master they move to.
    pub target: usize,
    /// What strikes during the migration.
    pub fault: Fault,
    /// Since the migration started.
    pub fault_after_ms: u64,
    /// How long the fault lasts.
    pub fault_ms: u64,
    /// Pause between two slot moves (spreads the migration over time).
    pub gap_ms: u64,
}

impl ReshardPlan {
    /// Fault 0–2 s into the migration, lasting 0.2 s up to two node timeouts.
    pub fn from_seed(seed: u64, masters: usize, node_timeout_ms: u64) -> ReshardPlan {
        assert!(masters >= 2, "a migration needs two masters");
        let mut rng = ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x0072_6573_6861_7264));
        let source = rng.gen_range(0..masters);
        let target = (source + rng.gen_range(1..masters)) % masters;
        ReshardPlan {
            source,
            target,
            fault: FAULTS[rng.gen_range(0..FAULTS.len())],
            fault_after_ms: rng.gen_range(0..=2000),
            fault_ms: rng.gen_range(200..=2 * node_timeout_ms.max(200)),
            gap_ms: rng.gen_range(20..=100),
        }
    }
}

/// What one run did and found.
#[derive(Clone, Debug, Default)]
pub struct ReshardRun {
    /// The run's report (violations, trace, final views).
    pub report: RunReport,
    /// The plan the seed chose (`None` if setup failed before it).
    pub plan: Option<ReshardPlan>,
    /// Slots the plan meant to move.
    pub slots: Vec<u16>,
    /// How the migration ended (`Ok(slots moved)` or the error that stopped it).
    pub migration: Option<Result<usize, String>>,
    /// `admin::fix` rounds until `check` passed.
    pub fix_rounds: usize,
    /// Writes the workload sent.
    pub ops: usize,
    /// Writes the cluster acknowledged.
    pub acked: usize,
}

/// The registry's handle on this scenario.
pub struct Reshard;

impl super::Scenario for Reshard {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "move slots with keys between masters under writes and faults: no write lost in migration"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config).report
    }
}

/// One run with `seed`, in a fresh runtime.
pub fn run(seed: u64, config: &SimConfig) -> ReshardRun {
    crate::runner::in_runtime(seed, reshard_in(seed, config.clone()))
}

/// A run on the default cluster, seeded by the current runtime.
pub async fn current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    reshard_in(seed, SimConfig::default()).await.report
}

/// The writer's keys: 64 keys over 15 s of virtual time, a write every 10 ms.
fn workload_spec() -> WorkloadSpec {
    WorkloadSpec {
        keys: 64,
        max_ops: 5000,
        duration_ms: 15_000,
        interval_ms: 10,
        request_timeout_ms: 1000,
    }
}

async fn reshard_in(seed: u64, config: SimConfig) -> ReshardRun {
    let cluster = SimCluster::builder()
        .config(config)
        .seed(seed)
        .appendfsync(AppendFsync::Always)
        .build();
    let mut run = ReshardRun::default();
    let mut violations = Vec::new();
    if cluster.config().replicas != 0 || cluster.config().masters < 2 {
        violations.push(Violation::new(
            ViolationKind::ConfigUnsupported,
            "reshard expects two or more masters without replicas",
        ));
    } else if let Err(v) = reshard_steps(&cluster, &mut run, &mut violations).await {
        violations.push(v);
    }
    run.report = finish(&cluster, NAME, violations).await;
    run
}

/// The writer's phase-0 keys that live in `source`'s slots, and those slots.
fn slots_to_move(spec: &WorkloadSpec, owned: &[(u16, u16)]) -> Vec<u16> {
    let mut slots: Vec<u16> = (0..spec.keys)
        .map(|id| key_hash_slot(workload::key_for(spec, 0, id).as_bytes()))
        .filter(|s| owned.iter().any(|&(lo, hi)| (lo..=hi).contains(s)))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// `(key, value)` written into each slot beforehand: hash-tagged on a writer key of the slot.
fn pre_keys(spec: &WorkloadSpec, slots: &[u16]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for &slot in slots {
        let tag = (0..spec.keys)
            .map(|id| workload::key_for(spec, 0, id))
            .find(|k| key_hash_slot(k.as_bytes()) == slot)
            .expect("slot chosen from a writer key");
        for j in 0..PRE_KEYS_PER_SLOT {
            out.push((format!("{{{tag}}}pre{j}"), format!("pre-{slot}-{j}")));
        }
    }
    out
}

async fn reshard_steps(
    cluster: &SimCluster,
    run: &mut ReshardRun,
    violations: &mut Vec<Violation>,
) -> Result<(), Violation> {
    let node_timeout_ms = cluster.config().node_timeout_ms;
    let plan = ReshardPlan::from_seed(cluster.seed(), cluster.len(), node_timeout_ms);
    run.plan = Some(plan);
    cluster
        .trace()
        .record("harness", format!("reshard plan {plan:?}"));
    let all: Vec<usize> = (0..cluster.len()).collect();
    step(
        ViolationKind::NodeNotListening,
        cluster.wait_listening().await.map_err(|e| e.to_string()),
    )?;
    step(ViolationKind::CreateFailed, cluster.create().await)?;
    wait_members_ok(cluster, &all, super::CLUSTER_OK_TIMEOUT_MS).await?;

    let spec = workload_spec();
    let owned = step(
        ViolationKind::ClusterNodesUnreadable,
        probe::line_about(cluster, plan.source, &cluster.node(plan.source).addr()).await,
    )?
    .slots;
    run.slots = slots_to_move(&spec, &owned);
    let pre = pre_keys(&spec, &run.slots);
    super::write_keys(cluster, &pre).await?;

    let phase = Phase::default();
    let writer = workload::spawn_writer(cluster, spec.clone(), phase).await;
    madsim::time::sleep(Duration::from_millis(500)).await;
    let migration = spawn_migration(cluster, &plan, &run.slots).await?;
    madsim::time::sleep(Duration::from_millis(plan.fault_after_ms)).await;
    inject(cluster, &plan);
    madsim::time::sleep(Duration::from_millis(plan.fault_ms)).await;
    heal(cluster, &plan);
    let outcome = migration
        .await
        .unwrap_or_else(|e| Err(format!("migration task: {e}")));
    cluster
        .trace()
        .record("harness", format!("migration ended: {outcome:?}"));
    run.migration = Some(outcome);
    let history = writer
        .await
        .map_err(|e| Violation::new(ViolationKind::WriterFailed, e.to_string()))?;
    run.ops = history.ops.len();
    run.acked = history.acked_count();

    // Liveness: healed, every node ok, then fix until check passes.
    wait_members_ok(cluster, &all, 3 * node_timeout_ms + 5000).await?;
    run.fix_rounds = fix_until_stable(cluster).await?;
    wait_agreement(cluster, &all).await?;

    no_duplicates(cluster, &run.slots, violations).await;
    pre_keys_kept(cluster, &pre, violations).await;
    acked_writes_kept(cluster, &history, violations).await;
    Ok(())
}

/// Starts moving `slots` from the plan's source to its target on the client machine; the
/// handle yields how many slots moved, or the error that stopped the migration.
async fn spawn_migration(
    cluster: &SimCluster,
    plan: &ReshardPlan,
    slots: &[u16],
) -> Result<madsim::task::JoinHandle<Result<usize, String>>, Violation> {
    let source_id = step(
        ViolationKind::IdentityUnreadable,
        my_id(cluster, plan.source).await,
    )?;
    let target_id = step(
        ViolationKind::IdentityUnreadable,
        my_id(cluster, plan.target).await,
    )?;
    // Load through a node that is neither source nor target when there is one.
    let entry = (0..cluster.len())
        .find(|&i| i != plan.source && i != plan.target)
        .unwrap_or(plan.target);
    let entry = cluster.node(entry).addr();
    let (slots, gap_ms, trace) = (slots.to_vec(), plan.gap_ms, cluster.trace().clone());
    let options = ReshardOptions {
        pipeline: 2,
        timeout_ms: 2000,
        ..ReshardOptions::default()
    };
    let migration = async move {
        let mut topology = admin::load(&entry).await.map_err(|e| e.to_string())?;
        let (Some(source), Some(target)) = (topology.find(&source_id), topology.find(&target_id))
        else {
            return Err("source or target not loaded".to_string());
        };
        for (moved, &slot) in slots.iter().enumerate() {
            trace.record("migrator", format!("move slot {slot}"));
            if let Err(e) = admin::move_slot(&mut topology, source, target, slot, options).await {
                trace.record("migrator", format!("slot {slot} failed: {e}"));
                return Err(format!("after {moved} slots, slot {slot}: {e}"));
            }
            madsim::time::sleep(Duration::from_millis(gap_ms)).await;
        }
        Ok(slots.len())
    };
    #[allow(clippy::async_yields_async)]
    let spawned = cluster.on_client(async move { madsim::task::spawn(migration) });
    Ok(spawned.await)
}

fn inject(cluster: &SimCluster, plan: &ReshardPlan) {
    cluster
        .trace()
        .record("harness", format!("fault {:?}", plan.fault));
    match plan.fault {
        Fault::CrashSource => cluster.kill(plan.source),
        Fault::CrashTarget => cluster.kill(plan.target),
        Fault::PartitionPair => {
            cluster.clog_link(plan.source, plan.target);
            cluster.clog_link(plan.target, plan.source);
        }
        Fault::IsolateSource => cluster.clog_node(plan.source),
        Fault::PauseSource => cluster.pause(plan.source),
        Fault::PauseTarget => cluster.pause(plan.target),
    }
}

fn heal(cluster: &SimCluster, plan: &ReshardPlan) {
    cluster
        .trace()
        .record("harness", format!("heal {:?}", plan.fault));
    match plan.fault {
        Fault::CrashSource => cluster.restart(plan.source),
        Fault::CrashTarget => cluster.restart(plan.target),
        Fault::PartitionPair => {
            cluster.unclog_link(plan.source, plan.target);
            cluster.unclog_link(plan.target, plan.source);
        }
        Fault::IsolateSource => cluster.unclog_node(plan.source),
        Fault::PauseSource => cluster.resume(plan.source),
        Fault::PauseTarget => cluster.resume(plan.target),
    }
}

/// Fix rounds before giving up.
const FIX_ROUNDS: usize = 5;

/// `admin::fix` (with `REPLACE`: a key a timed-out MIGRATE left on the target is older than
/// the source's copy, which clients kept writing) until `admin::check` passes; the rounds it
/// took.
async fn fix_until_stable(cluster: &SimCluster) -> Result<usize, Violation> {
    let entry = cluster.node(0).addr();
    let options = ReshardOptions {
        replace: true,
        ..ReshardOptions::default()
    };
    let mut last = String::new();
    for round in 0..=FIX_ROUNDS {
        let check = {
            let entry = entry.clone();
            on_admin(cluster, async move { admin::check(&entry).await }).await
        };
        match check {
            Ok(report) if report.is_ok() => return Ok(round),
            Ok(report) => last = report.text(),
            Err(e) => last = e,
        }
        if round == FIX_ROUNDS {
            break;
        }
        let fixed = {
            let entry = entry.clone();
            on_admin(
                cluster,
                async move { admin::fix(&entry, options, true).await },
            )
            .await
        };
        cluster.trace().record(
            "harness",
            format!("fix round {round}: {:?}", fixed.map(|r| r.actions)),
        );
        madsim::time::sleep(Duration::from_millis(1000)).await;
    }
    Err(Violation::new(
        ViolationKind::SlotsNotStable,
        format!("after {FIX_ROUNDS} fix rounds:\n{last}"),
    ))
}

/// The owner of every migrated slot (in node 1's view) is the only master with keys in it.
async fn no_duplicates(cluster: &SimCluster, slots: &[u16], violations: &mut Vec<Violation>) {
    let view = match super::fetch_view(cluster, 0).await {
        Ok((_, lines)) => lines,
        Err(e) => {
            violations.push(Violation::new(ViolationKind::ClusterNodesUnreadable, e));
            return;
        }
    };
    for &slot in slots {
        let owner = view
            .iter()
            .find(|l| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot)))
            .map(|l| l.addr.clone());
        for index in 0..cluster.len() {
            let addr = cluster.node(index).addr();
            if Some(&addr) == owner.as_ref() {
                continue;
            }
            let args = ["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()];
            match cluster.command(index, &args).await {
                Ok(Reply::Integer(0)) => {}
                Ok(other) => violations.push(Violation::new(
                    ViolationKind::KeyDuplicated,
                    format!(
                        "slot {slot} owned by {owner:?}, but {} holds keys of it: {other:?}",
                        cluster.node(index).name
                    ),
                )),
                Err(e) => violations.push(Violation::new(
                    ViolationKind::ClientIo,
                    format!("{addr}: {e}"),
                )),
            }
        }
    }
}

/// Every key written before the migration reads back its value.
async fn pre_keys_kept(
    cluster: &SimCluster,
    pre: &[(String, String)],
    violations: &mut Vec<Violation>,
) {
    let keys: Vec<String> = pre.iter().map(|(k, _)| k.clone()).collect();
    let reads = workload::read_back(cluster, keys).await;
    for (key, value) in pre {
        match reads.get(key) {
            Some(Ok(Some(read))) if read == value => {}
            other => violations.push(Violation::new(
                ViolationKind::KeyLost,
                format!("{key} should read {value:?}, read {other:?}"),
            )),
        }
    }
}

/// The writer's keys, read back, against its history.
async fn acked_writes_kept(
    cluster: &SimCluster,
    history: &WriteHistory,
    violations: &mut Vec<Violation>,
) {
    let reads = super::read_keys(cluster, history, violations).await;
    for check in history.check_reads(&reads) {
        if let Some(value) = &check.phantom {
            violations.push(Violation::new(
                ViolationKind::PhantomValue,
                format!("{} reads {value:?}, never written there", check.key),
            ));
        }
        if let Some(&first) = check.lost_acked.first() {
            let op = history.ops.iter().find(|op| op.id == first);
            violations.push(Violation::new(
                ViolationKind::AckedWriteLost,
                format!(
                    "{} reads {:?}, but write {first} was acknowledged by {} at {} µs",
                    check.key,
                    check.visible.map(workload::value_for),
                    op.map_or("?", |op| op.addr.as_str()),
                    op.map_or(0, |op| op.end_us),
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_pick_two_masters_and_vary_with_the_seed() {
        let plans: Vec<ReshardPlan> = (0..64)
            .map(|s| ReshardPlan::from_seed(s, 3, 5000))
            .collect();
        for plan in &plans {
            assert_ne!(plan.source, plan.target);
            assert!(plan.source < 3 && plan.target < 3);
            assert!(plan.fault_after_ms <= 2000);
            assert!((200..=10_000).contains(&plan.fault_ms));
        }
        for fault in FAULTS {
            assert!(
                plans.iter().any(|p| p.fault == fault),
                "{fault:?} never drawn"
            );
        }
        assert_eq!(
            ReshardPlan::from_seed(7, 3, 5000),
            ReshardPlan::from_seed(7, 3, 5000)
        );
    }

    #[test]
    fn slots_and_pre_keys_follow_the_writer_keys() {
        let spec = workload_spec();
        let slots = slots_to_move(&spec, &[(0, 5460)]);
        assert!(!slots.is_empty() && slots.iter().all(|&s| s <= 5460));
        let pre = pre_keys(&spec, &slots);
        assert_eq!(pre.len(), slots.len() * PRE_KEYS_PER_SLOT);
        for (key, value) in &pre {
            let slot = key_hash_slot(key.as_bytes());
            assert!(slots.contains(&slot), "{key}");
            assert!(value.starts_with(&format!("pre-{slot}-")));
        }
    }
}
