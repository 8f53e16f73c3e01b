//! Replication through whole nodes: PSYNC and the stream, a replica's link, WAIT and GETACK.

use super::*;
use crate::bus::flags;
use crate::cluster::ClusterNode;
use crate::config::Config;
use crate::node::Node;

pub(super) const NOW: Time = Time {
    mono_ms: 1000,
    unix_ms: 1_000_000,
};

pub(super) fn args(ws: &[&str]) -> Vec<Bytes> {
    ws.iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn resp(ws: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    cmd::propagate::encode_command(&args(ws), &mut out);
    out
}

/// Takes the PSYNC answer (`+FULLRESYNC …` or `+CONTINUE …`) off the front of a stream, if
/// it starts with one.
pub(crate) fn split_psync_answer(data: &[u8]) -> (Option<String>, &[u8]) {
    if data.first() != Some(&b'+') {
        return (None, data);
    }
    let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
    let line = std::str::from_utf8(&data[1..end]).unwrap().to_string();
    (Some(line), &data[end + 2..])
}

/// Splits a stream of RESP arrays of bulk strings into commands with their lengths.
pub(crate) fn parse_stream(mut data: &[u8]) -> Vec<(Vec<Bytes>, u64)> {
    fn line<'a>(data: &mut &'a [u8]) -> &'a str {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let text = std::str::from_utf8(&data[..end]).unwrap();
        *data = &data[end + 2..];
        text
    }
    let mut commands = Vec::new();
    while !data.is_empty() {
        let start = data.len();
        let n: usize = line(&mut data).strip_prefix('*').unwrap().parse().unwrap();
        let mut cmd = Vec::new();
        for _ in 0..n {
            let len: usize = line(&mut data).strip_prefix('$').unwrap().parse().unwrap();
            cmd.push(Bytes::copy_from_slice(&data[..len]));
            data = &data[len + 2..];
        }
        commands.push((cmd, (start - data.len()) as u64));
    }
    commands
}

/// What a replica's driver does with `data` from its master on `link`: a full sync's payload
/// first (while one is awaited), then each command of the stream. False if any was refused.
pub(crate) fn feed(r: &mut Node, now: Time, link: ReplLinkId, data: &[u8]) -> bool {
    let mut data = data;
    if r.replication_awaiting_payload(link) {
        let used = r
            .replication_payload(now, link, data)
            .expect("a good payload");
        data = &data[used..];
    }
    let mut all = true;
    for (cmd, len) in parse_stream(data) {
        all &= r.replication_apply(now, link, &cmd, len);
    }
    all
}

/// A full sync's payload at the start of `data`, decoded, and what follows it.
pub(crate) fn payload_rdb(data: &[u8]) -> (crate::rdb::RdbContents, &[u8]) {
    let mut reader = transfer::PayloadReader::new();
    let (used, rdb) = reader.feed(data).expect("a payload");
    let rdb = rdb.expect("a whole payload");
    let (contents, _) = crate::rdb::decode(&rdb, &Default::default()).expect("an RDB file");
    (contents, &data[used..])
}

pub(super) fn streams(effects: &[Effect]) -> Vec<(ClientId, Vec<u8>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ReplicaStream { client, data } => Some((*client, data.to_vec())),
            _ => None,
        })
        .collect()
}

/// `PSYNC replid offset` from `client` of `m`: its answer line and the stream after it.
pub(super) fn psync(
    m: &mut Node,
    now: Time,
    client: ClientId,
    replid: &str,
    offset: &str,
) -> (String, Vec<u8>) {
    assert_eq!(
        m.command(now, client, &args(&["PSYNC", replid, offset])),
        Reply::ok(),
        "the answer is in the stream"
    );
    let stream: Vec<u8> = streams(&m.take_effects())
        .into_iter()
        .filter(|(c, _)| *c == client)
        .flat_map(|(_, data)| data)
        .collect();
    assert!(!stream.is_empty(), "PSYNC answered");
    let (answer, rest) = split_psync_answer(&stream);
    (answer.expect("an answer line"), rest.to_vec())
}

pub(super) fn info_field(node: &mut Node, client: ClientId, name: &str) -> String {
    let now = node.now;
    let Reply::Verbatim(_, text) = node.command(now, client, &args(&["INFO", "replication"]))
    else {
        panic!("INFO is verbatim text")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

/// A master that answers a full sync at once (no `repl-diskless-sync-delay`).
pub(super) fn master() -> (Node, ClientId) {
    let config = Config {
        repl_diskless_sync_delay_s: 0,
        ..Config::default()
    };
    let mut node = Node::new(config, NOW, 1);
    let c = node.client_connected(NOW, "127.0.0.1:50000".into(), "127.0.0.1:6379".into());
    (node, c)
}

#[test]
fn psync_replies_fullresync_and_streams_a_snapshot_then_every_write() {
    let (mut m, c) = master();
    let run = |m: &mut Node, c, ws: &[&str]| m.command(NOW, c, &args(ws));
    assert_eq!(run(&mut m, c, &["SET", "a", "1"]), Reply::ok());
    assert_eq!(
        run(&mut m, c, &["SET", "t", "2", "PX", "5000"]),
        Reply::ok()
    );
    let set_a = resp(&["SET", "a", "1"]).len() as u64;
    let set_t = resp(&["SET", "t", "2", "PXAT", "1005000"]).len() as u64;
    assert_eq!(m.replication_offset(), set_a + set_t);
    m.take_effects();

    let r = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:6379".into());
    assert_eq!(
        run(&mut m, r, &["REPLCONF", "listening-port", "7004"]),
        Reply::ok()
    );
    assert_eq!(
        run(&mut m, r, &["REPLCONF", "capa", "eof", "capa", "psync2"]),
        Reply::ok()
    );
    assert_eq!(
        run(&mut m, r, &["REPLCONF", "foo", "1"]),
        Reply::err("Unrecognized REPLCONF option: foo")
    );
    assert_eq!(run(&mut m, r, &["REPLCONF", "x"]), Reply::syntax_error());
    let offset = set_a + set_t;
    // The first replica creates the backlog, under a new replication ID (as Redis does).
    assert_eq!(run(&mut m, r, &["PSYNC", "?", "-1"]), Reply::ok());
    assert_ne!(m.repl.replid(), m.run_id);
    let answer = format!("+FULLRESYNC {} {offset}\r\n", m.repl.replid());
    let effects = m.take_effects();
    let [(client, data)] = &streams(&effects)[..] else {
        panic!("one stream: {effects:?}");
    };
    assert_eq!(*client, r);
    // Diskless (the default) to a replica with `capa eof`: `$EOF:<mark>\r\n<rdb><mark>`.
    let payload = data
        .strip_prefix(answer.as_bytes())
        .expect("+FULLRESYNC first");
    let header = payload.strip_prefix(b"$EOF:").expect("the mark form");
    let (mark, rest) = header.split_at(transfer::EOF_MARK_LEN);
    assert!(mark.iter().all(u8::is_ascii_hexdigit), "a random hex mark");
    let rdb = rest.strip_prefix(b"\r\n").unwrap();
    let rdb = rdb.strip_suffix(mark).expect("the mark ends it");
    let (contents, _) = crate::rdb::decode(rdb, &Default::default()).unwrap();
    let keys: Vec<_> = contents
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone(), e.expires_at_ms))
        .collect();
    let string = |v: &str| crate::db::Value::String(Bytes::from(v.to_string()));
    assert_eq!(
        keys,
        vec![
            (Bytes::from("a"), string("1"), None),
            (Bytes::from("t"), string("2"), Some(1_005_000)),
        ]
    );
    assert_eq!(contents.aux("repl-id"), Some(m.repl.replid()));
    assert_eq!(
        contents.aux("repl-offset"),
        Some(offset.to_string().as_str())
    );
    assert_eq!(contents.aux("repl-stream-db"), Some("0"));
    assert!(m.is_replica_client(r));
    assert_eq!(m.replication_offset(), offset, "a snapshot moves no offset");

    // Later writes go to the replica as they replay, and move the offset.
    assert_eq!(run(&mut m, c, &["INCR", "n"]), Reply::Integer(1));
    assert_eq!(run(&mut m, c, &["GET", "n"]), Reply::bulk_str("1"));
    let incr = resp(&["INCR", "n"]);
    // After a diskless payload the stream waits for the replica's first ACK (Redis's
    // `repl_put_online_on_ack`): nothing may follow the end mark before the replica found it.
    assert_eq!(streams(&m.take_effects()), vec![]);
    let offset = offset + incr.len() as u64;
    assert_eq!(m.replication_offset(), offset);

    assert_eq!(info_field(&mut m, c, "connected_slaves"), "1");
    assert_eq!(
        info_field(&mut m, c, "slave0"),
        "ip=127.0.0.1,port=7004,state=online,offset=0,lag=0",
        "nothing is acknowledged before the first ACK"
    );
    run(&mut m, r, &["REPLCONF", "ACK", &offset.to_string()]);
    assert_eq!(streams(&m.take_effects()), vec![(r, incr.clone())]);
    run(&mut m, r, &["REPLCONF", "ACK", &offset.to_string()]);
    assert_eq!(
        streams(&m.take_effects()),
        vec![],
        "only the first ACK releases"
    );
    assert_eq!(
        info_field(&mut m, c, "slave0"),
        format!("ip=127.0.0.1,port=7004,state=online,offset={offset},lag=0")
    );
    assert_eq!(
        info_field(&mut m, c, "master_repl_offset"),
        offset.to_string()
    );
    assert_eq!(
        run(&mut m, c, &["ROLE"]),
        Reply::Array(vec![
            Reply::bulk_str("master"),
            Reply::Integer(offset as i64),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk_str("127.0.0.1"),
                Reply::bulk_str("7004"),
                Reply::bulk_str(&offset.to_string()),
            ])]),
        ])
    );
    // A replica that goes away is no longer streamed to.
    m.client_disconnected(r);
    run(&mut m, c, &["SET", "a", "3"]);
    assert!(streams(&m.take_effects()).is_empty());
    assert_eq!(info_field(&mut m, c, "connected_slaves"), "0");
}

/// A cluster node that knows a master at 127.0.0.1:7001 and replicates it.
pub(super) fn replica() -> (Node, ClientId, NodeId) {
    let config = Config {
        cluster_enabled: true,
        port: 7004,
        appendonly: true,
        ..Config::default()
    };
    let mut node = Node::new(config, NOW, 2);
    let c = node.client_connected(NOW, "127.0.0.1:50000".into(), "127.0.0.1:7004".into());
    let id = NodeId::random(&mut node.rng);
    let mut m = ClusterNode::new(id, flags::MASTER, NOW);
    m.ip = "127.0.0.1".into();
    m.port = 7001;
    m.cport = 17001;
    node.cluster.nodes.insert(id, m);
    node.cluster.become_replica_of(id, &mut node.out);
    (node, c, id)
}

pub(super) fn later(ms: u64) -> Time {
    Time {
        mono_ms: NOW.mono_ms + ms,
        unix_ms: NOW.unix_ms + ms,
    }
}

fn replica_effects(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Effect::ReplicaConnect { .. }
                    | Effect::ReplicaDisconnect { .. }
                    | Effect::ReplicaStream { .. }
                    | Effect::AppendAof { .. }
                    | Effect::RewriteAof { .. }
            )
        })
        .collect()
}

#[test]
fn a_replica_connects_from_cron_applies_the_snapshot_and_stream_and_logs_it() {
    let (mut m, c) = master();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let (mut r, rc, _) = replica();
    r.take_effects();
    r.tick(later(100));
    let connect = Effect::ReplicaConnect {
        link: 1,
        ip: "127.0.0.1".into(),
        port: 7001,
    };
    assert_eq!(replica_effects(r.take_effects()), vec![connect]);
    // Once only, while the attempt is pending.
    r.tick(later(500));
    assert_eq!(replica_effects(r.take_effects()), vec![]);
    assert_eq!(info_field(&mut r, rc, "master_link_status"), "down");

    // A failed attempt is retried a second after the last one, on a new link.
    r.replication_link_down(later(600), 1);
    r.tick(later(700));
    assert_eq!(replica_effects(r.take_effects()), vec![]);
    r.tick(later(1100));
    assert_eq!(
        replica_effects(r.take_effects()),
        vec![Effect::ReplicaConnect {
            link: 2,
            ip: "127.0.0.1".into(),
            port: 7001,
        }]
    );
    assert!(!r.replication_link_up(later(2700), 1, "x", 0), "stale link");

    // Keys from an old master do not survive a full sync.
    r.db.set(b"stale", crate::db::ValueRef::String(b"x"), None);
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    let before_sync = r.replication_offset();
    assert_eq!(r.replication_ack_offset(), Some(before_sync));
    assert!(r.replication_link_up(later(2700), 2, &m.run_id, offset));
    assert_eq!(info_field(&mut r, rc, "master_sync_in_progress"), "1");
    // While the snapshot loads the old offset would be a lie: nothing is acknowledged.
    assert_eq!(r.replication_ack_offset(), None);
    let (most, last) = snapshot.split_at(snapshot.len() - 1);
    assert!(feed(&mut r, later(2700), 2, most));
    // Until the whole snapshot is in, the old data stays (and is what reads see).
    assert!(r.db.get(b"stale", later(2700).unix_ms).is_some());
    assert!(r.db.get(b"a", later(2700).unix_ms).is_none());
    assert!(r.replication_awaiting_payload(2));
    assert!(feed(&mut r, later(2700), 2, last));
    assert!(!r.replication_awaiting_payload(2));
    assert!(r.db.get(b"stale", later(2700).unix_ms).is_none());
    assert_eq!(r.replication_offset(), offset);
    assert_eq!(r.replication_ack_offset(), Some(offset));
    m.command(NOW, c, &args(&["SET", "b", "2"]));
    let set_b = streams(&m.take_effects()).remove(0).1;
    for (cmd, len) in parse_stream(&set_b) {
        assert!(r.replication_apply(later(2800), 2, &cmd, len));
    }
    assert_eq!(r.replication_offset(), m.replication_offset());
    assert_eq!(r.cluster.me().repl_offset, m.replication_offset());
    // The replica's own AOF: nothing while the snapshot loaded; at its end the loaded
    // dataset as the new base (an RDB file, `aof-use-rdb-preamble yes`) that replaces the
    // files whole, then the stream in the new incr file (after SELECT 0), as Redis's rewrite
    // after a sync leaves it.
    let aof: Vec<(&str, Vec<u8>)> = replica_effects(r.take_effects())
        .into_iter()
        .filter_map(|e| match e {
            Effect::RewriteAof { base } => Some(("rewrite", base.to_vec())),
            Effect::AppendAof { data } => Some(("append", data.to_vec())),
            _ => None,
        })
        .collect();
    let mut incr = resp(&["SELECT", "0"]);
    incr.extend_from_slice(&set_b);
    assert_eq!(aof.len(), 2, "{aof:?}");
    assert_eq!(aof[1], ("append", incr));
    let (base, _) = crate::rdb::decode(&aof[0].1, &Default::default()).unwrap();
    let keys: Vec<&[u8]> = base.entries.iter().map(|e| &e.key[..]).collect();
    assert_eq!(keys, [&b"a"[..]]);

    for (name, value) in [
        ("role", "slave".to_string()),
        ("master_host", "127.0.0.1".into()),
        ("master_port", "7001".into()),
        ("master_link_status", "up".into()),
        ("master_sync_in_progress", "0".into()),
        ("slave_repl_offset", m.replication_offset().to_string()),
        ("master_replid", m.run_id.clone()),
    ] {
        assert_eq!(info_field(&mut r, rc, name), value, "{name}");
    }
    assert_eq!(
        r.command(later(2800), rc, &args(&["ROLE"])),
        Reply::Array(vec![
            Reply::bulk_str("slave"),
            Reply::bulk_str("127.0.0.1"),
            Reply::Integer(7001),
            Reply::bulk_str("connected"),
            Reply::Integer(m.replication_offset() as i64),
        ])
    );
    // Reads need READONLY and the slot's master; writes are redirected or refused.
    r.command(later(2800), rc, &args(&["READONLY"]));
    assert_eq!(
        r.command(later(2800), rc, &args(&["FLUSHALL"])),
        Reply::error("READONLY You can't write against a read only replica.")
    );
    assert_eq!(r.db.len(), 2);
}

#[test]
fn a_promoted_replica_drops_its_link_and_keeps_its_offset_under_a_new_replid() {
    let (mut m, c) = master();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let (mut r, rc, master_id) = replica();
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (_, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    let offset = m.replication_offset();
    assert!(r.replication_link_up(later(200), 1, &m.run_id, offset));
    feed(&mut r, later(200), 1, &snapshot);
    r.take_effects();
    r.replace_my_master(master_id);
    r.replication_before_reply();
    assert_eq!(
        replica_effects(r.take_effects()),
        vec![Effect::ReplicaDisconnect { link: 1 }]
    );
    assert!(!r.replication_apply(later(300), 1, &args(&["SET", "x", "1"]), 10));
    assert_eq!(r.replication_offset(), offset);
    assert_eq!(info_field(&mut r, rc, "role"), "master");
    assert_eq!(info_field(&mut r, rc, "master_replid2"), m.run_id);
    assert_eq!(
        info_field(&mut r, rc, "second_repl_offset"),
        (offset + 1).to_string()
    );
    assert_ne!(info_field(&mut r, rc, "master_replid"), m.run_id);
    // A replica refuses to serve replicas of its own.
    let (mut r2, _, _) = replica();
    let x = r2.client_connected(NOW, "127.0.0.1:1".into(), "127.0.0.1:7004".into());
    assert_eq!(
        r2.command(later(100), x, &args(&["PSYNC", "?", "-1"])),
        Reply::error("NOMASTERLINK Can't SYNC while not connected with my master")
    );
}

/// A master with one replica client that did its PSYNC; effects drained.
fn master_with_replica() -> (Node, ClientId, ClientId) {
    let (mut m, c) = master();
    let r = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:6379".into());
    m.command(NOW, r, &args(&["REPLCONF", "listening-port", "7004"]));
    m.command(NOW, r, &args(&["PSYNC", "?", "-1"]));
    m.take_effects();
    (m, c, r)
}

#[test]
fn wait_checks_its_arguments_and_answers_at_once_when_enough_replicas_acked() {
    let (mut m, c, r) = master_with_replica();
    let mut run = |ws: &[&str]| m.command(NOW, c, &args(ws));
    assert_eq!(run(&["WAIT", "a", "1"]), Reply::not_integer());
    assert_eq!(
        run(&["WAIT", "1", "a"]),
        Reply::err("timeout is not an integer or out of range")
    );
    assert_eq!(run(&["WAIT", "1", "-1"]), Reply::err("timeout is negative"));
    // No write yet on this connection: every replica has acknowledged "nothing".
    assert_eq!(run(&["WAIT", "1", "0"]), Reply::Integer(1));
    assert_eq!(run(&["WAIT", "0", "0"]), Reply::Integer(1));
    assert_eq!(run(&["SET", "a", "1"]), Reply::ok());
    assert_eq!(run(&["WAIT", "0", "0"]), Reply::Integer(0));
    assert_eq!(run(&["WAIT", "-1", "100"]), Reply::Integer(0));
    // Inside a transaction WAIT cannot block: it reports the count as it is.
    run(&["MULTI"]);
    run(&["WAIT", "1", "0"]);
    assert_eq!(run(&["EXEC"]), Reply::Array(vec![Reply::Integer(0)]));
    assert!(
        !m.take_effects()
            .iter()
            .any(|e| matches!(e, Effect::BlockClient { .. })),
        "nothing blocked"
    );
    let offset = m.replication_offset();
    m.command(NOW, r, &args(&["REPLCONF", "ACK", &offset.to_string()]));
    assert_eq!(
        m.command(NOW, c, &args(&["WAIT", "1", "0"])),
        Reply::Integer(1)
    );
    assert_eq!(m.take_effects(), vec![]);
}

#[test]
fn wait_blocks_asks_for_acks_and_is_answered_by_an_ack_or_the_timeout() {
    let (mut m, c, r) = master_with_replica();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    m.take_effects();
    let woff = m.replication_offset();
    assert_eq!(m.clients[&c].woff, woff);
    assert_eq!(
        m.command(NOW, c, &args(&["WAIT", "1", "0"])),
        Reply::Nil,
        "not sent"
    );
    let getack = resp(&["REPLCONF", "GETACK", "*"]);
    assert_eq!(
        m.take_effects(),
        vec![
            Effect::BlockClient { client: c },
            Effect::ReplicaStream {
                client: r,
                data: Bytes::from(getack.clone()),
            },
        ]
    );
    assert_eq!(
        m.replication_offset(),
        woff + getack.len() as u64,
        "GETACK counts in the offset, as in Redis"
    );
    // An older ACK is not enough; one covering the write answers the client.
    let ack = |m: &mut Node, at: Time, offset: u64| {
        m.command(at, r, &args(&["REPLCONF", "ACK", &offset.to_string()]));
        m.take_effects()
    };
    assert_eq!(ack(&mut m, later(10), woff - 1), vec![]);
    assert_eq!(
        ack(&mut m, later(20), woff),
        vec![Effect::UnblockClient {
            client: c,
            reply: Reply::Integer(1),
        }]
    );
    // Two replicas wanted, one exists: the timeout (500 ms, checked by the cron) answers.
    m.command(later(100), c, &args(&["SET", "b", "2"]));
    m.take_effects();
    assert_eq!(
        m.command(later(100), c, &args(&["WAIT", "2", "500"])),
        Reply::Nil
    );
    assert!(m
        .take_effects()
        .contains(&Effect::BlockClient { client: c }));
    m.tick(later(500));
    assert_eq!(m.take_effects(), vec![]);
    let offset = m.replication_offset();
    assert_eq!(ack(&mut m, later(550), offset), vec![], "1 < 2 replicas");
    m.tick(later(600));
    assert_eq!(
        m.take_effects(),
        vec![Effect::UnblockClient {
            client: c,
            reply: Reply::Integer(1),
        }]
    );
    // A client that goes away while blocked is forgotten.
    m.command(later(700), c, &args(&["SET", "c", "3"]));
    m.command(later(700), c, &args(&["WAIT", "1", "100"]));
    m.client_disconnected(c);
    m.take_effects();
    m.tick(later(900));
    assert_eq!(m.take_effects(), vec![]);
    assert!(m.repl.blocked.is_empty());
}

#[test]
fn a_replica_answers_getack_at_once_and_refuses_wait() {
    let (mut m, c) = master();
    let (mut r, rc, _) = replica();
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (_, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    assert!(r.replication_link_up(later(200), 1, &m.run_id, 0));
    feed(&mut r, later(200), 1, &snapshot);
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    m.command(NOW, c, &args(&["WAIT", "1", "0"]));
    let stream: Vec<u8> = streams(&m.take_effects())
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    r.take_effects();
    let mut effects = Vec::new();
    for (cmd, len) in parse_stream(&stream) {
        assert!(r.replication_apply(later(300), 1, &cmd, len));
        effects.extend(
            r.take_effects()
                .into_iter()
                .filter(|e| matches!(e, Effect::AppendAof { .. } | Effect::ReplicaAck { .. })),
        );
    }
    assert_eq!(r.replication_offset(), m.replication_offset());
    // The first append after a full sync opens the new incr file: SELECT 0 first.
    let mut set_a = resp(&["SELECT", "0"]);
    set_a.extend_from_slice(&resp(&["SET", "a", "1"]));
    // The write reaches the AOF; GETACK only moves the offset and asks for an ACK now.
    assert_eq!(
        effects,
        vec![
            Effect::AppendAof {
                data: Bytes::from(set_a),
            },
            Effect::ReplicaAck {
                link: 1,
                offset: m.replication_offset(),
            },
        ]
    );
    assert_eq!(
        r.command(later(300), rc, &args(&["WAIT", "1", "0"])),
        Reply::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

/// `(offset, request)` of every `WriteApplied` in `effects`.
fn writes_applied(effects: &[Effect]) -> Vec<(u64, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ClusterEvent::WriteApplied { offset, request }) => {
                Some((*offset, *request))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn write_applied_names_the_client_command_as_sent_not_its_rewrite_nor_an_expiry() {
    use crate::event::request_digest;
    let (mut m, c) = master();
    m.take_effects();
    // Propagated as `SET k v PXAT <abs>`; the event carries the digest of what the client sent.
    let sent = ["SET", "k", "v", "PX", "100"];
    m.command(NOW, c, &args(&sent));
    let first = m.replication_offset();
    assert_eq!(
        writes_applied(&m.take_effects()),
        vec![(first, request_digest(&sent))]
    );
    // Past its TTL, APPEND first deletes the key (an expiry: request 0), then appends.
    let append = ["APPEND", "k", "x"];
    m.command(later(200), c, &args(&append));
    let applied = writes_applied(&m.take_effects());
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert_eq!((applied[0].1, applied[1].1), (0, request_digest(&append)));
    assert!(first < applied[0].0 && applied[0].0 < applied[1].0);
    assert_eq!(applied[1].0, m.replication_offset());
    // Reads apply nothing.
    m.command(later(200), c, &args(&["GET", "k"]));
    assert_eq!(writes_applied(&m.take_effects()), vec![]);

    // A replica applying the stream reports its offset with no request.
    let (mut r, _, _) = replica();
    r.tick(later(100));
    let mc = m.client_connected(
        later(300),
        "127.0.0.1:50001".into(),
        "127.0.0.1:7001".into(),
    );
    let (full, snapshot) = psync(&mut m, later(300), mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(300), 1, &m.run_id, offset));
    assert!(feed(&mut r, later(300), 1, &snapshot));
    m.command(later(300), c, &args(&["SET", "b", "2"]));
    let effects = m.take_effects();
    assert_eq!(
        writes_applied(&effects),
        vec![(m.replication_offset(), request_digest(&["SET", "b", "2"]))]
    );
    r.take_effects();
    for (cmd, len) in parse_stream(&streams(&effects).remove(0).1) {
        assert!(r.replication_apply(later(300), 1, &cmd, len));
    }
    assert_eq!(
        writes_applied(&r.take_effects()),
        vec![(m.replication_offset(), 0)]
    );
}

#[test]
fn a_replica_whose_sync_breaks_keeps_its_old_data_and_its_age() {
    let (mut m, c) = master();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let (mut r, _, _) = replica();
    r.db.set(b"old", crate::db::ValueRef::String(b"x"), None);
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(200), 1, &m.run_id, offset));
    // Never synced before: while the first snapshot arrives the data has no age that lets it
    // fail over (Redis counts from `repl_down_since`, never set).
    assert_eq!(
        r.repl.data_age_ms(later(300).mono_ms, later(300).mono_ms),
        None
    );
    assert!(feed(&mut r, later(300), 1, &snapshot[..snapshot.len() - 1]));
    r.replication_link_down(later(400), 1);
    assert!(
        r.db.get(b"old", later(400).unix_ms).is_some(),
        "old data kept"
    );
    assert!(
        r.db.get(b"a", later(400).unix_ms).is_none(),
        "half a snapshot applies nothing"
    );
    // A sync that completes, then a second one under way: the age runs from the first
    // link's loss, not from the second link's traffic.
    r.tick(later(1500));
    let mc = m.client_connected(NOW, "127.0.0.1:50002".into(), "127.0.0.1:7001".into());
    let (full, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(1600), 2, &m.run_id, offset));
    assert!(feed(&mut r, later(1700), 2, &snapshot));
    assert!(r.db.get(b"a", later(1700).unix_ms).is_some());
    assert_eq!(
        r.repl.data_age_ms(later(1800).mono_ms, later(1750).mono_ms),
        Some(50)
    );
    r.replication_link_down(later(2000), 2);
    r.tick(later(3100));
    assert!(r.replication_link_up(later(3200), 3, &m.run_id, offset));
    assert_eq!(
        r.repl.data_age_ms(later(3500).mono_ms, later(3400).mono_ms),
        Some(1500),
        "loading: as old as the lost link"
    );
}

#[test]
fn write_applied_is_on_record_before_the_aof_append_that_may_stop_the_node() {
    // Under `appendfsync always` a failed AOF write or sync stops the node, and the driver
    // drops the effects after it: the write ran in memory all the same, and a failed sync
    // leaves it in the page cache, loaded again at a restart (seed 808127).
    let config = Config {
        appendonly: true,
        ..Config::default()
    };
    let mut m = Node::new(config, NOW, 1);
    let c = m.client_connected(NOW, "127.0.0.1:50000".into(), "127.0.0.1:6379".into());
    m.take_effects();
    assert_eq!(m.command(NOW, c, &args(&["SET", "k", "v"])), Reply::ok());
    let effects = m.take_effects();
    let position = |want: fn(&Effect) -> bool| effects.iter().position(want);
    let applied = position(|e| matches!(e, Effect::Event(ClusterEvent::WriteApplied { .. })));
    let appended = position(|e| matches!(e, Effect::AppendAof { .. }));
    assert!(
        applied.expect("a WriteApplied") < appended.expect("an AOF append"),
        "{effects:?}"
    );
}

#[test]
fn client_list_types_a_replica_client_as_replica() {
    let (mut m, c, r) = master_with_replica();
    let list = |m: &mut Node, kind: &str| match m.command(
        NOW,
        c,
        &args(&["CLIENT", "LIST", "TYPE", kind]),
    ) {
        Reply::Verbatim(_, text) => text,
        other => panic!("{other:?}"),
    };
    let replicas = list(&mut m, "replica");
    assert!(replicas.starts_with(&format!("id={r} ")), "{replicas}");
    assert!(
        replicas.contains(" flags=S ") && replicas.contains(" cmd=psync "),
        "{replicas}"
    );
    assert_eq!(list(&mut m, "slave"), replicas);
    let normal = list(&mut m, "normal");
    assert!(normal.starts_with(&format!("id={c} ")) && !normal.contains(&format!("id={r} ")));
}

#[test]
fn a_replica_killed_inside_a_transaction_gets_none_of_the_writes_after_it() {
    let (mut m, c, r) = master_with_replica();
    let before = m.replication_offset();
    assert_eq!(m.command(NOW, c, &args(&["MULTI"])), Reply::ok());
    for line in [
        &["CLIENT", "KILL", "TYPE", "replica"][..],
        &["SET", "x", "1"],
    ] {
        assert_eq!(m.command(NOW, c, &args(line)), Reply::simple("QUEUED"));
    }
    m.command(NOW, c, &args(&["EXEC"]));
    let effects = m.take_effects();
    assert!(effects.contains(&Effect::CloseClient { client: r }));
    assert_eq!(
        streams(&effects),
        vec![],
        "nothing more to the killed replica"
    );
    assert!(!m.is_replica_client(r));
    // The write is in the history all the same.
    let set = resp(&["SET", "x", "1"]).len() as u64;
    assert_eq!(m.replication_offset(), before + set);
}
