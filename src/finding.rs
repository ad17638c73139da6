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

/// The keyword level of an RFC sentence (RFC 2119), for checks and scenario
/// expectations alike. A MUST (or MUST NOT, or a definition every client
/// relies on, such as "the NOOP command always succeeds") is a violation when
/// broken and fails a scenario; a SHOULD is a warning (a failure only under
/// `--strict`); a MAY is never broken, only noted.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    May,
    Should,
    #[default]
    Must,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }

    /// MUST → violation; SHOULD and MAY → warning.
    pub const fn severity(self) -> Severity {
        match self {
            Level::Must => Severity::Violation,
            Level::Should | Level::May => Severity::Warning,
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
