//! Reading recorded sessions, in any of the formats we know, as a stream of
//! events; and writing the generic transcript that live sessions produce.
//!
//! Formats (detected from the first lines; see `docs/transcript-formats.md`):
//! - `generic`: imapspec's own `C:`/`S:` lines, optional timestamp and `[conn]`;
//! - `seed000`: `DATE TIME PID < line` / `> line` server logs (seed 000);
//! - `gms`: Gordano GMS server logs, `IMAP hh:mm:ss.mmm A code session text` (seed 001);
//! - `oe`: Outlook Express client logs, `IMAP: hh:mm:ss [tx]/[rx]/[db] text` (seed 001);
//! - `rawlog`: Dovecot rawlog pairs `NAME.in` / `NAME.out`, timestamped or not;
//! - `capture`: pcap and pcapng packet captures, TCP streams reassembled.
//!
//! Every format reader turns a line into a `Record`; the `Reader` joins wrapped
//! lines, feeds the bytes to `event::Assembler` and hands events to a callback.
//! A line that fits no format is an error naming the file and line, never skipped.
//! Memory stays flat: one line (bounded) and the open messages are all it holds.

pub mod capture;
pub mod formats;
pub mod generic;
pub mod rawlog;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use crate::event::{Assembler, ChunkMeta, Event, SessionId};
use crate::source::{Origin, Timestamp};
use crate::wire::{Direction, Limits};

pub use formats::Format;

/// A log that cannot be read.
#[derive(Debug)]
pub struct TranscriptError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for TranscriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for TranscriptError {}

/// What one log line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Bytes sent one way on a connection.
    Data {
        at: Option<Timestamp>,
        conn: SessionId,
        dir: Direction,
        bytes: Vec<u8>,
    },
    /// More text for the previous record (a wrapped log line).
    Wrapped(String),
    Closed {
        at: Option<Timestamp>,
        conn: SessionId,
        by: Option<Direction>,
    },
    TlsStarted {
        at: Option<Timestamp>,
        conn: SessionId,
    },
    Note {
        at: Option<Timestamp>,
        conn: SessionId,
        text: String,
    },
    /// A blank line or a comment.
    Skip,
}

/// Statistics of one read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
}

/// Longest log line kept whole. A longer one (a 2 MB `* SEARCH`) is cut here,
/// the rest of it skipped without being stored, and reading goes on: the cut
/// message is over the framer's line bound too, so it becomes a
/// `response.bounded` finding instead of a refused log.
pub const MAX_LOG_LINE: usize = 1 << 20;

/// Reads one line into `line` (cleared first), keeping at most `MAX_LOG_LINE`
/// bytes of it plus its line end. Returns the bytes consumed (0 at the end)
/// and whether the line was cut.
pub(crate) fn read_bounded_line(
    input: &mut dyn BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<(u64, bool)> {
    line.clear();
    let read = input
        .take(MAX_LOG_LINE as u64 + 1)
        .read_until(b'\n', line)?;
    if line.len() <= MAX_LOG_LINE {
        return Ok((read as u64, false));
    }
    let mut consumed = read as u64;
    line.truncate(MAX_LOG_LINE);
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        match memchr::memchr(b'\n', buf) {
            Some(i) => {
                input.consume(i + 1);
                consumed += i as u64 + 1;
                break;
            }
            None => {
                let n = buf.len();
                input.consume(n);
                consumed += n as u64;
            }
        }
    }
    line.extend_from_slice(b"\r\n");
    Ok((consumed, true))
}

/// Reads one log file (or a rawlog pair) and calls `sink` with every event.
pub fn read_file(
    path: &Path,
    limits: &Limits,
    sink: &mut dyn FnMut(Event),
) -> Result<(Format, ReadStats), TranscriptError> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let err = |line: Option<u64>, message: String| TranscriptError {
        file: name.to_string(),
        line,
        message,
    };
    if rawlog::is_rawlog(path) {
        let stats = rawlog::read(path, &name, limits, sink)?;
        return Ok((Format::Rawlog, stats));
    }
    let file = File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
    let mut input = BufReader::with_capacity(256 * 1024, file);
    let format = {
        let head = input
            .fill_buf()
            .map_err(|e| err(None, format!("cannot read: {e}")))?;
        if capture::is_capture(head) {
            drop(input);
            let stats = capture::read(path, &name, limits, sink)?;
            return Ok((Format::Capture, stats));
        }
        formats::detect(head).map_err(|m| err(None, m))?
    };
    let stats = read_lines(&mut input, format, &name, limits, sink)?;
    Ok((format, stats))
}

/// Reads log lines of a known format from any reader.
///
/// A line that lies whole in the reader's buffer (nearly every line) is
/// parsed where it lies, not copied out first; only a line that spans a
/// refill, or is over `MAX_LOG_LINE`, goes through a line buffer.
pub fn read_lines(
    input: &mut dyn BufRead,
    format: Format,
    name: &Arc<str>,
    limits: &Limits,
    sink: &mut dyn FnMut(Event),
) -> Result<ReadStats, TranscriptError> {
    let mut reader = Reader::new(name, limits);
    let mut parser = formats::Parser::new(format);
    let mut line = Vec::with_capacity(256);
    let mut stats = ReadStats::default();
    let mut n: u64 = 0;
    loop {
        let buf = input
            .fill_buf()
            .map_err(|e| reader.error(Some(n + 1), format!("cannot read: {e}")))?;
        if buf.is_empty() {
            break;
        }
        let whole = memchr::memchr(b'\n', buf)
            .map(|i| i + 1)
            .filter(|&len| len <= MAX_LOG_LINE);
        if let Some(len) = whole {
            n += 1;
            stats.bytes += len as u64;
            reader.line(&mut parser, &buf[..len], false, n, sink, &mut stats)?;
            input.consume(len);
            continue;
        }
        let (read, cut) = read_bounded_line(input, &mut line)
            .map_err(|e| reader.error(Some(n + 1), format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        stats.bytes += read;
        reader.line(&mut parser, &line, cut, n, sink, &mut stats)?;
    }
    reader.finish(sink, &mut stats);
    stats.lines = n;
    Ok(stats)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Joins wrapped lines and feeds records to the assembler.
struct Reader {
    name: Arc<str>,
    assembler: Assembler,
    /// A data record held back in case the next lines continue it.
    held: Option<(Record, u64)>,
    /// The text of the held record's line, for events that carry no bytes.
    held_text: String,
    events: Vec<Event>,
}

impl Reader {
    fn new(name: &Arc<str>, limits: &Limits) -> Self {
        Reader {
            name: Arc::clone(name),
            assembler: Assembler::new(limits.clone()),
            held: None,
            held_text: String::new(),
            events: Vec::new(),
        }
    }

    /// Parses log line `n` (its line end included; `cut` if it was cut at
    /// `MAX_LOG_LINE`) and takes in its record.
    fn line(
        &mut self,
        parser: &mut formats::Parser,
        line: &[u8],
        cut: bool,
        n: u64,
        sink: &mut dyn FnMut(Event),
        stats: &mut ReadStats,
    ) -> Result<(), TranscriptError> {
        let text = trim_eol(line);
        let record = match parser.parse(text) {
            Ok(r) => r,
            // A cut `S=` line may end inside an escape; its head is still the
            // evidence, so it is read as far as it goes.
            Err(_) if cut => match parser.parse(&text[..text.len().saturating_sub(4)]) {
                Ok(r) => r,
                Err(_) => Record::Skip,
            },
            Err(m) => return Err(self.error(Some(n), m)),
        };
        if !matches!(record, Record::Wrapped(_) | Record::Skip) {
            self.flush(sink, stats);
            // Only a close carries its log line as evidence (it has no bytes).
            if matches!(record, Record::Closed { .. }) {
                self.held_text = String::from_utf8_lossy(text).into_owned();
            }
        }
        self.record(record, n, sink, stats)
    }

    fn error(&self, line: Option<u64>, message: String) -> TranscriptError {
        TranscriptError {
            file: self.name.to_string(),
            line,
            message,
        }
    }

    fn record(
        &mut self,
        record: Record,
        line: u64,
        sink: &mut dyn FnMut(Event),
        stats: &mut ReadStats,
    ) -> Result<(), TranscriptError> {
        match record {
            Record::Skip => Ok(()),
            Record::Wrapped(more) => {
                let more = more.trim_start();
                match &mut self.held {
                    Some((Record::Data { bytes, .. }, _)) => {
                        // The log wrapped a long line at a space: put the space back.
                        bytes.truncate(bytes.len().saturating_sub(2));
                        bytes.push(b' ');
                        bytes.extend_from_slice(more.as_bytes());
                        bytes.extend_from_slice(b"\r\n");
                        Ok(())
                    }
                    Some((Record::Note { text, .. }, _)) => {
                        text.push(' ');
                        text.push_str(more);
                        Ok(())
                    }
                    Some(_) => Ok(()),
                    None => Err(self.error(
                        Some(line),
                        "an indented continuation line with no log line before it".into(),
                    )),
                }
            }
            other => {
                self.flush(sink, stats);
                self.held = Some((other, line));
                Ok(())
            }
        }
    }

    fn flush(&mut self, sink: &mut dyn FnMut(Event), stats: &mut ReadStats) {
        let Some((record, line)) = self.held.take() else {
            return;
        };
        let origin = Origin::new(&self.name, line);
        match record {
            Record::Data {
                at,
                conn,
                dir,
                bytes,
            } => {
                let id = conn;
                self.assembler.push_owned(
                    &id,
                    dir,
                    bytes,
                    ChunkMeta { origin, at },
                    &mut self.events,
                );
            }
            Record::Closed { at, conn, by } => {
                let id = conn;
                self.assembler
                    .close(&id, by, ChunkMeta { origin, at }, &mut self.events);
                if let Some(e) = self.events.last_mut() {
                    e.raw = self.held_text.as_bytes().to_vec();
                }
            }
            Record::TlsStarted { at, conn } => {
                let id = conn;
                self.events.push(Event {
                    session: id,
                    at,
                    origin,
                    raw: Vec::new(),
                    kind: crate::event::EventKind::TlsStarted,
                });
            }
            Record::Note { at, conn, text } => {
                let id = conn;
                self.events.push(Event {
                    session: id,
                    at,
                    origin,
                    raw: text.as_bytes().to_vec(),
                    kind: crate::event::EventKind::Note { text },
                });
            }
            Record::Wrapped(_) | Record::Skip => {}
        }
        for e in self.events.drain(..) {
            stats.events += 1;
            sink(e);
        }
    }

    fn finish(&mut self, sink: &mut dyn FnMut(Event), stats: &mut ReadStats) {
        self.flush(sink, stats);
        self.assembler.finish(&mut self.events);
        for e in self.events.drain(..) {
            stats.events += 1;
            sink(e);
        }
    }
}
