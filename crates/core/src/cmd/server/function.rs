//! `FUNCTION`: there is no scripting engine, so the library set is always empty; the
//! subcommands still answer like Redis so that clients and dump/restore tools work.

use bytes::Bytes;

use super::{error_arg, help_reply, run_subcommand, subcommand_syntax_error, FUNCTION_SUBCOMMANDS};
use crate::cmd::is;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) fn function(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "FUNCTION", FUNCTION_SUBCOMMANDS)
}

/// This node has no scripting engine, so there are never any libraries.
pub(super) fn function_list(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "withcode") {
            i += 1;
        } else if is(&args[i], "libraryname") {
            if i + 1 >= args.len() {
                return Reply::err("library name argument was not given");
            }
            i += 2;
        } else {
            return Reply::err(format!("Unknown argument {}", error_arg(&args[i])));
        }
    }
    Reply::Array(Vec::new())
}

/// The payload of an empty library set: RDB version, then the CRC64 of what precedes it.
pub(super) fn function_dump(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Bulk(crate::cmd::dump::seal_payload(Vec::new()))
}

pub(super) fn function_restore(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return subcommand_syntax_error(args, "FUNCTION");
    }
    if let Some(policy) = args.get(3) {
        if !["flush", "append", "replace"].iter().any(|p| is(policy, p)) {
            return Reply::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    }
    let Ok(body) = crate::cmd::dump::verify_payload(&args[2]) else {
        return Reply::err("DUMP payload version or checksum are wrong");
    };
    if !body.is_empty() {
        return Reply::err(
            "this server has no scripting engine and cannot load function libraries",
        );
    }
    Reply::ok()
}

pub(super) fn function_flush(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match args.get(2) {
        None => Reply::ok(),
        Some(mode) if is(mode, "sync") || is(mode, "async") => {
            if args.len() > 3 {
                subcommand_syntax_error(args, "FUNCTION")
            } else {
                Reply::ok()
            }
        }
        Some(_) => Reply::err("FUNCTION FLUSH only supports SYNC|ASYNC option"),
    }
}

pub(super) fn function_delete(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::err("Library not found")
}

pub(super) fn function_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "FUNCTION",
        &[
            (
                "DELETE <library-name>",
                "Remove a library (there are none here).",
            ),
            ("DUMP", "Serialize all libraries for FUNCTION RESTORE."),
            ("FLUSH [ASYNC|SYNC]", "Remove all libraries."),
            (
                "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
                "List the libraries (always none).",
            ),
            (
                "RESTORE <payload> [FLUSH|APPEND|REPLACE]",
                "Load libraries from a FUNCTION DUMP payload.",
            ),
        ],
    )
}

/// No function ever runs here.
pub(super) fn function_kill(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

/// Nothing running, and the Lua engine Redis reports, with no libraries.
pub(super) fn function_stats(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let count = |name: &str| (Reply::bulk_str(name), Reply::Integer(0));
    let lua = Reply::Map(vec![count("libraries_count"), count("functions_count")]);
    Reply::Map(vec![
        (Reply::bulk_str("running_script"), Reply::Nil),
        (
            Reply::bulk_str("engines"),
            Reply::Map(vec![(Reply::bulk_str("LUA"), lua)]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    #[test]
    fn function_dump_restore_list() {
        let (mut n, c) = cluster_node();
        let empty = Bytes::from_static(b"\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda");
        assert_eq!(run(&mut n, c, "function dump"), Reply::Bulk(empty.clone()));
        let restore = |n: &mut Node, payload: &[u8], extra: &[&str]| {
            let mut args = words("FUNCTION RESTORE");
            args.push(Bytes::copy_from_slice(payload));
            args.extend(extra.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())));
            n.command(NOW, c, &args)
        };
        assert_eq!(restore(&mut n, &empty, &[]), Reply::ok());
        assert_eq!(restore(&mut n, &empty, &["flush"]), Reply::ok());
        assert_eq!(
            restore(&mut n, &empty, &["foo"]),
            err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
        );
        assert_eq!(
            restore(&mut n, &empty, &["flush", "x"]),
            err("ERR unknown subcommand or wrong number of arguments for 'RESTORE'. Try FUNCTION HELP.")
        );
        let bad = "ERR DUMP payload version or checksum are wrong";
        assert_eq!(restore(&mut n, b"\x0a\x00\0\0\0\0\0\0\0\0", &[]), err(bad));
        assert_eq!(restore(&mut n, b"x", &[]), err(bad));
        let mut newer = b"\x0b\x00".to_vec();
        let crc64 = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        newer.extend_from_slice(&crc64.checksum(b"\x0b\x00").to_le_bytes());
        assert_eq!(restore(&mut n, &newer, &[]), err(bad));
        assert_eq!(run(&mut n, c, "function list"), Reply::Array(vec![]));
        assert_eq!(
            run(&mut n, c, "function list withcode libraryname x"),
            Reply::Array(vec![])
        );
        assert_eq!(
            run(&mut n, c, "function list libraryname"),
            err("ERR library name argument was not given")
        );
        assert_eq!(
            run(&mut n, c, "function list x"),
            err("ERR Unknown argument x")
        );
        assert_eq!(run(&mut n, c, "function flush"), Reply::ok());
        assert_eq!(run(&mut n, c, "function flush async"), Reply::ok());
        assert_eq!(
            run(&mut n, c, "function flush x"),
            err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        );
        assert_eq!(
            run(&mut n, c, "function delete x"),
            err("ERR Library not found")
        );
        assert_eq!(
            run(&mut n, c, "function load x"),
            err("ERR unknown subcommand 'load'. Try FUNCTION HELP.")
        );
        assert_eq!(
            run(&mut n, c, "function dump x"),
            err("ERR wrong number of arguments for 'function|dump' command")
        );
    }

    #[test]
    fn function_kill_and_stats() {
        let (mut n, c) = cluster_node();
        assert_eq!(
            run(&mut n, c, "function kill"),
            err("NOTBUSY No scripts in execution right now.")
        );
        let zero = |k: &str| (bulk(k), Reply::Integer(0));
        assert_eq!(
            run(&mut n, c, "function stats"),
            Reply::Map(vec![
                (bulk("running_script"), Reply::Nil),
                (
                    bulk("engines"),
                    Reply::Map(vec![(
                        bulk("LUA"),
                        Reply::Map(vec![zero("libraries_count"), zero("functions_count")])
                    )])
                ),
            ])
        );
    }
}
