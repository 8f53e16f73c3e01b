//! The checks beside the lists against hand-built histories: TTL keys, counters, the cap on
//! repeated findings, merging, and the key set.

use super::op::{Kind, Outcome, Value};
use super::tests::{judge_clean, judge_with, late, ok, only, Build, X, Y};
use super::*;
use crate::violation_kind::ViolationKind;

#[test]
fn a_value_read_after_its_ttl_ran_out() {
    let k = "ttl:0";
    let mut b = Build::default();
    let set = b.set(0, 0, k, (0, 10), Some(100), ok());
    let read = b.get(1, k, (200, 201), X, Some("0.0;"));
    b.get(1, k, (50, 51), X, Some("0.0;")); // in time: fine
    let ev = only(
        &judge_clean(&b.0),
        ViolationKind::ReadAfterExpiry,
        &b.0,
        &[set, read],
    );
    assert!(ev.contains("ms after it surely expired"), "{ev}");
    // A PERSIST in between keeps it; a PEXPIRE that answered 0 changed nothing.
    let mut b = Build::default();
    b.set(0, 0, k, (0, 10), Some(100), ok());
    let noop = Outcome::Ok(Value::Int(0));
    b.op(2, k, Kind::Pexpire { ms: 100_000 }, (15, 16), X, noop);
    b.op(1, k, Kind::Persist, (20, 30), X, Outcome::Ok(Value::Int(1)));
    b.get(1, k, (200, 201), X, Some("0.0;"));
    assert_eq!(judge_clean(&b.0), Judged::default());
}

#[test]
fn a_persisted_key_that_vanishes_was_lost() {
    let k = "ttl:0";
    let mut b = Build::default();
    b.set(0, 0, k, (0, 10), Some(1500), ok());
    let persist = b.op(0, k, Kind::Persist, (20, 30), X, Outcome::Ok(Value::Int(1)));
    let read = b.get(0, k, (2000, 2001), X, None);
    let ev = only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[persist, read],
    );
    assert!(ev.contains("PERSIST ttl:0 is gone"), "{ev}");
    // Without the PERSIST the key expired: nothing lost; read early, it was.
    let mut b = Build::default();
    b.set(0, 0, k, (0, 10), Some(1500), ok());
    b.get(0, k, (2000, 2001), X, None);
    assert_eq!(judge_clean(&b.0), Judged::default());
    let set = b.set(0, 1, k, (3000, 3010), Some(1500), ok());
    let early = b.get(0, k, (3100, 3101), X, None);
    only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[set, early],
    );
}

#[test]
fn replicas_may_lag_but_must_hide_expired_keys() {
    let k = "ttl:0";
    let replica_get = |b: &mut Build, times, value: Option<&str>| {
        let kind = Kind::Get {
            replica: true,
            final_read: false,
        };
        let value = value.map_or(Value::Nil, |v| Value::Bulk(v.into()));
        b.op(1, k, kind, times, Y, Outcome::Ok(value))
    };
    let mut b = Build::default();
    let set = b.set(0, 0, k, (0, 10), Some(1000), ok());
    replica_get(&mut b, (20, 21), None); // not replicated yet: fine
    replica_get(&mut b, (500, 501), Some("0.0;"));
    let late = replica_get(&mut b, (1500, 1501), Some("0.0;"));
    only(
        &judge_clean(&b.0),
        ViolationKind::ReadAfterExpiry,
        &b.0,
        &[set, late],
    );
}

#[test]
fn counters_neither_overcount_nor_lose() {
    let k = "ctr:0";
    let mut b = Build::default();
    b.op(0, k, Kind::Incr, (0, 10), X, Outcome::Ok(Value::Int(1)));
    let twice = b.op(1, k, Kind::Incr, (20, 30), X, Outcome::Ok(Value::Int(3)));
    b.last(k, Some("2"));
    // (The final 2 also loses the reply 3: let the rule allow that.)
    only(
        &judge_with(&b.0, true).0,
        ViolationKind::CounterOvercounted,
        &b.0,
        &[twice],
    );

    let mut b = Build::default();
    b.op(0, k, Kind::Incr, (0, 10), X, Outcome::Ok(Value::Int(1)));
    let lost = b.op(1, k, Kind::Incr, (20, 30), X, Outcome::Ok(Value::Int(2)));
    b.op(1, k, Kind::Incr, (40, 1040), X, late());
    let last = b.last(k, Some("1"));
    only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[lost, last],
    );
    // The timed-out INCR landing late is fine.
    let mut b2 = Build::default();
    b2.op(0, k, Kind::Incr, (0, 10), X, Outcome::Ok(Value::Int(1)));
    b2.op(1, k, Kind::Incr, (40, 1040), X, late());
    b2.last(k, Some("2"));
    assert_eq!(judge_clean(&b2.0), Judged::default());
}

#[test]
fn many_findings_of_one_kind_are_capped() {
    let mut b = Build::default();
    for n in 0..8 {
        b.get(0, &format!("list:{n}"), (0, 1), X, Some("9.9;"));
    }
    let judged = judge_clean(&b.0);
    assert_eq!(judged.violations.len(), MAX_PER_KIND);
    assert!(judged.violations[MAX_PER_KIND - 1]
        .evidence
        .ends_with("(and 3 more phantom_token)"));
}

#[test]
fn keys_tokens_and_slots() {
    use super::op::{family_of, list_key, parse_tokens, read_args, Family};
    let keys = KeySet::default();
    assert_eq!(list_key(&keys, 0), "list:0");
    assert_eq!(list_key(&keys, keys.lists), "rlist:0");
    assert_eq!(family_of("rlist:2"), Some(Family::List));
    assert_eq!(read_args("rlist:2"), ["LRANGE", "rlist:2", "0", "-1"]);
    assert_eq!(read_args("list:2"), ["GET", "list:2"]);
    let all = workload_keys(&keys);
    assert_eq!(
        all.len(),
        keys.lists + keys.rlists + keys.counters + keys.ttls
    );
    assert_eq!(family_of("list:3"), Some(Family::List));
    assert_eq!(family_of("key:3"), None);
    let slots = workload_slots(&keys);
    assert!(slots.windows(2).all(|w| w[0] < w[1]));
    assert!(slots.contains(&clusterlab_core::slot::key_hash_slot(b"list:0")));
    assert!(slots.contains(&clusterlab_core::slot::key_hash_slot(b"rlist:7")));
    assert_eq!(parse_tokens("1.2;30.4;"), Ok(vec!["1.2;", "30.4;"]));
    for bad in ["1.2", "1;", "a.b;", "1.2;x"] {
        assert!(parse_tokens(bad).is_err(), "{bad}");
    }
}

#[test]
fn histories_merge_by_start_time_and_serve_the_served_check() {
    let mut one = Build::default();
    one.append(0, 0, "list:0", (0, 10), ok());
    let read = Kind::Get {
        replica: true,
        final_read: false,
    };
    one.op(0, "list:0", read, (30, 31), Y, Outcome::Ok(Value::Nil));
    let mut two = Build::default();
    two.append(1, 0, "list:0", (5, 6), Outcome::Error("TRYAGAIN".into()));
    two.op(
        1,
        "list:0",
        Kind::Wait { replicas: 1 },
        (20, 21),
        X,
        Outcome::Ok(Value::Int(1)),
    );
    let merged = AppendHistory::merge(vec![one.0.ops, two.0.ops]);
    let order: Vec<(usize, u64)> = merged.ops.iter().map(|op| (op.id, op.start_us)).collect();
    assert_eq!(order, vec![(0, 0), (1, 5_000), (2, 20_000), (3, 30_000)]);
    // Served: the acknowledged append and the replica read (READONLY), not the error or WAIT.
    let served = merged.served_ops();
    assert_eq!(served.len(), 2);
    assert_eq!(
        (served[0].start_ms, served[0].end_ms, served[0].readonly),
        (0, 10, false)
    );
    assert_eq!((served[1].addr.as_str(), served[1].readonly), (Y, true));
    assert_eq!(merged.acked_at(), vec![(X.to_string(), 10)]);
}

#[test]
fn an_absent_read_from_another_node_is_left_to_the_final_read() {
    // Acked by Y (a promoted replica); X, the master it replaced, has not heard yet and reads
    // the key as absent: Redis serves that stale read, so nothing is lost by it alone.
    let k = "ttl:0";
    let mut b = Build::default();
    let set = b.op(
        0,
        k,
        Kind::Set {
            token: super::op::token(0, 0),
            px_ms: Some(5000),
        },
        (0, 10),
        Y,
        ok(),
    );
    b.get(1, k, (100, 101), X, None);
    assert_eq!(judge_clean(&b.0), Judged::default());
    // The node that acknowledged it reading it as absent is a loss case.
    let read = b.get(1, k, (200, 201), Y, None);
    only(
        &judge_with(&b.0, false).0,
        ViolationKind::AckedWriteLost,
        &b.0,
        &[set, read],
    );
}

mod waits {
    use clusterlab_core::event::request_digest;

    use super::super::op::{token, Kind, Outcome, Value};
    use super::super::tests::{ok, Build, X};
    use super::super::wait::check_waits;
    use crate::loss::{LossConfig, LossRule};
    use crate::test_events::{applied, started};
    use crate::violation_kind::ViolationKind;

    /// Client 0's `WAIT 1` on node1 after its write to `key`, answered `answered` at 1.2 s.
    fn wait_answering(b: &mut Build, key: &str, answered: i64) {
        let outcome = Outcome::Ok(Value::Int(answered));
        b.op(0, key, Kind::Wait { replicas: 1 }, (1060, 1200), X, outcome);
    }

    /// `APPEND` on node1 (offset 100 at 1.01 s), then `WAIT 1` answered `answered` at 1.2 s;
    /// node4, a replica of node1, applies offset `replica_offset` at `replica_ms`.
    fn waits(answered: i64, replica_offset: u64, replica_ms: u64) -> Vec<crate::report::Violation> {
        let mut b = Build::default();
        let write = b.append(0, 0, "list:1", (1000, 1050), ok());
        wait_answering(&mut b, "list:1", answered);
        let request = request_digest(&b.0.ops[write].args);
        assert_eq!(b.0.ops[write].kind.token(), Some(token(0, 0).as_str()));
        let mut events = vec![
            started("node1", b'a', None),
            started("node4", b'r', Some(b'a')),
            applied(1010, "node1", 100, request),
            applied(replica_ms, "node4", replica_offset, 0),
        ];
        events.sort_by_key(|e| e.time_us);
        let rule = LossRule::new(&events, LossConfig::default());
        check_waits(&b.0, &events, &rule)
    }

    #[test]
    fn a_wait_counts_only_replicas_that_applied_the_write_before_it_answered() {
        assert_eq!(waits(1, 100, 1100), vec![]);
        assert_eq!(waits(0, 90, 1100), vec![], "0 promises nothing");
        for (offset, ms) in [(90, 1100), (100, 1300)] {
            let found = waits(1, offset, ms);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].kind, ViolationKind::WaitOvercounted);
            let text = &found[0].evidence;
            assert!(
                text.contains("answered 1") && text.contains("offset 100 on node1"),
                "{text}"
            );
            assert!(text.contains("only 0 replica(s)"), "{text}");
        }
    }

    #[test]
    fn a_wait_after_a_write_every_client_sends_alike_is_not_judged() {
        // Another client's identical PERSIST may be the one applied (and this one a no-op
        // Redis never propagates): the WAIT's offset is unknown.
        let mut b = Build::default();
        b.op(0, "ttl:1", Kind::Persist, (1000, 1050), X, ok());
        wait_answering(&mut b, "ttl:1", 2);
        let request = request_digest(&b.0.ops[0].args);
        let events = vec![
            started("node1", b'a', None),
            applied(1010, "node1", 100, request),
        ];
        let rule = LossRule::new(&events, LossConfig::default());
        assert_eq!(check_waits(&b.0, &events, &rule), vec![]);
    }
}
