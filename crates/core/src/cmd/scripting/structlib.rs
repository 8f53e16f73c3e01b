//! The `struct` library Redis ships (Roberto Ierusalimschy's struct 0.2): `struct.pack`,
//! `struct.unpack` and `struct.size` over a format of `<`/`>` (endianness), `!n` (maximum
//! alignment, 1 unless set), `x` (padding), `b B h H l L T i[n] I[n]` (integers of 1, 1, 2,
//! 2, 8, 8, 8 and n bytes), `f d` (floats), `s` (zero-terminated string), `c[n]` (n chars).

use mlua::{Lua, MultiValue, Value};

use super::api::lua_error;

/// The `struct` table.
pub(super) fn struct_table(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set(
        "size",
        lua.create_function(|lua, fmt: mlua::String| {
            let items = parse(&fmt.as_bytes(), "size").map_err(|e| lua_error(lua, &e))?;
            let mut size = 0;
            for item in &items {
                if item.kind == b's' || (item.kind == b'c' && item.size == 0) {
                    let option = if item.kind == b's' { "s" } else { "c0" };
                    let msg =
                        format!("bad argument #1 to 'size' (option '{option}' has no fixed size)");
                    return Err(lua_error(lua, &msg));
                }
                size += item.padding(size) + item.size;
            }
            Ok(size)
        })?,
    )?;
    Ok(t)
}

/// One format item with the state in force where it appears.
struct Item {
    kind: u8,
    size: usize,
    little: bool,
    align: usize,
}

impl Item {
    /// Padding before this item at offset `at`.
    fn padding(&self, at: usize) -> usize {
        let align = self.size.min(self.align);
        if align <= 1 || matches!(self.kind, b'c' | b's' | b'x') {
            return 0;
        }
        (align - at % align) % align
    }
}

/// The items of a format, or the error `function` raises for it.
fn parse(fmt: &[u8], function: &str) -> Result<Vec<Item>, String> {
    let (mut little, mut align, mut items, mut i) = (true, 1, Vec::new(), 0);
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        let digits = fmt[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let number: Option<usize> = std::str::from_utf8(&fmt[i..i + digits])
            .ok()
            .and_then(|d| d.parse().ok());
        let size = match c {
            b' ' => continue,
            b'<' => {
                little = true;
                continue;
            }
            b'>' => {
                little = false;
                continue;
            }
            b'!' => {
                i += digits;
                align = number.unwrap_or(8);
                continue;
            }
            b'x' | b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b's' => 0,
            b'i' | b'I' | b'c' => {
                i += digits;
                let n = number.unwrap_or(if c == b'c' { 1 } else { 4 });
                if c != b'c' && n > 8 {
                    let msg = format!("integral size {n} is larger than limit of 8");
                    return Err(format!("bad argument #1 to '{function}' ({msg})"));
                }
                n
            }
            _ => {
                let c = c as char;
                return Err(format!(
                    "bad argument #1 to '{function}' (invalid format option '{c}')"
                ));
            }
        };
        items.push(Item {
            kind: c,
            size,
            little,
            align,
        });
    }
    Ok(items)
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let fail = |e: String| lua_error(lua, &e);
    let fmt = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return Err(fail("bad argument #1 to 'pack' (string expected)".into())),
    };
    let mut values = args.iter().skip(1);
    let mut out = Vec::new();
    let mut position = 1;
    for item in parse(&fmt, "pack").map_err(fail)? {
        out.resize(out.len() + item.padding(out.len()), 0);
        let mut next = || {
            position += 1;
            values.next().cloned().unwrap_or(Value::Nil)
        };
        match item.kind {
            b'x' => out.push(0),
            b'f' => put(
                &mut out,
                &(number(&next()) as f32).to_le_bytes(),
                item.little,
            ),
            b'd' => put(&mut out, &number(&next()).to_le_bytes(), item.little),
            b's' | b'c' => {
                let v = next();
                let bytes = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Number(_) | Value::Integer(_) => {
                        super::convert::format_g(number(&v), 14).into_bytes()
                    }
                    _ => return Err(fail("bad argument to 'pack' (string expected)".into())),
                };
                if item.kind == b's' {
                    out.extend_from_slice(&bytes);
                    out.push(0);
                    continue;
                }
                let size = if item.size == 0 {
                    bytes.len()
                } else {
                    item.size
                };
                if bytes.len() < size {
                    // Redis's struct names the argument after this one.
                    let arg = position + 1;
                    let msg = format!("bad argument #{arg} to 'pack' (string too short)");
                    return Err(fail(msg));
                }
                out.extend_from_slice(&bytes[..size]);
            }
            _ => {
                let n = number(&next());
                let bits = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                put(&mut out, &bits.to_le_bytes()[..item.size], item.little);
            }
        }
    }
    lua.create_string(&out)
}

/// Appends little-endian `bytes` in the item's byte order.
fn put(out: &mut Vec<u8>, bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

fn unpack(
    lua: &Lua,
    (fmt, data, start): (mlua::String, mlua::String, Option<f64>),
) -> mlua::Result<MultiValue> {
    let fail = |e: &str| lua_error(lua, e);
    let data = data.as_bytes();
    let mut at = start.map_or(0, |s| (s as usize).saturating_sub(1));
    let mut values = MultiValue::new();
    for item in parse(&fmt.as_bytes(), "unpack").map_err(|e| fail(&e))? {
        at += item.padding(at);
        let mut size = item.size;
        if item.kind == b'c' && size == 0 {
            // The length is the number unpacked just before.
            size = match values.pop_back() {
                Some(Value::Number(n)) => n as usize,
                Some(Value::Integer(n)) => n as usize,
                _ => return Err(fail("format 'c0' needs a previous size")),
            };
        }
        if item.kind == b's' {
            let end = data[at.min(data.len())..].iter().position(|&b| b == 0);
            let end = end.ok_or_else(|| fail("unfinished string in data"))?;
            values.push_back(Value::String(lua.create_string(&data[at..at + end])?));
            at += end + 1;
            continue;
        }
        let bytes = data
            .get(at..at + size)
            .ok_or_else(|| fail("bad argument #2 to 'unpack' (data string too short)"))?;
        at += size;
        let mut le: Vec<u8> = bytes.to_vec();
        if !item.little {
            le.reverse();
        }
        let v = match item.kind {
            b'x' => continue,
            b'c' => Value::String(lua.create_string(bytes)?),
            b'f' => Value::Number(f64::from(f32::from_le_bytes(
                le[..4].try_into().expect("4"),
            ))),
            b'd' => Value::Number(f64::from_le_bytes(le[..8].try_into().expect("8"))),
            kind => {
                let raw = le
                    .iter()
                    .rev()
                    .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
                let signed =
                    kind.is_ascii_lowercase() && size < 8 && raw >> (size * 8 - 1) & 1 == 1;
                let n = if signed {
                    (raw | (u64::MAX << (size * 8))) as i64 as f64
                } else if kind.is_ascii_lowercase() {
                    raw as i64 as f64
                } else {
                    raw as f64
                };
                Value::Number(n)
            }
        };
        values.push_back(v);
    }
    values.push_back(Value::Number((at + 1) as f64));
    Ok(values)
}
