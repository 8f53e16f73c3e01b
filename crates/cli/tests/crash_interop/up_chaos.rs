//! `clusterlab up --replicas 1 --chaos SEED` with `clusterlab node` and with real
//! `redis-server`: a client writes through the chaos (each key once, `SET` then `WAIT 1` on the
//! same connection, following MOVED and ASK), and once `up` says the cluster is healthy again
//! every key is read back.
//!
//! What may be lost, by Redis's semantics: a write acknowledged by its master alone (`WAIT`
//! answered 0) may vanish when the master fails and its replica, which never had it, is
//! promoted. A write the replica confirmed (`WAIT` ≥ 1) must survive: with one replica per
//! master and one fault at a time, the only replica that can be promoted is the one that holds
//! it; a `kill -9` loses nothing the killed node acknowledged (the append-only file is written
//! before the reply); a manual failover waits for the replica; a reshard MIGRATEs. So the test
//! demands every confirmed key and prints how many master-only ones were lost.
//!
//! The redis-server run replays the schedule from a file (`--dry-run --schedule-out`, then
//! `--schedule`), the clusterlab run draws it from the seed: the same steps either way.
//!
//! Short and small so it stays within the CI budget: 3 masters + 3 replicas, node timeout
//! 500 ms, 10 s of chaos; both servers run side by side. Seed 48 draws one fault of each kind,
//! against masters where it matters: SIGSTOP of master 2 for 1.2 s and `kill -9` of master 0
//! for 1 s (both past the node timeout, so their replicas are failed over to unless the master
//! is back before the election's random delay ran out), `CLUSTER FAILOVER`, then a reshard. Half the keys are hash-tagged into the lowest slots of each of the three
//! initial ranges, the ones a reshard moves first, so it migrates keys while they are written.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::{free_ports, TestDir, BIN};

const SEED: u64 = 48;
const DURATION_S: u64 = 10;
const NODE_TIMEOUT_MS: u64 = 500;
/// The whole run's bound: start, chaos, the final health wait (30 s at most), reads.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// How long one write may keep retrying (redirects, a down shard) before it is given up.
const WRITE_LIMIT: Duration = Duration::from_secs(3);
const WAIT_TIMEOUT_MS: u64 = 300;

/// The `up` process (killed by PID if still running when dropped) and its stdout lines.
struct Up {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

/// The flags that draw the schedule.
fn chaos_flags() -> Vec<String> {
    let flags = [
        "--replicas",
        "1",
        "--chaos",
        &SEED.to_string(),
        "--duration",
        &DURATION_S.to_string(),
        "--node-timeout-ms",
        &NODE_TIMEOUT_MS.to_string(),
    ]
    .map(String::from);
    flags.to_vec()
}

impl Up {
    /// `up --chaos` with clusterlab nodes; with redis-server, the schedule is drawn first by
    /// `--dry-run` and replayed from its file (`--schedule`), the path a user replays a
    /// failure by.
    fn start(dir: &TestDir, port: u16, redis_server: bool) -> Up {
        let mut command = Command::new(BIN);
        command.arg("up");
        if redis_server {
            let drawn = dir.join("drawn.json");
            let status = Command::new(BIN)
                .arg("up")
                .args(chaos_flags())
                .args(["--dry-run", "--schedule-out"])
                .arg(&drawn)
                .stdout(Stdio::null())
                .status()
                .expect("up --dry-run");
            assert!(status.success());
            command.arg("--redis-server").arg("--schedule").arg(&drawn);
        } else {
            command.args(chaos_flags());
        }
        command
            .args(["--port", &port.to_string(), "--keep-up"])
            .arg("--dir")
            .arg(dir.join("cluster"))
            .arg("--schedule-out")
            .arg(dir.join("schedule.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start clusterlab up");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("up: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Up { child, lines }
    }

    fn said(&self, prefix: &str) -> Option<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().find(|l| l.contains(prefix)).cloned()
    }

    fn wait_for(&mut self, text: &str, deadline: Instant) -> String {
        loop {
            if let Some(line) = self.said(text) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("up exited ({status}) before saying {text:?}");
            }
            assert!(Instant::now() < deadline, "up did not say {text:?} in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (up stops its nodes), then its exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signals our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "up did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A minimal cluster client: a guessed node per slot, corrected by MOVED; ASK followed once.
struct Client {
    ports: Vec<u16>,
    owner: Vec<u16>,
    next_guess: usize,
}

enum Written {
    /// `+OK` and `WAIT 1` answered this many replicas.
    Acked {
        replicas: i64,
    },
    Failed,
}

impl Client {
    fn new(ports: Vec<u16>) -> Client {
        Client {
            owner: vec![ports[0]; 16384],
            ports,
            next_guess: 0,
        }
    }

    fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
        let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
            .get_connection_with_timeout(Duration::from_millis(500))?;
        con.set_read_timeout(Some(Duration::from_millis(1500)))?;
        Ok(con)
    }

    /// Runs `f` on the node serving `key`, following redirects, until `WRITE_LIMIT`.
    fn on_key<T>(
        &mut self,
        key: &str,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let slot = usize::from(clusterlab_core::slot::key_hash_slot(key.as_bytes()));
        let deadline = Instant::now() + WRITE_LIMIT;
        while Instant::now() < deadline {
            let attempt = Self::connect(self.owner[slot]).and_then(|mut con| f(&mut con));
            match attempt {
                Ok(value) => return Some(value),
                Err(e) => match (e.kind(), e.redirect_node()) {
                    (redis::ErrorKind::Moved, Some((addr, _))) => {
                        self.owner[slot] = port_of(addr);
                    }
                    (redis::ErrorKind::Ask, Some((addr, _))) => {
                        let asked = Self::connect(port_of(addr)).and_then(|mut con| {
                            redis::cmd("ASKING").query::<()>(&mut con)?;
                            f(&mut con)
                        });
                        if let Ok(value) = asked {
                            return Some(value);
                        }
                    }
                    _ => {
                        // Down, paused, CLUSTERDOWN, a replica's MOVED lag: try another node.
                        self.next_guess = (self.next_guess + 1) % self.ports.len();
                        self.owner[slot] = self.ports[self.next_guess];
                        std::thread::sleep(Duration::from_millis(50));
                    }
                },
            }
        }
        None
    }

    fn write(&mut self, key: &str, value: &str) -> Written {
        let done = self.on_key(key, |con| {
            redis::cmd("SET").arg(key).arg(value).query::<()>(con)?;
            redis::cmd("WAIT")
                .arg(1)
                .arg(WAIT_TIMEOUT_MS)
                .query::<i64>(con)
        });
        match done {
            Some(replicas) => Written::Acked { replicas },
            None => Written::Failed,
        }
    }

    fn read(&mut self, key: &str) -> Option<Option<String>> {
        self.on_key(key, |con| {
            redis::cmd("GET").arg(key).query::<Option<String>>(con)
        })
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ip:port")
}

/// The first slots of each initial range (`admin::create`'s split of 16384 among 3).
const TAGGED_SLOTS: [u16; 3] = [0, 5461, 10923];
const TAGGED_PER_RANGE: u16 = 8;

/// Hash tags that land in the slots a reshard takes first.
fn low_slot_tags() -> Vec<String> {
    let wanted: Vec<u16> = TAGGED_SLOTS
        .iter()
        .flat_map(|&first| first..first + TAGGED_PER_RANGE)
        .collect();
    let mut tags = vec![String::new(); wanted.len()];
    for n in 0..2_000_000u32 {
        let tag = format!("t{n}");
        let slot = clusterlab_core::slot::key_hash_slot(tag.as_bytes());
        if let Some(i) = wanted.iter().position(|&w| w == slot) {
            if tags[i].is_empty() {
                tags[i] = tag;
            }
        }
        if tags.iter().all(|t| !t.is_empty()) {
            return tags;
        }
    }
    panic!("no tag found for every wanted slot");
}

/// Key `i`: every other one tagged into a low slot of some range.
fn key(tags: &[String], i: u64) -> String {
    if i.is_multiple_of(2) {
        format!("{{{}}}chaos:{i}", tags[(i / 2) as usize % tags.len()])
    } else {
        format!("chaos:{i}")
    }
}

/// What the client saw: keys with how many replicas confirmed them, and failed writes.
fn write_through_chaos(
    up: &mut Up,
    client: &mut Client,
    tags: &[String],
    deadline: Instant,
) -> (Vec<(u64, i64)>, u64) {
    let mut acked = Vec::new();
    let mut failed = 0;
    for i in 0..1_000_000u64 {
        if up.said("chaos: done").is_some() || Instant::now() > deadline {
            break;
        }
        match client.write(&key(tags, i), &format!("v{i}")) {
            Written::Acked { replicas } => acked.push((i, replicas)),
            Written::Failed => failed += 1,
        }
    }
    (acked, failed)
}

fn chaos_run(name: &str, redis_server: bool) {
    let dir = TestDir::new(name);
    let ports = free_ports(6);
    let deadline = Instant::now() + RUN_LIMIT;
    let mut up = Up::start(&dir, ports[0], redis_server);
    up.wait_for("Cluster ready", deadline);
    let mut client = Client::new(ports.clone());
    let tags = low_slot_tags();
    let (acked, failed) = write_through_chaos(&mut up, &mut client, &tags, deadline);
    let verdict = up.wait_for("chaos: done", deadline);
    assert!(verdict.contains("cluster healthy"), "{verdict}");
    let confirmed = acked.iter().filter(|(_, r)| *r >= 1).count();
    let mut lost_confirmed = Vec::new();
    let mut lost_master_only = 0;
    for &(i, replicas) in &acked {
        let read = client.read(&key(&tags, i));
        assert!(
            read.is_some(),
            "key {i} cannot be read from a healthy cluster"
        );
        if read.flatten().as_deref() != Some(format!("v{i}").as_str()) {
            if replicas >= 1 {
                lost_confirmed.push(i);
            } else {
                lost_master_only += 1;
            }
        }
    }
    let steps: Vec<String> = up
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("chaos step"))
        .cloned()
        .collect();
    println!(
        "{name}: {} writes acknowledged ({confirmed} confirmed by WAIT), {failed} given up; \
         lost: {} confirmed, {lost_master_only} master-only",
        acked.len(),
        lost_confirmed.len()
    );
    let status = up.stop();
    assert!(status.success(), "up exits 0 after a healthy end: {status}");
    if redis_server {
        // Replayed exactly: the file written back is the file read.
        let drawn = std::fs::read_to_string(dir.join("drawn.json")).expect("drawn schedule");
        let replayed = std::fs::read_to_string(dir.join("schedule.json")).expect("schedule");
        assert_eq!(drawn, replayed);
    }
    // Every kind of fault struck, as the schedule file says.
    let schedule = std::fs::read_to_string(dir.join("schedule.json")).expect("schedule written");
    for action in ["kill", "restart", "pause", "resume", "failover", "reshard"] {
        assert!(
            schedule.contains(&format!("\"action\": \"{action}\"")),
            "{schedule}"
        );
    }
    for what in [
        "kill -9",
        "restart",
        "SIGSTOP",
        "SIGCONT",
        "CLUSTER FAILOVER",
        "reshard",
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s.contains(what) && !s.contains("failed")),
            "no successful {what} step in {steps:#?}"
        );
    }
    let reshard = steps
        .iter()
        .find(|s| s.contains("reshard"))
        .expect("a reshard step");
    assert!(
        !reshard.contains("(0 keys)"),
        "the reshard moved keys: {reshard}"
    );
    assert!(confirmed >= 50, "too few confirmed writes: {confirmed}");
    assert_eq!(lost_confirmed, Vec::<u64>::new(), "confirmed writes lost");
}

#[test]
fn up_chaos_with_clusterlab_nodes() {
    chaos_run("chaos-clusterlab", false);
}

#[test]
fn up_chaos_with_redis_server() {
    assert!(
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok(),
        "redis-server is not installed (apt-get install redis-server)"
    );
    chaos_run("chaos-redis", true);
}
