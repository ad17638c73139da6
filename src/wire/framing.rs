//! Cuts a byte stream into whole IMAP messages: a line, plus the literals it
//! announces (`{n}` / `{n+}`) and the rest of the line after each literal.
//!
//! The framer is incremental (bytes may arrive one at a time or in one block), knows
//! nothing about grammar, and is bounded: a line longer than `Limits::max_line`, a
//! literal over `max_literal` or a message over `max_message` is cut, marked
//! `truncated`, and the stream goes on with the next message. A message still open
//! when the stream ends comes out of `finish` marked `incomplete`.

use super::Limits;

/// One whole message as it was on the wire.
#[derive(Debug, Clone)]
pub struct Frame<M> {
    /// The bytes, CRLF (or bare LF) included; possibly cut (see `truncated`).
    pub bytes: Vec<u8>,
    /// What the caller attached to the chunk in which this message started.
    pub meta: M,
    /// Some line of the message ended with LF alone.
    pub bare_lf: bool,
    /// Why the message was cut short, if it was.
    pub truncated: Option<String>,
    /// The stream ended in the middle of this message.
    pub incomplete: bool,
}

#[derive(Debug)]
enum State {
    /// Reading a line; `len` bytes of it so far.
    Line { len: usize },
    /// Inside a literal; this many bytes still to come.
    Literal { remaining: u64 },
}

#[derive(Debug)]
pub struct Framer<M> {
    limits: Limits,
    /// Server-to-client stream: a `+` line is a continuation request and never
    /// announces a literal.
    server_side: bool,
    buf: Vec<u8>,
    state: State,
    /// Start of the current line inside `buf`.
    line_start: usize,
    meta: Option<M>,
    bare_lf: bool,
    truncated: Option<String>,
    /// The open message's last line announced a synchronising literal (`{n}`,
    /// not `{n+}`) and none of its bytes came yet: the sender is waiting for
    /// the peer's `+`, and the peer may refuse instead (RFC 3501 7.5).
    awaiting_sync: bool,
}

impl<M: Clone> Framer<M> {
    pub fn new(limits: Limits, server_side: bool) -> Self {
        Framer {
            limits,
            server_side,
            buf: Vec::new(),
            state: State::Line { len: 0 },
            line_start: 0,
            meta: None,
            bare_lf: false,
            truncated: None,
            awaiting_sync: false,
        }
    }

    /// The open message, when it stops at a synchronising literal none of whose
    /// bytes were sent yet (the command waits for `+`).
    pub fn awaiting_sync_literal(&self) -> Option<&[u8]> {
        self.awaiting_sync.then_some(&self.buf[..])
    }

    /// The peer refused the command instead of sending `+` (RFC 3501 7.5: "the
    /// server ... rejects the command with a tagged NO or BAD"): the literal
    /// will never come, so the message ends where it stopped.
    pub fn abandon_sync_literal(&mut self) -> Option<Frame<M>> {
        if !self.awaiting_sync {
            return None;
        }
        let meta = self.meta.take()?;
        let frame = Frame {
            bytes: std::mem::take(&mut self.buf),
            meta,
            bare_lf: self.bare_lf,
            truncated: self.truncated.take(),
            incomplete: false,
        };
        self.reset();
        Some(frame)
    }

    /// The bytes of the message partly read (bounded by the limits).
    pub fn open_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// True when no message is partly read.
    pub fn is_idle(&self) -> bool {
        self.meta.is_none()
    }

    /// Feeds bytes; every message completed by them is appended to `out`.
    pub fn push(&mut self, bytes: &[u8], meta: &M, out: &mut Vec<Frame<M>>) {
        let mut i = 0;
        while i < bytes.len() {
            if self.meta.is_none() {
                self.meta = Some(meta.clone());
            }
            match self.state {
                State::Literal { remaining } => {
                    self.awaiting_sync = false;
                    let take = remaining.min((bytes.len() - i) as u64) as usize;
                    self.store(&bytes[i..i + take]);
                    i += take;
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        self.state = State::Line { len: 0 };
                        self.line_start = self.buf.len();
                    } else {
                        self.state = State::Literal { remaining };
                    }
                }
                State::Line { len } => match memchr::memchr(b'\n', &bytes[i..]) {
                    None => {
                        self.store_line_part(&bytes[i..], len);
                        self.state = State::Line {
                            len: len + bytes.len() - i,
                        };
                        i = bytes.len();
                    }
                    Some(j) => {
                        let end = i + j + 1;
                        self.store_line_part(&bytes[i..end], len);
                        i = end;
                        self.end_of_line(len + j + 1, out);
                    }
                },
            }
        }
    }

    /// Like `push`, for a chunk the caller gives away: a whole one-line message
    /// (the common case in logs) becomes a frame without being copied.
    pub fn push_owned(&mut self, bytes: Vec<u8>, meta: &M, out: &mut Vec<Frame<M>>) {
        let single_line = self.meta.is_none()
            && bytes.len() <= self.limits.max_line
            && bytes.last() == Some(&b'\n')
            && memchr::memchr(b'\n', &bytes[..bytes.len() - 1]).is_none();
        if single_line {
            let crlf = bytes.ends_with(b"\r\n");
            let content = &bytes[..bytes.len() - if crlf { 2 } else { 1 }];
            let continuation = self.server_side && content.starts_with(b"+");
            if continuation || literal_announcement(content).is_none() {
                out.push(Frame {
                    bytes,
                    meta: meta.clone(),
                    bare_lf: !crlf,
                    truncated: None,
                    incomplete: false,
                });
                return;
            }
        }
        self.push(&bytes, meta, out);
    }

    /// The stream ended: returns the message left open, if any.
    pub fn finish(&mut self) -> Option<Frame<M>> {
        let meta = self.meta.take()?;
        let frame = Frame {
            bytes: std::mem::take(&mut self.buf),
            meta,
            bare_lf: self.bare_lf,
            truncated: self.truncated.take(),
            incomplete: true,
        };
        self.reset();
        Some(frame)
    }

    fn reset(&mut self) {
        self.state = State::Line { len: 0 };
        self.line_start = 0;
        self.bare_lf = false;
        self.truncated = None;
        self.meta = None;
        self.awaiting_sync = false;
    }

    fn store(&mut self, bytes: &[u8]) {
        let room = self.limits.max_message.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.buf.extend_from_slice(&bytes[..room]);
            if self.truncated.is_none() {
                self.truncated = Some(format!(
                    "message longer than {} bytes (limit max_message)",
                    self.limits.max_message
                ));
            }
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn store_line_part(&mut self, bytes: &[u8], len_before: usize) {
        let room = self.limits.max_line.saturating_sub(len_before);
        if bytes.len() > room {
            // Keep the head of the line for the report, and its last byte so the
            // line still ends where it ended.
            self.store(&bytes[..room]);
            if self.truncated.is_none() {
                self.truncated = Some(format!(
                    "line longer than {} bytes (limit max_line)",
                    self.limits.max_line
                ));
            }
            if bytes.last() == Some(&b'\n') {
                self.store(b"\r\n");
            }
        } else {
            self.store(bytes);
        }
    }

    fn end_of_line(&mut self, line_len: usize, out: &mut Vec<Frame<M>>) {
        let line = &self.buf[self.line_start.min(self.buf.len())..];
        let crlf = line.ends_with(b"\r\n");
        if !crlf {
            self.bare_lf = true;
        }
        let content = &line[..line.len() - if crlf { 2 } else { 1.min(line.len()) }];
        let continuation = self.server_side && self.line_start == 0 && content.starts_with(b"+");
        let literal = if continuation || line_len > self.limits.max_line {
            None
        } else {
            literal_announcement(content)
        };
        match literal {
            Some(n) if n > 0 => {
                if n > self.limits.max_literal as u64 && self.truncated.is_none() {
                    self.truncated = Some(format!(
                        "literal of {n} bytes is over the limit of {} (max_literal)",
                        self.limits.max_literal
                    ));
                }
                self.state = State::Literal { remaining: n };
                self.awaiting_sync = !self.server_side && !content.ends_with(b"+}");
            }
            Some(_) => {
                // `{0}`: an empty literal, the line goes on right away.
                self.state = State::Line { len: 0 };
                self.line_start = self.buf.len();
            }
            None => {
                let Some(meta) = self.meta.take() else { return };
                out.push(Frame {
                    bytes: std::mem::take(&mut self.buf),
                    meta,
                    bare_lf: self.bare_lf,
                    truncated: self.truncated.take(),
                    incomplete: false,
                });
                self.reset();
            }
        }
    }
}

/// A server message that is the tagged completion of the client's open
/// message (`open`, stopped at a synchronising literal): the server refused the
/// command instead of sending `+`.
pub fn refuses_literal(server: &[u8], open: &[u8]) -> bool {
    let Some(end) = open.iter().position(|&b| b == b' ') else {
        return false;
    };
    let tag = &open[..end];
    !tag.is_empty()
        && tag != b"+"
        && tag != b"*"
        && server.len() > end
        && &server[..end] == tag
        && server[end] == b' '
}

/// `{123}` or `{123+}` at the very end of a line gives 123.
pub fn literal_announcement(content: &[u8]) -> Option<u64> {
    let body = content.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]], limits: Limits) -> (Vec<Frame<usize>>, Option<Frame<usize>>) {
        let mut f = Framer::new(limits, true);
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            f.push(c, &i, &mut out);
        }
        let rest = f.finish();
        (out, rest)
    }

    #[test]
    fn lines_and_literals_byte_at_a_time() {
        let all: &[u8] = b"* 1 EXISTS\r\n* 1 FETCH (BODY[] {5}\r\nhe\nlo)\r\n+ go {3}\r\n";
        let chunks: Vec<&[u8]> = all.chunks(1).collect();
        let (out, rest) = frames(&chunks, Limits::default());
        assert!(rest.is_none());
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].bytes, b"* 1 EXISTS\r\n");
        assert_eq!(out[1].bytes, b"* 1 FETCH (BODY[] {5}\r\nhe\nlo)\r\n");
        assert!(!out[1].bare_lf, "a LF inside a literal is data");
        assert_eq!(
            out[2].bytes, b"+ go {3}\r\n",
            "continuation text is not a literal"
        );
        assert_eq!(out[1].meta, 12, "meta of the chunk where the message began");
    }

    #[test]
    fn bare_lf_and_incomplete_and_bounds() {
        let (out, rest) = frames(&[b"* 2 EXISTS\n* 3 EXI"], Limits::default());
        assert!(out[0].bare_lf);
        let rest = rest.expect("open message");
        assert!(rest.incomplete);
        assert_eq!(rest.bytes, b"* 3 EXI");

        let limits = Limits {
            max_line: 40,
            max_literal: 4,
            ..Limits::default()
        };
        let long = [b'x'; 100];
        let (out, _) = frames(
            &[&long, b"\r\n* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n"],
            limits,
        );
        assert_eq!(out.len(), 2);
        assert!(out[0]
            .truncated
            .as_deref()
            .unwrap_or("")
            .contains("max_line"));
        assert!(out[0].bytes.len() <= 42);
        assert!(out[1]
            .truncated
            .as_deref()
            .unwrap_or("")
            .contains("max_literal"));
    }

    #[test]
    fn push_owned_frames_like_push() {
        let lines: &[&[u8]] = &[
            b"* 1 EXISTS\r\n",
            b"* 1 FETCH (BODY[] {5}\r\n",
            b"he\r\n",
            b"o)\r\n",
            b"+ go {3}\r\n",
            b"* 2 EXISTS\n",
            b"a1 OK done\r\n",
        ];
        let run = |owned: bool| {
            let mut f: Framer<usize> = Framer::new(Limits::default(), true);
            let mut out = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if owned {
                    f.push_owned(l.to_vec(), &i, &mut out);
                } else {
                    f.push(l, &i, &mut out);
                }
            }
            out.iter()
                .map(|fr| (fr.bytes.clone(), fr.meta, fr.bare_lf, fr.incomplete))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(true), run(false));
        assert_eq!(run(true).len(), 5);
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_announcement(b"a LOGIN {4}"), Some(4));
        assert_eq!(literal_announcement(b"a LOGIN {4+}"), Some(4));
        assert_eq!(literal_announcement(b"a LOGIN {}"), None);
        assert_eq!(literal_announcement(b"a LOGIN {x}"), None);
        assert_eq!(literal_announcement(b"{99999999999999999999}"), None);
    }
}
