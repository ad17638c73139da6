//! `imapspec report merge`: joins JSON run reports. The reports of the
//! partitions of one run (`run --partition K/N`, all N of them) become the
//! reports of the whole run (JSON, JUnit, HTML, Markdown, as an unsharded run
//! writes them), and the exit status is that run's; reports of whole runs
//! (one per server) become a server × scenario matrix (HTML and/or Markdown).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Exit;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Joins JSON reports from `imapspec run --report-json`: all partitions of
    /// one run into that run's reports (exit status as the run's: 0 passed,
    /// 1 failed), or whole runs against several servers into a matrix.
    Merge {
        /// JSON reports.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// The merged JSON report (partitions only).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// The merged JUnit XML (partitions only).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        md: Option<PathBuf>,
        /// Hand-checked notes on matrix cells (TOML `[[note]]` entries with
        /// `server` (its --server-name), `scenario` and `text`), e.g. why a
        /// scenario was not run on a server (whole runs only).
        #[arg(long, value_name = "FILE")]
        notes: Option<PathBuf>,
    },
}

pub fn run(args: &ReportArgs) -> Exit {
    let ReportCommand::Merge {
        reports,
        json,
        junit,
        html,
        md,
        notes,
    } = &args.command;
    // `imapspec load --report-json` results (processes, pods) merge into one.
    let is_load = |p: &PathBuf| {
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["command"] == "load")
    };
    if reports.iter().any(is_load) {
        if html.is_some() || md.is_some() || junit.is_some() || notes.is_some() {
            eprintln!("error: load reports merge into one JSON report (--json) and a summary; --html, --md, --junit and --notes are for run reports");
            return Exit::Usage;
        }
        let mut parts = Vec::new();
        for p in reports {
            match super::load::read_report(p) {
                Ok(r) => parts.push(r),
                Err(e) => {
                    eprintln!("error: {e} (merge load reports with load reports only)");
                    return Exit::Usage;
                }
            }
        }
        return match crate::load::LoadReport::merge(&parts) {
            Ok(r) => super::load::finish(&r, json.as_deref()),
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Usage
            }
        };
    }
    let mut parsed = Vec::new();
    for p in reports {
        let value: serde_json::Value = match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {}: not a readable JSON report: {e}", p.display());
                return Exit::Usage;
            }
        };
        if value["schema_version"].as_u64() != Some(u64::from(crate::report::run::SCHEMA_VERSION))
            || value["command"] != "run"
        {
            eprintln!(
                "error: {}: not an `imapspec run` report of schema_version {}",
                p.display(),
                crate::report::run::SCHEMA_VERSION
            );
            return Exit::Usage;
        }
        parsed.push(value);
    }
    let sharded = parsed
        .iter()
        .filter(|v| crate::report::merge::is_partition(v))
        .count();
    if sharded > 0 && sharded < parsed.len() {
        eprintln!("error: some reports are partitions (`run --partition K/N`) and some are whole runs: merge either the N partitions of one run, or whole runs for a server matrix");
        return Exit::Usage;
    }
    if sharded > 0 {
        if notes.is_some() {
            eprintln!(
                "error: --notes is for a matrix of whole runs, not for partitions of one run"
            );
            return Exit::Usage;
        }
        return merge_partitions(reports, &parsed, json, junit, html, md);
    }
    if json.is_some() || junit.is_some() {
        eprintln!("error: --json and --junit are for merging the partitions of one run; reports of whole runs make a matrix (--html, --md)");
        return Exit::Usage;
    }
    let mut runs = Vec::new();
    for (p, v) in reports.iter().zip(&parsed) {
        match crate::report::merge::from_json(v) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return Exit::Usage;
            }
        }
    }
    let notes = match notes {
        Some(p) => match crate::report::matrix::Notes::load(p) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: --notes {e}");
                return Exit::Usage;
            }
        },
        None => crate::report::matrix::Notes::default(),
    };
    let unmatched = notes.unmatched(&runs);
    if !unmatched.is_empty() {
        for u in unmatched {
            eprintln!("error: --notes: {u}");
        }
        return Exit::Usage;
    }
    let matrix = crate::report::html::matrix(&runs, &notes);
    if let Some(h) = html {
        if let Err(e) = std::fs::write(h, &matrix) {
            eprintln!("error: cannot write {}: {e}", h.display());
            return Exit::Usage;
        }
    }
    let text = crate::report::matrix::markdown(&runs, &notes);
    match md {
        Some(m) => {
            if let Err(e) = std::fs::write(m, &text) {
                eprintln!("error: cannot write {}: {e}", m.display());
                return Exit::Usage;
            }
        }
        None => super::outf!("{text}"),
    }
    Exit::Ok
}

fn merge_partitions(
    files: &[PathBuf],
    parsed: &[serde_json::Value],
    json: &Option<PathBuf>,
    junit: &Option<PathBuf>,
    html: &Option<PathBuf>,
    md: &Option<PathBuf>,
) -> Exit {
    let mut parts = Vec::new();
    for (p, v) in files.iter().zip(parsed) {
        match crate::report::merge::from_json(v) {
            Ok(r) => parts.push((p.display().to_string(), r)),
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return Exit::Usage;
            }
        }
    }
    let report = match crate::report::merge::partitions(parts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    super::outf!("{}", crate::report::run::terminal(&report));
    if let Err(e) = super::run::write_all(
        &report,
        json.as_ref(),
        junit.as_ref(),
        html.as_ref(),
        md.as_ref(),
    ) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    super::run::exit_for(&report)
}
