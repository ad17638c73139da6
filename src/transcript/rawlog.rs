//! Dovecot rawlog pairs: `NAME.in` (client to server) and `NAME.out` (server to
//! client), one connection per pair, optionally with a `SECONDS.MICROS ` timestamp
//! at the start of each line.
//!
//! With timestamps the two files are merged by time (a tie goes to the client,
//! whose command caused the answer). Without them, they are interleaved by the
//! protocol: the greeting, then each client line followed by the server's lines up
//! to that command's tagged completion or a `+` continuation.

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
    fn open(path: &Path, dir: Direction) -> Result<Self, TranscriptError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let file = File::open(path).map_err(|e| TranscriptError {
            file: name.to_string(),
            line: None,
            message: format!("cannot open: {e}"),
        })?;
        Ok(Side {
            dir,
            name,
            input: BufReader::with_capacity(128 * 1024, file),
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

pub fn read(
    path: &Path,
    _name: &Arc<str>,
    limits: &Limits,
    sink: &mut dyn FnMut(&Event),
) -> Result<ReadStats, TranscriptError> {
    let Some((in_path, out_path)) = pair(path) else {
        return Ok(ReadStats::default());
    };
    let mut client = Side::open(&in_path, Direction::Client)?;
    let mut server = Side::open(&out_path, Direction::Server)?;
    let session: SessionId = Arc::from(
        in_path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "rawlog".into()),
    );
    let mut assembler = Assembler::new(limits.clone());
    let mut stats = ReadStats::default();
    let mut events = Vec::new();
    let mut last_tag: Option<String> = None;
    let mut greeted = false;
    loop {
        let c = client.peek(&mut stats)?.map(|(at, _, _)| *at);
        let s = server.peek(&mut stats)?.map(|(at, b, _)| (*at, b.clone()));
        let take_client = match (c, &s) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(Some(ct)), Some((Some(st), _))) => ct <= *st,
            // No timestamps: the protocol decides.
            (Some(_), Some((_, line))) => {
                if !greeted {
                    false
                } else {
                    let text = String::from_utf8_lossy(line);
                    let ends_turn = text.starts_with('+')
                        || last_tag
                            .as_deref()
                            .is_some_and(|t| text.split(' ').next() == Some(t));
                    if ends_turn {
                        // Deliver this last server line of the turn, then the client's.
                        feed(&mut server, &session, &mut assembler, &mut events);
                        last_tag = None;
                        true
                    } else {
                        last_tag.is_none()
                    }
                }
            }
        };
        let side = if take_client {
            &mut client
        } else {
            &mut server
        };
        if take_client {
            if let Some((_, bytes, _)) = side.next.as_ref() {
                let text = String::from_utf8_lossy(bytes);
                last_tag = text.split(' ').next().map(str::to_string);
            }
        } else {
            greeted = true;
        }
        feed(side, &session, &mut assembler, &mut events);
        for e in events.drain(..) {
            stats.events += 1;
            sink(&e);
        }
    }
    assembler.finish(&mut events);
    for e in events.drain(..) {
        stats.events += 1;
        sink(&e);
    }
    Ok(stats)
}

fn feed(side: &mut Side, session: &SessionId, assembler: &mut Assembler, events: &mut Vec<Event>) {
    if let Some((at, bytes, line)) = side.next.take() {
        let origin = Origin::new(&side.name, line);
        assembler.push(session, side.dir, &bytes, ChunkMeta { origin, at }, events);
    }
}
