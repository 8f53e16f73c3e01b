//! `COMMAND GETKEYS` and `COMMAND GETKEYSANDFLAGS`: the keys of a full command line, found
//! from the command's key specs, except for the commands whose keys (or key flags) Redis
//! finds with its own parser: MIGRATE's `KEYS` list, SORT's `STORE` target, and the access
//! flags of SET (`GET` reads) and BITFIELD (only `GET`s: read-only).

use bytes::Bytes;

use super::command::find_command;
use super::key_positions::{key_positions, key_specs_of, KeyAt};
use super::subcommands_of;
use crate::cmd::{is, CmdFlags, CommandSpec};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn command_getkeys(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match keys_of_line(&args[2..]) {
        Ok(keys) => Reply::Array(
            keys.into_iter()
                .map(|(at, _)| Reply::Bulk(args[2 + at].clone()))
                .collect(),
        ),
        Err(e) => e,
    }
}

/// Each key with its flags as a set: `[[key, [RW, access, …]], …]`.
pub(super) fn command_getkeysandflags(
    _node: &mut Node,
    _client: ClientId,
    args: &[Bytes],
) -> Reply {
    match keys_of_line(&args[2..]) {
        Ok(keys) => Reply::Array(
            keys.into_iter()
                .map(|(at, flags)| {
                    let flags = flags.iter().map(|f| Reply::simple(*f)).collect();
                    Reply::Array(vec![Reply::Bulk(args[2 + at].clone()), Reply::Set(flags)])
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

/// The keys of `target` (a command line, its name first), with Redis's errors.
fn keys_of_line(target: &[Bytes]) -> Result<Vec<KeyAt>, Reply> {
    let spec = resolve(target)?;
    let specs = key_specs_of(spec);
    if specs.is_empty() {
        return Err(Reply::err("The command has no key arguments"));
    }
    if !spec.arity_ok(target.len()) {
        return Err(Reply::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let found = match spec.name {
        "sort" | "sort_ro" => Some(sort_keys(target)),
        _ => key_positions(&specs, target),
    };
    let Some(mut keys) = found else {
        if spec.flags.contains(CmdFlags::NO_MANDATORY_KEYS) {
            return Ok(Vec::new());
        }
        return Err(Reply::err("Invalid arguments specified for command"));
    };
    match spec.name {
        "migrate" if keys.len() > 1 => {
            // With a KEYS list the key argument must be empty: a placeholder, not a key. The
            // listed keys carry the first spec's flags.
            if !target[3].is_empty() {
                return Err(Reply::err("Invalid arguments specified for command"));
            }
            keys.remove(0);
            for key in &mut keys {
                key.1 = specs[0].flags;
            }
        }
        "set" => set_flags(&mut keys, target),
        "bitfield" => bitfield_flags(&mut keys, target),
        _ => {}
    }
    Ok(keys)
}

/// The command (or container subcommand) a command line runs.
fn resolve(target: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let invalid = || Reply::err("Invalid command specified");
    let spec = find_command(&target[0])
        .filter(|s| !s.name.contains('|'))
        .ok_or_else(invalid)?;
    let subs = subcommands_of(spec.name);
    if subs.is_empty() {
        return Ok(spec);
    }
    let sub = target.get(1).map_or(&b""[..], |b| b);
    let full = format!(
        "{}|{}",
        spec.name,
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    );
    subs.iter().find(|s| s.name == full).ok_or_else(invalid)
}

/// SORT's key, then its `STORE` destination: options are skipped with their arguments
/// (`LIMIT` takes two, `BY`/`GET` one); the last `STORE` wins, as in Redis.
fn sort_keys(target: &[Bytes]) -> Vec<KeyAt> {
    let mut keys: Vec<KeyAt> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < target.len() {
        let skip = if is(&target[i], "limit") {
            2
        } else if is(&target[i], "by") || is(&target[i], "get") {
            1
        } else if is(&target[i], "store") {
            store = Some(i + 1);
            1
        } else {
            0
        };
        i += 1 + skip;
    }
    if let Some(at) = store.filter(|&at| at < target.len()) {
        keys.push((at, &["OW", "update"]));
    }
    keys
}

/// SET with `GET` reads its key too; without, it only overwrites it.
fn set_flags(keys: &mut [KeyAt], target: &[Bytes]) {
    let flags: &'static [&'static str] = if target[3..].iter().any(|a| is(a, "get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    };
    for key in keys {
        key.1 = flags;
    }
}

/// BITFIELD with nothing but `GET` operations only reads its key.
fn bitfield_flags(keys: &mut [KeyAt], target: &[Bytes]) {
    let writes = target[2..].iter().any(|a| is(a, "set") || is(a, "incrby"));
    let flags: &'static [&'static str] = if writes {
        &["RW", "access", "update"]
    } else {
        &["RO", "access"]
    };
    for key in keys {
        key.1 = flags;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    fn keyflags(pairs: &[(&str, &[&str])]) -> Reply {
        let entry =
            |(key, flags): &(&str, &[&str])| Reply::Array(vec![bulk(key), simple_set(flags)]);
        Reply::Array(pairs.iter().map(entry).collect())
    }

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
            run(&mut n, c, "command getkeys client list"),
            err("ERR The command has no key arguments")
        );
        assert_eq!(
            run(&mut n, c, "command getkeys object encoding a"),
            Reply::Array(vec![bulk("a")])
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
        assert_eq!(
            run(&mut n, c, "command getkeys lmpop x a left"),
            err("ERR Invalid arguments specified for command")
        );
    }

    #[test]
    fn sort_keys_follow_store() {
        let keys = |line: &str| {
            sort_keys(&words(line))
                .into_iter()
                .map(|k| k.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys("sort k by x get y store z"), vec![1, 7]);
        assert_eq!(keys("sort k limit 0 1 store z"), vec![1, 6]);
        assert_eq!(keys("sort k store"), vec![1]);
        assert_eq!(keys("sort k get store"), vec![1]);
        assert_eq!(keys("sort k store a store b"), vec![1, 5]);
    }

    #[test]
    fn getkeysandflags_matches_redis() {
        let (mut n, c) = cluster_node();
        assert_eq!(
            run(&mut n, c, "command getkeysandflags lmove a b left right"),
            keyflags(&[("a", &["RW", "access", "delete"]), ("b", &["RW", "insert"])])
        );
        assert_eq!(
            run(&mut n, c, "command getkeysandflags set a b"),
            keyflags(&[("a", &["OW", "update"])])
        );
        assert_eq!(
            run(&mut n, c, "command getkeysandflags set a b get"),
            keyflags(&[("a", &["RW", "access", "update"])])
        );
        // BITFIELD lands with the bitmap commands; its flags rule is tested on its own.
        let mut keys: Vec<KeyAt> = vec![(1, &[])];
        bitfield_flags(&mut keys, &words("bitfield a get u8 0"));
        assert_eq!(keys[0].1, &["RO", "access"]);
        bitfield_flags(&mut keys, &words("bitfield a get u8 0 incrby u8 0 1"));
        assert_eq!(keys[0].1, &["RW", "access", "update"]);
        let mut migrate = words("command getkeysandflags migrate h 1 - 0 5 keys a b");
        migrate[5] = Bytes::new();
        assert_eq!(
            n.command(NOW, c, &migrate),
            keyflags(&[
                ("a", &["RW", "access", "delete"]),
                ("b", &["RW", "access", "delete"])
            ])
        );
        // A key name and a KEYS list: Redis refuses the line.
        assert_eq!(
            run(&mut n, c, "command getkeys migrate h 1 k 0 5 keys a b"),
            err("ERR Invalid arguments specified for command")
        );
        assert_eq!(
            run(&mut n, c, "command getkeysandflags sintercard 2 a b"),
            keyflags(&[("a", &["RO", "access"]), ("b", &["RO", "access"])])
        );
    }
}
