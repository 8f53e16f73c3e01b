//! An AOF rewrite cut short at every step: the process dies after the `k`-th disk change of
//! the switch (new base, new incr, manifest, old files deleted, manifest again), with or
//! without the power going too. Whatever step it stopped at, loading gives back exactly the
//! dataset of before, and a later rewrite still completes.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use clusterlab_core::config::{AppendFsync, DebugCommand};
use clusterlab_core::{Config, Node, Reply, Time};

use super::{load, Aof};
use crate::disk::{Disk, DiskLock, MemDisk, SyncJob};

const NOW: Time = Time {
    mono_ms: 10_000,
    unix_ms: 1_000_000,
};

fn config() -> Config {
    Config {
        appendonly: true,
        appendfsync: AppendFsync::Always,
        enable_debug_command: DebugCommand::Yes,
        dir: "data".into(),
        ..Config::default()
    }
}

fn run(node: &mut Node, line: &str) -> Reply {
    let client = node.client_connected(NOW, "127.0.0.1:1".into(), "127.0.0.1:2".into());
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    node.command(NOW, client, &args)
}

/// A disk on which the process dies after `left` more changes: every later call fails, as
/// nothing after the crash reaches the disk.
struct DiesAfter {
    inner: MemDisk,
    left: AtomicUsize,
}

impl DiesAfter {
    fn change(&self) -> std::io::Result<()> {
        let left = self.left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(std::io::Error::other("the process is gone"));
        }
        self.left.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

impl Disk for DiesAfter {
    fn write_atomic(&self, path: &Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
        self.change()?;
        self.inner.write_atomic(path, bytes, fsync)
    }
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.read(path)
    }
    fn append(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.change()?;
        self.inner.append(path, bytes)
    }
    fn sync(&self, path: &Path) -> std::io::Result<()> {
        self.change()?;
        self.inner.sync(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        self.change()?;
        self.inner.truncate(path, len)
    }
    fn len(&self, path: &Path) -> std::io::Result<u64> {
        self.inner.len(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<DiskLock> {
        self.inner.lock(path)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.change()?;
        self.inner.remove(path)
    }
    fn start_sync(&self, path: &Path) -> SyncJob {
        let result = self.sync(path);
        SyncJob::finished(result, self.pending_sync())
    }
}

/// A node whose AOF (on `disk`) holds a few keys of every kind, with one rewrite behind it
/// (so the next rewrite also has old files to delete); returns the node's digest.
fn node_with_history(disk: &MemDisk) -> (Node, String) {
    let mut node = Node::new(config(), NOW, 1);
    let mut aof = Aof::open(Arc::new(disk.clone()), &config()).unwrap();
    let write = |node: &mut Node, aof: &mut Aof, line: &str| {
        run(node, line);
        for effect in node.take_effects() {
            match effect {
                clusterlab_core::Effect::AppendAof { data } => aof.append(&data, 0).unwrap(),
                clusterlab_core::Effect::RewriteAof { base } => aof.rewrite(&base, 0),
                _ => {}
            }
        }
        aof.flush_and_sync().unwrap();
    };
    write(&mut node, &mut aof, "rpush l a b c");
    write(&mut node, &mut aof, "bgrewriteaof");
    write(&mut node, &mut aof, "hset h f v");
    write(&mut node, &mut aof, "set s 1 px 100000000");
    let digest = digest(&mut node);
    (node, digest)
}

fn digest(node: &mut Node) -> String {
    format!("{:?}", run(node, "debug digest"))
}

fn loaded_digest(disk: &MemDisk) -> String {
    let mut node = Node::new(config(), NOW, 2);
    load(disk, &config(), &mut node, NOW).unwrap();
    node.end_replay();
    digest(&mut node)
}

#[test]
fn a_rewrite_cut_at_any_step_loads_the_same_dataset() {
    let mut steps_seen = 0;
    for power_lost in [false, true] {
        for k in 0.. {
            let disk = MemDisk::new();
            let (mut node, want) = node_with_history(&disk);
            let dying = Arc::new(DiesAfter {
                inner: disk.clone(),
                left: AtomicUsize::new(k),
            });
            let mut aof = Aof::open(dying.clone(), &config()).unwrap();
            run(&mut node, "bgrewriteaof");
            let base = node
                .take_effects()
                .into_iter()
                .find_map(|e| match e {
                    clusterlab_core::Effect::RewriteAof { base } => Some(base),
                    _ => None,
                })
                .unwrap();
            aof.rewrite(&base, 0);
            let finished = dying.left.load(Ordering::SeqCst) > 0;
            drop(aof);
            if power_lost {
                disk.lose_unsynced_writes();
            }
            assert_eq!(
                loaded_digest(&disk),
                want,
                "cut after {k} changes, power lost {power_lost}"
            );
            if finished {
                steps_seen = steps_seen.max(k);
                // The last run went through: no step left to cut, and the switch is whole.
                let names: Vec<String> = disk
                    .paths()
                    .iter()
                    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                    .filter(|n| !n.ends_with(".lock"))
                    .collect();
                assert_eq!(names.len(), 3, "{names:?}");
                break;
            }
        }
    }
    assert!(
        steps_seen >= 5,
        "the switch has base, incr, manifest, deletions: {steps_seen}"
    );
}
