//! Entry points for fuzzers: each takes arbitrary bytes and must never panic, hang
//! or grow without bound, whatever the bytes are.
//!
//! Two targets, one per side of the wire that trusts nothing:
//! - [`harness_stream`]: bytes a hostile server (and client) might send, through the
//!   harness's whole path — framing, strict decoding, events, model and every check.
//! - [`ServerTarget`]: bytes a hostile client might send, through the reference
//!   server's whole command path (framing, decoding, every handler) on a real
//!   loopback connection, logged in with a mailbox selected.
//!
//! The same functions drive the coverage-guided fuzzers in `fuzz/` (cargo-afl) and
//! the bounded corpus run in `tests/fuzz_corpus.rs`, so what CI replays is exactly
//! what the fuzzer explored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checks::Checker;
use crate::event::{Assembler, ChunkMeta, Event, SessionId};
use crate::server::{self, Config, Handle, User};
use crate::source::Origin;
use crate::wire::{Direction, Limits};

/// Runs `data` through the harness as the bytes of up to four interleaved
/// connections, then through every check.
///
/// Layout of `data`: a sequence of chunks, each one header byte then its bytes.
/// Header bits: `0x80` server (else client), `0x60` which of four connections,
/// `0x1f` the chunk length (0 means "close this connection"). A short last chunk
/// takes what is left. Small limits make the framer's cut paths reachable.
pub fn harness_stream(data: &[u8]) {
    let limits = Limits {
        max_line: 512,
        max_literal: 256,
        max_message: 2048,
        ..Limits::default()
    };
    let file: Arc<str> = Arc::from("fuzz");
    let sessions: Vec<SessionId> = (0..4).map(|i| Arc::from(format!("s{i}"))).collect();
    let mut assembler = Assembler::new(limits);
    let mut checker = Checker::default();
    let mut events: Vec<Event> = Vec::new();
    let mut rest = data;
    let mut line = 0u64;
    while let Some((&header, tail)) = rest.split_first() {
        line += 1;
        let dir = if header & 0x80 != 0 {
            Direction::Server
        } else {
            Direction::Client
        };
        let session = &sessions[usize::from((header >> 5) & 0x3)];
        let meta = ChunkMeta {
            origin: Origin::new(&file, line),
            at: None,
        };
        let len = usize::from(header & 0x1f);
        if len == 0 {
            assembler.close(session, Some(dir), meta, &mut events);
            rest = tail;
        } else {
            let (chunk, after) = tail.split_at(len.min(tail.len()));
            assembler.push(session, dir, chunk, meta, &mut events);
            rest = after;
        }
        for event in events.drain(..) {
            checker.on_event(&event);
        }
    }
    assembler.finish(&mut events);
    for event in events.drain(..) {
        checker.on_event(&event);
    }
    // Reports render every finding: rendering must hold for whatever was found.
    for finding in checker.into_findings().list {
        let _ = format!("{finding:?}");
    }
}

/// The account every fuzz input is logged in as.
const USER: &str = "fuzz";
const PASSWORD: &str = "fuzzpw";
/// Inputs served by one server before it is replaced, so that what inputs store
/// (APPEND, CREATE) cannot accumulate without bound over a long fuzzing run.
const INPUTS_PER_SERVER: u32 = 256;
/// How long the server may take to finish with one input after the client's EOF.
/// Far above anything a correct server needs for inputs of a fuzzer's size: a
/// server still busy after this is hung, and that is a crash for the fuzzer.
const INPUT_DEADLINE: Duration = Duration::from_secs(10);

/// Messages in INBOX at the start of every input, so FETCH, SEARCH, STORE, COPY
/// and EXPUNGE have something to work on: a plain one and a nested MIME one.
const MESSAGES: &[&[u8]] = &[
    b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: plain\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob.\r\n",
    b"From: \"C (x)\" <c@example.org>\r\nTo: a@b.c, d@e.f\r\nSubject: =?utf-8?q?mixed?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody one\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--C--\r\n--B--\r\n",
];

/// The reference server under fuzzing, restarted every `INPUTS_PER_SERVER` inputs.
pub struct ServerTarget {
    runtime: tokio::runtime::Runtime,
    server: Option<(Handle, SocketAddr)>,
    inputs: u32,
}

impl ServerTarget {
    /// A runtime for the server; the server itself starts with the first input.
    pub fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(ServerTarget {
            runtime,
            server: None,
            inputs: 0,
        })
    }

    /// Sends `data` after LOGIN and SELECT INBOX, closes the sending side and reads
    /// until the server closes. Panics (a finding for the fuzzer) if the server
    /// cannot start, does not greet, or does not finish within `INPUT_DEADLINE`.
    /// A panic inside the server is a finding too: the caller installs a panic hook
    /// that aborts (see [`abort_on_panic`]), as tokio would otherwise catch it.
    pub fn run(&mut self, data: &[u8]) {
        if self.inputs >= INPUTS_PER_SERVER {
            if let Some((handle, _)) = self.server.take() {
                self.runtime.block_on(handle.shutdown());
            }
            self.inputs = 0;
        }
        self.inputs += 1;
        let addr = match &self.server {
            Some((_, addr)) => *addr,
            None => {
                let (handle, addr) = self.runtime.block_on(start_server());
                self.server = Some((handle, addr));
                addr
            }
        };
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(INPUT_DEADLINE, one_input(addr, data)).await });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the server failed on this input: {e}"),
            Err(_) => {
                panic!("the server did not finish within {INPUT_DEADLINE:?} of the client's EOF")
            }
        }
    }
}

impl Drop for ServerTarget {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.server.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}

async fn start_server() -> (Handle, SocketAddr) {
    let config = Config {
        imap: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        users: vec![User {
            name: USER.into(),
            password: PASSWORD.into(),
            quota: Some(4 * 1024 * 1024),
        }],
        ..Config::default()
    };
    let handle = match server::Server::start(config).await {
        Ok(h) => h,
        Err(e) => panic!("the reference server did not start: {e}"),
    };
    let Some(addr) = handle.imap else {
        panic!("the reference server has no IMAP listener")
    };
    (handle, addr)
}

/// One fuzz input on a fresh connection. INBOX is reset to `MESSAGES` first, over
/// IMAP like any client would, so each input starts from the same state.
async fn one_input(addr: SocketAddr, data: &[u8]) -> std::io::Result<()> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut prefix = format!("f1 LOGIN {USER} {PASSWORD}\r\nf2 SELECT INBOX\r\nf3 STORE 1:* +FLAGS.SILENT (\\Deleted)\r\nf4 EXPUNGE\r\n").into_bytes();
    for (i, m) in MESSAGES.iter().enumerate() {
        prefix
            .extend_from_slice(format!("f{} APPEND INBOX {{{}+}}\r\n", 5 + i, m.len()).as_bytes());
        prefix.extend_from_slice(m);
        prefix.extend_from_slice(b"\r\n");
    }
    prefix.extend_from_slice(b"f9 NOOP\r\n");
    // The server may close before it has read everything (a BYE for a bad literal,
    // LOGOUT inside the input): the kernel then resets the connection. That is a
    // normal end of an input, not a finding.
    let ended = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )
    };
    // Write and read at once: a server that answers a lot before reading on must
    // not deadlock against a client that is still writing.
    let (mut rd, mut wr) = tcp.split();
    let write = async {
        let r = async {
            wr.write_all(&prefix).await?;
            wr.write_all(data).await?;
            wr.shutdown().await
        }
        .await;
        match r {
            Err(e) if ended(&e) => Ok(()),
            other => other,
        }
    };
    // Read everything until the server closes; the amount is bounded by what a
    // correct server answers to an input of this size, the deadline by the caller.
    let read = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(n) => n,
                Err(e) if ended(&e) => return Ok(()),
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            total += n;
            if total > 256 * 1024 * 1024 {
                return Err(std::io::Error::other(
                    "the server answered a small input with over 256 MiB",
                ));
            }
        }
        if total == 0 {
            return Err(std::io::Error::other(
                "the server closed without a greeting",
            ));
        }
        Ok(())
    };
    let (w, r) = tokio::join!(write, read);
    w.and(r)
}

/// Makes any panic, in any thread, abort the process, so that a panic inside a
/// server task (which tokio would catch and log) is seen by the fuzzer as a crash.
pub fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::abort();
    }));
}
