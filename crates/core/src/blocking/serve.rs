//! When blocked clients are answered: ready keys and timeouts after every input, the
//! cluster's redirections from the cron, a demotion, `CLIENT UNBLOCK`.

use bytes::Bytes;

use super::{BlockedClient, Role, Waker};
use crate::cmd::keys::lookup_write;
use crate::effect::{ClientId, Effect};
use crate::node::Node;
use crate::reply::Reply;
use crate::slot::key_hash_slot;

/// What a client blocked on keys gets when its node turns replica (then it is disconnected).
const UNBLOCKED_BY_ROLE_CHANGE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

impl Node {
    /// Whether the running command may block: only a command sent on its own, not one inside
    /// EXEC or a replayed stream (those answer at once, as if timed out).
    pub(crate) fn may_block(&self, args: &[Bytes]) -> bool {
        !self.replaying && crate::cmd::is(&args[0], self.top_command)
    }

    /// A blocking pop's course: served at once by `waker` from the first of `keys` that
    /// `ready` says holds something (`ready` answers `WRONGTYPE` for another type, which ends
    /// the command), else a null array where the command may not block, else parked on every
    /// key until `deadline_ms` (the reply then waits for the client's UnblockClient effect).
    pub(crate) fn pop_first_or_block(
        &mut self,
        client: ClientId,
        args: &[Bytes],
        keys: &[Bytes],
        deadline_ms: Option<u64>,
        waker: &'static Waker,
        ready: fn(&mut Node, &Bytes) -> Result<bool, Reply>,
    ) -> Reply {
        for key in keys {
            match ready(self, key) {
                Err(wrong_type) => return wrong_type,
                Ok(false) => continue,
                Ok(true) => return (waker.serve)(self, client, args, key),
            }
        }
        if !self.may_block(args) {
            return Reply::NilArray;
        }
        self.block_on_keys(client, args, keys, deadline_ms, waker);
        Reply::Nil
    }

    /// Parks `client` on `keys` (the driver waits for its reply); see the module docs.
    pub(crate) fn block_on_keys(
        &mut self,
        client: ClientId,
        args: &[Bytes],
        keys: &[Bytes],
        deadline_ms: Option<u64>,
        waker: &'static Waker,
    ) {
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                self.db.ready.watch(key);
                unique.push(key.clone());
            }
        }
        let blocked = BlockedClient {
            args: args.to_vec(),
            keys: unique,
            deadline_ms,
            waker,
            role: self.role(),
        };
        self.blocked_keys.insert(client, blocked);
        self.out.push(Effect::BlockClient { client });
    }

    /// Takes `client` out of the blocked ones, its keys no longer watched for it.
    fn take_blocked(&mut self, client: ClientId) -> Option<BlockedClient> {
        let blocked = self.blocked_keys.remove(client)?;
        for key in &blocked.keys {
            self.db.ready.unwatch(key);
        }
        Some(blocked)
    }

    /// Sends a blocked client its reply. Its errors count in `INFO errorstats`; `failed`
    /// counts a failed call of its command, as Redis's `updateStatsOnUnblock` does (the call
    /// itself was counted when it blocked).
    fn answer(&mut self, client: ClientId, args: &[Bytes], reply: Reply, failed: bool) {
        self.stats.calls.count_errors(&reply);
        if failed {
            if let Some(spec) = self.lookup(&args[0]) {
                self.stats
                    .calls
                    .commands
                    .entry(spec.name)
                    .or_default()
                    .failed_calls += 1;
            }
        }
        self.out.push(Effect::UnblockClient { client, reply });
    }

    /// Takes `client` out of the blocked ones and sends it `reply`; false if it was not
    /// blocked on keys.
    fn unblock_on_keys(&mut self, client: ClientId, reply: Reply, failed: bool) -> bool {
        let Some(blocked) = self.take_blocked(client) else {
            return false;
        };
        self.answer(client, &blocked.args, reply, failed);
        true
    }

    /// A client went away: it no longer waits.
    pub(crate) fn forget_blocked_on_keys(&mut self, client: ClientId) {
        self.take_blocked(client);
    }

    fn role(&self) -> Role {
        let me = self.cluster.me();
        (me.is_replica(), me.master)
    }

    /// After every input: clients blocked before this node turned replica (or followed
    /// another master) are let go, then the keys that became ready are served, then the
    /// clients whose deadline passed time out.
    pub(crate) fn blocked_on_keys_before_reply(&mut self) {
        if self.blocked_keys.is_empty() {
            // Keys made ready for clients that left since: nobody to serve.
            while self.db.ready.pop().is_some() {}
            return;
        }
        for client in self.blocked_keys.blocked_before_demotion(self.role()) {
            self.unblock_on_keys(client, Reply::error(UNBLOCKED_BY_ROLE_CHANGE), false);
            self.out.push(Effect::CloseClient { client });
        }
        while let Some(key) = self.db.ready.pop() {
            self.serve_ready_key(&key);
        }
        for client in self.blocked_keys.timed_out(self.now.mono_ms) {
            self.unblock_on_keys(client, Reply::NilArray, false);
        }
    }

    /// Serves the clients blocked on `key`, first blocked first, while it holds what they wait
    /// for (a BLMOVE serving one may make another key ready; the caller's loop serves it).
    fn serve_ready_key(&mut self, key: &Bytes) {
        for client in self.blocked_keys.waiting_on(key) {
            let Some(waker) = self.blocked_keys.clients.get(&client).map(|b| b.waker) else {
                continue;
            };
            match lookup_write(self, key).map(|e| waker.wakes_on.matches(e.value())) {
                Some(true) => {}
                None | Some(false) => {
                    if let Some(gone) = waker.gone {
                        self.unblock_on_keys(client, Reply::error(gone), true);
                    }
                    continue;
                }
            }
            if let Some(wants) = waker.wants {
                let args = self.blocked_keys.clients[&client].args.clone();
                if !wants(self, &args, key) {
                    continue;
                }
            }
            let blocked = self.take_blocked(client).expect("listed above");
            // The writes it makes are this client's command's, for the WriteApplied events.
            let digest = crate::event::request_digest(&blocked.args);
            let outer = std::mem::replace(&mut self.request, digest);
            let reply = (waker.serve)(self, client, &blocked.args, key);
            self.request = outer;
            let failed = reply.is_error();
            self.answer(client, &blocked.args, reply, failed);
        }
    }

    /// From the cron, in cluster mode: a client blocked on a slot this node no longer serves
    /// (nor imports) is redirected, and with the cluster down every one is told so, since
    /// the write that would wake it cannot come.
    pub(crate) fn redirect_blocked_on_keys(&mut self) {
        if !self.config.cluster_enabled || self.blocked_keys.is_empty() {
            return;
        }
        for (client, key) in self.blocked_keys.first_keys() {
            if let Some(reply) = self.blocked_redirection(client, &key) {
                self.unblock_on_keys(client, reply, false);
            }
        }
    }

    /// The error for a client blocked on `key`, if it must stop waiting here. Its keys share
    /// one slot (checked when it blocked), so the first one tells. A `READONLY` client's read
    /// (XREAD) may wait on a replica of the slot's master, as Redis lets it.
    fn blocked_redirection(&self, client: ClientId, key: &[u8]) -> Option<Reply> {
        if !self.cluster.state_ok() {
            return Some(Reply::error("CLUSTERDOWN The cluster is down"));
        }
        let slot = key_hash_slot(key);
        let owner = self.cluster.slot_owner(slot);
        if owner == Some(self.cluster.myself) || self.cluster.importing_from(slot).is_some() {
            return None;
        }
        let readonly = self.clients.get(&client).is_some_and(|c| c.readonly);
        let blocked = &self.blocked_keys.clients[&client];
        let reads = self
            .lookup(&blocked.args[0])
            .is_some_and(|spec| !spec.is_write());
        if readonly && reads && owner.is_some_and(|o| self.cluster.replicates(o)) {
            return None;
        }
        Some(match owner {
            None => Reply::error("CLUSTERDOWN Hash slot not served"),
            Some(owner) => self.cluster.redirect_error("MOVED", slot, owner),
        })
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]` for a client blocked on keys: it gets what a
    /// timeout gives, or `-UNBLOCKED`; Redis counts a failed call either way. False if it is
    /// not blocked on keys.
    pub(crate) fn unblock_by_request(&mut self, client: ClientId, error: bool) -> bool {
        let reply = if error {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            Reply::NilArray
        };
        self.unblock_on_keys(client, reply, true)
    }
}
