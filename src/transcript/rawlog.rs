//! Dovecot rawlog pairs: `NAME.in` (client to server) and `NAME.out` (server to
//! client), one connection per pair, optionally with a `SECONDS.MICROS ` timestamp
//! at the start of each line.
//!
//! With timestamps the two files are merged by time (a tie goes to the client,
//! whose command caused the answer). Without them, they are interleaved by the
//! protocol: the greeting, then each client line followed by the server's lines up
//! to that command's tagged completion or a `+` continuation.
//!
//! The timestamped pairs of one folder (one account's sessions) can also be read
//! as one stream merged by time (`read_merged`), so that what one session did is
//! known when judging another.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ReadStats, TranscriptError};
use crate::event::{Assembler, ChunkMeta, Event, SessionId};
use crate::source::{Origin, Timestamp};
use crate::wire::{Direction, Limits};

/// `path` ends in `.in` or `.out` and its partner exists.
pub fn is_rawlog(path: &Path) -> bool {
    pair(path).is_some_and(|(i, o)| i.is_file() && o.is_file())
}

fn pair(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let ext = path.extension()?.to_str()?;
    if ext != "in" && ext != "out" {
        return None;
    }
    Some((path.with_extension("in"), path.with_extension("out")))
}

/// A rawlog line read ahead: its time, its bytes and its line number.
type RawLine = (Option<Timestamp>, Vec<u8>, u64);

struct Side {
    dir: Direction,
    name: Arc<str>,
    input: BufReader<File>,
    line_no: u64,
    timestamps: Option<bool>,
    /// The next line, read ahead: (timestamp, bytes, line number).
    next: Option<RawLine>,
}

impl Side {
    fn open(path: &Path, dir: Direction, buffer: usize) -> Result<Self, TranscriptError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let file = File::open(path).map_err(|e| TranscriptError {
            file: name.to_string(),
            line: None,
            message: format!("cannot open: {e}"),
        })?;
        Ok(Side {
            dir,
            name,
            input: BufReader::with_capacity(buffer, file),
            line_no: 0,
            timestamps: None,
            next: None,
        })
    }

    fn peek(&mut self, stats: &mut ReadStats) -> Result<Option<&RawLine>, TranscriptError> {
        if self.next.is_none() {
            let mut line = Vec::new();
            // An over-long line is cut (and then judged response.bounded),
            // not a reason to refuse the whole log.
            let (n, _cut) = super::read_bounded_line(&mut self.input, &mut line)
                .map_err(|e| self.error(format!("cannot read: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            stats.bytes += n;
            stats.lines += 1;
            let stamp = timestamp_prefix(&line);
            let has = *self.timestamps.get_or_insert(stamp.is_some());
            let (at, bytes) = match (has, stamp) {
                (true, Some((at, skip))) => (Some(at), line[skip..].to_vec()),
                (true, None) => {
                    return Err(
                        self.error("this rawlog has timestamps, but this line has none".into())
                    )
                }
                (false, _) => (None, line),
            };
            self.next = Some((at, bytes, self.line_no));
        }
        Ok(self.next.as_ref())
    }

    fn error(&self, message: String) -> TranscriptError {
        TranscriptError {
            file: self.name.to_string(),
            line: Some(self.line_no),
            message,
        }
    }
}

/// `1700000000.123456 ` at the start of a line: the time and the prefix length.
fn timestamp_prefix(line: &[u8]) -> Option<(Timestamp, usize)> {
    let sp = memchr::memchr(b' ', line)?;
    let token = std::str::from_utf8(&line[..sp]).ok()?;
    if !token.contains('.') {
        return None;
    }
    super::formats::parse_seconds(token).map(|t| (t, sp + 1))
}

/// One rawlog pair read as a stream of events, pulled one at a time, so that
/// several pairs can be merged without holding their events.
pub struct Stream {
    client: Side,
    server: Side,
    session: SessionId,
    assembler: Assembler,
    stats: ReadStats,
    /// Events made by the last line fed, not yet handed out.
    ready: VecDeque<Event>,
    scratch: Vec<Event>,
    last_tag: Option<String>,
    greeted: bool,
    done: bool,
}

/// What the first lines of a rawlog pair say about its order in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Every side starts with a timestamp; the earliest (None: both sides empty).
    Timestamped(Option<Timestamp>),
    /// At least one side has no timestamps: it cannot be placed among others.
    Plain,
}

impl Stream {
    /// Opens the pair `path` belongs to (`None`: `path` is not `.in`/`.out`).
    pub fn open(path: &Path, limits: &Limits) -> Result<Option<Self>, TranscriptError> {
        Self::open_buffered(path, limits, 128 * 1024)
    }

    /// As [`Stream::open`], reading each side through `buffer` bytes.
    fn open_buffered(
        path: &Path,
        limits: &Limits,
        buffer: usize,
    ) -> Result<Option<Self>, TranscriptError> {
        let Some((in_path, out_path)) = pair(path) else {
            return Ok(None);
        };
        let client = Side::open(&in_path, Direction::Client, buffer)?;
        let server = Side::open(&out_path, Direction::Server, buffer)?;
        let session: SessionId = Arc::from(
            in_path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "rawlog".into()),
        );
        Ok(Some(Stream {
            client,
            server,
            session,
            assembler: Assembler::new(limits.clone()),
            stats: ReadStats::default(),
            ready: VecDeque::new(),
            scratch: Vec::new(),
            last_tag: None,
            greeted: false,
            done: false,
        }))
    }

    /// Reads the first line of each side (kept for reading on).
    pub fn probe(&mut self) -> Result<Probe, TranscriptError> {
        let c = self.client.peek(&mut self.stats)?.map(|(at, _, _)| *at);
        let s = self.server.peek(&mut self.stats)?.map(|(at, _, _)| *at);
        if self.client.timestamps == Some(false) || self.server.timestamps == Some(false) {
            return Ok(Probe::Plain);
        }
        Ok(Probe::Timestamped(
            c.flatten().into_iter().chain(s.flatten()).min(),
        ))
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The next event, or `None` at the end of both files.
    pub fn next_event(&mut self) -> Result<Option<Event>, TranscriptError> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.stats.events += 1;
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            self.step()?;
        }
    }

    /// Feeds one line (or two, at the end of a turn) to the assembler.
    fn step(&mut self) -> Result<(), TranscriptError> {
        let c = self.client.peek(&mut self.stats)?.map(|(at, _, _)| *at);
        let s = self
            .server
            .peek(&mut self.stats)?
            .map(|(at, b, _)| (*at, b.clone()));
        let take_client = match (c, &s) {
            (None, None) => {
                self.assembler.finish(&mut self.scratch);
                self.ready.extend(self.scratch.drain(..));
                self.done = true;
                return Ok(());
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(Some(ct)), Some((Some(st), _))) => ct <= *st,
            // No timestamps: the protocol decides.
            (Some(_), Some((_, line))) => {
                if !self.greeted {
                    false
                } else {
                    let text = String::from_utf8_lossy(line);
                    let ends_turn = text.starts_with('+')
                        || self
                            .last_tag
                            .as_deref()
                            .is_some_and(|t| text.split(' ').next() == Some(t));
                    if ends_turn {
                        // Deliver this last server line of the turn, then the client's.
                        feed(
                            &mut self.server,
                            &self.session,
                            &mut self.assembler,
                            &mut self.scratch,
                        );
                        self.last_tag = None;
                        true
                    } else {
                        self.last_tag.is_none()
                    }
                }
            }
        };
        let side = if take_client {
            &mut self.client
        } else {
            &mut self.server
        };
        if take_client {
            if let Some((_, bytes, _)) = side.next.as_ref() {
                let text = String::from_utf8_lossy(bytes);
                self.last_tag = text.split(' ').next().map(str::to_string);
            }
        } else {
            self.greeted = true;
        }
        feed(side, &self.session, &mut self.assembler, &mut self.scratch);
        self.ready.extend(self.scratch.drain(..));
        Ok(())
    }
}

pub fn read(
    path: &Path,
    _name: &Arc<str>,
    limits: &Limits,
    sink: &mut dyn FnMut(Event),
) -> Result<ReadStats, TranscriptError> {
    let Some(mut stream) = Stream::open(path, limits)? else {
        return Ok(ReadStats::default());
    };
    while let Some(e) = stream.next_event()? {
        sink(e);
    }
    Ok(stream.stats())
}

/// Read buffer of each side of a pair in a merge: many sessions of a folder
/// can overlap in time, and each open one holds two.
const MERGED_BUFFER: usize = 16 * 1024;

/// Merge key: (time, index of the pair).
type Key = (Option<Timestamp>, usize);

/// Reads timestamped rawlog pairs as one stream, merged by time: `starts[i]` is
/// what [`Stream::probe`] said of `paths[i]`. Equal times keep the order of
/// `paths`, and each pair keeps its own order (an event without a time, or one
/// earlier than the pair's last, goes at the pair's last time). A pair is opened
/// only when the merge reaches its first time and closed at its end, so memory
/// holds one event per pair open at once, not the events of the set.
/// `sink` gets the index of the pair an event comes from; the result is each
/// pair's statistics or its error (a pair that fails stops; the others go on).
pub fn read_merged(
    paths: &[PathBuf],
    starts: &[Option<Timestamp>],
    limits: &Limits,
    sink: &mut dyn FnMut(usize, Event),
) -> Vec<Result<ReadStats, TranscriptError>> {
    let n = paths.len();
    let start = |i: usize| starts.get(i).copied().flatten();
    let mut results: Vec<Result<ReadStats, TranscriptError>> =
        (0..n).map(|_| Ok(ReadStats::default())).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (start(i), i));
    let mut pending = order.into_iter().peekable();
    // The open pairs: each with its next event, keyed by (time, index).
    let mut heads: Vec<Option<(Stream, Event)>> = (0..n).map(|_| None).collect();
    let mut heap: BinaryHeap<Reverse<Key>> = BinaryHeap::new();
    /// Pulls pair `i`'s next event into the heap, or ends the pair.
    fn advance(
        i: usize,
        mut stream: Stream,
        last: Option<Timestamp>,
        heads: &mut [Option<(Stream, Event)>],
        heap: &mut BinaryHeap<Reverse<Key>>,
        results: &mut [Result<ReadStats, TranscriptError>],
    ) {
        match stream.next_event() {
            Ok(Some(e)) => {
                let at = e.at.max(last);
                heads[i] = Some((stream, e));
                heap.push(Reverse((at, i)));
            }
            Ok(None) => results[i] = Ok(stream.stats()),
            Err(e) => results[i] = Err(e),
        }
    }
    loop {
        // Open every pair that starts no later than the earliest open event.
        while let Some(&i) = pending.peek() {
            let due = heap.peek().is_none_or(|Reverse(top)| (start(i), i) <= *top);
            if !due {
                break;
            }
            pending.next();
            match Stream::open_buffered(&paths[i], limits, MERGED_BUFFER) {
                Ok(Some(stream)) => {
                    advance(i, stream, start(i), &mut heads, &mut heap, &mut results)
                }
                Ok(None) => {}
                Err(e) => results[i] = Err(e),
            }
        }
        let Some(Reverse((at, i))) = heap.pop() else {
            break;
        };
        let Some((stream, event)) = heads[i].take() else {
            continue;
        };
        sink(i, event);
        advance(i, stream, at, &mut heads, &mut heap, &mut results);
    }
    results
}
fn feed(side: &mut Side, session: &SessionId, assembler: &mut Assembler, events: &mut Vec<Event>) {
    if let Some((at, bytes, line)) = side.next.take() {
        let origin = Origin::new(&side.name, line);
        assembler.push(session, side.dir, &bytes, ChunkMeta { origin, at }, events);
    }
}
