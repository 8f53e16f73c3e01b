//! The checks of the two small key families beside the lists: counters (`INCR`) and TTL keys
//! (`SET … PX`, `PEXPIRE`, `PERSIST`), with expiry judged by the nodes' wall clocks.
//!
//! A TTL is an absolute unix-ms deadline that the node running the command computes from its
//! own wall clock (Redis 7.0 propagates `SET … PX` as `PXAT` and `PEXPIRE` as `PEXPIREAT`, to
//! replicas and the AOF alike), and every node judges it against its own clock
//! (`keyIsExpired` compares `mstime()` with it). So the checks date a deadline by the
//! writer's clock and the read by the reader's, as [`WallClocks`] rebuilds them from the
//! trace: with a clock ahead a key expires early in true time, with one behind it lives on.

use super::check::{ops_by_key, resolve, writers, Report};
use super::op::{AppendHistory, Family, Kind, Op, Outcome, Value};
use crate::violation_kind::ViolationKind;
use crate::wall_clock::WallClocks;

/// How late past its deadline a key may still be read. Redis 7.0 stores an expiry as a
/// unix-ms time and treats a key as expired only once the clock is past it (`keyIsExpired`
/// compares whole milliseconds), so a read up to one ms after the µs deadline is fine.
const EXPIRY_SLACK_US: u64 = 1000;

/// Counters: no `INCR` answers more increments than were sent, nor does the final value hold
/// more; an acknowledged `INCR` whose reply the final value is below was lost.
pub fn check_counters(history: &AppendHistory, report: &mut Report) {
    for (key, ops) in ops_by_key(history, Family::Counter) {
        let incrs: Vec<&Op> = ops
            .iter()
            .copied()
            .filter(|op| op.kind == Kind::Incr && op.may_have_applied())
            .collect();
        let sent_before = |us: u64| incrs.iter().filter(|i| i.start_us < us).count() as i64;
        for op in &incrs {
            if let Outcome::Ok(Value::Int(reply)) = op.outcome {
                if reply > sent_before(op.end_us) {
                    let detail = format!(
                        "{key}: INCR answered {reply}, but only {} INCRs had been sent",
                        sent_before(op.end_us)
                    );
                    report.add(ViolationKind::CounterOvercounted, vec![op.id], 1, detail);
                }
            }
        }
        let Some(last) = ops.iter().find(|op| {
            matches!(
                op.kind,
                Kind::Get {
                    final_read: true,
                    ..
                }
            )
        }) else {
            continue;
        };
        let value = match &last.outcome {
            Outcome::Ok(Value::Nil) => 0,
            Outcome::Ok(Value::Bulk(text)) => match text.parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    let detail = format!("{key} holds {text:?}, which no INCR makes");
                    report.add(ViolationKind::PhantomToken, vec![last.id], 1, detail);
                    continue;
                }
            },
            _ => continue,
        };
        if value > incrs.len() as i64 {
            let detail = format!(
                "{key} holds {value}, but only {} INCRs were sent",
                incrs.len()
            );
            report.add(ViolationKind::CounterOvercounted, vec![last.id], 1, detail);
        }
        for op in &incrs {
            if matches!(op.outcome, Outcome::Ok(Value::Int(reply)) if reply > value) {
                report.lose(op.id, vec![last.id], false);
            }
        }
    }
}

/// TTL keys: a value is never read after it surely expired (`read_after_expiry`), and a key
/// whose last write surely keeps it alive never reads as absent (a loss case).
pub fn check_ttls(history: &AppendHistory, report: &mut Report) {
    let writers = writers(history);
    let clocks = TtlClocks { history };
    for (_, ops) in ops_by_key(history, Family::Ttl) {
        for read in ops.iter().filter(|op| matches!(op.kind, Kind::Get { .. })) {
            let Some(ids) = resolve(history, &writers, read, report) else {
                continue;
            };
            match ids.first() {
                Some(&set) => expired_read(&clocks, &ops, &history.ops[set], read, report),
                // A replica may not have the write yet: only a master's "absent" counts.
                None if !read.is_readonly_read() => absent_read(&clocks, &ops, read, report),
                None => {}
            }
        }
    }
}

/// The wall clocks of a history's nodes, as the TTL checks read them (µs, true time plus
/// each node's offset; with no clock fault, true time).
struct TtlClocks<'a> {
    history: &'a AppendHistory,
}

impl TtlClocks<'_> {
    fn clocks(&self) -> &WallClocks {
        &self.history.clocks
    }

    /// The latest deadline `ms` from when `op` ran, by the clock of the node that ran it.
    fn latest_deadline_us(&self, op: &Op, ms: u64) -> i64 {
        let node = WallClocks::node_of(&op.addr);
        let ran_us = self
            .clocks()
            .max_wall_us(&node, op.start_us, op.latest_effect_us());
        ran_us.saturating_add((ms * 1000) as i64)
    }

    /// The earliest deadline `ms` from when `op` ran, by the clock of the node that ran it.
    fn earliest_deadline_us(&self, op: &Op, ms: u64) -> i64 {
        let node = WallClocks::node_of(&op.addr);
        let ran_us = self.clocks().min_wall_us(&node, op.start_us, op.end_us);
        ran_us.saturating_add((ms * 1000) as i64)
    }

    /// The lowest reading of the answering node's clock while `read` ran.
    fn lowest_reading_us(&self, read: &Op) -> i64 {
        let node = WallClocks::node_of(&read.addr);
        self.clocks().min_wall_us(&node, read.start_us, read.end_us)
    }

    /// The highest reading of the answering node's clock from `since_us` to the end of
    /// `read`: a key its clock found expired at any moment may have been deleted then (lazily
    /// or by the active expire cycle), and a clock stepped back later does not bring it back.
    fn highest_reading_since_us(&self, read: &Op, since_us: u64) -> i64 {
        let node = WallClocks::node_of(&read.addr);
        self.clocks()
            .max_wall_us(&node, since_us.min(read.start_us), read.end_us)
    }

    /// How far a deadline may have moved since it was set: MIGRATE sends a key's remaining
    /// TTL, which the target dates by its own clock (Redis's `RESTORE … ttl`), so a key of a
    /// slot migrated before `until_us` may carry a deadline off by as much as two clocks
    /// ever differed.
    fn migration_slack_us(&self, key: &str, until_us: u64) -> i64 {
        let slot = clusterlab_core::slot::key_hash_slot(key.as_bytes());
        let migrated = self
            .history
            .migrations
            .iter()
            .any(|&(s, at_us)| s == slot && at_us < until_us);
        if migrated {
            self.clocks().spread_us(until_us) as i64
        } else {
            0
        }
    }
}

/// `read` shows the value of `set`: the answering node's clock must not have been past the
/// latest deadline any TTL it could carry had, all the while the read ran.
fn expired_read(clocks: &TtlClocks, ops: &[&Op], set: &Op, read: &Op, report: &mut Report) {
    let Kind::Set {
        px_ms: Some(px_ms), ..
    } = set.kind
    else {
        return;
    };
    let mut deadline_us = clocks.latest_deadline_us(set, px_ms);
    let mut extended_by = None;
    for op in ops
        .iter()
        .filter(|op| changes_ttl(op) && op.start_us < read.end_us)
    {
        if op.latest_effect_us() < set.start_us {
            continue; // before the SET: its PX replaced whatever this did.
        }
        let until_us = match op.kind {
            Kind::Pexpire { ms } => clocks.latest_deadline_us(op, ms),
            _ => i64::MAX,
        };
        if until_us > deadline_us {
            (deadline_us, extended_by) = (until_us, Some(op.id));
        }
    }
    let slack_us = EXPIRY_SLACK_US as i64 + clocks.migration_slack_us(&read.key, read.end_us);
    // A key not yet deleted shows again when the clock steps back: only the read's own
    // moment counts.
    let read_us = clocks.lowest_reading_us(read);
    if read_us > deadline_us.saturating_add(slack_us) {
        let detail = format!(
            "{} still held {} {} ms after it surely expired (by the clock of {})",
            read.key,
            set.kind.token().unwrap_or("?"),
            (read_us - deadline_us) / 1000,
            read.addr
        );
        let ops = [Some(set.id), extended_by, Some(read.id)];
        let ops: Vec<usize> = ops.into_iter().flatten().collect();
        report.add(ViolationKind::ReadAfterExpiry, ops, 1, detail);
    }
}

/// A `PEXPIRE` or `PERSIST` that may have changed a TTL (one that answered 0 changed nothing).
fn changes_ttl(op: &Op) -> bool {
    matches!(op.kind, Kind::Pexpire { .. } | Kind::Persist)
        && op.may_have_applied()
        && op.outcome != Outcome::Ok(Value::Int(0))
}

/// `read` found no key: if the last write before it completed before it began, nothing ran
/// concurrently with that write, that write keeps the key alive past the read, and the node
/// that acknowledged it is the one that answered, it was lost. Another node's "absent" proves
/// nothing by itself: a master that a promotion replaced keeps serving its own, older copy
/// until it learns of the new owner (Redis updates its view only by gossip), so only the
/// final read judges writes acknowledged elsewhere.
fn absent_read(clocks: &TtlClocks, ops: &[&Op], read: &Op, report: &mut Report) {
    let before: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.kind.is_write() && op.start_us < read.end_us)
        .collect();
    let Some(last) = before.iter().max_by_key(|op| op.start_us) else {
        return;
    };
    let alone = before
        .iter()
        .all(|op| op.id == last.id || op.latest_effect_us() < last.start_us);
    if !alone || !last.is_acked() || last.end_us >= read.start_us || last.addr != read.addr {
        return;
    }
    // The earliest deadline, by the clock of the node (the same one answered the read).
    let alive_until_us = match (&last.kind, &last.outcome) {
        (Kind::Set { px_ms: None, .. }, _) => i64::MAX,
        (
            Kind::Set {
                px_ms: Some(ms), ..
            },
            _,
        ) => clocks.earliest_deadline_us(last, *ms),
        // 1: the key existed with a TTL and now has none, or has `ms` more.
        (Kind::Persist, Outcome::Ok(Value::Int(1))) => i64::MAX,
        (Kind::Pexpire { ms }, Outcome::Ok(Value::Int(1))) => {
            clocks.earliest_deadline_us(last, *ms)
        }
        _ => return,
    };
    let alive_until_us =
        alive_until_us.saturating_sub(clocks.migration_slack_us(&read.key, read.end_us));
    let read_us = clocks.highest_reading_since_us(read, last.start_us);
    if read_us < alive_until_us {
        report.lose(last.id, vec![read.id], false);
    }
}
