//! `MEMORY`: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP.
//!
//! `MEMORY USAGE` answers what redis-server 7.0 (with jemalloc) would report for the same key
//! and value, from a model of Redis's structures rather than our own (which are packed
//! differently): the key's sds and its 24-byte dict entry, the 16-byte object, and per
//! encoding the listpack, intset, quicklist node or hash-table sizes, each allocation rounded
//! up to jemalloc's size class. Listpacks and intsets are sized exactly (built with the
//! encoder DUMP uses); hash tables assume a finished rehash and skiplist nodes of one level,
//! so those can differ from Redis by a few bytes per element. `SAMPLES` works as in Redis:
//! that many elements (or quicklist nodes) are measured and the rest extrapolated; 0 = all.

use bytes::Bytes;

use super::{help_reply, run_subcommand, MEMORY_SUBCOMMANDS};
use crate::cmd::dump::listpack::ListpackWriter;
use crate::cmd::{is, parse_i64};
use crate::db::List;
use crate::db::{ValueRef, PER_KEY_OVERHEAD_BYTES};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

const ROBJ: usize = 16;
pub(crate) const DICT_ENTRY: usize = 24;
const DICT: usize = 56;
const QUICKLIST: usize = 40;
const QUICKLIST_NODE: usize = 40;
/// A quicklist node's listpack stays within 8 KB (`list-max-listpack-size -2`).
const QUICKLIST_NODE_MAX_BYTES: usize = 8 * 1024;
const ZSET: usize = 16;
const ZSKIPLIST: usize = 32;
/// The skiplist header node has 32 levels.
const ZSKIPLIST_HEADER: usize = 24 + 32 * 16;
/// A skiplist node with one level.
const ZSKIPLIST_NODE: usize = 24 + 16;
/// Redis's default `SAMPLES`.
const SAMPLES_DEFAULT: usize = 5;
/// Redis stores strings up to this long with their object (`embstr`).
const EMBSTR_MAX_BYTES: usize = 44;

pub(super) fn memory(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    run_subcommand(node, client, args, "MEMORY", MEMORY_SUBCOMMANDS)
}

/// `MEMORY USAGE key [SAMPLES count]`.
pub(super) fn memory_usage(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let mut samples = SAMPLES_DEFAULT;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            match parse_i64(&args[i + 1]) {
                Some(n) if n < 0 => return Reply::syntax_error(),
                Some(0) => samples = usize::MAX,
                Some(n) => samples = n as usize,
                None => return Reply::not_integer(),
            }
            i += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let Some(entry) = node.db.get(&args[2], node.now.unix_ms) else {
        return Reply::Nil;
    };
    let raw = node.db.is_raw_string(&args[2]);
    let value = value_bytes(entry.value, raw, samples);
    Reply::Integer((value + sds(args[2].len()) + DICT_ENTRY) as i64)
}

/// jemalloc's size class for an allocation of `n` bytes.
pub(crate) fn jemalloc_size(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    // Four classes per doubling: 160, 192, 224, 256, 320, …
    let group = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
    let step = group / 4;
    n.div_ceil(step) * step
}

/// An sds string's allocation: header (by length), bytes, terminator.
pub(crate) fn sds(len: usize) -> usize {
    let header = match len {
        0..32 => 1,
        32..256 => 3,
        256..65536 => 5,
        _ => 9,
    };
    jemalloc_size(header + len + 1)
}

/// A raw string's sds: never the 1-byte header of short keys.
fn sds_raw(len: usize) -> usize {
    let header = match len {
        0..256 => 3,
        256..65536 => 5,
        _ => 9,
    };
    jemalloc_size(header + len + 1)
}

fn value_bytes(value: ValueRef<'_>, raw: bool, samples: usize) -> usize {
    match value {
        ValueRef::String(_) if !raw && value.encoding() == "int" => ROBJ,
        // embstr: object, 3-byte sds header, bytes and terminator in one allocation.
        ValueRef::String(s) if !raw && s.len() <= EMBSTR_MAX_BYTES => {
            jemalloc_size(ROBJ + 3 + s.len() + 1)
        }
        // raw: the object, and an sds with at least an 8-bit header.
        ValueRef::String(s) => ROBJ + sds_raw(s.len()),
        ValueRef::List(l) => ROBJ + QUICKLIST + quicklist_nodes(l, samples),
        ValueRef::Hash(h) if h.is_listpack() => ROBJ + listpack(h.iter().flat_map(|(f, v)| [f, v])),
        ValueRef::Hash(h) => {
            let per = h
                .iter()
                .map(|(f, v)| DICT_ENTRY + sds(f.len()) + sds(v.len()));
            ROBJ + hashtable(h.len()) + extrapolate(per, h.len(), samples)
        }
        ValueRef::Set(s) if s.is_intset() => ROBJ + intset(s.iter()),
        ValueRef::Set(s) => {
            let per = s.iter().map(|m| DICT_ENTRY + sds(m.len()));
            ROBJ + hashtable(s.len()) + extrapolate(per, s.len(), samples)
        }
        ValueRef::ZSet(z) if z.is_listpack() => {
            let texts: Vec<(&[u8], String)> = z.iter().map(|(m, s)| (m, score_text(s))).collect();
            ROBJ + listpack(texts.iter().flat_map(|(m, s)| [*m, s.as_bytes()]))
        }
        ValueRef::ZSet(z) => {
            // Only the sampled members are visited: this also prices each write
            // (`dataset_value_bytes`).
            let per = z
                .iter()
                .map(|(m, _)| sds(m.len()) + DICT_ENTRY + jemalloc_size(ZSKIPLIST_NODE));
            ROBJ + ZSET
                + ZSKIPLIST
                + hashtable(z.len())
                + jemalloc_size(ZSKIPLIST_HEADER)
                + extrapolate(per, z.len(), samples)
        }
        ValueRef::Stream(stream) => ROBJ + stream_bytes(stream, samples),
    }
}

/// Redis's estimate for a stream (`objectComputeSize`): its struct, the radix tree (16 bytes
/// per key, a 4-byte header and 30 words per tree node), the listpacks as allocated (see
/// `StreamNode::alloc_bytes`), the first `samples` of them averaged for all but the tail, and
/// the groups' pending entries lists and consumers.
fn stream_bytes(stream: &crate::db::Stream, samples: usize) -> usize {
    const STREAM: usize = 80;
    let sizes: Vec<usize> = stream
        .nodes()
        .map(|(_, n)| jemalloc_size(n.alloc_bytes))
        .collect();
    let tail = sizes.last().copied().unwrap_or(0);
    let seen: Vec<usize> = sizes.iter().take(samples.max(1)).copied().collect();
    let listpacks = if sizes.len() <= seen.len() {
        seen.iter().sum()
    } else {
        seen.iter().sum::<usize>() / seen.len() * (sizes.len() - 1) + tail
    };
    let tree = rax_bytes(sizes.len(), stream.radix_tree_nodes());
    STREAM + tree + listpacks + groups_bytes(stream)
}

/// Redis's `streamRadixTreeMemoryUsage`.
fn rax_bytes(keys: usize, nodes: usize) -> usize {
    keys * 16 + nodes * (4 + 8 * 30)
}

fn groups_bytes(stream: &crate::db::Stream) -> usize {
    const GROUP: usize = 40;
    const NACK: usize = 24;
    const CONSUMER: usize = 24;
    let pel = |ids: Vec<crate::db::stream::StreamId>| {
        let nodes = crate::db::stream::radix_tree_nodes(ids.iter().copied());
        rax_bytes(ids.len(), nodes)
    };
    let mut total = 0;
    for group in stream.groups.values() {
        total += GROUP + pel(group.pending.keys().copied().collect());
        total += NACK * group.pending.len();
        for (name, consumer) in &group.consumers {
            total += CONSUMER + name.len() + pel(consumer.pending.iter().copied().collect());
        }
    }
    total
}

/// What one stored value costs Redis, for the keyspace's running `used_memory` estimate
/// (`Db`): the `MEMORY USAGE` model with its default sampling, except that a list is priced
/// from its packed size (whose walk costs its chunks, not its elements), since this runs
/// after every write to a value.
pub(crate) fn dataset_value_bytes(value: ValueRef<'_>, raw: bool) -> usize {
    match value {
        ValueRef::List(l) => {
            let data_bytes = l.memory_bytes();
            let nodes = data_bytes.div_ceil(QUICKLIST_NODE_MAX_BYTES).max(1);
            ROBJ + QUICKLIST + nodes * QUICKLIST_NODE + data_bytes
        }
        _ => value_bytes(value, raw, SAMPLES_DEFAULT),
    }
}

/// The first `samples` sizes, averaged and scaled to `len` items.
fn extrapolate(sizes: impl Iterator<Item = usize>, len: usize, samples: usize) -> usize {
    let (mut total, mut seen) = (0usize, 0usize);
    for size in sizes.take(samples) {
        total += size;
        seen += 1;
    }
    if seen == 0 {
        0
    } else {
        (total as f64 / seen as f64 * len as f64) as usize
    }
}

/// A dict with `len` entries after its rehash: the struct and one pointer per slot (at least
/// 4, a power of two, grown when full).
pub(crate) fn hashtable(len: usize) -> usize {
    DICT + 8 * len.next_power_of_two().max(4)
}

fn listpack<'a>(items: impl Iterator<Item = &'a [u8]>) -> usize {
    let mut lp = ListpackWriter::new();
    for item in items {
        lp.push(item);
    }
    jemalloc_size(lp.len_bytes())
}

/// Header (width, count) and the integers at the width the widest needs.
fn intset<'a>(members: impl Iterator<Item = &'a [u8]>) -> usize {
    let (mut width, mut count) = (2, 0);
    for m in members {
        let n = parse_i64(m).unwrap_or(i64::MAX);
        let w = if i16::try_from(n).is_ok() {
            2
        } else if i32::try_from(n).is_ok() {
            4
        } else {
            8
        };
        width = width.max(w);
        count += 1;
    }
    jemalloc_size(8 + width * count)
}

/// Quicklist nodes as Redis fills them (each listpack within 8 KB); the first `samples` are
/// measured and the rest extrapolated.
fn quicklist_nodes(list: &List, samples: usize) -> usize {
    let nodes = quicklist_node_bytes(list);
    let count = nodes.len();
    let per = nodes.into_iter().map(|b| QUICKLIST_NODE + jemalloc_size(b));
    extrapolate(per, count, samples)
}

/// The listpack size of each quicklist node Redis would fill from `list`, first to last.
pub(super) fn quicklist_node_bytes(list: &List) -> Vec<usize> {
    let mut nodes: Vec<usize> = Vec::new();
    let mut node = ListpackWriter::new();
    for item in list.iter() {
        if node.count() > 0 && !crate::cmd::dump::quicklist_node_takes(node.len_bytes(), item.len())
        {
            nodes.push(node.len_bytes());
            node = ListpackWriter::new();
        }
        node.push(item);
    }
    if node.count() > 0 {
        nodes.push(node.len_bytes());
    }
    nodes
}

/// A score as a sorted-set listpack holds it: integral scores as integers.
fn score_text(score: f64) -> String {
    if score == score.trunc() && score.abs() < 1e17 {
        format!("{}", score as i64)
    } else {
        format!("{score}")
    }
}

/// `MEMORY STATS`: Redis's fields, from this node's estimates (see `INFO memory`).
pub(super) fn memory_stats(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let keys = node.db.len() as i64;
    let dataset = node.db.used_memory_estimate() as i64;
    let overhead = keys * PER_KEY_OVERHEAD_BYTES as i64;
    let total = super::info::BASE_MEMORY_BYTES as i64 + dataset;
    let int = |k: &str, v: i64| (Reply::bulk_str(k), Reply::Integer(v));
    let dbl = |k: &str, v: f64| (Reply::bulk_str(k), Reply::Double(v));
    let per_key = if keys == 0 {
        0
    } else {
        (total - super::info::BASE_MEMORY_BYTES as i64) / keys
    };
    let mut fields = vec![
        int("peak.allocated", total),
        int("total.allocated", total),
        int("startup.allocated", super::info::BASE_MEMORY_BYTES as i64),
        int("replication.backlog", 0),
        int("clients.slaves", 0),
        int("clients.normal", 0),
        int("cluster.links", node.cluster.links_memory_bytes() as i64),
        int("aof.buffer", 0),
        int("lua.caches", 0),
        int("functions.caches", 0),
    ];
    if keys > 0 {
        let db = Reply::Map(vec![
            int("overhead.hashtable.main", overhead),
            int("overhead.hashtable.expires", 0),
            int("overhead.hashtable.slot-to-keys", 0),
        ]);
        fields.push((Reply::bulk_str("db.0"), db));
    }
    fields.extend([
        int(
            "overhead.total",
            super::info::BASE_MEMORY_BYTES as i64 + overhead,
        ),
        int("keys.count", keys),
        int("keys.bytes-per-key", per_key),
        int("dataset.bytes", dataset - overhead),
        dbl("dataset.percentage", percent(dataset - overhead, total)),
        dbl("peak.percentage", 100.0),
        int("allocator.allocated", total),
        int("allocator.active", total),
        int("allocator.resident", total),
        dbl("allocator-fragmentation.ratio", 1.0),
        int("allocator-fragmentation.bytes", 0),
        dbl("allocator-rss.ratio", 1.0),
        int("allocator-rss.bytes", 0),
        dbl("rss-overhead.ratio", 1.0),
        int("rss-overhead.bytes", 0),
        dbl("fragmentation", 1.0),
        int("fragmentation.bytes", 0),
    ]);
    Reply::Map(fields)
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A short report of our own (Redis's is prose of its own).
pub(super) fn memory_doctor(node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    let text = format!(
        "{} keys take an estimated {} bytes; this node keeps no allocator of its own to \
         diagnose (no fragmentation, no peak above the current use).\n",
        node.db.len(),
        node.db.used_memory_estimate()
    );
    Reply::Verbatim("txt", text)
}

/// What Redis answers when built without jemalloc.
pub(super) fn memory_malloc_stats(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::Verbatim(
        "txt",
        "Stats not supported for the current allocator".into(),
    )
}

pub(super) fn memory_purge(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    Reply::ok()
}

pub(super) fn memory_help(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    help_reply(
        "MEMORY",
        &[
            ("DOCTOR", "A short report on memory use."),
            (
                "MALLOC-STATS",
                "Allocator statistics (none: no jemalloc here).",
            ),
            (
                "PURGE",
                "Give free pages back to the system (nothing to do here).",
            ),
            ("STATS", "Memory use by area, Redis's fields."),
            (
                "USAGE <key> [SAMPLES <count>]",
                "Bytes redis-server would use for <key> and its value; <count> elements are \
                 measured (default 5, 0 for all).",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::server::testing::*;

    fn usage(n: &mut Node, c: ClientId, key: &str) -> Reply {
        run(n, c, &format!("memory usage {key} samples 0"))
    }

    #[test]
    fn jemalloc_classes() {
        let classes: Vec<usize> = [1, 8, 9, 17, 21, 33, 100, 129, 161, 300, 1006, 1025]
            .iter()
            .map(|&n| jemalloc_size(n))
            .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 32, 32, 48, 112, 160, 192, 320, 1024, 1280]
        );
    }

    /// Each expected value is what redis-server 7.0.15 answered for the same commands.
    #[test]
    fn usage_matches_redis_server() {
        let (mut n, c) = node_with(Config::default());
        let x = |len: usize| "x".repeat(len);
        run(&mut n, c, "set k v");
        run(&mut n, c, "set n 123");
        run(
            &mut n,
            c,
            &format!("set longkey_abcdefghijklmnop {}", x(40)),
        );
        run(&mut n, c, &format!("set big {}", x(100)));
        run(&mut n, c, &format!("set big2 {}", x(1000)));
        run(&mut n, c, "hset h2 f1 v1 f2 v2");
        let fields: Vec<String> = (1..=10).map(|i| format!("f{i} v{i}")).collect();
        run(&mut n, c, &format!("hset h10 {}", fields.join(" ")));
        let ints: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
        run(&mut n, c, &format!("sadd si100 {}", ints.join(" ")));
        run(&mut n, c, "sadd ss3 m1 m2 m3");
        run(
            &mut n,
            c,
            &format!(
                "rpush l200 {}",
                (1..=200)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
        let ints: Vec<String> = (1..=3000).map(|i| i.to_string()).collect();
        run(&mut n, c, &format!("rpush l3000 {}", ints.join(" ")));
        for (key, bytes) in [
            ("k", 64),
            ("n", 48),
            ("longkey_abcdefghijklmnop", 120),
            ("big", 160),
            ("big2", 1072),
            ("h2", 80),
            ("h10", 144),
            ("si100", 272),
            ("ss3", 232),
            ("l200", 640),
            ("l3000", 9128),
        ] {
            assert_eq!(usage(&mut n, c, key), Reply::Integer(bytes), "{key}");
        }
        assert_eq!(run(&mut n, c, "memory usage nosuch"), Reply::Nil);
        assert_eq!(run(&mut n, c, "memory usage k"), Reply::Integer(64));
        assert_eq!(
            run(&mut n, c, "memory usage k samples x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut n, c, "memory usage k samples -1"),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut n, c, "memory usage k foo"),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut n, c, "memory usage"),
            err("ERR wrong number of arguments for 'memory|usage' command")
        );
    }

    #[test]
    fn other_subcommands() {
        let (mut n, c) = node_with(Config::default());
        assert_eq!(run(&mut n, c, "memory purge"), Reply::ok());
        assert_eq!(
            run(&mut n, c, "memory malloc-stats"),
            Reply::Verbatim(
                "txt",
                "Stats not supported for the current allocator".into()
            )
        );
        run(&mut n, c, "set k v");
        let Reply::Map(stats) = run(&mut n, c, "memory stats") else {
            panic!("map")
        };
        let keys = stats.iter().find(|(k, _)| *k == bulk("keys.count"));
        assert_eq!(keys.map(|kv| &kv.1), Some(&Reply::Integer(1)));
        assert_eq!(stats[0].0, bulk("peak.allocated"));
        assert_eq!(stats[10].0, bulk("db.0"));
        let Reply::Array(help) = run(&mut n, c, "memory help") else {
            panic!("help")
        };
        assert_eq!(help[1], Reply::simple("DOCTOR"));
    }
}
