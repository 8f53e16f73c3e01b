//! Loading `nodes.conf`: the `CLUSTER NODES` lines a node saved plus its `vars` line.
//!
//! Parsing is strict: any malformed line stops start-up with an error naming the line, so a
//! damaged file is never silently replaced by a fresh identity (which would split the cluster).

use std::collections::BTreeMap;

use crate::bus::flags;
use crate::canary::Canary;
use crate::cluster::{Cluster, ClusterNode};
use crate::config::Config;
use crate::effect::Time;
use crate::node_id::NodeId;
use crate::outbox::Outbox;
use crate::text::{NodesLine, SlotField};

/// Why `nodes.conf` could not be loaded. Display starts with Redis's own wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Unrecoverable error: corrupted cluster config file. At line {line_number}: '{line}': {reason}"
)]
pub struct NodesConfError {
    pub line_number: usize,
    pub line: String,
    pub reason: String,
}

/// One parsed node line.
struct NodeLine {
    id: NodeId,
    ip: String,
    port: u16,
    cport: u16,
    hostname: String,
    flags: u16,
    master: Option<NodeId>,
    ping_sent: bool,
    pong_received: bool,
    config_epoch: u64,
    slots: Vec<(u16, u16)>,
    migrating: Vec<(u16, NodeId)>,
    importing: Vec<(u16, NodeId)>,
}

fn flag_bit(word: &str) -> Option<u16> {
    Some(match word.to_ascii_lowercase().as_str() {
        "myself" => flags::MYSELF,
        "master" => flags::MASTER,
        "slave" => flags::SLAVE,
        "fail?" => flags::PFAIL,
        "fail" => flags::FAIL,
        "handshake" => flags::HANDSHAKE,
        "noaddr" => flags::NOADDR,
        "nofailover" => flags::NOFAILOVER,
        "noflags" => 0,
        _ => return None,
    })
}

fn parse_id(text: &str) -> Result<NodeId, String> {
    NodeId::parse(text.as_bytes()).ok_or_else(|| format!("invalid node id '{text}'"))
}

fn parse_slot(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|&s| (s as usize) < crate::slot::SLOT_COUNT)
        .ok_or_else(|| format!("invalid slot '{text}'"))
}

/// `ip:port[@cport][,hostname]`; without `@` the bus port is port + 10000.
fn parse_address(text: &str) -> Result<(String, u16, u16, String), String> {
    let (addr, hostname) = text.split_once(',').unwrap_or((text, ""));
    let (hostport, cport) = match addr.split_once('@') {
        Some((hp, c)) => (hp, Some(c)),
        None => (addr, None),
    };
    let (ip, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid address '{text}'"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port in '{text}'"))?;
    let cport = match cport {
        Some(c) => c
            .parse()
            .map_err(|_| format!("invalid bus port in '{text}'"))?,
        None => port.wrapping_add(10000),
    };
    Ok((ip.to_string(), port, cport, hostname.to_string()))
}

fn parse_node_line(fields: &[&str]) -> Result<NodeLine, String> {
    let Some(fields) = NodesLine::from_fields(fields) else {
        return Err("a node line needs at least 8 fields".into());
    };
    let id = parse_id(fields.id)?;
    let (ip, port, cport, hostname) = parse_address(fields.address)?;
    let mut node_flags = 0;
    for word in fields.flag_words() {
        node_flags |= flag_bit(word).ok_or_else(|| format!("unknown flag '{word}'"))?;
    }
    let master = fields.master_id().map(parse_id).transpose()?;
    let number = |text: &str, what: &str| -> Result<u64, String> {
        text.parse().map_err(|_| format!("invalid {what} '{text}'"))
    };
    let ping_sent = number(fields.ping_sent, "ping-sent")? != 0;
    let pong_received = number(fields.pong_recv, "pong-recv")? != 0;
    let config_epoch = number(fields.config_epoch, "config epoch")?;
    if !matches!(fields.link_state, "connected" | "disconnected") {
        return Err(format!("invalid link state '{}'", fields.link_state));
    }
    let mut line = NodeLine {
        id,
        ip,
        port,
        cport,
        hostname,
        flags: node_flags,
        master,
        ping_sent,
        pong_received,
        config_epoch,
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for field in &fields.slots {
        parse_slot_field(field, &mut line)?;
    }
    Ok(line)
}

/// `N`, `A-B`, `[N->-id]` (migrating) or `[N-<-id]` (importing).
fn parse_slot_field(field: &str, line: &mut NodeLine) -> Result<(), String> {
    match SlotField::parse(field) {
        SlotField::Migrating(slot, id) => line.migrating.push((parse_slot(slot)?, parse_id(id)?)),
        SlotField::Importing(slot, id) => line.importing.push((parse_slot(slot)?, parse_id(id)?)),
        SlotField::OtherOpen => return Err(format!("invalid open slot '{field}'")),
        SlotField::Range(start, end) => {
            let (start, end) = (parse_slot(start)?, parse_slot(end)?);
            if start > end {
                return Err(format!("invalid slot range '{field}'"));
            }
            line.slots.push((start, end));
        }
    }
    Ok(())
}

/// `vars currentEpoch N lastVoteEpoch M` (pairs in any order, unknown names ignored).
fn parse_vars(fields: &[&str], current: &mut u64, last_vote: &mut u64) -> Result<(), String> {
    if fields.len() % 2 != 1 {
        return Err("the vars line needs name value pairs".into());
    }
    for pair in fields[1..].chunks(2) {
        let value: u64 = pair[1]
            .parse()
            .map_err(|_| format!("invalid value '{}' for {}", pair[1], pair[0]))?;
        match pair[0] {
            "currentEpoch" => *current = value,
            "lastVoteEpoch" => *last_vote = value,
            _ => {}
        }
    }
    Ok(())
}

/// Builds the cluster state saved in `text`. `now` stands for the non-zero ping/pong times.
/// Every slot it assigns is reported to `out`.
pub fn load(
    text: &str,
    config: &Config,
    now: Time,
    out: &mut Outbox,
) -> Result<Cluster, NodesConfError> {
    let mut current_epoch = 0;
    let mut last_vote_epoch = 0;
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let error = |reason: String| NodesConfError {
            line_number: index + 1,
            line: raw.to_string(),
            reason,
        };
        if fields[0] == "vars" {
            parse_vars(&fields, &mut current_epoch, &mut last_vote_epoch).map_err(error)?;
        } else {
            lines.push(parse_node_line(&fields).map_err(error)?);
        }
    }
    let whole_file = |reason: &str| NodesConfError {
        line_number: 0,
        line: String::new(),
        reason: reason.into(),
    };
    let mut myselves = lines.iter().filter(|l| l.flags & flags::MYSELF != 0);
    let me = myselves
        .next()
        .ok_or_else(|| whole_file("no line is flagged myself"))?;
    if myselves.next().is_some() {
        return Err(whole_file("more than one line is flagged myself"));
    }
    let mut cluster = Cluster::new(me.id, config, now);
    cluster.nodes.clear();
    let mut open: BTreeMap<u16, (bool, NodeId)> = BTreeMap::new();
    for line in &lines {
        let mut node = ClusterNode::new(line.id, line.flags, now);
        node.ip = line.ip.clone();
        node.port = line.port;
        node.cport = line.cport;
        node.hostname.clone_from(&line.hostname);
        node.master = line.master;
        node.config_epoch = if line.flags & flags::SLAVE != 0 {
            0
        } else {
            line.config_epoch
        };
        node.ping_sent_ms = if line.ping_sent {
            now.mono_ms.max(1)
        } else {
            0
        };
        node.pong_received_ms = if line.pong_received {
            now.mono_ms.max(1)
        } else {
            0
        };
        if line.flags & flags::MYSELF != 0 {
            // Our own ports and hostname come from the configuration we run with now.
            super::endpoints::announce_myself(&mut node, config);
        }
        if cluster.nodes.insert(line.id, node).is_some() {
            return Err(whole_file("a node id appears twice"));
        }
        for &(slot, id) in &line.migrating {
            open.insert(slot, (true, id));
        }
        for &(slot, id) in &line.importing {
            open.insert(slot, (false, id));
        }
    }
    for line in &lines {
        for &(start, end) in &line.slots {
            let range: Vec<u16> = (start..=end).collect();
            cluster.assign_slots(&range, Some(line.id), out);
        }
    }
    for (slot, (migrating, id)) in open {
        if !cluster.nodes.contains_key(&id) {
            return Err(whole_file("an open slot names an unknown node"));
        }
        if migrating {
            cluster.migrating.insert(slot, id);
        } else {
            cluster.importing.insert(slot, id);
        }
    }
    cluster.current_epoch = current_epoch.max(cluster.max_config_epoch());
    cluster.last_vote_epoch = last_vote_epoch;
    if config.canaries.on(Canary::EpochsNotRestored) {
        cluster.current_epoch = 0;
        cluster.last_vote_epoch = 0;
        cluster.me_mut().config_epoch = 0;
    }
    Ok(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "b61c0e3dd4b2a21d4e75b2bd1a5f0bd4a8ecf961";
    const B: &str = "25e6a5cd2d9b1b7a6c62a3ac39d9b0b6a4bcb16b";
    const C: &str = "9d52aa4b0c3a16c2d4e0d2c7b3e9f3d10d3c8259";

    fn config() -> Config {
        Config {
            port: 23001,
            cluster_enabled: true,
            ..Config::default()
        }
    }

    fn now() -> Time {
        Time {
            mono_ms: 5,
            unix_ms: 1_000,
        }
    }

    #[test]
    fn loads_what_redis_writes() {
        let text = format!(
            "{A} 127.0.0.1:23001@33001 myself,master - 0 1795614135000 7 connected 8-5460 12182 [12182->-{C}]\n\
             {B} 127.0.0.1:23004@33004 slave {C} 0 1795614138341 12 connected\n\
             {C} 127.0.0.1:23003@33003 master - 0 1795614138341 12 connected 0-7 10923-12181 12183-16383\n\
             vars currentEpoch 12 lastVoteEpoch 11\n"
        );
        let cluster = load(&text, &config(), now(), &mut Outbox::default()).unwrap();
        let a = NodeId::parse(A.as_bytes()).unwrap();
        let b = NodeId::parse(B.as_bytes()).unwrap();
        let c = NodeId::parse(C.as_bytes()).unwrap();
        assert_eq!(cluster.myself, a);
        assert_eq!(cluster.current_epoch, 12);
        assert_eq!(cluster.last_vote_epoch, 11);
        assert_eq!(cluster.slot_owner(12182), Some(a));
        assert_eq!(cluster.slot_owner(0), Some(c));
        assert_eq!(cluster.migrating_to(12182), Some(c));
        assert_eq!(cluster.nodes[&b].master, Some(c));
        assert_eq!(cluster.nodes[&b].config_epoch, 0, "replicas load epoch 0");
        assert_eq!(cluster.nodes[&a].config_epoch, 7);
        assert_eq!(cluster.me().slots.count(), 5460 - 8 + 1 + 1);
    }

    #[test]
    fn current_epoch_is_at_least_every_config_epoch() {
        let text = format!("{A} :23001@33001 myself,master - 0 0 9 connected\nvars currentEpoch 3 lastVoteEpoch 0\n");
        assert_eq!(
            load(&text, &config(), now(), &mut Outbox::default())
                .unwrap()
                .current_epoch,
            9
        );
    }

    #[test]
    fn damage_is_reported_with_its_line() {
        let ok_line = format!("{A} :23001@33001 myself,master - 0 0 1 connected");
        let cases = [
            (format!("{ok_line}\ngarbage here\n"), 2, "at least 8 fields"),
            (format!("{ok_line}\nvars currentEpoch\n"), 2, "pairs"),
            (
                format!("{ok_line}\nvars currentEpoch x lastVoteEpoch 0\n"),
                2,
                "invalid value",
            ),
            (format!("{ok_line} 99999\n"), 1, "invalid slot"),
            (
                format!("{A} :23001@33001 myself,bogus - 0 0 1 connected\n"),
                1,
                "unknown flag",
            ),
            (
                "xyz :23001@33001 myself,master - 0 0 1 connected\n".to_string(),
                1,
                "invalid node id",
            ),
            (
                format!("{A} 23001 myself,master - 0 0 1 connected\n"),
                1,
                "invalid address",
            ),
            (
                "vars currentEpoch 1 lastVoteEpoch 0\n".to_string(),
                0,
                "myself",
            ),
            (format!("{B} :1@2 master - 0 0 1 connected\n"), 0, "myself"),
        ];
        for (text, line, reason) in cases {
            let Err(err) = load(&text, &config(), now(), &mut Outbox::default()) else {
                panic!("loaded a damaged file: {text}");
            };
            assert_eq!(err.line_number, line, "{text}");
            assert!(err.reason.contains(reason), "{reason} not in {err}");
            assert!(err
                .to_string()
                .starts_with("Unrecoverable error: corrupted cluster config file."));
        }
    }
}
