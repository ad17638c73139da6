//! The IMAP side of the reference server: one task per connection (no thread per
//! connection), a small `Session` state machine per task.
//!
//! `serve_connection` reads whole commands (lines plus literals, answering `+` for
//! synchronising literals), decodes them with imap-codec's strict `CommandCodec`,
//! and hands them to `Session::handle`. A malformed command gets `BAD` with a
//! reason and the connection goes on. IDLE, STARTTLS and AUTHENTICATE, which
//! change how the next bytes are read, are driven from here.

mod cmd;
mod fetch;
pub mod io;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imap_codec::decode::Decoder;
use imap_codec::CommandCodec;

use self::io::{Conn, Io, ReadError};
use self::session::{Outcome, Session};
use super::faults::Faults;
use super::store::Store;
use crate::clock::Clock;

/// Bounds the server keeps against its clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_line: usize,
    pub max_literal: usize,
    pub max_connections_per_user: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_connections_per_user: 200,
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
            limits,
            shutdown,
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

    /// The inactivity timer in force (a fault may shorten it).
    fn inactivity(&self) -> Duration {
        self.faults.autologout().unwrap_or(self.autologout)
    }
}

/// Serves one accepted connection until LOGOUT, autologout, an error or shutdown.
pub async fn serve_connection(tcp: tokio::net::TcpStream, ctx: Arc<ServerCtx>, implicit_tls: bool) {
    let _ = tcp.set_nodelay(true);
    let mut io = Io::new(Conn::Plain(tcp), ctx.clock.clone());
    if implicit_tls {
        let Some(tls) = ctx.tls.clone() else { return };
        if io.start_tls(tls).await.is_err() {
            return;
        }
    }
    let id = ctx.next_session.fetch_add(1, Ordering::Relaxed);
    let mut session = Session::new(id, Arc::clone(&ctx));
    session.greet(&mut io);
    if io.flush().await.is_err() {
        return;
    }
    run(&mut session, &mut io).await;
    if let Some(user) = session.user() {
        ctx.logout(user);
    }
    io.shutdown().await;
}

async fn run(session: &mut Session, io: &mut Io) {
    let ctx = Arc::clone(&session.ctx);
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let wait = ctx.inactivity();
        let read = tokio::select! {
            r = read_command(io, &ctx) => r,
            _ = shutdown.changed() => {
                io.write("* BYE Server shutting down\r\n");
                return;
            }
        };
        let bytes = match read {
            Ok(b) => b,
            Err(CommandError::Timeout) => {
                io.write(&format!(
                    "* BYE Autologout; idle for more than {}\r\n",
                    crate::source::human_duration(wait)
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
        let outcome = match CommandCodec::default().decode(&bytes) {
            Ok((_, command)) => session.handle(command, io).await,
            Err(_) => {
                let (tag, why) = bad_command(&bytes);
                io.write(&format!("{tag} BAD {why}\r\n"));
                Outcome::Continue
            }
        };
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
            Outcome::Idle(tag) => {
                if !session.idle(&tag, io).await {
                    return;
                }
            }
            Outcome::Authenticate { tag, initial } => {
                if !session.authenticate(&tag, initial, io).await {
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

/// Reads one whole command: its line and every literal it announces.
async fn read_command(io: &mut Io, ctx: &ServerCtx) -> Result<Vec<u8>, CommandError> {
    let wait = ctx.inactivity();
    let mut msg = Vec::new();
    loop {
        let line = match io.read_line_within(ctx.limits.max_line, wait).await {
            Ok(l) => l,
            Err(ReadError::Timeout) if msg.is_empty() => return Err(CommandError::Timeout),
            Err(ReadError::Timeout) => {
                return Err(CommandError::Fatal(
                    "* BYE Timed out in the middle of a command\r\n".into(),
                ))
            }
            Err(ReadError::TooLong) => {
                return Err(CommandError::Refused(format!(
                    "* BAD [TOOBIG] Line longer than {} bytes\r\n",
                    ctx.limits.max_line
                )))
            }
            Err(ReadError::Eof(partial)) if !msg.is_empty() => {
                msg.extend_from_slice(&partial);
                return Err(CommandError::CutInLiteral(msg));
            }
            Err(_) => return Err(CommandError::Closed),
        };
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let literal = literal_at_end(content);
        msg.extend_from_slice(&line);
        let Some((n, sync)) = literal else {
            return Ok(msg);
        };
        if n > ctx.limits.max_literal {
            let tag = first_word(&msg);
            if sync {
                return Err(CommandError::Refused(format!(
                    "{tag} NO [TOOBIG] Literal of {n} bytes is over the limit of {}\r\n",
                    ctx.limits.max_literal
                )));
            }
            // A non-synchronising literal is already on its way: we cannot skip
            // it safely, so the connection ends (RFC 7888 4).
            return Err(CommandError::Fatal(format!(
                "* BYE [TOOBIG] Literal of {n} bytes is over the limit of {}\r\n",
                ctx.limits.max_literal
            )));
        }
        if sync {
            io.write("+ Ready for literal data\r\n");
            if io.flush().await.is_err() {
                return Err(CommandError::Closed);
            }
        }
        match io.read_exact_within(n, wait).await {
            Ok(data) => msg.extend_from_slice(&data),
            Err(ReadError::Eof(partial)) => {
                msg.extend_from_slice(&partial);
                return Err(CommandError::CutInLiteral(msg));
            }
            Err(ReadError::Timeout) => {
                return Err(CommandError::Fatal(
                    "* BYE Timed out waiting for literal data\r\n".into(),
                ))
            }
            Err(_) => return Err(CommandError::Closed),
        }
    }
}

/// `{n}` (synchronising) or `{n+}` at the end of a line.
fn literal_at_end(content: &[u8]) -> Option<(usize, bool)> {
    let body = content.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let mut sync = true;
    if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, sync))
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
