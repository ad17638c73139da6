//! imaptest's scripted test files, run as scenarios.
//!
//! The format is Dovecot imaptest's (its `docs/scripted_test.md`): a header of
//! `key: value` lines (`capabilities`, `connections`, `state`, `messages`,
//! `ignore_extra_untagged`), an empty line, then commands, each with the
//! status it expects (`ok`, `no`, `bad`, `""` for any), optional connection
//! number and tag, and the untagged replies it expects (`* ...`) or bans
//! (`! ...`). Messages for `append` come from `<name>.mbox` beside the file
//! (or `default.mbox` in its folder). This module parses a script into a
//! [`Scenario`] whose steps the runner executes like any other, with every
//! check on; [`matcher`] decides whether a reply matches a script's pattern.
//!
//! Supported, and how: see `docs/imaptest-scripts.md`.

pub mod matcher;
pub mod parse;

use crate::wire::Piece;
use crate::wire::StatusKind;

pub use parse::load;

/// The state a script starts in (imaptest's `state:` header); each state
/// also does the work of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StartState {
    /// Connected, not logged in.
    NonAuth,
    /// Logged in; the test mailboxes deleted.
    Auth,
    /// The test mailbox created.
    Created,
    /// The fixture's messages appended to it.
    Appended,
    /// The test mailbox selected on every connection.
    Selected,
}

/// Commands sent together on one connection: one command, or a pipelined
/// group (imaptest's tagged form: `tag1 ...`, `tag2 ...`, then `tag1 ok`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// 1-based, as the script numbers connections.
    pub connection: usize,
    pub commands: Vec<ScriptCommand>,
    /// Untagged replies expected (or banned) while the group runs.
    pub untagged: Vec<Untagged>,
    /// `ignore_extra_untagged: no`: every untagged reply must be expected.
    pub no_extra: bool,
    /// Part of the start state (CREATE, APPEND, SELECT), not a script line:
    /// not a JUnit case of its own.
    pub setup: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCommand {
    pub line: u64,
    /// The command without tag; `$variables` are replaced when sent.
    pub pieces: Vec<Piece>,
    /// The status expected; `None` is imaptest's `""` (any).
    pub expect: Option<StatusKind>,
    /// What the completion's text must begin with (`ok [read-write]`), as a pattern.
    pub prefix: Option<String>,
    /// The line that states the status (the command's own, or a later one).
    pub status_line: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Untagged {
    pub line: u64,
    /// The pattern after `* ` or `! `, literals written as `{n}\r\n` + bytes.
    pub pattern: String,
    /// `! ...`: no reply may match.
    pub banned: bool,
}

impl ScriptCommand {
    /// The command as the script shows it (literals as `{n}`), for reports.
    pub fn shown(&self) -> String {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Literal(l) => s.push_str(&format!("{{{}}}", l.len())),
            }
        }
        s
    }
}
