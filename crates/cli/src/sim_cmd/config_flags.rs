//! The flags that pin a simulated cluster's shape and knobs (`--masters`, `--replicas`,
//! `--node-timeout-ms`, `--validity-factor`, …), shared by `sim run`, `sim plan` and
//! `sim timeline`. The campaign draws every value not given from its seed; other scenarios
//! take the tutorial's cluster for it.

use clusterlab_sim::faults::{draw_config, ConfigPins};
use clusterlab_sim::{campaign, Fsync, SimConfig};

/// Shape and knob flags; each one given pins its value, each one left out is drawn.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ConfigFlags {
    /// Masters in the simulated cluster (campaign: drawn from 3..=5 when not given).
    #[arg(long)]
    pub masters: Option<usize>,
    /// Replicas per master (campaign: drawn from 0..=2 when not given).
    #[arg(long)]
    pub replicas: Option<usize>,
    /// cluster-node-timeout of every node, in ms (campaign: drawn when not given).
    #[arg(long, alias = "node-timeout")]
    pub node_timeout_ms: Option<u64>,
    /// cluster-replica-validity-factor (campaign: drawn from 0, 1, 10 when not given).
    #[arg(long)]
    pub validity_factor: Option<u64>,
    /// cluster-require-full-coverage, yes or no (campaign: drawn when not given).
    #[arg(long, value_parser = parse_yes_no)]
    pub full_coverage: Option<bool>,
    /// cluster-allow-reads-when-down, yes or no (campaign: drawn when not given).
    #[arg(long, value_parser = parse_yes_no)]
    pub reads_when_down: Option<bool>,
    /// cluster-allow-replica-migration, yes or no (campaign: drawn when not given).
    #[arg(long, value_parser = parse_yes_no)]
    pub replica_migration: Option<bool>,
    /// appendfsync of the two-phase runs, always or everysec (campaign: drawn when not given).
    #[arg(long, value_parser = parse_fsync)]
    pub appendfsync: Option<Fsync>,
    /// Run every node with this deliberate bug (see `sim canary`); repeatable.
    #[arg(long)]
    pub canary: Vec<String>,
    /// Append clients the campaign runs, each on its own machine (0: the single SET writer;
    /// default 4).
    #[arg(long)]
    pub clients: Option<usize>,
    /// repl-timeout of every node, in seconds (default Redis's 60; never drawn).
    #[arg(long)]
    pub repl_timeout_s: Option<u64>,
    /// repl-diskless-sync-delay of every node, in seconds (default Redis's 5; never drawn).
    #[arg(long)]
    pub repl_diskless_sync_delay_s: Option<u64>,
    /// Simulated bandwidth of a full sync's transfer, bytes a second (default 1000000; 0: at
    /// once; never drawn).
    #[arg(long)]
    pub repl_transfer_bytes_per_s: Option<u64>,
    /// repl-diskless-load of every node: disabled, on-empty-db or swapdb (campaign: drawn
    /// when not given).
    #[arg(long, value_parser = parse_diskless_load)]
    pub repl_diskless_load: Option<String>,
    /// rdb-key-save-delay of every node, in microseconds per key (default 0; never drawn).
    #[arg(long)]
    pub rdb_key_save_delay_us: Option<i64>,
}

impl ConfigFlags {
    /// The values given, as pins.
    pub fn pins(&self) -> ConfigPins {
        ConfigPins {
            masters: self.masters,
            replicas: self.replicas,
            node_timeout_ms: self.node_timeout_ms,
            validity_factor: self.validity_factor,
            require_full_coverage: self.full_coverage,
            allow_reads_when_down: self.reads_when_down,
            allow_replica_migration: self.replica_migration,
            appendfsync: self.appendfsync,
            canaries: self.canary.clone(),
            clients: self.clients,
            repl_diskless_load: self.repl_diskless_load.clone(),
        }
    }

    /// The configuration `scenario` runs for `seed`: drawn from the seed for the campaign,
    /// the tutorial's for the others; pinned values in place either way.
    pub fn config_for(&self, scenario: &str, seed: u64) -> SimConfig {
        let config = if scenario == campaign::NAME {
            draw_config(seed, &self.pins())
        } else {
            self.pins().over(&SimConfig::default())
        };
        SimConfig {
            repl_timeout_s: self.repl_timeout_s.unwrap_or(config.repl_timeout_s),
            repl_diskless_sync_delay_s: self
                .repl_diskless_sync_delay_s
                .unwrap_or(config.repl_diskless_sync_delay_s),
            repl_transfer_bytes_per_s: self
                .repl_transfer_bytes_per_s
                .unwrap_or(config.repl_transfer_bytes_per_s),
            rdb_key_save_delay_us: self
                .rdb_key_save_delay_us
                .unwrap_or(config.rdb_key_save_delay_us),
            ..config
        }
    }

    /// How the header of a run describes the configuration.
    pub fn describe(&self, scenario: &str) -> String {
        let pins = self.pins();
        if scenario == campaign::NAME && !pins.all_pinned() {
            format!(
                "shape and knobs drawn per seed, pinned: {}",
                pinned_text(&pins)
            )
        } else {
            self.config_for(scenario, 0).flags()
        }
    }
}

fn pinned_text(pins: &ConfigPins) -> String {
    let mut parts = Vec::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    };
    put("masters", pins.masters.map(|v| v.to_string()));
    put("replicas", pins.replicas.map(|v| v.to_string()));
    put(
        "node timeout ms",
        pins.node_timeout_ms.map(|v| v.to_string()),
    );
    put(
        "validity factor",
        pins.validity_factor.map(|v| v.to_string()),
    );
    put(
        "full coverage",
        pins.require_full_coverage.map(|v| v.to_string()),
    );
    put(
        "reads when down",
        pins.allow_reads_when_down.map(|v| v.to_string()),
    );
    put(
        "replica migration",
        pins.allow_replica_migration.map(|v| v.to_string()),
    );
    put(
        "appendfsync",
        pins.appendfsync.map(|v| v.name().to_string()),
    );
    put("repl-diskless-load", pins.repl_diskless_load.clone());
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("want yes or no, got {text:?}")),
    }
}

fn parse_diskless_load(text: &str) -> Result<String, String> {
    match clusterlab_core::config::DisklessLoad::from_name(text) {
        Some(load) => Ok(load.name().to_string()),
        None => Err(format!(
            "want disabled, on-empty-db or swapdb, got {text:?}"
        )),
    }
}

fn parse_fsync(text: &str) -> Result<Fsync, String> {
    match text {
        "always" => Ok(Fsync::Always),
        "everysec" => Ok(Fsync::Everysec),
        _ => Err(format!("want always or everysec, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_flags_of_a_drawn_config_pin_it() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: ConfigFlags,
        }
        let drawn = ConfigFlags::default().config_for(campaign::NAME, 31);
        let line = format!("x {}", drawn.flags());
        let cli = Cli::try_parse_from(line.split_whitespace()).unwrap();
        assert!(cli.flags.pins().all_pinned());
        assert_eq!(cli.flags.config_for(campaign::NAME, 31), drawn);
        assert_eq!(cli.flags.config_for(campaign::NAME, 32), drawn);
        assert!(parse_yes_no("maybe").is_err());
    }
}
