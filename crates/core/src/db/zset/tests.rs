use super::*;

fn members(it: ZIter<'_>) -> Vec<String> {
    it.map(|(m, _)| String::from_utf8_lossy(m).into_owned())
        .collect()
}

fn both_encodings(pairs: &[(&str, f64)]) -> [ZSet; 2] {
    let packed: ZSet = pairs.iter().map(|(m, s)| (m.as_bytes(), *s)).collect();
    let mut tree = ZSet::new_skiplist();
    for (m, s) in pairs {
        tree.insert(m.as_bytes(), *s);
    }
    assert_eq!(
        (packed.encoding(), tree.encoding()),
        ("listpack", "skiplist")
    );
    [packed, tree]
}

#[test]
fn sorted_by_score_then_member() {
    let mut z = ZSet::new();
    z.insert(b"b", 1.0);
    z.insert(b"a", 1.0);
    z.insert(b"c", -2.5);
    let order: Vec<&[u8]> = z.sorted().into_iter().map(|(m, _)| m).collect();
    assert_eq!(order, [&b"c"[..], b"a", b"b"]);
    assert_eq!(z.encoding(), "listpack");
    z.insert(&[b'm'; 65], 0.0);
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(z.rank(b"b"), Some(3));
    assert_eq!(z.remove(b"a"), Some(1.0));
    assert_eq!(z.rank(b"b"), Some(2));
}

#[test]
fn ranges_agree_in_both_encodings() {
    let pairs = [
        ("a", 1.0),
        ("b", 2.0),
        ("c", 2.0),
        ("d", 3.0),
        ("e", f64::INFINITY),
    ];
    for z in both_encodings(&pairs) {
        let bound = |value, exclusive| ScoreBound { value, exclusive };
        let r = z.score_range(bound(2.0, false), bound(3.0, true), false);
        assert_eq!(members(r), ["b", "c"]);
        let r = z.score_range(bound(1.0, true), bound(f64::INFINITY, false), true);
        assert_eq!(members(r), ["e", "d", "c", "b"]);
        let r = z.score_range(
            bound(f64::INFINITY, true),
            bound(f64::INFINITY, false),
            false,
        );
        assert!(members(r).is_empty());
        let r = z.score_range(bound(3.0, false), bound(1.0, false), false);
        assert!(members(r).is_empty());
        assert_eq!(members(z.rank_range(1, 2, false)), ["b", "c"]);
        assert_eq!(members(z.rank_range(0, 1, true)), ["e", "d"]);
        assert_eq!(z.rank(b"d"), Some(3));
    }
    for z in both_encodings(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0)]) {
        let (min, max) = (LexBound::Exclusive(b"a".as_slice().into()), LexBound::Max);
        assert_eq!(members(z.lex_range(&min, &max, false)), ["b", "c", "d"]);
        let max = LexBound::Inclusive(b"c".as_slice().into());
        assert_eq!(members(z.lex_range(&min, &max, true)), ["c", "b"]);
        let crossed = LexBound::Exclusive(b"a".as_slice().into());
        assert!(members(z.lex_range(&min, &crossed, false)).is_empty());
    }
}

#[test]
fn pops_from_either_end() {
    for mut z in both_encodings(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]) {
        assert_eq!(z.pop(true), Some((Box::from(&b"c"[..]), 3.0)));
        assert_eq!(z.pop(false), Some((Box::from(&b"a"[..]), 1.0)));
        assert_eq!(z.len(), 1);
        assert_eq!(z.score(b"a"), None);
    }
}

/// Thousands of inserts, updates, removals and pops on a skiplist-sized set (chunks split,
/// thin out and merge) checked against a plain sorted vector after every step.
#[test]
fn the_order_index_agrees_with_a_sorted_vector() {
    let mut x: u64 = 42;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut z = ZSet::new_skiplist();
    let mut reference: Vec<(f64, Vec<u8>)> = Vec::new();
    for step in 0..6000 {
        let member = format!("m{}", next(1500)).into_bytes();
        let score = (next(40) as f64) / 4.0 - 2.0;
        let grow = step < 3000;
        match next(if grow { 4 } else { 5 }) {
            0 | 1 if grow => {
                z.insert(&member, score);
                reference.retain(|(_, m)| *m != member);
                reference.push((score, member));
            }
            0..=2 => {
                let expected = reference.iter().position(|(_, m)| *m == member);
                let removed = z.remove(&member);
                assert_eq!(removed.is_some(), expected.is_some());
                if let Some(at) = expected {
                    reference.remove(at);
                }
            }
            _ => {
                reference.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
                let from_max = next(2) == 0;
                let expected = if from_max {
                    reference.pop()
                } else if reference.is_empty() {
                    None
                } else {
                    Some(reference.remove(0))
                };
                let popped = z.pop(from_max).map(|(m, s)| (s, m.to_vec()));
                assert_eq!(popped, expected);
            }
        }
        reference.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        assert_eq!(z.len(), reference.len());
        if step % 97 == 0 || step > 5900 {
            let all: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
            assert_eq!(all, reference, "step {step}");
            for (rank, (_, m)) in reference.iter().enumerate().step_by(37) {
                assert_eq!(z.rank(m), Some(rank));
            }
            if reference.len() > 10 {
                let (a, b) = (reference.len() / 3, reference.len() / 2);
                let slice: Vec<&[u8]> = z.rank_range(a, b, false).map(|(m, _)| m).collect();
                let expected: Vec<&[u8]> = reference[a..=b].iter().map(|(_, m)| &m[..]).collect();
                assert_eq!(slice, expected);
                let rev: Vec<&[u8]> = z.rank_range(0, 4, true).map(|(m, _)| m).collect();
                let expected: Vec<&[u8]> = reference
                    .iter()
                    .rev()
                    .take(5)
                    .map(|(_, m)| &m[..])
                    .collect();
                assert_eq!(rev, expected);
                let bound = |value, exclusive| ScoreBound { value, exclusive };
                let within: Vec<&[u8]> = z
                    .score_range(bound(-1.0, true), bound(3.0, false), true)
                    .map(|(m, _)| m)
                    .collect();
                let expected: Vec<&[u8]> = reference
                    .iter()
                    .rev()
                    .filter(|(s, _)| *s > -1.0 && *s <= 3.0)
                    .map(|(_, m)| &m[..])
                    .collect();
                assert_eq!(within, expected);
            }
        }
    }
}
