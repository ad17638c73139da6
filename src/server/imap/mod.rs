//! The IMAP side of the reference server: one task per connection (no thread per
//! connection), a small `Session` state machine per task.
//!
//! `serve_connection` reads whole commands (lines plus literals, answering `+` for
//! synchronising literals), decodes them with imap-codec's strict `CommandCodec`,
//! and hands them to `Session::handle`. A malformed command gets `BAD` with a
//! reason and the connection goes on. IDLE, STARTTLS and AUTHENTICATE, which
//! change how the next bytes are read, are driven from here.

pub mod admission;
mod cmd;
mod fetch;
pub mod io;
pub mod names;
mod searchres;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imap_codec::decode::Decoder;
use imap_codec::CommandCodec;

use self::admission::{Admission, Permit, Refusal};
use self::io::{Conn, Io, ReadError};
use self::session::{Outcome, Session};
use super::faults::Faults;
use super::store::Store;
use crate::clock::Clock;
use crate::wire::framing::{Cut, Framer};

/// Every bound the server keeps against its clients, in one place: a hostile
/// client gets a clear BAD/NO/BYE, never unbounded memory, time or connections.
/// `imapspec serve` sets each from a flag; the defaults are what a production
/// server would run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// One command line (without its literals). 64 KiB: far above any real
    /// client's longest line (a UID set of thousands of ranges), the same bound
    /// the harness keeps.
    pub max_line: usize,
    /// One literal. 64 MiB: the largest message APPEND accepts; mail systems
    /// cap messages far lower (Postfix 10 MB, Gmail 25 MB).
    pub max_literal: usize,
    /// One whole command, its lines and all its literals together. 64 MiB +
    /// 64 KiB: one maximal APPEND and its command line, and no more — many
    /// literals in one command cannot add up past what one message may be.
    pub max_command: usize,
    /// Literal bytes held by all connections together while their commands are
    /// read and handled. 1 GiB: sixteen maximal APPENDs at once; beyond, a
    /// literal is refused (`NO [UNAVAILABLE]`, retry later) instead of letting
    /// one user's 200 connections hold 200 × 64 MiB.
    pub max_literals_in_flight: usize,
    /// All literal bytes one connection may send before it has logged in.
    /// 4 KiB: before login only LOGIN takes literals (a user name and a
    /// password); AUTHENTICATE sends its response on continuation lines.
    pub max_prelogin_literals: usize,
    /// A connection that has not logged in within this (virtual) time gets BYE.
    /// 60 s: enough for a person typing into telnet, short enough that idle
    /// unauthenticated sockets cannot pile up. RFC 3501 5.4's 30-minute floor
    /// concerns the autologout of sessions; RFC 9051 5.4 makes it explicit:
    /// "If a server has an inactivity autologout timer that applies to sessions
    /// after authentication, the duration of that timer MUST be at least 30
    /// minutes", and "this specification doesn't have any restrictions on an
    /// autologout timer used before successful client authentication". The
    /// deadline runs from connect: commands before login do not put it off.
    pub prelogin_timeout: Duration,
    /// A write that makes no progress for this long ends the connection: each
    /// 64 KiB piece of output must be taken within it (real time, even on a
    /// compressed clock: it protects against a peer that does not read, and a
    /// busy test machine must not trip it). 60 s: a reading client on any
    /// link takes 64 KiB far faster; a slow one is served, however long the
    /// whole answer takes.
    pub write_timeout: Duration,
    /// Output buffered per connection before it is written out (FETCH streams
    /// in pieces of this size, whatever the items asked for). 256 KiB.
    pub output_buffer: usize,
    /// Simultaneous IMAP connections, all clients together; beyond it a new
    /// connection gets `* BYE [UNAVAILABLE]` and is closed. 10,000: the load
    /// this server is built to hold (DESIGN: 10,000 idle IDLEs in 200 MB), well
    /// inside the 20,000 open files these machines allow.
    pub max_connections: usize,
    /// Simultaneous IMAP connections from one IP address. 1,000: a tenth of the
    /// global cap, so one host cannot take the server from everyone else, while
    /// an office behind one NAT address still fits. Load tests from loopback
    /// with more clients raise it.
    pub max_connections_per_ip: usize,
    /// Simultaneous logins of one user; beyond it LOGIN gets `NO [LIMIT]`.
    pub max_connections_per_user: usize,
    /// Longest mailbox name (bytes, as sent). 1,000: deeper than any real
    /// folder tree, and a name is echoed in LIST and STATUS answers.
    pub max_mailbox_name: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_command: 64 * 1024 * 1024 + 64 * 1024,
            max_literals_in_flight: 1024 * 1024 * 1024,
            max_prelogin_literals: 4 * 1024,
            prelogin_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            output_buffer: 256 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            max_connections_per_user: 200,
            max_mailbox_name: 1_000,
        }
    }
}

/// What every connection shares.
pub struct ServerCtx {
    pub store: Arc<Store>,
    pub faults: Faults,
    pub clock: Clock,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Inactivity autologout (RFC 3501 5.4: at least 30 minutes).
    pub autologout: Duration,
    /// How often an idling client gets `* OK Still here`.
    pub keepalive: Duration,
    pub limits: ServerLimits,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// See `Config::personal_namespace`.
    pub personal_namespace: Option<String>,
    /// The global and per-IP connection caps (IMAP and IMAPS together).
    pub admission: Arc<Admission>,
    /// Literal bytes held now by commands being read or handled.
    literals_in_flight: AtomicUsize,
    next_session: AtomicU64,
    logins: Mutex<HashMap<String, usize>>,
}

impl ServerCtx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<Store>,
        faults: Faults,
        clock: Clock,
        tls: Option<Arc<rustls::ServerConfig>>,
        autologout: Duration,
        keepalive: Duration,
        limits: ServerLimits,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        ServerCtx {
            store,
            faults,
            clock,
            tls,
            autologout,
            keepalive,
            admission: Admission::new(limits.max_connections, limits.max_connections_per_ip),
            limits,
            shutdown,
            personal_namespace: None,
            literals_in_flight: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            logins: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a login; false when the user has too many connections.
    fn login(&self, user: &str) -> bool {
        let mut l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        let n = l.entry(user.to_string()).or_insert(0);
        if *n >= self.limits.max_connections_per_user {
            return false;
        }
        *n += 1;
        true
    }

    fn logout(&self, user: &str) {
        let mut l = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = l.get_mut(user) {
            *n = n.saturating_sub(1);
        }
    }

    /// The hierarchy delimiter LIST and NAMESPACE report: the last character
    /// of a personal namespace prefix (`INBOX.` → `.`), else `/`.
    pub fn delimiter(&self) -> char {
        self.personal_namespace
            .as_deref()
            .and_then(|p| p.chars().last())
            .filter(|c| !c.is_alphanumeric())
            .unwrap_or('/')
    }

    /// The inactivity timer in force (a fault may shorten it).
    fn inactivity(&self) -> Duration {
        self.faults.autologout().unwrap_or(self.autologout)
    }
}

/// iOS Mail sends `(CHANGEDSINCE 0)`, which RFC 7162's grammar refuses
/// (`chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value`, a positive
/// number) and imap-codec with it; Dovecot and Cyrus answer it as "every
/// message". The line is given to the parser as `CHANGEDSINCE 1`, which
/// means the same here: every message's mod-sequence is at least 2 (a
/// mailbox's counter starts at 1 and each arrival takes the next).
fn changedsince_zero(bytes: &[u8]) -> Option<Vec<u8>> {
    const NEEDLE: &[u8] = b"CHANGEDSINCE 0";
    let line_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    let line = &bytes[..line_end];
    let at = line
        .windows(NEEDLE.len())
        .position(|w| w.eq_ignore_ascii_case(NEEDLE))?;
    let after = line.get(at + NEEDLE.len()).copied();
    if !matches!(after, Some(b')') | Some(b' ')) {
        return None;
    }
    let mut v = bytes.to_vec();
    v[at + NEEDLE.len() - 1] = b'1';
    Some(v)
}

/// Serves one accepted connection until LOGOUT, autologout, an error or shutdown.
/// `admitted` is the connection's place under the connection caps; a refused
/// connection gets its `* BYE [UNAVAILABLE]` instead of a greeting.
pub async fn serve_connection(
    tcp: tokio::net::TcpStream,
    ctx: Arc<ServerCtx>,
    implicit_tls: bool,
    admitted: Result<Permit, Refusal>,
) {
    let _ = tcp.set_nodelay(true);
    let mut io = Io::new(
        Conn::Plain(tcp),
        ctx.clock.clone(),
        ctx.limits.write_timeout,
    );
    if implicit_tls {
        let Some(tls) = ctx.tls.clone() else { return };
        if io.start_tls(tls).await.is_err() {
            return;
        }
    }
    let _permit = match admitted {
        Ok(p) => p,
        Err(refusal) => {
            io.write(&refusal.bye());
            io.shutdown().await;
            return;
        }
    };
    let id = ctx.next_session.fetch_add(1, Ordering::Relaxed);
    let mut session = Session::new(id, Arc::clone(&ctx));
    session.greet(&mut io);
    if io.flush().await.is_err() {
        return;
    }
    run(&mut session, &mut io).await;
    if let Some(why) = io.corrupt_input() {
        // Compressed like every response after COMPRESS: the server's own
        // stream is intact, only the client's is not.
        let bye = format!("* BYE Closing: {why}\r\n");
        io.write(&bye);
    }
    if let Some(user) = session.user() {
        ctx.logout(user);
    }
    io.shutdown().await;
}

async fn run(session: &mut Session, io: &mut Io) {
    let ctx = Arc::clone(&session.ctx);
    let mut shutdown = ctx.shutdown.clone();
    let login_deadline = ctx.clock.elapsed() + ctx.limits.prelogin_timeout;
    // Literal bytes this connection may still send before it logs in.
    let mut prelogin_literals = ctx.limits.max_prelogin_literals;
    loop {
        let authed = session.user().is_some();
        let bounds = if authed {
            Bounds {
                wait: ctx.inactivity(),
                literals_left: usize::MAX,
                command_max: ctx.limits.max_command,
                one_deadline: false,
            }
        } else {
            Bounds {
                wait: login_deadline
                    .saturating_sub(ctx.clock.elapsed())
                    .min(ctx.inactivity()),
                literals_left: prelogin_literals,
                // Before login a command is one line and its small literals:
                // many empty literals cannot make it large either.
                command_max: ctx.limits.max_line + ctx.limits.max_prelogin_literals,
                one_deadline: true,
            }
        };
        let read = tokio::select! {
            r = read_command(io, &ctx, &bounds) => r,
            _ = shutdown.changed() => {
                io.write("* BYE Server shutting down\r\n");
                return;
            }
        };
        let bytes = match read {
            Ok(b) => b,
            Err(CommandError::Timeout) if !authed && bounds.wait < ctx.inactivity() => {
                io.write(&format!(
                    "* BYE Not logged in within {}; closing\r\n",
                    crate::source::human_duration(ctx.limits.prelogin_timeout)
                ));
                return;
            }
            Err(CommandError::Timeout) => {
                io.write(&format!(
                    "* BYE Autologout; idle for more than {}\r\n",
                    crate::source::human_duration(bounds.wait)
                ));
                return;
            }
            Err(CommandError::Closed) => return,
            Err(CommandError::CutInLiteral(partial)) => {
                session.client_cut_append(&partial);
                return;
            }
            Err(CommandError::Refused(reply)) => {
                io.write(&reply);
                if io.flush().await.is_err() {
                    return;
                }
                continue;
            }
            Err(CommandError::Fatal(bye)) => {
                io.write(&bye);
                return;
            }
        };
        if !authed {
            prelogin_literals = prelogin_literals.saturating_sub(bytes.literal_bytes);
        }
        // `held` keeps the literals' share of the server-wide budget until the
        // command has been handled (the decoded command borrows the bytes).
        let CommandBytes {
            bytes, _held: held, ..
        } = bytes;
        let repaired = changedsince_zero(&bytes);
        let input: &[u8] = repaired.as_deref().unwrap_or(&bytes);
        // ESEARCH's RETURN options and SEARCHRES's `$` (`searchres`).
        let prepared = session.prepare_searchres(input, ctx.limits.max_command);
        let input: &[u8] = match &prepared {
            searchres::Prepared::Plain => input,
            searchres::Prepared::Rewritten(r) => {
                session.search_return = r.returns.clone();
                &r.bytes
            }
            searchres::Prepared::Answered(reply) => {
                io.write(reply);
                if io.flush().await.is_err() {
                    return;
                }
                continue;
            }
        };
        let outcome = match CommandCodec::default().decode(input) {
            Ok((_, command)) => {
                match names::check_command(&command.body, ctx.limits.max_mailbox_name) {
                    Ok(()) => session.handle(command, io).await,
                    Err(refused) => {
                        io.write(&format!("{} {}\r\n", command.tag.as_ref(), refused.0));
                        Outcome::Continue
                    }
                }
            }
            Err(_) => match crate::wire::extended::parse(&bytes) {
                Ok(Some((tag, command))) => {
                    session.handle_extended(&tag, command, &bytes, io);
                    Outcome::Continue
                }
                Ok(None) => {
                    let (tag, why) = bad_command(&bytes);
                    io.write(&format!("{tag} BAD {why}\r\n"));
                    Outcome::Continue
                }
                Err(malformed) => {
                    let (tag, _) = bad_command(&bytes);
                    io.write(&format!("{tag} BAD {}\r\n", malformed.0));
                    Outcome::Continue
                }
            },
        };
        // A RETURN not taken (the command was refused first) is not kept.
        session.search_return = None;
        drop(prepared);
        drop(held);
        drop(bytes);
        match outcome {
            Outcome::Continue => {}
            Outcome::StartTls => {
                if io.flush().await.is_err() {
                    return;
                }
                let Some(tls) = ctx.tls.clone() else { return };
                if io.start_tls(tls).await.is_err() {
                    return;
                }
                continue;
            }
            Outcome::Compress => {
                // The tagged OK goes out uncompressed; everything after it,
                // both ways, is DEFLATE (RFC 4978 3).
                if io.flush().await.is_err() {
                    return;
                }
                io.start_compress();
                continue;
            }
            Outcome::Idle(tag) => {
                if !session.idle(&tag, io).await {
                    return;
                }
            }
            Outcome::Authenticate {
                tag,
                mechanism,
                initial,
            } => {
                if !session.authenticate(&tag, mechanism, initial, io).await {
                    return;
                }
            }
            Outcome::Logout => return,
        }
        if io.flush().await.is_err() {
            return;
        }
    }
}

/// What one command may take, beyond the fixed limits.
struct Bounds {
    /// Virtual time the command may take to arrive.
    wait: Duration,
    /// Literal bytes still allowed (before login: what is left of the budget).
    literals_left: usize,
    /// Bytes of the whole command, lines and literals.
    command_max: usize,
    /// `wait` bounds the whole command, not each pause in it (before login:
    /// a client sending a byte a minute must not outlast the login deadline).
    one_deadline: bool,
}

/// One whole command as read.
struct CommandBytes<'a> {
    bytes: Vec<u8>,
    /// The literals' share of `max_literals_in_flight`, given back on drop.
    _held: Held<'a>,
    /// How many of them were literal data.
    literal_bytes: usize,
}

enum CommandError {
    Timeout,
    Closed,
    /// The client disconnected inside a literal; what had arrived.
    CutInLiteral(Vec<u8>),
    /// Answer this and read the next command.
    Refused(String),
    /// Answer this BYE and close.
    Fatal(String),
}

/// Reads one whole command: its line and every literal it announces, within
/// the line, literal and whole-command limits. The framer is the harness's own
/// (`wire::framing`), gated: it stops at each literal announcement, so a
/// literal over a limit is refused before a byte of it is read, and `{n}` gets
/// its `+` before the client may send it.
async fn read_command<'a>(
    io: &mut Io,
    ctx: &'a ServerCtx,
    bounds: &Bounds,
) -> Result<CommandBytes<'a>, CommandError> {
    let limits = &ctx.limits;
    let framer_limits = crate::wire::Limits {
        max_line: limits.max_line,
        max_literal: limits.max_literal,
        // Refusals below keep the literals within `command_max`; the lines
        // between them may add up to one more line.
        max_message: bounds.command_max.saturating_add(limits.max_line),
        ..crate::wire::Limits::default()
    };
    let mut framer: Framer<()> = Framer::gated(framer_limits);
    let mut frames = Vec::with_capacity(1);
    let mut literal_bytes = 0usize;
    let mut literals = 0usize;
    let mut held = Held {
        pool: &ctx.literals_in_flight,
        n: 0,
    };
    let started = ctx.clock.elapsed();
    loop {
        let taken = framer.feed(io.buffered(), &(), &mut frames);
        io.consume(taken);
        if let Some(frame) = frames.pop() {
            return match frame.truncated {
                None => Ok(CommandBytes {
                    bytes: frame.bytes,
                    _held: held,
                    literal_bytes,
                }),
                Some(Cut::Line { max }) => Err(CommandError::Refused(format!(
                    "* BAD [TOOBIG] Line longer than {max} bytes\r\n"
                ))),
                Some(cut) => Err(CommandError::Refused(format!(
                    "* BAD [TOOBIG] Command refused: {cut}\r\n"
                ))),
            };
        }
        if let Some(literal) = framer.held_literal() {
            let n = usize::try_from(literal.len).unwrap_or(usize::MAX);
            let open = framer.open_bytes().len();
            match admit_literal(n, open, literal_bytes, bounds, limits, &mut held) {
                Ok(()) => {
                    framer.accept_literal();
                    literal_bytes += n;
                    literals += 1;
                    if literal.sync {
                        io.write("+ Ready for literal data\r\n");
                        if io.flush().await.is_err() {
                            return Err(CommandError::Closed);
                        }
                    }
                }
                Err((code, why)) => {
                    let tag = first_word(framer.open_bytes());
                    if literal.sync {
                        // RFC 3501 2.2.1: the server "sends a BAD completion
                        // response ... to reject the command and prevent the
                        // client from sending any more of the command"; RFC
                        // 9051 7.1's TOOBIG shows the same refusal as NO [TOOBIG].
                        framer.refuse_literal();
                        return Err(CommandError::Refused(format!(
                            "{tag} NO [{code}] {why}\r\n"
                        )));
                    }
                    // A non-synchronising literal is already on its way: we
                    // cannot skip it safely, so the connection ends (RFC 7888 4).
                    return Err(CommandError::Fatal(format!("* BYE [{code}] {why}\r\n")));
                }
            }
            continue;
        }
        // Before login the whole command shares one deadline; after it, the
        // wait is for the next bytes (inactivity).
        let wait = if bounds.one_deadline {
            bounds
                .wait
                .saturating_sub(ctx.clock.elapsed().saturating_sub(started))
        } else {
            bounds.wait
        };
        match io.fill_within(wait).await {
            Ok(0) | Err(ReadError::Eof(_)) => {
                let open = framer.finish().map(|f| f.bytes).unwrap_or_default();
                // Only a command that got as far as a literal was an APPEND
                // (or other upload) cut off; a half line is just a hang-up.
                return Err(if literals > 0 {
                    CommandError::CutInLiteral(open)
                } else {
                    CommandError::Closed
                });
            }
            Ok(_) => {}
            Err(ReadError::Timeout) if framer.is_idle() => return Err(CommandError::Timeout),
            Err(ReadError::Timeout) if framer.in_literal() => {
                return Err(CommandError::Fatal(
                    "* BYE Timed out waiting for literal data\r\n".into(),
                ))
            }
            Err(ReadError::Timeout) => {
                return Err(CommandError::Fatal(
                    "* BYE Timed out in the middle of a command\r\n".into(),
                ))
            }
            Err(_) => return Err(CommandError::Closed),
        }
    }
}

/// Whether a literal of `n` bytes announced after `open` bytes of a command
/// may come: within the literal, pre-login and command limits, and within the
/// server-wide budget (`held` takes its share). The refusal's response code
/// and text otherwise.
fn admit_literal(
    n: usize,
    open: usize,
    literal_bytes: usize,
    bounds: &Bounds,
    limits: &ServerLimits,
    held: &mut Held<'_>,
) -> Result<(), (&'static str, String)> {
    let over = if n > limits.max_literal {
        Some(format!(
            "Literal of {n} bytes is over the limit of {}",
            limits.max_literal
        ))
    } else if literal_bytes.saturating_add(n) > bounds.literals_left {
        Some(format!(
            "Literals before login are limited to {} bytes in all",
            limits.max_prelogin_literals
        ))
    } else if open.saturating_add(n) > bounds.command_max {
        Some(format!(
            "Command of more than {} bytes with its literals",
            bounds.command_max
        ))
    } else {
        None
    };
    if let Some(why) = over {
        return Err(("TOOBIG", why));
    }
    if !held.take(n, limits.max_literals_in_flight) {
        return Err((
            "UNAVAILABLE",
            "The server holds too much literal data now; try again later".to_string(),
        ));
    }
    Ok(())
}

/// A share of the server-wide literal budget; given back when dropped.
struct Held<'a> {
    pool: &'a AtomicUsize,
    n: usize,
}

impl Held<'_> {
    /// Takes `n` more bytes if the pool stays within `max`.
    fn take(&mut self, n: usize, max: usize) -> bool {
        let ok = self
            .pool
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok();
        if ok {
            self.n += n;
        }
        ok
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.pool.fetch_sub(self.n, Ordering::AcqRel);
    }
}

fn first_word(bytes: &[u8]) -> String {
    let line = crate::wire::decode::first_line(bytes);
    let w = line.split(' ').next().unwrap_or("*");
    if w.is_empty()
        || !w
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'(' && b != b'{')
    {
        "*".to_string()
    } else {
        w.to_string()
    }
}

/// The tag to answer a command that did not parse, and why it did not.
fn bad_command(bytes: &[u8]) -> (String, String) {
    let tag = first_word(bytes);
    let line = crate::wire::decode::first_line(bytes);
    let name = line.split(' ').nth(1).unwrap_or("").to_ascii_uppercase();
    let why = if name.is_empty() {
        "Missing command name".to_string()
    } else if !bytes.ends_with(b"\r\n") {
        "Command line must end with CRLF".to_string()
    } else {
        format!("Invalid syntax for {name} (RFC 3501 section 9)")
    };
    (tag, why)
}
