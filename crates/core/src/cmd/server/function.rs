//! `FUNCTION`: the container; its subcommands live with the scripting engine
//! (`cmd::scripting::function_cmds`).

use bytes::Bytes;

use super::{help_reply, run_subcommand, FUNCTION_SUBCOMMANDS};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

pub(super) use crate::cmd::scripting::function_cmds::{
    function_delete, function_dump, function_flush, function_kill, function_list, function_load,
    function_restore, function_stats,
};

pub(super) fn function(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "FUNCTION", FUNCTION_SUBCOMMANDS)
}

pub(super) fn function_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "FUNCTION",
        &[
            (
                "LOAD [REPLACE] <library code>",
                "Create a library from its code (REPLACE: over one of the same name).",
            ),
            (
                "DELETE <library-name>",
                "Remove a library and its functions.",
            ),
            (
                "KILL",
                "Stop the running function (none ever runs between commands here).",
            ),
            (
                "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
                "List the libraries, their functions and flags.",
            ),
            (
                "STATS",
                "The running function and the number of libraries and functions.",
            ),
            ("DUMP", "Serialize all libraries for FUNCTION RESTORE."),
            (
                "RESTORE <payload> [FLUSH|APPEND|REPLACE]",
                "Load libraries from a FUNCTION DUMP payload.",
            ),
            ("FLUSH [ASYNC|SYNC]", "Remove all libraries."),
        ],
    )
}
