//! `imapspec check LOG...`: reads recorded sessions, runs every check, reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Exit;
use crate::checks::Checker;
use crate::report::{self, LogResult, Status};
use crate::transcript;
use crate::wire::Limits;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Log files or folders (searched recursively). Formats are detected: generic
    /// `C:`/`S:` transcripts, Dovecot rawlog pairs (.in/.out), and the field-log
    /// formats of seeds 000 and 001.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Keep at most this many findings per check and log (the rest are counted).
    #[arg(long, default_value_t = 1000)]
    pub max_findings: usize,
    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Reads one log and runs every check on it.
pub fn check_log(path: &Path, limits: &Limits, max_findings: usize) -> LogResult {
    let mut checker = Checker {
        findings: crate::checks::Findings::new(max_findings),
        ..Checker::default()
    };
    let read = transcript::read_file(path, limits, &mut |e| checker.on_event(e));
    let id = path.display().to_string();
    match read {
        Ok((format, stats)) => {
            let findings = checker.into_findings();
            let dropped: BTreeMap<String, u64> = findings
                .dropped
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            LogResult {
                status: LogResult::status_of(&findings.list, &dropped),
                id,
                format: Some(format),
                bytes: stats.bytes,
                lines: stats.lines,
                events: stats.events,
                error: None,
                findings: findings.list,
                dropped,
            }
        }
        Err(e) => LogResult {
            id,
            status: Status::Error,
            format: None,
            bytes: 0,
            lines: 0,
            events: 0,
            error: Some(format!(
                "{e}\n  (imapspec check exits 2: fix or remove this log)"
            )),
            findings: Vec::new(),
            dropped: BTreeMap::new(),
        },
    }
}

/// Expands folders into their files, sorted; a rawlog pair is listed once (.in).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir)
                    .map_err(|e| format!("{}: cannot list folder: {e}", dir.display()))?;
                for entry in entries {
                    let path = entry
                        .map_err(|e| format!("{}: cannot list folder: {e}", dir.display()))?
                        .path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if !skipped_in_folder(&path) {
                        out.push(path);
                    }
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    out.sort();
    Ok(out)
}

/// In a folder: the `.out` half of a rawlog pair (read with its `.in`), and notes.
fn skipped_in_folder(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    (ext == "out" && path.with_extension("in").is_file()) || ext == "snap" || ext == "md"
}

pub fn run(args: &CheckArgs) -> Exit {
    let files = match expand(&args.logs) {
        Ok(f) if f.is_empty() => {
            eprintln!("error: no log files found in {:?}", args.logs);
            return Exit::Usage;
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let limits = Limits::default();
    let results: Vec<LogResult> = files
        .iter()
        .map(|f| check_log(f, &limits, args.max_findings))
        .collect();
    let text = report::terminal::render(&results);
    if args.quiet {
        if let Some(last) = text.lines().last() {
            super::outln!("{last}");
        }
    } else {
        super::outf!("{text}");
    }
    if let Some(path) = &args.report_json {
        let json = report::json::render("check", &results);
        let written = serde_json::to_vec_pretty(&json)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(path, bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!(
                "error: cannot write the JSON report to {}: {e}",
                path.display()
            );
            return Exit::Usage;
        }
    }
    let summary = report::summarize(&results);
    if summary.errors > 0 {
        Exit::Usage
    } else if summary.failed > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    }
}
