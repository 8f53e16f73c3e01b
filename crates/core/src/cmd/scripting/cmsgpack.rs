//! The `cmsgpack` library Redis ships (lua-cmsgpack): `cmsgpack.pack(...)` and
//! `cmsgpack.unpack(s)`. Integral numbers take the smallest integer form, others a float32
//! when exact, else a float64; a table whose keys are 1..n is an array, any other a map;
//! tables nested deeper than 16 levels pack as nil.

use mlua::{Lua, MultiValue, Table, Value};

use super::api::lua_error;

const MAX_NESTING: usize = 16;

/// The `cmsgpack` table.
pub(super) fn cmsgpack_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(lua_error(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(v, 0, &mut out);
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut reader = Unpacker {
                lua,
                data: &bytes,
                at: 0,
            };
            let mut values = MultiValue::new();
            while reader.at < bytes.len() {
                let v = reader.value().map_err(|e| lua_error(lua, e))?;
                values.push_back(v);
            }
            Ok(values)
        })?,
    )?;
    Ok(t)
}

fn pack(v: &Value, depth: usize, out: &mut Vec<u8>) {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => int(*n, out),
        Value::Number(n) => number(*n, out),
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) if depth < MAX_NESTING => table(t, depth + 1, out),
        _ => out.push(0xc0),
    }
}

fn number(n: f64, out: &mut Vec<u8>) {
    if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        return int(n as i64, out);
    }
    if f64::from(n as f32) == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        match n {
            0..=0x7f => out.push(n as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => header(out, 0xcd, &(n as u16).to_be_bytes()),
            0x1_0000..=0xffff_ffff => header(out, 0xce, &(n as u32).to_be_bytes()),
            _ => header(out, 0xcf, &(n as u64).to_be_bytes()),
        }
    } else {
        match n {
            -32..=-1 => out.push(n as i8 as u8),
            -128..=-33 => out.extend_from_slice(&[0xd0, n as i8 as u8]),
            -32768..=-129 => header(out, 0xd1, &(n as i16).to_be_bytes()),
            -2_147_483_648..=-32769 => header(out, 0xd2, &(n as i32).to_be_bytes()),
            _ => header(out, 0xd3, &n.to_be_bytes()),
        }
    }
}

fn header(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => header(out, 0xda, &(len as u16).to_be_bytes()),
        _ => header(out, 0xdb, &(len as u32).to_be_bytes()),
    }
    out.extend_from_slice(s);
}

/// `(tag for < 16, 16-bit tag, 32-bit tag)` and the count.
fn collection_header(out: &mut Vec<u8>, tags: (u8, u8, u8), count: usize) {
    match count {
        0..=15 => out.push(tags.0 | count as u8),
        16..=0xffff => header(out, tags.1, &(count as u16).to_be_bytes()),
        _ => header(out, tags.2, &(count as u32).to_be_bytes()),
    }
}

fn table(t: &Table, depth: usize, out: &mut Vec<u8>) {
    let pairs: Vec<(Value, Value)> = t.pairs().flatten().collect();
    let index = |k: &Value| match k {
        Value::Integer(n) if *n >= 1 => Some(*n as usize),
        Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
        _ => None,
    };
    let indexes: Option<Vec<usize>> = pairs.iter().map(|(k, _)| index(k)).collect();
    let is_array = indexes.is_some_and(|ix| ix.iter().max().copied().unwrap_or(0) == ix.len());
    if is_array {
        collection_header(out, (0x90, 0xdc, 0xdd), pairs.len());
        for i in 1..=pairs.len() {
            pack(&t.raw_get::<Value>(i).unwrap_or(Value::Nil), depth, out);
        }
    } else {
        collection_header(out, (0x80, 0xde, 0xdf), pairs.len());
        for (k, v) in &pairs {
            pack(k, depth, out);
            pack(v, depth, out);
        }
    }
}

struct Unpacker<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
}

const MISSING: &str = "Missing bytes in input.";
const BAD: &str = "Bad data format in input.";

impl Unpacker<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let bytes = self.data.get(self.at..self.at + n).ok_or(MISSING)?;
        self.at += n;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, &'static str> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn value(&mut self) -> Result<Value, &'static str> {
        let tag = self.take(1)?[0];
        let num = |n: f64| Ok(Value::Number(n));
        match tag {
            0x00..=0x7f => num(f64::from(tag)),
            0xe0..=0xff => num(f64::from(tag as i8)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xcc => num(self.uint(1)? as f64),
            0xcd => num(self.uint(2)? as f64),
            0xce => num(self.uint(4)? as f64),
            0xcf => num(self.uint(8)? as f64),
            0xd0 => num(f64::from(self.uint(1)? as u8 as i8)),
            0xd1 => num(f64::from(self.uint(2)? as u16 as i16)),
            0xd2 => num(f64::from(self.uint(4)? as u32 as i32)),
            0xd3 => num(self.uint(8)? as i64 as f64),
            0xca => num(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => num(f64::from_bits(self.uint(8)?)),
            0xa0..=0xbf => self.bytes(usize::from(tag & 0x1f)),
            0xd9 | 0xc4 => {
                let n = self.uint(1)? as usize;
                self.bytes(n)
            }
            0xda | 0xc5 => {
                let n = self.uint(2)? as usize;
                self.bytes(n)
            }
            0xdb | 0xc6 => {
                let n = self.uint(4)? as usize;
                self.bytes(n)
            }
            0x90..=0x9f => self.array(usize::from(tag & 0x0f)),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n)
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n)
            }
            0x80..=0x8f => self.map(usize::from(tag & 0x0f)),
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n)
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n)
            }
            _ => Err(BAD),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<Value, &'static str> {
        let lua = self.lua;
        let s = lua.create_string(self.take(n)?).map_err(|_| BAD)?;
        Ok(Value::String(s))
    }

    fn array(&mut self, n: usize) -> Result<Value, &'static str> {
        let t = self.lua.create_table().map_err(|_| BAD)?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v).map_err(|_| BAD)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> Result<Value, &'static str> {
        let t = self.lua.create_table().map_err(|_| BAD)?;
        for _ in 0..n {
            let (k, v) = (self.value()?, self.value()?);
            if !k.is_nil() {
                t.raw_set(k, v).map_err(|_| BAD)?;
            }
        }
        Ok(Value::Table(t))
    }
}
