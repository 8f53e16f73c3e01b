//! Text that CLUSTER NODES / INFO / SLOTS / SHARDS return, byte-identical to Redis 7.0.
