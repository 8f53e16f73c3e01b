//! The list-append checker (Elle's idea on strings): every read of a `list:` key names, in
//! order, the writes that produced it, so anomalies are read off the tokens.
//!
//! Within one read: no token nobody wrote (`phantom_token`), no token twice
//! (`append_duplicated`), a `SET`'s token only first (`read_not_prefix`), and no append
//! before one that completed before it began (`append_order_inverted`). Across reads of one
//! base (the same first token): a later read extends an earlier one — the writes it lacks
//! were lost, which only the loss rule may excuse (`read_not_monotonic` for one client's reads
//! of one node, `read_not_prefix` for an observed write gone from the final value), and a
//! write it shows elsewhere is `read_not_prefix`. The final read must hold every acknowledged
//! write that began after its base surely landed (otherwise lost: `acked_write_lost` unless
//! the loss rule excuses it).
//!
//! A read from a master that lacks an append completed before it is not flagged by itself:
//! Redis serves reads from a master cut off in a minority until its node timeout, and replicas
//! answer `READONLY` reads from behind; only what no later read restores counts.

use std::collections::{BTreeMap, BTreeSet};

use super::op::{family_of, parse_tokens, AppendHistory, Family, Kind, Op, Outcome, Value};
use crate::violation_kind::ViolationKind;

/// One anomaly, with the fewest operations that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What it is.
    pub kind: ViolationKind,
    /// The operations that show it (ids in the history), writes before reads.
    pub ops: Vec<usize>,
    /// What they show, in words.
    pub detail: String,
}

/// A write some read (or the final value) should show but does not: lost, unless the loss
/// rule says Redis may lose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LossCase {
    /// The write.
    pub write: usize,
    /// The reads that show it gone (the one that showed it, if any, then the one that lacks
    /// it).
    pub reads: Vec<usize>,
    /// One client read one node's value shorter than before (`read_not_monotonic` if not
    /// excused).
    pub monotonic: bool,
}

/// Everything the checkers found, before the loss rule is asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Anomalies no loss excuses.
    pub findings: Vec<Finding>,
    /// Writes gone, for the loss rule (one case per write: the first context found).
    pub losses: Vec<LossCase>,
    seen: BTreeSet<(ViolationKind, Vec<usize>)>,
    lost: BTreeSet<usize>,
}

impl Report {
    /// Records a finding once per kind and set of writes (`writes`: the ops that identify it,
    /// so that every read showing the same inversion does not repeat it).
    pub(super) fn add(
        &mut self,
        kind: ViolationKind,
        ops: Vec<usize>,
        writes: usize,
        detail: String,
    ) {
        let key = (kind, ops[..writes.min(ops.len())].to_vec());
        if self.seen.insert(key) {
            self.findings.push(Finding { kind, ops, detail });
        }
    }

    /// Records that `write` is gone (once per write).
    pub(super) fn lose(&mut self, write: usize, reads: Vec<usize>, monotonic: bool) {
        if self.lost.insert(write) {
            self.losses.push(LossCase {
                write,
                reads,
                monotonic,
            });
        }
    }
}

/// Token → the op that wrote it, over the whole history.
pub(super) fn writers(history: &AppendHistory) -> BTreeMap<&str, usize> {
    history
        .ops
        .iter()
        .filter_map(|op| Some((op.kind.token()?, op.id)))
        .collect()
}

/// The ops of each key of `family`, by key, in history order.
pub(super) fn ops_by_key(history: &AppendHistory, family: Family) -> BTreeMap<&str, Vec<&Op>> {
    let mut keys: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        if family_of(&op.key) == Some(family) {
            keys.entry(op.key.as_str()).or_default().push(op);
        }
    }
    keys
}

/// A read's value as the writes it names, or `None` after reporting why it names something
/// no write of this key could have put there (or names one twice).
pub(super) fn resolve(
    history: &AppendHistory,
    writers: &BTreeMap<&str, usize>,
    read: &Op,
    report: &mut Report,
) -> Option<Vec<usize>> {
    let value = match &read.outcome {
        Outcome::Ok(Value::Bulk(value)) => value.as_str(),
        Outcome::Ok(Value::Nil) => return Some(Vec::new()),
        _ => return None,
    };
    let phantom = ViolationKind::PhantomToken;
    let tokens = match parse_tokens(value) {
        Ok(tokens) => tokens,
        Err(part) => {
            let detail = format!("{} holds {part:?}, which is no token of ours", read.key);
            report.add(phantom, vec![read.id], 1, detail);
            return None;
        }
    };
    let mut ids = Vec::with_capacity(tokens.len());
    let mut seen = BTreeSet::new();
    for (pos, token) in tokens.into_iter().enumerate() {
        let Some(&id) = writers.get(token) else {
            let detail = format!("{} holds {token}, which nobody wrote", read.key);
            report.add(phantom, vec![read.id], 1, detail);
            return None;
        };
        let w = &history.ops[id];
        let wrong = if w.key != read.key {
            Some("was written to another key")
        } else if !w.may_have_applied() {
            Some("was rejected with an error")
        } else if w.start_us > read.end_us {
            Some("was sent after the read returned")
        } else {
            None
        };
        if let Some(why) = wrong {
            let detail = format!("{} holds {token}, whose write {why}", read.key);
            report.add(phantom, vec![id, read.id], 1, detail);
            return None;
        }
        if !seen.insert(id) {
            let detail = format!("{} holds {token} twice", read.key);
            report.add(
                ViolationKind::AppendDuplicated,
                vec![id, read.id],
                1,
                detail,
            );
            return None;
        }
        if pos > 0 && matches!(w.kind, Kind::Set { .. }) {
            let detail = format!("{} holds the SET's {token} after other tokens", read.key);
            report.add(ViolationKind::ReadNotPrefix, vec![id, read.id], 1, detail);
            return None;
        }
        ids.push(id);
    }
    inverted(history, read, &ids, report).then_some(ids)
}

/// Whether the order of `ids` (read by `read`) respects real time; reports the first pair
/// that does not: an earlier position whose write began after a later one's completed.
fn inverted(history: &AppendHistory, read: &Op, ids: &[usize], report: &mut Report) -> bool {
    let mut latest_start: Option<&Op> = None;
    for &id in ids {
        let w = &history.ops[id];
        if let Some(first) = latest_start {
            if w.latest_effect_us() < first.start_us {
                let detail = format!(
                    "{} lists {} before {}, but {} completed before {} began",
                    read.key,
                    first.kind.token().unwrap_or("?"),
                    w.kind.token().unwrap_or("?"),
                    w.command(),
                    first.command()
                );
                let ops = vec![w.id, first.id, read.id];
                report.add(ViolationKind::AppendOrderInverted, ops, 2, detail);
                return false;
            }
        }
        if latest_start.is_none_or(|l| w.start_us > l.start_us) {
            latest_start = Some(w);
        }
    }
    true
}

/// A read whose value resolved to writes.
struct Read<'h> {
    op: &'h Op,
    ids: Vec<usize>,
}

/// Checks every `list:` key of `history` into `report`.
pub fn check_lists(history: &AppendHistory, report: &mut Report) {
    let writers = writers(history);
    for (_, ops) in ops_by_key(history, Family::List) {
        let reads: Vec<Read> = ops
            .iter()
            .filter(|op| matches!(op.kind, Kind::Get { .. }))
            .filter_map(|op| {
                let ids = resolve(history, &writers, op, report)?;
                Some(Read { op, ids })
            })
            .collect();
        monotonic(history, &reads, report);
        let Some(last) = reads.iter().find(|r| {
            matches!(
                r.op.kind,
                Kind::Get {
                    final_read: true,
                    ..
                }
            )
        }) else {
            continue;
        };
        for read in reads.iter().filter(|r| r.op.id != last.op.id) {
            compare(history, read, last, false, report);
        }
        complete(history, &ops, last, report);
        read_own_node(history, &ops, &reads, last, report);
    }
}

/// A node that acknowledged a write holds it from then on, unless it is lost for good: so a
/// read it serves later as owner, in the final value's base, must show every write it
/// acknowledged before that read began and that the final value still has (`read_not_prefix`
/// otherwise: a stale read, or a write that vanished and came back). `READONLY` reads are left
/// out: the node may have become a replica since, and a replica's data is whatever its last
/// full sync copied (an emptied master at the old address: seed 450379).
fn read_own_node(
    history: &AppendHistory,
    ops: &[&Op],
    reads: &[Read],
    last: &Read,
    report: &mut Report,
) {
    let kept: BTreeSet<usize> = last.ids.iter().copied().collect();
    let acked: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|w| w.kind.is_write() && w.is_acked() && kept.contains(&w.id))
        .collect();
    let owner_reads = reads
        .iter()
        .filter(|r| r.op.id != last.op.id && !r.op.is_readonly_read());
    for read in owner_reads {
        if read
            .ids
            .first()
            .is_some_and(|first| Some(first) != last.ids.first())
        {
            continue; // another base: a SET since lost reset the list it read.
        }
        let shown: BTreeSet<usize> = read.ids.iter().copied().collect();
        let missing = acked.iter().find(|w| {
            w.addr == read.op.addr
                && w.end_us < read.op.start_us
                && !shown.contains(&w.id)
                && !killed_between(history, &w.addr, w.start_us, read.op.start_us)
        });
        if let Some(w) = missing {
            let detail = format!(
                "{} acknowledged {} before the read began, the read lacks it, the final value has it",
                w.addr,
                w.command()
            );
            let ops = vec![w.id, read.op.id, last.op.id];
            report.add(ViolationKind::ReadNotPrefix, ops, 1, detail);
        }
    }
}

/// Whether the node at `addr` lost power between `from_us` and `to_us`: restarted from its
/// disk it may lack what it acknowledged last (`everysec`), and its replica may still hold it
/// for the final value (seed 500185), so its own later reads prove nothing about the write.
/// A process crash keeps every written byte, so it excuses nothing.
fn killed_between(history: &AppendHistory, addr: &str, from_us: u64, to_us: u64) -> bool {
    history
        .kills
        .iter()
        .any(|k| k.loses_unsynced && k.addr == addr && (from_us..to_us).contains(&k.at_us))
}

/// One client's successive reads of one owner never shrink. Reads sent after `READONLY` are
/// left out: a replica's data is replaced wholesale by each full sync, with whatever its
/// master holds then (an emptied master at the old address, or another shard's master after
/// a replica migration), so Redis promises such reads no order; they are still held to the
/// final value by [`compare`]. So is a pair of reads around a crash of the node: restarted
/// from its disk it may lack its last second (`everysec`) while a replica kept it for the
/// final value (seed 609832), which the final read judges.
fn monotonic(history: &AppendHistory, reads: &[Read], report: &mut Report) {
    let mut last: BTreeMap<(usize, &str), &Read> = BTreeMap::new();
    let owner_reads = reads.iter().filter(|r| !r.op.is_readonly_read());
    for read in owner_reads {
        let at = (read.op.client, read.op.addr.as_str());
        if let Some(before) = last.insert(at, read) {
            let (from_us, to_us) = (before.op.start_us, read.op.start_us);
            if !killed_between(history, &read.op.addr, from_us, to_us) {
                compare(history, before, read, true, report);
            }
        }
    }
}

/// `after` (later in real time) must extend `before` when both hold the same base: a write
/// `before` shows is either where `before` has it or gone (a loss case).
fn compare(
    history: &AppendHistory,
    before: &Read,
    after: &Read,
    monotonic: bool,
    report: &mut Report,
) {
    let (b, a) = (&before.ids, &after.ids);
    if b.is_empty() || (!a.is_empty() && a[0] != b[0]) {
        return;
    }
    let common = b.iter().zip(a).take_while(|(x, y)| x == y).count();
    let mut gone = Vec::new();
    for &id in &b[common..] {
        if let Some(pos) = a.iter().position(|&x| x == id) {
            let detail = format!(
                "{} showed {} at position {}, a later read has it at position {pos}",
                before.op.key,
                history.ops[id].kind.token().unwrap_or("?"),
                common
            );
            let ops = vec![id, before.op.id, after.op.id];
            report.add(ViolationKind::ReadNotPrefix, ops, 1, detail);
            return;
        }
        gone.push(id);
    }
    for id in gone {
        report.lose(id, vec![before.op.id, after.op.id], monotonic);
    }
}

/// The final read holds every acknowledged write that began after its base surely landed.
fn complete(history: &AppendHistory, ops: &[&Op], last: &Read, report: &mut Report) {
    let base = last.ids.first().map(|&id| &history.ops[id]);
    let base_end_us = match base {
        Some(set) if matches!(set.kind, Kind::Set { .. }) => landed_by_us(history, set, last),
        _ => 0,
    };
    let held: BTreeSet<usize> = last.ids.iter().copied().collect();
    for w in ops.iter().filter(|op| op.kind.is_write() && op.is_acked()) {
        if w.start_us >= base_end_us && !held.contains(&w.id) {
            report.lose(w.id, vec![last.op.id], false);
        }
    }
}

/// By when the base `set` of `last` surely landed: its end if acknowledged; else (it may have
/// landed late) the earliest acknowledgement of a write listed after it, or the read itself.
fn landed_by_us(history: &AppendHistory, set: &Op, last: &Read) -> u64 {
    if set.is_acked() {
        return set.end_us;
    }
    last.ids[1..]
        .iter()
        .map(|&id| &history.ops[id])
        .filter(|op| op.is_acked())
        .map(|op| op.end_us)
        .chain([last.op.start_us])
        .min()
        .unwrap_or(last.op.start_us)
}
