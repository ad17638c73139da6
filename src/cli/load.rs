//! `imapspec load --server URL`: concurrent simulated clients for a bounded
//! time, every check on; prints commands/s, latency percentiles and findings.

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::load::{self, LoadOptions};
use crate::server::faults::parse_duration;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server under load.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Test account (repeatable; clients use them in turn).
    #[arg(long = "user", value_name = "NAME", required = true)]
    pub users: Vec<String>,
    #[arg(long = "password", value_name = "PASS", required = true)]
    pub passwords: Vec<String>,
    /// Simulated clients (1..=5000).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// How long to run (at most 1h).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub duration: String,
    #[arg(long)]
    pub insecure: bool,
    /// Write the transcript of every client here (large).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

pub fn run(args: &LoadArgs) -> Exit {
    let url = match args.server.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    if args.users.len() != args.passwords.len() {
        eprintln!("error: give one --password per --user, in the same order");
        return Exit::Usage;
    }
    let duration = match parse_duration(&args.duration) {
        Ok(d) if d > std::time::Duration::ZERO && d <= std::time::Duration::from_secs(3600) => d,
        Ok(_) => {
            eprintln!("error: --duration must be between 1ms and 1h");
            return Exit::Usage;
        }
        Err(e) => {
            eprintln!("error: --duration: {e}");
            return Exit::Usage;
        }
    };
    if args.clients == 0 || args.clients > 5000 {
        eprintln!("error: --clients must be between 1 and 5000");
        return Exit::Usage;
    }
    let options = LoadOptions {
        url,
        accounts: args
            .users
            .iter()
            .cloned()
            .zip(args.passwords.iter().cloned())
            .collect(),
        clients: args.clients,
        duration,
        insecure: args.insecure,
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let recorder = match &args.transcript {
            Some(p) => match std::fs::File::create(p) {
                Ok(f) => crate::runner::recorder::Recorder::new(Box::new(std::io::BufWriter::new(f)), &p.display().to_string()),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", p.display());
                    return Exit::Usage;
                }
            },
            None => load::quiet_recorder(),
        };
        let recorder = match recorder {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let summary = load::run(&options, recorder.clone()).await;
        let findings = {
            let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
            let _ = r.flush();
            r.checker.findings.list.clone()
        };
        super::outf!(
            "load: {} clients for {:.1} s against {}: {} commands, {:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {} answered NO/BAD; {} findings\n",
            summary.clients,
            summary.seconds,
            args.server,
            summary.commands,
            summary.commands_per_second,
            summary.p50_ms,
            summary.p99_ms,
            summary.max_ms,
            summary.refused,
            findings.len()
        );
        for e in &summary.client_errors {
            super::outf!("  {e}\n");
        }
        for f in findings.iter().take(20) {
            super::outf!("  {} {} at {}: {}\n", f.severity.as_str(), f.check, f.origin, f.message);
        }
        if let Some(p) = &args.report_json {
            let json = serde_json::json!({
                "schema_version": 1, "tool": "imapspec", "command": "load", "server": args.server,
                "summary": summary, "findings": findings,
            });
            if let Err(e) = serde_json::to_vec_pretty(&json).map_err(|e| e.to_string()).and_then(|b| std::fs::write(p, b).map_err(|e| e.to_string())) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return Exit::Usage;
            }
        }
        if summary.commands == 0 && !summary.client_errors.is_empty() {
            Exit::Unreachable
        } else if findings.iter().any(|f| f.severity == crate::finding::Severity::Violation) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    })
}
