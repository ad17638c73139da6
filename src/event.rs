//! The event stream: what happened on each connection, in order, as decoded
//! messages with their origin and time.
//!
//! Live sessions and transcript readers both end here. `Assembler` frames raw
//! chunks (transcripts); `SessionDecoder` turns one framed message into an `Event`,
//! tracking the little state the grammar needs (the greeting comes first; after
//! `IDLE` the client sends `DONE`; after `AUTHENTICATE` it sends SASL lines).
//! Everything downstream (model, checks) sees only `Event`s.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::source::{Origin, Timestamp};
use crate::wire::decode::{self, ClientMode};
use crate::wire::{ClientMessage, CommandKind, Direction, Frame, Framer, Limits, ServerMessage};

/// The start of the text of a `Note` that records a command the server never
/// completed (the harness's diagnosis; judged as `server.stalled`).
pub const STALLED_NOTE: &str = "stalled: ";

/// Where a live session's traffic goes: written down (a transcript) and judged
/// (the checks) by whoever owns the sink, the runner's `Recorder`. The session
/// itself knows neither the transcript format nor the checks.
pub trait EventSink: Send {
    /// Writes one framed message, or the part of it sent so far; returns the
    /// place its first line was written.
    fn write_message(
        &mut self,
        at: Timestamp,
        session: &str,
        dir: Direction,
        bytes: &[u8],
    ) -> std::io::Result<Origin>;
    /// Writes a remark about the connection (`tls`, `closed by server`,
    /// `note ...`); returns its place and the line as written.
    fn write_directive(
        &mut self,
        at: Timestamp,
        session: &str,
        text: &str,
    ) -> std::io::Result<(Origin, String)>;
    /// Judges an event (and keeps it, if asked); gives it back.
    fn observe(&mut self, event: Event) -> Event;
    fn flush(&mut self) -> std::io::Result<()>;
}

/// A sink shared by every session of a run, so cross-session checks see all.
pub type SharedSink = Arc<std::sync::Mutex<dyn EventSink>>;

/// How a close is named in a transcript and a report.
pub fn closed_text(by: Option<Direction>) -> &'static str {
    match by {
        Some(Direction::Server) => "closed by server",
        Some(Direction::Client) => "closed by client",
        None => "closed",
    }
}

/// Names one connection within a run or a log file.
pub type SessionId = Arc<str>;

#[derive(Debug, Clone)]
pub struct Event {
    pub session: SessionId,
    pub at: Option<Timestamp>,
    pub origin: Origin,
    /// The message as sent (possibly cut at the limits); empty for non-message events.
    pub raw: Vec<u8>,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Server {
        message: ServerMessage,
        /// Why the strict grammar refused the message as sent, if it did.
        syntax_error: Option<String>,
        /// Why the message was cut at the harness's limits, if it was.
        truncated: Option<String>,
        /// The connection ended in the middle of this message.
        incomplete: bool,
    },
    Client {
        message: ClientMessage,
        truncated: Option<String>,
        incomplete: bool,
    },
    /// TLS negotiation finished after STARTTLS.
    TlsStarted,
    /// The connection ended; `by` is the side that closed it, when known.
    Closed { by: Option<Direction> },
    /// A log line that is not protocol (a server's own remark), kept for context.
    Note { text: String },
}

/// Per-connection decoding state.
#[derive(Debug, Default)]
pub struct SessionDecoder {
    greeted: bool,
    client_spoke: bool,
    client_mode: Option<(String, ClientMode)>,
}

impl SessionDecoder {
    pub fn decode<M>(
        &mut self,
        session: &SessionId,
        dir: Direction,
        frame: Frame<M>,
        origin: Origin,
        at: Option<Timestamp>,
    ) -> Event {
        let kind = match dir {
            Direction::Server => {
                // A log may start in the middle of a session: only a first server
                // message that comes before the client spoke and looks like a
                // greeting is decoded as one.
                let greeting =
                    !self.greeted && !self.client_spoke && looks_like_greeting(&frame.bytes);
                self.greeted = true;
                let d = if greeting {
                    decode::decode_greeting(&frame.bytes)
                } else {
                    decode::decode_server(&frame.bytes)
                };
                if let ServerMessage::Status { tag: Some(tag), .. } = &d.message {
                    if self.client_mode.as_ref().is_some_and(|(t, _)| t == tag) {
                        self.client_mode = None;
                    }
                }
                let syntax_error = match (&d.syntax_error, frame.bare_lf) {
                    (None, true) => Some("a line ends in a bare LF instead of CRLF".to_string()),
                    (e, _) => e.clone(),
                };
                EventKind::Server {
                    message: d.message,
                    syntax_error,
                    truncated: frame.truncated.map(|c| c.to_string()),
                    incomplete: frame.incomplete,
                }
            }
            Direction::Client => {
                self.client_spoke = true;
                let mode = self
                    .client_mode
                    .as_ref()
                    .map_or(ClientMode::Command, |(_, m)| *m);
                let message = decode::decode_client(&frame.bytes, mode);
                match &message {
                    ClientMessage::Command { tag, command, .. } => match command {
                        CommandKind::Idle => {
                            self.client_mode = Some((tag.clone(), ClientMode::IdleDone))
                        }
                        CommandKind::Authenticate { .. } => {
                            self.client_mode = Some((tag.clone(), ClientMode::AuthData))
                        }
                        _ => {}
                    },
                    ClientMessage::IdleDone => self.client_mode = None,
                    _ => {}
                }
                EventKind::Client {
                    message,
                    truncated: frame.truncated.map(|c| c.to_string()),
                    incomplete: frame.incomplete,
                }
            }
        };
        Event {
            session: Arc::clone(session),
            at,
            origin,
            raw: frame.bytes,
            kind,
        }
    }
}

fn looks_like_greeting(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(10)];
    let upper = head.to_ascii_uppercase();
    upper.starts_with(b"* OK") || upper.starts_with(b"* PREAUTH") || upper.starts_with(b"* BYE")
}

/// Where a chunk of bytes came from in a log.
#[derive(Debug, Clone)]
pub struct ChunkMeta {
    pub origin: Origin,
    pub at: Option<Timestamp>,
}

/// One connection's framers and decoder, for bytes read from a log.
struct Streams {
    client: Framer<ChunkMeta>,
    server: Framer<ChunkMeta>,
    decoder: SessionDecoder,
}

impl Streams {
    /// Decodes one frame into `out`. A tagged NO/BAD for a command that stopped
    /// at a synchronising literal first ends that command where it stopped: the
    /// server refused it before `+` (RFC 3501 7.5), so the client never sent
    /// the literal, and the client's next line is a new command, not its data.
    fn emit(
        &mut self,
        session: &SessionId,
        dir: Direction,
        frame: Frame<ChunkMeta>,
        out: &mut Vec<Event>,
    ) {
        if dir == Direction::Server {
            let refused = self
                .client
                .awaiting_sync_literal()
                .is_some_and(|open| crate::wire::framing::refuses_literal(&frame.bytes, open));
            if refused {
                if let Some(c) = self.client.abandon_sync_literal() {
                    let (c, ChunkMeta { origin, at }) = c.take_meta();
                    out.push(
                        self.decoder
                            .decode(session, Direction::Client, c, origin, at),
                    );
                }
            }
        }
        let (frame, ChunkMeta { origin, at }) = frame.take_meta();
        out.push(self.decoder.decode(session, dir, frame, origin, at));
    }
}

/// Turns chunks of bytes from a log (any number of interleaved connections) into
/// events, in the order the chunks come.
pub struct Assembler {
    limits: Limits,
    sessions: HashMap<SessionId, Streams>,
    frames: Vec<Frame<ChunkMeta>>,
}

impl Assembler {
    pub fn new(limits: Limits) -> Self {
        Assembler {
            limits,
            sessions: HashMap::default(),
            frames: Vec::new(),
        }
    }

    /// The connection's streams, made on its first chunk (`None` never
    /// happens: the entry is inserted first).
    fn streams(&mut self, session: &SessionId) -> Option<&mut Streams> {
        // Looked up before inserting: `entry` would clone (and drop) the
        // name's `Arc` on every chunk.
        if !self.sessions.contains_key(session) {
            let limits = &self.limits;
            self.sessions.insert(
                Arc::clone(session),
                Streams {
                    client: Framer::new(limits.clone(), false),
                    server: Framer::new(limits.clone(), true),
                    decoder: SessionDecoder::default(),
                },
            );
        }
        self.sessions.get_mut(session)
    }

    pub fn push(
        &mut self,
        session: &SessionId,
        dir: Direction,
        bytes: &[u8],
        meta: ChunkMeta,
        out: &mut Vec<Event>,
    ) {
        let mut frames = std::mem::take(&mut self.frames);
        let Some(streams) = self.streams(session) else {
            return;
        };
        match dir {
            Direction::Client => streams.client.push(bytes, &meta, &mut frames),
            Direction::Server => streams.server.push(bytes, &meta, &mut frames),
        }
        for frame in frames.drain(..) {
            streams.emit(session, dir, frame, out);
        }
        self.frames = frames;
    }

    /// Like `push`, taking the bytes (no copy for a whole one-line message).
    pub fn push_owned(
        &mut self,
        session: &SessionId,
        dir: Direction,
        bytes: Vec<u8>,
        meta: ChunkMeta,
        out: &mut Vec<Event>,
    ) {
        let mut frames = std::mem::take(&mut self.frames);
        let Some(streams) = self.streams(session) else {
            return;
        };
        match dir {
            Direction::Client => streams.client.push_owned(bytes, meta, &mut frames),
            Direction::Server => streams.server.push_owned(bytes, meta, &mut frames),
        }
        for frame in frames.drain(..) {
            streams.emit(session, dir, frame, out);
        }
        self.frames = frames;
    }

    /// The connection ended: messages left open come out marked incomplete.
    pub fn close(
        &mut self,
        session: &SessionId,
        by: Option<Direction>,
        meta: ChunkMeta,
        out: &mut Vec<Event>,
    ) {
        if let Some(mut streams) = self.sessions.remove(session) {
            flush(session, &mut streams, out);
        }
        out.push(Event {
            session: Arc::clone(session),
            at: meta.at,
            origin: meta.origin,
            raw: Vec::new(),
            kind: EventKind::Closed { by },
        });
    }

    /// True when a message is partly read on this connection in that direction.
    pub fn in_message(&self, session: &SessionId, dir: Direction) -> bool {
        self.sessions.get(session).is_some_and(|s| match dir {
            Direction::Client => !s.client.is_idle(),
            Direction::Server => !s.server.is_idle(),
        })
    }

    /// End of the log: every message left open comes out marked incomplete.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let mut ids: Vec<SessionId> = self.sessions.keys().cloned().collect();
        ids.sort();
        for id in ids {
            if let Some(mut streams) = self.sessions.remove(&id) {
                flush(&id, &mut streams, out);
            }
        }
    }
}

fn flush(session: &SessionId, streams: &mut Streams, out: &mut Vec<Event>) {
    for dir in [Direction::Client, Direction::Server] {
        let framer = match dir {
            Direction::Client => &mut streams.client,
            Direction::Server => &mut streams.server,
        };
        if let Some(frame) = framer.finish() {
            let (frame, ChunkMeta { origin, at }) = frame.take_meta();
            out.push(streams.decoder.decode(session, dir, frame, origin, at));
        }
    }
}
