//! The append clients, each on its own simulated machine (`writer1`, …), and the read-back of
//! every key after the liveness phase. Every request goes through a [`ClusterClient`], so it
//! is in the trace as an `Event::Request` under the client's label; every operation is
//! recorded with its virtual start and end, the node that answered and its outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use madsim::runtime::NodeHandle;
use madsim::task::JoinHandle;

use super::op::{
    is_redis_list, list_key, read_args, scripted_args, token, AppendHistory, Kind, Op, Outcome,
    Value, FINAL_CLIENT,
};
use super::spec::{next_step, pause_ms, wait_after_write, AppendSpec, Rng, Step};
use crate::client::{describe_reply, ClusterClient, Redirect};
use crate::cluster::SimCluster;
use crate::trace::Trace;

fn now_us() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_micros() as u64
}

/// What a reply says about its command: an error reply was not applied; a reply we do not
/// expect from these commands is treated as indeterminate. A list of tokens (`LRANGE`) reads
/// as the tokens joined, as `GET` of the appended string would give them; empty as no key.
fn outcome_of(reply: &Reply) -> Outcome {
    match reply {
        Reply::Array(items) if items.is_empty() => Outcome::Ok(Value::Nil),
        Reply::Array(items) => match joined_bulks(items) {
            Some(joined) => Outcome::Ok(Value::Bulk(joined)),
            None => Outcome::Indeterminate(describe_reply(reply)),
        },
        Reply::Error(e) => Outcome::Error(e.clone()),
        Reply::Nil => Outcome::Ok(Value::Nil),
        Reply::Bulk(b) => Outcome::Ok(Value::Bulk(String::from_utf8_lossy(b).into_owned())),
        Reply::Integer(n) => Outcome::Ok(Value::Int(*n)),
        Reply::Simple(s) => Outcome::Ok(Value::Status(s.clone())),
        other => Outcome::Indeterminate(describe_reply(other)),
    }
}

/// The elements of an `LRANGE` reply joined, if each is a bulk string.
fn joined_bulks(items: &[Reply]) -> Option<String> {
    let mut joined = String::new();
    for item in items {
        let Reply::Bulk(b) = item else { return None };
        joined.push_str(&String::from_utf8_lossy(b));
    }
    Some(joined)
}

/// The running clients; [`Clients::join`] waits for their histories.
pub struct Clients {
    _machines: Vec<NodeHandle>,
    handles: Vec<JoinHandle<Vec<Op>>>,
}

/// Starts `spec.clients` clients, each on its own machine, and returns at once.
pub fn spawn_clients(cluster: &SimCluster, spec: &AppendSpec) -> Clients {
    let mut machines = Vec::new();
    let mut handles = Vec::new();
    for n in 0..spec.clients {
        let machine = cluster.client_machine(n);
        let client = Client::new(n, spec.clone(), cluster.addrs(), cluster.trace().clone());
        handles.push(machine.spawn(client.run()));
        machines.push(machine);
    }
    Clients {
        _machines: machines,
        handles,
    }
}

impl Clients {
    /// Every client's operations, merged; `Err` if a client task failed.
    pub async fn join(self) -> Result<AppendHistory, String> {
        let mut per_client = Vec::new();
        for handle in self.handles {
            per_client.push(handle.await.map_err(|e| e.to_string())?);
        }
        Ok(AppendHistory::merge(per_client))
    }
}

/// One client: its cluster client, a second one for `READONLY` reads (so that its own
/// connections never read from replicas by accident), and its choices.
struct Client {
    n: usize,
    spec: AppendSpec,
    entries: Vec<String>,
    trace: Trace,
    entry: usize,
    main: ClusterClient,
    ro: ClusterClient,
    /// Nodes whose `ro` connection has had `READONLY`.
    readonly: BTreeSet<String>,
    rng: Rng,
    seq: usize,
    ops: Vec<Op>,
    /// Where each slot was last served, as redirects said (a cluster client's slot cache: it
    /// saves the `MOVED` hop nearly every command would take otherwise).
    owners: BTreeMap<u16, String>,
}

impl Client {
    fn new(n: usize, spec: AppendSpec, entries: Vec<String>, trace: Trace) -> Client {
        assert!(!entries.is_empty(), "a client needs an entry node");
        let label = format!("writer{}", n + 1);
        let mut main = ClusterClient::new(
            label.clone(),
            entries[n % entries.len()].clone(),
            trace.clone(),
        );
        main.set_timeout_ms(spec.request_timeout_ms);
        let mut ro = ClusterClient::new(label, entries[0].clone(), trace.clone());
        ro.set_timeout_ms(spec.request_timeout_ms);
        let rng = Rng::for_client(spec.seed, n);
        Client {
            n,
            spec,
            entries,
            trace,
            entry: n,
            main,
            ro,
            readonly: BTreeSet::new(),
            rng,
            seq: 0,
            ops: Vec::new(),
            owners: BTreeMap::new(),
        }
    }

    async fn run(mut self) -> Vec<Op> {
        let started = madsim::time::Instant::now();
        let deadline = Duration::from_millis(self.spec.duration_ms);
        while self.ops.len() < self.spec.max_ops && started.elapsed() < deadline {
            let step = next_step(&mut self.rng, &self.spec);
            self.step(step).await;
            let pause = pause_ms(&mut self.rng, &self.spec);
            madsim::time::sleep(Duration::from_millis(pause)).await;
        }
        let acked = self
            .ops
            .iter()
            .filter(|op| op.kind.is_write() && op.is_ok())
            .count();
        let line = format!("done ops={} acked_writes={acked}", self.ops.len());
        self.trace.record(format!("writer{}", self.n + 1), line);
        self.ops
    }

    fn next_token(&mut self) -> String {
        self.seq += 1;
        token(self.n, self.seq - 1)
    }

    async fn step(&mut self, step: Step) {
        let keys = self.spec.keys;
        let list = |n: usize| list_key(&keys, n);
        let ttl = |n: usize| format!("ttl:{n}");
        let get = Kind::Get {
            replica: false,
            final_read: false,
        };
        match step {
            Step::Append(n) => {
                let token = self.next_token();
                let verb = if is_redis_list(&list(n)) {
                    "RPUSH"
                } else {
                    "APPEND"
                };
                // Every fourth append of a client runs inside a script (no draw, so the
                // seed's schedule and mix stay as they were).
                let args = if self.seq.is_multiple_of(4) {
                    scripted_args(verb, &list(n), &token)
                } else {
                    [verb, &list(n), &token].map(String::from).to_vec()
                };
                self.write(list(n), Kind::Append { token }, args).await;
            }
            Step::Set(n) => {
                let token = self.next_token();
                let args = ["SET", &list(n), &token].map(String::from).to_vec();
                self.write(list(n), Kind::Set { token, px_ms: None }, args)
                    .await;
            }
            Step::SetPx(n, ms) => {
                let token = self.next_token();
                let args = ["SET", &ttl(n), &token, "PX", &ms.to_string()]
                    .map(String::from)
                    .to_vec();
                self.write(
                    ttl(n),
                    Kind::Set {
                        token,
                        px_ms: Some(ms),
                    },
                    args,
                )
                .await;
            }
            Step::Incr(n) => {
                let key = format!("ctr:{n}");
                self.write(key.clone(), Kind::Incr, vec!["INCR".into(), key])
                    .await;
            }
            Step::Pexpire(n, ms) => {
                let args = vec!["PEXPIRE".into(), ttl(n), ms.to_string()];
                self.write(ttl(n), Kind::Pexpire { ms }, args).await;
            }
            Step::Persist(n) => {
                self.write(ttl(n), Kind::Persist, vec!["PERSIST".into(), ttl(n)])
                    .await
            }
            Step::Get(n) => self.routed(list(n), get, read_args(&list(n))).await,
            Step::TtlGet(n) => self.routed(ttl(n), get, vec!["GET".into(), ttl(n)]).await,
            Step::ReplicaGet(n, node) => self.replica_get(list(n), node).await,
            Step::TtlReplicaGet(n, node) => self.replica_get(ttl(n), node).await,
        }
    }

    /// A write through the cluster client, sometimes followed by `WAIT 1` on its node.
    async fn write(&mut self, key: String, kind: Kind, args: Vec<String>) {
        self.routed(key.clone(), kind, args).await;
        let Some(op) = self.ops.last().filter(|op| op.is_ok()) else {
            return;
        };
        if wait_after_write(&mut self.rng, &self.spec) {
            let addr = op.addr.clone();
            let args = ["WAIT", "1", "100"].map(String::from).to_vec();
            let start_us = now_us();
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let outcome = match self.main.send_to(&addr, &refs).await {
                Ok(reply) => outcome_of(&reply),
                Err(e) => Outcome::Indeterminate(e.to_string()),
            };
            self.push(
                key,
                Kind::Wait { replicas: 1 },
                args,
                start_us,
                addr,
                outcome,
            );
        }
    }

    /// One command through the cluster client (redirects followed).
    async fn routed(&mut self, key: String, kind: Kind, args: Vec<String>) {
        let start_us = now_us();
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let slot = key_hash_slot(key.as_bytes());
        if let Some(owner) = self.owners.get(&slot) {
            self.main.set_current(owner.clone());
        }
        let (addr, outcome) = match self.main.command(&refs).await {
            Ok(routed) => {
                for redirect in routed.redirects() {
                    if let Redirect::Moved { slot, addr } = redirect {
                        self.owners.insert(slot, addr);
                    }
                }
                let addr = routed
                    .hops
                    .last()
                    .map(|h| h.addr.clone())
                    .unwrap_or_default();
                (addr, outcome_of(&routed.reply))
            }
            Err(e) => {
                let addr = self.main.current().to_string();
                self.owners.remove(&slot);
                self.rotate();
                (addr, Outcome::Indeterminate(e.to_string()))
            }
        };
        self.push(key, kind, args, start_us, addr, outcome);
    }

    /// After an I/O error the next entry node takes over, so a dead node does not swallow
    /// the requests meant for live ones.
    fn rotate(&mut self) {
        self.entry += 1;
        let label = format!("writer{}", self.n + 1);
        let entry = self.entries[self.entry % self.entries.len()].clone();
        self.main = ClusterClient::new(label, entry, self.trace.clone());
        self.main.set_timeout_ms(self.spec.request_timeout_ms);
    }

    /// `READONLY` (once per connection) and the key's read sent straight to node `node`: its
    /// master or one of its replicas answers; any other node answers `MOVED`, an error.
    async fn replica_get(&mut self, key: String, node: usize) {
        let addr = self.entries[node % self.entries.len()].clone();
        if !self.readonly.contains(&addr) {
            match self.ro.send_to(&addr, &[b"READONLY"]).await {
                Ok(_) => self.readonly.insert(addr.clone()),
                Err(_) => return,
            };
        }
        let args = read_args(&key);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let start_us = now_us();
        let outcome = match self.ro.send_to(&addr, &refs).await {
            Ok(reply) => outcome_of(&reply),
            Err(e) => {
                // The connection is gone, and its READONLY with it.
                self.readonly.remove(&addr);
                Outcome::Indeterminate(e.to_string())
            }
        };
        let kind = Kind::Get {
            replica: true,
            final_read: false,
        };
        self.push(key, kind, args, start_us, addr, outcome);
    }

    fn push(
        &mut self,
        key: String,
        kind: Kind,
        args: Vec<String>,
        start_us: u64,
        addr: String,
        outcome: Outcome,
    ) {
        self.ops.push(Op {
            id: self.ops.len(),
            client: self.n,
            key,
            kind,
            args,
            start_us,
            end_us: now_us(),
            addr,
            outcome,
        });
    }
}

/// How often the read-back retries a key after an I/O error or an error reply.
const READ_ATTEMPTS: usize = 3;

/// Reads every key (`GET`, `LRANGE` for Redis lists) from the harness's client machine, as final reads; the keys no attempt
/// could read come back apart (`key: last error`).
pub async fn read_final(
    cluster: &SimCluster,
    keys: Vec<String>,
) -> (Vec<Op>, Vec<(String, String)>) {
    let (entries, trace) = (cluster.addrs(), cluster.trace().clone());
    cluster
        .on_client(async move {
            let mut entry = 0;
            let new_client = |entry: usize| {
                let mut c = ClusterClient::new(
                    "reader",
                    entries[entry % entries.len()].clone(),
                    trace.clone(),
                );
                c.set_timeout_ms(5000);
                c
            };
            let mut client = new_client(entry);
            let (mut ops, mut failed) = (Vec::new(), Vec::new());
            for key in keys {
                let mut last_error = String::new();
                let args = read_args(&key);
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                for _ in 0..READ_ATTEMPTS {
                    let start_us = now_us();
                    let (addr, outcome) = match client.command(&refs).await {
                        Ok(r) => (
                            r.hops.last().map(|h| h.addr.clone()).unwrap_or_default(),
                            outcome_of(&r.reply),
                        ),
                        Err(e) => {
                            entry += 1;
                            client = new_client(entry);
                            (
                                String::new(),
                                Outcome::Indeterminate(format!("io error: {e}")),
                            )
                        }
                    };
                    if let Outcome::Ok(Value::Nil | Value::Bulk(_)) = outcome {
                        let args = args.clone();
                        let kind = Kind::Get {
                            replica: false,
                            final_read: true,
                        };
                        let end_us = now_us();
                        ops.push(Op {
                            id: 0,
                            client: FINAL_CLIENT,
                            key: key.clone(),
                            kind,
                            args,
                            start_us,
                            end_us,
                            addr,
                            outcome,
                        });
                        last_error.clear();
                        break;
                    }
                    last_error = format!("{outcome:?}");
                }
                if !last_error.is_empty() {
                    failed.push((key.clone(), last_error));
                }
            }
            (ops, failed)
        })
        .await
}
