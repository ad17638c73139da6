//! Reports of an `imapspec run`: terminal, JSON (versioned), Markdown; the JSON
//! is also what `imapspec report merge` reads back.

use std::fmt::Write as _;

use crate::baseline::Deviation;
use crate::checks;
use crate::finding::Finding;
use crate::finding::Level;
use crate::results::{Failure, RunReport, ScenarioResult, Status, Verdict};

use super::{fold, Folded};

/// The findings of checks outside each scenario's own, folded across the run.
pub fn server_folded(report: &RunReport) -> Vec<Folded<'_>> {
    fold(report.server_findings().map(|(r, f)| (r.id.as_str(), f)))
}

/// How a failed expectation is named: its level decides.
pub fn failure_kind(f: &Failure, strict: bool) -> &'static str {
    match f.level {
        Level::Must => "expectation failed (MUST)",
        Level::Should if strict => "expectation failed (SHOULD, --strict)",
        Level::Should => "warning (SHOULD)",
        Level::May => "note (MAY)",
    }
}

/// The check ids outside the scenario's own that fired during it.
pub fn other_checks(r: &ScenarioResult) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = r.other_findings.iter().map(|f| f.check).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn finding_block(out: &mut String, g: &Folded<'_>, indent: &str) {
    let f: &Finding = g.first;
    let info = checks::info(f.check);
    let _ = writeln!(
        out,
        "{indent}{} {} ({}) at {}",
        f.severity.as_str(),
        f.check,
        info.map_or("", |i| i.rfc),
        f.origin
    );
    let _ = writeln!(out, "{indent}  {}", f.message);
    for (n, l, mark) in context(&f.origin.file, f.origin.line, 3, 1) {
        let _ = writeln!(
            out,
            "{indent}  {} {n:>5} | {l}",
            if mark { ">" } else { " " }
        );
    }
    if g.count > 1 {
        let _ = writeln!(out, "{indent}  {}", super::terminal::repeats(g));
    }
    if let Some(i) = info {
        let _ = writeln!(out, "{indent}  rule: {}", i.rule);
    }
    if let Some(impact) = &f.client_impact {
        let _ = writeln!(out, "{indent}  client impact: {impact}");
    }
}

/// Version 2 (levels, folding, the server-wide section): each scenario's
/// `findings` are only those of its own checks (targets and `on-fail`), folded
/// (`count`, `locations`); `failures` carry `level` (MUST/SHOULD/MAY) and
/// `quote`; `other_checks` names the checks outside the scenario that fired
/// during it; `server_findings` holds those once, folded across scenarios
/// (`seen_in`). The run fails when a scenario failed or a server finding is a
/// violation (`fails`). See docs/scenario-format.md and README.
///
/// Added since, without a version change: `server_name`; `partition`
/// (`k`, `n`, `scenarios`: the whole run's ids in order) for `--partition`
/// runs; `baseline` (`file`, `deviations` each with `entry`, `verdict` —
/// occurred / fixed / not-judged / other-server — and `note`), and
/// `baselined` (+ `baseline_reason`, `baseline_entry`) on results and
/// findings; `summary.known` and `summary.fixed`; and per result
/// `all_findings` / `all_other_findings`, every finding unfolded, so that a
/// report reads back whole (`report merge`, `imapspec baseline`).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub inconclusive: usize,
    pub error: usize,
    /// Scenario expectations at SHOULD level that did not hold, and warning
    /// findings of the scenarios' own checks (folded).
    pub warnings: usize,
    /// Server-wide findings, after folding.
    pub server_violations: usize,
    pub server_warnings: usize,
    /// Failing scenarios that a baseline entry makes known (they do not fail the run).
    #[serde(default)]
    pub known: usize,
    /// Baseline entries that did not occur (they fail the run).
    #[serde(default)]
    pub fixed: usize,
}

pub fn summary(report: &RunReport) -> RunSummary {
    let mut s = RunSummary {
        total: report.results.len(),
        ..RunSummary::default()
    };
    for g in server_folded(report) {
        match g.first.severity {
            crate::finding::Severity::Violation => s.server_violations += 1,
            crate::finding::Severity::Warning => s.server_warnings += 1,
        }
    }
    s.fixed = report.fixed().len();
    for r in &report.results {
        if !report.known_result(r).is_empty() {
            s.known += 1;
        }
        s.warnings += r
            .failures
            .iter()
            .filter(|f| f.level == Level::Should)
            .count()
            + fold(r.findings.iter().map(|f| (r.id.as_str(), f)))
                .iter()
                .filter(|g| g.first.severity == crate::finding::Severity::Warning)
                .count();
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
    // A pass with warnings or notes is shown in full, like a failure.
    let quiet_pass = |r: &ScenarioResult| {
        r.status == Status::Passed && r.failures.is_empty() && r.findings.is_empty()
    };
    for r in &results {
        if quiet_pass(r) {
            continue;
        }
        let known = known_reason(report, r);
        let warned = if known.is_some() {
            " (known deviation, does not fail the run)"
        } else if r.status == Status::Passed {
            " (with warnings or notes)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{}{warned} {} — {} ({}; {})",
            r.status.as_str().to_uppercase(),
            r.id,
            r.title,
            r.client,
            r.source
        );
        if let Some(why) = &r.reason {
            let _ = writeln!(out, "  reason: {why}");
        }
        if let Some(k) = &known {
            let _ = writeln!(out, "  known (baseline): {k}");
        }
        for f in &r.failures {
            let _ = writeln!(
                out,
                "  {} at {}:{}: {}",
                failure_kind(f, report.strict),
                f.file,
                f.line,
                f.message
            );
            if let Some(q) = &f.quote {
                let _ = writeln!(out, "    {q}");
            }
        }
        for g in fold(r.findings.iter().map(|f| (r.id.as_str(), f))) {
            finding_block(&mut out, &g, "  ");
            if let (Some(d), Some(b)) = (report.known_finding(r, g.first), &report.baseline) {
                let _ = writeln!(out, "    known (baseline {}): {}", b.place(d), d.reason);
            }
        }
        let others = other_checks(r);
        if !others.is_empty() {
            let _ = writeln!(
                out,
                "  also seen here (see server-wide findings): {}",
                others.join(", ")
            );
        }
        if let Some(t) = &r.transcript {
            let _ = writeln!(out, "  transcript: {t}");
        }
        out.push('\n');
    }
    for r in results.iter().filter(|r| quiet_pass(r)) {
        let others = other_checks(r);
        let also = if others.is_empty() {
            String::new()
        } else {
            format!("; also seen: {}", others.join(", "))
        };
        let _ = writeln!(out, "passed {} ({} ms{also})", r.id, r.millis);
    }
    let server = server_folded(report);
    if !server.is_empty() {
        let _ = writeln!(
            out,
            "\nserver-wide findings (checks no scenario here is about; each reported once, they fail the run{}):",
            if report.strict { ", warnings too under --strict" } else { " when a violation" }
        );
        for g in &server {
            let mut seen: Vec<&str> = g.seen_in.iter().take(5).copied().collect();
            if g.seen_in.len() > 5 {
                seen.push("…");
            }
            let _ = writeln!(
                out,
                "  [{} scenario(s): {}]",
                g.seen_in.len(),
                seen.join(", ")
            );
            finding_block(&mut out, g, "  ");
            if let (Some(d), Some(b)) = (report.known_check(g.first.check), &report.baseline) {
                let _ = writeln!(out, "    known (baseline {}): {}", b.place(d), d.reason);
            }
        }
    }
    if let Some(b) = &report.baseline {
        let verdicts = report.verdicts();
        if !verdicts.is_empty() {
            let _ = writeln!(out, "\nbaseline {}:", b.file);
        }
        for (d, v) in verdicts {
            let place = b.place(d);
            let names = d.names();
            let _ = match v {
                Verdict::Fixed => writeln!(
                    out,
                    "  FIXED {place} ({names}): did not occur in this run: fixed — remove it from the baseline"
                ),
                Verdict::Occurred(n) => writeln!(
                    out,
                    "  known {place} ({names}): occurred ({n}); {}",
                    d.reason
                ),
                Verdict::NotJudged(why) => {
                    writeln!(out, "  not judged {place} ({names}): {why}")
                }
                Verdict::OtherServer => writeln!(
                    out,
                    "  other server {place} ({names}): this run is against `{}`",
                    report.server_name
                ),
            };
        }
    }
    if let Some(ns) = &report.namespace {
        let _ = writeln!(
            out,
            "\npersonal namespace: prefix \"{}\", delimiter \"{}\" (from {}); `$ns/NAME` maps to it",
            ns.prefix, ns.delimiter, ns.source
        );
    }
    let s = summary(report);
    let known = if report.baseline.is_some() {
        format!(
            "; baseline: {} known failing scenario(s), {} fixed entr{} to remove",
            s.known,
            s.fixed,
            if s.fixed == 1 { "y" } else { "ies" }
        )
    } else {
        String::new()
    };
    let part = report
        .partition
        .as_ref()
        .map(|p| format!(" (partition {}/{})", p.k, p.n))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{} scenarios{part} against {}: {} passed, {} failed, {} skipped, {} inconclusive, {} errors; {} warnings; server-wide {} violations, {} warnings{known} in {:.1} s",
        s.total,
        report.server,
        s.passed,
        s.failed,
        s.skipped,
        s.inconclusive,
        s.error,
        s.warnings,
        s.server_violations,
        s.server_warnings,
        report.millis as f64 / 1000.0
    );
    out
}

/// `"baselined"` and, when known, `"baseline_reason"` and `"baseline_entry"`.
fn known_json(v: &mut serde_json::Value, report: &RunReport, d: Option<&Deviation>) {
    v["baselined"] = serde_json::json!(d.is_some());
    if let (Some(d), Some(b)) = (d, &report.baseline) {
        v["baseline_reason"] = serde_json::json!(d.reason);
        v["baseline_entry"] = serde_json::json!(b.place(d));
    }
}

/// The reasons of the entries that make a failing scenario known, joined.
pub fn known_reason(report: &RunReport, r: &ScenarioResult) -> Option<String> {
    let known = report.known_result(r);
    let b = report.baseline.as_ref()?;
    (!known.is_empty()).then(|| {
        known
            .iter()
            .map(|d| format!("{} ({})", d.reason, b.place(d)))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Each baseline entry and its verdict, for the JSON report.
fn baseline_json(report: &RunReport) -> serde_json::Value {
    let Some(b) = &report.baseline else {
        return serde_json::Value::Null;
    };
    let entries: Vec<serde_json::Value> = report
        .verdicts()
        .into_iter()
        .map(|(d, v)| {
            let note = match &v {
                Verdict::Fixed => Some(format!(
                    "fixed — remove it from the baseline ({}: {})",
                    b.place(d),
                    d.names()
                )),
                Verdict::NotJudged(why) => Some(why.clone()),
                _ => None,
            };
            serde_json::json!({
                "line": d.line,
                "entry": b.place(d),
                "check": d.check,
                "scenario": d.scenario,
                "server": d.server,
                "reason": d.reason,
                "verdict": v.as_str(),
                "matched": match v { Verdict::Occurred(n) => n, _ => 0 },
                "note": note,
            })
        })
        .collect();
    serde_json::json!({ "file": b.file, "deviations": entries })
}

/// Fields set by the run, not by what the server did, that differ between two
/// runs of the same scenarios against the same server: `millis` (the run's and
/// each scenario's), `transcript` paths and every `file` inside findings (the
/// transcript folder), and `baseline.file` / `baseline_entry` (the baseline's
/// path). `report merge` of partitions equals an unsharded run's report once
/// these are set aside; the merged `millis` is the longest partition's, as
/// partitions run side by side.
pub const RUN_SPECIFIC_FIELDS: &[&str] = &["millis", "transcript", "file", "baseline_entry"];

pub fn json(report: &RunReport) -> serde_json::Value {
    let results: Vec<serde_json::Value> = report
        .results
        .iter()
        .map(|r| {
            let findings: Vec<serde_json::Value> =
                fold(r.findings.iter().map(|f| (r.id.as_str(), f)))
                    .iter()
                    .map(|g| {
                        let mut v = super::folded_json(g);
                        known_json(&mut v, report, report.known_finding(r, g.first));
                        v
                    })
                    .collect();
            let mut v = serde_json::json!({
                "id": r.id,
                "title": r.title,
                "client": r.client,
                "source": r.source,
                "file": r.file,
                "targets": r.targets,
                "status": r.status,
                "reason": r.reason,
                "millis": r.millis,
                "transcript": r.transcript,
                "findings": findings,
                "failures": r.failures,
                "cases": r.cases,
                "other_checks": other_checks(r),
                // Every finding unfolded, so the report can be read back
                // whole (`report merge`, `imapspec baseline`).
                "all_findings": r.findings.iter().map(super::finding_json).collect::<Vec<_>>(),
                "all_other_findings": r.other_findings.iter().map(super::finding_json).collect::<Vec<_>>(),
            });
            let known = report.known_result(r);
            known_json(&mut v, report, known.first().copied());
            if let Some(reason) = known_reason(report, r) {
                v["baseline_reason"] = serde_json::json!(reason);
            }
            v
        })
        .collect();
    let server: Vec<serde_json::Value> = server_folded(report)
        .iter()
        .map(|g| {
            let mut v = super::folded_json(g);
            known_json(&mut v, report, report.known_check(g.first.check));
            v
        })
        .collect();
    serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "tool": "imapspec",
        "version": env!("CARGO_PKG_VERSION"),
        "command": "run",
        "server": report.server,
        "server_name": report.server_name,
        "partition": report.partition,
        "millis": report.millis,
        "strict": report.strict,
        "namespace": report.namespace,
        "fails": report.fails(),
        "timed_out": report.timed_out,
        "summary": summary(report),
        "baseline": baseline_json(report),
        "results": results,
        "server_findings": server,
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
        for (level, n) in [Level::Must, Level::Should, Level::May]
            .map(|k| (k, r.failures.iter().filter(|f| f.level == k).count()))
        {
            if n == 0 {
                continue;
            }
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(&format!("{n} {} expectation(s) failed", level.as_str()));
        }
        let others = other_checks(r);
        if !others.is_empty() {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(&format!("also seen: {}", others.join(", ")));
        }
        if let Some(why) = &r.reason {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(why);
        }
        let known = known_reason(report, r);
        if let Some(k) = &known {
            if !what.is_empty() {
                what.push_str("; ");
            }
            what.push_str(&format!("known: {k}"));
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {}{} | {} |",
            r.id,
            md(&r.client),
            r.status.as_str(),
            if known.is_some() { " (known)" } else { "" },
            md(&what)
        );
    }
    let server = server_folded(report);
    if !server.is_empty() {
        out.push_str("\n### Server-wide findings\n\nChecks no scenario here is about, each deviation once; they fail the run when a violation.\n\n| check | severity | times | scenarios | first at | message |\n| --- | --- | --- | --- | --- | --- |\n");
        for g in &server {
            let known = if report.known_check(g.first.check).is_some() {
                " (known)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| `{}` | {}{known} | {} | {} | {} | {} |",
                g.first.check,
                g.first.severity.as_str(),
                g.count,
                g.seen_in.len(),
                md(&g.first.origin.to_string()),
                md(&g.first.message)
            );
        }
    }
    if let Some(b) = &report.baseline {
        let verdicts = report.verdicts();
        if !verdicts.is_empty() {
            out.push_str("\n### Baseline\n\n| entry | names | verdict | reason |\n| --- | --- | --- | --- |\n");
        }
        for (d, v) in verdicts {
            let verdict = match &v {
                Verdict::Fixed => "**fixed — remove it from the baseline**".to_string(),
                Verdict::Occurred(n) => format!("known, occurred ({n})"),
                Verdict::NotJudged(why) => format!("not judged: {why}"),
                Verdict::OtherServer => "for another server".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md(&b.place(d)),
                md(&d.names()),
                md(&verdict),
                md(&d.reason)
            );
        }
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
