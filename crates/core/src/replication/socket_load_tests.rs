//! Loading a full sync from the socket (`repl-diskless-load on-empty-db|swapdb`) and a master
//! producing its snapshot at `rdb-key-save-delay`, with the first-ACK gate and keep-alives.

use super::tests::{args, later, master, psync, replica, streams, NOW};
use super::*;
use crate::config::DisklessLoad;
use crate::node::Node;
use crate::rdb::incremental::IncrementalRdb;

const LOADING: &str = "LOADING Redis is loading the dataset in memory";

fn events(effects: &[Effect]) -> Vec<ClusterEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn persistence(node: &mut Node, client: ClientId, name: &str) -> String {
    let now = node.now;
    let Reply::Verbatim(_, text) = node.command(now, client, &args(&["INFO", "persistence"]))
    else {
        panic!("INFO is verbatim text")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name}"))
        .to_string()
}

fn get(node: &mut Node, client: ClientId, key: &str) -> Reply {
    let now = node.now;
    node.command(now, client, &args(&["GET", key]))
}

/// The string at `key` in the served keyspace, read directly (the cluster's slot map is not
/// this test's subject).
fn value(node: &Node, key: &str) -> Option<String> {
    let entry = node.db.get(key.as_bytes(), node.now.unix_ms)?;
    match entry.value {
        crate::db::ValueRef::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => panic!("a string"),
    }
}

/// A master with `a` and `b`, and a replica synced with it (same replication ID) holding
/// them; the link then drops, and the master deletes `a` and writes past its backlog, so
/// the replica's next PSYNC (link 2) gets a full sync of the same history. Returns the
/// master, the replica and its client, the history the replica had, the `+FULLRESYNC`
/// offset and the payload on the wire.
fn full_resync_of_same_history(
    mode: DisklessLoad,
) -> (Node, Node, ClientId, CachedMaster, u64, Vec<u8>) {
    let (mut m, c) = master();
    for ws in [["SET", "a", "1"], ["SET", "b", "2"]] {
        m.command(NOW, c, &args(&ws));
    }
    let (mut r, rc, _) = replica();
    r.config.repl_diskless_load = mode;
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, snapshot) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    let replid = m.repl.replid().to_string();
    assert!(r.replication_link_up(later(200), 1, &replid, offset));
    assert!(super::tests::feed(&mut r, later(200), 1, &snapshot));
    assert_eq!(r.db.len(), 2);
    assert_eq!(r.repl.replid(), replid, "synced: the master's history");

    r.replication_link_down(later(400), 1);
    m.client_disconnected(mc);
    let had = r
        .repl
        .cached_master()
        .cloned()
        .expect("a synced link leaves its history");
    m.command(NOW, c, &args(&["CONFIG", "SET", "repl-backlog-size", "1"]));
    m.command(NOW, c, &args(&["DEL", "a"]));
    let value = "v".repeat(1000);
    for i in 0..40 {
        m.command(NOW, c, &args(&["SET", &format!("big{i}"), &value]));
    }
    m.take_effects();
    r.tick(later(1500));
    let (replid_asked, next) = r.replication_psync_args(2).unwrap();
    let mc = m.client_connected(NOW, "127.0.0.1:50002".into(), "127.0.0.1:7001".into());
    m.command(NOW, mc, &args(&["REPLCONF", "capa", "eof"]));
    let (full, payload) = psync(&mut m, NOW, mc, &replid_asked, &next);
    assert!(full.starts_with(&format!("FULLRESYNC {replid} ")), "{full}");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(1600), 2, &replid, offset));
    r.take_effects();
    (m, r, rc, had, offset, payload)
}

#[test]
fn swapdb_over_the_same_history_loads_asynchronously_serving_the_old_data_then_swaps() {
    let (m, mut r, rc, _, offset, payload) = full_resync_of_same_history(DisklessLoad::Swapdb);
    assert!(r.repl.master_link().unwrap().load_from_socket);
    let half = payload.len() / 2;
    assert_eq!(
        r.replication_payload(later(1700), 2, &payload[..half]),
        Ok(half)
    );
    assert_eq!(
        events(&r.take_effects()),
        vec![ClusterEvent::SyncLoadStarted {
            from_socket: true,
            keeps_old_data: true,
            async_loading: true,
        }]
    );
    assert!(r.is_async_loading() && !r.is_loading());
    let last_io_ms = r.repl.master_link().unwrap().last_io_ms;
    assert_eq!(
        last_io_ms,
        later(1700).mono_ms,
        "payload bytes keep the link alive"
    );
    assert_eq!(persistence(&mut r, rc, "async_loading"), "1");
    assert_eq!(persistence(&mut r, rc, "loading"), "0");
    // The old data answers reads (with its slot map); the new keyspace fills meanwhile.
    assert_ne!(get(&mut r, rc, "a"), Reply::error(LOADING));
    assert_eq!(value(&r, "a").as_deref(), Some("1"));
    assert_eq!(r.db.len(), 2);
    let loaded = r.repl.loading().unwrap().keys_loaded;
    assert!(
        loaded > 0 && loaded < m.db.len() as u64,
        "{loaded} keys so far"
    );
    // Only `no-async-loading` commands are refused.
    let now = r.now;
    assert_eq!(r.command(now, rc, &args(&["SAVE"])), Reply::error(LOADING));

    let rest = payload.len() - half;
    assert_eq!(
        r.replication_payload(later(1800), 2, &payload[half..]),
        Ok(rest)
    );
    let effects = r.take_effects();
    assert!(events(&effects).contains(&ClusterEvent::ReplicationLinkUp { offset }));
    assert!(
        effects.contains(&Effect::ReplicaAck { link: 2, offset }),
        "{effects:?}"
    );
    assert!(!r.is_async_loading());
    assert_eq!(persistence(&mut r, rc, "async_loading"), "0");
    assert_eq!(r.db.len(), m.db.len(), "exactly the master's keys");
    assert_eq!(value(&r, "a"), None);
    assert_eq!(r.replication_offset(), offset);
    assert_eq!(
        r.repl.cached_master(),
        None,
        "the old history is gone with its data"
    );
}

#[test]
fn swapdb_keeps_the_old_data_and_its_history_when_the_link_drops_mid_transfer() {
    let (_, mut r, _, had, _, payload) = full_resync_of_same_history(DisklessLoad::Swapdb);
    let half = payload.len() / 2;
    assert_eq!(
        r.replication_payload(later(1700), 2, &payload[..half]),
        Ok(half)
    );
    r.take_effects();
    r.replication_link_down(later(1800), 2);
    let effects = r.take_effects();
    assert_eq!(
        events(&effects)[0],
        ClusterEvent::SyncLoadAborted {
            kept_old_data: true
        }
    );
    assert!(!r.is_async_loading() && r.repl.loading().is_none());
    assert_eq!(value(&r, "a").as_deref(), Some("1"));
    assert_eq!(value(&r, "b").as_deref(), Some("2"));
    assert_eq!(r.db.len(), 2);
    assert_eq!(r.replication_offset(), had.offset);
    // The next PSYNC asks to continue the history the old data is.
    r.tick(later(3000));
    let next = (had.offset + 1).to_string();
    assert_eq!(r.replication_psync_args(3), Some((had.replid, next)));
}

#[test]
fn a_damaged_payload_from_the_socket_is_an_abort_too() {
    let (_, mut r, _, _, _, mut payload) = full_resync_of_same_history(DisklessLoad::Swapdb);
    // Break the checksum (the mark's 40 bytes and the CRC's 8 end the wire).
    let at = payload.len() - transfer::EOF_MARK_LEN - 1;
    payload[at] ^= 0xff;
    let err = r.replication_payload(later(1700), 2, &payload).unwrap_err();
    assert!(err.contains("Wrong RDB checksum"), "{err}");
    let effects = r.take_effects();
    assert!(events(&effects).contains(&ClusterEvent::SyncLoadAborted {
        kept_old_data: true
    }));
    assert_eq!(r.db.len(), 2);
}

#[test]
fn on_empty_db_loads_from_the_socket_only_into_an_empty_dataset() {
    // With data: the payload is gathered whole first, as under `disabled`.
    let (_, r, _, _, _, _) = full_resync_of_same_history(DisklessLoad::OnEmptyDb);
    assert!(!r.repl.master_link().unwrap().load_from_socket);

    // Empty: from the socket into the keyspace itself, refusing commands meanwhile.
    let (mut m, c) = master();
    for ws in [["SET", "a", "1"], ["SET", "b", "2"]] {
        m.command(NOW, c, &args(&ws));
    }
    let (mut r, rc, _) = replica();
    r.config.repl_diskless_load = DisklessLoad::OnEmptyDb;
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, payload) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(200), 1, m.repl.replid(), offset));
    assert!(r.repl.master_link().unwrap().load_from_socket);
    r.take_effects();
    let cut = payload.len() - 3;
    assert_eq!(
        r.replication_payload(later(300), 1, &payload[..cut]),
        Ok(cut)
    );
    assert_eq!(
        events(&r.take_effects()),
        vec![ClusterEvent::SyncLoadStarted {
            from_socket: true,
            keeps_old_data: false,
            async_loading: false,
        }]
    );
    assert!(r.is_loading() && !r.is_async_loading());
    assert_eq!(get(&mut r, rc, "a"), Reply::error(LOADING));
    assert_eq!(r.db.len(), 2, "both keys are in the keyspace already");
    r.replication_link_down(later(400), 1);
    assert_eq!(
        events(&r.take_effects())[0],
        ClusterEvent::SyncLoadAborted {
            kept_old_data: false
        }
    );
    assert_eq!(r.db.len(), 0, "the partly loaded keys are flushed");
    assert!(!r.is_loading());
}

#[test]
fn swapdb_over_another_history_loads_blocking_and_still_keeps_the_old_data_on_failure() {
    let (mut m, c) = master();
    m.command(NOW, c, &args(&["SET", "a", "1"]));
    let (mut r, rc, _) = replica();
    r.db.set_owned(b"mine", crate::db::Value::String(Bytes::from("x")), None);
    r.config.repl_diskless_load = DisklessLoad::Swapdb;
    r.tick(later(100));
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, payload) = psync(&mut m, NOW, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert_ne!(r.repl.replid(), m.repl.replid());
    assert!(r.replication_link_up(later(200), 1, m.repl.replid(), offset));
    r.take_effects();
    let cut = payload.len() - 3;
    assert_eq!(
        r.replication_payload(later(300), 1, &payload[..cut]),
        Ok(cut)
    );
    assert_eq!(
        events(&r.take_effects()),
        vec![ClusterEvent::SyncLoadStarted {
            from_socket: true,
            keeps_old_data: true,
            async_loading: false,
        }]
    );
    assert!(r.is_loading(), "not the same history: Redis loads blocking");
    assert_eq!(persistence(&mut r, rc, "loading"), "1");
    assert_eq!(get(&mut r, rc, "mine"), Reply::error(LOADING));
    r.replication_link_down(later(400), 1);
    assert!(!r.is_loading());
    assert_eq!(value(&r, "mine").as_deref(), Some("x"));
    assert_eq!(value(&r, "a"), None);
}

/// A master holding `keys` keys, with `rdb-key-save-delay` of 100 ms, and a replica client
/// (`capa eof` when `diskless`) that just sent PSYNC: what it got at once.
fn slow_snapshot(keys: usize, diskless: bool) -> (Node, ClientId, ClientId, Vec<u8>) {
    let (mut m, c) = master();
    for i in 0..keys {
        m.command(NOW, c, &args(&["SET", &format!("k{i}"), "v"]));
    }
    m.command(
        NOW,
        c,
        &args(&["CONFIG", "SET", "rdb-key-save-delay", "100000"]),
    );
    let mc = m.client_connected(NOW, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    if diskless {
        m.command(NOW, mc, &args(&["REPLCONF", "capa", "eof"]));
    }
    m.take_effects();
    assert_eq!(
        m.command(NOW, mc, &args(&["PSYNC", "?", "-1"])),
        Reply::ok()
    );
    let first: Vec<u8> = streams(&m.take_effects())
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    (m, c, mc, first)
}

/// Keys an RDB file's first `bytes` hold whole.
fn keys_in(parser: &mut IncrementalRdb, bytes: &[u8]) -> usize {
    parser.feed(bytes, &Default::default()).unwrap().len()
}

#[test]
fn rdb_key_save_delay_sends_a_diskless_payload_key_by_key_and_holds_the_stream_until_the_first_ack()
{
    let (mut m, c, mc, first) = slow_snapshot(3, true);
    let (answer, rest) = super::tests::split_psync_answer(&first);
    assert!(answer.unwrap().starts_with("FULLRESYNC"));
    let header_len = 5 + transfer::EOF_MARK_LEN + 2;
    assert!(rest.starts_with(b"$EOF:"));
    let mut parser = IncrementalRdb::new();
    assert_eq!(
        keys_in(&mut parser, &rest[header_len..]),
        0,
        "aux fields only"
    );
    let mut wire = rest.to_vec();

    // A write meanwhile is held behind the payload.
    m.command(later(50), c, &args(&["SET", "late", "1"]));
    assert_eq!(streams(&m.take_effects()), vec![]);
    let slave0 = super::tests::info_field(&mut m, c, "slave0");
    assert!(slave0.contains("state=wait_bgsave"), "{slave0}");
    for (at_ms, keys) in [(100, 1), (199, 0), (200, 1)] {
        m.tick(later(at_ms));
        let sent: Vec<u8> = streams(&m.take_effects())
            .into_iter()
            .flat_map(|(_, d)| d)
            .collect();
        assert_eq!(keys_in(&mut parser, &sent), keys, "at {at_ms} ms");
        wire.extend(sent);
    }
    m.tick(later(300));
    let sent = streams(&m.take_effects());
    assert_eq!(sent.len(), 1, "the rest, and no stream yet: {sent:?}");
    wire.extend(&sent[0].1);
    let mut reader = transfer::PayloadReader::new();
    let (used, rdb) = reader.feed(&wire).unwrap();
    assert_eq!(used, wire.len(), "exactly one payload");
    let (contents, _) = crate::rdb::decode(&rdb.unwrap(), &Default::default()).unwrap();
    assert_eq!(contents.entries.len(), 3);

    m.tick(later(1500));
    assert_eq!(
        streams(&m.take_effects()),
        vec![],
        "still waiting for the ACK"
    );
    let slave0 = super::tests::info_field(&mut m, c, "slave0");
    assert!(slave0.contains("state=online"), "{slave0}");
    m.command(later(1600), mc, &args(&["REPLCONF", "ACK", "0"]));
    let sent = streams(&m.take_effects());
    let mut set_late = Vec::new();
    cmd::propagate::encode_command(&args(&["SET", "late", "1"]), &mut set_late);
    assert_eq!(sent, vec![(mc, set_late)]);
}

#[test]
fn a_disk_based_slow_snapshot_goes_whole_with_newlines_before_and_the_stream_right_after() {
    let (mut m, c, mc, first) = slow_snapshot(2, false);
    let (answer, rest) = super::tests::split_psync_answer(&first);
    assert!(answer.unwrap().starts_with("FULLRESYNC"));
    assert!(rest.is_empty(), "the file is being written");
    m.command(later(50), c, &args(&["SET", "late", "1"]));
    m.tick(later(100));
    assert_eq!(streams(&m.take_effects()), vec![(mc, b"\n".to_vec())]);
    m.tick(later(199));
    assert_eq!(streams(&m.take_effects()), vec![]);
    m.tick(later(200));
    let sent = streams(&m.take_effects());
    assert_eq!(sent.len(), 2, "the file, then the stream: {sent:?}");
    assert!(sent[0].1.starts_with(b"$"));
    let (contents, after) = super::tests::payload_rdb(&sent[0].1);
    assert_eq!((contents.entries.len(), after.len()), (2, 0));
    let mut set_late = Vec::new();
    cmd::propagate::encode_command(&args(&["SET", "late", "1"]), &mut set_late);
    assert_eq!(sent[1], (mc, set_late));
}

#[test]
fn a_replicas_save_records_its_history_and_a_replica_started_from_it_continues_it() {
    // Under swapdb the history stays while a full sync is under way.
    let (m, r, _, had, _, _) = full_resync_of_same_history(DisklessLoad::Swapdb);
    let info = r.replication_save_info();
    let replid = m.repl.replid().to_string();
    assert_eq!(
        info,
        vec![
            ("repl-stream-db", "0".to_string()),
            ("repl-id", replid.clone()),
            ("repl-offset", had.offset.to_string()),
        ]
    );
    let file = r.rdb_snapshot_with(&info);
    let (contents, _) = crate::rdb::decode(&file, &Default::default()).unwrap();

    let (mut restarted, _, _) = replica();
    restarted.load_rdb_at(later(5000), contents.clone());
    assert_eq!(restarted.repl.replid(), replid);
    assert_eq!(restarted.replication_offset(), had.offset);
    restarted.tick(later(5100));
    let next = (had.offset + 1).to_string();
    assert_eq!(restarted.replication_psync_args(1), Some((replid, next)));

    // A master started from it keeps its own history; a node in no chain records none.
    let (mut lone, _) = master();
    assert_eq!(lone.replication_save_info(), vec![]);
    let own = lone.repl.replid().to_string();
    lone.load_rdb_at(later(5000), contents);
    assert_eq!(lone.repl.replid(), own);
}
