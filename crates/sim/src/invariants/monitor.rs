//! The safety monitor: checks over every sample of a run in time order (one owner per
//! slot per config epoch, epochs never going back, also across restarts).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{fmt_ms, ranges_text, short, Sample};
use crate::report::{Violation, ViolationKind};

/// Who claimed a slot at an epoch, and where that was seen.
#[derive(Clone, Debug)]
struct Claim {
    owner: String,
    owner_addr: String,
    seen_by: String,
    time_ms: u64,
}

/// Last epochs seen for one node ID.
#[derive(Clone, Debug)]
struct EpochMark {
    current: u64,
    /// Its own config epoch while it was a master.
    config: Option<u64>,
    node: String,
    time_ms: u64,
}

/// How many violations of one name a run reports; the rest are counted in the last one.
pub const MAX_REPORTED_PER_NAME: usize = 5;

/// The history invariants, fed every sample of a run in time order.
///
/// Names: `slot_epoch_conflict` (two owners of one slot at one config epoch, across all views
/// and times; see [`SafetyMonitor::only_agreed_epochs`]), `current_epoch_behind` (a node's `currentEpoch` below a config epoch it shows),
/// `epoch_decreased` (a node ID's `currentEpoch`, or its own config epoch as a master, went
/// down, also across restarts).
#[derive(Debug)]
pub struct SafetyMonitor {
    /// Per config epoch, the slot ranges claimed first and by whom.
    claims: BTreeMap<u64, Vec<(u16, u16, Claim)>>,
    checked_signatures: HashSet<u64>,
    epochs: BTreeMap<String, EpochMark>,
    /// `(time_ms, node)` of every restart, to say whether a decrease spans one.
    restarts: Vec<(u64, String)>,
    reported: BTreeSet<String>,
    violations: Vec<Violation>,
    suppressed: BTreeMap<ViolationKind, usize>,
    samples: usize,
    /// Kept apart from `violations` until the end: see [`Self::only_agreed_epochs`].
    epoch_conflicts: Vec<EpochConflict>,
    agreed_epochs: Option<BTreeSet<(String, u64)>>,
}

/// Two owners of one slot at one config epoch.
#[derive(Clone, Debug)]
struct EpochConflict {
    epoch: u64,
    owner_addrs: [String; 2],
    evidence: String,
}

impl Default for SafetyMonitor {
    fn default() -> Self {
        SafetyMonitor::new()
    }
}

impl SafetyMonitor {
    /// A monitor that has seen nothing yet.
    pub fn new() -> SafetyMonitor {
        SafetyMonitor {
            claims: BTreeMap::new(),
            checked_signatures: HashSet::new(),
            epochs: BTreeMap::new(),
            restarts: Vec::new(),
            reported: BTreeSet::new(),
            violations: Vec::new(),
            suppressed: BTreeMap::new(),
            samples: 0,
            epoch_conflicts: Vec::new(),
            agreed_epochs: None,
        }
    }

    /// Notes that `node` (re)started at `time_ms`; evidence then says so.
    pub fn note_restart(&mut self, time_ms: u64, node: &str) {
        self.restarts.push((time_ms, node.to_string()));
    }

    /// How many samples [`Self::observe`] has checked.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Checks one sample against everything seen before it.
    pub fn observe(&mut self, sample: &Sample) {
        self.samples += 1;
        self.check_current_epoch_covers(sample);
        self.check_epochs_monotonic(sample);
        if self.checked_signatures.insert(sample.ownership_signature()) {
            self.check_slot_claims(sample);
        }
    }

    /// From now on, a `slot_epoch_conflict` counts only between two owners that both took
    /// their epoch by agreement: `agreed` holds `(addr, epoch)` of every election won (and of
    /// `CLUSTER SET-CONFIG-EPOCH` at create). Redis lets an epoch a node takes alone
    /// (`CLUSTER FAILOVER TAKEOVER`, the collision bump, the bump after importing a slot)
    /// collide with another and separates the two afterwards.
    pub fn only_agreed_epochs(&mut self, agreed: BTreeSet<(String, u64)>) {
        self.agreed_epochs = Some(agreed);
    }

    /// The violations found, with a count of the ones left out per name.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all = self.violations.clone();
        let mut suppressed = self.suppressed.clone();
        let conflicts = self.epoch_conflicts.iter().filter(|c| {
            self.agreed_epochs.as_ref().is_none_or(|agreed| {
                c.owner_addrs
                    .iter()
                    .all(|a| agreed.contains(&(a.clone(), c.epoch)))
            })
        });
        for (shown, conflict) in conflicts.enumerate() {
            if shown < MAX_REPORTED_PER_NAME {
                all.push(Violation::new(
                    ViolationKind::SlotEpochConflict,
                    conflict.evidence.clone(),
                ));
            } else {
                *suppressed
                    .entry(ViolationKind::SlotEpochConflict)
                    .or_insert(0) += 1;
            }
        }
        for (&kind, count) in &suppressed {
            all.push(Violation::new(
                kind,
                format!("… and {count} more like the above"),
            ));
        }
        all
    }

    fn report(&mut self, kind: ViolationKind, key: String, evidence: String) {
        if !self.reported.insert(format!("{kind} {key}")) {
            return;
        }
        let shown = self.violations.iter().filter(|v| v.kind == kind).count();
        if shown < MAX_REPORTED_PER_NAME {
            self.violations.push(Violation::new(kind, evidence));
        } else {
            *self.suppressed.entry(kind).or_insert(0) += 1;
        }
    }

    fn check_slot_claims(&mut self, sample: &Sample) {
        // (slot, claim it conflicts with) for this view, grouped into ranges afterwards.
        let mut conflicts: BTreeMap<(u64, String, String), Vec<usize>> = BTreeMap::new();
        let mut witnesses: BTreeMap<(u64, String, String), Claim> = BTreeMap::new();
        for line in sample.lines.iter().filter(|l| !l.slots.is_empty()) {
            // Epoch 0 means "never assigned" (a node before create or a new node just given
            // slots by an operator): Redis resolves those by bumping, so they prove nothing.
            if line.config_epoch == 0 {
                continue;
            }
            let epoch = line.config_epoch;
            for &(lo, hi) in &line.slots {
                let known = self.claims.entry(epoch).or_default();
                let mut covered = false;
                for (c_lo, c_hi, c) in known.iter() {
                    let (from, to) = (lo.max(*c_lo), hi.min(*c_hi));
                    if from > to {
                        continue;
                    }
                    if c.owner == line.id {
                        covered |= *c_lo <= lo && hi <= *c_hi;
                        continue;
                    }
                    let key = (epoch, c.owner.clone(), line.id.clone());
                    conflicts
                        .entry(key.clone())
                        .or_default()
                        .extend(usize::from(from)..=usize::from(to));
                    witnesses.entry(key).or_insert_with(|| c.clone());
                }
                // Every owner's first claim is kept, clashing or not, so that each pair of
                // owners at one epoch is compared (whether it counts is decided at the end).
                if !covered {
                    known.push((
                        lo,
                        hi,
                        Claim {
                            owner: line.id.clone(),
                            owner_addr: line.addr.clone(),
                            seen_by: sample.node.clone(),
                            time_ms: sample.time_ms,
                        },
                    ));
                }
            }
        }
        for ((epoch, first, second), mut slots) in conflicts {
            slots.sort_unstable();
            slots.dedup();
            let witness = &witnesses[&(epoch, first.clone(), second.clone())];
            let addr = sample
                .lines
                .iter()
                .find(|l| l.id == second)
                .map_or("?", |l| l.addr.as_str());
            if !self
                .reported
                .insert(format!("slot_epoch_conflict {epoch} {first} {second}"))
            {
                continue;
            }
            let evidence = format!(
                "slots {} at config epoch {epoch}: {} at {} says owner {} ({}), {} at {} says \
                 owner {} ({addr})",
                ranges_text(&slots),
                witness.seen_by,
                fmt_ms(witness.time_ms),
                short(&first),
                witness.owner_addr,
                sample.node,
                fmt_ms(sample.time_ms),
                short(&second),
            );
            self.epoch_conflicts.push(EpochConflict {
                epoch,
                owner_addrs: [witness.owner_addr.clone(), addr.to_string()],
                evidence,
            });
        }
    }

    fn check_current_epoch_covers(&mut self, sample: &Sample) {
        let Some(top) = sample.lines.iter().max_by_key(|l| l.config_epoch) else {
            return;
        };
        if top.config_epoch > sample.current_epoch {
            self.report(
                ViolationKind::CurrentEpochBehind,
                format!(
                    "{} {} {}",
                    sample.node, sample.current_epoch, top.config_epoch
                ),
                format!(
                    "{} at {}: cluster_current_epoch {} but it shows {} ({}) at config epoch {}",
                    sample.node,
                    fmt_ms(sample.time_ms),
                    sample.current_epoch,
                    short(&top.id),
                    top.addr,
                    top.config_epoch
                ),
            );
        }
    }

    fn restarted_between(&self, node: &str, from_ms: u64, to_ms: u64) -> Option<u64> {
        self.restarts
            .iter()
            .find(|(t, n)| n == node && *t > from_ms && *t <= to_ms)
            .map(|(t, _)| *t)
    }

    fn check_epochs_monotonic(&mut self, sample: &Sample) {
        let Some(me) = sample.myself() else {
            return;
        };
        let config = me.is_master().then_some(me.config_epoch);
        let mark = EpochMark {
            current: sample.current_epoch,
            config,
            node: sample.node.clone(),
            time_ms: sample.time_ms,
        };
        let Some(prev) = self.epochs.insert(me.id.clone(), mark) else {
            return;
        };
        let across = match self.restarted_between(&sample.node, prev.time_ms, sample.time_ms) {
            Some(t) => format!(" (restarted at {})", fmt_ms(t)),
            None => String::new(),
        };
        if sample.current_epoch < prev.current {
            self.report(
                ViolationKind::EpochDecreased,
                format!(
                    "current {} {} {}",
                    me.id, prev.current, sample.current_epoch
                ),
                format!(
                    "{} ({}): cluster_current_epoch {} at {} on {}, then {} at {}{across}",
                    sample.node,
                    short(&me.id),
                    prev.current,
                    fmt_ms(prev.time_ms),
                    prev.node,
                    sample.current_epoch,
                    fmt_ms(sample.time_ms)
                ),
            );
        }
        if let (Some(before), Some(now)) = (prev.config, config) {
            if now < before {
                self.report(
                    ViolationKind::EpochDecreased,
                    format!("config {} {before} {now}", me.id),
                    format!(
                        "{} ({}): own config epoch {before} at {}, then {now} at {}{across}",
                        sample.node,
                        short(&me.id),
                        fmt_ms(prev.time_ms),
                        fmt_ms(sample.time_ms)
                    ),
                );
            }
        }
    }
}
