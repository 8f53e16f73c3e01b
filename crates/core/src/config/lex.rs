//! Words and lines: redis.conf's quoting rules, and turning `redis-server`'s command-line
//! words into extra config lines so they are checked (and reported) like file lines.

use crate::text::{quote_repr, split_args};

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
            let bare = split_args(word.as_bytes()).is_some_and(|parts| parts.len() == 1);
            last_option_has_value = !bare;
            if bare && word.eq_ignore_ascii_case("--save") {
                let next_is_option = words.get(i + 1).is_some_and(|w| w.starts_with("--"));
                if next_is_option || i + 1 == words.len() {
                    out.push_str("\"\"");
                    last_option_has_value = true;
                }
            }
        } else {
            out.push_str(&quote_repr(word.as_bytes()));
            out.push(' ');
            last_option_has_value = true;
        }
    }
    out
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
