//! Cuts a byte stream into whole IMAP messages: a line, plus the literals it
//! announces (`{n}` / `{n+}`) and the rest of the line after each literal.
//!
//! The framer is incremental (bytes may arrive one at a time or in one block), knows
//! nothing about grammar, and is bounded: a line longer than `Limits::max_line`, a
//! literal over `max_literal` or a message over `max_message` is cut, marked
//! `truncated`, and the stream goes on with the next message. A message still open
//! when the stream ends comes out of `finish` marked `incomplete`.
//!
//! One framer serves both ends. The harness watches both directions and lets
//! every literal through (`Framer::new`). The reference server reads commands
//! with a *gated* framer (`Framer::gated`): it stops after each line that
//! announces a literal, so the server can refuse the literal (too big, over a
//! budget) or, for `{n}`, send `+` first — "the sender must wait for a
//! command continuation request" (RFC 3501 2.2.1) — and only then let the
//! literal's bytes in.

use std::fmt;

use super::Limits;

/// A literal announced at the end of a line (RFC 3501 4.3, RFC 7888 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal {
    /// Its length in bytes.
    pub len: u64,
    /// `{n}`: the sender waits for `+`. `{n+}` (LITERAL+/LITERAL-) does not.
    pub sync: bool,
}

/// Why a message was cut short at the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// A line (without its literals) over `max_line`.
    Line { max: usize },
    /// A literal announced over `max_literal`.
    Literal { len: u64, max: usize },
    /// The whole message over `max_message`.
    Message { max: usize },
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Line { max } => write!(f, "line longer than {max} bytes (limit max_line)"),
            Cut::Literal { len, max } => write!(
                f,
                "literal of {len} bytes is over the limit of {max} (max_literal)"
            ),
            Cut::Message { max } => {
                write!(f, "message longer than {max} bytes (limit max_message)")
            }
        }
    }
}

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
    pub truncated: Option<Cut>,
    /// The stream ended in the middle of this message.
    pub incomplete: bool,
}

impl<M> Frame<M> {
    /// Splits off what the caller attached, so it can be moved on rather
    /// than cloned.
    pub fn take_meta(self) -> (Frame<()>, M) {
        let Frame {
            bytes,
            meta,
            bare_lf,
            truncated,
            incomplete,
        } = self;
        let frame = Frame {
            bytes,
            meta: (),
            bare_lf,
            truncated,
            incomplete,
        };
        (frame, meta)
    }
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
    truncated: Option<Cut>,
    /// The open message's last line announced a synchronising literal (`{n}`,
    /// not `{n+}`) and none of its bytes came yet: the sender is waiting for
    /// the peer's `+`, and the peer may refuse instead (RFC 3501 7.5).
    awaiting_sync: bool,
    /// Stop at every literal announcement until the owner decides (server).
    gate: bool,
    /// The literal the gate stopped at, not yet accepted or refused.
    held: Option<Literal>,
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
            gate: false,
            held: None,
        }
    }

    /// A framer for the client-to-server stream, as the server reads it: `push`
    /// stops after each line that announces a literal and takes no byte of it
    /// until `accept_literal` (after `+` for `{n}`) or `refuse_literal`.
    pub fn gated(limits: Limits) -> Self {
        Framer {
            gate: true,
            ..Framer::new(limits, false)
        }
    }

    /// The literal a gated framer stopped at, waiting for a decision.
    pub fn held_literal(&self) -> Option<Literal> {
        self.held
    }

    /// Lets the held literal's bytes in (the server has sent `+` for `{n}`).
    pub fn accept_literal(&mut self) -> Option<Literal> {
        self.held.take()
    }

    /// The receiver refused the held literal (tagged NO/BAD before `+`, RFC
    /// 3501 7.5): the message ends where it stopped.
    pub fn refuse_literal(&mut self) -> Option<Frame<M>> {
        self.held.take()?;
        self.close_open(false)
    }

    /// True while the open message is inside a literal's bytes.
    pub fn in_literal(&self) -> bool {
        matches!(self.state, State::Literal { .. })
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
        self.close_open(false)
    }

    /// Ends the open message where it stands.
    fn close_open(&mut self, incomplete: bool) -> Option<Frame<M>> {
        let meta = self.meta.take()?;
        let frame = Frame {
            bytes: std::mem::take(&mut self.buf),
            meta,
            bare_lf: self.bare_lf,
            truncated: self.truncated.take(),
            incomplete,
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
    /// For an ungated framer (a gated one reads with `feed`).
    pub fn push(&mut self, bytes: &[u8], meta: &M, out: &mut Vec<Frame<M>>) {
        let taken = self.feed(bytes, meta, out);
        debug_assert!(taken == bytes.len() || self.gate);
    }

    /// Like `push`, and returns how many bytes were taken: all of them, except
    /// that a gated framer stops right after a line that announces a literal
    /// (see `held_literal`) and after each whole message (a server reads one
    /// command at a time: what follows may have to be read differently, as
    /// after STARTTLS or IDLE). The caller keeps the rest and feeds it again.
    pub fn feed(&mut self, bytes: &[u8], meta: &M, out: &mut Vec<Frame<M>>) -> usize {
        let frames_before = out.len();
        let mut i = 0;
        while i < bytes.len() {
            if self.held.is_some() || (self.gate && out.len() > frames_before) {
                return i;
            }
            if self.meta.is_none() {
                self.meta = Some(meta.clone());
            }
            // Bytes after a `{n}` line: the sender did not (or no longer)
            // wait for `+`.
            self.awaiting_sync = false;
            match self.state {
                State::Literal { remaining } => {
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
        i
    }

    /// Like `push`, for a chunk the caller gives away: a whole one-line message
    /// (the common case in logs) becomes a frame without being copied.
    pub fn push_owned(&mut self, bytes: Vec<u8>, meta: M, out: &mut Vec<Frame<M>>) {
        let single_line = self.meta.is_none()
            && bytes.len() <= self.limits.max_line
            && bytes.last() == Some(&b'\n')
            && memchr::memchr(b'\n', &bytes[..bytes.len() - 1]).is_none();
        if single_line {
            let crlf = bytes.ends_with(b"\r\n");
            let content = &bytes[..bytes.len() - if crlf { 2 } else { 1 }];
            let continuation = self.server_side && content.starts_with(b"+");
            if !self.gate && (continuation || literal_announcement(content).is_none()) {
                out.push(Frame {
                    bytes,
                    // Moved, not cloned: a clone of a log's `Origin` is an
                    // atomic count change per message.
                    meta,
                    bare_lf: !crlf,
                    truncated: None,
                    incomplete: false,
                });
                return;
            }
        }
        self.push(&bytes, &meta, out);
    }

    /// The stream ended: returns the message left open, if any.
    pub fn finish(&mut self) -> Option<Frame<M>> {
        self.close_open(true)
    }

    fn reset(&mut self) {
        self.state = State::Line { len: 0 };
        self.line_start = 0;
        self.bare_lf = false;
        self.truncated = None;
        self.meta = None;
        self.awaiting_sync = false;
        self.held = None;
    }

    fn store(&mut self, bytes: &[u8]) {
        let room = self.limits.max_message.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.buf.extend_from_slice(&bytes[..room]);
            if self.truncated.is_none() {
                self.truncated = Some(Cut::Message {
                    max: self.limits.max_message,
                });
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
                self.truncated = Some(Cut::Line {
                    max: self.limits.max_line,
                });
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
        if let Some(lit) = literal {
            self.awaiting_sync = !self.server_side && lit.sync;
            if self.gate {
                self.held = Some(lit);
            }
        }
        match literal {
            Some(Literal { len: n, .. }) if n > 0 => {
                if n > self.limits.max_literal as u64 && self.truncated.is_none() {
                    self.truncated = Some(Cut::Literal {
                        len: n,
                        max: self.limits.max_literal,
                    });
                }
                self.state = State::Literal { remaining: n };
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

/// `{123}` or `{123+}` at the very end of a line (without its line end).
pub fn literal_announcement(content: &[u8]) -> Option<Literal> {
    let body = content.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let mut sync = true;
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Literal { len, sync })
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
        assert_eq!(out[0].truncated, Some(Cut::Line { max: 40 }));
        assert!(out[0].bytes.len() <= 42);
        assert_eq!(out[1].truncated, Some(Cut::Literal { len: 10, max: 4 }));
        assert!(out[1]
            .truncated
            .is_some_and(|c| c.to_string().contains("max_literal")));
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
                    f.push_owned(l.to_vec(), i, &mut out);
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

    /// Feeds `input` to a gated framer the way the server does: whatever was
    /// not taken stays for the next round; `decide` answers each held literal.
    fn gated_run(
        input: &[u8],
        chunk: usize,
        mut decide: impl FnMut(Literal) -> bool,
    ) -> (Vec<Vec<u8>>, Vec<Literal>, Vec<u8>) {
        let mut f: Framer<()> = Framer::gated(Limits::default());
        let (mut frames, mut held, mut pending) = (Vec::new(), Vec::new(), Vec::new());
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            pending.extend_from_slice(c);
            loop {
                let taken = f.feed(&pending, &(), &mut out);
                pending.drain(..taken);
                frames.extend(out.drain(..).map(|fr| fr.bytes));
                let Some(lit) = f.held_literal() else {
                    if taken == 0 {
                        break;
                    }
                    continue;
                };
                held.push(lit);
                if decide(lit) {
                    f.accept_literal();
                } else if let Some(fr) = f.refuse_literal() {
                    frames.push(fr.bytes);
                }
            }
        }
        (frames, held, pending)
    }

    #[test]
    fn gated_framer_holds_each_literal_until_decided() {
        let input: &[u8] = b"a APPEND INBOX {5}\r\nhello\r\nb LOGIN {1+}\r\nu {0}\r\n p\r\n";
        for chunk in [1, 3, input.len()] {
            let (frames, held, rest) = gated_run(input, chunk, |_| true);
            assert_eq!(
                frames,
                vec![
                    b"a APPEND INBOX {5}\r\nhello\r\n".to_vec(),
                    b"b LOGIN {1+}\r\nu {0}\r\n p\r\n".to_vec()
                ],
                "chunks of {chunk}"
            );
            assert_eq!(
                held,
                vec![
                    Literal { len: 5, sync: true },
                    Literal {
                        len: 1,
                        sync: false
                    },
                    Literal { len: 0, sync: true }
                ],
                "every announcement is held, `{{0}}` too: its sender waits for `+` as well"
            );
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn gated_framer_takes_no_literal_byte_before_accept() {
        let mut f: Framer<()> = Framer::gated(Limits::default());
        let mut out = Vec::new();
        let input = b"a APPEND INBOX {5}\r\nhello\r\n";
        let taken = f.feed(input, &(), &mut out);
        assert_eq!(taken, b"a APPEND INBOX {5}\r\n".len());
        assert!(out.is_empty());
        assert_eq!(f.held_literal(), Some(Literal { len: 5, sync: true }));
        assert_eq!(f.feed(&input[taken..], &(), &mut out), 0, "still held");
        f.accept_literal();
        assert!(f.in_literal());
        assert_eq!(f.feed(&input[taken..], &(), &mut out), input.len() - taken);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn gated_framer_takes_one_command_at_a_time() {
        // Pipelined commands: the server must see STARTTLS alone, with the
        // bytes after it still unread (they are discarded, RFC 3501 6.2.1).
        let mut f: Framer<()> = Framer::gated(Limits::default());
        let mut out = Vec::new();
        let input = b"a STARTTLS\r\nb LOGIN u p\r\n";
        let taken = f.feed(input, &(), &mut out);
        assert_eq!(taken, b"a STARTTLS\r\n".len());
        assert_eq!(out.len(), 1);
        assert!(f.is_idle());
    }

    #[test]
    fn refused_literal_ends_the_command_and_the_next_line_is_a_new_one() {
        // A client that sends its literal without waiting for `+` (broken, or
        // hostile): after the refusal its bytes are read as new commands, as
        // RFC 3501 7.5 implies, never as the refused command's data.
        let input: &[u8] = b"a APPEND INBOX {999999999}\r\nb NOOP\r\n";
        let (frames, held, rest) = gated_run(input, 4, |lit| lit.len < 1000);
        assert_eq!(held.len(), 1);
        assert_eq!(
            frames,
            vec![
                b"a APPEND INBOX {999999999}\r\n".to_vec(),
                b"b NOOP\r\n".to_vec()
            ]
        );
        assert!(rest.is_empty());
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(
            literal_announcement(b"a LOGIN {4}"),
            Some(Literal { len: 4, sync: true })
        );
        assert_eq!(
            literal_announcement(b"a LOGIN {4+}"),
            Some(Literal {
                len: 4,
                sync: false
            })
        );
        assert_eq!(literal_announcement(b"a LOGIN {}"), None);
        assert_eq!(literal_announcement(b"a LOGIN {x}"), None);
        assert_eq!(literal_announcement(b"{99999999999999999999}"), None);
    }
}
