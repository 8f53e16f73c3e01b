//! `clusterlab cluster add-node|reshard|del-node|check|fix|rebalance|info`: the operations of
//! `redis-cli --cluster` over RESP, through `clusterlab_net::admin` (the code the simulator
//! runs). Arguments take redis-cli's shapes; each `--x` also answers to `--cluster-x`.
//! `check` exits 1 when it finds a problem, like redis-cli. `reshard` and `fix` ask before
//! acting unless `--yes` is given (redis-cli's `fix` insists on a typed `yes` for covering
//! slots even with `--cluster-yes`; here `--yes` covers that too).

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add a node to a cluster, as an empty master or a replica (`--cluster add-node`).
    AddNode(AddNodeArgs),
    /// Move slots with their keys to a master (`--cluster reshard`).
    Reshard(ReshardArgs),
    /// Remove an empty node from a cluster (`--cluster del-node`).
    DelNode(DelNodeArgs),
    /// Report agreement, open slots and coverage; exit 1 on any problem (`--cluster check`).
    Check(AddrArgs),
    /// Close open slots and cover unassigned ones (`--cluster fix`).
    Fix(FixArgs),
    /// Spread slots over the masters by weight (`--cluster rebalance`).
    Rebalance(RebalanceArgs),
    /// Keys, slots and replicas per master (`--cluster info`).
    Info(AddrArgs),
}

#[derive(Args, Debug)]
pub struct AddrArgs {
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
}

#[derive(Args, Debug)]
pub struct AddNodeArgs {
    /// The node to add, `ip:port`.
    #[arg(value_name = "NEW_HOST:NEW_PORT")]
    pub new: String,
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "EXISTING_HOST:EXISTING_PORT")]
    pub existing: String,
    /// Add it as a replica.
    #[arg(long, visible_alias = "cluster-slave")]
    pub slave: bool,
    /// The master the replica follows (default: the master with fewest replicas).
    #[arg(long, visible_alias = "cluster-master-id", requires = "slave")]
    pub master_id: Option<String>,
}

/// Knobs shared by the operations that move slots.
#[derive(Args, Debug)]
pub struct MoveArgs {
    /// Keys per MIGRATE.
    #[arg(long, visible_alias = "cluster-pipeline", default_value_t = 10)]
    pub pipeline: usize,
    /// MIGRATE timeout in milliseconds.
    #[arg(long, visible_alias = "cluster-timeout", default_value_t = 60_000)]
    pub timeout: u64,
    /// Overwrite keys that already exist on the target.
    #[arg(long, visible_alias = "cluster-replace")]
    pub replace: bool,
}

#[derive(Args, Debug)]
pub struct ReshardArgs {
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
    /// Source master ids, comma separated, or `all`.
    #[arg(long, visible_alias = "cluster-from")]
    pub from: String,
    /// Target master id.
    #[arg(long, visible_alias = "cluster-to")]
    pub to: String,
    /// How many slots to move.
    #[arg(long, visible_alias = "cluster-slots")]
    pub slots: usize,
    /// Do not ask for confirmation.
    #[arg(long, visible_alias = "cluster-yes")]
    pub yes: bool,
    #[command(flatten)]
    pub moves: MoveArgs,
}

#[derive(Args, Debug)]
pub struct DelNodeArgs {
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
    /// Id of the node to remove.
    #[arg(value_name = "NODE_ID")]
    pub id: String,
}

#[derive(Args, Debug)]
pub struct FixArgs {
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
    /// Do not ask for confirmation.
    #[arg(long, visible_alias = "cluster-yes")]
    pub yes: bool,
    #[command(flatten)]
    pub moves: MoveArgs,
}

#[derive(Args, Debug)]
pub struct RebalanceArgs {
    /// Any node of the cluster, `ip:port`.
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
    /// `<node id>=<weight>`, repeatable; masters not named weigh 1.
    #[arg(long, visible_alias = "cluster-weight", num_args = 1..)]
    pub weight: Vec<String>,
    /// Give slots to masters that have none.
    #[arg(long, visible_alias = "cluster-use-empty-masters")]
    pub use_empty_masters: bool,
    /// Move nothing unless a master is off its share by more than this percentage.
    #[arg(long, visible_alias = "cluster-threshold", default_value_t = 2.0)]
    pub threshold: f32,
    /// Only print the plan.
    #[arg(long, visible_alias = "cluster-simulate")]
    pub simulate: bool,
    #[command(flatten)]
    pub moves: MoveArgs,
}

#[cfg(not(madsim))]
pub use run_impl::run;

#[cfg(not(madsim))]
mod run_impl {
    use super::*;
    use clusterlab_net::admin::{
        self, AddNodeRole, AdminError, RebalanceOptions, ReshardOptions, Sources,
    };
    use std::io::BufRead;
    use std::process::ExitCode;

    /// Runs one admin command; errors go to stderr and exit 1.
    pub fn run(command: AdminCommand) -> ExitCode {
        crate::logging::init_stderr_warnings();
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("Can't start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(dispatch(command)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn dispatch(command: AdminCommand) -> Result<ExitCode, AdminError> {
        match command {
            AdminCommand::AddNode(args) => add_node(args).await,
            AdminCommand::Reshard(args) => reshard(args).await,
            AdminCommand::DelNode(args) => {
                println!(">>> Removing node {} from cluster {}", args.id, args.addr);
                admin::del_node(&args.addr, &args.id).await?;
                println!(">>> Sending CLUSTER RESET SOFT to the deleted node.");
                Ok(ExitCode::SUCCESS)
            }
            AdminCommand::Check(args) => {
                let report = admin::check(&args.addr).await?;
                print!("{}", report.text());
                Ok(exit_code(report.is_ok()))
            }
            AdminCommand::Fix(args) => fix(args).await,
            AdminCommand::Rebalance(args) => rebalance(args).await,
            AdminCommand::Info(args) => {
                print!("{}", admin::info(&args.addr).await?.text());
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    fn exit_code(ok: bool) -> ExitCode {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn move_options(args: &MoveArgs) -> ReshardOptions {
        ReshardOptions {
            pipeline: args.pipeline,
            timeout_ms: args.timeout,
            replace: args.replace,
            ..ReshardOptions::default()
        }
    }

    /// Asks `question` on stdout; true only for a typed `yes`.
    fn confirmed(question: &str) -> bool {
        println!("{question} (type 'yes' to accept): ");
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer);
        read.is_ok() && answer.trim() == "yes"
    }

    async fn add_node(args: AddNodeArgs) -> Result<ExitCode, AdminError> {
        let role = if args.slave {
            AddNodeRole::Replica {
                master_id: args.master_id,
            }
        } else {
            AddNodeRole::Master
        };
        println!(">>> Adding node {} to cluster {}", args.new, args.existing);
        let id = admin::add_node(&args.new, &args.existing, role).await?;
        println!(
            ">>> Send CLUSTER MEET to node {} to make it join the cluster.",
            args.new
        );
        println!("[OK] New node added correctly. ({id})");
        Ok(ExitCode::SUCCESS)
    }

    async fn reshard(args: ReshardArgs) -> Result<ExitCode, AdminError> {
        let from = if args.from.eq_ignore_ascii_case("all") {
            Sources::All
        } else {
            Sources::Ids(args.from.split(',').map(str::to_string).collect())
        };
        let question = format!(
            "Do you want to move {} slots from {} to {}?",
            args.slots, args.from, args.to
        );
        if !args.yes && !confirmed(&question) {
            println!("*** Aborting...");
            return Ok(ExitCode::FAILURE);
        }
        let report = admin::reshard(
            &args.addr,
            from,
            &args.to,
            args.slots,
            move_options(&args.moves),
        )
        .await?;
        for m in &report.moves {
            println!(
                "Moving slot {} from {} to {}: {} keys",
                m.slot, m.from, m.to, m.keys
            );
        }
        println!(
            "[OK] Moved {} slots ({} keys).",
            report.moves.len(),
            report.keys()
        );
        Ok(ExitCode::SUCCESS)
    }

    async fn fix(args: FixArgs) -> Result<ExitCode, AdminError> {
        let before = admin::check(&args.addr).await?;
        print!("{}", before.text());
        let cover = before.uncovered.is_empty()
            || args.yes
            || confirmed("Fix these slots by covering with a random node?");
        let report = admin::fix(&args.addr, move_options(&args.moves), cover).await?;
        for line in &report.actions {
            println!("{line}");
        }
        Ok(exit_code(cover))
    }

    async fn rebalance(args: RebalanceArgs) -> Result<ExitCode, AdminError> {
        let mut weights = Vec::new();
        for spec in &args.weight {
            let parsed = spec
                .split_once('=')
                .and_then(|(id, w)| Some((id.to_string(), w.parse::<f32>().ok()?)));
            match parsed {
                Some(weight) => weights.push(weight),
                None => {
                    return Err(AdminError::Failed(format!(
                        "*** Invalid weight {spec:?} (expected <node id>=<weight>)"
                    )))
                }
            }
        }
        let options = RebalanceOptions {
            weights,
            threshold_pct: args.threshold,
            use_empty_masters: args.use_empty_masters,
            simulate: args.simulate,
            moves: move_options(&args.moves),
        };
        let report = admin::rebalance(&args.addr, &options).await?;
        if !report.needed {
            println!(
                "*** No rebalancing needed! All nodes are within the {:.2}% threshold.",
                args.threshold
            );
            return Ok(ExitCode::SUCCESS);
        }
        for (from, to, count) in &report.transfers {
            println!("Moving {count} slots from {from} to {to}");
        }
        println!(
            "[OK] Moved {} slots ({} keys).",
            report.moves.len(),
            report.moves.iter().map(|m| m.keys).sum::<usize>()
        );
        Ok(ExitCode::SUCCESS)
    }
}
