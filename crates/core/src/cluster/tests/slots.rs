//! Slot commands (`ADDSLOTS`, `SETSLOT`, `FORGET`…), the slot owner table, stale slot claims and
//! their `UPDATE`, slot rendering.

use super::*;

#[test]
fn slot_commands_check_everything_first() {
    let mut net = TestNet::new(1, 5000);
    let err = |t: &str| Reply::err(t);
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "1", "16384"]),
        err("Invalid or out of range slot")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "5", "5"]),
        err("Slot 5 specified multiple times")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "0", "1", "2"]),
        Reply::ok()
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTS", "3", "2"]),
        err("Slot 2 is already busy")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "DELSLOTS", "5"]),
        err("Slot 5 is already unassigned")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTSRANGE", "5", "1"]),
        err("start slot number 5 is greater than end slot number 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "ADDSLOTSRANGE", "1", "2", "3"]),
        err("wrong number of arguments for 'cluster|addslotsrange' command")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "NODES", "x"]),
        err("wrong number of arguments for 'cluster|nodes' command")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "foo"]),
        err("unknown subcommand 'foo'. Try CLUSTER HELP.")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "1", "2", "3", "4"]),
        err("unknown subcommand or wrong number of arguments for 'MEET'. Try CLUSTER HELP.")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "1.2.3", "5"]),
        err("Invalid node address specified: 1.2.3:5")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "MEET", "127.0.0.1", "x"]),
        err("Invalid TCP base port specified: x")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "COUNTKEYSINSLOT", "99999"]),
        err("Invalid slot")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "GETKEYSINSLOT", "1", "-1"]),
        err("Invalid slot or number of keys")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "REPLICATE", "abc"]),
        err("Unknown node abc")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "KEYSLOT", "key"]),
        Reply::Integer(12539)
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "BUMPEPOCH"]),
        Reply::simple("BUMPED 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "BUMPEPOCH"]),
        Reply::simple("STILL 1")
    );
    assert_eq!(
        net.cmd(0, &["CLUSTER", "SET-CONFIG-EPOCH", "5"]),
        err("Node config epoch is already non-zero")
    );
    let id = net.nodes[0].myself();
    assert_eq!(
        net.text(0, &["CLUSTER", "NODES"]),
        format!("{id} :7001@17001 myself,master - 0 0 1 connected 0-2\n")
    );
}

#[test]
fn setslot_and_forget_refuse_bad_input_with_redis_errors() {
    let mut net = three_masters_three_replicas(5000);
    let err = |t: String| Reply::err(t);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let (me, other) = (
        net.nodes[0].myself().to_string(),
        net.nodes[1].myself().to_string(),
    );
    let replica = net.nodes[3].myself().to_string();
    // node0 owns slots 0-5460, node1 5461-10922.
    for (words, expected) in [
        (
            vec!["CLUSTER", "SETSLOT", "100", "NODE", unknown],
            format!("Unknown node {unknown}"),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "6000", "IMPORTING", unknown],
            format!("I don't know about node {unknown}"),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "16384", "STABLE"],
            "Invalid or out of range slot".to_string(),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "100", "IMPORTING", other.as_str()],
            "I'm already the owner of hash slot 100".to_string(),
        ),
        (
            vec!["CLUSTER", "SETSLOT", "100", "NODE", replica.as_str()],
            "Target node is not a master".to_string(),
        ),
        (
            vec!["CLUSTER", "FORGET", me.as_str()],
            "I tried hard but I can't forget myself...".to_string(),
        ),
    ] {
        assert_eq!(net.cmd(0, &words), err(expected), "{words:?}");
    }
    // node3 replicates node0.
    assert_eq!(
        net.cmd(3, &["CLUSTER", "FORGET", me.as_str()]),
        err("Can't forget my master!".to_string())
    );
    // Nothing changed: node0 still owns slot 100 with no open slot.
    let nodes = net.text(0, &["CLUSTER", "NODES"]);
    let myself = nodes.lines().find(|l| l.contains("myself")).unwrap();
    assert!(myself.ends_with("connected 0-5460"), "{myself}");
}

#[test]
fn owner_table_counts_slots_and_reuses_freed_entries() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let mut out = crate::outbox::Outbox::default();
    let c = &mut net.nodes[0].cluster;
    assert_eq!(c.assigned_slot_count(), 16384);
    let mut counts: Vec<_> = c.slot_counts().collect();
    counts.sort();
    let mut expected = vec![(ids[0], 5461), (ids[1], 5462), (ids[2], 5461)];
    expected.sort();
    assert_eq!(counts, expected);
    // Node 3's slots go elsewhere one by one; its entry is then free for the next owner.
    for slot in 10923..=16383 {
        c.assign_slot(
            slot,
            if slot % 2 == 0 { None } else { Some(ids[1]) },
            &mut out,
        );
    }
    assert_eq!(c.assigned_slot_count(), 5461 + 5462 + 2731);
    assert!(c.slot_counts().all(|(id, _)| id != ids[2]));
    assert!(c.nodes[&ids[2]].slots.is_empty());
    c.assign_slot(10924, Some(ids[2]), &mut out);
    assert_eq!(c.slot_owner(10924), Some(ids[2]));
    assert_eq!(c.slot_owner(10923), Some(ids[1]));
    assert_eq!(c.slot_owner(10925), Some(ids[1]));
    assert_eq!(c.slot_owner(10926), None);
    assert_eq!(c.slot_counts().count(), 3);
    // One batch across runs of several owners (and unassigned slots) takes them all.
    let batch: Vec<u16> = (5000..=10930).collect();
    c.assign_slots(&batch, Some(ids[0]), &mut out);
    assert_eq!(c.slot_owner(10923), Some(ids[0]));
    assert_eq!(c.slot_owner(10931), Some(ids[1]));
    assert_eq!(c.nodes[&ids[1]].slots.count(), 2731 - 4);
    assert_eq!(c.nodes[&ids[2]].slots.count(), 0);
    assert_eq!(c.assigned_slot_count(), 10931 + 2727);
    // The owner table and every node's slot set agree slot by slot.
    for slot in 0..16384u16 {
        for (id, n) in &c.nodes {
            assert_eq!(
                n.slots.contains(slot),
                c.slot_owner(slot) == Some(*id),
                "{slot}"
            );
        }
    }
}

#[test]
fn claimed_from_others_lists_only_slots_not_yet_the_claimers() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let m1 = net.nodes[1].myself();
    let c = &net.nodes[0].cluster;
    let mut claim = c.nodes[&m1].slots.clone();
    assert!(c.claimed_from_others(&m1, &claim).is_empty());
    for slot in [0, 63, 64, 5460, 16383] {
        claim.insert(slot);
    }
    claim.remove(6000); // giving up a slot is not a claim on anything
    assert_eq!(
        c.claimed_from_others(&m1, &claim),
        vec![0, 63, 64, 5460, 16383]
    );
}

#[test]
fn stale_claim_gets_an_update_naming_the_newer_owner() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let (m1, m2) = (net.nodes[1].myself(), net.nodes[2].myself());
    // Node 2 (epoch 2) claims node 3's slots 10923..=10930 (epoch 3) besides its own.
    let mut msg = Message {
        header: net.nodes[1].header(crate::bus::MessageType::Ping),
        body: crate::bus::Body::Gossip(vec![]),
    };
    for slot in 10923..=10930 {
        msg.header.myslots.insert(slot);
    }
    let now = net.time();
    let link = net.nodes[0].cluster.nodes[&m1].link.expect("linked");
    net.nodes[0].take_effects();
    net.nodes[0].bus_message(now, link, msg);
    let c = &net.nodes[0].cluster;
    assert_eq!(c.slot_owner(10923), Some(m2), "the older epoch loses");
    let updates: Vec<_> = net.nodes[0]
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { link: to, msg } => match msg.body {
                crate::bus::Body::Update {
                    config_epoch, id, ..
                } => Some((to, config_epoch, id)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(updates, vec![(link, 3, m2)]);
}

#[test]
fn cluster_info_and_nodes_render_counts_ranges_and_open_slots() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", ids[2].as_str()];
    assert_eq!(net.cmd(0, &importing), Reply::ok());
    let info = net.text(0, &["CLUSTER", "INFO"]);
    let lines: Vec<&str> = info.split("\r\n").collect();
    assert_eq!(
        &lines[..9],
        &[
            "cluster_state:ok",
            "cluster_slots_assigned:16384",
            "cluster_slots_ok:16384",
            "cluster_slots_pfail:0",
            "cluster_slots_fail:0",
            "cluster_known_nodes:3",
            "cluster_size:3",
            "cluster_current_epoch:3",
            "cluster_my_epoch:1",
        ]
    );
    let c = &net.nodes[0].cluster;
    let ping_sent = format!("cluster_stats_messages_ping_sent:{}", c.stats_sent[0]);
    let total_sent = format!(
        "cluster_stats_messages_sent:{}",
        c.stats_sent.iter().sum::<u64>()
    );
    assert!(lines.contains(&ping_sent.as_str()), "{info}");
    assert!(lines.contains(&total_sent.as_str()), "{info}");
    assert!(info.ends_with("total_cluster_links_buffer_limit_exceeded:0\r\n"));
    let nodes = net.text(0, &["CLUSTER", "NODES"]);
    let mine = nodes.lines().find(|l| l.contains("myself")).unwrap();
    let head = format!("{} 10.0.0.1:7001@17001 myself,master - 0 ", ids[0]);
    let tail = format!(" 1 connected 0-5460 [12539-<-{}]", ids[2]);
    assert!(mine.starts_with(&head) && mine.ends_with(&tail), "{mine}");
    let third = nodes
        .lines()
        .find(|l| l.starts_with(ids[2].as_str()))
        .unwrap();
    assert!(third.ends_with(" 3 connected 10923-16383"), "{third}");
}

#[test]
fn closing_an_import_reports_the_slot_and_the_importer_offset() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let imported = |net: &TestNet| -> Vec<(usize, ClusterEvent)> {
        net.events
            .iter()
            .filter(|(_, e)| matches!(e, ClusterEvent::SlotImported { .. }))
            .cloned()
            .collect()
    };
    let to_me = ["CLUSTER", "SETSLOT", "12539", "NODE", ids[0].as_str()];
    let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", ids[2].as_str()];
    assert_eq!(net.cmd(0, &importing), Reply::ok());
    let offset = net.nodes[0].replication_offset();
    assert_eq!(net.cmd(0, &to_me), Reply::ok());
    assert_eq!(
        imported(&net),
        vec![(
            0,
            ClusterEvent::SlotImported {
                slot: 12539,
                offset
            }
        )]
    );
    // Assigning a slot that was not being imported is no import.
    let again = ["CLUSTER", "SETSLOT", "100", "NODE", ids[0].as_str()];
    assert_eq!(net.cmd(0, &again), Reply::ok());
    assert_eq!(imported(&net).len(), 1);
    // The import opened and closed as typed events; STABLE closes one too, once.
    let import_events = |net: &TestNet| -> Vec<ClusterEvent> {
        net.events
            .iter()
            .filter(|(n, e)| *n == 0 && matches!(e, ClusterEvent::ImportChanged { .. }))
            .map(|(_, e)| e.clone())
            .collect()
    };
    let stable = ["CLUSTER", "SETSLOT", "12000", "STABLE"];
    let import_12000 = ["CLUSTER", "SETSLOT", "12000", "IMPORTING", ids[2].as_str()];
    assert_eq!(net.cmd(0, &import_12000), Reply::ok());
    assert_eq!(net.cmd(0, &stable), Reply::ok());
    assert_eq!(net.cmd(0, &stable), Reply::ok());
    let change = |slot, from| ClusterEvent::ImportChanged { slot, from };
    assert_eq!(
        import_events(&net),
        vec![
            change(12539, Some(ids[2])),
            change(12539, None),
            change(12000, Some(ids[2])),
            change(12000, None),
        ]
    );
}

#[test]
fn a_master_started_with_keys_of_a_slot_it_does_not_serve_imports_or_takes_it() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let owner = net.nodes[1].myself();
    // A key of node2's slot 6000 on node1, whose import was lost with an unsynced nodes.conf.
    let key = (0..)
        .map(|i| format!("orphan{i}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) == 6000)
        .unwrap();
    let node = &mut net.nodes[0];
    node.db
        .set(key.as_bytes(), crate::db::ValueRef::String(b"v"), None);
    node.take_effects();
    node.announce_start();
    assert_eq!(node.cluster.importing_from(6000), Some(owner));
    let events: Vec<Effect> = node
        .take_effects()
        .into_iter()
        .filter(|e| matches!(e, Effect::Event(ClusterEvent::ImportChanged { .. })))
        .collect();
    assert_eq!(
        events,
        vec![Effect::Event(ClusterEvent::ImportChanged {
            slot: 6000,
            from: Some(owner)
        })]
    );
    // A slot nobody serves is taken, and the claim is reported (an importer adopts nothing).
    assert_eq!(net.cmd(1, &["CLUSTER", "DELSLOTS", "6000"]), Reply::ok());
    let node = &mut net.nodes[1];
    node.db
        .set(key.as_bytes(), crate::db::ValueRef::String(b"v"), None);
    node.take_effects();
    node.announce_start();
    assert!(node.cluster.owns(6000));
    let adopted: Vec<ClusterEvent> = node
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(event @ ClusterEvent::SlotsAdopted { .. }) => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(
        adopted,
        vec![ClusterEvent::SlotsAdopted {
            ranges: vec![(6000, 6000)]
        }]
    );
}

/// Redis keeps a client's `ASKING` until the command it precedes ends, so the commands a
/// script runs on an importing node are served as the script itself was (a client sent the
/// script there after an `-ASK`).
#[test]
fn asking_holds_for_the_commands_of_a_script_on_an_importing_node() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<_> = net.nodes.iter().map(Node::myself).collect();
    let importing = ["CLUSTER", "SETSLOT", "12539", "IMPORTING", ids[2].as_str()];
    assert_eq!(net.cmd(0, &importing), Reply::ok());
    let key = (0..100_000)
        .map(|n| format!("k{n}"))
        .find(|k| crate::slot::key_hash_slot(k.as_bytes()) == 12539)
        .unwrap();
    let script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";
    let eval = ["EVAL", script, "1", key.as_str(), "v"];
    let moved = |r: Reply| matches!(r, Reply::Error(e) if e.starts_with("MOVED 12539 "));
    assert!(moved(net.cmd(0, &eval)));
    assert_eq!(net.cmd(0, &["ASKING"]), Reply::ok());
    assert_eq!(net.cmd(0, &eval), Reply::Bulk(Bytes::from("v")));
    // Gone once the script ended.
    assert!(moved(net.cmd(0, &["GET", key.as_str()])));
}

/// The `nodes.conf` saves one command hands out, as their fsync flags (its other effects are
/// dropped).
pub(super) fn save_fsyncs(net: &mut TestNet, i: usize, words: &[&str]) -> Vec<bool> {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let now = net.time();
    assert_eq!(
        net.nodes[i].command(now, net.clients[i], &args),
        Reply::ok()
    );
    net.nodes[i]
        .take_effects()
        .iter()
        .filter_map(|e| match e {
            Effect::SaveConfig { fsync, .. } => Some(*fsync),
            _ => None,
        })
        .collect()
}

/// Redis 7.0's `CLUSTER SETSLOT` asks only for `CLUSTER_TODO_SAVE_CONFIG`: the file is saved
/// before the reply but not fsynced, unless closing an import bumped the config epoch
/// (`clusterBumpConfigEpochWithoutConsensus` adds `CLUSTER_TODO_FSYNC_CONFIG`). So does
/// `FORGET`, and `SET-CONFIG-EPOCH` ("no need to fsync": a collision resolves a lost one).
#[test]
fn setslot_saves_without_fsync_unless_the_epoch_moves() {
    let mut net = TestNet::new(3, 2000);
    net.create_three_masters();
    let ids: Vec<String> = net.nodes.iter().map(|n| n.myself().to_string()).collect();
    for slot in ["12539", "12540"] {
        let importing = ["CLUSTER", "SETSLOT", slot, "IMPORTING", ids[2].as_str()];
        let migrating = ["CLUSTER", "SETSLOT", slot, "MIGRATING", ids[0].as_str()];
        assert_eq!(save_fsyncs(&mut net, 0, &importing), vec![false]);
        assert_eq!(save_fsyncs(&mut net, 2, &migrating), vec![false]);
    }
    // The first import closed takes a new epoch (fsynced); the second finds it the largest.
    let epoch = net.nodes[0].cluster.me().config_epoch;
    let to_me = |slot| ["CLUSTER", "SETSLOT", slot, "NODE", ids[0].as_str()];
    assert_eq!(save_fsyncs(&mut net, 0, &to_me("12539")), vec![true]);
    assert!(net.nodes[0].cluster.me().config_epoch > epoch);
    assert_eq!(save_fsyncs(&mut net, 0, &to_me("12540")), vec![false]);
    assert_eq!(save_fsyncs(&mut net, 2, &to_me("12539")), vec![false]);
    let stable = ["CLUSTER", "SETSLOT", "12540", "STABLE"];
    assert_eq!(save_fsyncs(&mut net, 2, &stable), vec![false]);
    let forget = ["CLUSTER", "FORGET", ids[1].as_str()];
    assert_eq!(save_fsyncs(&mut net, 2, &forget), vec![false]);
    assert_eq!(
        save_fsyncs(&mut net, 2, &["CLUSTER", "SAVECONFIG"]),
        vec![true]
    );
    let mut lone = TestNet::new(1, 2000);
    let set_epoch = ["CLUSTER", "SET-CONFIG-EPOCH", "5"];
    assert_eq!(save_fsyncs(&mut lone, 0, &set_epoch), vec![false]);
}
