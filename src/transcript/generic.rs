//! imapspec's own transcript format, written by live sessions and read like any log.
//!
//! ```text
//! # imapspec transcript v1
//! 0.000120000 [alice-1] S: * OK [CAPABILITY IMAP4rev1] ready
//! 0.000500000 [alice-1] C: a1 LOGIN alice secret
//! 0.002000000 [alice-1] S= * 1 FETCH (BODY[] {5}\r\nhe\nlo)\r\n
//! 1800.5 [alice-1] == closed by server
//! ```
//! `C: text` / `S: text` carry `text` + CRLF. `C=` / `S=` carry exactly the bytes
//! given, with `\r \n \t \\ \xNN` escapes: used for anything a plain line cannot
//! hold (bare CR or LF, control bytes, non-UTF-8, a message cut off). `==` lines say
//! `closed by server|client`, `closed`, `tls` (TLS began) or `note TEXT`.
//! The timestamp (seconds, up to 9 decimals, or `hh:mm:ss.fff`, or a date and
//! time) and the `[connection]` are optional.

use std::io::{self, Write};
use std::sync::Arc;

use crate::source::{Origin, Timestamp};
use crate::wire::Direction;

pub const HEADER: &str = "# imapspec transcript v1";

/// Writes a generic transcript line by line, telling the caller the line each
/// message starts on (so live findings carry the transcript's line numbers).
pub struct TranscriptWriter<W: Write> {
    out: W,
    name: Arc<str>,
    /// Lines written so far.
    lines: u64,
}

impl<W: Write> TranscriptWriter<W> {
    pub fn new(mut out: W, name: Arc<str>) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(TranscriptWriter {
            out,
            name,
            lines: 1,
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn prefix(&mut self, at: Timestamp, conn: &str) -> io::Result<()> {
        let (secs, nanos) = (
            at.0.div_euclid(1_000_000_000),
            at.0.rem_euclid(1_000_000_000),
        );
        write!(self.out, "{secs}.{nanos:09} [{conn}] ")
    }

    /// Writes one framed message; returns the origin of its first line.
    pub fn message(
        &mut self,
        at: Timestamp,
        conn: &str,
        dir: Direction,
        bytes: &[u8],
    ) -> io::Result<Origin> {
        let origin = Origin::new(&self.name, self.lines + 1);
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, whole) = match memchr::memmem::find(rest, b"\r\n") {
                Some(i) => (&rest[..i], &rest[..i + 2]),
                None => (rest, rest),
            };
            self.prefix(at, conn)?;
            let clean = whole.len() == piece.len() + 2
                && std::str::from_utf8(piece)
                    .is_ok_and(|s| !s.chars().any(|c| c.is_control() && c != '\t'));
            if clean {
                write!(self.out, "{}: ", dir.prefix())?;
                self.out.write_all(piece)?;
            } else {
                write!(self.out, "{}= ", dir.prefix())?;
                self.out.write_all(escape(whole).as_bytes())?;
            }
            self.out.write_all(b"\n")?;
            self.lines += 1;
            rest = &rest[whole.len()..];
        }
        Ok(origin)
    }

    /// Writes a `==` line (`closed by server`, `tls`, `note ...`); returns its
    /// origin and the line as written (what a reader of the file will see).
    pub fn directive(
        &mut self,
        at: Timestamp,
        conn: &str,
        text: &str,
    ) -> io::Result<(Origin, String)> {
        let (secs, nanos) = (
            at.0.div_euclid(1_000_000_000),
            at.0.rem_euclid(1_000_000_000),
        );
        let line = format!(
            "{secs}.{nanos:09} [{conn}] == {}",
            text.replace(['\r', '\n'], " ")
        );
        writeln!(self.out, "{line}")?;
        self.lines += 1;
        Ok((Origin::new(&self.name, self.lines), line))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

pub use crate::event::closed_text;

/// Escapes bytes for a `C=`/`S=` line.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Reverses `escape`; `None` on a malformed escape.
pub fn unescape(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let e = *text.get(i + 1)?;
        i += 2;
        out.push(match e {
            b'\\' => b'\\',
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'x' => {
                let hex = std::str::from_utf8(text.get(i..i + 2)?).ok()?;
                i += 2;
                u8::from_str_radix(hex, 16).ok()?
            }
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(unescape(escape(&all).as_bytes()), Some(all));
        assert_eq!(unescape(b"bad \\q"), None);
        assert_eq!(unescape(b"cut \\x4"), None);
    }

    #[test]
    fn writer_splits_messages_into_lines() {
        let mut w = TranscriptWriter::new(Vec::new(), Arc::from("t")).expect("vec");
        let o = w
            .message(
                Timestamp(1_500_000_000),
                "s1",
                Direction::Server,
                b"* 1 FETCH (BODY[] {5}\r\nhe\nlo)\r\n",
            )
            .expect("vec");
        assert_eq!(o.line, 2);
        let o2 = w
            .message(Timestamp(2), "s1", Direction::Client, b"a1 NOOP\r\n")
            .expect("vec");
        assert_eq!(o2.line, 4);
        let text = String::from_utf8(w.into_inner()).expect("utf8");
        assert_eq!(
            text,
            "# imapspec transcript v1\n1.500000000 [s1] S: * 1 FETCH (BODY[] {5}\n1.500000000 [s1] S= he\\nlo)\\r\\n\n0.000000002 [s1] C: a1 NOOP\n"
        );
    }
}
