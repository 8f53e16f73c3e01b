//! `add_node`: `redis-cli --cluster add-node NEW EXISTING [--cluster-slave
//! [--cluster-master-id ID]]`. The existing cluster is loaded and checked, the new node must be
//! an empty cluster node, then it meets the existing one. A new replica additionally waits
//! until it agrees with the cluster about slots and is attached to the given master (or the
//! master with fewest replicas). A new master gets the cluster's functions first, as redis-cli
//! copies them (`FUNCTION DUMP` on the existing node, `FUNCTION RESTORE` on the new one).

use super::check::analyze;
use super::create::{check_empty_cluster_node, wait_for_join, JOIN_MAX_ROUNDS, JOIN_ROUND_MS};
use super::*;

/// The role a new node takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddNodeRole {
    /// An empty master (the default).
    Master,
    /// A replica of `master_id`, or of the master with fewest replicas when `None`
    /// (`--cluster-slave [--cluster-master-id ID]`).
    Replica { master_id: Option<String> },
}

/// Adds the node at `new` to the cluster `existing` belongs to; returns the new node's id.
pub async fn add_node(new: &str, existing: &str, role: AddNodeRole) -> Result<String, AdminError> {
    let topology = super::load(existing).await?;
    let report = analyze(&topology);
    if !report.is_ok() {
        return Err(AdminError::Failed(format!(
            "{}*** Please fix your cluster problems before adding a node",
            report.text()
        )));
    }
    let master_id = match &role {
        AddNodeRole::Master => None,
        AddNodeRole::Replica {
            master_id: Some(id),
        } => {
            let index = topology
                .find(id)
                .filter(|&i| topology.nodes[i].is_master())
                .ok_or_else(|| AdminError::Failed(format!("[ERR] No such master ID {id}")))?;
            Some(topology.nodes[index].id.clone())
        }
        AddNodeRole::Replica { master_id: None } => {
            Some(fewest_replicas(&topology, None).ok_or_else(|| {
                AdminError::Failed("[ERR] Can't find a master to replicate".into())
            })?)
        }
    };
    let mut node = Node::connect(new).await?;
    let checked = check_empty_cluster_node(&mut node).await?;
    if master_id.is_none() {
        copy_functions(&mut Node::connect(existing).await?, &mut node).await?;
    }
    let (ip, port) = topology.endpoint(0);
    node.ok(&["CLUSTER", "MEET", &ip, &port.to_string()])
        .await?;
    if let Some(master_id) = master_id {
        let mut everyone = vec![node];
        for i in 0..topology.nodes.len() {
            everyone.push(Node::connect(&topology.nodes[i].addr).await?);
        }
        wait_for_join(&mut everyone, JOIN_MAX_ROUNDS).await?;
        replicate_when_known(&mut everyone[0], &master_id).await?;
    }
    Ok(checked.id)
}

/// Copies the functions of the node at `from` to the new master `to`, which must have none.
/// A node that cannot dump functions (a Redis before 7.0) skips the step, as redis-cli does.
async fn copy_functions(from: &mut Node, to: &mut Node) -> Result<(), AdminError> {
    let payload = match from.call(&["FUNCTION", "DUMP"]).await? {
        Reply::Bulk(payload) => payload,
        _ => return Ok(()),
    };
    let list = ["FUNCTION", "LIST"];
    match to.call(&list).await? {
        Reply::Array(libraries) if libraries.is_empty() => {}
        Reply::Array(_) => {
            return Err(AdminError::Failed(format!(
                "[ERR] {} already has functions: run FUNCTION FLUSH on it before adding it",
                to.addr
            )))
        }
        other => return Err(to.unexpected(&list, &other)),
    }
    let restore: [&[u8]; 3] = [b"FUNCTION", b"RESTORE", &payload];
    match to.call_bytes(&restore).await? {
        Reply::Simple(text) if text == "OK" => Ok(()),
        other => Err(to.unexpected(&["FUNCTION", "RESTORE"], &other)),
    }
}

/// `CLUSTER REPLICATE master_id` on the new node, retried while it answers `ERR Unknown node`.
/// The join wait compares only slot owners, so a slotless master (one just added) may not have
/// reached the new node by gossip yet; it will within a few rounds (bounded).
async fn replicate_when_known(node: &mut Node, master_id: &str) -> Result<(), AdminError> {
    let args = ["CLUSTER", "REPLICATE", master_id];
    let mut rounds_left = JOIN_MAX_ROUNDS;
    loop {
        match node.call(&args).await? {
            Reply::Simple(text) if text == "OK" => return Ok(()),
            Reply::Error(e) if e.starts_with("ERR Unknown node") && rounds_left > 0 => {
                rounds_left -= 1;
                tokio::time::sleep(Duration::from_millis(JOIN_ROUND_MS)).await;
            }
            other => return Err(node.unexpected(&args, &other)),
        }
    }
}

/// The id of the master with fewest replicas (ties: the first loaded), skipping `except`.
pub(super) fn fewest_replicas(
    topology: &super::topology::Topology,
    except: Option<&str>,
) -> Option<String> {
    topology
        .masters()
        .into_iter()
        .filter(|&i| Some(topology.nodes[i].id.as_str()) != except)
        .min_by_key(|&i| (topology.replicas_of(&topology.nodes[i].id).len(), i))
        .map(|i| topology.nodes[i].id.clone())
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A node that answers each request with the next of `replies` and counts the requests.
    async fn scripted_node(replies: &'static [&'static str]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 512];
            for reply in replies {
                // One small command per read: the admin waits for each reply before the next.
                if socket.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                socket.write_all(reply.as_bytes()).await.expect("write");
            }
        });
        addr
    }

    #[tokio::test]
    async fn replicate_waits_until_the_master_is_known() {
        const UNKNOWN: &str = "-ERR Unknown node 4f1c\r\n";
        let addr = scripted_node(&[UNKNOWN, UNKNOWN, "+OK\r\n"]).await;
        let mut node = Node::connect(&addr).await.expect("connect");
        replicate_when_known(&mut node, "4f1c")
            .await
            .expect("the third try succeeds");
    }

    #[tokio::test]
    async fn functions_are_copied_to_an_empty_new_master_only() {
        // Existing node: its dump; new node: an empty FUNCTION LIST, then +OK to RESTORE.
        let from = scripted_node(&["$4\r\nabcd\r\n"]).await;
        let to = scripted_node(&["*0\r\n", "+OK\r\n"]).await;
        let (mut from, mut to) = (
            Node::connect(&from).await.unwrap(),
            Node::connect(&to).await.unwrap(),
        );
        copy_functions(&mut from, &mut to).await.expect("copied");
        // A new node that has functions is refused before anything is restored.
        let from = scripted_node(&["$2\r\nab\r\n"]).await;
        let to = scripted_node(&["*1\r\n*0\r\n"]).await;
        let (mut from, mut to) = (
            Node::connect(&from).await.unwrap(),
            Node::connect(&to).await.unwrap(),
        );
        let err = copy_functions(&mut from, &mut to)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("FUNCTION FLUSH"), "{err}");
        // A node that cannot dump functions skips the step (no request reaches the new node).
        let from = scripted_node(&["-ERR unknown command 'FUNCTION'\r\n"]).await;
        let to = scripted_node(&[]).await;
        let (mut from, mut to) = (
            Node::connect(&from).await.unwrap(),
            Node::connect(&to).await.unwrap(),
        );
        copy_functions(&mut from, &mut to).await.expect("skipped");
    }

    #[tokio::test]
    async fn replicate_reports_other_errors_at_once() {
        let addr = scripted_node(&["-ERR I am not a replica\r\n"]).await;
        let mut node = Node::connect(&addr).await.expect("connect");
        let err = replicate_when_known(&mut node, "4f1c")
            .await
            .expect_err("not retried");
        assert!(err.to_string().contains("ERR I am not a replica"), "{err}");
    }
}
