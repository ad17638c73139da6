//! The server side of one connection: bounded, cancel-safe reading of lines and
//! literals, buffered writing with a write timeout, the STARTTLS upgrade and
//! COMPRESS=DEFLATE (RFC 4978).
//!
//! Once compression is on, what is read is inflated a piece at a time
//! (`INFLATE_PIECE`) into the same read buffer the plain path fills, so every
//! line, literal and command limit holds for the inflated bytes: a
//! compression bomb costs time in pieces, never memory. Every flush deflates
//! what is buffered and ends with a sync flush, so the client can read every
//! response of a burst at once.
//!
//! Every write goes through `flush`, which gives up after `write_timeout` without
//! progress: a client that never reads cannot keep a task and its buffers alive.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::clock::Clock;
use crate::wire::deflate::{Deflater, Inflater};

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between states (during the TLS handshake) or closed.
    Gone,
}

#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection; the bytes of a message it left open.
    Eof(Vec<u8>),
    /// Nothing arrived in time.
    Timeout,
    /// A line over the limit.
    TooLong,
    Io(String),
}

/// The COMPRESS=DEFLATE layer of a connection.
struct Deflate {
    inflater: Inflater,
    deflater: Deflater,
    /// Compressed bytes read and not yet inflated.
    raw: Vec<u8>,
    /// Why the client's stream could not be inflated, once it could not.
    corrupt: Option<String>,
}

pub struct Io {
    pub conn: Conn,
    deflate: Option<Box<Deflate>>,
    /// Bytes read and not yet consumed.
    rbuf: Vec<u8>,
    pub out: Vec<u8>,
    clock: Clock,
    /// Real time one flush may take (see `ServerLimits::write_timeout`).
    write_timeout: Duration,
}

impl Io {
    pub fn new(conn: Conn, clock: Clock, write_timeout: Duration) -> Self {
        Io {
            conn,
            deflate: None,
            rbuf: Vec::with_capacity(1024),
            out: Vec::with_capacity(1024),
            clock,
            write_timeout,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.conn, Conn::Tls(_))
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Turns COMPRESS=DEFLATE on, both ways, from the next byte: call it once
    /// the tagged OK has been flushed (uncompressed). Input the client sent
    /// after its COMPRESS command is already compressed data.
    pub fn start_compress(&mut self) {
        let raw = std::mem::take(&mut self.rbuf);
        self.deflate = Some(Box::new(Deflate {
            inflater: Inflater::new(),
            deflater: Deflater::new(),
            raw,
            corrupt: None,
        }));
    }

    /// Why the client's compressed stream could not be inflated, if it could
    /// not (the connection then reads as closed).
    pub fn corrupt_input(&self) -> Option<&str> {
        self.deflate.as_ref().and_then(|d| d.corrupt.as_deref())
    }

    /// Drops buffered input: plaintext pipelined after STARTTLS must not be
    /// executed inside TLS (RFC 3501 6.2.1, RFC 2595 3.1).
    pub fn discard_input(&mut self) {
        self.rbuf.clear();
    }

    async fn read_more(&mut self) -> Result<usize, ReadError> {
        // Read straight into the buffer: no stack array kept across the await,
        // so an idle connection's task stays a few KB (10,000 IDLEs).
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(4096);
        }
        if let Some(z) = self.deflate.as_mut() {
            return inflate_more(z, &mut self.conn, &mut self.rbuf).await;
        }
        let n = match &mut self.conn {
            Conn::Plain(s) => s.read_buf(&mut self.rbuf).await,
            Conn::Tls(s) => s.read_buf(&mut self.rbuf).await,
            Conn::Gone => return Err(ReadError::Eof(Vec::new())),
        }
        .map_err(|e| ReadError::Io(e.to_string()))?;
        Ok(n)
    }

    /// Gives back memory after a large command or response.
    fn trim(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 64 * 1024 {
            self.rbuf = Vec::with_capacity(1024);
        }
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::with_capacity(1024);
        }
    }

    /// One line with its line end. Cancel-safe: bytes read stay buffered.
    pub async fn read_line(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.rbuf) {
                if i + 1 > max {
                    self.rbuf.drain(..=i);
                    return Err(ReadError::TooLong);
                }
                return Ok(self.rbuf.drain(..=i).collect());
            }
            if self.rbuf.len() > max {
                // Keep reading to the end of the line, but do not keep it.
                self.rbuf.clear();
                loop {
                    if self.read_more().await? == 0 {
                        return Err(ReadError::Eof(Vec::new()));
                    }
                    if let Some(i) = memchr::memchr(b'\n', &self.rbuf) {
                        self.rbuf.drain(..=i);
                        return Err(ReadError::TooLong);
                    }
                    self.rbuf.clear();
                }
            }
            if self.read_more().await? == 0 {
                return Err(ReadError::Eof(std::mem::take(&mut self.rbuf)));
            }
        }
    }

    /// One line, or `Timeout` after `wait` of virtual time.
    pub async fn read_line_within(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<u8>, ReadError> {
        let clock = self.clock.clone();
        clock
            .timeout(wait, self.read_line(max))
            .await
            .unwrap_or(Err(ReadError::Timeout))
    }

    /// Input read and not yet taken (see `consume`).
    pub fn buffered(&self) -> &[u8] {
        &self.rbuf
    }

    /// Takes the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        self.rbuf.drain(..n.min(self.rbuf.len()));
        // A large literal read leaves a large buffer: give it back.
        if self.rbuf.is_empty() && self.rbuf.capacity() > 64 * 1024 {
            self.rbuf = Vec::with_capacity(1024);
        }
    }

    /// Reads more input into the buffer, waiting at most `wait` of virtual
    /// time. Returns how many bytes came; 0 means the client closed.
    pub async fn fill_within(&mut self, wait: Duration) -> Result<usize, ReadError> {
        let clock = self.clock.clone();
        clock
            .timeout(wait, self.read_more())
            .await
            .unwrap_or(Err(ReadError::Timeout))
    }

    pub fn write(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    pub fn write_bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Writes out everything buffered. Fails when the connection is gone or the
    /// client has taken nothing for the write timeout; either way the caller
    /// ends the connection, and with it every buffer it holds. The timeout is
    /// on progress, piece by piece, not on the whole answer: a slow reader of
    /// a large FETCH is served, a reader that stopped is not.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut out = std::mem::take(&mut self.out);
        if let Some(z) = self.deflate.as_mut() {
            let mut wire = Vec::with_capacity(out.len() / 2 + 64);
            z.deflater
                .compress(&out, &mut wire)
                .map_err(std::io::Error::other)?;
            out = wire;
        }
        let mut r = Ok(());
        for piece in out.chunks(WRITE_PIECE) {
            r = self.write_within(piece).await;
            if r.is_err() {
                break;
            }
        }
        if r.is_ok() {
            r = self.write_within(&[]).await;
        }
        self.out = out;
        self.out.clear();
        self.trim();
        r
    }

    /// Writes `piece` (and for TLS flushes it) within the write timeout; an
    /// empty piece only flushes.
    async fn write_within(&mut self, piece: &[u8]) -> std::io::Result<()> {
        let write = async {
            match &mut self.conn {
                Conn::Plain(s) => s.write_all(piece).await,
                Conn::Tls(s) => match s.write_all(piece).await {
                    Ok(()) if piece.is_empty() => s.flush().await,
                    r => r,
                },
                Conn::Gone => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "closed",
                )),
            }
        };
        match self.clock.timeout_real(self.write_timeout, write).await {
            Ok(r) => r,
            Err(_) => {
                // The client stopped reading: nothing more can reach it (not
                // even a BYE), so the connection is dropped here and now.
                self.conn = Conn::Gone;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client did not read within the write timeout",
                ))
            }
        }
    }

    /// Flushes once `limit` bytes are buffered: a long answer goes out in pieces
    /// and never sits whole in memory; a client that does not read stalls the
    /// answer here (backpressure) until the write timeout ends it.
    pub async fn flush_over(&mut self, limit: usize) -> std::io::Result<()> {
        if self.out.len() >= limit {
            self.flush().await
        } else {
            Ok(())
        }
    }

    pub async fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> Result<(), String> {
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err("TLS is already active".into());
        };
        self.discard_input();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let tls = self
            .clock
            .timeout_real(Duration::from_secs(30), acceptor.accept(tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        self.conn = Conn::Tls(Box::new(tls));
        Ok(())
    }

    /// Ends the connection: what is buffered goes out, then a FIN, then input
    /// is read and dropped for a moment (bounded in time and bytes). Closing a
    /// socket with unread input makes the kernel send RST, and an RST can
    /// destroy the BYE the client has not read yet: after a flood that is
    /// exactly the BYE that matters.
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let clock = self.clock.clone();
        // TLS's close_notify is a write too: bounded like every other.
        let close = async {
            match &mut self.conn {
                Conn::Plain(s) => {
                    let _ = s.shutdown().await;
                }
                Conn::Tls(s) => {
                    let _ = s.shutdown().await;
                }
                Conn::Gone => {}
            }
        };
        let _ = clock.timeout_real(self.write_timeout, close).await;
        // Into the read buffer, not a stack array: an array here would be part
        // of every connection task's future from its first byte on (idle
        // connections pay for their largest state).
        self.rbuf.clear();
        let linger = async {
            let mut dropped = 0usize;
            while dropped < LINGER_BYTES {
                match self.read_more().await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => dropped += n,
                }
                self.rbuf.clear();
            }
        };
        let _ = clock.timeout_real(LINGER, linger).await;
        self.conn = Conn::Gone;
    }
}

/// The bytes one write timeout covers: a client must take this much within
/// `write_timeout` (64 KiB in the default 60 s is about 1 KB/s, below any
/// live link). The kernel sets the real granularity: a full send buffer turns
/// writable again only once about a third of it has drained (Linux's
/// `sk_stream_min_wspace`), up to ~1.3 MB with a 4 MB autotuned buffer.
const WRITE_PIECE: usize = 64 * 1024;

/// How long, and how many bytes, a closing connection reads and drops.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// The most inflated bytes one read adds to the read buffer: the same order
/// as one plain read, so the line and literal limits are checked between
/// pieces exactly as they are on a plain connection.
const INFLATE_PIECE: usize = 16 * 1024;

/// Reads and inflates until at least one inflated byte is in `rbuf`; 0 when
/// the client closed. A stream that does not inflate is remembered (see
/// `Io::corrupt_input`) and reads as a close: the run loop answers BYE.
async fn inflate_more(
    z: &mut Deflate,
    conn: &mut Conn,
    rbuf: &mut Vec<u8>,
) -> Result<usize, ReadError> {
    if z.corrupt.is_some() {
        return Ok(0);
    }
    loop {
        if !z.raw.is_empty() {
            match z.inflater.inflate(&z.raw, rbuf, INFLATE_PIECE) {
                Ok((taken, produced)) => {
                    z.raw.drain(..taken);
                    if produced > 0 {
                        return Ok(produced);
                    }
                    if taken > 0 {
                        continue;
                    }
                }
                Err(e) => {
                    z.raw.clear();
                    z.corrupt = Some(e);
                    return Ok(0);
                }
            }
        }
        if z.raw.capacity() - z.raw.len() < 1024 {
            z.raw.reserve(4096);
        }
        let n = match conn {
            Conn::Plain(s) => s.read_buf(&mut z.raw).await,
            Conn::Tls(s) => s.read_buf(&mut z.raw).await,
            Conn::Gone => return Err(ReadError::Eof(Vec::new())),
        }
        .map_err(|e| ReadError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(0);
        }
    }
}
