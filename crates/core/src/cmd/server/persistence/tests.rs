//! SAVE, BGSAVE, BGREWRITEAOF, DEBUG RELOAD, the `save` schedule, the automatic rewrite and
//! `CONFIG SET appendonly`: the effects each hands the driver, and the replies.

use super::super::testing::*;
use crate::config::DebugCommand;
use crate::node::Effect;
use crate::rdb;

fn saves(effects: &[Effect]) -> Vec<(Vec<u8>, Option<ClientId>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SaveRdb { data, client } => Some((data.to_vec(), *client)),
            _ => None,
        })
        .collect()
}

fn rewrites(effects: &[Effect]) -> Vec<Vec<u8>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::RewriteAof { base } => Some(base.to_vec()),
            _ => None,
        })
        .collect()
}

fn keys_in(data: &[u8]) -> Vec<String> {
    let (contents, _) = rdb::decode(data, &Default::default()).unwrap();
    let mut keys: Vec<String> = contents
        .entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.key).into_owned())
        .collect();
    keys.sort();
    keys
}

#[test]
fn save_blocks_until_the_driver_reports_and_then_answers() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "rpush l a b");
    run(&mut n, c, "set s v");
    n.take_effects();
    run(&mut n, c, "save");
    let effects = n.take_effects();
    let saved = saves(&effects);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1, Some(c));
    assert_eq!(keys_in(&saved[0].0), ["l", "s"]);
    assert!(effects.contains(&Effect::BlockClient { client: c }));
    // A second save while the first is with the driver is refused.
    assert_eq!(
        run(&mut n, c, "bgsave"),
        err("ERR Background save already in progress")
    );
    let later = Time {
        mono_ms: 5000,
        unix_ms: 2_000_000,
    };
    n.set_time(later);
    n.rdb_saved(Some(c), Ok(()));
    let effects = n.take_effects();
    assert!(effects.contains(&Effect::UnblockClient {
        client: c,
        reply: Reply::ok()
    }));
    assert_eq!(run_at(&mut n, c, later, "lastsave"), Reply::Integer(2000));
    let Reply::Verbatim(_, info) = run_at(&mut n, c, later, "info persistence") else {
        panic!("INFO is verbatim text");
    };
    assert!(info.contains("rdb_changes_since_last_save:0\r\n"), "{info}");
    assert!(info.contains("rdb_saves:1\r\n"), "{info}");
}

#[test]
fn a_failed_save_answers_err_and_keeps_the_changes_counted() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "set a 1");
    run(&mut n, c, "save");
    n.take_effects();
    n.rdb_saved(Some(c), Err("No space left on device".into()));
    let effects = n.take_effects();
    assert!(effects.contains(&Effect::UnblockClient {
        client: c,
        reply: Reply::Error("ERR".into())
    }));
    let info = info_text(&mut n, c, "info persistence");
    assert!(info.contains("rdb_changes_since_last_save:1\r\n"), "{info}");
    assert!(info.contains("rdb_last_bgsave_status:err\r\n"), "{info}");
    assert_eq!(run(&mut n, c, "lastsave"), Reply::Integer(1000));
}

#[test]
fn bgsave_answers_at_once_and_checks_its_argument() {
    let (mut n, c) = node_with(Config::default());
    assert_eq!(run(&mut n, c, "bgsave foo"), Reply::syntax_error());
    assert_eq!(
        run(&mut n, c, "bgsave schedule"),
        Reply::simple("Background saving started")
    );
    let saved = saves(&n.take_effects());
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1, None);
    n.rdb_saved(None, Ok(()));
    assert!(!n
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::UnblockClient { .. })));
}

#[test]
fn save_is_refused_inside_multi() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "multi");
    assert_eq!(
        run(&mut n, c, "save"),
        err("ERR Command not allowed inside a transaction")
    );
    assert_eq!(
        run(&mut n, c, "exec"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
}

#[test]
fn the_save_schedule_saves_once_enough_changes_are_old_enough() {
    let config = Config {
        save: "10 2".into(),
        ..Config::default()
    };
    let (mut n, c) = node_with(config);
    run(&mut n, c, "set a 1");
    let at = |s: u64| Time {
        mono_ms: s * 1000,
        unix_ms: 1_000_000 + s * 1000,
    };
    n.tick(at(20));
    assert!(
        saves(&n.take_effects()).is_empty(),
        "one change is not enough"
    );
    run_at(&mut n, c, at(20), "set b 2");
    n.tick(at(20));
    assert_eq!(saves(&n.take_effects()).len(), 1);
    // Still with the driver: no second save.
    n.tick(at(21));
    assert!(saves(&n.take_effects()).is_empty());
    n.rdb_saved(None, Ok(()));
    run_at(&mut n, c, at(22), "set c 3");
    run_at(&mut n, c, at(22), "set d 4");
    n.tick(at(25));
    assert!(
        saves(&n.take_effects()).is_empty(),
        "too soon after the last save"
    );
    n.tick(at(31));
    assert_eq!(saves(&n.take_effects()).len(), 1);
}

#[test]
fn a_failed_scheduled_save_is_retried_after_five_seconds() {
    let config = Config {
        save: "1 1".into(),
        ..Config::default()
    };
    let (mut n, c) = node_with(config);
    run(&mut n, c, "set a 1");
    let at = |ms: u64| Time {
        mono_ms: ms,
        unix_ms: 1_000_000 + ms,
    };
    n.tick(at(2000));
    assert_eq!(saves(&n.take_effects()).len(), 1);
    n.rdb_saved(None, Err("EIO".into()));
    n.tick(at(6900));
    assert!(saves(&n.take_effects()).is_empty());
    n.tick(at(7000));
    assert_eq!(saves(&n.take_effects()).len(), 1);
}

#[test]
fn bgrewriteaof_writes_an_rdb_base_or_commands_by_the_preamble_setting() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "hset h f v");
    n.take_effects();
    assert_eq!(
        run(&mut n, c, "bgrewriteaof"),
        Reply::simple("Background append only file rewriting started")
    );
    let base = rewrites(&n.take_effects());
    assert_eq!(keys_in(&base[0]), ["h"]);
    run(&mut n, c, "config set aof-use-rdb-preamble no");
    run(&mut n, c, "bgrewriteaof");
    let base = rewrites(&n.take_effects());
    let text = String::from_utf8_lossy(&base[0]);
    assert!(
        text.starts_with(
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*5\r\n$7\r\nRESTORE\r\n$1\r\nh\r\n$1\r\n0\r\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("$6\r\nABSTTL\r\n"), "{text}");
}

#[test]
fn the_aof_is_rewritten_once_it_doubles_past_the_minimum_size() {
    let config = Config {
        appendonly: true,
        auto_aof_rewrite_min_size: 200,
        ..Config::default()
    };
    let (mut n, c) = node_with(config);
    run(&mut n, c, "bgrewriteaof");
    n.take_effects();
    let base_size = n.persistence.aof_base_size;
    let mut grown = 0;
    while n.persistence.aof_current_size <= 200 || n.persistence.aof_current_size < 2 * base_size {
        n.tick(NOW);
        assert!(rewrites(&n.take_effects()).is_empty(), "rewrote too early");
        run(&mut n, c, "set key value");
        grown += 1;
        assert!(grown < 100);
    }
    n.tick(NOW);
    assert_eq!(rewrites(&n.take_effects()).len(), 1);
    run(&mut n, c, "config set auto-aof-rewrite-percentage 0");
    for _ in 0..50 {
        run(&mut n, c, "set key value");
    }
    n.tick(NOW);
    assert!(
        rewrites(&n.take_effects()).is_empty(),
        "percentage 0 turns it off"
    );
}

#[test]
fn config_set_appendonly_starts_with_a_rewrite_and_stops_the_file() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "set a 1");
    n.take_effects();
    assert_eq!(run(&mut n, c, "config set appendonly yes"), Reply::ok());
    let effects = n.take_effects();
    assert_eq!(keys_in(&rewrites(&effects)[0]), ["a"]);
    run(&mut n, c, "set b 2");
    let effects = n.take_effects();
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::AppendAof { .. })));
    assert_eq!(run(&mut n, c, "config set appendonly no"), Reply::ok());
    assert!(n.take_effects().contains(&Effect::StopAof));
    run(&mut n, c, "set c 3");
    assert!(!n
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::AppendAof { .. })));
}

#[test]
fn debug_reload_round_trips_the_keyspace_through_an_rdb_file() {
    let config = Config {
        enable_debug_command: DebugCommand::Yes,
        ..Config::default()
    };
    let (mut n, c) = node_with(config);
    run(&mut n, c, "rpush l a b c");
    run(&mut n, c, "sadd s 1 2 3");
    run(&mut n, c, "set t v");
    run(&mut n, c, "pexpire t 100000");
    let digest = run(&mut n, c, "debug digest");
    n.take_effects();
    assert_eq!(run(&mut n, c, "debug reload"), Reply::ok());
    assert_eq!(saves(&n.take_effects()).len(), 1);
    assert_eq!(run(&mut n, c, "debug digest"), digest);
    assert_eq!(run(&mut n, c, "pttl t"), Reply::Integer(100000));
    assert_eq!(run(&mut n, c, "debug reload nosave"), Reply::ok());
    assert!(saves(&n.take_effects()).is_empty());
    assert_eq!(
        run(&mut n, c, "debug reload bogus"),
        err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    );
}

#[test]
fn load_rdb_drops_expired_keys_on_a_master() {
    let (mut n, c) = node_with(Config::default());
    run(&mut n, c, "set live v");
    run(&mut n, c, "set gone v");
    n.db.set_expiry(b"gone", Some(NOW.unix_ms - 1));
    let data = n.rdb_snapshot();
    let (contents, _) = rdb::decode(&data, &Default::default()).unwrap();
    let (mut fresh, c2) = node_with(Config::default());
    fresh.load_rdb(contents);
    assert_eq!(run(&mut fresh, c2, "dbsize"), Reply::Integer(1));
    assert_eq!(run(&mut fresh, c2, "get live"), bulk("v"));
}

#[test]
fn rdbcompression_and_rdbchecksum_shape_the_file() {
    let (mut n, c) = node_with(Config::default());
    let long = "x".repeat(100);
    run(&mut n, c, &format!("set k {long}"));
    let compressed = n.rdb_snapshot();
    // The value as Redis writes it: LZF marker, 9 compressed bytes for 100.
    let lzf_value = b"\xc3\x09\x40\x64\x01xx\xe0\x57\x00\x01xx";
    assert!(compressed.windows(lzf_value.len()).any(|w| w == lzf_value));
    assert_ne!(compressed[compressed.len() - 8..], [0; 8]);

    assert_eq!(run(&mut n, c, "config set rdbcompression no"), Reply::ok());
    // Immutable in Redis 7.0: a config file sets it.
    assert_eq!(
        run(&mut n, c, "config set rdbchecksum no"),
        err("ERR CONFIG SET failed (possibly related to argument 'rdbchecksum') - can't set immutable config")
    );
    n.config.rdb_checksum = false;
    let Reply::Map(settings) = run(&mut n, c, "config get rdbc*") else {
        panic!("CONFIG GET answers a map");
    };
    assert_eq!(
        settings,
        [
            (bulk("rdbcompression"), bulk("no")),
            (bulk("rdbchecksum"), bulk("no"))
        ]
    );
    let plain = n.rdb_snapshot();
    assert_eq!(plain.len(), compressed.len() + 102 - 13);
    assert!(plain.windows(100).any(|w| w == long.as_bytes()));
    // No checksum: eight zero bytes, which the loader does not check.
    assert_eq!(plain[plain.len() - 8..], [0; 8]);
    let (contents, _) = rdb::decode(&plain, &Default::default()).unwrap();
    assert_eq!(
        contents.entries[0].value,
        crate::db::Value::String(long.clone().into())
    );
    let (contents, _) = rdb::decode(&compressed, &Default::default()).unwrap();
    assert_eq!(
        contents.entries[0].value,
        crate::db::Value::String(long.into())
    );
}
