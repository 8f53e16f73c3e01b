//! `SAVE`, `BGSAVE`, `BGREWRITEAOF` and `DEBUG RELOAD`: the commands that write the dataset
//! to disk as a whole (the node builds the bytes, the driver writes them; see
//! `node::persistence`).

use bytes::Bytes;

use crate::cmd::{is, keyless, CmdFlags as F, CommandSpec};
use crate::node::{ClientId, Effect, Node};
use crate::reply::Reply;

const ADMIN_NOSCRIPT: F = F::ADMIN.union(F::NOSCRIPT);
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("save", 1, ADMIN_NOSCRIPT.union(F::NO_ASYNC_LOADING).union(F::NO_MULTI), ADMIN_ACL, "server", "Synchronously save the dataset to disk", "1.0.0", save),
    keyless("bgsave", -1, ADMIN_NOSCRIPT.union(F::NO_ASYNC_LOADING), ADMIN_ACL, "server", "Asynchronously save the dataset to disk", "1.0.0", bgsave),
    keyless("bgrewriteaof", 1, ADMIN_NOSCRIPT.union(F::NO_ASYNC_LOADING), ADMIN_ACL, "server", "Asynchronously rewrite the append-only file", "1.0.0", bgrewriteaof),
];

const IN_PROGRESS: &str = "Background save already in progress";

/// `SAVE`: the reply waits for the driver's report (`+OK`, or `-ERR` when the write failed).
fn save(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    if node.persistence.save_in_progress {
        return Reply::err(IN_PROGRESS);
    }
    node.start_save(Some(client));
    node.out.push(Effect::BlockClient { client });
    Reply::ok()
}

/// `BGSAVE [SCHEDULE]`: answered at once; the outcome shows in `INFO persistence`.
fn bgsave(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {}
        _ => return Reply::syntax_error(),
    }
    if node.persistence.save_in_progress {
        return Reply::err(IN_PROGRESS);
    }
    node.start_save(None);
    Reply::simple("Background saving started")
}

/// `BGREWRITEAOF`: a new base replaces the AOF's files (written even with `appendonly no`,
/// as Redis 7.0 does).
fn bgrewriteaof(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    node.rewrite_aof();
    Reply::simple("Background append only file rewriting started")
}

/// `DEBUG RELOAD [NOSAVE] [NOFLUSH]`: save (unless NOSAVE), empty the keyspace (unless
/// NOFLUSH) and load it back from the snapshot, through the same encoder and decoder as a
/// restart. Redis loads the file it just wrote; here the bytes are the ones handed to the
/// driver, so a write failure cannot make the two differ.
pub(super) fn debug_reload(node: &mut Node, args: &[Bytes]) -> Reply {
    let mut save = true;
    let mut flush = true;
    for option in &args[2..] {
        if is(option, "nosave") {
            save = false;
        } else if is(option, "noflush") || is(option, "merge") {
            // Loaded keys replace same-named ones either way.
            flush = false;
        } else {
            return Reply::err("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    let data = node.rdb_snapshot();
    if save {
        node.start_save(None);
    }
    let limits = node.config.encoding_limits;
    let contents = match crate::rdb::decode(&data, &limits) {
        Ok((contents, _)) => contents,
        Err(e) => return Reply::err(format!("Error trying to load the RDB dump: {e}")),
    };
    if flush {
        node.db.clear();
    }
    node.load_rdb(contents);
    Reply::ok()
}

#[cfg(test)]
mod tests;
