//! A MIGRATE still in flight when its node is demoted by a failover: the answer, when it comes,
//! must not touch the keyspace of what is now a replica (seed 983856 found the replica deleting
//! the moved key and its offset parting from its master's stream).

use super::*;
use crate::cmd::migrate::MigrateOutcome;

#[test]
fn a_migrate_answered_after_a_demotion_leaves_the_replica_alone() {
    let mut net = three_masters_three_replicas(5000);
    let key = (0..)
        .map(|i| format!("m{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .unwrap();
    assert_eq!(net.cmd(0, &["SET", &key, "v"]), Reply::ok());
    net.advance(500);
    // Start the MIGRATE on master 0 and keep its job: the target's answer comes later.
    let args: Vec<Bytes> = ["MIGRATE", &ip_of(1), "7002", &key, "0", "5000"]
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let now = net.time();
    net.nodes[0].command(now, net.clients[0], &args);
    let effects = net.nodes[0].take_effects();
    let job = effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Migrate(job) => Some(job),
            _ => None,
        })
        .expect("a MIGRATE job");
    // Its replica takes over meanwhile.
    assert_eq!(net.cmd(3, &["CLUSTER", "FAILOVER"]), Reply::ok());
    net.advance(3000);
    assert!(net.nodes[0].cluster.me().is_replica());
    let offset = net.nodes[0].cluster.me().repl_offset;
    let now = net.time();
    let reply = net.nodes[0].migrate_finished(now, job, MigrateOutcome::Replies(vec![Reply::ok()]));
    assert_eq!(
        reply,
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(net.nodes[0].cluster.me().repl_offset, offset);
    assert!(net.nodes[0].db.contains(key.as_bytes(), now.unix_ms));
    assert!(!net.nodes[0]
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::AppendAof { .. } | Effect::ReplicaStream { .. })));
}
