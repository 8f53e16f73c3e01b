//! Clients waiting for replication: `WAIT` until enough replicas acknowledged, and writes
//! held back while a manual failover pauses them or while a MIGRATE job moves their keys.
//! Answered in client-id order after every input, once their condition holds.

use super::*;
use crate::node::Node;

impl Node {
    // ---- blocked clients -----------------------------------------------------------------

    /// After a client's command: a command that moved the offset was a write of this client.
    pub(crate) fn note_client_write(&mut self, client: ClientId, offset_before: u64) {
        let offset = self.cluster.me().repl_offset;
        if offset != offset_before {
            if let Some(c) = self.clients.get_mut(&client) {
                c.woff = offset;
            }
        }
    }

    /// Blocks `client` in `WAIT` and asks the replicas for an ACK before the call returns.
    pub(crate) fn block_for_acks(
        &mut self,
        client: ClientId,
        offset: u64,
        numreplicas: i64,
        deadline_ms: Option<u64>,
    ) {
        let why = Blocked::Wait {
            offset,
            numreplicas,
            deadline_ms,
        };
        self.repl.block_client(client, why, &mut self.out);
        self.repl.get_ack_pending = true;
    }

    /// A write (or an EXEC holding one) while writes are paused waits for the pause to end.
    pub(crate) fn postpone_if_paused(
        &mut self,
        client: ClientId,
        spec: &cmd::CommandSpec,
        args: &[Bytes],
    ) -> bool {
        if !self.writes_paused() || self.repl.is_replica_client(client) {
            return false;
        }
        let all = self.client_pause_now().is_some_and(|p| p.all);
        let writes = match spec.name {
            _ if all => true,
            "exec" => self.clients[&client].multi.as_ref().is_some_and(|queue| {
                queue
                    .iter()
                    .any(|a| self.lookup(&a[0]).is_some_and(|s| self.may_replicate(s, a)))
            }),
            _ => self.may_replicate(spec, args),
        };
        if writes {
            let args = args.to_vec();
            let why = Blocked::Paused { args };
            self.repl.block_client(client, why, &mut self.out);
        }
        writes
    }

    /// A write to a key a MIGRATE job is moving waits for the job to end
    /// ([`crate::cmd::migrate`]).
    pub(crate) fn postpone_if_migrating(
        &mut self,
        client: ClientId,
        spec: &cmd::CommandSpec,
        args: &[Bytes],
    ) -> bool {
        if self.repl.is_replica_client(client) || !self.writes_key_in_flight(client, spec, args) {
            return false;
        }
        let why = Blocked::Migrating {
            args: args.to_vec(),
        };
        self.repl.block_client(client, why, &mut self.out);
        true
    }

    /// Holds a released command again if the other hold now applies to it (a pause began
    /// while it waited for a MIGRATE, or the reverse).
    fn held_again(&mut self, client: ClientId, args: &[Bytes]) -> bool {
        let spec = self
            .lookup(&args[0])
            .expect("a held command was looked up when it arrived");
        self.postpone_if_paused(client, spec, args)
            || self.postpone_if_migrating(client, spec, args)
    }

    /// Whether a write pause holds this command (Redis's `is_may_replicate_command`): a
    /// write, or a command that may still reach the replicas (EVAL without declared
    /// flags, PUBLISH, PFCOUNT refreshing its cache), so that a manual failover's replica
    /// can catch up with a master that no longer moves.
    pub(crate) fn may_replicate(&self, spec: &cmd::CommandSpec, args: &[Bytes]) -> bool {
        cmd::scripting::script_command_flags(self, spec, args)
            .intersects(cmd::CmdFlags::WRITE | cmd::CmdFlags::MAY_REPLICATE)
    }

    /// Answers every blocked client whose wait is over, in client-id order.
    pub(crate) fn serve_blocked_clients(&mut self) {
        if self.repl.blocked.is_empty() {
            return;
        }
        let now = self.now.mono_ms;
        let replica = self.cluster.me().is_replica();
        let paused = self.writes_paused();
        let ids: Vec<ClientId> = self.repl.blocked.keys().copied().collect();
        for client in ids {
            let reply = match self.repl.blocked[&client].clone() {
                Blocked::Wait { .. } if replica => Reply::error(UNBLOCKED_BY_ROLE_CHANGE),
                Blocked::Wait {
                    offset,
                    numreplicas,
                    deadline_ms,
                } => {
                    let acked = self.repl.replicas_acked(offset);
                    let expired = deadline_ms.is_some_and(|d| now >= d);
                    if acked < numreplicas && !expired {
                        continue;
                    }
                    Reply::Integer(acked)
                }
                Blocked::Paused { .. } if paused => continue,
                Blocked::Migrating { args } if self.migrating_holds(client, &args) => continue,
                Blocked::Paused { args } | Blocked::Migrating { args } => {
                    // Unblocked first: the command runs as a fresh one from this client.
                    self.repl.blocked.remove(&client);
                    if self.held_again(client, &args) {
                        continue;
                    }
                    let reply = self.run_postponed(client, &args);
                    // A blocking command (BLPOP) may now wait for its keys instead.
                    if self.blocked_keys.contains(client) {
                        continue;
                    }
                    reply
                }
            };
            self.repl.blocked.remove(&client);
            self.out.push(Effect::UnblockClient { client, reply });
        }
    }

    fn migrating_holds(&self, client: ClientId, args: &[Bytes]) -> bool {
        let spec = self
            .lookup(&args[0])
            .expect("a held command was looked up when it arrived");
        self.writes_key_in_flight(client, spec, args)
    }

    /// Clients blocked in `WAIT` or on a paused write, and how many of them have a timeout
    /// (INFO's `blocked_clients` and `clients_in_timeout_table`, with those blocked on keys).
    pub(crate) fn blocked_for_replication(&self) -> (usize, usize) {
        let timed = self.repl.blocked.values().filter(|b| {
            matches!(
                b,
                Blocked::Wait {
                    deadline_ms: Some(_),
                    ..
                }
            )
        });
        (self.repl.blocked.len(), timed.count())
    }

    /// Runs a write held back by a pause, as if it arrived now.
    pub(super) fn run_postponed(&mut self, client: ClientId, args: &[Bytes]) -> Reply {
        let spec = self
            .lookup(&args[0])
            .expect("a postponed command was looked up when it arrived");
        let offset_before = self.cluster.me().repl_offset;
        self.top_command = spec.name;
        let reply = self.execute(client, spec, args);
        self.note_client_write(client, offset_before);
        reply
    }

    /// `REPLCONF GETACK *` to every replica, unless writes are paused (a manual failover
    /// compares offsets, and this would move mine).
    pub(super) fn send_getack_if_pending(&mut self) {
        if !self.repl.get_ack_pending || self.writes_paused() {
            return;
        }
        self.repl.get_ack_pending = false;
        if self.repl.replicas.is_empty() {
            return;
        }
        let args = words(GETACK);
        let size = self.config.repl_backlog_size;
        self.repl.stream_to_replicas(&args, size, &mut self.out);
        self.cluster.me_mut().repl_offset += encoded_len(&args);
    }
}

/// How `CLIENT UNBLOCK` ends a parked client's wait.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum UnblockHow {
    /// As if its timeout passed: `WAIT` answers with the replicas acknowledged so far.
    Timeout,
    /// `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

impl Node {
    /// Whether `client` is parked here (in `WAIT`, or holding a write back during a pause).
    pub(crate) fn is_parked(&self, client: ClientId) -> bool {
        self.repl.blocked.contains_key(&client)
    }

    /// `CLIENT UNBLOCK` of a client parked here: answers it now; false if it is not parked
    /// here. A write held back by a pause ends only by `Error` (its command never runs):
    /// redis-server 7.0.15 crashes when such a client is unblocked by `Timeout`. A write
    /// waiting for a MIGRATE is not blocked in Redis's sense (its whole server waits), so
    /// it is not unblocked either.
    pub(crate) fn unblock_parked(&mut self, client: ClientId, how: UnblockHow) -> bool {
        let reply = match (self.repl.blocked.get(&client), how) {
            (None, _)
            | (Some(Blocked::Migrating { .. }), _)
            | (Some(Blocked::Paused { .. }), UnblockHow::Timeout) => return false,
            (Some(_), UnblockHow::Error) => {
                Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
            }
            (Some(Blocked::Wait { offset, .. }), UnblockHow::Timeout) => {
                Reply::Integer(self.repl.replicas_acked(*offset))
            }
        };
        self.repl.blocked.remove(&client);
        if let Some(c) = self.clients.get_mut(&client) {
            c.session.argv_mem = 0;
        }
        self.out.push(Effect::UnblockClient { client, reply });
        true
    }
}
