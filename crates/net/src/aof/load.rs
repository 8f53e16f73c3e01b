//! Reading: replaying the files the manifest names into the node at start-up, with Redis 7.0's
//! rules for a torn tail, an open transaction and a bad file.

use std::path::Path;

use bytes::Bytes;
use clusterlab_core::rdb;
use clusterlab_core::{Config, Node, Time};

use super::manifest::{aof_dir, manifest_path, Manifest};
use super::{AofError, MAX_ARGC, MAX_BULK_LEN};
use crate::disk::Disk;

/// What [`load`] did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// False when there was no manifest, or it named no file: a first start, nothing loaded.
    pub found: bool,
    /// Non-empty files replayed, in order (Redis skips empty ones silently).
    pub files_loaded: Vec<String>,
    pub commands_replayed: u64,
    /// The file cut back to its last whole command, and its new length.
    pub truncated: Option<(String, u64)>,
    /// Redis's warning lines, in order (`!!! Warning: short read …`).
    pub warnings: Vec<String>,
}

/// Replays the AOF into `node`: every file the manifest names, base first, each command as if
/// a client sent it (no redirection, nothing logged again). Only a torn tail of the last file
/// may be cut, and only with `aof-load-truncated yes`; any other problem is an error and leaves
/// every file as it was.
pub fn load(
    disk: &dyn Disk,
    config: &Config,
    node: &mut Node,
    now: Time,
) -> Result<LoadReport, AofError> {
    let manifest_path = manifest_path(config);
    let Some(text) = disk.read(&manifest_path).map_err(AofError::io(format!(
        "Can't read the AOF manifest {}",
        manifest_path.display()
    )))?
    else {
        return Ok(LoadReport::default());
    };
    let manifest = Manifest::parse(&text)?;
    if manifest.is_empty() {
        return Ok(LoadReport::default());
    }
    // Every listed file must exist before anything is replayed, as Redis sizes them all first.
    let mut files = Vec::new();
    for info in manifest.load_order() {
        let path = aof_dir(config).join(&info.name);
        let contents = disk
            .read(&path)
            .map_err(AofError::io(format!(
                "Can't open the append-only file {}",
                info.name
            )))?
            .ok_or_else(|| AofError::MissingFile {
                file: info.name.clone(),
            })?;
        files.push((info.name.clone(), path, contents));
    }
    let mut report = LoadReport {
        found: true,
        ..LoadReport::default()
    };
    let last = files.len() - 1;
    let mut loader = Loader {
        disk,
        config,
        node,
        now,
        report: &mut report,
    };
    let loaded = files
        .iter()
        .enumerate()
        .try_for_each(|(i, (name, path, contents))| {
            loader.load_file(name, path, contents, i == last)
        });
    // The loader's client goes, and with it any transaction a file left open.
    loader.node.end_replay();
    loaded?;
    Ok(report)
}

struct Loader<'a> {
    disk: &'a dyn Disk,
    config: &'a Config,
    node: &'a mut Node,
    now: Time,
    report: &'a mut LoadReport,
}

impl Loader<'_> {
    /// Loads the RDB file `contents` starts with, if it starts with one; returns its length.
    fn load_preamble(&mut self, name: &str, contents: &[u8]) -> Result<usize, AofError> {
        if !rdb::is_rdb(contents) {
            return Ok(0);
        }
        let limits = self.config.encoding_limits;
        let (rdb_contents, used) =
            rdb::decode(contents, &limits).map_err(|reason| AofError::RdbPreamble {
                file: name.to_string(),
                reason,
            })?;
        self.node.load_rdb_at(self.now, rdb_contents);
        Ok(used)
    }

    fn load_file(
        &mut self,
        name: &str,
        path: &Path,
        contents: &[u8],
        is_last: bool,
    ) -> Result<(), AofError> {
        if contents.is_empty() {
            return Ok(());
        }
        // End of the last whole command: where a torn file is cut. A base written with the
        // RDB preamble starts with a whole RDB file; commands may follow it.
        let mut valid_up_to = self.load_preamble(name, contents)?;
        // `valid_up_to` when the open MULTI was read: a transaction the file never finished
        // is cut as a whole.
        let mut multi_start = None;
        loop {
            let (args, end) = match scan_command(contents, valid_up_to) {
                Scan::Command(args, end) => (args, end),
                Scan::End => break,
                Scan::Torn => return self.torn(name, path, valid_up_to, is_last),
                Scan::Bad => {
                    return Err(AofError::BadFormat {
                        file: name.to_string(),
                    })
                }
            };
            let command = args[0].to_ascii_lowercase();
            if command == b"multi" && multi_start.is_none() {
                multi_start = Some(valid_up_to);
            }
            self.node
                .replay_command(self.now, &args)
                .map_err(|message| AofError::Replay {
                    file: name.to_string(),
                    message,
                })?;
            if command == b"exec" {
                multi_start = None;
            }
            self.report.commands_replayed += 1;
            valid_up_to = end;
        }
        if let Some(start) = multi_start {
            self.report.warnings.push(format!(
                "Revert incomplete MULTI/EXEC transaction in AOF file {name}"
            ));
            return self.torn(name, path, start, is_last);
        }
        self.report.files_loaded.push(name.to_string());
        Ok(())
    }

    /// The file ends inside a command (or an open transaction): cut it at `valid_up_to` if
    /// allowed, else stop.
    fn torn(
        &mut self,
        name: &str,
        path: &Path,
        valid_up_to: usize,
        is_last: bool,
    ) -> Result<(), AofError> {
        let file = name.to_string();
        if !self.config.aof_load_truncated {
            return Err(AofError::UnexpectedEof { file });
        }
        if !is_last {
            return Err(AofError::TruncatedNotLast { file });
        }
        let warnings = &mut self.report.warnings;
        warnings.push(format!(
            "!!! Warning: short read while loading the AOF file {name}!!!"
        ));
        warnings.push(format!(
            "!!! Truncating the AOF {name} at offset {valid_up_to} !!!"
        ));
        let len = valid_up_to as u64;
        let cut = self
            .disk
            .truncate(path, len)
            .and_then(|()| self.disk.sync(path));
        cut.map_err(|source| AofError::Truncate {
            file: file.clone(),
            source,
        })?;
        self.report.warnings.push(format!(
            "AOF {name} loaded anyway because aof-load-truncated is enabled"
        ));
        self.report.files_loaded.push(file.clone());
        self.report.truncated = Some((file, len));
        Ok(())
    }
}

/// What [`scan_command`] found at a position of a file.
#[derive(Debug, PartialEq)]
pub(super) enum Scan {
    /// A whole command and the offset just past it.
    Command(Vec<Bytes>, usize),
    /// The file ends cleanly here (possibly after annotations).
    End,
    /// The file ends inside a command.
    Torn,
    /// Bytes that are no command at all.
    Bad,
}

/// Reads one command (a RESP array of bulk strings) at `pos`, skipping `#` annotation lines.
///
/// Not [`crate::resp::parse_request`]: the AOF grammar differs from what clients may send (no
/// inline commands, annotations, `*0` is an error) and the loader must tell a torn tail from
/// garbage. A file cut anywhere inside a valid command is `Torn`; a line that cannot start what
/// comes next is `Bad`, even at the end of the file, as in Redis.
pub(super) fn scan_command(buf: &[u8], mut pos: usize) -> Scan {
    let argc = loop {
        let Some(first) = buf.get(pos) else {
            return Scan::End;
        };
        let Some((line, next)) = read_line(buf, pos) else {
            // An unfinished annotation ends the file harmlessly; a command start is torn.
            return match first {
                b'#' => Scan::End,
                b'*' => Scan::Torn,
                _ => Scan::Bad,
            };
        };
        pos = next;
        match line.split_first() {
            Some((b'#', _)) => continue,
            Some((b'*', digits)) => match parse_length(digits, MAX_ARGC) {
                Some(argc) if argc > 0 => break argc,
                _ => return Scan::Bad,
            },
            _ => return Scan::Bad,
        }
    };
    // The count comes from the file: grow with the data, not with the claim.
    let mut args = Vec::with_capacity(argc.min(64) as usize);
    for _ in 0..argc {
        let Some(&first) = buf.get(pos) else {
            return Scan::Torn;
        };
        if first != b'$' {
            return Scan::Bad;
        }
        let Some((line, data_start)) = read_line(buf, pos) else {
            return Scan::Torn;
        };
        let Some(len) = parse_length(&line[1..], MAX_BULK_LEN) else {
            return Scan::Bad;
        };
        let data_end = data_start + len as usize;
        match buf.get(data_end..data_end + 2) {
            None => return Scan::Torn,
            Some(b"\r\n") => {}
            Some(_) => return Scan::Bad,
        }
        args.push(Bytes::copy_from_slice(&buf[data_start..data_end]));
        pos = data_end + 2;
    }
    Scan::Command(args, pos)
}

/// The line at `pos` without its `\r\n` (or bare `\n`), and where the next one starts; `None`
/// when the file ends before the newline.
fn read_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let newline = pos + buf[pos..].iter().position(|&b| b == b'\n')?;
    let line = &buf[pos..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, newline + 1))
}

/// A non-negative decimal length no larger than `max`.
fn parse_length(digits: &[u8], max: u64) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (value <= max).then_some(value)
}
