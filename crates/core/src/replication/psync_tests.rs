//! PSYNC with exact effects: a continuation from the backlog after a dropped link, each reason
//! to fall back to a full sync, the backlog's size, and the full sync's delay.

use super::tests::{args, info_field, later, master, psync, replica, streams, NOW};
use super::*;
use crate::node::Node;

/// A replica (link 1) fully synced with `m`, then a write on `m` it applied too.
fn synced_pair() -> (Node, ClientId, Node, ClientId, ClientId) {
    let (mut m, c) = master();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let (mut r, rc, _) = replica();
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    // Turned replica, a node caches its own history (Redis): its master has never heard
    // of it, so the sync is full.
    let (own, next) = r.replication_psync_args(1).unwrap();
    assert_eq!((own.as_str(), next.as_str()), (r.repl.replid(), "1"));
    let (full, snapshot) = psync(&mut m, NOW, mc, &own, &next);
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    let replid = m.repl.replid().to_string();
    assert!(r.replication_link_up(later(200), 1, &replid, offset));
    apply(&mut r, 1, &snapshot);
    m.command(NOW, c, &args(&["SET", "b", "2"]));
    apply(&mut r, 1, &streams(&m.take_effects())[0].1);
    assert_eq!(r.replication_offset(), m.replication_offset());
    r.take_effects();
    (m, c, r, rc, mc)
}

/// A field of `INFO stats`.
fn stat(node: &mut Node, client: ClientId, name: &str) -> String {
    let Reply::Verbatim(_, text) = node.command(NOW, client, &args(&["INFO", "stats"])) else {
        panic!("INFO is verbatim text")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

fn apply(r: &mut Node, link: ReplLinkId, data: &[u8]) {
    let now = if r.now.mono_ms > later(300).mono_ms {
        r.now
    } else {
        later(300)
    };
    assert!(super::tests::feed(r, now, link, data));
}

#[test]
fn a_replica_whose_link_dropped_continues_from_the_backlog_without_a_flush() {
    let (mut m, c, mut r, _, mc) = synced_pair();
    let dropped_at = r.replication_offset();
    r.replication_link_down(later(400), 1);
    m.client_disconnected(mc);
    // The master goes on without it.
    m.command(NOW, c, &args(&["SET", "c", "3"]));
    m.command(NOW, c, &args(&["DEL", "a"]));
    let missed = streams(&m.take_effects());
    assert!(
        missed.is_empty(),
        "no replica attached: the backlog keeps it"
    );
    r.tick(later(1500));
    let replid = m.repl.replid().to_string();
    let next = (dropped_at + 1).to_string();
    assert_eq!(
        r.replication_psync_args(2),
        Some((replid.clone(), next.clone()))
    );
    let mc = m.client_connected(NOW, "127.0.0.1:50002".into(), "127.0.0.1:7001".into());
    let (answer, backlog) = psync(&mut m, NOW, mc, &replid, &next);
    assert_eq!(answer, format!("CONTINUE {replid}"));
    let mut expected = Vec::new();
    cmd::propagate::encode_command(&args(&["SET", "c", "3"]), &mut expected);
    cmd::propagate::encode_command(&args(&["DEL", "a"]), &mut expected);
    assert_eq!(backlog, expected, "exactly the bytes the replica missed");
    r.take_effects();
    assert!(r.replication_link_continue(later(1600), 2, &replid));
    let events: Vec<ClusterEvent> = r
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let master = r.cluster.me().master.unwrap();
    assert_eq!(
        events,
        vec![ClusterEvent::PartialResync {
            master,
            offset: dropped_at
        }]
    );
    // Nothing was flushed: the old data stays while the backlog applies on top of it.
    assert!(r.db.get(b"a", later(1600).unix_ms).is_some());
    apply(&mut r, 2, &backlog);
    assert_eq!(r.replication_offset(), m.replication_offset());
    assert!(r.db.get(b"a", later(1600).unix_ms).is_none());
    assert!(r.db.get(b"c", later(1600).unix_ms).is_some());
    assert_eq!(stat(&mut m, c, "sync_full"), "1");
    assert_eq!(stat(&mut m, c, "sync_partial_ok"), "1");
    assert_eq!(stat(&mut m, c, "sync_partial_err"), "1");
}

#[test]
fn psync_falls_back_to_a_full_sync_for_another_history_or_an_offset_outside_the_backlog() {
    let (mut m, c, _, _, _) = synced_pair();
    let replid = m.repl.replid().to_string();
    let end = m.replication_offset() + 1;
    let ask = |m: &mut Node, id: &str, offset: &str| {
        let client = m.client_connected(NOW, "127.0.0.1:1".into(), "127.0.0.1:7001".into());
        psync(m, NOW, client, id, offset).0
    };
    let full = format!("FULLRESYNC {replid} {}", end - 1);
    assert_eq!(ask(&mut m, &"f".repeat(40), &end.to_string()), full);
    assert_eq!(
        ask(&mut m, &replid, &(end + 1).to_string()),
        full,
        "past the end"
    );
    assert_eq!(ask(&mut m, &replid, "x"), full, "not an offset");
    assert_eq!(ask(&mut m, "?", "-1"), full);
    assert_eq!(stat(&mut m, c, "sync_partial_err"), "4");
    assert_eq!(stat(&mut m, c, "sync_full"), "5");
    // The backlog keeps at most repl-backlog-size bytes (16 kB at least), whole commands.
    let first = m.repl.backlog().unwrap().first_byte_offset();
    assert_eq!(
        ask(&mut m, &replid, &first.to_string()),
        format!("CONTINUE {replid}")
    );
    let reply = m.command(NOW, c, &args(&["CONFIG", "SET", "repl-backlog-size", "1"]));
    assert_eq!(reply, Reply::ok());
    let value = "v".repeat(1000);
    for i in 0..40 {
        m.command(NOW, c, &args(&["SET", &format!("big{i}"), &value]));
    }
    let histlen: u64 = info_field(&mut m, c, "repl_backlog_histlen")
        .parse()
        .unwrap();
    assert!(histlen <= BACKLOG_MIN_SIZE && histlen > BACKLOG_MIN_SIZE - 1100);
    let first_now: u64 = info_field(&mut m, c, "repl_backlog_first_byte_offset")
        .parse()
        .unwrap();
    assert_eq!(first_now + histlen, m.replication_offset() + 1);
    assert_eq!(info_field(&mut m, c, "repl_backlog_active"), "1");
    assert_eq!(info_field(&mut m, c, "repl_backlog_size"), "1");
    let old = ask(&mut m, &replid, &first.to_string());
    assert!(old.starts_with("FULLRESYNC"), "{old}");
}

#[test]
fn a_full_sync_waits_the_delay_and_one_snapshot_serves_every_replica_waiting() {
    let (mut m, c) = master();
    m.config.repl_diskless_sync_delay_s = 5;
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let r1 = m.client_connected(NOW, "127.0.0.1:1".into(), "127.0.0.1:7001".into());
    assert_eq!(
        m.command(NOW, r1, &args(&["PSYNC", "?", "-1"])),
        Reply::ok()
    );
    assert!(
        streams(&m.take_effects()).is_empty(),
        "nothing before the delay"
    );
    let newlines = |m: &mut Node| -> Vec<(ClientId, Vec<u8>)> { streams(&m.take_effects()) };
    let r2 = m.client_connected(later(3000), "127.0.0.1:2".into(), "127.0.0.1:7001".into());
    m.command(later(3000), r2, &args(&["PSYNC", "?", "-1"]));
    // Writes meanwhile are in the snapshot to come, not streamed ahead of it.
    m.command(later(3000), c, &args(&["SET", "b", "2"]));
    m.tick(later(4900));
    // Only keep-alive newlines meanwhile, once a second to each waiting replica.
    assert_eq!(
        newlines(&mut m),
        vec![(r1, b"\n".to_vec()), (r2, b"\n".to_vec())]
    );
    m.tick(later(4950));
    assert_eq!(newlines(&mut m), vec![], "not again within the second");
    m.tick(later(5000));
    let sent = streams(&m.take_effects());
    let offset = m.replication_offset();
    let answer = format!("+FULLRESYNC {} {offset}\r\n", m.repl.replid());
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].0, sent[1].0), (r1, r2));
    assert_eq!(sent[0].1, sent[1].1, "one snapshot for both");
    assert!(sent[0].1.starts_with(answer.as_bytes()));
    let snapshot = super::tests::split_psync_answer(&sent[0].1).1.to_vec();
    // No `capa eof` from these replicas: the sized form.
    assert!(snapshot.starts_with(b"$"), "{:?}", &snapshot[..8]);
    let (rdb, rest) = super::tests::payload_rdb(&snapshot);
    assert!(rest.is_empty());
    assert_eq!(rdb.entries.len(), 2);
    assert_eq!(rdb.aux("repl-offset"), Some(offset.to_string().as_str()));
    m.command(later(5000), c, &args(&["SET", "c", "3"]));
    assert_eq!(streams(&m.take_effects()).len(), 2, "then the stream");
}

#[test]
fn a_replica_waiting_for_its_full_sync_reports_no_sync_and_no_fresh_data() {
    let (_, _, mut r, rc, _) = synced_pair();
    r.replication_link_down(later(400), 1);
    r.tick(later(1500));
    // PSYNC sent, answer not in yet (the master's delay): the link is not up.
    assert_eq!(info_field(&mut r, rc, "master_link_status"), "down");
    assert_eq!(info_field(&mut r, rc, "master_sync_in_progress"), "0");
    let age = r.repl.data_age_ms(later(6400).mono_ms, later(6400).mono_ms);
    assert_eq!(age, Some(6000), "the data ages from the lost link");
    // `+FULLRESYNC`: the snapshot loads, and until it is in the data is as old as before.
    assert!(r.replication_link_up(later(6500), 2, "e".repeat(40).as_str(), 900));
    assert_eq!(info_field(&mut r, rc, "master_sync_in_progress"), "1");
    let age = r.repl.data_age_ms(later(9400).mono_ms, later(9400).mono_ms);
    assert_eq!(age, Some(9000));
    assert_eq!(
        r.repl.cached_master(),
        None,
        "a full sync discards the history"
    );
}

#[test]
fn the_master_pings_every_period_and_a_silent_link_times_out_into_a_partial_resync() {
    let (mut m, _, mut r, _, mc) = synced_pair();
    m.take_effects();
    let ping = b"*1\r\n$4\r\nPING\r\n".to_vec();
    // `repl-ping-replica-period` 10 s: the first at 10 s of the node's clock.
    m.tick(later(8900));
    assert!(streams(&m.take_effects()).is_empty());
    let before = m.replication_offset();
    m.tick(later(9000));
    assert_eq!(streams(&m.take_effects()), vec![(mc, ping.clone())]);
    assert_eq!(m.replication_offset(), before + ping.len() as u64);
    m.tick(later(18_900));
    assert!(streams(&m.take_effects()).is_empty());
    // The replica counts it, logs nothing to its AOF and records no write.
    r.take_effects();
    assert!(r.replication_apply(later(9000), 1, &args(&["PING"]), ping.len() as u64));
    assert_eq!(r.replication_offset(), m.replication_offset());
    let effects = r.take_effects();
    assert!(
        !effects.iter().any(|e| matches!(
            e,
            Effect::AppendAof { .. } | Effect::Event(ClusterEvent::WriteApplied { .. })
        )),
        "{effects:?}"
    );
    // Then silence: `repl-timeout` (60 s) after the last byte the link is dropped, and the
    // history kept to continue.
    r.tick(later(69_000));
    assert!(!r
        .take_effects()
        .contains(&Effect::ReplicaDisconnect { link: 1 }));
    r.tick(later(69_100));
    let effects = r.take_effects();
    assert!(effects.contains(&Effect::ReplicaDisconnect { link: 1 }));
    let offset = r.replication_offset();
    assert!(effects.contains(&Effect::Event(ClusterEvent::ReplicationLinkDown { offset })));
    let replid = m.repl.replid().to_string();
    r.tick(later(70_200));
    assert_eq!(
        r.replication_psync_args(2),
        Some((replid, (offset + 1).to_string()))
    );
}
