//! The `clusterlab` binary: one Redis Cluster node (`node`), a local cluster of node processes
//! (`up`), redis-cli-style cluster administration (`cluster create`), and, when built with
//! `--cfg madsim`, simulation campaigns (`sim`).
//!
//! Real sockets and processes only exist in the normal build; the simulation build keeps the
//! same command line so `cargo sim` and `cargo run` share one binary name and help text.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[cfg(madsim)]
mod canary_cmd;
#[cfg(not(madsim))]
mod chaos;
mod cluster_cmd;
#[cfg(madsim)]
mod fuzz_cmd;
// Written only by the simulation build's `sim` commands; compiled in both so its unit tests
// run with the normal `cargo test`.
#[cfg_attr(not(madsim), allow(dead_code))]
mod junit;
#[cfg(not(madsim))]
mod logging;
#[cfg(not(madsim))]
mod node_cmd;
#[cfg(madsim)]
mod pool;
#[cfg(madsim)]
mod sim_cmd;
#[cfg(not(madsim))]
mod up_cmd;
#[cfg(not(madsim))]
mod up_nodes;

#[derive(Parser, Debug)]
#[command(name = "clusterlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one node, like `redis-server`: `clusterlab node redis.conf [--port 7001 …]`.
    Node(NodeArgs),
    /// Start a local cluster of node processes on 127.0.0.1, create it, and keep it running
    /// until Ctrl-C.
    Up(UpArgs),
    /// Cluster administration over RESP, as `redis-cli --cluster`.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Deterministic simulation campaigns (build with `--cfg madsim`, e.g. `cargo sim`).
    #[cfg(madsim)]
    Sim(Box<sim_cmd::SimArgs>),
}

/// `clusterlab node [<redis.conf>] [--<directive> <value>…]`
#[derive(Args, Debug)]
struct NodeArgs {
    /// A redis.conf path (optional), then `--directive value …` overrides as redis-server
    /// takes them.
    #[arg(
        value_name = "CONF_AND_OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// `clusterlab up`
#[derive(Args, Debug)]
struct UpArgs {
    /// Number of masters (at least 3).
    #[arg(long, default_value_t = 3)]
    masters: usize,
    /// Replicas per master.
    #[arg(long, default_value_t = 0)]
    replicas: usize,
    /// Client port of the first node; the others follow (bus ports are +10000).
    #[arg(long, default_value_t = 7001)]
    port: u16,
    /// Where the nodes keep their config, logs and data (default: a directory under the
    /// system temp dir named after the first port).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// `cluster-node-timeout` of every node.
    #[arg(long, default_value_t = 5000)]
    node_timeout_ms: u64,
    /// Run real `redis-server` processes (from the PATH) instead of `clusterlab node`.
    #[arg(long)]
    redis_server: bool,
    /// Apply a fault schedule drawn from this seed (kill -9 and restart, SIGSTOP past the
    /// node timeout, CLUSTER FAILOVER, reshards), then stop the nodes.
    #[arg(long, value_name = "SEED")]
    chaos: Option<u64>,
    /// Replay the chaos schedule saved in FILE (its shape replaces the flags').
    #[arg(long, value_name = "FILE", conflicts_with = "chaos")]
    schedule: Option<std::path::PathBuf>,
    /// Write the chaos schedule as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    schedule_out: Option<std::path::PathBuf>,
    /// How long the chaos runs, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    duration: u64,
    /// After the chaos, keep the cluster running until Ctrl-C instead of stopping it.
    #[arg(long)]
    keep_up: bool,
    /// Print the chaos schedule (and write --schedule-out) without starting any node.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Assign slots to the first nodes as masters, make all nodes meet, attach replicas
    /// (`redis-cli --cluster create … --cluster-yes`).
    Create(CreateArgs),
    #[command(flatten)]
    Admin(cluster_cmd::AdminCommand),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Nodes as `ip:port`.
    #[arg(value_name = "HOST:PORT", required = true, num_args = 3..)]
    nodes: Vec<String>,
    /// Replicas per master.
    #[arg(long, visible_alias = "cluster-replicas", default_value_t = 0)]
    replicas: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli.command)
}

#[cfg(not(madsim))]
fn run(command: Command) -> ExitCode {
    match command {
        Command::Node(args) => node_cmd::run(args.args),
        Command::Up(args) => up_cmd::up(args),
        Command::Cluster(ClusterCommand::Create(args)) => up_cmd::create(args),
        Command::Cluster(ClusterCommand::Admin(command)) => cluster_cmd::run(command),
    }
}

#[cfg(madsim)]
fn run(command: Command) -> ExitCode {
    match command {
        Command::Sim(args) => sim_cmd::run(*args),
        Command::Node(_) | Command::Up(_) | Command::Cluster(_) => {
            eprintln!(
                "this clusterlab binary was built for simulation (--cfg madsim); \
                 `node`, `up` and `cluster` need the normal build (cargo run -p clusterlab)"
            );
            ExitCode::FAILURE
        }
    }
}
