//! redis-py's `RedisCluster` (RESP3 via `HELLO 3`, `COMMAND`, `CLUSTER SLOTS`) against three
//! `clusterlab node` processes created with our own `clusterlab cluster create`, before and
//! after `clusterlab cluster reshard` moves slots holding its keys.
//!
//! redis-py is installed into a virtualenv under the cargo target dir on first use (PyPI).
//! Without python3 the test is skipped locally and fails under `CI=true`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const NODE_TIMEOUT_MS: u64 = 2000;
const REDIS_PY: &str = "redis==8.1.0";

/// A virtualenv with redis-py, made once per target dir.
fn venv_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("redis-py-venv");
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    match made {
        Ok(status) if status.success() => {}
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but python3 -m venv failed: redis-py interop cannot run")
        }
        _ => {
            eprintln!("skipping: python3 with venv is not available");
            return None;
        }
    }
    let pip = run_bounded(
        Command::new(&python).args(["-m", "pip", "install", "-q", REDIS_PY]),
        Duration::from_secs(300),
    );
    assert!(
        pip.status.success(),
        "pip install {REDIS_PY} failed: {pip:?}"
    );
    Some(python)
}

/// Writes, reads, `mget`s hash-tagged keys and pipelines through one `RedisCluster` client;
/// then reshards 600 slots (`clusterlab cluster reshard`, argv 2..5) from the first master to
/// the second — the tag's slot among them — and does it all again through the same client,
/// after checking the values written before the reshard survived it.
const SCRIPT: &str = r#"
import subprocess, sys
from redis.cluster import RedisCluster
port, binary, from_id, to_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rc = RedisCluster(host="127.0.0.1", port=port)
tag = next(t for t in (f"t{i}" for i in range(100000)) if rc.keyslot("{" + t + "}") < 600)

def exercise(round):
    for i in range(1000):
        rc.set(f"key:{i}", f"{round}:{i}")
    assert [rc.get(f"key:{i}") for i in range(1000)] == [f"{round}:{i}".encode() for i in range(1000)]
    a, b = "{%s}a%d" % (tag, round), "{%s}b%d" % (tag, round)
    assert rc.mget(a, b) == [None, None]
    rc.mset({a: f"{round}a", b: f"{round}b"})
    assert rc.mget(a, b) == [f"{round}a".encode(), f"{round}b".encode()]
    pipe = rc.pipeline()
    for i in range(20):
        pipe.incr(f"counter:{i}")
    pipe.get(a)
    assert pipe.execute() == [round] * 20 + [f"{round}a".encode()]

exercise(1)
before = rc.get_node_from_key("{%s}a" % tag).port
subprocess.run(
    [binary, "cluster", "reshard", f"127.0.0.1:{port}", "--from", from_id, "--to", to_id,
     "--slots", "600", "--yes"],
    check=True, stdout=subprocess.DEVNULL)
assert [rc.get(f"key:{i}") for i in range(1000)] == [f"1:{i}".encode() for i in range(1000)]
assert rc.mget("{%s}a1" % tag, "{%s}b1" % tag) == [b"1a", b"1b"]
exercise(2)
after = rc.get_node_from_key("{%s}a" % tag).port
assert rc.keyslot("key") == 12539
print("OK", before, after, rc.get_node_from_key("key").port, rc.get_node_from_key("key2").port)
"#;

#[test]
fn redis_py_cluster_client_writes_reads_pipelines_and_mgets_across_a_reshard() {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = TestDir::new("redis-py");
    let nodes: Vec<NodeProcess> = free_ports(3)
        .into_iter()
        .map(|port| NodeProcess::start(&dir.path, port, NODE_TIMEOUT_MS, ""))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(NodeProcess::addr).collect();
    let create = run_bounded(
        Command::new(BIN).args(["cluster", "create"]).args(&addrs),
        Duration::from_secs(60),
    );
    assert!(create.status.success(), "cluster create failed: {create:?}");
    let first = nodes[0].port.to_string();
    for node in &nodes {
        let port = node.port;
        wait_until(Duration::from_secs(20), "cluster_state:ok", || {
            let info = resp_roundtrip(port, b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n");
            info.is_ok_and(|raw| String::from_utf8_lossy(&raw).contains("cluster_state:ok"))
        });
    }
    let script = dir.join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let output = run_bounded(
        Command::new(&python)
            .arg(&script)
            .arg(&first)
            .arg(BIN)
            .arg(myid(nodes[0].port))
            .arg(myid(nodes[1].port)),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "redis-py failed: {output:?}");
    // The tag's slot (< 600) moved from the first master to the second; `key` → slot 12539 on
    // the third master, `key2` → slot 4998 still on the first.
    assert_eq!(
        stdout.trim(),
        format!(
            "OK {} {} {} {}",
            nodes[0].port, nodes[1].port, nodes[2].port, nodes[0].port
        )
    );
}
