//! JUnit XML for CI: one testcase per (scenario, check) that the scenario exercised
//! or that fired, plus one for the scenario's own expectations. A violation is a
//! `<failure>` with the expected rule, what happened and the RFC; a run that could
//! not happen (server unreachable) is an `<error>`.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::checks;
use crate::results::{RunReport, Status};

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
        let mut case = TestCase::new(format!("{} :: scenario", r.id), expectations);
        case.set_classname(r.client.clone());
        suite.add_test_case(case);
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
    junit.to_string().map_err(|e| e.to_string())
}
