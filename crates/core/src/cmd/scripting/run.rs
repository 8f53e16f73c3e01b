//! One script call from start to reply: the checks its flags ask for, the call under the
//! error handler with this call's callbacks, the reply (or Redis's error text), and the
//! propagation of the writes it made.
//!
//! Effects replication (Redis 7.0): the script is never sent to replicas or the AOF; the
//! write commands it ran are, once it ended, wrapped in MULTI/EXEC when there are several
//! (unless the script itself ran inside EXEC, which wraps already).

use std::cell::RefCell;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::api::raise_if;
use super::call::{self, RunCtx};
use super::convert::lua_to_reply;
use super::shebang::ScriptFlags;
use crate::node::{ClientId, Node};
use crate::reply::Reply;
use crate::slot::key_hash_slot;

/// How a script is being called.
pub(crate) struct Invocation<'a> {
    /// The cached function's registry key is looked up by this name (a script's SHA1).
    pub(crate) sha: &'a str,
    /// The name errors give (`script: <name>`): the SHA1 for EVAL, the function for FCALL.
    pub(crate) name: &'a str,
    pub(crate) flags: ScriptFlags,
    pub(crate) read_only_command: bool,
    pub(crate) keys: &'a [Bytes],
    pub(crate) args: &'a [Bytes],
    /// EVAL (`SCRIPT KILL` stops it) rather than a function (`FUNCTION KILL`).
    pub(crate) eval: bool,
}

/// Refusals that depend on the script's flags, before it runs (Redis's
/// `scriptPrepareForRun`); `None` when it may run.
pub(crate) fn refused(
    node: &Node,
    flags: ScriptFlags,
    read_only_command: bool,
    keys: &[Bytes],
) -> Option<Reply> {
    if flags.compat {
        return None;
    }
    if flags.no_cluster && node.config.cluster_enabled {
        return Some(Reply::err(
            "Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    if flags.no_writes {
        return None;
    }
    let replica = node.config.cluster_enabled && node.cluster.me().is_replica();
    // A script that may write is a write command to the cluster: its keys go to the master.
    if let Some(slot) = cluster_slot(node, keys).filter(|_| replica && !node.replaying) {
        if let Some(owner) = node.cluster.slot_owner(slot) {
            return Some(node.cluster.redirect_error("MOVED", slot, owner));
        }
    }
    if replica && !node.replaying {
        return Some(Reply::error(
            "READONLY Can not run script with write flag on readonly replica",
        ));
    }
    if read_only_command {
        return Some(Reply::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    None
}

/// Runs a cached script (EVAL's KEYS and ARGV set as globals) and returns its reply.
pub(crate) fn run_eval(node: &mut Node, client: ClientId, inv: &Invocation) -> Reply {
    let lua = node.scripting.lua.clone();
    let prepared = (|| -> mlua::Result<Function> {
        let globals: Table = lua.registry_value(&node.scripting.globals)?;
        globals.raw_set("KEYS", strings_table(&lua, inv.keys)?)?;
        globals.raw_set("ARGV", strings_table(&lua, inv.args)?)?;
        lua.registry_value(&node.scripting.scripts[inv.sha].function)
    })();
    let function = match prepared {
        Ok(f) => f,
        Err(e) => return Reply::err(format!("Error running script: {e}")),
    };
    let reply = run_function(node, client, &lua, function, inv, MultiValue::new());
    // FCALL's functions have no KEYS or ARGV globals.
    if let Ok(globals) = lua.registry_value::<Table>(&node.scripting.globals) {
        let _ = globals.raw_set("KEYS", Value::Nil);
        let _ = globals.raw_set("ARGV", Value::Nil);
    }
    reply
}

/// Calls `function(args…)` with this call's callbacks and propagates what it wrote.
pub(crate) fn run_function(
    node: &mut Node,
    client: ClientId,
    lua: &Lua,
    function: Function,
    inv: &Invocation,
    call_args: MultiValue,
) -> Reply {
    let in_exec = node.top_command == "exec";
    let outer_writes = node.script_writes.replace(Vec::new());
    let ctx = RunCtx {
        client,
        read_only: inv.read_only_command || (!inv.flags.compat && inv.flags.no_writes),
        allow_cross_slot: inv.flags.compat || inv.flags.allow_cross_slot,
        allow_oom: !inv.flags.compat && inv.flags.allow_oom,
        slot: cluster_slot(node, inv.keys),
        resp: 2,
        repl_flags: 3,
        node,
    };
    let watch = std::sync::Arc::clone(&ctx.node.scripting.watch);
    watch.start(inv.eval, ctx.node.now.mono_ms);
    let ctx = RefCell::new(ctx);
    let outcome = call_under_handler(lua, &ctx, function, call_args);
    watch.end();
    let RunCtx { node, resp, .. } = ctx.into_inner();
    let writes = std::mem::replace(&mut node.script_writes, outer_writes).unwrap_or_default();
    propagate(node, writes, in_exec);
    match outcome {
        Ok((true, value)) => lua_to_reply(&value, resp),
        Ok((false, err)) => error_reply(&err, inv.name),
        Err(e) => Reply::err(format!("Error running script {}, {e}", inv.name)),
    }
}

/// The runner of `lib.lua` with this call's callbacks, created in a scope so that they
/// borrow the node only while the script runs.
fn call_under_handler(
    lua: &Lua,
    ctx: &RefCell<RunCtx>,
    function: Function,
    call_args: MultiValue,
) -> mlua::Result<(bool, Value)> {
    let runner: Function = lua.registry_value(&ctx.borrow().node.scripting.runner)?;
    lua.scope(|scope| {
        let callbacks = lua.create_table()?;
        for raise in [true, false] {
            let call = scope.create_function_mut(move |lua, args: MultiValue| {
                raise_if(lua, call::call(&mut ctx.borrow_mut(), lua, args, raise))
            })?;
            callbacks.raw_set(if raise { "call" } else { "pcall" }, call)?;
        }
        let setresp = scope.create_function_mut(|lua, args: MultiValue| {
            raise_if(lua, ctx.borrow_mut().setresp(lua, args))
        })?;
        callbacks.raw_set("setresp", setresp)?;
        let log = scope.create_function_mut(|lua, args: MultiValue| {
            raise_if(lua, ctx.borrow_mut().log(lua, args))
        })?;
        callbacks.raw_set("log", log)?;
        let set_repl = scope.create_function_mut(|lua, args: MultiValue| {
            raise_if(lua, ctx.borrow_mut().set_repl(lua, args))
        })?;
        callbacks.raw_set("set_repl", set_repl)?;
        let mut all = MultiValue::new();
        all.push_back(Value::Function(function));
        all.push_back(Value::Table(callbacks));
        all.extend(call_args);
        runner.call::<(bool, Value)>(all)
    })
}

/// The declared keys' slot in cluster mode (the node checked they share one).
fn cluster_slot(node: &Node, keys: &[Bytes]) -> Option<u16> {
    let first = keys.first().filter(|_| node.config.cluster_enabled)?;
    Some(key_hash_slot(first))
}

/// The error a failed script answers: the error table's text, then where it was raised.
fn error_reply(err: &Value, name: &str) -> Reply {
    let Value::Table(t) = err else {
        let text = match err {
            Value::String(s) => s.to_string_lossy().to_string(),
            _ => "execution failure".into(),
        };
        return Reply::err(format!("Error running script {name}, {text}"));
    };
    let field = |k: &str| match t.raw_get::<Value>(k) {
        Ok(Value::String(s)) => Some(s.to_string_lossy().to_string()),
        Ok(Value::Number(n)) => Some((n as i64).to_string()),
        Ok(Value::Integer(n)) => Some(n.to_string()),
        _ => None,
    };
    let msg = field("err").unwrap_or_default();
    let mut text = msg.trim_start_matches('-').replace(['\r', '\n'], " ");
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        text.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    Reply::Error(text)
}

/// The script's writes to the AOF and replicas, as one transaction when several.
fn propagate(node: &mut Node, writes: Vec<crate::node::ScriptWrite>, in_exec: bool) {
    let wrap = writes.len() > 1 && !in_exec;
    let outer = std::mem::take(&mut node.request);
    if wrap {
        node.log_write(&[Bytes::from_static(b"MULTI")]);
    }
    // Each write's `WriteApplied` names the command the script called, as if a client had
    // sent it, so a checker finds a write it sent through a script.
    // As Redis's `propagatePendingCommands`: MULTI and EXEC go to both, each write where
    // `redis.set_repl` sent it.
    for write in &writes {
        node.request = write.request;
        node.log_write_to(&write.args, write.targets);
    }
    node.request = 0;
    if wrap {
        node.log_write(&[Bytes::from_static(b"EXEC")]);
    }
    node.request = outer;
}

fn strings_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}
