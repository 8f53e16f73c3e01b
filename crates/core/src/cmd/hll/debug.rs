//! PFDEBUG (GETREG, DECODE, ENCODING, TODENSE) and PFSELFTEST: Redis's internal commands for
//! looking inside a HyperLogLog and checking the implementation.

use bytes::Bytes;

use super::dense::{self, DENSE_BYTES, HEADER_BYTES, REGISTERS};
use super::{corrupt, is_hll, not_hll, raise, sparse, store, Corrupt, DENSE};
use crate::cmd::is;
use crate::cmd::keys::{lookup_write, propagate};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

/// Elements PFSELFTEST adds to its sparse and dense copies.
const SELFTEST_ELEMENTS: u32 = 20_000;

/// PFDEBUG `subcommand key`. GETREG and TODENSE turn a sparse HLL dense, a change Redis
/// propagates as the command itself.
pub(super) fn pfdebug(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    let (sub, key) = (&args[1], &args[2]);
    let mut s = match lookup_write(node, key).map(|e| e.value().as_string().map(<[u8]>::to_vec)) {
        None => return Reply::err("The specified key does not exist"),
        Some(None) => return Reply::wrong_type(),
        Some(Some(s)) if is_hll(&s) => s,
        Some(Some(_)) => return not_hll(),
    };
    let sparse = s[4] != DENSE;
    if is(sub, "encoding") {
        super::mark_raw(node, key);
        return Reply::simple(if sparse { "sparse" } else { "dense" });
    }
    if is(sub, "decode") {
        super::mark_raw(node, key);
        if !sparse {
            return Reply::err("HLL encoding is not sparse");
        }
        return Reply::bulk(sparse::describe(&s[HEADER_BYTES..]));
    }
    if !is(sub, "getreg") && !is(sub, "todense") {
        return Reply::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        ));
    }
    if sparse {
        match sparse::to_dense(&s) {
            Ok(dense) => s = dense,
            Err(Corrupt) => return corrupt(),
        }
        store(node, key, &s);
        propagate(node, args.to_vec());
    } else {
        super::mark_raw(node, key);
    }
    if is(sub, "todense") {
        return Reply::Integer(i64::from(sparse));
    }
    let registers = &s[HEADER_BYTES..];
    Reply::Array(
        (0..REGISTERS)
            .map(|i| Reply::Integer(i64::from(dense::get(registers, i))))
            .collect(),
    )
}

/// PFSELFTEST: every register value round-trips through the dense packing, and a sparse and
/// a dense HLL fed the same (seeded) elements hold the same registers and count.
pub(super) fn pfselftest(_node: &mut Node, _client: ClientId, _args: &[Bytes]) -> Reply {
    match selftest() {
        Ok(()) => Reply::ok(),
        Err(what) => Reply::error(format!("TESTFAILED {what}")),
    }
}

fn selftest() -> Result<(), String> {
    // Each register is set in turn: it must read back, and its neighbours must not move.
    for value in 1..64u8 {
        let mut regs = vec![0u8; DENSE_BYTES - HEADER_BYTES];
        for i in 0..REGISTERS {
            dense::raise(&mut regs, i, value);
            let before_ok = i == 0 || dense::get(&regs, i - 1) == value;
            let after_ok = i + 1 == REGISTERS || dense::get(&regs, i + 1) == 0;
            if dense::get(&regs, i) != value || !before_ok || !after_ok {
                return Err(format!("Register error at index {i} value {value}"));
            }
        }
    }
    let mut sparse_hll = super::new_hll();
    let mut dense_hll = sparse::to_dense(&sparse_hll).map_err(|_| "bad empty HLL")?;
    for n in 0..SELFTEST_ELEMENTS {
        let element = n.to_le_bytes();
        let (index, rank) = dense::register_and_rank(&element);
        raise(&mut sparse_hll, index, rank, usize::MAX).map_err(|_| "sparse add failed")?;
        raise(&mut dense_hll, index, rank, usize::MAX).map_err(|_| "dense add failed")?;
    }
    let as_dense = sparse::to_dense(&sparse_hll).map_err(|_| "sparse HLL corrupt")?;
    if as_dense[HEADER_BYTES..] != dense_hll[HEADER_BYTES..] {
        return Err("Sparse and dense registers differ".into());
    }
    let counts = (super::count_hll(&sparse_hll), super::count_hll(&dense_hll));
    match counts {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        _ => Err(format!("Sparse and dense counts differ: {counts:?}")),
    }
}
