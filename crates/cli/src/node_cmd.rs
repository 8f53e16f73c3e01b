//! `clusterlab node <redis.conf> [--directive value …]`: one node as a `redis-server`-like
//! process.
//!
//! Process habits follow redis-server because scripts and test suites rely on them: fatal
//! start-up errors (bad config, unreadable files, ports in use) go to stderr with exit status 1;
//! logs go to `logfile` or stdout; the pidfile exists while the node runs; SIGTERM and Ctrl-C
//! shut down cleanly with status 0; `DEBUG SEGFAULT` aborts without flushing anything.

use std::process::ExitCode;
use std::sync::Arc;

use clusterlab_core::config::{overrides_to_lines, ConfigError};
use clusterlab_core::Config;
use clusterlab_net::disk::FileDisk;
use clusterlab_net::resp::split_args;
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
    let logfile = in_dir(&config.dir, &config.logfile);
    if let Err(e) = logging::init(&logfile, &config.loglevel) {
        // Redis checks the log file after the last config line, so the block has no line.
        eprintln!(
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nCan't open the log file: {}",
            os_error_text(&e)
        );
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
    let pidfile = PidFile::create(&in_dir(&config.dir, &config.pidfile));
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
    let (text, overrides, config_file) = match args.split_first() {
        Some((path, rest)) if !path.starts_with("--") => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "Fatal error, can't open config file '{path}': {}",
                    os_error_text(&e)
                )
            })?;
            // Absolute, as Redis keeps it for INFO and CONFIG REWRITE.
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.into());
            (text, rest, absolute.display().to_string())
        }
        _ => (String::new(), args, String::new()),
    };
    let parsed = Config::parse(&text, overrides);
    // Whichever error Redis would meet first, reading line by line.
    let mut config = match (parsed, first_unusable_dir(&text, overrides)) {
        (Err(e), Some(dir_error)) if dir_error.line_number < e.line_number => {
            return Err(dir_error.to_string())
        }
        (Err(e), _) => return Err(e.to_string()),
        (Ok(_), Some(dir_error)) => return Err(dir_error.to_string()),
        (Ok(config), None) => config,
    };
    config.process_id = std::process::id();
    config.config_file = config_file;
    Ok(config)
}

/// The first `dir` line naming something that is not a usable directory, as the config error
/// Redis gives for it (`Not a directory`, `No such file or directory`).
///
/// redis-server applies `dir` by changing into it while it reads the file, so a bad one stops
/// the start before any file is touched. The node itself never changes directory (it joins
/// paths with `dir`, which the simulator needs), so the check is made here, on the same
/// numbered lines [`Config::parse`] reads: the file, a newline, then the options.
fn first_unusable_dir(text: &str, overrides: &[String]) -> Option<ConfigError> {
    let all = format!("{text}\n{}", overrides_to_lines(overrides));
    all.split('\n').enumerate().find_map(|(index, raw)| {
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        let words = split_args(line.as_bytes())?;
        let [name, path] = &words[..] else {
            return None;
        };
        if !name.eq_ignore_ascii_case(b"dir") || line.starts_with('#') {
            return None;
        }
        let path = String::from_utf8_lossy(path).into_owned();
        let reason = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => return None,
            Ok(_) => "Not a directory".to_string(),
            Err(e) => os_error_text(&e),
        };
        Some(ConfigError {
            line_number: index + 1,
            line: line.to_string(),
            reason,
        })
    })
}

async fn serve(config: Config) -> std::io::Result<Exit> {
    let seed = config.seed.unwrap_or_else(entropy_seed);
    log_banner(&config);
    let server = Server::bind(config, seed, Arc::new(FileDisk::default())).await?;
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

/// Where a file named in redis.conf lives: redis-server runs inside `dir`, so a relative
/// `logfile` or `pidfile` is relative to it. Empty stays empty (stdout, no pidfile).
fn in_dir(dir: &str, file: &str) -> String {
    if file.is_empty() || std::path::Path::new(file).is_absolute() {
        return file.to_string();
    }
    std::path::Path::new(dir)
        .join(file)
        .to_string_lossy()
        .into_owned()
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
    fn relative_log_and_pid_files_live_in_dir() {
        assert_eq!(in_dir("/var/lib/n1", "node.log"), "/var/lib/n1/node.log");
        assert_eq!(in_dir("/var/lib/n1", "/var/log/n1.log"), "/var/log/n1.log");
        assert_eq!(in_dir("/var/lib/n1", ""), "");
        assert_eq!(in_dir("./", "redis.pid"), "./redis.pid");
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
    fn a_dir_that_is_not_a_directory_is_a_config_error_at_its_line() {
        let scratch = std::env::temp_dir().join(format!("node-cmd-dir-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let file = scratch.join("regular");
        std::fs::write(&file, b"").unwrap();
        let under_file = file.join("sub");
        let text = format!("port 7001\n# dir /nowhere\ndir {}\n", under_file.display());
        let err = first_unusable_dir(&text, &[]).unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
                 Reading the configuration file, at line 3\n\
                 >>> 'dir {}'\nNot a directory",
                under_file.display()
            )
        );
        // A regular file itself, and a path that does not exist, given as options.
        let err =
            first_unusable_dir("port 7001\n", &words(&["--dir", &file.to_string_lossy()])).unwrap();
        assert_eq!(err.line_number, 3);
        assert_eq!(err.line, format!("dir \"{}\"", file.display()));
        assert_eq!(err.reason, "Not a directory");
        let missing = scratch.join("missing");
        let args = words(&["--port", "7001", "--dir", &missing.to_string_lossy()]);
        let err = load_config(&args).unwrap_err();
        assert!(
            err.ends_with(&format!(
                "at line 3\n>>> 'dir \"{}\"'\nNo such file or directory",
                missing.display()
            )),
            "{err}"
        );
        // A usable directory passes.
        let good = words(&["--dir", &scratch.to_string_lossy()]);
        assert!(load_config(&good).is_ok());
        // Of a bad directive and a bad dir, the earlier line is reported.
        let conf = scratch.join("redis.conf");
        let conf_arg = vec![conf.to_string_lossy().into_owned()];
        std::fs::write(&conf, format!("foo 1\ndir {}\n", file.display())).unwrap();
        assert!(load_config(&conf_arg)
            .unwrap_err()
            .ends_with("at line 1\n>>> 'foo 1'\nBad directive or wrong number of arguments"));
        std::fs::write(&conf, format!("dir {}\nfoo 1\n", file.display())).unwrap();
        let err = load_config(&conf_arg).unwrap_err();
        assert!(
            err.ends_with(&format!(
                "at line 1\n>>> 'dir {}'\nNot a directory",
                file.display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn a_bad_override_gives_the_fatal_block() {
        let err = load_config(&words(&["--foo", "bar"])).unwrap_err();
        assert!(err.starts_with("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n"));
        assert!(err.ends_with(">>> 'foo \"bar\"'\nBad directive or wrong number of arguments"));
    }
}
