//! What the campaign judges itself besides lost writes (those go to the
//! [`LossRule`](crate::loss::LossRule)): which writes a node served for slots it did not own
//! ([`served_ops`]), and the slots a move cut short left open ([`open_slot_holder`] for the
//! operator's `fix`, [`slots_left_open`] after it).

use clusterlab_core::slot::key_hash_slot;

use crate::invariants::ServedOp;
use crate::report::{Violation, ViolationKind};
use crate::runner::poll::Polled;
use crate::view::NodeLine;
use crate::workload::WriteHistory;

/// Every write the writer saw acknowledged, for [`served_unowned`].
pub(super) fn served_ops(history: &WriteHistory) -> Vec<ServedOp> {
    history
        .ops
        .iter()
        .filter(|op| op.is_acked())
        .map(|op| ServedOp {
            addr: op.addr.clone(),
            slot: key_hash_slot(op.key.as_bytes()),
            start_ms: op.start_us / 1000,
            end_ms: op.end_us.div_ceil(1000),
            readonly: false,
            what: format!("SET {} {} -> +OK", op.key, op.value),
        })
        .collect()
}

/// `ip:port` of the owner of `slot` in `view` (only the few slots of lost writes are asked
/// for, so no per-slot table is built).
pub(super) fn owner_addr(view: &[NodeLine], slot: u16) -> Option<&str> {
    view.iter()
        .find(|l| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot)))
        .map(|l| l.addr.as_str())
}

/// How often the liveness phase runs `fix` while some slot is open.
pub(super) const FIX_INTERVAL_MS: u64 = 5000;

/// The address of a node whose own line shows an open slot, if any.
pub(super) fn open_slot_holder(last: &[Polled], addrs: &[String]) -> Option<String> {
    last.iter().zip(addrs).find_map(|((_, fetched), addr)| {
        let open = fetched
            .as_ref()
            .ok()
            .and_then(|f| f.sample.myself())
            .is_some_and(|me| !me.open_slots.is_empty());
        open.then(|| addr.clone())
    })
}

/// `slot_left_open`: after healing and `fix`, no node may still import or migrate a slot.
pub(super) fn slots_left_open(views: &[(String, Vec<NodeLine>)]) -> Vec<Violation> {
    views
        .iter()
        .filter_map(|(name, lines)| {
            let me = lines.iter().find(|l| l.is_myself())?;
            (!me.open_slots.is_empty()).then(|| {
                Violation::new(
                    ViolationKind::SlotLeftOpen,
                    format!(
                        "{name} still shows {} after healing and fix",
                        me.open_slots.join(" ")
                    ),
                )
            })
        })
        .collect()
}
