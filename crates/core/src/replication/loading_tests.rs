//! A replica loading a full sync's RDB payload: in steps at `key-load-delay`, refusing what
//! Redis refuses while loading, hidden from `CLUSTER SLOTS` meanwhile; a bad payload.

use super::tests::{args, feed, later, master, psync, replica, streams, NOW as NOW_T};
use super::*;
use crate::bus::MessageType;
use crate::node::Node;

const LOADING: &str = "LOADING Redis is loading the dataset in memory";

fn persistence_field(node: &mut Node, client: ClientId, name: &str) -> Option<String> {
    let now = node.now;
    let Reply::Verbatim(_, text) = node.command(now, client, &args(&["INFO", "persistence"]))
    else {
        panic!("INFO is verbatim text")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::to_string)
}

/// How many nodes `CLUSTER SLOTS` lists for its first range (master first).
fn nodes_serving_first_range(node: &mut Node, client: ClientId) -> usize {
    let now = node.now;
    let reply = node.command(now, client, &args(&["CLUSTER", "SLOTS"]));
    let Reply::Array(ranges) = reply else {
        panic!("CLUSTER SLOTS is an array: {reply:?}")
    };
    let Reply::Array(range) = &ranges[0] else {
        panic!("a range is an array")
    };
    range.len() - 2
}

fn link_up_events(effects: &[Effect]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ClusterEvent::ReplicationLinkUp { offset }) => Some(*offset),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_sync_loads_key_by_key_at_key_load_delay_and_the_replica_is_loading_meanwhile() {
    let (mut m, c) = master();
    for key in ["a", "b", "c"] {
        m.command(NOW_T, c, &args(&["SET", key, "1"]));
    }
    let (mut r, rc, master_id) = replica();
    r.cluster.assign_slot(0, Some(master_id), &mut r.out);
    let set = args(&["CONFIG", "SET", "key-load-delay", "100000"]);
    assert_eq!(r.command(later(0), rc, &set), Reply::ok());
    r.tick(later(100));
    let mc = m.client_connected(NOW_T, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, payload) = psync(&mut m, NOW_T, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(200), 1, &m.run_id, offset));
    // A write taken after the snapshot follows the payload in the stream.
    m.command(NOW_T, c, &args(&["SET", "d", "2"]));
    let mut wire = payload.clone();
    wire.extend(streams(&m.take_effects()).remove(0).1);
    r.take_effects();
    assert!(feed(&mut r, later(200), 1, &wire));

    // Flushed, nothing loaded yet (the first key takes a whole delay), and loading.
    assert!(r.is_loading());
    assert_eq!(r.db.len(), 0);
    let field = |r: &mut Node, name| persistence_field(r, rc, name);
    assert_eq!(field(&mut r, "loading").as_deref(), Some("1"));
    assert_eq!(field(&mut r, "async_loading").as_deref(), Some("0"));
    let rdb_len = r.repl.loading().unwrap().bytes_total;
    assert!(
        payload.len() as u64 > rdb_len,
        "the payload is the framed file"
    );
    assert_eq!(
        field(&mut r, "loading_total_bytes"),
        Some(rdb_len.to_string())
    );
    assert_eq!(
        field(&mut r, "loading_loaded_perc").as_deref(),
        Some("0.00")
    );
    assert_eq!(field(&mut r, "loading_eta_seconds").as_deref(), Some("1"));
    // Commands without Redis's `loading` flag are refused (subcommands by their own flag:
    // Redis 7.0 refuses CLUSTER SLOTS too); INFO and CONFIG are not.
    for refused in [
        &["GET", "a"][..],
        &["PING"],
        &["DBSIZE"],
        &["CLUSTER", "SLOTS"],
    ] {
        assert_eq!(
            r.command(later(200), rc, &args(refused)),
            Reply::error(LOADING)
        );
    }
    // No ACK, offset 0 on the bus, hidden from CLUSTER SLOTS.
    assert_eq!(r.replication_ack_offset(), None);
    assert_eq!(r.header(MessageType::Ping).repl_offset, 0);
    assert!(!r
        .command(later(200), rc, &args(&["CLUSTER", "HELP"]))
        .is_error());

    r.tick(later(350));
    assert_eq!(r.db.len(), 1, "150 ms: one key");
    assert!(r.is_loading());
    // One key of three, counted in bytes of the file.
    let want = format!("{:.2}", (rdb_len / 3) as f64 * 100.0 / rdb_len as f64);
    assert_eq!(field(&mut r, "loading_loaded_perc"), Some(want));
    let loaded = (rdb_len / 3).to_string();
    assert_eq!(field(&mut r, "loading_loaded_bytes"), Some(loaded));
    assert_eq!(link_up_events(&r.take_effects()), vec![]);
    r.tick(later(500));
    assert!(!r.is_loading());
    assert_eq!(field(&mut r, "loading").as_deref(), Some("0"));
    assert_eq!(field(&mut r, "loading_total_bytes"), None);
    assert_eq!(link_up_events(&r.take_effects()), vec![offset]);
    // The held write applied after the file: the replica is at its master's offset.
    assert_eq!(r.db.len(), 4);
    assert_eq!(r.replication_offset(), m.replication_offset());
    assert_eq!(r.replication_ack_offset(), Some(m.replication_offset()));
    assert_eq!(
        r.header(MessageType::Ping).repl_offset,
        m.replication_offset()
    );
    assert_eq!(nodes_serving_first_range(&mut r, rc), 2);
    assert_eq!(
        r.command(later(500), rc, &args(&["PING"])),
        Reply::Simple("PONG".into())
    );
}

#[test]
fn a_link_lost_while_the_file_loads_leaves_the_loaded_history_to_continue() {
    let (mut m, c) = master();
    m.command(NOW_T, c, &args(&["SET", "a", "1"]));
    let (mut r, rc, _) = replica();
    r.command(
        later(0),
        rc,
        &args(&["CONFIG", "SET", "key-load-delay", "-1"]),
    );
    // -1: a microsecond a key, so the next tick loads everything.
    r.tick(later(100));
    let mc = m.client_connected(NOW_T, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, payload) = psync(&mut m, NOW_T, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    let replid = full.split(' ').nth(1).unwrap().to_string();
    assert!(r.replication_link_up(later(200), 1, &replid, offset));
    assert!(feed(&mut r, later(200), 1, &payload));
    assert!(r.is_loading());
    r.replication_link_down(later(250), 1);
    // No new link while loading (the reconnect interval is over by now).
    assert!(r.is_loading());
    r.replication_before_reply();
    assert!(r.repl.master_link().is_none());
    // The next tick loads the rest, then connects again.
    r.tick(later(1300));
    assert!(!r.is_loading());
    assert_eq!(r.db.len(), 1);
    assert_eq!(r.replication_offset(), offset);
    let cached = r.repl.cached_master().expect("the loaded history");
    assert_eq!(
        (cached.replid.as_str(), cached.offset),
        (replid.as_str(), offset)
    );
    let next = r.repl.master_link().expect("reconnecting").id;
    assert_eq!(
        r.replication_psync_args(next),
        Some((replid, (offset + 1).to_string()))
    );
}

#[test]
fn a_damaged_payload_breaks_the_link_and_keeps_the_old_data() {
    let (mut m, c) = master();
    m.command(NOW_T, c, &args(&["SET", "a", "1"]));
    let (mut r, _, _) = replica();
    r.db.set(b"old", crate::db::ValueRef::String(b"x"), None);
    r.tick(later(100));
    let mc = m.client_connected(NOW_T, "127.0.0.1:50001".into(), "127.0.0.1:7001".into());
    let (full, mut payload) = psync(&mut m, NOW_T, mc, "?", "-1");
    let offset: u64 = full.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(r.replication_link_up(later(200), 1, &m.run_id, offset));
    // A flipped byte of the file's checksum (its last 8 bytes, sized form: no `capa eof`).
    assert!(payload.starts_with(b"$"));
    *payload.last_mut().unwrap() ^= 0xff;
    let err = r.replication_payload(later(200), 1, &payload).unwrap_err();
    assert!(err.starts_with("Wrong RDB checksum"), "{err}");
    assert!(!r.is_loading());
    assert!(r.db.get(b"old", later(200).unix_ms).is_some());
    // A bad header too.
    let (mut r, _, _) = replica();
    r.tick(later(100));
    assert!(r.replication_link_up(later(200), 1, &m.run_id, offset));
    let err = r
        .replication_payload(later(200), 1, b"-ERR nope\r\n")
        .unwrap_err();
    assert!(err.contains("the first byte is not '$'"), "{err}");
}

#[test]
fn a_replica_announcing_offset_0_is_hidden_from_cluster_slots_and_loading_in_shards() {
    let (mut r, rc, master_id) = replica();
    r.cluster.assign_slot(0, Some(master_id), &mut r.out);
    // A sibling replica of the same master, as gossip described it.
    let sibling = crate::node_id::NodeId::random(&mut r.rng);
    let mut n = crate::cluster::ClusterNode::new(sibling, crate::bus::flags::SLAVE, NOW_T);
    (n.ip, n.port, n.master) = ("127.0.0.1".into(), 7005, Some(master_id));
    r.cluster.nodes.insert(sibling, n);
    let health = |r: &mut Node| {
        let reply = r.command(later(0), rc, &args(&["CLUSTER", "SHARDS"]));
        let text = format!("{reply:?}");
        let at = text.find(sibling.as_str()).expect("the sibling is listed");
        let rest = &text[at..];
        let health = rest.find("\"health\"").expect("a health field");
        rest[health..].split('"').nth(3).unwrap().to_string()
    };
    // This replica itself never synced (offset 0) and neither did the sibling.
    assert_eq!(nodes_serving_first_range(&mut r, rc), 1);
    assert_eq!(health(&mut r), "loading");
    r.cluster.nodes.get_mut(&sibling).unwrap().repl_offset = 5;
    assert_eq!(nodes_serving_first_range(&mut r, rc), 2);
    assert_eq!(health(&mut r), "online");
}
