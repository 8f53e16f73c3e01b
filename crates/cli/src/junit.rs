//! JUnit XML, the test-report format CI systems (GitHub Actions reporters, GitLab, Jenkins)
//! read: `sim run --junit` and `sim merge --junit` turn seeds into test cases with it. Plain
//! text in, one document out, so it is unit-tested in the normal build although only the
//! simulation build writes reports.

use std::fmt::Write as _;

/// One test case; `failure` absent for a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub time_ms: u64,
    pub failure: Option<Failure>,
}

/// Why a case failed: `kind` and `message` are shown in lists, `text` (the evidence and the
/// replay line) when the case is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: String,
    pub message: String,
    pub text: String,
}

/// A named group of cases (one per scenario).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

impl Suite {
    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    fn time_ms(&self) -> u64 {
        self.cases.iter().map(|c| c.time_ms).sum()
    }
}

/// The whole document.
pub fn render(name: &str, suites: &[Suite]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let time_ms: u64 = suites.iter().map(Suite::time_ms).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
        escape(name),
        seconds(time_ms)
    );
    for suite in suites {
        render_suite(&mut xml, suite);
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn render_suite(xml: &mut String, suite: &Suite) {
    let name = escape(&suite.name);
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
        suite.cases.len(),
        suite.failures(),
        seconds(suite.time_ms())
    );
    for case in &suite.cases {
        let head = format!(
            "    <testcase classname=\"{name}\" name=\"{}\" time=\"{}\"",
            escape(&case.name),
            seconds(case.time_ms)
        );
        match &case.failure {
            None => {
                let _ = writeln!(xml, "{head}/>");
            }
            Some(f) => {
                let _ = writeln!(
                    xml,
                    "{head}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&f.kind),
                    escape(&f.message),
                    escape(&f.text)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n");
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Text as XML character data or attribute value: the five markup characters escaped, and
/// characters XML 1.0 cannot carry at all (controls other than tab, newline, return) replaced
/// by U+FFFD, since a panic message may hold anything.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(seed: u64) -> Case {
        Case {
            name: format!("seed {seed}"),
            time_ms: 1_250,
            failure: Some(Failure {
                kind: "lost_write".into(),
                message: "lost_write: key \"k\" <gone>".into(),
                text: "lost_write: key \"k\" <gone>\nreplay: cargo sim --seed 7 --seeds 1".into(),
            }),
        }
    }

    #[test]
    fn a_report_reads_exactly_so() {
        let suites = [Suite {
            name: "campaign".into(),
            cases: vec![
                failing(7),
                Case {
                    name: "99 passing seeds (1..100)".into(),
                    time_ms: 98_004,
                    failure: None,
                },
            ],
        }];
        let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<testsuites name=\"clusterlab sim\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"99.254\">
  <testsuite name=\"campaign\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"99.254\">
    <testcase classname=\"campaign\" name=\"seed 7\" time=\"1.250\">
      <failure type=\"lost_write\" message=\"lost_write: key &quot;k&quot; &lt;gone&gt;\">lost_write: key &quot;k&quot; &lt;gone&gt;
replay: cargo sim --seed 7 --seeds 1</failure>
    </testcase>
    <testcase classname=\"campaign\" name=\"99 passing seeds (1..100)\" time=\"98.004\"/>
  </testsuite>
</testsuites>
";
        assert_eq!(render("clusterlab sim", &suites), expected);
    }

    #[test]
    fn counts_add_up_over_suites() {
        let suites = [
            Suite {
                name: "a".into(),
                cases: vec![failing(1), failing(2)],
            },
            Suite {
                name: "b".into(),
                cases: vec![failing(3)],
            },
        ];
        let xml = render("x", &suites);
        assert!(
            xml.contains("<testsuites name=\"x\" tests=\"3\" failures=\"3\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<failure ").count(), 3);
        assert_eq!(xml.matches("<testsuite ").count(), 2);
    }

    #[test]
    fn anything_a_panic_says_stays_well_formed() {
        assert_eq!(
            escape("a&b<c>'d'\"e\""),
            "a&amp;b&lt;c&gt;&apos;d&apos;&quot;e&quot;"
        );
        assert_eq!(
            escape("bell\u{7}\ttab\nnul\0"),
            "bell\u{FFFD}\ttab\nnul\u{FFFD}"
        );
        assert_eq!(escape("ünï€😀"), "ünï€😀");
        assert_eq!(escape("]]>"), "]]&gt;");
    }

    #[test]
    fn an_empty_run_is_an_empty_report() {
        assert_eq!(
            render("r", &[]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"r\" tests=\"0\" failures=\"0\" errors=\"0\" time=\"0.000\">\n\
             </testsuites>\n"
        );
    }
}
