//! The `cjson` library Redis ships (lua-cjson 2.1): `cjson.encode`, `cjson.decode` and
//! `cjson.null`, with its default settings: numbers printed as `%.14g`, `/` escaped, a table
//! is an array when its keys are the integers 1..n (holes become `null`, unless the array is
//! excessively sparse), an empty table is `{}`, nesting stops at 1000 levels.
//! Its configuration functions (`encode_max_depth`, …) are not provided.

use mlua::{LightUserData, Lua, Table, Value};

use super::api::lua_error;

const MAX_DEPTH: usize = 1000;
/// lua-cjson's `encode_sparse_ratio` and `encode_sparse_safe` defaults.
const SPARSE_RATIO: usize = 2;
const SPARSE_SAFE: usize = 10;

/// The `cjson` table.
pub(super) fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", null())?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, 0, &mut out).map_err(|e| lua_error(lua, &e))?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let bytes = text.as_bytes();
            let mut parser = Parser {
                lua,
                text: &bytes,
                at: 0,
                depth: 0,
            };
            parser.document().map_err(|e| lua_error(lua, &e))
        })?,
    )?;
    Ok(t)
}

/// `cjson.null`: a NULL light userdata.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // mlua hands integral numbers over as integers; lua-cjson prints every number the same.
        Value::Integer(n) => out.extend_from_slice(number(*n as f64)?.as_bytes()),
        Value::Number(n) => out.extend_from_slice(number(*n)?.as_bytes()),
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => table(t, depth + 1, out)?,
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

fn number(n: f64) -> Result<String, String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    Ok(super::convert::format_g(n, 14))
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn table(t: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("Cannot serialise, excessive nesting ({depth})"));
    }
    let pairs: Vec<(Value, Value)> = t.pairs().flatten().collect();
    match array_length(&pairs)? {
        Some(len) => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let item = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
                encode(&item, depth, out)?;
            }
            out.push(b']');
        }
        None => {
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match k {
                    Value::String(s) => string(&s.as_bytes(), out),
                    Value::Number(n) => string(number(*n)?.as_bytes(), out),
                    Value::Integer(n) => string(number(*n as f64)?.as_bytes(), out),
                    other => {
                        let kind = other.type_name();
                        return Err(format!(
                            "Cannot serialise {kind}: table key must be a number or string"
                        ));
                    }
                }
                out.push(b':');
                encode(v, depth, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// `Some(n)` for an array of length n (keys all integers ≥ 1, n ≥ 1), `None` for an object.
fn array_length(pairs: &[(Value, Value)]) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    for (k, _) in pairs {
        let index = match k {
            Value::Integer(n) if *n >= 1 => *n as usize,
            Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => *n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
    }
    if max > pairs.len() * SPARSE_RATIO && max > SPARSE_SAFE {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok((max > 0).then_some(max))
}

/// A JSON text to Lua values.
struct Parser<'a> {
    lua: &'a Lua,
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Value, String> {
        let v = self.value("Expected value")?;
        self.skip_space();
        if self.at < self.text.len() {
            return Err(self.found("Expected the end"));
        }
        Ok(v)
    }

    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    /// lua-cjson's "<expected> but found <token> at character <n>".
    fn found(&self, expected: &str) -> String {
        let token = match self.text.get(self.at) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            Some(b't' | b'f') => "T_BOOLEAN",
            Some(b'n') => "T_NULL",
            Some(_) => "invalid token",
        };
        format!("{expected} but found {token} at character {}", self.at + 1)
    }

    fn value(&mut self, expected: &str) -> Result<Value, String> {
        self.skip_space();
        let rest = &self.text[self.at.min(self.text.len())..];
        let lua = self.lua;
        let lua_err = |e: mlua::Error| e.to_string();
        match rest.first() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(
                lua.create_string(self.string()?).map_err(lua_err)?,
            )),
            Some(b't') if rest.starts_with(b"true") => self.word(4, Value::Boolean(true)),
            Some(b'f') if rest.starts_with(b"false") => self.word(5, Value::Boolean(false)),
            Some(b'n') if rest.starts_with(b"null") => self.word(4, null()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.found(expected)),
        }
    }

    fn word(&mut self, len: usize, v: Value) -> Result<Value, String> {
        self.at += len;
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        let numeric = |b: &u8| b"+-.eE0123456789".contains(b);
        while self.text.get(self.at).is_some_and(numeric) {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.at = start;
                Err(format!(
                    "Expected value but found invalid number at character {}",
                    start + 1
                ))
            }
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let at = self.at;
            return Err(format!(
                "Found too many nested data structures ({}) at character {at}",
                self.depth
            ));
        }
        self.at += 1;
        Ok(())
    }

    fn array(&mut self) -> Result<Value, String> {
        self.nest()?;
        let t = self.lua.create_table().map_err(|e| e.to_string())?;
        self.skip_space();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        for i in 1.. {
            let v = self.value("Expected value")?;
            t.raw_set(i, v).map_err(|e| e.to_string())?;
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => break,
                _ => return Err(self.found("Expected comma or array end")),
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    fn object(&mut self) -> Result<Value, String> {
        self.nest()?;
        let t = self.lua.create_table().map_err(|e| e.to_string())?;
        self.skip_space();
        if self.text.get(self.at) == Some(&b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.skip_space();
            if self.text.get(self.at) != Some(&b'"') {
                return Err(self.found("Expected object key string"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.text.get(self.at) != Some(&b':') {
                return Err(self.found("Expected colon"));
            }
            self.at += 1;
            let v = self.value("Expected value")?;
            let key = self.lua.create_string(&key).map_err(|e| e.to_string())?;
            t.raw_set(key, v).map_err(|e| e.to_string())?;
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => break,
                _ => return Err(self.found("Expected comma or object end")),
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    /// A string token (at its opening quote), escapes decoded (`\u` to UTF-8).
    fn string(&mut self) -> Result<Vec<u8>, String> {
        let start = self.at;
        let invalid = || {
            format!(
                "Expected value but found invalid token at character {}",
                start + 1
            )
        };
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else {
                return Err(invalid());
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.text.get(self.at) else {
                        return Err(invalid());
                    };
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => self.unicode(&mut out).ok_or_else(invalid)?,
                        _ => return Err(invalid()),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    /// `\uXXXX` (and a following low surrogate) as UTF-8.
    fn unicode(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let hex = |p: &mut Self| -> Option<u32> {
            let digits = std::str::from_utf8(p.text.get(p.at..p.at + 4)?).ok()?;
            p.at += 4;
            u32::from_str_radix(digits, 16).ok()
        };
        let mut code = hex(self)?;
        if (0xD800..0xDC00).contains(&code) {
            if self.text.get(self.at..self.at + 2)? != b"\\u" {
                return None;
            }
            self.at += 2;
            let low = hex(self)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        let c = char::from_u32(code)?;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Some(())
    }
}
