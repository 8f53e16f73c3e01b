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
    keyless("client|getname", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Return the connection's name", "2.6.9", client_getname),
    keyless("client|help", 2, F::LOADING.union(F::STALE), CLIENT_ACL, "connection", "List the CLIENT subcommands", "5.0.0", client_help),
    keyless("client|id", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Return the connection's id", "5.0.0", client_id),
    keyless("client|info", 2, CLIENT_FLAGS, CLIENT_ACL, "connection", "Describe this connection", "6.2.0", client_info),
    keyless("client|list", -2, CLIENT_ADMIN_FLAGS, CLIENT_ADMIN_ACL, "connection", "Describe the open connections", "2.4.0", client_list),
    keyless("client|setname", 3, CLIENT_FLAGS, CLIENT_ACL, "connection", "Name the connection", "2.6.9", client_setname),
];

// ---- simple connection commands --------------------------------------------------------------

fn ping(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
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
fn auth(_node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    match args.len() {
        2 => Reply::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ),
        3 if args[1].as_ref() == b"default" => Reply::ok(),
        3 => Reply::error(WRONGPASS),
        _ => Reply::syntax_error(),
    }
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

fn client_info(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", client_line(node, client))
}

/// `CLIENT LIST [TYPE normal|master|replica|slave|pubsub] | [ID id …]`: every connection
/// here is a normal one.
fn client_list(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let ids: Vec<ClientId> = if args.len() == 2 {
        node.clients.keys().copied().collect()
    } else if is(&args[2], "type") && args.len() == 4 {
        let kind = &args[3];
        if is(kind, "normal") {
            node.clients.keys().copied().collect()
        } else if ["master", "replica", "slave", "pubsub"]
            .iter()
            .any(|k| is(kind, k))
        {
            Vec::new()
        } else {
            return Reply::err(format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(kind)
            ));
        }
    } else if is(&args[2], "id") && args.len() >= 4 {
        let mut ids = Vec::new();
        for arg in &args[3..] {
            let Some(id) = parse_i64(arg) else {
                return Reply::err("Invalid client ID");
            };
            if id > 0 && node.clients.contains_key(&(id as ClientId)) {
                ids.push(id as ClientId);
            }
        }
        ids
    } else {
        return Reply::syntax_error();
    };
    let text: String = ids.into_iter().map(|id| client_line(node, id)).collect();
    Reply::Verbatim("txt", text)
}

/// One `CLIENT LIST` line. Fields this node cannot know (file descriptor, buffer sizes,
/// memory, last command) are left out rather than invented.
fn client_line(node: &Node, id: ClientId) -> String {
    let c = &node.clients[&id];
    let now_ms = node.now.mono_ms;
    let mut flags = String::new();
    if c.multi.is_some() {
        flags.push('x');
    }
    if c.readonly {
        flags.push('r');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let multi = c.multi.as_ref().map_or(-1, |q| q.len() as i64);
    format!(
        "id={} addr={} laddr={} name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 \
         multi={} user=default redir=-1 resp={}\n",
        c.id,
        c.addr,
        c.local_addr,
        c.name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_command_ms) / 1000,
        flags,
        multi,
        c.protocol
    )
}

fn client_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    super::server::help_reply(
        "CLIENT",
        &[
            ("GETNAME", "Return the name of this connection, or nil."),
            ("ID", "Return the id of this connection."),
            ("INFO", "Describe this connection in CLIENT LIST format."),
            (
                "LIST [TYPE <type>|ID <id> [<id> ...]]",
                "Describe the open connections.",
            ),
            (
                "SETNAME <name>",
                "Name this connection (an empty name clears it).",
            ),
        ],
    )
}

// ---- transactions ----------------------------------------------------------------------------

fn multi(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    if c.multi.is_some() {
        // Not a queueing error: the open transaction stays valid.
        return Reply::err("MULTI calls can not be nested");
    }
    c.multi = Some(Vec::new());
    c.multi_dirty = false;
    Reply::ok()
}

fn discard(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    if c.multi.take().is_none() {
        return Reply::err("DISCARD without MULTI");
    }
    c.multi_dirty = false;
    c.watched.clear();
    Reply::ok()
}

fn exec(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    let c = node.client_mut(client);
    let Some(queue) = c.multi.take() else {
        return Reply::err("EXEC without MULTI");
    };
    let dirty = std::mem::take(&mut c.multi_dirty);
    let watched = std::mem::take(&mut c.watched);
    if dirty {
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let now_ms = node.now.unix_ms;
    if watched
        .iter()
        .any(|(key, seen)| node.db.get(key, now_ms).map(EntryRef::to_entry) != *seen)
    {
        return Reply::NilArray;
    }
    let first_effect = node.out.len();
    let replies = queue
        .iter()
        .map(|args| node.execute_queued(client, args))
        .collect();
    wrap_aof_in_multi(node.out.effects_since_mut(first_effect));
    Reply::Array(replies)
}

/// Surrounds the AOF records a transaction produced with MULTI … EXEC, as Redis logs it, so a
/// file cut short inside the transaction never replays half of it.
fn wrap_aof_in_multi(effects: &mut [Effect]) {
    let aof: Vec<usize> = (0..effects.len())
        .filter(|&i| matches!(effects[i], Effect::AppendAof { .. }))
        .collect();
    let (Some(&first), Some(&last)) = (aof.first(), aof.last()) else {
        return;
    };
    let encode = |words: &[&'static [u8]]| {
        let words: Vec<Bytes> = words.iter().map(|w| Bytes::from_static(w)).collect();
        let mut out = Vec::new();
        super::propagate::encode_command(&words, &mut out);
        out
    };
    if let Effect::AppendAof { data } = &mut effects[first] {
        // The file's first record selects the database; Redis writes it before MULTI.
        let select = encode(&[b"SELECT", b"0"]);
        let split = if data.starts_with(&select) {
            select.len()
        } else {
            0
        };
        let mut wrapped = data[..split].to_vec();
        wrapped.extend_from_slice(&encode(&[b"MULTI"]));
        wrapped.extend_from_slice(&data[split..]);
        *data = Bytes::from(wrapped);
    }
    if let Effect::AppendAof { data } = &mut effects[last] {
        let mut wrapped = data.to_vec();
        wrapped.extend_from_slice(&encode(&[b"EXEC"]));
        *data = Bytes::from(wrapped);
    }
}

fn watch(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if node.clients[&client].multi.is_some() {
        return Reply::err("WATCH inside MULTI is not allowed");
    }
    let now_ms = node.now.unix_ms;
    let snapshots: Vec<_> = args[1..]
        .iter()
        .map(|key| {
            (
                key.clone(),
                node.db.get(key, now_ms).map(EntryRef::to_entry),
            )
        })
        .collect();
    let c = node.client_mut(client);
    for (key, entry) in snapshots {
        if !c.watched.iter().any(|(k, _)| *k == key) {
            c.watched.push((key, entry));
        }
    }
    Reply::ok()
}

fn unwatch(node: &mut Node, client: ClientId, _args: &[Bytes]) -> Reply {
    node.client_mut(client).watched.clear();
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::node::Time;

    const NOW: Time = Time {
        mono_ms: 0,
        unix_ms: 1_000_000,
    };

    fn node(cluster: bool) -> (Node, ClientId) {
        let config = Config {
            cluster_enabled: cluster,
            port: 6379,
            ..Config::default()
        };
        let mut node = Node::new(config, NOW, 1);
        let c = node.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
        (node, c)
    }

    fn run(node: &mut Node, c: ClientId, line: &str) -> Reply {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        node.command(NOW, c, &args)
    }

    fn err(text: &str) -> Reply {
        Reply::Error(text.into())
    }

    fn bulk(text: &str) -> Reply {
        Reply::bulk_str(text)
    }

    #[test]
    fn ping_and_echo() {
        let (mut n, c) = node(true);
        assert_eq!(run(&mut n, c, "PING"), Reply::simple("PONG"));
        assert_eq!(run(&mut n, c, "ping hi"), bulk("hi"));
        assert_eq!(
            run(&mut n, c, "ping a b"),
            err("ERR wrong number of arguments for 'ping' command")
        );
        assert_eq!(run(&mut n, c, "echo x"), bulk("x"));
        assert_eq!(
            run(&mut n, c, "echo a b"),
            err("ERR wrong number of arguments for 'echo' command")
        );
    }

    #[test]
    fn hello_switches_protocol_and_describes_server() {
        let (mut n, c) = node(true);
        let expected = |proto: i64| {
            Reply::Map(vec![
                (bulk("server"), bulk("redis")),
                (bulk("version"), bulk("7.0.15")),
                (bulk("proto"), Reply::Integer(proto)),
                (bulk("id"), Reply::Integer(c as i64)),
                (bulk("mode"), bulk("cluster")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Reply::Array(vec![])),
            ])
        };
        assert_eq!(run(&mut n, c, "HELLO"), expected(2));
        assert_eq!(n.client_protocol(c), 2);
        assert_eq!(run(&mut n, c, "hello 3"), expected(3));
        assert_eq!(n.client_protocol(c), 3);
        assert_eq!(
            run(&mut n, c, "hello 4"),
            err("NOPROTO unsupported protocol version")
        );
        assert_eq!(
            run(&mut n, c, "hello 1"),
            err("NOPROTO unsupported protocol version")
        );
        assert_eq!(
            run(&mut n, c, "hello 4 foo"),
            err("NOPROTO unsupported protocol version")
        );
        assert_eq!(
            run(&mut n, c, "hello x"),
            err("ERR Protocol version is not an integer or out of range")
        );
        assert_eq!(
            run(&mut n, c, "hello 2 foo"),
            err("ERR Syntax error in HELLO option 'foo'")
        );
        assert_eq!(
            run(&mut n, c, "hello 2 auth a"),
            err("ERR Syntax error in HELLO option 'auth'")
        );
        assert_eq!(
            run(&mut n, c, "hello 2 setname ok extra"),
            err("ERR Syntax error in HELLO option 'extra'")
        );
        assert_eq!(run(&mut n, c, "hello 2 auth a b"), err(WRONGPASS));
        assert_eq!(n.client_protocol(c), 3, "failed HELLO keeps the protocol");
        assert_eq!(
            run(&mut n, c, "hello 2 AUTH default pw SETNAME app"),
            expected(2)
        );
        assert_eq!(run(&mut n, c, "client getname"), bulk("app"));
        let (mut s, sc) = node(false);
        let Reply::Map(fields) = run(&mut s, sc, "hello") else {
            panic!("not a map")
        };
        assert_eq!(fields[4], (bulk("mode"), bulk("standalone")));
    }

    #[test]
    fn auth_without_passwords() {
        let (mut n, c) = node(true);
        assert_eq!(
            run(&mut n, c, "auth x"),
            err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        );
        assert_eq!(run(&mut n, c, "auth default x"), Reply::ok());
        assert_eq!(run(&mut n, c, "auth a b"), err(WRONGPASS));
        assert_eq!(run(&mut n, c, "auth a b c"), err("ERR syntax error"));
    }

    #[test]
    fn client_subcommands() {
        let (mut n, c) = node(true);
        assert_eq!(run(&mut n, c, "client id"), Reply::Integer(c as i64));
        assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
        assert_eq!(run(&mut n, c, "client setname conn-1"), Reply::ok());
        assert_eq!(run(&mut n, c, "CLIENT GETNAME"), bulk("conn-1"));
        assert_eq!(
            run(&mut n, c, "client setname a\u{1}b"),
            err("ERR Client names cannot contain spaces, newlines or special characters.")
        );
        let empty = vec![
            Bytes::from_static(b"client"),
            Bytes::from_static(b"setname"),
            Bytes::new(),
        ];
        assert_eq!(n.command(NOW, c, &empty), Reply::ok());
        assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
        assert_eq!(
            run(&mut n, c, "client setinfo lib-name redis-py"),
            err("ERR unknown subcommand 'setinfo'. Try CLIENT HELP.")
        );
        assert_eq!(
            run(&mut n, c, "client foo"),
            err("ERR unknown subcommand 'foo'. Try CLIENT HELP.")
        );
        assert_eq!(
            run(&mut n, c, "client"),
            err("ERR wrong number of arguments for 'client' command")
        );
        assert_eq!(
            run(&mut n, c, "client setname"),
            err("ERR wrong number of arguments for 'client|setname' command")
        );
        assert_eq!(
            run(&mut n, c, "client id x"),
            err("ERR wrong number of arguments for 'client|id' command")
        );
        let Reply::Array(help) = run(&mut n, c, "client help") else {
            panic!("help is an array")
        };
        assert_eq!(
            help[0],
            Reply::simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(help.last(), Some(&Reply::simple("    Prints this help.")));
    }

    #[test]
    fn client_info_and_list_lines() {
        let (mut n, c) = node(true);
        let other = n.client_connected(NOW, "127.0.0.1:5001".into(), "127.0.0.1:6379".into());
        run(&mut n, c, "client setname me");
        let line = |id: u64, addr: &str, name: &str, flags: &str, multi: i64| {
            format!(
                "id={id} addr={addr} laddr=127.0.0.1:6379 name={name} age=0 idle=0 flags={flags} \
                 db=0 sub=0 psub=0 ssub=0 multi={multi} user=default redir=-1 resp=2\n"
            )
        };
        let mine = line(c, "127.0.0.1:5000", "me", "N", -1);
        let theirs = line(other, "127.0.0.1:5001", "", "N", -1);
        assert_eq!(
            run(&mut n, c, "client info"),
            Reply::Verbatim("txt", mine.clone())
        );
        assert_eq!(
            run(&mut n, c, "client list"),
            Reply::Verbatim("txt", format!("{mine}{theirs}"))
        );
        assert_eq!(
            run(&mut n, c, "client list type normal"),
            Reply::Verbatim("txt", format!("{mine}{theirs}"))
        );
        assert_eq!(
            run(&mut n, c, "client list type pubsub"),
            Reply::Verbatim("txt", String::new())
        );
        assert_eq!(
            run(&mut n, c, &format!("client list id {other} 99 0 -1")),
            Reply::Verbatim("txt", theirs)
        );
        assert_eq!(
            run(&mut n, c, "client list type foo"),
            err("ERR Unknown client type 'foo'")
        );
        assert_eq!(
            run(&mut n, c, "client list id x"),
            err("ERR Invalid client ID")
        );
        assert_eq!(run(&mut n, c, "client list id"), err("ERR syntax error"));
        assert_eq!(
            run(&mut n, c, "client list type normal id 1"),
            err("ERR syntax error")
        );
        // Flags and queue length show an open transaction; age and idle are in seconds.
        run(&mut n, c, "multi");
        run(&mut n, c, "ping");
        let later = Time {
            mono_ms: 5_500,
            unix_ms: 1_005_500,
        };
        let info = n.command(
            later,
            other,
            &[Bytes::from_static(b"client"), Bytes::from_static(b"list")],
        );
        let Reply::Verbatim(_, text) = info else {
            panic!("verbatim")
        };
        assert!(text.starts_with(&format!(
            "id={c} addr=127.0.0.1:5000 laddr=127.0.0.1:6379 name=me age=5 idle=5 flags=x "
        )));
        assert!(text.contains(" multi=1 "));
    }

    #[test]
    fn select_rules() {
        let (mut n, c) = node(true);
        assert_eq!(run(&mut n, c, "select 0"), Reply::ok());
        assert_eq!(
            run(&mut n, c, "select 1"),
            err("ERR SELECT is not allowed in cluster mode")
        );
        assert_eq!(
            run(&mut n, c, "select -1"),
            err("ERR SELECT is not allowed in cluster mode")
        );
        assert_eq!(
            run(&mut n, c, "select x"),
            err("ERR value is not an integer or out of range")
        );
        let (mut s, sc) = node(false);
        assert_eq!(run(&mut s, sc, "select 0"), Reply::ok());
        assert_eq!(
            run(&mut s, sc, "select 16"),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            run(&mut s, sc, "select x"),
            err("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn quit_closes_and_reset_clears_state() {
        let (mut n, c) = node(true);
        n.take_effects();
        assert_eq!(run(&mut n, c, "quit"), Reply::ok());
        assert_eq!(n.take_effects(), vec![Effect::CloseClient { client: c }]);
        run(&mut n, c, "hello 3 setname x");
        run(&mut n, c, "multi");
        assert_eq!(run(&mut n, c, "reset"), Reply::simple("RESET"));
        assert_eq!(n.client_protocol(c), 2);
        assert_eq!(run(&mut n, c, "client getname"), Reply::Nil);
        assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
    }

    #[test]
    fn multi_exec_discard() {
        let (mut n, c) = node(false);
        assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
        assert_eq!(run(&mut n, c, "discard"), err("ERR DISCARD without MULTI"));
        assert_eq!(run(&mut n, c, "multi"), Reply::ok());
        assert_eq!(
            run(&mut n, c, "multi"),
            err("ERR MULTI calls can not be nested")
        );
        assert_eq!(
            run(&mut n, c, "watch a"),
            err("ERR WATCH inside MULTI is not allowed")
        );
        assert_eq!(run(&mut n, c, "ping"), Reply::simple("QUEUED"));
        assert_eq!(run(&mut n, c, "echo e"), Reply::simple("QUEUED"));
        assert_eq!(
            run(&mut n, c, "exec"),
            Reply::Array(vec![Reply::simple("PONG"), bulk("e")])
        );
        assert_eq!(run(&mut n, c, "multi"), Reply::ok());
        assert_eq!(run(&mut n, c, "ping"), Reply::simple("QUEUED"));
        assert_eq!(run(&mut n, c, "discard"), Reply::ok());
        assert_eq!(run(&mut n, c, "exec"), err("ERR EXEC without MULTI"));
        assert_eq!(run(&mut n, c, "multi"), Reply::ok());
        assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
    }

    #[test]
    fn queueing_errors_abort_exec() {
        let (mut n, c) = node(false);
        run(&mut n, c, "multi");
        run(&mut n, c, "ping");
        assert!(run(&mut n, c, "nosuchcommand").is_error());
        assert_eq!(
            run(&mut n, c, "exec"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        run(&mut n, c, "multi");
        assert!(run(&mut n, c, "echo").is_error());
        assert_eq!(
            run(&mut n, c, "exec"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        // The next transaction starts clean.
        run(&mut n, c, "multi");
        assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
    }

    fn aof_bytes(effects: Vec<Effect>) -> String {
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::AppendAof { data } => Some(String::from_utf8_lossy(&data).into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn exec_logs_its_writes_inside_multi_exec() {
        let config = Config {
            appendonly: true,
            ..Config::default()
        };
        let mut n = Node::new(config, NOW, 1);
        let c = n.client_connected(NOW, "127.0.0.1:5000".into(), "127.0.0.1:6379".into());
        run(&mut n, c, "multi");
        run(&mut n, c, "set a 1");
        run(&mut n, c, "ping");
        run(&mut n, c, "set b 2");
        n.take_effects();
        let reply = run(&mut n, c, "exec");
        assert_eq!(
            reply,
            Reply::Array(vec![Reply::ok(), Reply::simple("PONG"), Reply::ok()])
        );
        assert_eq!(
            aof_bytes(n.take_effects()),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n\
             *3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nset\r\n$1\r\nb\r\n$1\r\n2\r\n\
             *1\r\n$4\r\nEXEC\r\n"
        );
        // Later transactions have no SELECT in front.
        run(&mut n, c, "multi");
        run(&mut n, c, "set c 3");
        run(&mut n, c, "exec");
        assert_eq!(
            aof_bytes(n.take_effects()),
            "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nset\r\n$1\r\nc\r\n$1\r\n3\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        // A read-only transaction logs nothing.
        run(&mut n, c, "multi");
        run(&mut n, c, "ping");
        run(&mut n, c, "exec");
        assert_eq!(aof_bytes(n.take_effects()), "");
    }

    #[test]
    fn aof_replay_of_a_transaction_applies_it() {
        let mut n = Node::new(Config::default(), NOW, 1);
        for line in ["SELECT 0", "MULTI", "set a 1", "set b 2", "EXEC"] {
            let args: Vec<Bytes> = line
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            assert_eq!(n.replay_command(NOW, &args), Ok(()), "{line}");
        }
        assert!(n.db.contains(b"a", NOW.unix_ms) && n.db.contains(b"b", NOW.unix_ms));
        assert!(n.clients.values().all(|c| c.multi.is_none()));
    }

    #[test]
    fn watch_aborts_exec_when_a_key_changes() {
        use crate::db::ValueRef;
        let (mut n, c) = node(false);
        let set =
            |n: &mut Node, v: &'static str| n.db.set(b"k", ValueRef::String(v.as_bytes()), None);
        assert_eq!(run(&mut n, c, "watch k other"), Reply::ok());
        set(&mut n, "1");
        run(&mut n, c, "multi");
        run(&mut n, c, "ping");
        assert_eq!(run(&mut n, c, "exec"), Reply::NilArray);
        // EXEC forgets the watches: the next transaction runs.
        run(&mut n, c, "multi");
        assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
        // Unchanged keys let EXEC run.
        run(&mut n, c, "watch k");
        run(&mut n, c, "multi");
        run(&mut n, c, "ping");
        assert_eq!(
            run(&mut n, c, "exec"),
            Reply::Array(vec![Reply::simple("PONG")])
        );
        // UNWATCH forgets them too.
        run(&mut n, c, "watch k");
        set(&mut n, "2");
        assert_eq!(run(&mut n, c, "unwatch"), Reply::ok());
        run(&mut n, c, "multi");
        assert_eq!(run(&mut n, c, "exec"), Reply::Array(vec![]));
    }
}
