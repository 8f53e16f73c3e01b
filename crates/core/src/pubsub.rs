//! Who listens to what: channel, pattern and shard-channel subscriptions, both ways (a
//! channel's clients, a client's channels), so a publish finds its receivers and a client that
//! leaves is forgotten in one step.
//!
//! Everything is kept sorted, so a client's "unsubscribe from all" answers in a fixed order
//! (Redis walks a hash table; its order is not defined) and the simulator stays deterministic.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::effect::ClientId;
use crate::text::glob_match;

/// The three subscription namespaces.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Clone, Debug, Default)]
struct ClientSubs {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard: BTreeSet<Bytes>,
}

impl ClientSubs {
    fn of(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PubSub {
    channels: BTreeMap<Bytes, BTreeSet<ClientId>>,
    patterns: BTreeMap<Bytes, BTreeSet<ClientId>>,
    shard: BTreeMap<Bytes, BTreeSet<ClientId>>,
    by_client: BTreeMap<ClientId, ClientSubs>,
}

/// One delivery of a published message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receiver {
    pub client: ClientId,
    /// The pattern that matched (`pmessage`), `None` for a direct subscription.
    pub pattern: Option<Bytes>,
}

impl PubSub {
    fn index(&mut self, kind: Kind) -> &mut BTreeMap<Bytes, BTreeSet<ClientId>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Adds the subscription; false when the client already had it.
    pub fn subscribe(&mut self, client: ClientId, kind: Kind, name: &Bytes) -> bool {
        let added = self
            .by_client
            .entry(client)
            .or_default()
            .of(kind)
            .insert(name.clone());
        if added {
            self.index(kind)
                .entry(name.clone())
                .or_default()
                .insert(client);
        }
        added
    }

    /// Drops the subscription; false when the client did not have it.
    pub fn unsubscribe(&mut self, client: ClientId, kind: Kind, name: &[u8]) -> bool {
        let Some(subs) = self.by_client.get_mut(&client) else {
            return false;
        };
        if !subs.of(kind).remove(name) {
            return false;
        }
        let index = self.index(kind);
        if let Some(clients) = index.get_mut(name) {
            clients.remove(&client);
            if clients.is_empty() {
                index.remove(name);
            }
        }
        if self.by_client[&client].is_empty() {
            self.by_client.remove(&client);
        }
        true
    }

    /// The client's subscriptions of `kind`, sorted.
    pub fn names_of(&self, client: ClientId, kind: Kind) -> Vec<Bytes> {
        let Some(subs) = self.by_client.get(&client) else {
            return Vec::new();
        };
        let set = match kind {
            Kind::Channel => &subs.channels,
            Kind::Pattern => &subs.patterns,
            Kind::Shard => &subs.shard,
        };
        set.iter().cloned().collect()
    }

    /// What Redis counts in a (p)subscribe reply: channels plus patterns.
    pub fn count(&self, client: ClientId) -> usize {
        self.by_client
            .get(&client)
            .map_or(0, |s| s.channels.len() + s.patterns.len())
    }

    /// What Redis counts in an ssubscribe reply: shard channels.
    pub fn shard_count(&self, client: ClientId) -> usize {
        self.by_client.get(&client).map_or(0, |s| s.shard.len())
    }

    /// `(channels, patterns, shard channels)` of a client, for `CLIENT LIST`.
    pub fn counts(&self, client: ClientId) -> (usize, usize, usize) {
        self.by_client.get(&client).map_or((0, 0, 0), |s| {
            (s.channels.len(), s.patterns.len(), s.shard.len())
        })
    }

    /// Whether the client holds any subscription (RESP2 then limits what it may send).
    pub fn is_subscribed(&self, client: ClientId) -> bool {
        self.by_client.contains_key(&client)
    }

    /// Forgets a client that left.
    pub fn remove_client(&mut self, client: ClientId) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.names_of(client, kind) {
                self.unsubscribe(client, kind, &name);
            }
        }
    }

    /// Who gets a message on `channel`: direct subscribers first, then pattern matches (one
    /// delivery per matching pattern), as Redis delivers them.
    pub fn receivers(&self, channel: &[u8]) -> Vec<Receiver> {
        let direct = self.channels.get(channel).into_iter().flatten();
        let mut out: Vec<Receiver> = direct
            .map(|&client| Receiver {
                client,
                pattern: None,
            })
            .collect();
        for (pattern, clients) in &self.patterns {
            if glob_match(pattern, channel, false) {
                out.extend(clients.iter().map(|&client| Receiver {
                    client,
                    pattern: Some(pattern.clone()),
                }));
            }
        }
        out
    }

    /// Who gets a message on shard channel `channel`.
    pub fn shard_receivers(&self, channel: &[u8]) -> Vec<ClientId> {
        self.shard
            .get(channel)
            .map_or_else(Vec::new, |c| c.iter().copied().collect())
    }

    /// Channels (or shard channels) with a subscriber, matching `pattern` if given.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let index = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        };
        index
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel (or shard channel).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        let index = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        };
        index.get(name).map_or(0, BTreeSet::len)
    }

    /// Distinct patterns subscribed to (`PUBSUB NUMPAT`).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Shard channels whose slot satisfies `in_slot`, with their subscribers.
    pub fn shard_channels_where(
        &self,
        in_slot: impl Fn(&[u8]) -> bool,
    ) -> Vec<(Bytes, Vec<ClientId>)> {
        self.shard
            .iter()
            .filter(|(name, _)| in_slot(name))
            .map(|(name, clients)| (name.clone(), clients.iter().copied().collect()))
            .collect()
    }
}

impl ClientSubs {
    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn subscriptions_are_indexed_both_ways_and_forgotten_with_the_client() {
        let mut p = PubSub::default();
        assert!(p.subscribe(1, Kind::Channel, &b("news")));
        assert!(!p.subscribe(1, Kind::Channel, &b("news")));
        assert!(p.subscribe(1, Kind::Pattern, &b("n*")));
        assert!(p.subscribe(2, Kind::Channel, &b("news")));
        assert!(p.subscribe(2, Kind::Shard, &b("orders")));
        assert_eq!(p.count(1), 2);
        assert_eq!(p.shard_count(2), 1);
        assert_eq!(p.counts(2), (1, 0, 1));
        assert_eq!(
            p.receivers(b"news"),
            vec![
                Receiver {
                    client: 1,
                    pattern: None
                },
                Receiver {
                    client: 2,
                    pattern: None
                },
                Receiver {
                    client: 1,
                    pattern: Some(b("n*"))
                },
            ]
        );
        assert_eq!(p.shard_receivers(b"orders"), vec![2]);
        assert_eq!(p.active(Kind::Channel, Some(b"ne*")), vec![b("news")]);
        assert_eq!(p.subscribers(Kind::Channel, b"news"), 2);
        p.remove_client(1);
        assert!(!p.is_subscribed(1));
        assert_eq!(p.pattern_count(), 0);
        assert_eq!(p.subscribers(Kind::Channel, b"news"), 1);
        assert!(p.unsubscribe(2, Kind::Channel, b"news"));
        assert!(p.unsubscribe(2, Kind::Shard, b"orders"));
        assert!(!p.is_subscribed(2));
        assert!(p.active(Kind::Channel, None).is_empty());
    }
}
