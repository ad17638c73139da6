//! SMTP intake (RFC 5321) for local delivery into the reference server's mail store.
//!
//! This module owns the SMTP side of one accepted connection: the command
//! dialogue (EHLO/HELO, STARTTLS per RFC 3207, MAIL, RCPT, DATA, RSET, NOOP, VRFY,
//! QUIT), bounded line framing, DATA un-stuffing, the `Received:` trace header, and
//! mapping the store's answers ([`DeliveryError`]) to reply codes. It does not own
//! the store (that is behind [`Delivery`]) nor the listener (the caller accepts and
//! calls [`serve_connection`]).
//!
//! The peer is untrusted: every read is bounded in size ([`LINE_LIMIT`],
//! [`SmtpConfig::max_message`]) and in time ([`SmtpConfig::idle_timeout`], measured
//! per line so a client dripping one byte at a time cannot hold a session forever),
//! and nothing in here panics on network data.
//!
//! Time is taken from [`crate::clock::Clock`] (a real clock), following the crate
//! rule that protocol timers go through the one clock.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock::Clock;

/// Longest line accepted, terminator included: commands and DATA lines alike.
/// RFC 5321 4.5.3.1.6 allows 1000 for text lines; real clients exceed that, so the
/// bound is looser, but it is still a bound.
pub const LINE_LIMIT: usize = 4096;
/// Default for [`SmtpConfig::max_message`]: 32 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 32 * 1024 * 1024;
/// Default for [`SmtpConfig::idle_timeout`]: 5 minutes (RFC 5321 4.5.3.2.7 asks
/// servers to wait at least this long for a command).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most recipients in one transaction (RFC 5321 4.5.3.1.8 asks for at least 100).
pub const MAX_RECIPIENTS: usize = 100;

/// What the SMTP side needs from the mail store.
pub trait Delivery: Send + Sync + 'static {
    /// Is this a local user? (`local@anything` → user `local`; the whole address
    /// is also accepted as a user name if it matches.)
    fn user_exists(&self, user: &str) -> bool;
    /// Store one message for one user in INBOX. Must be durable before returning
    /// Ok (the caller then says 250).
    fn deliver(&self, user: &str, message: &[u8]) -> Result<(), DeliveryError>;
}

/// Why the store refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Over quota for now: the client should retry later (452).
    OverQuotaTemporary,
    /// Over quota for good: the client should bounce (552).
    OverQuotaPermanent,
    /// The store failed; the text is for the reply and logs (451).
    Io(String),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::OverQuotaTemporary => f.write_str("over quota (temporary)"),
            DeliveryError::OverQuotaPermanent => f.write_str("over quota (permanent)"),
            DeliveryError::Io(e) => write!(f, "store error: {e}"),
        }
    }
}

impl std::error::Error for DeliveryError {}

/// Settings for the SMTP intake.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Our name in the greeting, EHLO reply and `Received:` header.
    pub hostname: String,
    /// Offers STARTTLS when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest message accepted, in bytes as received (after un-stuffing).
    pub max_message: usize,
    /// Longest wait for one complete line (or one reply write, or the TLS handshake).
    pub idle_timeout: Duration,
}

impl SmtpConfig {
    /// A plain (no STARTTLS) config with the default limits.
    pub fn new(hostname: impl Into<String>) -> Self {
        SmtpConfig {
            hostname: hostname.into(),
            tls: None,
            max_message: DEFAULT_MAX_MESSAGE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    // rustls::ServerConfig's Debug is long and says nothing useful here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("hostname", &self.hostname)
            .field("tls", &self.tls.is_some())
            .field("max_message", &self.max_message)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/// Removes the transparency dot of one DATA line (RFC 5321 4.5.2): a line
/// starting with `.` that has other characters loses its first `.`. A lone `.`
/// that reaches here was not a terminator (it followed or ended with a bare LF,
/// see [`serve_connection`]) and is kept as written.
pub fn dot_unstuff(line: &[u8]) -> &[u8] {
    match line {
        [b'.', rest @ ..] if !rest.is_empty() => rest,
        _ => line,
    }
}

/// One line taken off the wire, terminator removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineItem {
    /// A line; `crlf` says whether it ended in CRLF (else a bare LF).
    Line { text: Vec<u8>, crlf: bool },
    /// A line longer than [`LINE_LIMIT`] that has now been read to its end and
    /// dropped; `crlf` as above.
    TooLong { crlf: bool },
}

/// Splits a byte stream into lines ending in CRLF or bare LF, holding at most
/// `limit` bytes of any one line. Sans-I/O so it can be tested directly.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    limit: usize,
    /// Dropping the rest of a too-long line until its LF.
    discarding: bool,
    /// Last byte dropped while discarding, to tell CRLF from LF when the CR and
    /// LF arrive in different reads.
    last_dropped: u8,
}

impl LineBuffer {
    pub fn new(limit: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            limit: limit.max(2),
            discarding: false,
            last_dropped: 0,
        }
    }

    /// Adds bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drops everything buffered (RFC 3207: plaintext pipelined after STARTTLS
    /// must not be read as if it came over TLS).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
        self.last_dropped = 0;
    }

    /// Whether bytes are waiting (a pipelined command, maybe incomplete).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next complete line, if one is buffered.
    pub fn take(&mut self) -> Option<LineItem> {
        let lf = memchr::memchr(b'\n', &self.buf);
        if self.discarding {
            return match lf {
                Some(i) => {
                    let crlf = if i > 0 {
                        self.buf[i - 1] == b'\r'
                    } else {
                        self.last_dropped == b'\r'
                    };
                    self.buf.drain(..=i);
                    self.discarding = false;
                    self.last_dropped = 0;
                    Some(LineItem::TooLong { crlf })
                }
                None => {
                    // Keep no part of the line: memory stays bounded however long it runs.
                    if let Some(&b) = self.buf.last() {
                        self.last_dropped = b;
                    }
                    self.buf.clear();
                    None
                }
            };
        }
        match lf {
            Some(i) if i < self.limit => {
                let crlf = i > 0 && self.buf[i - 1] == b'\r';
                let end = if crlf { i - 1 } else { i };
                let text = self.buf[..end].to_vec();
                self.buf.drain(..=i);
                Some(LineItem::Line { text, crlf })
            }
            Some(i) => {
                let crlf = self.buf[i - 1] == b'\r';
                self.buf.drain(..=i);
                Some(LineItem::TooLong { crlf })
            }
            None if self.buf.len() >= self.limit => {
                // Already over the limit even if the next byte is the LF: start
                // dropping now instead of buffering the rest.
                self.discarding = true;
                self.take()
            }
            None => None,
        }
    }
}

/// A parsed `MAIL FROM:` / `RCPT TO:` argument: the path inside `<>` and the
/// ESMTP parameters after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathArg {
    pub path: String,
    pub params: Vec<(String, Option<String>)>,
}

/// Parses `FROM:<path> [params]` (or `TO:...`, with `keyword` = "FROM"/"TO"),
/// case-insensitively, allowing the common non-standard space after the colon.
/// Returns None on a syntax error.
pub fn parse_path_arg(args: &str, keyword: &str) -> Option<PathArg> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('<')?;
    let close = rest.find('>')?;
    let mut path = &rest[..close];
    // RFC 5321 4.1.1.3: a source route (`@a,@b:user@c`) must be accepted and ignored.
    if path.starts_with('@') {
        path = &path[path.find(':')? + 1..];
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let after = &rest[close + 1..];
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    let params = after
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_string())),
            None => (p.to_ascii_uppercase(), None),
        })
        .collect();
    Some(PathArg {
        path: path.to_string(),
        params,
    })
}

/// The local user a recipient address names, if any. The whole address is tried
/// first because it is the more specific match; then the part before the last `@`.
pub fn resolve_user<D: Delivery + ?Sized>(delivery: &D, address: &str) -> Option<String> {
    if address.is_empty() {
        return None;
    }
    if delivery.user_exists(address) {
        return Some(address.to_string());
    }
    let (local, _domain) = address.rsplit_once('@')?;
    if !local.is_empty() && delivery.user_exists(local) {
        return Some(local.to_string());
    }
    None
}

/// Text from the peer made safe to echo in a header or reply: printable ASCII
/// only (no CR/LF injection), at most `max` characters.
fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// The `Received:` trace header (RFC 5321 4.4) put at the top of each message.
pub fn received_header(
    hostname: &str,
    helo: &str,
    peer: Option<SocketAddr>,
    protocol: &str,
    date: &str,
) -> Vec<u8> {
    let peer = peer.map_or_else(|| "unknown".to_string(), |a| format!("[{}]", a.ip()));
    format!(
        "Received: from {} ({})\r\n\tby {} (imapspec) with {};\r\n\t{}\r\n",
        sanitize(helo, 255),
        peer,
        hostname,
        protocol,
        date
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

/// The transport, before and after STARTTLS.
enum Conn {
    Plain(TcpStream),
    // Boxed: the TLS state is large and this enum is moved on upgrade.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.shutdown().await,
            Conn::Tls(s) => s.shutdown().await,
        }
    }
}

/// What waiting for the next line gave.
enum Input {
    Item(LineItem),
    Eof,
    Timeout,
    Shutdown,
}

/// How the command loop ended.
enum Outcome {
    /// Closed (QUIT, EOF, timeout or shutdown): the reply, if any, was sent.
    Closed,
    /// STARTTLS was accepted with 220: upgrade and start over.
    StartTls,
}

/// The mail transaction between MAIL and the DATA reply.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    /// Resolved local users, without duplicates (a user named twice gets one copy).
    users: Vec<String>,
    /// Accepted RCPT commands, duplicates included, for the 100 limit.
    rcpt_count: usize,
}

struct Session<'a, D: Delivery, S: Future<Output = ()> + Send> {
    config: Arc<SmtpConfig>,
    delivery: Arc<D>,
    clock: Clock,
    peer: Option<SocketAddr>,
    input: LineBuffer,
    /// Replies not yet written: flushed only when no complete command is buffered,
    /// so pipelined commands get their replies in one write (RFC 2920 3.1).
    out: Vec<u8>,
    shutdown: Pin<&'a mut S>,
    shutdown_done: bool,
    helo: Option<String>,
    esmtp: bool,
    tls_active: bool,
    tx: Transaction,
}

/// Serves one accepted connection until QUIT, error or `shutdown` resolves (then
/// 421 and close).
///
/// Errors are transport errors (a failed write or TLS handshake); a peer that
/// hangs up or misbehaves ends the session with `Ok(())`.
///
/// `shutdown` is watched while waiting for the client, never during a delivery:
/// a message the store has taken still gets its reply before the 421.
///
/// DATA ends only at `CRLF . CRLF`: a bare LF ends a line for every other
/// purpose (clients that send them exist), but `LF . LF`, `LF . CRLF` and
/// `CRLF . LF` never end DATA, so a message cannot smuggle a second transaction
/// past a relay that reads line ends differently. Bare LF line ends are stored
/// as CRLF, the form IMAP serves.
///
/// After DATA the message goes to every recipient in turn (each delivery is
/// durable on its own and cannot be taken back). The one reply is then:
/// - all delivered: `250 2.0.0 queued`;
/// - some delivered, some not: `250` too, because a 4xx or 5xx would make the
///   client resend or bounce the copies already stored; the copies that failed
///   are lost (this intake has no queue to bounce from);
/// - none delivered: `552 5.2.2` if every failure was permanent over-quota, else
///   `451 4.3.0` if any was a store error, else `452 4.2.2`.
pub async fn serve_connection<D: Delivery>(
    stream: TcpStream,
    config: Arc<SmtpConfig>,
    delivery: Arc<D>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let shutdown = std::pin::pin!(shutdown);
    let peer = stream.peer_addr().ok();
    let mut conn = Conn::Plain(stream);
    let mut session = Session {
        clock: Clock::real(),
        peer,
        input: LineBuffer::new(LINE_LIMIT),
        out: Vec::new(),
        shutdown,
        shutdown_done: false,
        helo: None,
        esmtp: false,
        tls_active: false,
        tx: Transaction::default(),
        config,
        delivery,
    };
    let greeting = format!("220 {} imapspec ESMTP ready", session.config.hostname);
    session.reply(&greeting);
    loop {
        match session.run(&mut conn).await? {
            Outcome::Closed => return Ok(()),
            Outcome::StartTls => {
                conn = match conn {
                    Conn::Plain(tcp) => session.handshake(tcp).await?,
                    // `run` only offers STARTTLS on a plain connection.
                    tls @ Conn::Tls(_) => tls,
                };
            }
        }
    }
}

impl<D: Delivery, S: Future<Output = ()> + Send> Session<'_, D, S> {
    fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Writes pending replies, bounded by the idle timeout (a peer that never
    /// reads must not hold the session forever).
    async fn flush(&mut self, conn: &mut Conn) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        match self
            .clock
            .timeout(self.config.idle_timeout, conn.write_all(&out))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "SMTP peer not reading replies",
            )),
        }
    }

    /// Sends the last reply and closes the write side. Errors are ignored: the
    /// session is over either way.
    async fn close(&mut self, conn: &mut Conn) {
        let _ = self.flush(conn).await;
        let _ = self
            .clock
            .timeout(Duration::from_secs(5), conn.shutdown())
            .await;
    }

    /// The next line, or why there is none. One complete line must arrive within
    /// the idle timeout.
    async fn next(&mut self, conn: &mut Conn) -> io::Result<Input> {
        if let Some(item) = self.input.take() {
            return Ok(Input::Item(item));
        }
        self.flush(conn).await?;
        let idle = self.config.idle_timeout;
        let deadline = self.clock.elapsed() + idle;
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_sub(self.clock.elapsed());
            if left.is_zero() {
                return Ok(Input::Timeout);
            }
            let read = self.clock.timeout(left, conn.read(&mut chunk));
            let got = if self.shutdown_done {
                // Never poll a finished shutdown future again.
                read.await
            } else {
                tokio::select! {
                    biased;
                    () = self.shutdown.as_mut() => {
                        self.shutdown_done = true;
                        return Ok(Input::Shutdown);
                    }
                    r = read => r,
                }
            };
            match got {
                Err(_) => return Ok(Input::Timeout),
                Ok(Ok(0)) => return Ok(Input::Eof),
                Ok(Ok(n)) => self.input.push(&chunk[..n.min(chunk.len())]),
                // A reset or TLS error from the peer ends the session like EOF.
                Ok(Err(_)) => return Ok(Input::Eof),
            }
            if let Some(item) = self.input.take() {
                return Ok(Input::Item(item));
            }
        }
    }

    /// Handles the end of input other than a line: 421 where the peer may still
    /// listen, then close.
    async fn end(&mut self, conn: &mut Conn, input: &Input) {
        match input {
            Input::Timeout => self.reply("421 4.4.2 timeout"),
            Input::Shutdown => self.reply("421 4.3.2 shutting down"),
            Input::Eof | Input::Item(_) => {}
        }
        self.close(conn).await;
    }

    async fn handshake(&mut self, tcp: TcpStream) -> io::Result<Conn> {
        let Some(tls) = self.config.tls.clone() else {
            return Err(io::Error::other("STARTTLS without a TLS config"));
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let stream = match self
            .clock
            .timeout(self.config.idle_timeout, acceptor.accept(tcp))
            .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "SMTP STARTTLS handshake timed out",
                ))
            }
        };
        // RFC 3207 4.2: forget everything learnt before TLS.
        self.helo = None;
        self.esmtp = false;
        self.tx = Transaction::default();
        self.tls_active = true;
        Ok(Conn::Tls(Box::new(stream)))
    }

    async fn run(&mut self, conn: &mut Conn) -> io::Result<Outcome> {
        loop {
            let input = self.next(conn).await?;
            let text = match input {
                Input::Item(LineItem::Line { text, .. }) => text,
                Input::Item(LineItem::TooLong { .. }) => {
                    self.reply("500 5.5.2 line too long");
                    continue;
                }
                other => {
                    self.end(conn, &other).await;
                    return Ok(Outcome::Closed);
                }
            };
            let Ok(line) = std::str::from_utf8(&text) else {
                self.reply("500 5.5.2 syntax error (not ASCII)");
                continue;
            };
            let (verb, args) = match line.split_once(' ') {
                Some((v, a)) => (v, a.trim()),
                None => (line.trim_end(), ""),
            };
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if args.is_empty() || args.contains(' ') => {
                    self.reply("501 5.5.4 syntax: EHLO domain");
                }
                "EHLO" => {
                    self.tx = Transaction::default();
                    self.helo = Some(args.to_string());
                    self.esmtp = true;
                    let mut lines = vec![
                        format!("{} greets {}", self.config.hostname, sanitize(args, 255)),
                        "PIPELINING".to_string(),
                        "8BITMIME".to_string(),
                        format!("SIZE {}", self.config.max_message),
                    ];
                    if self.config.tls.is_some() && !self.tls_active {
                        lines.push("STARTTLS".to_string());
                    }
                    lines.push("ENHANCEDSTATUSCODES".to_string());
                    let last = lines.len() - 1;
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i == last { ' ' } else { '-' };
                        self.reply(&format!("250{sep}{l}"));
                    }
                }
                "HELO" => {
                    self.tx = Transaction::default();
                    self.helo = Some(args.to_string());
                    self.esmtp = false;
                    let r = format!("250 {}", self.config.hostname);
                    self.reply(&r);
                }
                "STARTTLS" => {
                    if !args.is_empty() {
                        self.reply("501 5.5.4 syntax: STARTTLS");
                    } else if self.tls_active {
                        self.reply("503 5.5.1 TLS already active");
                    } else if self.config.tls.is_none() {
                        self.reply("502 5.5.1 STARTTLS not available");
                    } else {
                        self.reply("220 2.0.0 ready to start TLS");
                        self.flush(conn).await?;
                        // RFC 3207 4.2 / 6: bytes the client pipelined after
                        // STARTTLS arrived in plaintext and must not be obeyed.
                        self.input.clear();
                        return Ok(Outcome::StartTls);
                    }
                }
                "MAIL" => self.mail(args),
                "RCPT" => self.rcpt(args),
                "DATA" => {
                    if !args.is_empty() {
                        self.reply("501 5.5.4 syntax: DATA");
                    } else if self.tx.from.is_none() || self.tx.users.is_empty() {
                        self.reply("503 5.5.1 bad sequence of commands: need MAIL and RCPT");
                    } else {
                        self.reply("354 end data with <CR><LF>.<CR><LF>");
                        if !self.data(conn).await? {
                            return Ok(Outcome::Closed);
                        }
                    }
                }
                "RSET" => {
                    if args.is_empty() {
                        self.tx = Transaction::default();
                        self.reply("250 2.0.0 ok");
                    } else {
                        self.reply("501 5.5.4 syntax: RSET");
                    }
                }
                "NOOP" => self.reply("250 2.0.0 ok"),
                "VRFY" => {
                    if args.is_empty() {
                        self.reply("501 5.5.4 syntax: VRFY address");
                    } else {
                        // RFC 5321 3.5.3: 252 rather than reveal which users exist.
                        self.reply(
                            "252 2.5.0 cannot VRFY user, but will accept message and attempt delivery",
                        );
                    }
                }
                "QUIT" => {
                    let r = format!("221 2.0.0 {} closing", self.config.hostname);
                    self.reply(&r);
                    self.close(conn).await;
                    return Ok(Outcome::Closed);
                }
                _ => self.reply("500 5.5.1 command unrecognized"),
            }
        }
    }

    fn mail(&mut self, args: &str) {
        if self.helo.is_none() {
            return self.reply("503 5.5.1 bad sequence of commands: send EHLO first");
        }
        if self.tx.from.is_some() {
            return self.reply("503 5.5.1 bad sequence of commands: nested MAIL");
        }
        let Some(arg) = parse_path_arg(args, "FROM") else {
            return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        for (key, value) in &arg.params {
            if !self.esmtp {
                // Parameters are an ESMTP extension; HELO clients get none.
                return self.reply("555 5.5.4 parameters need EHLO");
            }
            match (key.as_str(), value.as_deref()) {
                ("SIZE", Some(v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                    // Too many digits to parse is certainly too big.
                    let size = v.parse::<u64>().unwrap_or(u64::MAX);
                    if size > self.config.max_message as u64 {
                        return self.reply("552 5.3.4 message too big");
                    }
                }
                ("BODY", Some(v))
                    if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
                _ => return self.reply("555 5.5.4 unsupported parameter"),
            }
        }
        self.tx.from = Some(arg.path);
        self.reply("250 2.1.0 ok");
    }

    fn rcpt(&mut self, args: &str) {
        if self.tx.from.is_none() {
            return self.reply("503 5.5.1 bad sequence of commands: need MAIL first");
        }
        let Some(arg) = parse_path_arg(args, "TO") else {
            return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
        };
        if !arg.params.is_empty() {
            return self.reply("555 5.5.4 unsupported parameter");
        }
        if self.tx.rcpt_count >= MAX_RECIPIENTS {
            return self.reply("452 4.5.3 too many recipients");
        }
        match resolve_user(self.delivery.as_ref(), &arg.path) {
            Some(user) => {
                self.tx.rcpt_count += 1;
                if !self.tx.users.contains(&user) {
                    self.tx.users.push(user);
                }
                self.reply("250 2.1.5 ok");
            }
            None => self.reply("550 5.1.1 no such user"),
        }
    }

    /// Reads the message after 354 and answers it. Returns false when the
    /// session closed meanwhile.
    async fn data(&mut self, conn: &mut Conn) -> io::Result<bool> {
        let helo = self.helo.clone().unwrap_or_default();
        let protocol = match (self.esmtp, self.tls_active) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        let date = chrono::Utc::now().to_rfc2822();
        let mut message = received_header(&self.config.hostname, &helo, self.peer, protocol, &date);
        let max = self.config.max_message;
        let mut size = 0usize;
        let mut too_big = false;
        let mut too_long = false;
        // Whether the previous line ended in CRLF. The DATA command counts as
        // such whatever its ending, so an empty message (`.` straight away) ends.
        let mut prev_crlf = true;
        loop {
            let input = self.next(conn).await?;
            let (text, crlf) = match input {
                Input::Item(LineItem::Line { text, crlf }) => (text, crlf),
                Input::Item(LineItem::TooLong { crlf }) => {
                    too_long = true;
                    prev_crlf = crlf;
                    message = Vec::new();
                    continue;
                }
                other => {
                    self.end(conn, &other).await;
                    return Ok(false);
                }
            };
            if prev_crlf && crlf && text == b"." {
                break;
            }
            prev_crlf = crlf;
            let content = dot_unstuff(&text);
            size = size.saturating_add(content.len() + 2);
            if size > max {
                // Keep reading to the end (RFC 5321 4.5.3.1.10), but not keeping.
                too_big = true;
                message = Vec::new();
            }
            if !too_big && !too_long {
                message.extend_from_slice(content);
                message.extend_from_slice(b"\r\n");
            }
        }
        let users = std::mem::take(&mut self.tx.users);
        self.tx = Transaction::default();
        if too_long {
            self.reply("500 5.5.2 line too long");
        } else if too_big {
            self.reply("552 5.3.4 message too big");
        } else {
            let reply = self.deliver(users, message).await;
            self.reply(&reply);
        }
        Ok(true)
    }

    /// Delivers to each user off the async threads (the store may fsync) and
    /// turns the results into one reply; see [`serve_connection`] for the rule.
    async fn deliver(&self, users: Vec<String>, message: Vec<u8>) -> String {
        let delivery = Arc::clone(&self.delivery);
        let count = users.len();
        let results = tokio::task::spawn_blocking(move || {
            users
                .iter()
                .map(|u| delivery.deliver(u, &message))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| vec![Err(DeliveryError::Io(format!("store panicked: {e}"))); count]);
        reply_for(&results)
    }
}

/// The DATA reply for per-recipient delivery results (rule on [`serve_connection`]).
pub fn reply_for(results: &[Result<(), DeliveryError>]) -> String {
    let delivered = results.iter().filter(|r| r.is_ok()).count();
    if delivered == results.len() {
        return "250 2.0.0 queued".to_string();
    }
    if delivered > 0 {
        return format!(
            "250 2.0.0 queued for {delivered} of {} recipients",
            results.len()
        );
    }
    let errors = results.iter().filter_map(|r| r.as_ref().err());
    if errors
        .clone()
        .all(|e| *e == DeliveryError::OverQuotaPermanent)
    {
        return "552 5.2.2 mailbox full".to_string();
    }
    let io = errors.clone().find_map(|e| match e {
        DeliveryError::Io(text) => Some(text),
        _ => None,
    });
    match io {
        Some(text) => format!("451 4.3.0 local delivery failed: {}", sanitize_text(text)),
        None => "452 4.2.2 mailbox full, try again later".to_string(),
    }
}

/// Store error text for a reply line: spaces kept, no control characters.
fn sanitize_text(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: usize) -> Vec<LineItem> {
        let mut b = LineBuffer::new(limit);
        let mut out = Vec::new();
        // Feed one byte at a time: line ends must be found across reads.
        for &byte in input {
            b.push(&[byte]);
            while let Some(item) = b.take() {
                out.push(item);
            }
        }
        out
    }

    fn line(text: &str, crlf: bool) -> LineItem {
        LineItem::Line {
            text: text.as_bytes().to_vec(),
            crlf,
        }
    }

    #[test]
    fn unstuffs_only_a_leading_dot_with_text_after_it() {
        assert_eq!(dot_unstuff(b"..x"), b".x");
        assert_eq!(dot_unstuff(b".x"), b"x");
        assert_eq!(dot_unstuff(b".."), b".");
        assert_eq!(dot_unstuff(b"."), b".");
        assert_eq!(dot_unstuff(b"x."), b"x.");
        assert_eq!(dot_unstuff(b""), b"");
    }

    #[test]
    fn splits_crlf_and_bare_lf_lines() {
        assert_eq!(
            lines(b"a\r\nb\nc\r\r\n\r\n", 100),
            vec![
                line("a", true),
                line("b", false),
                line("c\r", true),
                line("", true)
            ]
        );
    }

    #[test]
    fn limit_counts_the_terminator() {
        // 4 bytes + CRLF = 6 > 5; 3 + CRLF = 5 fits.
        assert_eq!(lines(b"abc\r\n", 5), vec![line("abc", true)]);
        assert_eq!(
            lines(b"abcd\r\nok\r\n", 5),
            vec![LineItem::TooLong { crlf: true }, line("ok", true)]
        );
        let mut b = LineBuffer::new(5);
        b.push(b"abcd\r\nok\n");
        assert_eq!(b.take(), Some(LineItem::TooLong { crlf: true }));
        assert_eq!(b.take(), Some(line("ok", false)));
    }

    #[test]
    fn overlong_line_is_dropped_without_buffering_it() {
        let mut b = LineBuffer::new(8);
        b.push(&[b'x'; 100]);
        assert_eq!(b.take(), None);
        assert!(b.is_empty());
        b.push(b"yy\r");
        assert_eq!(b.take(), None);
        b.push(b"\nnext\n");
        assert_eq!(b.take(), Some(LineItem::TooLong { crlf: true }));
        assert_eq!(b.take(), Some(line("next", false)));
    }

    #[test]
    fn parses_paths_and_params() {
        assert_eq!(
            parse_path_arg("FROM:<a@b> SIZE=12 BODY=8BITMIME", "FROM"),
            Some(PathArg {
                path: "a@b".into(),
                params: vec![
                    ("SIZE".into(), Some("12".into())),
                    ("BODY".into(), Some("8BITMIME".into()))
                ]
            })
        );
        assert_eq!(
            parse_path_arg("from: <>", "FROM").map(|p| p.path),
            Some(String::new())
        );
        assert_eq!(
            parse_path_arg("TO:<@relay,@r2:u@x>", "TO").map(|p| p.path),
            Some("u@x".into())
        );
        assert_eq!(parse_path_arg("TO:u@x", "TO"), None);
        assert_eq!(parse_path_arg("TO:<u@x>junk", "TO"), None);
        assert_eq!(parse_path_arg("TO:<u x>", "TO"), None);
        assert_eq!(parse_path_arg("FROM:<a>", "TO"), None);
        assert_eq!(parse_path_arg("T", "TO"), None);
        // Multi-byte text must not split a char.
        assert_eq!(parse_path_arg("é:<a>", "TO"), None);
    }

    struct Users(&'static [&'static str]);
    impl Delivery for Users {
        fn user_exists(&self, user: &str) -> bool {
            self.0.contains(&user)
        }
        fn deliver(&self, _: &str, _: &[u8]) -> Result<(), DeliveryError> {
            Ok(())
        }
    }

    #[test]
    fn resolves_whole_address_then_local_part() {
        let d = Users(&["alice", "bob@example.org"]);
        assert_eq!(resolve_user(&d, "alice@x.y").as_deref(), Some("alice"));
        assert_eq!(
            resolve_user(&d, "bob@example.org").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(resolve_user(&d, "bob@other.org"), None);
        assert_eq!(resolve_user(&d, "alice").as_deref(), Some("alice"));
        assert_eq!(resolve_user(&d, "@x"), None);
        assert_eq!(resolve_user(&d, ""), None);
    }

    #[test]
    fn reply_rule_for_mixed_results() {
        use DeliveryError::*;
        assert_eq!(reply_for(&[Ok(())]), "250 2.0.0 queued");
        assert!(reply_for(&[Ok(()), Err(OverQuotaTemporary)]).starts_with("250 2.0.0"));
        assert_eq!(
            reply_for(&[Err(OverQuotaPermanent), Err(OverQuotaPermanent)]),
            "552 5.2.2 mailbox full"
        );
        assert_eq!(
            reply_for(&[Err(OverQuotaPermanent), Err(OverQuotaTemporary)]),
            "452 4.2.2 mailbox full, try again later"
        );
        assert!(
            reply_for(&[Err(OverQuotaTemporary), Err(Io("disk\r\nfull".into()))])
                .starts_with("451 4.3.0 local delivery failed: disk??full")
        );
    }

    #[test]
    fn received_header_cannot_be_injected() {
        let h = received_header("mx", "evil\r\nX-Bad: 1", None, "ESMTP", "date");
        let h = String::from_utf8(h).unwrap_or_default();
        assert!(h.starts_with("Received: from evil??X-Bad:?1 (unknown)\r\n\tby mx"));
        assert!(h.ends_with("\r\n\tdate\r\n"));
    }
}
