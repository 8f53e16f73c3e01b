//! The `campaign` scenario: one randomized run in two phases, as TigerBeetle's VOPR does it —
//! the shared [`run_two_phase`] with this scenario's hooks (the operator's re-admission of wiped
//! nodes in `readmit`, its own judgement of losses and open slots in `losses`).
//!
//! 1. **Safety phase** ([`SAFETY_SPAN_NODE_TIMEOUTS`](crate::faults::SAFETY_SPAN_NODE_TIMEOUTS)
//!    node timeouts): `SimConfig::clients` append clients ([`crate::append`]; with 0, the
//!    single writer of `SET`s) write and read a shared key set (`appendfsync always`),
//!    their histories judged after the liveness phase, a sampler reads every node's `CLUSTER NODES` and
//!    `CLUSTER INFO` twice a second, and the fault schedule — drawn from the seed
//!    ([`swarm`]) or given explicitly (a shrunk schedule from a seed file) — runs against the
//!    cluster. Every sample goes through the
//!    [`SafetyMonitor`](crate::invariants::SafetyMonitor).
//! 2. **Liveness phase**: every fault is undone (network healed, paused nodes resumed, crashed
//!    nodes restarted; a wiped node is re-admitted the way an operator would: `FORGET` its old
//!    ID everywhere, `MEET` it, give it back its orphaned slots, `BUMPEPOCH`). Within
//!    [`liveness_bound_ms`](crate::runner::liveness_bound_ms) (3 × node timeout + 10 s) every
//!    node must say `cluster_state:ok` and all must agree on the owner of all 16384 slots, and
//!    stay so for one more node timeout (a node cut off just before the heal may flag its
//!    peers only afterwards); then the masters' config epochs must be distinct and every
//!    acknowledged write must read back.
//!
//! During the safety phase every acknowledged write is also held against the answering node's
//! own sampled views: it must not have served a slot it neither owned nor imported
//! (`served_unowned_slot`, [`served_unowned`]). The trace gets each node's log lines
//! (elections, promotions, FAIL markings, `cluster_state` changes) and each change in what a
//! node reports, in both phases, so `clusterlab sim timeline` can draw the run.
//!
//! Every acknowledged write the read-back shows lost goes to the [`LossRule`]: from the nodes'
//! typed events it says whether Redis may lose it (the next owner of its slot never had its
//! replication offset; a wiped disk held its only copies) — then the trace says why, and the
//! `writes:` line counts it by cause — or not (`acked_write_lost`, with the write, its offset
//! and the promotions it went through). Whether a failover itself was allowed is checked
//! apart: a replica restarted while its master was
//! down must not be promoted before hearing from it, and a replica cut off from its master
//! for long must not be promoted over a fresher sibling that was available
//! (`stale_replica_promoted`, [`stale_promotions`](crate::invariants::stale_promotions) and
//! [`stale_partitioned_promotions`]).
//! Every typed event of the trace is held to the protocol rule for it at the moment it was
//! made ([`check_events`](crate::event_checks::check_events): epochs, slot claims, keyed commands served, votes, elections, FAIL
//! quorums), and a master must give up a stale slot claim once it is in touch with a node
//! that knows the newer owner (`stale_owner_kept`, [`stale_owners_kept`]).

use std::collections::BTreeMap;

use clusterlab_net::admin::{self, AdminError, ReshardOptions};
use proptest::strategy::BoxedStrategy;

use crate::append::{AppendHistory, AppendSpec};
use crate::detection;
use crate::faults::{swarm, ClusterShape, FaultInjector, FaultSchedule};
use crate::history::RegisterCheck;
use crate::invariants::updates::stale_owners_kept;
use crate::invariants::{failovers_missing, manual_failovers_unfinished};
use crate::invariants::{
    fmt_ms, served_unowned, stale_partitioned_promotions, Connectivity, ReplicaHistory, Sample,
};
use crate::loss::{acked_set, LossCause, LossConfig, LossRule, LossVerdict};
use crate::report::{RunReport, Violation, ViolationKind};
use crate::runner::poll::{summary, whole, Polled};
use crate::runner::sampler::SAMPLE_INTERVAL_MS;
use crate::runner::{run_two_phase, PhaseTimes, Run, SafetyOutcome, TwoPhase};
use crate::seeds::SimConfig;
use crate::trace::{Event, FaultEvent, Sampled, TraceEvent};
use crate::view::{parse_cluster_nodes, NodeLine};
use crate::workload::{WriteHistory, WriteOp};

mod losses;
mod planned;
mod readmit;
mod replica_move;

#[cfg(test)]
mod loss_tests;
#[cfg(test)]
mod maintenance_tests;

use losses::{open_slot_holder, owner_addr, served_ops, slots_left_open, FIX_INTERVAL_MS};
use readmit::{forget_stale, my_id, readmit_wiped};

/// The scenario's name in [`crate::scenario::SCENARIOS`] and seed files.
pub const NAME: &str = "campaign";

/// The schedule a seed draws for `config` (what a run without an explicit schedule uses).
pub fn planned_schedule(seed: u64, config: &SimConfig) -> FaultSchedule {
    swarm(seed, &ClusterShape::of(config))
}

/// The registry's handle on this scenario.
pub struct CampaignScenario;

impl crate::scenario::Scenario for CampaignScenario {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "a swarm fault schedule under writes (safety), then healed (liveness)"
    }

    fn run(&self, seed: u64, config: &SimConfig) -> RunReport {
        run(seed, config, None)
    }

    fn run_with_schedule(
        &self,
        seed: u64,
        config: &SimConfig,
        schedule: FaultSchedule,
    ) -> Result<RunReport, String> {
        Ok(run(seed, config, Some(schedule)))
    }

    fn schedule_strategy(&self, shape: &ClusterShape) -> Option<BoxedStrategy<FaultSchedule>> {
        Some(crate::faults::schedule_strategy(shape))
    }
}

/// Runs the campaign for `seed` in a fresh runtime; `schedule` replaces the seed's own.
pub fn run(seed: u64, config: &SimConfig, schedule: Option<FaultSchedule>) -> RunReport {
    crate::runner::in_runtime(seed, campaign_in(seed, config.clone(), schedule))
}

/// The campaign inside the current runtime, seeded by it (for `Runtime::check_determinism`).
pub async fn campaign_current() -> RunReport {
    let seed = madsim::runtime::Handle::current().seed();
    campaign_in(seed, SimConfig::default(), None).await
}

async fn campaign_in(seed: u64, config: SimConfig, schedule: Option<FaultSchedule>) -> RunReport {
    if config.buggify {
        clusterlab_net::buggify::enable();
    }
    let schedule = schedule.unwrap_or_else(|| swarm(seed, &ClusterShape::of(&config)));
    run_two_phase(&mut Campaign::default(), seed, config, &schedule).await
}

/// The campaign's hooks into the two-phase run, and what they keep between phases.
#[derive(Default)]
struct Campaign {
    /// Every node's ID after create.
    ids: Vec<String>,
    /// Who could send to whom during the run, for [`stale_partitioned_promotions`].
    net: Option<Connectivity>,
    /// `(old ID, new ID)` of every node re-admitted.
    replaced: Vec<(String, String)>,
    /// What each node reported last in the liveness phase, so the trace shows the recovery as
    /// it happens.
    summaries: BTreeMap<String, Sampled>,
    last_fix_ms: Option<u64>,
    /// The trace as the writes are judged (read once, for the [`LossRule`]).
    events: Option<Vec<TraceEvent>>,
    /// Lost writes Redis allows, by cause: when each was acknowledged (run ms).
    allowed: BTreeMap<LossCause, Vec<u64>>,
    /// A fix ran after the last poll: that poll's views predate it, so it cannot settle.
    fixed_since_poll: bool,
    /// The last fix ran on a whole cluster (so a slot it left open is its verdict).
    fixed_when_whole: bool,
}

impl TwoPhase for Campaign {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Notes every node's ID (to re-admit a wiped one under its new ID), and checks `create`
    /// made the replicas the shape asks for (without them no failover is ever demanded).
    async fn after_setup(&mut self, run: &mut Run<'_>) -> Result<(), String> {
        let mut replicas = 0;
        for index in 0..run.cluster.len() {
            self.ids.push(my_id(run.cluster, index).await?);
            replicas += usize::from(is_replica(run.cluster, index).await?);
        }
        let wanted = run.shape.replica_of.len();
        if replicas != wanted {
            return Err(format!(
                "create made {replicas} replicas, the shape asks for {wanted}"
            ));
        }
        Ok(())
    }

    /// `SimConfig::clients` append clients (none: the single writer).
    fn append_spec(&self, run: &Run<'_>) -> Option<AppendSpec> {
        let config = run.cluster.config();
        (config.clients > 0).then(|| {
            AppendSpec::campaign(
                run.cluster.seed(),
                config.clients,
                config.replicas,
                run.cluster.len(),
                run.shape.span_ms,
            )
        })
    }

    /// `served_unowned`: every acknowledged write (and every read the append clients got)
    /// against the answering node's own views.
    fn check_safety_phase(
        &mut self,
        run: &mut Run<'_>,
        samples: &[Sample],
        history: &WriteHistory,
        appends: &AppendHistory,
    ) {
        let mut ops = served_ops(history);
        ops.extend(appends.served_ops());
        let went_down: Vec<(String, u64)> =
            crate::append::run::kills(&run.cluster.trace().events())
                .into_iter()
                .map(|k| (k.addr, k.at_us / 1000))
                .collect();
        run.violations.extend(served_unowned(
            samples,
            &ops,
            SAMPLE_INTERVAL_MS,
            &went_down,
        ));
    }

    /// Finishes slot moves cut short, then the checks that need who could talk to whom.
    async fn after_heal(
        &mut self,
        run: &mut Run<'_>,
        injector: &mut FaultInjector<'_>,
        schedule: &FaultSchedule,
        times: PhaseTimes,
    ) {
        let move_findings = injector.finish_slot_moves().await;
        run.violations.extend(move_findings);
        // A wiped node comes back empty under a new ID: until the operator re-admits it (in the
        // liveness phase) it is not the member it was, so for the safety phase it stays down.
        let wiped_for_good = injector
            .wiped()
            .iter()
            .map(|&(n, at_us)| (n, at_us, u64::MAX));
        // A node held for a slow sync on its own thread ran no more than a paused one.
        let stalls = crate::detection::sync_stalls(&run.cluster.trace().events());
        let down_by_index = injector
            .down_intervals()
            .into_iter()
            .chain(wiped_for_good)
            .chain(stalls)
            .map(|(node, from_us, to_us)| (node, from_us / 1000, to_us.saturating_add(999) / 1000))
            .collect();
        let net = Connectivity::new(
            schedule,
            run.cluster.len(),
            times.started_ms,
            run.shape.span_ms,
            down_by_index,
        );
        let nt = run.shape.node_timeout_ms;
        let minority = detection::minority_masters_ok(&run.samples, &net, nt);
        // Safety-phase samples only: in the liveness phase the operator's FORGET of a wiped
        // node unassigns its slots, and a stale claim on them may then be taken back.
        let stale = stale_owners_kept(&run.samples, &net, nt);
        run.violations.extend(minority.into_iter().chain(stale));
        self.net = Some(net);
    }

    /// Re-admits every wiped node.
    async fn before_liveness(&mut self, run: &mut Run<'_>, outcome: &SafetyOutcome) {
        let mut wiped_nodes: Vec<usize> = outcome.wiped.iter().map(|&(n, _)| n).collect();
        wiped_nodes.sort_unstable();
        wiped_nodes.dedup();
        for &node in &wiped_nodes {
            match readmit_wiped(run.cluster, node, &self.ids[node], &wiped_nodes).await {
                Ok(new_id) => self.replaced.push((self.ids[node].clone(), new_id)),
                Err(e) => run.violations.push(Violation::new(
                    ViolationKind::ReadmitFailed,
                    format!("{}: {e}", run.cluster.node(node).name),
                )),
            }
        }
    }

    /// Traces each change in what a node reports, and sweeps old IDs of re-admitted nodes.
    async fn after_poll(&mut self, run: &mut Run<'_>, last: &[Polled]) {
        for (name, fetched) in last {
            let sample = summary(fetched);
            if self.summaries.get(name) != Some(&sample) {
                run.cluster
                    .trace()
                    .record(name.clone(), Event::Sample(sample.clone()));
                self.summaries.insert(name.clone(), sample);
            }
        }
        forget_stale(run.cluster, last, &self.replaced).await;
    }

    /// A slot move cut short by a fault leaves its slot open: an operator runs `fix`.
    async fn tend(&mut self, run: &mut Run<'_>, last: &[Polled], now_ms: u64) {
        let addrs = run.cluster.addrs();
        if !nobody_flagged(last) {
            return;
        }
        if let Some(addr) = open_slot_holder(last, &addrs) {
            if self
                .last_fix_ms
                .is_none_or(|at| now_ms - at >= FIX_INTERVAL_MS)
            {
                self.last_fix_ms = Some(now_ms);
                self.fixed_since_poll = true;
                let whole_now = whole(last, run.cluster.len());
                let refused = fix_open_slots(run, addr).await;
                self.fixed_when_whole = whole_now && !refused;
            }
        }
    }

    /// A poll taken before a fix changed the slots does not count as whole, nor one with a
    /// slot open that no fix has yet tried on a whole cluster (a fix refused while the
    /// cluster was down is retried first).
    async fn also_whole(&mut self, run: &mut Run<'_>, last: &[Polled]) -> bool {
        let open = open_slot_holder(last, &run.cluster.addrs()).is_some();
        !std::mem::take(&mut self.fixed_since_poll) && (!open || self.fixed_when_whole)
    }

    fn settled_checks(
        &mut self,
        _run: &Run<'_>,
        views: &[(String, Vec<NodeLine>)],
    ) -> Vec<Violation> {
        slots_left_open(views)
    }

    async fn after_settled(&mut self, run: &mut Run<'_>, views: &[(String, Vec<NodeLine>)]) {
        planned::planned_failover(run, views).await;
        replica_move::planned_replica_move(run).await;
    }

    /// Every lost acknowledged write goes to the [`LossRule`]; the ones Redis would have kept
    /// make one `acked_write_lost` per key, with the rule's evidence for the first.
    fn judge_lost(
        &mut self,
        run: &mut Run<'_>,
        _outcome: &SafetyOutcome,
        check: &RegisterCheck,
        slot: u16,
        lost: &[&WriteOp],
    ) {
        if lost.is_empty() {
            return;
        }
        let events = self
            .events
            .get_or_insert_with(|| run.cluster.trace().events());
        let rule = LossRule::new(events, LossConfig::for_fsync(run.cluster.aof().appendfsync));
        let mut unexcused = Vec::new();
        for op in lost {
            match judge_set(&rule, op) {
                (LossVerdict::Allowed(why), cause) => {
                    run.record(format!("loss allowed ({}): {why}", cause.label()));
                    self.allowed
                        .entry(cause)
                        .or_default()
                        .push(op.end_us / 1000);
                }
                (LossVerdict::Violation(evidence), _) => unexcused.push((*op, evidence)),
            }
        }
        let Some((first, evidence)) = unexcused.first() else {
            return;
        };
        let final_view = final_view(&run.final_texts);
        let owner = owner_addr(&final_view, slot);
        let ids: Vec<String> = unexcused.iter().map(|(op, _)| op.id.to_string()).collect();
        run.violations.push(Violation::new(
            ViolationKind::AckedWriteLost,
            format!(
                "{} (slot {slot}, owner {}) reads {}; acknowledged writes {} lost, which Redis \
                 would have kept; the first, acked by {}: {evidence}",
                check.key,
                owner.unwrap_or("?"),
                check
                    .visible
                    .map_or("(nil)".to_string(), |v| format!("v{v}")),
                ids.join(","),
                first.addr,
            ),
        ));
    }

    /// The trace's `writes:` line: how many writes were lost as Redis allows, by cause.
    fn close_writes(&mut self, run: &mut Run<'_>, outcome: &SafetyOutcome) {
        let history = &outcome.history;
        let causes: Vec<String> = self
            .allowed
            .iter_mut()
            .map(|(cause, acked_ms)| {
                acked_ms.sort_unstable();
                let (first, last) = (acked_ms[0], acked_ms[acked_ms.len() - 1]);
                format!(
                    "{} to {} (acked {}..{})",
                    acked_ms.len(),
                    cause.label(),
                    fmt_ms(first),
                    fmt_ms(last)
                )
            })
            .collect();
        let allowed = if causes.is_empty() {
            "none".to_string()
        } else {
            causes.join(", ")
        };
        run.record(format!(
            "writes: {} ops, {} acked; lost as Redis allows: {allowed}",
            history.ops.len(),
            history.acked_count(),
        ));
    }

    /// No replica cut off for long promoted over a fresher sibling; every event by the rules.
    fn final_checks(
        &mut self,
        run: &mut Run<'_>,
        outcome: &SafetyOutcome,
        events: &[TraceEvent],
        names: &BTreeMap<String, String>,
        manual_failovers: &[(usize, u64)],
    ) {
        let nt = run.shape.node_timeout_ms;
        let mut acked: Vec<(String, u64)> = outcome
            .history
            .ops
            .iter()
            .filter(|op| op.is_acked())
            .map(|op| (op.addr.clone(), op.end_us / 1000))
            .collect();
        acked.extend(outcome.appends.history.acked_at());
        if let Some(net) = &self.net {
            // Stalls of the liveness phase too (the net was built at the heal).
            let net = &net.with_down(detection::sync_stalls_ms(events));
            run.violations
                .extend(detection::pfails_without_silence(events, net, nt));
            run.violations.extend(stale_partitioned_promotions(
                &run.samples,
                net,
                manual_failovers,
                &acked,
                &ReplicaHistory::from_events(events),
                nt,
                names,
            ));
        }
        run.violations
            .extend(failovers_missing(events, &self.ids, nt));
        run.violations
            .extend(manual_failovers_unfinished(events, &self.ids, nt));
    }
}

/// Whether the node's own `CLUSTER NODES` line says replica.
async fn is_replica(cluster: &crate::cluster::SimCluster, index: usize) -> Result<bool, String> {
    let reply = cluster
        .command(index, &["CLUSTER", "NODES"])
        .await
        .map_err(|e| format!("CLUSTER NODES on node{}: {e}", index + 1))?;
    let text =
        crate::client::reply_text(&reply).ok_or_else(|| crate::client::describe_reply(&reply))?;
    let lines = parse_cluster_nodes(&text).map_err(|e| e.to_string())?;
    Ok(lines.iter().any(|l| l.is_myself() && !l.is_master()))
}

/// The rule's verdict on one lost `SET` of the writer.
fn judge_set(rule: &LossRule<'_>, op: &WriteOp) -> (LossVerdict, LossCause) {
    match acked_set(op) {
        Some(write) => rule.judge_with_cause(&write),
        None => (
            LossVerdict::Violation(format!("acked by {}, which is no node", op.addr)),
            LossCause::NeverApplied,
        ),
    }
}

/// The first final view that parses (empty if none does).
fn final_view(final_texts: &[(String, String)]) -> Vec<NodeLine> {
    final_texts
        .iter()
        .find_map(|(_, text)| parse_cluster_nodes(text).ok())
        .unwrap_or_default()
}

/// Every node answered and none flags a peer `fail` or `fail?`: only then does the operator
/// run `fix`. Like `redis-cli --cluster fix`, it leaves out nodes the entry node flags
/// `fail`, so a fix run earlier could close a slot while a node it cannot see still holds the
/// slot's keys (seed 300039: the importing node, just restarted, held an acknowledged write).
fn nobody_flagged(last: &[Polled]) -> bool {
    last.iter().all(|(_, fetched)| {
        fetched.as_ref().is_ok_and(|f| {
            f.sample
                .lines
                .iter()
                .all(|l| !l.has_flag("fail") && !l.has_flag("fail?"))
        })
    })
}

/// `clusterlab cluster fix` through `addr`, from the client machine; the trace says what it
/// did. When fix stops because the importing node holds a different copy of a key the
/// migrating owner still has (a MIGRATE that timed out after the target restored the key,
/// then writes to the owner's copy), the operator does what redis-cli's message asks and runs
/// it again with `--cluster-replace`: the owner's copy is the one clients wrote to.
///
/// Returns whether a node refused fix's MIGRATE with `-MISCONF`: its disk error outlives the
/// repair until its next AOF fsync succeeds (Redis 7.0 clears `aof_bio_fsync_status` only
/// then, retried at most once a second: `writeCommandsDeniedByDiskError`, `bioProcessBackgroundJobs`),
/// and redis-cli's fix stops at that error. Such a fix is no verdict on the slot: the operator
/// runs it again ([`FIX_INTERVAL_MS`] later). Seeds 741893, 742646.
async fn fix_open_slots(run: &Run<'_>, addr: String) -> bool {
    let mut options = ReshardOptions {
        timeout_ms: 2000,
        ..ReshardOptions::default()
    };
    for _ in 0..2 {
        let entry = addr.clone();
        let outcome = run
            .cluster
            .on_client(async move { admin::fix(&entry, options, false).await })
            .await;
        let (text, values_differ) = match outcome {
            Ok(report) => {
                record_dropped(run, &report.dropped);
                (
                    format!("fix via {addr}: {}", report.actions.join("; ")),
                    false,
                )
            }
            Err(e) => {
                if refused_by_disk_error(&e.to_string()) {
                    run.record(format!("fix via {addr}: {e}"));
                    return true;
                }
                (
                    format!("fix via {addr}: {e}"),
                    matches!(e, AdminError::ValuesDiffer { .. }),
                )
            }
        };
        run.record(text);
        if !values_differ || options.replace {
            return false;
        }
        options.replace = true;
    }
    false
}

/// Whether a failed fix's error is a node's `-MISCONF` refusal (its own, or relayed by
/// MIGRATE from the target: `Target instance replied with error: MISCONF …`).
fn refused_by_disk_error(error: &str) -> bool {
    error.contains("MISCONF ")
}

/// The keys `fix` deleted, as typed events: the loss rule reads them.
fn record_dropped(run: &Run<'_>, dropped: &[admin::DroppedCopies]) {
    for d in dropped {
        let Some(node) = crate::node_idx::NodeIdx::from_addr(&d.addr) else {
            continue;
        };
        run.record(FaultEvent::CopiesDropped {
            node: node.0,
            slot: d.slot,
            keys: d.keys.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Fault;
    use crate::trace::{Event, FaultEvent, RunPhase, Sampled};
    use clusterlab_core::ClusterEvent;

    #[test]
    fn a_fix_refused_by_a_disk_error_is_no_verdict_but_other_errors_are() {
        assert!(refused_by_disk_error(
            "[ERR] Calling MIGRATE: MISCONF Errors writing to the AOF file: Input/output error"
        ));
        assert!(refused_by_disk_error(
            "[ERR] Calling MIGRATE: ERR Target instance replied with error: MISCONF Errors \
             writing to the AOF file: Input/output error"
        ));
        assert!(!refused_by_disk_error(
            "[ERR] Calling MIGRATE: ERR Syntax error, try CLIENT (LIST | KILL | GETNAME)"
        ));
        assert!(!refused_by_disk_error(
            "[ERR] Calling MIGRATE: IOERR error or timeout"
        ));
    }

    #[test]
    fn a_quiet_campaign_passes() {
        let report = run(11, &SimConfig::default(), Some(FaultSchedule::default()));
        assert!(
            report.ok(),
            "{:?}\n{}",
            report.violations,
            report.trace_text
        );
        let settled = report.trace.iter().any(
            |e| matches!(&e.event, Event::Phase(RunPhase::Settled { goal, .. }) if goal == "whole"),
        );
        assert!(settled, "{}", report.trace_text);
    }

    /// node5 (a replica of node1) stops hearing node1 a second into the safety phase; node1
    /// crashes 15 s later while node6, node5's sibling, is up to date. A replica that ignores
    /// its rank (the `promote-without-rank` canary) can then win with 15 s of writes missing.
    #[test]
    fn a_long_cut_off_replica_must_not_beat_its_fresher_sibling() {
        use crate::faults::TimedFault;
        let schedule = FaultSchedule::new(vec![
            TimedFault {
                at_ms: 1000,
                fault: Fault::ClogLink { from: 0, to: 4 },
            },
            TimedFault {
                at_ms: 16_000,
                fault: Fault::crash(0),
            },
        ]);
        // The single writer: the race below was found with its timing (the append clients
        // shift every seed's timing, and node5 then loses the race on these seeds).
        // Full syncs at once: node5 must have synced before the cut 1 s into the safety
        // phase (with Redis's 5 s delay its snapshot would still be on the way).
        let mut config = SimConfig {
            replicas: 2,
            clients: 0,
            repl_diskless_sync_delay_s: 0,
            ..SimConfig::default()
        };
        let healthy = run(77, &config, Some(schedule.clone()));
        assert!(healthy.ok(), "{:?}", healthy.violations);
        // With the canary node5 and node6 race (each waits 500-1000 ms): node5 wins some
        // seeds, and exactly those must be caught.
        config.canaries = vec!["promote-without-rank".to_string()];
        let mut caught = 0;
        for seed in 60..70 {
            let buggy = run(seed, &config, Some(schedule.clone()));
            // An election won, not the planned coordinated failover of the settled run
            // (seed 61 since full syncs carry RDB payloads: the epoch-10 election split its
            // votes, and node5 was promoted only later, by the planned failover).
            let stale_won = buggy.trace.iter().any(|e| {
                e.node == "node5"
                    && matches!(
                        e.event.cluster(),
                        Some(ClusterEvent::Promoted {
                            coordinated: false,
                            ..
                        })
                    )
            });
            let names: Vec<&str> = buggy.violations.iter().map(|v| v.name()).collect();
            if !stale_won {
                assert!(names.is_empty(), "seed {seed}: {:?}", buggy.violations);
                continue;
            }
            caught += 1;
            assert_eq!(names, vec!["stale_replica_promoted"], "seed {seed}");
            let evidence = &buggy.violations[0].evidence;
            assert!(
                evidence.starts_with("node5 was promoted by ")
                    && evidence.contains("sibling node6"),
                "{evidence}"
            );
            // The timeline shows the promotion and the violation on node5's lane.
            let timeline = crate::timeline::build(&buggy.trace, &buggy.violations);
            let node5 = timeline.marks_on("node5");
            for kind in [
                crate::timeline::MarkKind::Promotion,
                crate::timeline::MarkKind::Violation,
            ] {
                assert!(node5.iter().any(|m| m.kind == kind), "{kind:?}: {node5:?}");
            }
        }
        assert!(
            caught > 0,
            "node5 never won the race: the test shows nothing"
        );
    }

    #[test]
    fn a_crash_and_a_partition_heal() {
        use crate::faults::{Fault, TimedFault};
        let schedule = FaultSchedule::new(vec![
            TimedFault {
                at_ms: 1000,
                fault: Fault::crash(1),
            },
            TimedFault {
                at_ms: 9000,
                fault: Fault::Restart { node: 1 },
            },
            TimedFault {
                at_ms: 12_000,
                fault: Fault::Partition {
                    groups: vec![vec![0]],
                },
            },
            TimedFault {
                at_ms: 20_000,
                fault: Fault::Heal,
            },
        ]);
        let report = run(12, &SimConfig::default(), Some(schedule));
        assert!(
            report.ok(),
            "{:?}\n{}",
            report.violations,
            report.trace_text
        );
        let trace = &report.trace_text;
        let applied = |fault: &Fault| {
            report.trace.iter().any(|e| match &e.event {
                Event::Fault(FaultEvent::Applied(f)) => f == fault,
                _ => false,
            })
        };
        assert!(applied(&Fault::crash(1)), "{trace}");
        let partition = Fault::Partition {
            groups: vec![vec![0]],
        };
        assert!(applied(&partition), "{trace}");
        // The others saw node2 fail while it was down.
        let node2_failed = report.trace.iter().any(|e| match &e.event {
            Event::Sample(Sampled::Seen(s)) => s.failing.contains(&("10.0.0.2:7002".into(), true)),
            _ => false,
        });
        assert!(node2_failed, "{trace}");
    }
}
