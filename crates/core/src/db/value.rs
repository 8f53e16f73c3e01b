//! Stored values: strings, lists, hashes, sets, sorted sets and streams, owned ([`Value`]) or borrowed
//! from the keyspace ([`ValueRef`]), with the names `TYPE` and `OBJECT ENCODING` report.
//!
//! Strings live packed inside the key's record (see `Record`); the collections live in the
//! keyspace's collection slab and the record holds their slot number, so a string key costs
//! nothing more than before and a collection key a few bytes more.

use bytes::Bytes;

use super::{Hash, List, Set, Stream, ZSet};
use crate::cmd::parse_i64;

/// Redis keeps strings up to this long in one allocation with their header (`embstr`).
const EMBSTR_MAX_BYTES: usize = 44;

/// A stored value, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(Bytes),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is several times the other types', and every collection
    /// slot in the keyspace's slab is as large as the largest variant.
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` and `SCAN … TYPE` use.
    pub fn type_name(&self) -> &'static str {
        self.view().type_name()
    }

    pub fn view(&self) -> ValueRef<'_> {
        match self {
            Value::String(s) => ValueRef::String(s),
            Value::List(l) => ValueRef::List(l),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::Set(s) => ValueRef::Set(s),
            Value::ZSet(z) => ValueRef::ZSet(z),
            Value::Stream(s) => ValueRef::Stream(s),
        }
    }
}

/// A collection value, as the keyspace's slab holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Collection {
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is several times the other types', and every collection
    /// slot in the keyspace's slab is as large as the largest variant.
    Stream(Box<Stream>),
}

impl Collection {
    pub fn view(&self) -> ValueRef<'_> {
        match self {
            Collection::List(l) => ValueRef::List(l),
            Collection::Hash(h) => ValueRef::Hash(h),
            Collection::Set(s) => ValueRef::Set(s),
            Collection::ZSet(z) => ValueRef::ZSet(z),
            Collection::Stream(s) => ValueRef::Stream(s),
        }
    }

    /// What the collection would cost Redis (its object and encoding; see
    /// `dataset_value_bytes`), for the running `used_memory` estimate.
    pub fn memory_bytes(&self) -> usize {
        crate::cmd::server::memory::dataset_value_bytes(self.view(), false)
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Collection::List(l) => l.is_empty(),
            Collection::Hash(h) => h.is_empty(),
            Collection::Set(s) => s.is_empty(),
            Collection::ZSet(z) => z.is_empty(),
            // A stream may be stored empty (XDEL and XTRIM keep the key).
            Collection::Stream(_) => false,
        }
    }
}

/// A stored value, borrowed from the keyspace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    String(&'a [u8]),
    List(&'a List),
    Hash(&'a Hash),
    Set(&'a Set),
    ZSet(&'a ZSet),
    Stream(&'a Stream),
}

impl<'a> ValueRef<'a> {
    pub fn type_name(self) -> &'static str {
        match self {
            ValueRef::String(_) => "string",
            ValueRef::List(_) => "list",
            ValueRef::Hash(_) => "hash",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
            ValueRef::Stream(_) => "stream",
        }
    }

    /// `OBJECT ENCODING`'s answer. For strings it follows the value alone (`int`, `embstr`,
    /// `raw`); Redis also says `raw` for a short string that APPEND or SETRANGE built.
    pub fn encoding(self) -> &'static str {
        match self {
            ValueRef::String(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
            ValueRef::String(s) if s.len() <= EMBSTR_MAX_BYTES => "embstr",
            ValueRef::String(_) => "raw",
            ValueRef::List(l) => l.encoding(),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
            ValueRef::Stream(s) => s.encoding(),
        }
    }

    /// The string's bytes, or `None` for any other type (the caller answers `WRONGTYPE`).
    pub fn as_string(self) -> Option<&'a [u8]> {
        match self {
            ValueRef::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            ValueRef::String(s) => Value::String(Bytes::copy_from_slice(s)),
            ValueRef::List(l) => Value::List(l.clone()),
            ValueRef::Hash(h) => Value::Hash(h.clone()),
            ValueRef::Set(s) => Value::Set(s.clone()),
            ValueRef::ZSet(z) => Value::ZSet(z.clone()),
            ValueRef::Stream(s) => Value::Stream(Box::new(s.clone())),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        value.view()
    }
}

impl Value {
    /// A string's bytes, or the collection the keyspace's slab takes.
    pub(super) fn into_stored(self) -> Result<Bytes, Collection> {
        match self {
            Value::String(s) => Ok(s),
            Value::List(l) => Err(Collection::List(l)),
            Value::Hash(h) => Err(Collection::Hash(h)),
            Value::Set(s) => Err(Collection::Set(s)),
            Value::ZSet(z) => Err(Collection::ZSet(z)),
            Value::Stream(s) => Err(Collection::Stream(s)),
        }
    }
}
