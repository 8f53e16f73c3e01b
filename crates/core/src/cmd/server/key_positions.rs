//! Finding a command line's keys from key specs: `COMMAND GETKEYS`, and the same rules for
//! callers that need key positions of commands without fixed first/last/step.

use bytes::Bytes;

use super::command::find_command;
use super::meta::{self, Begin, Find, KeySpec};
use super::subcommands_of;
use crate::cmd::{is, parse_i64, CommandSpec};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

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

pub(super) fn command_getkeys(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let target = &args[2..];
    let Some(mut spec) = find_command(&target[0]).filter(|s| !s.name.contains('|')) else {
        return Reply::err("Invalid command specified");
    };
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() {
        let full = format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(target.get(1).map_or(&b""[..], |b| b)).to_ascii_lowercase()
        );
        match subs.iter().find(|s| s.name == full) {
            Some(sub) => spec = sub,
            None => return Reply::err("Invalid command specified"),
        }
    }
    let specs = key_specs_of(spec);
    if specs.is_empty() {
        return Reply::err("The command has no key arguments");
    }
    if !spec.arity_ok(target.len()) {
        return Reply::err("Invalid number of arguments specified for command");
    }
    let mut positions = key_positions(&specs, target);
    if spec.name == "sort" {
        // The STORE key has no key spec Redis can describe; its `sortGetKeys` finds it.
        positions = Some(crate::cmd::sort::key_positions(target));
    }
    if spec.name == "migrate" {
        // With a KEYS list the key argument is a placeholder, not a key.
        if let Some(p) = positions.as_mut().filter(|p| p.len() > 1) {
            p.remove(0);
        }
    }
    match positions {
        Some(positions) => Reply::Array(
            positions
                .into_iter()
                .map(|i| Reply::Bulk(target[i].clone()))
                .collect(),
        ),
        None if spec.flags.contains(crate::cmd::CmdFlags::NO_MANDATORY_KEYS) => {
            Reply::Array(Vec::new())
        }
        None => Reply::err("Invalid arguments specified for command"),
    }
}

/// Key specs from Redis's table, or derived from first/last/step.
fn key_specs_of(spec: &CommandSpec) -> Vec<KeySpec> {
    match meta::lookup(spec.name) {
        Some(m) => m.key_specs.to_vec(),
        None => derived_key_spec(spec).into_iter().collect(),
    }
}

/// The argument positions of the keys of a command line (`args[0]` is the command name),
/// following Redis's key-spec rules; `None` when the line does not fit a spec. Specs whose
/// shape is unknown (SORT's BY/GET patterns) are skipped.
pub(crate) fn key_positions(specs: &[KeySpec], args: &[Bytes]) -> Option<Vec<usize>> {
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
        positions.extend((first..=last).step_by(step as usize).map(|i| i as usize));
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
    fn command_getkeys() {
        let (mut n, c) = cluster_node();
        assert_eq!(
            run(&mut n, c, "command getkeys get a"),
            Reply::Array(vec![bulk("a")])
        );
        assert_eq!(
            run(&mut n, c, "command getkeys mset a 1 b 2"),
            Reply::Array(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            run(&mut n, c, "command getkeys ping x"),
            err("ERR The command has no key arguments")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys foo a"),
            err("ERR Invalid command specified")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys get a b"),
            err("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys get"),
            err("ERR wrong number of arguments for 'command|getkeys' command")
        );
    }

    #[test]
    fn key_specs_find_movable_keys() {
        let specs = |name: &str| meta::lookup(name).expect("in table").key_specs.to_vec();
        let positions = |name: &str, line: &str| key_positions(&specs(name), &words(line));
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
            positions("migrate", "migrate h 1 k 0 5000 KEYS"),
            Some(vec![3])
        );
    }
}
