//! The size of Redis's radix trees keyed by stream IDs (the stream's nodes, the pending
//! entries lists), which `XINFO STREAM` and `MEMORY USAGE` report: rax compresses runs of
//! single-child levels into one node, so the count follows from the keys alone.

use super::StreamId;

/// Nodes of Redis's radix tree over `ids` as 16-byte keys (sorted), in its compressed form: a run of
/// single-child levels is one node, a fork is one node, each key ends in an empty node.
pub fn radix_tree_nodes(ids: impl Iterator<Item = StreamId>) -> usize {
    let keys: Vec<[u8; 16]> = ids.map(key_bytes).collect();
    if keys.is_empty() {
        return 1;
    }
    subtree_nodes(&keys, 0)
}

fn key_bytes(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

/// Rax nodes below the point `depth` bytes into `keys` (sorted, distinct, sharing those bytes).
fn subtree_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    if first[depth] == last[depth] {
        // One child: a compressed node down to where the keys fork (or end).
        let shared = (depth..16).take_while(|&d| first[d] == last[d]).count();
        return 1 + subtree_nodes(keys, depth + shared);
    }
    let mut total = 1;
    let mut start = 0;
    while start < keys.len() {
        let byte = keys[start][depth];
        let end = start
            + keys[start..]
                .iter()
                .take_while(|k| k[depth] == byte)
                .count();
        total += subtree_nodes(&keys[start..end], depth + 1);
        start = end;
    }
    total
}
