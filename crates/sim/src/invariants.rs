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

fn short(id: &str) -> &str {
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
        parts.push(if i == j {
            slots[i].to_string()
        } else {
            format!("{}-{}", slots[i], slots[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

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
        let mut owners: Vec<String> = self
            .lines
            .iter()
            .filter(|l| !l.slots.is_empty())
            .map(|l| format!("{} {} {:?}", l.id, l.config_epoch, l.slots))
            .collect();
        owners.sort();
        let mut hash = Fnv64::new();
        for owner in owners {
            hash.write(owner.as_bytes());
            hash.write(b"\n");
        }
        hash.finish()
    }
}

/// Who claimed a slot at an epoch, and where that was seen.
#[derive(Clone, Debug)]
struct Claim {
    epoch: u64,
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
/// and times), `current_epoch_behind` (a node's `currentEpoch` below a config epoch it shows),
/// `epoch_decreased` (a node ID's `currentEpoch`, or its own config epoch as a master, went
/// down, also across restarts).
#[derive(Debug)]
pub struct SafetyMonitor {
    claims: Vec<Vec<Claim>>,
    checked_signatures: HashSet<u64>,
    epochs: BTreeMap<String, EpochMark>,
    /// `(time_ms, node)` of every restart, to say whether a decrease spans one.
    restarts: Vec<(u64, String)>,
    reported: BTreeSet<String>,
    violations: Vec<Violation>,
    suppressed: BTreeMap<String, usize>,
    samples: usize,
}

impl Default for SafetyMonitor {
    fn default() -> Self {
        SafetyMonitor::new()
    }
}

impl SafetyMonitor {
    pub fn new() -> SafetyMonitor {
        SafetyMonitor {
            claims: vec![Vec::new(); SLOTS],
            checked_signatures: HashSet::new(),
            epochs: BTreeMap::new(),
            restarts: Vec::new(),
            reported: BTreeSet::new(),
            violations: Vec::new(),
            suppressed: BTreeMap::new(),
            samples: 0,
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

    /// The violations found, with a count of the ones left out per name.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all = self.violations.clone();
        for (name, count) in &self.suppressed {
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
            for &(lo, hi) in &line.slots {
                for slot in usize::from(lo)..=usize::from(hi) {
                    let claims = &mut self.claims[slot];
                    match claims.iter().find(|c| c.epoch == line.config_epoch) {
                        Some(c) if c.owner != line.id => {
                            let key = (line.config_epoch, c.owner.clone(), line.id.clone());
                            conflicts.entry(key.clone()).or_default().push(slot);
                            witnesses.entry(key).or_insert_with(|| c.clone());
                        }
                        Some(_) => {}
                        None => claims.push(Claim {
                            epoch: line.config_epoch,
                            owner: line.id.clone(),
                            owner_addr: line.addr.clone(),
                            seen_by: sample.node.clone(),
                            time_ms: sample.time_ms,
                        }),
                    }
                }
            }
        }
        for ((epoch, first, second), slots) in conflicts {
            let witness = &witnesses[&(epoch, first.clone(), second.clone())];
            let addr = sample
                .lines
                .iter()
                .find(|l| l.id == second)
                .map_or("?", |l| l.addr.as_str());
            self.report(
                "slot_epoch_conflict",
                format!("{epoch} {first} {second}"),
                format!(
                    "slots {} at config epoch {epoch}: {} at {} says owner {} ({}), {} at {} \
                     says owner {} ({addr})",
                    ranges_text(&slots),
                    witness.seen_by,
                    fmt_ms(witness.time_ms),
                    short(&first),
                    witness.owner_addr,
                    sample.node,
                    fmt_ms(sample.time_ms),
                    short(&second),
                ),
            );
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

/// A replica that (re)started while its master could send nothing (crashed or paused), and
/// that became master before its master came back, was promoted without having heard from
/// its master since it started (name `stale_replica_promoted`). Redis refuses that failover:
/// until a replica first connects, its `repl_down_since` is 0 ("down since ever"), so its data
/// age exceeds any `cluster-replica-validity-factor`, and the writes its master acknowledged
/// meanwhile would be lost.
///
/// `samples` in time order; `restarts` are `(node, ms)`; `down` are `(node, from ms, to ms)`
/// (`u64::MAX`: never came back); `names` maps `ip:port` to node names.
pub fn stale_promotions(
    samples: &[Sample],
    restarts: &[(String, u64)],
    down: &[(String, u64, u64)],
    names: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    // Per node: the master (id, addr) it last followed as a replica.
    let mut following: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for sample in samples {
        let Some(me) = sample.myself() else { continue };
        if !me.is_master() {
            let master = me.master.as_deref().and_then(|id| {
                let line = sample.lines.iter().find(|l| l.id == id)?;
                Some((id.to_string(), line.addr.clone()))
            });
            if let Some(master) = master {
                following.insert(&sample.node, master);
            }
            continue;
        }
        if me.slots.is_empty() {
            continue;
        }
        let Some((master_id, master_addr)) = following.remove(sample.node.as_str()) else {
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
        let v = stale_promotions(&samples, &restarts, &down, &names);
        assert_eq!(names_of(&v), vec!["stale_replica_promoted"]);
        assert_eq!(
            v[0].evidence,
            "node2 restarted at 3.000s while its master node1 (m) was down (2.000s to 12.000s), \
             and was master of 16384 slots by 9.000s without having heard from it"
        );
        // The master came back before the promotion, or went down after the restart: fine.
        let back = vec![("node1".to_string(), 2000, 8000)];
        assert!(stale_promotions(&samples, &restarts, &back, &names).is_empty());
        let later = vec![("node1".to_string(), 4000, 12_000)];
        assert!(stale_promotions(&samples, &restarts, &later, &names).is_empty());
        // No restart: an ordinary failover.
        assert!(stale_promotions(&samples, &[], &down, &names).is_empty());
    }
}
