//! Words and lines: redis.conf's quoting rules, and turning `redis-server`'s command-line
//! words into extra config lines so they are checked (and reported) like file lines.

/// Turns command-line words into config lines the way `redis-server` does: `--name` starts a
/// line, other words are appended quoted. A bare `--save` gets an explicit `""` so that
/// `--save --port 1` disables snapshots instead of swallowing `--port`.
pub fn overrides_to_lines(words: &[String]) -> String {
    let mut out = String::new();
    // False right after a bare option name: the next word is its value even if it starts
    // with `--`.
    let mut last_option_has_value = true;
    for (i, word) in words.iter().enumerate() {
        if last_option_has_value && word.starts_with("--") {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&word[2..]);
            out.push(' ');
            let bare = split_args(word).is_some_and(|parts| parts.len() == 1);
            last_option_has_value = !bare;
            if bare && word.eq_ignore_ascii_case("--save") {
                let next_is_option = words.get(i + 1).is_some_and(|w| w.starts_with("--"));
                if next_is_option || i + 1 == words.len() {
                    out.push_str("\"\"");
                    last_option_has_value = true;
                }
            }
        } else {
            out.push_str(&quote_repr(word));
            out.push(' ');
            last_option_has_value = true;
        }
    }
    out
}

/// Double-quoted, escaped form of a word (Redis's `sdscatrepr`), which [`split_args`] reads
/// back to the same bytes.
fn quote_repr(word: &str) -> String {
    let mut out = String::from("\"");
    for &b in word.as_bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Splits a line into words with redis.conf's shell-like rules: `"…"` with `\n`, `\r`, `\t`,
/// `\b`, `\a`, `\xHH` escapes, `'…'` with only `\'`, quotes that must be followed by a blank.
/// `None` means unbalanced quotes. Words are built as bytes and converted lossily.
pub(crate) fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let &b = bytes.get(i)?;
                if b == b'\\' && is_hex_escape(&bytes[i..]) {
                    word.push(hex_value(bytes[i + 2]) * 16 + hex_value(bytes[i + 3]));
                    i += 3;
                } else if b == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                    word.push(match bytes[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if b == b'"' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(b);
                }
            } else if in_single {
                let &b = bytes.get(i)?;
                if b == b'\\' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    word.push(b'\'');
                } else if b == b'\'' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(b);
                }
            } else {
                match bytes.get(i) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&b) => word.push(b),
                }
            }
            i += 1;
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
}

fn is_hex_escape(s: &[u8]) -> bool {
    s.len() >= 4 && s[1] == b'x' && s[2].is_ascii_hexdigit() && s[3].is_ascii_hexdigit()
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{e, err, parse, words};
    use crate::config::Config;

    #[test]
    fn quoting_rules() {
        let unbalanced = "Unbalanced quotes in configuration line";
        assert_eq!(err("port \"7000\n", &[]), e(1, "port \"7000", unbalanced));
        assert_eq!(
            err("port \"70\"00\n", &[]),
            e(1, "port \"70\"00", unbalanced)
        );
        assert_eq!(
            err("port 1\nappendfilename 'a b\\'\nport x", &[]),
            e(2, "appendfilename 'a b\\'", unbalanced)
        );
        let c = parse("appendfilename \"a\\x41\\n\"\nlogfile 'it\\'s'\npidfile p\"q r\"s\n");
        // `"q r"s` is unbalanced (a closing quote must be followed by a blank).
        assert_eq!(c.unwrap_err().line, "pidfile p\"q r\"s");
        let c =
            parse("appendfilename \"a\\x41\\n\"\nlogfile 'it\\'s'\npidfile p\"q r\"\n").unwrap();
        assert_eq!(c.appendfilename, "aA\n");
        assert_eq!(c.logfile, "it's");
        assert_eq!(c.pidfile, "pq r");
    }

    #[test]
    fn overrides_become_numbered_quoted_lines() {
        // File without a final newline: options start on line 2.
        assert_eq!(
            err(
                "port 1",
                &["--port", "20999", "--cluster-node-timeout", "x"]
            ),
            e(
                3,
                "cluster-node-timeout \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        // With a final newline there is an empty line 2 before the options.
        assert_eq!(
            err(
                "port 1\n",
                &["--port", "20999", "--cluster-node-timeout", "x"]
            ),
            e(
                4,
                "cluster-node-timeout \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err(
                "port 1",
                &["--port", "20999", "--cluster-node-timeout", "5", "6"]
            ),
            e(
                3,
                "cluster-node-timeout \"5\" \"6\"",
                "wrong number of arguments"
            )
        );
        let bad = "Bad directive or wrong number of arguments";
        assert_eq!(
            err("port 1", &["--port", "20999", "--save", "", "--foo", "a b"]),
            e(4, "foo \"a b\"", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo"]),
            e(3, "foo", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--save", "--foo"]),
            e(4, "foo", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo", "a\"b\\c\td"]),
            e(3, "foo \"a\\\"b\\\\c\\td\"", bad)
        );
        assert_eq!(
            err("", &["--port", "20999", "--foo", "x"]),
            e(3, "foo \"x\"", bad)
        );
        assert_eq!(
            err("port 1", &["extra", "--port", "1"]),
            e(2, "\"extra\"", bad)
        );
        assert_eq!(
            err("port 1", &["--port", "20999", "--foo", "-x"]),
            e(3, "foo \"-x\"", bad)
        );
        // After a bare option name the next word is its value, even if it starts with `--`.
        assert_eq!(err("port 1", &["--foo", "--"]), e(2, "foo \"--\"", bad));
        let c = Config::parse(
            "port 7000\n",
            &words(&[
                "--port",
                "7001",
                "--cluster-node-timeout",
                "500",
                "--dir",
                "/d x",
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.port, c.cluster_node_timeout_ms, c.dir.as_str()),
            (7001, 500, "/d x")
        );
        // One word holding name and value, as `redis-server "--port 7002"` allows.
        assert_eq!(
            Config::parse("", &words(&["--port 7002"])).unwrap().port,
            7002
        );
    }
}
