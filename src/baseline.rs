//! Baseline files: the known deviations of a server that are shown in reports but
//! do not fail a run (`imapspec run --baseline FILE`), read with the line of each
//! entry, checked (unknown keys, no check or scenario, no reason, unknown check id
//! are errors naming `file:line`), and written (`imapspec baseline`).
//!
//! ```toml
//! [[deviation]]
//! check = "uid.no-reuse"            # a check id, or
//! # scenario = "outlook/noop-polling" # a scenario id (exactly one of the two)
//! server = "dovecot"                # optional: only runs with this --server-name
//! reason = "Dovecot 2.3 ... (link)" # required, shown in reports
//! ```
//!
//! This module owns the format and the entries only; what an entry covers in a
//! run, and whether it occurred, is decided with the run's results
//! (`results::RunReport::verdicts`).

use std::fmt::Write as _;
use std::path::Path;

/// One `[[deviation]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deviation {
    /// The line of its `[[deviation]]` header in the baseline file.
    pub line: u64,
    /// A check id from the registry (`imapspec list`).
    pub check: Option<String>,
    /// A scenario id.
    pub scenario: Option<String>,
    /// Only for runs whose `--server-name` is this.
    pub server: Option<String>,
    pub reason: String,
}

impl Deviation {
    /// What the entry names, for messages: `check = "uid.no-reuse"`.
    pub fn names(&self) -> String {
        let mut s = match (&self.check, &self.scenario) {
            (Some(c), _) => format!("check = \"{c}\""),
            (None, Some(id)) => format!("scenario = \"{id}\""),
            (None, None) => String::new(),
        };
        if let Some(server) = &self.server {
            let _ = write!(s, ", server = \"{server}\"");
        }
        s
    }

    /// Whether it applies to a run against the server named `server_name`.
    pub fn applies_to(&self, server_name: &str) -> bool {
        self.server.as_deref().is_none_or(|s| s == server_name)
    }
}

/// A baseline file, read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    /// The file as given on the command line.
    pub file: String,
    pub deviations: Vec<Deviation>,
}

impl Baseline {
    /// `file:line` of an entry.
    pub fn place(&self, d: &Deviation) -> String {
        format!("{}:{}", self.file, d.line)
    }
}

/// A malformed baseline: the file, the line when known, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for BaselineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for BaselineError {}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    deviation: Vec<toml::Spanned<EntryForm>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    check: Option<String>,
    scenario: Option<String>,
    server: Option<String>,
    reason: Option<String>,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset.min(text.len())].matches('\n').count() as u64 + 1
}

/// The line of the `[[deviation]]` header at or before `offset` (the entry's
/// first key when there is none).
fn header_line(text: &str, offset: usize) -> u64 {
    let at = line_of(text, offset);
    text.lines()
        .enumerate()
        .take(at as usize)
        .filter(|(_, l)| l.trim_start().starts_with("[[deviation]]"))
        .map(|(i, _)| i as u64 + 1)
        .last()
        .unwrap_or(at)
}

/// Reads and checks a baseline file.
pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| BaselineError {
        file: file.clone(),
        line: None,
        message: format!("cannot read the baseline: {e}"),
    })?;
    parse(&file, &text)
}

/// Parses baseline text; `file` names it in errors and in `Baseline::place`.
pub fn parse(file: &str, text: &str) -> Result<Baseline, BaselineError> {
    let err = |line: Option<u64>, message: String| BaselineError {
        file: file.to_string(),
        line,
        message,
    };
    let form: FileForm = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        err(
            line,
            format!(
                "not a valid baseline: {} (each entry is a [[deviation]] table with check or scenario, optional server, and reason)",
                e.message().trim()
            ),
        )
    })?;
    let mut deviations = Vec::with_capacity(form.deviation.len());
    for spanned in form.deviation {
        let line = header_line(text, spanned.span().start);
        let e = spanned.into_inner();
        match (&e.check, &e.scenario) {
            (None, None) => {
                return Err(err(
                    Some(line),
                    "a deviation needs `check = \"ID\"` or `scenario = \"ID\"`".to_string(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(err(
                    Some(line),
                    "a deviation names either a check or a scenario, not both: write two entries"
                        .to_string(),
                ))
            }
            _ => {}
        }
        if let Some(c) = &e.check {
            if crate::checks::info(c).is_none() {
                return Err(err(
                    Some(line),
                    format!("unknown check id `{c}` (see `imapspec list`)"),
                ));
            }
        }
        let reason =
            match e.reason.as_deref().map(str::trim) {
                Some(r) if !r.is_empty() => r.to_string(),
                _ => return Err(err(
                    Some(line),
                    "a deviation needs `reason = \"...\"`: why it is accepted (shown in reports)"
                        .to_string(),
                )),
            };
        deviations.push(Deviation {
            line,
            check: e.check,
            scenario: e.scenario,
            server: e.server,
            reason,
        });
    }
    Ok(Baseline {
        file: file.to_string(),
        deviations,
    })
}

/// One entry to write, with a comment above it (where it was seen).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub check: Option<String>,
    pub scenario: Option<String>,
    pub server: Option<String>,
    pub reason: String,
    pub comment: String,
}

/// A TOML string, quoted.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Baseline text for `entries`, readable back by [`parse`].
pub fn write(header: &str, entries: &[NewEntry]) -> String {
    let mut out = String::new();
    for l in header.lines() {
        let _ = writeln!(out, "# {l}");
    }
    for e in entries {
        out.push('\n');
        for l in e.comment.lines() {
            let _ = writeln!(out, "# {l}");
        }
        out.push_str("[[deviation]]\n");
        if let Some(c) = &e.check {
            let _ = writeln!(out, "check = {}", quote(c));
        }
        if let Some(s) = &e.scenario {
            let _ = writeln!(out, "scenario = {}", quote(s));
        }
        if let Some(s) = &e.server {
            let _ = writeln!(out, "server = {}", quote(s));
        }
        let _ = writeln!(out, "reason = {}", quote(&e.reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_header_line() {
        let text = "# known\n\n[[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"r1\"\n\n[[deviation]]\nscenario = \"outlook/x\"\nserver = \"dovecot\"\nreason = \"r2\"\n";
        let b = parse("b.toml", text).expect("valid");
        assert_eq!(b.deviations.len(), 2);
        assert_eq!(b.deviations[0].line, 3);
        assert_eq!(b.deviations[1].line, 7);
        assert_eq!(b.place(&b.deviations[1]), "b.toml:7");
        assert!(b.deviations[1].applies_to("dovecot") && !b.deviations[1].applies_to("cyrus"));
        assert!(b.deviations[0].applies_to("anything"));
    }

    #[test]
    fn malformed_entries_name_their_line() {
        let cases = [
            ("[[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"r\"\nwhy = 1\n", 4, "unknown field"),
            ("x = 1\n[[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"r\"\n", 1, "unknown field"),
            ("\n[[deviation]]\nreason = \"r\"\n", 2, "needs `check"),
            ("[[deviation]]\ncheck = \"uid.no-reuse\"\n\n[[deviation]]\ncheck = \"uid.no-reuse\"\n", 1, "needs `reason"),
            ("[[deviation]]\ncheck = \"uid.nope\"\nreason = \"r\"\n", 1, "unknown check id `uid.nope`"),
            ("[[deviation]]\ncheck = \"uid.no-reuse\"\nscenario = \"a\"\nreason = \"r\"\n", 1, "not both"),
        ];
        for (text, line, what) in cases {
            let e = parse("b.toml", text).expect_err(text);
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.to_string().contains(what), "{text}: {e}");
            assert!(
                e.to_string().starts_with(&format!("b.toml:{line}: ")),
                "{e}"
            );
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let text = write(
            "made by a test",
            &[NewEntry {
                check: Some("uid.no-reuse".into()),
                scenario: None,
                server: Some("dove\"cot".into()),
                reason: "it \"reuses\"\nUIDs".into(),
                comment: "seen in: a, b".into(),
            }],
        );
        let b = parse("w.toml", &text).expect(&text);
        assert_eq!(b.deviations.len(), 1);
        assert_eq!(b.deviations[0].server.as_deref(), Some("dove\"cot"));
        assert_eq!(b.deviations[0].reason, "it \"reuses\"\nUIDs");
        assert!(text.starts_with("# made by a test\n"));
    }
}
