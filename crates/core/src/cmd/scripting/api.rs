//! The `redis` table scripts see, and the Rust callbacks behind it.
//!
//! Helpers that need no node (`sha1hex`, `error_reply`, `status_reply`, the random stream)
//! live for the interpreter's life. Those that act on the node (`call`, `pcall`, `setresp`,
//! `log`, `set_repl`) are created for one script call (`call::Callbacks`) and reached through
//! `impl`, so a function kept by a script cannot reach a node after its call ended.
//! A failing callback leaves the error table Redis would raise in `impl.pending` and fails
//! (mlua raises its own userdata); `lib.lua`'s error handler and `pcall` put the table back.

use mlua::{Lua, MultiValue, Table, Value};

use super::convert::error_table;
use super::engine::sha1_hex;
use super::rand48::Rand48;

/// `redis.REDIS_VERSION_NUM`: 7.0.15 as 0x00MMmmpp.
const VERSION_NUM: i64 = 0x07_00_0f;

/// The `redis` table with its constants and node-free helpers.
pub(super) fn redis_table(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    for (name, flags) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, flags)?;
    }
    redis.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| raise_if(lua, sha1hex(lua, args)))?,
    )?;
    redis.raw_set("REDIS_VERSION", crate::cmd::server::REDIS_VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", VERSION_NUM)?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| reply_table(lua, args, "err"))?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| reply_table(lua, args, "ok"))?,
    )?;
    // Effects replication is the only mode in Redis 7: asking for it is a no-op.
    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    // No debugger (SCRIPT DEBUG) here: as in Redis outside a debugging session.
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    Ok(redis)
}

/// `redis.error_reply(msg)` / `redis.status_reply(msg)`: the one-field table, or (wrong
/// arguments) an error table returned, not raised, as Redis does.
fn reply_table(lua: &Lua, args: MultiValue, field: &str) -> mlua::Result<Value> {
    let text = match args.iter().collect::<Vec<_>>().as_slice() {
        [Value::String(s)] => s.to_str().map(|s| s.to_string()).unwrap_or_default(),
        _ => return error_table(lua, "-ERR wrong number or type of arguments"),
    };
    if field == "ok" {
        let t = lua.create_table()?;
        t.raw_set("ok", text)?;
        return Ok(Value::Table(t));
    }
    error_table(
        lua,
        &format!("-{}", text.strip_prefix('-').unwrap_or(&text)),
    )
}

/// Where the callbacks table lives (see [`raise_if`]).
const IMPL_KEY: &str = "clusterlab_impl";

/// A callback's `(value, failed)` as Lua sees it: the value, or the error table raised.
pub(super) fn raise_if(lua: &Lua, result: mlua::Result<(Value, bool)>) -> mlua::Result<Value> {
    let (value, failed) = result?;
    if !failed {
        return Ok(value);
    }
    let text = match &value {
        Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
        _ => String::new(),
    };
    lua.named_registry_value::<Table>(IMPL_KEY)?
        .raw_set("pending", value)?;
    Err(mlua::Error::RuntimeError(text))
}

/// The error a library function raises with `luaL_error`: the calling script's position, then
/// the message (Redis shows it as `ERR user_script:1: …`).
pub(super) fn lua_error(lua: &Lua, msg: &str) -> mlua::Error {
    let position = lua.inspect_stack(1).and_then(|d| {
        let line = d.curr_line();
        let src = d.source().short_src.map(|s| s.to_string())?;
        (line > 0).then(|| format!("{src}:{line}: "))
    });
    let text = format!("ERR {}{msg}", position.unwrap_or_default());
    let table = error_table(lua, &format!("-{text}"));
    let pending = table.and_then(|t| raise_if(lua, Ok((t, true))));
    match pending {
        Err(e) => e,
        Ok(_) => mlua::Error::RuntimeError(text),
    }
}

/// What the instruction hook raises once a KILL asked the script to stop: Redis's error
/// table, so the caller gets `-ERR Script killed by user with SCRIPT KILL... script: …`.
pub(super) fn killed_error(lua: &Lua) -> mlua::Error {
    let text = super::busy::KILLED;
    let table = error_table(lua, &format!("-{text}"));
    match table.and_then(|t| raise_if(lua, Ok((t, true)))) {
        Err(e) => e,
        Ok(_) => mlua::Error::RuntimeError(text.into()),
    }
}

/// The callbacks table `lib.lua` calls into, with the interpreter-long ones set.
pub(super) fn impl_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    lua.set_named_registry_value(IMPL_KEY, t.clone())?;
    t.raw_set(
        "rand",
        lua.create_function(|lua, ()| {
            let mut rand = lua.app_data_mut::<Rand48>().expect("set at start");
            Ok(rand.next_unit())
        })?,
    )?;
    t.raw_set(
        "seed",
        lua.create_function(|lua, seed: f64| {
            let mut rand = lua.app_data_mut::<Rand48>().expect("set at start");
            rand.seed(seed as i64 as i32);
            Ok(())
        })?,
    )?;
    Ok(t)
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    if args.len() != 1 {
        return Ok((error_table(lua, "-ERR wrong number of arguments")?, true));
    }
    let text = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Number(n) => super::convert::format_g(*n, 14).into_bytes(),
        Value::Integer(n) => super::convert::format_g(*n as f64, 14).into_bytes(),
        _ => Vec::new(),
    };
    Ok((Value::String(lua.create_string(sha1_hex(&text))?), false))
}
