//! A replica refuses a container command by its subcommand's flags, as Redis looks the
//! subcommand up before its checks: `FUNCTION DELETE` writes, `FUNCTION LIST` does not
//! (redis-server 7.0.15 answers `-READONLY` to the writing ones on a replica).

use super::*;

#[test]
fn a_replica_refuses_writing_subcommands_and_serves_the_others() {
    let mut net = three_masters_three_replicas(5000);
    let readonly = Reply::error("READONLY You can't write against a read only replica.");
    let library = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    for words in [
        vec!["FUNCTION", "FLUSH"],
        vec!["FUNCTION", "DELETE", "lib"],
        vec!["FUNCTION", "LOAD", library],
        vec!["FUNCTION", "RESTORE", "payload"],
    ] {
        assert_eq!(net.cmd(3, &words), readonly, "{words:?}");
    }
    assert_eq!(net.cmd(3, &["FUNCTION", "LIST"]), Reply::Array(Vec::new()));
    assert!(matches!(net.cmd(3, &["FUNCTION", "DUMP"]), Reply::Bulk(_)));
    // The master takes the same writes.
    assert_eq!(
        net.cmd(0, &["FUNCTION", "LOAD", library]),
        Reply::bulk_str("lib")
    );
    assert_eq!(net.cmd(0, &["FUNCTION", "DELETE", "lib"]), Reply::ok());
}
