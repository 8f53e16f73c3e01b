//! BITFIELD and BITFIELD_RO: signed and unsigned integers of 1 to 64 bits (unsigned up to
//! 63) at any bit offset, read (GET), written (SET, answering the old value) and incremented
//! (INCRBY, answering the new value) under the OVERFLOW policy in force (WRAP by default,
//! SAT, or FAIL, which answers nil and writes nothing).

use bytes::Bytes;

use super::{bit_at, bit_offset, edit_bits, line, set_bit_in};
use crate::cmd::keys::{lookup_read, propagate};
use crate::cmd::{is, parse_i64};
use crate::node::{ClientId, Node};
use crate::reply::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy)]
enum Action {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

struct Op {
    action: Action,
    field: Field,
    overflow: Overflow,
}

pub(super) fn bitfield(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    run(node, args, false)
}

pub(super) fn bitfield_ro(node: &mut Node, _client: ClientId, args: &[Bytes]) -> Reply {
    run(node, args, true)
}

fn run(node: &mut Node, args: &[Bytes], read_only: bool) -> Reply {
    let ops = match parse(args) {
        Ok(ops) => ops,
        Err(e) => return e,
    };
    let highest = ops
        .iter()
        .filter(|op| !matches!(op.action, Action::Get))
        .map(|op| op.field.offset + u64::from(op.field.bits) - 1)
        .max();
    let Some(highest) = highest else {
        return read(node, &args[1], &ops);
    };
    if read_only {
        return Reply::err("BITFIELD_RO only supports the GET subcommand");
    }
    let edit = |bytes: &mut [u8]| {
        let mut changes = 0;
        let replies: Vec<Reply> = ops
            .iter()
            .map(|op| apply(bytes, op, &mut changes))
            .collect();
        (replies, changes)
    };
    let ((replies, changes), _grew) = match edit_bits(node, &args[1], highest, edit) {
        Ok(done) => done,
        Err(e) => return e,
    };
    // Redis creates or grows the key even when every write failed, but then counts no change
    // and propagates nothing; so do we.
    if changes > 0 {
        propagate(node, line(args));
    }
    Reply::Array(replies)
}

/// Only GETs: a missing key reads as zeros and is not created.
fn read(node: &mut Node, key: &[u8], ops: &[Op]) -> Reply {
    let bytes = match lookup_read(node, key) {
        None => Vec::new(),
        Some(entry) => match entry.value.as_string() {
            Some(bytes) => bytes.to_vec(),
            None => return Reply::wrong_type(),
        },
    };
    Reply::Array(ops.iter().map(|op| reply(get(&bytes, op.field))).collect())
}

fn parse(args: &[Bytes]) -> Result<Vec<Op>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let (word, remaining) = (&args[j], args.len() - j - 1);
        let takes_value = (is(word, "set") || is(word, "incrby")) && remaining >= 3;
        let get = is(word, "get") && remaining >= 2;
        if is(word, "overflow") && remaining >= 1 {
            overflow = parse_overflow(&args[j + 1])?;
            j += 2;
            continue;
        }
        if !(takes_value || get) {
            return Err(Reply::syntax_error());
        }
        let (signed, bits) = parse_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let field = Field {
            signed,
            bits,
            offset,
        };
        let action = if !takes_value {
            Action::Get
        } else {
            let value = parse_i64(&args[j + 3]).ok_or_else(Reply::not_integer)?;
            if is(word, "set") {
                Action::Set(value)
            } else {
                Action::IncrBy(value)
            }
        };
        ops.push(Op {
            action,
            field,
            overflow,
        });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

fn parse_overflow(arg: &[u8]) -> Result<Overflow, Reply> {
    [
        ("wrap", Overflow::Wrap),
        ("sat", Overflow::Sat),
        ("fail", Overflow::Fail),
    ]
    .into_iter()
    .find(|(name, _)| is(arg, name))
    .map(|(_, o)| o)
    .ok_or_else(|| Reply::err("Invalid OVERFLOW type specified"))
}

/// `i1`..`i64` or `u1`..`u63`.
fn parse_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let error = || {
        Reply::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(error()),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(&arg[1..]) {
        Some(bits @ 1..) if bits <= max => Ok((signed, bits as u32)),
        _ => Err(error()),
    }
}

/// The field's bits, most significant first, as an unsigned number.
fn get_raw(bytes: &[u8], field: Field) -> u64 {
    (0..u64::from(field.bits)).fold(0, |v, i| {
        (v << 1) | u64::from(bit_at(bytes, field.offset + i))
    })
}

/// The field's value, sign-extended for a signed field.
fn get(bytes: &[u8], field: Field) -> i128 {
    let raw = get_raw(bytes, field);
    let bits = field.bits;
    if field.signed && bits < 64 && raw & (1 << (bits - 1)) != 0 {
        i128::from(raw) - (1i128 << bits)
    } else if field.signed {
        i128::from(raw as i64)
    } else {
        i128::from(raw)
    }
}

fn put(bytes: &mut [u8], field: Field, value: i128) {
    let raw = value as u64;
    for i in 0..field.bits {
        let on = (raw >> (field.bits - 1 - i)) & 1 == 1;
        set_bit_in(bytes, field.offset + u64::from(i), on);
    }
}

/// Every field fits an i64: unsigned ones have at most 63 bits.
fn reply(value: i128) -> Reply {
    Reply::Integer(value as i64)
}

/// `value` stored into the field under `overflow`: `None` when FAIL refuses it.
fn fit(field: Field, value: i128, overflow: Overflow) -> Option<i128> {
    let bits = field.bits;
    let (min, max) = if field.signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if (min..=max).contains(&value) {
        return Some(value);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if value > max { max } else { min }),
        // Two's complement truncation to the field's width.
        Overflow::Wrap => {
            let modulus = 1i128 << bits;
            let low = value.rem_euclid(modulus);
            Some(if low > max { low - modulus } else { low })
        }
    }
}

/// Runs one op on the string; counts the writes that happened.
fn apply(bytes: &mut [u8], op: &Op, changes: &mut u32) -> Reply {
    let field = op.field;
    let old = get(bytes, field);
    let (target, answer_old) = match op.action {
        Action::Get => return reply(old),
        // An unsigned SET takes the argument's 64-bit pattern, as Redis does.
        Action::Set(v) if !field.signed => (i128::from(v as u64), true),
        Action::Set(v) => (i128::from(v), true),
        Action::IncrBy(by) => (old + i128::from(by), false),
    };
    let Some(new) = fit(field, target, op.overflow) else {
        return Reply::Nil;
    };
    put(bytes, field, new);
    *changes += 1;
    reply(if answer_old { old } else { new })
}
