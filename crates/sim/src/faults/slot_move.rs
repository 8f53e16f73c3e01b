//! One operator slot move of [`Fault::MoveSlots`](super::Fault::MoveSlots) (simulation build
//! only): the slots come from the pool the scenario passes in — the hash slots of its
//! workload's keys — so every reshard carries keys, and `MIGRATE`, `ASK` and `TRYAGAIN` run
//! under the schedule's other faults. Each slot moves the way `redis-cli --cluster reshard`
//! moves it ([`admin::move_slot`]).

use clusterlab_net::admin::{self, ReshardOptions};

use crate::report::{Violation, ViolationKind};

/// The slots of `pool` (sorted) the master owns, `count` of them starting at the
/// `rotation`-th (so successive moves take different slots), in pool order.
pub(crate) fn choose_slots(owned: &[u16], pool: &[u16], count: usize, rotation: usize) -> Vec<u16> {
    let candidates: Vec<u16> = pool
        .iter()
        .copied()
        .filter(|s| owned.binary_search(s).is_ok())
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let start = rotation % candidates.len();
    candidates
        .iter()
        .cycle()
        .skip(start)
        .take(count.min(candidates.len()))
        .copied()
        .collect()
}

/// Longest pause a move takes between a slot's last key and `SETSLOT … NODE` (drawn per
/// move): the writer comes back to a key every few seconds, so a slot held half-moved this
/// long is met by writes that must follow `ASK`.
pub(crate) const MAX_HOLD_BEFORE_NODE_MS: u64 = 3000;

/// Moves up to `count` slots of `pool` from the master at `from_addr` to the one at
/// `to_addr` (with an empty pool, the slots `redis-cli` would choose), pausing
/// `hold_before_node_ms` before each `SETSLOT … NODE`, then checks that the
/// moved slots are closed on both: once every `SETSLOT … NODE` succeeded, neither may still
/// show the slot importing or migrating (`slot_left_open`). Returns the moved slots and the
/// violations, or why nothing moved.
pub(crate) async fn move_slots(
    from_addr: &str,
    to_addr: &str,
    count: usize,
    pool: &[u16],
    rotation: usize,
    hold_before_node_ms: u64,
) -> Result<(Vec<u16>, Vec<Violation>), String> {
    let mut topology = admin::load(from_addr).await.map_err(|e| e.to_string())?;
    if !admin::check::analyze(&topology).is_ok() {
        return Err("the cluster check found problems".into());
    }
    let index_of = |addr: &str| {
        topology
            .nodes
            .iter()
            .position(|n| n.addr == addr && n.is_master() && !n.slots.is_empty())
    };
    let (Some(from), Some(to)) = (index_of(from_addr), index_of(to_addr)) else {
        return Err("not both masters with slots now".into());
    };
    let owned: Vec<u16> = topology.nodes[from].slots.iter().copied().collect();
    let slots = if pool.is_empty() {
        owned.into_iter().take(count).collect()
    } else {
        choose_slots(&owned, pool, count, rotation)
    };
    if slots.is_empty() {
        return Err("no workload slot on the source".into());
    }
    let options = ReshardOptions {
        timeout_ms: 2000,
        hold_before_node_ms,
        ..ReshardOptions::default()
    };
    let mut moved = Vec::new();
    for slot in slots {
        admin::move_slot(&mut topology, from, to, slot, options)
            .await
            .map_err(|e| format!("moved {moved:?}, then slot {slot}: {e}"))?;
        moved.push(slot);
    }
    let found = left_open(from_addr, to_addr, &moved).await?;
    Ok((moved, found))
}

/// `slot_left_open` for every moved slot either end still shows importing or migrating.
async fn left_open(
    from_addr: &str,
    to_addr: &str,
    moved: &[u16],
) -> Result<Vec<Violation>, String> {
    let after = admin::load(from_addr).await.map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for node in after
        .nodes
        .iter()
        .filter(|n| n.addr == from_addr || n.addr == to_addr)
    {
        for slot in moved {
            if node.migrating.contains_key(slot) || node.importing.contains_key(slot) {
                found.push(Violation::new(
                    ViolationKind::SlotLeftOpen,
                    format!(
                        "slot {slot} moved {from_addr}->{to_addr}, every SETSLOT NODE \
                         succeeded, but {} still shows it open",
                        node.addr
                    ),
                ));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::choose_slots;

    #[test]
    fn moves_take_pool_slots_the_source_owns_in_turn() {
        let owned: Vec<u16> = (0..5461).collect();
        let pool = [12, 700, 5000, 9000, 15000];
        assert_eq!(choose_slots(&owned, &pool, 2, 0), vec![12, 700]);
        assert_eq!(choose_slots(&owned, &pool, 2, 1), vec![700, 5000]);
        // Wraps around, and never moves a slot twice in one move.
        assert_eq!(choose_slots(&owned, &pool, 4, 2), vec![5000, 12, 700]);
        assert!(choose_slots(&[1, 2], &pool, 3, 0).is_empty());
    }
}

/// A campaign run whose schedule moves workload slots while a master crashes: the keys go
/// over by `MIGRATE` and the writer meets `ASK` mid-move.
#[cfg(test)]
mod campaign_tests {
    use crate::campaign;
    use crate::faults::{Fault, FaultSchedule, TimedFault};
    use crate::seeds::SimConfig;
    use crate::trace::{Event, FaultEvent};

    #[test]
    fn moves_carry_workload_keys_and_clients_follow_ask_under_faults() {
        let config = SimConfig {
            replicas: 1,
            node_timeout_ms: 3000,
            ..SimConfig::default()
        };
        let at = |at_ms, fault| TimedFault { at_ms, fault };
        let schedule = FaultSchedule::new(vec![
            at(
                500,
                Fault::MoveSlots {
                    from: 0,
                    to: 1,
                    count: 4,
                },
            ),
            at(1500, Fault::crash(2)),
            at(9000, Fault::Restart { node: 2 }),
        ]);
        let report = campaign::run(3, &config, Some(schedule));
        assert!(
            report.ok(),
            "{:?}\n{}",
            report.violations,
            report.trace_text
        );
        // Whole or cut short by the crash (`moved [..], then slot N: …`), keys moved.
        let moved = report.trace.iter().any(|e| {
            matches!(&e.event, Event::Fault(FaultEvent::SlotMoveEnded { outcome, .. })
                if outcome.starts_with("moved slots [") || outcome.starts_with("moved ["))
        });
        let asks = report
            .trace
            .iter()
            .filter(|e| matches!(&e.event, Event::Request(r) if r.reply.starts_with("-ASK ")))
            .count();
        assert!(
            moved && asks > 0,
            "moved {moved}, {asks} ASK\n{}",
            report.trace_text
        );
    }
}
