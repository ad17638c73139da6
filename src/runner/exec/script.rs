//! Runs an imaptest script's command groups and judges their replies by the
//! script's own rules (the checks judge every byte as in any scenario).

use super::{unreachable, Run, Stop};
use crate::event::{Event, EventKind};
use crate::results::{CommandCase, Status};
use crate::scenario::imaptest::matcher::{expand, expand_with, structure, Matcher, Vars};
use crate::scenario::imaptest::Group;
use crate::scenario::pattern::Node;
use crate::scenario::{Action, Step};
use crate::session::Piece;
use crate::wire::{ServerMessage, StatusKind};

impl Run<'_> {
    /// `$mailbox`, `$user`, `$username`, `$domain`, `$password` (and the same
    /// with a connection number: `$user2`), from the account of the run.
    pub(super) fn script_vars(&mut self, mailbox: &str) -> Result<(), Stop> {
        let account = self
            .target
            .account(self.index, self.scenario, "u")
            .map_err(Stop::Error)?;
        let mailbox = crate::scenario::pattern::substitute(mailbox, &self.vars);
        let (username, domain) = account
            .user
            .split_once('@')
            .map_or((account.user.as_str(), ""), |(u, d)| (u, d));
        let mut bind = |k: &str, v: &str| {
            self.vars.insert(k.to_string(), v.to_string());
        };
        bind("mailbox", &mailbox);
        for suffix in [
            "".to_string(),
            "1".into(),
            "2".into(),
            "3".into(),
            "4".into(),
        ] {
            bind(&format!("user{suffix}"), &account.user);
            bind(&format!("username{suffix}"), username);
            bind(&format!("domain{suffix}"), domain);
            bind(&format!("password{suffix}"), &account.password);
        }
        Ok(())
    }

    /// Sends a group's commands (pipelined when there are several) and
    /// judges the completions and untagged replies.
    pub(super) async fn script_group(&mut self, step: &Step, g: &Group) -> Result<(), Stop> {
        let session = g.connection.to_string();
        let mut commands = Vec::with_capacity(g.commands.len());
        for c in &g.commands {
            let mut pieces = Vec::with_capacity(c.pieces.len());
            for p in &c.pieces {
                pieces.push(match p {
                    Piece::Text(t) => match expand_command(t, &self.vars) {
                        Ok(t) => Piece::Text(t),
                        Err(name) => {
                            self.fail(
                                step,
                                c.line,
                                format!("`${name}` has no value yet: a reply must bind it first"),
                            );
                            return Err(Stop::Failed);
                        }
                    },
                    literal => literal.clone(),
                });
            }
            commands.push(pieces);
        }
        // A SELECT or EXAMINE starts the message numbers afresh.
        let verb = |c: &Vec<Piece>| match c.first() {
            Some(Piece::Text(t)) => t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase(),
            _ => String::new(),
        };
        if commands
            .iter()
            .any(|c| matches!(verb(c).as_str(), "select" | "examine"))
        {
            self.script_exists.insert(session.clone(), 0);
        }
        let at_start = self.script_exists.get(&session).copied().unwrap_or(0);
        let result = self.session(&session, step.line)?.pipeline(&commands).await;
        let replies = match result {
            Ok(r) => r,
            Err(e) if g.setup => return Err(unreachable(e)),
            Err(e) => return self.session_error(step, &session, e),
        };
        for c in &g.commands {
            self.script_ran.insert(c.line);
        }
        let (untagged, now) = numbered(&replies.untagged, at_start);
        self.script_exists.insert(session.clone(), now);
        let mut vars = self.vars.clone();
        for (c, completion) in g.commands.iter().zip(&replies.completions) {
            let (status, text) = match &completion.kind {
                EventKind::Server {
                    message: ServerMessage::Status { kind, .. },
                    ..
                } => (*kind, &completion.raw),
                _ => continue,
            };
            if g.setup && status != StatusKind::Ok {
                return Err(Stop::Error(format!(
                    "the script's start state: `{}` answered `{}`",
                    c.shown(),
                    crate::finding::excerpt(text, 200)
                )));
            }
            if let Some(want) = c.expect {
                if status != want {
                    self.fail(
                        step,
                        c.status_line,
                        format!(
                            "`{}`: expected {}, got `{}`",
                            c.shown(),
                            want.as_str(),
                            crate::finding::excerpt(text, 200)
                        ),
                    );
                }
            }
            if let Some(prefix) = &c.prefix {
                // The completion's text: what follows the tag and the status.
                let got = structure(text);
                let rest = got.get(2..).unwrap_or(&[]);
                if !Matcher::new(None).prefix(&structure(prefix.as_bytes()), rest, &mut vars) {
                    self.fail(
                        step,
                        c.status_line,
                        format!(
                            "`{}`: the completion `{}` does not begin with `{prefix}`",
                            c.shown(),
                            crate::finding::excerpt(text, 200)
                        ),
                    );
                }
            }
        }
        let mut used = vec![false; untagged.len()];
        for u in g.untagged.iter().filter(|u| !u.banned) {
            let pattern = structure(u.pattern.as_bytes());
            let hit = untagged
                .iter()
                .enumerate()
                .find_map(|(i, (reply, origin))| {
                    (!used[i] && Matcher::new(*origin).top(&pattern, reply, &mut vars)).then_some(i)
                });
            match hit {
                Some(i) => used[i] = true,
                None => self.fail(
                    step,
                    u.line,
                    format!("no untagged reply matched `* {}`", shown(&u.pattern, &vars)),
                ),
            }
        }
        for u in g.untagged.iter().filter(|u| u.banned) {
            let pattern = structure(u.pattern.as_bytes());
            let hit = untagged.iter().position(|(reply, origin)| {
                Matcher::new(*origin).top(&pattern, reply, &mut vars.clone())
            });
            if let Some(i) = hit {
                let raw = untagged_raw(&replies.untagged, i);
                self.fail(
                    step,
                    u.line,
                    format!(
                        "`{}` matched `! {}`, which must not appear",
                        crate::finding::excerpt(raw, 200),
                        shown(&u.pattern, &vars)
                    ),
                );
            }
        }
        if g.no_extra {
            for (i, _) in used.iter().enumerate().filter(|(_, u)| !**u) {
                let raw = untagged_raw(&replies.untagged, i);
                let line = g.commands.first().map_or(step.line, |c| c.line);
                self.fail(
                    step,
                    line,
                    format!(
                        "`{}` is not in the script (ignore_extra_untagged: no)",
                        crate::finding::excerpt(raw, 200)
                    ),
                );
            }
        }
        self.vars = vars;
        Ok(())
    }
}

/// Each command of the script's groups as a JUnit case: failed when an
/// expectation of it did not hold (its status line, its prefix; the untagged
/// replies of its group count for every command of the group), skipped when
/// the script stopped before it.
pub(super) fn cases(
    steps: &[Step],
    failures: &[crate::results::Failure],
    ran: &std::collections::HashSet<u64>,
) -> Vec<CommandCase> {
    let mut out = Vec::new();
    for step in steps {
        let Action::Script(g) = &step.action else {
            continue;
        };
        if g.setup {
            continue;
        }
        let first = g.commands.first().map_or(0, |c| c.line);
        let shared: Vec<String> = failures
            .iter()
            .filter(|f| f.fails(false))
            .filter(|f| {
                g.untagged.iter().any(|u| u.line == f.line)
                    || (g.no_extra && f.line == first && g.commands.len() > 1)
            })
            .map(said)
            .collect();
        for c in &g.commands {
            let mut messages: Vec<String> = failures
                .iter()
                .filter(|f| f.fails(false) && (f.line == c.line || f.line == c.status_line))
                .map(said)
                .collect();
            messages.extend(shared.iter().cloned());
            let status = if !ran.contains(&c.line) {
                Status::Skipped
            } else if messages.is_empty() {
                Status::Passed
            } else {
                Status::Failed
            };
            out.push(CommandCase {
                line: c.line,
                command: c.shown(),
                status,
                messages,
            });
        }
    }
    out
}

/// A failure as a case shows it: where, and what.
fn said(f: &crate::results::Failure) -> String {
    format!("{}:{}: {}", f.file, f.line, f.message)
}

/// `$name` and `${name}` replaced by their values as a command carries them
/// (a string keeps its quotes), `$$` by `$`; `Err(name)` for one with none.
fn expand_command(text: &str, vars: &Vars) -> Result<String, String> {
    expand_with(text, vars, true).ok_or_else(|| unbound(text, vars))
}

/// The first variable in `text` with no value.
fn unbound(text: &str, vars: &Vars) -> String {
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(more) = after.strip_prefix('$') {
            rest = more;
            continue;
        }
        let name: String = match after.strip_prefix('{') {
            Some(b) => b.split('}').next().unwrap_or("").to_string(),
            None => after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        };
        if !name.is_empty() && !name.starts_with("case:") && !vars.contains_key(&name) {
            return name;
        }
        rest = after;
    }
    String::new()
}

/// A pattern as matched, variables with values shown by them.
fn shown(pattern: &str, vars: &Vars) -> String {
    let words: Vec<String> = pattern
        .split(' ')
        .map(|w| expand(w, vars).unwrap_or_else(|| w.to_string()))
        .collect();
    crate::finding::excerpt(words.join(" ").as_bytes(), 200)
}

/// The untagged replies (without their `*`), each with the message it
/// numbers as the command began (`$N`), and the message count after them.
/// An EXPUNGE takes its message out of the numbering; an EXISTS adds new ones.
/// An untagged reply without its `*`, and the message its number stood for
/// when the command began.
type Numbered = (Vec<Node>, Option<u32>);

fn numbered(events: &[Event], at_start: u32) -> (Vec<Numbered>, u32) {
    let mut origins: Vec<u32> = (1..=at_start).collect();
    let mut next_new = at_start + 1;
    let mut out = Vec::new();
    for e in events {
        if !e.raw.starts_with(b"* ") {
            continue;
        }
        let mut nodes = structure(&e.raw);
        nodes.remove(0);
        let number = match nodes.first() {
            Some(Node::Atom(a)) => std::str::from_utf8(a)
                .ok()
                .and_then(|s| s.parse::<u32>().ok()),
            _ => None,
        };
        let word = match nodes.get(1) {
            Some(Node::Atom(a)) => a.to_ascii_lowercase(),
            _ => Vec::new(),
        };
        let mut origin = None;
        if let Some(n) = number {
            let at = n as usize;
            match word.as_slice() {
                b"exists" => {
                    while origins.len() < at && origins.len() < 10_000_000 {
                        origins.push(next_new);
                        next_new += 1;
                    }
                }
                b"expunge" if at >= 1 && at <= origins.len() => {
                    origin = Some(origins.remove(at - 1));
                }
                _ if at >= 1 => origin = origins.get(at - 1).copied(),
                _ => {}
            }
        }
        out.push((nodes, origin));
    }
    (out, origins.len() as u32)
}

/// The bytes of the `i`th untagged reply (`*` lines only, as [`numbered`] counts).
fn untagged_raw(events: &[Event], i: usize) -> &[u8] {
    events
        .iter()
        .filter(|e| e.raw.starts_with(b"* "))
        .nth(i)
        .map_or(&b""[..], |e| &e.raw)
}
