//! Stamping the access clock of the keys a command names, before it runs, as Redis's
//! `lookupKey` does on every read and write lookup (see `db::access` for the field itself).
//!
//! Redis stamps a key each time a command looks it up; nearly every command looks each of
//! its keys up once per time it is named, so we stamp each key argument once. The exceptions are Redis's
//! `LOOKUP_NOTOUCH` lookups and commands that read the dictionary directly (below), and
//! scripts, whose keys are stamped by the `redis.call`s that use them. Redis 7.0 has no
//! `CLIENT NO-TOUCH` (7.2) and stamps on replicas too.

use bytes::Bytes;
use rand::Rng;

use super::Node;
use crate::cmd::CommandSpec;

/// Commands that look their keys up without stamping them.
const NO_TOUCH: &[&str] = &[
    "object",
    "type",
    "exists",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "memory",
    "debug",
    "watch",
    "del",
    "unlink",
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

impl Node {
    /// Stamps the live keys `spec` names in `args`, once per time each is named.
    pub(super) fn touch_keys(&mut self, spec: &CommandSpec, args: &[Bytes]) {
        if spec.first_key == 0 && !spec.flags.contains(crate::cmd::CmdFlags::MOVABLEKEYS) {
            return;
        }
        if NO_TOUCH.contains(&spec.name) {
            return;
        }
        let now_ms = self.now.unix_ms;
        if let Some(key) = spec.single_key(args) {
            self.touch_key(key, now_ms);
            return;
        }
        // A key named twice is looked up twice (`TOUCH k k`, `SUNIONSTORE d s s`).
        for key in spec.keys(args) {
            self.touch_key(key, now_ms);
        }
    }

    fn touch_key(&mut self, key: &[u8], now_ms: u64) {
        let Node { db, rng, .. } = self;
        db.touch(key, now_ms, || rng.gen::<f64>());
    }
}
