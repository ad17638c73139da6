//! `imapspec proxy`: a transparent IMAP proxy between a real client and a
//! server, checking every response live with the same checks as `run` and
//! `check`. This module owns the options, the listeners and the tap (framing,
//! transcripts, checker, live output); `relay` owns one connection's bytes
//! and its TLS.
//!
//! Every byte is forwarded unchanged and at once, in both directions (IDLE,
//! literals, AUTHENTICATE exchanges pass as they come). Beside the forwarding,
//! a tap frames and decodes each direction (the harness's own bounded
//! `Assembler`), writes each connection's transcript as it runs, and feeds one
//! checker shared by all connections (cross-session checks, such as a UID
//! reused after another session's expunge, see every connection). A finding is
//! printed the moment the message that shows it is complete, with the client
//! impact, and written as a JSON line with `--findings`.
//!
//! Credentials never reach a transcript or a finding: LOGIN's password and
//! AUTHENTICATE's responses are masked (`--keep-secrets` keeps them), in the
//! tap only — the server gets what the client sent.
//!
//! TLS is terminated by the proxy on both sides, so everything can be read:
//! - Client side: `--listen` (plaintext, STARTTLS possible) and/or
//!   `--listen-tls` (implicit TLS), with `--tls-cert/--tls-key` (PEM) or a
//!   self-signed certificate for localhost made at start (the reference
//!   server's `server::tls::server_config`).
//! - Upstream: `imap://` (plain), `imap+starttls://` (the proxy sends its own
//!   `STARTTLS` at connect, after the greeting, and handshakes; the client side
//!   stays plain unless the client asks), `imaps://`; `--insecure` accepts a
//!   self-signed upstream certificate.
//! - A client's STARTTLS on a plain upstream is forwarded with the client's
//!   tag (the server sees the command the client sent, and answers it); on the
//!   server's tagged OK the proxy handshakes with the server, then with the
//!   client (its own certificate), and forwards in the clear between the two
//!   sessions. On an upstream that is TLS already the proxy answers the
//!   client's STARTTLS itself (`OK`) and the transcript gets a note instead of
//!   the command (the server never saw it); until then it adds `STARTTLS` to
//!   the server's `* CAPABILITY` lines on their way to the plain client (the
//!   greeting, read before the proxy's own STARTTLS, has it already) — the
//!   one change it makes to what the server sends; the transcript keeps the
//!   server's line. Either way the transcript records
//!   `tls` as a live session does, so `imapspec check` on it gives the same
//!   findings. Plaintext the client pipelined after STARTTLS is discarded, not
//!   forwarded (RFC 3501 6.2.1: it could be an attacker's injection), and the
//!   transcript notes how many bytes.
//! - COMPRESS=DEFLATE (RFC 4978) passes through untouched (the client and the
//!   server compress for each other), and the tap inflates both directions
//!   after the server's tagged OK to the client's `COMPRESS DEFLATE`: the
//!   transcript records the inflated protocol after a `note` saying where
//!   compression began, and every check goes on, so `imapspec check` on the
//!   transcript gives the same findings. What a user holding the log wants is
//!   the session, not DEFLATE blocks. While that OK is awaited the server's
//!   bytes are tapped a line at a time, before they are forwarded, so the
//!   client's first compressed command cannot reach the tap before the tap
//!   knows compression is on. Inflation is piece by piece into the bounded
//!   framers (a bomb costs time, not memory); a stream that does not inflate
//!   ends the recording of that connection with a note (the bytes still pass).
//!
//! Memory per connection: two 16 KiB copy buffers, the TLS sessions' buffers,
//! the transcript writer's buffer, and the framers' open messages, which are
//! bounded by `Limits::max_message` (16 MiB per direction by default). The tap
//! keeps the default limit rather than a smaller one: a message cut at the
//! tap's limit would be cut in the transcript too, and `imapspec check` on the
//! transcript must see the same messages as the live checker did; 16 MiB
//! covers every response the checks read (bodies are hashed, not kept) and
//! only a message that large costs that much.

mod relay;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::checks::{self, Checker};
use crate::clock::Clock;
use crate::event::{closed_text, Assembler, ChunkMeta, Event, EventKind, SessionId};
use crate::finding::Finding;
use crate::session::ServerUrl;
use crate::source::Origin;
use crate::transcript::generic::TranscriptWriter;
use crate::wire::deflate::Inflater;
use crate::wire::{ClientMessage, CommandKind, Direction, Limits, ServerMessage, StatusKind};

/// The most inflated bytes the tap frames at once.
const INFLATE_PIECE: usize = 16 * 1024;

/// What `imapspec proxy` was asked to do.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Plaintext listener (STARTTLS offered when the upstream offers it).
    pub listen: Option<SocketAddr>,
    /// Implicit TLS listener.
    pub listen_tls: Option<SocketAddr>,
    /// The client-side certificate and key (PEM); `None`: self-signed.
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    pub upstream: ServerUrl,
    pub insecure: bool,
    /// One transcript per connection here.
    pub transcripts: Option<PathBuf>,
    /// Findings as JSON lines here, as they happen.
    pub findings: Option<PathBuf>,
    pub keep_secrets: bool,
    /// Connections served at once; more are refused (closed at once).
    pub max_connections: usize,
    pub limits: Limits,
}

impl ProxyOptions {
    /// Plaintext on `listen` towards `upstream`, every other option at its default.
    pub fn new(listen: SocketAddr, upstream: ServerUrl) -> Self {
        ProxyOptions {
            listen: Some(listen),
            listen_tls: None,
            tls_cert: None,
            upstream,
            insecure: false,
            transcripts: None,
            findings: None,
            keep_secrets: false,
            max_connections: 1000,
            limits: Limits::default(),
        }
    }
}

/// A running proxy.
pub struct ProxyHandle {
    /// The plaintext listener's address, if any.
    pub addr: Option<SocketAddr>,
    /// The implicit TLS listener's address, if any.
    pub tls_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    tap: Arc<Mutex<Tap>>,
}

impl ProxyHandle {
    /// Stops accepting, ends every connection, flushes the transcripts, and
    /// returns every finding seen.
    pub async fn shutdown(self) -> Vec<Finding> {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let mut tap = lock(&self.tap);
        tap.finish();
        tap.checker.findings.list.clone()
    }
}

fn lock(tap: &Mutex<Tap>) -> std::sync::MutexGuard<'_, Tap> {
    tap.lock().unwrap_or_else(|p| p.into_inner())
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    Ok((listener, local))
}

/// Binds the listeners and starts serving.
pub async fn start(
    options: ProxyOptions,
    live: Box<dyn Write + Send>,
) -> Result<ProxyHandle, String> {
    if options.listen.is_none() && options.listen_tls.is_none() {
        return Err("nothing to listen on: give --listen, --listen-tls or both".into());
    }
    let config = crate::server::tls::server_config(options.tls_cert.as_ref())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (plain, addr) = match options.listen {
        Some(a) => {
            let (l, a) = bind(a).await?;
            (Some(l), Some(a))
        }
        None => (None, None),
    };
    let (tls, tls_addr) = match options.listen_tls {
        Some(a) => {
            let (l, a) = bind(a).await?;
            (Some(l), Some(a))
        }
        None => (None, None),
    };
    if let Some(dir) = &options.transcripts {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let findings = match &options.findings {
        Some(p) => Some(
            std::fs::File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let tap = Arc::new(Mutex::new(Tap {
        assembler: Assembler::new(options.limits.clone()),
        checker: Checker::default(),
        writers: HashMap::new(),
        live,
        findings,
        reported: 0,
        keep_secrets: options.keep_secrets,
        transcripts: options.transcripts.clone(),
        clock: Clock::real(),
        watch: HashMap::new(),
    }));
    let (shutdown, rx) = watch::channel(false);
    let ctx = Arc::new(relay::Context {
        options,
        acceptor,
        tap: Arc::clone(&tap),
    });
    let task = tokio::spawn(accept_loop(plain, tls, ctx, rx));
    Ok(ProxyHandle {
        addr,
        tls_addr,
        shutdown,
        task,
        tap,
    })
}

async fn accept(l: &Option<TcpListener>) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    plain: Option<TcpListener>,
    tls: Option<TcpListener>,
    ctx: Arc<relay::Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut n: u64 = 0;
    loop {
        let (accepted, implicit_tls) = tokio::select! {
            a = accept(&plain) => (a, false),
            a = accept(&tls) => (a, true),
            _ = shutdown.changed() => break,
        };
        let Ok((client, peer)) = accepted else {
            // Out of descriptors or a reset before accept: go on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if open.load(std::sync::atomic::Ordering::Acquire) >= ctx.options.max_connections {
            drop(client);
            continue;
        }
        n += 1;
        let id: SessionId = Arc::from(format!("p{n}-{peer}"));
        let (ctx, open, stop) = (Arc::clone(&ctx), Arc::clone(&open), shutdown.clone());
        open.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tasks.spawn(async move {
            relay::connection(client, implicit_tls, id, &ctx, stop).await;
            open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
        // Reap finished connections as we go.
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// How a connection's client-side STARTTLS is handled (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartTlsMode {
    /// Forwarded to the plain upstream; TLS on both sides after its OK.
    Forward,
    /// Answered by the proxy (the upstream is TLS already).
    Local,
    /// The client side is TLS already: nothing special.
    Off,
}

/// Per connection: what the relay waits for around STARTTLS.
#[derive(Debug)]
struct Watch {
    mode: StartTlsMode,
    /// The tag of the client's STARTTLS, once its command is complete.
    command: Option<String>,
    /// Set when the command was seen, until the relay takes it.
    command_new: bool,
    /// The server's tagged answer to a forwarded STARTTLS: OK or not.
    reply: Option<bool>,
    /// The tag of the client's `COMPRESS DEFLATE`, until the server answers.
    compress: Option<String>,
    /// COMPRESS=DEFLATE is on: the inflaters of the client's and the
    /// server's streams.
    deflate: Option<Box<(Inflater, Inflater)>>,
    /// A stream did not inflate: nothing more is recorded.
    deflate_broken: bool,
}

/// The checking side of the proxy: framing, transcripts and the checker.
struct Tap {
    assembler: Assembler,
    checker: Checker,
    writers: HashMap<SessionId, TranscriptWriter<Box<dyn Write + Send>>>,
    live: Box<dyn Write + Send>,
    findings: Option<std::fs::File>,
    /// Findings already printed.
    reported: usize,
    keep_secrets: bool,
    transcripts: Option<PathBuf>,
    clock: Clock,
    /// STARTTLS handling per connection.
    watch: HashMap<SessionId, Watch>,
}

impl Tap {
    fn open(&mut self, id: &SessionId) {
        let out: Box<dyn Write + Send> = match &self.transcripts {
            Some(dir) => {
                let file = dir.join(format!("{}.transcript", file_name(id)));
                match std::fs::File::create(&file) {
                    Ok(f) => Box::new(std::io::BufWriter::new(f)),
                    Err(e) => {
                        let _ = writeln!(
                            self.live,
                            "imapspec proxy: cannot write {}: {e}",
                            file.display()
                        );
                        Box::new(std::io::sink())
                    }
                }
            }
            None => Box::new(std::io::sink()),
        };
        let name: Arc<str> = match &self.transcripts {
            Some(dir) => Arc::from(
                dir.join(format!("{}.transcript", file_name(id)))
                    .display()
                    .to_string(),
            ),
            None => Arc::clone(id),
        };
        if let Ok(w) = TranscriptWriter::new(out, name) {
            self.writers.insert(Arc::clone(id), w);
        }
    }

    fn bytes(&mut self, id: &SessionId, dir: Direction, mut bytes: &[u8]) {
        let Some(w) = self.watch.get_mut(id) else {
            return self.frame(id, dir, bytes);
        };
        if w.deflate_broken {
            return;
        }
        let Some(mut z) = w.deflate.take() else {
            return self.frame(id, dir, bytes);
        };
        let mut piece = Vec::with_capacity(INFLATE_PIECE);
        let broken = loop {
            piece.clear();
            let inflater = if dir == Direction::Client {
                &mut z.0
            } else {
                &mut z.1
            };
            match inflater.inflate(bytes, &mut piece, INFLATE_PIECE) {
                Ok((taken, produced)) => {
                    bytes = &bytes[taken.min(bytes.len())..];
                    if produced > 0 {
                        self.frame(id, dir, &piece);
                    } else if taken == 0 {
                        break None;
                    }
                }
                Err(why) => break Some(why),
            }
        };
        if let Some(w) = self.watch.get_mut(id) {
            w.deflate = Some(z);
            if let Some(why) = broken {
                w.deflate_broken = true;
                let side = if dir == Direction::Client {
                    "client"
                } else {
                    "server"
                };
                let text = format!(
                    "COMPRESS=DEFLATE: the {side}'s stream does not inflate ({why}); the rest of this connection is not recorded"
                );
                self.note(id, &text);
                self.transcript_note(id, text);
            }
        }
    }

    /// How this connection's client-side STARTTLS is handled from now on.
    fn set_mode(&mut self, id: &SessionId, mode: StartTlsMode) {
        self.watch.insert(
            Arc::clone(id),
            Watch {
                mode,
                command: None,
                command_new: false,
                reply: None,
                compress: None,
                deflate: None,
                deflate_broken: false,
            },
        );
    }

    /// The tag of a client STARTTLS completed since the last call.
    fn take_command(&mut self, id: &SessionId) -> Option<String> {
        let w = self.watch.get_mut(id)?;
        if !w.command_new {
            return None;
        }
        w.command_new = false;
        w.command.clone()
    }

    /// A forwarded STARTTLS or a COMPRESS is waiting for the server's tagged
    /// answer (the server's bytes are tapped a line at a time, first).
    fn awaiting_reply(&self, id: &SessionId) -> bool {
        self.watch.get(id).is_some_and(|w| {
            (w.mode == StartTlsMode::Forward && w.command.is_some()) || w.compress.is_some()
        })
    }

    /// The server's tagged answer to a forwarded STARTTLS, once it came.
    fn take_reply(&mut self, id: &SessionId) -> Option<bool> {
        let w = self.watch.get_mut(id)?;
        let r = w.reply.take();
        if r.is_some() {
            w.command = None;
        }
        r
    }

    /// TLS is up on this connection (as a live session records it).
    fn tls(&mut self, id: &SessionId) {
        let at = Some(self.clock.now());
        self.record(Event {
            session: Arc::clone(id),
            at,
            origin: Origin::new(id, 0),
            raw: Vec::new(),
            kind: EventKind::TlsStarted,
        });
    }

    /// A note in the connection's transcript (and to the checker, which keeps
    /// notes for context only).
    fn transcript_note(&mut self, id: &SessionId, text: String) {
        let at = Some(self.clock.now());
        self.record(Event {
            session: Arc::clone(id),
            at,
            origin: Origin::new(id, 0),
            raw: text.clone().into_bytes(),
            kind: EventKind::Note { text },
        });
    }

    fn frame(&mut self, id: &SessionId, dir: Direction, bytes: &[u8]) {
        let meta = ChunkMeta {
            origin: Origin::new(id, 0),
            at: Some(self.clock.now()),
        };
        let mut events = Vec::new();
        self.assembler.push(id, dir, bytes, meta, &mut events);
        for e in events {
            self.record(e);
        }
    }

    fn close(&mut self, id: &SessionId, by: Option<Direction>) {
        let meta = ChunkMeta {
            origin: Origin::new(id, 0),
            at: Some(self.clock.now()),
        };
        let mut events = Vec::new();
        self.assembler.close(id, by, meta, &mut events);
        for e in events {
            self.record(e);
        }
        if let Some(mut w) = self.writers.remove(id) {
            let _ = w.flush();
        }
        self.watch.remove(id);
    }

    fn note(&mut self, id: &SessionId, text: &str) {
        let _ = writeln!(self.live, "imapspec proxy [{id}]: {text}");
        let _ = self.live.flush();
    }

    /// Writes one event to its connection's transcript (masked), gives it the
    /// transcript's line as its origin, checks it and prints new findings.
    fn record(&mut self, mut event: Event) {
        let mut compress_on = None;
        if let Some(w) = self.watch.get_mut(&event.session) {
            match &event.kind {
                EventKind::Client {
                    message:
                        ClientMessage::Command {
                            tag,
                            command: CommandKind::StartTls,
                            ..
                        },
                    ..
                } if w.mode != StartTlsMode::Off => {
                    w.command = Some(tag.clone());
                    w.command_new = true;
                    if w.mode == StartTlsMode::Local {
                        // The server never sees it: a note, not the command.
                        let text = format!(
                            "the client's STARTTLS ({tag}) is answered by the proxy: the upstream is TLS already"
                        );
                        return self.transcript_note(&event.session, text);
                    }
                }
                EventKind::Server {
                    message:
                        ServerMessage::Status {
                            tag: Some(tag),
                            kind,
                            ..
                        },
                    ..
                } if w.mode == StartTlsMode::Forward && w.command.as_ref() == Some(tag) => {
                    w.reply = Some(*kind == StatusKind::Ok);
                }
                EventKind::Client { .. } if w.deflate.is_none() => {
                    if let Some(tag) = crate::wire::deflate::compress_command(&event.raw) {
                        w.compress = Some(tag);
                    }
                }
                EventKind::Server {
                    message:
                        ServerMessage::Status {
                            tag: Some(tag),
                            kind,
                            ..
                        },
                    ..
                } if w.compress.as_ref() == Some(tag) => {
                    w.compress = None;
                    if *kind == StatusKind::Ok {
                        w.deflate = Some(Box::new((Inflater::new(), Inflater::new())));
                        compress_on = Some(Arc::clone(&event.session));
                    }
                }
                _ => {}
            }
        }
        if !self.keep_secrets {
            self.mask(&mut event);
        }
        let at = event.at.unwrap_or_else(|| self.clock.now());
        if let Some(w) = self.writers.get_mut(&event.session) {
            let written = match &event.kind {
                EventKind::Server { .. } => {
                    w.message(at, &event.session, Direction::Server, &event.raw)
                }
                EventKind::Client { .. } => {
                    w.message(at, &event.session, Direction::Client, &event.raw)
                }
                EventKind::Closed { by } => {
                    w.directive(at, &event.session, closed_text(*by))
                        .map(|(o, line)| {
                            event.raw = line.into_bytes();
                            o
                        })
                }
                EventKind::TlsStarted => w.directive(at, &event.session, "tls").map(|(o, _)| o),
                EventKind::Note { text } => w
                    .directive(at, &event.session, &format!("note {text}"))
                    .map(|(o, _)| o),
            };
            if let Ok(origin) = written {
                event.origin = origin;
            }
            let _ = w.flush();
        }
        self.checker.on_event(&event);
        self.report_new();
        if let Some(id) = compress_on {
            let text = "COMPRESS=DEFLATE on: what follows is recorded inflated".to_string();
            self.transcript_note(&id, text);
        }
    }

    /// Replaces secrets in a client message with `***` (the tap's copy only).
    fn mask(&mut self, event: &mut Event) {
        let EventKind::Client { message, .. } = &event.kind else {
            return;
        };
        match message {
            ClientMessage::Command {
                tag,
                command: CommandKind::Login { user },
                ..
            } => {
                event.raw = format!("{tag} LOGIN {} \"***\"\r\n", quote(user)).into_bytes();
            }
            ClientMessage::Command {
                tag,
                command: CommandKind::Authenticate { mechanism, .. },
                ..
            } => {
                // The initial response (SASL-IR) is a secret too.
                event.raw = format!("{tag} AUTHENTICATE {mechanism}\r\n").into_bytes();
            }

            ClientMessage::AuthData => event.raw = b"***\r\n".to_vec(),
            _ => {}
        }
    }

    fn report_new(&mut self) {
        let list = &self.checker.findings.list;
        for f in &list[self.reported.min(list.len())..] {
            let _ = write!(self.live, "{}", live_text(f));
            if let Some(file) = &mut self.findings {
                if let Ok(line) = serde_json::to_string(f) {
                    let _ = writeln!(file, "{line}");
                }
            }
        }
        self.reported = list.len();
        let _ = self.live.flush();
        if let Some(file) = &mut self.findings {
            let _ = file.flush();
        }
    }

    fn finish(&mut self) {
        let mut events = Vec::new();
        self.assembler.finish(&mut events);
        for e in events {
            self.record(e);
        }
        self.checker.finish();
        self.report_new();
        for w in self.writers.values_mut() {
            let _ = w.flush();
        }
    }
}

/// A finding as printed live: where, what, the rule and the client impact.
pub fn live_text(f: &Finding) -> String {
    let info = checks::info(f.check);
    let mut s = format!(
        "{}  [session {}]\n  | {}\n  {} {} ({})\n    {}\n",
        f.origin,
        f.session,
        f.line,
        f.severity.as_str(),
        f.check,
        info.map_or("", |i| i.rfc),
        f.message
    );
    if let Some(impact) = &f.client_impact {
        s.push_str(&format!("    client impact: {impact}\n"));
    }
    s
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A connection id as a file name.
fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
