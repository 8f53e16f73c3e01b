//! Clients blocked on keys: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, and any other command
//! that waits for one of its keys to hold a value of some type (Redis 7.0's `blocked.c`).
//!
//! A blocking command that finds nothing to take parks its client with
//! [`Node::block_on_keys`], giving its keys, its deadline and a [`Waker`]: the type of value
//! that wakes it and the function that serves it then. The driver holds the client's later
//! input (see [`Effect::BlockClient`]) until the node answers it with
//! [`Effect::UnblockClient`], which happens when
//! - a key it waits on gets a value stored whole (see `db::ready`): every input ends in
//!   [`Node::blocked_on_keys_before_reply`], which serves the clients blocked on each ready
//!   key in the order they blocked, for as long as the key holds a value of their type (the
//!   serve function takes what it needs and propagates the non-blocking form: LPOP, LMOVE, …);
//!   a transaction's keys are served once EXEC ends;
//! - its deadline passes (checked after every input too): a null array;
//! - this node turns replica, or follows another master: `-UNBLOCKED …`, and the connection
//!   closes after it, as Redis's `disconnectAllBlockedClients` does;
//! - in cluster mode, the cron finds its slot served elsewhere or the cluster down: `-MOVED`,
//!   `-CLUSTERDOWN` (Redis's `clusterRedirectBlockedClientIfNeeded`, from `clientsCron`);
//! - `CLIENT UNBLOCK` names it.
//!
//! A client that disconnects is forgotten.
//!
//! Plugging a command in (BZPOPMIN, say): its handler parses its timeout with
//! [`parse_timeout`] and serves at once what it can; otherwise, if [`Node::may_block`], it calls
//! [`Node::block_on_keys`] with a `static` [`Waker`] (`Wakes::ZSet` and a serve function that
//! re-parses the stored arguments), and answers what a timeout would when it may not block. A
//! command whose keys follow a count names it in `CommandSpec::keys` (as BLMPOP does).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::db::ValueRef;
use crate::effect::ClientId;
#[cfg(doc)]
use crate::effect::Effect;
use crate::node::Node;
use crate::reply::Reply;

mod serve;
#[cfg(test)]
mod tests;

/// The kind of value a blocked command waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wakes {
    List,
    /// For BZPOPMIN, BZPOPMAX and BZMPOP.
    ZSet,
    /// For XREAD.
    Stream,
}

impl Wakes {
    fn matches(self, value: ValueRef<'_>) -> bool {
        matches!(
            (self, value),
            (Wakes::List, ValueRef::List(_))
                | (Wakes::ZSet, ValueRef::ZSet(_))
                | (Wakes::Stream, ValueRef::Stream(_))
        )
    }
}

/// See [`Waker::wants`].
pub(crate) type WantsFn = fn(&mut Node, &[Bytes], key: &Bytes) -> bool;

/// How a command blocked on keys is woken and served.
pub(crate) struct Waker {
    pub(crate) wakes_on: Wakes,
    /// Serves the client from `key`, which holds a value of that type: takes what the
    /// command takes, propagates its non-blocking form and returns the reply. `args` are the
    /// command as the client sent it.
    pub(crate) serve: fn(&mut Node, ClientId, &[Bytes], key: &Bytes) -> Reply,
    /// Whether `key`, holding a value of that type, has what the command waits for (an
    /// XREAD waits for entries past its IDs); `None`: any such value will do.
    pub(crate) wants: Option<WantsFn>,
    /// The error a client gets when a key it waits on is deleted or no longer holds that
    /// type (XREADGROUP's `-UNBLOCKED the stream key no longer exists`); `None`: it waits on.
    pub(crate) gone: Option<&'static str>,
}

/// One blocked client.
struct BlockedClient {
    args: Vec<Bytes>,
    /// Its keys, each once, in the order given.
    keys: Vec<Bytes>,
    /// Monotonic ms after which it times out; `None` = for ever.
    deadline_ms: Option<u64>,
    waker: &'static Waker,
    /// The node's role when it blocked (see [`Role`]).
    role: Role,
}

/// Whether the node is a replica, and of which master: a client blocked under one role is
/// let go when the node becomes a replica of another master (or turns replica at all), as
/// Redis's `replicationSetMaster` does; a promotion keeps it.
type Role = (bool, Option<crate::node_id::NodeId>);

/// Every client blocked on keys, by client and by key.
#[derive(Default)]
pub(crate) struct BlockedOnKeys {
    clients: BTreeMap<ClientId, BlockedClient>,
    /// Per key, the clients blocked on it, first blocked first.
    by_key: BTreeMap<Bytes, VecDeque<ClientId>>,
    /// (deadline, client) of the clients with a timeout, soonest first.
    timeouts: BTreeSet<(u64, ClientId)>,
}

impl BlockedOnKeys {
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Blocked clients that have a timeout (INFO's `clients_in_timeout_table`).
    pub(crate) fn with_timeout(&self) -> usize {
        self.timeouts.len()
    }

    pub(crate) fn contains(&self, client: ClientId) -> bool {
        self.clients.contains_key(&client)
    }

    /// Adds `client` at the end of each of its keys' queues.
    fn insert(&mut self, client: ClientId, blocked: BlockedClient) {
        assert!(
            !self.contains(client),
            "a blocked client sent another command"
        );
        for key in &blocked.keys {
            self.by_key
                .entry(key.clone())
                .or_default()
                .push_back(client);
        }
        if let Some(deadline_ms) = blocked.deadline_ms {
            self.timeouts.insert((deadline_ms, client));
        }
        self.clients.insert(client, blocked);
    }

    /// Takes `client` out of every key's queue.
    fn remove(&mut self, client: ClientId) -> Option<BlockedClient> {
        let blocked = self.clients.remove(&client)?;
        for key in &blocked.keys {
            let queue = self.by_key.get_mut(key).expect("indexed by key");
            queue.retain(|c| *c != client);
            if queue.is_empty() {
                self.by_key.remove(key);
            }
        }
        if let Some(deadline_ms) = blocked.deadline_ms {
            self.timeouts.remove(&(deadline_ms, client));
        }
        Some(blocked)
    }

    /// The clients blocked on `key`, first blocked first.
    fn waiting_on(&self, key: &[u8]) -> Vec<ClientId> {
        self.by_key
            .get(key)
            .map_or_else(Vec::new, |q| q.iter().copied().collect())
    }

    /// Clients whose deadline is before `now_ms`, soonest first.
    fn timed_out(&self, now_ms: u64) -> Vec<ClientId> {
        self.timeouts
            .iter()
            .take_while(|(deadline_ms, _)| *deadline_ms < now_ms)
            .map(|(_, client)| *client)
            .collect()
    }

    /// Clients that blocked under another role than `now`, if `now` is a replica's.
    fn blocked_before_demotion(&self, now: Role) -> Vec<ClientId> {
        if !now.0 {
            return Vec::new();
        }
        let before = self.clients.iter().filter(|(_, b)| b.role != now);
        before.map(|(client, _)| *client).collect()
    }

    /// Every blocked client with its first key, in client-id order.
    fn first_keys(&self) -> Vec<(ClientId, Bytes)> {
        self.clients
            .iter()
            .map(|(client, b)| (*client, b.keys[0].clone()))
            .collect()
    }
}

/// A blocking command's timeout in seconds as Redis parses it (a float; 0 = for ever), as a
/// monotonic deadline in ms.
pub(crate) fn parse_timeout(node: &Node, arg: &[u8]) -> Result<Option<u64>, Reply> {
    let seconds = crate::cmd::long_double::LongDouble::parse(arg)
        .ok_or_else(|| Reply::err("timeout is not a float or out of range"))?;
    let ms = seconds.ceil_millis();
    if ms < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    // Redis's deadline may wrap past the end of its clock; its timeout table then never
    // reaches it, which saturating gives too.
    Ok(Some(node.now.mono_ms.saturating_add(ms as u64)))
}
