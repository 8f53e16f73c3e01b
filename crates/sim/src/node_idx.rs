//! One way to name a simulated node: its 0-based index, from which its trace name (`node1`,
//! …), its virtual IP (`10.0.0.1`, …) and its client port (`7001`, …) all follow.
//!
//! Everything in the harness that turns a name or an address back into a node goes through
//! [`NodeIdx`], so the addressing scheme lives in one place.

use std::fmt;
use std::net::Ipv4Addr;

/// Client port of the first node's predecessor: node index `i` listens on
/// `BASE_PORT + i + 1`.
pub const BASE_PORT: u16 = 7000;
/// The last octet of the client machine's IP; nodes use `1..CLIENT_OCTET`.
pub const CLIENT_OCTET: u8 = 100;

/// A node's position in the simulated cluster (0-based).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub usize);

impl NodeIdx {
    /// `node1` for index 0: the name the trace and the timeline use.
    pub fn name(self) -> String {
        format!("node{}", self.0 + 1)
    }

    /// `10.0.0.1` for index 0.
    pub fn ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, self.octet())
    }

    /// `7001` for index 0.
    pub fn port(self) -> u16 {
        BASE_PORT + u16::from(self.octet())
    }

    /// `10.0.0.1:7001` for index 0.
    pub fn addr(self) -> String {
        format!("{}:{}", self.ip(), self.port())
    }

    fn octet(self) -> u8 {
        let octet = u8::try_from(self.0 + 1).expect("node index fits an IPv4 octet");
        assert!(octet < CLIENT_OCTET, "node index {} too large", self.0);
        octet
    }

    /// The node a trace name (`nodeN`, N ≥ 1) stands for.
    pub fn from_name(name: &str) -> Option<NodeIdx> {
        let digits = name.strip_prefix("node")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(NodeIdx(digits.parse::<usize>().ok()?.checked_sub(1)?))
    }

    /// The node listening at `10.0.0.N[:port]` (`None` for the client machine and anything
    /// else).
    pub fn from_addr(addr: &str) -> Option<NodeIdx> {
        let ip = addr.split(':').next()?;
        let octet: u8 = ip.strip_prefix("10.0.0.")?.parse().ok()?;
        (1..CLIENT_OCTET)
            .contains(&octet)
            .then(|| NodeIdx(usize::from(octet) - 1))
    }
}

impl fmt::Display for NodeIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_round_trip() {
        let third = NodeIdx(2);
        assert_eq!(third.name(), "node3");
        assert_eq!(third.to_string(), "node3");
        assert_eq!(third.addr(), "10.0.0.3:7003");
        assert_eq!(NodeIdx::from_name("node3"), Some(third));
        assert_eq!(NodeIdx::from_addr("10.0.0.3:7003"), Some(third));
        assert_eq!(NodeIdx::from_addr("10.0.0.3"), Some(third));
    }

    #[test]
    fn other_names_and_addresses_are_no_node() {
        for name in [
            "node", "node0", "nodex", "node1a", "writer", "harness", "xnode1",
        ] {
            assert_eq!(NodeIdx::from_name(name), None, "{name}");
        }
        for addr in ["10.0.0.100:1", "10.0.0.0:7000", "10.0.1.1:7001", "x", ""] {
            assert_eq!(NodeIdx::from_addr(addr), None, "{addr}");
        }
    }
}
