//! Cluster node IDs: 40 lowercase hex characters, drawn from the node's seeded rng.

use rand::RngCore;
use std::fmt;

/// Length of a node ID in characters.
pub const NODE_ID_LEN: usize = 40;

/// A node's 40-character hex name. Stored inline so it is `Copy` and cheap to hash.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NODE_ID_LEN]);

impl NodeId {
    /// A fresh random ID from the given rng (the node's seeded ChaCha, so a seed fixes IDs).
    pub fn random(rng: &mut impl RngCore) -> NodeId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut raw = [0u8; NODE_ID_LEN / 2];
        rng.fill_bytes(&mut raw);
        let mut id = [0u8; NODE_ID_LEN];
        for (i, b) in raw.iter().enumerate() {
            id[2 * i] = HEX[(b >> 4) as usize];
            id[2 * i + 1] = HEX[(b & 15) as usize];
        }
        NodeId(id)
    }

    /// Parses an exact 40-character hex ID (either case is accepted, stored lowercase).
    pub fn parse(text: &[u8]) -> Option<NodeId> {
        if text.len() != NODE_ID_LEN || !text.iter().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; NODE_ID_LEN];
        for (dst, src) in id.iter_mut().zip(text) {
            *dst = src.to_ascii_lowercase();
        }
        Some(NodeId(id))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII hex digits.
        std::str::from_utf8(&self.0).expect("node id is ascii")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &self.as_str()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_ids_are_hex_and_seeded() {
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let id = NodeId::random(&mut a);
        assert_eq!(id, NodeId::random(&mut b));
        assert_eq!(NodeId::parse(id.as_str().as_bytes()), Some(id));
        assert!(NodeId::parse(b"xyz").is_none());
    }
}
