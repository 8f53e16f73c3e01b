//! The tutorial's crash step on real processes, and start-up on damaged or unusable files.
//!
//! Crash: three `clusterlab node` masters made into a cluster by the real `redis-cli --cluster
//! create`; `DEBUG SEGFAULT` kills the first one; the two others must mark it `fail` and report
//! `cluster_state:fail` within a bound derived from `cluster-node-timeout`; the restarted node
//! comes back with the same ID and data, and every node returns to `cluster_state:ok`. The
//! measured times are printed (run with `--nocapture` to see them).
//!
//! Bad input: a node whose `nodes.conf` or AOF is damaged, whose `dir` is unusable, or whose
//! port is taken must exit 1 with redis-server's message and leave every data file as it was
//! (except the one case Redis allows: cutting a torn AOF tail with `aof-load-truncated yes`).

mod common;
#[path = "crash_interop/up_chaos.rs"]
mod up_chaos;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// The tutorial's allocation for three masters, in argument order.
const RANGES: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];
/// Slack on top of the protocol's own bounds, for a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_secs(4);
/// How long a cluster may take to settle after `--cluster create`.
const SETTLE: Duration = Duration::from_secs(20);
/// How often the survivors are polled while waiting for FAIL / ok.
const POLL: Duration = Duration::from_millis(20);

fn connection(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
        .get_connection_with_timeout(Duration::from_secs(5))
}

/// `CLUSTER INFO` as field → value (empty when the node cannot be reached).
fn cluster_info(port: u16) -> BTreeMap<String, String> {
    let text: String = connection(port)
        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn cluster_state(port: u16) -> String {
    cluster_info(port)
        .remove("cluster_state")
        .unwrap_or_default()
}

/// The `CLUSTER NODES` line `viewer` has about the node listening on `port`.
fn nodes_line(viewer: u16, port: u16) -> Option<String> {
    let text: String = connection(viewer)
        .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query(&mut c))
        .ok()?;
    let addr = format!(" 127.0.0.1:{port}@{} ", port + 10000);
    text.lines()
        .find(|line| line.contains(&addr))
        .map(str::to_string)
}

/// Field 2 of a `CLUSTER NODES` line.
fn flags(line: &str) -> &str {
    line.split(' ').nth(2).unwrap_or("")
}

fn my_id(port: u16) -> String {
    let mut conn = connection(port).expect("connect");
    redis::cmd("CLUSTER").arg("MYID").query(&mut conn).unwrap()
}

/// Polls until `check` holds, at most until `bound` after `since`; returns the time since
/// `since`.
fn time_until(
    since: Instant,
    bound: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Duration {
    while !check() {
        assert!(
            since.elapsed() < bound,
            "timed out after {bound:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
    since.elapsed()
}

fn create_with_redis_cli(nodes: &[NodeProcess]) {
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.push("--cluster-yes");
    let output = run_bounded(
        Command::new("redis-cli").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-cli --cluster create failed:\n{stdout}"
    );
    assert!(stdout.contains("[OK] All 16384 slots covered."), "{stdout}");
}

/// The survivors' view once the crashed master is FAIL, as in the tutorial.
fn survivors_see_failure(survivors: &[u16], crashed: u16) -> bool {
    survivors.iter().all(|&port| {
        let info = cluster_info(port);
        let field = |k: &str| info.get(k).map(String::as_str).unwrap_or("");
        field("cluster_state") == "fail"
            && field("cluster_slots_fail") == "5461"
            && nodes_line(port, crashed).is_some_and(|l| flags(&l) == "master,fail")
    })
}

/// The tutorial's "Node down" and "restart" steps at the given node timeout.
fn crash_and_restart(node_timeout_ms: u64) {
    if !redis_cli_available() {
        return;
    }
    let dir = TestDir::new(&format!("crash-{node_timeout_ms}"));
    let extra = "appendonly yes\nenable-debug-command yes";
    let ports = free_ports(3);
    let mut nodes: Vec<NodeProcess> = ports
        .iter()
        .map(|&port| NodeProcess::start(&dir.path, port, node_timeout_ms, extra))
        .collect();
    create_with_redis_cli(&nodes);
    for &port in &ports {
        time_until(
            Instant::now(),
            SETTLE,
            &format!("cluster_state:ok on {port}"),
            || cluster_state(port) == "ok",
        );
    }
    let (a, c) = (ports[0].to_string(), ports[2].to_string());
    // Written through the third node: -c follows the MOVED to the first master.
    assert_eq!(redis_cli(&["-c", "-p", &c, "set", "key2", "world"]), "OK\n");
    assert_eq!(redis_cli(&["-p", &a, "get", "key2"]), "world\n");
    let id = my_id(ports[0]);

    // DEBUG SEGFAULT: no reply, the connection drops, the process dies by a signal.
    let mut conn = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
    conn.write_all(b"*2\r\n$5\r\nDEBUG\r\n$8\r\nSEGFAULT\r\n")
        .unwrap();
    let crashed_at = Instant::now();
    let (reply, closed) = read_until_closed(&mut conn, Duration::from_secs(5));
    assert_eq!(reply, b"", "a crashing node sends no reply");
    assert!(closed, "connection still open after DEBUG SEGFAULT");
    let status = nodes[0].wait_exit(Duration::from_secs(5));
    assert!(
        status.signal().is_some(),
        "exited without a signal: {status}"
    );

    let nt = Duration::from_millis(node_timeout_ms);
    let survivors = [ports[1], ports[2]];
    let to_fail = time_until(
        crashed_at,
        3 * nt + MARGIN,
        "the survivors to mark it FAIL",
        || survivors_see_failure(&survivors, ports[0]),
    );
    for &port in &survivors {
        let info = cluster_info(port);
        assert_eq!(info["cluster_slots_ok"], "10923", "{info:?}");
        assert_eq!(info["cluster_slots_pfail"], "0", "{info:?}");
        assert_eq!(info["cluster_known_nodes"], "3", "{info:?}");
        let line = nodes_line(port, ports[0]).unwrap();
        assert!(line.ends_with(" disconnected 0-5460"), "{line}");
    }
    println!(
        "node timeout {node_timeout_ms} ms: crash → fail seen on both survivors in {:.2} s",
        to_fail.as_secs_f64()
    );

    // Restart with the same redis.conf: same ID, same data, and the cluster heals.
    drop(nodes.remove(0));
    let restarted_at = Instant::now();
    nodes.insert(
        0,
        NodeProcess::start(&dir.path, ports[0], node_timeout_ms, extra),
    );
    assert_eq!(my_id(ports[0]), id, "the restarted node changed its ID");
    // Writable delay (2 s), FAIL undo (2 × NT after fail_time) and rejoin delay (≤ NT).
    let heal_bound = 2 * nt + Duration::from_secs(2) + nt + MARGIN;
    for &port in &ports {
        time_until(
            restarted_at,
            heal_bound,
            &format!("cluster_state:ok on {port}"),
            || cluster_state(port) == "ok",
        );
    }
    let to_ok = restarted_at.elapsed();
    println!(
        "node timeout {node_timeout_ms} ms: restart → cluster_state:ok on all three in {:.2} s",
        to_ok.as_secs_f64()
    );
    assert_eq!(redis_cli(&["-p", &a, "get", "key2"]), "world\n");
    assert_eq!(redis_cli(&["-c", "-p", &c, "get", "key2"]), "world\n");
    for &viewer in &ports {
        for (i, &port) in ports.iter().enumerate() {
            let line = nodes_line(viewer, port).unwrap();
            assert!(!flags(&line).contains("fail"), "{viewer} sees {line}");
            assert!(
                line.ends_with(&format!(" connected {}", RANGES[i])),
                "{line}"
            );
        }
    }
}

#[test]
fn crashed_master_is_failed_then_rejoins_with_its_data() {
    crash_and_restart(1000);
}

/// The tutorial's own `cluster-node-timeout 5000`: about 25 s. Run it with
/// `cargo test -p clusterlab --test crash_interop -- --ignored --nocapture`.
#[test]
#[ignore = "slow (node timeout 5 s); run with --ignored"]
fn crashed_master_is_failed_then_rejoins_at_the_tutorial_timeout() {
    crash_and_restart(5000);
}

// ---- start-up on bad input -------------------------------------------------------------------

/// Node timeout of the single nodes below (they never fail over anything).
const SINGLE_NT_MS: u64 = 2000;
const AOF_CONF: &str = "appendonly yes\nappendfsync always";
/// The incr AOF file of the node on `port` (test nodes each get `appendonlydir-<port>`).
fn incr_file(port: u16) -> String {
    format!("appendonlydir-{port}/appendonly.aof.1.incr.aof")
}
/// The torn command appended to an AOF: `SET key3 abc` cut inside its last argument.
const TORN_TAIL: &[u8] = b"*3\r\n$3\r\nSET\r\n$4\r\nkey3\r\n$3\r\nab";

/// Sends one command as a RESP array and returns the raw reply.
fn command(port: u16, args: &[&str]) -> String {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    String::from_utf8(resp_roundtrip(port, request.as_bytes()).unwrap()).unwrap()
}

fn wait_for_single_node_ok(port: u16) {
    time_until(
        Instant::now(),
        SETTLE,
        &format!("cluster_state:ok on {port}"),
        || command(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
    );
}

/// A node that owned every slot and stored `key2`, stopped cleanly: its directory holds a real
/// `nodes.conf` and AOF to damage.
fn stopped_node_with_data(name: &str) -> (TestDir, u16) {
    let dir = TestDir::new(name);
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let mut node = NodeProcess::start(&dir.path, port, SINGLE_NT_MS, AOF_CONF);
    assert_eq!(
        command(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]),
        "+OK\r\n"
    );
    wait_for_single_node_ok(port);
    assert_eq!(command(port, &["SET", "key2", "world"]), "+OK\r\n");
    // SAFETY: kill signals our own child, which has not been reaped.
    unsafe { libc::kill(node.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(node.wait_exit(Duration::from_secs(5)).code(), Some(0));
    drop(node);
    (dir, port)
}

/// Every file a node keeps (nodes.conf, its lock, the AOF directory), with its bytes; not the
/// redis.conf, log, stderr or pid files the tests themselves look at.
fn data_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if !(name.starts_with("node-")
                || name.ends_with(".log")
                || name.ends_with(".stderr")
                || name.ends_with(".pid"))
            {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A start that must fail: runs `clusterlab node` on the redis.conf `node_conf` writes,
/// returning its output and what it added to its log.
fn failed_start(dir: &Path, port: u16, extra: &str) -> (Output, String) {
    let conf = dir.join(format!("node-{port}.conf"));
    std::fs::write(&conf, node_conf(dir, port, SINGLE_NT_MS, extra)).unwrap();
    let log_path = dir.join(format!("node-{port}.log"));
    let log_before = std::fs::read_to_string(&log_path).unwrap_or_default();
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(15),
    );
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let added = log.get(log_before.len()..).unwrap_or_default().to_string();
    assert_eq!(output.status.code(), Some(1), "{output:?}\nlog:\n{added}");
    assert!(!added.contains("Ready to accept connections"), "{added}");
    (output, added)
}

/// A stopped node's files, checked to be there so "unchanged" means something.
fn node_data_files(dir: &Path, port: u16) -> BTreeMap<PathBuf, Vec<u8>> {
    let files = data_files(dir);
    for name in [format!("nodes-{port}.conf"), incr_file(port)] {
        let path = dir.join(&name);
        assert!(
            files.get(&path).is_some_and(|bytes| !bytes.is_empty()),
            "{name} missing or empty: {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    files
}

/// Exit 1 with `message` as the last log line (at warning level) and all of stderr, and no
/// data file touched.
fn assert_refused(dir: &Path, port: u16, extra: &str, message: &str) {
    let before = node_data_files(dir, port);
    let (output, log) = failed_start(dir, port, extra);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{message}\n")
    );
    let last = log.lines().last().unwrap_or_default();
    assert!(last.ends_with(&format!(" # {message}")), "log:\n{log}");
    assert!(
        data_files(dir) == before,
        "a failed start changed data files"
    );
}

fn nodes_conf(dir: &TestDir, port: u16) -> PathBuf {
    dir.join(&format!("nodes-{port}.conf"))
}

#[test]
fn a_garbage_line_in_nodes_conf_stops_the_start() {
    let (dir, port) = stopped_node_with_data("bad-nodes-conf");
    let path = nodes_conf(&dir, port);
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"this is not a node line\n");
    std::fs::write(&path, text).unwrap();
    assert_refused(
        &dir.path,
        port,
        AOF_CONF,
        "Unrecoverable error: corrupted cluster config file.",
    );
}

#[test]
fn a_torn_aof_tail_is_cut_when_aof_load_truncated_is_yes() {
    let (dir, port) = stopped_node_with_data("aof-truncated-yes");
    let incr = dir.join(&incr_file(port));
    let whole = std::fs::read(&incr).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(TORN_TAIL);
    std::fs::write(&incr, &torn).unwrap();

    let extra = format!("{AOF_CONF}\naof-load-truncated yes");
    let node = NodeProcess::start(&dir.path, port, SINGLE_NT_MS, &extra);
    let log = node.log();
    let expected = [
        "# !!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
            .to_string(),
        format!(
            "# !!! Truncating the AOF appendonly.aof.1.incr.aof at offset {} !!!",
            whole.len()
        ),
        "# AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled"
            .to_string(),
    ];
    let mut rest = log.as_str();
    for line in &expected {
        let at = rest
            .find(line.as_str())
            .unwrap_or_else(|| panic!("missing (or out of order) `{line}` in log:\n{log}"));
        rest = &rest[at + line.len()..];
    }
    // Cut back to the last whole command: what was acknowledged is all there.
    assert_eq!(std::fs::read(&incr).unwrap(), whole);
    wait_for_single_node_ok(port);
    assert_eq!(command(port, &["GET", "key2"]), "$5\r\nworld\r\n");
    assert_eq!(command(port, &["GET", "key3"]), "$-1\r\n");
}

#[test]
fn a_torn_aof_tail_stops_the_start_when_aof_load_truncated_is_no() {
    let (dir, port) = stopped_node_with_data("aof-truncated-no");
    let incr = dir.join(&incr_file(port));
    let mut torn = std::fs::read(&incr).unwrap();
    torn.extend_from_slice(TORN_TAIL);
    std::fs::write(&incr, &torn).unwrap();
    assert_refused(
        &dir.path,
        port,
        &format!("{AOF_CONF}\naof-load-truncated no"),
        "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You \
         can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix \
         <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' \
         configuration option to yes and restart the server.",
    );
}

#[test]
fn garbage_inside_the_aof_stops_the_start_even_with_aof_load_truncated() {
    let (dir, port) = stopped_node_with_data("aof-garbage");
    let incr = dir.join(&incr_file(port));
    let whole = std::fs::read(&incr).unwrap();
    // After the leading SELECT, before the SET: whole commands follow the damage.
    let select = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
    assert!(
        whole.starts_with(select),
        "{:?}",
        String::from_utf8_lossy(&whole)
    );
    let mut damaged = select.to_vec();
    damaged.extend_from_slice(b"garbage\r\n");
    damaged.extend_from_slice(&whole[select.len()..]);
    std::fs::write(&incr, &damaged).unwrap();
    assert_refused(
        &dir.path,
        port,
        &format!("{AOF_CONF}\naof-load-truncated yes"),
        "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup \
         of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
    );
}

#[test]
fn a_dir_under_a_regular_file_is_a_config_error() {
    let dir = TestDir::new("dir-under-file");
    let regular = dir.join("regular");
    std::fs::write(&regular, b"not a directory").unwrap();
    let bad_dir = regular.join("data");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let conf = dir.join("redis.conf");
    // Everything else (log, pid, nodes.conf) would live in the unusable directory too.
    std::fs::write(&conf, node_conf(&bad_dir, port, SINGLE_NT_MS, AOF_CONF)).unwrap();
    let before = data_files(&dir.path);
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(15),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    // `dir` is line 6 of the generated redis.conf.
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
             Reading the configuration file, at line 6\n\
             >>> 'dir \"{}\"'\n\
             Not a directory\n",
            bad_dir.display()
        )
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert!(data_files(&dir.path) == before, "files changed");
    assert_eq!(std::fs::read(&regular).unwrap(), b"not a directory");
}

#[test]
fn a_dir_where_no_file_can_be_created_stops_the_start() {
    // /proc exists and is a directory, but no one (root included) can create files in it.
    let dir = TestDir::new("dir-unwritable");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let conf = dir.join("redis.conf");
    let log = dir.join("node.log");
    let text = format!(
        "port {port}\nbind 127.0.0.1\ncluster-enabled yes\ncluster-config-file nodes-{port}.conf\n\
         dir /proc\nlogfile \"{}\"\nappendonly yes\n",
        log.display()
    );
    std::fs::write(&conf, text).unwrap();
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(15),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let message = format!(
        "Can't open nodes-{port}.conf in order to acquire a lock: No such file or directory"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{message}\n")
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.trim_end().ends_with(&format!(" # {message}")), "{log}");
    assert!(!Path::new(&format!("/proc/appendonlydir-{port}")).exists());
}

#[test]
fn a_client_port_in_use_stops_the_start_with_redis_wording() {
    let (dir, port) = stopped_node_with_data("port-in-use");
    let _taken = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let before = node_data_files(&dir.path, port);
    let (output, log) = failed_start(&dir.path, port, AOF_CONF);
    let warning = format!(
        "# Warning: Could not create server TCP listening socket 127.0.0.1:{port}: bind: Address \
         already in use"
    );
    let fatal = format!("Failed listening on port {port} (TCP), aborting.");
    let lines: Vec<&str> = log.lines().collect();
    let n = lines.len();
    assert!(n >= 2, "log:\n{log}");
    assert!(
        lines[n - 2].ends_with(&format!(" {warning}")),
        "log:\n{log}"
    );
    assert!(
        lines[n - 1].ends_with(&format!(" # {fatal}")),
        "log:\n{log}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("{fatal}\n")
    );
    assert!(
        data_files(&dir.path) == before,
        "a failed start changed data files"
    );
}

#[test]
fn a_bus_port_in_use_stops_the_start_with_redis_wording() {
    let (dir, port) = stopped_node_with_data("bus-port-in-use");
    let bus_port = port + 10000;
    let _taken = TcpListener::bind(("127.0.0.1", bus_port)).unwrap();
    let before = node_data_files(&dir.path, port);
    let (output, log) = failed_start(&dir.path, port, AOF_CONF);
    assert!(
        log.contains(&format!(
            "# Warning: Could not create server TCP listening socket 127.0.0.1:{bus_port}: \
             bind: Address already in use\n"
        )),
        "log:\n{log}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("Failed listening on port {bus_port} (cluster), aborting.\n")
    );
    assert!(
        data_files(&dir.path) == before,
        "a failed start changed data files"
    );
}
