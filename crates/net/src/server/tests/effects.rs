//! Effects performed in order: `nodes.conf` saves and AOF writes (once per turn: counted on a
//! counting disk; a script's MULTI/EXEC whole in one write and one `always` sync) around a
//! crash or shutdown, and bus links opened, written to and closed.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clusterlab_core::bus::{Body, Header, Message, MessageType};
use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::SlotSet;
use clusterlab_core::{Config, Effect, LinkId, NodeId};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::{aof_config, local_config, read_to_end, roundtrip, start, INCR};
use crate::bus_codec;
use crate::disk::{Disk, DiskLock, MemDisk};
use crate::server::client::{CloseSignal, Step};
use crate::server::{Exit, Server, Shared, ShutdownHandle};

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
async fn effects_persist_once_per_turn_and_stop_at_a_crash() {
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

    // A crash ends the turn before it persists anything: like Redis dying before its
    // `beforeSleep`, with none of the turn's replies sent either.
    let effects = vec![append(b"c"), Effect::Crash, save("after the crash", true)];
    assert!(!perform_now(&shared, effects));
    assert_eq!(disk.read(incr).unwrap(), Some(b"ab".to_vec()));
    assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
    let exit = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert_eq!(exit.unwrap().unwrap().unwrap(), Exit::Crash);
    // The turn's one save carried v1's fsync; everysec synced the first write at once.
    disk.lose_unsynced_writes();
    assert_eq!(disk.read(conf).unwrap(), Some(b"v2".to_vec()));
    assert_eq!(disk.read(incr).unwrap(), Some(b"ab".to_vec()));
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

/// One append's bytes, and whether a sync followed before the next append.
type Appended = (Vec<u8>, bool);

/// A [`MemDisk`] that counts the calls reaching the device.
#[derive(Clone, Default)]
struct CountingDisk {
    inner: MemDisk,
    appends: Arc<AtomicUsize>,
    saves: Arc<AtomicUsize>,
    fsynced_saves: Arc<AtomicUsize>,
    syncs: Arc<AtomicUsize>,
    /// Each append's bytes, and whether a sync followed it before the next append.
    appended: Arc<Mutex<Vec<Appended>>>,
}

impl CountingDisk {
    fn counts(&self) -> [usize; 4] {
        [&self.appends, &self.saves, &self.fsynced_saves, &self.syncs].map(|c| c.load(SeqCst))
    }
}

impl Disk for CountingDisk {
    fn write_atomic(&self, path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
        self.saves.fetch_add(1, SeqCst);
        if fsync {
            self.fsynced_saves.fetch_add(1, SeqCst);
        }
        self.inner.write_atomic(path, bytes, fsync)
    }
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        self.inner.read(path)
    }
    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.appends.fetch_add(1, SeqCst);
        self.appended.lock().unwrap().push((bytes.to_vec(), false));
        self.inner.append(path, bytes)
    }
    fn sync(&self, path: &Path) -> io::Result<()> {
        self.syncs.fetch_add(1, SeqCst);
        if let Some(last) = self.appended.lock().unwrap().last_mut() {
            last.1 = true;
        }
        self.inner.sync(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        self.inner.len(path)
    }
    fn lock(&self, path: &Path) -> io::Result<DiskLock> {
        self.inner.lock(path)
    }
}

async fn start_counting(config: Config) -> (CountingDisk, Arc<Shared>) {
    let disk = CountingDisk::default();
    let server = Server::bind(config, 7, Arc::new(disk.clone()))
        .await
        .unwrap();
    let shared = server.shared.clone();
    tokio::spawn(server.serve());
    (disk, shared)
}

/// Runs `input` as one client's batch of pipelined requests; returns the replies.
fn run_batch(shared: &Arc<Shared>, input: &[u8]) -> BytesMut {
    let client = {
        let mut node = shared.lock_node();
        let now = shared.clock.now();
        node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into())
    };
    let mut input = BytesMut::from(input);
    let mut output = BytesMut::new();
    let step = shared.run_requests(client, &CloseSignal::default(), &mut input, &mut output);
    assert_eq!(step, Step::Continue);
    assert!(input.is_empty());
    output
}

fn sets(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| format!("*3\r\n$3\r\nSET\r\n$2\r\nk{}\r\n$1\r\nv\r\n", i % 10).into_bytes())
        .collect()
}

#[tokio::test]
async fn a_batch_of_writes_reaches_the_aof_in_one_write_and_one_always_sync() {
    let (disk, shared) = start_counting(aof_config(AppendFsync::Always)).await;
    let [appends, _, _, syncs] = disk.counts();
    let output = run_batch(&shared, &sets(16));
    assert_eq!(&output[..], "+OK\r\n".repeat(16).as_bytes());
    let [appends_after, _, _, syncs_after] = disk.counts();
    assert_eq!(appends_after - appends, 1, "one write for the turn");
    assert_eq!(
        syncs_after - syncs,
        1,
        "one fsync for the turn (group commit)"
    );
    // Durable before the replies were handed back.
    disk.inner.lose_unsynced_writes();
    let file = disk.inner.read(Path::new(INCR)).unwrap().unwrap();
    assert_eq!(file.windows(3).filter(|w| w == b"SET").count(), 16);

    // A batch of reads writes nothing.
    let before = disk.counts();
    let gets = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n".repeat(8);
    assert_eq!(&run_batch(&shared, &gets)[..], b"$1\r\nv\r\n".repeat(8));
    assert_eq!(disk.counts(), before);
}

/// A RESP request from words.
fn request(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// Redis writes and syncs a script's MULTI/EXEC once (its AOF buffer goes out whole at the end
/// of the event-loop turn); so do we, so no crash can leave a synced partial transaction, even
/// when the script wakes a blocked client (whose reply leaves at once) or runs in a batch.
#[tokio::test]
async fn a_scripts_transaction_reaches_the_aof_in_one_write_and_one_always_sync() {
    let (disk, shared) = start_counting(aof_config(AppendFsync::Always)).await;
    let blocked = {
        let mut node = shared.lock_node();
        let now = shared.clock.now();
        node.client_connected(now, "127.0.0.1:3".into(), "127.0.0.1:2".into())
    };
    let mut input = BytesMut::from(&request(&["BLPOP", "l", "0"])[..]);
    let mut output = BytesMut::new();
    shared.run_requests(blocked, &CloseSignal::default(), &mut input, &mut output);
    assert!(output.is_empty(), "BLPOP waits");
    disk.appended.lock().unwrap().clear();
    let script = "redis.call('set', KEYS[1], 'x'); redis.call('incr', KEYS[2]); \
                  redis.call('rpush', KEYS[3], 'a', 'b'); return 1";
    let mut batch = request(&["SET", "before", "1"]);
    batch.extend(request(&["EVAL", script, "3", "s", "n", "l"]));
    batch.extend(request(&["EVAL", script, "3", "s2", "n2", "l2"]));
    batch.extend(request(&["SET", "after", "1"]));
    let output = run_batch(&shared, &batch);
    assert_eq!(&output[..], b"+OK\r\n:1\r\n:1\r\n+OK\r\n");
    let appended = disk.appended.lock().unwrap().clone();
    let all: Vec<u8> = appended
        .iter()
        .flat_map(|(bytes, _)| bytes.clone())
        .collect();
    assert_eq!((count(&all, b"MULTI"), count(&all, b"EXEC")), (2, 2));
    for (bytes, synced) in &appended {
        assert!(synced, "every write synced under always");
        assert_eq!(
            count(bytes, b"MULTI"),
            count(bytes, b"EXEC"),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // The woken BLPOP's reply left mid-turn: what ran before it was written first, the rest at
    // the end of the turn.
    assert_eq!(appended.len(), 2, "{appended:?}");
    disk.inner.lose_unsynced_writes();
    let file = disk.inner.read(Path::new(INCR)).unwrap().unwrap();
    assert_eq!(count(&file, b"EXEC"), 2);
}

#[tokio::test]
async fn everysec_writes_a_batch_once_and_syncs_off_the_request_path() {
    let (disk, shared) = start_counting(aof_config(AppendFsync::Everysec)).await;
    let [appends, _, _, _] = disk.counts();
    run_batch(&shared, &sets(16));
    run_batch(&shared, &sets(16));
    let [appends_after, _, _, _] = disk.counts();
    assert_eq!(appends_after - appends, 2, "one write per turn");
    let file = disk.inner.read(Path::new(INCR)).unwrap().unwrap();
    assert_eq!(file.windows(3).filter(|w| w == b"SET").count(), 32);
}

#[tokio::test]
async fn a_turn_saves_nodes_conf_once_before_its_first_message() {
    let (disk, shared) = start_counting(local_config()).await;
    let conf = Path::new("data/nodes.conf");
    let before = disk.counts();
    let effects = vec![save("v1", false), save("v2", true), save("v3", false)];
    assert!(perform_now(&shared, effects));
    let after = disk.counts();
    assert_eq!([after[1] - before[1], after[2] - before[2]], [1, 1]);
    disk.inner.lose_unsynced_writes();
    assert_eq!(disk.inner.read(conf).unwrap(), Some(b"v3".to_vec()));

    // A message leaving mid-turn takes the save asked for before it along; the turn's
    // later request is saved at its end, unsynced as asked.
    let before = disk.counts();
    let send = Effect::Send {
        link: 999,
        msg: ping_message(),
    };
    let effects = vec![save("v4", true), send, save("v5", false)];
    assert!(perform_now(&shared, effects));
    let after = disk.counts();
    assert_eq!([after[1] - before[1], after[2] - before[2]], [2, 1]);
    disk.inner.lose_unsynced_writes();
    assert_eq!(disk.inner.read(conf).unwrap(), Some(b"v4".to_vec()));

    // So does a typed event: what it reports is saved before anyone hears of it.
    let before = disk.counts();
    let event = Effect::Event(clusterlab_core::ClusterEvent::SyncStalled { ms: 1 });
    let effects = vec![
        save("v6", true),
        event,
        save("v7", false),
        save("v8", false),
    ];
    assert!(perform_now(&shared, effects));
    let after = disk.counts();
    assert_eq!([after[1] - before[1], after[2] - before[2]], [2, 1]);
    assert_eq!(disk.inner.read(conf).unwrap(), Some(b"v8".to_vec()));
}
