//! Effects performed in order: `nodes.conf` saves and AOF writes around a crash or shutdown,
//! and bus links opened, written to and closed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clusterlab_core::bus::{Body, Header, Message, MessageType};
use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::SlotSet;
use clusterlab_core::{Effect, LinkId, NodeId};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::{aof_config, local_config, read_to_end, roundtrip, start, INCR};
use crate::bus_codec;
use crate::disk::{Disk, MemDisk};
use crate::server::{Exit, Shared, ShutdownHandle};

fn perform_now(shared: &Arc<Shared>, effects: Vec<Effect>) -> bool {
    let mut node = shared.lock_node();
    shared.perform(&mut node, effects)
}

fn append(data: &'static [u8]) -> Effect {
    Effect::AppendAof {
        data: Bytes::from_static(data),
    }
}

fn save(contents: &str, fsync: bool) -> Effect {
    Effect::SaveConfig {
        contents: contents.into(),
        fsync,
    }
}

#[tokio::test]
async fn effects_persist_in_order_and_stop_at_a_crash() {
    let disk = MemDisk::new();
    let config = aof_config(AppendFsync::Everysec);
    let (_addr, shared, serving) = start(config, disk.clone()).await;
    let conf = Path::new("data/nodes.conf");
    let incr = Path::new(INCR);
    let effects = vec![
        save("v1", true),
        append(b"a"),
        save("v2", false),
        append(b"b"),
    ];
    assert!(perform_now(&shared, effects));
    assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
    assert_eq!(disk.read(incr).unwrap(), Some(b"ab".to_vec()));

    let effects = vec![append(b"c"), Effect::Crash, save("after the crash", true)];
    assert!(!perform_now(&shared, effects));
    // The append before the crash happened, the save after it did not.
    assert_eq!(disk.read(incr).unwrap(), Some(b"abc".to_vec()));
    assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
    let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Crash);
    // everysec synced the first append at once; the rest was still in flight.
    disk.lose_unsynced_writes();
    assert_eq!(disk.read(conf).unwrap(), Some(b"v1".to_vec()));
    assert_eq!(disk.read(incr).unwrap(), Some(b"a".to_vec()));
}

#[tokio::test]
async fn appendfsync_always_syncs_before_returning() {
    let disk = MemDisk::new();
    let (_addr, shared, _serving) = start(aof_config(AppendFsync::Always), disk.clone()).await;
    assert!(perform_now(&shared, vec![append(b"x"), append(b"y")]));
    disk.lose_unsynced_writes();
    assert_eq!(disk.read(Path::new(INCR)).unwrap(), Some(b"xy".to_vec()));
}

#[tokio::test]
async fn shutdown_syncs_the_aof() {
    let disk = MemDisk::new();
    let (_addr, shared, serving) = start(aof_config(AppendFsync::No), disk.clone()).await;
    assert!(perform_now(&shared, vec![append(b"x")]));
    ShutdownHandle { shared }.shutdown();
    let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Shutdown);
    disk.lose_unsynced_writes();
    assert_eq!(disk.read(Path::new(INCR)).unwrap(), Some(b"x".to_vec()));
}

#[tokio::test]
async fn writes_come_back_from_the_aof_after_a_restart() {
    let disk = MemDisk::new();
    let config = aof_config(AppendFsync::Always);
    let (addr, shared, serving) = start(config.clone(), disk.clone()).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n";
    assert_eq!(roundtrip(&mut conn, set, 5).await, b"+OK\r\n");
    ShutdownHandle { shared }.shutdown();
    assert_eq!(serving.await.unwrap().unwrap(), Exit::Shutdown);

    let (addr, _shared, _serving) = start(config, disk).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(roundtrip(&mut conn, get, 8).await, b"$2\r\nv1\r\n");
}

fn ping_message() -> Message {
    Message {
        header: Header {
            kind: MessageType::Ping,
            port: 7001,
            cport: 17001,
            current_epoch: 3,
            config_epoch: 1,
            repl_offset: 0,
            sender: NodeId([b'a'; 40]),
            myslots: SlotSet::default(),
            slaveof: None,
            myip: String::new(),
            hostname: String::new(),
            flags: 1,
            state_fail: false,
            mflags: 0,
        },
        body: Body::Gossip(Vec::new()),
    }
}

#[tokio::test]
async fn outbound_links_carry_encoded_messages_until_closed() {
    let (_addr, shared, _serving) = start(local_config(), MemDisk::new()).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let link: LinkId = 4242;
    let msg = ping_message();
    {
        let mut node = shared.lock_node();
        let effects = vec![
            Effect::Connect {
                link,
                ip: "127.0.0.1".into(),
                port,
            },
            // Queued before the connection is up, sent once it is.
            Effect::Send {
                link,
                msg: msg.clone(),
            },
        ];
        assert!(shared.perform(&mut node, effects));
    }
    let (mut accepted, _) = tokio::time::timeout(Duration::from_secs(5), peer.accept())
        .await
        .unwrap()
        .unwrap();
    let mut input = BytesMut::new();
    let decoded = loop {
        if let Some(m) = bus_codec::decode(&mut input).unwrap() {
            break m;
        }
        let read = accepted.read_buf(&mut input);
        let n = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "link closed before the message arrived");
    };
    assert_eq!(decoded, msg);
    {
        let mut node = shared.lock_node();
        assert!(shared.perform(&mut node, vec![Effect::CloseLink { link }]));
    }
    assert_eq!(read_to_end(&mut accepted).await, b"");
    assert!(!shared.lock_io().links.contains_key(&link));
}
