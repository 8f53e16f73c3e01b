//! Text formats shared by core, net and sim.
//!
//! Each of these used to exist in two or three slightly different copies (the node, the
//! driver, the admin tool and the simulator all read or write them); one copy means one set
//! of edge cases, and those follow Redis wherever Redis defines them.

use std::fmt;

// ---- glob ------------------------------------------------------------------------------------

/// Redis's glob (`KEYS`, `SCAN MATCH`, `CONFIG GET`, `COMMAND LIST PATTERN`): `*`, `?`,
/// `[abc]`, `[^a-z]`, `\x`; with `nocase`, ASCII letters match either case.
///
/// The edge cases are Redis's: an empty text matches only the empty pattern (so `*` does not
/// match it), `[a-]` is a range up to `]` (not `a` or `-`), an unclosed class runs to the end
/// of the pattern, a trailing lone `\` is a literal, a reversed range `[z-a]` is swapped, and
/// under `nocase` an escaped byte inside a class still compares exactly. Backtracking only
/// ever returns to the most recent `*`, so the time is linear in pattern × text at worst and
/// no pattern can make it blow up.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut t) = (0, 0);
    // Pattern index after the last star seen, and the text index that star's match ends at.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            backtrack = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            if let Some(len) = match_element(&pattern[p..], text[t], nocase) {
                p += len;
                t += 1;
                continue;
            }
        }
        match backtrack {
            Some((star_p, star_t)) => {
                // Let the star swallow one more byte and retry from just after it.
                backtrack = Some((star_p, star_t + 1));
                p = star_p;
                t = star_t + 1;
            }
            None => return false,
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

fn same_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Matches the non-star element at the start of `pattern` against byte `c`; on a match,
/// how many pattern bytes the element spans.
fn match_element(pattern: &[u8], c: u8, nocase: bool) -> Option<usize> {
    let (matched, len) = match pattern[0] {
        b'?' => (true, 1),
        b'[' => match_class(pattern, c, nocase),
        b'\\' if pattern.len() >= 2 => (same_byte(pattern[1], c, nocase), 2),
        literal => (same_byte(literal, c, nocase), 1),
    };
    matched.then_some(len)
}

/// A `[...]` class at the start of `pattern`: whether `c` is in it, and its length.
fn match_class(pattern: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let mut i = 1;
    let negated = pattern.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() {
        let rest = &pattern[i..];
        if rest[0] == b'\\' && rest.len() >= 2 {
            // Redis compares escaped class members exactly, even without case.
            matched |= rest[1] == c;
            i += 2;
        } else if rest[0] == b']' {
            return (matched != negated, i + 1);
        } else if rest.len() >= 3 && rest[1] == b'-' {
            // Ends are ordered before folding, as Redis does, so `[Z-a]` folds to an
            // empty range rather than to every letter.
            let (lo, hi) = (rest[0].min(rest[2]), rest[0].max(rest[2]));
            matched |= if nocase {
                let c = c.to_ascii_lowercase();
                (lo.to_ascii_lowercase()..=hi.to_ascii_lowercase()).contains(&c)
            } else {
                (lo..=hi).contains(&c)
            };
            i += 3;
        } else {
            matched |= same_byte(rest[0], c, nocase);
            i += 1;
        }
    }
    (matched != negated, pattern.len())
}

// ---- argument splitting ----------------------------------------------------------------------

/// Splits a line into words the way Redis reads inline requests, redis.conf lines and AOF
/// manifests (`sdssplitargs`): blanks separate words; `"…"` understands `\n \r \t \b \a \xHH`
/// and `\<c>`; `'…'` understands only `\'`; a closing quote must be followed by a blank or
/// the end. `None` means unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while pos < line.len() && is_c_space(line[pos]) {
            pos += 1;
        }
        if pos == line.len() {
            return Some(args);
        }
        let (word, next) = split_word(line, pos)?;
        args.push(word);
        pos = next;
    }
}

/// [`split_args`] for text, each word converted lossily (redis.conf values are text).
pub fn split_args_str(line: &str) -> Option<Vec<String>> {
    let words = split_args(line.as_bytes())?;
    Some(
        words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect(),
    )
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// One word starting at a non-blank `pos`; returns it and the position after it.
fn split_word(line: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut word = Vec::new();
    while pos < line.len() {
        match line[pos] {
            // Unlike the blanks skipped between words, vertical tab and form feed do not end
            // an unquoted word: Redis's word loop stops only at these four.
            b' ' | b'\n' | b'\r' | b'\t' => break,
            // A closing quote ends the word (only a blank or the end may follow it), so the
            // blank after it is left to the caller, which skips every `isspace` byte.
            b'"' => {
                let end = double_quoted(line, pos + 1, &mut word)?;
                return Some((word, end));
            }
            b'\'' => {
                let end = single_quoted(line, pos + 1, &mut word)?;
                return Some((word, end));
            }
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
    Some((word, pos))
}

/// After a closing quote at `pos - 1`: only a blank or the end may follow.
fn after_closing_quote(line: &[u8], pos: usize) -> Option<usize> {
    match line.get(pos) {
        None => Some(pos),
        Some(&b) if is_c_space(b) => Some(pos),
        Some(_) => None,
    }
}

fn double_quoted(line: &[u8], mut pos: usize, word: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(pos)? {
            b'\\' if line.get(pos + 1) == Some(&b'x') => {
                let hex = (line.get(pos + 2), line.get(pos + 3));
                if let (Some(&h), Some(&l)) = hex {
                    if let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) {
                        word.push(h << 4 | l);
                        pos += 4;
                        continue;
                    }
                }
                // Not a hex escape after all: `\x` is just an escaped `x`.
                word.push(b'x');
                pos += 2;
            }
            b'\\' if pos + 1 < line.len() => {
                word.push(match line[pos + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                pos += 2;
            }
            b'"' => return after_closing_quote(line, pos + 1),
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
}

fn single_quoted(line: &[u8], mut pos: usize, word: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(pos)? {
            b'\\' if line.get(pos + 1) == Some(&b'\'') => {
                word.push(b'\'');
                pos += 2;
            }
            b'\'' => return after_closing_quote(line, pos + 1),
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Double-quoted, escaped form of `bytes` (Redis's `sdscatrepr`), which [`split_args`] reads
/// back to the same bytes.
pub fn quote_repr(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => {
                use fmt::Write;
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

// ---- slot ranges -----------------------------------------------------------------------------

/// Appends `5` or `0-5460`: one slot range as `CLUSTER NODES` writes it. Every `CLUSTER
/// NODES` reply and `nodes.conf` save goes through here, hence itoa rather than `write!`.
pub fn push_range(out: &mut String, lo: u16, hi: u16) {
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(lo));
    if hi != lo {
        out.push('-');
        out.push_str(digits.format(hi));
    }
}

/// `5` or `0-5460`; generic so that slot numbers kept as `usize` print the same way.
pub fn range_text<T: PartialEq + fmt::Display>(lo: T, hi: T) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// Ranges joined by `separator`: `0-5460 7` as `CLUSTER NODES` lists them, `0-5460,7` as
/// redis-cli prints them.
pub fn ranges_text(ranges: impl IntoIterator<Item = (u16, u16)>, separator: char) -> String {
    let mut out = String::new();
    for (i, (lo, hi)) in ranges.into_iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        push_range(&mut out, lo, hi);
    }
    out
}

// ---- CLUSTER NODES lines ---------------------------------------------------------------------

/// One line of `CLUSTER NODES` (or of `nodes.conf`) cut into its fields:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch>
/// <link-state> <slot> <slot> …`.
///
/// Fields are kept as text: how strictly each is checked, and what an error says, differs
/// between readers (`nodes.conf` refuses to start on anything odd, the admin tool skips what
/// it cannot read, the simulator reports it), so that stays with them. Splitting the line is
/// also left to the caller, as `nodes.conf` tolerates runs of blanks and the others do not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodesLine<'a> {
    pub id: &'a str,
    /// `ip:port@cport[,hostname]` as written.
    pub address: &'a str,
    /// Comma-separated flag words.
    pub flags: &'a str,
    /// The master's id, or `-`.
    pub master: &'a str,
    pub ping_sent: &'a str,
    pub pong_recv: &'a str,
    pub config_epoch: &'a str,
    pub link_state: &'a str,
    /// The slot fields after the link state (see [`SlotField`]).
    pub slots: Vec<&'a str>,
}

impl<'a> NodesLine<'a> {
    /// The line's fields in order; `None` with fewer than the eight fixed ones.
    pub fn from_fields(fields: &[&'a str]) -> Option<NodesLine<'a>> {
        let [id, address, flags, master, ping_sent, pong_recv, config_epoch, link_state, slots @ ..] =
            fields
        else {
            return None;
        };
        Some(NodesLine {
            id,
            address,
            flags,
            master,
            ping_sent,
            pong_recv,
            config_epoch,
            link_state,
            slots: slots.to_vec(),
        })
    }

    /// The flag words (`myself`, `master`, `fail?`, …).
    pub fn flag_words(&self) -> impl Iterator<Item = &'a str> {
        self.flags.split(',')
    }

    /// The master's id; `None` for `-`.
    pub fn master_id(&self) -> Option<&'a str> {
        (self.master != "-").then_some(self.master)
    }

    /// `ip:port`: the address before `@`.
    pub fn host_port(&self) -> &'a str {
        self.address.split('@').next().unwrap_or_default()
    }
}

/// One slot field of a [`NodesLine`], numbers not yet read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlotField<'a> {
    /// `N` (both ends `N`) or `A-B`.
    Range(&'a str, &'a str),
    /// `[N->-id]`: slot `N` is being moved to `id`.
    Migrating(&'a str, &'a str),
    /// `[N-<-id]`: slot `N` is being moved here from `id`.
    Importing(&'a str, &'a str),
    /// `[…]` of any other shape.
    OtherOpen,
}

impl<'a> SlotField<'a> {
    pub fn parse(field: &'a str) -> SlotField<'a> {
        if let Some(inner) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
            if let Some((slot, id)) = inner.split_once("->-") {
                return SlotField::Migrating(slot, id);
            }
            if let Some((slot, id)) = inner.split_once("-<-") {
                return SlotField::Importing(slot, id);
            }
            return SlotField::OtherOpen;
        }
        match field.split_once('-') {
            Some((lo, hi)) => SlotField::Range(lo, hi),
            None => SlotField::Range(field, field),
        }
    }

    /// The inclusive range of a well-formed `N` or `A-B` field (`A ≤ B`, both real slots).
    pub fn range(&self) -> Option<(u16, u16)> {
        let SlotField::Range(lo, hi) = *self else {
            return None;
        };
        let (lo, hi) = (lo.parse::<u16>().ok()?, hi.parse::<u16>().ok()?);
        (lo <= hi && usize::from(hi) < crate::slot::SLOT_COUNT).then_some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_redis_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("a*", "a", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbcd", false),
            (
                "*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
                false,
            ),
            ("?", "", false),
            ("", "", true),
            ("*", "", false),
            ("**", "", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?", "a", false),
            ("[abc]", "b", true),
            ("[abc]", "d", false),
            ("[^a]", "a", false),
            ("[^a]", "b", true),
            ("[a-c]", "b", true),
            ("[c-a]", "b", true),
            ("[a-c]", "d", false),
            // `[a-]` is a range from `a` to `]`, and the class is then unclosed.
            ("[a-]", "^", true),
            ("[a-]", "b", false),
            ("[]a]", "a", false),
            ("[]a]", "a]", false),
            ("[]", "a", false),
            ("[^]", "a", true),
            ("a[bc", "ac", true),
            ("a[^", "ax", true),
            ("[\\]]", "]", true),
            ("[a\\-c]", "-", true),
            ("[a\\-c]", "b", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("\\?", "?", true),
            ("\\", "\\", true),
            ("a\\", "a\\", true),
            ("\\a", "a", true),
            ("*\\", "xyz\\", true),
            ("[*]", "*", true),
            ("[*]", "a", false),
            ("h[^e]llo", "hllo", false),
            ("*[", "a", false),
            ("h?llo", "hello", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("abc", "ABC", false),
        ];
        for &(pattern, text, expected) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes(), false),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn glob_without_case_folds_like_redis() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes(), true);
        assert!(m("abc", "ABC"));
        assert!(m("*NODE-timeout*", "cluster-node-timeout"));
        assert!(m("[A-C]", "b"));
        assert!(m("[^A]", "b"));
        assert!(!m("[^A]", "a"));
        // Escaped class members compare exactly; escaped literals outside a class do not.
        assert!(!m("[\\A]", "a"));
        assert!(m("\\A", "a"));
        // The ends are ordered before folding: `Z` < `a`, folded `z`..`a` is empty.
        assert!(!m("[Z-a]", "m"));
    }

    #[test]
    fn split_args_quoting() {
        let words = |line: &str| {
            split_args(line.as_bytes()).map(|ws| {
                ws.into_iter()
                    .map(|w| String::from_utf8(w).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            words("  set a  b "),
            Some(vec!["set".into(), "a".into(), "b".into()])
        );
        assert_eq!(
            words("\"a\\x41\\n\" 'it\\'s'"),
            Some(vec!["aA\n".into(), "it's".into()])
        );
        assert_eq!(words("\"\\xZZ\""), Some(vec!["xZZ".into()]));
        assert_eq!(words("p\"q r\""), Some(vec!["pq r".into()]));
        assert_eq!(words("\"abc\\\""), None);
        assert_eq!(words("'a'b"), None);
        assert_eq!(words("\"a\"\x0bb"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(words(""), Some(vec![]));
    }

    #[test]
    fn quote_repr_reads_back() {
        let word = b"a \"b\"\\\n\r\t\x07\x08\x00\xff~";
        let quoted = quote_repr(word);
        assert_eq!(quoted, "\"a \\\"b\\\"\\\\\\n\\r\\t\\a\\b\\x00\\xff~\"");
        assert_eq!(split_args(quoted.as_bytes()), Some(vec![word.to_vec()]));
    }

    #[test]
    fn ranges() {
        assert_eq!(range_text(5, 5), "5");
        assert_eq!(range_text(0, 5460), "0-5460");
        assert_eq!(range_text(16383usize, 16383), "16383");
        let mut out = String::from("x ");
        push_range(&mut out, 9, 10);
        assert_eq!(out, "x 9-10");
        assert_eq!(ranges_text([(0, 2), (7, 7), (9, 10)], ' '), "0-2 7 9-10");
        assert_eq!(ranges_text([(0, 2), (7, 7)], ','), "0-2,7");
        assert_eq!(ranges_text([], ','), "");
    }

    #[test]
    fn nodes_lines_and_slot_fields() {
        let text = "abc 127.0.0.1:7000@17000,host myself,master - 0 1 3 connected 0-5 9 [7->-def]";
        let fields: Vec<&str> = text.split(' ').collect();
        let line = NodesLine::from_fields(&fields).unwrap();
        assert_eq!(line.id, "abc");
        assert_eq!(line.host_port(), "127.0.0.1:7000");
        assert_eq!(line.flag_words().collect::<Vec<_>>(), ["myself", "master"]);
        assert_eq!(line.master_id(), None);
        assert_eq!(line.config_epoch, "3");
        assert_eq!(line.link_state, "connected");
        assert_eq!(line.slots, ["0-5", "9", "[7->-def]"]);
        assert!(NodesLine::from_fields(&fields[..7]).is_none());

        assert_eq!(SlotField::parse("0-5").range(), Some((0, 5)));
        assert_eq!(SlotField::parse("9").range(), Some((9, 9)));
        assert_eq!(SlotField::parse("5-0").range(), None);
        assert_eq!(SlotField::parse("16384").range(), None);
        assert_eq!(
            SlotField::parse("[7->-def]"),
            SlotField::Migrating("7", "def")
        );
        assert_eq!(
            SlotField::parse("[7-<-def]"),
            SlotField::Importing("7", "def")
        );
        assert_eq!(SlotField::parse("[7]"), SlotField::OtherOpen);
        assert_eq!(SlotField::parse("[7"), SlotField::Range("[7", "[7"));
    }
}
