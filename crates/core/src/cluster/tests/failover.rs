//! Automatic failover and votes: promotion of a failed master's replica, its typed events, vote
//! refusals, the rejoin delay, the validity factor.

use super::*;

#[test]
fn replica_of_a_failed_master_is_promoted_and_the_old_master_follows_it() {
    let node_timeout_ms = 2000;
    let mut net = three_masters_three_replicas(node_timeout_ms);
    let old_master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    for i in 0..6 {
        let nodes = net.text(i, &["CLUSTER", "NODES"]);
        let line = nodes
            .lines()
            .find(|l| l.starts_with(replica.as_str()))
            .unwrap();
        assert!(
            line.contains(&format!("slave {old_master}")),
            "node {i}: {line}"
        );
    }
    net.down.insert(0);
    net.advance(4 * node_timeout_ms + 3000);
    for i in 1..6 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
        assert_eq!(
            net.nodes[i].cluster.slot_owner(0),
            Some(replica),
            "node {i}"
        );
        assert_eq!(net.nodes[i].cluster.slot_owner(5460), Some(replica));
    }
    let promoted = net.nodes[3].cluster.me();
    assert!(promoted.is_master());
    assert_eq!(promoted.config_epoch, 7, "the election took a fresh epoch");
    // Only one replica was eligible, and it got votes from both live masters once.
    assert_eq!(net.nodes[1].cluster.last_vote_epoch, 7);
    assert_eq!(net.nodes[2].cluster.last_vote_epoch, 7);
    // The old master comes back, sees a newer claim on its slots and becomes a replica.
    net.down.remove(&0);
    net.advance(3 * node_timeout_ms);
    let me = net.nodes[0].cluster.me();
    assert!(me.is_replica(), "old master must follow the new one");
    assert_eq!(me.master, Some(replica));
    for i in 0..6 {
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
    }
}

#[test]
fn a_failover_reports_each_decision_as_a_typed_event() {
    let node_timeout_ms = 2000;
    let mut net = three_masters_three_replicas(node_timeout_ms);
    let old_master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    net.events.clear();
    net.down.insert(0);
    net.advance(4 * node_timeout_ms + 3000);
    let of = |net: &TestNet, i: usize| -> Vec<ClusterEvent> {
        net.events
            .iter()
            .filter(|(n, _)| *n == i)
            .map(|(_, e)| e.clone())
            .collect()
    };
    // The winner: the election, its epoch, the promotion and the slots, in that order.
    let winner: Vec<ClusterEvent> = of(&net, 3)
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                ClusterEvent::PfailMarked { .. }
                    | ClusterEvent::FailMarked { .. }
                    | ClusterEvent::FailQuorumReached { .. }
                    | ClusterEvent::ClusterStateChanged { .. }
                    | ClusterEvent::ReplicationLinkDown { .. }
                    | ClusterEvent::ElectionScheduled { .. }
            )
        })
        .collect();
    assert_eq!(
        winner,
        vec![
            ClusterEvent::CurrentEpochChanged {
                epoch: 7,
                reason: EpochReason::Election
            },
            ClusterEvent::ElectionStarted { epoch: 7 },
            ClusterEvent::ConfigEpochChanged {
                epoch: 7,
                reason: ConfigEpochReason::Election
            },
            ClusterEvent::Promoted {
                kind: PromotionKind::Election,
                config_epoch: 7,
                old_master,
                // No write: the stream held only the master's keep-alive PING.
                offset: 14,
                coordinated: false,
            },
            ClusterEvent::SlotsAssigned {
                ranges: vec![(0, 5460)],
                owner: Some(replica)
            },
        ]
    );
    assert!(matches!(
        of(&net, 3).first(),
        Some(ClusterEvent::ReplicationLinkDown { .. } | ClusterEvent::PfailMarked { .. })
    ));
    // Each live master voted once, for that replica of that master, in epoch 7.
    for voter in [1, 2] {
        let votes: Vec<ClusterEvent> = of(&net, voter)
            .into_iter()
            .filter(|e| matches!(e, ClusterEvent::VoteGranted { .. }))
            .collect();
        let expected = ClusterEvent::VoteGranted {
            epoch: 7,
            candidate: replica,
            master: old_master,
        };
        assert_eq!(votes, vec![expected], "voter {voter}");
    }
    // Every survivor flagged the old master FAIL exactly once, by quorum or by message,
    // after flagging it PFAIL itself or hearing the FAIL first.
    let mut by_quorum = 0;
    for i in 1..6 {
        let fails: Vec<FailSource> = of(&net, i)
            .into_iter()
            .filter_map(|e| match e {
                ClusterEvent::FailMarked { node, source } if node == old_master => Some(source),
                _ => None,
            })
            .collect();
        assert_eq!(fails.len(), 1, "node {i}: {fails:?}");
        by_quorum += usize::from(fails[0] == FailSource::Quorum);
        // A quorum FAIL names the reports it counted, right before it: with three
        // slot-serving masters, a master needs one other master's report, a replica two.
        let events = of(&net, i);
        let at = events.iter().position(|e| {
            matches!(
                e,
                ClusterEvent::FailMarked {
                    source: FailSource::Quorum,
                    ..
                }
            )
        });
        if let Some(at) = at {
            let ClusterEvent::FailQuorumReached {
                node,
                reporters,
                size,
            } = &events[at - 1]
            else {
                panic!("node {i}: no quorum evidence before {:?}", events[at]);
            };
            assert_eq!((*node, *size), (old_master, 3), "node {i}");
            let need = if i < 3 { 1 } else { 2 };
            assert!(reporters.len() >= need, "node {i}: {reporters:?}");
            assert!(
                !reporters.contains(&old_master) && !reporters.contains(&net.nodes[i].myself())
            );
        }
    }
    assert!(by_quorum >= 1, "someone reached the quorum");
    // Every other live node's view takes the winner's new config epoch, once.
    for i in [1, 2, 4, 5] {
        let learned: Vec<ClusterEvent> = of(&net, i)
            .into_iter()
            .filter(|e| matches!(e, ClusterEvent::PeerConfigEpochChanged { node, .. } if *node == replica))
            .collect();
        let expected = ClusterEvent::PeerConfigEpochChanged {
            node: replica,
            epoch: 7,
        };
        assert_eq!(learned, vec![expected], "node {i}");
    }
    assert!(
        net.events.iter().all(|(n, _)| *n != 0),
        "a down node emits nothing"
    );
}

#[test]
fn votes_are_refused_twice_in_one_epoch_and_for_stale_claims() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    let voter = &mut net.nodes[1];
    voter.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    voter.cluster.current_epoch = 10;
    let mut h = voter.header(crate::bus::MessageType::AuthRequest);
    h.sender = replica;
    h.current_epoch = 10;
    h.config_epoch = 1;
    h.myslots = net.nodes[0].cluster.me().slots.clone();
    h.slaveof = Some(master);
    let voter = &mut net.nodes[1];
    let acks = |v: &mut Node| {
        v.take_effects()
            .iter()
            .filter(|e| matches!(e, Effect::Send { msg, .. } if msg.header.kind == crate::bus::MessageType::AuthAck))
            .count()
    };
    voter.take_effects();
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 1, "first request in the epoch gets a vote");
    assert_eq!(voter.cluster.last_vote_epoch, 10);
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 0, "one vote per epoch");
    // A new epoch, but the same master was voted for less than 2 × node timeout ago.
    voter.cluster.current_epoch = 11;
    h.current_epoch = 11;
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 0, "no second vote for the same master so soon");
    voter.now.mono_ms += 4001;
    voter.cluster.nodes.get_mut(&master).unwrap().config_epoch = 5;
    voter.on_auth_request(replica, &h);
    assert_eq!(
        acks(voter),
        0,
        "a claim older than the slot owner's epoch is refused"
    );
    voter.cluster.nodes.get_mut(&master).unwrap().config_epoch = 1;
    voter.on_auth_request(replica, &h);
    assert_eq!(acks(voter), 1);
}

#[test]
fn a_master_back_from_the_minority_waits_the_rejoin_delay() {
    let node_timeout_ms = 2000;
    let mut net = TestNet::new(3, node_timeout_ms);
    net.create_three_masters();
    net.isolated.insert(0);
    net.advance(2 * node_timeout_ms);
    assert_eq!(net.info_field(0, "cluster_state"), "fail");
    net.isolated.remove(&0);
    // It hears from the others again at once, yet keeps refusing writes for the rejoin delay
    // (node timeout clamped to 500..5000 ms) after it last found itself in the minority.
    let mut ok_after_ms = None;
    let minority_until_ms = net.nodes[0].cluster.among_minority_since_ms;
    for _ in 0..100 {
        net.advance(100);
        if net.info_field(0, "cluster_state") == "ok" {
            ok_after_ms = Some(net.now_ms);
            break;
        }
    }
    let ok_at_ms = ok_after_ms.expect("never rejoined");
    let last_minority_ms = net.nodes[0].cluster.among_minority_since_ms;
    assert!(last_minority_ms >= minority_until_ms);
    assert!(
        ok_at_ms - last_minority_ms >= node_timeout_ms,
        "ok at {ok_at_ms}, minority until {last_minority_ms}"
    );
}

#[test]
fn a_replica_that_never_heard_from_its_master_does_not_fail_over() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = &mut net.nodes[3];
    // As after a restart of the replica while its master was already unreachable: no
    // replication link has been up since it started. Bus traffic from the master proves
    // nothing about the replica's data.
    replica.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    replica.repl.set_link_down_since(0);
    replica.take_effects();
    replica.handle_replica_failover();
    assert_eq!(
        replica.cluster.election.auth_time_ms, 0,
        "no election scheduled"
    );
    // Its link was up until just now: the election is scheduled.
    let now = replica.now.mono_ms;
    replica.repl.set_link_down_since(now);
    replica.handle_replica_failover();
    assert!(replica.cluster.election.auth_time_ms > now);
}

#[test]
fn validity_factor_and_no_failover_gate_the_automatic_election_only() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = &mut net.nodes[3];
    replica.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    // Late enough that any data age fits before it.
    replica.now.mono_ms += 2_000_000;
    let now = replica.now.mono_ms;
    // Limit: ping period (10 s) + node timeout × factor (10) = 30 s of data age, and the age
    // counts from one node timeout after the last data.
    let schedule_after = |r: &mut Node, age_ms: u64, factor: u64| {
        r.config.cluster_replica_validity_factor = factor;
        r.cluster.election = Default::default();
        r.cluster.nodes.get_mut(&master).unwrap().data_received_ms = now - age_ms;
        r.handle_replica_failover();
        r.cluster.election.auth_time_ms != 0
    };
    assert!(schedule_after(replica, 32_000, 10));
    assert!(!schedule_after(replica, 32_001, 10));
    assert!(schedule_after(replica, 1_000_000, 0), "factor 0: no limit");
    replica.config.cluster_replica_no_failover = true;
    assert!(!schedule_after(replica, 1_000, 10), "nofailover");
    // A manual failover ignores both.
    replica.config.cluster_replica_validity_factor = 10;
    replica
        .cluster
        .nodes
        .get_mut(&master)
        .unwrap()
        .data_received_ms = now - 1_000_000;
    replica.take_effects();
    replica.start_forced_failover();
    replica.handle_replica_failover();
    assert!(replica.cluster.election.auth_sent, "FORCE still elects");
}

#[test]
fn a_vote_is_saved_to_nodes_conf_before_it_is_sent() {
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    let slots = net.nodes[0].cluster.me().slots.clone();
    let voter = &mut net.nodes[1];
    voter.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    voter.cluster.current_epoch = 10;
    let mut header = voter.header(crate::bus::MessageType::AuthRequest);
    header.sender = replica;
    header.current_epoch = 10;
    header.config_epoch = 1;
    header.myslots = slots;
    header.slaveof = Some(master);
    let now = voter.now;
    let link = voter.bus_link_accepted(now, ip_of(3), ip_of(1));
    voter.take_effects();
    let msg = crate::bus::Message {
        header,
        body: crate::bus::Body::Empty,
    };
    voter.bus_message(now, link, msg);
    let effects = voter.take_effects();
    let save = effects
        .iter()
        .position(|e| matches!(e, Effect::SaveConfig { fsync: true, .. }));
    let ack = effects.iter().position(|e| {
        matches!(e, Effect::Send { msg, .. } if msg.header.kind == crate::bus::MessageType::AuthAck)
    });
    let (Some(save), Some(ack)) = (save, ack) else {
        panic!("no saved vote: {effects:?}");
    };
    // A save that fails stops the node before the vote leaves (Redis saves in beforeSleep,
    // before any buffered message is written).
    assert!(save < ack, "{effects:?}");
    assert_eq!(save, 0, "before anything else of the call: {effects:?}");
}

/// A replica that learns a sibling has more data than it had when it scheduled its election
/// puts the election off a second per rank lost, and says so (the event the manual-failover
/// check reads to know when Redis lets the next election start).
#[test]
fn a_replica_whose_rank_worsens_delays_its_election_and_reports_it() {
    use crate::cluster::failover::Election;
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let sibling = net.nodes[4].myself();
    let replica = &mut net.nodes[3];
    let now = replica.now.mono_ms;
    replica.cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    // In the replica's view, another replica of the same master has more data.
    let s = replica.cluster.nodes.get_mut(&sibling).unwrap();
    s.flags = (s.flags & !flags::MASTER) | flags::SLAVE;
    s.master = Some(master);
    s.repl_offset = 1_000_000;
    replica.cluster.election = Election {
        manual: false,
        auth_time_ms: now + 900,
        auth_sent: false,
        auth_count: 0,
        auth_rank: 0,
        auth_epoch: 0,
    };
    replica.take_effects();
    replica.handle_replica_failover();
    let effects = replica.take_effects();
    let delayed: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::Event(ClusterEvent::ElectionDelayed { .. })))
        .collect();
    assert_eq!(
        delayed,
        [&Effect::Event(ClusterEvent::ElectionDelayed {
            rank: 1,
            added_ms: 1000
        })],
        "{effects:?}"
    );
    assert_eq!(replica.cluster.election.auth_time_ms, now + 1900);
}

/// `CONFIG SET cluster-replica-no-failover` changes the replica's own flag at once, and its
/// peers follow what its messages say, both ways.
#[test]
fn the_nofailover_flag_follows_config_set_across_the_cluster() {
    let mut net = three_masters_three_replicas(2000);
    let replica = net.nodes[3].myself();
    let seen_by_all = |net: &TestNet, set: bool| {
        (0..6).all(|i| (net.nodes[i].cluster.nodes[&replica].flags & flags::NOFAILOVER != 0) == set)
    };
    assert!(seen_by_all(&net, false));
    let set = ["CONFIG", "SET", "cluster-replica-no-failover", "yes"];
    assert_eq!(net.cmd(3, &set), Reply::ok());
    net.advance(3000);
    assert!(seen_by_all(&net, true));
    let unset = ["CONFIG", "SET", "cluster-slave-no-failover", "no"];
    assert_eq!(net.cmd(3, &unset), Reply::ok());
    net.advance(3000);
    assert!(seen_by_all(&net, false));
}
