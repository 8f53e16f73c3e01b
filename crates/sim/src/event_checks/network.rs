//! How late a message may arrive, as the fault events of the trace say: the latency a
//! latency episode adds, the retries packet loss costs, and the backlog a cut leaves behind
//! (a paused node, or one held for a sync on its thread, is a cut too).
//! The detection checks widen their windows by this much instead of going quiet.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use clusterlab_core::ClusterEvent;

use crate::faults::{Fault, DEFAULT_LATENCY_MS};
use crate::trace::{Event, FaultEvent, ProcessEvent, TraceEvent};

/// madsim retries a message its network held back (a clog, or a lost packet) after a backoff
/// that doubles from 1 ms up to this cap; the stream behind it waits, as TCP's
/// retransmission would. A message sent into a cut may so arrive this long after it heals.
pub(crate) const RETRY_BACKOFF_CAP_MS: u64 = 10_000;

/// A packet-loss rate makes `k` losses in a row as unlikely as this; the retries before the
/// message gets through then cost at most `2^(k+1)` ms of backoff.
const LOSS_RUN_PROBABILITY: f64 = 1e-6;

/// One change of the network's delivery bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    time_us: u64,
    /// One-way latency at most (ms).
    latency_ms: u64,
    /// Extra delay packet loss may add to one message (ms).
    loss_ms: u64,
    /// Network cuts and paused nodes in force (a cut's backlog arrives late).
    cuts: u32,
    /// Nodes held for a sync on their thread (`SyncStalled`): as paused, but no fault's
    /// undo or heal ends them.
    stalls: u32,
}

/// The trace's network faults in time order, to bound delivery delays.
#[derive(Clone, Debug, Default)]
pub(crate) struct DelayBounds {
    steps: Vec<Step>,
}

impl DelayBounds {
    /// The bounds the fault and process events of `events` set.
    pub(crate) fn from_events(events: &[TraceEvent]) -> DelayBounds {
        let mut now = Step {
            time_us: 0,
            latency_ms: DEFAULT_LATENCY_MS.1,
            loss_ms: 0,
            cuts: 0,
            stalls: 0,
        };
        let mut steps = vec![now];
        // When each node held for a sync (`SyncStalled`) runs again: a stall is a pause.
        let mut stall_ends: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
        for event in events {
            end_stalls(&mut stall_ends, &mut steps, &mut now, event.time_us);
            now.time_us = event.time_us;
            match &event.event {
                Event::Fault(FaultEvent::Applied(fault)) => apply(&mut now, fault),
                Event::Fault(FaultEvent::HealAll) => {
                    // Healing ends every fault, not a node's stall on its own disk.
                    now = Step {
                        time_us: event.time_us,
                        stalls: now.stalls,
                        ..steps[0]
                    }
                }
                Event::Process(ProcessEvent::Pause) => now.cuts += 1,
                Event::Process(ProcessEvent::Resume) => now.cuts = now.cuts.saturating_sub(1),
                Event::Cluster(ClusterEvent::SyncStalled { ms }) => {
                    now.stalls += 1;
                    stall_ends.push(Reverse(event.time_us + ms * 1000));
                }
                _ => continue,
            }
            steps.push(now);
        }
        end_stalls(&mut stall_ends, &mut steps, &mut now, u64::MAX);
        DelayBounds { steps }
    }

    /// The longest a message sent in `[from_us, to_us]` may take to arrive, in ms: the worst
    /// latency and loss retries in force then, plus [`RETRY_BACKOFF_CAP_MS`] and the cut's
    /// length when a cut or pause was in force (its backlog waits for the retry).
    pub(crate) fn max_delay_ms(&self, from_us: u64, to_us: u64) -> u64 {
        let mut worst = 0;
        let mut cut_since: Option<u64> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let until = self.steps.get(i + 1).map_or(u64::MAX, |s| s.time_us);
            if until < from_us || step.time_us > to_us {
                continue;
            }
            let mut delay = step.latency_ms + step.loss_ms;
            if step.cuts + step.stalls > 0 {
                let since = *cut_since.get_or_insert(step.time_us);
                let cut_ms = until.min(to_us).saturating_sub(since) / 1000;
                delay += cut_ms + RETRY_BACKOFF_CAP_MS;
            } else {
                cut_since = None;
            }
            worst = worst.max(delay);
        }
        worst
    }
}

/// The stalls that ended by `until_us`, each a step with one cut fewer.
fn end_stalls(
    ends: &mut BinaryHeap<Reverse<u64>>,
    steps: &mut Vec<Step>,
    now: &mut Step,
    until_us: u64,
) {
    while let Some(&Reverse(end)) = ends.peek() {
        if end > until_us {
            break;
        }
        ends.pop();
        now.time_us = end;
        now.stalls = now.stalls.saturating_sub(1);
        steps.push(*now);
    }
}

fn apply(now: &mut Step, fault: &Fault) {
    match fault {
        Fault::Latency { max_ms, .. } => now.latency_ms = *max_ms,
        Fault::PacketLoss { permille } => now.loss_ms = loss_delay_ms(*permille),
        Fault::Partition { .. } | Fault::ClogLink { .. } | Fault::ClogNode { .. } => now.cuts += 1,
        Fault::Heal | Fault::UnclogLink { .. } | Fault::UnclogNode { .. } => {
            now.cuts = now.cuts.saturating_sub(1)
        }
        _ => {}
    }
}

/// The backoff `k` losses in a row cost, `k` the shortest run as unlikely as
/// [`LOSS_RUN_PROBABILITY`] at this loss rate.
pub(crate) fn loss_delay_ms(permille: u32) -> u64 {
    if permille == 0 {
        return 0;
    }
    let rate = f64::from(permille.min(999)) / 1000.0;
    let run = (LOSS_RUN_PROBABILITY.ln() / rate.ln()).ceil() as u32;
    (1u64 << (run + 1).min(14)).min(RETRY_BACKOFF_CAP_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(ms: u64, fault: Fault) -> TraceEvent {
        TraceEvent {
            time_us: ms * 1000,
            node: "faults".into(),
            event: Event::Fault(FaultEvent::Applied(fault)),
        }
    }

    #[test]
    fn latency_shifts_the_bound_and_a_cut_adds_its_backlog() {
        let events = [
            fault(
                1000,
                Fault::Latency {
                    min_ms: 50,
                    max_ms: 900,
                },
            ),
            fault(3000, Fault::ClogLink { from: 0, to: 1 }),
            fault(5000, Fault::UnclogLink { from: 0, to: 1 }),
        ];
        let bounds = DelayBounds::from_events(&events);
        assert_eq!(bounds.max_delay_ms(0, 900_000), DEFAULT_LATENCY_MS.1);
        assert_eq!(bounds.max_delay_ms(0, 2_000_000), 900);
        // A 2 s cut: its backlog may wait for the capped retry.
        assert_eq!(bounds.max_delay_ms(0, 6_000_000), 900 + 2000 + 10_000);
    }

    /// Seed 930138: node3, held 10.5 s by its slow disk, read the failure reports that waited
    /// meanwhile only when the stall ended.
    #[test]
    fn a_node_held_for_a_sync_is_a_cut_until_the_stall_ends() {
        let stalled = TraceEvent {
            time_us: 2_000_000,
            node: "node3".into(),
            event: Event::Cluster(ClusterEvent::SyncStalled { ms: 3000 }),
        };
        let bounds = DelayBounds::from_events(std::slice::from_ref(&stalled));
        let latency = DEFAULT_LATENCY_MS.1;
        assert_eq!(bounds.max_delay_ms(0, 1_900_000), latency);
        assert_eq!(bounds.max_delay_ms(0, 6_000_000), latency + 3000 + 10_000);
        assert_eq!(bounds.max_delay_ms(5_100_000, 6_000_000), latency);
        // Asked from inside the stall: its backlog so far.
        assert_eq!(
            bounds.max_delay_ms(3_000_000, 4_000_000),
            latency + 2000 + 10_000
        );
        // The heal before the liveness phase does not end it, nor the resumes after it.
        let heal = TraceEvent {
            time_us: 2_500_000,
            node: "faults".into(),
            event: Event::Fault(FaultEvent::HealAll),
        };
        let resume = TraceEvent {
            time_us: 2_600_000,
            node: "node7".into(),
            event: Event::Process(ProcessEvent::Resume),
        };
        let bounds = DelayBounds::from_events(&[stalled, heal, resume]);
        assert!(bounds.max_delay_ms(3_000_000, 4_000_000) > latency + 10_000);
    }

    #[test]
    fn loss_costs_retries_in_proportion_to_its_rate() {
        assert_eq!(loss_delay_ms(0), 0);
        // 5 %: five losses in a row are rarer than 1e-6: 2^6 ms.
        assert_eq!(loss_delay_ms(50), 64);
        assert!(loss_delay_ms(250) >= 1024);
    }
}
