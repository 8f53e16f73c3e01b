//! `maxmemory`: evicting keys before a command runs, and refusing commands that may grow
//! memory (`denyoom`) with `-OOM` when nothing (more) can go, as Redis 7.0's
//! `performEvictions` and `processCommand` do.
//!
//! Memory is the keyspace's running estimate (`Db::used_memory_estimate`) plus the fixed base
//! `INFO` reports; nothing is left out of the count (`mem_not_counted_for_evict` is 0: this
//! node does not count replica output buffers or the AOF buffer at all). Each evicted key is
//! deleted as Redis's eviction deletes it: a `DEL` to the AOF and replicas, tracking clients
//! told, `evicted_keys` counted, and a [`ClusterEvent::KeyEvicted`] for the checkers. Nothing
//! is woken: a client blocked on an evicted key stays blocked, as in Redis.
//!
//! Replicas evict nothing with `replica-ignore-maxmemory yes` (the default): they are exact
//! copies and their master's `DEL`s reach them; with `no` they evict on their own, and the
//! `DEL` goes to their AOF only (a replica feeds its replicas its master's stream).

use bytes::Bytes;
use rand::Rng;

use super::Node;
use crate::cmd::{CmdFlags, CommandSpec};
use crate::config::Config;
use crate::db::evict_pool::{eviction_score, EvictionPool, MaxmemoryPolicy};
use crate::event::ClusterEvent;
use crate::node::ClientId;
use crate::reply::Reply;

/// Redis's `shared.oomerr`.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The `maxmemory` directives, read once per `CONFIG SET` rather than per command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// 0: no limit.
    pub maxmemory_bytes: u64,
    pub policy: MaxmemoryPolicy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `replica-ignore-maxmemory`.
    pub replica_ignores: bool,
}

impl MemoryLimit {
    pub fn from_config(config: &Config) -> MemoryLimit {
        let value = |name: &str| config.ignored.get(name).map(String::as_str);
        MemoryLimit {
            maxmemory_bytes: value("maxmemory").and_then(|v| v.parse().ok()).unwrap_or(0),
            policy: value("maxmemory-policy")
                .and_then(MaxmemoryPolicy::parse)
                .unwrap_or_default(),
            samples: value("maxmemory-samples")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(5)
                .clamp(1, 64),
            replica_ignores: value("replica-ignore-maxmemory") != Some("no"),
        }
    }
}

/// What an eviction pass achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    /// Within the limit (now, or already), or not allowed to evict here.
    Fits,
    /// Over the limit with nothing (more) to evict.
    Failed,
}

/// The eviction state kept between passes.
#[derive(Debug, Default)]
pub struct Eviction {
    pub(crate) pool: EvictionPool,
    /// Whether the last command started over the limit (`pre_command_oom_state`), which a
    /// script's first write command is held to.
    pub(crate) oom_at_command_start: bool,
}

impl Node {
    /// `used_memory` as `INFO` reports it.
    pub(crate) fn used_memory_bytes(&self) -> u64 {
        crate::cmd::server::BASE_MEMORY_BYTES + self.db.used_memory_estimate()
    }

    /// Redis's `isSafeToPerformEvictions`: not while loading, not on a replica that ignores
    /// `maxmemory`, not while clients are paused (the dataset must stay still).
    fn may_evict(&self) -> bool {
        let replica = self.cluster.me().is_replica();
        let held = self.replaying
            || self.is_loading()
            || (replica && self.memory_limit.replica_ignores)
            || self.writes_paused();
        !held
    }

    /// Evicts until memory fits `maxmemory`, as Redis's `performEvictions`.
    pub(crate) fn perform_evictions(&mut self) -> Evicted {
        self.db.settle_memory();
        let limit = self.memory_limit;
        if limit.maxmemory_bytes == 0 || !self.may_evict() {
            return Evicted::Fits;
        }
        while self.used_memory_bytes() > limit.maxmemory_bytes {
            if limit.policy == MaxmemoryPolicy::NoEviction {
                return Evicted::Failed;
            }
            let Some(key) = self.pick_victim(limit) else {
                return Evicted::Failed;
            };
            self.evict_key(&key, limit.policy);
        }
        Evicted::Fits
    }

    /// The key to evict next, if any is left under the policy.
    fn pick_victim(&mut self, limit: MemoryLimit) -> Option<Bytes> {
        let volatile = limit.policy.volatile_only();
        let candidates = if volatile {
            self.db.expiring_count()
        } else {
            self.db.len()
        };
        if candidates == 0 {
            return None;
        }
        if !limit.policy.uses_pool() {
            let pick = self.rng.gen::<u64>();
            return self.db.random_key(volatile, pick);
        }
        // Each round refills the pool; its best entry that still exists goes (a key gone
        // since it was sampled is a ghost, dropped). Every round samples existing keys, so
        // a round that finds only ghosts is followed by one that finds a key.
        for _round in 0..2 {
            self.populate_pool(limit);
            while let Some(key) = self.eviction.pool.pop_best() {
                if self.db.evictable(&key, volatile) {
                    return Some(key);
                }
            }
        }
        unreachable!("an emptied pool takes every key sampled next")
    }

    /// Samples `maxmemory-samples` keys into the pool (Redis's `evictionPoolPopulate`).
    fn populate_pool(&mut self, limit: MemoryLimit) {
        let pick = self.rng.gen::<u64>();
        let volatile = limit.policy.volatile_only();
        let sampled = self.db.sample_keys(volatile, pick, limit.samples);
        assert!(!sampled.is_empty(), "sampling a keyspace with candidates");
        let access = self.db.access_policy();
        let unix_ms = self.now.unix_ms;
        for s in &sampled {
            let score = eviction_score(limit.policy, access, s, unix_ms);
            self.eviction.pool.offer(score, s.key.clone());
        }
    }

    /// Deletes `key` as an eviction: counted, propagated as `DEL`, reported.
    fn evict_key(&mut self, key: &[u8], policy: MaxmemoryPolicy) {
        let before = self.db.used_memory_estimate();
        let removed = self.db.remove(key);
        assert!(removed, "an evicted key existed");
        debug_assert!(
            self.db.used_memory_estimate() < before,
            "eviction frees memory"
        );
        self.stats.evicted_keys += 1;
        self.emit(ClusterEvent::KeyEvicted {
            key: Bytes::copy_from_slice(key),
            policy: policy.name(),
        });
        self.tracked_key_expired(key);
        let del = [Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
        // The DEL is the eviction's, not a client write's.
        let request = std::mem::take(&mut self.request);
        if self.cluster.me().is_replica() {
            self.log_to_aof(&del);
        } else {
            self.log_write(&del);
        }
        self.request = request;
    }

    /// Before `spec` runs for `client`: evicts if over the limit, and answers `-OOM` when
    /// memory still does not fit and the command may grow it (a `denyoom` command, EXEC of
    /// one, or anything queued inside MULTI but EXEC, DISCARD, QUIT and RESET).
    pub(crate) fn refused_for_memory(
        &mut self,
        client: ClientId,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Option<Reply> {
        if self.memory_limit.maxmemory_bytes == 0 {
            self.db.settle_memory();
            return None;
        }
        let out_of_memory = self.perform_evictions() == Evicted::Failed;
        self.eviction.oom_at_command_start = out_of_memory;
        if !out_of_memory {
            return None;
        }
        let in_multi = self.clients[&client].multi.is_some()
            && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
        if !in_multi && !self.denies_oom(client, spec, args) {
            return None;
        }
        if spec.name != "exec" {
            return Some(Reply::error(OOM_ERROR));
        }
        // Redis's `execCommandAbort`: the transaction is discarded with the reason.
        let c = self.client_mut(client);
        c.multi = None;
        c.multi_dirty = false;
        c.watched.clear();
        Some(Reply::error(format!(
            "EXECABORT Transaction discarded because of: {OOM_ERROR}"
        )))
    }

    fn denies_oom(&self, client: ClientId, spec: &CommandSpec, args: &[Bytes]) -> bool {
        if spec.name == "exec" {
            let queued = self.clients[&client].multi.iter().flatten();
            return queued
                .filter_map(|q| self.lookup(&q[0]).map(|s| (s, q)))
                .any(|(s, q)| self.denies_oom(client, s, q));
        }
        let flags = crate::cmd::scripting::script_command_flags(self, spec, args);
        flags.contains(CmdFlags::DENYOOM)
    }

    /// A script's command: Redis's `scriptVerifyOOM` (the first write of a script that
    /// started over the limit is refused; a script that wrote already may go on).
    pub(crate) fn script_refused_for_memory(&self, spec: &CommandSpec, wrote: bool) -> bool {
        self.memory_limit.maxmemory_bytes != 0
            && !self.replaying
            && !wrote
            && self.eviction.oom_at_command_start
            && spec.flags.contains(CmdFlags::DENYOOM)
    }

    /// `CONFIG SET` ran: read the `maxmemory` directives again; a new `maxmemory` below use
    /// is warned about and evicted down to at once (Redis's `updateMaxmemory` starts its
    /// eviction timer, which runs right after the command).
    pub(crate) fn memory_config_changed(&mut self) {
        let limit = MemoryLimit::from_config(&self.config);
        if limit.policy != self.memory_limit.policy {
            self.eviction.pool.clear();
        }
        let new_limit = limit.maxmemory_bytes != self.memory_limit.maxmemory_bytes;
        self.memory_limit = limit;
        self.db.settle_memory();
        let over = limit.maxmemory_bytes != 0 && self.used_memory_bytes() > limit.maxmemory_bytes;
        if new_limit && over {
            self.log(
                crate::node::LogLevel::Warning,
                format!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than \
                     the current memory usage ({}). This will result in key eviction and/or the \
                     inability to accept new write commands depending on the maxmemory-policy.",
                    limit.maxmemory_bytes,
                    self.used_memory_bytes()
                ),
            );
            self.perform_evictions();
        }
    }
}
