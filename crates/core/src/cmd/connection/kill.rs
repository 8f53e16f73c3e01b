//! `CLIENT KILL`: the old form (`CLIENT KILL ip:port`, one client, `+OK`) and the filter form
//! (`ID`, `TYPE`, `USER`, `ADDR`, `LADDR`, `SKIPME`, counted). A replica's link to its master
//! counts as a client of type `master` whose address is the master's, as in Redis: killing it
//! drops the link, and the replica reconnects as after any drop.

use bytes::Bytes;

use super::{is, parse_i64};
use crate::node::{ClientId, Effect, Node};
use crate::reply::Reply;

/// What the filter form matches; every given filter must hold.
#[derive(Default)]
struct Filter {
    id: Option<ClientId>,
    kind: Option<Kind>,
    addr: Option<String>,
    laddr: Option<String>,
    skip_me: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Master,
    Replica,
    Pubsub,
}

pub(super) fn client_kill(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]).into_owned();
        let filter = Filter {
            addr: Some(addr),
            ..Filter::default()
        };
        return match kill_matching(node, client, &filter) {
            0 => Reply::err("No such client"),
            _ => Reply::ok(),
        };
    }
    match parse_filter(&args[2..]) {
        Ok(filter) => Reply::Integer(kill_matching(node, client, &filter) as i64),
        Err(e) => e,
    }
}

fn parse_filter(args: &[Bytes]) -> Result<Filter, Reply> {
    if !args.len().is_multiple_of(2) {
        return Err(Reply::syntax_error());
    }
    let mut f = Filter {
        skip_me: true,
        ..Filter::default()
    };
    for pair in args.chunks(2) {
        let (name, value) = (&pair[0], &pair[1]);
        let text = || String::from_utf8_lossy(value).into_owned();
        if is(name, "id") {
            match parse_i64(value).filter(|&id| id > 0) {
                Some(id) => f.id = Some(id as ClientId),
                None => return Err(Reply::err("client-id should be greater than 0")),
            }
        } else if is(name, "type") {
            f.kind = Some(parse_kind(value)?);
        } else if is(name, "user") {
            // Only the default user exists (no ACLs yet): it is every client's.
            if !is(value, "default") {
                return Err(Reply::err(format!("No such user '{}'", text())));
            }
        } else if is(name, "addr") {
            f.addr = Some(text());
        } else if is(name, "laddr") {
            f.laddr = Some(text());
        } else if is(name, "skipme") {
            f.skip_me = match () {
                _ if is(value, "yes") => true,
                _ if is(value, "no") => false,
                _ => return Err(Reply::syntax_error()),
            };
        } else {
            return Err(Reply::syntax_error());
        }
    }
    Ok(f)
}

fn parse_kind(value: &[u8]) -> Result<Kind, Reply> {
    Ok(match () {
        _ if is(value, "normal") => Kind::Normal,
        _ if is(value, "master") => Kind::Master,
        _ if is(value, "replica") || is(value, "slave") => Kind::Replica,
        _ if is(value, "pubsub") => Kind::Pubsub,
        _ => {
            let name = String::from_utf8_lossy(value);
            return Err(Reply::err(format!("Unknown client type '{name}'")));
        }
    })
}

/// Closes every client the filter matches (and the master link, if it does); how many.
fn kill_matching(node: &mut Node, me: ClientId, f: &Filter) -> usize {
    let victims: Vec<ClientId> = node
        .clients
        .values()
        .filter(|c| !(f.skip_me && c.id == me))
        .filter(|c| f.id.is_none_or(|id| id == c.id))
        .filter(|c| f.addr.as_ref().is_none_or(|a| *a == c.addr))
        .filter(|c| f.laddr.as_ref().is_none_or(|a| *a == c.local_addr))
        .filter(|c| {
            let kind = if node.repl.is_replica_client(c.id) {
                Kind::Replica
            } else {
                Kind::Normal
            };
            f.kind.is_none_or(|k| k == kind)
        })
        .map(|c| c.id)
        .collect();
    for &client in &victims {
        // A killed replica gets nothing more, not even what the rest of this call writes
        // (Redis drops output to a client closing asap): it must resync from before it.
        node.repl.forget_client(client);
        node.out.push(Effect::CloseClient { client });
    }
    victims.len() + usize::from(kill_master_link(node, f))
}

/// The master link matches only filters that can name it: its type or its address.
fn kill_master_link(node: &mut Node, f: &Filter) -> bool {
    let Some(link) = node.repl.master_link() else {
        return false;
    };
    let addr = format!("{}:{}", link.ip, link.port);
    let matches = f.id.is_none()
        && f.laddr.is_none()
        && f.kind.is_none_or(|k| k == Kind::Master)
        && f.addr.as_ref().is_none_or(|a| *a == addr)
        && (f.kind.is_some() || f.addr.is_some());
    if !matches {
        return false;
    }
    let id = link.id;
    let now = node.now;
    node.out.push(Effect::ReplicaDisconnect { link: id });
    node.replication_link_down(now, id);
    true
}
