//! `imapspec baseline REPORT.json [-o FILE] [--reason TEXT]`: writes a baseline
//! from a run's current failures, for `imapspec run --baseline FILE`.
//!
//! Granularity: one `check` entry per failing check id (with the report's
//! server name), whatever scenarios it failed in: a deviation is a fact about
//! the server ("it reuses UIDs"), and the entry stays right as scenarios are
//! added. A failing scenario that no check entry explains (an expectation of
//! its own failed, or it failed without a finding) gets a `scenario` entry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::baseline::NewEntry;
use crate::finding::Severity;

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// A JSON report of `imapspec run --report-json` (or of `report merge --json`).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// Where to write the baseline (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The reason written in every entry (default: the first finding's message;
    /// edit each into why the deviation is accepted).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Default)]
struct Seen {
    scenarios: Vec<String>,
    first: String,
}

pub fn run(args: &BaselineArgs) -> Exit {
    let path = &args.report;
    let value: serde_json::Value = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}: not a readable JSON report: {e}", path.display());
            return Exit::Usage;
        }
    };
    let report = match crate::report::merge::from_json(&value) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return Exit::Usage;
        }
    };
    let strict = report.strict;
    let mut checks: BTreeMap<&str, Seen> = BTreeMap::new();
    let mut scenarios: Vec<(String, String)> = Vec::new();
    for r in &report.results {
        if !r.fails(strict) {
            continue;
        }
        let failing: Vec<_> = r.failing_findings(strict).collect();
        let own = r.failures.iter().find(|f| f.fails(strict));
        if own.is_some() || failing.is_empty() {
            let why = own
                .map(|f| format!("{}:{}: {}", f.file, f.line, f.message))
                .or_else(|| r.reason.clone())
                .unwrap_or_else(|| "failed".to_string());
            scenarios.push((r.id.clone(), why));
            continue;
        }
        for f in failing {
            let seen = checks.entry(f.check).or_default();
            if seen.first.is_empty() {
                seen.first = f.message.clone();
            }
            if !seen.scenarios.contains(&r.id) {
                seen.scenarios.push(r.id.clone());
            }
        }
    }
    for (r, f) in report.server_findings() {
        if f.severity == Severity::Violation || strict {
            let seen = checks.entry(f.check).or_default();
            if seen.first.is_empty() {
                seen.first = f.message.clone();
            }
            if !seen.scenarios.contains(&r.id) {
                seen.scenarios.push(r.id.clone());
            }
        }
    }
    let reason = |first: &str| {
        args.reason
            .clone()
            .unwrap_or_else(|| format!("recorded by `imapspec baseline`: {first}"))
    };
    let mut entries: Vec<NewEntry> = checks
        .into_iter()
        .map(|(check, seen)| NewEntry {
            check: Some(check.to_string()),
            scenario: None,
            server: Some(report.server_name.clone()),
            reason: reason(&seen.first),
            comment: format!(
                "{} ({}); seen in: {}",
                check,
                crate::checks::info(check).map_or("", |i| i.rfc),
                seen.scenarios.join(", ")
            ),
        })
        .collect();
    entries.extend(scenarios.into_iter().map(|(id, why)| NewEntry {
        check: None,
        scenario: Some(id.clone()),
        server: Some(report.server_name.clone()),
        reason: reason(&why),
        comment: format!("scenario {id} failed: {why}"),
    }));
    if entries.is_empty() {
        eprintln!(
            "note: {} has no failures: the baseline has no entries",
            path.display()
        );
    }
    let text = crate::baseline::write(
        &format!(
            "imapspec baseline: known deviations of `{}` ({}), from {}.\nEach is still shown in reports but does not fail `imapspec run --baseline`;\none that no longer occurs fails the run until it is removed. Give each a real reason.",
            report.server_name,
            report.server,
            path.display()
        ),
        &entries,
    );
    match &args.output {
        Some(o) => {
            if let Err(e) = std::fs::write(o, &text) {
                eprintln!("error: cannot write {}: {e}", o.display());
                return Exit::Usage;
            }
            eprintln!("wrote {} entries to {}", entries.len(), o.display());
        }
        None => super::outf!("{text}"),
    }
    Exit::Ok
}
