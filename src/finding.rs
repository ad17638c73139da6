//! A finding: one check that failed (or could not be judged) at one place.

use crate::source::Origin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Violation,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Violation => "violation",
        }
    }
}

/// The RFC keyword level of an expectation (RFC 2119): MUST fails a scenario,
/// SHOULD is a warning (a failure only under `--strict`), MAY is a note.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Keyword {
    May,
    Should,
    #[default]
    Must,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Must => "MUST",
            Keyword::Should => "SHOULD",
            Keyword::May => "MAY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The check's stable id (`uid.no-reuse`).
    pub check: &'static str,
    pub severity: Severity,
    /// The connection, as named in the log or by the runner.
    pub session: String,
    /// The line of the log or transcript where the offending message starts.
    pub origin: Origin,
    /// The offending line as sent (first line of the message, cut to 300 bytes).
    pub line: String,
    /// What happened, with the numbers.
    pub message: String,
    /// What a real client does when it meets this, when known.
    pub client_impact: Option<String>,
}

/// The first line of raw bytes, printable, cut to `max` characters.
pub fn excerpt(raw: &[u8], max: usize) -> String {
    let line = crate::wire::decode::first_line(raw);
    let mut s: String = line
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(max)
        .collect();
    if line.chars().count() > max {
        s.push('…');
    }
    s
}
