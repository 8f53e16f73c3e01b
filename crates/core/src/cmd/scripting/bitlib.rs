//! The `bit` library Redis ships (Lua BitOp 1.0): 32-bit operations on Lua numbers.
//!
//! Arguments become 32-bit integers the way BitOp converts them (rounded to the nearest
//! integer, then taken modulo 2^32), and results are signed 32-bit numbers; shift counts use
//! their low 5 bits.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

type Unary = fn(u32) -> u32;
type Binary = fn(u32, u32) -> u32;

/// The `bit` table.
pub(super) fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |x| x),
        ("bnot", |x| !x),
        ("bswap", u32::swap_bytes),
    ];
    for (name, op) in unary {
        let f = lua.create_function(move |lua, x: Value| Ok(signed(op(arg(lua, &x, 1, name)?))))?;
        t.raw_set(name, f)?;
    }
    let folds: [(&str, Binary); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        let f = lua.create_function(move |lua, args: Variadic<Value>| {
            let mut acc = arg(lua, args.first().unwrap_or(&Value::Nil), 1, name)?;
            for (i, x) in args.iter().enumerate().skip(1) {
                acc = op(acc, arg(lua, x, i + 1, name)?);
            }
            Ok(signed(acc))
        })?;
        t.raw_set(name, f)?;
    }
    let shifts: [(&str, Binary); 5] = [
        ("lshift", |x, n| x << n),
        ("rshift", |x, n| x >> n),
        ("arshift", |x, n| ((x as i32) >> n) as u32),
        ("rol", u32::rotate_left),
        ("ror", u32::rotate_right),
    ];
    for (name, op) in shifts {
        let f = lua.create_function(move |lua, (x, n): (Value, Value)| {
            Ok(signed(op(
                arg(lua, &x, 1, name)?,
                arg(lua, &n, 2, name)? & 31,
            )))
        })?;
        t.raw_set(name, f)?;
    }
    t.raw_set("tohex", lua.create_function(tohex)?)?;
    Ok(t)
}

/// `bit.tohex(x [, n])`: the low `|n|` hex digits (8 by default), upper case when `n < 0`.
fn tohex(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    let x = arg(lua, args.front().unwrap_or(&Value::Nil), 1, "tohex")?;
    let n = match args.get(1) {
        None | Some(Value::Nil) => 8,
        Some(v) => arg(lua, v, 2, "tohex")? as i32,
    };
    let (digits, upper) = (n.unsigned_abs().min(8) as usize, n < 0);
    if digits == 0 {
        return Ok(String::new());
    }
    let masked = if digits == 8 {
        x
    } else {
        x & ((1u32 << (4 * digits)) - 1)
    };
    let text = format!("{masked:0digits$x}");
    Ok(if upper { text.to_uppercase() } else { text })
}

/// A number argument as BitOp reads it, or its error.
fn arg(lua: &Lua, v: &Value, position: usize, name: &str) -> mlua::Result<u32> {
    let parsed = match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse().ok()),
        _ => None,
    };
    let Some(n) = parsed else {
        let got = v.type_name();
        let msg = format!("bad argument #{position} to '{name}' (number expected, got {got})");
        return Err(super::api::lua_error(lua, &msg));
    };
    // BitOp adds 2^52 + 2^51 and keeps the low word: round to nearest even, modulo 2^32.
    Ok((n.round_ties_even() as i64) as u32)
}

fn signed(x: u32) -> f64 {
    f64::from(x as i32)
}
