//! `clusterlab node <redis.conf> [--directive value …]`: one node as a `redis-server`-like
//! process.
//!
//! Process habits follow redis-server because scripts and test suites rely on them: fatal
//! start-up errors (bad config, unreadable files, ports in use) go to stderr with exit status 1;
//! logs go to `logfile` or stdout; the pidfile exists while the node runs; SIGTERM and Ctrl-C
//! shut down cleanly with status 0; `DEBUG SEGFAULT` aborts without flushing anything.

use std::process::ExitCode;
use std::sync::Arc;

use clusterlab_core::Config;
use clusterlab_net::disk::FileDisk;
use clusterlab_net::server::{Exit, Server};

use crate::logging;

/// Runs the node; `args` are what follows `node` on the command line.
pub fn run(args: Vec<String>) -> ExitCode {
    install_abort_on_panic();
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = logging::init(&config.logfile, &config.loglevel) {
        eprintln!("Can't open the log file: {}", os_error_text(&e));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Can't start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pidfile = PidFile::create(&config.pidfile);
    let exit = runtime.block_on(serve(config));
    match exit {
        Ok(Exit::Shutdown) => {
            drop(pidfile);
            ExitCode::SUCCESS
        }
        // Like a segfaulting redis-server: no flushing, no cleanup, the pidfile stays.
        Ok(Exit::Crash) => std::process::abort(),
        Err(e) => {
            tracing::warn!("{e}");
            eprintln!("{e}");
            drop(pidfile);
            ExitCode::FAILURE
        }
    }
}

/// Reads the config file (when given) and applies the overrides.
fn load_config(args: &[String]) -> Result<Config, String> {
    let (text, overrides) = match args.split_first() {
        Some((path, rest)) if !path.starts_with("--") => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "Fatal error, can't open config file '{path}': {}",
                    os_error_text(&e)
                )
            })?;
            (text, rest)
        }
        _ => (String::new(), args),
    };
    let mut config = Config::parse(&text, overrides).map_err(|e| e.to_string())?;
    config.process_id = std::process::id();
    Ok(config)
}

async fn serve(config: Config) -> std::io::Result<Exit> {
    let seed = config.seed.unwrap_or_else(entropy_seed);
    log_banner(&config);
    let server = Server::bind(config, seed, Arc::new(FileDisk)).await?;
    let stopper = server.shutdown_handle();
    let serving = server.serve();
    tokio::pin!(serving);
    tokio::select! {
        biased;
        exit = &mut serving => exit,
        signal = termination_signal() => {
            tracing::warn!("Received {signal} scheduling shutdown...");
            stopper.shutdown();
            serving.await
        }
    }
}

fn log_banner(config: &Config) {
    tracing::info!("oO0OoO0OoO0Oo clusterlab is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "clusterlab version={}, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        config.process_id
    );
    let mode = if config.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    tracing::info!("Running mode={mode}, port={}.", config.port);
    if config.daemonize {
        tracing::warn!("daemonize yes is not supported: running in the foreground");
    }
}

/// Waits for SIGTERM or SIGINT and names it as Redis's log does.
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        biased;
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// A seed from OS randomness (std's `RandomState` keys come from it), mixed with the pid and
/// the clock so two nodes started together still differ.
fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A panic in the node is a broken invariant: die at once, like a failed Redis assertion,
/// instead of leaving a half-working process with a poisoned lock.
fn install_abort_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
}

/// `No such file or directory` rather than `No such file or directory (os error 2)`.
fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The pidfile, removed again on clean exit.
struct PidFile {
    path: Option<String>,
}

impl PidFile {
    fn create(path: &str) -> PidFile {
        if path.is_empty() {
            return PidFile { path: None };
        }
        match std::fs::write(path, format!("{}\n", std::process::id())) {
            Ok(()) => PidFile {
                path: Some(path.to_string()),
            },
            Err(e) => {
                tracing::warn!("Failed to write PID file: {}", os_error_text(&e));
                PidFile { path: None }
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_without_a_file_are_overrides() {
        let config = load_config(&words(&["--port", "7005", "--cluster-enabled", "yes"])).unwrap();
        assert_eq!(config.port, 7005);
        assert!(config.cluster_enabled);
        assert_eq!(config.process_id, std::process::id());
    }

    #[test]
    fn a_missing_file_is_reported_as_redis_does() {
        let err = load_config(&words(&["/nonexistent/redis.conf"])).unwrap_err();
        assert_eq!(
            err,
            "Fatal error, can't open config file '/nonexistent/redis.conf': No such file or directory"
        );
    }

    #[test]
    fn a_bad_override_gives_the_fatal_block() {
        let err = load_config(&words(&["--foo", "bar"])).unwrap_err();
        assert!(err.starts_with("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"));
        assert!(err.ends_with(">>> 'foo \"bar\"'\nBad directive or wrong number of arguments"));
    }
}
