//! The flags an `EVAL`, `EVALSHA` or `FCALL` runs with: the command's own, or, when the
//! script declared its flags (a `#!lua` line, a function's `flags`), what those declare, as
//! Redis's `scriptFlagsToCmdFlags` derives them. A client pause of writes holds exactly the
//! invocations these flags say may write or replicate.

use bytes::Bytes;

use super::shebang::{self, ScriptFlags};
use super::{engine, functions};
use crate::cmd::{CmdFlags, CommandSpec};
use crate::node::Node;

/// The flags this invocation of `spec` runs with (for every other command its own, or its
/// subcommand's for a container).
pub(crate) fn script_command_flags(node: &Node, spec: &CommandSpec, args: &[Bytes]) -> CmdFlags {
    match declared_flags(node, spec.name, args) {
        Some(declared) if !declared.compat => from_declared(spec.flags, declared),
        _ => crate::cmd::server::flags_spec(spec, args).flags,
    }
}

/// What the invoked script declared, if it can be found before it runs.
fn declared_flags(node: &Node, name: &str, args: &[Bytes]) -> Option<ScriptFlags> {
    let target = args.get(1)?;
    match name {
        "eval" | "eval_ro" => match node.scripting.scripts.get(&engine::sha1_hex(target)) {
            Some(script) => Some(script.flags),
            None => shebang::parse(target).ok().map(|(flags, _)| flags),
        },
        "evalsha" | "evalsha_ro" => {
            let sha = String::from_utf8_lossy(target).to_ascii_lowercase();
            node.scripting.scripts.get(&sha).map(|script| script.flags)
        }
        "fcall" | "fcall_ro" => {
            let function = String::from_utf8_lossy(target);
            functions::find(&node.scripting, &function).map(|f| f.flags)
        }
        _ => None,
    }
}

/// Declared flags replace the command's `write`, `denyoom` and `stale`; knowing whether the
/// script writes makes `may_replicate` moot.
fn from_declared(command: CmdFlags, declared: ScriptFlags) -> CmdFlags {
    let mut flags =
        command - (CmdFlags::WRITE | CmdFlags::DENYOOM | CmdFlags::STALE | CmdFlags::MAY_REPLICATE);
    if !declared.no_writes {
        flags |= CmdFlags::WRITE;
        if !declared.allow_oom {
            flags |= CmdFlags::DENYOOM;
        }
    }
    if declared.allow_stale {
        flags |= CmdFlags::STALE;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_flags_replace_the_commands() {
        let eval = CmdFlags::NOSCRIPT | CmdFlags::MAY_REPLICATE | CmdFlags::STALE;
        let reads = ScriptFlags {
            no_writes: true,
            ..ScriptFlags::default()
        };
        assert_eq!(from_declared(eval, reads), CmdFlags::NOSCRIPT);
        let writes = ScriptFlags::default();
        assert_eq!(
            from_declared(eval, writes),
            CmdFlags::NOSCRIPT | CmdFlags::WRITE | CmdFlags::DENYOOM
        );
        let oom_stale = ScriptFlags {
            allow_oom: true,
            allow_stale: true,
            ..ScriptFlags::default()
        };
        assert_eq!(
            from_declared(eval, oom_stale),
            CmdFlags::NOSCRIPT | CmdFlags::WRITE | CmdFlags::STALE
        );
    }
}
