//! Connection and transaction commands: PING, ECHO, HELLO, AUTH, CLIENT, SELECT, QUIT, RESET,
//! MULTI/EXEC/DISCARD and WATCH/UNWATCH.
//!
//! These touch only the calling client's state (protocol, name, transaction) and never the
//! keyspace, except EXEC, which runs the queued commands through the node's normal execution
//! path. WATCH remembers each key's entry and EXEC compares it: any change, expiry or deletion
//! since WATCH aborts the transaction. (Redis also aborts when a key was rewritten with the same
//! value; comparing entries cannot see that.)

use bytes::Bytes;

use super::server::run_subcommand;
use super::{is, keyless, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::db::EntryRef;
use crate::node::{ClientId, Effect, Node};
use crate::reply::Reply;

pub(crate) mod client_list;
mod client_modes;
mod kill;
mod transactions;

use client_list::{client_info, client_list};
use client_modes::*;

use transactions::*;

const CONN_FAST: &[&str] = &["@fast", "@connection"];
const TX_FAST: &[&str] = &["@fast", "@transaction"];
const SESSION_FLAGS: F = F::NOSCRIPT
    .union(F::LOADING)
    .union(F::STALE)
    .union(F::FAST)
    .union(F::NO_AUTH)
    .union(F::ALLOW_BUSY);
const TX_FLAGS: F = F::NOSCRIPT
    .union(F::LOADING)
    .union(F::STALE)
    .union(F::FAST)
    .union(F::ALLOW_BUSY);

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    keyless("ping", -1, F::FAST, CONN_FAST, "connection", "Check that the server answers", "1.0.0", ping),
    keyless("echo", 2, F::LOADING.union(F::STALE).union(F::FAST), CONN_FAST, "connection", "Return the argument", "1.0.0", echo),
    keyless("hello", -1, SESSION_FLAGS, CONN_FAST, "connection", "Negotiate the protocol version and describe the server", "6.0.0", hello),
    keyless("auth", -2, SESSION_FLAGS, CONN_FAST, "connection", "Authenticate the connection", "1.0.0", auth),
    keyless("client", -2, F::empty(), &["@slow"], "connection", "Container for connection-management subcommands", "2.4.0", client),
    keyless("select", 2, F::LOADING.union(F::STALE).union(F::FAST), CONN_FAST, "connection", "Switch the connection's database", "1.0.0", select),
    keyless("quit", -1, SESSION_FLAGS, CONN_FAST, "connection", "Close this connection", "1.0.0", quit),
    keyless("reset", 1, SESSION_FLAGS, CONN_FAST, "connection", "Return the connection to its initial state", "6.2.0", reset),
    keyless("multi", 1, TX_FLAGS, TX_FAST, "transactions", "Start queueing a transaction", "1.2.0", multi),
    keyless("exec", 1, F::NOSCRIPT.union(F::LOADING).union(F::STALE).union(F::SKIP_SLOWLOG), &["@slow", "@transaction"], "transactions", "Run the queued transaction", "1.2.0", exec),
    keyless("discard", 1, TX_FLAGS, TX_FAST, "transactions", "Drop the queued transaction", "2.0.0", discard),
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: TX_FLAGS,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: TX_FAST,
        group: "transactions",
        summary: "Abort the next transaction if any of these keys changes",
        since: "2.2.0",
        handler: watch,
    },
    keyless("unwatch", 1, TX_FLAGS, TX_FAST, "transactions", "Stop watching all keys", "2.2.0", unwatch),
];

const CLIENT_FLAGS: F = F::NOSCRIPT.union(F::LOADING).union(F::STALE);
const CLIENT_ACL: &[&str] = &["@slow", "@connection"];
const CLIENT_ADMIN_FLAGS: F = F::ADMIN
    .union(F::NOSCRIPT)
    .union(F::LOADING)
    .union(F::STALE);
const CLIENT_ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous", "@connection"];

/// `CLIENT` subcommands, named `client|<sub>` as `COMMAND` reports them.
#[rustfmt::skip]
pub(crate) static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    keyless("client|caching", 3, CLIENT_FLAGS, CLIENT_ACL, "connection", "Say whether the next command's keys are tracked", "6.0.0", client_caching),
    keyless("client|getname", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Return the connection's name", "2.6.9", client_getname),
    keyless("client|getredir", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Return where tracking invalidations go", "6.0.0", client_getredir),
    keyless("client|help", 2, F::LOADING.union(F::STALE), CLIENT_ACL, "connection", "List the CLIENT subcommands", "5.0.0", client_help),
    keyless("client|id", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Return the connection's id", "5.0.0", client_id),
    keyless("client|info", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Describe this connection", "6.2.0", client_info),
    keyless("client|kill", -3, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Close client connections", "2.4.0", kill::client_kill),
    keyless("client|list", -2, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Describe the open connections", "2.4.0", client_list),
    keyless("client|no-evict", 3, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Exempt this connection from client eviction", "7.0.0", client_no_evict),
    keyless("client|pause", -3, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Hold clients back for a while", "2.9.50", client_pause),
    keyless("client|reply", 3, CLIENT_FLAGS, CLIENT_ACL, "connection", "Turn this connection's replies on, off, or off for one command", "3.2.0", client_reply),
    keyless("client|setname", 3, CLIENT_FLAGS, CLIENT_ACL, "connection", "Name the connection", "2.6.9", client_setname),
    keyless("client|tracking", -3, CLIENT_FLAGS, CLIENT_ACL, "connection", "Turn server-assisted client-side caching on or off", "6.0.0", client_tracking),
    keyless("client|trackinginfo", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Describe this connection's tracking settings", "6.2.0", client_trackinginfo),
    keyless("client|unblock", -3, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Answer a client parked in a blocking command now", "5.0.0", client_unblock),
    keyless("client|unpause", 2, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "End a CLIENT PAUSE", "6.2.0", client_unpause),
];

// ---- simple connection commands --------------------------------------------------------------

fn ping(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    // A RESP2 subscriber gets a pong it can tell from a message: `["pong", <arg or "">]`.
    if args.len() <= 2 && node.pubsub.is_subscribed(client) && node.client_protocol(client) == 2 {
        let arg = args.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![Reply::bulk_str("pong"), Reply::Bulk(arg)]);
    }
    match args.len() {
        1 => Reply::simple("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::wrong_arity("ping"),
    }
}

fn echo(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// No passwords exist here: the `default` user has `nopass`, as in a stock Redis, so any
/// password for it is accepted and every other user name is refused.
/// `AUTH [default] <password>`: the only user is `default`, with `requirepass` as its
/// password (none: any password is accepted for it, as Redis's `nopass` user).
fn auth(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let password_set = !node.config.requirepass.is_empty();
    match args.len() {
        2 if !password_set => Reply::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ),
        2 => check_password(node, client, &args[1]),
        3 if args[1].as_ref() == b"default" => check_password(node, client, &args[2]),
        3 => Reply::error(WRONGPASS),
        _ => Reply::syntax_error(),
    }
}

/// The `default` user's password check, for AUTH and HELLO AUTH.
fn check_password(node: &mut Node, client: ClientId, password: &[u8]) -> Reply {
    let wanted = node.config.requirepass.as_bytes();
    if !wanted.is_empty() && wanted != password {
        return Reply::error(WRONGPASS);
    }
    node.client_mut(client).authenticated = true;
    Reply::ok()
}

fn hello(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let mut version = None;
    if let Some(arg) = args.get(1) {
        let Some(v) = parse_i64(arg) else {
            return Reply::err("Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return Reply::error("NOPROTO unsupported protocol version");
        }
        version = Some(v as u8);
    }
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "auth") && more >= 2 {
            if args[i + 1].as_ref() != b"default" {
                return Reply::error(WRONGPASS);
            }
            if check_password(node, client, &args[i + 2]).is_error() {
                return Reply::error(WRONGPASS);
            }
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Reply::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if node.auth_required(client) {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(e) = set_client_name(node, client, name) {
            return e;
        }
    }
    if let Some(v) = version {
        node.client_mut(client).protocol = v;
    }
    hello_map(node, client)
}

/// The server description HELLO answers with, in the client's (possibly new) protocol.
fn hello_map(node: &Node, client: ClientId) -> Reply {
    let mode = if node.config.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    let role = if node.cluster.me().is_replica() {
        "replica"
    } else {
        "master"
    };
    let field = |k: &str, v: Reply| (Reply::bulk_str(k), v);
    Reply::Map(vec![
        field("server", Reply::bulk_str("redis")),
        field("version", Reply::bulk_str(super::server::REDIS_VERSION)),
        field(
            "proto",
            Reply::Integer(node.clients[&client].protocol as i64),
        ),
        field("id", Reply::Integer(client as i64)),
        field("mode", Reply::bulk_str(mode)),
        field("role", Reply::bulk_str(role)),
        field("modules", Reply::Array(Vec::new())),
    ])
}

/// Cluster mode has only database 0. Standalone mode here has only one database as well, so
/// indexes 1-15, which Redis accepts, are refused as out of range.
fn select(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&args[1]).filter(|i| i32::try_from(*i).is_ok()) else {
        return Reply::not_integer();
    };
    if node.config.cluster_enabled && index != 0 {
        return Reply::err("SELECT is not allowed in cluster mode");
    }
    if index != 0 {
        return Reply::err("DB index is out of range");
    }
    Reply::ok()
}

fn quit(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    node.out.push(Effect::CloseClient { client });
    Reply::ok()
}

/// Back to a fresh connection: no transaction or watches, no name, RESP2, no ASKING/READONLY.
fn reset(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    c.multi = None;
    c.multi_dirty = false;
    c.watched.clear();
    c.name = None;
    c.protocol = 2;
    c.asking = false;
    c.readonly = false;
    Reply::simple("RESET")
}

// ---- CLIENT ----------------------------------------------------------------------------------

fn client(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "CLIENT", CLIENT_SUBCOMMANDS)
}

fn client_id(_node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Integer(client as i64)
}

fn client_getname(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    match &node.clients[&client].name {
        Some(name) => Reply::Bulk(name.clone()),
        None => Reply::Nil,
    }
}

/// `CLIENT PAUSE timeout [WRITE|ALL]` (ALL when no mode is given).
fn client_pause(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let Some(ms) = parse_i64(&args[2]) else {
        return Reply::err("timeout is not an integer or out of range");
    };
    if ms < 0 {
        return Reply::err("timeout is negative");
    }
    let all = match args.get(3) {
        None => true,
        Some(mode) if args.len() == 4 && is(mode, "all") => true,
        Some(mode) if args.len() == 4 && is(mode, "write") => false,
        Some(_) => return Reply::err("CLIENT PAUSE mode must be WRITE or ALL"),
    };
    node.pause_clients(ms as u64, all);
    Reply::ok()
}

fn client_unpause(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    node.unpause_clients();
    Reply::ok()
}

fn client_setname(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    match set_client_name(node, client, args[2].clone()) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

/// Names are printable ASCII without spaces; an empty name clears it.
fn set_client_name(node: &mut Node, client: ClientId, name: Bytes) -> Result<(), Reply> {
    if name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
        return Err(Reply::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    node.client_mut(client).name = (!name.is_empty()).then_some(name);
    Ok(())
}

fn client_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    super::server::help_reply(
        "CLIENT",
        &[
            (
                "CACHING (YES|NO)",
                "Track (OPTIN) or skip (OPTOUT) the keys of the next command.",
            ),
            ("GETNAME", "Return the name of this connection, or nil."),
            (
                "GETREDIR",
                "Return where invalidations go: a client id, 0 (here) or -1 (no tracking).",
            ),
            ("ID", "Return the id of this connection."),
            ("INFO", "Describe this connection in CLIENT LIST format."),
            (
                "KILL <ip:port> | <filter> <value> ...",
                "Close connections: one by address (+OK), or every match of ID, TYPE, USER, \
                 ADDR, LADDR, SKIPME (a count).",
            ),
            (
                "LIST [TYPE <type>|ID <id> [<id> ...]]",
                "Describe the open connections.",
            ),
            (
                "PAUSE <timeout> [WRITE|ALL]",
                "Hold every command (ALL, the default) or only writes for <timeout> ms.",
            ),
            (
                "SETNAME <name>",
                "Name this connection (an empty name clears it).",
            ),
            (
                "NO-EVICT (ON|OFF)",
                "Exempt this connection from client eviction.",
            ),
            (
                "REPLY (ON|OFF|SKIP)",
                "Send replies, send none, or drop the next command's reply.",
            ),
            (
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] \
                 [OPTOUT] [NOLOOP]",
                "Send invalidation pushes for keys this connection read (or, BCAST, for every \
                 written key under the prefixes).",
            ),
            (
                "TRACKINGINFO",
                "Describe this connection's tracking settings.",
            ),
            (
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "Answer a client parked in a blocking command now.",
            ),
            ("UNPAUSE", "End a pause; held commands run now."),
        ],
    )
}

#[cfg(test)]
mod client_modes_tests;
#[cfg(test)]
mod tests;
