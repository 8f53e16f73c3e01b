//! What `maxmemory` eviction picks from: the policies, Redis's pool of the best candidates
//! seen so far, and the keyspace's sampling (`Db::sample_keys`, `Db::random_key`).
//!
//! Redis does not find the truly least recently (or frequently) used key: each round it
//! samples `maxmemory-samples` keys, scores each (idle time, `255 - LFU counter`, or how soon
//! its TTL ends), and keeps the best 16 in a pool that outlives the round, ordered by score;
//! it evicts the best one that still exists. Sampling here takes keys in scan order from a
//! position the node's seeded rng draws (Redis takes adjacent hash buckets from a random one),
//! so a seed fixes every choice.

use bytes::Bytes;

use super::access::{lfu_counter, lru_idle_ms, AccessPolicy};
use super::{Db, POSITION_END};

/// Redis's `EVPOOL_SIZE`.
pub const EVICTION_POOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaxmemoryPolicy {
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl MaxmemoryPolicy {
    /// The policy a `maxmemory-policy` value names (the directive table checked it).
    pub fn parse(name: &str) -> Option<MaxmemoryPolicy> {
        use MaxmemoryPolicy::*;
        Some(match name {
            "noeviction" => NoEviction,
            "allkeys-lru" => AllKeysLru,
            "allkeys-lfu" => AllKeysLfu,
            "allkeys-random" => AllKeysRandom,
            "volatile-lru" => VolatileLru,
            "volatile-lfu" => VolatileLfu,
            "volatile-random" => VolatileRandom,
            "volatile-ttl" => VolatileTtl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use MaxmemoryPolicy::*;
        match self {
            NoEviction => "noeviction",
            AllKeysLru => "allkeys-lru",
            AllKeysLfu => "allkeys-lfu",
            AllKeysRandom => "allkeys-random",
            VolatileLru => "volatile-lru",
            VolatileLfu => "volatile-lfu",
            VolatileRandom => "volatile-random",
            VolatileTtl => "volatile-ttl",
        }
    }

    /// Only keys with a TTL may go.
    pub fn volatile_only(self) -> bool {
        use MaxmemoryPolicy::*;
        matches!(
            self,
            VolatileLru | VolatileLfu | VolatileRandom | VolatileTtl
        )
    }

    /// Picks through the pool (every policy but the random ones and `noeviction`).
    pub fn uses_pool(self) -> bool {
        use MaxmemoryPolicy::*;
        !matches!(self, NoEviction | AllKeysRandom | VolatileRandom)
    }
}

/// A sampled key with what the pool orders it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sampled {
    pub key: Bytes,
    pub clock: u32,
    pub expires_at_ms: Option<u64>,
}

/// How good a candidate `sampled` is under `policy` at `unix_ms`: greater goes first.
pub fn eviction_score(
    policy: MaxmemoryPolicy,
    access: AccessPolicy,
    sampled: &Sampled,
    unix_ms: u64,
) -> u64 {
    match (policy, access) {
        (MaxmemoryPolicy::VolatileTtl, _) => u64::MAX - sampled.expires_at_ms.unwrap_or(u64::MAX),
        (_, AccessPolicy::Lfu { decay_time_min, .. }) => {
            255 - u64::from(lfu_counter(sampled.clock, unix_ms, decay_time_min))
        }
        (_, AccessPolicy::Lru) => lru_idle_ms(sampled.clock, unix_ms),
    }
}

/// Redis's eviction pool: up to 16 keys by ascending score, the best last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvictionPool {
    entries: Vec<(u64, Bytes)>,
}

impl EvictionPool {
    /// Offers one sampled key. A key scoring below every entry of a full pool is dropped; a
    /// full pool otherwise drops its worst entry to make room (Redis's
    /// `evictionPoolPopulate`, duplicates and all).
    pub fn offer(&mut self, score: u64, key: Bytes) {
        let at = self.entries.partition_point(|(s, _)| *s < score);
        let full = self.entries.len() == EVICTION_POOL_SIZE;
        if full && at == 0 {
            return;
        }
        if full {
            self.entries.remove(0);
            self.entries.insert(at - 1, (score, key));
        } else {
            self.entries.insert(at, (score, key));
        }
        debug_assert!(self.entries.len() <= EVICTION_POOL_SIZE, "pool bounded");
        debug_assert!(
            self.entries.windows(2).all(|w| w[0].0 <= w[1].0),
            "pool ordered"
        );
    }

    /// Takes the best entry out.
    pub fn pop_best(&mut self) -> Option<Bytes> {
        self.entries.pop().map(|(_, key)| key)
    }

    /// The keys, worst first (tests).
    pub fn keys(&self) -> Vec<&[u8]> {
        self.entries.iter().map(|(_, k)| &k[..]).collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl Db {
    /// Up to `count` keys from a drawn point: with `volatile`, keys with a TTL from the
    /// expiry index at a drawn expiry time; else keys in scan order from a drawn position.
    /// `pick` is a uniform random number; the walk wraps around once.
    pub fn sample_keys(&self, volatile: bool, pick: u64, count: usize) -> Vec<Sampled> {
        let keys: Vec<&[u8]> = if volatile {
            self.expiring_keys_from(pick).take(count).collect()
        } else {
            let from = pick % POSITION_END;
            self.positions
                .range(from..)
                .chain(self.positions.range(..from))
                .flat_map(|&p| self.at_position(p))
                .map(|e| e.key)
                .take(count)
                .collect()
        };
        keys.into_iter()
            .filter_map(|key| {
                let record = self.find(key)?;
                Some(Sampled {
                    key: Bytes::copy_from_slice(key),
                    clock: record.clock(),
                    expires_at_ms: record.expires_at_ms(),
                })
            })
            .collect()
    }

    /// One key drawn by `pick` (with `volatile`, among keys with a TTL).
    pub fn random_key(&self, volatile: bool, pick: u64) -> Option<Bytes> {
        if volatile {
            return self
                .expiring_keys_from(pick)
                .next()
                .map(Bytes::copy_from_slice);
        }
        self.key_near(pick).map(Bytes::copy_from_slice)
    }

    /// Keys with a TTL from an expiry time drawn between the soonest and the latest, wrapping.
    fn expiring_keys_from(&self, pick: u64) -> impl Iterator<Item = &[u8]> + '_ {
        let first = self.by_expiry.first().map_or(0, |(t, _)| *t);
        let last = self.by_expiry.last().map_or(0, |(t, _)| *t);
        let span = last - first + 1;
        let from: (u64, Box<[u8]>) = (first + pick % span, Box::default());
        self.by_expiry
            .range(&from..)
            .chain(self.by_expiry.range(..&from))
            .map(|(_, key)| &key[..])
    }

    /// Whether `key` may be evicted under a policy (`volatile`: it must have a TTL); expired
    /// keys not yet removed count, as in Redis.
    pub fn evictable(&self, key: &[u8], volatile: bool) -> bool {
        self.find(key)
            .is_some_and(|r| !volatile || r.expires_at_ms().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn the_pool_keeps_the_best_sixteen_in_order() {
        let mut pool = EvictionPool::default();
        for i in 0..20u64 {
            pool.offer(i * 10, key(&format!("k{i}")));
        }
        assert_eq!(pool.keys().len(), EVICTION_POOL_SIZE);
        assert_eq!(pool.keys()[0], b"k4", "the four worst were pushed out");
        // Below every entry of a full pool: dropped. Between: the worst goes.
        pool.offer(5, key("low"));
        assert!(!pool.keys().contains(&&b"low"[..]));
        pool.offer(105, key("mid"));
        assert_eq!(pool.keys()[0], b"k5");
        assert_eq!(pool.keys()[6], b"mid");
        assert_eq!(pool.pop_best(), Some(key("k19")));
        assert_eq!(pool.pop_best(), Some(key("k18")));
    }

    #[test]
    fn scores_follow_the_policy() {
        let sampled = Sampled {
            key: key("k"),
            clock: 100,
            expires_at_ms: Some(5_000),
        };
        let lru = AccessPolicy::Lru;
        let lfu = AccessPolicy::Lfu {
            log_factor: 10,
            decay_time_min: 1,
        };
        // LRU: idle ms since second 100, at second 130.
        let score = |p, a| eviction_score(p, a, &sampled, 130_000);
        assert_eq!(score(MaxmemoryPolicy::AllKeysLru, lru), 30_000);
        // LFU: the field is minute 0 with counter 100; two minutes later it decayed to 98.
        assert_eq!(score(MaxmemoryPolicy::AllKeysLfu, lfu), 255 - 98);
        assert_eq!(score(MaxmemoryPolicy::VolatileTtl, lru), u64::MAX - 5_000);
    }

    #[test]
    fn policies_parse_and_name_themselves() {
        for name in [
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let policy = MaxmemoryPolicy::parse(name).expect(name);
            assert_eq!(policy.name(), name);
            assert_eq!(policy.volatile_only(), name.starts_with("volatile"));
        }
        assert_eq!(MaxmemoryPolicy::parse("lru"), None);
    }
}
