//! `imapspec proxy --listen ADDR --upstream URL`: a transparent proxy for a real
//! client, checking every response live (see `crate::proxy`).

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::finding::Severity;
use crate::proxy::{self, ProxyOptions};
use crate::server::faults::parse_duration;
use crate::wire::Limits;

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where clients connect in plaintext IMAP (STARTTLS offered when the
    /// upstream offers it), e.g. 127.0.0.1:1143; port 0 picks one.
    #[arg(long, value_name = "ADDR", required_unless_present = "listen_tls")]
    pub listen: Option<std::net::SocketAddr>,
    /// Where clients connect with implicit TLS (imaps), beside or instead of --listen.
    #[arg(long, value_name = "ADDR")]
    pub listen_tls: Option<std::net::SocketAddr>,
    /// The certificate (PEM chain) shown to clients; without it, a self-signed
    /// one for localhost made at start.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The server: imap://host:port, imap+starttls://host:port (the proxy
    /// does STARTTLS at connect) or imaps://host:port. TLS is terminated by
    /// the proxy on both sides, so everything is checked.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Accept a self-signed certificate from a TLS upstream.
    #[arg(long)]
    pub insecure: bool,
    /// Write each connection's transcript here as it runs (`imapspec check`
    /// on them gives the same findings).
    #[arg(long, value_name = "DIR")]
    pub transcripts: Option<PathBuf>,
    /// Write every finding as a JSON line here, as it happens.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Keep LOGIN passwords and AUTHENTICATE responses in transcripts and
    /// findings (masked as *** by default).
    #[arg(long)]
    pub keep_secrets: bool,
    /// Connections served at once; more are closed at once.
    #[arg(long, default_value_t = 1000)]
    pub max_connections: usize,
    /// Stop after this long (`90s`, `10m`); without it, run until Ctrl-C or SIGTERM.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
}

pub fn run(args: &ProxyArgs) -> Exit {
    let upstream = match args.upstream.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --upstream {}: {e}", args.upstream);
            return Exit::Usage;
        }
    };
    let duration = match args.duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: --duration: {e}");
            return Exit::Usage;
        }
    };
    let options = ProxyOptions {
        listen: args.listen,
        listen_tls: args.listen_tls,
        tls_cert: args.tls_cert.clone().zip(args.tls_key.clone()),
        upstream,
        insecure: args.insecure,
        transcripts: args.transcripts.clone(),
        findings: args.findings.clone(),
        keep_secrets: args.keep_secrets,
        max_connections: args.max_connections.max(1),
        limits: Limits::default(),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let handle = match proxy::start(options, Box::new(std::io::stdout())).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Unreachable;
            }
        };
        for (kind, addr) in [("imap", handle.addr), ("imaps", handle.tls_addr)] {
            if let Some(addr) = addr {
                super::outln!("proxy {kind}://{addr} -> {}", args.upstream);
            }
        }
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: cannot watch SIGTERM: {e}");
                    return Exit::Unreachable;
                }
            };
        let until = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = until => {}
        }
        let findings = handle.shutdown().await;
        let violations = findings
            .iter()
            .filter(|f| f.severity == Severity::Violation)
            .count();
        super::outln!(
            "proxy stopped: {violations} violations, {} warnings",
            findings.len() - violations
        );
        if violations > 0 {
            Exit::Failed
        } else {
            Exit::Ok
        }
    })
}
