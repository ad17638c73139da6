//! JUnit XML for CI: one testcase per (scenario, check) that the scenario exercised
//! or that fired, plus one for the scenario's own expectations. A violation is a
//! `<failure>` with the expected rule, what happened and the RFC; a run that could
//! not happen (server unreachable) is an `<error>`.
//!
//! A baselined deviation (a known one, `--baseline`) is a `<skipped>` case whose
//! message starts "known deviation" and gives the entry's reason and `file:line`,
//! the failure it would have been in the skipped element's text: CI dashboards
//! show it apart from both passes and failures, and it does not fail the build.
//! A baseline entry that did not occur is a `<failure>` in the `baseline` suite
//! ("fixed — remove it from the baseline").

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::checks;
use crate::results::{RunReport, Status, Verdict};

/// A failure made known by a baseline entry: skipped, saying why.
fn known(status: TestCaseStatus, reason: Option<String>) -> TestCaseStatus {
    let Some(reason) = reason else {
        return status;
    };
    match status {
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            message,
            description,
            ..
        } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("known deviation: {reason}"));
            let text: Vec<String> = [message, description]
                .into_iter()
                .flatten()
                .map(|x| x.to_string())
                .collect();
            s.set_description(text.join("\n"));
            s
        }
        other => other,
    }
}

fn entry_reason(report: &RunReport, d: Option<&crate::baseline::Deviation>) -> Option<String> {
    let (d, b) = (d?, report.baseline.as_ref()?);
    Some(format!("{} ({})", d.reason, b.place(d)))
}

pub fn render(report: &RunReport) -> Result<String, String> {
    let mut junit = Report::new("imapspec");
    for r in &report.results {
        let mut suite = TestSuite::new(r.id.clone());
        let mut checks_named: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
        // The checks the scenario exercises get a case even when they pass.
        if matches!(r.status, Status::Passed | Status::Failed) {
            checks_named.extend(r.targets.iter().map(String::as_str));
        }
        checks_named.sort();
        checks_named.dedup();
        let expectations = match r.status {
            Status::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(r.reason.clone().unwrap_or_default());
                s
            }
            Status::Skipped | Status::Inconclusive => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!(
                    "{}: {}",
                    r.status.as_str(),
                    r.reason.clone().unwrap_or_default()
                ));
                s
            }
            _ if r.failures.iter().any(|f| f.fails(report.strict)) => {
                let failing: Vec<_> = r
                    .failures
                    .iter()
                    .filter(|f| f.fails(report.strict))
                    .collect();
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} expectation(s) failed", failing.len()));
                s.set_description(
                    failing
                        .iter()
                        .map(|f| {
                            format!(
                                "{}:{}: {} ({})",
                                f.file,
                                f.line,
                                f.message,
                                f.level.as_str()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                s
            }
            _ => TestCaseStatus::success(),
        };
        let expectations = known(expectations, super::run::known_reason(report, r));
        let mut case = TestCase::new(format!("{} :: scenario", r.id), expectations);
        case.set_classname(r.client.clone());
        suite.add_test_case(case);
        // An imaptest script: each command a case of its own.
        for c in &r.cases {
            let status = match c.status {
                Status::Failed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(c.messages.first().cloned().unwrap_or_default());
                    s.set_description(c.messages.join("\n"));
                    s
                }
                Status::Passed => TestCaseStatus::success(),
                _ => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message("not run: the script stopped before it");
                    s
                }
            };
            let mut case = TestCase::new(
                format!("{} :: line {}: {}", r.id, c.line, c.command),
                status,
            );
            case.set_classname(r.client.clone());
            suite.add_test_case(case);
        }
        for id in checks_named {
            let info = checks::info(id);
            let fs: Vec<_> = r.findings.iter().filter(|f| f.check == id).collect();
            let violation = fs
                .iter()
                .any(|f| f.severity == crate::finding::Severity::Violation || report.strict);
            let status = if violation {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "{id} ({}): {}",
                    info.map_or("", |i| i.rfc),
                    fs[0].message
                ));
                s.set_description(
                    fs.iter()
                        .map(|f| {
                            format!(
                                "{}\n  expected: {}\n  actual:   {} ({})\n  at {}\n  client impact: {}",
                                f.check,
                                info.map_or("", |i| i.rule),
                                f.message,
                                f.line,
                                f.origin,
                                f.client_impact.clone().unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n\n"),
                );
                s
            } else {
                TestCaseStatus::success()
            };
            let status = match fs.first() {
                Some(f) => known(status, entry_reason(report, report.known_finding(r, f))),
                None => status,
            };
            let mut case = TestCase::new(format!("{} :: {id}", r.id), status);
            case.set_classname(r.client.clone());
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    // Checks outside every scenario's own: one case per deviation, once.
    let server = super::run::server_folded(report);
    if !server.is_empty() {
        let mut suite = TestSuite::new("server-wide");
        for g in &server {
            let f = g.first;
            let info = checks::info(f.check);
            let fails = f.severity == crate::finding::Severity::Violation || report.strict;
            let status = if fails {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "{} ({}): {}",
                    f.check,
                    info.map_or("", |i| i.rfc),
                    f.message
                ));
                s.set_description(format!(
                    "{}\n  expected: {}\n  first at {}\n  seen in: {}",
                    super::terminal::repeats(g),
                    info.map_or("", |i| i.rule),
                    f.origin,
                    g.seen_in.join(", ")
                ));
                s
            } else {
                TestCaseStatus::success()
            };
            let status = known(status, entry_reason(report, report.known_check(f.check)));
            let mut case = TestCase::new(
                format!(
                    "server-wide :: {} :: {}",
                    f.check,
                    g.first.message.chars().take(60).collect::<String>()
                ),
                status,
            );
            case.set_classname("server-wide");
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    if let Some(b) = &report.baseline {
        let mut suite = TestSuite::new("baseline");
        for (d, v) in report.verdicts() {
            let status = match &v {
                Verdict::Fixed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!(
                        "fixed — remove it from the baseline: {} ({}) did not occur in this run",
                        b.place(d),
                        d.names()
                    ));
                    s.set_description(format!("reason given: {}", d.reason));
                    s
                }
                Verdict::Occurred(_) => TestCaseStatus::success(),
                Verdict::NotJudged(why) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("not judged: {why}"));
                    s
                }
                Verdict::OtherServer => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!(
                        "for another server (this run is against `{}`)",
                        report.server_name
                    ));
                    s
                }
            };
            let mut case = TestCase::new(
                format!("baseline :: {} :: {}", b.place(d), d.names()),
                status,
            );
            case.set_classname("baseline");
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(|e| e.to_string())
}
