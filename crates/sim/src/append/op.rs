//! What a concurrent append history is made of: the shared key set (and the slots it lives
//! in), the self-delimiting tokens every write carries, and one recorded operation.
//!
//! Every write puts a token nobody else writes (`<client>.<seq>;`) into its key, so a value
//! read back names, in order, every write that produced it: `APPEND` adds its token to the
//! list, `SET` replaces the list by its own token (a new base), and a `ttl:` key holds the
//! token of the `SET … PX` that wrote it. The history is plain data; the clients that fill it
//! run only in the simulator (`super::client`).

use clusterlab_core::slot::key_hash_slot;

use crate::invariants::fmt_ms;

/// The shared key set: list keys (`APPEND`, `SET`, `GET`), Redis list keys (`RPUSH`,
/// `LRANGE`), counter keys (`INCR`) and TTL keys (`SET … PX`, `PEXPIRE`, `PERSIST`, `GET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySet {
    /// `list:0` … `list:<lists-1>`: strings grown by `APPEND`.
    pub lists: usize,
    /// `rlist:0` … `rlist:<rlists-1>`: Redis lists grown by `RPUSH`, one token per element.
    pub rlists: usize,
    /// `ctr:0` … `ctr:<counters-1>`.
    pub counters: usize,
    /// `ttl:0` … `ttl:<ttls-1>`.
    pub ttls: usize,
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet {
            lists: 24,
            rlists: 8,
            counters: 6,
            ttls: 6,
        }
    }
}

/// Which family a key belongs to, from its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `list:<n>`.
    List,
    /// `ctr:<n>`.
    Counter,
    /// `ttl:<n>`.
    Ttl,
}

/// The family of `key` (`None` for a key the workload never uses).
pub fn family_of(key: &str) -> Option<Family> {
    let (prefix, n) = key.split_once(':')?;
    n.parse::<usize>().ok()?;
    match prefix {
        // A Redis list of tokens reads back as the same token sequence as an appended string.
        "list" | "rlist" => Some(Family::List),
        "ctr" => Some(Family::Counter),
        "ttl" => Some(Family::Ttl),
        _ => None,
    }
}

/// Every key of the set, lists first.
pub fn workload_keys(keys: &KeySet) -> Vec<String> {
    let lists = (0..keys.lists).map(|n| format!("list:{n}"));
    let rlists = (0..keys.rlists).map(|n| format!("rlist:{n}"));
    let counters = (0..keys.counters).map(|n| format!("ctr:{n}"));
    let ttls = (0..keys.ttls).map(|n| format!("ttl:{n}"));
    lists.chain(rlists).chain(counters).chain(ttls).collect()
}

/// The `n`-th list key of the set: `list:<n>` for the first `lists`, then the Redis lists
/// `rlist:<n - lists>`.
pub fn list_key(keys: &KeySet, n: usize) -> String {
    if n < keys.lists {
        format!("list:{n}")
    } else {
        format!("rlist:{}", n - keys.lists)
    }
}

/// Whether `key` holds a Redis list (`rlist:<n>`) rather than a string.
pub fn is_redis_list(key: &str) -> bool {
    key.starts_with("rlist:")
}

/// The command that reads `key` whole: `LRANGE key 0 -1` for a Redis list, `GET key` else.
pub fn read_args(key: &str) -> Vec<String> {
    if is_redis_list(key) {
        ["LRANGE", key, "0", "-1"].map(String::from).to_vec()
    } else {
        vec!["GET".to_string(), key.to_string()]
    }
}

/// The hash slots the workload's keys live in, sorted and distinct: what a fault schedule
/// must move for migrations to meet the workload.
pub fn workload_slots(keys: &KeySet) -> Vec<u16> {
    let mut slots: Vec<u16> = workload_keys(keys)
        .iter()
        .map(|k| key_hash_slot(k.as_bytes()))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The token client `client` writes with its `seq`-th write: `<client>.<seq>;`.
pub fn token(client: usize, seq: usize) -> String {
    format!("{client}.{seq};")
}

/// Splits a value into its tokens (each with its `;`); `Err` names the first part that is
/// not a token (then the value holds bytes no write of ours put there).
pub fn parse_tokens(value: &str) -> Result<Vec<&str>, String> {
    let mut tokens = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let Some(end) = rest.find(';') else {
            return Err(rest.to_string());
        };
        let (tok, tail) = rest.split_at(end + 1);
        let well_formed = tok[..end].split_once('.').is_some_and(|(c, s)| {
            [c, s]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
        if !well_formed {
            return Err(tok.to_string());
        }
        tokens.push(tok);
        rest = tail;
    }
    Ok(tokens)
}

/// The script of an append sent through `EVAL`: it runs `ARGV[1]` (`APPEND` or `RPUSH`) on
/// its key with the token `ARGV[2]`. The node digests each command a script calls, so the
/// write it reports applied is the plain command's (see [`Op::applied_args`]).
pub const APPEND_SCRIPT: &str = "return redis.call(ARGV[1], KEYS[1], ARGV[2])";

/// `EVAL` of [`APPEND_SCRIPT`]: `verb key token` run inside a script.
pub fn scripted_args(verb: &str, key: &str, token: &str) -> Vec<String> {
    ["EVAL", APPEND_SCRIPT, "1", key, verb, token]
        .map(String::from)
        .to_vec()
}

/// What an operation asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `APPEND key <token>` (`RPUSH key <token>` on a Redis list).
    Append {
        /// The token appended.
        token: String,
    },
    /// `SET key <token> [PX px_ms]`: a new base for a list, a fresh value for a TTL key.
    Set {
        /// The token written.
        token: String,
        /// The `PX` argument, if any.
        px_ms: Option<u64>,
    },
    /// `GET key` (`LRANGE key 0 -1` on a Redis list).
    Get {
        /// Sent after `READONLY` to a node picked at random (a replica may answer).
        replica: bool,
        /// The read-back after the liveness phase (not part of any client's run).
        final_read: bool,
    },
    /// `INCR key`.
    Incr,
    /// `PEXPIRE key <ms>`.
    Pexpire {
        /// The TTL set.
        ms: u64,
    },
    /// `PERSIST key`.
    Persist,
    /// `WAIT <replicas> <timeout>` on the connection of the client's last acknowledged write
    /// (`key` is that write's key).
    Wait {
        /// Replicas asked for.
        replicas: u64,
    },
}

impl Kind {
    /// Whether the operation may change the key (a `WAIT` or a `GET` does not).
    pub fn is_write(&self) -> bool {
        !matches!(self, Kind::Get { .. } | Kind::Wait { .. })
    }

    /// The token the operation writes, if it writes one.
    pub fn token(&self) -> Option<&str> {
        match self {
            Kind::Append { token } | Kind::Set { token, .. } => Some(token),
            _ => None,
        }
    }
}

/// A reply that was not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `$-1`: no such key.
    Nil,
    /// A bulk string.
    Bulk(String),
    /// An integer.
    Int(i64),
    /// A status (`+OK`).
    Status(String),
}

/// How an operation ended, from its client's point of view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply that is not an error: the operation took effect.
    Ok(Value),
    /// An error reply (`CLUSTERDOWN`, `TRYAGAIN`, a redirect past the limit, …): not applied.
    Error(String),
    /// No reply (timeout, I/O error) or an unexpected one: it may take effect, even late.
    Indeterminate(String),
}

/// One operation of one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Its index in [`AppendHistory::ops`].
    pub id: usize,
    /// The client that sent it (0-based; the final read-back uses [`FINAL_CLIENT`]).
    pub client: usize,
    /// The key it names.
    pub key: String,
    /// What it asked for.
    pub kind: Kind,
    /// The exact arguments sent (what [`clusterlab_core::event::request_digest`] digests).
    pub args: Vec<String>,
    /// When it was sent: virtual µs since the run started.
    pub start_us: u64,
    /// When its outcome was known: virtual µs since the run started.
    pub end_us: u64,
    /// `ip:port` of the node that gave the final reply (for an I/O failure, the node the
    /// client was talking to).
    pub addr: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// The client number of the read-back after the liveness phase.
pub const FINAL_CLIENT: usize = usize::MAX;

impl Op {
    /// A read sent after `READONLY`: a replica may have answered it.
    pub fn is_readonly_read(&self) -> bool {
        matches!(self.kind, Kind::Get { replica: true, .. })
    }

    /// Whether it got a reply that is not an error.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// Whether its client knows it took effect (a write acknowledged, or a read answered).
    pub fn is_acked(&self) -> bool {
        self.is_ok()
    }

    /// Whether it may have taken effect (acknowledged or indeterminate).
    pub fn may_have_applied(&self) -> bool {
        !matches!(self.outcome, Outcome::Error(_))
    }

    /// Until when it may still take effect: its end if acknowledged, forever if indeterminate
    /// (its bytes may sit in a clogged link and land late).
    pub fn latest_effect_us(&self) -> u64 {
        match self.outcome {
            Outcome::Indeterminate(_) => u64::MAX,
            _ => self.end_us,
        }
    }

    /// The write the node reports applied for this operation (what its `WriteApplied`
    /// digests): the command as sent, or for [`scripted_args`] the command its script runs.
    pub fn applied_args(&self) -> Vec<&str> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["EVAL", APPEND_SCRIPT, "1", key, verb, token] => vec![verb, key, token],
            _ => args,
        }
    }

    /// The command as sent, for evidence (`APPEND list:3 2.17;`).
    pub fn command(&self) -> String {
        self.args.join(" ")
    }

    /// One line for evidence: who, what, where, when and how it ended.
    pub fn describe(&self) -> String {
        let who = if self.client == FINAL_CLIENT {
            "final read".to_string()
        } else {
            format!("writer{}", self.client + 1)
        };
        let outcome = match &self.outcome {
            Outcome::Ok(Value::Nil) => "(nil)".to_string(),
            Outcome::Ok(Value::Bulk(b)) => format!("{b:?}"),
            Outcome::Ok(Value::Int(i)) => format!("(integer) {i}"),
            Outcome::Ok(Value::Status(s)) => format!("+{s}"),
            Outcome::Error(e) => format!("-{e}"),
            Outcome::Indeterminate(why) => format!("indeterminate ({why})"),
        };
        // Times and addresses as the timeline finds them in evidence (`1.234s`, `ip:port`).
        format!(
            "#{} {who} {} on {} from {} to {} -> {outcome}",
            self.id,
            self.command(),
            self.addr,
            fmt_ms(self.start_us / 1000),
            fmt_ms(self.end_us.div_ceil(1000))
        )
    }
}

/// Every operation of every client, and the read-back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendHistory {
    /// In the order they were merged: by start time, then client ([`AppendHistory::merge`]).
    pub ops: Vec<Op>,
    /// Each crash of a node: a node restarted from its disk under `appendfsync everysec`
    /// after a power loss may have lost what it acknowledged last (the loss rule judges
    /// whether that loss stands).
    pub kills: Vec<Kill>,
    /// Each node's wall clock over the run (TTL deadlines are dated by the writer's clock
    /// and judged by the reader's).
    pub clocks: crate::wall_clock::WallClocks,
    /// When MIGRATE moved keys of a slot, `(slot, µs)`: a moved key's TTL is re-dated by
    /// the target's clock.
    pub migrations: Vec<(u16, u64)>,
}

/// One crash of a node, as the append checks need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// The node's `ip:port`.
    pub addr: String,
    /// When, in virtual µs.
    pub at_us: u64,
    /// Bytes written but not synced may be gone (a power loss, not a process crash).
    pub loses_unsynced: bool,
}

impl AppendHistory {
    /// One history from the clients' own lists: ordered by start time, then client, then the
    /// client's own order; ids renumbered to positions.
    pub fn merge(per_client: Vec<Vec<Op>>) -> AppendHistory {
        let mut ops: Vec<Op> = per_client.into_iter().flatten().collect();
        ops.sort_by_key(|op| (op.start_us, op.client));
        let mut history = AppendHistory::default();
        for op in ops {
            history.push(op);
        }
        history
    }

    /// Adds `op` at the end, giving it the next id.
    pub fn push(&mut self, mut op: Op) {
        op.id = self.ops.len();
        self.ops.push(op);
    }

    /// Acknowledged writes.
    pub fn acked_writes(&self) -> impl Iterator<Item = &Op> {
        self.ops
            .iter()
            .filter(|op| op.kind.is_write() && op.is_ok())
    }
}

impl AppendHistory {
    /// Every operation a node answered without an error (reads and writes, not `WAIT`), for
    /// [`served_unowned`](crate::invariants::served_unowned).
    pub fn served_ops(&self) -> Vec<crate::invariants::ServedOp> {
        self.ops
            .iter()
            .filter(|op| op.is_ok() && !matches!(op.kind, Kind::Wait { .. }))
            .map(|op| crate::invariants::ServedOp {
                addr: op.addr.clone(),
                slot: key_hash_slot(op.key.as_bytes()),
                start_ms: op.start_us / 1000,
                end_ms: op.end_us.div_ceil(1000),
                readonly: op.is_readonly_read(),
                what: op.describe(),
            })
            .collect()
    }

    /// `(addr, end ms)` of every acknowledged write.
    pub fn acked_at(&self) -> Vec<(String, u64)> {
        self.acked_writes()
            .map(|op| (op.addr.clone(), op.end_us / 1000))
            .collect()
    }
}
