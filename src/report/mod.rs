//! Reports of findings: for people on a terminal, and JSON for machines.
//!
//! Reports only read plain data (`LogResult`, `Finding`, the check registry); they
//! never run anything.

pub mod html;
pub mod json;
pub mod junit;
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
