//! A cache-aside layer, the kind of small piece of user code a simulation test is for: reads
//! try the cache and fall back to the database, filling the cache on a miss; writes update
//! the database, then delete the cached copy so the next read loads the new value.
//!
//! The cache is anything that implements [`Cache`] (in the tests: a Redis Cluster reached
//! through clusterlab-sim's cluster client; in production it would be the `redis` crate's
//! cluster connection). The database is an in-memory map standing in for the source of truth.
//!
//! Its promise, which `tests/cache_aside.rs` checks across a failover and a reshard: once a
//! write has returned `Ok`, no read returns the value it replaced. A write whose cache
//! delete failed returns `Err`: the caller knows the cache may still hold the old value
//! until its TTL ends.

use std::collections::BTreeMap;
use std::future::Future;

/// The cache operations the layer needs. Errors are the server's error reply or the I/O
/// error, as text.
pub trait Cache {
    /// `GET key`: `None` when absent.
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Option<String>, String>> + Send;
    /// `SET key value PX ttl_ms`.
    fn set(
        &mut self,
        key: &str,
        value: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// `DEL key`.
    fn del(&mut self, key: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// What the layer did, for tests and dashboards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reads the cache answered.
    pub hits: u64,
    /// Reads that went to the database (a miss, or the cache failed).
    pub misses: u64,
    /// Cache operations that failed (the layer carried on without the cache).
    pub cache_errors: u64,
}

/// The layer: a cache in front of a database.
#[derive(Debug)]
pub struct CacheAside<C> {
    cache: C,
    database: BTreeMap<String, String>,
    ttl_ms: u64,
    stats: Stats,
}

impl<C: Cache> CacheAside<C> {
    /// A layer over `cache` with an empty database; cached values expire after `ttl_ms`.
    pub fn new(cache: C, ttl_ms: u64) -> CacheAside<C> {
        assert!(ttl_ms > 0, "a cached value must expire");
        CacheAside {
            cache,
            database: BTreeMap::new(),
            ttl_ms,
            stats: Stats::default(),
        }
    }

    /// The value of `key`: the cache's copy if it has one, else the database's (which then
    /// goes into the cache).
    pub async fn read(&mut self, key: &str) -> Option<String> {
        match self.cache.get(key).await {
            Ok(Some(value)) => {
                self.stats.hits += 1;
                return Some(value);
            }
            Ok(None) => {}
            Err(_) => self.stats.cache_errors += 1,
        }
        self.stats.misses += 1;
        let value = self.database.get(key).cloned()?;
        if self.cache.set(key, &value, self.ttl_ms).await.is_err() {
            self.stats.cache_errors += 1;
        }
        Some(value)
    }

    /// Stores `value` for `key`: the database first, then the cached copy is deleted. `Err`
    /// when the delete failed (the database has the new value; the cache may serve the old
    /// one until it expires).
    pub async fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
        self.database.insert(key.to_string(), value.to_string());
        self.cache.del(key).await.inspect_err(|_| {
            self.stats.cache_errors += 1;
        })
    }

    /// What the layer did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The cache, for callers that need it directly.
    pub fn cache_mut(&mut self) -> &mut C {
        &mut self.cache
    }
}
