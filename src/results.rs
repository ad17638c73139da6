//! The results of a run: plain data, the only thing reports read.

use crate::finding::Keyword;
use crate::finding::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Inconclusive,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Inconclusive => "inconclusive",
            Status::Error => "error",
        }
    }
}

/// A scenario expectation that did not hold (not an RFC check).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub file: String,
    pub line: u64,
    pub message: String,
    /// The expectation's RFC keyword level: MUST fails the scenario, SHOULD
    /// warns (fails under --strict), MAY is a note.
    pub level: Keyword,
    /// The RFC sentence the scenario quotes for that level.
    pub quote: Option<String>,
}

impl Failure {
    /// Fails the scenario (MUST, or SHOULD under --strict).
    pub fn fails(&self, strict: bool) -> bool {
        self.level == Keyword::Must || (strict && self.level == Keyword::Should)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub client: String,
    pub source: String,
    pub file: String,
    /// Check ids the scenario is written to exercise.
    pub targets: Vec<String>,
    pub status: Status,
    /// Why it was skipped, inconclusive or an error.
    pub reason: Option<String>,
    /// Findings of the checks this scenario is about (its `targets`, and its
    /// `on-fail` expectations): these decide its status.
    pub findings: Vec<Finding>,
    /// Findings of every other check, seen during this scenario: they do not
    /// change its status, but are reported once, server-wide, and fail the run.
    pub other_findings: Vec<Finding>,
    /// Expectations that did not hold, at every level (MUST, SHOULD, MAY).
    pub failures: Vec<Failure>,
    pub transcript: Option<String>,
    pub millis: u64,
}

/// The personal namespace the runner learnt, that `$ns/NAME` maps to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamespaceInfo {
    pub prefix: String,
    pub delimiter: String,
    /// `NAMESPACE`, `LIST`, or `default` (nothing learnt).
    pub source: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub server: String,
    pub results: Vec<ScenarioResult>,
    pub millis: u64,
    /// Warnings fail too (`--strict`).
    pub strict: bool,
    pub namespace: Option<NamespaceInfo>,
    /// `--timeout` ran out: some scenarios did not run or were stopped.
    pub timed_out: bool,
}

impl RunReport {
    /// Every finding of the run that is not about the scenario it was seen in.
    pub fn server_findings(&self) -> impl Iterator<Item = (&ScenarioResult, &Finding)> {
        self.results
            .iter()
            .flat_map(|r| r.other_findings.iter().map(move |f| (r, f)))
    }

    /// The run fails (exit 1): a scenario failed, or a finding outside any
    /// scenario's own checks is a violation (or, under --strict, a warning).
    pub fn fails(&self) -> bool {
        if self.timed_out {
            return true;
        }
        let strict_fail = |r: &ScenarioResult| {
            self.strict && (!r.findings.is_empty() || r.failures.iter().any(|f| f.fails(true)))
        };
        self.results
            .iter()
            .any(|r| r.status == Status::Failed || strict_fail(r))
            || self
                .server_findings()
                .any(|(_, f)| f.severity == Severity::Violation || self.strict)
    }
}
