//! `imapspec run [PATH...]`: runs scenarios against a server, with every check on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Exit;
use crate::results::PartitionInfo;
use crate::runner::partition::Partition;
use crate::runner::{self, Account, RunOptions, Status, Target};
use crate::scenario::{self, Scenario};
use crate::server::faults::parse_duration;
use crate::wire::Limits;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: the bundled scenarios/).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The server under test: imap://host:port, imap://host:port?starttls,
    /// imap+starttls://host:port or imaps://host:port. Without it, the bundled
    /// reference server runs in-process on loopback ports.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's implicit-TLS address (imaps://host:port), for scenarios that
    /// open TLS sessions; without it they use STARTTLS on --server.
    #[arg(long, value_name = "URL")]
    pub imaps: Option<String>,
    /// Test account user name (repeatable, in the order scenarios name their users).
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,
    /// Password for the --user at the same position (repeatable).
    #[arg(long = "password", value_name = "PASS")]
    pub passwords: Vec<String>,
    /// A file of accounts, one NAME:PASS per line.
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// An account that can SETQUOTA on the server under test (USER:PASS): quota
    /// scenarios then set the limit they need, and clear it afterwards. Without
    /// it they run only where GETQUOTAROOT shows a limit they will exceed, and
    /// are skipped (never failed) elsewhere.
    #[arg(long, value_name = "USER:PASS")]
    pub admin: Option<String>,
    /// Deliver test mail by SMTP to this listener (smtp://host:port).
    #[arg(long, value_name = "URL")]
    pub smtp: Option<String>,
    /// Accept a self-signed TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Scenarios run at once on the embedded server (a foreign server: one).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Cap every wait at this (foreign servers); verdicts that needed the full
    /// time become inconclusive.
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<String>,
    /// Fault switch for the embedded server (repeatable; see `imapspec serve --help`).
    #[arg(long = "fault", value_name = "NAME[=ARG]")]
    pub faults: Vec<String>,
    /// Where to write each scenario's transcript (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub transcripts: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_junit: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_md: Option<PathBuf>,
    /// Warnings (SHOULD-level expectations and warning checks) fail too.
    #[arg(long)]
    pub strict: bool,
    /// A bound on the whole run (`10m`): scenarios not finished by then are
    /// reported as errors ("not run"), and the reports are still written.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only share K of N (1 <= K <= N) of the scenarios, for N machines:
    /// deterministic, balanced by each scenario's expected time. Join the JSON
    /// reports with `imapspec report merge`.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Known deviations (TOML, see `imapspec baseline`): shown, but they do not
    /// fail the run; a listed one that did not occur fails it ("fixed — remove
    /// it from the baseline").
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// The server's name for baseline entries' `server` (default: "reference"
    /// for the embedded server, else host:port of --server).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
}

/// The exit status for a finished run (DESIGN.md's contract).
pub fn exit_for(report: &runner::RunReport) -> Exit {
    let unreachable = !report.timed_out && report.results.iter().any(|r| r.status == Status::Error);
    if report.fails() {
        Exit::Failed
    } else if unreachable {
        Exit::Unreachable
    } else {
        Exit::Ok
    }
}

/// The bundled scenarios: `scenarios/` here, or next to the sources.
pub fn default_scenarios() -> Option<PathBuf> {
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return Some(here);
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    built.is_dir().then_some(built)
}

pub fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, String> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![default_scenarios()
            .ok_or("no scenarios/ folder here: give scenario files or folders")?]
    } else {
        paths.to_vec()
    };
    let mut all = Vec::new();
    for p in &paths {
        if p.is_dir() {
            all.extend(scenario::load_dir(p).map_err(|e| e.to_string())?);
        } else if p.is_file() {
            all.push(scenario::load(p).map_err(|e| e.to_string())?);
        } else {
            return Err(format!("{}: no such scenario file or folder", p.display()));
        }
    }
    let mut ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two scenarios have the id `{}`", w[0]));
    }
    Ok(all)
}

fn accounts(args: &RunArgs) -> Result<Vec<Account>, String> {
    if args.users.len() != args.passwords.len() {
        return Err(format!(
            "{} --user but {} --password: give one password per user, in the same order",
            args.users.len(),
            args.passwords.len()
        ));
    }
    let mut out: Vec<Account> = args
        .users
        .iter()
        .zip(&args.passwords)
        .map(|(u, p)| Account {
            user: u.clone(),
            password: p.clone(),
        })
        .collect();
    if let Some(f) = &args.accounts {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (u, p) = line
                .split_once(':')
                .ok_or_else(|| format!("{}:{}: expected NAME:PASS", f.display(), i + 1))?;
            out.push(Account {
                user: u.to_string(),
                password: p.to_string(),
            });
        }
    }
    Ok(out)
}

pub fn run(args: &RunArgs) -> Exit {
    let scenarios = match load(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let partition = match args
        .partition
        .as_deref()
        .map(str::parse::<Partition>)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let baseline = match args
        .baseline
        .as_deref()
        .map(crate::baseline::load)
        .transpose()
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    if let Some(b) = &baseline {
        for d in &b.deviations {
            if let Some(id) = &d.scenario {
                if !scenarios.iter().any(|s| &s.id == id) {
                    eprintln!(
                        "note: {}: scenario `{id}` is not among the scenarios loaded; the entry is not judged in this run",
                        b.place(d)
                    );
                }
            }
        }
    }
    let partition = partition.map(|p| {
        (
            p,
            PartitionInfo {
                k: p.k,
                n: p.n,
                scenarios: scenarios.iter().map(|s| s.id.clone()).collect(),
            },
        )
    });
    if let Some(e) = args
        .faults
        .iter()
        .find_map(|f| f.parse::<crate::server::faults::Fault>().err())
    {
        eprintln!("error: --fault: {e}");
        return Exit::Usage;
    }
    let max_wait = match args.max_wait.as_deref().map(parse_duration).transpose() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: --max-wait: {e}");
            return Exit::Usage;
        }
    };
    let timeout = match args.timeout.as_deref().map(parse_duration).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --timeout: {e}");
            return Exit::Usage;
        }
    };
    let scenarios = match &partition {
        Some((p, _)) => {
            let waits = match args.server {
                None => runner::partition::Waits::embedded(max_wait),
                Some(_) => runner::partition::Waits {
                    max_wait,
                    ..runner::partition::Waits::default()
                },
            };
            runner::partition::select(scenarios, *p, &waits)
        }
        None => scenarios,
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let target = match &args.server {
            None => match Target::embedded(&scenarios, &args.faults).await {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot start the embedded server: {e}");
                    return Exit::Unreachable;
                }
            },
            Some(url) => {
                if !args.faults.is_empty() {
                    eprintln!("error: --fault switches the embedded server's faults; it cannot change a server given with --server");
                    return Exit::Usage;
                }
                let url = match url.parse() {
                    Ok(u) => u,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Exit::Usage;
                    }
                };
                let accounts = match accounts(args) {
                    Ok(a) if !a.is_empty() => a,
                    Ok(_) => {
                        eprintln!("error: a foreign server needs test accounts: --user NAME --password PASS (repeatable) or --accounts FILE");
                        return Exit::Usage;
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Exit::Usage;
                    }
                };
                let smtp = match args.smtp.as_deref().map(parse_smtp).transpose() {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Exit::Usage;
                    }
                };
                let tls_url = match args.imaps.as_deref().map(str::parse).transpose() {
                    Ok(u) => u,
                    Err(e) => {
                        eprintln!("error: --imaps: {e}");
                        return Exit::Usage;
                    }
                };
                let admin = match args.admin.as_deref().map(parse_account).transpose() {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("error: --admin: {e}");
                        return Exit::Usage;
                    }
                };
                Target::Foreign { url, tls_url, accounts, smtp, insecure: args.insecure, clock: crate::clock::Clock::real(), admin }
            }
        };
        let transcripts = args
            .transcripts
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("imapspec-run-{}", std::process::id())));
        let options = RunOptions {
            jobs: args.jobs,
            max_wait,
            transcripts,
            limits: Limits {
                read_timeout: Duration::from_secs(20),
                command_timeout: Duration::from_secs(120),
                ..Limits::default()
            },
            strict: args.strict,
            timeout,
            namespace: None,
        };
        let quiet = args.quiet;
        let total = scenarios.len();
        // A bar on a terminal; one line per scenario otherwise (CI logs).
        use std::io::IsTerminal as _;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        let progress: runner::Progress = Arc::new(move |r, n, total| match &bar {
            Some(bar) => {
                bar.set_position(n as u64);
                bar.set_message(format!("{} {}", r.status.as_str(), r.id));
                if n == total {
                    bar.finish_and_clear();
                }
            }
            None if !quiet => eprintln!("[{n:>3}/{total}] {:<12} {} ({} ms)", r.status.as_str(), r.id, r.millis),
            None => {}
        });
        let target = Arc::new(target);
        let mut report = runner::run(scenarios, target.clone(), options, progress).await;
        if let Some(name) = &args.server_name {
            report.server_name = name.clone();
        }
        report.partition = partition.map(|(_, info)| info);
        report.baseline = baseline;
        if let Ok(t) = Arc::try_unwrap(target) {
            t.stop().await;
        }
        let text = crate::report::run::terminal(&report);
        if quiet {
            super::outln!("{}", text.lines().last().unwrap_or(""));
        } else {
            super::outf!("{text}");
        }
        if let Err(e) = write_reports(args, &report) {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
        exit_for(&report)
    })
}

fn parse_account(s: &str) -> Result<Account, String> {
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| format!("expected USER:PASS, got `{s}`"))?;
    Ok(Account {
        user: u.to_string(),
        password: p.to_string(),
    })
}

fn parse_smtp(s: &str) -> Result<std::net::SocketAddr, String> {
    let rest = s.strip_prefix("smtp://").unwrap_or(s).trim_end_matches('/');
    use std::net::ToSocketAddrs;
    rest.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("bad --smtp `{s}`: expected smtp://host:port"))
}

fn write_reports(args: &RunArgs, report: &runner::RunReport) -> Result<(), String> {
    write_all(
        report,
        args.report_json.as_ref(),
        args.report_junit.as_ref(),
        args.report_html.as_ref(),
        args.report_md.as_ref(),
    )
}

/// Writes the reports asked for (JSON, JUnit, HTML, Markdown).
pub fn write_all(
    report: &runner::RunReport,
    json: Option<&PathBuf>,
    junit: Option<&PathBuf>,
    html: Option<&PathBuf>,
    md: Option<&PathBuf>,
) -> Result<(), String> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&crate::report::run::json(report))
            .map_err(|e| e.to_string())?;
        write(p, text)?;
    }
    if let Some(p) = junit {
        write(p, crate::report::junit::render(report)?)?;
    }
    if let Some(p) = html {
        write(p, crate::report::html::render(report))?;
    }
    if let Some(p) = md {
        write(p, crate::report::run::markdown(report))?;
    }
    Ok(())
}
