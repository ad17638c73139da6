//! The results of a run: plain data, the only thing reports read.

use crate::finding::Finding;

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
    pub findings: Vec<Finding>,
    pub failures: Vec<Failure>,
    pub transcript: Option<String>,
    pub millis: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub server: String,
    pub results: Vec<ScenarioResult>,
    pub millis: u64,
}
