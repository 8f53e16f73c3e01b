//! `create`: the same command sequence as `redis-cli --cluster create … --cluster-replicas R
//! --cluster-yes`, with two differences: no early `CLUSTER REPLICATE` that is bound to fail,
//! and no random anti-affinity shuffling of replicas (the assignment is redis-cli's initial
//! one, so a run is reproducible). Waiting for the join is bounded: after `JOIN_MAX_ROUNDS`
//! one-second rounds without agreement, `create` fails instead of waiting forever.

use super::*;
use clusterlab_core::slot::SLOT_COUNT;
use std::collections::VecDeque;

/// One-second rounds `create` waits for every node to agree on the slot configuration.
pub const JOIN_MAX_ROUNDS: usize = 60;
/// Pause before each agreement check, as redis-cli.
pub const JOIN_ROUND_MS: u64 = 1000;

// ---------------------------------------------------------------------------------------------
// Pure planning
// ---------------------------------------------------------------------------------------------

/// Inclusive slot ranges for `masters` masters, computed as redis-cli does (single-precision
/// cursor, `lround`, the last master ends at 16383): 3 masters → 0-5460, 5461-10922,
/// 10923-16383.
pub fn allocate_slots(masters: usize) -> Vec<(u16, u16)> {
    assert!(
        masters > 0 && masters <= SLOT_COUNT,
        "bad master count {masters}"
    );
    let per_master = SLOT_COUNT as f32 / masters as f32;
    let mut ranges = Vec::with_capacity(masters);
    let mut first: i64 = 0;
    let mut cursor: f32 = 0.0;
    for i in 0..masters {
        let mut last = (cursor + per_master - 1.0).round() as i64;
        if last > SLOT_COUNT as i64 || i == masters - 1 {
            last = SLOT_COUNT as i64 - 1;
        }
        last = last.max(first);
        ranges.push((first as u16, last as u16));
        first = last + 1;
        cursor += per_master;
    }
    ranges
}

/// Roles for the nodes given to `create`, as indices into its address list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePlan {
    /// Masters in slot order, each with its inclusive slot range.
    pub masters: Vec<(usize, (u16, u16))>,
    /// `(replica, master)` pairs.
    pub replicas: Vec<(usize, usize)>,
}

/// Chooses masters and replicas like redis-cli: nodes are interleaved across IPs, the first
/// `n / (replicas + 1)` become masters, the rest (rotated by one) are handed out preferring a
/// replica on another IP than its master, and leftovers become extra replicas.
pub fn plan_create(ips: &[&str], replicas: usize) -> Result<CreatePlan, AdminError> {
    let nodes = ips.len();
    let master_count = nodes / (replicas + 1);
    if master_count < 3 {
        return Err(AdminError::TooFewMasters {
            nodes,
            replicas,
            needed: 3 * (replicas + 1),
        });
    }
    let interleaved = interleave_by_ip(ips);
    let (masters, rest) = interleaved.split_at(master_count);
    let mut spare: Vec<Option<usize>> = rest.iter().copied().map(Some).collect();
    if !spare.is_empty() {
        spare.rotate_left(1);
    }
    let mut pairs = Vec::new();
    let mut available = spare.len();
    for _pass in 0..2 {
        for &master in masters {
            for _ in 0..replicas {
                if available == 0 {
                    break;
                }
                let other_ip = spare
                    .iter()
                    .position(|n| n.is_some_and(|n| ips[n] != ips[master]));
                let Some(at) = other_ip.or_else(|| spare.iter().position(Option::is_some)) else {
                    break;
                };
                let replica = spare[at].take().expect("position found a node");
                pairs.push((replica, master));
                available -= 1;
            }
        }
        if available == 0 {
            break;
        }
    }
    let slots = allocate_slots(master_count);
    Ok(CreatePlan {
        masters: masters.iter().copied().zip(slots).collect(),
        replicas: pairs,
    })
}

/// Node indices taking one node per IP in turn, IPs in order of first appearance.
fn interleave_by_ip(ips: &[&str]) -> Vec<usize> {
    let mut groups: Vec<(&str, VecDeque<usize>)> = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        match groups.iter_mut().find(|(g, _)| g == ip) {
            Some((_, members)) => members.push_back(i),
            None => groups.push((ip, VecDeque::from([i]))),
        }
    }
    let mut order = Vec::with_capacity(ips.len());
    while order.len() < ips.len() {
        for (_, members) in groups.iter_mut() {
            if let Some(i) = members.pop_front() {
                order.push(i);
            }
        }
    }
    order
}

/// What the pre-flight checks learn about a node: its id and bus port.
pub(super) struct Checked {
    pub(super) id: String,
    pub(super) cport: u16,
}

/// redis-cli's load and checks: cluster mode on, no keys in db0, knows no other node.
pub(super) async fn check_empty_cluster_node(node: &mut Node) -> Result<Checked, AdminError> {
    let info = node.text(&["INFO"]).await?;
    if info_field(&info, "cluster_enabled") != Some("1") {
        return Err(AdminError::NotClusterNode(node.addr.clone()));
    }
    let nodes = node.text(&["CLUSTER", "NODES"]).await?;
    let (id, cport) = myself_from_nodes(&nodes).ok_or_else(|| AdminError::Command {
        addr: node.addr.clone(),
        command: "CLUSTER NODES".into(),
        reply: "no myself line".into(),
    })?;
    let info = node.text(&["INFO"]).await?;
    let cluster_info = node.text(&["CLUSTER", "INFO"]).await?;
    let has_keys = info_field(&info, "db0").is_some();
    if has_keys || info_field(&cluster_info, "cluster_known_nodes") != Some("1") {
        return Err(AdminError::NotEmpty(node.addr.clone()));
    }
    Ok(Checked { id, cport })
}

/// `CLUSTER ADDSLOTS` listing every slot of the range, as one command.
async fn add_slots(node: &mut Node, (first, last): (u16, u16)) -> Result<(), AdminError> {
    let slots: Vec<String> = (first..=last).map(|s| s.to_string()).collect();
    let mut args = vec!["CLUSTER", "ADDSLOTS"];
    args.extend(slots.iter().map(String::as_str));
    node.ok(&args).await
}

/// Polls `CLUSTER NODES` on every node until their join signatures agree.
pub(super) async fn wait_for_join(nodes: &mut [Node], max_rounds: usize) -> Result<(), AdminError> {
    for round in 1..=max_rounds {
        tokio::time::sleep(Duration::from_millis(JOIN_ROUND_MS)).await;
        let mut signatures = Vec::with_capacity(nodes.len());
        for node in nodes.iter_mut() {
            let text = node.text(&["CLUSTER", "NODES"]).await?;
            signatures.push(join_signature(&text));
        }
        if signatures_agree(&signatures) {
            tracing::info!(round, "all nodes agree about slots configuration");
            return Ok(());
        }
    }
    Err(AdminError::JoinTimeout { rounds: max_rounds })
}

/// Does what `redis-cli --cluster create <addrs> --cluster-replicas <replicas> --cluster-yes`
/// does: checks every node, assigns slots to the masters, gives each node a distinct config
/// epoch (1, 2, … in argument order), makes every node meet the first, waits until all agree,
/// then attaches the replicas.
pub async fn create(addrs: &[String], replicas: usize) -> Result<(), AdminError> {
    let mut nodes = Vec::with_capacity(addrs.len());
    let mut checked = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let mut node = Node::connect(addr).await?;
        checked.push(check_empty_cluster_node(&mut node).await?);
        nodes.push(node);
    }
    let ips: Vec<&str> = nodes.iter().map(|n| n.ip.as_str()).collect();
    let plan = plan_create(&ips, replicas)?;
    tracing::info!(nodes = nodes.len(), "performing hash slots allocation");

    for &(master, range) in &plan.masters {
        add_slots(&mut nodes[master], range).await?;
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        // redis-cli ignores the reply here too: a node that refuses keeps epoch 0 and the
        // collision handling sorts it out.
        let epoch = (i + 1).to_string();
        let reply = node.call(&["CLUSTER", "SET-CONFIG-EPOCH", &epoch]).await?;
        if reply.is_error() {
            tracing::warn!(addr = %node.addr, ?reply, "CLUSTER SET-CONFIG-EPOCH refused");
        }
    }
    meet_first(&mut nodes, checked[0].cport).await?;
    wait_for_join(&mut nodes, JOIN_MAX_ROUNDS).await?;
    for &(replica, master) in &plan.replicas {
        let master_id = checked[master].id.clone();
        nodes[replica]
            .ok(&["CLUSTER", "REPLICATE", &master_id])
            .await?;
    }
    Ok(())
}

/// `CLUSTER MEET` from every other node to the first; the bus port is only spelled out when it
/// is not the default port + 10000.
async fn meet_first(nodes: &mut [Node], first_cport: u16) -> Result<(), AdminError> {
    let Some((first, others)) = nodes.split_first_mut() else {
        return Ok(());
    };
    let port = first.port.to_string();
    let cport = first_cport.to_string();
    let default_cport = u32::from(first.port) + 10000 == u32::from(first_cport);
    for node in others {
        let mut args = vec!["CLUSTER", "MEET", first.ip.as_str(), port.as_str()];
        if !default_cport {
            args.push(cport.as_str());
        }
        node.ok(&args).await?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn slot_ranges_like_redis_cli() {
        assert_eq!(
            allocate_slots(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        assert_eq!(
            allocate_slots(4),
            vec![(0, 4095), (4096, 8191), (8192, 12287), (12288, 16383)]
        );
        assert_eq!(
            allocate_slots(5),
            vec![
                (0, 3276),
                (3277, 6553),
                (6554, 9829),
                (9830, 13106),
                (13107, 16383)
            ]
        );
        for masters in [1, 3, 7, 10, 100, 1000] {
            let ranges = allocate_slots(masters);
            assert_eq!(ranges.len(), masters);
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[masters - 1].1, 16383);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1 + 1, pair[1].0, "{masters} masters: contiguous");
            }
        }
    }

    #[test]
    fn plan_on_one_host_matches_redis_cli() {
        // redis-cli's known output for 6 local nodes: replica 5 → 1, 6 → 2, 4 → 3.
        let plan = plan_create(&["127.0.0.1"; 6], 1).expect("plan");
        let masters: Vec<usize> = plan.masters.iter().map(|m| m.0).collect();
        assert_eq!(masters, vec![0, 1, 2]);
        assert_eq!(plan.masters[1].1, (5461, 10922));
        assert_eq!(plan.replicas, vec![(4, 0), (5, 1), (3, 2)]);

        // A seventh node becomes an extra replica of the first master.
        let plan = plan_create(&["127.0.0.1"; 7], 1).expect("plan");
        assert_eq!(plan.replicas, vec![(4, 0), (5, 1), (6, 2), (3, 0)]);

        let plan = plan_create(&["127.0.0.1"; 3], 0).expect("plan");
        assert_eq!(plan.replicas, vec![]);
    }

    #[test]
    fn plan_spreads_replicas_across_hosts() {
        let ips = ["a", "a", "a", "b", "b", "b"];
        let plan = plan_create(&ips, 1).expect("plan");
        // Interleaved: 0(a) 3(b) 1(a) | 4(b) 2(a) 5(b), rotated to 2 5 4.
        let masters: Vec<usize> = plan.masters.iter().map(|m| m.0).collect();
        assert_eq!(masters, vec![0, 3, 1]);
        assert_eq!(plan.replicas, vec![(5, 0), (2, 3), (4, 1)]);
        for (replica, master) in plan.replicas {
            assert_ne!(ips[replica], ips[master]);
        }
    }

    #[test]
    fn too_few_masters_is_refused_with_redis_cli_text() {
        let err = plan_create(&["127.0.0.1"; 4], 1).expect_err("only 2 masters");
        assert_eq!(
            err.to_string(),
            "*** Redis Cluster requires at least 3 master nodes.\n\
             *** This is not possible with 4 nodes and 1 replicas per node.\n\
             *** At least 6 nodes are required."
        );
    }

    const AGREED: &str = "\
b2 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922 [5462->-c3]\n\
a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n\
c3 127.0.0.1:30003@40003 master - 0 1 3 connected 10923-16383 7 100-200\n\
d4 127.0.0.1:30004@40004 slave a1 0 1 1 connected\n";

    #[test]
    fn join_signature_like_redis_cli() {
        assert_eq!(
            join_signature(AGREED).as_deref(),
            Some("a1:0-5460|b2:5461-10922|c3:100-200,10923-16383,7")
        );
        // Line order and migration entries do not matter; the unterminated last line is
        // ignored, as is a node without slots.
        let reordered = "\
c3 127.0.0.1:30003@40003 master - 0 1 3 connected 7 100-200 10923-16383\n\
a1 127.0.0.1:30001@40001 master - 0 0 1 connected 0-5460\n\
b2 127.0.0.1:30002@40002 myself,master - 0 1 2 connected 5461-10922\n\
e5 127.0.0.1:30005@40005 master - 0 1 5 connected 1-2";
        assert_eq!(join_signature(reordered), join_signature(AGREED));
        let fresh = "a1 :30001@40001 myself,master - 0 0 0 connected\n";
        assert_eq!(join_signature(fresh), None);
        assert!(signatures_agree(&[
            join_signature(AGREED),
            join_signature(reordered)
        ]));
        assert!(!signatures_agree(&[
            join_signature(AGREED),
            join_signature(fresh)
        ]));
        let partial = "a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n";
        assert!(!signatures_agree(&[
            join_signature(AGREED),
            join_signature(partial)
        ]));
        assert!(!signatures_agree(&[]));
    }

    #[test]
    fn parsing_helpers() {
        assert_eq!(myself_from_nodes(AGREED), Some(("a1".to_string(), 40001)));
        let hostname = "f6 :30001@41000,host-a myself,master - 0 0 0 connected\n";
        assert_eq!(myself_from_nodes(hostname), Some(("f6".to_string(), 41000)));
        let info = "# Cluster\r\ncluster_enabled:1\r\n# Keyspace\r\ndb0:keys=1,expires=0\r\n";
        assert_eq!(info_field(info, "cluster_enabled"), Some("1"));
        assert_eq!(info_field(info, "db0"), Some("keys=1,expires=0"));
        assert_eq!(info_field(info, "db1"), None);
        assert_eq!(
            parse_addr("127.0.0.1:7000").expect("addr"),
            ("127.0.0.1".into(), 7000)
        );
        assert_eq!(parse_addr("::1:7000").expect("addr"), ("::1".into(), 7000));
        assert!(parse_addr("127.0.0.1").is_err());
        assert!(parse_addr("127.0.0.1:x").is_err());
    }

    /// Real `redis-server` processes in cluster mode, killed on drop.
    #[cfg(not(madsim))]
    pub(in crate::admin) struct RedisNodes {
        children: Vec<std::process::Child>,
        dir: std::path::PathBuf,
        pub(in crate::admin) addrs: Vec<String>,
    }

    #[cfg(not(madsim))]
    impl RedisNodes {
        /// Starts `count` nodes on free ports in `ports` (keep bus ports below 32768; give
        /// each test its own range, tests run in parallel).
        pub(in crate::admin) fn start(
            count: usize,
            ports: std::ops::Range<u16>,
        ) -> Option<RedisNodes> {
            let found = std::process::Command::new("redis-server")
                .arg("--version")
                .output();
            if found.is_err() {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "redis-server is required in CI"
                );
                eprintln!("redis-server not installed; skipping");
                return None;
            }
            let dir = std::env::temp_dir().join(format!(
                "clusterlab-admin-{}-{}",
                std::process::id(),
                ports.start
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let mut nodes = RedisNodes {
                children: Vec::new(),
                dir,
                addrs: Vec::new(),
            };
            let free = |p: u16| {
                std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
            };
            let mut ports = ports.filter(|&p| free(p));
            for _ in 0..count {
                let port = ports.next().expect("a free port pair");
                let child = std::process::Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args([
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--cluster-enabled",
                        "yes",
                    ])
                    .arg("--cluster-config-file")
                    .arg(nodes.dir.join(format!("nodes-{port}.conf")))
                    .arg("--dir")
                    .arg(&nodes.dir)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("spawn redis-server");
                nodes.children.push(child);
                nodes.addrs.push(format!("127.0.0.1:{port}"));
            }
            Some(nodes)
        }
    }

    #[cfg(not(madsim))]
    impl Drop for RedisNodes {
        fn drop(&mut self) {
            for child in &mut self.children {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Connects to `addr`, retrying while the server starts (bounded).
    #[cfg(not(madsim))]
    pub(in crate::admin) async fn connect_when_up(addr: &str) -> Node {
        for _ in 0..100 {
            if let Ok(node) = Node::connect(addr).await {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{addr} did not come up");
    }

    /// Masters 0..3 with redis-cli's ranges and epochs 1..3; replicas 4→0, 5→1, 3→2.
    #[cfg(not(madsim))]
    fn expected_layout(nodes: &str, addrs: &[String]) -> Result<(), String> {
        let fields_of = |addr: &String| -> Result<Vec<&str>, String> {
            let port = addr.rsplit_once(':').map_or("", |p| p.1);
            let line = nodes
                .lines()
                .find(|l| l.contains(&format!(":{port}@")))
                .ok_or(format!("{addr} missing in\n{nodes}"))?;
            Ok(line.split(' ').collect())
        };
        for (i, ranges) in ["0-5460", "5461-10922", "10923-16383"].iter().enumerate() {
            let fields = fields_of(&addrs[i])?;
            let epoch = (i + 1).to_string();
            if !fields[2].ends_with("master") || fields[6] != epoch || fields.get(8) != Some(ranges)
            {
                return Err(format!("master {i} wrong in\n{nodes}"));
            }
        }
        for (replica, master) in [(4, 0), (5, 1), (3, 2)] {
            let fields = fields_of(&addrs[replica])?;
            if !fields[2].ends_with("slave") || fields[3] != fields_of(&addrs[master])?[0] {
                return Err(format!("replica {replica} wrong in\n{nodes}"));
            }
        }
        Ok(())
    }

    /// `create` against real Redis 7.0 nodes gives the cluster redis-cli would build.
    #[cfg(not(madsim))]
    #[tokio::test]
    async fn create_builds_a_real_redis_cluster() {
        let Some(redis) = RedisNodes::start(6, 21500..21800) else {
            return;
        };
        for addr in &redis.addrs {
            connect_when_up(addr).await;
        }
        create(&redis.addrs, 1).await.expect("create");

        // Replica roles reach the first node by gossip: poll its view (bounded).
        let mut first = connect_when_up(&redis.addrs[0]).await;
        let mut verdict = Err(String::new());
        for _ in 0..100 {
            let nodes = first.text(&["CLUSTER", "NODES"]).await.expect("nodes");
            let info = first.text(&["CLUSTER", "INFO"]).await.expect("info");
            verdict = expected_layout(&nodes, &redis.addrs).and_then(|()| {
                match info_field(&info, "cluster_state") {
                    Some("ok") => Ok(()),
                    other => Err(format!("cluster_state {other:?}")),
                }
            });
            if verdict.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(verdict, Ok(()));

        // A second create is refused: the nodes are no longer empty.
        let again = create(&redis.addrs, 1).await.expect_err("not empty");
        assert_eq!(
            again.to_string(),
            format!(
                "[ERR] Node {} is not empty. Either the node already knows other nodes (check \
                 with CLUSTER NODES) or contains some key in database 0.",
                redis.addrs[0]
            )
        );
    }
}
