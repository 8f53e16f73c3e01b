//! redis-cli `--cluster` operations over RESP. (Owner: codec helper.)
//!
//! API: `create(addrs: &[String], replicas: usize) -> Result<(), AdminError>`.
