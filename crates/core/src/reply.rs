//! Replies as values, independent of the wire protocol version.
//!
//! Command handlers build a [`Reply`]; the codec in `clusterlab-net` encodes it as RESP2 or RESP3
//! depending on what the connection negotiated with `HELLO` (maps flatten to arrays in RESP2,
//! null is `$-1`/`*-1` in RESP2 and `_` in RESP3, verbatim strings become bulk strings).

use bytes::Bytes;

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR …`; the text includes its code (`ERR`, `MOVED`, `CLUSTERDOWN`, …).
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// Null bulk string (`$-1` / `_`).
    Nil,
    /// Null array (`*-1` / `_`).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map; RESP2 flattens it to an array of key, value, key, value, ….
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; RESP2 sends an array.
    Set(Vec<Reply>),
    /// RESP3 verbatim string with a 3-letter format (`txt`); RESP2 sends a bulk string.
    Verbatim(&'static str, String),
    /// RESP3 double; RESP2 sends it as a bulk string.
    Double(f64),
    /// RESP3 boolean; RESP2 sends `:1` / `:0`.
    Bool(bool),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// An error whose text already starts with its code.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// `-ERR <text>`.
    pub fn err(text: impl AsRef<str>) -> Reply {
        Reply::Error(format!("ERR {}", text.as_ref()))
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    pub fn bulk_str(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    pub fn simple(text: impl Into<String>) -> Reply {
        Reply::Simple(text.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// `ERR wrong number of arguments for '<name>' command`.
    pub fn wrong_arity(name: &str) -> Reply {
        Reply::err(format!("wrong number of arguments for '{name}' command"))
    }

    pub fn syntax_error() -> Reply {
        Reply::err("syntax error")
    }

    /// What every command says about a key of another type than it works on.
    pub fn wrong_type() -> Reply {
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    pub fn not_integer() -> Reply {
        Reply::err("value is not an integer or out of range")
    }
}
