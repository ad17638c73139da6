//! A raw IMAP client for live runs: plain TCP, implicit TLS or STARTTLS; every byte
//! both ways framed, timestamped on the shared `Clock`, written to the generic
//! transcript and checked as it arrives.
//!
//! The server is never trusted: every read has a timeout (`Limits::read_timeout`)
//! and every message a size bound (`Limits`), so a stalled or flooding server
//! gives an error or a finding, never a hang or unbounded memory. Everything is
//! handed to an `EventSink` (the runner's `Recorder`: transcript and checks),
//! shared by all sessions of a run, so cross-session checks (a UID reused after
//! another session's EXPUNGE) see every connection, and the transcript holds
//! them all, each under its own `[name]`. The session knows neither.
//!
//! COMPRESS=DEFLATE (RFC 4978): when the session sends its own `COMPRESS
//! DEFLATE` and the server's tagged OK comes back, every byte after that OK's
//! CRLF is inflated before framing, and every byte sent after it is deflated
//! (sync-flushed per write), exactly as STARTTLS changes the stream under the
//! framers. The transcript and the events keep the inflated protocol, after a
//! `note` saying where compression began. Inflation goes a piece at a time
//! into the same bounded framer, so a server's compression bomb costs reading
//! time, never memory.

pub mod connect;
pub mod url;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock::Clock;
use crate::event::{
    closed_text, Event, EventKind, EventSink, SessionDecoder, SessionId, SharedSink,
};
use crate::source::{Origin, Timestamp};
use crate::wire::{Direction, Frame, Framer, Limits, ServerMessage, StatusKind};

pub use crate::wire::Piece;
pub use connect::Stream;
pub use url::{Security, ServerUrl};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The server could not be reached.
    Connect(String),
    /// TLS negotiation failed.
    Tls(String),
    /// The server sent nothing for the whole read timeout.
    Timeout(String),
    /// The server closed the connection.
    Closed(String),
    /// The server answered NO/BAD where the session needed OK.
    Refused(String),
    Io(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Connect(m) => write!(f, "cannot connect: {m}"),
            SessionError::Tls(m) => write!(f, "TLS failed: {m}"),
            SessionError::Timeout(m) => write!(f, "timed out: {m}"),
            SessionError::Closed(m) => write!(f, "connection closed by the server: {m}"),
            SessionError::Refused(m) => write!(f, "refused: {m}"),
            SessionError::Io(m) => write!(f, "I/O error: {m}"),
        }
    }
}

impl std::error::Error for SessionError {}

fn lock(r: &SharedSink) -> MutexGuard<'_, dyn EventSink + 'static> {
    // A panic elsewhere while holding the lock leaves data that is still usable.
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// Most untagged responses one `Reply` keeps (the transcript keeps all).
pub const MAX_KEPT_REPLIES: usize = 100_000;

/// What pipelined commands got back: the tags they were sent under, every
/// untagged response and continuation in arrival order, and each command's
/// completion, in the commands' order.
#[derive(Debug, Clone)]
pub struct Pipelined {
    pub tags: Vec<String>,
    pub untagged: Vec<Event>,
    pub completions: Vec<Event>,
}

/// What a command got back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Untagged responses and continuations that came before the completion.
    pub untagged: Vec<Event>,
    pub status: StatusKind,
    pub text: String,
    pub completion: Event,
}

pub struct SessionOptions {
    pub limits: Limits,
    pub insecure: bool,
    pub clock: Clock,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            limits: Limits::default(),
            insecure: false,
            clock: Clock::real(),
        }
    }
}

pub struct Session {
    name: SessionId,
    stream: Option<Stream>,
    url: ServerUrl,
    recorder: SharedSink,
    clock: Clock,
    limits: Limits,
    insecure: bool,
    server_framer: Framer<Timestamp>,
    client_framer: Framer<Timestamp>,
    decoder: SessionDecoder,
    inbox: VecDeque<Event>,
    next_tag: u32,
    closed: bool,
    buf: Vec<u8>,
    /// The client message still open in `client_framer` (a command waiting for
    /// `+` before its literal): where its first line was written in the
    /// transcript and how many of its bytes are written already. Client bytes
    /// are written when sent, so the transcript keeps the true order even when
    /// the server answers before the message is whole.
    client_open: Option<(Origin, usize)>,
    /// Bytes received from the server so far (to tell a drip from silence).
    server_bytes: u64,
    /// The tag of a `COMPRESS` this session sent and the server has not
    /// answered yet.
    compress_tag: Option<String>,
    /// COMPRESS=DEFLATE, once the server said OK to it.
    deflate: Option<Box<DeflateLayer>>,
}

/// The session's COMPRESS=DEFLATE layer.
struct DeflateLayer {
    inflater: crate::wire::deflate::Inflater,
    deflater: crate::wire::deflate::Deflater,
}

/// The most inflated bytes framed at once.
const INFLATE_PIECE: usize = 16 * 1024;

impl Session {
    /// Connects, reads the greeting, and negotiates TLS as the URL says.
    pub async fn connect<S: EventSink + 'static>(
        url: &ServerUrl,
        name: &str,
        recorder: &Arc<Mutex<S>>,
        options: &SessionOptions,
    ) -> Result<Session, SessionError> {
        let recorder: SharedSink = recorder.clone();
        let clock = options.clock.clone();
        let addr = format!("{}:{}", url.host, url.port);
        let tcp = clock
            /* real time: a bound on the peer, not protocol time */
            .timeout_real(options.limits.read_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| {
                SessionError::Connect(format!(
                    "{url}: no answer within {:?}",
                    options.limits.read_timeout
                ))
            })?
            .map_err(|e| SessionError::Connect(format!("{url}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut session = Session {
            name: Arc::from(name),
            stream: Some(Stream::Plain(tcp)),
            url: url.clone(),
            recorder,
            clock,
            limits: options.limits.clone(),
            insecure: options.insecure,
            server_framer: Framer::new(options.limits.clone(), true),
            client_framer: Framer::new(options.limits.clone(), false),
            decoder: SessionDecoder::default(),
            inbox: VecDeque::new(),
            next_tag: 1,
            closed: false,
            buf: vec![0; 16 * 1024],
            client_open: None,
            server_bytes: 0,
            compress_tag: None,
            deflate: None,
        };
        if url.security == Security::Tls {
            session.start_tls().await?;
        }
        let greeting = session.next_event().await?;
        if let EventKind::Server {
            message:
                ServerMessage::Greeting {
                    kind: StatusKind::Bye,
                    text,
                    ..
                },
            ..
        } = &greeting.kind
        {
            return Err(SessionError::Refused(format!(
                "the server greeted with BYE: {text}"
            )));
        }
        if url.security == Security::StartTls {
            let reply = session.command("STARTTLS").await?;
            if reply.status != StatusKind::Ok {
                return Err(SessionError::Tls(format!(
                    "STARTTLS answered {}: {}",
                    reply.status.as_str(),
                    reply.text
                )));
            }
            session.start_tls().await?;
        }
        Ok(session)
    }

    pub fn name(&self) -> &SessionId {
        &self.name
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    async fn start_tls(&mut self) -> Result<(), SessionError> {
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(SessionError::Tls("TLS is already active".into()));
        };
        let connector = connect::tls_connector(self.insecure).map_err(SessionError::Tls)?;
        let name = connect::server_name(&self.url.host).map_err(SessionError::Tls)?;
        let tls = self
            .clock
            .timeout_real(self.limits.read_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| SessionError::Timeout("the TLS handshake did not finish".into()))?
            .map_err(|e| {
                let hint = if self.insecure {
                    ""
                } else {
                    " (for a self-signed certificate, use --insecure)"
                };
                SessionError::Tls(format!("{e}{hint}"))
            })?;
        self.stream = Some(Stream::Tls(Box::new(tls)));
        // Bytes the server sent before TLS are not part of the TLS session.
        self.server_framer = Framer::new(self.limits.clone(), true);
        let at = self.clock.now();
        let mut rec = lock(&self.recorder);
        let (origin, _) = rec
            .write_directive(at, &self.name, "tls")
            .map_err(|e| SessionError::Io(e.to_string()))?;
        let event = Event {
            session: self.name.clone(),
            at: Some(at),
            origin,
            raw: Vec::new(),
            kind: EventKind::TlsStarted,
        };
        rec.observe(event);
        Ok(())
    }

    /// A fresh tag: `a1`, `a2`, ...
    pub fn tag(&mut self) -> String {
        let t = format!("a{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends bytes as they are, in one write.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        if self.stream.is_none() {
            return Err(SessionError::Closed("the session is closed".into()));
        }
        // Recorded before it is written: every reply another connection got
        // before this point was sent by the server before it had these bytes,
        // which is the order cross-session checks may rely on.
        self.record_sent(bytes)?;
        let compressed;
        let wire = match self.deflate.as_mut() {
            Some(z) => {
                let mut w = Vec::with_capacity(bytes.len() / 2 + 64);
                z.deflater
                    .compress(bytes, &mut w)
                    .map_err(SessionError::Io)?;
                compressed = w;
                &compressed[..]
            }
            None => bytes,
        };
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| SessionError::Closed("the session is closed".into()))?;
        let written = self
            .clock
            .timeout_real(self.limits.read_timeout, async {
                let w = stream.writer();
                w.write_all(wire).await?;
                w.flush().await
            })
            .await;
        match written {
            Err(_) => Err(SessionError::Timeout("the server stopped reading".into())),
            Ok(Err(e)) => Err(SessionError::Io(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Frames and records bytes the client is sending.
    fn record_sent(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let at = self.clock.now();
        let mut frames = Vec::new();
        self.client_framer.push(bytes, &at, &mut frames);
        let mut consumed = 0;
        for frame in frames {
            if self.deflate.is_none() {
                if let Some(tag) = crate::wire::deflate::compress_command(&frame.bytes) {
                    self.compress_tag = Some(tag);
                }
            }
            let (origin, written) = match self.client_open.take() {
                Some((origin, written)) => (Some(origin), written),
                None => (None, 0),
            };
            // A cut frame holds fewer bytes than were sent; never count past it.
            let fresh = frame.bytes.len().saturating_sub(written);
            consumed += fresh;
            self.record_client(frame, origin, written)?;
        }
        if !self.client_framer.is_idle() {
            // The rest of this write opens a message that is not whole yet.
            let rest = &bytes[consumed.min(bytes.len())..];
            let mut rec = lock(&self.recorder);
            let origin = rec
                .write_message(at, &self.name, Direction::Client, rest)
                .map_err(|e| SessionError::Io(format!("cannot write the transcript: {e}")))?;
            drop(rec);
            self.client_open = Some(match self.client_open.take() {
                Some((o, w)) => (o, w + rest.len()),
                None => (origin, rest.len()),
            });
        }
        Ok(())
    }

    /// Records a client frame whose first `written` bytes are in the transcript
    /// already (at `origin`).
    fn record_client(
        &mut self,
        frame: Frame<Timestamp>,
        origin: Option<Origin>,
        written: usize,
    ) -> Result<Event, SessionError> {
        let at = frame.meta;
        // The tail (sent now) is stamped with the time it was sent; the event
        // keeps the time its message began, as a reader of the file sees it.
        let sent = self.clock.now();
        let mut rec = lock(&self.recorder);
        let tail = &frame.bytes[written.min(frame.bytes.len())..];
        let origin = match origin {
            Some(o) => {
                if !tail.is_empty() {
                    rec.write_message(sent, &self.name, Direction::Client, tail)
                        .map_err(|e| {
                            SessionError::Io(format!("cannot write the transcript: {e}"))
                        })?;
                }
                o
            }
            None => rec
                .write_message(at, &self.name, Direction::Client, tail)
                .map_err(|e| SessionError::Io(format!("cannot write the transcript: {e}")))?,
        };
        let event = self
            .decoder
            .decode(&self.name, Direction::Client, frame, origin, Some(at));
        Ok(rec.observe(event))
    }

    /// A tagged completion for the command waiting for `+`: the server refused
    /// it before the literal (RFC 3501 7.5), so the command ends where it
    /// stopped and is recorded before the reply.
    fn end_refused_literal(&mut self, server: &[u8]) -> Result<(), SessionError> {
        let refused = self
            .client_framer
            .awaiting_sync_literal()
            .is_some_and(|open| crate::wire::framing::refuses_literal(server, open));
        if !refused {
            return Ok(());
        }
        if let Some(frame) = self.client_framer.abandon_sync_literal() {
            let (origin, written) = match self.client_open.take() {
                Some((o, w)) => (Some(o), w),
                None => (None, 0),
            };
            self.record_client(frame, origin, written)?;
        }
        Ok(())
    }

    fn record(&mut self, dir: Direction, frame: Frame<Timestamp>) -> Result<Event, SessionError> {
        let at = frame.meta;
        let mut rec = lock(&self.recorder);
        let origin: Origin = rec
            .write_message(at, &self.name, dir, &frame.bytes)
            .map_err(|e| SessionError::Io(format!("cannot write the transcript: {e}")))?;
        let event = self
            .decoder
            .decode(&self.name, dir, frame, origin, Some(at));
        Ok(rec.observe(event))
    }

    fn record_close(&mut self, by: Option<Direction>) -> Result<Event, SessionError> {
        self.closed = true;
        self.stream = None;
        let at = self.clock.now();
        let mut events = Vec::new();
        for (dir, framer) in [
            (Direction::Client, &mut self.client_framer),
            (Direction::Server, &mut self.server_framer),
        ] {
            if let Some(f) = framer.finish() {
                events.push((dir, f));
            }
        }
        for (dir, f) in events {
            let e = if dir == Direction::Client {
                let (origin, written) = match self.client_open.take() {
                    Some((o, w)) => (Some(o), w),
                    None => (None, 0),
                };
                self.record_client(f, origin, written)?
            } else {
                self.record(dir, f)?
            };
            self.inbox.push_back(e);
        }
        let mut rec = lock(&self.recorder);
        let (origin, raw) = rec
            .write_directive(at, &self.name, closed_text(by))
            .map_err(|e| SessionError::Io(e.to_string()))?;
        let event = Event {
            session: self.name.clone(),
            at: Some(at),
            origin,
            raw: raw.into_bytes(),
            kind: EventKind::Closed { by },
        };
        let _ = rec.flush();
        Ok(rec.observe(event))
    }

    /// The next event from the server, waiting at most the read timeout.
    pub async fn next_event(&mut self) -> Result<Event, SessionError> {
        // The read bound protects against the server, so it is real time even
        // when the clock runs compressed.
        let limit = self.limits.read_timeout.mul_f64(self.clock.factor());
        match self.next_event_within(limit).await? {
            Some(e) => Ok(e),
            None => Err(SessionError::Timeout(format!(
                "the server sent nothing for {}",
                crate::source::human_duration(limit)
            ))),
        }
    }

    /// The next event, or `None` if nothing arrives within `wait` (virtual time).
    pub async fn next_event_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Event>, SessionError> {
        let deadline = self.clock.elapsed() + wait;
        loop {
            if let Some(e) = self.inbox.pop_front() {
                return Ok(Some(e));
            }
            if self.closed {
                return Err(SessionError::Closed("no more data".into()));
            }
            let left = deadline.saturating_sub(self.clock.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(SessionError::Closed("no more data".into()));
            };
            let buf = &mut self.buf;
            let read = self.clock.timeout(left, stream.reader().read(buf)).await;
            let n = match read {
                Err(_) => return Ok(None),
                // A read error (reset) ends the session like a close by the server;
                // the close is recorded and judged by bye.before-close.
                Ok(Err(_)) => {
                    let ev = self.record_close(Some(Direction::Server))?;
                    self.inbox.push_back(ev);
                    continue;
                }
                Ok(Ok(0)) => {
                    let ev = self.record_close(Some(Direction::Server))?;
                    self.inbox.push_back(ev);
                    continue;
                }
                Ok(Ok(n)) => n,
            };
            self.server_bytes += n as u64;
            let bytes = self.buf[..n].to_vec();
            self.take_server_bytes(&bytes)?;
        }
    }

    /// Bytes as read from the stream: inflated first once COMPRESS is on;
    /// while a COMPRESS of ours waits for its answer, framed a line at a time
    /// so that what follows its tagged OK goes to the inflater.
    fn take_server_bytes(&mut self, mut bytes: &[u8]) -> Result<(), SessionError> {
        while let Some(tag) = self.compress_tag.clone() {
            if bytes.is_empty() {
                return Ok(());
            }
            let end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
            let (line, rest) = bytes.split_at(end);
            bytes = rest;
            for status in self.frame_server(line)? {
                match status {
                    (t, StatusKind::Ok) if t == tag => self.start_compress()?,
                    (t, _) if t == tag => self.compress_tag = None,
                    _ => {}
                }
            }
        }
        if self.deflate.is_none() {
            self.frame_server(bytes)?;
            return Ok(());
        }
        let mut piece = Vec::with_capacity(INFLATE_PIECE);
        loop {
            let Some(z) = self.deflate.as_mut() else {
                return Ok(());
            };
            piece.clear();
            let inflated = z.inflater.inflate(bytes, &mut piece, INFLATE_PIECE);
            let (taken, produced) = match inflated {
                Ok(r) => r,
                Err(why) => {
                    // What cannot be inflated cannot be read: the session
                    // ends here, and the transcript says why.
                    self.note(&format!(
                        "COMPRESS=DEFLATE: the server's stream does not inflate ({why})"
                    ))?;
                    let ev = self.record_close(None)?;
                    self.inbox.push_back(ev);
                    return Ok(());
                }
            };
            bytes = &bytes[taken.min(bytes.len())..];
            if produced > 0 {
                let chunk = std::mem::take(&mut piece);
                self.frame_server(&chunk)?;
                piece = chunk;
            } else if taken == 0 {
                return Ok(());
            }
        }
    }

    /// Frames plain server bytes, records each message; returns the tag and
    /// status of each tagged completion among them.
    fn frame_server(&mut self, bytes: &[u8]) -> Result<Vec<(String, StatusKind)>, SessionError> {
        let at = self.clock.now();
        let mut frames = Vec::new();
        self.server_framer.push(bytes, &at, &mut frames);
        let mut tagged = Vec::new();
        for frame in frames {
            self.end_refused_literal(&frame.bytes)?;
            let e = self.record(Direction::Server, frame)?;
            if let EventKind::Server {
                message:
                    ServerMessage::Status {
                        tag: Some(t), kind, ..
                    },
                ..
            } = &e.kind
            {
                tagged.push((t.clone(), *kind));
            }
            self.inbox.push_back(e);
        }
        Ok(tagged)
    }

    /// The server said OK to our COMPRESS DEFLATE: both directions are
    /// DEFLATE from the byte after that OK on.
    fn start_compress(&mut self) -> Result<(), SessionError> {
        self.compress_tag = None;
        self.deflate = Some(Box::new(DeflateLayer {
            inflater: crate::wire::deflate::Inflater::new(),
            deflater: crate::wire::deflate::Deflater::new(),
        }));
        self.note("COMPRESS=DEFLATE on: what follows is recorded inflated")
    }

    /// Writes a `note` to the transcript and hands it to the checks.
    fn note(&mut self, text: &str) -> Result<(), SessionError> {
        let at = self.clock.now();
        let mut rec = lock(&self.recorder);
        let (origin, _) = rec
            .write_directive(at, &self.name, &format!("note {text}"))
            .map_err(|e| SessionError::Io(e.to_string()))?;
        let event = Event {
            session: self.name.clone(),
            at: Some(at),
            origin,
            raw: text.as_bytes().to_vec(),
            kind: EventKind::Note {
                text: text.to_string(),
            },
        };
        rec.observe(event);
        Ok(())
    }

    /// Whether COMPRESS=DEFLATE is on for this session.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Reads events until the tagged completion of `tag`.
    pub async fn read_until_tagged(&mut self, tag: &str) -> Result<Reply, SessionError> {
        let mut untagged = Vec::new();
        let mut done = Vec::new();
        self.read_until(&[tag.to_string()], false, &mut untagged, &mut done)
            .await?;
        let Some((_, completion)) = done.pop() else {
            return Err(SessionError::Closed(format!(
                "while waiting for the completion of {tag}"
            )));
        };
        let (status, text) = match &completion.kind {
            EventKind::Server {
                message: ServerMessage::Status { kind, text, .. },
                ..
            } => (*kind, text.clone()),
            _ => (StatusKind::Bad, String::new()),
        };
        Ok(Reply {
            untagged,
            status,
            text,
            completion,
        })
    }

    /// Reads events until every tag in `tags` not yet in `done` has its
    /// completion (put in `done`, in arrival order), or, with `at_continue`, a
    /// `+` came first (returns true). Everything else goes to `untagged`, up
    /// to a bound. Bounded in time: the command timeout as a whole, the read
    /// timeout for silence (a drip of bytes is waited out to the former).
    async fn read_until(
        &mut self,
        tags: &[String],
        at_continue: bool,
        untagged: &mut Vec<Event>,
        done: &mut Vec<(String, Event)>,
    ) -> Result<bool, SessionError> {
        let factor = self.clock.factor();
        let (read_timeout, command_timeout) = (
            self.limits.read_timeout.mul_f64(factor),
            self.limits.command_timeout.mul_f64(factor),
        );
        let deadline = self.clock.elapsed() + command_timeout;
        let started = self.server_bytes;
        let mut other_tags: Vec<String> = Vec::new();
        let waiting = |done: &Vec<(String, Event)>| {
            tags.iter()
                .find(|t| !done.iter().any(|(d, _)| d == *t))
                .cloned()
        };
        loop {
            let Some(tag) = waiting(done) else {
                return Ok(false);
            };
            let left = deadline.saturating_sub(self.clock.elapsed());
            let wait = left.min(read_timeout);
            let before = self.server_bytes;
            let event = match self.next_event_within(wait).await? {
                Some(e) => e,
                // Bytes keep coming without a whole message: a drip, waited
                // out up to the command's bound, not "nothing".
                None if left > read_timeout && self.server_bytes > before => continue,
                None => {
                    let why = self.diagnose(&tag, started, left > read_timeout, &other_tags);
                    return Err(self.stalled(why));
                }
            };
            match &event.kind {
                EventKind::Server {
                    message: ServerMessage::Status { tag: Some(t), .. },
                    ..
                } if tags.contains(t) && !done.iter().any(|(d, _)| d == t) => {
                    done.push((t.clone(), event));
                    continue;
                }
                EventKind::Server {
                    message: ServerMessage::Status { tag: Some(t), .. },
                    ..
                } if other_tags.len() < 4 && !other_tags.contains(t) && !tags.contains(t) => {
                    other_tags.push(t.clone())
                }
                EventKind::Server {
                    message: ServerMessage::Continue { .. },
                    ..
                } if at_continue => {
                    untagged.push(event);
                    return Ok(true);
                }
                EventKind::Closed { .. } => {
                    return Err(SessionError::Closed(format!(
                        "while waiting for the completion of {tag}"
                    )))
                }
                _ => {}
            }
            // Kept for the caller, up to a bound; the recorder has them all.
            if untagged.len() < MAX_KEPT_REPLIES {
                untagged.push(event);
            }
        }
    }

    /// Sends `commands` pipelined, each under a fresh tag (returned in
    /// order), and reads until all have completed. A command's literals are
    /// synchronising: the bytes after each `{n}` wait for the server's `+`;
    /// a completion instead is that command's answer (a refusal), and its
    /// remaining bytes are not sent.
    pub async fn pipeline(&mut self, commands: &[Vec<Piece>]) -> Result<Pipelined, SessionError> {
        let tags: Vec<String> = commands.iter().map(|_| self.tag()).collect();
        let mut untagged = Vec::new();
        let mut done = Vec::new();
        for (tag, pieces) in tags.iter().zip(commands) {
            let mut out = format!("{tag} ").into_bytes();
            let mut refused = false;
            for piece in pieces {
                match piece {
                    Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                    Piece::Literal(l) => {
                        out.extend_from_slice(format!("{{{}}}\r\n", l.len()).as_bytes());
                        self.send_raw(&out).await?;
                        out.clear();
                        let one = [tag.clone()];
                        if !self
                            .read_until(&one, true, &mut untagged, &mut done)
                            .await?
                        {
                            refused = true;
                            break;
                        }
                        out.extend_from_slice(l);
                    }
                }
            }
            if !refused {
                out.extend_from_slice(b"\r\n");
                self.send_raw(&out).await?;
            }
        }
        self.read_until(&tags, false, &mut untagged, &mut done)
            .await?;
        let completions = tags
            .iter()
            .filter_map(|t| done.iter().find(|(d, _)| d == t).map(|(_, e)| e.clone()))
            .collect();
        Ok(Pipelined {
            tags,
            untagged,
            completions,
        })
    }

    /// What a command that never completed ran into, in words that are true.
    fn diagnose(&self, tag: &str, started: u64, silent: bool, other_tags: &[String]) -> String {
        let got = self.server_bytes - started;
        let open = self.server_framer.open_bytes();
        let human = crate::source::human_duration;
        if open.len() >= self.limits.max_line {
            format!(
                "{tag} never completed: the server sent a line of more than {} bytes that never ended ({got} bytes while {tag} ran; the first {} are in the transcript)",
                self.limits.max_line,
                open.len().min(200)
            )
        } else if !open.is_empty() {
            format!(
                "{tag} never completed: the server sent {got} bytes while {tag} ran but never finished the message it began: `{}`",
                printable(&open[..open.len().min(200)])
            )
        } else if !other_tags.is_empty() {
            format!(
                "{tag} never completed: the server answered with tag {} instead",
                other_tags.join(", ")
            )
        } else if silent {
            format!(
                "{tag} never completed: the server sent nothing for {}",
                human(self.limits.read_timeout)
            )
        } else {
            format!(
                "{tag} did not complete within {} ({got} bytes came meanwhile)",
                human(self.limits.command_timeout)
            )
        }
    }

    /// Records the diagnosis in the transcript (a `note` line the checks read
    /// as `server.stalled`, live and offline alike), with the open message's
    /// first bytes, and flushes so the evidence survives the error.
    fn stalled(&mut self, why: String) -> SessionError {
        let at = self.clock.now();
        let mut rec = lock(&self.recorder);
        let text = format!("note {}{why}", crate::event::STALLED_NOTE);
        let noted = rec.write_directive(at, &self.name, &text);
        if let Ok((origin, _)) = noted {
            // As a reader of the transcript will see it: the note's text.
            let text = format!("{}{why}", crate::event::STALLED_NOTE);
            let event = Event {
                session: self.name.clone(),
                at: Some(at),
                origin,
                raw: text.clone().into_bytes(),
                kind: EventKind::Note { text },
            };
            rec.observe(event);
        }
        let _ = rec.flush();
        SessionError::Timeout(why)
    }

    /// Sends `tag text` and reads until its completion.
    pub async fn command(&mut self, text: &str) -> Result<Reply, SessionError> {
        let tag = self.tag();
        self.send_raw(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        self.read_until_tagged(&tag).await
    }

    /// Like `command`, but NO or BAD is an error.
    pub async fn command_ok(&mut self, text: &str) -> Result<Reply, SessionError> {
        let reply = self.command(text).await?;
        if reply.status != StatusKind::Ok {
            let shown = if text.to_ascii_uppercase().starts_with("LOGIN") {
                "LOGIN ..."
            } else {
                text
            };
            return Err(SessionError::Refused(format!(
                "`{shown}` answered {} {}",
                reply.status.as_str(),
                reply.text
            )));
        }
        Ok(reply)
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Result<Reply, SessionError> {
        self.command_ok(&format!("LOGIN {} {}", quoted(user), quoted(password)))
            .await
    }

    /// AUTHENTICATE PLAIN, waiting for the server's `+` (no SASL-IR needed).
    pub async fn authenticate_plain(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<Reply, SessionError> {
        let tag = self.tag();
        self.send_raw(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
            .await?;
        self.wait_continuation(&tag).await?;
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send_raw(format!("{creds}\r\n").as_bytes()).await?;
        let reply = self.read_until_tagged(&tag).await?;
        if reply.status != StatusKind::Ok {
            return Err(SessionError::Refused(format!(
                "AUTHENTICATE PLAIN answered {} {}",
                reply.status.as_str(),
                reply.text
            )));
        }
        Ok(reply)
    }

    /// Waits for a `+`; a tagged completion of `tag` instead is a refusal.
    async fn wait_continuation(&mut self, tag: &str) -> Result<Vec<Event>, SessionError> {
        let mut seen = Vec::new();
        let started = self.server_bytes;
        let limit = self.limits.read_timeout.mul_f64(self.clock.factor());
        loop {
            let Some(event) = self.next_event_within(limit).await? else {
                let why = self.diagnose(tag, started, true, &[]);
                return Err(self.stalled(why));
            };
            match &event.kind {
                EventKind::Server {
                    message: ServerMessage::Continue { .. },
                    ..
                } => {
                    seen.push(event);
                    return Ok(seen);
                }
                EventKind::Server {
                    message:
                        ServerMessage::Status {
                            tag: Some(t),
                            kind,
                            text,
                            ..
                        },
                    ..
                } if t == tag => {
                    return Err(SessionError::Refused(format!(
                        "{tag} answered {} {text} instead of `+`",
                        kind.as_str()
                    )))
                }
                EventKind::Closed { .. } => {
                    return Err(SessionError::Closed(format!(
                        "while waiting for `+` for {tag}"
                    )))
                }
                _ => seen.push(event),
            }
        }
    }

    /// APPEND with a synchronising literal: waits for `+` before the message.
    pub async fn append(
        &mut self,
        mailbox: &str,
        flags: &str,
        message: &[u8],
    ) -> Result<Reply, SessionError> {
        let tag = self.tag();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({flags})")
        };
        self.send_raw(
            format!(
                "{tag} APPEND {}{flags} {{{}}}\r\n",
                quoted(mailbox),
                message.len()
            )
            .as_bytes(),
        )
        .await?;
        self.wait_continuation(&tag).await?;
        let mut body = message.to_vec();
        body.extend_from_slice(b"\r\n");
        self.send_raw(&body).await?;
        self.read_until_tagged(&tag).await
    }

    /// One APPEND of several messages (MULTIAPPEND, RFC 3502), each an
    /// optional date-time and the message, every literal synchronising: `+`
    /// is awaited before each. A tagged completion instead of a `+` ends the
    /// command there (RFC 3501 7.5: the server refused it), and the rest is
    /// not sent.
    pub async fn multiappend(
        &mut self,
        mailbox: &str,
        messages: &[(Option<String>, Vec<u8>)],
    ) -> Result<Reply, SessionError> {
        let tag = self.tag();
        let tags = [tag.clone()];
        let mut untagged = Vec::new();
        let mut done = Vec::new();
        let mut head = format!("{tag} APPEND {}", quoted(mailbox));
        let mut refused = false;
        for (date, data) in messages {
            if let Some(d) = date {
                head.push_str(&format!(" \"{d}\""));
            }
            head.push_str(&format!(" {{{}}}\r\n", data.len()));
            self.send_raw(head.as_bytes()).await?;
            if !self
                .read_until(&tags, true, &mut untagged, &mut done)
                .await?
            {
                refused = true;
                break;
            }
            self.send_raw(data).await?;
            head.clear();
        }
        if !refused {
            self.send_raw(b"\r\n").await?;
            self.read_until(&tags, false, &mut untagged, &mut done)
                .await?;
        }
        let Some((_, completion)) = done.pop() else {
            return Err(SessionError::Closed(format!(
                "while waiting for the completion of {tag}"
            )));
        };
        let (status, text) = match &completion.kind {
            EventKind::Server {
                message: ServerMessage::Status { kind, text, .. },
                ..
            } => (*kind, text.clone()),
            _ => (StatusKind::Bad, String::new()),
        };
        Ok(Reply {
            untagged,
            status,
            text,
            completion,
        })
    }

    /// APPEND with a non-synchronising literal (LITERAL+, RFC 7888): all in one write.
    pub async fn append_nonsync(
        &mut self,
        mailbox: &str,
        message: &[u8],
    ) -> Result<Reply, SessionError> {
        let tag = self.tag();
        let mut bytes = format!(
            "{tag} APPEND {} {{{}+}}\r\n",
            quoted(mailbox),
            message.len()
        )
        .into_bytes();
        bytes.extend_from_slice(message);
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await?;
        self.read_until_tagged(&tag).await
    }

    /// STARTTLS with `X NOOP` pipelined after it in the same write (an attacker's
    /// injection), then TLS, then a NOOP inside TLS. A server that answers `X`
    /// is caught by `starttls.no-injection`.
    pub async fn starttls_with_injection(&mut self) -> Result<Reply, SessionError> {
        let tag = self.tag();
        let injected = self.tag();
        self.send_raw(format!("{tag} STARTTLS\r\n{injected} NOOP\r\n").as_bytes())
            .await?;
        let reply = self.read_until_tagged(&tag).await?;
        if reply.status != StatusKind::Ok {
            return Err(SessionError::Tls(format!(
                "STARTTLS answered {}: {}",
                reply.status.as_str(),
                reply.text
            )));
        }
        self.start_tls().await?;
        self.command("NOOP").await
    }

    /// Sends IDLE and waits for `+`; returns the IDLE's tag.
    pub async fn idle(&mut self) -> Result<String, SessionError> {
        let tag = self.tag();
        self.send_raw(format!("{tag} IDLE\r\n").as_bytes()).await?;
        self.wait_continuation(&tag).await?;
        Ok(tag)
    }

    /// Ends IDLE with DONE and reads the completion.
    pub async fn done(&mut self, tag: &str) -> Result<Reply, SessionError> {
        self.send_raw(b"DONE\r\n").await?;
        self.read_until_tagged(tag).await
    }

    /// LOGOUT, then reads until the server closes.
    pub async fn logout(&mut self) -> Result<(), SessionError> {
        let reply = self.command("LOGOUT").await?;
        if reply.status != StatusKind::Ok {
            return Err(SessionError::Refused(format!(
                "LOGOUT answered {}",
                reply.status.as_str()
            )));
        }
        // The server closes after the tagged OK; wait a little for it, then close.
        let _ = self.next_event_within(Duration::from_secs(2)).await;
        if !self.closed {
            self.close().await?;
        }
        Ok(())
    }

    /// Closes the connection from the client side.
    pub async fn close(&mut self) -> Result<(), SessionError> {
        if self.closed {
            return Ok(());
        }
        if let Some(mut s) = self.stream.take() {
            let _ = self
                .clock
                .timeout(Duration::from_secs(2), s.writer().shutdown())
                .await;
        }
        self.record_close(Some(Direction::Client))?;
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// A quoted string, or a literal-free fallback for simple atoms.
pub fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// Bytes as text for a diagnosis: printable ASCII kept, the rest as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}
