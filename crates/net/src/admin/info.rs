//! `info`: `redis-cli --cluster info` — per master its keys (`DBSIZE`), slots and replicas,
//! then the totals.

use super::topology::Topology;
use super::*;

/// One master's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterInfo {
    pub addr: String,
    pub id: String,
    pub keys: u64,
    pub slots: usize,
    pub replicas: usize,
}

/// The masters in load order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoReport {
    pub masters: Vec<MasterInfo>,
}

impl InfoReport {
    pub fn keys(&self) -> u64 {
        self.masters.iter().map(|m| m.keys).sum()
    }

    /// redis-cli's output.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for m in &self.masters {
            let short: String = m.id.chars().take(8).collect();
            text.push_str(&format!(
                "{} ({short}...) -> {} keys | {} slots | {} slaves.\n",
                m.addr, m.keys, m.slots, m.replicas
            ));
        }
        text.push_str(&format!(
            "[OK] {} keys in {} masters.\n",
            self.keys(),
            self.masters.len()
        ));
        let per_slot = self.keys() as f64 / clusterlab_core::slot::SLOT_COUNT as f64;
        text.push_str(&format!("{per_slot:.2} keys per slot on average.\n"));
        text
    }
}

/// Loads the cluster from `addr` and counts keys, slots and replicas per master.
pub async fn info(addr: &str) -> Result<InfoReport, AdminError> {
    let mut topology = super::load(addr).await?;
    info_of(&mut topology).await
}

pub(super) async fn info_of(topology: &mut Topology) -> Result<InfoReport, AdminError> {
    let mut report = InfoReport::default();
    for i in topology.masters() {
        let keys = topology.conn(i).int(&["DBSIZE"]).await?;
        let node = &topology.nodes[i];
        report.masters.push(MasterInfo {
            addr: node.addr.clone(),
            id: node.id.clone(),
            keys: u64::try_from(keys).unwrap_or(0),
            slots: node.slots.len(),
            replicas: topology.replicas_of(&node.id).len(),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_like_redis_cli() {
        let report = InfoReport {
            masters: vec![
                MasterInfo {
                    addr: "127.0.0.1:7001".into(),
                    id: "995c0743f7e499b2b6af8e808c148d200f40bb6e".into(),
                    keys: 3,
                    slots: 5461,
                    replicas: 1,
                },
                MasterInfo {
                    addr: "127.0.0.1:7002".into(),
                    id: "433e9fbd5a51a829bfbf87a8d1755c78f852f0d2".into(),
                    keys: 2,
                    slots: 10923,
                    replicas: 0,
                },
            ],
        };
        assert_eq!(
            report.text(),
            "127.0.0.1:7001 (995c0743...) -> 3 keys | 5461 slots | 1 slaves.\n\
             127.0.0.1:7002 (433e9fbd...) -> 2 keys | 10923 slots | 0 slaves.\n\
             [OK] 5 keys in 2 masters.\n\
             0.00 keys per slot on average.\n"
        );
    }
}
