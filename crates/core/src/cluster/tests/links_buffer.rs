//! `cluster-link-sendbuf-limit`: the driver's buffer reports, the link freed once its send
//! buffer passes the limit (and only then), the counter in `CLUSTER INFO`, the reconnect,
//! and the buffers shown by `CLUSTER LINKS` and `INFO memory`.

use super::*;
use crate::cluster::links_buffer::{LinkBufferSizes, LINK_OVERHEAD_BYTES};
use crate::node::LogLevel;

fn queued(bytes: u64) -> LinkBufferSizes {
    LinkBufferSizes {
        send_used_bytes: bytes,
        send_allocated_bytes: bytes,
        receive_allocated_bytes: 0,
    }
}

/// Node 0's outbound link to node 1.
fn link_0_to_1(net: &TestNet) -> LinkId {
    let peer = net.nodes[1].myself();
    net.nodes[0]
        .cluster
        .node(&peer)
        .unwrap()
        .link
        .expect("linked")
}

#[test]
fn a_send_buffer_past_the_limit_frees_the_link_counts_it_and_reconnects() {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    let set = ["CONFIG", "SET", "cluster-link-sendbuf-limit", "1000"];
    assert_eq!(net.cmd(0, &set), Reply::ok());
    let link = link_0_to_1(&net);
    let now = net.time();

    // At the limit is not past it; without a limit nothing is ever freed.
    net.nodes[0].bus_link_buffers(now, &[(link, queued(1000))]);
    assert_eq!(net.nodes[0].take_effects(), vec![]);

    net.nodes[0].bus_link_buffers(now, &[(link, queued(1001))]);
    let peer = net.nodes[1].myself();
    assert_eq!(
        net.nodes[0].take_effects(),
        vec![
            Effect::Log {
                level: LogLevel::Warning,
                text: format!(
                    "Freeing cluster link(to node {peer}, used memory: 1001) due to \
                     exceeding send buffer memory limit."
                ),
            },
            Effect::CloseLink { link },
        ]
    );
    assert_eq!(net.nodes[0].cluster.node(&peer).unwrap().link, None);
    assert_eq!(
        net.info_field(0, "total_cluster_links_buffer_limit_exceeded"),
        "1"
    );
    // The cron opens a new outbound link; the peer's own link to us was never touched.
    net.advance(200);
    let again = link_0_to_1(&net);
    assert_ne!(again, link);
    assert_eq!(net.info_field(0, "cluster_state"), "ok");

    let unlimited = ["CONFIG", "SET", "cluster-link-sendbuf-limit", "0"];
    assert_eq!(net.cmd(0, &unlimited), Reply::ok());
    let now = net.time();
    net.nodes[0].bus_link_buffers(now, &[(again, queued(1 << 30))]);
    assert_eq!(net.nodes[0].take_effects(), vec![]);
    assert_eq!(
        net.info_field(0, "total_cluster_links_buffer_limit_exceeded"),
        "1"
    );
}

#[test]
fn cluster_links_and_info_memory_show_the_reported_buffers() {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    let link = link_0_to_1(&net);
    let sizes = LinkBufferSizes {
        send_used_bytes: 300,
        send_allocated_bytes: 512,
        receive_allocated_bytes: 16384,
    };
    let now = net.time();
    net.nodes[0].bus_link_buffers(now, &[(link, sizes)]);
    let peer = net.nodes[1].myself();
    let Reply::Array(links) = net.cmd(0, &["CLUSTER", "LINKS"]) else {
        panic!("links")
    };
    // Two links per peer, each a map of Redis's six fields.
    assert_eq!(links.len(), 4);
    let created = net.nodes[0]
        .cluster
        .links_in_order()
        .next()
        .unwrap()
        .created_unix_ms;
    let expected = Reply::Map(vec![
        (Reply::bulk_str("direction"), Reply::bulk_str("to")),
        (Reply::bulk_str("node"), Reply::bulk_str(peer.as_str())),
        (
            Reply::bulk_str("create-time"),
            Reply::Integer(created as i64),
        ),
        (Reply::bulk_str("events"), Reply::bulk_str("rw")),
        (
            Reply::bulk_str("send-buffer-allocated"),
            Reply::Integer(512),
        ),
        (Reply::bulk_str("send-buffer-used"), Reply::Integer(300)),
    ]);
    let shown = links
        .iter()
        .find(|l| format!("{l:?}").contains("\"to\"") && format!("{l:?}").contains(peer.as_str()))
        .expect("the link to node 1");
    let Reply::Map(fields) = shown else {
        panic!("{shown:?}")
    };
    let Reply::Map(want) = &expected else {
        unreachable!()
    };
    // create-time aside (links are made at different times), the fields are exact.
    assert_eq!(fields.len(), 6);
    for k in [0, 1, 3, 4, 5] {
        assert_eq!(fields[k], want[k], "field {k}");
    }
    // An idle link is watched for reads only.
    let idle = links
        .iter()
        .filter(|l| !std::ptr::eq(*l, shown))
        .all(|l| format!("{l:?}").contains("\"r\""));
    assert!(idle, "{links:?}");

    let links_count = net.nodes[0].cluster.links_in_order().count() as u64;
    let info = match net.cmd(0, &["INFO", "memory"]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Verbatim(_, t) => t,
        other => panic!("{other:?}"),
    };
    let expected_bytes = links_count * LINK_OVERHEAD_BYTES + 512 + 16384;
    assert!(
        info.contains(&format!("\r\nmem_cluster_links:{expected_bytes}\r\n")),
        "{info}"
    );
}

/// Suite file 24 compares a link's `create-time` across two `CLUSTER LINKS` calls: it is the
/// wall-clock time taken at creation, whatever the wall clock says later.
#[test]
fn create_time_is_fixed_at_creation() {
    let mut net = TestNet::new(3, 5000);
    net.create_three_masters();
    let create_times = |reply: Reply| -> Vec<Reply> {
        let Reply::Array(links) = reply else {
            panic!("{reply:?}")
        };
        links
            .into_iter()
            .map(|l| match l {
                Reply::Map(fields) => fields[2].1.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let before = create_times(net.cmd(0, &["CLUSTER", "LINKS"]));
    let later = Time {
        mono_ms: net.now_ms,
        unix_ms: UNIX_BASE_MS + net.now_ms + 7,
    };
    let args = [Bytes::from_static(b"CLUSTER"), Bytes::from_static(b"LINKS")];
    let client = net.clients[0];
    let after = create_times(net.nodes[0].command(later, client, &args));
    assert_eq!(before, after);
    assert!(before
        .iter()
        .all(|t| matches!(t, Reply::Integer(ms) if *ms as u64 >= UNIX_BASE_MS)));
}
