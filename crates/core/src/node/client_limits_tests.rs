//! Client limits with exact effects: output-buffer limits per class (hard, soft with its
//! seconds), what `CLIENT LIST` and `INFO clients` show of the driver's reports, `maxclients`,
//! the query-buffer limit and the idle `timeout`.

use bytes::Bytes;

use super::client_limits::ClientBufferSizes;
use super::{ClientId, Effect, LogLevel, Node};
use crate::cmd::keys::tests::Harness;
use crate::config::ClientClass;
use crate::reply::Reply;

fn as_client(h: &mut Harness, client: ClientId, args: &[&str]) -> Reply {
    let args: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    h.node.command(h.now, client, &args)
}

fn connect(h: &mut Harness, port: u16) -> ClientId {
    h.node
        .client_connected(h.now, format!("127.0.0.1:{port}"), "127.0.0.1:6379".into())
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Verbatim(_, text) => text,
        other => panic!("not text: {other:?}"),
    }
}

fn output(bytes: u64) -> ClientBufferSizes {
    ClientBufferSizes {
        output_bytes: bytes,
        ..Default::default()
    }
}

fn report(h: &mut Harness, reports: &[(ClientId, ClientBufferSizes)]) -> Vec<Effect> {
    h.node.take_effects();
    h.node.client_buffers(h.now, reports);
    h.node.take_effects()
}

/// The clients dropped and the warning lines logged, from `effects`.
fn dropped_and_warnings(effects: &[Effect]) -> (Vec<ClientId>, Vec<String>) {
    let dropped = effects
        .iter()
        .filter_map(|e| match e {
            Effect::DropClient { client } => Some(*client),
            _ => None,
        })
        .collect();
    let warnings = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log {
                level: LogLevel::Warning,
                text,
            } => Some(text.clone()),
            _ => None,
        })
        .collect();
    (dropped, warnings)
}

fn subscriber(h: &mut Harness, port: u16) -> ClientId {
    let sub = connect(h, port);
    as_client(h, sub, &["SUBSCRIBE", "ch"]);
    sub
}

#[test]
fn a_subscriber_over_the_hard_limit_is_dropped_and_a_normal_client_is_not() {
    let mut h = Harness::new();
    let sub = subscriber(&mut h, 5001);
    assert_eq!(
        h.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 100000 0 0"
        ]),
        Reply::ok()
    );
    // The fixed 16 KB buffer is not counted: 16384 + 99999 is still under.
    let normal = h.client;
    let effects = report(
        &mut h,
        &[(sub, output(16384 + 99_999)), (normal, output(1 << 30))],
    );
    assert_eq!(dropped_and_warnings(&effects), (vec![], vec![]));
    let effects = report(&mut h, &[(sub, output(16384 + 100_000))]);
    let (dropped, warnings) = dropped_and_warnings(&effects);
    assert_eq!(dropped, vec![sub]);
    assert_eq!(warnings.len(), 1);
    let warning = &warnings[0];
    assert!(
        warning.starts_with(&format!("Client id={sub} addr=127.0.0.1:5001 laddr=")),
        "{warning}"
    );
    assert!(warning.contains(" flags=P "), "{warning}");
    assert!(
        warning.contains(" obl=16384 oll=7 omem=100000 "),
        "{warning}"
    );
    assert!(
        warning.ends_with(" resp=2 closed for overcoming of output buffer limits."),
        "{warning}"
    );
    assert!(!h.node.clients.contains_key(&sub));
    assert!(h.node.clients.contains_key(&h.client));
    // It is gone from its channel too: a publish reaches nobody.
    assert_eq!(h.cmd(&["PUBLISH", "ch", "x"]), Reply::Integer(0));
}

/// `CLIENT LIST`'s line, as the node renders it.
fn client_line(node: &Node, client: ClientId) -> String {
    crate::cmd::connection::client_list::client_line(node, client)
}

#[test]
fn the_soft_limit_drops_only_once_passed_for_longer_than_its_seconds_without_a_break() {
    let mut h = Harness::new();
    let sub = subscriber(&mut h, 5001);
    let set = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 0 50000 2",
    ];
    assert_eq!(h.cmd(&set), Reply::ok());
    let over = output(16384 + 50_000);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, over)])).0,
        vec![]
    );
    h.advance_ms(1500);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, over)])).0,
        vec![]
    );
    // Back under (with something in the reply list, else Redis does not look): the clock
    // starts again next time.
    h.advance_ms(100);
    let under = output(16384 + 100);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, under)])).0,
        vec![]
    );
    h.advance_ms(100);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, over)])).0,
        vec![]
    );
    // Passed in second 1: still there in second 3 (2 s over, in whole seconds), gone in 4.
    h.advance_ms(2299);
    assert_eq!(h.now.mono_ms, 3999);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, over)])).0,
        vec![]
    );
    h.advance_ms(1);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(sub, over)])).0,
        vec![sub]
    );
}

#[test]
fn subscribers_in_resp3_are_pubsub_class_and_monitors_normal() {
    let mut h = Harness::new();
    let resp3 = connect(&mut h, 5001);
    as_client(&mut h, resp3, &["HELLO", "3"]);
    as_client(&mut h, resp3, &["SSUBSCRIBE", "ch"]);
    let monitor = connect(&mut h, 5002);
    as_client(&mut h, monitor, &["MONITOR"]);
    assert_eq!(h.node.client_class(resp3), ClientClass::PubSub);
    assert_eq!(h.node.client_class(monitor), ClientClass::Normal);
    assert_eq!(h.node.client_class(h.client), ClientClass::Normal);
    let listed = text(h.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(listed, client_line(&h.node, resp3));
    let normal = text(h.cmd(&["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(normal.lines().count(), 2, "{normal}");
}

#[test]
fn client_list_and_info_show_the_reported_buffers() {
    let mut h = Harness::new();
    let other = connect(&mut h, 5001);
    let sizes = ClientBufferSizes {
        output_bytes: 40_000,
        query_bytes: 26,
        query_free_bytes: 16_358,
    };
    report(&mut h, &[(other, sizes)]);
    let line = client_line(&h.node, other);
    assert!(
        line.contains(" qbuf=26 qbuf-free=16358 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=16384 oll=2 omem=23616 "),
        "{line}"
    );
    let base = std::mem::size_of::<super::Client>() as u64;
    assert!(
        line.contains(&format!(" tot-mem={} ", base + 26 + 16_358 + 23_616)),
        "{line}"
    );
    let info = text(h.cmd(&["INFO", "clients"]));
    for field in [
        "maxclients:10000",
        "client_recent_max_input_buffer:16384",
        "client_recent_max_output_buffer:23616",
    ] {
        assert!(info.contains(&format!("{field}\r\n")), "{field} in {info}");
    }
    // Eight seconds later the peak has aged out.
    for _ in 0..8 {
        h.advance_ms(1000);
        report(&mut h, &[(other, ClientBufferSizes::default())]);
    }
    let info = text(h.cmd(&["INFO", "clients"]));
    assert!(
        info.contains("client_recent_max_output_buffer:0\r\n"),
        "{info}"
    );
}

#[test]
fn maxclients_refuses_with_redis_error_and_counts_rejections() {
    let mut h = Harness::new();
    assert_eq!(h.cmd(&["CONFIG", "SET", "maxclients", "2"]), Reply::ok());
    assert_eq!(h.node.connection_refused(), None);
    connect(&mut h, 5001);
    assert_eq!(
        h.node.connection_refused(),
        Some("ERR max number of clients reached")
    );
    let info = text(h.cmd(&["INFO", "stats"]));
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");
    // In cluster mode the bus links count too, and the error says so.
    h.node.config.cluster_enabled = true;
    assert_eq!(h.cmd(&["CONFIG", "SET", "maxclients", "3"]), Reply::ok());
    assert_eq!(
        h.node.connection_refused(),
        None,
        "two clients and no other node"
    );
    h.node.config.client_limits.maxclients = 2;
    assert_eq!(
        h.node.connection_refused(),
        Some("ERR max number of clients + cluster connections reached")
    );
}

#[test]
fn a_query_buffer_over_the_limit_is_logged_and_closed() {
    let mut h = Harness::new();
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        Reply::ok()
    );
    assert_eq!(h.node.limits_watch().query_buffer_bytes(), 1 << 20);
    let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    assert!(!h.node.query_buffer_over_limit(h.client, 1 << 20, head));
    h.node.take_effects();
    assert!(h
        .node
        .query_buffer_over_limit(h.client, (1 << 20) + 1, head));
    let (_, warnings) = dropped_and_warnings(&h.node.take_effects());
    let info = client_line(&h.node, h.client);
    assert_eq!(
        warnings,
        vec![format!(
            "Closing client that reached max query buffer length: {} (qbuf initial bytes: \
             \"*3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\nk\\r\\n$2000000\\r\\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\")",
            info.trim_end()
        )]
    );
}

#[test]
fn the_cron_closes_idle_clients_but_spares_subscribers_monitors_and_blocked_ones() {
    let mut h = Harness::new();
    let sub = subscriber(&mut h, 5001);
    let monitor = connect(&mut h, 5002);
    as_client(&mut h, monitor, &["MONITOR"]);
    let blocked = connect(&mut h, 5003);
    as_client(&mut h, blocked, &["BLPOP", "list", "0"]);
    let active = connect(&mut h, 5004);
    assert_eq!(h.cmd(&["CONFIG", "SET", "timeout", "2"]), Reply::ok());
    h.advance_ms(1500);
    as_client(&mut h, active, &["PING"]);
    // Idle since second 0: in second 2 that is 2 s (in whole seconds), not more.
    h.advance_ms(1499);
    h.node.take_effects();
    h.node.tick(h.now);
    assert_eq!(dropped_and_warnings(&h.node.take_effects()).0, vec![]);
    h.advance_ms(1);
    h.node.tick(h.now);
    let effects = h.node.take_effects();
    assert_eq!(dropped_and_warnings(&effects).0, vec![h.client]);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Log { level: LogLevel::Verbose, text } if text == "Closing idle client"
    )));
    for spared in [sub, monitor, blocked, active] {
        assert!(h.node.clients.contains_key(&spared), "client {spared}");
    }
    // A client that keeps sending a partial request is not idle either.
    h.advance_ms(1500);
    let partial = ClientBufferSizes {
        query_bytes: 10,
        ..Default::default()
    };
    report(&mut h, &[(active, partial)]);
    h.advance_ms(1000);
    h.node.tick(h.now);
    assert_eq!(dropped_and_warnings(&h.node.take_effects()).0, vec![]);
}

#[test]
fn config_set_of_the_parsing_limits_reaches_the_driver_watch() {
    let mut h = Harness::new();
    let watch = h.node.limits_watch();
    assert_eq!(watch.proto_max_bulk_len_bytes(), 512 << 20);
    assert_eq!(
        h.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        Reply::ok()
    );
    assert_eq!(watch.proto_max_bulk_len_bytes(), 2 << 20);
    let refused = h.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1000"]);
    assert_eq!(
        refused,
        Reply::err(
            "CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument \
             must be between 1048576 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(watch.proto_max_bulk_len_bytes(), 2 << 20);
}

#[test]
fn output_queued_past_the_limit_is_judged_at_once_with_redis_async_wording() {
    let mut h = Harness::new();
    let sub = subscriber(&mut h, 5001);
    let set = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 100000 0 0",
    ];
    assert_eq!(h.cmd(&set), Reply::ok());
    h.node.take_effects();
    let partial = ClientBufferSizes {
        output_bytes: 16384 + 99_999,
        query_bytes: 7,
        query_free_bytes: 9,
    };
    h.node.client_output_queued(h.now, &[(sub, partial)]);
    assert_eq!(
        dropped_and_warnings(&h.node.take_effects()),
        (vec![], vec![])
    );
    // Only the output size is taken from such a report.
    let line = client_line(&h.node, sub);
    assert!(line.contains(" qbuf=0 qbuf-free=0 "), "{line}");
    assert!(line.contains(" omem=99999 "), "{line}");
    h.node
        .client_output_queued(h.now, &[(sub, output(16384 + 100_000))]);
    let (dropped, warnings) = dropped_and_warnings(&h.node.take_effects());
    assert_eq!(dropped, vec![sub]);
    assert!(
        warnings[0]
            .ends_with(" scheduled to be closed ASAP for overcoming of output buffer limits."),
        "{warnings:?}"
    );
    // A report naming a client that is gone is skipped.
    h.node
        .client_output_queued(h.now, &[(sub, output(1 << 30))]);
    assert_eq!(
        dropped_and_warnings(&h.node.take_effects()),
        (vec![], vec![])
    );
}

#[test]
fn a_replica_receiving_its_snapshot_is_judged_by_the_stream_held_for_it() {
    let mut h = Harness::new();
    h.node.config.repl_diskless_sync_delay_s = 0;
    let replica = connect(&mut h, 5001);
    as_client(
        &mut h,
        replica,
        &["REPLCONF", "capa", "eof", "capa", "psync2"],
    );
    as_client(&mut h, replica, &["PSYNC", "?", "-1"]);
    assert_eq!(h.node.client_class(replica), ClientClass::Replica);
    // Below the backlog (1 MB) a replica's hard limit is the backlog's size.
    let set = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "replica 1 0 0",
    ];
    assert_eq!(h.cmd(&set), Reply::ok());
    // The queued payload is not output in Redis's sense: nothing held yet, nothing judged.
    let payload = output(300 << 20);
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(replica, payload)])).0,
        vec![]
    );
    let value = "v".repeat(100_000);
    for i in 0..10 {
        assert_eq!(h.cmd(&["SET", &format!("k{i}"), &value]), Reply::ok());
    }
    assert_eq!(
        dropped_and_warnings(&report(&mut h, &[(replica, payload)])).0,
        vec![]
    );
    assert_eq!(h.cmd(&["SET", "k10", &value]), Reply::ok());
    let effects = report(&mut h, &[(replica, output(0))]);
    let (dropped, warnings) = dropped_and_warnings(&effects);
    assert_eq!(dropped, vec![replica]);
    assert!(warnings[0].contains(" flags=S "), "{warnings:?}");
}
