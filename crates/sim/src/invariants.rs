//! Named invariants over the nodes' `CLUSTER NODES` / `CLUSTER INFO` views. Each returns the
//! violations it finds, with the evidence a person needs to start debugging (which node, at
//! which virtual time, which views disagree and how).
//!
//! Two kinds. Point-in-time checks are pure functions of a set of views: [`views_agree`]
//! (liveness: one answer for all 16384 slots), [`config_epochs_distinct`] (once settled),
//! [`states_ok`], and the fault-free [`no_failing_flags`] / [`no_stale_pings`]. History checks
//! need every sample of a run in time order, so they live in [`SafetyMonitor`]: at most one
//! owner per slot per config epoch across all views ever seen, `currentEpoch` never below a
//! config epoch a node shows, and no epoch of a node ever going down, also across restarts.
//!
//! Everything here is plain data, unit-tested in the normal build, and reused by every
//! scenario.

use std::collections::{BTreeMap, BTreeSet, HashSet};

pub mod elections;
pub mod failover;
pub mod updates;

use crate::node_idx::NodeIdx;
use crate::report::Violation;
use crate::trace::Fnv64;
use crate::view::{describe_owners, slot_owners, NodeLine, SLOTS};

/// Every view lists `node_count` nodes with exactly one `myself` line; no view gives a slot two
/// owners; every view covers all 16384 slots; all views agree on every slot's owner.
///
/// Names: `view_membership`, `slot_double_owner`, `slot_coverage`, `slot_agreement`.
pub fn views_agree(views: &[(String, Vec<NodeLine>)], node_count: usize) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reference: Option<(&str, Vec<Option<String>>)> = None;
    for (name, lines) in views {
        let myself = lines.iter().filter(|l| l.is_myself()).count();
        if lines.len() != node_count || myself != 1 {
            violations.push(Violation::new(
                "view_membership",
                format!(
                    "{name} lists {} nodes ({myself} myself), want {node_count} (1)",
                    lines.len()
                ),
            ));
        }
        let owners = match slot_owners(lines) {
            Ok(o) => o,
            Err(e) => {
                violations.push(Violation::new("slot_double_owner", format!("{name}: {e}")));
                continue;
            }
        };
        if owners.iter().any(Option::is_none) {
            violations.push(Violation::new(
                "slot_coverage",
                format!("{name}: {}", describe_owners(&owners)),
            ));
        }
        match &reference {
            None => reference = Some((name, owners)),
            Some((first, first_owners)) if *first_owners != owners => {
                violations.push(Violation::new(
                    "slot_agreement",
                    format!(
                        "{first}: {} | {name}: {}",
                        describe_owners(first_owners),
                        describe_owners(&owners)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    violations
}

/// `(owner id, merged slot ranges)` of every line with slots, sorted by id; `None` when the
/// ranges overlap or leave a slot uncovered.
/// Who owns what in one view: `(owner id, its merged slot ranges)`, sorted by id.
type Ownership<'a> = Vec<(&'a str, Vec<(u16, u16)>)>;

fn ownership_if_covering(lines: &[NodeLine]) -> Option<Ownership<'_>> {
    let mut all: Vec<(u16, u16)> = lines.iter().flat_map(|l| l.slots.iter().copied()).collect();
    all.sort_unstable();
    let mut next = 0usize;
    for (lo, hi) in all {
        if usize::from(lo) != next {
            return None;
        }
        next = usize::from(hi) + 1;
    }
    if next != SLOTS {
        return None;
    }
    let mut owners: Ownership<'_> = lines
        .iter()
        .filter(|l| !l.slots.is_empty())
        .map(|l| {
            let mut ranges = l.slots.clone();
            ranges.sort_unstable();
            let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
            for (lo, hi) in ranges {
                match merged.last_mut() {
                    Some(last) if usize::from(last.1) + 1 == usize::from(lo) => last.1 = hi,
                    _ => merged.push((lo, hi)),
                }
            }
            (l.id.as_str(), merged)
        })
        .collect();
    owners.sort_unstable();
    Some(owners)
}

/// Exactly when [`views_agree`] finds nothing, without building per-slot tables: the cheap
/// test the liveness phase polls with.
pub fn views_agree_quickly(views: &[(String, Vec<NodeLine>)], node_count: usize) -> bool {
    let mut reference = None;
    for (_, lines) in views {
        let myself = lines.iter().filter(|l| l.is_myself()).count();
        if lines.len() != node_count || myself != 1 {
            return false;
        }
        let Some(owners) = ownership_if_covering(lines) else {
            return false;
        };
        match &reference {
            None => reference = Some(owners),
            Some(first) if *first != owners => return false,
            Some(_) => {}
        }
    }
    true
}

/// Without faults, no node flags a peer `fail?` or `fail` (name `peer_flagged_failing`).
pub fn no_failing_flags(node: &str, lines: &[NodeLine]) -> Vec<Violation> {
    lines
        .iter()
        .filter(|l| l.has_flag("fail?") || l.has_flag("fail"))
        .map(|l| {
            Violation::new(
                "peer_flagged_failing",
                format!(
                    "{node} flags {} {} ({}) without any fault",
                    l.id,
                    l.addr,
                    l.flags.join(",")
                ),
            )
        })
        .collect()
}

/// Without faults, every ping is answered well within the node timeout: a `ping-sent` older
/// than `node_timeout_ms` at `now_ms` (the node's unix clock) means a PONG was lost or never
/// recorded (name `ping_unanswered`). Redis would have flagged such a peer PFAIL by then.
pub fn no_stale_pings(
    node: &str,
    lines: &[NodeLine],
    now_ms: u64,
    node_timeout_ms: u64,
) -> Vec<Violation> {
    lines
        .iter()
        .filter(|l| l.ping_sent_ms != 0 && now_ms.saturating_sub(l.ping_sent_ms) > node_timeout_ms)
        .map(|l| {
            Violation::new(
                "ping_unanswered",
                format!(
                    "{node}: ping to {} {} pending {} ms (node timeout {node_timeout_ms} ms), \
                     pong-recv {}, flags {}",
                    l.id,
                    l.addr,
                    now_ms.saturating_sub(l.ping_sent_ms),
                    l.pong_recv_ms,
                    l.flags.join(",")
                ),
            )
        })
        .collect()
}

/// `12.345s`: virtual milliseconds as evidence shows them.
pub fn fmt_ms(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Inclusive ranges of a sorted slot list: `0-5,9`.
fn ranges_text(slots: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i;
        while j + 1 < slots.len() && slots[j + 1] == slots[j] + 1 {
            j += 1;
        }
        parts.push(range_text(slots[i], slots[j]));
        i = j + 1;
    }
    parts.join(",")
}

pub(crate) use clusterlab_core::text::range_text;

/// One node's answer to `CLUSTER NODES` then `CLUSTER INFO`, at one virtual moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// `node1`, … (the machine, whatever node ID it runs now).
    pub node: String,
    /// Virtual ms since the run started.
    pub time_ms: u64,
    pub lines: Vec<NodeLine>,
    /// `cluster_current_epoch` (read after `CLUSTER NODES`, so it can only be newer).
    pub current_epoch: u64,
    /// `cluster_state`: `ok` or `fail`.
    pub cluster_state: String,
}

impl Sample {
    pub fn myself(&self) -> Option<&NodeLine> {
        self.lines.iter().find(|l| l.is_myself())
    }

    /// A hash of who owns what at which epoch in this view: equal views need checking once.
    fn ownership_signature(&self) -> u64 {
        let mut owners: Vec<&NodeLine> =
            self.lines.iter().filter(|l| !l.slots.is_empty()).collect();
        owners.sort_by(|a, b| a.id.cmp(&b.id));
        let mut hash = Fnv64::new();
        for owner in owners {
            hash.write(owner.id.as_bytes());
            hash.write(&owner.config_epoch.to_le_bytes());
            for &(lo, hi) in &owner.slots {
                hash.write(&lo.to_le_bytes());
                hash.write(&hi.to_le_bytes());
            }
            hash.write(b"\n");
        }
        hash.finish()
    }
}

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
    suppressed: BTreeMap<String, usize>,
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
                    "slot_epoch_conflict",
                    conflict.evidence.clone(),
                ));
            } else {
                *suppressed
                    .entry("slot_epoch_conflict".to_string())
                    .or_insert(0) += 1;
            }
        }
        for (name, count) in &suppressed {
            all.push(Violation::new(
                name.clone(),
                format!("… and {count} more like the above"),
            ));
        }
        all
    }

    fn report(&mut self, name: &str, key: String, evidence: String) {
        if !self.reported.insert(format!("{name} {key}")) {
            return;
        }
        let shown = self.violations.iter().filter(|v| v.name == name).count();
        if shown < MAX_REPORTED_PER_NAME {
            self.violations.push(Violation::new(name, evidence));
        } else {
            *self.suppressed.entry(name.to_string()).or_insert(0) += 1;
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
                "current_epoch_behind",
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
                "epoch_decreased",
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
                    "epoch_decreased",
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

/// Once settled, masters that serve slots have distinct config epochs in every view (name
/// `config_epoch_collision`); Redis's collision handling must have separated them.
pub fn config_epochs_distinct(views: &[(String, Vec<NodeLine>)]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reported = BTreeSet::new();
    for (name, lines) in views {
        let mut by_epoch: BTreeMap<u64, Vec<&NodeLine>> = BTreeMap::new();
        for line in lines
            .iter()
            .filter(|l| l.is_master() && !l.slots.is_empty())
        {
            by_epoch.entry(line.config_epoch).or_default().push(line);
        }
        for (epoch, masters) in by_epoch.into_iter().filter(|(_, m)| m.len() > 1) {
            let ids: Vec<String> = masters
                .iter()
                .map(|l| format!("{} ({})", short(&l.id), l.addr))
                .collect();
            if reported.insert((epoch, ids.clone())) {
                violations.push(Violation::new(
                    "config_epoch_collision",
                    format!(
                        "{name}: masters {} share config epoch {epoch}",
                        ids.join(", ")
                    ),
                ));
            }
        }
    }
    violations
}

/// The master a node followed as a replica, as its last sample before a promotion showed.
struct Followed {
    master_id: String,
    master_addr: String,
    /// When it was last sampled as that master's replica.
    replica_ms: u64,
}

/// Which master each node follows, as last sampled; the promotion checks walk the samples
/// through it.
#[derive(Default)]
struct Followers<'a> {
    following: BTreeMap<&'a str, Followed>,
}

impl<'a> Followers<'a> {
    /// Notes `sample`. When it shows its node as a master serving slots after samples of it as
    /// a replica, returns its own line and whom it followed until then.
    fn observe(&mut self, sample: &'a Sample) -> Option<(&'a NodeLine, Followed)> {
        let me = sample.myself()?;
        if !me.is_master() {
            let master = me.master.as_deref().and_then(|id| {
                let line = sample.lines.iter().find(|l| l.id == id)?;
                Some(Followed {
                    master_id: id.to_string(),
                    master_addr: line.addr.clone(),
                    replica_ms: sample.time_ms,
                })
            });
            if let Some(master) = master {
                self.following.insert(&sample.node, master);
            }
            return None;
        }
        if me.slots.is_empty() {
            return None;
        }
        let followed = self.following.remove(sample.node.as_str())?;
        Some((me, followed))
    }

    /// The nodes other than `node` that follow `master_id`.
    fn of(&self, master_id: &str, node: &str) -> Vec<&'a str> {
        self.following
            .iter()
            .filter(|(n, f)| f.master_id == master_id && **n != node)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// A replica that (re)started while its master could send nothing (crashed or paused), and
/// that became master before its master came back, was promoted without having heard from
/// its master since it started (name `stale_replica_promoted`). Redis refuses that failover:
/// until a replica first connects, its `repl_down_since` is 0 ("down since ever"), so its data
/// age exceeds any `cluster-replica-validity-factor`, and the writes its master acknowledged
/// meanwhile would be lost.
///
/// The promotion itself must fall after the restart, as the node's own log dates it (a
/// sample may show a node as a replica a moment after it won, and a node promoted just
/// before a crash restarts as a master). An operator's `CLUSTER FAILOVER` (TAKEOVER skips
/// every check) sent to the node between its restart and its first sample as a master
/// excuses the promotion.
///
/// `samples` in time order; `restarts` are `(node, ms)`; `down` are `(node, from ms, to ms)`
/// (`u64::MAX`: never came back); `promotions` are `(node, ms)` of each election won or
/// takeover; `manual_failovers` are `(node index, ms)`; `names` maps `ip:port` to node names.
pub fn stale_promotions(
    samples: &[Sample],
    restarts: &[(String, u64)],
    down: &[(String, u64, u64)],
    promotions: &[(String, u64)],
    manual_failovers: &[(usize, u64)],
    names: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut followers = Followers::default();
    for sample in samples {
        let Some((
            me,
            Followed {
                master_id,
                master_addr,
                ..
            },
        )) = followers.observe(sample)
        else {
            continue;
        };
        let promoted_ms = sample.time_ms;
        let Some(started_ms) = restarts
            .iter()
            .filter(|(n, t)| *n == sample.node && *t <= promoted_ms)
            .map(|(_, t)| *t)
            .max()
        else {
            continue;
        };
        // Sent since the restart: a node runs a request when it gets to it (a paused one
        // only when it resumes), so it may still show as a replica after the request left.
        let index = index_of_name(&sample.node);
        let manual = manual_failovers
            .iter()
            .any(|&(n, t)| Some(n) == index && t >= started_ms && t <= promoted_ms);
        let promoted_since_restart = promotions
            .iter()
            .any(|(n, t)| *n == sample.node && *t >= started_ms && *t <= promoted_ms);
        if manual || !promoted_since_restart {
            continue;
        }
        let Some(master_name) = names.get(&master_addr) else {
            continue;
        };
        let silent = down
            .iter()
            .find(|(n, from, to)| n == master_name && *from <= started_ms && *to >= promoted_ms);
        if let Some((_, from, to)) = silent {
            let until = if *to == u64::MAX {
                "the end".to_string()
            } else {
                fmt_ms(*to)
            };
            violations.push(Violation::new(
                "stale_replica_promoted",
                format!(
                    "{} restarted at {} while its master {master_name} ({}) was down ({} to \
                     {until}), and was master of {} slots by {} without having heard from it",
                    sample.node,
                    fmt_ms(started_ms),
                    short(&master_id),
                    fmt_ms(*from),
                    me.slots
                        .iter()
                        .map(|(lo, hi)| usize::from(hi - lo) + 1)
                        .sum::<usize>(),
                    fmt_ms(promoted_ms)
                ),
            ));
        }
    }
    violations
}

/// One request a node answered successfully, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedOp {
    /// `ip:port` of the node that gave the reply.
    pub addr: String,
    pub slot: u16,
    /// Virtual ms since the run started: sent, and answered.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Sent after `READONLY` on that connection (a replica may answer it for its master).
    pub readonly: bool,
    /// The request and its reply, for the evidence (`SET key:7 v12 -> +OK`).
    pub what: String,
}

/// Whether `line` (a node's own line in its view) serves `slot`: it owns it, imports it (an
/// `ASK`ed request may be answered then), or, for a `readonly` request, is a replica of the
/// master that owns it in the same view.
fn may_serve(lines: &[NodeLine], me: &NodeLine, slot: u16, readonly: bool) -> bool {
    let owns = |l: &NodeLine| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot));
    if owns(me) {
        return true;
    }
    let importing = me.open_slots.iter().any(|entry| {
        entry
            .trim_start_matches('[')
            .split_once("-<-")
            .is_some_and(|(s, _)| s.parse::<u16>() == Ok(slot))
    });
    if importing {
        return true;
    }
    readonly
        && !me.is_master()
        && me
            .master
            .as_deref()
            .and_then(|id| lines.iter().find(|l| l.id == id))
            .is_some_and(owns)
}

/// A node never serves a slot it does not own (name `served_unowned_slot`).
///
/// What a node owned at the instant it handled a request is not observable, only its
/// sampled views; so the check is deliberately one-sided. A request answered between
/// `[start_ms, end_ms]` is a violation only when every view of the answering node from the
/// last one taken before the request was sent to the first one surely taken after the reply
/// came back shows the same node ID at the same config epoch, neither owning the slot nor
/// importing it (nor, for a `READONLY` read, replicating its owner). A node gains a slot only
/// by a failover or a takeover (which raise its config epoch), by an import (visible as an
/// open slot first) or by an operator's `ADDSLOTS` (not done during the safety phase); so in
/// such a stretch it never owned the slot, and legitimate redirects, `ASK`s and
/// ownership changes never fire the check.
///
/// `samples` in time order. A sample's `time_ms` is when its reply arrived, so the view was
/// taken at or before it; `sample_gap_ms` is how long the sampler waits after a reply before
/// asking the same node again, so a view was taken at or after the previous reply of that
/// node plus the gap.
pub fn served_unowned(samples: &[Sample], ops: &[ServedOp], sample_gap_ms: u64) -> Vec<Violation> {
    // Per node address: (taken no earlier than, taken no later than, sample).
    let mut views: BTreeMap<&str, Vec<(u64, u64, &Sample)>> = BTreeMap::new();
    for sample in samples {
        let Some(me) = sample.myself() else { continue };
        let list = views.entry(me.addr.as_str()).or_default();
        let from_ms = list
            .last()
            .map_or(0, |&(_, prev_ms, _)| prev_ms + sample_gap_ms);
        // `time_ms` is the reply's arrival rounded down to the millisecond.
        list.push((from_ms, sample.time_ms + 1, sample));
    }
    let mut violations = Vec::new();
    let mut reported = 0usize;
    for op in ops {
        let Some(list) = views.get(op.addr.as_str()) else {
            continue;
        };
        let Some(first) = list.iter().rposition(|&(_, to, _)| to <= op.start_ms) else {
            continue;
        };
        let Some(last) = list.iter().position(|&(from, _, _)| from >= op.end_ms) else {
            continue;
        };
        let stretch = &list[first..=last];
        let (_, _, before) = stretch[0];
        let Some(me_before) = before.myself() else {
            continue;
        };
        let unowned_throughout = stretch.iter().all(|&(_, _, s)| {
            s.myself().is_some_and(|me| {
                me.id == me_before.id
                    && me.config_epoch == me_before.config_epoch
                    && !may_serve(&s.lines, me, op.slot, op.readonly)
            })
        });
        if !unowned_throughout {
            continue;
        }
        reported += 1;
        if reported > MAX_REPORTED_PER_NAME {
            continue;
        }
        let owner = before
            .lines
            .iter()
            .find(|l| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&op.slot)))
            .map_or("nobody".to_string(), |l| {
                format!("{} ({})", short(&l.id), l.addr)
            });
        let (_, _, after) = stretch[stretch.len() - 1];
        let after_ms = after.time_ms;
        violations.push(Violation::new(
            "served_unowned_slot",
            format!(
                "{} ({}) answered {} for slot {} between {} and {}, but its own views from {} \
                 to {} (config epoch {}, {}) give the slot to {owner} and import nothing",
                before.node,
                op.addr,
                op.what,
                op.slot,
                fmt_ms(op.start_ms),
                fmt_ms(op.end_ms),
                fmt_ms(before.time_ms),
                fmt_ms(after_ms),
                me_before.config_epoch,
                if me_before.is_master() {
                    "master"
                } else {
                    "replica"
                },
            ),
        ));
    }
    if reported > MAX_REPORTED_PER_NAME {
        violations.push(Violation::new(
            "served_unowned_slot",
            format!(
                "… and {} more like the above",
                reported - MAX_REPORTED_PER_NAME
            ),
        ));
    }
    violations
}

/// Who could send to whom over a run: the network faults of a schedule replayed in time,
/// with the stretches each node was down (crashed, paused or wiped).
///
/// Times are virtual ms since the run started; `offset_ms` is when the schedule's time 0 was
/// (the safety phase's start) and faults at or after `span_ms` are never applied, and all are
/// undone at `offset_ms + span_ms`, as the injector does.
#[derive(Clone, Debug)]
pub struct Connectivity {
    node_count: usize,
    /// Faults in application order, at run ms.
    faults: Vec<(u64, crate::faults::Fault)>,
    heal_all_ms: u64,
    /// `(node, from ms, to ms)`.
    down: Vec<(usize, u64, u64)>,
    /// Every moment something changes, sorted.
    changes: Vec<u64>,
}

/// The network as the faults left it at one moment.
#[derive(Clone, Debug, Default)]
struct NetState {
    groups: Vec<Vec<usize>>,
    links: BTreeSet<(usize, usize)>,
    clogged: BTreeMap<usize, crate::faults::Direction>,
    /// Latency or packet loss other than madsim's defaults.
    degraded: bool,
}

impl Connectivity {
    pub fn new(
        schedule: &crate::faults::FaultSchedule,
        node_count: usize,
        offset_ms: u64,
        span_ms: u64,
        down: Vec<(usize, u64, u64)>,
    ) -> Connectivity {
        let faults: Vec<(u64, crate::faults::Fault)> = schedule
            .iter()
            .filter(|f| f.at_ms < span_ms)
            .map(|f| (offset_ms + f.at_ms, f.fault.clone()))
            .collect();
        let heal_all_ms = offset_ms + span_ms;
        let mut changes: Vec<u64> = faults.iter().map(|&(t, _)| t).collect();
        changes.push(heal_all_ms);
        for &(_, from, to) in &down {
            changes.push(from);
            changes.push(to);
        }
        changes.sort_unstable();
        changes.dedup();
        Connectivity {
            node_count,
            faults,
            heal_all_ms,
            down,
            changes,
        }
    }

    fn state_at(&self, t_ms: u64) -> NetState {
        use crate::faults::{Fault, DEFAULT_LATENCY_MS};
        let mut state = NetState::default();
        if t_ms >= self.heal_all_ms {
            return state;
        }
        let (mut latency, mut loss) = (false, false);
        for (_, fault) in self.faults.iter().take_while(|(at, _)| *at <= t_ms) {
            match fault {
                Fault::Partition { groups } => state.groups = groups.clone(),
                Fault::Heal => state.groups.clear(),
                Fault::ClogLink { from, to } => {
                    state.links.insert((*from, *to));
                }
                Fault::UnclogLink { from, to } => {
                    state.links.remove(&(*from, *to));
                }
                Fault::ClogNode { node, direction } => {
                    state.clogged.insert(*node, *direction);
                }
                Fault::UnclogNode { node } => {
                    state.clogged.remove(node);
                }
                Fault::Latency { min_ms, max_ms } => {
                    latency = (*min_ms, *max_ms) != DEFAULT_LATENCY_MS;
                }
                Fault::PacketLoss { permille } => loss = *permille > 0,
                _ => {}
            }
        }
        state.degraded = latency || loss;
        state
    }

    /// Whether `node` runs at `t_ms`.
    pub fn up(&self, node: usize, t_ms: u64) -> bool {
        !self
            .down
            .iter()
            .any(|&(n, from, to)| n == node && from <= t_ms && t_ms < to)
    }

    fn group_of(&self, state: &NetState, node: usize) -> Option<usize> {
        if state.groups.is_empty() {
            return None;
        }
        Some(
            state
                .groups
                .iter()
                .position(|g| g.contains(&node))
                .unwrap_or(state.groups.len()),
        )
    }

    /// Whether traffic from `from` reaches `to` at `t_ms` (both run, nothing clogged between).
    pub fn can_send(&self, from: usize, to: usize, t_ms: u64) -> bool {
        use crate::faults::Direction;
        if !self.up(from, t_ms) || !self.up(to, t_ms) {
            return false;
        }
        let state = self.state_at(t_ms);
        let out_blocked = matches!(
            state.clogged.get(&from),
            Some(Direction::Out | Direction::Both)
        );
        let in_blocked = matches!(
            state.clogged.get(&to),
            Some(Direction::In | Direction::Both)
        );
        !out_blocked
            && !in_blocked
            && !state.links.contains(&(from, to))
            && self.group_of(&state, from) == self.group_of(&state, to)
    }

    /// Whether latency or packet loss differed from the defaults at `t_ms`.
    pub fn degraded(&self, t_ms: u64) -> bool {
        self.state_at(t_ms).degraded
    }

    /// `t_ms` and every change point in `(from_ms, to_ms]`: where a condition that holds on
    /// each of them holds over the whole stretch.
    pub(crate) fn checkpoints(&self, from_ms: u64, to_ms: u64) -> Vec<u64> {
        let mut points = vec![from_ms];
        points.extend(
            self.changes
                .iter()
                .copied()
                .filter(|&c| c > from_ms && c <= to_ms),
        );
        points
    }

    /// Whether `from` could send to `to` during all of `[from_ms, to_ms]`.
    pub fn linked_throughout(&self, from: usize, to: usize, from_ms: u64, to_ms: u64) -> bool {
        self.checkpoints(from_ms, to_ms)
            .into_iter()
            .all(|t| self.can_send(from, to, t))
    }

    /// The last moment at or before `until_ms` at which `from` could send to `to` (`None`:
    /// never since the run started).
    pub fn last_delivery(&self, from: usize, to: usize, until_ms: u64) -> Option<u64> {
        if self.can_send(from, to, until_ms) {
            return Some(until_ms);
        }
        // Between two change points nothing changes: test each stretch at its start.
        let mut starts: Vec<u64> = vec![0];
        starts.extend(self.changes.iter().copied().filter(|&c| c < until_ms));
        starts.dedup();
        for (i, &start) in starts.iter().enumerate().rev() {
            if self.can_send(from, to, start) {
                let end = starts.get(i + 1).copied().unwrap_or(until_ms);
                return Some(end.min(until_ms));
            }
        }
        None
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Every moment something changes, in order: conditions are constant in between.
    pub fn change_points(&self) -> &[u64] {
        &self.changes
    }

    /// Whether `node`'s disk was wiped at or before `t_ms` (it runs under a new ID since).
    pub fn wiped_by(&self, node: usize, t_ms: u64) -> bool {
        self.faults.iter().any(|(at, f)| {
            *at <= t_ms && matches!(f, crate::faults::Fault::WipeRestart { node: n } if *n == node)
        })
    }
}

/// How long a replica must have been cut off from its master (while a sibling kept
/// replicating) before its promotion counts as stale: two node timeouts.
pub const STALE_CUT_OFF_NODE_TIMEOUTS: u64 = 2;
/// How long a write takes to reach a connected replica, for "the sibling has it".
const REPLICATION_MS: u64 = 200;

/// `nodeN` → N-1.
pub(crate) fn index_of_name(name: &str) -> Option<usize> {
    NodeIdx::from_name(name).map(|n| n.0)
}

/// A replica cut off from its master for a long time, while a sibling replica kept
/// replicating and stayed available, must not be the one promoted (name
/// `stale_replica_promoted`, the partition case; [`stale_promotions`] covers restarts).
///
/// Redis prefers the freshest replica: each replica delays its election by 1 s per sibling
/// with a larger replication offset (learnt from their pings), and a master votes for only
/// one replica of a failed master per two node timeouts. So when replica R is promoted
/// although
/// - R could not hear its master M for more than [`STALE_CUT_OFF_NODE_TIMEOUTS`] node
///   timeouts before the promotion, and
/// - a sibling S (a replica of M then too) heard M at least a node timeout later than R did,
///   and M acknowledged a write in between that reached S (so S's offset is larger), and
/// - S was up, not restarted, and linked both ways to every node but M (R included) for the
///   two node timeouts before the promotion, with no latency or packet-loss fault, and no
///   manual failover was sent to R in that stretch,
///
/// then S's election ran first with every vote in reach, and R's promotion skipped it.
///
/// `acked_writes`: `(master addr, acknowledged at ms)`; `names`: `ip:port` → node name.
pub fn stale_partitioned_promotions(
    samples: &[Sample],
    net: &Connectivity,
    schedule_failovers: &[(usize, u64)],
    acked_writes: &[(String, u64)],
    node_timeout_ms: u64,
    names: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut followers = Followers::default();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    for sample in samples {
        let Some((_, followed)) = followers.observe(sample) else {
            continue;
        };
        let Followed {
            master_id,
            master_addr,
            replica_ms,
        } = followed;
        let promoted_ms = sample.time_ms;
        let (Some(r), Some(m)) = (
            index_of_name(&sample.node),
            names.get(&master_addr).and_then(|n| index_of_name(n)),
        ) else {
            continue;
        };
        let Some(heard_r) = net.last_delivery(m, r, replica_ms) else {
            continue;
        };
        if promoted_ms.saturating_sub(heard_r) <= STALE_CUT_OFF_NODE_TIMEOUTS * node_timeout_ms {
            continue;
        }
        let window_from = replica_ms.saturating_sub(2 * node_timeout_ms);
        let manual = schedule_failovers
            .iter()
            .any(|&(n, t)| n == r && t + 3 * node_timeout_ms >= window_from && t <= promoted_ms);
        if manual {
            continue;
        }
        let siblings = followers.of(&master_id, &sample.node);
        for sibling in siblings {
            let Some(s) = index_of_name(sibling) else {
                continue;
            };
            let Some(heard_s) = net.last_delivery(m, s, replica_ms) else {
                continue;
            };
            if heard_s < heard_r + node_timeout_ms {
                continue;
            }
            let carried = acked_writes.iter().any(|(addr, at_ms)| {
                *addr == master_addr
                    && *at_ms > heard_r
                    && net.linked_throughout(m, s, *at_ms, *at_ms + REPLICATION_MS)
            });
            let available = (0..net.node_count())
                .filter(|&n| n != m && n != s)
                .all(|n| {
                    net.linked_throughout(s, n, window_from, promoted_ms)
                        && net.linked_throughout(n, s, window_from, promoted_ms)
                })
                && net
                    .checkpoints(window_from, promoted_ms)
                    .into_iter()
                    .all(|t| !net.degraded(t));
            if !carried || !available {
                continue;
            }
            if !reported.insert((sample.node.clone(), sibling.to_string())) {
                continue;
            }
            violations.push(Violation::new(
                "stale_replica_promoted",
                format!(
                    "{} was promoted by {} (replica until {}) in place of its master {} ({}), \
                     which it had not heard since {}; its sibling {sibling} had heard it until \
                     {} (with writes {} acknowledged since) and was up and reachable throughout",
                    sample.node,
                    fmt_ms(promoted_ms),
                    fmt_ms(replica_ms),
                    names.get(&master_addr).map_or("?", String::as_str),
                    short(&master_id),
                    fmt_ms(heard_r),
                    fmt_ms(heard_s),
                    master_addr,
                ),
            ));
        }
    }
    violations
}

/// Every node says `cluster_state:ok` (name `cluster_not_ok`); `states` are `(node, state or
/// error text)`.
pub fn states_ok(states: &[(String, String)], context: &str) -> Vec<Violation> {
    let bad: Vec<String> = states
        .iter()
        .filter(|(_, s)| s != "ok")
        .map(|(n, s)| format!("{n}={s}"))
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let all: Vec<String> = states.iter().map(|(n, s)| format!("{n}={s}")).collect();
    vec![Violation::new(
        "cluster_not_ok",
        format!("{context}: {} (all: {})", bad.join(" "), all.join(" ")),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::parse_cluster_nodes;

    fn view(name: &str, text: &str) -> (String, Vec<NodeLine>) {
        (name.to_string(), parse_cluster_nodes(text).unwrap())
    }

    const A: &str = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
                     b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
    const B: &str = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 0-8191\n\
                     b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 8192-16383\n";

    fn names(violations: &[Violation]) -> Vec<&str> {
        names_of(violations)
    }

    fn names_of(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.name.as_str()).collect()
    }

    #[test]
    fn agreeing_views_pass() {
        assert!(views_agree(&[view("n1", A), view("n2", B)], 2).is_empty());
    }

    #[test]
    fn each_disagreement_is_named() {
        // b thinks it also owns slot 0..=10 → disagreement; also a's view is short one node.
        let b_greedy = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 11-8191\n\
                        b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-10 8192-16383\n";
        let v = views_agree(&[view("n1", A), view("n2", b_greedy)], 2);
        assert_eq!(names(&v), vec!["slot_agreement"]);
        assert!(
            v[0].evidence.contains("n2: a: 11-8191; b: 0-10,8192-16383"),
            "{}",
            v[0].evidence
        );

        let v = views_agree(&[view("n1", A)], 3);
        assert_eq!(names(&v), vec!["view_membership"]);

        let uncovered = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8190\n\
                         b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        let v = views_agree(&[view("n1", uncovered)], 2);
        assert_eq!(names(&v), vec!["slot_coverage"]);
        assert!(v[0].evidence.contains("unassigned: 8191"));

        let double = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8192\n\
                      b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        assert_eq!(
            names(&views_agree(&[view("n1", double)], 2)),
            vec!["slot_double_owner"]
        );
    }

    #[test]
    fn failing_flags_and_stale_pings() {
        let (_, lines) = view(
            "n1",
            "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8191\n\
             b 10.0.0.2:7002@17002 master,fail? - 1000 500 2 connected 8192-16383\n",
        );
        assert_eq!(
            names(&no_failing_flags("n1", &lines)),
            vec!["peer_flagged_failing"]
        );
        assert!(no_failing_flags("n1", &parse_cluster_nodes(A).unwrap()).is_empty());

        // ping sent at 1000: fine up to 1000 + timeout, stale after.
        assert!(no_stale_pings("n1", &lines, 6000, 5000).is_empty());
        let v = no_stale_pings("n1", &lines, 6001, 5000);
        assert_eq!(names(&v), vec!["ping_unanswered"]);
        assert!(
            v[0].evidence.contains("pending 5001 ms"),
            "{}",
            v[0].evidence
        );
    }

    fn sample(node: &str, time_ms: u64, current_epoch: u64, text: &str) -> Sample {
        Sample {
            node: node.to_string(),
            time_ms,
            lines: parse_cluster_nodes(text).unwrap(),
            current_epoch,
            cluster_state: "ok".to_string(),
        }
    }

    #[test]
    fn one_owner_per_slot_per_epoch_across_views() {
        let mut m = SafetyMonitor::new();
        m.observe(&sample("n1", 1000, 2, A));
        m.observe(&sample("n2", 1000, 2, B));
        // b takes slots 0-10 with a higher epoch: legitimate.
        let moved = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 11-8191\n\
                     b 10.0.0.2:7002@17002 master - 0 100 3 connected 0-10 8192-16383\n";
        m.observe(&sample("n1", 2000, 3, moved));
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        // c claims 5-6 at epoch 1, which a already holds at epoch 1.
        let clash = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 11-8191\n\
                     c 10.0.0.3:7003@17003 myself,master - 0 0 1 connected 5-6\n";
        m.observe(&sample("n3", 2500, 3, clash));
        let v = m.violations();
        assert_eq!(names(&v), vec!["slot_epoch_conflict"]);
        assert_eq!(
            v[0].evidence,
            "slots 5-6 at config epoch 1: n1 at 1.000s says owner a (10.0.0.1:7001), \
             n3 at 2.500s says owner c (10.0.0.3:7003)"
        );
        // Seen again: reported once.
        m.observe(&sample("n3", 3000, 3, clash));
        assert_eq!(m.violations().len(), 1);
        // Epoch 0 claims are ignored.
        let zero = "d 10.0.0.4:7004@17004 myself,master - 0 0 0 connected 0-100\n";
        m.observe(&sample("n4", 3000, 3, zero));
        assert_eq!(m.violations().len(), 1);
        // Both won epoch 1 by election: a real conflict. c took it alone (TAKEOVER, a
        // collision bump): Redis separates the two afterwards.
        let agreed = |claims: &[(&str, u64)]| {
            claims
                .iter()
                .map(|&(a, e)| (a.to_string(), e))
                .collect::<BTreeSet<_>>()
        };
        m.only_agreed_epochs(agreed(&[("10.0.0.1:7001", 1), ("10.0.0.3:7003", 1)]));
        assert_eq!(m.violations().len(), 1);
        m.only_agreed_epochs(agreed(&[("10.0.0.1:7001", 1), ("10.0.0.3:7003", 2)]));
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        // A third owner at epoch 1 is compared with each of the first two.
        let third = "e 10.0.0.5:7005@17005 myself,master - 0 0 1 connected 5-5\n";
        m.observe(&sample("n5", 3500, 3, third));
        m.only_agreed_epochs(agreed(&[("10.0.0.3:7003", 1), ("10.0.0.5:7005", 1)]));
        let v = m.violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].evidence.contains("owner c (10.0.0.3:7003)"),
            "{}",
            v[0].evidence
        );
        assert!(
            v[0].evidence.contains("owner e (10.0.0.5:7005)"),
            "{}",
            v[0].evidence
        );
    }

    #[test]
    fn current_epoch_must_cover_config_epochs() {
        let mut m = SafetyMonitor::new();
        m.observe(&sample("n1", 1500, 1, A));
        let v = m.violations();
        assert_eq!(names(&v), vec!["current_epoch_behind"]);
        assert_eq!(
            v[0].evidence,
            "n1 at 1.500s: cluster_current_epoch 1 but it shows b (10.0.0.2:7002) at config epoch 2"
        );
    }

    #[test]
    fn epochs_never_decrease_even_across_restarts() {
        let mut m = SafetyMonitor::new();
        m.observe(&sample("n1", 1000, 5, A));
        m.observe(&sample("n1", 2000, 5, A));
        assert!(m.violations().is_empty());
        m.note_restart(2500, "n1");
        m.observe(&sample("n1", 3000, 4, A));
        // a's own config epoch drops from 1 to 0 (as a master).
        let lower = "a 10.0.0.1:7001@17001 myself,master - 0 0 0 connected 0-8191\n";
        m.observe(&sample("n1", 4000, 5, lower));
        let v = m.violations();
        assert_eq!(names(&v), vec!["epoch_decreased", "epoch_decreased"]);
        assert_eq!(
            v[0].evidence,
            "n1 (a): cluster_current_epoch 5 at 2.000s on n1, then 4 at 3.000s (restarted at 2.500s)"
        );
        assert_eq!(
            v[1].evidence,
            "n1 (a): own config epoch 1 at 3.000s, then 0 at 4.000s"
        );
        // A different ID on the same machine (a wiped node) starts its own history.
        let fresh = "z 10.0.0.1:7001@17001 myself,master - 0 0 0 connected\n";
        m.observe(&sample("n1", 5000, 0, fresh));
        assert_eq!(m.violations().len(), 2);
    }

    #[test]
    fn reports_are_capped_per_name() {
        let mut m = SafetyMonitor::new();
        for i in 0..(MAX_REPORTED_PER_NAME as u64 + 3) {
            // Each a distinct (node, epochs) key.
            m.observe(&sample(&format!("n{i}"), 1000, 1, A));
        }
        let v = m.violations();
        assert_eq!(v.len(), MAX_REPORTED_PER_NAME + 1);
        assert_eq!(v.last().unwrap().evidence, "… and 3 more like the above");
    }

    #[test]
    fn settled_masters_have_distinct_epochs() {
        assert!(config_epochs_distinct(&[view("n1", A)]).is_empty());
        let same = "a 10.0.0.1:7001@17001 myself,master - 0 0 4 connected 0-8191\n\
                    b 10.0.0.2:7002@17002 master - 0 100 4 connected 8192-16383\n\
                    c 10.0.0.3:7003@17003 slave a 0 100 4 connected\n";
        let v = config_epochs_distinct(&[view("n1", same), view("n2", same)]);
        assert_eq!(names(&v), vec!["config_epoch_collision"]);
        assert_eq!(
            v[0].evidence,
            "n1: masters a (10.0.0.1:7001), b (10.0.0.2:7002) share config epoch 4"
        );
    }

    #[test]
    fn states_ok_names_the_failing_nodes() {
        let states = vec![
            ("n1".to_string(), "ok".to_string()),
            ("n2".to_string(), "fail".to_string()),
        ];
        let v = states_ok(&states, "after 25.000s");
        assert_eq!(names(&v), vec!["cluster_not_ok"]);
        assert_eq!(v[0].evidence, "after 25.000s: n2=fail (all: n1=ok n2=fail)");
        assert!(states_ok(&states[..1], "x").is_empty());
        assert_eq!(ranges_text(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(fmt_ms(12_345), "12.345s");
    }

    #[test]
    fn the_quick_agreement_test_matches_the_full_one() {
        let b_greedy = "a 10.0.0.1:7001@17001 master - 0 100 1 connected 11-8191\n\
                        b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-10 8192-16383\n";
        let uncovered = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8190\n\
                         b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        let double = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8192\n\
                      b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        let split = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100 101-8191\n\
                     b 10.0.0.2:7002@17002 master - 0 100 2 connected 8192-16383\n";
        let cases: Vec<Vec<(String, Vec<NodeLine>)>> = vec![
            vec![view("n1", A), view("n2", B)],
            vec![view("n1", A), view("n2", b_greedy)],
            vec![view("n1", A)],
            vec![view("n1", uncovered)],
            vec![view("n1", double)],
            vec![view("n1", split), view("n2", B)],
        ];
        for (i, views) in cases.iter().enumerate() {
            let count = if i == 2 { 3 } else { 2 };
            assert_eq!(
                views_agree_quickly(views, count),
                views_agree(views, count).is_empty(),
                "case {i}"
            );
        }
        assert!(views_agree_quickly(&cases[5], 2));
    }

    #[test]
    fn serving_a_slot_needs_owning_or_importing_it_in_the_own_view() {
        // node1 owns 0-100 at epoch 1; node2 owns the rest and imports slot 5 from node1.
        let n1 = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100\n\
                  b 10.0.0.2:7002@17002 master - 0 0 2 connected 101-16383\n\
                  c 10.0.0.3:7003@17003 slave b 0 0 2 connected\n";
        let n2 = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 0-100\n\
                  b 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 101-16383 [5-<-a]\n\
                  c 10.0.0.3:7003@17003 slave b 0 0 2 connected\n";
        let n3 = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 0-100\n\
                  b 10.0.0.2:7002@17002 master - 0 0 2 connected 101-16383\n\
                  c 10.0.0.3:7003@17003 myself,slave b 0 0 2 connected\n";
        let mut samples = Vec::new();
        for t in [1000, 1600, 2200, 2800] {
            samples.push(sample("node1", t, 2, n1));
            samples.push(sample("node2", t + 10, 2, n2));
            samples.push(sample("node3", t + 20, 2, n3));
        }
        let op = |addr: &str, slot: u16, readonly: bool| ServedOp {
            addr: addr.to_string(),
            slot,
            start_ms: 1700,
            end_ms: 1710,
            readonly,
            what: "SET k v -> +OK".to_string(),
        };
        let legit = [
            op("10.0.0.1:7001", 50, false),
            // Imported slot (an ASKed request).
            op("10.0.0.2:7002", 5, false),
            // A READONLY read on a replica of the owner.
            op("10.0.0.3:7003", 200, true),
        ];
        assert!(served_unowned(&samples, &legit, 500).is_empty());
        let bad = [
            op("10.0.0.1:7001", 200, false),
            op("10.0.0.2:7002", 6, false),
            op("10.0.0.3:7003", 200, false),
            // A read on a replica of a master that does not own the slot.
            op("10.0.0.3:7003", 50, true),
        ];
        let v = served_unowned(&samples, &bad, 500);
        assert_eq!(names(&v), vec!["served_unowned_slot"; 4]);
        assert_eq!(
            v[0].evidence,
            "node1 (10.0.0.1:7001) answered SET k v -> +OK for slot 200 between 1.700s and \
             1.710s, but its own views from 1.600s to 2.200s (config epoch 1, master) give the \
             slot to b (10.0.0.2:7002) and import nothing"
        );
        // The view of 2.2 s was asked for at 2.1 s at the earliest (1.6 s plus the gap), after
        // the reply: it closes the stretch. Without a view surely taken after the reply there
        // is no verdict.
        assert!(served_unowned(&samples[..6], &bad[..1], 500).is_empty());
    }

    #[test]
    fn ownership_changing_around_a_request_is_no_verdict() {
        let owns = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n";
        let lost = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected\n\
                    b 10.0.0.2:7002@17002 master - 0 0 3 connected 0-16383\n";
        let promoted = "a 10.0.0.1:7001@17001 myself,master - 0 0 4 connected 0-16383\n";
        let op = ServedOp {
            addr: "10.0.0.1:7001".to_string(),
            slot: 9,
            start_ms: 1700,
            end_ms: 1710,
            readonly: false,
            what: "SET k v -> +OK".to_string(),
        };
        // Owned before, lost after: the write may have come first.
        let changed = vec![
            sample("node1", 1500, 3, owns),
            sample("node1", 2100, 3, lost),
        ];
        assert!(served_unowned(&changed, std::slice::from_ref(&op), 500).is_empty());
        // Not owned before, owned after at a new epoch (a failover): no verdict either.
        let gained = vec![
            sample("node1", 1500, 3, lost),
            sample("node1", 2100, 4, promoted),
        ];
        assert!(served_unowned(&gained, std::slice::from_ref(&op), 500).is_empty());
        // Not owned at either end at one epoch: caught.
        let never = vec![
            sample("node1", 1500, 3, lost),
            sample("node1", 2100, 3, lost),
        ];
        assert_eq!(served_unowned(&never, &[op], 500).len(), 1);
    }

    fn schedule(faults: Vec<(u64, crate::faults::Fault)>) -> crate::faults::FaultSchedule {
        crate::faults::FaultSchedule::new(
            faults
                .into_iter()
                .map(|(at_ms, fault)| crate::faults::TimedFault { at_ms, fault })
                .collect(),
        )
    }

    #[test]
    fn connectivity_replays_partitions_clogs_and_downtime() {
        use crate::faults::{Direction, Fault};
        let sched = schedule(vec![
            (
                1000,
                Fault::Partition {
                    groups: vec![vec![0, 1]],
                },
            ),
            (3000, Fault::ClogLink { from: 2, to: 3 }),
            (4000, Fault::Heal),
            (
                5000,
                Fault::ClogNode {
                    node: 1,
                    direction: Direction::In,
                },
            ),
            (
                6000,
                Fault::Latency {
                    min_ms: 50,
                    max_ms: 100,
                },
            ),
            (7000, Fault::UnclogNode { node: 1 }),
            (
                99_000,
                Fault::Partition {
                    groups: vec![vec![0]],
                },
            ),
        ]);
        // Schedule time 0 is run time 500; node 3 down 2.5 s to 3.5 s; span 10 s.
        let net = Connectivity::new(&sched, 4, 500, 10_000, vec![(3, 2500, 3500)]);
        assert!(net.can_send(0, 2, 1000));
        assert!(!net.can_send(0, 2, 1500) && !net.can_send(2, 0, 1500));
        assert!(net.can_send(0, 1, 1500) && net.can_send(2, 3, 1500));
        assert!(!net.can_send(2, 3, 3000), "node 3 is down");
        assert!(
            !net.can_send(2, 3, 3600) && net.can_send(3, 2, 3600),
            "one-way clog"
        );
        assert!(net.can_send(0, 2, 4600));
        assert!(
            !net.can_send(0, 1, 5600) && net.can_send(1, 0, 5600),
            "clogged in"
        );
        assert!(!net.degraded(6000) && net.degraded(6600));
        assert!(net.can_send(0, 1, 7600));
        // Everything is undone at the end of the span; later faults never apply.
        assert!(net.can_send(2, 3, 10_600) && !net.degraded(10_600));
        assert_eq!(net.last_delivery(0, 2, 1400), Some(1400));
        assert_eq!(net.last_delivery(0, 2, 4000), Some(1500));
        assert_eq!(net.last_delivery(0, 1, 6000), Some(5500));
        assert!(net.linked_throughout(0, 1, 1000, 5400));
        assert!(!net.linked_throughout(0, 1, 1000, 5600));
    }

    #[test]
    fn a_replica_cut_off_long_must_not_beat_a_fresher_sibling() {
        use crate::faults::Fault;
        // node1 master m; node2 (r) and node3 (s) its replicas; node4 a second master.
        let replica = |me: &str| {
            let line = |id: &str, addr: &str, tail: &str| {
                let mine = if id == me { "myself," } else { "" };
                format!("{id} {addr} {mine}{tail}\n")
            };
            line(
                "m",
                "10.0.0.1:7001@17001",
                "master - 0 0 1 connected 0-8000",
            ) + &line("r", "10.0.0.2:7002@17002", "slave m 0 0 1 connected")
                + &line("s", "10.0.0.3:7003@17003", "slave m 0 0 1 connected")
                + &line(
                    "b",
                    "10.0.0.4:7004@17004",
                    "master - 0 0 2 connected 8001-16383",
                )
        };
        let promoted = "m 10.0.0.1:7001@17001 master,fail - 0 0 1 connected\n\
                        r 10.0.0.2:7002@17002 myself,master - 0 0 3 connected 0-8000\n\
                        s 10.0.0.3:7003@17003 slave r 0 0 3 connected\n\
                        b 10.0.0.4:7004@17004 master - 0 0 2 connected 8001-16383\n";
        let samples = vec![
            sample("node2", 1000, 2, &replica("r")),
            sample("node3", 1000, 2, &replica("s")),
            sample("node2", 24_000, 2, &replica("r")),
            sample("node3", 24_000, 2, &replica("s")),
            sample("node2", 25_000, 3, promoted),
        ];
        let names: BTreeMap<String, String> = (1..=4)
            .map(|n| (format!("10.0.0.{n}:700{n}"), format!("node{n}")))
            .collect();
        // node1 → node2 cut from 2 s; node1 crashed at 20 s.
        let sched = schedule(vec![(2000, Fault::ClogLink { from: 0, to: 1 })]);
        let down = vec![(0, 20_000, u64::MAX)];
        let net = Connectivity::new(&sched, 4, 0, 30_000, down.clone());
        let writes = vec![("10.0.0.1:7001".to_string(), 10_000)];
        let v = stale_partitioned_promotions(&samples, &net, &[], &writes, 5000, &names);
        assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
        assert_eq!(
            v[0].evidence,
            "node2 was promoted by 25.000s (replica until 24.000s) in place of its master node1 \
             (m), which it had not heard since 2.000s; its sibling node3 had heard it until \
             20.000s (with writes 10.0.0.1:7001 acknowledged since) and was up and reachable \
             throughout"
        );
        // No write in between (equal offsets), a manual failover sent to node2, a sibling
        // paused near the promotion, or latency: no verdict.
        assert!(stale_partitioned_promotions(&samples, &net, &[], &[], 5000, &names).is_empty());
        let manual = [(1, 23_000)];
        assert!(
            stale_partitioned_promotions(&samples, &net, &manual, &writes, 5000, &names).is_empty()
        );
        let mut paused = down.clone();
        paused.push((2, 21_000, 22_000));
        let net_paused = Connectivity::new(&sched, 4, 0, 30_000, paused);
        assert!(
            stale_partitioned_promotions(&samples, &net_paused, &[], &writes, 5000, &names)
                .is_empty()
        );
        let slow = schedule(vec![
            (2000, Fault::ClogLink { from: 0, to: 1 }),
            (
                15_000,
                Fault::Latency {
                    min_ms: 100,
                    max_ms: 900,
                },
            ),
        ]);
        let net_slow = Connectivity::new(&slow, 4, 0, 30_000, down.clone());
        assert!(
            stale_partitioned_promotions(&samples, &net_slow, &[], &writes, 5000, &names)
                .is_empty()
        );
        // A replica cut off only briefly is not stale.
        let brief = schedule(vec![(17_000, Fault::ClogLink { from: 0, to: 1 })]);
        let net_brief = Connectivity::new(&brief, 4, 0, 30_000, down);
        assert!(
            stale_partitioned_promotions(&samples, &net_brief, &[], &writes, 5000, &names)
                .is_empty()
        );
    }

    #[test]
    fn a_replica_restarted_while_its_master_was_down_must_not_take_over() {
        let replica = "m 10.0.0.1:7001@17001 master - 0 0 1 connected 0-16383\n\
                       r 10.0.0.2:7002@17002 myself,slave m 0 0 1 connected\n";
        let promoted = "m 10.0.0.1:7001@17001 master,fail - 0 0 1 connected\n\
                        r 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 0-16383\n";
        let samples = vec![
            sample("node2", 1000, 1, replica),
            sample("node2", 9000, 2, promoted),
        ];
        let names = BTreeMap::from([
            ("10.0.0.1:7001".to_string(), "node1".to_string()),
            ("10.0.0.2:7002".to_string(), "node2".to_string()),
        ]);
        let restarts = vec![("node2".to_string(), 3000)];
        // node1 paused from 2 s to 12 s: node2 never heard from it after its restart.
        let down = vec![("node1".to_string(), 2000, 12_000)];
        // node2's log: election won at 8 s.
        let won = vec![("node2".to_string(), 8000)];
        let v = stale_promotions(&samples, &restarts, &down, &won, &[], &names);
        assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
        assert_eq!(
            v[0].evidence,
            "node2 restarted at 3.000s while its master node1 (m) was down (2.000s to 12.000s), \
             and was master of 16384 slots by 9.000s without having heard from it"
        );
        // The master came back before the promotion, or went down after the restart: fine.
        let back = vec![("node1".to_string(), 2000, 8000)];
        assert!(stale_promotions(&samples, &restarts, &back, &won, &[], &names).is_empty());
        let later = vec![("node1".to_string(), 4000, 12_000)];
        assert!(stale_promotions(&samples, &restarts, &later, &won, &[], &names).is_empty());
        // No restart: an ordinary failover.
        assert!(stale_promotions(&samples, &[], &down, &won, &[], &names).is_empty());
        // An operator's TAKEOVER to node2 (index 1) since its restart excuses it; one before
        // the restart (lost with the crash) or to another node does not.
        assert!(
            stale_promotions(&samples, &restarts, &down, &won, &[(1, 3500)], &names).is_empty()
        );
        // Won before the restart (the sample lagged behind), or never in the log: not this case.
        let before = vec![("node2".to_string(), 2900)];
        assert!(stale_promotions(&samples, &restarts, &down, &before, &[], &names).is_empty());
        assert!(stale_promotions(&samples, &restarts, &down, &[], &[], &names).is_empty());
        for other in [(1, 1500), (0, 3500)] {
            assert_eq!(
                stale_promotions(&samples, &restarts, &down, &won, &[other], &names).len(),
                1
            );
        }
    }
}
