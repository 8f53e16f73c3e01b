//! The node's side of Pub/Sub: delivering a published message to this node's subscribers
//! (from a client's PUBLISH/SPUBLISH or from a peer over the bus), the RESP2 subscribed
//! context, and telling shard subscribers when this node stops serving their slot.

use bytes::Bytes;

use super::{ClientId, Effect, Node};
use crate::bus::{Body, Message, MessageType};
use crate::cmd::CommandSpec;
use crate::node_id::NodeId;
use crate::pubsub::Kind;
use crate::reply::Reply;
use crate::slot::key_hash_slot;

/// What a RESP2 client with subscriptions may still send.
const ALLOWED_WHILE_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

impl Node {
    /// Pushes `message` to every subscriber here; returns how many deliveries were made.
    /// `kind` says which namespace: `Publish` (channels and patterns) or `PublishShard`.
    pub(crate) fn deliver_published(
        &mut self,
        kind: MessageType,
        channel: &Bytes,
        message: &Bytes,
    ) -> usize {
        let deliveries: Vec<(ClientId, Vec<Reply>)> = if kind == MessageType::PublishShard {
            self.pubsub
                .shard_receivers(channel)
                .into_iter()
                .map(|client| {
                    let items = vec![
                        Reply::bulk_str("smessage"),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ];
                    (client, items)
                })
                .collect()
        } else {
            self.pubsub
                .receivers(channel)
                .into_iter()
                .map(|r| {
                    let items = match r.pattern {
                        None => vec![
                            Reply::bulk_str("message"),
                            Reply::Bulk(channel.clone()),
                            Reply::Bulk(message.clone()),
                        ],
                        Some(pattern) => vec![
                            Reply::bulk_str("pmessage"),
                            Reply::Bulk(pattern),
                            Reply::Bulk(channel.clone()),
                            Reply::Bulk(message.clone()),
                        ],
                    };
                    (r.client, items)
                })
                .collect()
        };
        let count = deliveries.len();
        for (client, items) in deliveries {
            self.out.push(Effect::ClientPush { client, items });
        }
        count
    }

    /// A PUBLISH or PUBLISHSHARD from a peer: delivered here only (never forwarded), and only
    /// from a node we know, as Redis ignores it from strangers.
    pub(super) fn on_published_message(&mut self, msg: &Message) -> bool {
        let (MessageType::Publish | MessageType::PublishShard, Body::Publish { channel, message }) =
            (msg.header.kind, &msg.body)
        else {
            return false;
        };
        let known = self
            .cluster
            .nodes
            .get(&msg.header.sender)
            .is_some_and(|n| !n.in_handshake());
        if known {
            self.deliver_published(msg.header.kind, channel, message);
        }
        true
    }

    /// RESP2 lets a client with subscriptions send only (un)subscribe commands, PING, QUIT
    /// and RESET; RESP3 clients may send anything.
    pub(super) fn refused_while_subscribed(
        &self,
        client: ClientId,
        spec: &CommandSpec,
    ) -> Option<Reply> {
        let limited = self.client_protocol(client) == 2 && self.pubsub.is_subscribed(client);
        if !limited || ALLOWED_WHILE_SUBSCRIBED.contains(&spec.name) {
            return None;
        }
        Some(Reply::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
             are allowed in this context",
            spec.name
        )))
    }

    /// Shard subscribers of channels in slots this node no longer serves (the slot moved, or
    /// its master changed under this replica) are unsubscribed and told so with a
    /// `sunsubscribe` push, as Redis does when it deletes a slot.
    pub(crate) fn drop_unserved_shard_channels(&mut self) {
        if !self.config.cluster_enabled {
            return;
        }
        self.drop_shard_channels_where(|node, slot| !node.serves_slot(slot));
    }

    /// The owner, before a bus message, of each slot this node serves that has shard
    /// subscribers here; [`Node::drop_shard_channels_of_replaced_owners`] compares after it.
    pub(super) fn served_shard_slot_owners(&self) -> Vec<(u16, NodeId)> {
        if !self.config.cluster_enabled {
            return Vec::new();
        }
        let mut owners: Vec<(u16, NodeId)> = self
            .pubsub
            .shard_channels_where(|_| true)
            .into_iter()
            .filter_map(|(channel, _)| {
                let slot = key_hash_slot(&channel);
                let owner = self.cluster.slot_owner(slot)?;
                self.serves_slot(slot).then_some((slot, owner))
            })
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// Redis's `clusterDelSlot` drops the shard channels of a slot taken from a node whose
    /// slots this node served (itself, or its master while it still replicated it), unless
    /// this node is the one taking it over. So a replica whose sibling was promoted tells its
    /// shard subscribers `sunsubscribe`, though it goes on serving the slot through the new
    /// master; the promoted replica keeps its own (it had left its master's replicas first).
    pub(super) fn drop_shard_channels_of_replaced_owners(&mut self, before: &[(u16, NodeId)]) {
        if before.is_empty() {
            return;
        }
        let me = self.cluster.me().id;
        let replaced: Vec<u16> = before
            .iter()
            .filter(|(slot, owner)| {
                let now = self.cluster.slot_owner(*slot);
                now != Some(*owner) && now != Some(me)
            })
            .map(|(slot, _)| *slot)
            .collect();
        self.drop_shard_channels_where(|_, slot| replaced.binary_search(&slot).is_ok());
    }

    /// Unsubscribes every shard subscriber of the channels whose slot `dropped` picks, each
    /// told with a `sunsubscribe` push carrying its remaining shard subscriptions.
    fn drop_shard_channels_where(&mut self, dropped: impl Fn(&Node, u16) -> bool) {
        let channels = self
            .pubsub
            .shard_channels_where(|channel| dropped(self, key_hash_slot(channel)));
        for (channel, clients) in channels {
            for client in clients {
                self.pubsub.unsubscribe(client, Kind::Shard, &channel);
                let count = self.pubsub.shard_count(client) as i64;
                let items = vec![
                    Reply::bulk_str("sunsubscribe"),
                    Reply::Bulk(channel.clone()),
                    Reply::Integer(count),
                ];
                self.out.push(Effect::ClientPush { client, items });
            }
            debug_assert!(self.pubsub.shard_receivers(&channel).is_empty());
        }
    }

    /// Whether the slot's data lives here: this node owns it, or replicates its owner.
    fn serves_slot(&self, slot: u16) -> bool {
        match self.cluster.slot_owner(slot) {
            Some(owner) => owner == self.cluster.me().id || self.cluster.replicates(owner),
            None => false,
        }
    }
}
