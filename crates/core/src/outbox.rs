//! The outbox: everything a node call produces for its driver, in order.
//!
//! Handlers and the cluster/replication logic borrow `&mut Outbox` instead of the whole node,
//! so a function that only changes cluster state and reports it needs nothing else. Effects
//! come out in the order they were pushed, with one exception kept on purpose: slot ownership
//! changes are collected apart and handed out after the other effects of the same call, merged
//! into ranges while they arrive one slot at a time. That is the order drivers, the simulator's
//! traces and the unit tests have always seen, so it must not change.

use crate::effect::{Effect, LogLevel};
use crate::event::ClusterEvent;
use crate::node_id::NodeId;

#[derive(Debug, Default)]
pub struct Outbox {
    effects: Vec<Effect>,
    /// `SlotsAssigned` events not yet handed out (see the module docs for why they wait).
    slot_events: Vec<ClusterEvent>,
}

impl Outbox {
    pub fn push(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Reports a protocol decision as a typed event, in order with the other effects.
    pub fn emit(&mut self, event: ClusterEvent) {
        self.effects.push(Effect::Event(event));
    }

    pub fn log(&mut self, level: LogLevel, text: impl Into<String>) {
        self.effects.push(Effect::Log {
            level,
            text: text.into(),
        });
    }

    /// One slot changed owner: extends the last slot event when it has the same owner.
    pub(crate) fn slot_assigned(&mut self, slot: u16, owner: Option<NodeId>) {
        ClusterEvent::push_slot(&mut self.slot_events, slot, owner);
    }

    /// Slots (ascending) changed owner together.
    pub(crate) fn slots_assigned(&mut self, slots: &[u16], owner: Option<NodeId>) {
        self.slot_events.push(ClusterEvent::SlotsAssigned {
            ranges: crate::slot::ranges_of(slots.iter().copied()),
            owner,
        });
    }

    /// Everything produced since the last call: the effects, then the slot events.
    pub fn take(&mut self) -> Vec<Effect> {
        let slot_events = std::mem::take(&mut self.slot_events);
        self.effects
            .extend(slot_events.into_iter().map(Effect::Event));
        std::mem::take(&mut self.effects)
    }

    /// Drops the effects produced so far (the AOF loader's commands must not act again).
    /// Slot events stay: they describe state the node keeps.
    pub(crate) fn discard_effects(&mut self) {
        self.effects.clear();
    }

    /// How many effects are waiting; with [`Outbox::effects_since_mut`], lets EXEC rewrite
    /// the AOF records its queued commands produced.
    /// Puts a `nodes.conf` save before every effect not yet handed out: what must happen
    /// before anything else of the call is seen (Redis saves in `beforeSleep`, before any
    /// message or reply buffered by the call reaches a socket). A save already waiting (an
    /// earlier step of the same call asked for one) is replaced, not kept behind the new one:
    /// its contents are older, so performed second it would overwrite the newer file (seed
    /// 805924: a manual failover's election bumped the epoch after the message's own save was
    /// queued, and the restart found the epoch before the election). The fsync either asked
    /// for is kept.
    pub(crate) fn push_save_first(&mut self, contents: String, fsync: bool) {
        let mut fsync = fsync;
        self.effects.retain(|e| match e {
            Effect::SaveConfig { fsync: older, .. } => {
                fsync |= *older;
                false
            }
            _ => true,
        });
        self.effects
            .insert(0, Effect::SaveConfig { contents, fsync });
    }

    pub(crate) fn len(&self) -> usize {
        self.effects.len()
    }

    pub(crate) fn effects_since_mut(&mut self, first: usize) -> &mut [Effect] {
        &mut self.effects[first..]
    }
}
