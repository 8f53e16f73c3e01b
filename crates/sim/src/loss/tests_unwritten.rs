//! The loss rule on a key MIGRATEd to an importer whose AOF write of the `RESTORE` failed:
//! Redis keeps a failed write in memory for a retry and still replies, so the source deletes
//! the key, and a crash or exit of the importer before a retry succeeds loses it (seed
//! 3100541: the importer's disk filled up, then a `nodes.conf` save failed and it exited).

use clusterlab_core::event::AofOp;
use clusterlab_core::ClusterEvent;

use super::tests::{allowed, at, base, has_all, judge, keys_migrated, violation, SLOT};
use super::*;
use crate::faults::CrashKind;
use crate::trace::ProcessEvent;

/// node3 serves an `ASKING` command of the slot at `served_ms`, its AOF write fails at
/// `failed_ms`, node1 hears its batch acknowledged at `migrated_ms`, and node3's process is
/// killed at `kill_ms`; `recovered_ms`: the AOF write works again then.
fn migrated_to_a_failing_importer(
    served_ms: u64,
    failed_ms: u64,
    migrated_ms: u64,
    kill_ms: u64,
    recovered_ms: Option<u64>,
) -> Vec<TraceEvent> {
    let mut events = base();
    let served = ClusterEvent::KeyServed {
        slot: SLOT,
        asking: true,
        readonly: false,
    };
    let failed = ClusterEvent::AofFailed {
        op: AofOp::Write,
        error: "No space left on device".into(),
    };
    events.extend([
        at(served_ms, 3, served),
        at(failed_ms, 3, failed),
        keys_migrated(migrated_ms, 1, 3),
        at(kill_ms, 3, ProcessEvent::Kill(CrashKind::Process)),
    ]);
    if let Some(ms) = recovered_ms {
        let recovered = ClusterEvent::AofRecovered { op: AofOp::Write };
        events.push(at(ms, 3, recovered));
    }
    events.sort_by_key(|e| e.time_us);
    events
}

#[test]
fn a_key_whose_restore_failed_to_reach_the_importers_aof_is_lost_by_its_crash() {
    let text = allowed(judge(
        &migrated_to_a_failing_importer(1400, 1400, 1450, 2000, None),
        true,
    ));
    has_all(
        &text,
        &[
            "node1 MIGRATEd the key to node3, whose AOF write of the RESTORE failed at 1.400s",
            "went down at 2.000s",
        ],
    );
    // Down before the source heard the reply: the same.
    allowed(judge(
        &migrated_to_a_failing_importer(1400, 1400, 1500, 1450, None),
        true,
    ));
}

#[test]
fn a_restore_written_before_the_failure_or_retried_since_is_not_lost() {
    // The ASKING command came before the failing write: its own write went through.
    violation(judge(
        &migrated_to_a_failing_importer(1300, 1400, 1450, 2000, None),
        true,
    ));
    // The retry succeeded before the crash: the key is in the file.
    violation(judge(
        &migrated_to_a_failing_importer(1400, 1400, 1450, 2000, Some(1800)),
        true,
    ));
}
