//! HyperLogLog: PFADD, PFCOUNT and PFMERGE over strings in Redis 7.0's exact representation
//! (see `dense` and `sparse`), so the bytes GET and DUMP return, and every count, match a
//! redis-server fed the same commands.
//!
//! The header is `HYLL`, the encoding (0 dense, 1 sparse), three zero bytes and the cached
//! cardinality (8 bytes, little-endian; the top bit of the last byte marks it stale). A new
//! HyperLogLog is sparse; it turns dense when a register needs more than 32 or the sparse
//! string would pass `hll-sparse-max-bytes`.

use bytes::Bytes;

use super::CommandSpec;
use crate::cmd::keys::{lookup_read, lookup_write, propagate};
use crate::cmd::CmdFlags as F;
use crate::db::ValueRef;
use crate::node::{ClientId, Node};
use crate::reply::Reply;

mod debug;
mod dense;
mod sparse;

use debug::{pfdebug, pfselftest};
use dense::{DENSE_BYTES, HEADER_BYTES, REGISTERS};
use sparse::SetOutcome;

const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// The top bit of the cached cardinality's last byte: the cache is stale.
const STALE_CACHE: u8 = 0x80;
/// `hll-sparse-max-bytes`'s default.
const SPARSE_MAX_BYTES_DEFAULT: usize = 3000;

/// An HLL string whose registers do not add up (Redis: `INVALIDOBJ`).
#[derive(Debug)]
pub(super) struct Corrupt;

fn corrupt() -> Reply {
    Reply::error("INVALIDOBJ Corrupted HLL object detected")
}

fn not_hll() -> Reply {
    Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: F::WRITE.union(F::DENYOOM).union(F::FAST),
        first_key: 1,
        last_key: 1,
        key_step: 1,
        acl_categories: &["@write", "@hyperloglog", "@fast"],
        group: "hyperloglog",
        summary: "Adds the specified elements to the specified HyperLogLog.",
        since: "2.8.9",
        handler: pfadd,
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        flags: F::READONLY.union(F::MAY_REPLICATE),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@read", "@hyperloglog", "@slow"],
        group: "hyperloglog",
        summary:
            "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        since: "2.8.9",
        handler: pfcount,
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: F::WRITE.union(F::DENYOOM),
        first_key: 1,
        last_key: -1,
        key_step: 1,
        acl_categories: &["@write", "@hyperloglog", "@slow"],
        group: "hyperloglog",
        summary: "Merge N different HyperLogLogs into a single one.",
        since: "2.8.9",
        handler: pfmerge,
    },
    CommandSpec {
        name: "pfdebug",
        arity: 3,
        flags: F::WRITE.union(F::DENYOOM).union(F::ADMIN),
        first_key: 2,
        last_key: 2,
        key_step: 1,
        acl_categories: &["@write", "@hyperloglog", "@admin", "@slow", "@dangerous"],
        group: "hyperloglog",
        summary: "Internal commands for debugging HyperLogLog values",
        since: "2.8.9",
        handler: pfdebug,
    },
    crate::cmd::keyless(
        "pfselftest",
        1,
        F::ADMIN,
        &["@hyperloglog", "@admin", "@slow", "@dangerous"],
        "hyperloglog",
        "An internal command for testing HyperLogLog values",
        "2.8.9",
        pfselftest,
    ),
];

fn sparse_max_bytes(node: &Node) -> usize {
    node.config
        .ignored
        .get("hll-sparse-max-bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(SPARSE_MAX_BYTES_DEFAULT)
}

/// A new, empty HyperLogLog: sparse, cached cardinality 0.
fn new_hll() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.extend([SPARSE, 0, 0, 0]);
    s.extend([0; 8]);
    s.extend(sparse::empty_body());
    s
}

/// Whether a string passes Redis's check for a HyperLogLog (header, encoding, dense length).
fn is_hll(s: &[u8]) -> bool {
    s.len() >= HEADER_BYTES
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_BYTES)
}

/// The key's HyperLogLog bytes: `None` for a missing key, the not-an-HLL error otherwise.
fn read_hll(node: &mut Node, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    match lookup_read(node, key) {
        None => Ok(None),
        Some(entry) => match entry.value.as_string() {
            Some(s) if is_hll(s) => Ok(Some(s.to_vec())),
            Some(_) => Err(not_hll()),
            None => Err(Reply::wrong_type()),
        },
    }
}

/// Stores an HLL (keeping the key's TTL); Redis holds them as `raw` strings.
fn store(node: &mut Node, key: &[u8], s: &[u8]) {
    match lookup_write(node, key) {
        Some(mut entry) => {
            entry.set_value(ValueRef::String(s));
            entry.mark_raw_string();
        }
        None => {
            node.db.set(key, ValueRef::String(s), None);
            if let Some(mut entry) = node.db.get_mut(key, 0) {
                entry.mark_raw_string();
            }
        }
    }
}

/// Redis unshares the string of a PFADD or PFCOUNT key even when nothing changes, which
/// leaves it `raw` (an HLL restored short is `embstr` until then).
fn mark_raw(node: &mut Node, key: &[u8]) {
    if let Some(mut entry) = lookup_write(node, key) {
        entry.mark_raw_string();
    }
}

/// Raises register `index` to `rank` in either encoding, promoting a sparse HLL that
/// outgrows it; whether the register changed.
fn raise(s: &mut Vec<u8>, index: usize, rank: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        return Ok(dense::raise(&mut s[HEADER_BYTES..], index, rank));
    }
    match sparse::set(s, index, rank, max_bytes)? {
        SetOutcome::Unchanged => Ok(false),
        SetOutcome::Updated => Ok(true),
        SetOutcome::Promote => {
            *s = sparse::to_dense(s)?;
            Ok(dense::raise(&mut s[HEADER_BYTES..], index, rank))
        }
    }
}

/// PFADD `key [element …]`: 1 if a register changed (or the key was created), else 0.
fn pfadd(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let key = &args[1];
    if let Some(updated) = add_to_dense_in_place(node, key, &args[2..]) {
        if updated {
            propagate(node, args.to_vec());
        }
        return Reply::Integer(i64::from(updated));
    }
    let (mut s, mut updated) =
        match lookup_write(node, key).map(|e| e.value().as_string().map(<[u8]>::to_vec)) {
            None => (new_hll(), true),
            Some(None) => return Reply::wrong_type(),
            Some(Some(s)) if is_hll(&s) => (s, false),
            Some(Some(_)) => return not_hll(),
        };
    let max_bytes = sparse_max_bytes(node);
    for element in &args[2..] {
        let (index, rank) = dense::register_and_rank(element);
        match raise(&mut s, index, rank, max_bytes) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => return corrupt(),
        }
    }
    if !updated {
        mark_raw(node, key);
        return Reply::Integer(0);
    }
    s[15] |= STALE_CACHE;
    store(node, key, &s);
    propagate(node, args.to_vec());
    Reply::Integer(1)
}

/// PFADD to a dense HLL, whose length never changes: its registers are raised where the
/// keyspace holds them, without copying the 12 KB. `None` when the key is anything else.
fn add_to_dense_in_place(node: &mut Node, key: &[u8], elements: &[Bytes]) -> Option<bool> {
    let mut entry = lookup_write(node, key)?;
    let s = entry.string_mut()?;
    if !is_hll(s) || s[4] != DENSE {
        return None;
    }
    let mut updated = false;
    for element in elements {
        let (index, rank) = dense::register_and_rank(element);
        updated |= dense::raise(&mut s[HEADER_BYTES..], index, rank);
    }
    if updated {
        s[15] |= STALE_CACHE;
    }
    entry.mark_raw_string();
    Some(updated)
}

/// Adds each register of an HLL into `max` (one byte per register).
fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    let body = &s[HEADER_BYTES..];
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense::get(body, i));
        }
        return Ok(());
    }
    sparse::for_each_run(body, |first, len, value| {
        for m in &mut max[first..first + len] {
            *m = (*m).max(value);
        }
    })
}

/// The estimate over registers held one per byte.
fn count_registers(max: &[u8]) -> u64 {
    let mut histogram = [0u32; 64];
    for r in max {
        histogram[usize::from(*r) & 63] += 1;
    }
    dense::estimate(&histogram)
}

/// The estimate of one HLL string.
fn count_hll(s: &[u8]) -> Result<u64, Corrupt> {
    let mut registers = vec![0u8; REGISTERS];
    merge_into(&mut registers, s)?;
    Ok(count_registers(&registers))
}

/// PFCOUNT `key [key …]`. One key answers its cached cardinality, refreshing a stale cache
/// (a change to the string Redis propagates as the PFCOUNT itself); several keys answer the
/// estimate of their union and change nothing.
fn pfcount(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        let mut max = vec![0u8; REGISTERS];
        for key in &args[1..] {
            match read_hll(node, key) {
                Ok(None) => {}
                Ok(Some(s)) => {
                    if merge_into(&mut max, &s).is_err() {
                        return corrupt();
                    }
                }
                Err(e) => return e,
            }
        }
        return Reply::Integer(count_registers(&max) as i64);
    }
    let key = &args[1];
    // Counted where the keyspace holds the string; only a refreshed cache is written back.
    let (card, stale) = match lookup_read(node, key) {
        None => return Reply::Integer(0),
        Some(entry) => match entry.value.as_string() {
            None => return Reply::wrong_type(),
            Some(s) if !is_hll(s) => return not_hll(),
            Some(s) if s[15] & STALE_CACHE == 0 => {
                let cached = u64::from_le_bytes(s[8..16].try_into().expect("8 bytes"));
                (Ok(cached), false)
            }
            Some(s) => (count_hll(s), true),
        },
    };
    let mut entry = lookup_write(node, key).expect("just read");
    entry.mark_raw_string();
    let Ok(card) = card else {
        return corrupt();
    };
    if !stale {
        return Reply::Integer(card as i64);
    }
    if let Some(s) = entry.string_mut() {
        s[8..16].copy_from_slice(&card.to_le_bytes());
    }
    // A replica (READONLY clients read there) refreshes its own copy only: its offset follows
    // its master's stream, and Redis's replicas feed no stream of their own either.
    if !node.cluster.me().is_replica() {
        propagate(node, args.to_vec());
    }
    Reply::Integer(card as i64)
}

/// PFMERGE `destkey [sourcekey …]`: the union of the sources (the destination included)
/// into the destination, dense if any input was dense.
fn pfmerge(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        match read_hll(node, key) {
            Ok(None) => {}
            Ok(Some(s)) => {
                use_dense |= s[4] == DENSE;
                if merge_into(&mut max, &s).is_err() {
                    return corrupt();
                }
            }
            Err(e) => return e,
        }
    }
    let dest = &args[1];
    let existing = lookup_write(node, dest).and_then(|e| e.value().as_string().map(<[u8]>::to_vec));
    let mut s = existing.unwrap_or_else(new_hll);
    if use_dense && s[4] == SPARSE {
        match sparse::to_dense(&s) {
            Ok(dense) => s = dense,
            Err(Corrupt) => return corrupt(),
        }
    }
    let max_bytes = sparse_max_bytes(node);
    for (index, rank) in max.iter().enumerate().filter(|(_, r)| **r > 0) {
        if raise(&mut s, index, *rank, max_bytes).is_err() {
            return corrupt();
        }
    }
    s[15] |= STALE_CACHE;
    store(node, dest, &s);
    propagate(node, args.to_vec());
    Reply::ok()
}

#[cfg(test)]
mod tests;
