//! The loss rule on hand-built event lists: each situation Redis allows, and each it does not,
//! with the evidence named.

use clusterlab_core::event::{AofOp, PromotionKind};
use clusterlab_core::{ClusterEvent, NodeId};

use super::*;
use crate::faults::{CrashKind, Fault};
use crate::trace::{Event, FaultEvent, ProcessEvent};

pub(super) const REQUEST: u64 = 0xfeed;
pub(super) const SLOT: u16 = 100;

/// node`n`'s ID: 40 times one hex digit.
pub(super) fn id(n: u8) -> NodeId {
    NodeId([b'a' + n; clusterlab_core::node_id::NODE_ID_LEN])
}

pub(super) fn name(n: u8) -> String {
    format!("node{n}")
}

pub(super) fn at(ms: u64, n: u8, event: impl Into<Event>) -> TraceEvent {
    TraceEvent {
        time_us: ms * 1000,
        node: name(n),
        event: event.into(),
    }
}

/// node`n` started as ID `id(n)` (fresh: the loss rule reads only the ID).
pub(super) fn started(ms: u64, n: u8) -> TraceEvent {
    at(
        ms,
        n,
        ClusterEvent::NodeStarted {
            id: id(n),
            loaded: false,
            current_epoch: 0,
            config_epoch: 0,
            last_vote_epoch: 0,
            master: None,
            flagged: Vec::new(),
        },
    )
}

pub(super) fn applied(ms: u64, n: u8, offset: u64, request: u64) -> TraceEvent {
    at(ms, n, ClusterEvent::WriteApplied { offset, request })
}

/// node`n` closed its import of the slot at replication offset `offset`.
fn slot_imported(ms: u64, n: u8, offset: u64) -> TraceEvent {
    at(ms, n, ClusterEvent::SlotImported { slot: SLOT, offset })
}

/// node`from` MIGRATEd one key of the slot to node`to`.
pub(super) fn keys_migrated(ms: u64, from: u8, to: u8) -> TraceEvent {
    at(
        ms,
        from,
        ClusterEvent::KeysMigrated {
            slot: SLOT,
            count: 1,
            to: Some(id(to)),
        },
    )
}

fn replica_of(ms: u64, r: u8, m: u8) -> TraceEvent {
    at(ms, r, ClusterEvent::BecameReplica { master: id(m) })
}

fn promoted(ms: u64, n: u8, old: u8, offset: u64, coordinated: bool) -> TraceEvent {
    at(
        ms,
        n,
        ClusterEvent::Promoted {
            kind: PromotionKind::Election,
            config_epoch: 9,
            old_master: id(old),
            offset,
            coordinated,
        },
    )
}

/// node1 and node3 masters, node2 a replica of node1 that applied the stream up to offset 80;
/// node1 applies the write (offset 100) at 1 s.
pub(super) fn base() -> Vec<TraceEvent> {
    let mut events: Vec<TraceEvent> = (1..=4).map(|n| started(0, n)).collect();
    events.extend([
        replica_of(1, 2, 1),
        at(2, 2, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        applied(500, 1, 80, 0),
        applied(501, 2, 80, 0),
        applied(1000, 1, 100, REQUEST),
    ]);
    events
}

/// `SET k v1`, acknowledged by node1 at 1 s.
pub(super) fn write() -> AckedWrite {
    AckedWrite {
        node: name(1),
        slot: SLOT,
        request: REQUEST,
        start_us: 999_000,
        end_us: 1_001_000,
        key: "k".to_string(),
        what: "SET k v1".to_string(),
    }
}

pub(super) fn judge(events: &[TraceEvent], everysec: bool) -> LossVerdict {
    let config = LossConfig {
        fsync_everysec: everysec,
        ..LossConfig::default()
    };
    LossRule::new(events, config).judge(&write())
}

/// The verdict on the write of [`write`] acknowledged by node`n` instead (`always`).
fn judge_on(n: u8, events: &[TraceEvent]) -> LossVerdict {
    let write = AckedWrite {
        node: name(n),
        ..write()
    };
    LossRule::new(events, LossConfig::default()).judge(&write)
}

/// The text of a verdict that must be `Allowed`.
pub(super) fn allowed(verdict: LossVerdict) -> String {
    assert!(verdict.is_allowed(), "{verdict:?}");
    verdict.text().to_string()
}

/// The evidence of a verdict that must be a violation; it names the write and its offset.
pub(super) fn violation(verdict: LossVerdict) -> String {
    assert!(!verdict.is_allowed(), "{verdict:?}");
    let text = verdict.text().to_string();
    assert!(text.contains("SET k v1 acked by node1"), "{text}");
    assert!(text.contains("(offset 100)"), "{text}");
    text
}

pub(super) fn has_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[test]
fn a_promoted_replica_that_never_had_the_offset_may_lose_the_write() {
    let mut events = base();
    events.extend([
        at(2000, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
        promoted(5000, 2, 1, 80, false),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "SET k v1 acked by node1",
            "(offset 100)",
            "node2 promoted by election at 5.000s replacing node1, with offset 80",
            "offset 100 in node1's stream",
        ],
    );
}

#[test]
fn a_promoted_replica_that_had_the_offset_must_keep_the_write() {
    let mut events = base();
    events.extend([
        applied(1001, 2, 100, 0),
        at(2000, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
        promoted(5000, 2, 1, 100, false),
    ]);
    let text = violation(judge(&events, false));
    has_all(
        &text,
        &[
            "node2 owns its slot",
            "node2 promoted by election at 5.000s replacing node1, with offset 100 (had the write)",
        ],
    );
    // A full sync past the write counts as much as the stream.
    let mut synced = base();
    synced.extend([
        replica_of(1500, 4, 1),
        at(1600, 4, ClusterEvent::ReplicationLinkUp { offset: 120 }),
        promoted(5000, 4, 1, 120, false),
    ]);
    let text = violation(judge(&synced, false));
    has_all(
        &text,
        &["node4 promoted", "with offset 120 (had the write)"],
    );
}

#[test]
fn a_migration_or_a_coordinated_failover_never_loses_the_write() {
    let mut migrated = base();
    migrated.push(slot_imported(3000, 3, 500));
    let text = violation(judge(&migrated, false));
    has_all(
        &text,
        &[
            "node3 owns its slot",
            "slot 100 migrated from node1 to node3 at 3.000s (importer offset 500)",
        ],
    );
    // Another slot's migration does not move this one.
    let mut other = base();
    other.push(at(
        3000,
        3,
        ClusterEvent::SlotImported {
            slot: 7,
            offset: 500,
        },
    ));
    has_all(&violation(judge(&other, false)), &["node1 owns its slot"]);

    // A coordinated failover whose replica lacks the write (it did not catch up).
    let mut manual = base();
    manual.push(promoted(3000, 2, 1, 80, true));
    let text = violation(judge(&manual, false));
    has_all(
        &text,
        &[
            "node2 promoted by coordinated CLUSTER FAILOVER at 3.000s replacing node1, with \
             offset 80",
            "offset 100 in node1's stream",
            "a coordinated failover loses nothing",
        ],
    );
}

/// Seed 604697: node1 restarted (its replication offset counts from 0 again) and node2, which
/// never synced with that incarnation, matched its offset by coincidence: Redis's manual
/// failover compares offsets only, so it promotes node2 without the data.
#[test]
fn a_coordinated_failover_of_a_replica_unsynced_since_its_master_restarted_may_lose_the_write() {
    let mut restarted = base();
    restarted.extend([started(2000, 1), promoted(3000, 2, 1, 0, true)]);
    let text = allowed(judge(&restarted, false));
    has_all(
        &text,
        &[
            "never synced with node1's current incarnation",
            "compares only offsets",
        ],
    );
    // A sync with the restarted master makes equal offsets mean equal data again.
    let mut resynced = base();
    resynced.extend([
        started(2000, 1),
        at(
            2500,
            2,
            ClusterEvent::FullResync {
                master: id(1),
                offset: 0,
                replid: "r".into(),
            },
        ),
        promoted(3000, 2, 1, 0, true),
    ]);
    has_all(
        &violation(judge(&resynced, false)),
        &["a coordinated failover loses nothing"],
    );
}

#[test]
fn a_restart_from_disk_loses_nothing_under_always_and_only_the_last_second_under_everysec() {
    let restart = |kill_ms: u64| {
        let mut events = base();
        // everysec's background sync a second after the write, if the node lived that long.
        if kill_ms > 2000 {
            events.push(at(2000, 1, ClusterEvent::AofSynced { offset: 100 }));
        }
        events.extend([
            at(kill_ms, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
            at(kill_ms + 1000, 1, ProcessEvent::Restart),
            started(kill_ms + 1000, 1),
        ]);
        events
    };
    let text = violation(judge(&restart(1500), false));
    has_all(
        &text,
        &[
            "node1 owns its slot",
            "no promotion or migration replaced node1",
        ],
    );
    // everysec: crashed 0.5 s after the write, inside the window.
    let text = allowed(judge(&restart(1500), true));
    has_all(
        &text,
        &["node1 got it at 1.000s and crashed at 1.500s, within the everysec sync interval"],
    );
    // Crashed 1.5 s after: it had been synced.
    violation(judge(&restart(2500), true));
    // Restarted with the write, node1 hands it to a replica that syncs after the restart.
    let mut after = restart(2500);
    after.extend([
        at(4000, 2, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        promoted(9000, 2, 1, 0, false),
    ]);
    has_all(
        &violation(judge(&after, false)),
        &["node2 owns its slot", "with offset 0 (had the write)"],
    );
}

/// node2's full sync announced by node1 with `+FULLRESYNC AAAA… <offset>`.
fn full_resync(ms: u64, offset: u64) -> TraceEvent {
    let replid = "A".repeat(40);
    at(
        ms,
        2,
        ClusterEvent::FullResync {
            master: id(1),
            offset,
            replid,
        },
    )
}

#[test]
fn a_snapshot_taken_before_the_write_lacks_it_even_when_it_arrives_after_a_restart() {
    // node1 takes a snapshot for node2 at `offset`; the bytes are held on a cut link while
    // node1 goes on, crashes and restarts (any full sync from it now carries the write if its
    // disk kept it), and arrive only then (seed 940075). node2 is promoted in its place.
    let case = |snapshot_ms: u64, offset: u64| {
        let mut events = base();
        let snapshot = ClusterEvent::SnapshotTaken {
            replid: "A".repeat(40),
            offset,
        };
        let write_at = events.len() - 1;
        let after = if snapshot_ms > 1000 { 1 } else { 0 };
        events.insert(write_at + after, at(snapshot_ms, 1, snapshot));
        events.extend([
            at(2000, 1, ProcessEvent::Kill(CrashKind::Process)),
            at(2500, 1, ProcessEvent::Restart),
            started(2500, 1),
            full_resync(4000, offset),
            at(4000, 2, ClusterEvent::ReplicationLinkUp { offset }),
            promoted(9000, 2, 1, offset, false),
        ]);
        judge(&events, false)
    };
    has_all(
        &allowed(case(600, 90)),
        &["node2 promoted by election at 9.000s replacing node1, with offset 90, never had it"],
    );
    // The same, with the snapshot taken after the write: it carries it.
    has_all(
        &violation(case(1200, 120)),
        &["node2 owns its slot", "(had the write)"],
    );
}

#[test]
fn a_process_crash_loses_nothing_even_under_everysec() {
    let mut events = base();
    events.extend([
        at(1500, 1, ProcessEvent::Kill(CrashKind::Process)),
        at(2500, 1, ProcessEvent::Restart),
        started(2500, 1),
    ]);
    has_all(&violation(judge(&events, true)), &["node1 owns its slot"]);
}

/// [`base`], then node1 going `down`, back at 2.5 s, the `between` events, and a power loss
/// at 3 s (back at 4 s).
pub(super) fn back_then_power_lost(
    down: Vec<TraceEvent>,
    between: Vec<TraceEvent>,
) -> Vec<TraceEvent> {
    let mut events = base();
    events.extend(down);
    events.extend([at(2500, 1, ProcessEvent::Restart), started(2500, 1)]);
    events.extend(between);
    events.extend([
        at(3000, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
        at(4000, 1, ProcessEvent::Restart),
        started(4000, 1),
    ]);
    events
}

#[test]
fn a_process_crash_inside_the_everysec_window_leaves_the_write_unsynced_until_an_append() {
    // Crashed 0.5 s after the write (page cache kept it, unsynced), back at 2.5 s, power lost
    // at 3 s with nothing appended in between: Redis does not sync the file it loaded.
    let run = |between: Vec<TraceEvent>| {
        let down = vec![at(1500, 1, ProcessEvent::Kill(CrashKind::Process))];
        back_then_power_lost(down, between)
    };
    has_all(
        &allowed(judge(&run(vec![]), true)),
        &["node1 got it at 1.000s, stopped at 1.500s before syncing it"],
    );
    // An append after the restart synced the whole file.
    violation(judge(&run(vec![applied(2700, 1, 20, 0)]), true));
    // Under always, it was synced before the reply.
    violation(judge(&run(vec![]), false));
}

/// node1's AOF `op` fails from 0.9 s (before the write), and node1 goes down at 5 s (`down`).
fn disk_failing(op: AofOp, down: Event) -> Vec<TraceEvent> {
    let mut events = base();
    let failed = ClusterEvent::AofFailed {
        op,
        error: "No space left on device".into(),
    };
    events.insert(events.len() - 1, at(900, 1, failed));
    events.extend([
        at(5000, 1, down),
        at(6000, 1, ProcessEvent::Restart),
        started(6000, 1),
    ]);
    events
}

#[test]
fn a_failing_aof_write_loses_what_was_acknowledged_meanwhile_to_any_crash() {
    let exit = ProcessEvent::Exit("Ok(Crash)".into()).into();
    for down in [ProcessEvent::Kill(CrashKind::Process).into(), exit] {
        let text = allowed(judge(&disk_failing(AofOp::Write, down), true));
        has_all(
            &text,
            &["node1's AOF write had been failing since 0.900s when it went down at 5.000s"],
        );
    }
    // Once the write went through, the copy is on disk a second later.
    let mut recovered = disk_failing(
        AofOp::Write,
        ProcessEvent::Kill(CrashKind::PowerLoss).into(),
    );
    recovered.insert(
        recovered.len() - 3,
        at(3000, 1, ClusterEvent::AofRecovered { op: AofOp::Write }),
    );
    recovered.insert(
        recovered.len() - 3,
        at(4000, 1, ClusterEvent::AofSynced { offset: 100 }),
    );
    violation(judge(&recovered, true));
    // Recovered just before the power loss: inside the everysec window from the recovery.
    let mut late = disk_failing(
        AofOp::Write,
        ProcessEvent::Kill(CrashKind::PowerLoss).into(),
    );
    late.insert(
        late.len() - 3,
        at(4500, 1, ClusterEvent::AofRecovered { op: AofOp::Write }),
    );
    has_all(
        &allowed(judge(&late, true)),
        &["node1 got it at 4.500s and crashed at 5.000s"],
    );
}

#[test]
fn a_failing_aof_sync_loses_writes_to_a_power_loss_only() {
    let power = ProcessEvent::Kill(CrashKind::PowerLoss).into();
    has_all(
        &allowed(judge(&disk_failing(AofOp::Fsync, power), true)),
        &["node1's AOF fsync had been failing since 0.900s"],
    );
    // The page cache outlives a process crash.
    let process = ProcessEvent::Kill(CrashKind::Process).into();
    violation(judge(&disk_failing(AofOp::Fsync, process), true));
}

#[test]
fn a_wiped_disk_excuses_only_writes_no_surviving_node_had() {
    let wipe = at(
        2000,
        0,
        Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node: 0 })),
    );
    let mut only_copy = base();
    only_copy.push(wipe.clone());
    let text = allowed(judge(&only_copy, false));
    has_all(
        &text,
        &["node1's disk was wiped at 2.000s and no other node kept it"],
    );
    let mut replicated = base();
    replicated.extend([applied(1001, 2, 100, 0), wipe.clone()]);
    let text = violation(judge(&replicated, false));
    has_all(
        &text,
        &["node1's disk was wiped at 2.000s, but node2 (write offset 100) still had it"],
    );
    // A copy on a node that no longer replicated node1 when it was wiped (node4 got the
    // write, then moved to node3) is on no path back: allowed.
    let mut elsewhere = base();
    elsewhere.extend([
        replica_of(3, 4, 1),
        at(4, 4, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        applied(1001, 4, 100, 0),
        replica_of(1500, 4, 3),
        wipe.clone(),
    ]);
    let text = allowed(judge(&elsewhere, false));
    has_all(&text, &["no other node kept it"]);
    // The replica then resyncs from the emptied node at the same address (Redis's replicas
    // copy an empty master too): the wipe took every copy.
    replicated.push(at(2500, 2, ClusterEvent::ReplicationLinkUp { offset: 0 }));
    let text = allowed(judge(&replicated, false));
    has_all(
        &text,
        &["no other node kept it (node2 resynced from node1, which lacked it, at 2.500s)"],
    );
}

#[test]
fn a_chain_of_two_promotions_follows_the_write_to_the_node_that_lacked_it() {
    // node4 replicated node1 up to offset 90 only; node2 had the write and won first; node4
    // moved to node2 but never synced from it, and won when node2 failed in turn.
    let mut events = base();
    events.extend([
        replica_of(3, 4, 1),
        at(4, 4, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        applied(502, 4, 90, 0),
        applied(1001, 2, 100, 0),
        at(2000, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
        promoted(5000, 2, 1, 100, false),
        replica_of(5100, 4, 2),
        at(8000, 2, ProcessEvent::Kill(CrashKind::PowerLoss)),
        promoted(11_000, 4, 2, 90, false),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "after node2 promoted by election at 5.000s replacing node1, with offset 100 (had \
             the write)",
            "node4 promoted by election at 11.000s replacing node2, with offset 90",
            "offset 100 in node2's stream",
        ],
    );
    // Had node4 synced from node2 it would have the write: then the loss is a violation.
    let mut synced = events.clone();
    synced.insert(
        synced.len() - 2,
        at(5200, 4, ClusterEvent::ReplicationLinkUp { offset: 130 }),
    );
    let text = violation(judge(&synced, false));
    has_all(
        &text,
        &[
            "node4 owns its slot",
            "node2 promoted by election at 5.000s replacing node1, with offset 100 (had the \
             write); node4 promoted by election at 11.000s replacing node2, with offset 90 (had \
             the write)",
        ],
    );
}

#[test]
fn a_write_acked_by_a_master_already_replaced_is_lost_with_it() {
    let mut events = base();
    // node2 won at 0.6 s while node1, cut off, kept serving.
    events.insert(events.len() - 1, promoted(600, 2, 1, 80, false));
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "node2 promoted by election at 0.600s replacing node1, with offset 80, before node1 \
             applied the write (a deposed master still serving)",
            "SET k v1 acked by node1 at 1.001s (offset 100)",
        ],
    );
    // The same after a coordinated failover: the write came after it, not lost by it.
    let mut coordinated = base();
    coordinated.insert(coordinated.len() - 1, promoted(600, 2, 1, 80, true));
    let text = allowed(judge(&coordinated, false));
    has_all(&text, &["a deposed master still serving"]);
    // node1 promoted back before the write: it owned the slot again, nothing excuses it.
    events.insert(events.len() - 1, promoted(800, 1, 2, 80, false));
    violation(judge(&events, false));
}

#[test]
fn a_write_never_applied_or_applied_outside_its_request_is_a_violation() {
    let mut events = base();
    events.retain(|e| !matches!(e.event.cluster(), Some(ClusterEvent::WriteApplied { request, .. }) if *request == REQUEST));
    let verdict = judge(&events, false);
    assert!(!verdict.is_allowed());
    has_all(
        verdict.text(),
        &[
            "node1 never reported applying it",
            "between 0.999s and 1.001s",
        ],
    );
    // The same digest on another node, or later, is not this write.
    events.push(applied(1000, 3, 100, REQUEST));
    events.push(applied(1500, 1, 120, REQUEST));
    assert!(!judge(&events, false).is_allowed());
}

#[test]
fn a_write_acknowledged_by_wait_survives_when_its_acknowledging_replica_wins() {
    // node2 applied the write (as WAIT 1 counted it); node4, a sibling, never did.
    let mut events = base();
    events.extend([
        replica_of(3, 4, 1),
        at(4, 4, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        applied(1001, 2, 100, 0),
        at(2000, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
    ]);
    let mut acknowledger_won = events.clone();
    acknowledger_won.push(promoted(5000, 2, 1, 100, false));
    has_all(
        &violation(judge(&acknowledger_won, false)),
        &["node2 owns its slot", "with offset 100 (had the write)"],
    );
    // The sibling that never had it won instead: Redis may lose it.
    events.push(promoted(5000, 4, 1, 0, false));
    has_all(
        &allowed(judge(&events, false)),
        &["node4 promoted by election at 5.000s replacing node1, with offset 0, never had it"],
    );
}

#[test]
fn rival_promotions_of_one_master_are_settled_by_the_winner_offset() {
    // node2 (had the write) takes node1's slot over by TAKEOVER on node1's side of a
    // partition while node4 (offset 90, replica of node1 too) wins an election on the other;
    // node4's higher config epoch wins and node2 becomes its replica.
    let mut events = base();
    events.extend([
        replica_of(3, 4, 1),
        at(4, 4, ClusterEvent::ReplicationLinkUp { offset: 0 }),
        applied(502, 4, 90, 0),
        applied(1001, 2, 100, 0),
        promoted(5000, 2, 1, 100, false),
        promoted(5010, 4, 1, 90, false),
        replica_of(6000, 2, 4),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &["node4 promoted by election at 5.010s replacing node1, with offset 90"],
    );
    // Had node4 had the write, the loss would be a violation.
    let mut fresh = events.clone();
    fresh.insert(fresh.len() - 3, applied(1002, 4, 100, 0));
    violation(judge(&fresh, false));
    // A master nobody promoted in place of a holder taking the slot stays a violation.
    let mut stranger = base();
    stranger.extend([
        applied(1001, 2, 100, 0),
        promoted(5000, 2, 1, 100, false),
        replica_of(6000, 2, 3),
    ]);
    let text = violation(judge(&stranger, false));
    assert!(text.contains("node3"), "{text}");
}

#[test]
fn a_takeover_in_place_of_an_earlier_master_that_wins_by_epoch_is_a_rival_promotion() {
    // node2 replaced node1 before the write (node2 acknowledged it); node4, also a replica of
    // node1 that never had the write, then took node1's slots over by TAKEOVER and won the
    // collision: node2 follows node4 and the write is gone, as Redis allows.
    let mut events = base();
    events.truncate(events.len() - 1);
    events.extend([
        promoted(900, 2, 1, 80, false),
        applied(1000, 2, 100, REQUEST),
        promoted(3000, 4, 1, 70, false),
        replica_of(3100, 2, 4),
    ]);
    let text = allowed(judge_on(2, &events));
    has_all(
        &text,
        &[
            "node4 promoted by election at 3.000s replacing node1, with offset 70",
            "a rival promotion",
        ],
    );
}

/// Seed 822415: a coordinated CLUSTER FAILOVER of a replica whose (stale) view gave its
/// master a slot another node held claims that slot too. The replica caught up with its own
/// master, not with the slot's holder: the coordination promises nothing for that write.
#[test]
fn a_coordinated_rival_promotion_may_lose_the_holders_write() {
    let mut events = base();
    events.truncate(events.len() - 1);
    events.extend([
        promoted(900, 2, 1, 80, false),
        applied(1000, 2, 100, REQUEST),
        promoted(3000, 4, 1, 70, true),
        replica_of(3100, 2, 4),
    ]);
    let text = allowed(judge_on(2, &events));
    has_all(
        &text,
        &[
            "node4 promoted by coordinated CLUSTER FAILOVER",
            "a rival promotion",
        ],
    );
}

#[test]
fn a_slot_move_finished_after_a_mid_move_promotion_strands_the_new_master_writes() {
    // node2 replaced node1 (which was moving slot 100 to node3) and then took the write; the
    // operator's SETSLOT NODE on node3 finished the move node2 never took part in.
    let mut events = base();
    events.truncate(events.len() - 1);
    events.extend([
        promoted(900, 2, 1, 80, false),
        applied(1000, 2, 100, REQUEST),
        slot_imported(3000, 3, 500),
    ]);
    let text = allowed(judge_on(2, &events));
    has_all(
        &text,
        &[
            "the slot moved to node3 at 3.000s by a migration begun before node2 promoted",
            "Redis 7.0 does not replicate the migrating state",
        ],
    );
    // Had node2 MIGRATEd the slot's keys after the write, the write went with them.
    let mut moved = events.clone();
    moved.insert(moved.len() - 1, keys_migrated(2000, 2, 3));
    assert!(!judge_on(2, &moved).is_allowed());
}

#[test]
fn a_write_taken_after_a_mid_move_promotion_and_after_the_import_closed_is_stranded() {
    // node3 imports slot 100 from node1 (0.8 s); node2 replaces node1 (0.9 s), the operator's
    // SETSLOT NODE on node3 closes the import (0.95 s), and node2, which never took part in
    // the move, still owns the slot in its own view and takes the write (1 s).
    let import = |ms: u64, from: Option<u8>| {
        at(
            ms,
            3,
            ClusterEvent::ImportChanged {
                slot: SLOT,
                from: from.map(id),
            },
        )
    };
    let mut events = base();
    events.truncate(events.len() - 1);
    events.extend([
        import(800, Some(1)),
        promoted(900, 2, 1, 80, false),
        import(950, None),
        slot_imported(950, 3, 500),
        applied(1000, 2, 100, REQUEST),
    ]);
    let text = allowed(judge_on(2, &events));
    has_all(
        &text,
        &[
            "the slot moved to node3 at 0.950s by a migration begun before node2 promoted",
            "never MIGRATEd it",
        ],
    );
    // An import opened after node2's promotion is node2's own move: node2 had to redirect
    // the write (ASK), so losing it is a violation.
    let mut own_move = events.clone();
    let opened = own_move
        .iter()
        .position(|e| e.time_us == 800_000)
        .expect("the import");
    let mut open = own_move.remove(opened);
    open.time_us = 920_000;
    own_move.insert(opened + 1, open);
    assert!(!judge_on(2, &own_move).is_allowed());
    // So is one after node2 MIGRATEd keys of the slot: it took part in the move.
    let mut moved = events.clone();
    moved.insert(moved.len() - 3, keys_migrated(930, 2, 3));
    assert!(!judge_on(2, &moved).is_allowed());
}

#[test]
fn a_copy_on_an_importer_cut_off_by_a_mid_move_failover_may_be_dropped_by_the_fix() {
    // node1 MIGRATEs the key to node3 (1.5 s); node2 replaces node1 (2 s) with the write's
    // offset but without the key, owns the slot outright and makes the key anew; the
    // operator's fix keeps node2's copy and deletes node3's (3 s).
    let dropped = |ms: u64| {
        at(
            ms,
            0,
            FaultEvent::CopiesDropped {
                node: 2,
                slot: SLOT,
                keys: vec!["k".to_string()],
            },
        )
    };
    let migrated = keys_migrated(1500, 1, 3);
    let mut events = base();
    events.extend([
        applied(1200, 2, 100, 0),
        migrated.clone(),
        promoted(2000, 2, 1, 120, false),
        dropped(3000),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "the key sat on node3, importing the slot, when node2 promoted",
            "fix at 3.000s kept the owner's copy and deleted node3's",
        ],
    );
    // With no failover in the middle of the move, the copies cannot differ as Redis runs:
    // the deleted copy was the write's, and losing it is a violation.
    let mut no_failover = base();
    no_failover.extend([migrated, dropped(3000)]);
    violation(judge(&no_failover, false));
    // The same for a write taken by the importer itself (ASKING), whose source fails over.
    let mut asking: Vec<TraceEvent> = (1..=4).map(|n| started(0, n)).collect();
    asking.extend([
        replica_of(1, 2, 1),
        at(
            900,
            3,
            ClusterEvent::ImportChanged {
                slot: SLOT,
                from: Some(id(1)),
            },
        ),
        applied(1000, 3, 100, REQUEST),
        promoted(2000, 2, 1, 120, false),
        dropped(3000),
    ]);
    has_all(&allowed(judge_on(3, &asking)), &["the key sat on node3"]);
    asking.retain(|e| !matches!(e.event.cluster(), Some(ClusterEvent::Promoted { .. })));
    let verdict = judge_on(3, &asking);
    assert!(!verdict.is_allowed(), "{verdict:?}");
}

#[test]
fn a_copy_on_an_importer_forked_by_the_source_s_power_loss_may_be_dropped_by_the_fix() {
    // node1 MIGRATEs the key to node3 (1.5 s), then loses power (2 s) and with it its
    // MIGRATING state (Redis saves it without an fsync): back as plain owner it makes the key
    // anew, and the operator's fix keeps node1's copy and deletes node3's (3 s) (seed
    // 993040).
    let dropped = at(
        3000,
        0,
        FaultEvent::CopiesDropped {
            node: 2,
            slot: SLOT,
            keys: vec!["k".to_string()],
        },
    );
    let migrated = keys_migrated(1500, 1, 3);
    let power_loss = at(2000, 1, ProcessEvent::Kill(CrashKind::PowerLoss));
    let mut events = base();
    events.extend([
        migrated.clone(),
        power_loss,
        started(2500, 1),
        dropped.clone(),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "the key sat on node3, importing the slot, when node1 lost power at 2.000s",
            "fix at 3.000s kept the owner's copy and deleted node3's",
        ],
    );
    // A process crash keeps the MIGRATING state (the page cache holds nodes.conf): the
    // deleted copy was the write's, and losing it is a violation.
    let mut crash = base();
    crash.extend([
        migrated.clone(),
        at(2000, 1, ProcessEvent::Kill(CrashKind::Process)),
        started(2500, 1),
        dropped.clone(),
    ]);
    violation(judge(&crash, false));
    // So is a power loss before the migration: the state was set afterwards.
    let mut before = base();
    before.extend([
        at(1200, 1, ProcessEvent::Kill(CrashKind::PowerLoss)),
        started(1300, 1),
        keys_migrated(1500, 1, 3),
        dropped,
    ]);
    violation(judge(&before, false));
}

#[test]
fn keys_migrated_to_a_node_whose_disk_is_wiped_before_the_import_closes_are_lost_with_it() {
    // node1 MIGRATEs the slot's keys to node3 at 1.5 s; node3 is wiped at 2 s; the import
    // never closes and node1 keeps the slot, without the key.
    let wipe3 = at(
        2000,
        0,
        Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node: 2 })),
    );
    let mut events = base();
    events.extend([keys_migrated(1500, 1, 3), wipe3.clone()]);
    let text = allowed(judge(&events, false));
    has_all(&text, &["node3's disk was wiped at 2.000s"]);
    // Without the wipe, or once node3 moved the keys back, node1 must still have it.
    let mut kept = base();
    kept.push(keys_migrated(1500, 1, 3));
    violation(judge(&kept, false));
    let mut back = base();
    back.extend([keys_migrated(1500, 1, 3), keys_migrated(1800, 3, 1), wipe3]);
    violation(judge(&back, false));
}

#[test]
fn a_write_taken_while_importing_is_stranded_when_the_importer_fails_over() {
    // node1 imports the slot when it takes the write (by ASKING); node2, its replica with the
    // write, is promoted at 2 s before the import closes. Redis 7.0 does not replicate the
    // importing state: the key is left on node2, outside every owner.
    let import = at(
        500,
        1,
        ClusterEvent::ImportChanged {
            slot: SLOT,
            from: Some(id(3)),
        },
    );
    let mut events = base();
    events.insert(0, import);
    events.extend([applied(1001, 2, 100, 0), promoted(2000, 2, 1, 100, true)]);
    events.sort_by_key(|e| e.time_us);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &["node1 took it while importing the slot and was replaced by node2 at 2.000s"],
    );
    // node1's disk wiped first changes nothing: node2 had the write, and the import is what
    // leaves it outside the slot (seed 711258).
    let mut wiped = events.clone();
    wiped.push(at(
        1800,
        0,
        Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node: 0 })),
    ));
    wiped.sort_by_key(|e| e.time_us);
    let text = allowed(judge(&wiped, false));
    has_all(
        &text,
        &["node1 took it while importing the slot and was replaced by node2 at 2.000s"],
    );
    // Without the import, node2 took the slot with the write and must keep it.
    let mut owned = wiped.clone();
    owned.retain(|e| !matches!(e.event.cluster(), Some(ClusterEvent::ImportChanged { .. })));
    let text = violation(judge(&owned, false));
    has_all(&text, &["node2 owns its slot", "(had the write)"]);
    // Once the import closed on node1, the promoted replica holds the write and must keep it.
    let closed = slot_imported(1500, 1, 100);
    events.push(closed);
    events.sort_by_key(|e| e.time_us);
    violation(judge(&events, false));
}

#[test]
fn keys_migrated_to_an_importer_that_turns_replica_are_lost_whoever_owns_the_slot_next() {
    // node4 replaced node3 before node3 heard of it; node1 MIGRATEs the key to node3
    // (importing) at 1.5 s, then node3 learns it lost its slots and follows node4 at 1.8 s:
    // Redis 7.0 closes its import and the full sync from node4 replaces its data. node2,
    // node1's replica with the write's offset, replaces node1 later: its data lacks the key,
    // which left with the MIGRATE (seed 908026).
    let mut events = base();
    events.extend([
        applied(1001, 2, 100, 0),
        promoted(1200, 4, 3, 0, false),
        keys_migrated(1500, 1, 3),
        replica_of(1800, 3, 4),
        promoted(2000, 2, 1, 100, true),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &[
            "node3 took it while importing the slot, then found its own slots taken over and \
           became a replica of node4 at 1.800s",
        ],
    );
    // Counter-case: node3 stays a master (its import may still close): node2 took the slot
    // with the write's offset, the key left only for a live importer, no loss allowed.
    let kept: Vec<TraceEvent> = events
        .into_iter()
        .filter(|e| e.time_us != 1_800_000)
        .collect();
    violation(judge(&kept, false));
}

#[test]
fn keys_migrated_to_an_importer_that_fails_over_are_stranded_whoever_owns_the_slot_next() {
    // node1 MIGRATEs the key to node3 (importing) at 1.5 s; node4 replaces node3 at 1.8 s
    // (it does not import the slot), then node2, node1's replica with the write's offset,
    // replaces node1: its data lacks the key, which left with the MIGRATE.
    let mut events = base();
    events.extend([
        applied(1001, 2, 100, 0),
        keys_migrated(1500, 1, 3),
        replica_of(1600, 4, 3),
        promoted(1800, 4, 3, 0, false),
        promoted(2000, 2, 1, 100, true),
    ]);
    let text = allowed(judge(&events, false));
    has_all(
        &text,
        &["node3 took it while importing the slot and was replaced by node4"],
    );
}

#[test]
fn a_holder_outbid_by_an_epoch_taken_without_votes_loses_the_write() {
    // node1, holding the write, becomes a replica of node3 at 2 s. Only when node3's claim
    // won with a config epoch it bumped without votes (SETSLOT … NODE, then a collision) is
    // that a loss Redis allows.
    let mut demoted = base();
    demoted.push(replica_of(2000, 1, 3));
    let text = violation(judge(&demoted, false));
    has_all(
        &text,
        &["became a replica of node3", "no promotion or migration"],
    );
    let mut outbid = base();
    outbid.extend([
        at(
            1500,
            3,
            ClusterEvent::ConfigEpochChanged {
                epoch: 10,
                reason: clusterlab_core::event::ConfigEpochReason::Bump,
            },
        ),
        replica_of(2000, 1, 3),
    ]);
    let text = allowed(judge(&outbid, false));
    has_all(&text, &["taken without votes at 1.500s"]);
}

#[test]
fn a_master_yielding_the_slot_to_a_node_that_adopted_it_at_start_up_loses_what_that_node_lacked() {
    // node1, holding the write, stays a master but its own view gives the slot to node3 at
    // 3 s. Only a claim node3 made at start-up for keys it loaded in the slot, unassigned in
    // its view (verifyClusterConfigWithData), excuses the loss: the claimant's data is what
    // it loaded (seed 710437).
    let to_node3 = |ms| {
        at(
            ms,
            1,
            ClusterEvent::SlotsAssigned {
                ranges: vec![(SLOT - 1, SLOT + 1)],
                owner: Some(id(3)),
            },
        )
    };
    let adopted = at(
        2000,
        3,
        ClusterEvent::SlotsAdopted {
            ranges: vec![(SLOT, SLOT)],
        },
    );
    let mut yielded = base();
    yielded.extend([adopted.clone(), to_node3(3000)]);
    let text = allowed(judge(&yielded, false));
    has_all(
        &text,
        &[
            "node3 restarted at 2.000s with keys of the slot",
            "verifyClusterConfigWithData",
            "outbid node1's, which yielded the slot at 3.000s",
        ],
    );
    // A hand-over to a node that claimed the slot any other way is no excuse.
    let mut unexplained = base();
    unexplained.push(to_node3(3000));
    violation(judge(&unexplained, false));
    // Nor is one to an adopter of another slot.
    let mut other_slot = base();
    other_slot.extend([
        at(
            2000,
            3,
            ClusterEvent::SlotsAdopted {
                ranges: vec![(SLOT + 1, SLOT + 5)],
            },
        ),
        to_node3(3000),
    ]);
    violation(judge(&other_slot, false));
    // An adopter that had the write (a replica of node1 until then) keeps it.
    let mut had = base();
    had.extend([
        replica_of(1, 3, 1),
        applied(1001, 3, 100, 0),
        at(
            2000,
            3,
            ClusterEvent::NodeStarted {
                id: id(3),
                loaded: true,
                current_epoch: 12,
                config_epoch: 12,
                last_vote_epoch: 0,
                master: None,
                flagged: Vec::new(),
            },
        ),
        adopted,
        to_node3(3000),
    ]);
    let text = violation(judge(&had, false));
    has_all(
        &text,
        &[
            "node3 owns its slot",
            "adopted it at start-up (had the write)",
        ],
    );
}

/// node3 opens an import of the slot from node1 at `opened_ms`; node1 MIGRATEs the key to it
/// at 1.5 s; node3 goes down (`how`) at `kill_ms`.
fn migrated_then_killed(opened_ms: u64, kill_ms: u64, how: CrashKind) -> Vec<TraceEvent> {
    let mut events = base();
    events.extend([
        at(
            opened_ms,
            3,
            ClusterEvent::ImportChanged {
                slot: SLOT,
                from: Some(id(1)),
            },
        ),
        keys_migrated(1500, 1, 3),
        at(kill_ms, 3, ProcessEvent::Kill(how)),
    ]);
    events.sort_by_key(|e| e.time_us);
    events
}

#[test]
fn a_key_migrated_to_an_importer_that_loses_power_within_the_everysec_window_is_lost() {
    // Redis's MIGRATE deletes the key from the source once the target replied to RESTORE, and
    // the target replies before its everysec sync: a power loss soon after loses the key
    // (seed 804930).
    let text = allowed(judge(
        &migrated_then_killed(1400, 1800, CrashKind::PowerLoss),
        true,
    ));
    has_all(
        &text,
        &[
            "node1 MIGRATEd the key to node3, importing the slot since 1.400s",
            "lost power at 1.800s",
        ],
    );
    // Killed while the source waited for the reply: the key was restored all the same.
    allowed(judge(
        &migrated_then_killed(1400, 1490, CrashKind::PowerLoss),
        true,
    ));
    // Under always the restore was synced before the reply.
    violation(judge(
        &migrated_then_killed(1400, 1800, CrashKind::PowerLoss),
        false,
    ));
    // A process crash keeps the page cache.
    violation(judge(
        &migrated_then_killed(1400, 1800, CrashKind::Process),
        true,
    ));
    // An import opened long before proves nothing about when the key arrived.
    violation(judge(
        &migrated_then_killed(100, 1800, CrashKind::PowerLoss),
        true,
    ));
}

#[test]
fn a_master_yielding_the_slot_to_a_claim_with_an_unvoted_epoch_loses_what_the_claimant_lacked() {
    // node3 took config epoch 10 without votes at 0.5 s (SETSLOT … NODE while node1 was down),
    // before node1 took the write; node1, unaware, served the slot until its view gave the
    // slot to node3 at 3 s, and deleted its keys there (seeds 808523, 809326).
    let bump = at(
        500,
        3,
        ClusterEvent::ConfigEpochChanged {
            epoch: 10,
            reason: clusterlab_core::event::ConfigEpochReason::Bump,
        },
    );
    let to_node3 = at(
        3000,
        1,
        ClusterEvent::SlotsAssigned {
            ranges: vec![(SLOT, SLOT)],
            owner: Some(id(3)),
        },
    );
    let mut yielded = base();
    yielded.insert(0, bump.clone());
    yielded.push(to_node3.clone());
    let text = allowed(judge(&yielded, false));
    has_all(
        &text,
        &[
            "node1 gave the slot up to node3 at 3.000s",
            "taken without votes at 0.500s",
        ],
    );
    // A TAKEOVER's epoch is taken without votes too (seed 951077).
    let takeover = at(
        500,
        3,
        ClusterEvent::ConfigEpochChanged {
            epoch: 10,
            reason: clusterlab_core::event::ConfigEpochReason::Takeover,
        },
    );
    let mut taken = base();
    taken.insert(0, takeover);
    taken.push(to_node3.clone());
    allowed(judge(&taken, false));
    // Without an unvoted epoch the hand-over is unexplained.
    let mut unexplained = base();
    unexplained.push(to_node3.clone());
    violation(judge(&unexplained, false));
    // After node1 MIGRATEd its keys to node3, the hand-over is the move's end: node3 must
    // have the key.
    let mut moved = base();
    moved.insert(0, bump);
    moved.extend([keys_migrated(2000, 1, 3), to_node3]);
    violation(judge(&moved, false));
}

#[test]
fn a_replica_whose_view_gave_the_slot_to_an_unvoted_claim_does_not_take_it_when_promoted() {
    // node3 took config epoch 10 by a TAKEOVER at 1.5 s with a stale view that still gave
    // it the write's slot; node2, node1's replica with the write, learned of that claim at
    // 2 s, so its election at 3 s claimed only what its view left node1 (seed 3400433).
    let takeover = at(
        1500,
        3,
        ClusterEvent::ConfigEpochChanged {
            epoch: 10,
            reason: clusterlab_core::event::ConfigEpochReason::Takeover,
        },
    );
    let node2_sees_node3 = at(
        2000,
        2,
        ClusterEvent::SlotsAssigned {
            ranges: vec![(SLOT, SLOT)],
            owner: Some(id(3)),
        },
    );
    let node2_with_write = || {
        let mut events = base();
        events.push(applied(1200, 2, 100, REQUEST));
        events
    };
    let mut stale = node2_with_write();
    stale.extend([
        takeover.clone(),
        node2_sees_node3.clone(),
        promoted(3000, 2, 1, 100, false),
    ]);
    let text = allowed(judge(&stale, false));
    has_all(
        &text,
        &[
            "node1 gave the slot up to node3 at 3.000s",
            "taken without votes at 1.500s",
        ],
    );
    // The same after node1's disk was wiped: node2's copy never reaches the slot's owner,
    // so the wipe's judgement (a replica still had it) no longer applies (seed 605874).
    let wipe = at(
        1800,
        0,
        Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node: 0 })),
    );
    let mut wiped = node2_with_write();
    wiped.extend([
        takeover.clone(),
        wipe.clone(),
        node2_sees_node3.clone(),
        promoted(3000, 2, 1, 100, false),
    ]);
    let text = allowed(judge(&wiped, false));
    has_all(&text, &["node1 gave the slot up to node3 at 3.000s"]);
    // Without the claim in node2's view the wipe stands judged by node2's copy.
    let mut wiped_kept = node2_with_write();
    wiped_kept.extend([wipe, promoted(3000, 2, 1, 100, false)]);
    violation(judge(&wiped_kept, false));
    // node2's own view kept the slot with node1: it takes the slot, and the write with it.
    let mut kept = node2_with_write();
    kept.extend([takeover, promoted(3000, 2, 1, 100, false)]);
    violation(judge(&kept, false));
    // A view naming a node that took no epoch without votes explains nothing.
    let mut unexplained = node2_with_write();
    unexplained.extend([node2_sees_node3, promoted(3000, 2, 1, 100, false)]);
    violation(judge(&unexplained, false));
}

#[test]
fn a_node_stopped_by_a_failed_sync_under_always_keeps_the_write_unsynced_until_an_append() {
    // appendfsync always: node1 applies the write at 1 s and its sync fails, so it exits
    // before replying (Redis: "Can't persist AOF for fsync error when the AOF fsync policy is
    // 'always'"); the page cache kept the bytes, which the restart at 2.5 s loads, unsynced;
    // a power loss at 3 s with nothing appended in between loses them (seed 808127).
    let run = |between: Vec<TraceEvent>| {
        let failed = ClusterEvent::AofFailed {
            op: AofOp::Fsync,
            error: "Input/output error".into(),
        };
        let exit = ProcessEvent::Exit("Err(Input/output error)".into());
        back_then_power_lost(vec![at(1000, 1, failed), at(1000, 1, exit)], between)
    };
    has_all(
        &allowed(judge(&run(vec![]), false)),
        &["node1 got it at 1.000s, stopped at 1.000s before syncing it"],
    );
    // An append after the restart synced the whole file.
    violation(judge(&run(vec![applied(2700, 1, 20, 0)]), false));
}

fn evicted(ms: u64, n: u8, key: &'static str) -> TraceEvent {
    let key = bytes::Bytes::from_static(key.as_bytes());
    at(
        ms,
        n,
        ClusterEvent::KeyEvicted {
            key,
            policy: "allkeys-lru",
        },
    )
}

#[test]
fn only_an_eviction_of_the_key_after_the_write_excuses_its_loss() {
    let base = vec![started(0, 1), applied(1000, 1, 10, REQUEST)];
    // The master kept running and no event explains the loss.
    assert!(!judge(&base, false).is_allowed());
    let with = |extra: TraceEvent| {
        let mut events = base.clone();
        events.push(extra);
        events
    };
    let verdict = judge(&with(evicted(2000, 1, "k")), false);
    assert!(verdict.is_allowed(), "{}", verdict.text());
    assert!(
        verdict.text().contains("node1 evicted k at"),
        "{}",
        verdict.text()
    );
    // Another key's eviction, or one before the write, does not.
    assert!(!judge(&with(evicted(2000, 1, "other")), false).is_allowed());
    let mut before = vec![started(0, 1), evicted(500, 1, "k")];
    before.push(applied(1000, 1, 10, REQUEST));
    assert!(!judge(&before, false).is_allowed());
    let rule_events = with(evicted(2000, 1, "k"));
    let (_, cause) = LossRule::new(&rule_events, LossConfig::default()).judge_with_cause(&write());
    assert_eq!(cause, LossCause::Evicted);
}
