//! Micro-benchmarks of the wire codecs: RESP request parsing and reply encoding (the client hot
//! path) and cluster-bus message encode/decode (gossip). Run with
//! `cargo bench -p clusterlab-net --bench codecs`; compare runs on the same machine only.

use bytes::{Bytes, BytesMut};
use clusterlab_core::bus::{Body, GossipEntry, Header, Message, MessageType};
use clusterlab_core::slot::SlotSet;
use clusterlab_core::{NodeId, Reply};
use clusterlab_net::{bus_codec, resp};
use divan::{black_box, counter::BytesCount, Bencher};

fn main() {
    divan::main();
}

fn set_request() -> BytesMut {
    let mut frame = BytesMut::new();
    resp::encode_request(&[&b"SET"[..], b"key:000000012345", b"xxx"], &mut frame);
    frame
}

/// One `SET key value` multibulk request, as redis-benchmark sends it.
#[divan::bench]
fn parse_set(bencher: Bencher) {
    let frame = set_request();
    bencher
        .counter(BytesCount::new(frame.len()))
        .with_inputs(|| frame.clone())
        .bench_local_refs(resp::parse_request);
}

/// Sixteen pipelined SETs in one buffer, parsed one after another.
#[divan::bench]
fn parse_pipeline_16(bencher: Bencher) {
    let one = set_request();
    let mut frame = BytesMut::new();
    for _ in 0..16 {
        frame.extend_from_slice(&one);
    }
    bencher
        .counter(BytesCount::new(frame.len()))
        .with_inputs(|| frame.clone())
        .bench_local_refs(|buf| {
            while let Ok(Some(args)) = resp::parse_request(buf) {
                black_box(args);
            }
        });
}

/// MSET with ten key/value pairs.
#[divan::bench]
fn parse_mset_10(bencher: Bencher) {
    let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..10 {
        args.push(format!("key:{{tag}}:{i:012}").into_bytes());
        args.push(b"xxx".to_vec());
    }
    let mut frame = BytesMut::new();
    resp::encode_request(&args, &mut frame);
    bencher
        .counter(BytesCount::new(frame.len()))
        .with_inputs(|| frame.clone())
        .bench_local_refs(resp::parse_request);
}

/// An inline `PING` as typed into telnet.
#[divan::bench]
fn parse_inline_ping(bencher: Bencher) {
    bencher
        .with_inputs(|| BytesMut::from(&b"PING\r\n"[..]))
        .bench_local_refs(resp::parse_request);
}

fn replies() -> [(&'static str, Reply); 4] {
    [
        ("ok", Reply::ok()),
        ("integer", Reply::Integer(1_234_567)),
        ("bulk", Reply::Bulk(Bytes::from_static(b"xxx"))),
        (
            "array_10",
            Reply::Array(
                (0..10)
                    .map(|_| Reply::Bulk(Bytes::from_static(b"xxx")))
                    .collect(),
            ),
        ),
    ]
}

/// Replies GET, SET, INCR and MGET give, encoded in RESP2.
#[divan::bench(args = ["ok", "integer", "bulk", "array_10"])]
fn encode_reply(bencher: Bencher, kind: &str) {
    let reply = replies()
        .into_iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, r)| r)
        .expect("known reply kind");
    let mut out = BytesMut::with_capacity(4096);
    bencher.bench_local(|| {
        out.clear();
        resp::encode_reply(black_box(&reply), 2, &mut out);
    });
}

fn node_id(fill: u8) -> NodeId {
    NodeId::parse(&[fill; 40]).expect("40 hex digits")
}

/// A PING as a node of a 6-node cluster sends it: a master's slots and gossip about 3 others.
fn gossip_ping() -> Message {
    let mut myslots = SlotSet::default();
    for slot in 0..5461 {
        myslots.insert(slot);
    }
    let gossip = (0..3)
        .map(|i| GossipEntry {
            id: node_id(b'b' + i),
            ping_sent_s: 0,
            pong_received_s: 1_764_000_000,
            ip: "127.0.0.1".into(),
            port: 30002 + u16::from(i),
            cport: 40002 + u16::from(i),
            flags: 1,
        })
        .collect();
    Message {
        header: Header {
            kind: MessageType::Ping,
            port: 30001,
            cport: 40001,
            current_epoch: 6,
            config_epoch: 1,
            repl_offset: 123_456,
            sender: node_id(b'a'),
            myslots,
            slaveof: None,
            myip: String::new(),
            hostname: String::new(),
            flags: 1,
            state_fail: false,
            mflags: 0,
        },
        body: Body::Gossip(gossip),
    }
}

#[divan::bench]
fn bus_encode_ping(bencher: Bencher) {
    let msg = gossip_ping();
    let mut out = BytesMut::with_capacity(4096);
    bencher.bench_local(|| {
        out.clear();
        bus_codec::encode(black_box(&msg), &mut out);
    });
}

#[divan::bench]
fn bus_decode_ping(bencher: Bencher) {
    let mut frame = BytesMut::new();
    bus_codec::encode(&gossip_ping(), &mut frame);
    bencher
        .counter(BytesCount::new(frame.len()))
        .with_inputs(|| frame.clone())
        .bench_local_refs(|buf| bus_codec::decode(buf).expect("valid frame"));
}
