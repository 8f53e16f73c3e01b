//! `rebalance`: `redis-cli --cluster rebalance` — every master gets a share of the 16384
//! slots proportional to its weight (all weights 1 unless given). Nothing moves unless some
//! master is off its share by more than the threshold (2 % by default). Masters without slots
//! take part only with `use_empty_masters`. Slots then flow from the most over-full master
//! to the most under-full one, with the reshard table and slot moves of `reshard`.

use super::check::analyze;
use super::reshard::{move_slot, reshard_table, ReshardOptions, SlotMove};
use super::*;
use clusterlab_core::slot::SLOT_COUNT;

/// `rebalance`'s knobs, redis-cli's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RebalanceOptions {
    /// `--cluster-weight id=w …`; masters not listed weigh 1.
    pub weights: Vec<(String, f32)>,
    /// `--cluster-threshold`, in percent.
    pub threshold_pct: f32,
    /// `--cluster-use-empty-masters`.
    pub use_empty_masters: bool,
    /// `--cluster-simulate`: plan only.
    pub simulate: bool,
    pub moves: ReshardOptions,
}

impl Default for RebalanceOptions {
    fn default() -> Self {
        RebalanceOptions {
            weights: Vec::new(),
            threshold_pct: 2.0,
            use_empty_masters: false,
            simulate: false,
            moves: ReshardOptions::default(),
        }
    }
}

/// One planned transfer: `count` slots from node `from` to node `to` (topology indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub from: usize,
    pub to: usize,
    pub count: usize,
}

/// What a rebalance planned and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebalanceReport {
    /// False: every master was within the threshold, nothing moved.
    pub needed: bool,
    /// `(from addr, to addr, slots)` per transfer.
    pub transfers: Vec<(String, String, usize)>,
    pub moves: Vec<SlotMove>,
}

/// redis-cli's plan. `masters` are `(index, slot count, weight)`; a weight of 0 keeps a
/// master out (its share is 0). `None` when every master is within `threshold_pct`.
pub fn plan_rebalance(
    masters: &[(usize, usize, f32)],
    threshold_pct: f32,
) -> Option<Vec<Transfer>> {
    let total_weight: f32 = masters.iter().map(|m| m.2).sum();
    if total_weight <= 0.0 {
        return None;
    }
    let mut balances: Vec<(usize, i64)> = Vec::with_capacity(masters.len());
    let mut over_threshold = false;
    for &(index, slots, weight) in masters {
        let expected = ((SLOT_COUNT as f32 / total_weight) * weight) as i64;
        balances.push((index, slots as i64 - expected));
        // 0 slots: an infinite error when a share is due, NaN (never over) when none is.
        let err_pct = (100.0 - 100.0 * expected as f32 / slots as f32).abs();
        over_threshold |= err_pct > threshold_pct;
    }
    if !over_threshold {
        return None;
    }
    // Rounding leaves a positive total: take it from the receivers so both sides match.
    let mut total: i64 = balances.iter().map(|b| b.1).sum();
    while total > 0 {
        for balance in balances.iter_mut() {
            if balance.1 <= 0 && total > 0 {
                balance.1 -= 1;
                total -= 1;
            }
        }
    }
    balances.sort_by_key(|b| b.1);
    let mut transfers = Vec::new();
    let (mut dst, mut src) = (0, balances.len().saturating_sub(1));
    while dst < src {
        let count = balances[dst]
            .1
            .unsigned_abs()
            .min(balances[src].1.unsigned_abs());
        if count > 0 {
            transfers.push(Transfer {
                from: balances[src].0,
                to: balances[dst].0,
                count: count as usize,
            });
        }
        balances[dst].1 += count as i64;
        balances[src].1 -= count as i64;
        if balances[dst].1 == 0 {
            dst += 1;
        }
        if balances[src].1 == 0 {
            src -= 1;
        }
    }
    Some(transfers)
}

/// Loads the cluster from `addr`, checks it, and rebalances it (see the module docs).
pub async fn rebalance(
    addr: &str,
    options: &RebalanceOptions,
) -> Result<RebalanceReport, AdminError> {
    let mut topology = super::load(addr).await?;
    if !analyze(&topology).is_ok() {
        return Err(AdminError::ClusterProblems);
    }
    for (id, _) in &options.weights {
        if topology.find(id).is_none() {
            return Err(AdminError::Failed(format!("*** No such master node {id}")));
        }
    }
    let masters: Vec<(usize, usize, f32)> = topology
        .masters()
        .into_iter()
        .map(|i| {
            let node = &topology.nodes[i];
            let given = options
                .weights
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(&node.id))
                .map(|w| w.1);
            let weight = match given {
                _ if node.slots.is_empty() && !options.use_empty_masters => 0.0,
                Some(w) => w,
                None => 1.0,
            };
            (i, node.slots.len(), weight)
        })
        .collect();
    let Some(plan) = plan_rebalance(&masters, options.threshold_pct) else {
        return Ok(RebalanceReport::default());
    };
    let mut report = RebalanceReport {
        needed: true,
        ..RebalanceReport::default()
    };
    for transfer in plan {
        let (from, to) = (transfer.from, transfer.to);
        report.transfers.push((
            topology.nodes[from].addr.clone(),
            topology.nodes[to].addr.clone(),
            transfer.count,
        ));
        let slots: Vec<u16> = topology.nodes[from].slots.iter().copied().collect();
        for (_, slot) in reshard_table(&[(from, slots)], transfer.count) {
            if options.simulate {
                continue;
            }
            let keys = move_slot(&mut topology, from, to, slot, options.moves).await?;
            report.moves.push(SlotMove {
                slot,
                from: topology.nodes[from].id.clone(),
                to: topology.nodes[to].id.clone(),
                keys,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_master_gets_a_quarter_from_the_others() {
        let masters = [(0, 5461, 1.0), (1, 5462, 1.0), (2, 5461, 1.0), (3, 0, 1.0)];
        let plan = plan_rebalance(&masters, 2.0).expect("needed");
        assert_eq!(
            plan,
            vec![
                Transfer {
                    from: 1,
                    to: 3,
                    count: 1366
                },
                Transfer {
                    from: 2,
                    to: 3,
                    count: 1365
                },
                Transfer {
                    from: 0,
                    to: 3,
                    count: 1365
                },
            ]
        );
        let moved: usize = plan.iter().map(|t| t.count).sum();
        assert_eq!(moved, 4096);
    }

    #[test]
    fn empty_masters_stay_out_unless_asked_and_small_skews_are_left_alone() {
        // Weight 0: the empty master is ignored, the others are balanced already.
        let masters = [(0, 5461, 1.0), (1, 5462, 1.0), (2, 5461, 1.0), (3, 0, 0.0)];
        assert_eq!(plan_rebalance(&masters, 2.0), None);
        // 1.5 % off is within the 2 % threshold; 3 % is not.
        assert_eq!(plan_rebalance(&[(0, 8315, 1.0), (1, 8069, 1.0)], 2.0), None);
        let plan = plan_rebalance(&[(0, 8437, 1.0), (1, 7947, 1.0)], 2.0).expect("needed");
        assert_eq!(
            plan,
            vec![Transfer {
                from: 0,
                to: 1,
                count: 245
            }]
        );
        // Weight 0 empties a master (how slots are drained before del-node).
        let drain = [(0, 5461, 1.0), (1, 5462, 1.0), (2, 5461, 0.0)];
        let plan = plan_rebalance(&drain, 2.0).expect("needed");
        let counts: Vec<(usize, usize, usize)> =
            plan.iter().map(|t| (t.from, t.to, t.count)).collect();
        assert_eq!(counts, vec![(2, 0, 2731), (2, 1, 2730)]);
    }
}
