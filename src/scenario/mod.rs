//! Scenario files: what a real client does, step by step, and what it expects.
//!
//! A scenario is a TOML file: metadata (id, title, the client it imitates, the
//! seed or RFC it comes from, required capabilities, logical users) and a
//! `script` in a small line language (see `docs/scenario-format.md`). This module
//! only parses; it knows nothing of sessions (the runner executes a `Scenario`).
//! Every step keeps its file line, so errors and failures point at `file:line`.

pub mod imaptest;
pub mod parse;
pub mod pattern;

use std::path::PathBuf;
use std::time::Duration;

pub use parse::{load, load_dir, ScenarioError};
pub use pattern::Pattern;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub client: String,
    pub source: String,
    /// Check ids this scenario is written to exercise (informational, validated).
    pub targets: Vec<String>,
    /// Capabilities the server must announce, or the scenario is skipped.
    pub requires: Vec<String>,
    /// Logical user names; the runner maps them to real accounts.
    pub users: Vec<String>,
    /// Storage quota per logical user (bytes), for embedded runs.
    pub quota: Vec<(String, u64)>,
    /// A verdict needs every wait in full (an autologout or IDLE timing scenario):
    /// under `--max-wait` caps it is inconclusive, not passed.
    pub full_wait: bool,
    /// Judged by every check, not only its targets (imaptest scripts name none).
    pub every_check: bool,
    pub file: PathBuf,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Default,
    Plain,
    StartTls,
    Tls,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Open {
        session: String,
        user: Option<String>,
        security: Security,
        login: bool,
        auth_plain: bool,
    },
    Command {
        session: String,
        text: String,
    },
    Raw {
        session: String,
        bytes: Vec<u8>,
        chunk: Option<usize>,
    },
    Idle {
        session: String,
    },
    /// APPEND of a generated message (synchronising literal, or LITERAL+).
    Append {
        session: String,
        mailbox: String,
        subject: String,
        nonsync: bool,
    },
    /// One APPEND of `count` generated messages (MULTIAPPEND, RFC 3502),
    /// synchronising literals; with `bad_last`, the last message carries a
    /// date-time that is not one (`31-Foo-2024`), so the command must fail
    /// and, RFC 3502, store none of them.
    MultiAppend {
        session: String,
        mailbox: String,
        subject: String,
        count: usize,
        bad_last: bool,
    },
    /// An APPEND whose literal is cut after half its bytes (the scenario then
    /// drops the connection): a LITERAL+ literal where the server announces
    /// it, else a synchronising literal, the half sent after the server's `+`.
    AppendCut {
        session: String,
        mailbox: String,
        subject: String,
    },
    /// STARTTLS with a command pipelined after it in the same write, then TLS.
    StartTlsInject {
        session: String,
    },
    Done {
        session: String,
    },
    WaitFor {
        session: String,
        pattern: Pattern,
        within: Duration,
    },
    Stay {
        session: String,
        time: Duration,
    },
    ExpectClose {
        session: String,
        within: Duration,
    },
    Drop {
        session: String,
    },
    Logout {
        session: String,
    },
    Wait(Duration),
    Deliver {
        user: String,
        count: u32,
        mailbox: Option<String>,
        size: usize,
        subject: Option<String>,
    },
    Smtp {
        user: String,
        count: u32,
        size: usize,
    },
    Repeat {
        count: u32,
        body: Vec<Step>,
    },
    /// imaptest scripts: bind `$mailbox`, `$user` and the rest before the
    /// first command.
    ScriptVars {
        mailbox: String,
    },
    /// imaptest scripts: commands sent together on one connection, their
    /// replies matched by the script's own rules ([`imaptest::matcher`]).
    Script(imaptest::Group),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Ok,
    No,
    Bad,
    Any,
}

/// The RFC 2119 keyword of an expectation: the same type as a check's level.
pub use crate::finding::Level as Keyword;

/// A keyword level and the RFC sentence it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Level {
    pub keyword: Keyword,
    /// "RFC 3501 6.3.11: ... SHOULD ..." as written in the scenario.
    pub quote: Option<String>,
    /// `with CAP`: the level holds only on a server that announces CAP (a
    /// trailing `*` matches a prefix: `QUOTA=RES-*`); elsewhere the server
    /// never claimed the rule and the expectation is a MAY.
    pub with_capability: Option<String>,
}

impl Level {
    /// The level in force on a server with these capabilities.
    pub fn on(&self, capabilities: &[String]) -> Keyword {
        match &self.with_capability {
            None => self.keyword,
            Some(want) => {
                let hit = capabilities.iter().any(|c| match want.strip_suffix('*') {
                    Some(prefix) => {
                        c.len() >= prefix.len() && c[..prefix.len()].eq_ignore_ascii_case(prefix)
                    }
                    None => c.eq_ignore_ascii_case(want),
                });
                if hit {
                    self.keyword
                } else {
                    Keyword::May
                }
            }
        }
    }
}

/// One pattern expectation (`must`, `must-not`, `capture`, `seen`) and its level.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub line: u64,
    pub pattern: Pattern,
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: u64,
    pub action: Action,
    pub expect: Expect,
    pub code: Option<String>,
    /// The level of the statement's own expectations: the tagged status and
    /// code, a `wait-for`, an `expect-close`.
    pub level: Level,
    pub must: Vec<Expectation>,
    pub must_not: Vec<Expectation>,
    pub capture: Vec<Expectation>,
    /// Patterns some response since the session's last SELECT/EXAMINE matches.
    pub seen: Vec<Expectation>,
    /// Expectation failures of this step are findings of this check.
    pub on_fail: Option<(String, String)>,
    /// For `smtp` steps: the reply class expected (2, 4 or 5).
    pub smtp_reply: Option<u8>,
}

impl Step {
    pub fn new(line: u64, action: Action) -> Self {
        Step {
            line,
            action,
            expect: Expect::Ok,
            code: None,
            level: Level::default(),
            must: Vec::new(),
            must_not: Vec::new(),
            capture: Vec::new(),
            seen: Vec::new(),
            on_fail: None,
            smtp_reply: None,
        }
    }
}
