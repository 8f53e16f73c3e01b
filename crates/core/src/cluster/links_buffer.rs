//! Bus links' buffers and `cluster-link-sendbuf-limit`. The driver holds the bytes (the core
//! does no I/O), so it reports each link's buffer sizes every cron tick; the core keeps the
//! latest report for `CLUSTER LINKS` and `INFO memory`, and frees a link whose send buffer
//! passed the limit, as Redis's cron does for a peer that stopped reading (the cron then
//! reconnects the outbound side). Each such freeing counts in `CLUSTER INFO`'s
//! `total_cluster_links_buffer_limit_exceeded`.

use crate::cluster::{Cluster, ClusterBus};
use crate::node::{LinkId, LogLevel};

/// What one link costs besides its buffers, for `mem_cluster_links`: our own estimate of the
/// driver's per-link bookkeeping (Redis counts its `clusterLink` struct there).
pub const LINK_OVERHEAD_BYTES: u64 = 256;

/// A link's buffers as the driver last reported them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkBufferSizes {
    /// Bytes queued for the peer and not yet written to the socket.
    pub send_used_bytes: u64,
    /// Memory the send side holds (at least what is queued).
    pub send_allocated_bytes: u64,
    /// Memory the receive side holds.
    pub receive_allocated_bytes: u64,
}

/// The limit and how often it freed a link.
#[derive(Debug)]
pub(crate) struct LinkBuffers {
    /// 0 = no limit.
    limit_bytes: u64,
    limit_exceeded: u64,
}

impl LinkBuffers {
    pub(crate) fn new(limit_bytes: u64) -> LinkBuffers {
        LinkBuffers {
            limit_bytes,
            limit_exceeded: 0,
        }
    }

    pub(crate) fn set_limit(&mut self, limit_bytes: u64) {
        self.limit_bytes = limit_bytes;
    }
}

impl Cluster {
    /// Links freed for passing `cluster-link-sendbuf-limit` since start-up.
    pub fn links_buffer_limit_exceeded(&self) -> u64 {
        self.link_buffers.limit_exceeded
    }

    /// `mem_cluster_links`: every link's bookkeeping and buffers.
    pub fn links_memory_bytes(&self) -> u64 {
        self.links
            .values()
            .map(|l| {
                let b = l.buffers;
                LINK_OVERHEAD_BYTES + b.send_allocated_bytes + b.receive_allocated_bytes
            })
            .sum()
    }
}

impl ClusterBus<'_> {
    /// The driver's report of link buffers; links it names that are gone are skipped.
    pub(crate) fn on_link_buffers(&mut self, reports: &[(LinkId, LinkBufferSizes)]) {
        for &(link, sizes) in reports {
            assert!(
                sizes.send_allocated_bytes >= sizes.send_used_bytes,
                "link {link}: more queued than held"
            );
            if let Some(l) = self.cluster.links.get_mut(&link) {
                l.buffers = sizes;
            }
        }
        self.free_links_over_limit();
    }

    /// Frees every link to a known node whose send buffer holds more than the limit.
    fn free_links_over_limit(&mut self) {
        let limit = self.cluster.link_buffers.limit_bytes;
        if limit == 0 {
            return;
        }
        let over: Vec<LinkId> = self
            .cluster
            .links
            .iter()
            .filter(|(_, l)| l.node.is_some() && l.buffers.send_allocated_bytes > limit)
            .map(|(&id, _)| id)
            .collect();
        for link in over {
            let l = &self.cluster.links[&link];
            let node = l.node.expect("filtered on a known node");
            let direction = if l.outbound { "to" } else { "from" };
            let text = format!(
                "Freeing cluster link({direction} node {node}, used memory: {}) due to \
                 exceeding send buffer memory limit.",
                l.buffers.send_allocated_bytes
            );
            self.out.log(LogLevel::Warning, text);
            self.close_link(link);
            self.cluster.link_buffers.limit_exceeded += 1;
            assert!(!self.cluster.links.contains_key(&link), "freed link {link}");
        }
    }
}
