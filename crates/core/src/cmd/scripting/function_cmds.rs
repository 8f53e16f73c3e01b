//! `FCALL`, `FCALL_RO` and the `FUNCTION` subcommands. The writes among them (LOAD, DELETE,
//! FLUSH, RESTORE) go to the AOF and the replicas as sent, as Redis 7.0 propagates them.

use bytes::Bytes;
use mlua::{MultiValue, Value};

use super::functions::{self, RestorePolicy, OPCODE_FUNCTION2};
use super::run;
use crate::cmd::dump::{encode_rdb_string, seal_payload, verify_payload, Compression, Reader};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// FCALL / FCALL_RO `<function> numkeys key… arg…`.
pub(super) fn fcall(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    super::show_to_monitors(node, client, args);
    let read_only = args[0].len() == 8; // "fcall_ro"
    let name = String::from_utf8_lossy(&args[1]).to_string();
    let Some(entry) = functions::find(&node.scripting, &name) else {
        return Reply::err("Function not found");
    };
    let numkeys = match parse_i64(&args[2]) {
        None => return Reply::err("Bad number of keys provided"),
        Some(n) if n < 0 => return Reply::err("Number of keys can't be negative"),
        Some(n) if n as usize > args.len() - 3 => {
            return Reply::err("Number of keys can't be greater than number of args")
        }
        Some(n) => n as usize,
    };
    let flags = entry.flags;
    let keys = &args[3..3 + numkeys];
    if let Some(refused) = run::refused(node, flags, read_only, keys) {
        return refused;
    }
    let lua = node.scripting.lua.clone();
    let prepared = (|| -> mlua::Result<(mlua::Function, MultiValue)> {
        let function = lua.registry_value(&entry.function)?;
        let mut call_args = MultiValue::new();
        call_args.push_back(Value::Table(strings(&lua, keys)?));
        call_args.push_back(Value::Table(strings(&lua, &args[3 + numkeys..])?));
        Ok((function, call_args))
    })();
    let (function, call_args) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return Reply::err(format!("Error running function {name}: {e}")),
    };
    let invocation = run::Invocation {
        sha: &name,
        name: &name,
        flags,
        read_only_command: read_only,
        keys,
        args: &[],
        eval: false,
    };
    run::run_function(node, client, &lua, function, &invocation, call_args)
}

fn strings(lua: &mlua::Lua, items: &[Bytes]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// FUNCTION LOAD [REPLACE] <code>.
pub(crate) fn function_load(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut replace = false;
    for option in &args[2..args.len() - 1] {
        if !is(option, "replace") {
            let option = String::from_utf8_lossy(option);
            return Reply::err(format!("Unknown option given: {option}"));
        }
        replace = true;
    }
    let code = &args[args.len() - 1];
    if args.len() < 3 || (replace && args.len() == 3 && is(code, "replace")) {
        return Reply::err("Function code is missing");
    }
    match functions::load(&mut node.scripting, code, replace) {
        Ok(name) => {
            node.log_write(args);
            Reply::bulk(name)
        }
        Err(e) => Reply::err(e),
    }
}

pub(crate) fn function_delete(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[2]);
    if !functions::delete(&mut node.scripting, &name) {
        return Reply::err("Library not found");
    }
    node.log_write(args);
    Reply::ok()
}

pub(crate) fn function_flush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mode_ok = match args.get(2) {
        None => true,
        Some(mode) => args.len() == 3 && (is(mode, "sync") || is(mode, "async")),
    };
    if !mode_ok {
        return Reply::err("FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    functions::flush(&mut node.scripting);
    node.log_write(args);
    Reply::ok()
}

/// FUNCTION LIST [LIBRARYNAME <pattern>] [WITHCODE].
pub(crate) fn function_list(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (mut pattern, mut with_code, mut i) = (None, false, 2);
    while i < args.len() {
        if is(&args[i], "withcode") && !with_code {
            with_code = true;
            i += 1;
        } else if is(&args[i], "libraryname") && pattern.is_none() {
            let Some(p) = args.get(i + 1) else {
                return Reply::err("library name argument was not given");
            };
            pattern = Some(p.clone());
            i += 2;
        } else {
            let arg = String::from_utf8_lossy(&args[i]);
            return Reply::err(format!("Unknown argument {arg}"));
        }
    }
    let matches = |name: &str| {
        pattern
            .as_ref()
            .is_none_or(|p| crate::text::glob_match(p, name.as_bytes(), true))
    };
    let libraries = node.scripting.libraries.iter().filter(|(n, _)| matches(n));
    let listed = libraries.map(|(name, library)| {
        let functions = library.functions.iter().map(|(f, entry)| {
            let description = entry
                .description
                .as_deref()
                .map_or(Reply::Nil, Reply::bulk_str);
            Reply::Map(vec![
                (Reply::bulk_str("name"), Reply::bulk_str(f)),
                (Reply::bulk_str("description"), description),
                (
                    Reply::bulk_str("flags"),
                    Reply::Set(flag_names(entry.flags)),
                ),
            ])
        });
        let mut fields = vec![
            (Reply::bulk_str("library_name"), Reply::bulk_str(name)),
            (Reply::bulk_str("engine"), Reply::bulk_str("LUA")),
            (
                Reply::bulk_str("functions"),
                Reply::Array(functions.collect()),
            ),
        ];
        if with_code {
            fields.push((
                Reply::bulk_str("library_code"),
                Reply::Bulk(library.code.clone()),
            ));
        }
        Reply::Map(fields)
    });
    Reply::Array(listed.collect())
}

fn flag_names(flags: super::shebang::ScriptFlags) -> Vec<Reply> {
    let named = [
        (flags.no_writes, "no-writes"),
        (flags.allow_oom, "allow-oom"),
        (flags.allow_stale, "allow-stale"),
        (flags.no_cluster, "no-cluster"),
        (flags.allow_cross_slot, "allow-cross-slot-keys"),
    ];
    named
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| Reply::simple(*name))
        .collect()
}

/// FUNCTION STATS: no script is ever running between commands here.
pub(crate) fn function_stats(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let engine = &node.scripting;
    let lua = Reply::Map(vec![
        (
            Reply::bulk_str("libraries_count"),
            Reply::Integer(engine.libraries.len() as i64),
        ),
        (
            Reply::bulk_str("functions_count"),
            Reply::Integer(engine.function_library.len() as i64),
        ),
    ]);
    Reply::Map(vec![
        (Reply::bulk_str("running_script"), Reply::Nil),
        (
            Reply::bulk_str("engines"),
            Reply::Map(vec![(Reply::bulk_str("LUA"), lua)]),
        ),
    ])
}

pub(crate) fn function_kill(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

/// FUNCTION DUMP: each library's code after the FUNCTION2 opcode (LZF-compressed as
/// `rdbcompression` says), then the RDB version and CRC64.
pub(crate) fn function_dump(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Bulk(dump_payload(
        &super::library_codes(node),
        node.rdb_compression(),
    ))
}

/// The FUNCTION DUMP payload of these libraries' code.
pub(crate) fn dump_payload(codes: &[Bytes], compression: Compression) -> Bytes {
    let mut body = Vec::new();
    for code in codes {
        body.push(OPCODE_FUNCTION2);
        encode_rdb_string(code, compression, &mut body);
    }
    seal_payload(body)
}

/// FUNCTION RESTORE <payload> [FLUSH|APPEND|REPLACE].
pub(crate) fn function_restore(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return crate::cmd::server::subcommand_syntax_error(args, "FUNCTION");
    }
    let policy = args
        .get(3)
        .map(|p| String::from_utf8_lossy(p).to_ascii_lowercase());
    let policy = match policy.as_deref().unwrap_or("append") {
        "flush" => RestorePolicy::Flush,
        "append" => RestorePolicy::Append,
        "replace" => RestorePolicy::Replace,
        _ => {
            return Reply::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )
        }
    };
    let Ok(body) = verify_payload(&args[2]) else {
        return Reply::err("DUMP payload version or checksum are wrong");
    };
    let codes = match library_codes(body) {
        Ok(codes) => codes,
        Err(e) => return Reply::err(e),
    };
    if let Err(e) = functions::restore(&mut node.scripting, &codes, policy) {
        return Reply::err(e);
    }
    node.log_write(args);
    Reply::ok()
}

/// The library codes of a payload's body.
fn library_codes(body: &[u8]) -> Result<Vec<Bytes>, &'static str> {
    let mut reader = Reader::new(body);
    let mut codes = Vec::new();
    while reader.position() < body.len() {
        let opcode = reader.byte().map_err(|_| "can not read data type")?;
        if opcode != OPCODE_FUNCTION2 {
            return Err("given type is not a function");
        }
        let code = reader
            .string()
            .map_err(|_| "failed loading the given functions payload")?;
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}
