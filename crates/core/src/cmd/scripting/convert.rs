//! Values crossing between Lua and Redis, both ways, as Redis 7.0 converts them.
//!
//! Command reply → Lua (what `redis.call` returns), by the RESP version `redis.setresp` chose:
//! integers become numbers, bulk strings strings, a nil reply `false` (RESP2) or `nil` (RESP3),
//! status and error replies the tables `{ok=…}` / `{err=…}`; under RESP3 maps, sets, doubles
//! and booleans keep their kind (`{map=…}`, `{set=…}`, `{double=…}`, `true`/`false`).
//!
//! Lua → reply (what the script returns): numbers truncate to integers, `true` is 1 and
//! `false` nil (RESP2 scripts), tables are arrays cut at the first nil unless they hold one of
//! the special fields, anything else is nil.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::reply::Reply;

/// A command's reply as the Lua value a script sees.
pub(crate) fn reply_to_lua(lua: &Lua, reply: &Reply, resp: u8) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Integer(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Verbatim(format, text) if resp == 3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", *format)?;
            inner.raw_set("string", text.as_str())?;
            single_field(lua, "verbatim_string", Value::Table(inner))?
        }
        Reply::Verbatim(_, text) => Value::String(lua.create_string(text)?),
        Reply::Nil | Reply::NilArray if resp == 3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Simple(s) => single_field(lua, "ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => error_table(lua, e)?,
        Reply::Array(items) => array(lua, items, resp)?,
        Reply::Set(items) if resp == 3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            single_field(lua, "set", Value::Table(set))?
        }
        Reply::Set(items) => array(lua, items, resp)?,
        Reply::Map(pairs) if resp == 3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
            }
            single_field(lua, "map", Value::Table(map))?
        }
        Reply::Map(pairs) => {
            let flat: Vec<Reply> = pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect();
            array(lua, &flat, resp)?
        }
        Reply::Double(d) if resp == 3 => single_field(lua, "double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(format_g17(*d))?),
        Reply::Bool(b) if resp == 3 => Value::Boolean(*b),
        Reply::Bool(b) => Value::Number(i64::from(*b) as f64),
    })
}

fn array(lua: &Lua, items: &[Reply], resp: u8) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(t))
}

fn single_field(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

/// `{err="CODE message"}` from an error text (a leading `-` dropped): a text of one word
/// gets the code `ERR`, and trailing line breaks go, as Redis stores it.
pub(crate) fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let text = text.strip_prefix('-').unwrap_or(text);
    let text = text.trim_end_matches(['\r', '\n']);
    let text = if text.contains(' ') {
        text.to_string()
    } else {
        format!("ERR {text}")
    };
    single_field(lua, "err", Value::String(lua.create_string(text)?))
}

/// A script's return value as the reply its caller gets. `resp` is the script's
/// `redis.setresp` version: it decides how booleans go out.
pub(crate) fn lua_to_reply(value: &Value, resp: u8) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp == 3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Number(n) => Reply::Integer(*n as i64),
        Value::Integer(n) => Reply::Integer(*n),
        Value::Table(t) => table_to_reply(t, resp),
        _ => Reply::Nil,
    }
}

fn table_to_reply(t: &Table, resp: u8) -> Reply {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        return Reply::Error(one_line(&e.to_string_lossy()));
    }
    if let Value::String(s) = field("ok") {
        return Reply::Simple(one_line(&s.to_string_lossy()));
    }
    match field("double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(d) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        // No big-number reply kind here: RESP2's bulk string form (see the README).
        return Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Table(m) = field("map") {
        let pairs = m.pairs::<Value, Value>().flatten();
        let pairs = pairs.map(|(k, v)| (lua_to_reply(&k, resp), lua_to_reply(&v, resp)));
        return Reply::Map(pairs.collect());
    }
    if let Value::Table(s) = field("set") {
        let members = s.pairs::<Value, Value>().flatten();
        return Reply::Set(members.map(|(k, _)| lua_to_reply(&k, resp)).collect());
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i).unwrap_or(Value::Nil) {
            Value::Nil => break,
            v => items.push(lua_to_reply(&v, resp)),
        }
    }
    Reply::Array(items)
}

/// Status and error texts go out on one line: Redis turns CR and LF into spaces.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// A number as `%.17g` prints it: how Redis turns a Lua number argument of `redis.call`
/// into a string, and a RESP2 double into a bulk string.
pub(crate) fn format_g17(d: f64) -> String {
    format_g(d, 17)
}

/// A number as C's `%.<precision>g` prints it.
pub(crate) fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    let scientific = format!("{d:.*e}", precision - 1);
    let (mantissa, exponent) = scientific.split_once('e').expect("has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    if (-4..precision as i32).contains(&exponent) {
        let fixed = format!("{:.*}", (precision as i32 - 1 - exponent) as usize, d);
        trim_zeros(&fixed).to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs())
    }
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}
