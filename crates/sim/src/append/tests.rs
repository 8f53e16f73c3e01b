//! The append checker against hand-built histories: one correct concurrent history that must
//! pass, and one deliberately broken history per anomaly, whose evidence must name exactly the
//! operations that show it.

use super::op::{token, Kill, Kind, Op, Outcome, Value, FINAL_CLIENT};
use super::*;
use crate::loss::{AckedWrite, LossVerdict};
use crate::violation_kind::ViolationKind;

pub(super) const X: &str = "10.0.0.1:7001";
pub(super) const Y: &str = "10.0.0.4:7004";

pub(super) fn ok() -> Outcome {
    Outcome::Ok(Value::Status("OK".into()))
}

pub(super) fn late() -> Outcome {
    Outcome::Indeterminate("request timed out".into())
}

/// A history built op by op; times in ms.
#[derive(Default)]
pub(super) struct Build(pub(super) AppendHistory);

impl Build {
    pub(super) fn op(
        &mut self,
        client: usize,
        key: &str,
        kind: Kind,
        times: (u64, u64),
        addr: &str,
        outcome: Outcome,
    ) -> usize {
        let mut args: Vec<String> = match &kind {
            Kind::Append { token } => vec!["APPEND".into(), key.into(), token.clone()],
            Kind::Set { token, px_ms } => {
                let mut a = vec!["SET".into(), key.into(), token.clone()];
                if let Some(px) = px_ms {
                    a.extend(["PX".into(), px.to_string()]);
                }
                a
            }
            Kind::Get { .. } => vec!["GET".into(), key.into()],
            Kind::Incr => vec!["INCR".into(), key.into()],
            Kind::Pexpire { ms } => vec!["PEXPIRE".into(), key.into(), ms.to_string()],
            Kind::Persist => vec!["PERSIST".into(), key.into()],
            Kind::Wait { replicas } => vec!["WAIT".into(), replicas.to_string(), "100".into()],
        };
        args.shrink_to_fit();
        self.0.push(Op {
            id: 0,
            client,
            key: key.into(),
            kind,
            args,
            start_us: times.0 * 1000,
            end_us: times.1 * 1000,
            addr: addr.into(),
            outcome,
        });
        self.0.ops.len() - 1
    }

    pub(super) fn append(
        &mut self,
        client: usize,
        seq: usize,
        key: &str,
        times: (u64, u64),
        outcome: Outcome,
    ) -> usize {
        let kind = Kind::Append {
            token: token(client, seq),
        };
        self.op(client, key, kind, times, X, outcome)
    }

    pub(super) fn set(
        &mut self,
        client: usize,
        seq: usize,
        key: &str,
        times: (u64, u64),
        px_ms: Option<u64>,
        outcome: Outcome,
    ) -> usize {
        let kind = Kind::Set {
            token: token(client, seq),
            px_ms,
        };
        self.op(client, key, kind, times, X, outcome)
    }

    pub(super) fn get(
        &mut self,
        client: usize,
        key: &str,
        times: (u64, u64),
        addr: &str,
        value: Option<&str>,
    ) -> usize {
        let kind = Kind::Get {
            replica: false,
            final_read: client == FINAL_CLIENT,
        };
        let value = value.map_or(Value::Nil, |v| Value::Bulk(v.into()));
        self.op(client, key, kind, times, addr, Outcome::Ok(value))
    }

    pub(super) fn last(&mut self, key: &str, value: Option<&str>) -> usize {
        self.get(FINAL_CLIENT, key, (100_000, 100_001), X, value)
    }
}

/// Judges with a rule that must not be asked (nothing was lost).
pub(super) fn judge_clean(h: &AppendHistory) -> Judged {
    judge(h, &mut |w: &AckedWrite| {
        panic!("nothing was lost, yet {} was judged", w.what)
    })
}

/// Judges with a rule that says `verdict` to everything, and what it was asked.
pub(super) fn judge_with(h: &AppendHistory, allowed: bool) -> (Judged, Vec<AckedWrite>) {
    let mut asked = Vec::new();
    let judged = judge(h, &mut |w: &AckedWrite| {
        asked.push(w.clone());
        if allowed {
            LossVerdict::Allowed("a failover promoted a replica without it".into())
        } else {
            LossVerdict::Violation("the promoted replica had its offset".into())
        }
    });
    (judged, asked)
}

/// The one violation of `judged`, which must be of `kind` and name exactly the ops `ids`.
pub(super) fn only(
    judged: &Judged,
    kind: ViolationKind,
    h: &AppendHistory,
    ids: &[usize],
) -> String {
    assert_eq!(judged.violations.len(), 1, "{:#?}", judged.violations);
    let v = &judged.violations[0];
    assert_eq!(v.kind, kind, "{}", v.evidence);
    for op in &h.ops {
        let named = v.evidence.contains(&format!("#{} ", op.id));
        assert_eq!(
            named,
            ids.contains(&op.id),
            "op {} in {}",
            op.id,
            v.evidence
        );
    }
    v.evidence.clone()
}

#[test]
fn a_correct_concurrent_history_passes() {
    let mut b = Build::default();
    let k = "list:0";
    b.append(0, 0, k, (0, 10), ok()); // 0.0;
    b.append(1, 0, k, (5, 15), ok()); // 1.0; concurrent with 0.0;
                                      // Times out, lands only after 0.1; and 1.1; were acknowledged.
    b.append(0, 1, k, (20, 1020), late()); // 0.1;
    b.append(1, 1, k, (30, 40), ok()); // 1.1;
    b.get(0, k, (1030, 1031), X, Some("1.0;0.0;1.1;"));
    b.append(0, 2, k, (1040, 1050), ok()); // 0.2;
                                           // A replica behind, then the master with the late append landed.
    b.get(1, k, (1060, 1061), Y, Some("1.0;0.0;"));
    b.get(1, k, (1070, 1071), X, Some("1.0;0.0;1.1;0.2;0.1;"));
    // An append that was rejected and one that timed out and never landed.
    b.append(1, 2, k, (1080, 1081), Outcome::Error("CLUSTERDOWN".into()));
    b.append(1, 3, k, (1090, 2090), late());
    b.last(k, Some("1.0;0.0;1.1;0.2;0.1;"));
    // Another key is reset by a SET: what came before it need not survive.
    let j = "list:1";
    b.append(2, 0, j, (0, 10), ok());
    b.get(2, j, (20, 21), X, Some("2.0;"));
    b.set(3, 0, j, (30, 40), None, ok());
    b.append(2, 1, j, (50, 60), ok());
    b.get(2, j, (70, 71), X, Some("3.0;2.1;"));
    b.last(j, Some("3.0;2.1;"));
    let judged = judge_clean(&b.0);
    assert_eq!(judged, Judged::default());
}

#[test]
fn an_append_applied_twice_is_duplicated() {
    let mut b = Build::default();
    let k = "list:0";
    let a = b.append(0, 0, k, (0, 1000), late());
    b.append(1, 0, k, (10, 20), ok());
    let read = b.get(1, k, (30, 31), X, Some("0.0;1.0;0.0;"));
    b.last(k, Some("0.0;1.0;"));
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::AppendDuplicated,
        &b.0,
        &[a, read],
    );
    assert!(ev.contains("holds 0.0; twice"), "{ev}");
}

#[test]
fn appends_listed_against_real_time_are_inverted() {
    let mut b = Build::default();
    let k = "list:0";
    let first = b.append(0, 0, k, (0, 10), ok());
    let second = b.append(1, 0, k, (20, 30), ok());
    let read = b.get(0, k, (40, 41), X, Some("1.0;0.0;"));
    // Every later read repeats it: it is reported once.
    b.get(1, k, (50, 51), X, Some("1.0;0.0;"));
    b.last(k, Some("1.0;0.0;"));
    let judged = judge_clean(&b.0);
    let ev = only(
        &judged,
        ViolationKind::AppendOrderInverted,
        &b.0,
        &[first, second, read],
    );
    assert!(ev.contains("lists 1.0; before 0.0;"), "{ev}");
}

#[test]
fn a_write_out_of_place_is_not_a_prefix() {
    let mut b = Build::default();
    let k = "list:0";
    b.append(0, 0, k, (0, 10), ok());
    let moved = b.append(1, 0, k, (20, 100), ok());
    b.append(2, 0, k, (30, 100), ok());
    let read = b.get(0, k, (110, 111), X, Some("0.0;1.0;2.0;"));
    let last = b.last(k, Some("0.0;2.0;1.0;"));
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::ReadNotPrefix,
        &b.0,
        &[moved, read, last],
    );
    assert!(ev.contains("showed 1.0; at position 1"), "{ev}");

    // A SET's token can only start a list.
    let mut b = Build::default();
    b.append(0, 0, k, (0, 10), ok());
    let set = b.set(1, 0, k, (20, 30), None, ok());
    let read = b.get(0, k, (40, 41), X, Some("0.0;1.0;"));
    b.last(k, Some("1.0;"));
    only(
        &judge_clean(&b.0),
        ViolationKind::ReadNotPrefix,
        &b.0,
        &[set, read],
    );
}

#[test]
fn a_shorter_read_from_the_same_node_needs_an_allowed_loss() {
    let mut b = Build::default();
    let k = "list:0";
    b.append(0, 0, k, (0, 10), ok());
    let gone = b.append(1, 0, k, (20, 30), ok());
    let before = b.get(0, k, (40, 41), X, Some("0.0;1.0;"));
    let after = b.get(0, k, (50, 51), X, Some("0.0;"));
    // Another node, or another client, reading less is no breach of monotonic reads.
    b.get(1, k, (60, 61), X, Some("0.0;"));
    // (A failover lost it: it never comes back.)
    b.last(k, Some("0.0;"));
    let (judged, asked) = judge_with(&b.0, false);
    let ev = only(
        &judged,
        ViolationKind::ReadNotMonotonic,
        &b.0,
        &[gone, before, after],
    );
    assert!(ev.contains("the promoted replica had its offset"), "{ev}");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].node, "node1");
    assert_eq!(asked[0].what, "APPEND list:0 1.0;");
    let digest = clusterlab_core::event::request_digest(&["APPEND", "list:0", "1.0;"]);
    assert_eq!(asked[0].request, digest);
    // The loss rule allowing it (a failover lost the write): no violation, one allowed line.
    let (judged, _) = judge_with(&b.0, true);
    assert!(judged.violations.is_empty(), "{:?}", judged.violations);
    assert_eq!(judged.allowed.len(), 1);
    assert!(
        judged.allowed[0].contains("APPEND list:0 1.0;"),
        "{:?}",
        judged.allowed
    );
    // X crashed between the two reads: restarted from its disk it answers for the final
    // read only (which, here, still loses the write to the rule's verdict).
    b.0.kills.push(power_loss(X, 45_000));
    let (judged, _) = judge_with(&b.0, false);
    assert!(
        judged
            .violations
            .iter()
            .all(|v| v.kind != ViolationKind::ReadNotMonotonic),
        "{:?}",
        judged.violations
    );
}

#[test]
fn a_node_that_forgets_a_write_it_acknowledged_serves_a_stale_read() {
    let mut b = Build::default();
    let k = "list:0";
    b.append(0, 0, k, (0, 10), ok());
    let acked = b.append(1, 0, k, (20, 30), ok());
    // Another client reads X after the acknowledgement: X must show 1.0;.
    let stale = b.get(2, k, (40, 41), X, Some("0.0;"));
    // A replica (another node) may lag; so may X before the acknowledgement.
    b.get(3, k, (50, 51), Y, Some("0.0;"));
    b.get(3, k, (25, 26), X, Some("0.0;"));
    let last = b.last(k, Some("0.0;1.0;"));
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::ReadNotPrefix,
        &b.0,
        &[acked, stale, last],
    );
    assert!(
        ev.contains("the read lacks it, the final value has it"),
        "{ev}"
    );
    // X crashed between the acknowledgement and the read: restarted from an everysec disk it
    // may lack the write while its replica kept it for the final value.
    b.0.kills.push(power_loss(X, 35_000));
    assert_eq!(judge_clean(&b.0), Judged::default());
}

#[test]
fn tokens_nobody_wrote_are_phantoms() {
    let k = "list:0";
    let mut b = Build::default();
    b.append(0, 0, k, (0, 10), ok());
    let read = b.get(0, k, (20, 21), X, Some("0.0;7.7;"));
    b.last(k, Some("0.0;"));
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::PhantomToken,
        &b.0,
        &[read],
    );
    assert!(ev.contains("7.7;, which nobody wrote"), "{ev}");

    // A rejected write's token, and bytes that are no token at all.
    let mut b = Build::default();
    let rejected = b.append(0, 0, k, (0, 10), Outcome::Error("TRYAGAIN".into()));
    b.last(k, Some("0.0;"));
    let read = b.get(1, "list:1", (20, 21), X, Some("garbage"));
    let judged = judge_clean(&b.0);
    assert_eq!(judged.violations.len(), 2, "{:?}", judged.violations);
    assert!(judged.violations[0]
        .evidence
        .contains(&format!("#{rejected} ")));
    assert!(judged.violations[0]
        .evidence
        .contains("rejected with an error"));
    assert!(judged.violations[1].evidence.contains(&format!("#{read} ")));
}

#[test]
fn an_acked_write_missing_at_the_end_goes_to_the_loss_rule() {
    let mut b = Build::default();
    let k = "list:0";
    b.set(0, 0, k, (0, 10), None, ok());
    let lost = b.append(1, 0, k, (20, 30), ok());
    // Concurrent with the base SET: it may have landed before it and been reset.
    b.append(2, 0, k, (5, 15), ok());
    let last = b.last(k, Some("0.0;"));
    let (judged, asked) = judge_with(&b.0, false);
    let ev = only(&judged, ViolationKind::AckedWriteLost, &b.0, &[lost, last]);
    assert!(ev.contains("APPEND list:0 1.0; is gone"), "{ev}");
    assert_eq!(asked.len(), 1);
    let (judged, _) = judge_with(&b.0, true);
    assert_eq!((judged.violations.len(), judged.allowed.len()), (0, 1));

    // A newer acknowledged SET lost: the final value kept the older base.
    let mut b = Build::default();
    b.set(0, 0, k, (0, 10), None, ok());
    let newer = b.set(1, 0, k, (20, 30), None, ok());
    let last = b.last(k, Some("0.0;"));
    only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[newer, last],
    );
}

#[test]
fn a_timed_out_write_seen_by_a_read_is_looked_for_up_to_that_read() {
    // The append timed out at 1000 ms but landed (a read at 1500 ms shows it); then it is
    // gone. Its WriteApplied may be as late as the read's end, so the rule is asked so.
    let mut b = Build::default();
    let k = "list:0";
    let write = b.append(0, 0, k, (0, 1000), late());
    b.get(1, k, (1500, 1510), X, Some("0.0;"));
    b.last(k, None);
    let (_, asked) = judge_with(&b.0, true);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].start_us, asked[0].end_us), (0, 1_510_000));
    assert_eq!(asked[0].what, b.0.ops[write].command());
}

#[test]
fn reads_from_replicas_may_shrink() {
    // A client's READONLY reads of one replica: the replica full-synced from a master without
    // the write in between (an emptied master at the same address). The final value still has
    // it, so nothing was lost and no order was promised.
    let mut b = Build::default();
    let k = "list:0";
    b.append(0, 0, k, (0, 10), ok());
    let replica_read = |b: &mut Build, times, value: Option<&str>| {
        let value = value.map_or(Value::Nil, |v| Value::Bulk(v.into()));
        let kind = Kind::Get {
            replica: true,
            final_read: false,
        };
        b.op(1, k, kind, times, Y, Outcome::Ok(value))
    };
    replica_read(&mut b, (40, 41), Some("0.0;"));
    replica_read(&mut b, (50, 51), None);
    // The node that acknowledged the write, read after READONLY once it became a replica
    // and resynced from an emptied master, may lack it too.
    let own = |b: &mut Build, times| {
        let kind = Kind::Get {
            replica: true,
            final_read: false,
        };
        b.op(2, k, kind, times, X, Outcome::Ok(Value::Nil))
    };
    own(&mut b, (60, 61));
    b.last(k, Some("0.0;"));
    assert_eq!(judge_clean(&b.0), Judged::default());
}

/// A power-loss crash of the node at `addr`.
fn power_loss(addr: &str, at_us: u64) -> Kill {
    Kill {
        addr: addr.to_string(),
        at_us,
        loses_unsynced: true,
    }
}

/// An append sent through `EVAL` is found by the loss rule under the command its script
/// runs, since the node digests each command a script calls.
#[test]
fn a_scripted_append_is_judged_by_the_command_its_script_runs() {
    let mut b = Build::default();
    let id = b.append(0, 3, "rlist:1", (10, 20), Outcome::Ok(Value::Int(4)));
    b.0.ops[id].args = super::op::scripted_args("RPUSH", "rlist:1", "0.3;");
    let op = &b.0.ops[id];
    assert_eq!(op.applied_args(), ["RPUSH", "rlist:1", "0.3;"]);
    let plain = clusterlab_core::event::request_digest(&["RPUSH", "rlist:1", "0.3;"]);
    assert_eq!(judge::acked_write(op).request, plain);
    assert!(op.command().starts_with("EVAL "));
    // Any other command is judged as sent.
    let id = b.append(0, 4, "list:0", (30, 40), Outcome::Ok(Value::Int(8)));
    assert_eq!(b.0.ops[id].applied_args(), ["APPEND", "list:0", "0.4;"]);
}
