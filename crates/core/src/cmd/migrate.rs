//! MIGRATE: moving keys to another node with `RESTORE-ASKING`, as resharding does.
//!
//! The core cannot talk to the target itself, so the handler checks the arguments, serializes
//! the keys and hands the driver an [`Effect::Migrate`] job; the driver sends the commands to the
//! target and calls [`Node::migrate_finished`] with what came back, which deletes the moved keys
//! (unless COPY) and gives the reply for the client.
//!
//! Redis blocks the whole server while MIGRATE talks to the target. Our driver keeps serving
//! other clients meanwhile, so the keys of a job in flight are marked: until the target has
//! answered, a client's write to them (or an EXEC or script declaring them) waits, then runs
//! as if it arrived after the MIGRATE, which is what a client of Redis sees. Otherwise a write
//! landing between the serialization and the delete would be acknowledged and then lost, the
//! target keeping the older value. A write that reaches such a key only from inside a script
//! or a held command cannot wait there and gets `TRYAGAIN`.

use bytes::Bytes;

use super::dump::dump_payload;
use super::keys::{lookup_read, propagate};
use super::{is, parse_i64, CommandSpec};
use crate::cmd::CmdFlags as F;
use crate::node::{ClientId, Effect, Node, Time};
use crate::reply::Reply;

/// The job lives with the other effects; its old path stays valid for drivers.
pub use crate::effect::MigrateJob;

pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "migrate",
    arity: -6,
    flags: F::WRITE.union(F::MOVABLEKEYS),
    first_key: 3,
    last_key: 3,
    key_step: 1,
    acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
    group: "generic",
    summary: "Atomically transfer a key from a Redis instance to another one.",
    since: "2.6.0",
    handler: migrate,
}];

/// How talking to the target went.
#[derive(Clone, Debug, PartialEq)]
pub enum MigrateOutcome {
    /// One reply per request, in order.
    Replies(Vec<Reply>),
    ConnectFailed,
    WriteFailed,
    ReadFailed,
}

struct MigrateArgs {
    copy: bool,
    replace: bool,
    keys: Vec<Bytes>,
}

fn parse_options(args: &[Bytes]) -> Result<MigrateArgs, Reply> {
    let mut parsed = MigrateArgs {
        copy: false,
        replace: false,
        keys: Vec::new(),
    };
    let mut i = 6;
    let mut keys_option = false;
    while i < args.len() {
        let arg = &args[i];
        if is(arg, "copy") {
            parsed.copy = true;
        } else if is(arg, "replace") {
            parsed.replace = true;
        } else if is(arg, "auth") && i + 1 < args.len() {
            i += 1;
        } else if is(arg, "auth2") && i + 2 < args.len() {
            i += 2;
        } else if is(arg, "keys") {
            if !args[3].is_empty() {
                return Err(Reply::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            parsed.keys = args[i + 1..].to_vec();
            keys_option = true;
            break;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    if !keys_option {
        parsed.keys = vec![args[3].clone()];
    }
    Ok(parsed)
}

fn migrate(node: &mut Node, client: ClientId, args: &[Bytes]) -> Reply {
    let options = match parse_options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (Some(port), Some(_db), Some(timeout)) = (
        parse_i64(&args[2]),
        parse_i64(&args[4]),
        parse_i64(&args[5]),
    ) else {
        return Reply::not_integer();
    };
    let Ok(port) = u16::try_from(port) else {
        return Reply::err("Invalid TCP port specified");
    };
    let timeout_ms = if timeout <= 0 { 1000 } else { timeout as u64 };
    let now_ms = node.now.unix_ms;
    let mut requests = Vec::new();
    let mut keys = Vec::new();
    let compression = node.rdb_compression();
    for key in &options.keys {
        let Some(entry) = lookup_read(node, key) else {
            continue;
        };
        let ttl_ms = entry
            .expires_at_ms
            .map_or(0, |at| at.saturating_sub(now_ms).max(1));
        let mut request = vec![
            Bytes::from_static(b"RESTORE-ASKING"),
            key.clone(),
            Bytes::from(ttl_ms.to_string()),
            dump_payload(entry.value, compression),
        ];
        if options.replace {
            request.push(Bytes::from_static(b"REPLACE"));
        }
        requests.push(request);
        keys.push(key.clone());
    }
    if keys.is_empty() {
        return Reply::simple("NOKEY");
    }
    for key in &keys {
        *node.keys_in_flight.entry(key.clone()).or_insert(0) += 1;
    }
    node.out.push(Effect::Migrate(MigrateJob {
        client,
        host: String::from_utf8_lossy(&args[1]).into_owned(),
        port,
        timeout_ms,
        requests,
        keys,
        copy: options.copy,
    }));
    // The driver replaces this with what `migrate_finished` returns.
    Reply::Nil
}

impl Node {
    /// Completes a MIGRATE: deletes what the target accepted (unless COPY) and returns the
    /// reply for the client that sent it.
    pub fn migrate_finished(
        &mut self,
        now: Time,
        job: MigrateJob,
        outcome: MigrateOutcome,
    ) -> Reply {
        self.set_time(now);
        self.release_keys_in_flight(&job.keys);
        let reply = self.finish_migrate(job, outcome);
        // Writes held for these keys run now, after the MIGRATE, as in Redis's order.
        self.serve_blocked_clients();
        reply
    }

    fn finish_migrate(&mut self, job: MigrateJob, outcome: MigrateOutcome) -> Reply {
        let replies = match outcome {
            MigrateOutcome::Replies(replies) => replies,
            MigrateOutcome::ConnectFailed => {
                return Reply::error("IOERR error or timeout connecting to the client")
            }
            MigrateOutcome::WriteFailed => {
                return Reply::error("IOERR error or timeout writing to target instance")
            }
            MigrateOutcome::ReadFailed => {
                return Reply::error("IOERR error or timeout reading to target instance")
            }
        };
        assert_eq!(replies.len(), job.keys.len(), "one reply per migrated key");
        if self.cluster.me().is_replica() {
            // Demoted while the keys were in flight (Redis's MIGRATE blocks its event loop, so
            // it never meets this): the data now follows the new master's stream, and deleting
            // here would make this replica's offset part from it.
            return Reply::error("READONLY You can't write against a read only replica.");
        }
        let mut first_error = None;
        let mut moved = Vec::new();
        for (key, reply) in job.keys.into_iter().zip(replies) {
            match reply {
                Reply::Error(e) => {
                    first_error.get_or_insert(e);
                }
                _ if !job.copy => moved.push(key),
                _ => {}
            }
        }
        if !moved.is_empty() {
            for key in &moved {
                self.db.remove(key);
            }
            // MIGRATE's keys share one slot (the redirection check refuses others).
            let slot = crate::slot::key_hash_slot(&moved[0]);
            let count = moved.len();
            let to = self.cluster.node_serving(&job.host, job.port);
            self.emit(crate::event::ClusterEvent::KeysMigrated { slot, count, to });
            let mut del = vec![Bytes::from_static(b"DEL")];
            del.extend(moved);
            propagate(self, del);
        }
        self.cluster_before_reply();
        match first_error {
            Some(e) => Reply::err(format!("Target instance replied with error: {e}")),
            None => Reply::ok(),
        }
    }
}

impl Node {
    /// Whether this command, at the top level, writes a key a MIGRATE job is moving: itself,
    /// a script through its declared keys, or EXEC through its queued commands. Such a
    /// client waits for the job (see the module docs).
    pub(crate) fn writes_key_in_flight(
        &self,
        client: ClientId,
        spec: &super::CommandSpec,
        args: &[Bytes],
    ) -> bool {
        if self.keys_in_flight.is_empty() || spec.name == "migrate" {
            return false;
        }
        let writes_one = |spec: &super::CommandSpec, args: &[Bytes]| {
            self.may_replicate(spec, args)
                && spec
                    .keys(args)
                    .iter()
                    .any(|key| self.keys_in_flight.contains_key(*key))
        };
        if spec.name != "exec" {
            return writes_one(spec, args);
        }
        let queue = self.clients.get(&client).and_then(|c| c.multi.as_ref());
        queue.is_some_and(|queue| {
            queue
                .iter()
                .any(|a| self.lookup(&a[0]).is_some_and(|s| writes_one(s, a)))
        })
    }

    /// `TRYAGAIN` for a write to a key a MIGRATE job is moving that could not wait for it
    /// (see the module docs).
    pub(crate) fn blocked_by_migration(
        &mut self,
        spec: &super::CommandSpec,
        args: &[Bytes],
    ) -> Option<Reply> {
        if self.keys_in_flight.is_empty() || !spec.is_write() || spec.name == "migrate" {
            return None;
        }
        let busy = spec
            .keys(args)
            .iter()
            .any(|key| self.keys_in_flight.contains_key(*key));
        busy.then(|| {
            self.stats.rejected_calls += 1;
            Reply::error("TRYAGAIN Multiple keys request during rehashing of slot")
        })
    }

    fn release_keys_in_flight(&mut self, keys: &[Bytes]) {
        for key in keys {
            if let Some(jobs) = self.keys_in_flight.get_mut(key) {
                *jobs -= 1;
                if *jobs == 0 {
                    self.keys_in_flight.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn words(ws: &[&str]) -> Vec<Bytes> {
        ws.iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn node_with_keys() -> (Node, ClientId, Time) {
        let now = Time {
            mono_ms: 1,
            unix_ms: 1_000_000,
        };
        let mut node = Node::new(Config::default(), now, 1);
        let c = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
        node.command(now, c, &words(&["SET", "a", "1"]));
        node.command(now, c, &words(&["SET", "b", "2", "PX", "5000"]));
        node.take_effects();
        (node, c, now)
    }

    fn job_of(effects: Vec<Effect>) -> MigrateJob {
        effects
            .into_iter()
            .find_map(|e| match e {
                Effect::Migrate(job) => Some(job),
                _ => None,
            })
            .expect("a migrate job")
    }

    #[test]
    fn keys_become_restore_asking_requests_and_leave_after_success() {
        let (mut node, c, now) = node_with_keys();
        let args = words(&[
            "MIGRATE", "10.0.0.2", "7002", "", "0", "5000", "REPLACE", "KEYS", "a", "b", "zz",
        ]);
        node.command(now, c, &args);
        let job = job_of(node.take_effects());
        assert_eq!(
            (job.host.as_str(), job.port, job.timeout_ms),
            ("10.0.0.2", 7002, 5000)
        );
        assert_eq!(job.keys, words(&["a", "b"]), "missing keys are skipped");
        assert_eq!(
            job.requests[0][..3],
            words(&["RESTORE-ASKING", "a", "0"])[..]
        );
        assert_eq!(
            job.requests[1][2],
            Bytes::from_static(b"5000"),
            "remaining TTL"
        );
        assert_eq!(
            job.requests[0].last(),
            Some(&Bytes::from_static(b"REPLACE"))
        );
        let outcome = MigrateOutcome::Replies(vec![Reply::ok(), Reply::ok()]);
        assert_eq!(node.migrate_finished(now, job, outcome), Reply::ok());
        assert!(node.db.is_empty());
        let migrated = crate::event::ClusterEvent::KeysMigrated {
            slot: crate::slot::key_hash_slot(b"a"),
            count: 2,
            to: None,
        };
        assert!(
            node.take_effects().contains(&Effect::Event(migrated)),
            "the move is reported"
        );
    }

    #[test]
    fn errors_keep_the_keys_they_concern() {
        let (mut node, c, now) = node_with_keys();
        node.command(
            now,
            c,
            &words(&["MIGRATE", "h", "1", "", "0", "0", "KEYS", "a", "b"]),
        );
        let job = job_of(node.take_effects());
        assert_eq!(job.timeout_ms, 1000, "timeout <= 0 means 1000");
        let outcome = MigrateOutcome::Replies(vec![
            Reply::error("BUSYKEY Target key name already exists."),
            Reply::ok(),
        ]);
        assert_eq!(
            node.migrate_finished(now, job, outcome),
            Reply::err(
                "Target instance replied with error: BUSYKEY Target key name already exists."
            )
        );
        assert!(node.db.contains(b"a", now.unix_ms));
        assert!(!node.db.contains(b"b", now.unix_ms));
    }

    #[test]
    fn writes_to_keys_in_flight_wait_for_the_target() {
        let (mut node, c, now) = node_with_keys();
        node.command(
            now,
            c,
            &words(&["MIGRATE", "h", "1", "", "0", "100", "KEYS", "a"]),
        );
        let job = job_of(node.take_effects());
        let connect = |node: &mut Node, port: u16| {
            node.client_connected(now, format!("127.0.0.1:{port}"), "127.0.0.1:2".into())
        };
        let (set, script, exec, reader) = (
            connect(&mut node, 3),
            connect(&mut node, 4),
            connect(&mut node, 5),
            connect(&mut node, 6),
        );
        // A write, a script declaring the key, and an EXEC queuing a write all wait.
        node.command(now, set, &words(&["SET", "a", "set"]));
        let eval = [
            "EVAL",
            "return redis.call('APPEND', KEYS[1], 'x')",
            "1",
            "a",
        ];
        node.command(now, script, &words(&eval));
        node.command(now, exec, &words(&["MULTI"]));
        node.command(now, exec, &words(&["APPEND", "a", "y"]));
        node.command(now, exec, &words(&["EXEC"]));
        let blocked: Vec<ClientId> = node
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::BlockClient { client } => Some(client),
                _ => None,
            })
            .collect();
        assert_eq!(blocked, vec![set, script, exec]);
        // Reads and other keys are not held up; a script's undeclared write cannot wait.
        assert_eq!(
            node.command(now, reader, &words(&["GET", "a"])),
            Reply::bulk_str("1")
        );
        assert_eq!(
            node.command(now, reader, &words(&["SET", "b", "3"])),
            Reply::ok()
        );
        let undeclared = ["EVAL", "return redis.call('SET', 'a', 'z')", "0"];
        let Reply::Error(e) = node.command(now, reader, &words(&undeclared)) else {
            panic!("an undeclared write to a key in flight must fail");
        };
        assert!(e.starts_with("TRYAGAIN Multiple keys request during rehashing of slot"));
        node.take_effects();
        // The job ends: the key leaves, then the held commands run in client order.
        let outcome = MigrateOutcome::Replies(vec![Reply::ok()]);
        assert_eq!(node.migrate_finished(now, job, outcome), Reply::ok());
        assert!(node.keys_in_flight.is_empty());
        let unblocked: Vec<(ClientId, Reply)> = node
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::UnblockClient { client, reply } => Some((client, reply)),
                _ => None,
            })
            .collect();
        assert_eq!(
            unblocked,
            vec![
                (set, Reply::ok()),
                (script, Reply::Integer(4)),
                (exec, Reply::Array(vec![Reply::Integer(5)])),
            ]
        );
        assert_eq!(
            node.command(now, reader, &words(&["GET", "a"])),
            Reply::bulk_str("setxy")
        );
        // A failed job releases its keys too.
        node.command(now, c, &words(&["MIGRATE", "h", "1", "a", "0", "100"]));
        let job = job_of(node.take_effects());
        node.migrate_finished(now, job, MigrateOutcome::ConnectFailed);
        assert!(node.keys_in_flight.is_empty());
    }

    #[test]
    fn a_write_released_by_its_migrate_during_a_pause_waits_for_the_pause() {
        let (mut node, c, now) = node_with_keys();
        node.command(now, c, &words(&["MIGRATE", "h", "1", "a", "0", "100"]));
        let job = job_of(node.take_effects());
        let other = node.client_connected(now, "127.0.0.1:3".into(), "127.0.0.1:2".into());
        node.command(now, other, &words(&["SET", "a", "new"]));
        let admin = node.client_connected(now, "127.0.0.1:4".into(), "127.0.0.1:2".into());
        let pause = ["CLIENT", "PAUSE", "100000", "WRITE"];
        assert_eq!(node.command(now, admin, &words(&pause)), Reply::ok());
        node.take_effects();
        let outcome = MigrateOutcome::Replies(vec![Reply::ok()]);
        assert_eq!(node.migrate_finished(now, job, outcome), Reply::ok());
        let unblocked = |effects: Vec<Effect>| {
            effects
                .into_iter()
                .any(|e| matches!(e, Effect::UnblockClient { client, .. } if client == other))
        };
        assert!(!unblocked(node.take_effects()), "held on by the pause");
        assert!(!node.db.contains(b"a", now.unix_ms));
        assert_eq!(
            node.command(now, admin, &words(&["CLIENT", "UNPAUSE"])),
            Reply::ok()
        );
        assert!(unblocked(node.take_effects()));
        assert!(node.db.contains(b"a", now.unix_ms));
    }

    #[test]
    fn io_failures_lose_nothing() {
        let (mut node, c, now) = node_with_keys();
        for (outcome, text) in [
            (
                MigrateOutcome::ConnectFailed,
                "IOERR error or timeout connecting to the client",
            ),
            (
                MigrateOutcome::WriteFailed,
                "IOERR error or timeout writing to target instance",
            ),
            (
                MigrateOutcome::ReadFailed,
                "IOERR error or timeout reading to target instance",
            ),
        ] {
            node.command(
                now,
                c,
                &words(&["MIGRATE", "h", "1", "a", "0", "100", "COPY"]),
            );
            let job = job_of(node.take_effects());
            assert_eq!(node.migrate_finished(now, job, outcome), Reply::error(text));
            assert_eq!(node.db.len(), 2);
        }
    }

    #[test]
    fn argument_errors() {
        let (mut node, c, now) = node_with_keys();
        let cases: &[(&[&str], Reply)] = &[
            (&["MIGRATE", "h", "1", "nokey", "0", "100"], Reply::simple("NOKEY")),
            (
                &["MIGRATE", "h", "1", "a", "0", "100", "KEYS", "b"],
                Reply::err("When using MIGRATE KEYS option, the key argument must be set to the empty string"),
            ),
            (&["MIGRATE", "h", "1", "a", "0", "100", "BOGUS"], Reply::syntax_error()),
            (&["MIGRATE", "h", "x", "a", "0", "100"], Reply::not_integer()),
        ];
        for (args, expected) in cases {
            assert_eq!(&node.command(now, c, &words(args)), expected, "{args:?}");
            assert!(node
                .take_effects()
                .iter()
                .all(|e| !matches!(e, Effect::Migrate(_))));
        }
    }
}
