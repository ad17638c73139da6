//! `imapspec serve`: runs the reference server until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::server::faults::{parse_duration, Fault, FAULTS};
use crate::server::{Config, Server, User};

#[derive(Debug, Args)]
#[command(after_help = fault_help())]
pub struct ServeArgs {
    /// IMAP listener (STARTTLS offered), e.g. 127.0.0.1:1143; port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    pub imap: Option<SocketAddr>,
    /// IMAPS listener (implicit TLS).
    #[arg(long, value_name = "ADDR")]
    pub imaps: Option<SocketAddr>,
    /// SMTP intake listener (delivers into INBOX).
    #[arg(long, value_name = "ADDR")]
    pub smtp: Option<SocketAddr>,
    /// A user, NAME:PASS (repeatable).
    #[arg(long = "user", value_name = "NAME:PASS")]
    pub users: Vec<String>,
    /// A file of users, one NAME:PASS[:QUOTA] per line (# comments).
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// A storage quota, USER=SIZE (bytes, or with k/M/G), repeatable.
    #[arg(long = "quota", value_name = "USER=SIZE")]
    pub quotas: Vec<String>,
    /// Durable store in this folder; without it, everything is in memory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Misbehave like a server from the field reports (repeatable; see below).
    #[arg(long = "fault", value_name = "NAME[=ARG]")]
    pub faults: Vec<String>,
    /// A new account gets only INBOX (by default it also gets Sent, Drafts,
    /// Trash, Junk and Archive, with their SPECIAL-USE attributes).
    #[arg(long)]
    pub no_default_mailboxes: bool,
    /// Written once listening: one line per listener, e.g. "imap 127.0.0.1:1143".
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// PEM certificate chain for TLS (with --tls-key); self-signed if absent.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mail to load at start: a folder tree USER/MAILBOX/*.eml, or an mbox file
    /// (into the first user's INBOX).
    #[arg(long, value_name = "PATH")]
    pub preload: Option<PathBuf>,
    /// Inactivity autologout (never below 30m; use --fault autologout=D for less).
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub autologout: String,
    /// Check the durable store in DIR, report any damage and exit (0 clean,
    /// 1 damaged); changes nothing. No listener is started.
    #[arg(long, value_name = "DIR", conflicts_with = "reconstruct")]
    pub check_store: Option<PathBuf>,
    /// Rebuild the durable store in DIR from what its journal proves (the old
    /// journal is kept beside it), report, and exit. No listener is started.
    #[arg(long, value_name = "DIR")]
    pub reconstruct: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The server's bounds against hostile clients (`ServerLimits`; the defaults,
/// and why, are documented there).
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Most simultaneous logins of one user (answered NO [LIMIT] beyond).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_connections_per_user: usize,
    /// Most simultaneous IMAP connections in all; beyond, * BYE [UNAVAILABLE]
    /// (SMTP is counted apart under the same caps, answered 421).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_connections: usize,
    /// Most simultaneous IMAP connections from one IP address.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub max_connections_per_ip: usize,
    /// Longest command line, without its literals (bytes, or with k/M/G).
    #[arg(long, default_value = "64k", value_name = "SIZE")]
    pub max_line: String,
    /// Largest literal, so largest APPENDed message.
    #[arg(long, default_value = "64M", value_name = "SIZE")]
    pub max_literal: String,
    /// Largest command, its lines and all its literals together (default:
    /// --max-literal plus --max-line).
    #[arg(long, value_name = "SIZE")]
    pub max_command: Option<String>,
    /// Literal bytes all connections together may hold while their commands
    /// are read and handled.
    #[arg(long, default_value = "1G", value_name = "SIZE")]
    pub max_literals_in_flight: String,
    /// All literal bytes a connection may send before it logs in.
    #[arg(long, default_value = "4k", value_name = "SIZE")]
    pub max_prelogin_literals: String,
    /// A connection not logged in within this time gets BYE.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub prelogin_timeout: String,
    /// A connection whose client takes no output for this long is closed.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub write_timeout: String,
    /// Longest mailbox name, in bytes.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub max_mailbox_name: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Result<crate::server::imap::ServerLimits, String> {
        let size = |flag: &str, v: &str| -> Result<usize, String> {
            let n = parse_size(v).map_err(|e| format!("--{flag}: {e}"))?;
            match usize::try_from(n) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("--{flag} {v}: must be above 0 and fit in memory")),
            }
        };
        let duration = |flag: &str, v: &str| -> Result<std::time::Duration, String> {
            match parse_duration(v) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(format!("--{flag} {v}: must be above 0")),
                Err(e) => Err(format!("--{flag}: {e}")),
            }
        };
        let max_line = size("max-line", &self.max_line)?;
        let max_literal = size("max-literal", &self.max_literal)?;
        let max_command = match &self.max_command {
            Some(v) => size("max-command", v)?,
            None => max_literal.saturating_add(max_line),
        };
        if max_command < max_line {
            return Err(format!(
                "--max-command {} is below --max-line {}: no command could be read",
                max_command, max_line
            ));
        }
        Ok(crate::server::imap::ServerLimits {
            max_line,
            max_literal,
            max_command,
            max_literals_in_flight: size("max-literals-in-flight", &self.max_literals_in_flight)?,
            max_prelogin_literals: parse_size(&self.max_prelogin_literals)
                .map_err(|e| format!("--max-prelogin-literals: {e}"))?
                .try_into()
                .unwrap_or(usize::MAX),
            prelogin_timeout: duration("prelogin-timeout", &self.prelogin_timeout)?,
            write_timeout: duration("write-timeout", &self.write_timeout)?,
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip.max(1),
            max_connections_per_user: self.max_connections_per_user.max(1),
            max_mailbox_name: self.max_mailbox_name.max(1),
            ..Default::default()
        })
    }
}

/// `--check-store` and `--reconstruct`: the offline store tools.
fn store_tool(args: &ServeArgs) -> Option<Exit> {
    use crate::server::store::recovery;
    let (dir, result) = match (&args.check_store, &args.reconstruct) {
        (Some(d), _) => (d, recovery::check_store(d)),
        (None, Some(d)) => (d, recovery::reconstruct(d)),
        (None, None) => return None,
    };
    Some(match result {
        Ok(report) => {
            super::outf!("{}", report.render());
            if args.check_store.is_some() && !report.is_clean() {
                super::outf!(
                    "result: DAMAGED; `imapspec serve --reconstruct {}` rebuilds it from what is proven\n",
                    dir.display()
                );
                Exit::Failed
            } else {
                super::outf!(
                    "result: {}\n",
                    if args.reconstruct.is_some() {
                        "rebuilt"
                    } else {
                        "clean"
                    }
                );
                Exit::Ok
            }
        }
        Err(e) => {
            eprintln!("error: store {}: {e}", dir.display());
            Exit::Usage
        }
    })
}

fn fault_help() -> String {
    let mut s = String::from("Faults (off by default; each reproduces a field bug):\n");
    for (name, arg, what, check) in FAULTS {
        s.push_str(&format!(
            "  {name}{arg}\n      {what}\n      a scenario fails with: {check}\n"
        ));
    }
    s
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('M') => (&s[..s.len() - 1], 1024 * 1024),
        Some('G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("bad size `{s}`: use bytes, or a number with k, M or G"))
}

pub fn parse_user(s: &str) -> Result<User, String> {
    let mut parts = s.splitn(3, ':');
    let (name, pass, quota) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    match pass {
        Some(p) if !name.is_empty() => Ok(User {
            name: name.to_string(),
            password: p.to_string(),
            quota: quota.map(parse_size).transpose()?,
        }),
        _ => Err(format!("bad user `{s}`: expected NAME:PASS")),
    }
}

pub fn config(args: &ServeArgs) -> Result<Config, String> {
    let mut users = args
        .users
        .iter()
        .map(|u| parse_user(u))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(f) = &args.accounts {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            users.push(parse_user(line).map_err(|e| format!("{}:{}: {e}", f.display(), i + 1))?);
        }
    }
    for q in &args.quotas {
        let (user, size) = q
            .split_once('=')
            .ok_or_else(|| format!("bad quota `{q}`: expected USER=SIZE"))?;
        let size = parse_size(size)?;
        let u = users
            .iter_mut()
            .find(|u| u.name == user)
            .ok_or_else(|| format!("quota for unknown user `{user}`: add --user {user}:PASS"))?;
        u.quota = Some(size);
    }
    let faults = args
        .faults
        .iter()
        .map(|f| f.parse::<Fault>())
        .collect::<Result<Vec<_>, _>>()?;
    let autologout = parse_duration(&args.autologout)?;
    if autologout < crate::server::MIN_AUTOLOGOUT {
        return Err(format!(
            "--autologout {} is below RFC 3501's 30 minutes; use --fault autologout={} to misbehave on purpose",
            args.autologout, args.autologout
        ));
    }
    if args.imap.is_none() && args.imaps.is_none() && args.smtp.is_none() {
        return Err(
            "no listener: give --imap ADDR (and/or --imaps, --smtp), e.g. --imap 127.0.0.1:1143"
                .into(),
        );
    }
    Ok(Config {
        imap: args.imap,
        imaps: args.imaps,
        smtp: args.smtp,
        users,
        data_dir: args.data_dir.clone(),
        faults,
        ready_file: args.ready_file.clone(),
        autologout,
        tls_cert: args.tls_cert.clone().zip(args.tls_key.clone()),
        preload: args.preload.clone(),
        limits: args.limits.limits()?,
        default_mailboxes: !args.no_default_mailboxes,
        ..Config::default()
    })
}

/// Raises the soft limit on open files to the hard limit, so one server can hold
/// as many connections as the system allows it (the soft limit is often 1024).
/// Returns the soft limit in force afterwards; failures leave it as it was.
pub fn raise_nofile_limit() -> Option<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Some(lim.rlim_cur)
}

pub fn run(args: &ServeArgs) -> Exit {
    if let Some(exit) = store_tool(args) {
        return exit;
    }
    raise_nofile_limit();
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let handle = match Server::start(config).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Unreachable;
            }
        };
        super::outf!("{}", handle.ready_lines());
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: cannot watch SIGTERM: {e}");
                    return Exit::Unreachable;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        handle.shutdown().await;
        Exit::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn limit_flags_default_to_server_limits_and_parse() {
        let cli = Cli::try_parse_from(["serve", "--imap", "127.0.0.1:0"]).unwrap();
        assert_eq!(
            cli.serve.limits.limits().unwrap(),
            crate::server::imap::ServerLimits::default()
        );
        let cli = Cli::try_parse_from([
            "serve",
            "--max-literal",
            "1M",
            "--prelogin-timeout",
            "5s",
            "--max-connections-per-ip",
            "3",
        ])
        .unwrap();
        let l = cli.serve.limits.limits().unwrap();
        assert_eq!(l.max_literal, 1024 * 1024);
        assert_eq!(l.max_command, 1024 * 1024 + 64 * 1024);
        assert_eq!(l.prelogin_timeout, std::time::Duration::from_secs(5));
        assert_eq!(l.max_connections_per_ip, 3);
        let bad = Cli::try_parse_from(["serve", "--write-timeout", "0s"]).unwrap();
        assert!(bad.serve.limits.limits().is_err());
    }
}
