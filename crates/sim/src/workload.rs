//! A write workload and its history: one writer on the client machine sends `SET key:<n> v<id>`
//! through a `ClusterClient` (keys spread over every master's slots), recording each
//! operation's virtual start and end time, the node that answered and the outcome. The history is what durability is judged against after crashes: an
//! acknowledged write (`+OK`) must still be visible later, unless a later write to the same key
//! replaced it.
//!
//! Every value is unique (`v<id>`, the operation's number), so a value read back names exactly
//! the operation that wrote it. The keys come in [`Phase`]s: the harness advances the phase at
//! each crash, and the writer then moves to a fresh set of keys, so the state of the old keys
//! read back at the end is exactly what survived that crash (no later write masks it). The
//! history and its analysis are plain data (unit-tested in the normal build); the writer itself
//! runs only in the simulator.
//!
//! The campaign runs concurrent append clients instead ([`crate::append`]); the fixed-schedule
//! scenarios keep this writer. Code that must reach the campaign's keys (a fault that moves
//! their slots) asks [`workload_slots`].

pub use crate::append::{workload_slots, KeySet};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the writer does; both the operation count and the virtual duration bound it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Distinct keys `key:0` … `key:<keys-1>`, written round-robin.
    pub keys: usize,
    /// Stop after this many operations…
    pub max_ops: usize,
    /// …or once this much virtual time has passed since the first one.
    pub duration_ms: u64,
    /// Pause between two operations.
    pub interval_ms: u64,
    /// Per-request limit: a stalled request counts as indeterminate after it.
    pub request_timeout_ms: u64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            keys: 64,
            max_ops: 1000,
            duration_ms: 5000,
            interval_ms: 10,
            request_timeout_ms: 1000,
        }
    }
}

/// The key operation `id` writes in `phase`: phase P uses `key:<P*keys>` …
/// `key:<P*keys + keys-1>`.
pub fn key_for(spec: &WorkloadSpec, phase: u64, id: usize) -> String {
    assert!(spec.keys > 0, "a workload needs at least one key");
    let keys = spec.keys as u64;
    format!("key:{}", phase * keys + (id as u64) % keys)
}

/// The phase whose key set `key` belongs to (`None` for a key the writer never uses).
pub fn phase_of_key(spec: &WorkloadSpec, key: &str) -> Option<u64> {
    let n: u64 = key.strip_prefix("key:")?.parse().ok()?;
    Some(n / spec.keys.max(1) as u64)
}

/// The writer's current key set, shared between the harness (which advances it at each crash)
/// and the writer (which reads it before each write).
#[derive(Clone, Debug, Default)]
pub struct Phase(Arc<AtomicU64>);

impl Phase {
    /// The phase the writer is in now (0 at the start).
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the writer to the next key set; returns the new phase.
    pub fn advance(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// The value operation `id` writes.
pub fn value_for(id: usize) -> String {
    format!("v{id}")
}

/// The operation id a value names, if it is one of ours.
pub fn op_of_value(value: &str) -> Option<usize> {
    let digits = value.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How a write ended, from the client's point of view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// `+OK`: the write must never be lost.
    Acked,
    /// An error reply (`CLUSTERDOWN …`, a redirect past the limit, …): not applied.
    Rejected(String),
    /// No reply (connection lost, timeout) or an unexpected one: it may or may not have been
    /// applied.
    Indeterminate(String),
}

/// One `SET` as the writer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOp {
    /// The operation's number: 0, 1, … in issue order; its value is `v<id>`.
    pub id: usize,
    /// The key written.
    pub key: String,
    /// The value written ([`value_for`] of `id`).
    pub value: String,
    /// When the request was sent: virtual µs since the run started.
    pub start_us: u64,
    /// When the outcome was known (reply, error or timeout): virtual µs since the run started.
    pub end_us: u64,
    /// `ip:port` of the node that gave the final reply (for an I/O failure: the node the
    /// client was talking to).
    pub addr: String,
    /// How the write ended.
    pub outcome: WriteOutcome,
}

impl WriteOp {
    /// Whether the write was acknowledged (`+OK`).
    pub fn is_acked(&self) -> bool {
        self.outcome == WriteOutcome::Acked
    }
}

/// Every operation of one writer, in issue order (ids ascending, times non-decreasing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteHistory {
    /// The operations in issue order (the writer's `ops[i].id` is `i`).
    pub ops: Vec<WriteOp>,
}

/// What reading one key back shows about its writes: the one judgement,
/// [`crate::history::check_register`], shared by every scenario.
pub use crate::history::RegisterCheck as KeyCheck;

impl WriteHistory {
    /// How many writes were acknowledged.
    pub fn acked_count(&self) -> usize {
        self.ops.iter().filter(|op| op.is_acked()).count()
    }

    /// Every key written at least once, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.ops.iter().map(|op| op.key.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Judges the value `read` back from `key` as a linearizable register
    /// ([`crate::history::check_register`]): a write that timed out may land late, so it is a
    /// legal final value even after later acknowledged writes.
    pub fn check_key(&self, key: &str, read: Option<&str>) -> KeyCheck {
        crate::history::check_register(self, key, read)
    }

    /// Checks every written key against what was read back (`reads[key]`; a key missing from
    /// `reads` reads as absent).
    pub fn check_reads(&self, reads: &BTreeMap<String, Option<String>>) -> Vec<KeyCheck> {
        crate::history::check_reads(self, reads)
    }

    /// The loss window of a crash of the node at `addr` at `crash_us` that ended `phase` (the
    /// harness advances the phase as it kills the node): how far before the crash the last
    /// write of that phase the node acknowledged and that survived was acknowledged, when some
    /// of them were lost (0 when none was). Under `appendfsync everysec` this is bounded by
    /// about one sync interval plus a tick; under `always` it must be 0.
    ///
    /// A write of the phase was issued before the crash; its `+OK` can still be on the wire
    /// when the node dies, so it may reach the writer a little after the crash. The phase's
    /// keys are never written again, so what `checks` read back is what survived.
    pub fn loss_window_us(
        &self,
        checks: &[KeyCheck],
        spec: &WorkloadSpec,
        addr: &str,
        phase: u64,
        crash_us: u64,
    ) -> LossWindow {
        let lost_ids: std::collections::BTreeSet<usize> = checks
            .iter()
            .flat_map(|c| c.lost_acked.iter().copied())
            .collect();
        let before_crash: Vec<&WriteOp> = self
            .ops
            .iter()
            .filter(|op| op.is_acked() && op.addr == addr)
            .filter(|op| phase_of_key(spec, &op.key) == Some(phase))
            .collect();
        // A key no check covers was not read back at all: nothing on it survived.
        let read_keys: std::collections::BTreeSet<&str> =
            checks.iter().map(|c| c.key.as_str()).collect();
        let survived =
            |op: &WriteOp| read_keys.contains(op.key.as_str()) && !lost_ids.contains(&op.id);
        let lost: Vec<usize> = before_crash
            .iter()
            .filter(|op| !survived(op))
            .map(|op| op.id)
            .collect();
        let last_survivor_us = before_crash
            .iter()
            .filter(|op| survived(op))
            .map(|op| op.end_us)
            .max();
        let window_us = match (lost.is_empty(), last_survivor_us) {
            (true, _) => 0,
            (false, Some(t)) => crash_us.saturating_sub(t),
            // Nothing survived: everything it acknowledged in the phase is gone.
            (false, None) => {
                let first_us = before_crash.first().map_or(crash_us, |op| op.start_us);
                crash_us.saturating_sub(first_us)
            }
        };
        LossWindow {
            acked_before_crash: before_crash.len(),
            lost,
            window_us,
        }
    }
}

/// See [`WriteHistory::loss_window_us`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossWindow {
    /// Writes of the phase the crashed node acknowledged.
    pub acked_before_crash: usize,
    /// Those of them that did not survive.
    pub lost: Vec<usize>,
    /// How long before the crash the last surviving one of them was acknowledged, in µs (0
    /// when none was lost; when none survived, since the first one was sent).
    pub window_us: u64,
}

#[cfg(madsim)]
pub use sim::{read_back, run_writer, spawn_writer};

/// The writer and the read-back, on the simulated client machine.
#[cfg(madsim)]
mod sim {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use clusterlab_core::Reply;

    use super::{key_for, value_for, Phase, WorkloadSpec, WriteHistory, WriteOp, WriteOutcome};
    use crate::client::{describe_reply, reply_text, ClusterClient};
    use crate::cluster::SimCluster;
    use crate::trace::Trace;

    fn now_us() -> u64 {
        madsim::time::TimeHandle::current().elapsed().as_micros() as u64
    }

    /// A client that starts at `entries[next]`; rotating the entry after an I/O error keeps a
    /// dead node from swallowing the writes meant for live ones.
    fn client_at(
        label: &str,
        entries: &[String],
        next: usize,
        trace: &Trace,
        timeout_ms: u64,
    ) -> ClusterClient {
        let mut client =
            ClusterClient::new(label, entries[next % entries.len()].clone(), trace.clone());
        client.set_timeout_ms(timeout_ms);
        client
    }

    /// Runs the writer here (call it on the client machine) until the spec's bounds, writing
    /// the keys of the current `phase`.
    pub async fn run_writer(
        spec: WorkloadSpec,
        entries: Vec<String>,
        trace: Trace,
        phase: Phase,
    ) -> WriteHistory {
        assert!(!entries.is_empty(), "the writer needs an entry node");
        let label = "writer";
        let mut entry = 0;
        let mut client = client_at(label, &entries, entry, &trace, spec.request_timeout_ms);
        let started = madsim::time::Instant::now();
        let deadline = Duration::from_millis(spec.duration_ms);
        let mut history = WriteHistory::default();
        for id in 0..spec.max_ops {
            if started.elapsed() >= deadline {
                break;
            }
            let op_phase = phase.current();
            let (key, value) = (key_for(&spec, op_phase, id), value_for(id));
            let start_us = now_us();
            let result = client
                .command(&[b"SET", key.as_bytes(), value.as_bytes()])
                .await;
            let (addr, outcome) = match result {
                Ok(routed) => {
                    let addr = routed
                        .hops
                        .last()
                        .map(|h| h.addr.clone())
                        .unwrap_or_default();
                    let outcome = match &routed.reply {
                        r if *r == Reply::ok() => WriteOutcome::Acked,
                        Reply::Error(e) => WriteOutcome::Rejected(e.clone()),
                        other => WriteOutcome::Indeterminate(describe_reply(other)),
                    };
                    (addr, outcome)
                }
                Err(e) => {
                    let addr = client.current().to_string();
                    entry += 1;
                    client = client_at(label, &entries, entry, &trace, spec.request_timeout_ms);
                    (addr, WriteOutcome::Indeterminate(e.to_string()))
                }
            };
            history.ops.push(WriteOp {
                id,
                key,
                value,
                start_us,
                end_us: now_us(),
                addr,
                outcome,
            });
            madsim::time::sleep(Duration::from_millis(spec.interval_ms)).await;
        }
        trace.record(
            label,
            format!(
                "done ops={} acked={}",
                history.ops.len(),
                history.acked_count()
            ),
        );
        history
    }

    /// Starts the writer on the client machine and returns at once; await the handle for the
    /// history. The harness keeps a clone of `phase` to move the writer to fresh keys.
    pub async fn spawn_writer(
        cluster: &SimCluster,
        spec: WorkloadSpec,
        phase: Phase,
    ) -> madsim::task::JoinHandle<WriteHistory> {
        let (entries, trace) = (cluster.addrs(), cluster.trace().clone());
        let writer = run_writer(spec, entries, trace, phase);
        // Spawned from a task on the client machine, so the writer runs there; the handle is
        // handed back unawaited on purpose.
        #[allow(clippy::async_yields_async)]
        let spawned = cluster.on_client(async move { madsim::task::spawn(writer) });
        spawned.await
    }

    /// How often a read is retried after an I/O error or an error reply.
    const READ_ATTEMPTS: usize = 3;

    /// `GET`s every key through a cluster client: `Ok(None)` for an absent key, `Err` (the
    /// last reply or I/O error) when no attempt got a value or nil.
    pub async fn read_back(
        cluster: &SimCluster,
        keys: Vec<String>,
    ) -> BTreeMap<String, Result<Option<String>, String>> {
        let (entries, trace) = (cluster.addrs(), cluster.trace().clone());
        cluster
            .on_client(async move {
                let mut entry = 0;
                let mut client = client_at("reader", &entries, entry, &trace, 5000);
                let mut reads = BTreeMap::new();
                for key in keys {
                    let mut result = Err("no attempt".to_string());
                    for _ in 0..READ_ATTEMPTS {
                        result = match client.command(&[b"GET", key.as_bytes()]).await {
                            Ok(r) if r.reply == Reply::Nil => Ok(None),
                            Ok(r) => match (&r.reply, reply_text(&r.reply)) {
                                (Reply::Bulk(_), Some(text)) => Ok(Some(text)),
                                _ => Err(describe_reply(&r.reply)),
                            },
                            Err(e) => {
                                entry += 1;
                                client = client_at("reader", &entries, entry, &trace, 5000);
                                Err(format!("io error: {e}"))
                            }
                        };
                        if result.is_ok() {
                            break;
                        }
                    }
                    reads.insert(key, result);
                }
                reads
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, key: &str, at_ms: u64, addr: &str, outcome: WriteOutcome) -> WriteOp {
        WriteOp {
            id,
            key: key.to_string(),
            value: value_for(id),
            start_us: at_ms * 1000,
            end_us: at_ms * 1000 + 500,
            addr: addr.to_string(),
            outcome,
        }
    }

    const A: &str = "10.0.0.1:7001";
    const B: &str = "10.0.0.2:7002";

    fn history() -> WriteHistory {
        use WriteOutcome::*;
        WriteHistory {
            ops: vec![
                op(0, "k", 0, A, Acked),
                op(1, "j", 100, B, Acked),
                op(2, "k", 200, A, Acked),
                op(3, "k", 300, A, Indeterminate("io error".into())),
                op(
                    4,
                    "k",
                    400,
                    A,
                    Rejected("CLUSTERDOWN The cluster is down".into()),
                ),
                op(5, "j", 500, A, Indeterminate("timed out".into())),
            ],
        }
    }

    #[test]
    fn keys_and_values_round_trip() {
        let spec = WorkloadSpec {
            keys: 3,
            ..WorkloadSpec::default()
        };
        assert_eq!(key_for(&spec, 0, 4), "key:1");
        assert_eq!(key_for(&spec, 2, 4), "key:7");
        let phase = Phase::default();
        assert_eq!((phase.current(), phase.advance()), (0, 1));
        assert_eq!(phase.clone().current(), 1);
        assert_eq!(value_for(17), "v17");
        assert_eq!(op_of_value("v17"), Some(17));
        for not in ["", "v", "17", "v1x", "v+1", "w1"] {
            assert_eq!(op_of_value(not), None, "{not:?}");
        }
    }

    #[test]
    fn last_acked_or_later_attempted_is_fine() {
        let h = history();
        assert_eq!(h.keys(), vec!["j".to_string(), "k".to_string()]);
        assert_eq!(h.acked_count(), 3);
        for (read, visible) in [("v2", 2), ("v3", 3)] {
            let c = h.check_key("k", Some(read));
            assert!(c.ok(), "{c:?}");
            assert_eq!(c.visible, Some(visible));
        }
        // j: the later indeterminate write may or may not have landed.
        assert!(h.check_key("j", Some("v1")).ok());
        assert!(h.check_key("j", Some("v5")).ok());
    }

    #[test]
    fn older_absent_rejected_and_foreign_values_are_caught() {
        let h = history();
        let older = h.check_key("k", Some("v0"));
        assert_eq!(older.lost_acked, vec![2]);
        let absent = h.check_key("k", None);
        assert_eq!((absent.visible, absent.lost_acked), (None, vec![0, 2]));
        // A rejected write must not be visible; another key's value is not ours either.
        for bad in ["v4", "v1", "hello"] {
            let c = h.check_key("k", Some(bad));
            assert_eq!(c.phantom.as_deref(), Some(bad), "{c:?}");
            assert!(!c.ok());
        }
        // A key never written reads as absent: fine.
        assert!(h.check_key("never", None).ok());
    }

    #[test]
    fn a_timed_out_write_that_lands_late_loses_nothing() {
        use WriteOutcome::*;
        let mut h = history();
        // Acknowledged after the timed-out write 3 was sent: write 3 may still land after it
        // (its bytes sat in a clogged link), so reading v3 is legal and write 6 is not lost…
        h.ops.push(op(6, "k", 600, A, Acked));
        let c = h.check_key("k", Some("v3"));
        assert!(c.ok(), "{c:?}");
        // …while the older acknowledged v2 cannot be the final value any more.
        assert_eq!(h.check_key("k", Some("v2")).lost_acked, vec![6]);
        assert!(
            h.check_reads(&BTreeMap::from([("k".to_string(), Some("v3".to_string()))]))[1].ok()
        );

        // The durability loss window agrees: a crash right after must not count write 2 as
        // lost when the late write 1 is what key:0 shows.
        let spec = WorkloadSpec {
            keys: 2,
            ..WorkloadSpec::default()
        };
        let h = WriteHistory {
            ops: vec![
                op(0, "key:0", 0, A, Acked),
                op(
                    1,
                    "key:0",
                    100,
                    A,
                    Indeterminate("request timed out".into()),
                ),
                op(2, "key:0", 200, A, Acked),
            ],
        };
        let late = BTreeMap::from([("key:0".to_string(), Some("v1".to_string()))]);
        let w = h.loss_window_us(&h.check_reads(&late), &spec, A, 0, 1_000_000);
        assert_eq!((w.acked_before_crash, w.lost.len(), w.window_us), (2, 0, 0));
        // Reading the first write back does lose write 2: a window from write 0's ack.
        let old = BTreeMap::from([("key:0".to_string(), Some("v0".to_string()))]);
        let w = h.loss_window_us(&h.check_reads(&old), &spec, A, 0, 1_000_000);
        assert_eq!((w.lost.clone(), w.window_us), (vec![2], 1_000_000 - 500));
    }

    #[test]
    fn check_reads_covers_every_written_key() {
        let h = history();
        let reads = BTreeMap::from([("k".to_string(), Some("v2".to_string()))]);
        let checks = h.check_reads(&reads);
        assert_eq!(checks.len(), 2);
        assert!(checks[1].ok(), "{:?}", checks[1]);
        // j missing from the reads: its acked write 1 is lost.
        assert_eq!(checks[0].lost_acked, vec![1]);
    }

    #[test]
    fn loss_window_is_crash_minus_last_survivor() {
        use WriteOutcome::*;
        // Four keys a phase: phase 0 writes key:0 … key:3, phase 1 key:4 … key:7.
        let spec = WorkloadSpec {
            keys: 4,
            ..WorkloadSpec::default()
        };
        let (a, b, c, d, e, f) = ("key:0", "key:1", "key:2", "key:3", "key:4", "key:5");
        let h = WriteHistory {
            ops: vec![
                op(0, a, 0, A, Acked),
                op(1, b, 1000, A, Acked),
                op(2, c, 1500, B, Acked),
                op(3, a, 2000, A, Acked),
                op(4, b, 2500, A, Acked),
                // Issued just before the crash; its +OK arrives after it.
                op(5, d, 2999, A, Acked),
                // After the crash at 3 s: phase 1, other keys.
                op(6, e, 9000, A, Acked),
                op(7, f, 9500, A, Acked),
            ],
        };
        let read = |pairs: &[(&str, &str)]| -> BTreeMap<String, Option<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect()
        };
        let crash_us = 3_000_000;
        // Node A lost ops 3, 4 and 5 (a reads v0, b reads v1, d is absent).
        let checks = h.check_reads(&read(&[(a, "v0"), (b, "v1"), (c, "v2"), (e, "v6")]));
        let w = h.loss_window_us(&checks, &spec, A, 0, crash_us);
        assert_eq!(w.acked_before_crash, 5);
        assert_eq!(w.lost, vec![3, 4, 5]);
        // Last survivor: op 1, acked at 1000.5 ms.
        assert_eq!(w.window_us, 3_000_000 - 1_000_500);

        let all = h.check_reads(&read(&[(a, "v3"), (b, "v4"), (c, "v2"), (d, "v5")]));
        let w = h.loss_window_us(&all, &spec, A, 0, crash_us);
        assert_eq!((w.lost.len(), w.window_us), (0, 0));

        let none = h.check_reads(&BTreeMap::new());
        let w = h.loss_window_us(&none, &spec, A, 0, crash_us);
        assert_eq!(w.lost, vec![0, 1, 3, 4, 5]);
        assert_eq!(w.window_us, crash_us);

        // A second crash at 10 s judges only phase 1: key:5 (op 7) lost, key:4 (op 6) survived.
        let w = h.loss_window_us(&checks, &spec, A, 1, 10_000_000);
        assert_eq!((w.acked_before_crash, w.lost.clone()), (2, vec![7]));
        assert_eq!(w.window_us, 10_000_000 - 9_000_500);
        assert_eq!(phase_of_key(&spec, "key:5"), Some(1));
        assert_eq!(phase_of_key(&spec, "other"), None);
    }
}
