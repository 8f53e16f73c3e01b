//! The manifest (`<appendfilename>.manifest`): parsing it as Redis 7.0 does, rendering it, and
//! the names of the AOF directory and of the files it lists.

use std::path::{Path, PathBuf};

use clusterlab_core::Config;

use super::{ManifestError, MANIFEST_MAX_LINE};
use crate::resp::split_args;

/// The role of a file listed in the manifest (`type b|h|i`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AofFileKind {
    Base,
    /// Left over from a rewrite, waiting to be deleted; never loaded.
    History,
    Incr,
}

impl AofFileKind {
    fn letter(self) -> char {
        match self {
            AofFileKind::Base => 'b',
            AofFileKind::History => 'h',
            AofFileKind::Incr => 'i',
        }
    }
}

/// One `file … seq … type …` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFileInfo {
    pub name: String,
    pub seq: i64,
    pub kind: AofFileKind,
}

/// The manifest: which files make up the AOF, in load order (base, then incr by sequence).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFileInfo>,
    pub history: Vec<AofFileInfo>,
    pub incr: Vec<AofFileInfo>,
}

impl Manifest {
    /// Parses a manifest with Redis 7.0's rules: `#` lines skipped, every other line trimmed,
    /// split with redis-cli quoting into ≥ 6 words in key/value pairs; `file`, `seq` and `type`
    /// required (unknown keys ignored), one base at most, incr sequences strictly increasing.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let whole = |reason| ManifestError { line: None, reason };
        if bytes.is_empty() {
            return Err(whole("Found an empty AOF manifest"));
        }
        let mut manifest = Manifest::default();
        for (index, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            if raw.first() == Some(&b'#') {
                continue;
            }
            if raw.last() != Some(&b'\n') || raw.len() > MANIFEST_MAX_LINE {
                return Err(whole("The AOF manifest file contains too long line"));
            }
            let line = trim_blanks(raw);
            let at = |reason| ManifestError {
                line: Some((index + 1, String::from_utf8_lossy(line).into_owned())),
                reason,
            };
            let info = parse_manifest_line(line).map_err(at)?;
            manifest.add(info).map_err(at)?;
        }
        Ok(manifest)
    }

    fn add(&mut self, info: AofFileInfo) -> Result<(), &'static str> {
        match info.kind {
            AofFileKind::Base if self.base.is_some() => {
                return Err("Found duplicate base file information")
            }
            AofFileKind::Base => self.base = Some(info),
            AofFileKind::History => self.history.push(info),
            AofFileKind::Incr => {
                let last_seq = self.incr.last().map_or(0, |i| i.seq);
                if info.seq <= last_seq {
                    return Err("Found a non-monotonic sequence number");
                }
                self.incr.push(info);
            }
        }
        Ok(())
    }

    /// True when the manifest names nothing to load, which Redis treats as no AOF at all.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// The files to replay, in order.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFileInfo> {
        self.base.iter().chain(self.incr.iter())
    }

    /// The manifest text, one line per file: base, history, then incr files.
    pub fn render(&self) -> String {
        let all = self.base.iter().chain(&self.history).chain(&self.incr);
        all.map(|info| {
            format!(
                "file {} seq {} type {}\n",
                quote_if_needed(&info.name),
                info.seq,
                info.kind.letter()
            )
        })
        .collect()
    }
}

fn trim_blanks(mut line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while let [first, rest @ ..] = line {
        if !blank(first) {
            break;
        }
        line = rest;
    }
    while let [rest @ .., last] = line {
        if !blank(last) {
            break;
        }
        line = rest;
    }
    line
}

fn parse_manifest_line(line: &[u8]) -> Result<AofFileInfo, &'static str> {
    const INVALID: &str = "Invalid AOF manifest file format";
    let words = split_args(line).ok_or(INVALID)?;
    // At least the three pairs; more pairs are allowed so newer versions can add keys.
    if words.len() < 6 || words.len() % 2 != 0 {
        return Err(INVALID);
    }
    let (mut name, mut seq, mut kind) = (None, 0i64, 0u8);
    for pair in words.chunks_exact(2) {
        let value = &pair[1];
        match pair[0].to_ascii_lowercase().as_slice() {
            b"file" => {
                if value.contains(&b'/') || value.contains(&b'\\') {
                    return Err("File can't be a path, just a filename");
                }
                name = Some(value.clone());
            }
            b"seq" => seq = leading_integer(value),
            b"type" => kind = value.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    let name = name.and_then(|n| String::from_utf8(n).ok());
    let (Some(name), true, true) = (name, seq != 0, kind != 0) else {
        return Err(INVALID);
    };
    let kind = match kind {
        b'b' => AofFileKind::Base,
        b'h' => AofFileKind::History,
        b'i' => AofFileKind::Incr,
        _ => return Err("Unknown AOF file type"),
    };
    Ok(AofFileInfo { name, seq, kind })
}

/// The integer at the start of `text` (C's `atoll`: blanks, a sign, digits; 0 when none), so
/// `seq 1x` reads as 1 just as Redis reads it.
fn leading_integer(text: &[u8]) -> i64 {
    let text = match text.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(start) => &text[start..],
        None => return 0,
    };
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// File names with blanks, quotes or control bytes are written quoted, so the manifest parser
/// (redis-cli word splitting) reads them back intact.
fn quote_if_needed(name: &str) -> String {
    let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\'';
    if !name.is_empty() && name.chars().all(plain) {
        return name.to_string();
    }
    clusterlab_core::text::quote_repr(name.as_bytes())
}

/// `<dir>/<appenddirname>`.
pub fn aof_dir(config: &Config) -> PathBuf {
    Path::new(&config.dir).join(&config.appenddirname)
}

/// `<dir>/<appenddirname>/<appendfilename>.manifest`.
pub fn manifest_path(config: &Config) -> PathBuf {
    aof_dir(config).join(format!("{}.manifest", config.appendfilename))
}

pub(super) fn file_name(config: &Config, seq: i64, kind: AofFileKind) -> String {
    let part = match kind {
        AofFileKind::Base => "base",
        AofFileKind::History | AofFileKind::Incr => "incr",
    };
    format!("{}.{seq}.{part}.aof", config.appendfilename)
}

/// The name of a base holding an RDB file (`aof-use-rdb-preamble yes`): `….base.rdb`.
pub(super) fn rdb_base_name(config: &Config, seq: i64) -> String {
    format!("{}.{seq}.base.rdb", config.appendfilename)
}
