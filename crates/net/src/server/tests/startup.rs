//! Start-up: listen addresses, bind and lock errors worded as Redis words them, `nodes.conf`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use clusterlab_core::Config;

use super::{cluster_config, words};
use crate::disk::{Disk, DiskLock, MemDisk};
use crate::server::startup::{
    bind_label, bind_listeners, listen_ips, lock_config_file, os_error_text,
};
use crate::server::Server;

#[test]
fn listen_errors_name_the_address_as_configured() {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(bind_label(&words(&["*", "-::*"]), any), "*");
    assert_eq!(bind_label(&words(&["0.0.0.0"]), any), "0.0.0.0");
    assert_eq!(bind_label(&words(&["-127.0.0.1"]), lo), "127.0.0.1");
    // The default when nothing usable was configured.
    assert_eq!(bind_label(&words(&["::1"]), any), "0.0.0.0");
    let in_use = io::Error::from_raw_os_error(libc::EADDRINUSE);
    assert_eq!(os_error_text(&in_use), "Address already in use");
}

#[tokio::test]
async fn a_port_in_use_is_reported_as_redis_does() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = bind_listeners(&words(&["127.0.0.1"]), port, "TCP")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!("Failed listening on port {port} (TCP), aborting.")
    );
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    // Optional addresses may be absent, but one taken by someone else is still fatal.
    let err = bind_listeners(&words(&["-127.0.0.1"]), port, "cluster")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!("Failed listening on port {port} (cluster), aborting.")
    );
}

#[test]
fn an_unopenable_config_file_is_named_as_configured() {
    struct Refusing;
    impl Disk for Refusing {
        fn write_atomic(&self, _: &Path, _: &[u8], _: bool) -> io::Result<()> {
            unreachable!()
        }
        fn read(&self, _: &Path) -> io::Result<Option<Vec<u8>>> {
            unreachable!()
        }
        fn append(&self, _: &Path, _: &[u8]) -> io::Result<()> {
            unreachable!()
        }
        fn sync(&self, _: &Path) -> io::Result<()> {
            unreachable!()
        }
        fn truncate(&self, _: &Path, _: u64) -> io::Result<()> {
            unreachable!()
        }
        fn len(&self, _: &Path) -> io::Result<u64> {
            unreachable!()
        }
        fn lock(&self, _: &Path) -> io::Result<DiskLock> {
            Err(io::Error::from_raw_os_error(libc::ENOENT))
        }
    }
    let config = Config {
        cluster_config_file: "nodes-7001.conf".into(),
        ..Config::default()
    };
    let path = Path::new("/somewhere/nodes-7001.conf");
    let err = lock_config_file(&Refusing, path, &config).err().unwrap();
    assert_eq!(
        err.to_string(),
        "Can't open nodes-7001.conf in order to acquire a lock: No such file or directory"
    );
}

#[test]
fn bind_addresses_follow_redis_rules() {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(listen_ips(&words(&["*", "-::*"])), vec![(any, false)]);
    assert_eq!(listen_ips(&words(&["127.0.0.1"])), vec![(lo, false)]);
    assert_eq!(
        listen_ips(&words(&["127.0.0.1", "-10.0.0.9", "::1"])),
        vec![(lo, false), ("10.0.0.9".parse().unwrap(), true)]
    );
    assert_eq!(
        listen_ips(&words(&["127.0.0.1", "0.0.0.0"])),
        vec![(any, false)]
    );
    assert_eq!(listen_ips(&words(&["-::*"])), vec![(any, false)]);
}

#[test]
fn a_locked_config_file_gives_redis_message() {
    let disk = MemDisk::new();
    let config = Config {
        cluster_config_file: "nodes-7001.conf".into(),
        ..Config::default()
    };
    let path = Path::new("nodes-7001.conf");
    let _held = lock_config_file(&disk, path, &config).unwrap();
    let err = lock_config_file(&disk, path, &config).err().unwrap();
    assert_eq!(
        err.to_string(),
        "Sorry, the cluster configuration file nodes-7001.conf is already used by a \
         different Redis Cluster node. Please make sure that different nodes use different \
         cluster configuration files."
    );
}

#[tokio::test]
async fn a_first_start_writes_nodes_conf_and_a_restart_keeps_the_id() {
    let disk = MemDisk::new();
    let server = Server::bind(cluster_config().await, 1, Arc::new(disk.clone()))
        .await
        .unwrap();
    let first_id = server.node().lock().unwrap().myself();
    let saved = disk.read(Path::new("data/nodes.conf")).unwrap().unwrap();
    let saved = String::from_utf8(saved).unwrap();
    assert!(
        saved.starts_with(&format!("{first_id} :0@")),
        "nodes.conf: {saved}"
    );
    assert!(saved.contains("myself,master"), "nodes.conf: {saved}");
    // The lock is held while the node lives...
    let again = Server::bind(cluster_config().await, 2, Arc::new(disk.clone())).await;
    assert!(again
        .err()
        .unwrap()
        .to_string()
        .starts_with("Sorry, the cluster configuration file"));
    drop(server);
    // ...and a restart with another seed still comes back as the same node.
    let server = Server::bind(cluster_config().await, 2, Arc::new(disk.clone()))
        .await
        .unwrap();
    assert_eq!(server.node().lock().unwrap().myself(), first_id);
}

#[tokio::test]
async fn a_corrupt_nodes_conf_stops_the_start() {
    let disk = MemDisk::new();
    disk.write_atomic(Path::new("data/nodes.conf"), b"garbage\n", true)
        .unwrap();
    let err = Server::bind(cluster_config().await, 1, Arc::new(disk))
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "Unrecoverable error: corrupted cluster config file."
    );
}
