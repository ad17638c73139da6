//! Reports of findings: for people on a terminal, and JSON for machines.
//!
//! Reports only read plain data (`LogResult`, `Finding`, the check registry); they
//! never run anything.

pub mod html;
pub mod json;
pub mod junit;
pub mod matrix;
pub mod merge;
pub mod run;
pub mod terminal;

use std::collections::BTreeMap;

use crate::finding::{Finding, Severity};
use crate::transcript::Format;

/// The outcome for one log file (or one live session's transcript).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogResult {
    /// The log's path.
    pub id: String,
    pub status: Status,
    pub format: Option<Format>,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    /// Why the log could not be read, for `status: error`.
    pub error: Option<String>,
    pub findings: Vec<Finding>,
    /// Findings beyond the per-check cap, counted by check id.
    pub dropped: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Error,
}

impl LogResult {
    pub fn status_of(findings: &[Finding], dropped: &BTreeMap<String, u64>) -> Status {
        let violation = findings.iter().any(|f| f.severity == Severity::Violation)
            || dropped.keys().any(|id| {
                crate::checks::info(id).is_some_and(|c| c.severity == Severity::Violation)
            });
        if violation {
            Status::Failed
        } else {
            Status::Passed
        }
    }
}

/// One finding in the JSON reports (`check`, `run`, `replay` share the shape).
pub fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "check": f.check,
        "severity": f.severity,
        "rfc": crate::checks::info(f.check).map(|i| i.rfc),
        "session": f.session,
        "file": f.origin.file,
        "line": f.origin.line,
        "excerpt": f.line,
        "message": f.message,
        "client_impact": f.client_impact,
    })
}

/// Findings of one check with one cause, folded into one: the first in full,
/// how many there were, and where the first few were.
#[derive(Debug, Clone)]
pub struct Folded<'a> {
    pub first: &'a Finding,
    pub count: u64,
    /// The first [`FOLD_LOCATIONS`] places, the first finding's included.
    pub locations: Vec<&'a crate::source::Origin>,
    /// The scenarios (or logs) it was seen in, in order, without repeats.
    pub seen_in: Vec<&'a str>,
}

/// Places listed for a folded finding.
pub const FOLD_LOCATIONS: usize = 5;

/// What makes two findings one deviation: the same check, the same severity
/// and the same message once numbers (sequence numbers, UIDs, line numbers,
/// durations) are set aside — "FETCH FLAGS has Seen without a backslash" seven
/// times over is one fact about the server.
pub fn cause(f: &Finding) -> (&'static str, Severity, String) {
    let mut key = String::with_capacity(f.message.len());
    let mut in_number = false;
    for c in f.message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                key.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            key.push(c);
        }
    }
    (f.check, f.severity, key)
}

/// Folds findings (each with where it was seen) by [`cause`], keeping the
/// order of first appearance.
pub fn fold<'a>(findings: impl IntoIterator<Item = (&'a str, &'a Finding)>) -> Vec<Folded<'a>> {
    let mut out: Vec<Folded<'a>> = Vec::new();
    let mut index: std::collections::HashMap<(&'static str, Severity, String), usize> =
        std::collections::HashMap::new();
    for (place, f) in findings {
        match index.entry(cause(f)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let g = &mut out[*e.get()];
                g.count += 1;
                if g.locations.len() < FOLD_LOCATIONS {
                    g.locations.push(&f.origin);
                }
                if !g.seen_in.contains(&place) {
                    g.seen_in.push(place);
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(Folded {
                    first: f,
                    count: 1,
                    locations: vec![&f.origin],
                    seen_in: vec![place],
                });
            }
        }
    }
    out
}

/// A folded finding in the JSON reports: the first finding's fields, plus
/// `count`, `locations` (`file:line`, the first few) and `seen_in`.
pub fn folded_json(g: &Folded<'_>) -> serde_json::Value {
    let mut v = finding_json(g.first);
    v["level"] = serde_json::json!(level_of(g.first));
    v["count"] = serde_json::json!(g.count);
    v["locations"] = serde_json::json!(g
        .locations
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>());
    v["seen_in"] = serde_json::json!(g.seen_in);
    v
}

/// The RFC keyword behind a finding's severity: a violation breaks a MUST, a
/// warning a SHOULD.
pub fn level_of(f: &Finding) -> &'static str {
    match f.severity {
        Severity::Violation => "MUST",
        Severity::Warning => "SHOULD",
    }
}

/// Counts for a summary line.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub logs: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub violations: u64,
    pub warnings: u64,
}

pub fn summarize(results: &[LogResult]) -> Summary {
    let mut s = Summary {
        logs: results.len(),
        ..Summary::default()
    };
    for r in results {
        match r.status {
            Status::Passed => s.passed += 1,
            Status::Failed => s.failed += 1,
            Status::Error => s.errors += 1,
        }
        for f in &r.findings {
            match f.severity {
                Severity::Violation => s.violations += 1,
                Severity::Warning => s.warnings += 1,
            }
        }
        for (id, n) in &r.dropped {
            match crate::checks::info(id).map(|c| c.severity) {
                Some(Severity::Warning) => s.warnings += n,
                _ => s.violations += n,
            }
        }
    }
    s
}
