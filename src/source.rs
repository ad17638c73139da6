//! Where a piece of evidence came from: a file and a line in it.
//!
//! Live runs write their transcript as they go and give every message the line it
//! occupies in that transcript, so a finding found live and the same finding found
//! later in the recorded transcript carry the same `Origin`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A position in a log or transcript file (1-based line).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u64,
}

impl Origin {
    pub fn new(file: &Arc<str>, line: u64) -> Self {
        Origin {
            file: Arc::clone(file),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A point in time, in nanoseconds since an arbitrary epoch fixed per transcript.
///
/// Only differences between timestamps of one file are meaningful: log formats
/// give wall-clock times of day, Unix times or a session-relative clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9) as i64)
    }
    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

/// Formats a duration the way people read it in a report: `30m53s`, `75ms`.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// `250ms`, `5s`, `10m`, `1h`, `31m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad =
        || format!("bad duration `{s}`: use a number with ms, s, m or h, like 5s, 10m or 31m30s");
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
    }
    Ok(total)
}
