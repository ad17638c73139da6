//! Reports of an `imapspec run`: terminal, JSON (versioned), Markdown; the JSON
//! is also what `imapspec report merge` reads back.

use std::fmt::Write as _;

use crate::checks;
use crate::results::{RunReport, ScenarioResult, Status};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub inconclusive: usize,
    pub error: usize,
}

pub fn summary(report: &RunReport) -> RunSummary {
    let mut s = RunSummary {
        total: report.results.len(),
        ..RunSummary::default()
    };
    for r in &report.results {
        match r.status {
            Status::Passed => s.passed += 1,
            Status::Failed => s.failed += 1,
            Status::Skipped => s.skipped += 1,
            Status::Inconclusive => s.inconclusive += 1,
            Status::Error => s.error += 1,
        }
    }
    s
}

/// Lines `line-before..=line+after` of a transcript, numbered, the line marked.
pub fn context(file: &str, line: u64, before: u64, after: u64) -> Vec<(u64, String, bool)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let from = line.saturating_sub(before).max(1);
    text.lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l))
        .filter(|(n, _)| *n >= from && *n <= line + after)
        .map(|(n, l)| (n, l.chars().take(200).collect(), n == line))
        .collect()
}

fn order(s: Status) -> u8 {
    match s {
        Status::Failed => 0,
        Status::Error => 1,
        Status::Inconclusive => 2,
        Status::Skipped => 3,
        Status::Passed => 4,
    }
}

pub fn terminal(report: &RunReport) -> String {
    let mut out = String::new();
    let mut results: Vec<&ScenarioResult> = report.results.iter().collect();
    results.sort_by_key(|r| (order(r.status), r.id.clone()));
    for r in &results {
        if matches!(r.status, Status::Passed) {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {} — {} ({}; {})",
            r.status.as_str().to_uppercase(),
            r.id,
            r.title,
            r.client,
            r.source
        );
        if let Some(why) = &r.reason {
            let _ = writeln!(out, "  reason: {why}");
        }
        for f in &r.failures {
            let _ = writeln!(
                out,
                "  expectation failed at {}:{}: {}",
                f.file, f.line, f.message
            );
        }
        for f in &r.findings {
            let info = checks::info(f.check);
            let _ = writeln!(
                out,
                "  {} {} ({}) at {}",
                f.severity.as_str(),
                f.check,
                info.map_or("", |i| i.rfc),
                f.origin
            );
            let _ = writeln!(out, "    {}", f.message);
            for (n, l, mark) in context(&f.origin.file, f.origin.line, 3, 1) {
                let _ = writeln!(out, "    {} {n:>5} | {l}", if mark { ">" } else { " " });
            }
            if let Some(i) = info {
                let _ = writeln!(out, "    rule: {}", i.rule);
            }
            if let Some(impact) = &f.client_impact {
                let _ = writeln!(out, "    client impact: {impact}");
            }
        }
        if let Some(t) = &r.transcript {
            let _ = writeln!(out, "  transcript: {t}");
        }
        out.push('\n');
    }
    for r in results
        .iter()
        .filter(|r| matches!(r.status, Status::Passed))
    {
        let _ = writeln!(out, "passed {} ({} ms)", r.id, r.millis);
    }
    let s = summary(report);
    let _ = writeln!(
        out,
        "\n{} scenarios against {}: {} passed, {} failed, {} skipped, {} inconclusive, {} errors in {:.1} s",
        s.total,
        report.server,
        s.passed,
        s.failed,
        s.skipped,
        s.inconclusive,
        s.error,
        report.millis as f64 / 1000.0
    );
    out
}

pub fn json(report: &RunReport) -> serde_json::Value {
    let results: Vec<serde_json::Value> = report
        .results
        .iter()
        .map(|r| {
            let findings: Vec<serde_json::Value> =
                r.findings.iter().map(super::finding_json).collect();
            serde_json::json!({
                "id": r.id,
                "title": r.title,
                "client": r.client,
                "source": r.source,
                "file": r.file,
                "status": r.status,
                "reason": r.reason,
                "millis": r.millis,
                "transcript": r.transcript,
                "findings": findings,
                "failures": r.failures,
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "tool": "imapspec",
        "version": env!("CARGO_PKG_VERSION"),
        "command": "run",
        "server": report.server,
        "millis": report.millis,
        "summary": summary(report),
        "results": results,
    })
}

pub fn markdown(report: &RunReport) -> String {
    let s = summary(report);
    let mut out = format!(
        "## imapspec: {} — {} passed, {} failed, {} skipped, {} inconclusive, {} errors\n\n| scenario | client | status | findings |\n| --- | --- | --- | --- |\n",
        report.server, s.passed, s.failed, s.skipped, s.inconclusive, s.error
    );
    let mut results: Vec<&ScenarioResult> = report.results.iter().collect();
    results.sort_by_key(|r| (order(r.status), r.id.clone()));
    for r in results {
        let mut ids: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
        ids.sort();
        ids.dedup();
        let mut what = ids.join(", ");
        if !r.failures.is_empty() {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(&format!("{} expectation(s) failed", r.failures.len()));
        }
        if let Some(why) = &r.reason {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(why);
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            r.id,
            md(&r.client),
            r.status.as_str(),
            md(&what)
        );
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
