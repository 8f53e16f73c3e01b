//! The `campaign` scenario: one randomized run in two phases, as TigerBeetle's VOPR does it.
//!
//! 1. **Safety phase** ([`SAFETY_SPAN_NODE_TIMEOUTS`](crate::faults::SAFETY_SPAN_NODE_TIMEOUTS)
//!    node timeouts): a writer sends `SET`s
//!    over every slot (`appendfsync always`), a sampler reads every node's `CLUSTER NODES` and
//!    `CLUSTER INFO` twice a second, and the fault schedule — drawn from the seed
//!    ([`swarm`]) or given explicitly (a shrunk schedule from a seed file) — runs against the
//!    cluster. Every sample goes through the [`SafetyMonitor`].
//! 2. **Liveness phase**: every fault is undone (network healed, paused nodes resumed, crashed
//!    nodes restarted; a wiped node is re-admitted the way an operator would: `FORGET` its old
//!    ID everywhere, `MEET` it, give it back its orphaned slots, `BUMPEPOCH`). Within
//!    [`liveness_bound_ms`] (3 × node timeout + 10 s) every node must say `cluster_state:ok`
//!    and all must agree on the owner of all 16384 slots, and stay so for one more node
//!    timeout (a node cut off just before the heal may flag its peers only afterwards); then
//!    the masters' config epochs must be distinct and every acknowledged write must read back.
//!
//! During the safety phase every acknowledged write is also held against the answering node's
//! own sampled views: it must not have served a slot it neither owned nor imported
//! (`served_unowned_slot`, [`served_unowned`]). The trace gets each node's log lines
//! (elections, promotions, FAIL markings, `cluster_state` changes) and each change in what a
//! node reports, in both phases, so `clusterlab sim timeline` can draw the run.
//!
//! A write lost *legitimately* — acknowledged by a node whose disk was later wiped, or by a
//! master some node then superseded at a higher config epoch (a failover: Redis replicates
//! asynchronously) — is reported in the trace as a loss window, not as a violation. Whether
//! that failover itself was allowed is checked apart: a replica restarted while its master was
//! down must not be promoted before hearing from it, and a replica cut off from its master
//! for long must not be promoted over a fresher sibling that was available
//! (`stale_replica_promoted`, [`stale_promotions`] and [`stale_partitioned_promotions`]).
//! Every failover vote in the trace is held to Redis's voting rules (`double_vote`,
//! [`double_votes`]), and a master must give up a stale slot claim once it is in touch with a
//! node that knows the newer owner (`stale_owner_kept`, [`stale_owners_kept`]).

use std::collections::BTreeMap;
use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::event::ConfigEpochReason;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::{ClusterEvent, Reply};
use clusterlab_net::admin::{self, ReshardOptions};
use clusterlab_net::client::Connection;

use crate::client::{describe_reply, info_field, reply_text};
use crate::cluster::SimCluster;
use crate::detection;
use crate::faults::{swarm, ClusterShape, Fault, FaultInjector, FaultSchedule};
use crate::history::superseded;
use crate::invariants::elections::double_votes;
use crate::invariants::updates::stale_owners_kept;
use crate::invariants::{
    config_epochs_distinct, fmt_ms, served_unowned, stale_partitioned_promotions, stale_promotions,
    states_ok, views_agree, views_agree_quickly, Connectivity, SafetyMonitor, Sample, ServedOp,
};
use crate::report::{RunReport, Violation};
use crate::seeds::SimConfig;
use crate::trace::{Event, NodeSample, Sampled, Trace, TraceEvent};
use crate::view::{parse_cluster_nodes, slot_owners, NodeLine, SLOTS};
use crate::workload::{read_back, spawn_writer, Phase, WorkloadSpec, WriteHistory};

/// The scenario's name in [`crate::scenario::SCENARIOS`] and seed files.
pub const NAME: &str = "campaign";

/// How often the sampler reads every node during the safety phase.
pub const SAMPLE_INTERVAL_MS: u64 = 500;
/// A node that does not answer a sample within this long is skipped for that round (it is
/// paused, clogged or down). Above twice the largest injected latency (a quarter of the node
/// timeout in swarm schedules), so a slow network is still observed.
pub const SAMPLE_TIMEOUT_MS: u64 = 3000;
/// How often the liveness phase polls.
pub const LIVENESS_POLL_MS: u64 = 500;
/// Virtual-time bound for `cluster_state:ok` on every node after create.
pub const SETUP_TIMEOUT_MS: u64 = 30_000;

/// After healing, the cluster must be whole again within this long: two node timeouts for a
/// FAIL flag on a master to be undone, one more for the rejoin delay and failure reports, and
/// 10 s for restarts and for madsim's retry backoff on links that were clogged.
pub fn liveness_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 10_000
}

/// The writer of the safety phase: 128 keys (spread over every master's slots), a `SET`
/// every 20 ms for the whole phase.
pub fn workload_spec(shape: &ClusterShape) -> WorkloadSpec {
    WorkloadSpec {
        keys: 128,
        max_ops: 1_000_000,
        duration_ms: shape.span_ms,
        interval_ms: 20,
        request_timeout_ms: 1000,
    }
}

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
    let shape = ClusterShape::of(&config);
    let schedule = schedule.unwrap_or_else(|| swarm(seed, &shape));
    let cluster = SimCluster::builder()
        .config(config)
        .seed(seed)
        .appendfsync(AppendFsync::Always)
        .build();
    let mut run = Campaign {
        cluster: &cluster,
        shape,
        violations: Vec::new(),
        monitor: SafetyMonitor::new(),
        final_texts: Vec::new(),
        samples: Vec::new(),
    };
    run.steps(&schedule).await;
    run.finish()
}

struct Campaign<'a> {
    cluster: &'a SimCluster,
    shape: ClusterShape,
    violations: Vec<Violation>,
    monitor: SafetyMonitor,
    /// `(node, CLUSTER NODES)` from the last liveness poll.
    final_texts: Vec<(String, String)>,
    /// Every sample of both phases, in time order (to tell failover losses from real ones).
    samples: Vec<Sample>,
}

/// What the safety phase leaves for the liveness phase.
struct SafetyOutcome {
    history: WriteHistory,
    /// `(node index, virtual µs)` of every wipe.
    wiped: Vec<(usize, u64)>,
    /// `(node, ms)` of every restart, and `(node, from ms, to ms)` of every stretch a node was
    /// crashed or paused, for [`stale_promotions`].
    restarts: Vec<(String, u64)>,
    down: Vec<(String, u64, u64)>,
    /// When the safety phase (the schedule's time 0) started, in run ms.
    started_ms: u64,
    /// Who could send to whom during the run, for [`stale_partitioned_promotions`].
    net: Connectivity,
}

impl Campaign<'_> {
    fn record(&self, event: String) {
        self.cluster.trace().record("harness", event);
    }

    fn now_ms(&self) -> u64 {
        self.cluster.elapsed().as_millis() as u64
    }

    async fn steps(&mut self, schedule: &FaultSchedule) {
        if let Err(v) = announce_schedule(self.cluster, schedule, self.shape.span_ms) {
            self.violations.push(v);
            return;
        }
        let Some(ids) = self.setup().await else {
            return;
        };
        let outcome = self.safety_phase(schedule).await;
        let settled = self.liveness_phase(&ids, &outcome.wiped).await;
        self.check_writes(&outcome, settled).await;
        let names = names_by_addr(self.cluster);
        let manual_failovers = manual_failovers(schedule, outcome.started_ms);
        // Node log lines, read once for the checks that date what nodes did.
        let events = self.cluster.trace().events();
        self.violations.extend(stale_promotions(
            &self.samples,
            &outcome.restarts,
            &outcome.down,
            &promotions(&events),
            &manual_failovers,
            &names,
        ));
        let acked: Vec<(String, u64)> = outcome
            .history
            .ops
            .iter()
            .filter(|op| op.is_acked())
            .map(|op| (op.addr.clone(), op.end_us / 1000))
            .collect();
        self.violations.extend(stale_partitioned_promotions(
            &self.samples,
            &outcome.net,
            &manual_failovers,
            &acked,
            self.shape.node_timeout_ms,
            &names,
        ));
        let nt = self.shape.node_timeout_ms;
        let name = |node: usize| self.cluster.node(node).name.clone();
        let wipes: Vec<(String, u64)> = outcome
            .wiped
            .iter()
            .map(|&(node, at_us)| (name(node), at_us / 1000))
            .collect();
        self.violations
            .extend(double_votes(&events, &outcome.restarts, &wipes, nt));
    }

    /// Starts and creates the cluster; returns every node's ID.
    async fn setup(&mut self) -> Option<Vec<String>> {
        let cluster = self.cluster;
        let step = async {
            cluster.wait_listening().await.map_err(|e| e.to_string())?;
            cluster.create().await?;
            cluster.wait_cluster_ok(SETUP_TIMEOUT_MS).await?;
            wait_whole(cluster, SETUP_TIMEOUT_MS).await?;
            let mut ids = Vec::new();
            for index in 0..cluster.len() {
                ids.push(my_id(cluster, index).await?);
            }
            Ok::<_, String>(ids)
        };
        match step.await {
            Ok(ids) => Some(ids),
            Err(e) => {
                self.violations.push(Violation::new("setup_failed", e));
                None
            }
        }
    }

    async fn safety_phase(&mut self, schedule: &FaultSchedule) -> SafetyOutcome {
        let span_ms = self.shape.span_ms;
        let started_ms = self.now_ms();
        self.record(format!("safety phase for {span_ms} ms"));
        let writer = spawn_writer(self.cluster, workload_spec(&self.shape), Phase::default()).await;
        let sampler = spawn_sampler(self.cluster, span_ms).await;
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
        self.violations.extend(served_unowned(
            &samples,
            &served_ops(&history),
            SAMPLE_INTERVAL_MS,
        ));
        self.samples.extend(samples);
        let wiped = injector.wiped().to_vec();
        injector.heal_all().await;
        let move_findings = injector.finish_slot_moves().await;
        self.violations.extend(move_findings);
        let name = |node: usize| self.cluster.node(node).name.clone();
        let restarts = injector
            .restarts()
            .iter()
            .map(|&(node, at_us)| (name(node), at_us / 1000))
            .collect();
        let down = injector
            .down_intervals()
            .into_iter()
            .map(|(node, from_us, to_us)| {
                let to_ms = if to_us == u64::MAX {
                    u64::MAX
                } else {
                    to_us / 1000
                };
                (name(node), from_us / 1000, to_ms)
            })
            .collect();
        let down_by_index = injector
            .down_intervals()
            .into_iter()
            .map(|(node, from_us, to_us)| (node, from_us / 1000, to_us.saturating_add(999) / 1000))
            .collect();
        let net = Connectivity::new(
            schedule,
            self.cluster.len(),
            started_ms,
            span_ms,
            down_by_index,
        );
        let nt = self.shape.node_timeout_ms;
        let fails = detection::fails_without_quorum(&self.samples, &net, nt);
        let minority = detection::minority_masters_ok(&self.samples, &net, nt);
        // Safety-phase samples only: in the liveness phase the operator's FORGET of a wiped
        // node unassigns its slots, and a stale claim on them may then be taken back.
        let stale = stale_owners_kept(&self.samples, &net, nt);
        self.violations
            .extend(fails.into_iter().chain(minority).chain(stale));
        SafetyOutcome {
            history,
            wiped,
            restarts,
            down,
            started_ms,
            net,
        }
    }

    /// `clusterlab cluster fix` through `addr`, from the client machine; the trace says what
    /// it did.
    async fn fix_open_slots(&self, addr: String) {
        let options = ReshardOptions {
            timeout_ms: 2000,
            ..ReshardOptions::default()
        };
        let entry = addr.clone();
        let outcome = self
            .cluster
            .on_client(async move { admin::fix(&entry, options, false).await })
            .await;
        let text = match outcome {
            Ok(report) => format!("fix via {addr}: {}", report.actions.join("; ")),
            Err(e) => format!("fix via {addr}: {e}"),
        };
        self.record(text);
    }

    /// Heals, re-admits wiped nodes and waits for the cluster to be whole for good. Returns
    /// whether it was, within the bound.
    async fn liveness_phase(&mut self, ids: &[String], wiped: &[(usize, u64)]) -> bool {
        let heal_ms = self.now_ms();
        let bound_ms = liveness_bound_ms(self.shape.node_timeout_ms);
        let deadline_ms = heal_ms + bound_ms;
        self.record(format!("liveness phase: whole within {bound_ms} ms"));
        let mut wiped_nodes: Vec<usize> = wiped.iter().map(|&(n, _)| n).collect();
        wiped_nodes.sort_unstable();
        wiped_nodes.dedup();
        // `(old ID, new ID)` of every node re-admitted.
        let mut replaced: Vec<(String, String)> = Vec::new();
        for &node in &wiped_nodes {
            match readmit_wiped(self.cluster, node, &ids[node], &wiped_nodes).await {
                Ok(new_id) => replaced.push((ids[node].clone(), new_id)),
                Err(e) => self.violations.push(Violation::new(
                    "readmit_failed",
                    format!("{}: {e}", self.cluster.node(node).name),
                )),
            }
        }
        let addrs = self.cluster.addrs();
        let names = node_names(self.cluster);
        let mut last: Vec<(String, Result<Fetched, String>)>;
        let stable_ms = self.shape.node_timeout_ms;
        let mut whole_since: Option<u64> = None;
        // What each node reported last, so the trace shows the recovery as it happens.
        let mut summaries: BTreeMap<String, Sampled> = BTreeMap::new();
        let mut last_fix_ms: Option<u64> = None;
        let settled = loop {
            last = poll_all(self.cluster, &addrs, &names).await;
            for (name, fetched) in &last {
                let sample = summary(fetched);
                if summaries.get(name) != Some(&sample) {
                    self.cluster
                        .trace()
                        .record(name.clone(), Event::Sample(sample.clone()));
                    summaries.insert(name.clone(), sample);
                }
            }
            observe_poll(&mut self.monitor, &mut self.samples, &last);
            forget_stale(self.cluster, &last, &replaced).await;
            let now = self.now_ms();
            // A slot move cut short by a fault leaves its slot open: an operator runs `fix`.
            if let Some(addr) = open_slot_holder(&last, &addrs) {
                if last_fix_ms.is_none_or(|at| now - at >= FIX_INTERVAL_MS) {
                    last_fix_ms = Some(now);
                    self.fix_open_slots(addr).await;
                }
            }
            if whole(&last, self.cluster.len()) {
                let since = *whole_since.get_or_insert(now);
                if now - since >= stable_ms {
                    break Some(since);
                }
            } else {
                whole_since = None;
                if now >= deadline_ms {
                    break None;
                }
            }
            madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
        };
        self.final_texts = nodes_texts(&last);
        let views = views_of(&last);
        if let Some(since) = settled {
            self.record(format!(
                "whole after {} ms, and still after {stable_ms} ms more",
                since - heal_ms
            ));
            self.violations.extend(config_epochs_distinct(&views));
            self.violations.extend(slots_left_open(&views));
            return true;
        }
        let context = format!(
            "{} after healing (bound {bound_ms} ms)",
            fmt_ms(self.now_ms() - heal_ms)
        );
        let found = not_whole(&last, &views, self.cluster.len(), &context, Vec::new());
        self.violations.extend(found);
        if self.violations.is_empty() {
            self.violations.push(Violation::new(
                "cluster_not_whole",
                format!("{context}: some node did not answer"),
            ));
        }
        false
    }

    /// Reads every written key back and judges it against the history.
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
        let final_view = self.final_view();
        let (mut to_wipes, mut to_failovers) = (0usize, Vec::new());
        for check in crate::history::check_reads(history, &values) {
            if let Some(phantom) = &check.phantom {
                self.violations.push(phantom_value(&check.key, phantom));
                continue;
            }
            let slot = key_hash_slot(check.key.as_bytes());
            let owner = owner_addr(&final_view, slot);
            let mut unexcused = Vec::new();
            for id in &check.lost_acked {
                let Some(op) = history.ops.iter().find(|op| op.id == *id) else {
                    continue;
                };
                let (start_ms, end_ms) = (op.start_us / 1000, op.end_us / 1000);
                if wiped_after(&op.addr, op.start_us, &outcome.wiped) {
                    to_wipes += 1;
                } else if superseded(&self.samples, &op.addr, slot, start_ms, end_ms) {
                    to_failovers.push(end_ms);
                } else {
                    unexcused.push(op);
                }
            }
            if let Some(first) = unexcused.first() {
                let ids: Vec<String> = unexcused.iter().map(|op| op.id.to_string()).collect();
                self.violations.push(Violation::new(
                    "acked_write_lost",
                    format!(
                        "{} (slot {slot}, owner {}) reads {}; acknowledged writes {} lost (no \
                         failover superseded them, no disk was wiped), first acked by {} at {}",
                        check.key,
                        owner.unwrap_or("?"),
                        check
                            .visible
                            .map_or("(nil)".to_string(), |v| format!("v{v}")),
                        ids.join(","),
                        first.addr,
                        fmt_ms(first.end_us / 1000)
                    ),
                ));
            }
        }
        to_failovers.sort_unstable();
        let window = match (to_failovers.first(), to_failovers.last()) {
            (Some(first), Some(last)) => format!(" (acked {}..{})", fmt_ms(*first), fmt_ms(*last)),
            _ => String::new(),
        };
        self.record(format!(
            "writes: {} ops, {} acked; lost as Redis allows: {} to failovers{window}, {to_wipes} \
             with wiped disks",
            history.ops.len(),
            history.acked_count(),
            to_failovers.len()
        ));
    }

    /// The first final view that parses (empty if none does).
    fn final_view(&self) -> Vec<NodeLine> {
        self.final_texts
            .iter()
            .find_map(|(_, text)| parse_cluster_nodes(text).ok())
            .unwrap_or_default()
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

/// Every write the writer saw acknowledged, for [`served_unowned`].
fn served_ops(history: &WriteHistory) -> Vec<ServedOp> {
    history
        .ops
        .iter()
        .filter(|op| op.is_acked())
        .map(|op| ServedOp {
            addr: op.addr.clone(),
            slot: key_hash_slot(op.key.as_bytes()),
            start_ms: op.start_us / 1000,
            end_ms: op.end_us.div_ceil(1000),
            readonly: false,
            what: format!("SET {} {} -> +OK", op.key, op.value),
        })
        .collect()
}

/// `ip:port` of the owner of `slot` in `view` (only the few slots of lost writes are asked
/// for, so no per-slot table is built).
fn owner_addr(view: &[NodeLine], slot: u16) -> Option<&str> {
    view.iter()
        .find(|l| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot)))
        .map(|l| l.addr.as_str())
}

/// Whether the node at `addr` had its disk wiped after a write was sent to it (`start_us`:
/// its reply may still arrive after the wipe): then losing the write is expected.
fn wiped_after(addr: &str, start_us: u64, wiped: &[(usize, u64)]) -> bool {
    let index = node_index_of(addr);
    wiped
        .iter()
        .any(|&(node, at_us)| Some(node) == index && start_us <= at_us)
}

/// `10.0.0.N:…` → node index N-1.
pub(crate) fn node_index_of(addr: &str) -> Option<usize> {
    let ip = addr.split(':').next()?;
    let last: usize = ip.strip_prefix("10.0.0.")?.parse().ok()?;
    last.checked_sub(1)
}

/// All nodes answered, all say ok, and their views agree on every slot.
pub(crate) fn whole(fetched: &[(String, Result<Fetched, String>)], node_count: usize) -> bool {
    let mut views = Vec::new();
    for (name, f) in fetched {
        match f {
            Ok(f) if f.sample.cluster_state == "ok" => {
                views.push((name.clone(), f.sample.lines.clone()));
            }
            _ => return false,
        }
    }
    views_agree_quickly(&views, node_count)
}

/// Every node's name, in index order.
/// Waits until every node knows every node and all agree on the slots: `cluster_state:ok`
/// alone comes earlier, while gossip is still spreading the replicas. Faults start from
/// there, as an operator's would, so that a crash cannot take the only node that knows a
/// new one (its `nodes.conf` written but not yet fsynced) and leave that one a stranger.
pub(crate) async fn wait_whole(cluster: &SimCluster, timeout_ms: u64) -> Result<(), String> {
    let (addrs, names) = (cluster.addrs(), node_names(cluster));
    let mut fetched = Vec::new();
    for _ in 0..timeout_ms.div_ceil(LIVENESS_POLL_MS).max(1) {
        fetched = poll_all(cluster, &addrs, &names).await;
        if whole(&fetched, cluster.len()) {
            return Ok(());
        }
        madsim::time::sleep(Duration::from_millis(LIVENESS_POLL_MS)).await;
    }
    let views = views_of(&fetched);
    let found = views_agree(&views, cluster.len());
    let first = found
        .first()
        .map_or("no view".to_string(), |v| v.to_string());
    Err(format!("not whole {timeout_ms} ms after create: {first}"))
}

pub(crate) fn node_names(cluster: &SimCluster) -> Vec<String> {
    cluster.nodes().iter().map(|n| n.name.clone()).collect()
}

/// One liveness poll: every node's `CLUSTER NODES` and `CLUSTER INFO`, from the client machine.
pub(crate) async fn poll_all(
    cluster: &SimCluster,
    addrs: &[String],
    names: &[String],
) -> Vec<(String, Result<Fetched, String>)> {
    let (addrs, names) = (addrs.to_vec(), names.to_vec());
    cluster
        .on_client(async move { fetch_all(&addrs, &names, 1000).await })
        .await
}

/// Feeds the monitor every sample of one poll and keeps them.
pub(crate) fn observe_poll(
    monitor: &mut SafetyMonitor,
    samples: &mut Vec<Sample>,
    fetched: &[(String, Result<Fetched, String>)],
) {
    for (_, fetched) in fetched {
        if let Ok(f) = fetched {
            monitor.observe(&f.sample);
            samples.push(f.sample.clone());
        }
    }
}

/// Checks `schedule` fits the cluster and says in the trace what it will do.
pub(crate) fn announce_schedule(
    cluster: &SimCluster,
    schedule: &FaultSchedule,
    span_ms: u64,
) -> Result<(), Violation> {
    schedule
        .validate(cluster.len())
        .map_err(|e| Violation::new("bad_schedule", e))?;
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

/// Ends a safety phase's writer and sampler and feeds the monitor every restart the injector
/// made, then every sample; returns the history and the samples.
pub(crate) async fn collect_phase(
    cluster: &SimCluster,
    writer: madsim::task::JoinHandle<WriteHistory>,
    sampler: madsim::task::JoinHandle<Vec<Sample>>,
    injector: &FaultInjector<'_>,
    monitor: &mut SafetyMonitor,
    violations: &mut Vec<Violation>,
) -> (WriteHistory, Vec<Sample>) {
    let history = match writer.await {
        Ok(history) => history,
        Err(e) => {
            violations.push(Violation::new("workload_failed", e.to_string()));
            WriteHistory::default()
        }
    };
    let samples = sampler.await.unwrap_or_default();
    for &(node, at_us) in injector.restarts() {
        let name = cluster.node(node).name.clone();
        monitor.note_restart(at_us / 1000, &name);
    }
    for sample in &samples {
        monitor.observe(sample);
    }
    (history, samples)
}

/// `(node, cluster_state or why it did not answer)` of one poll, for [`states_ok`].
pub(crate) fn cluster_states(
    fetched: &[(String, Result<Fetched, String>)],
) -> Vec<(String, String)> {
    fetched
        .iter()
        .map(|(name, f)| {
            let state = match f {
                Ok(f) => f.sample.cluster_state.clone(),
                Err(e) => e.clone(),
            };
            (name.clone(), state)
        })
        .collect()
}

/// `(node, CLUSTER NODES text or why it did not answer)` of one poll, for the report.
pub(crate) fn nodes_texts(fetched: &[(String, Result<Fetched, String>)]) -> Vec<(String, String)> {
    fetched
        .iter()
        .map(|(name, f)| {
            let text = f
                .as_ref()
                .map_or_else(|e| e.clone(), |f| f.nodes_text.clone());
            (name.clone(), text)
        })
        .collect()
}

/// The views of the nodes that answered one poll.
pub(crate) fn views_of(
    fetched: &[(String, Result<Fetched, String>)],
) -> Vec<(String, Vec<NodeLine>)> {
    fetched
        .iter()
        .filter_map(|(name, f)| {
            f.as_ref()
                .ok()
                .map(|f| (name.clone(), f.sample.lines.clone()))
        })
        .collect()
}

/// `(node, run ms)` of every election won and every takeover, as the nodes reported them.
pub(crate) fn promotions(events: &[TraceEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| matches!(e.event.cluster(), Some(ClusterEvent::Promoted { .. })))
        .map(|e| (e.node.clone(), e.time_us / 1000))
        .collect()
}

/// `(node index, run ms)` of every `CLUSTER FAILOVER` in `schedule`, whose time 0 is
/// `offset_ms` into the run.
pub(crate) fn manual_failovers(schedule: &FaultSchedule, offset_ms: u64) -> Vec<(usize, u64)> {
    schedule
        .iter()
        .filter_map(|f| match f.fault {
            Fault::ManualFailover { node, .. } => Some((node, offset_ms + f.at_ms)),
            _ => None,
        })
        .collect()
}

/// `addr -> node name` of every node, for [`stale_promotions`].
pub(crate) fn names_by_addr(cluster: &SimCluster) -> BTreeMap<String, String> {
    cluster
        .nodes()
        .iter()
        .map(|n| (n.addr(), n.name.clone()))
        .collect()
}

/// Reads every key of `history` back; a key that could not be read makes the whole read a
/// `read_failed` violation (the caller decides whether it counts).
/// Why a liveness phase did not end whole: each node's state, the views that disagree and
/// `extra`, every evidence prefixed with `context`.
pub(crate) fn not_whole(
    last: &[(String, Result<Fetched, String>)],
    views: &[(String, Vec<NodeLine>)],
    node_count: usize,
    context: &str,
    extra: Vec<Violation>,
) -> Vec<Violation> {
    let mut found = states_ok(&cluster_states(last), context);
    for mut v in views_agree(views, node_count).into_iter().chain(extra) {
        v.evidence = format!("{context}: {}", v.evidence);
        found.push(v);
    }
    found
}

/// [`read_values`], recording a failed read only when the cluster had `settled` (one that
/// never became whole cannot serve reads, and that is already reported).
pub(crate) async fn read_values_if_whole(
    cluster: &SimCluster,
    history: &WriteHistory,
    settled: bool,
    violations: &mut Vec<Violation>,
) -> Option<BTreeMap<String, Option<String>>> {
    match read_values(cluster, history).await {
        Ok(values) => Some(values),
        Err(unreadable) => {
            if settled {
                violations.push(unreadable);
            }
            None
        }
    }
}

pub(crate) async fn read_values(
    cluster: &SimCluster,
    history: &WriteHistory,
) -> Result<BTreeMap<String, Option<String>>, Violation> {
    let reads = read_back(cluster, history.keys()).await;
    let mut values = BTreeMap::new();
    let mut failed = Vec::new();
    for (key, read) in reads {
        match read {
            Ok(value) => {
                values.insert(key, value);
            }
            Err(e) => failed.push(format!("{key}: {e}")),
        }
    }
    if failed.is_empty() {
        return Ok(values);
    }
    Err(Violation::new(
        "read_failed",
        format!(
            "{} keys unreadable: {}",
            failed.len(),
            failed[..failed.len().min(5)].join("; ")
        ),
    ))
}

/// A key read back with a value no accepted write carried.
pub(crate) fn phantom_value(key: &str, phantom: &str) -> Violation {
    Violation::new(
        "phantom_value",
        format!("{key} reads {phantom:?}, which no accepted write carried"),
    )
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
pub(crate) fn end_report(
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

async fn my_id(cluster: &SimCluster, index: usize) -> Result<String, String> {
    match cluster.command(index, &["CLUSTER", "MYID"]).await {
        Ok(reply) => reply_text(&reply).ok_or_else(|| describe_reply(&reply)),
        Err(e) => Err(format!("CLUSTER MYID on node{}: {e}", index + 1)),
    }
}

/// How long re-admission waits for a wiped node to learn the cluster before bumping its
/// epoch.
const READMIT_WAIT_MS: u64 = 5000;

/// Re-admits a wiped node as `redis-cli --cluster fix` would after a disk replacement: every
/// other node forgets its old ID, one introduces the new node, which takes back the slots the
/// old ID still owns (or replicates the old ID's master) and then bumps its config epoch.
async fn readmit_wiped(
    cluster: &SimCluster,
    node: usize,
    old_id: &str,
    wiped: &[usize],
) -> Result<String, String> {
    let name = cluster.node(node).name.clone();
    let new_id = my_id(cluster, node).await?;
    let others: Vec<usize> = (0..cluster.len()).filter(|i| !wiped.contains(i)).collect();
    let Some(&reference) = others.first() else {
        return Err("every node was wiped".to_string());
    };
    let view = fetch_lines(cluster, reference).await?;
    let old = view.iter().find(|l| l.id == old_id).cloned();
    let epoch = current_epoch(cluster, reference).await.unwrap_or(0);
    cluster.trace().record(
        "harness",
        format!("readmit {name}: old id {old_id}, new id {new_id}"),
    );
    // Some may refuse (a replica will not forget its master) or learn the old ID again from
    // gossip still in flight: the liveness phase keeps sweeping (`forget_stale`).
    for &other in &others {
        forget(cluster, other, old_id).await;
    }
    let ip = cluster.node(node).ip.to_string();
    let port = cluster.node(node).port.to_string();
    expect_ok(cluster, reference, &["CLUSTER", "MEET", &ip, &port]).await?;
    // Bumping before the new node has heard the cluster's current epoch would hand it an
    // epoch some master already holds.
    wait_learnt(cluster, node, cluster.len(), epoch).await;
    let Some(old) = old else {
        return Ok(new_id);
    };
    // The shard may change under our feet (a failover right after the heal, the new node
    // hearing of an owner first): decide on a fresh view each attempt.
    let mut result = Err("no attempt".to_string());
    for _ in 0..READMIT_WAIT_MS / 500 {
        let view = fetch_lines(cluster, reference).await.unwrap_or_default();
        result = assign_role(cluster, node, &old, &view).await;
        if result.is_ok() {
            break;
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    result.map(|()| new_id)
}

/// Gives the new node the old node's place, as `redis-cli --cluster fix` would: every slot
/// nobody owns any more (forgetting the old ID unassigned its slots, unless a failover had
/// moved them already), then a fresh config epoch; with no such slot, a replica's place under
/// the master of the old node's shard.
async fn assign_role(
    cluster: &SimCluster,
    node: usize,
    old: &NodeLine,
    view: &[NodeLine],
) -> Result<(), String> {
    // The reference may have heard of the old ID again from gossip sent before its FORGET:
    // whatever that ID still owns is as orphaned as if it were gone (the new node never knew
    // it, so following it would fail with "Unknown node").
    let view: Vec<NodeLine> = view.iter().filter(|l| l.id != old.id).cloned().collect();
    let owners = slot_owners(&view).map_err(|e| format!("reference view: {e}"))?;
    let orphans: Vec<(u16, u16)> = (0..SLOTS as u16)
        .filter(|&slot| owners[usize::from(slot)].is_none())
        .fold(Vec::new(), |mut ranges, slot| {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == slot => *hi = slot,
                _ => ranges.push((slot, slot)),
            }
            ranges
        });
    if !orphans.is_empty() {
        let mut args: Vec<String> = vec!["CLUSTER".into(), "ADDSLOTSRANGE".into()];
        for (lo, hi) in &orphans {
            args.push(lo.to_string());
            args.push(hi.to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_ok(cluster, node, &refs).await?;
        let _ = cluster.command(node, &["CLUSTER", "BUMPEPOCH"]).await;
        return Ok(());
    }
    // A master whose slots a replica took over, or a replica: follow the shard's master.
    let shard_master = match old.slots.first() {
        Some(&(slot, _)) => owners[usize::from(slot)].clone(),
        None => current_master(&view, old.master.as_deref()),
    };
    match shard_master {
        Some(master) => expect_ok(cluster, node, &["CLUSTER", "REPLICATE", &master]).await,
        None => Ok(()),
    }
}

/// The operator's sweep after re-admitting wiped nodes (`replaced`: old ID, new ID): every
/// node whose view still lists an old ID is told to forget it (it may have heard of it again
/// from gossip sent before the first `FORGET`), or, if it still replicates the old ID (and so
/// refuses to forget it), to replicate the node that took its place.
async fn forget_stale(
    cluster: &SimCluster,
    fetched: &[(String, Result<Fetched, String>)],
    replaced: &[(String, String)],
) {
    for (index, (_, f)) in fetched.iter().enumerate() {
        let Ok(f) = f else { continue };
        let following = f.sample.myself().and_then(|me| me.master.clone());
        for (old_id, new_id) in replaced {
            if !f.sample.lines.iter().any(|l| l.id == *old_id) {
                continue;
            }
            let name = &cluster.node(index).name;
            // A replica will not forget its master: point it at the node that took the old
            // one's place first.
            if following.as_deref() == Some(old_id.as_str()) {
                cluster.trace().record(
                    "harness",
                    format!("{name} still follows {old_id}: replicate {new_id}"),
                );
                let _ = cluster
                    .command(index, &["CLUSTER", "REPLICATE", new_id])
                    .await;
            } else {
                cluster
                    .trace()
                    .record("harness", format!("{name} still lists {old_id}: forget it"));
                forget(cluster, index, old_id).await;
            }
        }
    }
}

/// `CLUSTER FORGET id` on `node`; true when the node no longer knows `id` ("Unknown node" is
/// fine: it never learnt the ID or forgot it already).
async fn forget(cluster: &SimCluster, node: usize, id: &str) -> bool {
    match cluster.command(node, &["CLUSTER", "FORGET", id]).await {
        Ok(Reply::Error(e)) => e.starts_with("ERR Unknown node"),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// The master of the old node's shard now: its recorded master, or, if a failover made that
/// one a replica, whichever master it follows.
fn current_master(view: &[NodeLine], recorded: Option<&str>) -> Option<String> {
    let mut id = recorded?;
    for _ in 0..view.len() {
        let line = view.iter().find(|l| l.id == id)?;
        match line.master.as_deref() {
            Some(next) if !line.is_master() => id = next,
            _ => return Some(id.to_string()),
        }
    }
    None
}

async fn expect_ok(cluster: &SimCluster, node: usize, args: &[&str]) -> Result<(), String> {
    match cluster.command(node, args).await {
        Ok(reply) if reply == Reply::ok() => Ok(()),
        Ok(reply) => Err(format!("{}: {}", args.join(" "), describe_reply(&reply))),
        Err(e) => Err(format!("{}: {e}", args.join(" "))),
    }
}

async fn current_epoch(cluster: &SimCluster, node: usize) -> Option<u64> {
    let reply = cluster.command(node, &["CLUSTER", "INFO"]).await.ok()?;
    info_field(&reply, "cluster_current_epoch")?.parse().ok()
}

/// Waits (bounded) until `node` knows `count` nodes and has reached current epoch `epoch`.
async fn wait_learnt(cluster: &SimCluster, node: usize, count: usize, epoch: u64) {
    for _ in 0..READMIT_WAIT_MS / 100 {
        if let Ok(reply) = cluster.command(node, &["CLUSTER", "INFO"]).await {
            let number = |field| info_field(&reply, field).and_then(|v| v.parse::<u64>().ok());
            let known = number("cluster_known_nodes").is_some_and(|k| k >= count as u64);
            if known && number("cluster_current_epoch").is_some_and(|e| e >= epoch) {
                return;
            }
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fetch_lines(cluster: &SimCluster, node: usize) -> Result<Vec<NodeLine>, String> {
    let reply = cluster
        .command(node, &["CLUSTER", "NODES"])
        .await
        .map_err(|e| e.to_string())?;
    let text = reply_text(&reply).ok_or_else(|| describe_reply(&reply))?;
    parse_cluster_nodes(&text)
}

// ---- sampling --------------------------------------------------------------------------------

/// One node's sample and the raw `CLUSTER NODES` text it came from.
/// How often the liveness phase runs `fix` while some slot is open.
const FIX_INTERVAL_MS: u64 = 5000;

/// The address of a node whose own line shows an open slot, if any.
fn open_slot_holder(
    last: &[(String, Result<Fetched, String>)],
    addrs: &[String],
) -> Option<String> {
    last.iter().zip(addrs).find_map(|((_, fetched), addr)| {
        let open = fetched
            .as_ref()
            .ok()
            .and_then(|f| f.sample.myself())
            .is_some_and(|me| !me.open_slots.is_empty());
        open.then(|| addr.clone())
    })
}

/// `slot_left_open`: after healing and `fix`, no node may still import or migrate a slot.
fn slots_left_open(views: &[(String, Vec<NodeLine>)]) -> Vec<Violation> {
    views
        .iter()
        .filter_map(|(name, lines)| {
            let me = lines.iter().find(|l| l.is_myself())?;
            (!me.open_slots.is_empty()).then(|| {
                Violation::new(
                    "slot_left_open",
                    format!(
                        "{name} still shows {} after healing and fix",
                        me.open_slots.join(" ")
                    ),
                )
            })
        })
        .collect()
}

pub(crate) struct Fetched {
    pub(crate) sample: Sample,
    pub(crate) nodes_text: String,
}

pub(crate) fn now_ms() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_millis() as u64
}

/// `CLUSTER NODES` then `CLUSTER INFO`, pipelined on one connection, bounded by `timeout_ms`.
async fn fetch_on(conn: &mut Connection, name: &str, timeout_ms: u64) -> Result<Fetched, String> {
    let exchange = async {
        conn.send(&[b"CLUSTER", b"NODES"]).await?;
        conn.send(&[b"CLUSTER", b"INFO"]).await?;
        let nodes = conn.read_reply().await?;
        let info = conn.read_reply().await?;
        Ok::<_, std::io::Error>((nodes, info))
    };
    let (nodes, info) = madsim::time::timeout(Duration::from_millis(timeout_ms), exchange)
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("io error: {e}"))?;
    let nodes_text = reply_text(&nodes).ok_or_else(|| describe_reply(&nodes))?;
    let lines = parse_cluster_nodes(&nodes_text)?;
    let current_epoch = info_field(&info, "cluster_current_epoch")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| format!("no cluster_current_epoch in {}", describe_reply(&info)))?;
    let cluster_state = info_field(&info, "cluster_state").unwrap_or_else(|| describe_reply(&info));
    Ok(Fetched {
        sample: Sample {
            node: name.to_string(),
            time_ms: now_ms(),
            lines,
            current_epoch,
            cluster_state,
        },
        nodes_text,
    })
}

async fn connect(addr: &str, timeout_ms: u64) -> Result<Connection, String> {
    madsim::time::timeout(Duration::from_millis(timeout_ms), Connection::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("io error: {e}"))
}

/// One sample of every node, each on a fresh connection.
pub(crate) async fn fetch_all(
    addrs: &[String],
    names: &[String],
    timeout_ms: u64,
) -> Vec<(String, Result<Fetched, String>)> {
    let mut out = Vec::new();
    for (addr, name) in addrs.iter().zip(names) {
        let fetched = match connect(addr, timeout_ms).await {
            Ok(mut conn) => fetch_on(&mut conn, name, timeout_ms).await,
            Err(e) => Err(e),
        };
        out.push((name.clone(), fetched));
    }
    out
}

/// What the trace shows when what a node reports changes: its state, epochs, role and the
/// peers it flags failing (the sampler records it when it differs from the last one).
fn summary(fetched: &Result<Fetched, String>) -> Sampled {
    let f = match fetched {
        Ok(f) => f,
        Err(e) => return Sampled::Unreachable(e.clone()),
    };
    let me = f.sample.myself();
    let failing = f
        .sample
        .lines
        .iter()
        .filter(|l| l.has_flag("fail?") || l.has_flag("fail"))
        .map(|l| (l.addr.clone(), l.has_flag("fail")))
        .collect();
    let slots = me.map_or(0, |m| {
        m.slots
            .iter()
            .map(|(lo, hi)| usize::from(hi - lo) + 1)
            .sum::<usize>()
    });
    Sampled::Seen(NodeSample {
        state_ok: f.sample.cluster_state == "ok",
        current_epoch: f.sample.current_epoch,
        master: me.map(|m| m.is_master()),
        config_epoch: me.map_or(0, |m| m.config_epoch),
        slots,
        ranges: me.map_or(String::new(), |m| slot_ranges(&m.slots)),
        short_id: me.map_or(String::new(), |m| {
            m.id.get(..8).unwrap_or(&m.id).to_string()
        }),
        failing,
    })
}

/// `0-5460,10923` — the owned ranges for the trace, the first few only (after a reshard a
/// node may own hundreds of ranges).
fn slot_ranges(slots: &[(u16, u16)]) -> String {
    const SHOWN: usize = 4;
    if slots.is_empty() {
        return String::new();
    }
    let mut parts: Vec<String> = slots
        .iter()
        .take(SHOWN)
        .map(|&(lo, hi)| crate::invariants::range_text(lo, hi))
        .collect();
    if slots.len() > SHOWN {
        parts.push("…".to_string());
    }
    parts.join(",")
}

/// Samples every node every [`SAMPLE_INTERVAL_MS`] for `span_ms`, on the client machine,
/// recording in the trace each change in what a node reports.
pub(crate) async fn spawn_sampler(
    cluster: &SimCluster,
    span_ms: u64,
) -> madsim::task::JoinHandle<Vec<Sample>> {
    let addrs = cluster.addrs();
    let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    let trace = cluster.trace().clone();
    let sampler = sample_loop(addrs, names, trace, span_ms);
    // The handle is the point: the sampler runs on while the faults are injected.
    #[allow(clippy::async_yields_async)]
    let spawned = cluster.on_client(async move { madsim::task::spawn(sampler) });
    spawned.await
}

/// One sampling task per node, so a node that does not answer (paused, clogged, or slow
/// under injected latency) delays only its own samples; all samples, merged in time order.
async fn sample_loop(
    addrs: Vec<String>,
    names: Vec<String>,
    trace: Trace,
    span_ms: u64,
) -> Vec<Sample> {
    let start = madsim::time::Instant::now();
    let tasks: Vec<_> = addrs
        .into_iter()
        .zip(names)
        .map(|(addr, name)| {
            let trace = trace.clone();
            madsim::task::spawn(sample_node(addr, name, trace, start, span_ms))
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap_or_default());
    }
    // Stable: equal times keep node order.
    samples.sort_by_key(|s| s.time_ms);
    samples
}

async fn sample_node(
    addr: String,
    name: String,
    trace: Trace,
    start: madsim::time::Instant,
    span_ms: u64,
) -> Vec<Sample> {
    let mut conn: Option<Connection> = None;
    let mut last_summary: Option<Sampled> = None;
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_millis(span_ms) {
        let opened = match conn.take() {
            Some(c) => Ok(c),
            None => connect(&addr, SAMPLE_TIMEOUT_MS).await,
        };
        let fetched = match opened {
            Ok(mut c) => {
                let f = fetch_on(&mut c, &name, SAMPLE_TIMEOUT_MS).await;
                if f.is_ok() {
                    conn = Some(c);
                }
                f
            }
            Err(e) => Err(e),
        };
        let sample = summary(&fetched);
        if last_summary.as_ref() != Some(&sample) {
            trace.record(&name, Event::Sample(sample.clone()));
            last_summary = Some(sample);
        }
        if let Ok(f) = fetched {
            samples.push(f.sample);
        }
        madsim::time::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_to_wiped_disks() {
        let wiped = [(1, 5_000_000)];
        // Sent to node2 at 4 s, node2 wiped at 5 s: the data went with the disk.
        assert!(wiped_after("10.0.0.2:7002", 4_000_000, &wiped));
        // Sent after the wipe, or to another node: not excused.
        assert!(!wiped_after("10.0.0.2:7002", 6_000_000, &wiped));
        assert!(!wiped_after("10.0.0.1:7001", 4_000_000, &wiped));
        assert_eq!(node_index_of("10.0.0.12:7012"), Some(11));
        assert_eq!(node_index_of("1.2.3.4:5"), None);
    }

    #[test]
    fn liveness_bound_is_three_timeouts_and_ten_seconds() {
        assert_eq!(liveness_bound_ms(5000), 25_000);
        assert_eq!(crate::faults::SAFETY_SPAN_NODE_TIMEOUTS, 6);
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
        assert!(
            report.trace_text.contains("whole after"),
            "{}",
            report.trace_text
        );
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
                fault: Fault::Crash { node: 0 },
            },
        ]);
        let mut config = SimConfig {
            replicas: 2,
            ..SimConfig::default()
        };
        let healthy = run(77, &config, Some(schedule.clone()));
        assert!(healthy.ok(), "{:?}", healthy.violations);
        // With the canary node5 and node6 race (each waits 500-1000 ms): node5 wins some
        // seeds, and exactly those must be caught.
        config.canaries = vec!["promote-without-rank".to_string()];
        let mut caught = 0;
        for seed in 60..62 {
            let buggy = run(seed, &config, Some(schedule.clone()));
            let stale_won = promotions(&buggy.trace)
                .iter()
                .any(|(node, _)| node == "node5");
            let names: Vec<&str> = buggy.violations.iter().map(|v| v.name.as_str()).collect();
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
                fault: Fault::Crash { node: 1 },
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
        assert!(trace.contains("faults crash node2"), "{trace}");
        assert!(trace.contains("faults partition [node1]"), "{trace}");
        // The others saw node2 fail while it was down.
        assert!(trace.contains("10.0.0.2:7002:fail"), "{trace}");
    }
}
