//! The AOF's syncs on a slow disk: `everysec` postpones writes while its background sync runs
//! and writes them anyway after two seconds; `always` asks the driver to hold the node for the
//! sync and reports it once done. Times passed to the AOF are the node's clock; the slow
//! `MemDisk` completes syncs on the (here real) tokio clock, so a sync of a minute never
//! completes within a test and one of a few ms completes after a short sleep.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::disk::{Disk, MemDisk};
use clusterlab_core::config::AppendFsync;
use clusterlab_core::Config;

const INCR: &str = "data/appendonlydir/appendonly.aof.1.incr.aof";

fn open(policy: AppendFsync) -> (MemDisk, Aof) {
    let config = Config {
        appendonly: true,
        cluster_enabled: false,
        appendfsync: policy,
        dir: "data".into(),
        ..Config::default()
    };
    let disk = MemDisk::new();
    let aof = Aof::open(Arc::new(disk.clone()), &config).unwrap();
    (disk, aof)
}

fn incr(disk: &MemDisk) -> Vec<u8> {
    disk.read(INCR.as_ref()).unwrap().unwrap_or_default()
}

#[test]
fn everysec_holds_writes_while_a_slow_sync_runs_then_writes_them_after_two_seconds() {
    let (disk, mut aof) = open(AppendFsync::Everysec);
    disk.set_fsync_ms(60_000);
    // The first append is written and starts the background sync, which does not finish.
    aof.append_write(b"one", 1, 10_000).unwrap();
    assert_eq!(aof.take_reports(), []);
    aof.append_write(b"two", 2, 10_100).unwrap();
    assert_eq!(aof.take_reports(), [AofReport::Postponed]);
    assert_eq!(incr(&disk), b"one");
    // Still held a second later (Redis counts whole seconds: 11 - 10 < 2).
    aof.tick(11_900).unwrap();
    aof.append_write(b"three", 3, 11_950).unwrap();
    assert_eq!(incr(&disk), b"one");
    assert_eq!(aof.take_reports(), []);
    // Two seconds: written without waiting any longer.
    aof.tick(12_000).unwrap();
    assert_eq!(aof.take_reports(), [AofReport::Resumed { delayed: true }]);
    assert_eq!(incr(&disk), b"onetwothree");
    assert_eq!(aof.take_stall(), Duration::ZERO);
    // No new sync starts while the slow one runs, so a power loss takes all of it.
    disk.lose_unsynced_writes();
    assert_eq!(incr(&disk), b"");
}

#[test]
fn everysec_reports_a_finished_background_sync_and_writes_without_holding_after_it() {
    let (disk, mut aof) = open(AppendFsync::Everysec);
    disk.set_fsync_ms(20);
    aof.append_write(b"one", 5, 10_000).unwrap();
    assert_eq!(aof.take_reports(), []);
    std::thread::sleep(Duration::from_millis(30));
    aof.append_write(b"two", 9, 10_100).unwrap();
    // The sync finished: reported, and nothing was held.
    assert_eq!(aof.take_reports(), [AofReport::Synced { offset: 5 }]);
    assert_eq!(incr(&disk), b"onetwo");
    disk.lose_unsynced_writes();
    assert_eq!(incr(&disk), b"one");
}

#[test]
fn always_on_a_slow_disk_holds_the_node_for_the_sync_and_reports_it_once_done() {
    let (disk, mut aof) = open(AppendFsync::Always);
    disk.set_fsync_ms(40);
    aof.append_write(b"one", 7, 10_000).unwrap();
    let stall = aof.take_stall();
    assert!(
        stall > Duration::from_millis(30) && stall <= Duration::from_millis(40),
        "{stall:?}"
    );
    assert_eq!(aof.take_reports(), []);
    std::thread::sleep(stall);
    aof.poll();
    assert_eq!(aof.take_reports(), [AofReport::Synced { offset: 7 }]);
    disk.lose_unsynced_writes();
    assert_eq!(incr(&disk), b"one");
}

#[test]
fn always_on_an_instant_disk_reports_each_sync_at_once() {
    let (_disk, mut aof) = open(AppendFsync::Always);
    aof.append_write(b"one", 3, 10_000).unwrap();
    assert_eq!(aof.take_stall(), Duration::ZERO);
    assert_eq!(aof.take_reports(), [AofReport::Synced { offset: 3 }]);
}
