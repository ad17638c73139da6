//! `imapspec replay LOG --server URL`: replays the client side of a recorded
//! session against a server, with every check on, and reports what that server
//! did wrong.
//!
//! Each connection of the log becomes a live session; client messages are sent
//! in log order, each waiting for its completion (or the `+` of IDLE and of
//! synchronising literals) before the next. With `--user/--password`, the log's
//! LOGIN and AUTHENTICATE PLAIN are rewritten to those credentials.

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::event::{Event, EventKind};
use crate::runner::recorder::Recorder;
use crate::session::{Session, SessionError, SessionOptions};
use crate::wire::{ClientMessage, CommandKind, Limits};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recorded session (any format `imapspec check` reads).
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
    /// The server to replay against (imap://, imap://...?starttls, imaps://).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Log in as this user instead of the one in the log.
    #[arg(long, value_name = "NAME", requires = "password")]
    pub user: Option<String>,
    #[arg(long, value_name = "PASS", requires = "user")]
    pub password: Option<String>,
    /// Accept a self-signed TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Where to write the new transcript (default: next to the temp files).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

/// One client message to send, by connection.
struct Sent {
    session: String,
    bytes: Vec<u8>,
    kind: Option<CommandKind>,
    tag: Option<String>,
}

pub fn run(args: &ReplayArgs) -> Exit {
    let url = match args.server.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let mut plan: Vec<Sent> = Vec::new();
    let read = crate::transcript::read_file(&args.log, &Limits::default(), &mut |e: Event| {
        if let EventKind::Client {
            message,
            incomplete: false,
            ..
        } = &e.kind
        {
            let (kind, tag) = match message {
                ClientMessage::Command { tag, command, .. } => {
                    (Some(command.clone()), Some(tag.clone()))
                }
                _ => (None, None),
            };
            plan.push(Sent {
                session: e.session.to_string(),
                bytes: e.raw.clone(),
                kind,
                tag,
            });
        }
    });
    if let Err(e) = read {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    if plan.is_empty() {
        eprintln!(
            "error: {}: no client messages to replay",
            args.log.display()
        );
        return Exit::Usage;
    }
    let path = args.transcript.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("imapspec-replay-{}.transcript", std::process::id()))
    });
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    rt.block_on(async move {
        let file = match std::fs::File::create(&path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return Exit::Usage;
            }
        };
        let rec = match Recorder::new(Box::new(BufWriter::new(file)), &path.display().to_string()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        };
        let opts = SessionOptions {
            insecure: args.insecure,
            ..SessionOptions::default()
        };
        let mut sessions: HashMap<String, Session> = HashMap::new();
        let mut skip_auth_data: Option<String> = None;
        for sent in plan {
            if !sessions.contains_key(&sent.session) {
                match Session::connect(&url, &sent.session, &rec, &opts).await {
                    Ok(s) => {
                        sessions.insert(sent.session.clone(), s);
                    }
                    Err(e) => {
                        eprintln!("error: {e} (is the server running and the address right?)");
                        return Exit::Unreachable;
                    }
                }
            }
            let Some(s) = sessions.get_mut(&sent.session) else {
                continue;
            };
            if s.is_closed() {
                continue;
            }
            if skip_auth_data.as_deref() == Some(sent.session.as_str()) && sent.kind.is_none() {
                // The SASL line of a rewritten AUTHENTICATE: already replaced.
                skip_auth_data = None;
                continue;
            }
            let bytes = match (&sent.kind, &sent.tag, &args.user, &args.password) {
                (
                    Some(CommandKind::Login { .. } | CommandKind::Authenticate { .. }),
                    Some(tag),
                    Some(u),
                    Some(p),
                ) => {
                    if matches!(
                        sent.kind,
                        Some(CommandKind::Authenticate { user: None, .. })
                    ) {
                        skip_auth_data = Some(sent.session.clone());
                    }
                    format!(
                        "{tag} LOGIN {} {}\r\n",
                        crate::session::quoted(u),
                        crate::session::quoted(p)
                    )
                    .into_bytes()
                }
                _ => sent.bytes.clone(),
            };
            if let Err(e) = replay_one(s, &bytes, &sent).await {
                match e {
                    SessionError::Closed(_) => continue,
                    other => {
                        eprintln!("note: session {}: {other}", sent.session);
                        continue;
                    }
                }
            }
        }
        for (_, mut s) in sessions {
            if !s.is_closed() {
                let _ = s.close().await;
            }
        }
        let findings = {
            let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
            let _ = r.flush();
            r.checker.finish();
            std::mem::replace(&mut r.checker.findings, crate::checks::Findings::new(0))
        };
        let dropped = findings
            .dropped
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let result = crate::report::LogResult {
            status: crate::report::LogResult::status_of(&findings.list, &dropped),
            id: path.display().to_string(),
            format: Some(crate::transcript::Format::Generic),
            bytes: 0,
            lines: 0,
            events: 0,
            error: None,
            findings: findings.list,
            dropped,
        };
        super::outf!(
            "replayed {} against {url}; new transcript: {}\n",
            args.log.display(),
            path.display()
        );
        let results = [result];
        super::outf!("{}", crate::report::terminal::render(&results));
        if let Some(p) = &args.report_json {
            let json = crate::report::json::render("replay", &results);
            if let Err(e) = serde_json::to_vec_pretty(&json)
                .map_err(|e| e.to_string())
                .and_then(|b| std::fs::write(p, b).map_err(|e| e.to_string()))
            {
                eprintln!("error: cannot write {}: {e}", p.display());
                return Exit::Usage;
            }
        }
        if results[0].status == crate::report::Status::Failed {
            Exit::Failed
        } else {
            Exit::Ok
        }
    })
}

/// Sends one client message and waits for what the protocol says comes next.
async fn replay_one(s: &mut Session, bytes: &[u8], sent: &Sent) -> Result<(), SessionError> {
    // Synchronising literals: send up to each `{n}` line, wait for `+`.
    let mut rest = bytes;
    while let Some(end) = sync_literal_end(rest) {
        s.send_raw(&rest[..end]).await?;
        wait_continuation(s).await?;
        rest = &rest[end..];
    }
    s.send_raw(rest).await?;
    match (&sent.kind, &sent.tag) {
        (Some(CommandKind::Idle), Some(_)) => wait_continuation(s).await,
        (Some(CommandKind::Authenticate { user: None, .. }), Some(_)) => wait_continuation(s).await,
        (Some(_), Some(tag)) => s.read_until_tagged(tag).await.map(|_| ()),
        // DONE or SASL data: the completion of the command they belong to.
        _ => {
            let _ = s
                .next_event_within(std::time::Duration::from_millis(200))
                .await;
            Ok(())
        }
    }
}

async fn wait_continuation(s: &mut Session) -> Result<(), SessionError> {
    for _ in 0..10_000 {
        let e = s.next_event().await?;
        match &e.kind {
            EventKind::Server {
                message: crate::wire::ServerMessage::Continue { .. },
                ..
            } => return Ok(()),
            EventKind::Server {
                message: crate::wire::ServerMessage::Status { tag: Some(_), .. },
                ..
            } => return Ok(()),
            EventKind::Closed { .. } => {
                return Err(SessionError::Closed("while waiting for +".into()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The end (after CRLF) of the first line that announces a synchronising literal.
fn sync_literal_end(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(i) = memchr::memchr(b'\n', &bytes[start..]) {
        let end = start + i + 1;
        let line = &bytes[start..end];
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        if content.ends_with(b"}")
            && !content.ends_with(b"+}")
            && crate::wire::framing::literal_announcement(content).is_some()
        {
            return Some(end);
        }
        start = end;
    }
    None
}
