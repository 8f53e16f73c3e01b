//! Finding a command line's keys from key specs (Redis's begin_search/find_keys rules), for
//! `COMMAND GETKEYS` and for callers that need key positions of commands without fixed
//! first/last/step.

use bytes::Bytes;

use super::meta::{self, Begin, Find, KeySpec};
use crate::cmd::{is, parse_i64, CommandSpec};

/// A key's argument index with the flags of the spec that found it (`RW`, `access`, …).
pub(crate) type KeyAt = (usize, &'static [&'static str]);

/// For a command Redis does not have: one key spec from first/last/step.
pub(super) fn derived_key_spec(spec: &CommandSpec) -> Option<KeySpec> {
    if spec.first_key <= 0 {
        return None;
    }
    let flags: &'static [&'static str] = if spec.is_write() {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    };
    let lastkey = if spec.last_key < 0 {
        spec.last_key as i64
    } else {
        (spec.last_key - spec.first_key) as i64
    };
    Some(KeySpec {
        flags,
        begin: Begin::Index(spec.first_key as i64),
        find: Find::Range {
            lastkey,
            keystep: spec.key_step.max(1) as i64,
            limit: 0,
        },
    })
}

/// Key specs from Redis's table, or derived from first/last/step.
pub(super) fn key_specs_of(spec: &CommandSpec) -> Vec<KeySpec> {
    match meta::lookup(spec.name) {
        Some(m) => m.key_specs.to_vec(),
        None => derived_key_spec(spec).into_iter().collect(),
    }
}

/// The argument positions of the keys of a command line (`args[0]` is the command name),
/// each with its spec's flags, following Redis's key-spec rules; `None` when the line does
/// not fit a spec. Specs whose shape is unknown (SORT's BY/GET patterns) are skipped.
pub(crate) fn key_positions(specs: &[KeySpec], args: &[Bytes]) -> Option<Vec<KeyAt>> {
    let argc = args.len() as i64;
    let mut positions = Vec::new();
    for spec in specs {
        let first = match spec.begin {
            Begin::Index(index) => index,
            Begin::Keyword { keyword, startfrom } => {
                match keyword_position(args, keyword, startfrom) {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let count = args
                    .get((first + keynumidx) as usize)
                    .and_then(|a| parse_i64(a))
                    .filter(|n| *n >= 0)?;
                if count == 0 {
                    continue;
                }
                let start = first + firstkey;
                (start, start + (count - 1) * keystep, keystep)
            }
            Find::Unknown => continue,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        let at = (first..=last).step_by(step as usize);
        positions.extend(at.map(|i| (i as usize, spec.flags)));
    }
    Some(positions)
}

/// Where `keyword` occurs: searching forward from `startfrom` up to (not including) the last
/// argument, or, when `startfrom` is negative, backward from `argc + startfrom`; never at
/// position 0, never past the end.
fn keyword_position(args: &[Bytes], keyword: &str, startfrom: i64) -> Option<i64> {
    let argc = args.len() as i64;
    let mut candidates: Box<dyn Iterator<Item = i64>> = if startfrom > 0 {
        Box::new(startfrom..argc - 1)
    } else if startfrom < 0 {
        Box::new((1..=(argc + startfrom)).rev())
    } else {
        // Redis starts at `argc` itself, which is past the end: nothing is searched.
        Box::new(std::iter::empty())
    };
    candidates.find(|&i| (1..argc).contains(&i) && is(&args[i as usize], keyword))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    #[test]
    fn key_specs_find_movable_keys() {
        let specs = |name: &str| meta::lookup(name).expect("in table").key_specs.to_vec();
        let positions = |name: &str, line: &str| {
            key_positions(&specs(name), &words(line))
                .map(|keys| keys.into_iter().map(|(at, _)| at).collect::<Vec<_>>())
        };
        assert_eq!(
            positions("migrate", "migrate h 1 \"\" 0 5000 COPY KEYS a b"),
            Some(vec![3, 8, 9])
        );
        assert_eq!(positions("migrate", "migrate h 1 k 0 5000"), Some(vec![3]));
        assert_eq!(positions("eval", "eval s 2 k1 k2 arg"), Some(vec![3, 4]));
        assert_eq!(positions("eval", "eval s x k1"), None);
        assert_eq!(positions("eval", "eval s 0"), Some(vec![]));
        assert_eq!(
            positions("zunionstore", "zunionstore d 2 a b"),
            Some(vec![1, 3, 4])
        );
        assert_eq!(positions("mset", "mset a 1 b 2"), Some(vec![1, 3]));
        assert_eq!(positions("rename", "rename a b"), Some(vec![1, 2]));
        // A keyword search never runs off the end of the arguments.
        let edge = [KeySpec {
            flags: &["RO"],
            begin: Begin::Keyword {
                keyword: "KEYS",
                startfrom: 0,
            },
            find: Find::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        }];
        assert_eq!(key_positions(&edge, &words("x KEYS a")), Some(vec![]));
        assert_eq!(
            key_positions(&specs("lmove"), &words("lmove a b left right")),
            Some(vec![
                (1, &["RW", "access", "delete"][..]),
                (2, &["RW", "insert"][..])
            ])
        );
        assert_eq!(
            positions("migrate", "migrate h 1 k 0 5000 KEYS"),
            Some(vec![3])
        );
    }
}
