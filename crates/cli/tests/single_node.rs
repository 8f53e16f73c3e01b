//! One `clusterlab node` process driven as a redis-server would be: raw RESP, real `redis-cli`,
//! config errors, signals and the nodes.conf lock.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;

#[test]
fn ping_answers_pong_inline_multibulk_and_via_redis_cli() {
    let dir = TestDir::new("ping");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    assert_eq!(resp_roundtrip(port, b"PING\r\n").unwrap(), b"+PONG\r\n");
    assert_eq!(
        resp_roundtrip(port, b"*1\r\n$4\r\nPING\r\n").unwrap(),
        b"+PONG\r\n"
    );
    assert_eq!(
        resp_roundtrip(port, b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n").unwrap(),
        b"$2\r\nhi\r\n"
    );
    if redis_cli_available() {
        assert_eq!(redis_cli(&["-p", &port.to_string(), "ping"]), "PONG\n");
    }
    drop(node);
}

#[test]
fn keys_in_unserved_slots_get_clusterdown() {
    let dir = TestDir::new("clusterdown");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let _node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    assert_eq!(
        resp_roundtrip(port, b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n").unwrap(),
        b"-CLUSTERDOWN Hash slot not served\r\n"
    );
    if redis_cli_available() {
        let p = port.to_string();
        // As the tutorial shows before `--cluster create`, with and without -c.
        assert_eq!(
            redis_cli(&["-p", &p, "set", "foo", "bar"]),
            "CLUSTERDOWN Hash slot not served\n\n"
        );
        assert_eq!(
            redis_cli(&["-c", "-p", &p, "set", "1", "1"]),
            "CLUSTERDOWN Hash slot not served\n\n"
        );
        let info = redis_cli(&["-p", &p, "cluster", "info"]);
        assert!(info.starts_with("cluster_state:fail\r\n"), "{info}");
    }
}

#[test]
fn malformed_resp_closes_only_that_connection() {
    let dir = TestDir::new("protocol");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let _node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    let mut good = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let cases: [(&[u8], &[u8]); 3] = [
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        // Requests before the bad one are answered first.
        (
            b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n",
            b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (request, expected) in cases {
        let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
        bad.write_all(request).unwrap();
        let (reply, closed) = read_until_closed(&mut bad, Duration::from_secs(5));
        assert_eq!(
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(expected)
        );
        assert!(closed, "connection left open after {request:?}");
        good.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        std::io::Read::read_exact(&mut good, &mut buf).unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
    }
}

#[test]
fn bad_config_directive_exits_1_with_redis_wording() {
    let dir = TestDir::new("badconf");
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port 7001\ncluster-enabled yes\nfoo-bar-baz 1\n").unwrap();
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
         Reading the configuration file, at line 3\n\
         >>> 'foo-bar-baz 1'\n\
         Bad directive or wrong number of arguments\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");

    // A bad command-line option is reported as redis-server quotes it (lines after the file).
    let good = dir.join("good.conf");
    std::fs::write(&good, "port 7001\n").unwrap();
    let output = run_bounded(
        Command::new(BIN)
            .arg("node")
            .arg(&good)
            .args(["--port", "notanumber"]),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
         Reading the configuration file, at line 3\n\
         >>> 'port \"notanumber\"'\n\
         argument couldn't be parsed into an integer\n"
    );

    let missing = dir.join("missing.conf");
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&missing),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory\n",
            missing.display()
        )
    );
}

#[test]
fn sigterm_exits_0_and_removes_the_pidfile() {
    let dir = TestDir::new("sigterm");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let mut node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "");
    let pidfile = dir.join(&format!("node-{port}.pid"));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", node.pid())
    );
    // SAFETY: kill sends a signal to our own child, which has not been reaped yet.
    unsafe { libc::kill(node.pid() as libc::pid_t, libc::SIGTERM) };
    let status = node.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(!pidfile.exists(), "pidfile left behind");
    assert!(node
        .log()
        .contains("Received SIGTERM scheduling shutdown..."));
}

#[test]
fn debug_segfault_kills_the_process_at_once() {
    let dir = TestDir::new("segfault");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let mut node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "enable-debug-command yes");
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"DEBUG SEGFAULT\r\n").unwrap();
    let (reply, closed) = read_until_closed(&mut conn, Duration::from_secs(5));
    assert_eq!(reply, b"", "a crashing node sends no reply");
    assert!(closed);
    let status = node.wait_exit(Duration::from_secs(5));
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status}");
}

/// CONFIG REWRITE keeps the file's lines and comments, updates what changed in place and adds
/// what the file lacked; the node restarts from it with the changed values.
#[test]
fn config_rewrite_writes_the_running_config_into_the_file() {
    let dir = TestDir::new("rewrite");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, "# kept\nloglevel notice");
    let set = [
        "CONFIG",
        "SET",
        "cluster-node-timeout",
        "3210",
        "loglevel",
        "warning",
    ];
    assert_eq!(command(port, &set), "+OK\r\n");
    assert_eq!(
        command(port, &["CONFIG", "SET", "appendfsync", "always"]),
        "+OK\r\n"
    );
    assert_eq!(command(port, &["CONFIG", "REWRITE"]), "+OK\r\n");
    let text = std::fs::read_to_string(dir.join(&format!("node-{port}.conf"))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"cluster-node-timeout 3210"), "{text}");
    assert!(lines.contains(&"# kept"), "{text}");
    let at = |line: &str| lines.iter().position(|l| *l == line);
    assert!(
        at("loglevel warning") < at("# Generated by CONFIG REWRITE"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"appendfsync always"), "{text}");
    drop(node);
    let _again = NodeProcess::start_from_existing_conf(&dir.path, port);
    let timeout = command(port, &["CONFIG", "GET", "cluster-node-timeout"]);
    assert_eq!(
        timeout,
        "*2\r\n$20\r\ncluster-node-timeout\r\n$4\r\n3210\r\n"
    );
}

#[test]
fn a_second_node_on_the_same_nodes_conf_is_refused() {
    let dir = TestDir::new("lock");
    let ports = free_ports(2);
    let _first = NodeProcess::start(&dir.path, ports[0], NODE_TIMEOUT_MS, "");
    let conf = dir.join("second.conf");
    let text = node_conf(&dir.path, ports[1], NODE_TIMEOUT_MS, "")
        + &format!("cluster-config-file nodes-{}.conf\n", ports[0]);
    std::fs::write(&conf, text).unwrap();
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "Sorry, the cluster configuration file nodes-{}.conf is already used by a different \
             Redis Cluster node. Please make sure that different nodes use different cluster \
             configuration files.\n",
            ports[0]
        )
    );
}

#[test]
fn a_second_node_on_the_same_aof_directory_is_refused() {
    let dir = TestDir::new("aoflock");
    let ports = free_ports(2);
    let shared = "appendonly yes\nappenddirname appendonlydir";
    let _first = NodeProcess::start(&dir.path, ports[0], NODE_TIMEOUT_MS, shared);
    let conf = dir.join("second.conf");
    // A later directive wins, as in redis.conf: both nodes now name the same AOF directory.
    let text = node_conf(&dir.path, ports[1], NODE_TIMEOUT_MS, shared);
    std::fs::write(&conf, text).unwrap();
    let before = std::fs::read(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    let output = run_bounded(
        Command::new(BIN).arg("node").arg(&conf),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "Sorry, the append only file directory {}/appendonlydir is already used by another \
             node. Please give every node its own dir or appenddirname.\n",
            dir.path.display()
        )
    );
    let after = std::fs::read(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(before, after, "the first node's AOF is untouched");
}

/// Sends one command as a RESP array and returns the raw reply.
fn command(port: u16, args: &[&str]) -> String {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    String::from_utf8(resp_roundtrip(port, request.as_bytes()).unwrap()).unwrap()
}

#[test]
fn identity_slots_and_data_survive_a_restart() {
    let dir = TestDir::new("restart");
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let extra = "appendonly yes\nappendfsync always";
    let mut node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, extra);
    let id = command(port, &["CLUSTER", "MYID"]);
    assert_eq!(id.len(), "$40\r\n".len() + 40 + 2, "{id}");
    assert_eq!(
        command(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]),
        "+OK\r\n"
    );
    wait_until(Duration::from_secs(15), "cluster_state:ok", || {
        command(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
    });
    assert_eq!(command(port, &["SET", "key", "value"]), "+OK\r\n");

    // SAFETY: kill signals our own child, which has not been reaped.
    unsafe { libc::kill(node.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(node.wait_exit(Duration::from_secs(5)).code(), Some(0));
    drop(node);

    let node = NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, extra);
    assert_eq!(command(port, &["CLUSTER", "MYID"]), id);
    assert!(
        node.log().contains("Node configuration loaded, I'm"),
        "{}",
        node.log()
    );
    let nodes = command(port, &["CLUSTER", "NODES"]);
    assert!(nodes.contains("myself,master"), "{nodes}");
    assert!(nodes.trim_end().ends_with(" connected 0-16383"), "{nodes}");
    wait_until(
        Duration::from_secs(15),
        "cluster_state:ok after restart",
        || command(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
    );
    assert_eq!(command(port, &["GET", "key"]), "$5\r\nvalue\r\n");
}
