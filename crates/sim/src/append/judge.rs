//! From what the checkers found to violations: each anomaly becomes one, and each write found
//! gone is put to the loss rule ([`crate::loss`]) — allowed losses are listed for the trace,
//! the others become violations with the operations and the rule's evidence.
//!
//! The rule comes in as a closure so tests can plant either verdict.

use std::collections::BTreeMap;

use clusterlab_core::event::request_digest;
use clusterlab_core::slot::key_hash_slot;

use super::check::{check_lists, LossCase, Report};
use super::op::{AppendHistory, Op};
use super::other::{check_counters, check_ttls};
use crate::loss::{AckedWrite, LossVerdict};
use crate::node_idx::NodeIdx;
use crate::report::Violation;
use crate::violation_kind::ViolationKind;

/// At most this many violations of one kind are spelled out; the last one counts the rest.
pub const MAX_PER_KIND: usize = 5;

/// Runs every checker over `history` (which must hold the final reads).
pub fn check(history: &AppendHistory) -> Report {
    let mut report = Report::default();
    check_lists(history, &mut report);
    check_counters(history, &mut report);
    check_ttls(history, &mut report);
    report
}

/// What the run must report about its history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// The anomalies and the losses the rule did not excuse.
    pub violations: Vec<Violation>,
    /// One line per loss the rule allowed: the write and the rule's reason.
    pub allowed: Vec<String>,
}

/// The loss rule's view of `op` (sent to the node at `op.addr`). A write whose reply never
/// came but that a read showed was applied all the same, so it is judged the same way.
pub fn acked_write(op: &Op) -> AckedWrite {
    let node = NodeIdx::from_addr(&op.addr).map_or_else(|| op.addr.clone(), NodeIdx::name);
    AckedWrite {
        node,
        key: op.key.clone(),
        slot: key_hash_slot(op.key.as_bytes()),
        request: request_digest(&op.applied_args()),
        start_us: op.start_us,
        end_us: op.end_us,
        what: op.command(),
    }
}

/// The loss rule's view of a lost write. A write whose reply never came but that a read showed
/// may have been applied after the client gave up, up to the end of that read (the first of
/// `case.reads`), so that is where the rule must look for it.
fn lost_write(history: &AppendHistory, case: &LossCase) -> AckedWrite {
    let write = &history.ops[case.write];
    let mut acked = acked_write(write);
    if !write.is_acked() {
        if let Some(&shown_by) = case.reads.first() {
            acked.end_us = acked.end_us.max(history.ops[shown_by].end_us);
        }
    }
    acked
}

/// Checks `history` and judges its losses with `rule`.
pub fn judge(history: &AppendHistory, rule: &mut dyn FnMut(&AckedWrite) -> LossVerdict) -> Judged {
    let report = check(history);
    let mut judged = Judged::default();
    let mut found: Vec<(ViolationKind, String)> = report
        .findings
        .iter()
        .map(|f| (f.kind, evidence(history, &f.detail, &f.ops)))
        .collect();
    for case in &report.losses {
        let write = &history.ops[case.write];
        match rule(&lost_write(history, case)) {
            LossVerdict::Allowed(why) => judged
                .allowed
                .push(format!("{} lost as Redis allows: {why}", write.describe())),
            LossVerdict::Violation(why) => {
                let kind = if case.monotonic {
                    ViolationKind::ReadNotMonotonic
                } else if write.is_acked() {
                    ViolationKind::AckedWriteLost
                } else {
                    ViolationKind::ReadNotPrefix
                };
                let mut ops = vec![case.write];
                ops.extend(&case.reads);
                let detail = format!("{} is gone ({why})", write.command());
                found.push((kind, evidence(history, &detail, &ops)));
            }
        }
    }
    judged.violations = capped(found);
    judged
}

/// `detail: op; op; …`.
fn evidence(history: &AppendHistory, detail: &str, ops: &[usize]) -> String {
    let ops: Vec<String> = ops.iter().map(|&id| history.ops[id].describe()).collect();
    format!("{detail}: {}", ops.join("; "))
}

/// At most [`MAX_PER_KIND`] violations per kind, the last one saying how many more there were.
pub(super) fn capped(found: Vec<(ViolationKind, String)>) -> Vec<Violation> {
    let mut count: BTreeMap<ViolationKind, usize> = BTreeMap::new();
    for (kind, _) in &found {
        *count.entry(*kind).or_default() += 1;
    }
    let mut out: Vec<Violation> = Vec::new();
    let mut kept: BTreeMap<ViolationKind, usize> = BTreeMap::new();
    for (kind, evidence) in found {
        let n = kept.entry(kind).or_default();
        *n += 1;
        if *n > MAX_PER_KIND {
            continue;
        }
        let more = count[&kind] - MAX_PER_KIND.min(count[&kind]);
        let evidence = if *n == MAX_PER_KIND && more > 0 {
            format!("{evidence} (and {more} more {kind})")
        } else {
            evidence
        };
        out.push(Violation::new(kind, evidence));
    }
    out
}
