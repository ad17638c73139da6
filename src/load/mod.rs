//! `imapspec load`: many simulated users against one server, for a bounded
//! time, with every check on.
//!
//! Each user follows a persona of its [`profile::Profile`]: one connection per
//! mailbox it keeps open, each going round the persona's cycle of steps (see
//! [`profile`]). Every byte goes through the same recorder and checks as a
//! scenario run, so a server that breaks an invariant only under concurrency is
//! caught. Latencies go into an HDR histogram per command ([`stats`]). Bounded:
//! the user count, the duration (connections still open at the end are closed),
//! and each command's timeout.

pub mod profile;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::event::{Event, EventKind};
use crate::runner::recorder::{Recorder, SharedRecorder};
use crate::session::{quoted, Reply, ServerUrl, Session, SessionError, SessionOptions};
use crate::wire::{ServerMessage, StatusKind};
use profile::{Action, Persona, Profile};
pub use stats::LoadReport;
use stats::{histogram, Latency};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: ServerUrl,
    pub accounts: Vec<(String, String)>,
    /// Simulated users (each opens one connection per mailbox of its persona).
    pub clients: usize,
    pub duration: Duration,
    pub insecure: bool,
    pub profile: Profile,
    /// Users start spread evenly over this time.
    pub rampup: Duration,
    /// Replaces every persona's think time.
    pub think: Option<Duration>,
    /// The number of the first user (a process of several takes a share).
    pub first_client: usize,
}

/// What the run counts as it goes, for the live line.
#[derive(Debug, Default)]
pub struct Live {
    pub commands: AtomicU64,
    pub errors: AtomicU64,
    pub connections: AtomicU64,
    pub connections_peak: AtomicU64,
}

#[derive(Default)]
struct Tally {
    per: BTreeMap<&'static str, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    samples: Vec<String>,
}

struct Shared {
    tally: Mutex<Tally>,
    live: Arc<Live>,
    recorder: SharedRecorder,
    deadline: Instant,
}

impl Shared {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, kind: &'static str, took: Duration, status: StatusKind) {
        let us = (took.as_micros() as u64).clamp(1, 3_600_000_000);
        let mut t = self.tally();
        let _ = t.per.entry(kind).or_insert_with(histogram).record(us);
        match status {
            StatusKind::No => *t.errors.entry("no".into()).or_default() += 1,
            StatusKind::Bad => *t.errors.entry("bad".into()).or_default() += 1,
            _ => {}
        }
        self.live.commands.fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self, kind: &str, text: String) {
        let mut t = self.tally();
        *t.errors.entry(kind.to_string()).or_default() += 1;
        if t.samples.len() < stats::MAX_SAMPLES {
            t.samples.push(text);
        }
        self.live.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// A tiny deterministic generator (reproducible runs).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_add(1).wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
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
    fn percent(&mut self, p: u8) -> bool {
        self.below(100) < u64::from(p)
    }
}

/// Runs the load and reports it (findings are the caller's: the recorder's).
pub async fn run(options: &LoadOptions, recorder: SharedRecorder, live: Arc<Live>) -> LoadReport {
    let started = Instant::now();
    let cpu_before = stats::cpu_seconds();
    let shared = Arc::new(Shared {
        tally: Mutex::new(Tally::default()),
        live,
        recorder,
        deadline: started + options.rampup + options.duration,
    });
    let mut tasks = Vec::new();
    for n in 0..options.clients {
        let user = options.first_client + n;
        let persona = options.profile.persona_of(user).clone();
        let start = started
            + options
                .rampup
                .mul_f64(n as f64 / options.clients.max(1) as f64);
        for (j, mailbox) in persona.mailboxes.iter().enumerate() {
            let (opts, shared, persona, mailbox) = (
                options.clone(),
                shared.clone(),
                persona.clone(),
                mailbox.clone(),
            );
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                connection(user, j, &mailbox, &persona, &opts, &shared).await;
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = stats::cpu_seconds() - cpu_before;
    let tally = std::mem::take(&mut *shared.tally());
    let mut all = histogram();
    for h in tally.per.values() {
        let _ = all.add(h);
    }
    let commands = all.len();
    LoadReport {
        schema_version: 2,
        tool: "imapspec".into(),
        command: "load".into(),
        server: options.url.to_string(),
        profile: options.profile.name.clone(),
        clients: options.clients as u64,
        processes: 1,
        seconds,
        rampup_seconds: options.rampup.as_secs_f64(),
        commands,
        commands_per_second: commands as f64 / seconds.max(1e-9),
        cpu_seconds: cpu,
        cpu_ms_per_command: cpu * 1000.0 / commands.max(1) as f64,
        connections_peak: shared.live.connections_peak.load(Ordering::Relaxed),
        rss_peak_kib: stats::rss_peak_kib(),
        latency: Latency::of(&all),
        per_command: tally
            .per
            .iter()
            .map(|(k, h)| (k.to_string(), Latency::of(h)))
            .collect(),
        errors: tally.errors,
        error_samples: tally.samples,
        findings: Vec::new(),
    }
}

/// One connection of one user, to the deadline: log in, select its mailbox,
/// go round the persona's cycle; a LOGOUT step or a lost connection starts
/// over with a new connection.
async fn connection(
    user: usize,
    j: usize,
    mailbox: &str,
    persona: &Persona,
    opts: &LoadOptions,
    shared: &Shared,
) {
    let Some((name, pass)) = opts
        .accounts
        .get(user % opts.accounts.len().max(1))
        .cloned()
    else {
        shared.error("login", "no account".into());
        return;
    };
    let mut rng = Rng::new((user as u64) << 8 | j as u64);
    let think = opts.think.unwrap_or(persona.think);
    let mut round = 0u32;
    while Instant::now() < shared.deadline {
        round += 1;
        let id = format!("u{user}-c{j}-r{round}");
        let session_opts = SessionOptions {
            insecure: opts.insecure,
            ..SessionOptions::default()
        };
        let mut s = match Session::connect(&opts.url, &id, &shared.recorder, &session_opts).await {
            Ok(s) => s,
            Err(e) => {
                shared.error("connect", format!("{id}: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let now = shared.live.connections.fetch_add(1, Ordering::Relaxed) + 1;
        shared
            .live
            .connections_peak
            .fetch_max(now, Ordering::Relaxed);
        let ended = session(
            &mut s, &id, &name, &pass, mailbox, persona, think, &mut rng, shared,
        )
        .await;
        shared.live.connections.fetch_sub(1, Ordering::Relaxed);
        if let Err(e) = ended {
            let kind = match e {
                SessionError::Timeout(_) => "timeout",
                SessionError::Closed(_) => "closed",
                SessionError::Refused(_) => "login",
                _ => "io",
            };
            shared.error(kind, format!("{id}: {e}"));
            if !s.is_closed() {
                let _ = s.close().await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    s: &mut Session,
    id: &str,
    user: &str,
    pass: &str,
    mailbox: &str,
    persona: &Persona,
    think: Duration,
    rng: &mut Rng,
    shared: &Shared,
) -> Result<(), SessionError> {
    s.login(user, pass).await?;
    let quoted_box = quoted(mailbox);
    let mut exists = 0u64;
    let select = timed(
        s,
        shared,
        "select",
        &format!("SELECT {quoted_box}"),
        &mut exists,
    )
    .await?;
    if select.status != StatusKind::Ok && !mailbox.eq_ignore_ascii_case("INBOX") {
        // A persona's other folders are made once, as a client's first run would.
        let _ = s.command(&format!("CREATE {quoted_box}")).await?;
        timed(
            s,
            shared,
            "select",
            &format!("SELECT {quoted_box}"),
            &mut exists,
        )
        .await?;
    }
    let body = format!(
        "From: load@example.org\r\nSubject: load {id}\r\nMessage-ID: <{id}-{}@imapspec>\r\n\r\n{}\r\n",
        rng.next(),
        "x".repeat(900)
    );
    loop {
        for step in &persona.steps {
            if !rng.percent(step.chance) {
                continue;
            }
            loop {
                if !persona.allows(step.action, exists) {
                    break;
                }
                if Instant::now() >= shared.deadline {
                    let _ = s.logout().await;
                    return Ok(());
                }
                let before = exists;
                if step.action == Action::Logout {
                    let t = Instant::now();
                    s.logout().await?;
                    shared.record("logout", t.elapsed(), StatusKind::Ok);
                    return Ok(());
                }
                act(
                    s,
                    step,
                    mailbox,
                    &quoted_box,
                    &body,
                    &mut exists,
                    rng,
                    shared,
                )
                .await?;
                if persona.fetch_on_exists && exists > before {
                    let cmd = format!("FETCH {}:* (UID FLAGS)", before + 1);
                    timed(s, shared, "fetch-new", &cmd, &mut exists).await?;
                }
                if !think.is_zero() {
                    tokio::time::sleep(
                        think.min(shared.deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
                if !rng.percent(step.again) {
                    break;
                }
            }
        }
    }
}

/// A command, its latency recorded under `kind`; EXISTS and EXPUNGE keep `exists`.
async fn timed(
    s: &mut Session,
    shared: &Shared,
    kind: &'static str,
    command: &str,
    exists: &mut u64,
) -> Result<Reply, SessionError> {
    let t = Instant::now();
    let reply = s.command(command).await?;
    shared.record(kind, t.elapsed(), reply.status);
    track(&reply.untagged, exists);
    Ok(reply)
}

fn track(events: &[Event], exists: &mut u64) {
    for e in events {
        match &e.kind {
            EventKind::Server {
                message: ServerMessage::Exists(n),
                ..
            } => *exists = u64::from(*n),
            EventKind::Server {
                message: ServerMessage::Expunge(_),
                ..
            } => *exists = exists.saturating_sub(1),
            _ => {}
        }
    }
}

/// A message range of up to 100 from a random start (imaptest's FETCH).
fn range(rng: &mut Rng, exists: u64) -> String {
    let start = 1 + rng.below(exists);
    let end = (start + rng.below(100)).min(exists);
    if end > start {
        format!("{start}:{end}")
    } else {
        start.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
async fn act(
    s: &mut Session,
    step: &profile::Step,
    name: &str,
    mailbox: &str,
    body: &str,
    exists: &mut u64,
    rng: &mut Rng,
    shared: &Shared,
) -> Result<(), SessionError> {
    let n = *exists;
    let seq = 1 + rng.below(n);
    let kind = step.action.name();
    // Steps on messages wait for messages.
    let needs_mail = matches!(
        step.action,
        Action::Fetch
            | Action::FetchBody
            | Action::FetchUid
            | Action::Copy
            | Action::Store
            | Action::Delete
            | Action::UidFetchAll
    );
    if needs_mail && n == 0 {
        return Ok(());
    }
    let command = match step.action {
        Action::List => "LIST \"\" *".to_string(),
        Action::Status => format!("STATUS {mailbox} (MESSAGES UNSEEN RECENT)"),
        Action::Select => format!("SELECT {mailbox}"),
        Action::UidFetchAll => "UID FETCH 1:* (FLAGS)".into(),
        Action::Fetch => {
            const ITEMS: [&str; 6] = [
                "FLAGS",
                "ENVELOPE",
                "INTERNALDATE",
                "BODYSTRUCTURE",
                "RFC822.SIZE",
                "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT MESSAGE-ID)]",
            ];
            let mut items = vec!["UID"];
            let pick = rng.next();
            items.extend(
                ITEMS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| pick >> i & 1 == 1)
                    .map(|x| *x.1),
            );
            format!("FETCH {} ({})", range(rng, n), items.join(" "))
        }
        Action::FetchBody => format!("FETCH {seq} (BODY.PEEK[])"),
        Action::FetchUid => format!("FETCH {seq} (UID)"),
        Action::Search => "UID SEARCH UNSEEN".into(),
        Action::Copy => format!("COPY {} {mailbox}", range(rng, n)),
        Action::Store => {
            const FLAGS: [&str; 6] = [
                "\\Seen",
                "\\Flagged",
                "\\Answered",
                "$Label1",
                "$Label2",
                "$Label3",
            ];
            let flag = FLAGS[rng.below(FLAGS.len() as u64) as usize];
            let sign = if rng.percent(50) { '+' } else { '-' };
            format!("STORE {} {sign}FLAGS ({flag})", range(rng, n))
        }
        Action::Delete => format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"),
        Action::Expunge => "EXPUNGE".into(),
        Action::Noop => "NOOP".into(),
        Action::Check => "CHECK".into(),
        Action::Append => {
            let t = Instant::now();
            let reply = s.append(name, "", body.as_bytes()).await?;
            shared.record(kind, t.elapsed(), reply.status);
            track(&reply.untagged, exists);
            return Ok(());
        }
        Action::Idle | Action::IdleForever => {
            let t = Instant::now();
            let tag = s.idle().await?;
            shared.record(kind, t.elapsed(), StatusKind::Ok);
            let until = if step.action == Action::IdleForever {
                shared.deadline
            } else {
                (Instant::now() + step.idle).min(shared.deadline)
            };
            // Reading what the server says while idle (EXISTS, EXPUNGE).
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match s.next_event_within(left).await? {
                    Some(e) => track(std::slice::from_ref(&e), exists),
                    None => break,
                }
            }
            let t = Instant::now();
            let reply = s.done(&tag).await?;
            shared.record("done", t.elapsed(), reply.status);
            track(&reply.untagged, exists);
            return Ok(());
        }
        Action::Logout => return Ok(()),
    };
    timed(s, shared, kind, &command, exists).await.map(|_| ())
}

/// A recorder whose transcript goes nowhere (the checks still run).
pub fn quiet_recorder() -> std::io::Result<SharedRecorder> {
    Recorder::new(Box::new(std::io::sink()), "load")
}
