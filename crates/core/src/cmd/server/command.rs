//! `COMMAND` and its subcommands except GETKEYS: the command table described the way Redis 7.0
//! describes it, since cluster clients route requests by these replies.

use bytes::Bytes;

use super::key_positions::derived_key_spec;
use super::meta::{self, Begin, Find, KeySpec};
use super::{help_reply, run_subcommand, subcommands_of, COMMAND_SUBCOMMANDS};
use crate::cmd::{is, CommandSpec};
use crate::node::{ClientId, Node};
use crate::reply::Reply;
use crate::text::glob_match;

pub(super) fn command(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 1 {
        return Reply::Array(crate::cmd::all().map(command_entry).collect());
    }
    run_subcommand(node, client, args, "COMMAND", COMMAND_SUBCOMMANDS)
}

pub(super) fn command_count(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(crate::cmd::all().count() as i64)
}

/// A command or subcommand by name (`get`, `CLIENT|LIST`), case-insensitively.
pub(super) fn find_command(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    match name.split_once('|') {
        None => crate::cmd::all().find(|s| s.name == name),
        Some((container, _)) => subcommands_of(container).iter().find(|s| s.name == name),
    }
}

pub(super) fn command_info(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(crate::cmd::all().map(command_entry).collect());
    }
    let entries = args[2..]
        .iter()
        .map(|name| find_command(name).map_or(Reply::NilArray, command_entry))
        .collect();
    Reply::Array(entries)
}

/// `[name, arity, flags, first, last, step, acl categories, tips, key specs, subcommands]`.
fn command_entry(spec: &'static CommandSpec) -> Reply {
    let simple_set = |words: &[&str]| Reply::Set(words.iter().map(|w| Reply::simple(*w)).collect());
    let meta = meta::lookup(spec.name);
    let tips = meta.map_or(&[][..], |m| m.tips);
    let key_specs = match meta {
        Some(m) => m.key_specs.iter().map(key_spec_reply).collect(),
        None => derived_key_spec(spec)
            .map(|k| key_spec_reply(&k))
            .into_iter()
            .collect(),
    };
    // Subcommand names contain `|`, so they never have subcommands of their own.
    let subcommands = subcommands_of(spec.name)
        .iter()
        .map(command_entry)
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(spec.name),
        Reply::Integer(spec.arity as i64),
        Reply::Set(spec.flags.words().map(Reply::simple).collect()),
        Reply::Integer(spec.first_key as i64),
        Reply::Integer(spec.last_key as i64),
        Reply::Integer(spec.key_step as i64),
        simple_set(spec.acl_categories),
        Reply::Set(tips.iter().map(|t| Reply::bulk_str(t)).collect()),
        Reply::Set(key_specs),
        Reply::Set(subcommands),
    ])
}

fn key_spec_reply(spec: &KeySpec) -> Reply {
    let pair = |k: &str, v: Reply| (Reply::bulk_str(k), v);
    let typed = |kind: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![
            pair("type", Reply::bulk_str(kind)),
            pair("spec", Reply::Map(spec)),
        ])
    };
    let begin = match spec.begin {
        Begin::Index(index) => typed("index", vec![pair("index", Reply::Integer(index))]),
        Begin::Keyword { keyword, startfrom } => typed(
            "keyword",
            vec![
                pair("keyword", Reply::bulk_str(keyword)),
                pair("startfrom", Reply::Integer(startfrom)),
            ],
        ),
        Begin::Unknown => typed("unknown", Vec::new()),
    };
    let find = match spec.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => typed(
            "range",
            vec![
                pair("lastkey", Reply::Integer(lastkey)),
                pair("keystep", Reply::Integer(keystep)),
                pair("limit", Reply::Integer(limit)),
            ],
        ),
        Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => typed(
            "keynum",
            vec![
                pair("keynumidx", Reply::Integer(keynumidx)),
                pair("firstkey", Reply::Integer(firstkey)),
                pair("keystep", Reply::Integer(keystep)),
            ],
        ),
        Find::Unknown => typed("unknown", Vec::new()),
    };
    Reply::Map(vec![
        pair(
            "flags",
            Reply::Set(spec.flags.iter().map(|f| Reply::simple(*f)).collect()),
        ),
        pair("begin_search", begin),
        pair("find_keys", find),
    ])
}

pub(super) fn command_docs(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let specs: Vec<&'static CommandSpec> = if args.len() == 2 {
        crate::cmd::all().collect()
    } else {
        args[2..].iter().filter_map(|n| find_command(n)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::bulk_str(s.name), command_doc(s)))
            .collect(),
    )
}

/// `summary`, `since`, `group`, and for containers their subcommands' docs.
fn command_doc(spec: &'static CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(spec.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str(spec.since)),
        (Reply::bulk_str("group"), Reply::bulk_str(spec.group)),
    ];
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() {
        let docs = subs
            .iter()
            .map(|s| (Reply::bulk_str(s.name), command_doc(s)))
            .collect();
        fields.push((Reply::bulk_str("subcommands"), Reply::Map(docs)));
    }
    Reply::Map(fields)
}

/// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`; subcommands are listed too.
pub(super) fn command_list(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let everything =
        crate::cmd::all().flat_map(|s| std::iter::once(s).chain(subcommands_of(s.name)));
    let names: Vec<&str> = match args.len() {
        2 => everything.map(|s| s.name).collect(),
        5 if is(&args[2], "filterby") => {
            let value = String::from_utf8_lossy(&args[4]).into_owned();
            if is(&args[3], "module") {
                Vec::new()
            } else if is(&args[3], "aclcat") {
                let category = format!("@{value}");
                everything
                    .filter(|s| {
                        s.acl_categories
                            .iter()
                            .any(|c| c.eq_ignore_ascii_case(&category))
                    })
                    .map(|s| s.name)
                    .collect()
            } else if is(&args[3], "pattern") {
                everything
                    .filter(|s| glob_match(value.as_bytes(), s.name.as_bytes(), true))
                    .map(|s| s.name)
                    .collect()
            } else {
                return Reply::syntax_error();
            }
        }
        _ => return Reply::syntax_error(),
    };
    Reply::Array(names.into_iter().map(Reply::bulk_str).collect())
}

pub(super) fn command_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "COMMAND",
        &[
            ("(no subcommand)", "Describe every command."),
            ("COUNT", "Return the number of commands."),
            (
                "DOCS [<command-name> ...]",
                "Summary, group and version of commands.",
            ),
            (
                "GETKEYS <full-command>",
                "Return the keys in a full command line.",
            ),
            (
                "INFO [<command-name> ...]",
                "Describe the given commands, or all.",
            ),
            (
                "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
                "Return command names, optionally filtered.",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    #[test]
    fn command_info_matches_redis() {
        let (mut n, c) = cluster_node();
        let get_spec = Reply::Map(vec![
            (bulk("flags"), simple_set(&["RO", "access"])),
            (
                bulk("begin_search"),
                Reply::Map(vec![
                    (bulk("type"), bulk("index")),
                    (
                        bulk("spec"),
                        Reply::Map(vec![(bulk("index"), Reply::Integer(1))]),
                    ),
                ]),
            ),
            (
                bulk("find_keys"),
                Reply::Map(vec![
                    (bulk("type"), bulk("range")),
                    (
                        bulk("spec"),
                        Reply::Map(vec![
                            (bulk("lastkey"), Reply::Integer(0)),
                            (bulk("keystep"), Reply::Integer(1)),
                            (bulk("limit"), Reply::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ]);
        let get = Reply::Array(vec![
            bulk("get"),
            Reply::Integer(2),
            simple_set(&["readonly", "fast"]),
            Reply::Integer(1),
            Reply::Integer(1),
            Reply::Integer(1),
            simple_set(&["@read", "@string", "@fast"]),
            Reply::Set(vec![]),
            Reply::Set(vec![get_spec]),
            Reply::Set(vec![]),
        ]);
        let ping = Reply::Array(vec![
            bulk("ping"),
            Reply::Integer(-1),
            simple_set(&["fast"]),
            Reply::Integer(0),
            Reply::Integer(0),
            Reply::Integer(0),
            simple_set(&["@fast", "@connection"]),
            Reply::Set(vec![
                bulk("request_policy:all_shards"),
                bulk("response_policy:all_succeeded"),
            ]),
            Reply::Set(vec![]),
            Reply::Set(vec![]),
        ]);
        assert_eq!(
            run(&mut n, c, "COMMAND INFO get PING nosuch"),
            Reply::Array(vec![get, ping, Reply::NilArray])
        );
        assert_eq!(
            run(&mut n, c, "command count"),
            Reply::Integer(crate::cmd::all().count() as i64)
        );
        let Reply::Array(all) = run(&mut n, c, "command") else {
            panic!("array")
        };
        assert_eq!(all.len(), crate::cmd::all().count());
    }

    #[test]
    fn command_info_of_containers_lists_subcommands() {
        let (mut n, c) = cluster_node();
        let Reply::Array(entries) = run(&mut n, c, "command info client") else {
            panic!("array")
        };
        let Reply::Array(client) = &entries[0] else {
            panic!("entry")
        };
        assert_eq!(
            client[..3],
            [bulk("client"), Reply::Integer(-2), simple_set(&[])]
        );
        let Reply::Set(subs) = &client[9] else {
            panic!("subcommands")
        };
        let names: Vec<&Reply> = subs
            .iter()
            .map(|s| match s {
                Reply::Array(fields) => &fields[0],
                other => other,
            })
            .collect();
        assert!(names.contains(&&bulk("client|setname")));
        let Reply::Array(list) = run(&mut n, c, "command info client|list") else {
            panic!("array")
        };
        let Reply::Array(list) = &list[0] else {
            panic!("entry")
        };
        assert_eq!(list[1], Reply::Integer(-2));
        assert_eq!(
            list[2],
            simple_set(&["admin", "noscript", "loading", "stale"])
        );
        assert_eq!(list[7], Reply::Set(vec![bulk("nondeterministic_output")]));
    }

    #[test]
    fn command_docs_and_list() {
        let (mut n, c) = cluster_node();
        let Reply::Map(docs) = run(&mut n, c, "command docs config nosuch") else {
            panic!("map")
        };
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].0, bulk("config"));
        let Reply::Map(fields) = &docs[0].1 else {
            panic!("doc map")
        };
        assert_eq!(fields[1], (bulk("since"), bulk("2.0.0")));
        assert_eq!(fields[2], (bulk("group"), bulk("server")));
        assert_eq!(fields[3].0, bulk("subcommands"));
        let list = run(&mut n, c, "command list filterby pattern conf*");
        assert_eq!(
            list,
            Reply::Array(
                [
                    "config",
                    "config|get",
                    "config|help",
                    "config|resetstat",
                    "config|rewrite",
                    "config|set"
                ]
                .iter()
                .map(|s| bulk(s))
                .collect()
            )
        );
        let Reply::Array(conn) = run(&mut n, c, "command list filterby aclcat connection") else {
            panic!("array")
        };
        assert!(conn.contains(&bulk("hello")) && conn.contains(&bulk("client|id")));
        assert!(!conn.contains(&bulk("client")));
        assert_eq!(
            run(&mut n, c, "command list filterby module x"),
            Reply::Array(vec![])
        );
        assert_eq!(run(&mut n, c, "command list x"), err("ERR syntax error"));
        assert_eq!(
            run(&mut n, c, "command list filterby foo x"),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut n, c, "command foo"),
            err("ERR unknown subcommand 'foo'. Try COMMAND HELP.")
        );
        assert_eq!(
            run(&mut n, c, "command help x"),
            err("ERR wrong number of arguments for 'command|help' command")
        );
    }
}
