use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::load::{scan_command, Scan};
use super::*;
use crate::disk::{Disk, FileDisk, MemDisk};
use bytes::{Bytes, BytesMut};
use clusterlab_core::config::AppendFsync;
use clusterlab_core::{ClientId, Config, Effect, Node, Reply, Time};

const T0: Time = Time {
    mono_ms: 10_000,
    unix_ms: 1_000_000,
};
const LATER: Time = Time {
    mono_ms: 11_000,
    unix_ms: 1_001_000,
};
const BASE: &str = "appendonly.aof.1.base.aof";
const INCR: &str = "appendonly.aof.1.incr.aof";
const FRESH_MANIFEST: &str = "file appendonly.aof.1.base.aof seq 1 type b\n\
                              file appendonly.aof.1.incr.aof seq 1 type i\n";
/// What redis-server 7.0.15 wrote for `SET a 1` then `EXPIRE a 100`: 96 bytes, the
/// second command starting at offset 50.
const REDIS_INCR: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
    *3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n\
    *3\r\n$9\r\nPEXPIREAT\r\n$1\r\na\r\n$13\r\n1795620739527\r\n";

fn config(policy: AppendFsync) -> Config {
    Config {
        appendonly: true,
        cluster_enabled: false,
        appendfsync: policy,
        dir: "data".into(),
        ..Config::default()
    }
}

fn path(name: &str) -> PathBuf {
    PathBuf::from("data/appendonlydir").join(name)
}

fn resp(words: &[&str]) -> Vec<u8> {
    let mut out = BytesMut::new();
    crate::resp::encode_request(words, &mut out);
    out.to_vec()
}

fn words(ws: &[&str]) -> Vec<Bytes> {
    ws.iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// A node with one connected client.
struct TestNode {
    node: Node,
    client: ClientId,
}

impl TestNode {
    fn new(config: &Config, now: Time) -> TestNode {
        let mut node = Node::new(config.clone(), now, 1);
        let client = node.client_connected(now, "127.0.0.1:1".into(), "127.0.0.1:2".into());
        TestNode { node, client }
    }

    fn run(&mut self, now: Time, cmd: &[&str]) -> Reply {
        self.node.command(now, self.client, &words(cmd))
    }

    /// The AOF records produced since the last call, one per effect.
    fn aof_records(&mut self) -> Vec<Bytes> {
        self.node
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::AppendAof { data } => Some(data),
                _ => None,
            })
            .collect()
    }
}

/// A disk holding an AOF directory with these files (all synced).
fn disk_with(manifest: &str, files: &[(&str, &[u8])]) -> MemDisk {
    let disk = MemDisk::new();
    disk.write_atomic(&path("appendonly.aof.manifest"), manifest.as_bytes(), true)
        .unwrap();
    for (name, contents) in files {
        disk.write_atomic(&path(name), contents, true).unwrap();
    }
    disk
}

fn read(disk: &dyn Disk, name: &str) -> Vec<u8> {
    disk.read(&path(name)).unwrap().unwrap()
}

fn load_into(disk: &dyn Disk, config: &Config) -> (Result<LoadReport, AofError>, TestNode) {
    let mut node = TestNode::new(config, LATER);
    let loaded = load(disk, config, &mut node.node, LATER);
    (loaded, node)
}

fn load_error(disk: &dyn Disk, config: &Config) -> String {
    match load_into(disk, config).0 {
        Ok(report) => panic!("loaded: {report:?}"),
        Err(e) => e.to_string(),
    }
}

// ---- layout ----------------------------------------------------------------------------

#[test]
fn first_open_creates_redis_layout_durably() {
    let disk = MemDisk::new();
    let aof = Aof::open(Arc::new(disk.clone()), &config(AppendFsync::Everysec)).unwrap();
    assert_eq!(
        aof.startup_log(),
        [
            "Creating AOF base file appendonly.aof.1.base.aof on server start",
            "Creating AOF incr file appendonly.aof.1.incr.aof on server start",
        ]
    );
    assert_eq!(aof.incr_path(), path(INCR));
    disk.lose_unsynced_writes();
    assert_eq!(
        disk.paths(),
        vec![path(BASE), path(INCR), path("appendonly.aof.manifest")]
    );
    assert_eq!(
        read(&disk, "appendonly.aof.manifest"),
        FRESH_MANIFEST.as_bytes()
    );
    assert_eq!(read(&disk, BASE), b"");
    assert_eq!(read(&disk, INCR), b"");
}

#[test]
fn reopening_keeps_the_manifest_and_appends_to_its_last_incr_file() {
    let manifest = "file appendonly.aof.1.base.aof seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n";
    let disk = disk_with(manifest, &[(BASE, b""), (INCR, b"one")]);
    let config = config(AppendFsync::Always);
    let mut aof = Aof::open(Arc::new(disk.clone()), &config).unwrap();
    assert_eq!(
        aof.startup_log(),
        ["Opening AOF incr file appendonly.aof.2.incr.aof on server start"]
    );
    aof.append(b"two", 0).unwrap();
    assert_eq!(read(&disk, "appendonly.aof.2.incr.aof"), b"two");
    assert_eq!(read(&disk, INCR), b"one");
    assert_eq!(read(&disk, "appendonly.aof.manifest"), manifest.as_bytes());
}

#[test]
fn manifest_without_incr_file_gets_one_and_keeps_the_rest() {
    let manifest = "file appendonly.aof.3.base.aof seq 3 type b\n\
                    file appendonly.aof.2.incr.aof seq 2 type h\n";
    let disk = disk_with(manifest, &[("appendonly.aof.3.base.aof", b"data")]);
    let aof = Aof::open(Arc::new(disk.clone()), &config(AppendFsync::Always)).unwrap();
    assert_eq!(
        aof.startup_log(),
        ["Creating AOF incr file appendonly.aof.1.incr.aof on server start"]
    );
    assert_eq!(
        read(&disk, "appendonly.aof.manifest"),
        b"file appendonly.aof.3.base.aof seq 3 type b\n\
          file appendonly.aof.2.incr.aof seq 2 type h\n\
          file appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert_eq!(read(&disk, "appendonly.aof.3.base.aof"), b"data");
}

#[test]
fn names_follow_appendfilename_and_appenddirname() {
    let config = Config {
        appendfilename: "my file.aof".into(),
        appenddirname: "aofs".into(),
        ..config(AppendFsync::Always)
    };
    let disk = MemDisk::new();
    let mut aof = Aof::open(Arc::new(disk.clone()), &config).unwrap();
    aof.append(&resp(&["SET", "k", "v"]), 0).unwrap();
    let manifest = disk
        .read(Path::new("data/aofs/my file.aof.manifest"))
        .unwrap();
    let text = "file \"my file.aof.1.base.aof\" seq 1 type b\n\
                file \"my file.aof.1.incr.aof\" seq 1 type i\n";
    assert_eq!(manifest.unwrap(), text.as_bytes());
    assert_eq!(
        Manifest::parse(text.as_bytes()).unwrap().incr[0].name,
        "my file.aof.1.incr.aof"
    );
    let (report, mut node) = load_into(&disk, &config);
    assert_eq!(report.unwrap().commands_replayed, 1);
    assert_eq!(node.run(LATER, &["GET", "k"]), Reply::bulk_str("v"));
}

// ---- append and load -------------------------------------------------------------------

/// Writes through a real node, appends its AOF records, loads them into a fresh node.
fn round_trip(disk: Arc<dyn Disk>, config: &Config) {
    let mut writer = TestNode::new(config, T0);
    let mut aof = Aof::open(disk.clone(), config).unwrap();
    let commands: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["INCR", "n"],
        &["INCR", "n"],
        &["EXPIRE", "k", "100"],
        &["GET", "k"],
        &["MULTI"],
        &["INCR", "n"],
        &["SET", "s", "hello"],
        &["EXEC"],
    ];
    for cmd in commands {
        writer.run(T0, cmd);
        for record in writer.aof_records() {
            aof.append(&record, T0.mono_ms).unwrap();
        }
    }
    let (report, mut reader) = load_into(&*disk, config);
    let report = report.unwrap();
    assert_eq!(report.files_loaded, [INCR]);
    // SELECT, SET, INCR, INCR, PEXPIREAT, MULTI, INCR, SET, EXEC.
    assert_eq!(report.commands_replayed, 9);
    assert_eq!(report.warnings, Vec::<String>::new());
    assert!(reader.aof_records().is_empty(), "replay must not log again");
    assert_eq!(reader.run(LATER, &["GET", "k"]), Reply::bulk_str("v"));
    assert_eq!(reader.run(LATER, &["PTTL", "k"]), Reply::Integer(99_000));
    assert_eq!(reader.run(LATER, &["GET", "n"]), Reply::bulk_str("3"));
    assert_eq!(reader.run(LATER, &["GET", "s"]), Reply::bulk_str("hello"));
}

#[test]
fn appended_writes_load_back_into_a_fresh_node() {
    let disk = MemDisk::new();
    round_trip(Arc::new(disk.clone()), &config(AppendFsync::Always));
    let log = read(&disk, INCR);
    assert!(log.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n"));
}

#[test]
fn file_disk_round_trip_and_truncation() {
    let dir = std::env::temp_dir().join(format!("clusterlab-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        dir: dir.display().to_string(),
        ..config(AppendFsync::Always)
    };
    round_trip(Arc::new(FileDisk::default()), &config);
    let incr = dir.join("appendonlydir").join(INCR);
    let whole_len = std::fs::metadata(&incr).unwrap().len();
    FileDisk::default()
        .append(&incr, b"*2\r\n$4\r\nINCR\r\n$1\r\nn")
        .unwrap();
    let (report, mut node) = load_into(&FileDisk::default(), &config);
    assert_eq!(
        report.unwrap().truncated,
        Some((INCR.to_string(), whole_len))
    );
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), whole_len);
    assert_eq!(node.run(LATER, &["GET", "n"]), Reply::bulk_str("3"));
    let manifest = std::fs::read(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(manifest, FRESH_MANIFEST.as_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_manifest_means_nothing_to_load() {
    let disk = MemDisk::new();
    let (report, node) = load_into(&disk, &config(AppendFsync::Always));
    assert_eq!(report.unwrap(), LoadReport::default());
    assert!(node.node.db().is_empty());
    let comments_only = disk_with("# nothing\n", &[]);
    let (report, _) = load_into(&comments_only, &config(AppendFsync::Always));
    assert!(!report.unwrap().found);
}

#[test]
fn base_then_incr_files_load_in_order_and_empty_ones_are_skipped() {
    let manifest = "file appendonly.aof.1.base.aof seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file gone.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
    let base = [resp(&["SELECT", "0"]), resp(&["SET", "x", "1"])].concat();
    let incr = [
        b"#TS:1700000000\r\n".to_vec(),
        resp(&["SET", "x", "10"]),
        resp(&["incr", "x"]),
    ]
    .concat();
    let disk = disk_with(
        manifest,
        &[
            (BASE, &base),
            (INCR, &incr),
            ("appendonly.aof.2.incr.aof", b""),
            ("appendonly.aof.3.incr.aof", &resp(&["INCRBY", "x", "5"])),
        ],
    );
    let (report, mut node) = load_into(&disk, &config(AppendFsync::Always));
    let report = report.unwrap();
    assert_eq!(
        report.files_loaded,
        [BASE, INCR, "appendonly.aof.3.incr.aof"]
    );
    assert_eq!(report.commands_replayed, 5);
    assert_eq!(node.run(LATER, &["GET", "x"]), Reply::bulk_str("16"));
}

// ---- fsync policies --------------------------------------------------------------------

enum Step {
    Append(&'static [u8], u64),
    Tick(u64),
    Flush,
    Policy(AppendFsync),
}

/// Runs the steps on a fresh AOF, crashes, and returns what the incr file still holds.
fn survives_crash(policy: AppendFsync, steps: &[Step]) -> Vec<u8> {
    let disk = MemDisk::new();
    let mut aof = Aof::open(Arc::new(disk.clone()), &config(policy)).unwrap();
    for step in steps {
        match *step {
            Step::Append(data, now_ms) => aof.append(data, now_ms).unwrap(),
            Step::Tick(now_ms) => aof.tick(now_ms).unwrap(),
            Step::Flush => aof.flush_and_sync().unwrap(),
            Step::Policy(policy) => aof.set_fsync_policy(policy),
        }
    }
    disk.lose_unsynced_writes();
    read(&disk, INCR)
}

#[test]
fn always_makes_every_append_durable_before_returning() {
    use Step::*;
    let steps = [Append(b"A", 0), Append(b"B", 1)];
    assert_eq!(survives_crash(AppendFsync::Always, &steps), b"AB");
}

#[test]
fn everysec_syncs_at_most_once_a_second_and_from_the_tick() {
    use AppendFsync::Everysec;
    use Step::*;
    // The first append syncs: nothing was synced before.
    assert_eq!(survives_crash(Everysec, &[Append(b"A", 10_000)]), b"A");
    let ab = [Append(b"A", 10_000), Append(b"B", 10_500)];
    assert_eq!(survives_crash(Everysec, &ab), b"A");
    let early_tick = [Append(b"A", 10_000), Append(b"B", 10_500), Tick(10_999)];
    assert_eq!(survives_crash(Everysec, &early_tick), b"A");
    let due_tick = [Append(b"A", 10_000), Append(b"B", 10_500), Tick(11_000)];
    assert_eq!(survives_crash(Everysec, &due_tick), b"AB");
    let due_append = [
        Append(b"A", 10_000),
        Append(b"B", 10_500),
        Append(b"C", 11_000),
    ];
    assert_eq!(survives_crash(Everysec, &due_append), b"ABC");
    let flushed = [Append(b"A", 10_000), Append(b"B", 10_500), Flush];
    assert_eq!(survives_crash(Everysec, &flushed), b"AB");
}

#[test]
fn no_never_syncs_until_shutdown() {
    use AppendFsync::No;
    use Step::*;
    let steps = [Append(b"A", 0), Append(b"B", 5_000), Tick(9_000)];
    assert_eq!(survives_crash(No, &steps), b"");
    let flushed = [Append(b"A", 0), Append(b"B", 5_000), Flush];
    assert_eq!(survives_crash(No, &flushed), b"AB");
    let switched = [
        Append(b"A", 0),
        Policy(AppendFsync::Always),
        Append(b"B", 1),
    ];
    assert_eq!(survives_crash(No, &switched), b"AB");
}

// ---- disk errors -------------------------------------------------------------------------

fn failing_aof(policy: AppendFsync) -> (MemDisk, Aof) {
    let disk = MemDisk::new();
    let aof = Aof::open(Arc::new(disk.clone()), &config(policy)).unwrap();
    (disk, aof)
}

#[test]
fn everysec_holds_unwritten_bytes_and_writes_them_once_the_disk_works() {
    use crate::disk::DiskFailure;
    let (disk, mut aof) = failing_aof(AppendFsync::Everysec);
    aof.append(b"A", 10_000).unwrap();
    disk.set_failure(Some(DiskFailure::Full));
    aof.append(b"B", 10_100).unwrap();
    aof.append(b"C", 10_200).unwrap();
    let full = AofHealth {
        write: Some("No space left on device".into()),
        fsync: None,
    };
    assert_eq!(aof.health(), &full);
    assert_eq!(read(&disk, INCR), b"A");
    aof.tick(10_300).unwrap();
    assert_eq!(aof.health(), &full);
    disk.set_failure(None);
    aof.tick(10_400).unwrap();
    assert_eq!(aof.health(), &AofHealth::default());
    assert_eq!(read(&disk, INCR), b"ABC");
    aof.append(b"D", 10_500).unwrap();
    aof.tick(11_100).unwrap();
    disk.lose_unsynced_writes();
    assert_eq!(read(&disk, INCR), b"ABCD");
}

#[test]
fn everysec_reports_a_failed_sync_and_retries_it_a_second_later() {
    use crate::disk::DiskFailure;
    let (disk, mut aof) = failing_aof(AppendFsync::Everysec);
    aof.append(b"A", 10_000).unwrap();
    disk.set_failure(Some(DiskFailure::SyncFails));
    aof.append(b"B", 11_000).unwrap();
    assert_eq!(aof.health().fsync.as_deref(), Some("Input/output error"));
    assert_eq!(aof.health().write, None);
    disk.set_failure(None);
    aof.tick(11_500).unwrap();
    assert!(
        aof.health().fsync.is_some(),
        "retried before a second passed"
    );
    aof.tick(12_000).unwrap();
    assert_eq!(aof.health(), &AofHealth::default());
    disk.lose_unsynced_writes();
    assert_eq!(read(&disk, INCR), b"AB");
}

#[test]
fn always_returns_write_and_sync_failures_to_stop_the_node() {
    use crate::disk::DiskFailure;
    for failure in [DiskFailure::Full, DiskFailure::SyncFails] {
        let (disk, mut aof) = failing_aof(AppendFsync::Always);
        aof.append(b"A", 0).unwrap();
        disk.set_failure(Some(failure));
        assert!(aof.append(b"B", 1).is_err(), "{failure:?}");
        // Reported as well, so the node's events say why it stopped (seed 808127).
        let health = aof.health();
        let reported = match failure {
            DiskFailure::Full => (health.write.is_some(), health.fsync.is_none()),
            _ => (health.write.is_none(), health.fsync.is_some()),
        };
        assert_eq!(reported, (true, true), "{failure:?}: {health:?}");
    }
}

#[test]
fn error_text_is_the_system_message_alone() {
    let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
    assert_eq!(error_text(&enospc), "No space left on device");
    let custom = std::io::Error::other("disk on fire (os error 5)");
    assert_eq!(error_text(&custom), "disk on fire (os error 5)");
}

// ---- torn and broken files -------------------------------------------------------------

fn torn_disk(len: usize) -> MemDisk {
    disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &REDIS_INCR[..len])])
}

#[test]
fn torn_tail_is_cut_back_to_the_last_whole_command() {
    let disk = torn_disk(90);
    let (report, mut node) = load_into(&disk, &config(AppendFsync::Always));
    let report = report.unwrap();
    assert_eq!(
        report.warnings,
        [
            "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!",
            "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset 50 !!!",
            "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled",
        ]
    );
    assert_eq!(report.truncated, Some((INCR.to_string(), 50)));
    assert_eq!(report.files_loaded, [INCR]);
    assert_eq!(node.run(LATER, &["GET", "a"]), Reply::bulk_str("1"));
    assert_eq!(node.run(LATER, &["TTL", "a"]), Reply::Integer(-1));
    // The cut is synced: a crash right after loading does not bring the tail back.
    disk.lose_unsynced_writes();
    assert_eq!(read(&disk, INCR), &REDIS_INCR[..50]);
}

#[test]
fn a_lone_star_at_the_end_is_torn_too() {
    let mut contents = REDIS_INCR[..50].to_vec();
    contents.push(b'*');
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    let (report, _) = load_into(&disk, &config(AppendFsync::Always));
    assert_eq!(report.unwrap().truncated, Some((INCR.to_string(), 50)));
}

#[test]
fn torn_tail_without_aof_load_truncated_stops_and_changes_nothing() {
    let disk = torn_disk(90);
    let config = Config {
        aof_load_truncated: false,
        ..config(AppendFsync::Always)
    };
    assert_eq!(
        load_error(&disk, &config),
        "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. \
         You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix \
         <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' \
         configuration option to yes and restart the server."
    );
    assert_eq!(read(&disk, INCR), &REDIS_INCR[..90]);
}

#[test]
fn only_the_last_file_may_be_cut() {
    let disk = disk_with(
        FRESH_MANIFEST,
        &[(BASE, &REDIS_INCR[..90]), (INCR, &resp(&["SET", "b", "2"]))],
    );
    assert_eq!(
        load_error(&disk, &config(AppendFsync::Always)),
        "Fatal error: the truncated file is not the last file"
    );
    assert_eq!(read(&disk, BASE), &REDIS_INCR[..90]);
}

#[test]
fn unfinished_transaction_at_the_end_is_dropped() {
    let contents = [REDIS_INCR, &resp(&["MULTI"]), &resp(&["SET", "b", "2"])].concat();
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    let (report, mut node) = load_into(&disk, &config(AppendFsync::Always));
    let report = report.unwrap();
    assert_eq!(
        report.warnings,
        [
            "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof",
            "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!",
            "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset 96 !!!",
            "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled",
        ]
    );
    assert_eq!(read(&disk, INCR), REDIS_INCR);
    assert_eq!(node.run(LATER, &["GET", "b"]), Reply::Nil);
    assert_eq!(node.run(LATER, &["GET", "a"]), Reply::bulk_str("1"));
    // The loader's transaction does not leak into the clients' world.
    assert_eq!(node.run(LATER, &["EXEC"]), Reply::err("EXEC without MULTI"));

    let strict = Config {
        aof_load_truncated: false,
        ..config(AppendFsync::Always)
    };
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    assert!(load_error(&disk, &strict).starts_with("Unexpected end of file reading"));
    assert_eq!(read(&disk, INCR), contents);
}

#[test]
fn garbage_is_a_bad_format_and_changes_nothing() {
    let contents = [REDIS_INCR, b"hello\r\n", &resp(&["PING"])].concat();
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    assert_eq!(
        load_error(&disk, &config(AppendFsync::Always)),
        "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a \
         backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
    );
    assert_eq!(read(&disk, INCR), contents);
}

#[test]
fn unknown_command_stops_the_load() {
    let contents = [REDIS_INCR, &resp(&["nocmd"])].concat();
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    assert_eq!(
        load_error(&disk, &config(AppendFsync::Always)),
        "Unknown command 'nocmd' reading the append only file appendonly.aof.1.incr.aof"
    );
    // Inside a transaction too, even one the file never finishes.
    let contents = [REDIS_INCR, &resp(&["MULTI"]), &resp(&["nocmd"])].concat();
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &contents)]);
    assert_eq!(
        load_error(&disk, &config(AppendFsync::Always)),
        "Unknown command 'nocmd' reading the append only file appendonly.aof.1.incr.aof"
    );
}

#[test]
fn wrong_arity_stops_the_load() {
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b""), (INCR, &resp(&["set", "k"]))]);
    match load_into(&disk, &config(AppendFsync::Always)).0 {
        Err(AofError::Replay { file, .. }) => assert_eq!(file, INCR),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_listed_file_is_reported_before_anything_is_replayed() {
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, &resp(&["SET", "x", "1"]))]);
    let (loaded, node) = load_into(&disk, &config(AppendFsync::Always));
    assert_eq!(
        loaded.unwrap_err().to_string(),
        "Unable to obtain the AOF file appendonly.aof.1.incr.aof length. stat: No such \
         file or directory"
    );
    assert!(node.node.db().is_empty());
}

#[test]
fn a_damaged_rdb_preamble_stops_the_load() {
    let disk = disk_with(FRESH_MANIFEST, &[(BASE, b"REDIS0010\xfa"), (INCR, b"")]);
    assert_eq!(
        load_error(&disk, &config(AppendFsync::Always)),
        "Error reading the RDB base file appendonly.aof.1.base.aof, AOF loading aborted: \
         Short read or OOM loading DB. Unrecoverable error, aborting now."
    );
}

#[test]
fn an_rdb_preamble_loads_then_the_commands_after_it_and_the_incr_file() {
    let mut source = Node::new(Config::default(), Time::default(), 1);
    let c = source.client_connected(Time::default(), "127.0.0.1:1".into(), "127.0.0.1:2".into());
    let words = |line: &str| -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    };
    source.command(Time::default(), c, &words("rpush l a b"));
    source.command(Time::default(), c, &words("set s 1"));
    let mut base = source.rdb_snapshot();
    base.extend_from_slice(&resp(&["SET", "after", "1"]));
    let disk = disk_with(
        FRESH_MANIFEST,
        &[(BASE, &base), (INCR, &resp(&["RPUSH", "l", "c"]))],
    );
    let (loaded, node) = load_into(&disk, &config(AppendFsync::Always));
    loaded.unwrap();
    let db = node.node.db();
    assert_eq!(db.len(), 3);
    let list = db.get(b"l", 0).unwrap().value.to_value();
    let want: clusterlab_core::db::List = [&b"a"[..], b"b", b"c"].into_iter().collect();
    assert_eq!(list, clusterlab_core::db::Value::List(want));
}

#[test]
fn broken_manifest_stops_both_load_and_open() {
    let manifest = "file appendonly.aof.1.base.aof seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file x seq\n";
    let disk = disk_with(manifest, &[(BASE, b""), (INCR, b"")]);
    let expected = "\n*** FATAL AOF MANIFEST FILE ERROR ***\n\
                    Reading the manifest file, at line 3\n\
                    >>> 'file x seq'\n\
                    Invalid AOF manifest file format";
    assert_eq!(load_error(&disk, &config(AppendFsync::Always)), expected);
    let opened = Aof::open(Arc::new(disk.clone()), &config(AppendFsync::Always));
    assert_eq!(opened.err().unwrap().to_string(), expected);
    assert_eq!(read(&disk, "appendonly.aof.manifest"), manifest.as_bytes());
}

// ---- manifest rules --------------------------------------------------------------------

fn manifest_error(text: &str) -> String {
    Manifest::parse(text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn manifest_errors_use_redis_wording() {
    let block = |line: &str, reason: &str| {
        format!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n{line}{reason}")
    };
    let base = "file appendonly.aof.1.base.aof seq 1 type b\n";
    let cases: &[(String, String)] = &[
        ("".into(), block("", "Found an empty AOF manifest")),
        (
            format!("{base}file appendonly.aof.1.incr.aof seq 1 type i"),
            block("", "The AOF manifest file contains too long line"),
        ),
        (
            format!("file a seq 1 type i {}\n", "x".repeat(1100)),
            block("", "The AOF manifest file contains too long line"),
        ),
        (
            "\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> ''\n",
                "Invalid AOF manifest file format",
            ),
        ),
        (
            format!("# first\n{base}   \n"),
            block(
                "Reading the manifest file, at line 3\n>>> ''\n",
                "Invalid AOF manifest file format",
            ),
        ),
        (
            format!("{base}{base}"),
            block(
                "Reading the manifest file, at line 2\n\
                 >>> 'file appendonly.aof.1.base.aof seq 1 type b'\n",
                "Found duplicate base file information",
            ),
        ),
        (
            "file a seq 1 type i\nfile b seq 1 type i\n".into(),
            block(
                "Reading the manifest file, at line 2\n>>> 'file b seq 1 type i'\n",
                "Found a non-monotonic sequence number",
            ),
        ),
        (
            "file a seq -1 type i\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file a seq -1 type i'\n",
                "Found a non-monotonic sequence number",
            ),
        ),
        (
            "file a seq 1 type x\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file a seq 1 type x'\n",
                "Unknown AOF file type",
            ),
        ),
        (
            "file ../x seq 1 type i\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file ../x seq 1 type i'\n",
                "File can't be a path, just a filename",
            ),
        ),
        (
            "file a seq 0 type i\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file a seq 0 type i'\n",
                "Invalid AOF manifest file format",
            ),
        ),
        (
            "file a seq 1 type i foo\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file a seq 1 type i foo'\n",
                "Invalid AOF manifest file format",
            ),
        ),
        (
            "file \"a seq 1 type i\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'file \"a seq 1 type i'\n",
                "Invalid AOF manifest file format",
            ),
        ),
        (
            "name a seq 1 type i\n".into(),
            block(
                "Reading the manifest file, at line 1\n>>> 'name a seq 1 type i'\n",
                "Invalid AOF manifest file format",
            ),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(&manifest_error(text), expected, "manifest {text:?}");
    }
}

#[test]
fn manifest_accepts_what_redis_accepts() {
    let text = "# made by hand\n\
                \x20 FILE b.aof   SEQ 2 TYPE b  \r\n\
                file i1.aof seq 1x type incr extra pair\n\
                file h.aof seq 1 type h\n\
                #no newline at the end is fine for a comment";
    let manifest = Manifest::parse(text.as_bytes()).unwrap();
    let info = |name: &str, seq, kind| AofFileInfo {
        name: name.into(),
        seq,
        kind,
    };
    assert_eq!(
        manifest,
        Manifest {
            base: Some(info("b.aof", 2, AofFileKind::Base)),
            history: vec![info("h.aof", 1, AofFileKind::History)],
            incr: vec![info("i1.aof", 1, AofFileKind::Incr)],
        }
    );
    assert_eq!(
        manifest.render(),
        "file b.aof seq 2 type b\nfile h.aof seq 1 type h\nfile i1.aof seq 1 type i\n"
    );
    let names: Vec<_> = manifest.load_order().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["b.aof", "i1.aof"]);
}

// ---- the command scanner ---------------------------------------------------------------

#[test]
fn scanner_tells_torn_from_garbage() {
    let ping = b"*1\r\n$4\r\nPING\r\n";
    assert_eq!(
        scan_command(ping, 0),
        Scan::Command(vec![Bytes::from_static(b"PING")], ping.len())
    );
    assert_eq!(scan_command(ping, ping.len()), Scan::End);
    for len in 1..ping.len() {
        assert_eq!(scan_command(&ping[..len], 0), Scan::Torn, "cut at {len}");
    }
    let cases: &[(&[u8], Scan)] = &[
        (b"", Scan::End),
        (b"#TS:1\r\n", Scan::End),
        (b"#unfinished annotation", Scan::End),
        (b"*0\r\n", Scan::Bad),
        (b"*-1\r\n", Scan::Bad),
        (b"*\r\n", Scan::Bad),
        (b"*x\r\n", Scan::Bad),
        (b"\r\n", Scan::Bad),
        (b"hel", Scan::Bad),
        (b"*1\r\nx", Scan::Bad),
        (b"*1\r\n$x\r\n", Scan::Bad),
        (b"*1\r\n$-1\r\n", Scan::Bad),
        (b"*1\r\n$4\r\nPINGxx", Scan::Bad),
        (
            b"*1\r\n$4\r\nPING\r\n*",
            Scan::Command(vec![Bytes::from_static(b"PING")], 14),
        ),
        (b"#a\n*1\n$0\r\n\r\n", Scan::Command(vec![Bytes::new()], 12)),
    ];
    for (input, expected) in cases {
        assert_eq!(&scan_command(input, 0), expected, "input {input:?}");
    }
}

/// A replica's full sync: until the new base is durably in place (manifest last), the files
/// on disk stay the old dataset's, so a crash or a failing disk in between restarts on the old
/// data, never on an emptied AOF (Redis stops the AOF before loading a sync's RDB and starts it
/// again by a rewrite: `readSyncBulkPayload`, `restartAOFAfterSYNC`). Seed 740212.
#[test]
fn a_full_sync_replaces_the_aof_whole_and_only_once_the_new_base_is_durable() {
    let config = config(AppendFsync::Always);
    let get = |disk: &MemDisk, key: &str| {
        let (loaded, mut node) = load_into(disk, &config);
        loaded.unwrap();
        node.run(LATER, &["GET", key])
    };
    let disk = MemDisk::new();
    let mut aof = Aof::open(Arc::new(disk.clone()), &config).unwrap();
    let mut old = resp(&["SELECT", "0"]);
    old.extend(resp(&["SET", "old", "1"]));
    aof.append(&old, 0).unwrap();
    let mut base = resp(&["SELECT", "0"]);
    base.extend(resp(&["FLUSHALL"]));
    base.extend(resp(&["SET", "new", "2"]));

    // Syncs fail: the new base cannot be made durable. Writes are refused, nothing is fatal,
    // and the old files are what a restart loads, whatever the page cache held.
    disk.set_failure(Some(crate::disk::DiskFailure::SyncFails));
    aof.rewrite(&base, 1000);
    assert!(aof.health().write.is_some(), "{:?}", aof.health());
    aof.append(&resp(&["SET", "later", "3"]), 1100).unwrap();
    disk.lose_unsynced_writes();
    assert_eq!(get(&disk, "old"), Reply::Bulk(Bytes::from("1")));
    assert_eq!(get(&disk, "new"), Reply::Nil);

    // The disk works again: the retry a second later installs the base and what came since.
    disk.set_failure(None);
    aof.tick(1500).unwrap();
    assert!(
        aof.health().write.is_some(),
        "retried at most once a second"
    );
    aof.tick(2000).unwrap();
    assert_eq!(aof.health(), &AofHealth::default());
    aof.append(&resp(&["SET", "last", "4"]), 2100).unwrap();
    disk.lose_unsynced_writes();
    assert_eq!(get(&disk, "old"), Reply::Nil);
    assert_eq!(get(&disk, "new"), Reply::Bulk(Bytes::from("2")));
    assert_eq!(get(&disk, "later"), Reply::Bulk(Bytes::from("3")));
    assert_eq!(get(&disk, "last"), Reply::Bulk(Bytes::from("4")));
}
