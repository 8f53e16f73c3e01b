//! The append workload inside a two-phase run: the clients run through the safety phase;
//! after the liveness phase every key is read back and the whole history is judged, with the
//! loss rule over the run's events.

use super::client::read_final;
use super::judge::judge;
use super::op::{workload_keys, AppendHistory, Kill};
use super::spec::AppendSpec;
use crate::invariants::phantom_slots;
use crate::loss::{LossConfig, LossRule};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::runner::poll::{node_names, poll_all, views_of};
use crate::runner::Run;
use crate::trace::{Event, ProcessEvent, TraceEvent};
use crate::wall_clock::{migrations, WallClocks};
use clusterlab_core::event::AofOp;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::ClusterEvent;
use std::collections::BTreeSet;

/// What the clients of a safety phase did.
#[derive(Clone, Debug, Default)]
pub struct Appends {
    /// What they were asked to do.
    pub spec: Option<AppendSpec>,
    /// Every operation they sent.
    pub history: AppendHistory,
}

/// Reads every workload key back (a read that fails counts only if the cluster `settled`)
/// and judges the history with the reads it got; allowed losses and a summary go to the
/// trace, the rest to the run's violations.
pub async fn check_appends(
    run: &mut Run<'_>,
    appends: &Appends,
    settled: bool,
    rule_config: LossConfig,
) {
    let Some(spec) = &appends.spec else {
        return;
    };
    let mut history = appends.history.clone();
    let (finals, failed) = read_final(run.cluster, workload_keys(&spec.keys)).await;
    let failed = unexcused_read_failures(run, failed).await;
    if settled && !failed.is_empty() {
        let shown = failed[..failed.len().min(5)].join("; ");
        let evidence = format!("{} keys unreadable: {shown}", failed.len());
        run.violations
            .push(Violation::new(ViolationKind::ReadFailed, evidence));
    }
    for op in finals {
        history.push(op);
    }
    let events = run.cluster.trace().events();
    history.kills = kills(&events);
    history.clocks = WallClocks::from_events(&events);
    history.migrations = migrations(&events);
    let fsync_always = rule_config.fsync_always;
    let rule = LossRule::new(&events, rule_config);
    let judged = judge(&history, &mut |write| rule.judge(write));
    run.violations
        .extend(crate::append::check_waits(&history, &events, &rule));
    if fsync_always {
        run.violations
            .extend(crate::append::check_durable_acks(&history, &events, &rule));
    }
    let allowed = judged.allowed.len();
    for line in judged.allowed {
        run.record(line);
    }
    let writes = history.acked_writes().count();
    run.record(format!(
        "appends: {} ops by {} clients, {writes} writes acknowledged; lost as Redis allows: \
         {allowed}",
        appends.history.ops.len(),
        spec.clients
    ));
    run.violations.extend(judged.violations);
}

/// The final reads' failures that count: a key in a phantom-claimed slot (see
/// [`phantom_slots`]) cannot be read in Redis 7.0 either, so its failure goes to the trace.
async fn unexcused_read_failures(run: &mut Run<'_>, failed: Vec<(String, String)>) -> Vec<String> {
    if failed.is_empty() {
        return Vec::new();
    }
    let (addrs, names) = (run.cluster.addrs(), node_names(run.cluster));
    let phantom = phantom_slots(&views_of(&poll_all(run.cluster, &addrs, &names).await));
    let mut counted = Vec::new();
    for (key, error) in failed {
        let slot = key_hash_slot(key.as_bytes());
        if phantom.contains(&slot) {
            run.record(format!(
                "final read of {key} failed ({error}): slot {slot} is credited to a master that \
                 does not claim it (redis/redis#3776)"
            ));
        } else {
            counted.push(format!("{key}: {error}"));
        }
    }
    counted
}

/// Every time a node went down, as the append checks need it: a power loss or torn write may
/// take its unsynced bytes; so may any crash or exit (a process kill, or the node's own exit on
/// a failed `nodes.conf` save) while its AOF writes were failing. Redis 7.0 keeps a write it
/// could not write in `aof_buf` (`flushAppendOnlyFile` under `everysec` sets
/// `aof_last_write_status` to error and returns, the reply already queued), so a process that
/// dies then never put those bytes even into the page cache (seeds 906120, 908468). The same
/// holds while writes are postponed for a slow background fsync (`AofWritePostponed` until
/// `AofWriteResumed`): they wait in `aof_buf`.
pub(crate) fn kills(events: &[TraceEvent]) -> Vec<Kill> {
    let mut write_failing = BTreeSet::new();
    let mut kills = Vec::new();
    for e in events {
        let loses_unsynced = match &e.event {
            Event::Cluster(ClusterEvent::AofFailed { op, .. }) if *op == AofOp::Write => {
                write_failing.insert(e.node.clone());
                continue;
            }
            Event::Cluster(ClusterEvent::AofWritePostponed) => {
                write_failing.insert(e.node.clone());
                continue;
            }
            Event::Cluster(ClusterEvent::AofRecovered { op }) if *op == AofOp::Write => {
                write_failing.remove(&e.node);
                continue;
            }
            Event::Cluster(ClusterEvent::AofWriteResumed { .. }) => {
                write_failing.remove(&e.node);
                continue;
            }
            Event::Process(ProcessEvent::Kill(how)) => {
                write_failing.remove(&e.node) | how.loses_unsynced()
            }
            Event::Process(ProcessEvent::Exit(_)) => write_failing.remove(&e.node),
            _ => continue,
        };
        if let Some(node) = NodeIdx::from_name(&e.node) {
            kills.push(Kill {
                addr: node.addr(),
                at_us: e.time_us,
                loses_unsynced,
            });
        }
    }
    kills
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::CrashKind;

    fn at(time_us: u64, node: &str, event: Event) -> TraceEvent {
        TraceEvent {
            time_us,
            node: node.to_string(),
            event,
        }
    }

    fn aof(failed: bool) -> Event {
        Event::Cluster(if failed {
            ClusterEvent::AofFailed {
                op: AofOp::Write,
                error: "No space left on device".into(),
            }
        } else {
            ClusterEvent::AofRecovered { op: AofOp::Write }
        })
    }

    fn exit() -> Event {
        Event::Process(ProcessEvent::Exit(
            "Fatal: can't update cluster config file.".into(),
        ))
    }

    /// A node that exits (or is killed) while its AOF writes fail loses what it held back
    /// (seed 906120); once the writes work again, or on another node, it loses nothing.
    #[test]
    fn exit_with_failing_aof_writes_loses_unsynced() {
        let process = Event::Process(ProcessEvent::Kill(CrashKind::Process));
        let events = [
            at(10, "node5", aof(true)),
            at(20, "node3", exit()),
            at(30, "node5", exit()),
            at(40, "node5", exit()),
            at(50, "node4", aof(true)),
            at(60, "node4", aof(false)),
            at(70, "node4", process.clone()),
            at(80, "node2", aof(true)),
            at(90, "node2", process),
            at(
                95,
                "node1",
                Event::Process(ProcessEvent::Kill(CrashKind::PowerLoss)),
            ),
        ];
        let lost: Vec<(u64, bool)> = kills(&events)
            .iter()
            .map(|k| (k.at_us, k.loses_unsynced))
            .collect();
        let expected = [
            (20, false),
            (30, true),
            (40, false),
            (70, false),
            (90, true),
            (95, true),
        ];
        assert_eq!(lost, expected);
        assert_eq!(kills(&events)[1].addr, "10.0.0.5:7005");
    }
}
