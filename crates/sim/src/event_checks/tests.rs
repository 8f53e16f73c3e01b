//! Planted event lists: a clean failover passes, and each broken rule is reported under its
//! kind with the evidence that names it.

use clusterlab_core::event::{ConfigEpochReason, EpochReason, FailSource, PromotionKind};
use clusterlab_core::{ClusterEvent, NodeId};

use super::check_events;
use crate::faults::Fault;
use crate::report::{Violation, ViolationKind};
use crate::trace::{Event, FaultEvent, ProcessEvent, TraceEvent};

const NT: u64 = 5000;

fn id(c: u8) -> NodeId {
    NodeId([c; clusterlab_core::node_id::NODE_ID_LEN])
}

/// Masters `a`, `b`, `c` (node1..3) and `r` (node4), a replica of `a`.
const A: u8 = b'a';
const B: u8 = b'b';
const C: u8 = b'c';
const R: u8 = b'r';
/// A second replica of `a` (node5), for the rank rule.
const S: u8 = b's';

fn name(c: u8) -> &'static str {
    match c {
        A => "node1",
        B => "node2",
        C => "node3",
        S => "node5",
        _ => "node4",
    }
}

/// A trace under construction.
#[derive(Default)]
struct Plant(Vec<TraceEvent>);

impl Plant {
    fn at(&mut self, ms: u64, who: u8, event: ClusterEvent) -> &mut Self {
        self.0.push(TraceEvent {
            time_us: ms * 1000,
            node: name(who).to_string(),
            event: Event::Cluster(event),
        });
        self
    }

    fn process(&mut self, ms: u64, who: u8, event: ProcessEvent) -> &mut Self {
        self.0.push(TraceEvent {
            time_us: ms * 1000,
            node: name(who).to_string(),
            event: Event::Process(event),
        });
        self
    }

    fn fault(&mut self, ms: u64, fault: Fault) -> &mut Self {
        self.0.push(TraceEvent {
            time_us: ms * 1000,
            node: "faults".into(),
            event: Event::Fault(FaultEvent::Applied(fault)),
        });
        self
    }

    fn start(
        &mut self,
        ms: u64,
        who: u8,
        as_id: u8,
        loaded: bool,
        epochs: (u64, u64, u64),
    ) -> &mut Self {
        let master = (who == R).then(|| id(A));
        self.at(
            ms,
            who,
            ClusterEvent::NodeStarted {
                id: id(as_id),
                loaded,
                current_epoch: epochs.0,
                config_epoch: epochs.1,
                last_vote_epoch: epochs.2,
                master,
                flagged: Vec::new(),
            },
        )
    }

    /// Every node starts, sees the three masters' slots at epochs 1..3 (agreed at create).
    fn cluster() -> Plant {
        let mut p = Plant::default();
        for who in [A, B, C, R] {
            p.start(0, who, who, false, (0, 0, 0));
        }
        for (i, who) in [A, B, C].into_iter().enumerate() {
            let epoch = i as u64 + 1;
            p.at(
                10,
                who,
                ClusterEvent::CurrentEpochChanged {
                    epoch: 3,
                    reason: EpochReason::SetConfigEpoch,
                },
            );
            p.at(
                10,
                who,
                ClusterEvent::ConfigEpochChanged {
                    epoch,
                    reason: ConfigEpochReason::SetConfigEpoch,
                },
            );
        }
        p.at(
            10,
            R,
            ClusterEvent::CurrentEpochChanged {
                epoch: 3,
                reason: EpochReason::LearnedFromPeer,
            },
        );
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for viewer in [A, B, C, R] {
            for (owner, range) in [A, B, C].into_iter().zip(ranges) {
                p.at(
                    20,
                    viewer,
                    ClusterEvent::SlotsAssigned {
                        ranges: vec![range],
                        owner: Some(id(owner)),
                    },
                );
            }
        }
        p
    }

    /// [`Plant::cluster`], then `b` restarts from nodes.conf at 20 s with the same table.
    fn b_restarted_at_20s() -> Plant {
        let mut p = Plant::cluster();
        p.start(20_000, B, B, true, (3, 2, 0));
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (owner, range) in [A, B, C].into_iter().zip(ranges) {
            p.at(
                20_000,
                B,
                ClusterEvent::SlotsAssigned {
                    ranges: vec![range],
                    owner: Some(id(owner)),
                },
            );
        }
        p
    }

    /// `a` fails; `b` and `c` flag it and `b` reaches the quorum with `c`'s report; `r` is
    /// elected in epoch 4 with both votes.
    fn failover() -> Plant {
        let mut p = Plant::cluster();
        p.at(9000, B, ClusterEvent::PfailMarked { node: id(A) })
            .at(9100, C, ClusterEvent::PfailMarked { node: id(A) })
            .at(9100, R, ClusterEvent::PfailMarked { node: id(A) })
            .at(
                9300,
                B,
                ClusterEvent::FailQuorumReached {
                    node: id(A),
                    reporters: vec![id(C)],
                    size: 3,
                },
            )
            .at(
                9300,
                B,
                ClusterEvent::FailMarked {
                    node: id(A),
                    source: FailSource::Quorum,
                },
            );
        for who in [C, R] {
            p.at(
                9310,
                who,
                ClusterEvent::FailMarked {
                    node: id(A),
                    source: FailSource::Message,
                },
            );
        }
        p.at(
            9400,
            R,
            ClusterEvent::ElectionScheduled {
                delay_ms: 700,
                rank: 0,
                offset: 10,
            },
        )
        .at(
            10_100,
            R,
            ClusterEvent::CurrentEpochChanged {
                epoch: 4,
                reason: EpochReason::Election,
            },
        )
        .at(10_100, R, ClusterEvent::ElectionStarted { epoch: 4 });
        for voter in [B, C] {
            p.at(
                10_110,
                voter,
                ClusterEvent::CurrentEpochChanged {
                    epoch: 4,
                    reason: EpochReason::LearnedFromPeer,
                },
            )
            .at(
                10_110,
                voter,
                ClusterEvent::VoteGranted {
                    epoch: 4,
                    candidate: id(R),
                    master: id(A),
                },
            );
        }
        p.at(
            10_120,
            R,
            ClusterEvent::ConfigEpochChanged {
                epoch: 4,
                reason: ConfigEpochReason::Election,
            },
        )
        .at(
            10_120,
            R,
            ClusterEvent::Promoted {
                kind: PromotionKind::Election,
                config_epoch: 4,
                old_master: id(A),
                offset: 0,
                coordinated: false,
            },
        )
        .at(
            10_120,
            R,
            ClusterEvent::SlotsAssigned {
                ranges: vec![(0, 5460)],
                owner: Some(id(R)),
            },
        );
        p
    }

    fn check(&self) -> Vec<Violation> {
        let mut events = self.0.clone();
        events.sort_by_key(|e| e.time_us);
        check_events(&events, NT)
    }
}

/// The one violation `plant` yields, which must be of `kind` and mention `words`.
fn only(plant: &Plant, kind: ViolationKind, words: &str) {
    let found = plant.check();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, kind, "{found:#?}");
    assert!(found[0].evidence.contains(words), "{}", found[0].evidence);
}

#[test]
fn a_clean_failover_passes() {
    assert_eq!(Plant::failover().check(), vec![]);
}

#[test]
fn a_fail_quorum_needs_reports_that_really_were_made() {
    // `c` never flagged `a`: its report cannot have existed.
    let mut p = Plant::failover();
    p.0.retain(|e| {
        !(e.node == "node3" && matches!(e.event.cluster(), Some(ClusterEvent::PfailMarked { .. })))
    });
    only(
        &p,
        ViolationKind::FailWithoutQuorum,
        "reporter cccccccc never flagged it",
    );
    // No reporter at all: a master alone is 1 of a quorum of 2.
    let mut p = Plant::failover();
    p.at(
        9300,
        B,
        ClusterEvent::FailQuorumReached {
            node: id(A),
            reporters: vec![],
            size: 3,
        },
    );
    only(
        &p,
        ViolationKind::FailWithoutQuorum,
        "0 valid report(s) + 1 (itself) < quorum 2",
    );
}

#[test]
fn an_expired_report_does_not_count_unless_latency_delayed_it() {
    // `c` flagged `a` from 0.5 s to 1 s, `b` counted it at 11.2 s: 10.2 s later, past the
    // 2 × 5 s validity.
    let mut p = Plant::cluster();
    p.at(500, C, ClusterEvent::PfailMarked { node: id(A) })
        .at(1000, C, ClusterEvent::PfailCleared { node: id(A) })
        .at(11_000, B, ClusterEvent::PfailMarked { node: id(A) })
        .at(
            11_200,
            B,
            ClusterEvent::FailQuorumReached {
                node: id(A),
                reporters: vec![id(C)],
                size: 3,
            },
        );
    only(
        &p,
        ViolationKind::FailWithoutQuorum,
        "never flagged it in the 10000 ms",
    );
    // With up to 900 ms of latency the gossip may have arrived that much later: valid.
    p.fault(
        100,
        Fault::Latency {
            min_ms: 50,
            max_ms: 900,
        },
    );
    assert_eq!(p.check(), vec![]);
}

#[test]
fn a_replicas_report_does_not_count() {
    let mut p = Plant::cluster();
    p.at(9000, B, ClusterEvent::PfailMarked { node: id(A) })
        .at(19_000, R, ClusterEvent::PfailMarked { node: id(A) })
        .at(
            19_100,
            B,
            ClusterEvent::FailQuorumReached {
                node: id(A),
                reporters: vec![id(R)],
                size: 3,
            },
        );
    only(
        &p,
        ViolationKind::FailWithoutQuorum,
        "rrrrrrrr was a replica all along",
    );
}

#[test]
fn votes_follow_the_voting_rules() {
    // `c` votes in epoch 4 again, for another candidate: twice in one epoch.
    let mut p = Plant::failover();
    p.at(
        10_200,
        C,
        ClusterEvent::VoteGranted {
            epoch: 4,
            candidate: id(b'x'),
            master: id(A),
        },
    );
    only(&p, ViolationKind::DoubleVote, "twice in epoch 4");
    // The same epoch after a restart from nodes.conf is still a second vote.
    let mut p = Plant::failover();
    p.start(10_500, C, C, true, (4, 3, 4)).at(
        10_600,
        C,
        ClusterEvent::VoteGranted {
            epoch: 4,
            candidate: id(b'x'),
            master: id(B),
        },
    );
    let found = p.check();
    assert!(
        found.iter().any(|v| v.kind == ViolationKind::DoubleVote),
        "{found:#?}"
    );
    // A replica of the same master 3 s later, in a new epoch: within two node timeouts.
    let mut p = Plant::failover();
    p.at(
        13_000,
        C,
        ClusterEvent::CurrentEpochChanged {
            epoch: 5,
            reason: EpochReason::LearnedFromPeer,
        },
    )
    .at(
        13_000,
        C,
        ClusterEvent::VoteGranted {
            epoch: 5,
            candidate: id(b'x'),
            master: id(A),
        },
    );
    only(&p, ViolationKind::DoubleVote, "2890 ms apart");
}

#[test]
fn a_vote_needs_a_failed_master_a_serving_voter_and_the_current_epoch() {
    // `b` votes before it flags `a` FAIL, in an epoch it has not reached.
    let mut p = Plant::cluster();
    p.at(
        5000,
        B,
        ClusterEvent::VoteGranted {
            epoch: 4,
            candidate: id(R),
            master: id(A),
        },
    );
    only(
        &p,
        ViolationKind::VoteRuleBroken,
        "its current epoch is 3; it does not flag",
    );
    // A manual failover's election (FORCEACK) needs no FAIL flag.
    let mut p = Plant::cluster();
    p.fault(
        4000,
        Fault::ManualFailover {
            node: 3,
            mode: crate::faults::FailoverMode::Force,
        },
    )
    .at(
        4100,
        R,
        ClusterEvent::CurrentEpochChanged {
            epoch: 4,
            reason: EpochReason::Election,
        },
    )
    .at(4100, R, ClusterEvent::ElectionStarted { epoch: 4 })
    .at(
        5000,
        B,
        ClusterEvent::CurrentEpochChanged {
            epoch: 4,
            reason: EpochReason::LearnedFromPeer,
        },
    )
    .at(
        5000,
        B,
        ClusterEvent::VoteGranted {
            epoch: 4,
            candidate: id(R),
            master: id(A),
        },
    );
    assert_eq!(p.check(), vec![]);
    // The replica itself may not vote.
    let mut p = Plant::failover();
    p.at(
        10_110,
        R,
        ClusterEvent::VoteGranted {
            epoch: 4,
            candidate: id(b'x'),
            master: id(A),
        },
    );
    only(
        &p,
        ViolationKind::VoteRuleBroken,
        "not a master serving slots",
    );
}

#[test]
fn a_vote_is_refused_when_the_voter_knows_a_newer_owner_of_a_claimed_slot() {
    // `r` won epoch 4 and took `a`'s slots. `s`, another replica of `a` whose table still
    // gives them to `a` (config epoch 1), runs a manual failover in epoch 5 and `b` votes.
    let plant = |b_learned_r_epoch: bool| {
        let mut p = Plant::failover();
        p.start(0, S, S, false, (0, 0, 0))
            .at(5, S, ClusterEvent::BecameReplica { master: id(A) })
            .at(
                20,
                S,
                ClusterEvent::SlotsAssigned {
                    ranges: vec![(0, 5460)],
                    owner: Some(id(A)),
                },
            )
            .at(
                10_130,
                B,
                ClusterEvent::SlotsAssigned {
                    ranges: vec![(0, 5460)],
                    owner: Some(id(R)),
                },
            );
        if b_learned_r_epoch {
            p.at(
                10_130,
                B,
                ClusterEvent::PeerConfigEpochChanged {
                    node: id(R),
                    epoch: 4,
                },
            );
        }
        p.fault(
            29_000,
            Fault::ManualFailover {
                node: 4,
                mode: crate::faults::FailoverMode::Force,
            },
        )
        .at(
            29_100,
            S,
            ClusterEvent::CurrentEpochChanged {
                epoch: 5,
                reason: EpochReason::Election,
            },
        )
        .at(29_100, S, ClusterEvent::ElectionStarted { epoch: 5 })
        .at(
            29_110,
            B,
            ClusterEvent::CurrentEpochChanged {
                epoch: 5,
                reason: EpochReason::LearnedFromPeer,
            },
        )
        .at(
            29_110,
            B,
            ClusterEvent::VoteGranted {
                epoch: 5,
                candidate: id(S),
                master: id(A),
            },
        );
        p
    };
    only(
        &plant(true),
        ViolationKind::VoteRuleBroken,
        "claimed slot 0 to rrrrrrrr at config epoch 4, above the candidate's claim of at most 1",
    );
    // A voter that never learned the new owner's epoch may grant it.
    assert_eq!(plant(false).check(), vec![]);
}

#[test]
fn elections_follow_rank_delays_and_winners_take_their_epoch_with_a_majority() {
    let mut p = Plant::failover();
    p.at(
        9400,
        R,
        ClusterEvent::ElectionScheduled {
            delay_ms: 1200,
            rank: 0,
            offset: 10,
        },
    );
    let found = p.check();
    let kinds: Vec<ViolationKind> = found.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [ViolationKind::ElectionRuleBroken; 2], "{found:#?}");
    assert!(found[0].evidence.contains("the rule gives 500 to 999 ms"));
    assert!(found[1]
        .evidence
        .contains("700 ms after scheduling it with a delay of 1200 ms"));
    // One vote of two needed.
    let mut p = Plant::failover();
    p.0.retain(|e| {
        !(e.node == "node3" && matches!(e.event.cluster(), Some(ClusterEvent::VoteGranted { .. })))
    });
    only(
        &p,
        ViolationKind::PromotedWithoutMajority,
        "with 1 vote(s), quorum 2",
    );
    // The winner's config epoch is its election's.
    let mut p = Plant::failover();
    for e in &mut p.0 {
        if let Event::Cluster(ClusterEvent::Promoted { config_epoch, .. }) = &mut e.event {
            *config_epoch = 5;
        }
    }
    only(
        &p,
        ViolationKind::ElectionRuleBroken,
        "won the election for epoch 4 but took config epoch 5",
    );
}

#[test]
fn epochs_never_go_back_and_restarts_keep_them() {
    let mut p = Plant::cluster();
    p.at(
        1000,
        B,
        ClusterEvent::CurrentEpochChanged {
            epoch: 2,
            reason: EpochReason::LearnedFromPeer,
        },
    );
    only(
        &p,
        ViolationKind::EpochDecreased,
        "current epoch 3, then moved to 2",
    );
    // Restarted from nodes.conf with an older current epoch.
    let mut p = Plant::cluster();
    p.start(1000, B, B, true, (1, 2, 0));
    only(
        &p,
        ViolationKind::RestartForgotState,
        "with current epoch 1, but it had reached 3",
    );
    // A wiped disk is a new node: a new ID from scratch is fine, an old one is not.
    let mut p = Plant::cluster();
    p.start(1000, B, b'n', false, (0, 0, 0));
    assert_eq!(p.check(), vec![]);
    p.start(2000, B, B, false, (0, 0, 0));
    only(&p, ViolationKind::RestartForgotState, "an ID already used");
}

#[test]
fn one_owner_per_slot_per_agreed_epoch() {
    // `r` takes epoch 2 (b's) by an election and claims a's slots with it.
    let mut p = Plant::cluster();
    p.at(
        1000,
        R,
        ClusterEvent::ConfigEpochChanged {
            epoch: 2,
            reason: ConfigEpochReason::Election,
        },
    )
    .at(
        1000,
        R,
        ClusterEvent::SlotsAssigned {
            ranges: vec![(5461, 5470)],
            owner: Some(id(R)),
        },
    );
    only(
        &p,
        ViolationKind::SlotEpochConflict,
        "slots 5461-5470 at config epoch 2",
    );
    // Taken alone (a takeover), the same epoch is a collision Redis resolves later.
    for e in &mut p.0 {
        if let Event::Cluster(ClusterEvent::ConfigEpochChanged { reason, epoch: 2 }) = &mut e.event
        {
            *reason = ConfigEpochReason::Takeover;
        }
    }
    assert_eq!(p.check(), vec![]);
}

#[test]
fn keyed_commands_run_only_on_owned_imported_or_replicated_slots() {
    let served = |slot, asking, readonly| ClusterEvent::KeyServed {
        slot,
        asking,
        readonly,
    };
    let import = |from| ClusterEvent::ImportChanged { slot: 6000, from };
    let mut p = Plant::cluster();
    p.at(100, A, import(Some(id(B))))
        .at(100, A, served(100, false, false))
        .at(100, A, served(6000, true, false))
        .at(100, R, served(200, false, true));
    assert_eq!(p.check(), vec![]);
    // ASKING is not enough once the import is closed.
    let mut asked = Plant::cluster();
    asked
        .at(100, A, import(Some(id(B))))
        .at(150, A, import(None))
        .at(200, A, served(6000, true, false));
    only(
        &asked,
        ViolationKind::ServedUnownedSlot,
        "(ASKING, but it does not import the slot)",
    );
    p.at(200, A, served(6000, false, false));
    only(
        &p,
        ViolationKind::ServedUnownedSlot,
        "slot 6000 that its own table gives to bbbbbbbb",
    );
    let mut p = Plant::cluster();
    p.at(200, R, served(6000, false, true));
    only(&p, ViolationKind::ServedUnownedSlot, "(READONLY)");
}

#[test]
fn a_master_just_restarted_still_counts_with_redis_initial_size_of_one() {
    // `b` restarts from nodes.conf at 20 s and, 0.9 s later, flags `a` FAIL with no report:
    // Redis has not recomputed its size yet (1, quorum 1) in its first 2 s as a master.
    let mut p = Plant::b_restarted_at_20s();
    p.at(20_900, B, ClusterEvent::PfailMarked { node: id(A) })
        .at(
            20_900,
            B,
            ClusterEvent::FailQuorumReached {
                node: id(A),
                reporters: vec![],
                size: 1,
            },
        );
    assert_eq!(p.check(), vec![]);
    // Past the start-up delay the real size counts again.
    p.at(
        23_000,
        B,
        ClusterEvent::FailQuorumReached {
            node: id(A),
            reporters: vec![],
            size: 1,
        },
    );
    only(&p, ViolationKind::FailWithoutQuorum, "< quorum 2");
}

/// `b` restarts at 20 s and is held from 20.1 s to 24.1 s by `hold`: no cron ran past the 2 s
/// delay, so the gossip it reads afterwards still meets a quorum of 1 until its next cron.
fn assert_held_over_the_startup_delay_keeps_the_size_of_one(hold: impl Fn(&mut Plant)) {
    let quorum_at = |ms: u64| {
        let mut p = Plant::b_restarted_at_20s();
        hold(&mut p);
        p.at(24_100, B, ClusterEvent::PfailMarked { node: id(A) })
            .at(
                ms,
                B,
                ClusterEvent::FailQuorumReached {
                    node: id(A),
                    reporters: vec![],
                    size: 1,
                },
            );
        p.check()
    };
    assert_eq!(quorum_at(24_150), vec![]);
    assert!(
        quorum_at(24_300)
            .iter()
            .any(|v| v.kind == ViolationKind::FailWithoutQuorum),
        "one cron after the hold the real size counts"
    );
}

#[test]
fn a_pause_over_the_startup_delay_keeps_the_size_of_one_until_the_next_cron() {
    assert_held_over_the_startup_delay_keeps_the_size_of_one(|p| {
        p.process(20_100, B, ProcessEvent::Pause)
            .process(24_100, B, ProcessEvent::Resume);
    });
}

#[test]
fn a_sync_holding_a_restarted_master_over_the_startup_delay_keeps_the_size_of_one() {
    // Seed 998410: a slow disk held `b` in an fsync, as a pause would.
    assert_held_over_the_startup_delay_keeps_the_size_of_one(|p| {
        p.at(20_100, B, ClusterEvent::SyncStalled { ms: 4000 });
    });
}

#[test]
fn a_rank_counts_only_siblings_that_may_have_been_ahead() {
    let plant = |sibling_offset: Option<u64>| {
        let mut p = Plant::cluster();
        p.start(0, S, S, false, (0, 0, 0))
            .at(5, S, ClusterEvent::BecameReplica { master: id(A) })
            .at(
                9400,
                R,
                ClusterEvent::ElectionScheduled {
                    delay_ms: 1700,
                    rank: 1,
                    offset: 100,
                },
            );
        if let Some(offset) = sibling_offset {
            p.at(
                9500,
                S,
                ClusterEvent::ElectionScheduled {
                    delay_ms: 700,
                    rank: 0,
                    offset,
                },
            );
        }
        p
    };
    // The sibling's later election shows it at offset 90: it was never ahead of 100.
    only(
        &plant(Some(90)),
        ViolationKind::ElectionRuleBroken,
        "rank 1 with offset 100, but at most 0 sibling(s) can have been ahead; behind it: \
         ssssssss (offset ≤ 90)",
    );
    assert_eq!(plant(Some(120)).check(), vec![]);
    // A sibling whose offset never shows may have been ahead.
    assert_eq!(plant(None).check(), vec![]);
    // One that resynced from scratch (its offset went back) may have told an older, larger
    // one (seed 300024 with two replicas).
    let mut p = plant(Some(90));
    p.at(3000, S, ClusterEvent::ReplicationLinkDown { offset: 980 })
        .at(4000, S, ClusterEvent::ReplicationLinkUp { offset: 0 });
    assert_eq!(p.check(), vec![]);
}

#[test]
fn a_sibling_promoted_while_the_replica_was_away_may_still_count_in_its_rank() {
    // S was R's sibling and won an election at 9 s; R, paused meanwhile, still lists S as a
    // replica with its last offset and ranks itself behind it, as Redis does.
    let mut p = Plant::cluster();
    p.start(0, S, S, false, (0, 0, 0))
        .at(5, S, ClusterEvent::BecameReplica { master: id(A) })
        .at(
            9000,
            S,
            ClusterEvent::Promoted {
                kind: clusterlab_core::event::PromotionKind::Election,
                config_epoch: 7,
                old_master: id(A),
                offset: 500,
                coordinated: false,
            },
        )
        .at(
            9400,
            R,
            ClusterEvent::ElectionScheduled {
                delay_ms: 1700,
                rank: 1,
                offset: 100,
            },
        );
    let rank_findings: Vec<String> = p
        .check()
        .into_iter()
        .filter(|v| v.evidence.contains("scheduled its election at rank"))
        .map(|v| v.evidence)
        .collect();
    assert_eq!(rank_findings, Vec::<String>::new());
}

#[test]
fn a_takeover_answered_ok_must_have_promoted_the_replica_before_the_reply() {
    let takeover = |promoted: bool| {
        let mut p = Plant::cluster();
        p.fault(
            5000,
            Fault::ManualFailover {
                node: 3,
                mode: crate::faults::FailoverMode::Takeover,
            },
        );
        // A FORCE request sent while the TAKEOVER's reply is on its way (seed 604321), and a
        // second TAKEOVER (seed 961159): the +OK may answer the first.
        p.fault(
            5015,
            Fault::ManualFailover {
                node: 3,
                mode: crate::faults::FailoverMode::Force,
            },
        );
        p.fault(
            5016,
            Fault::ManualFailover {
                node: 3,
                mode: crate::faults::FailoverMode::Takeover,
            },
        );
        if promoted {
            p.at(
                5010,
                R,
                ClusterEvent::Promoted {
                    kind: PromotionKind::Takeover,
                    config_epoch: 4,
                    old_master: id(A),
                    offset: 0,
                    coordinated: false,
                },
            );
        }
        p.0.push(TraceEvent {
            time_us: 5020 * 1000,
            node: "faults".into(),
            event: Event::Fault(FaultEvent::ManualFailoverAccepted {
                node: 3,
                mode: crate::faults::FailoverMode::Takeover,
            }),
        });
        p.check()
    };
    assert!(
        takeover(true)
            .iter()
            .all(|v| v.kind != ViolationKind::TakeoverIgnored),
        "{:?}",
        takeover(true)
    );
    let found = takeover(false);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, ViolationKind::TakeoverIgnored);
    assert!(
        found[0].evidence.contains("node4 at 5.020s answered +OK"),
        "{}",
        found[0].evidence
    );
}
