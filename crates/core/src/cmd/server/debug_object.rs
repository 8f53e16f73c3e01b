//! `DEBUG OBJECT key`: Redis 7.0's one-line summary of a stored value (address, refcount,
//! encoding, serialized length, the raw access clock and its idle seconds, and a quicklist's
//! shape). Like Redis it reads the table directly: the key is neither stamped nor expired.
//!
//! `serializedlength` is the value's RDB body as `DUMP` writes it (LZF-compressed strings
//! under `rdbcompression yes`, as Redis counts them). `lru_seconds_idle` reads the field as an LRU clock even under an
//! LFU policy, as Redis does.

use bytes::Bytes;

use crate::db::access::lru_idle_ms;
use crate::db::ValueRef;
use crate::node::Node;
use crate::reply::Reply;

/// `list-max-listpack-size`'s default, which Redis prints as `ql_listpack_max`.
const LIST_MAX_LISTPACK_SIZE: i64 = -2;

pub(super) fn debug_object(node: &mut Node, key: &Bytes) -> Reply {
    let Some((entry, clock, address)) = node.db.debug_view(key) else {
        return Reply::err("no such key");
    };
    let encoding = if node.db.is_raw_string(key) {
        "raw"
    } else {
        entry.value.encoding()
    };
    let refcount = crate::cmd::keys::refcount(entry.value);
    let payload_len = crate::cmd::dump::dump_payload(entry.value, node.rdb_compression()).len();
    // Type byte before, version (2) and CRC (8) after the RDB body.
    let serialized_len = payload_len - 11;
    let idle_s = lru_idle_ms(clock, node.now.unix_ms) / 1000;
    let mut line = format!(
        "Value at:{address:#x} refcount:{refcount} encoding:{encoding} \
         serializedlength:{serialized_len} lru:{clock} lru_seconds_idle:{idle_s}"
    );
    if let ValueRef::List(list) = entry.value {
        let nodes = super::memory::quicklist_node_bytes(list);
        let avg = list.len() as f64 / nodes.len() as f64;
        let fill = node.config_i64("list-max-listpack-size", LIST_MAX_LISTPACK_SIZE);
        let compressed = i32::from(node.config_i64("list-compress-depth", 0) != 0);
        let size: usize = nodes.iter().sum();
        line.push_str(&format!(
            " ql_nodes:{} ql_avg_node:{avg:.2} ql_listpack_max:{fill} ql_compressed:{compressed} \
             ql_uncompressed_size:{size}",
            nodes.len()
        ));
    }
    Reply::simple(line)
}

#[cfg(test)]
mod tests {
    use crate::cmd::keys::tests::Harness;
    use crate::reply::Reply;

    fn fields(reply: Reply) -> Vec<String> {
        let Reply::Simple(line) = reply else {
            panic!("status line: {reply:?}")
        };
        line.split(' ').skip(2).map(str::to_owned).collect()
    }

    #[test]
    fn debug_object_reports_encoding_length_and_clock_without_stamping() {
        let mut h = Harness::new();
        h.node.config.enable_debug_command = crate::config::DebugCommand::Yes;
        assert_eq!(h.cmd(&["DEBUG", "OBJECT", "k"]), Reply::err("no such key"));
        h.cmd(&["SET", "k", "12"]);
        h.advance_ms(7_000);
        let clock = (1_000_000 / 1000).to_string();
        assert_eq!(
            fields(h.cmd(&["DEBUG", "OBJECT", "k"])),
            [
                "refcount:2147483647",
                "encoding:int",
                "serializedlength:2",
                &format!("lru:{clock}"),
                "lru_seconds_idle:7"
            ]
        );
        assert_eq!(h.cmd(&["OBJECT", "IDLETIME", "k"]), Reply::Integer(7));
        h.cmd(&["RPUSH", "l", "a", "bb"]);
        let list = fields(h.cmd(&["DEBUG", "OBJECT", "l"]));
        assert_eq!(
            list[5..],
            [
                "ql_nodes:1",
                "ql_avg_node:2.00",
                "ql_listpack_max:-2",
                "ql_compressed:0",
                "ql_uncompressed_size:14"
            ]
        );
    }

    /// redis-server 7.0.15 reports 13, then 102 after `CONFIG SET rdbcompression no`.
    #[test]
    fn serialized_length_counts_the_compressed_string() {
        let mut h = Harness::new();
        h.node.config.enable_debug_command = crate::config::DebugCommand::Yes;
        h.cmd(&["SET", "k", &"x".repeat(100)]);
        assert_eq!(
            fields(h.cmd(&["DEBUG", "OBJECT", "k"]))[2],
            "serializedlength:13"
        );
        assert_eq!(
            h.cmd(&["CONFIG", "SET", "rdbcompression", "no"]),
            Reply::ok()
        );
        assert_eq!(
            fields(h.cmd(&["DEBUG", "OBJECT", "k"]))[2],
            "serializedlength:102"
        );
    }
}
