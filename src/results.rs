//! The results of a run: plain data, the only thing reports read; and what a
//! baseline's entries cover in those results, which decides whether the run fails.

use crate::baseline::{Baseline, Deviation};
use crate::finding::Level;
use crate::finding::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub file: String,
    pub line: u64,
    pub message: String,
    /// The expectation's RFC keyword level: MUST fails the scenario, SHOULD
    /// warns (fails under --strict), MAY is a note.
    pub level: Level,
    /// The RFC sentence the scenario quotes for that level.
    pub quote: Option<String>,
}

impl Failure {
    /// Fails the scenario (MUST, or SHOULD under --strict).
    pub fn fails(&self, strict: bool) -> bool {
        self.level == Level::Must || (strict && self.level == Level::Should)
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
    /// imaptest scripts: each command of the script, judged on its own.
    pub cases: Vec<CommandCase>,
}

/// One command of an imaptest script: its own JUnit case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandCase {
    /// The script line of the command.
    pub line: u64,
    /// As the script wrote it (literals shown as `{n}`).
    pub command: String,
    /// Passed, failed, or skipped: the script stopped before it.
    pub status: Status,
    /// What did not hold: its status, its prefix, its group's untagged replies.
    pub messages: Vec<String>,
}

impl ScenarioResult {
    /// Its own verdict fails the run (before any baseline): it failed, or under
    /// --strict it has a finding or a SHOULD expectation that did not hold.
    pub fn fails(&self, strict: bool) -> bool {
        self.status == Status::Failed
            || (strict
                && (!self.findings.is_empty() || self.failures.iter().any(|f| f.fails(true))))
    }

    /// The findings among its own that fail it (violations; all under --strict).
    pub fn failing_findings(&self, strict: bool) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| strict || f.severity == Severity::Violation)
    }
}

/// Which share of the scenarios a `--partition K/N` run ran.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionInfo {
    /// 1-based.
    pub k: usize,
    pub n: usize,
    /// Every scenario id of the whole (unpartitioned) run, in run order: merge
    /// checks the partitions cover exactly these and restores this order.
    pub scenarios: Vec<String>,
}

/// What became of a baseline entry in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It applies to another `--server-name`.
    OtherServer,
    /// It occurred (this many findings or failed scenarios matched): shown, known.
    Occurred(usize),
    /// It did not occur: the run fails until it is removed from the baseline.
    Fixed,
    /// This run cannot tell (the scenario was not run here, or gave no verdict).
    NotJudged(String),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::OtherServer => "other-server",
            Verdict::Occurred(_) => "occurred",
            Verdict::Fixed => "fixed",
            Verdict::NotJudged(_) => "not-judged",
        }
    }
}

/// The personal namespace the runner learnt, that `$ns/NAME` maps to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamespaceInfo {
    pub prefix: String,
    pub delimiter: String,
    /// `NAMESPACE`, `LIST`, or `default` (nothing learnt).
    pub source: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub server: String,
    /// The server's name for baselines (`--server-name`; "reference" for the
    /// embedded server, host:port otherwise).
    pub server_name: String,
    /// Set for a `--partition K/N` run.
    pub partition: Option<PartitionInfo>,
    /// The known deviations the run was judged with (`--baseline`).
    pub baseline: Option<Baseline>,
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

    /// The active scenario entry for a scenario id.
    pub fn known_scenario(&self, id: &str) -> Option<&Deviation> {
        self.baseline
            .as_ref()?
            .deviations
            .iter()
            .find(|d| d.scenario.as_deref() == Some(id) && d.applies_to(&self.server_name))
    }

    /// The active check entry for a check id.
    pub fn known_check(&self, check: &str) -> Option<&Deviation> {
        self.baseline
            .as_ref()?
            .deviations
            .iter()
            .find(|d| d.check.as_deref() == Some(check) && d.applies_to(&self.server_name))
    }

    /// The entry that makes a scenario's own finding known: the scenario's
    /// entry, or the check's.
    pub fn known_finding(&self, r: &ScenarioResult, f: &Finding) -> Option<&Deviation> {
        self.known_scenario(&r.id)
            .or_else(|| self.known_check(f.check))
    }

    /// Entries that make a failing scenario known, if it fails and they cover
    /// every reason it fails: its scenario entry, or check entries for each of
    /// its failing findings when no expectation of its own failed.
    pub fn known_result(&self, r: &ScenarioResult) -> Vec<&Deviation> {
        if !r.fails(self.strict) {
            return Vec::new();
        }
        if let Some(d) = self.known_scenario(&r.id) {
            return vec![d];
        }
        if r.failures.iter().any(|f| f.fails(self.strict)) {
            return Vec::new();
        }
        let mut out: Vec<&Deviation> = Vec::new();
        for f in r.failing_findings(self.strict) {
            match self.known_check(f.check) {
                Some(d) if !out.contains(&d) => out.push(d),
                Some(_) => {}
                None => return Vec::new(),
            }
        }
        out
    }

    /// Each baseline entry, with what became of it here. A scenario entry
    /// whose scenario is not in this run (another partition's, or not
    /// selected) is not judged: the run that has it judges it. A check entry
    /// that did not occur in a partition is not judged either, since another
    /// partition may see it: `report merge` judges it over all of them.
    pub fn verdicts(&self) -> Vec<(&Deviation, Verdict)> {
        let Some(b) = &self.baseline else {
            return Vec::new();
        };
        b.deviations
            .iter()
            .map(|d| {
                let v = if !d.applies_to(&self.server_name) {
                    Verdict::OtherServer
                } else if let Some(check) = &d.check {
                    let n = self
                        .results
                        .iter()
                        .flat_map(|r| r.findings.iter().chain(&r.other_findings))
                        .filter(|f| f.check == check)
                        .count();
                    match (n, &self.partition) {
                        (0, Some(p)) => Verdict::NotJudged(format!(
                            "not seen in partition {}/{}; `report merge` judges it over all partitions",
                            p.k, p.n
                        )),
                        (0, None) => Verdict::Fixed,
                        (n, _) => Verdict::Occurred(n),
                    }
                } else {
                    let id = d.scenario.as_deref().unwrap_or_default();
                    match self.results.iter().find(|r| r.id == id) {
                        None => Verdict::NotJudged(match &self.partition {
                            Some(p) if p.scenarios.iter().any(|s| s == id) => {
                                format!("scenario in another partition than {}/{}", p.k, p.n)
                            }
                            _ => "scenario not run here".to_string(),
                        }),
                        Some(r) if r.fails(self.strict) => Verdict::Occurred(1),
                        Some(r) if r.status == Status::Passed => Verdict::Fixed,
                        Some(r) => Verdict::NotJudged(format!(
                            "the scenario was {}{}",
                            r.status.as_str(),
                            r.reason
                                .as_deref()
                                .map(|w| format!(": {w}"))
                                .unwrap_or_default()
                        )),
                    }
                };
                (d, v)
            })
            .collect()
    }

    /// The entries that did not occur ("fixed — remove it from the baseline").
    pub fn fixed(&self) -> Vec<&Deviation> {
        self.verdicts()
            .into_iter()
            .filter(|(_, v)| *v == Verdict::Fixed)
            .map(|(d, _)| d)
            .collect()
    }

    /// The run fails (exit 1): a scenario failed, or a finding outside any
    /// scenario's own checks is a violation (or, under --strict, a warning),
    /// and no baseline entry covers it; or a baseline entry did not occur.
    pub fn fails(&self) -> bool {
        if self.timed_out {
            return true;
        }
        self.results
            .iter()
            .any(|r| r.fails(self.strict) && self.known_result(r).is_empty())
            || self.server_findings().any(|(_, f)| {
                (f.severity == Severity::Violation || self.strict)
                    && self.known_check(f.check).is_none()
            })
            || !self.fixed().is_empty()
    }
}
