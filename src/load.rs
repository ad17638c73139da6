//! `imapspec load`: many concurrent simulated clients against one server, for a
//! bounded time, with every check on.
//!
//! Each client logs in, selects INBOX and then loops over a weighted mix of what
//! mail clients do (NOOP polls, FETCH of flags and headers, STORE, SEARCH,
//! APPEND, an occasional EXPUNGE) until the deadline. Every byte goes through the
//! same recorder and checks as a scenario run, so a server that breaks an
//! invariant only under concurrency is caught. Bounded: the client count, the
//! duration, and a per-command timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::runner::recorder::{Recorder, SharedRecorder};
use crate::session::{ServerUrl, Session, SessionOptions};
use crate::wire::StatusKind;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: ServerUrl,
    pub accounts: Vec<(String, String)>,
    pub clients: usize,
    pub duration: Duration,
    pub insecure: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSummary {
    pub clients: usize,
    pub seconds: f64,
    pub commands: u64,
    pub commands_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Commands answered NO or BAD.
    pub refused: u64,
    /// Clients that could not connect or log in, or lost their connection.
    pub client_errors: Vec<String>,
}

/// A tiny deterministic generator (no dependency; reproducible runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

pub async fn run(options: &LoadOptions, recorder: SharedRecorder) -> LoadSummary {
    let started = Instant::now();
    let deadline = started + options.duration;
    let latencies: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..options.clients {
        let (opts, rec, lat, refused, errors) = (
            options.clone(),
            recorder.clone(),
            latencies.clone(),
            refused.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = client(i, &opts, &rec, deadline, &lat, &refused).await {
                errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("client {i}: {e}"));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    let summary = LoadSummary {
        clients: options.clients,
        seconds,
        commands: lat.len() as u64,
        commands_per_second: lat.len() as f64 / seconds.max(1e-9),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        refused: refused.load(std::sync::atomic::Ordering::Relaxed),
        client_errors: std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner())),
    };
    summary
}

async fn client(
    i: usize,
    opts: &LoadOptions,
    rec: &SharedRecorder,
    deadline: Instant,
    latencies: &Mutex<Vec<u32>>,
    refused: &std::sync::atomic::AtomicU64,
) -> Result<(), String> {
    let (user, pass) = opts
        .accounts
        .get(i % opts.accounts.len().max(1))
        .cloned()
        .ok_or("no account")?;
    let session_opts = SessionOptions {
        insecure: opts.insecure,
        ..SessionOptions::default()
    };
    let mut s = Session::connect(&opts.url, &format!("load-{i}"), rec, &session_opts)
        .await
        .map_err(|e| e.to_string())?;
    s.login(&user, &pass).await.map_err(|e| e.to_string())?;
    let sel = s
        .command_ok("SELECT INBOX")
        .await
        .map_err(|e| e.to_string())?;
    let mut exists: u64 = sel
        .untagged
        .iter()
        .find_map(|e| match &e.kind {
            crate::event::EventKind::Server {
                message: crate::wire::ServerMessage::Exists(n),
                ..
            } => Some(u64::from(*n)),
            _ => None,
        })
        .unwrap_or(0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let body = format!(
        "From: load@example.org\r\nSubject: load {i}\r\nMessage-ID: <load-{i}@imapspec>\r\n\r\n{}\r\n",
        "x".repeat(900)
    );
    while Instant::now() < deadline {
        let roll = rng.below(100);
        let seq = 1 + rng.below(exists.max(1));
        let t = Instant::now();
        let reply = if exists == 0 || roll < 15 {
            s.append_nonsync("INBOX", body.as_bytes()).await
        } else if roll < 45 {
            s.command("NOOP").await
        } else if roll < 70 {
            s.command(&format!(
                "FETCH {seq} (FLAGS UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"
            ))
            .await
        } else if roll < 85 {
            s.command(&format!("STORE {seq} +FLAGS (\\Seen)")).await
        } else if roll < 95 {
            s.command("UID SEARCH UNSEEN").await
        } else if roll < 98 {
            s.command(&format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"))
                .await
        } else {
            s.command("EXPUNGE").await
        };
        let reply = reply.map_err(|e| format!("{e}"))?;
        latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if reply.status != StatusKind::Ok {
            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for e in reply
            .untagged
            .iter()
            .chain(std::iter::once(&reply.completion))
        {
            match &e.kind {
                crate::event::EventKind::Server {
                    message: crate::wire::ServerMessage::Exists(n),
                    ..
                } => exists = u64::from(*n),
                crate::event::EventKind::Server {
                    message: crate::wire::ServerMessage::Expunge(_),
                    ..
                } => exists = exists.saturating_sub(1),
                _ => {}
            }
        }
    }
    let _ = s.logout().await;
    Ok(())
}

/// A recorder whose transcript goes nowhere (the checks still run).
pub fn quiet_recorder() -> std::io::Result<SharedRecorder> {
    Recorder::new(Box::new(std::io::sink()), "load")
}
