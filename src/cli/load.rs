//! `imapspec load --server URL`: simulated users of a profile for a bounded
//! time, every check on; prints commands/s, CPU per command, per-command
//! latency percentiles, errors by kind and findings. `--processes N` runs N
//! processes of it (for more connections than one process may open) and
//! merges their results; `imapspec report merge` merges them from anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Exit;
use crate::load::{self, profile, LoadOptions, LoadReport};
use crate::server::faults::parse_duration;

/// Most connections one process opens (descriptors: one each, and the
/// 20,000 a process may have here leave room for the rest).
const MAX_CONNECTIONS_PER_PROCESS: usize = 16_000;
/// Most processes `--processes` starts.
const MAX_PROCESSES: usize = 64;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server under load.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Test account (repeatable; users take them in turn).
    #[arg(long = "user", value_name = "NAME", required = true)]
    pub users: Vec<String>,
    #[arg(long = "password", value_name = "PASS", required = true)]
    pub passwords: Vec<String>,
    /// Simulated users (1..=100000 in all; each opens one connection per
    /// mailbox of its persona).
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// What the users do: outlook, outlook-express, thunderbird, ios,
    /// imaptest (imaptest's default stress cycle), mixed, or a profile file
    /// (TOML, see docs/load-profiles.md).
    #[arg(long, default_value = "mixed", value_name = "NAME|FILE")]
    pub profile: String,
    /// How long to run, after the ramp-up (at most 1h).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub duration: String,
    /// Start the users spread evenly over this time.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub rampup: String,
    /// Pause between one user's commands (replaces the profile's).
    #[arg(long, value_name = "DURATION")]
    pub think: Option<String>,
    /// Run as N processes, each with a share of the users, and merge.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// The number of this process's first user, when several processes or
    /// machines share one load (each takes users FIRST..FIRST+clients-1, so
    /// their accounts and folders do not collide; `--processes` sets it for
    /// its own children, ci/k8s/imapspec-load.yaml from the pod's index).
    #[arg(long, default_value_t = 0, value_name = "FIRST")]
    pub first_client: usize,
    #[arg(long)]
    pub insecure: bool,
    /// No live line, only the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the transcript of every connection here (large).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

fn usage(m: impl std::fmt::Display) -> Exit {
    eprintln!("error: {m}");
    Exit::Usage
}

pub fn run(args: &LoadArgs) -> Exit {
    let url = match args.server.parse() {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    if args.users.len() != args.passwords.len() {
        return usage("give one --password per --user, in the same order");
    }
    let duration = match parse_duration(&args.duration) {
        Ok(d) if d > Duration::ZERO && d <= Duration::from_secs(3600) => d,
        Ok(_) => return usage("--duration must be between 1ms and 1h"),
        Err(e) => return usage(format!("--duration: {e}")),
    };
    let rampup = match parse_duration(&args.rampup) {
        Ok(d) if d <= Duration::from_secs(3600) => d,
        Ok(_) => return usage("--rampup must be at most 1h"),
        Err(e) => return usage(format!("--rampup: {e}")),
    };
    let think = match args.think.as_deref().map(parse_duration) {
        None => None,
        Some(Ok(d)) if d <= Duration::from_secs(600) => Some(d),
        Some(Ok(_)) => return usage("--think must be at most 10m"),
        Some(Err(e)) => return usage(format!("--think: {e}")),
    };
    let profile = match profile::load(&args.profile) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    if args.clients == 0 || args.clients > 100_000 {
        return usage("--clients must be between 1 and 100000");
    }
    if args.processes == 0 || args.processes > MAX_PROCESSES {
        return usage(format!("--processes must be between 1 and {MAX_PROCESSES}"));
    }
    if args.processes > 1 {
        return run_processes(args);
    }
    let widest = profile
        .personas
        .iter()
        .map(|p| p.0.mailboxes.len())
        .max()
        .unwrap_or(1);
    let connections = args.clients * widest;
    let allowed = raise_descriptor_limit().min(MAX_CONNECTIONS_PER_PROCESS as u64) as usize;
    if connections > allowed {
        return usage(format!(
            "{} users of profile {} may open {connections} connections, more than one process may here ({allowed}); use --processes {}",
            args.clients,
            profile.name,
            connections.div_ceil(allowed.max(1))
        ));
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
        profile,
        rampup,
        think,
        first_client: args.first_client,
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let recorder = match &args.transcript {
            Some(p) => match std::fs::File::create(p) {
                Ok(f) => crate::runner::recorder::Recorder::new(
                    Box::new(std::io::BufWriter::new(f)),
                    &p.display().to_string(),
                ),
                Err(e) => return usage(format!("cannot write {}: {e}", p.display())),
            },
            None => load::quiet_recorder(),
        };
        let recorder = match recorder {
            Ok(r) => r,
            Err(e) => return usage(e),
        };
        let live = Arc::new(load::Live::default());
        let ticker =
            (!args.quiet).then(|| tokio::spawn(live_line(live.clone(), rampup + duration)));
        let mut report = load::run(&options, recorder.clone(), live).await;
        if let Some(t) = ticker {
            t.abort();
        }
        report.findings = {
            let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
            let _ = r.flush();
            r.checker.finish();
            r.checker
                .findings
                .list
                .iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .collect()
        };
        finish(&report, args.report_json.as_deref())
    })
}

/// The live line: a progress bar over the run's time with connections held,
/// commands per second and errors, once a second. Shown on a terminal only.
async fn live_line(live: Arc<load::Live>, total: Duration) {
    use std::sync::atomic::Ordering;
    let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = live.commands.load(Ordering::Relaxed);
        bar.inc(1);
        bar.set_message(format!(
            "{} connections, {} commands/s, {} errors",
            live.connections.load(Ordering::Relaxed),
            now - last,
            live.errors.load(Ordering::Relaxed)
        ));
        last = now;
    }
}

/// Prints the report, writes `--report-json`, and says how the run ends:
/// 1 with a violation found, 3 when nothing could connect.
pub(super) fn finish(report: &LoadReport, json: Option<&Path>) -> Exit {
    print(report);
    if let Some(p) = json {
        let written = serde_json::to_vec_pretty(report)
            .map_err(|e| e.to_string())
            .and_then(|b| std::fs::write(p, b).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return usage(format!("cannot write {}: {e}", p.display()));
        }
    }
    let violation = report
        .findings
        .iter()
        .any(|f| f["severity"].as_str() == Some("violation"));
    if report.commands == 0 && report.errors.values().sum::<u64>() > 0 {
        Exit::Unreachable
    } else if violation {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

fn print(r: &LoadReport) {
    super::outf!(
        "load: profile {}, {} users ({} connections at most{}) for {:.1} s against {}: {} commands, {:.0} commands/s, CPU {:.3} ms per command, {} MiB resident at most; {} findings\n",
        r.profile,
        r.clients,
        r.connections_peak,
        if r.processes > 1 { format!(", {} processes", r.processes) } else { String::new() },
        r.seconds,
        r.server,
        r.commands,
        r.commands_per_second,
        r.cpu_ms_per_command,
        r.rss_peak_kib / 1024,
        r.findings.len()
    );
    super::outf!(
        "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "command",
        "count",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    let rows = r.per_command.iter().map(|(k, l)| (k.as_str(), l));
    for (k, l) in rows.chain(std::iter::once(("all", &r.latency))) {
        super::outf!(
            "  {:<14} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.1}\n",
            k,
            l.count,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        );
    }
    if !r.errors.is_empty() {
        let e: Vec<String> = r.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        super::outf!("  errors: {}\n", e.join(", "));
        for s in r.error_samples.iter().take(5) {
            super::outf!("    {s}\n");
        }
    }
    for f in r.findings.iter().take(20) {
        super::outf!(
            "  {} {} at {}: {}\n",
            f["severity"].as_str().unwrap_or(""),
            f["check"].as_str().unwrap_or(""),
            f["origin"].as_str().unwrap_or(""),
            f["message"].as_str().unwrap_or("")
        );
    }
}

/// Lifts the soft descriptor limit to the hard one; returns what it is now.
fn raise_descriptor_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a struct we own.
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return 1024;
    }
    if l.rlim_cur < l.rlim_max {
        let want = libc::rlimit {
            rlim_cur: l.rlim_max,
            rlim_max: l.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            l.rlim_cur = l.rlim_max;
        }
    }
    // Room for the rest of the process (files, the runtime).
    l.rlim_cur.saturating_sub(200)
}

/// `--processes N`: N copies of this command, each with its share of the
/// users (and its own first user number), their JSON merged.
fn run_processes(args: &LoadArgs) -> Exit {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return usage(format!(
                "cannot find this program to start its processes: {e}"
            ))
        }
    };
    let dir = std::env::temp_dir().join(format!("imapspec-load-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return usage(format!("cannot make {}: {e}", dir.display()));
    }
    let n = args.processes;
    let mut children = Vec::new();
    let mut first = args.first_client;
    for k in 0..n {
        let share = args.clients / n + usize::from(k < args.clients % n);
        if share == 0 {
            continue;
        }
        let json = dir.join(format!("part-{k}.json"));
        let mut cmd = Command::new(&exe);
        cmd.arg("load")
            .args(["--server", &args.server])
            .args(["--clients", &share.to_string()])
            .args(["--profile", &args.profile])
            .args(["--duration", &args.duration])
            .args(["--rampup", &args.rampup])
            .args(["--first-client", &first.to_string()])
            .arg("--quiet")
            .arg("--report-json")
            .arg(&json);
        for (u, p) in args.users.iter().zip(&args.passwords) {
            cmd.args(["--user", u, "--password", p]);
        }
        if let Some(t) = &args.think {
            cmd.args(["--think", t]);
        }
        if args.insecure {
            cmd.arg("--insecure");
        }
        cmd.stdout(std::process::Stdio::null());
        first += share;
        match cmd.spawn() {
            Ok(c) => children.push((c, json)),
            Err(e) => return usage(format!("cannot start process {}: {e}", k + 1)),
        }
    }
    let mut parts = Vec::new();
    for (mut c, json) in children {
        let status = c.wait();
        match read_report(&json) {
            Ok(r) => parts.push(r),
            Err(e) => {
                eprintln!("error: a load process ended ({status:?}) without its report: {e}");
                return Exit::Usage;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    match LoadReport::merge(&parts) {
        Ok(r) => finish(&r, args.report_json.as_deref()),
        Err(e) => usage(e),
    }
}

pub(super) fn read_report(p: &Path) -> Result<LoadReport, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a load report: {e}", p.display()))
}
