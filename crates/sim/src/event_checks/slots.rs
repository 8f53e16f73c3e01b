//! Slot rules: one owner per slot per config epoch, and keyed commands run only where the
//! node's own table says they belong.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::slot::SLOT_COUNT;
use clusterlab_core::NodeId;

use super::state::{Persisted, Replay};
use super::{at, short};
use crate::report::ViolationKind;

/// Who first claimed each slot at each config epoch (a claim: a master's own table gives it
/// the slot while it holds that config epoch).
#[derive(Debug, Default)]
pub(super) struct Claims {
    first: BTreeMap<u64, Vec<Option<(NodeId, u64)>>>,
    /// `(epoch, first owner, second owner) →` the clash.
    clashes: BTreeMap<(u64, NodeId, NodeId), Clash>,
}

/// The slots two owners claimed at one epoch, when the second claimed them and as which
/// node (`µs`, trace name).
type Clash = (BTreeSet<u16>, u64, String);

impl Claims {
    /// `owner` (running as `node`) claims `slots` at `epoch` at `t` µs.
    fn claim(&mut self, t: u64, node: &str, owner: NodeId, epoch: u64, slots: &[u16]) {
        let table = self
            .first
            .entry(epoch)
            .or_insert_with(|| vec![None; SLOT_COUNT]);
        for &slot in slots {
            match table[usize::from(slot)] {
                None => table[usize::from(slot)] = Some((owner, t)),
                Some((first, _)) if first != owner => {
                    let clash = self
                        .clashes
                        .entry((epoch, first, owner))
                        .or_insert_with(|| (BTreeSet::new(), t, node.to_string()));
                    clash.0.insert(slot);
                }
                Some(_) => {}
            }
        }
    }

    /// The clashes between two owners that both took the epoch by agreement. Redis lets an
    /// epoch a node takes alone (`CLUSTER FAILOVER TAKEOVER`, the collision bump, the bump
    /// after `SETSLOT … NODE`) equal another's, and separates them afterwards by the
    /// collision rule (cluster.c's `clusterHandleConfigEpochCollision`); an elected or
    /// operator-assigned epoch is unique.
    pub(super) fn conflicts(&self, persisted: &BTreeMap<NodeId, Persisted>) -> Vec<String> {
        let agreed =
            |id: &NodeId, epoch: u64| persisted.get(id).is_some_and(|p| p.agreed.contains(&epoch));
        let mut out = Vec::new();
        for ((epoch, first, second), (slots, t, node)) in &self.clashes {
            if !agreed(first, *epoch) || !agreed(second, *epoch) {
                continue;
            }
            let list: Vec<u16> = slots.iter().copied().collect();
            let ranges = clusterlab_core::slot::ranges_of(list.iter().copied());
            let text = clusterlab_core::text::ranges_text(ranges.iter().copied(), ' ');
            out.push(format!(
                "slots {text} at config epoch {epoch}: claimed by {} first, then by {} ({})",
                short(first),
                short(second),
                at(node, *t)
            ));
        }
        out
    }
}

impl Replay {
    pub(super) fn slots(
        &mut self,
        t: u64,
        node: &str,
        ranges: &[(u16, u16)],
        owner: Option<NodeId>,
    ) {
        self.node_mut(node).assign(t, ranges, owner);
        let state = self.node(node);
        if owner == Some(state.id) && state.config_epoch > 0 {
            let (id, epoch) = (state.id, state.config_epoch);
            let slots: Vec<u16> = ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
            self.claims.claim(t, node, id, epoch, &slots);
        }
    }

    /// Every slot the node serves, claimed again at its (new) config epoch. Epoch 0 means
    /// "never assigned" (before `create`): Redis resolves those by bumping, they prove nothing.
    pub(super) fn claim_own_slots(&mut self, t: u64, node: &str) {
        let state = self.node(node);
        if state.config_epoch == 0 {
            return;
        }
        let mine: Vec<u16> = (0..SLOT_COUNT)
            .filter(|&s| state.owners[s] == Some(state.id))
            .map(|s| s as u16)
            .collect();
        let (id, epoch) = (state.id, state.config_epoch);
        self.claims.claim(t, node, id, epoch, &mine);
    }

    /// A keyed command run here must be for a slot its own table gives it, for a slot it
    /// imports asked with `ASKING` (or `RESTORE-ASKING`, or a `MIGRATE` out of it), or a
    /// `READONLY` read on a replica of the slot's owner.
    pub(super) fn key_served(
        &mut self,
        t: u64,
        node: &str,
        slot: u16,
        asking: bool,
        readonly: bool,
    ) {
        let state = self.node(node);
        let owner = state.owners[usize::from(slot)];
        let mine = owner == Some(state.id);
        let replica_read = readonly && state.master.is_some() && owner == state.master;
        let imported = asking && state.importing.contains(&slot);
        if mine || imported || replica_read {
            return;
        }
        let owner = owner.map_or("nobody".to_string(), |o| short(&o));
        let role = if state.master.is_some() {
            "replica"
        } else {
            "master"
        };
        let id = short(&state.id);
        self.found.push(
            ViolationKind::ServedUnownedSlot,
            format!(
                "{} ({id}, {role}) ran a keyed command for slot {slot} that its own table gives \
                 to {owner}{}",
                at(node, t),
                match (readonly, asking) {
                    (true, _) => " (READONLY)",
                    (false, true) => " (ASKING, but it does not import the slot)",
                    (false, false) => "",
                }
            ),
        );
    }
}
