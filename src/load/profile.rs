//! Load profiles: what each simulated user does, as a cycle of steps.
//!
//! A profile is imaptest's model, generalised: a user opens one connection per
//! mailbox it keeps open, and each connection goes round a cycle of steps, each
//! taken with its `chance` (percent) and repeated while a second roll stays
//! under `again`; a `logout` step ends the connection and the cycle starts over
//! with a fresh login. Between steps a connection waits `think`. With
//! `on-exists = "fetch-uid"` a connection answers every new EXISTS with
//! `FETCH n:* (UID FLAGS)`, as Outlook does.
//!
//! Built in: `outlook`, `outlook-express`, `thunderbird`, `ios`, `imaptest`
//! (imaptest's default stress cycle, for comparing the two tools on one server)
//! and `mixed` (users split between the personas). A user's own mix is a TOML
//! file (`--profile FILE`, see `docs/load-profiles.md`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// What one step sends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `LIST "" *`
    List,
    /// `STATUS mailbox (MESSAGES UNSEEN RECENT)`
    Status,
    /// `SELECT mailbox` (again).
    Select,
    /// `UID FETCH 1:* (FLAGS)`: a resync, as iOS and imaptest's UIDFETCH do.
    UidFetchAll,
    /// `FETCH n:m (UID FLAGS ENVELOPE ...)` over up to 100 messages.
    Fetch,
    /// `FETCH n (BODY.PEEK[])`: one whole message.
    FetchBody,
    /// `FETCH n (UID)`: what Outlook asks of a message it is told of.
    FetchUid,
    /// `UID SEARCH UNSEEN`
    Search,
    /// `COPY n:m mailbox` (into the same mailbox: always there).
    Copy,
    /// `STORE n:m +FLAGS (...)` or `-FLAGS`, never `\Deleted`.
    Store,
    /// `STORE n +FLAGS.SILENT (\Deleted)`
    Delete,
    /// `EXPUNGE`
    Expunge,
    /// `APPEND mailbox` of a 1 KB message (LITERAL+ where announced).
    Append,
    /// `NOOP`
    Noop,
    /// `CHECK`
    Check,
    /// `IDLE`, `DONE` after `idle` (the step's own time).
    Idle,
    /// `IDLE` and never `DONE`: the connection stays in IDLE to the end of
    /// the run (Outlook Express, seed 001).
    IdleForever,
    /// `LOGOUT`, then a new connection and login.
    Logout,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Status => "status",
            Action::Select => "select",
            Action::UidFetchAll => "uid-fetch-all",
            Action::Fetch => "fetch",
            Action::FetchBody => "fetch-body",
            Action::FetchUid => "fetch-uid",
            Action::Search => "search",
            Action::Copy => "copy",
            Action::Store => "store",
            Action::Delete => "delete",
            Action::Expunge => "expunge",
            Action::Append => "append",
            Action::Noop => "noop",
            Action::Check => "check",
            Action::Idle => "idle",
            Action::IdleForever => "idle-forever",
            Action::Logout => "logout",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    /// Percent chance the step is taken on a turn of the cycle.
    pub chance: u8,
    /// Percent chance, after it was taken, that it is taken again at once.
    pub again: u8,
    /// For `idle`: how long before DONE.
    pub idle: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    pub name: String,
    /// One connection per mailbox (INBOX is always there; others are created
    /// at the start when missing).
    pub mailboxes: Vec<String>,
    pub think: Duration,
    /// Answer each new EXISTS with `FETCH n:* (UID FLAGS)`.
    pub fetch_on_exists: bool,
    /// Keep the mailbox near this many messages, as imaptest does ("Try to
    /// keep around this many messages in mailbox (in expunge + append)",
    /// 30 by default): without it a load's APPENDs and COPYs grow the
    /// mailbox run after run, and the server is measured on an ever larger
    /// mailbox rather than on the mix.
    pub keep: Option<u64>,
    pub steps: Vec<Step>,
}

impl Persona {
    /// Whether a step of `action` is taken when the session knows of
    /// `exists` messages: with `keep` set, mail is added (APPEND, COPY) only
    /// below it and marked deleted only above half of it.
    pub fn allows(&self, action: Action, exists: u64) -> bool {
        match (self.keep, action) {
            (Some(k), Action::Append | Action::Copy) => exists < k,
            (Some(k), Action::Delete) => exists > k / 2,
            _ => true,
        }
    }
}

/// A profile: personas and the share of users each gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub personas: Vec<(Persona, u32)>,
}

impl Profile {
    /// The persona of user `i`: shares assigned round the users in a fixed
    /// pattern, so any run of users gets the shares as closely as it can.
    pub fn persona_of(&self, i: usize) -> &Persona {
        let total: u32 = self.personas.iter().map(|p| p.1).sum::<u32>().max(1);
        let slot = (i as u64 * 7919 % u64::from(total)) as u32;
        let mut acc = 0;
        for (p, share) in &self.personas {
            acc += share;
            if slot < acc {
                return p;
            }
        }
        &self.personas[0].0
    }
}

fn step(action: Action, chance: u8, again: u8) -> Step {
    Step {
        action,
        chance,
        again,
        idle: Duration::ZERO,
    }
}

fn idle(chance: u8, d: Duration) -> Step {
    Step {
        idle: d,
        ..step(Action::Idle, chance, 0)
    }
}

fn persona(
    name: &str,
    mailboxes: &[&str],
    think_ms: u64,
    fetch: bool,
    steps: Vec<Step>,
) -> Persona {
    Persona {
        name: name.into(),
        mailboxes: mailboxes.iter().map(|m| m.to_string()).collect(),
        think: Duration::from_millis(think_ms),
        fetch_on_exists: fetch,
        keep: None,
        steps,
    }
}

/// The personas, as the field reports and client logs show them.
fn outlook() -> Persona {
    // Seed 000: NOOP polls, `FETCH n (UID)` after each EXISTS, one connection
    // per open folder; deletes with STORE \Deleted + EXPUNGE.
    persona(
        "outlook",
        &["INBOX", "Sent Items", "Drafts"],
        0,
        true,
        vec![
            step(Action::Noop, 100, 0),
            step(Action::FetchUid, 30, 0),
            step(Action::Store, 10, 0),
            step(Action::Delete, 5, 0),
            step(Action::Expunge, 5, 0),
            step(Action::Append, 5, 0),
        ],
    )
}

fn outlook_express() -> Persona {
    // Seed 001: SELECT, a few FETCHes, then IDLE with no DONE, ever.
    persona(
        "outlook-express",
        &["INBOX"],
        0,
        false,
        vec![
            step(Action::Fetch, 100, 0),
            step(Action::IdleForever, 100, 0),
        ],
    )
}

fn thunderbird() -> Persona {
    // Five connections; IDLE renewed (compressed here to seconds), header
    // fetches, flag changes, moves to Trash as COPY + delete + EXPUNGE.
    persona(
        "thunderbird",
        &["INBOX", "Sent", "Drafts", "Trash", "Archives"],
        0,
        false,
        vec![
            idle(60, Duration::from_millis(200)),
            step(Action::Fetch, 40, 0),
            step(Action::Store, 20, 0),
            step(Action::Copy, 5, 0),
            step(Action::Delete, 5, 0),
            step(Action::Expunge, 5, 0),
            step(Action::Noop, 10, 0),
        ],
    )
}

fn ios() -> Persona {
    // iOS Mail: resync (UID FETCH 1:* FLAGS) on each wake, a body fetch,
    // short IDLEs, the odd APPEND to Sent.
    persona(
        "ios",
        &["INBOX", "Sent"],
        0,
        false,
        vec![
            step(Action::Select, 30, 0),
            step(Action::UidFetchAll, 30, 0),
            step(Action::FetchBody, 20, 30),
            idle(30, Duration::from_millis(100)),
            step(Action::Append, 5, 0),
            step(Action::Noop, 15, 0),
        ],
    )
}

/// imaptest's default cycle (its `docs/states.md`: LIST 50, STATUS 50,
/// SELECT 100, FETCH 100, FETCH2 100,30, COPY 33,5, STORE 50, DELETE 100,
/// EXPUNGE 100, APPEND 100,5, LOGOUT 100; LOGIN 100 is the reconnect).
fn imaptest() -> Persona {
    let p = persona(
        "imaptest",
        &["INBOX"],
        0,
        false,
        vec![
            step(Action::List, 50, 0),
            step(Action::Status, 50, 0),
            step(Action::Select, 100, 0),
            step(Action::Fetch, 100, 0),
            step(Action::FetchBody, 100, 30),
            step(Action::Copy, 33, 5),
            step(Action::Store, 50, 0),
            step(Action::Delete, 100, 0),
            step(Action::Expunge, 100, 0),
            step(Action::Append, 100, 5),
            step(Action::Logout, 100, 0),
        ],
    );
    // imaptest's MESSAGE_COUNT_THRESHOLD.
    Persona {
        keep: Some(30),
        ..p
    }
}

pub const BUILT_IN: &[&str] = &[
    "outlook",
    "outlook-express",
    "thunderbird",
    "ios",
    "imaptest",
    "mixed",
];

/// A built-in profile by name.
pub fn built_in(name: &str) -> Option<Profile> {
    let one = |p: Persona| Profile {
        name: name.to_string(),
        personas: vec![(p, 1)],
    };
    Some(match name {
        "outlook" => one(outlook()),
        "outlook-express" => one(outlook_express()),
        "thunderbird" => one(thunderbird()),
        "ios" => one(ios()),
        "imaptest" => one(imaptest()),
        "mixed" => Profile {
            name: name.into(),
            personas: vec![
                (outlook(), 40),
                (thunderbird(), 30),
                (ios(), 20),
                (outlook_express(), 10),
            ],
        },
        _ => return None,
    })
}

/// A profile file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileProfile {
    name: String,
    #[serde(default = "inbox")]
    mailboxes: Vec<String>,
    #[serde(default)]
    think: Option<String>,
    #[serde(default)]
    on_exists: Option<String>,
    #[serde(default)]
    keep: Option<u64>,
    step: Vec<FileStep>,
}

fn inbox() -> Vec<String> {
    vec!["INBOX".into()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileStep {
    #[serde(rename = "do")]
    action: Action,
    #[serde(default = "hundred")]
    chance: u8,
    #[serde(default)]
    again: u8,
    #[serde(default)]
    idle: Option<String>,
}

fn hundred() -> u8 {
    100
}

/// `--profile NAME|FILE`: a built-in name, or a TOML file.
pub fn load(spec: &str) -> Result<Profile, String> {
    if let Some(p) = built_in(spec) {
        return Ok(p);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(format!(
            "--profile {spec}: neither a built-in profile ({}) nor a file",
            BUILT_IN.join(", ")
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text).map_err(|(line, m)| match line {
        Some(l) => format!("{}:{l}: {m}", path.display()),
        None => format!("{}: {m}", path.display()),
    })
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::source::parse_duration(s)
}

/// A profile file's text.
pub fn parse(text: &str) -> Result<Profile, (Option<u64>, String)> {
    let f: FileProfile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
        (line, format!("not a valid profile: {}", e.message()))
    })?;
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i as u64 + 1)
    };
    if f.step.is_empty() {
        return Err((None, "a profile needs at least one [[step]]".into()));
    }
    if f.mailboxes.is_empty() || f.mailboxes.len() > 20 {
        return Err((line_of("mailboxes"), "mailboxes: 1 to 20 names".into()));
    }
    let think = match &f.think {
        Some(t) => duration(t).map_err(|e| (line_of("think"), format!("think: {e}")))?,
        None => Duration::ZERO,
    };
    let fetch_on_exists = match f.on_exists.as_deref() {
        None | Some("none") => false,
        Some("fetch-uid") => true,
        Some(other) => {
            return Err((
                line_of("on-exists"),
                format!("on-exists = \"{other}\": \"fetch-uid\" or \"none\""),
            ))
        }
    };
    if f.keep == Some(0) {
        return Err((
            line_of("keep"),
            "keep: a number of messages above 0 (leave it out to let the mailbox grow)".into(),
        ));
    }
    let mut steps = Vec::new();
    for s in &f.step {
        if s.chance > 100 || s.again > 99 {
            return Err((
                line_of(&format!("\"{}\"", s.action.name())),
                format!(
                    "{}: chance is 0..=100 and again 0..=99 (percent)",
                    s.action.name()
                ),
            ));
        }
        let idle = match (&s.idle, s.action) {
            (Some(d), Action::Idle) => {
                duration(d).map_err(|e| (line_of("idle ="), format!("idle: {e}")))?
            }
            (Some(_), _) => {
                return Err((
                    line_of("idle ="),
                    format!(
                        "`idle` is the time of an `idle` step, not of {}",
                        s.action.name()
                    ),
                ))
            }
            (None, Action::Idle) => Duration::from_secs(1),
            (None, _) => Duration::ZERO,
        };
        steps.push(Step {
            action: s.action,
            chance: s.chance,
            again: s.again,
            idle,
        });
    }
    Ok(Profile {
        name: f.name.clone(),
        personas: vec![(
            Persona {
                name: f.name,
                mailboxes: f.mailboxes,
                think,
                fetch_on_exists,
                keep: f.keep,
                steps,
            },
            1,
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_loads() {
        for n in BUILT_IN {
            let p = built_in(n).expect("built in");
            assert!(!p.personas.is_empty());
        }
    }

    #[test]
    fn mixed_shares_users_as_it_says() {
        let p = built_in("mixed").expect("mixed");
        let mut counts = std::collections::HashMap::new();
        for i in 0..1000 {
            *counts.entry(p.persona_of(i).name.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts["outlook"], 400);
        assert_eq!(counts["thunderbird"], 300);
        assert_eq!(counts["ios"], 200);
        assert_eq!(counts["outlook-express"], 100);
    }

    #[test]
    fn files_parse_and_errors_name_the_line() {
        let p = parse(
            "name = \"mine\"\nthink = \"10ms\"\non-exists = \"fetch-uid\"\n[[step]]\ndo = \"noop\"\n[[step]]\ndo = \"idle\"\nidle = \"2s\"\nchance = 50\n",
        )
        .expect("parses");
        let persona = &p.personas[0].0;
        assert!(persona.fetch_on_exists);
        assert_eq!(persona.steps[1].idle, Duration::from_secs(2));
        let (line, m) = parse("name = \"x\"\n[[step]]\ndo = \"dance\"\n").expect_err("bad");
        assert_eq!(line, Some(3), "{m}");
        let (line, m) =
            parse("name = \"x\"\n[[step]]\ndo = \"noop\"\nchance = 150\n").expect_err("bad");
        assert!(m.contains("chance"), "{m}");
        assert!(line.is_some());
        let (_, m) =
            parse("name = \"x\"\n[[step]]\ndo = \"noop\"\nidle = \"1s\"\n").expect_err("bad");
        assert!(m.contains("not of noop"), "{m}");
        let (line, m) =
            parse("name = \"x\"\nkeep = 0\n[[step]]\ndo = \"noop\"\n").expect_err("bad");
        assert_eq!(line, Some(2), "{m}");
    }

    #[test]
    fn keep_bounds_what_adds_and_deletes_mail() {
        let p = parse("name = \"x\"\nkeep = 30\n[[step]]\ndo = \"append\"\n").expect("parses");
        let persona = &p.personas[0].0;
        assert_eq!(persona.keep, Some(30));
        assert!(persona.allows(Action::Append, 29));
        assert!(!persona.allows(Action::Append, 30));
        assert!(!persona.allows(Action::Copy, 31));
        assert!(!persona.allows(Action::Delete, 15));
        assert!(persona.allows(Action::Delete, 16));
        assert!(persona.allows(Action::Fetch, 0));
        let free = parse("name = \"x\"\n[[step]]\ndo = \"append\"\n").expect("parses");
        assert!(free.personas[0].0.allows(Action::Append, 1_000_000));
        let imaptest = built_in("imaptest").expect("built in");
        assert_eq!(imaptest.personas[0].0.keep, Some(30));
    }
}
