//! `redis.call` / `redis.pcall` and the other helpers that act on the node during one script
//! call: the checks Redis 7.0's `scriptCall` makes before a command runs (known command,
//! arity, allowed in scripts, no writes from read-only scripts, keys served here and in the
//! script's one slot), then the command itself through the node's normal path.

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};

use super::convert::{error_table, format_g17, reply_to_lua};
use crate::cmd::{CmdFlags, CommandSpec};
use crate::node::{ClientId, LogLevel, Node};
use crate::reply::Reply;
use crate::slot::key_hash_slot;

/// What one script call knows while it runs.
pub(crate) struct RunCtx<'a> {
    pub(crate) node: &'a mut Node,
    pub(crate) client: ClientId,
    /// EVAL_RO, FCALL_RO or a `no-writes` script.
    pub(crate) read_only: bool,
    pub(crate) allow_cross_slot: bool,
    /// The script declared `allow-oom`: its writes run over `maxmemory` too.
    pub(crate) allow_oom: bool,
    /// The slot the script's keys are in: the declared keys', else the first key it touched.
    pub(crate) slot: Option<u16>,
    /// `redis.setresp`: how replies reach the script and booleans leave it.
    pub(crate) resp: u8,
    /// `redis.set_repl` flags (3: AOF and replicas, 0: nothing).
    pub(crate) repl_flags: u8,
}

/// `redis.call(...)` (`raise`) or `redis.pcall(...)`: the reply, and whether to raise it.
pub(crate) fn call(
    ctx: &mut RunCtx,
    lua: &Lua,
    args: MultiValue,
    raise: bool,
) -> mlua::Result<(Value, bool)> {
    let refused = |text: &str| Ok((error_table(lua, &format!("-{text}"))?, raise));
    let argv = match command_args(&args) {
        Ok(argv) => argv,
        Err(msg) => return refused(&format!("ERR {msg}")),
    };
    let spec = match ctx.checked_spec(&argv) {
        Ok(spec) => spec,
        Err(text) => return refused(&text),
    };
    let captured = ctx.node.script_writes.as_ref().map_or(0, Vec::len);
    if spec.flags.contains(crate::cmd::CmdFlags::WRITE) {
        // As Redis marks a script dirty on its first write command: no SCRIPT KILL since.
        ctx.node.scripting.watch.wrote();
    }
    let reply = ctx.node.execute(ctx.client, spec, &argv);
    let targets = crate::node::Propagate(ctx.repl_flags);
    if let Some(writes) = &mut ctx.node.script_writes {
        if targets == crate::node::Propagate::NONE {
            writes.truncate(captured);
        }
        for write in &mut writes[captured..] {
            write.targets = targets;
        }
    }
    let failed = raise && matches!(reply, Reply::Error(_));
    Ok((reply_to_lua(lua, &reply, ctx.resp)?, failed))
}

/// The command's arguments: strings as they are, numbers as `%.17g` prints them.
fn command_args(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let bad = "Lua redis lib command arguments must be strings or integers";
    args.iter()
        .map(|arg| match arg {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => Ok(Bytes::from(format_g17(*n))),
            Value::Integer(n) => Ok(Bytes::from(format_g17(*n as f64))),
            _ => Err(bad),
        })
        .collect()
}

impl RunCtx<'_> {
    /// Redis's checks before a script's command runs; the error text (with its code) if one
    /// fails.
    fn checked_spec(&mut self, argv: &[Bytes]) -> Result<&'static CommandSpec, String> {
        let Some(spec) = self.node.lookup(&argv[0]) else {
            return Err("ERR Unknown Redis command called from script".into());
        };
        if !spec.arity_ok(argv.len()) {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        let flags = effective_flags(spec, argv);
        if flags.contains(CmdFlags::NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        let write = flags.contains(CmdFlags::WRITE);
        if self.read_only && write {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        // Before the cluster check: a replica refuses a write to its master's slot this way.
        let node = &self.node;
        if write && node.config.cluster_enabled && node.cluster.me().is_replica() && !node.replaying
        {
            return Err("READONLY You can't write against a read only replica.".into());
        }
        let wrote = node.scripting.watch.has_written();
        if !self.allow_oom && node.script_refused_for_memory(spec, wrote) {
            return Err(crate::node::evict::OOM_ERROR.into());
        }
        self.check_cluster(spec, argv)?;
        Ok(spec)
    }

    /// Keys served here and, unless `allow-cross-slot-keys`, in the script's one slot.
    fn check_cluster(&mut self, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), String> {
        if !self.node.config.cluster_enabled || self.node.replaying {
            return Ok(());
        }
        if let Some(Reply::Error(e)) = self.node.redirection(self.client, spec, argv) {
            return Err(if e.contains("only accepts read commands") {
                "ERR Script attempted to execute a write command while the cluster is down and readonly"
            } else if e.starts_with("CLUSTERDOWN") {
                "ERR Script attempted to execute a command while the cluster is down"
            } else {
                "ERR Script attempted to access a non local key in a cluster node"
            }
            .into());
        }
        let Some(first) = spec.keys(argv).first().map(|k| key_hash_slot(k)) else {
            return Ok(());
        };
        match self.slot {
            _ if self.allow_cross_slot => {}
            None => self.slot = Some(first),
            Some(slot) if slot != first => {
                return Err(
                    "ERR Script attempted to access keys that do not hash to the same slot".into(),
                )
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// `redis.setresp(n)`.
    pub(crate) fn setresp(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
        let fail = |msg: &str| Ok((error_table(lua, &format!("-ERR {msg}"))?, true));
        if args.len() != 1 {
            return fail("redis.setresp() requires one argument.");
        }
        match number(&args[0]) {
            Some(n) if n == 2.0 || n == 3.0 => self.resp = n as u8,
            _ => return fail("RESP version must be 2 or 3."),
        }
        Ok((Value::Nil, false))
    }

    /// `redis.log(level, ...)`: the arguments joined by spaces, to the node's log.
    pub(crate) fn log(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
        let fail = |msg: &str| Ok((error_table(lua, &format!("-ERR {msg}"))?, true));
        if args.len() < 2 {
            return fail("redis.log() requires two arguments or more.");
        }
        let Some(level) = number(&args[0]) else {
            return fail("First argument must be a number (log level).");
        };
        let level = match level as i64 {
            0 => LogLevel::Debug,
            1 => LogLevel::Verbose,
            2 => LogLevel::Notice,
            3 => LogLevel::Warning,
            _ => return fail("Invalid debug level."),
        };
        let words: Vec<String> = args.iter().skip(1).map(lua_text).collect();
        self.node.log(level, words.join(" "));
        Ok((Value::Nil, false))
    }

    /// `redis.set_repl(flags)`: whether the following writes are propagated.
    pub(crate) fn set_repl(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
        let fail = |msg: &str| Ok((error_table(lua, &format!("-ERR {msg}"))?, true));
        if args.len() != 1 {
            return fail("redis.set_repl() requires two arguments.");
        }
        match number(&args[0]).map(|n| n as i64) {
            Some(flags @ 0..=3) => self.repl_flags = flags as u8,
            _ => {
                return fail(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                )
            }
        }
        Ok((Value::Nil, false))
    }
}

/// A command's flags, or its subcommand's for a container (`CONFIG SET` writes nothing but is
/// allowed; `FUNCTION LOAD` is refused).
fn effective_flags(spec: &CommandSpec, argv: &[Bytes]) -> CmdFlags {
    let table = crate::cmd::server::subcommands_of(spec.name);
    let sub = argv.get(1).and_then(|sub| {
        let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let full = format!("{}|{sub}", spec.name);
        table.iter().find(|s| s.name == full)
    });
    sub.map_or(spec.flags, |s| s.flags | spec.flags)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// What Lua's `tostring` would print for a log argument (strings and numbers).
fn lua_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string_lossy().to_string(),
        // As Lua's tostring prints numbers.
        Value::Number(n) => super::convert::format_g(*n, 14),
        Value::Integer(n) => super::convert::format_g(*n as f64, 14),
        other => format!("{other:?}"),
    }
}
