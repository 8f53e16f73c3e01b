//! Lua scripting (Redis 7.0): `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO` and `SCRIPT` here;
//! `FCALL`, `FCALL_RO` and the `FUNCTION` subcommands in `function_cmds`.
//!
//! The interpreter is the node's (`engine`); a script's commands go through the node's usual
//! path (`call`), and its writes reach the AOF and the replicas as the commands it ran
//! (`run`). Nothing from the host reaches a script: the time is the node's command time and
//! `math.random` draws from the node's own seeded stream, so the simulator replays it.

use bytes::Bytes;

use crate::cmd::server::{help_reply, run_subcommand};
use crate::cmd::{is, keyless, parse_i64, CmdFlags as F, CommandSpec};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

mod api;
mod bitlib;
pub mod busy;
#[cfg(test)]
mod busy_tests;
mod call;
mod cjson;
#[cfg(test)]
mod cluster_tests;
mod cmsgpack;
mod command_flags;
mod convert;
pub(crate) mod engine;
pub(crate) mod function_cmds;
#[cfg(test)]
mod function_tests;
mod functions;
#[cfg(test)]
mod lib_tests;
mod rand48;
mod run;
mod shebang;
mod structlib;
#[cfg(test)]
mod tests;

pub use busy::ScriptWatch;
pub(crate) use command_flags::script_command_flags;
pub(crate) use engine::Engine;

const SCRIPTING: &[&str] = &["@slow", "@scripting"];
const EVAL_FLAGS: F = F::NOSCRIPT
    .union(F::MAY_REPLICATE)
    .union(F::STALE)
    .union(F::SKIP_MONITOR)
    .union(F::NO_MANDATORY_KEYS)
    .union(F::MOVABLEKEYS);
const EVAL_RO_FLAGS: F = EVAL_FLAGS.difference(F::MAY_REPLICATE).union(F::READONLY);

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("eval", -3, EVAL_FLAGS, SCRIPTING, "scripting", "Execute a Lua script server side", "2.6.0", eval),
    keyless("evalsha", -3, EVAL_FLAGS, SCRIPTING, "scripting", "Execute a cached Lua script by its SHA1", "2.6.0", eval),
    keyless("eval_ro", -3, EVAL_RO_FLAGS, SCRIPTING, "scripting", "Execute a read-only Lua script server side", "7.0.0", eval),
    keyless("evalsha_ro", -3, EVAL_RO_FLAGS, SCRIPTING, "scripting", "Execute a cached read-only Lua script by its SHA1", "7.0.0", eval),
    keyless("fcall", -3, EVAL_FLAGS, SCRIPTING, "scripting", "Invoke a function", "7.0.0", function_cmds::fcall),
    keyless("fcall_ro", -3, EVAL_RO_FLAGS, SCRIPTING, "scripting", "Invoke a read-only function", "7.0.0", function_cmds::fcall),
    keyless("script", -2, F::empty(), &["@slow"], "scripting", "Container for Lua scripts management subcommands", "2.6.0", script),
];

#[rustfmt::skip]
pub(crate) static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("script|exists", -3, F::NOSCRIPT, SCRIPTING, "scripting", "Check the existence of scripts in the script cache", "2.6.0", script_exists),
    keyless("script|flush", -2, F::NOSCRIPT, SCRIPTING, "scripting", "Remove all the scripts from the script cache", "2.6.0", script_flush),
    keyless("script|help", 2, F::LOADING.union(F::STALE), SCRIPTING, "scripting", "Show helpful text about the different subcommands", "5.0.0", script_help),
    keyless("script|kill", 2, F::NOSCRIPT.union(F::ALLOW_BUSY), SCRIPTING, "scripting", "Kill the script currently in execution", "2.6.0", script_kill),
    keyless("script|load", 3, F::NOSCRIPT.union(F::STALE), SCRIPTING, "scripting", "Load a script into the scripts cache, without executing it", "2.6.0", script_load),
];

/// Every library's code, for an RDB file.
pub(crate) fn library_codes(node: &Node) -> Vec<Bytes> {
    let libraries = node.scripting.libraries.values();
    libraries.map(|library| library.code.clone()).collect()
}

/// Makes `codes` the node's libraries (an RDB file loaded); a library that fails to load is
/// logged and skipped.
pub(crate) fn replace_libraries(node: &mut Node, codes: &[Bytes]) {
    functions::flush(&mut node.scripting);
    for code in codes {
        if let Err(e) = functions::load(&mut node.scripting, code, false) {
            let text = format!("Failed loading a library from the RDB file: {e}");
            node.log(crate::node::LogLevel::Warning, text);
        }
    }
}

/// `FUNCTION RESTORE <payload> FLUSH` holding every library, for a snapshot made of commands
/// (a full sync, an AOF base without the RDB preamble); `None` without libraries.
pub(crate) fn functions_restore_command(node: &Node) -> Option<Vec<Bytes>> {
    let codes = library_codes(node);
    if codes.is_empty() {
        return None;
    }
    Some(vec![
        Bytes::from_static(b"FUNCTION"),
        Bytes::from_static(b"RESTORE"),
        function_cmds::dump_payload(&codes, node.rdb_compression()),
        Bytes::from_static(b"FLUSH"),
    ])
}

/// EVAL, EVALSHA and their `_RO` forms: `<script|sha1> numkeys key… arg…`.
fn eval(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    show_to_monitors(node, client, args);
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let by_sha = name.starts_with("evalsha");
    let read_only = name.ends_with("_ro");
    let numkeys = match parse_i64(&args[2]) {
        None => return Reply::not_integer(),
        Some(n) if n < 0 => return Reply::err("Number of keys can't be negative"),
        Some(n) if n as usize > args.len() - 3 => {
            return Reply::err("Number of keys can't be greater than number of args")
        }
        Some(n) => n as usize,
    };
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        if !node.scripting.scripts.contains_key(&sha) {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        }
        sha
    } else {
        match cache_script(node, &args[1]) {
            Ok(sha) => sha,
            Err(refused) => return refused,
        }
    };
    let flags = node.scripting.scripts[&sha].flags;
    let keys = &args[3..3 + numkeys];
    if let Some(refused) = run::refused(node, flags, read_only, keys) {
        return refused;
    }
    let invocation = run::Invocation {
        sha: &sha,
        name: &sha,
        flags,
        read_only_command: read_only,
        keys,
        args: &args[3 + numkeys..],
        eval: true,
    };
    run::run_eval(node, client, &invocation)
}

/// EVAL and FCALL show their line to MONITOR before anything else, then their commands'.
pub(crate) fn show_to_monitors(node: &mut Node, client: ClientId, args: &[Bytes]) {
    if let Some(spec) = node.lookup(&args[0]) {
        crate::cmd::server::feed_monitors_first(node, client, spec, args);
    }
}

/// Compiles and caches a script body (once per SHA1); the SHA1, or the error to answer.
fn cache_script(node: &mut Node, body: &Bytes) -> Result<String, Reply> {
    let sha = engine::sha1_hex(body);
    if node.scripting.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, shebang_len) = shebang::parse(body).map_err(Reply::err)?;
    // The shebang line goes but its line feed stays, so line numbers are the user's.
    let function = node
        .scripting
        .compile(&body[shebang_len..])
        .map_err(|e| Reply::err(format!("Error compiling script (new function): {e}")))?;
    let script = engine::Script { function, flags };
    node.scripting.scripts.insert(sha.clone(), script);
    Ok(sha)
}

fn script(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "SCRIPT", SCRIPT_SUBCOMMANDS)
}

fn script_load(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match cache_script(node, &args[2]) {
        Ok(sha) => Reply::bulk(sha),
        Err(refused) => refused,
    }
}

fn script_exists(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let known = |sha: &Bytes| {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        Reply::Integer(node.scripting.scripts.contains_key(&sha).into())
    };
    Reply::Array(args[2..].iter().map(known).collect())
}

fn script_flush(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mode_ok = match args.get(2) {
        None => true,
        Some(mode) => args.len() == 3 && (is(mode, "sync") || is(mode, "async")),
    };
    if !mode_ok {
        return Reply::err("SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    node.scripting.flush();
    Reply::ok()
}

/// A script runs to its end within one command here, so none is ever running when another
/// command arrives (see the README on time limits).
fn script_kill(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

fn script_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "SCRIPT",
        &[
            (
                "EXISTS <sha1> [<sha1> ...]",
                "1 for each cached script, 0 for each unknown one.",
            ),
            ("FLUSH [ASYNC|SYNC]", "Empty the script cache."),
            (
                "KILL",
                "Stop the running script (none ever runs between commands here).",
            ),
            (
                "LOAD <script>",
                "Compile and cache a script; reply with its SHA1.",
            ),
        ],
    )
}
