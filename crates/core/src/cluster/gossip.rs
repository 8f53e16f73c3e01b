//! Cluster bus protocol: handshake, PING/PONG/MEET gossip, FAIL, UPDATE and the 100 ms cron.

use crate::bus::Message;
use crate::node::{LinkId, Node};

impl Node {
    pub(crate) fn cluster_link_accepted(&mut self, peer_ip: String, local_ip: String) -> LinkId {
        let _ = (peer_ip, local_ip);
        todo!()
    }
    pub(crate) fn cluster_link_connected(&mut self, link: LinkId) {
        let _ = link;
    }
    pub(crate) fn cluster_link_closed(&mut self, link: LinkId) {
        let _ = link;
    }
    pub(crate) fn cluster_message(&mut self, link: LinkId, msg: Message) {
        let _ = (link, msg);
    }
    pub(crate) fn cluster_cron(&mut self) {}
}
