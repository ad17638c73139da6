//! `imapspec report merge`: joins JSON run reports (one per server, or shards)
//! into one server × scenario matrix (HTML and/or Markdown).

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
    /// Joins JSON reports from `imapspec run --report-json` into a matrix.
    Merge {
        /// JSON reports.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        md: Option<PathBuf>,
    },
}

pub fn run(args: &ReportArgs) -> Exit {
    let ReportCommand::Merge { reports, html, md } = &args.command;
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
    let matrix = crate::report::html::matrix(&parsed);
    if let Some(h) = html {
        if let Err(e) = std::fs::write(h, &matrix) {
            eprintln!("error: cannot write {}: {e}", h.display());
            return Exit::Usage;
        }
    }
    let text = crate::report::html::matrix_markdown(&parsed);
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
