use super::*;

fn pairs(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

/// A stream of `n` entries `i-0` (i from 1) with `max_entries` per node.
fn numbered(n: u64, max_entries: usize) -> Stream {
    let limits = NodeLimits {
        max_bytes: STREAM_NODE_MAX_BYTES,
        max_entries,
    };
    let mut s = Stream::new();
    for i in 1..=n {
        s.append(id(i, 0), &pairs(&["f", &i.to_string()]), limits);
    }
    s
}

fn masters(s: &Stream) -> Vec<StreamId> {
    s.nodes().map(|(k, _)| *k).collect()
}

#[test]
fn entries_fill_nodes_up_to_the_entry_limit() {
    let s = numbered(7, 3);
    assert_eq!(masters(&s), vec![id(1, 0), id(4, 0), id(7, 0)]);
    assert_eq!((s.len(), s.entries_added), (7, 7));
    assert_eq!((s.first_id, s.last_id), (id(1, 0), id(7, 0)));
    let all = s.range(StreamId::ZERO, StreamId::MAX, 0, false);
    assert_eq!(all.len(), 7);
    assert_eq!(all[6], (id(7, 0), &pairs(&["f", "7"])[..]));
}

#[test]
fn a_node_closes_before_passing_the_byte_limit() {
    let limits = NodeLimits {
        max_bytes: 100,
        max_entries: 0,
    };
    let mut s = Stream::new();
    let big = "x".repeat(40);
    for i in 1..=3 {
        s.append(id(i, 0), &pairs(&["f", &big]), limits);
    }
    // An empty node is 7 bytes; the master entry (1, 0, 1, "f", 0) 2+2+2+3+2; the first
    // entry (flags, deltas, the 40-byte value, its count) 2+2+2+42+2: 68 bytes in all. The
    // second would pass 100 with its 41 bytes of field and value: a new node.
    assert_eq!(s.nodes().next().unwrap().1.lp_bytes(), 68);
    assert_eq!(masters(&s), vec![id(1, 0), id(2, 0), id(3, 0)]);
}

#[test]
fn next_id_follows_the_clock_or_the_last_id() {
    let mut s = Stream::new();
    assert_eq!(s.next_id(1000), Some(id(1000, 0)));
    s.append(id(1000, 5), &pairs(&["a", "1"]), NodeLimits::default());
    assert_eq!(
        s.next_id(999),
        Some(id(1000, 6)),
        "a clock behind the last ID"
    );
    assert_eq!(s.next_id(1001), Some(id(1001, 0)));
    s.set_id(StreamId::MAX, None, StreamId::ZERO);
    assert_eq!(s.next_id(5), None);
}

#[test]
fn delete_leaves_tombstones_until_the_node_empties() {
    let mut s = numbered(6, 3);
    assert!(s.delete(id(2, 0)));
    assert!(!s.delete(id(2, 0)), "already deleted");
    assert!(!s.delete(id(9, 0)));
    assert_eq!(
        (s.len(), s.max_deleted_id, s.first_id),
        (5, id(2, 0), id(1, 0))
    );
    let node = s.nodes().next().unwrap().1;
    assert_eq!((node.live, node.deleted), (2, 1));
    assert!(s.delete(id(1, 0)));
    assert_eq!(s.first_id, id(3, 0));
    assert!(s.delete(id(3, 0)));
    assert_eq!(masters(&s), vec![id(4, 0)], "the emptied node went");
    assert_eq!(s.first_id_with_tombstones(), id(4, 0));
    assert_eq!(s.max_deleted_id, id(3, 0));
    assert_eq!(s.entries_added, 6);
    for i in 4..=6 {
        s.delete(id(i, 0));
    }
    assert_eq!(
        (s.len(), s.first_id, s.last_id),
        (0, StreamId::ZERO, id(6, 0))
    );
    assert_eq!(s.first_id_with_tombstones(), StreamId::MAX);
}

#[test]
fn exact_trims_mark_entries_inside_a_node() {
    let mut s = numbered(10, 4);
    let maxlen = |n| Trim {
        strategy: TrimStrategy::MaxLen(n),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(maxlen(5)), 5);
    // Node 1-4 went whole, node 5-8 lost 5-0 to a tombstone.
    assert_eq!(masters(&s), vec![id(5, 0), id(9, 0)]);
    assert_eq!((s.len(), s.first_id), (5, id(6, 0)));
    assert_eq!(s.first_id_with_tombstones(), id(5, 0));
    assert_eq!(s.max_deleted_id, StreamId::ZERO, "trims do not set it");
    let minid = Trim {
        strategy: TrimStrategy::MinId(id(8, 0)),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(minid), 2);
    assert_eq!(s.range(StreamId::ZERO, StreamId::MAX, 0, false).len(), 3);
}

#[test]
fn approximate_trims_take_whole_nodes_within_the_limit() {
    let approx = |n, limit| Trim {
        strategy: TrimStrategy::MaxLen(n),
        approx: true,
        limit,
    };
    let mut s = numbered(10, 4);
    assert_eq!(s.trim(approx(5, 0)), 4, "the second node would leave 2");
    assert_eq!(s.len(), 6);
    let mut s = numbered(10, 4);
    assert_eq!(
        s.trim(approx(0, 7)),
        4,
        "a second node would pass the limit"
    );
    let mut s = numbered(10, 4);
    let minid = Trim {
        strategy: TrimStrategy::MinId(id(9, 0)),
        approx: true,
        limit: 0,
    };
    assert_eq!(s.trim(minid), 8);
    assert_eq!(s.first_id, id(9, 0));
}

#[test]
fn range_counts_and_reverses() {
    let mut s = numbered(5, 100);
    s.delete(id(3, 0));
    let ids = |v: Vec<(StreamId, &[Bytes])>| v.into_iter().map(|(i, _)| i.ms).collect::<Vec<_>>();
    assert_eq!(ids(s.range(id(2, 0), id(5, 0), 2, false)), vec![2, 4]);
    assert_eq!(ids(s.range(id(2, 0), id(5, 0), 0, true)), vec![5, 4, 2]);
    assert_eq!(
        ids(s.range(id(5, 0), id(2, 0), 0, false)),
        Vec::<u64>::new()
    );
    assert_eq!(s.last_live_id(), id(5, 0));
}
