//! A chaos schedule for a real local cluster: what happens to which node when, drawn from a
//! seed or read back from JSON. Plain data and a pure drawing function, so a seed always gives
//! exactly the same schedule and a saved one replays exactly the same steps; applying it to
//! processes is `chaos::driver`'s job.
//!
//! Nodes are named by their position among the started nodes (port = first port + position),
//! because node ids and roles change under the faults. A failover and a reshard name what to act
//! on at the time they run (see [`Action`]), for the same reason.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The schedule file format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The quiet time before the first fault, so clients can connect first.
pub const FIRST_FAULT_MS: u64 = 1_000;
/// Most slots one reshard moves: a few, so a step takes well under a second.
pub const RESHARD_SLOTS_MAX: u16 = 8;
/// Most steps a schedule holds (a bound on any file we are handed, too).
pub const STEPS_MAX: usize = 10_000;

/// The cluster a schedule is drawn for, and how long it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaosShape {
    pub masters: usize,
    pub replicas: usize,
    pub node_timeout_ms: u64,
    pub duration_ms: u64,
}

impl ChaosShape {
    pub fn node_count(&self) -> usize {
        self.masters * (self.replicas + 1)
    }
}

/// One thing done to the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// `kill -9` the node's process.
    Kill { node: usize },
    /// Start the killed node again from its config and data.
    Restart { node: usize },
    /// `SIGSTOP`: the process stays, silent (past the node timeout, peers fail it over).
    Pause { node: usize },
    /// `SIGCONT` after a pause.
    Resume { node: usize },
    /// `CLUSTER FAILOVER` on the node if it is a replica then, else on its first replica.
    Failover { node: usize },
    /// Move `slots` slots with their keys between two masters, named by their position
    /// among the masters (ordered by port) when the step runs, modulo their number.
    Reshard {
        from_master: usize,
        to_master: usize,
        slots: u16,
    },
}

impl Action {
    /// The nodes a node-level action touches (none for a reshard).
    pub fn node(&self) -> Option<usize> {
        match *self {
            Action::Kill { node }
            | Action::Restart { node }
            | Action::Pause { node }
            | Action::Resume { node }
            | Action::Failover { node } => Some(node),
            Action::Reshard { .. } => None,
        }
    }

    /// Whether the step undoes a fault (it runs even when the run's time is up).
    pub fn is_heal(&self) -> bool {
        matches!(self, Action::Restart { .. } | Action::Resume { .. })
    }
}

/// An action and when it is due, in ms after the chaos started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: Action,
}

/// The whole schedule, as `--schedule-out` writes it and `--schedule` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaosSchedule {
    pub format: u32,
    /// The seed it was drawn from (kept for the record; replay does not redraw).
    pub seed: u64,
    #[serde(flatten)]
    pub shape: ChaosShape,
    pub steps: Vec<Step>,
}

/// The kinds of fault, dealt from a shuffled deck so a short run sees each kind once before
/// any repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    Kill,
    Pause,
    Failover,
    Reshard,
}

/// Draws the schedule of `seed` for `shape`: one fault at a time, each healed (restart,
/// resume) before the next starts, with a settling gap of one to two node timeouts plus a
/// second between faults, every step before `duration_ms`.
pub fn draw(seed: u64, shape: ChaosShape) -> ChaosSchedule {
    assert!(shape.masters >= 1 && shape.node_timeout_ms > 0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut deck: Vec<FaultKind> = Vec::new();
    let mut steps = Vec::new();
    let mut at_ms = FIRST_FAULT_MS;
    while steps.len() + 2 <= STEPS_MAX {
        if deck.is_empty() {
            deck = deck_for(shape);
            deck.shuffle(&mut rng);
        }
        let kind = deck.pop().expect("a dealt deck is not empty");
        let fault = draw_fault(&mut rng, kind, shape, at_ms);
        let end_ms = fault.last().map_or(at_ms, |s| s.at_ms);
        if end_ms >= shape.duration_ms {
            break;
        }
        steps.extend(fault);
        let timeout_ms = shape.node_timeout_ms;
        at_ms = end_ms + rng.gen_range(timeout_ms..=2 * timeout_ms) + 1_000;
    }
    let schedule = ChaosSchedule {
        format: FORMAT_VERSION,
        seed,
        shape,
        steps,
    };
    debug_assert_eq!(schedule.validate(), Ok(()));
    schedule
}

fn deck_for(shape: ChaosShape) -> Vec<FaultKind> {
    let mut deck = vec![FaultKind::Kill, FaultKind::Pause, FaultKind::Reshard];
    // A failover needs a replica to promote.
    if shape.replicas > 0 {
        deck.push(FaultKind::Failover);
    }
    deck
}

/// The steps of one fault starting at `at_ms`: the fault, then its heal if it has one.
fn draw_fault(rng: &mut ChaCha8Rng, kind: FaultKind, shape: ChaosShape, at_ms: u64) -> Vec<Step> {
    let node = rng.gen_range(0..shape.node_count());
    let timeout_ms = shape.node_timeout_ms;
    let step = |at_ms, action| Step { at_ms, action };
    match kind {
        FaultKind::Kill => {
            // Down from half a node timeout (back before anyone fails it over) to three.
            let down_ms = rng.gen_range(timeout_ms / 2..=3 * timeout_ms);
            vec![
                step(at_ms, Action::Kill { node }),
                step(at_ms + down_ms, Action::Restart { node }),
            ]
        }
        FaultKind::Pause => {
            // Always past the node timeout: long enough for peers to fail it.
            let paused_ms = rng.gen_range(3 * timeout_ms / 2..=3 * timeout_ms);
            vec![
                step(at_ms, Action::Pause { node }),
                step(at_ms + paused_ms, Action::Resume { node }),
            ]
        }
        FaultKind::Failover => vec![step(at_ms, Action::Failover { node })],
        FaultKind::Reshard => {
            let from_master = rng.gen_range(0..shape.masters);
            let hop = rng.gen_range(1..shape.masters.max(2));
            let to_master = (from_master + hop) % shape.masters;
            let slots = rng.gen_range(1..=RESHARD_SLOTS_MAX);
            vec![step(
                at_ms,
                Action::Reshard {
                    from_master,
                    to_master,
                    slots,
                },
            )]
        }
    }
}

impl ChaosSchedule {
    /// The schedule as pretty JSON (the `--schedule-out` file).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule serializes")
    }

    /// Reads a schedule file's text, checking it can be applied.
    pub fn from_json(text: &str) -> Result<ChaosSchedule, String> {
        let schedule: ChaosSchedule =
            serde_json::from_str(text).map_err(|e| format!("bad chaos schedule: {e}"))?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// The rules a schedule must keep: a known format, steps in time order within the
    /// duration, nodes that exist, every kill restarted and every pause resumed before the
    /// next fault, a reshard between two different masters.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT_VERSION {
            return Err(format!(
                "chaos schedule format {} (this clusterlab reads {FORMAT_VERSION})",
                self.format
            ));
        }
        let shape = self.shape;
        if shape.masters < 3 || shape.node_timeout_ms == 0 || self.steps.len() > STEPS_MAX {
            return Err(
                "chaos schedule: need 3+ masters, a node timeout, at most 10000 steps".into(),
            );
        }
        let mut last_ms = 0;
        let mut open: Option<Action> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("chaos schedule step {i} ({} ms)", step.at_ms);
            if step.at_ms < last_ms || step.at_ms >= shape.duration_ms {
                return Err(format!("{at}: out of order or past the duration"));
            }
            last_ms = step.at_ms;
            if step.action.node().is_some_and(|n| n >= shape.node_count()) {
                return Err(format!("{at}: no such node"));
            }
            open = next_open(open, &step.action).map_err(|e| format!("{at}: {e}"))?;
            if let Action::Reshard {
                from_master,
                to_master,
                slots,
            } = step.action
            {
                let masters = shape.masters;
                if from_master % masters == to_master % masters || slots == 0 {
                    return Err(format!("{at}: a reshard needs two masters and 1+ slots"));
                }
            }
        }
        match open {
            Some(fault) => Err(format!("chaos schedule ends with {fault:?} not undone")),
            None => Ok(()),
        }
    }
}

/// The fault left open after `action`, given the one open before it.
fn next_open(open: Option<Action>, action: &Action) -> Result<Option<Action>, String> {
    match (open, action) {
        (None, Action::Kill { .. } | Action::Pause { .. }) => Ok(Some(action.clone())),
        (None, Action::Failover { .. } | Action::Reshard { .. }) => Ok(None),
        (Some(Action::Kill { node }), Action::Restart { node: n }) if node == *n => Ok(None),
        (Some(Action::Pause { node }), Action::Resume { node: n }) if node == *n => Ok(None),
        (open, action) => Err(format!("{action:?} while {open:?} is open")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(replicas: usize, duration_ms: u64) -> ChaosShape {
        ChaosShape {
            masters: 3,
            replicas,
            node_timeout_ms: 1_000,
            duration_ms,
        }
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let a = draw(7, shape(1, 60_000));
        assert_eq!(a, draw(7, shape(1, 60_000)));
        assert_ne!(a.steps, draw(8, shape(1, 60_000)).steps);
        assert_eq!(a.seed, 7);
        assert_eq!(a.format, FORMAT_VERSION);
    }

    #[test]
    fn seed_1_draws_exactly_this() {
        // Pinned: a change here changes every saved seed's meaning.
        let s = draw(1, shape(1, 12_000));
        let text: Vec<String> = s
            .steps
            .iter()
            .map(|s| format!("{} {:?}", s.at_ms, s.action))
            .collect();
        assert_eq!(text, PINNED_SEED_1, "{text:#?}");
    }

    const PINNED_SEED_1: [&str; 5] = [
        "1000 Reshard { from_master: 0, to_master: 2, slots: 4 }",
        "3710 Pause { node: 0 }",
        "5251 Resume { node: 0 }",
        "8193 Kill { node: 5 }",
        "11134 Restart { node: 5 }",
    ];

    #[test]
    fn every_kind_comes_before_any_repeats() {
        for seed in 0..50 {
            let s = draw(seed, shape(1, 600_000));
            let kinds: Vec<&str> = s
                .steps
                .iter()
                .filter(|s| !s.action.is_heal())
                .take(4)
                .map(|s| kind_name(&s.action))
                .collect();
            let mut sorted = kinds.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                ["failover", "kill", "pause", "reshard"],
                "seed {seed}"
            );
        }
    }

    #[test]
    fn no_failover_without_replicas() {
        for seed in 0..20 {
            let s = draw(seed, shape(0, 120_000));
            assert!(s.steps.len() > 4, "seed {seed}");
            assert!(s
                .steps
                .iter()
                .all(|s| !matches!(s.action, Action::Failover { .. })));
        }
    }

    #[test]
    fn drawn_schedules_keep_the_rules() {
        for seed in 0..200 {
            let s = draw(seed, shape(1, 90_000));
            assert_eq!(s.validate(), Ok(()), "seed {seed}");
            assert!(s.steps.iter().all(|s| s.at_ms < 90_000));
            // Faults are spaced: a fault starts at least a node timeout and a second after
            // the previous one was undone.
            let faults: Vec<&Step> = s.steps.iter().filter(|s| !s.action.is_heal()).collect();
            for pair in s.steps.windows(2) {
                if !pair[1].action.is_heal() {
                    assert!(pair[1].at_ms >= pair[0].at_ms + 2_000, "seed {seed}");
                }
            }
            for step in s.steps.iter() {
                match step.action {
                    Action::Pause { .. } => {
                        let resume = next_step(&s, step);
                        assert!(
                            resume.at_ms - step.at_ms >= 1_500,
                            "paused past the timeout"
                        );
                    }
                    Action::Kill { .. } => {
                        let restart = next_step(&s, step);
                        assert!(restart.at_ms - step.at_ms >= 500);
                    }
                    _ => {}
                }
            }
            assert!(!faults.is_empty());
        }
    }

    fn next_step<'a>(s: &'a ChaosSchedule, step: &Step) -> &'a Step {
        let i = s.steps.iter().position(|x| x == step).unwrap();
        &s.steps[i + 1]
    }

    #[test]
    fn a_short_duration_has_room_for_nothing() {
        assert!(draw(3, shape(1, FIRST_FAULT_MS)).steps.is_empty());
    }

    #[test]
    fn json_round_trips_exactly() {
        let s = draw(42, shape(1, 30_000));
        let text = s.to_json();
        assert_eq!(ChaosSchedule::from_json(&text), Ok(s));
        assert!(text.contains("\"action\": \"kill\""), "{text}");
        assert!(text.contains("\"node_timeout_ms\": 1000"), "{text}");
    }

    #[test]
    fn the_file_format_is_this() {
        let text = r#"{"format":1,"seed":5,"masters":3,"replicas":1,"node_timeout_ms":500,
            "duration_ms":9000,"steps":[
            {"at_ms":1000,"action":"pause","node":4},
            {"at_ms":2000,"action":"resume","node":4},
            {"at_ms":4000,"action":"reshard","from_master":2,"to_master":0,"slots":3},
            {"at_ms":6000,"action":"failover","node":0}]}"#;
        let s = ChaosSchedule::from_json(text).unwrap();
        assert_eq!(s.shape.node_timeout_ms, 500);
        assert_eq!(
            s.steps[2].action,
            Action::Reshard {
                from_master: 2,
                to_master: 0,
                slots: 3
            }
        );
        assert_eq!(s.steps[3].action, Action::Failover { node: 0 });
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let mut s = draw(9, shape(1, 30_000));
        let good = s.clone();
        s.format = 2;
        assert!(s.validate().unwrap_err().contains("format 2"));
        let mut s = good.clone();
        s.steps.swap(0, 1);
        assert!(s.validate().is_err());
        let mut s = good.clone();
        s.steps[0].action = Action::Kill { node: 6 };
        assert!(s.validate().unwrap_err().contains("no such node"));
        let mut s = good.clone();
        s.steps.retain(|s| !s.action.is_heal());
        assert!(s.validate().is_err(), "a kill or pause left open");
        let mut s = good;
        s.steps.push(Step {
            at_ms: 29_999,
            action: Action::Reshard {
                from_master: 1,
                to_master: 4,
                slots: 2,
            },
        });
        assert!(s.validate().unwrap_err().contains("two masters"));
        assert!(ChaosSchedule::from_json("{\"format\":1}").is_err());
    }

    fn kind_name(action: &Action) -> &'static str {
        match action {
            Action::Kill { .. } | Action::Restart { .. } => "kill",
            Action::Pause { .. } | Action::Resume { .. } => "pause",
            Action::Failover { .. } => "failover",
            Action::Reshard { .. } => "reshard",
        }
    }
}
