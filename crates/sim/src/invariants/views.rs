//! Point-in-time checks of a set of views: one answer for all slots, no failing flags
//! or stale pings when nothing failed, distinct config epochs once settled, every state ok.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::short;
use crate::report::{Violation, ViolationKind};
use crate::view::{describe_owners, NodeLine, SLOTS};

/// Every view lists `node_count` nodes with exactly one `myself` line; no view gives a slot two
/// owners; every view covers all 16384 slots; all views agree on every slot's owner.
///
/// Names: `view_membership`, `slot_double_owner`, `slot_coverage`, `slot_agreement`.
pub fn views_agree(views: &[(String, Vec<NodeLine>)], node_count: usize) -> Vec<Violation> {
    let mut violations = Vec::new();
    let table = OwnerTable::new(views);
    let mut reference: Option<(&str, Vec<u16>)> = None;
    for (v, (name, lines)) in views.iter().enumerate() {
        let myself = lines.iter().filter(|l| l.is_myself()).count();
        if lines.len() != node_count || myself != 1 {
            violations.push(Violation::new(
                ViolationKind::ViewMembership,
                format!(
                    "{name} lists {} nodes ({myself} myself), want {node_count} (1)",
                    lines.len()
                ),
            ));
        }
        let owners = match &table.owners[v] {
            Ok(o) => o.clone(),
            Err(e) => {
                violations.push(Violation::new(
                    ViolationKind::SlotDoubleOwner,
                    format!("{name}: {e}"),
                ));
                continue;
            }
        };
        if owners.contains(&NO_OWNER) {
            violations.push(Violation::new(
                ViolationKind::SlotCoverage,
                format!("{name}: {}", describe_owners(&table.names(&owners))),
            ));
        }
        let owners = table.without_phantom_claims(v, owners);
        match &reference {
            None => reference = Some((name, owners)),
            Some((first, first_owners)) if *first_owners != owners => {
                violations.push(Violation::new(
                    ViolationKind::SlotAgreement,
                    format!(
                        "{first}: {} | {name}: {}",
                        describe_owners(&table.names(first_owners)),
                        describe_owners(&table.names(&owners))
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    violations
}

/// An unassigned slot in an [`OwnerTable`] row.
const NO_OWNER: u16 = u16::MAX;

/// The slot owners of a set of views, each owner a number standing for its node ID (the same
/// number in every view), so views compare and correct without a `String` per slot: the
/// liveness phase polls them every few hundred virtual milliseconds, and with owner strings
/// this was half the simulator's instructions.
struct OwnerTable<'a> {
    /// Node IDs by number, in order of first appearance.
    ids: Vec<&'a str>,
    /// Per view, the owner number of each slot ([`crate::view::slot_owners`]'s answer, its error text
    /// included).
    owners: Vec<Result<Vec<u16>, String>>,
    /// Per view, the config epoch it gives each ID (from the ID's first line there).
    epochs: Vec<Vec<Option<u64>>>,
    /// Per ID, the view that is its own (its `myself` line; the last such view counts).
    own: Vec<Option<usize>>,
}

impl<'a> OwnerTable<'a> {
    fn new(views: &'a [(String, Vec<NodeLine>)]) -> Self {
        let mut index: HashMap<&'a str, u16> = HashMap::new();
        let mut ids: Vec<&'a str> = Vec::new();
        for line in views.iter().flat_map(|(_, lines)| lines) {
            index.entry(line.id.as_str()).or_insert_with(|| {
                ids.push(line.id.as_str());
                u16::try_from(ids.len() - 1).expect("fewer than 65535 node IDs")
            });
        }
        let mut own = vec![None; ids.len()];
        let mut owners = Vec::with_capacity(views.len());
        let mut epochs = Vec::with_capacity(views.len());
        for (v, (_, lines)) in views.iter().enumerate() {
            if let Some(me) = lines.iter().find(|l| l.is_myself()) {
                own[usize::from(index[me.id.as_str()])] = Some(v);
            }
            let mut view_epochs = vec![None; ids.len()];
            for line in lines.iter().rev() {
                view_epochs[usize::from(index[line.id.as_str()])] = Some(line.config_epoch);
            }
            epochs.push(view_epochs);
            owners.push(owner_numbers(lines, &index));
        }
        assert_eq!(owners.len(), views.len(), "one row per view");
        OwnerTable {
            ids,
            owners,
            epochs,
            own,
        }
    }

    /// A row as owner IDs, for [`describe_owners`].
    fn names(&self, owners: &[u16]) -> Vec<Option<String>> {
        owners
            .iter()
            .map(|&o| (o != NO_OWNER).then(|| self.ids[usize::from(o)].to_string()))
            .collect()
    }

    /// View `v`'s `owners` with every phantom claim given back to the real owner.
    /// A phantom claim: the view gives a slot to a master X that does not claim it in its
    /// own view, while the owner there, Y, has a lower config epoch than X in this view.
    /// Redis 7.0 never corrects that: X's pings only add slots it claims, Y's claims lose to
    /// X's higher epoch, and no UPDATE goes to Y since its epoch is the lower one
    /// (redis/redis#3776; 7.2's slot-ownership tombstones, PR #12344, are not in 7.0). Such
    /// a view agrees with the others in everything Redis can settle.
    fn without_phantom_claims(&self, v: usize, mut owners: Vec<u16>) -> Vec<u16> {
        let epochs = &self.epochs[v];
        for (slot, owner) in owners.iter_mut().enumerate() {
            let x = *owner;
            if x == NO_OWNER {
                continue;
            }
            let Some(x_view) = self.own[usize::from(x)] else {
                continue;
            };
            // A claim X's own view cannot even settle (a slot twice) corrects nothing.
            let Ok(x_owners) = &self.owners[x_view] else {
                continue;
            };
            let y = x_owners[slot];
            if y == NO_OWNER || y == x {
                continue;
            }
            let (ey, ex) = (epochs[usize::from(y)], epochs[usize::from(x)]);
            if matches!((ey, ex), (Some(ey), Some(ex)) if ey < ex) {
                *owner = y;
            }
        }
        owners
    }
}

/// [`crate::view::slot_owners`] with owner numbers from `index` instead of ID strings (same error text).
fn owner_numbers(lines: &[NodeLine], index: &HashMap<&str, u16>) -> Result<Vec<u16>, String> {
    let mut owners = vec![NO_OWNER; SLOTS];
    for line in lines {
        let number = index[line.id.as_str()];
        for &(lo, hi) in &line.slots {
            let range = usize::from(lo)..=usize::from(hi);
            for (owner, slot) in owners[range.clone()].iter_mut().zip(range) {
                if *owner != NO_OWNER {
                    let other = lines
                        .iter()
                        .find(|l| index[l.id.as_str()] == *owner)
                        .map_or("?", |l| l.id.as_str());
                    return Err(format!("slot {slot} claimed by {other} and {}", line.id));
                }
                *owner = number;
            }
        }
    }
    Ok(owners)
}

/// The slots some view credits to a master that does not claim them in its own view, where
/// [`OwnerTable::without_phantom_claims`] hands them back: Redis 7.0 never settles them, so
/// a client asking for one is redirected round in a circle (or to a node that serves it
/// nowhere).
pub fn phantom_slots(views: &[(String, Vec<NodeLine>)]) -> BTreeSet<u16> {
    let table = OwnerTable::new(views);
    let mut slots = BTreeSet::new();
    for v in 0..views.len() {
        let Ok(owners) = &table.owners[v] else {
            continue;
        };
        let settled = table.without_phantom_claims(v, owners.clone());
        let moved = (0..owners.len()).filter(|&s| owners[s] != settled[s]);
        slots.extend(moved.map(|s| s as u16));
    }
    slots
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

/// Exactly when [`views_agree`] finds nothing, building per-slot tables only when the cheap
/// test fails: what the liveness phase polls with.
pub fn views_agree_quickly(views: &[(String, Vec<NodeLine>)], node_count: usize) -> bool {
    if identical_ownership(views, node_count) {
        return true;
    }
    // A view short of members is a `view_membership` violation whatever its slots say.
    let members_ok = views.iter().all(|(_, lines)| {
        lines.len() == node_count && lines.iter().filter(|l| l.is_myself()).count() == 1
    });
    members_ok && views_agree(views, node_count).is_empty()
}

/// Every view lists `node_count` nodes and covers every slot with the same owners.
pub fn identical_ownership(views: &[(String, Vec<NodeLine>)], node_count: usize) -> bool {
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
                ViolationKind::PeerFlaggedFailing,
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
                ViolationKind::PingUnanswered,
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
                    ViolationKind::ConfigEpochCollision,
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
        ViolationKind::ClusterNotOk,
        format!("{context}: {} (all: {})", bad.join(" "), all.join(" ")),
    )]
}
