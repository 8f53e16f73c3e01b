//! `CLUSTER FAILOVER` (default, FORCE, TAKEOVER): its exact steps, waiting for the replica to catch
//! up, its timeout; `WAIT`.

use super::*;

#[test]
fn manual_failover_force_and_takeover_swap_roles() {
    let mut net = three_masters_three_replicas(2000);
    let err = |t: &str| Reply::err(t);
    assert_eq!(
        net.cmd(0, &["CLUSTER", "FAILOVER"]),
        err("You should send CLUSTER FAILOVER to a replica")
    );
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FAILOVER", "NOW"]),
        Reply::syntax_error()
    );
    let (old0, new0) = (net.nodes[0].myself(), net.nodes[3].myself());
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    net.advance(1000);
    let (old1, new1) = (net.nodes[1].myself(), net.nodes[4].myself());
    assert_eq!(
        net.cmd(4, &["CLUSTER", "FAILOVER", "TAKEOVER"]),
        Reply::ok()
    );
    net.advance(3000);
    for i in 0..6 {
        let c = &net.nodes[i].cluster;
        assert_eq!(c.slot_owner(0), Some(new0), "node {i}");
        assert_eq!(c.slot_owner(5461), Some(new1), "node {i}");
        assert_eq!(c.nodes[&old0].master, Some(new0), "node {i}");
        assert_eq!(c.nodes[&old1].master, Some(new1), "node {i}");
        assert_eq!(net.info_field(i, "cluster_state"), "ok");
    }
    // Neither FORCE nor TAKEOVER waits for the replica to catch up: not coordinated.
    assert_eq!(promotions(&net), vec![(3, false), (4, false)]);
    let epochs: BTreeSet<u64> = [2, 3, 4]
        .iter()
        .map(|&i| net.nodes[i].cluster.me().config_epoch)
        .collect();
    assert_eq!(
        epochs.len(),
        3,
        "the three masters keep distinct epochs: {epochs:?}"
    );
}

/// A key that hashes into the slots the tutorial gives the first master (0–5460).
fn key_on_first_master(n: usize) -> String {
    (0..)
        .map(|i| format!("k{n}-{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .expect("some key hashes low")
}

/// Messages a node sent, as (kind, mflags, offset in the header).
fn sent(effects: &[Effect]) -> Vec<(crate::bus::MessageType, u8, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => {
                Some((msg.header.kind, msg.header.mflags, msg.header.repl_offset))
            }
            _ => None,
        })
        .collect()
}

fn logs(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn manual_failover_steps_have_exact_effects() {
    use crate::bus::{mflags, MessageType};
    let mut net = three_masters_three_replicas(2000);
    let (master, replica) = (net.nodes[0].myself(), net.nodes[3].myself());
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "v"]),
        Reply::ok()
    );
    net.advance(1000);
    let offset = net.nodes[0].replication_offset();
    assert!(offset > 0);
    assert_eq!(net.nodes[3].replication_offset(), offset, "in sync");

    // Replica: the command sends MFSTART to its master, nothing else.
    let now = net.time();
    let c3 = net.clients[3];
    let failover: Vec<Bytes> = ["CLUSTER", "FAILOVER"]
        .iter()
        .map(|w| Bytes::from_static(w.as_bytes()))
        .collect();
    assert_eq!(net.nodes[3].command(now, c3, &failover), Reply::ok());
    let effects = net.nodes[3].take_effects();
    assert_eq!(sent(&effects), vec![(MessageType::MfStart, 0, offset)]);
    assert_eq!(
        logs(&effects),
        vec!["Manual failover user request accepted."]
    );

    // Master: MFSTART from its replica pauses writes and pings it at once with PAUSED.
    net.nodes[0].on_mfstart(replica);
    let effects = net.nodes[0].take_effects();
    assert_eq!(
        sent(&effects),
        vec![(MessageType::Ping, mflags::PAUSED, offset)]
    );
    assert_eq!(
        logs(&effects),
        vec![format!("Manual failover requested by replica {replica}.")]
    );
    assert!(net.nodes[0].writes_paused());
    // A write waits; a read does not.
    let c0 = net.clients[0];
    let key = Bytes::from(key_on_first_master(1));
    let set = vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        Bytes::from_static(b"x"),
    ];
    assert_eq!(net.nodes[0].command(now, c0, &set), Reply::Nil);
    assert_eq!(
        net.nodes[0].take_effects(),
        vec![Effect::BlockClient { client: c0 }]
    );
    let get = vec![Bytes::from_static(b"GET"), key];
    let reader = c0_other(&mut net);
    assert_eq!(
        net.nodes[0].command(now, reader, &get),
        Reply::Nil,
        "a read is served (the key is missing)"
    );
    let served = crate::event::ClusterEvent::KeyServed {
        slot: crate::slot::key_hash_slot(&get[1]),
        asking: false,
        readonly: false,
    };
    assert_eq!(net.nodes[0].take_effects(), vec![Effect::Event(served)]);
    assert_eq!(net.nodes[0].replication_offset(), offset, "nothing written");
    // MFSTART from a node that is not my replica is ignored.
    let other = net.nodes[4].myself();
    net.nodes[1].on_mfstart(replica);
    net.nodes[0].on_mfstart(other);
    assert_eq!(net.nodes[1].take_effects(), vec![]);
    assert_eq!(net.nodes[0].take_effects(), vec![]);

    // Replica: a PAUSED header from its master gives the offset; caught up, the election
    // starts at once with FORCEACK.
    let mut h = net.nodes[0].header(MessageType::Ping);
    h.mflags = mflags::PAUSED;
    net.nodes[3].note_paused_master_offset(master, &h);
    assert_eq!(
        net.nodes[3].cluster.manual_failover.master_offset,
        Some(offset)
    );
    net.nodes[3].manual_failover_before_reply();
    let effects = net.nodes[3].take_effects();
    let auth: Vec<_> = sent(&effects)
        .into_iter()
        .filter(|(k, _, _)| *k == MessageType::AuthRequest)
        .collect();
    assert_eq!(auth.len(), 5, "to every other node: {effects:?}");
    assert!(auth.iter().all(|(_, f, _)| *f == mflags::FORCEACK));
    assert_eq!(
        logs(&effects)[..3],
        [
            format!("Received replication offset for paused master manual failover: {offset}"),
            "All master replication stream processed, manual failover can start.".into(),
            "Starting a failover election for epoch 7.".into(),
        ]
    );
}

/// A second client on node 0 (the first one may be blocked).
fn c0_other(net: &mut TestNet) -> ClientId {
    let now = net.time();
    net.nodes[0].client_connected(now, "10.0.0.99:5001".into(), ip_of(0))
}

#[test]
fn manual_failover_waits_for_the_replica_to_catch_up_and_loses_no_write() {
    let mut net = three_masters_three_replicas(2000);
    let (old, new) = (net.nodes[0].myself(), net.nodes[3].myself());
    let acked = key_on_first_master(0);
    assert_eq!(net.cmd(0, &["SET", &acked, "1"]), Reply::ok());
    // The replica lags: the write is in the master's offset, not yet in the replica's.
    net.repl_held.insert(3);
    let lagging = key_on_first_master(1);
    assert_eq!(net.cmd(0, &["SET", &lagging, "2"]), Reply::ok());
    let master_offset = net.nodes[0].replication_offset();
    assert!(net.nodes[3].replication_offset() < master_offset);

    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    assert!(net.nodes[0].writes_paused());
    assert_eq!(
        net.nodes[3].cluster.manual_failover.master_offset,
        Some(master_offset)
    );
    // A write sent now is held, not refused and not applied.
    let held = key_on_first_master(2);
    assert_eq!(net.cmd(0, &["SET", &held, "3"]), Reply::Nil);
    let c0 = net.clients[0];
    assert!(net.blocked.contains(&(0, c0)));
    net.advance(1000);
    assert!(net.nodes[3].cluster.me().is_replica(), "not caught up yet");
    assert_eq!(net.nodes[0].replication_offset(), master_offset);

    // Caught up: elected at once, the old master follows and its held write is redirected.
    net.repl_held.remove(&3);
    net.advance(100);
    assert!(net.nodes[3].cluster.me().is_master());
    // The promotion says it was coordinated and holds the offset the master paused at.
    let promoted = net.events.iter().find_map(|(i, e)| match e {
        ClusterEvent::Promoted {
            offset,
            coordinated,
            ..
        } if *i == 3 => Some((*offset, *coordinated)),
        _ => None,
    });
    assert_eq!(promoted, Some((master_offset, true)));
    assert_eq!(net.nodes[0].cluster.me().master, Some(new));
    assert!(!net.nodes[0].writes_paused());
    let slot = crate::slot::key_hash_slot(held.as_bytes());
    assert_eq!(
        net.unblocked,
        vec![(0, c0, Reply::Error(format!("MOVED {slot} 10.0.0.4:7004")))]
    );
    net.advance(2000);
    for i in 0..6 {
        assert_eq!(net.nodes[i].cluster.slot_owner(0), Some(new), "node {i}");
        assert_eq!(
            net.nodes[i].cluster.nodes[&old].master,
            Some(new),
            "node {i}"
        );
        assert_eq!(net.info_field(i, "cluster_state"), "ok", "node {i}");
    }
    // Both writes acknowledged before the failover survive, on the new master and on the
    // old one, now its replica.
    for i in [3, 0] {
        assert_eq!(net.nodes[i].db().len(), 2, "node {i}");
    }
    assert_eq!(net.cmd(3, &["GET", &lagging]), Reply::bulk_str("2"));
    assert_eq!(
        net.nodes[0].replication_offset(),
        net.nodes[3].replication_offset()
    );
}

#[test]
fn manual_failover_times_out_and_the_master_resumes_writes() {
    let mut net = three_masters_three_replicas(2000);
    net.repl_held.insert(3);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    let held = key_on_first_master(1);
    assert_eq!(net.cmd(0, &["SET", &held, "2"]), Reply::Nil);
    net.advance(4900);
    assert!(net.unblocked.is_empty(), "still paused");
    net.advance(200);
    let c0 = net.clients[0];
    assert_eq!(
        net.unblocked,
        vec![(0, c0, Reply::ok())],
        "the held write ran"
    );
    assert!(net.nodes[3].cluster.me().is_replica());
    assert!(net.nodes[0].cluster.me().is_master());
    assert_eq!(net.nodes[3].cluster.manual_failover, Default::default());
    assert_eq!(net.cmd(0, &["GET", &held]), Reply::bulk_str("2"));
    // With its master failed the plain form is refused.
    let master = net.nodes[0].myself();
    net.nodes[3].cluster.nodes.get_mut(&master).unwrap().flags |= flags::FAIL;
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FAILOVER"]),
        Reply::err("Master is down or failed, please use CLUSTER FAILOVER FORCE")
    );
}

#[test]
fn wait_counts_the_replica_that_acknowledged_the_write() {
    let mut net = three_masters_three_replicas(2000);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(0), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(0, &["WAIT", "1", "1000"]), Reply::Nil);
    // GETACK reached the replica, which answered at once.
    let c0 = net.clients[0];
    assert_eq!(net.unblocked, vec![(0, c0, Reply::Integer(1))]);
    net.repl_held.insert(3);
    assert_eq!(
        net.cmd(0, &["SET", &key_on_first_master(1), "1"]),
        Reply::ok()
    );
    assert_eq!(net.cmd(0, &["WAIT", "1", "1000"]), Reply::Nil);
    net.advance(900);
    assert_eq!(net.unblocked.len(), 1);
    net.advance(100);
    assert_eq!(net.unblocked[1], (0, c0, Reply::Integer(0)), "timed out");
    assert_eq!(
        net.cmd(3, &["WAIT", "1", "0"]),
        Reply::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

#[test]
fn a_replica_past_its_paused_masters_offset_is_not_caught_up() {
    // The master restarted and its new stream is shorter than the one the replica holds:
    // only an equal offset means the replica processed everything the master paused at.
    use crate::bus::{mflags, MessageType};
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    net.nodes[3].cluster.me_mut().repl_offset = 100;
    let mut h = net.nodes[0].header(MessageType::Ping);
    h.mflags = mflags::PAUSED;
    h.repl_offset = 40;
    net.nodes[3].take_effects();
    net.nodes[3].note_paused_master_offset(master, &h);
    net.nodes[3].manual_failover_before_reply();
    let effects = net.nodes[3].take_effects();
    assert!(
        !sent(&effects)
            .iter()
            .any(|(k, _, _)| *k == MessageType::AuthRequest),
        "{effects:?}"
    );
    assert!(!net.nodes[3].cluster.manual_failover.can_start);
}

#[test]
fn a_forced_failover_that_hears_its_paused_masters_offset_is_still_not_coordinated() {
    let mut net = three_masters_three_replicas(2000);
    net.events.clear();
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    // The master, paused by an earlier attempt, reports its offset after FORCE began.
    net.nodes[3].cluster.manual_failover.master_offset = Some(0);
    net.advance(3000);
    assert_eq!(promotions(&net), vec![(3, false)]);
}

/// `(node, coordinated)` of every promotion, in order.
fn promotions(net: &TestNet) -> Vec<(usize, bool)> {
    net.events
        .iter()
        .filter_map(|(i, e)| match e {
            ClusterEvent::Promoted { coordinated, .. } => Some((*i, *coordinated)),
            _ => None,
        })
        .collect()
}

/// FORCE during an election under way joins it instead of starting another (Redis sets up a
/// new election only once the last one's retry time passed): the votes that election gets are
/// for its own epoch, and never count for a later one.
#[test]
fn a_forced_failover_during_an_election_keeps_that_elections_epoch_and_votes() {
    use crate::cluster::failover::Election;
    let mut net = three_masters_three_replicas(2000);
    let replica = &mut net.nodes[3];
    let now = replica.now.mono_ms;
    replica.cluster.current_epoch = 12;
    replica.cluster.election = Election {
        manual: false,
        auth_time_ms: now - 100,
        auth_sent: true,
        auth_count: 1,
        auth_rank: 0,
        auth_epoch: 12,
    };
    net.events.clear();
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    let e = &net.nodes[3].cluster.election;
    assert!(e.manual && e.auth_sent, "{e:?}");
    assert_eq!((e.auth_epoch, e.auth_count), (12, 1));
    assert_eq!(manual_set_ups(&net), 0, "riding on the election under way");
    // Once the retry time (2 × the 4 s auth timeout) has passed, FORCE starts afresh.
    let replica = &mut net.nodes[3];
    replica.cluster.election.auth_time_ms = now - 8001;
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    let e = &net.nodes[3].cluster.election;
    assert!(e.manual && !e.auth_sent, "{e:?}");
    assert_eq!(e.auth_count, 0);
    // Checkers time the next attempt from this one's set-up (seed 909838).
    assert_eq!(manual_set_ups(&net), 1);
}

fn manual_set_ups(net: &TestNet) -> usize {
    let set_up = |e: &ClusterEvent| matches!(e, ClusterEvent::ManualElectionSetUp { .. });
    net.events
        .iter()
        .filter(|(i, e)| *i == 3 && set_up(e))
        .count()
}

/// `clusterCron` checks the manual failover's timeout before the election step: a replica
/// whose `mf_end` passed in the same tick its election could start asks for no votes.
#[test]
fn no_manual_election_starts_after_mf_end() {
    let mut net = three_masters_three_replicas(2000);
    let replica = &mut net.nodes[3];
    let now = replica.now.mono_ms;
    replica.cluster.manual_failover.end_ms = now + 50;
    replica.cluster.manual_failover.can_start = true;
    // Its manual election is set up and due to ask for votes at the next tick.
    replica.cluster.election.manual = true;
    replica.cluster.election.auth_time_ms = now + 10;
    replica.cluster.election.auth_sent = false;
    let epoch = replica.cluster.current_epoch;
    net.advance(200);
    let replica = &net.nodes[3];
    assert_eq!(replica.cluster.manual_failover.end_ms, 0, "timed out");
    assert_eq!(replica.cluster.current_epoch, epoch, "no election");
    assert!(replica.cluster.me().is_replica());
}

/// Seed 805924: the PAUSED ping's own processing asked for a save (queued first), then the
/// manual failover's election bumped the epoch and queued another save in front of it. The
/// driver wrote the newer file, then the older one over it: the node crashed on a disk error
/// and restarted with the epoch before its election. One call now hands out one save, the
/// newest, before everything else, fsynced if any step asked for it.
#[test]
fn a_call_that_saves_twice_hands_out_only_the_newest_save_first() {
    use crate::bus::{mflags, MessageType};
    let mut net = three_masters_three_replicas(2000);
    let master = net.nodes[0].myself();
    let replica = net.nodes[3].myself();
    net.advance(1000);
    let now = net.time();
    let c3 = net.clients[3];
    let failover: Vec<Bytes> = ["CLUSTER", "FAILOVER"]
        .iter()
        .map(|w| Bytes::from_static(w.as_bytes()))
        .collect();
    assert_eq!(net.nodes[3].command(now, c3, &failover), Reply::ok());
    net.nodes[3].take_effects();
    net.nodes[0].on_mfstart(replica);
    net.nodes[0].take_effects();
    let epoch_before = net.nodes[3].cluster.current_epoch;

    // One call: a step that changes the configuration saves it (without fsync) ...
    net.nodes[3].cluster.request_save(false);
    net.nodes[3].cluster_before_reply();
    // ... then the master's PAUSED offset lets the election start, which saves again.
    let mut h = net.nodes[0].header(MessageType::Ping);
    h.mflags = mflags::PAUSED;
    net.nodes[3].note_paused_master_offset(master, &h);
    net.nodes[3].manual_failover_before_reply();
    let effects = net.nodes[3].take_effects();

    let saves: Vec<(usize, &String, bool)> = effects
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Effect::SaveConfig { contents, fsync } => Some((i, contents, *fsync)),
            _ => None,
        })
        .collect();
    let election_epoch = epoch_before + 1;
    assert_eq!(net.nodes[3].cluster.current_epoch, election_epoch);
    assert_eq!(saves.len(), 1, "one save per call: {saves:?}");
    let (at, contents, fsync) = saves[0];
    assert_eq!(at, 0, "before the AUTH_REQUESTs");
    assert!(fsync, "the election's save is fsynced");
    assert!(
        contents.contains(&format!("currentEpoch {election_epoch} ")),
        "{contents}"
    );
}

/// Redis's `clusterSetMaster` resets a manual failover: one agreed with the old master must
/// not carry over to a new one. The same master again keeps it.
#[test]
fn a_manual_failover_ends_when_the_replica_changes_master() {
    let mut net = three_masters_three_replicas(2000);
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER", "FORCE"]), Reply::ok());
    let replica = &mut net.nodes[3];
    assert_ne!(replica.cluster.manual_failover.end_ms, 0);
    let master = replica.cluster.my_master().expect("a replica");
    let mut out = crate::outbox::Outbox::default();
    replica.cluster.become_replica_of(master, &mut out);
    assert_ne!(
        replica.cluster.manual_failover.end_ms, 0,
        "same master: kept"
    );
    let other = net.nodes[1].myself();
    let replica = &mut net.nodes[3];
    replica.cluster.become_replica_of(other, &mut out);
    assert_eq!(replica.cluster.manual_failover.end_ms, 0);
    assert!(!replica.cluster.election.manual);
}

/// A `CLUSTER FAILOVER` that cannot start (its master stopped answering right before) does not
/// slow the automatic failover once the master is FAIL: as in Redis, the election starts
/// without the 500–1000 ms delay, at rank 0, and its votes are not forced (Redis's suite file
/// 10 waits 5 s for the replica to be master).
#[test]
fn a_pending_manual_failover_lets_the_automatic_one_start_without_delay() {
    let mut net = three_masters_three_replicas(3000);
    net.isolated.insert(0);
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    net.events.clear();
    let mut failed_at = None;
    let mut promoted_at = None;
    for step in 0..100 {
        net.advance(100);
        for (i, e) in std::mem::take(&mut net.events) {
            match e {
                ClusterEvent::FailMarked { node, .. }
                    if i == 3 && node == net.nodes[0].myself() =>
                {
                    failed_at.get_or_insert(step);
                }
                ClusterEvent::ElectionScheduled { .. } if i == 3 => {
                    panic!("a delayed election despite the pending manual failover")
                }
                ClusterEvent::Promoted { coordinated, .. } if i == 3 => {
                    assert!(!coordinated, "the master never paused: not coordinated");
                    promoted_at.get_or_insert(step);
                }
                _ => {}
            }
        }
        if promoted_at.is_some() {
            break;
        }
    }
    let (failed, promoted) = (failed_at.expect("FAIL"), promoted_at.expect("promoted"));
    assert!(
        promoted - failed <= 3,
        "promoted {} ms after FAIL",
        (promoted - failed) * 100
    );
}
