//! Reads an imaptest script (and its `.mbox` fixture) into a [`Scenario`].
//!
//! Errors point at the script's `file:line`, like a TOML scenario's.

use std::path::{Path, PathBuf};

use super::{Group, ScriptCommand, StartState, Untagged};
use crate::scenario::{Action, Scenario, ScenarioError, Security, Step};
use crate::wire::Piece;
use crate::wire::StatusKind;

/// The mailbox imaptest tests in by default (its `box` setting); named in the
/// personal namespace, so a server whose NAMESPACE is `INBOX.` gets `INBOX.imaptest`.
pub const MAILBOX: &str = "$ns/imaptest";

/// Most connections a script may ask for.
const MAX_CONNECTIONS: usize = 32;
/// Most messages a script's state may append (`messages:`).
const MAX_MESSAGES: usize = 10_000;
/// Biggest script or fixture read (a script is a text file a person wrote).
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// IMAP command names: a first word that is not one, followed by one, is a
/// tag (imaptest's third form: `tag1 status ...`).
const VERBS: &[&str] = &[
    "append",
    "authenticate",
    "capability",
    "check",
    "close",
    "compress",
    "copy",
    "create",
    "delete",
    "done",
    "enable",
    "examine",
    "expunge",
    "fetch",
    "getacl",
    "getmetadata",
    "getquota",
    "getquotaroot",
    "id",
    "idle",
    "list",
    "login",
    "logout",
    "lsub",
    "move",
    "myrights",
    "namespace",
    "noop",
    "notify",
    "rename",
    "search",
    "select",
    "setacl",
    "setmetadata",
    "setquota",
    "sort",
    "starttls",
    "status",
    "store",
    "subscribe",
    "thread",
    "uid",
    "unselect",
    "unsubscribe",
];

/// Is `path` an imaptest script rather than a TOML scenario? Scripts have no
/// extension (imaptest's own are named `fetch`, `select`…) or `.imaptest`.
pub fn is_script(path: &Path) -> bool {
    match path.extension() {
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.')),
        Some(x) => x == "imaptest",
    }
}

struct Header {
    capabilities: Vec<String>,
    connections: usize,
    state: StartState,
    messages: Option<usize>,
    ignore_extra_untagged: bool,
}

type Parsed<T> = Result<T, (u64, String)>;

pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
    let err = |line: Option<u64>, message: String| ScenarioError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let text = read_text(file).map_err(|m| err(None, m))?;
    let lines = preprocess(&text).map_err(|(l, m)| err(Some(l), m))?;
    let (header, body_at) = header(&lines).map_err(|(l, m)| err(Some(l), m))?;
    let fixture = fixture_path(file);
    let mut mbox = Mbox::new(match &fixture {
        Some(p) => {
            let t = read_text(p).map_err(|m| err(None, format!("{}: {m}", p.display())))?;
            split_mbox(&t)
        }
        None => Vec::new(),
    });
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".imaptest").unwrap_or(&name).to_string();

    let mut steps = Vec::new();
    let step = |line: u64, action: Action| Step::new(line, action);
    steps.push(step(
        1,
        Action::ScriptVars {
            mailbox: MAILBOX.to_string(),
        },
    ));
    for c in 1..=header.connections {
        steps.push(step(
            1,
            Action::Open {
                session: c.to_string(),
                user: Some("u".into()),
                security: Security::Default,
                login: header.state >= StartState::Auth,
                auth_plain: false,
            },
        ));
    }
    let setup = |connection: usize, pieces: Vec<Piece>| Group {
        connection,
        commands: vec![ScriptCommand {
            line: 1,
            pieces,
            expect: Some(StatusKind::Ok),
            prefix: None,
            status_line: 1,
        }],
        untagged: Vec::new(),
        no_extra: false,
        setup: true,
    };
    if header.state >= StartState::Created {
        let g = setup(1, vec![Piece::Text("CREATE $mailbox".into())]);
        steps.push(step(1, Action::Script(g)));
    }
    if header.state >= StartState::Appended {
        let n = header.messages.unwrap_or(mbox.messages.len());
        if n > 0 && mbox.messages.is_empty() {
            return Err(err(
                None,
                format!(
                    "state `appended` needs messages, and there is no {name}.mbox or default.mbox beside the script"
                ),
            ));
        }
        for _ in 0..n.min(MAX_MESSAGES) {
            let m = mbox.next().unwrap_or_default();
            let g = setup(
                1,
                vec![Piece::Text("APPEND $mailbox ".into()), Piece::Literal(m)],
            );
            steps.push(step(1, Action::Script(g)));
        }
    }
    if header.state >= StartState::Selected {
        for c in 1..=header.connections {
            let g = setup(c, vec![Piece::Text("SELECT $mailbox".into())]);
            steps.push(step(1, Action::Script(g)));
        }
    }
    let groups = body(
        &lines[body_at..],
        body_at as u64 + 1,
        &header,
        &mut mbox,
        &name,
    )
    .map_err(|(l, m)| err(Some(l), m))?;
    for g in groups {
        let line = g.commands.first().map_or(1, |c| c.line);
        steps.push(step(line, Action::Script(g)));
    }
    Ok(Scenario {
        id: format!("imaptest/{name}"),
        title: format!("imaptest script {name}"),
        client: "imaptest script".into(),
        source: match &fixture {
            Some(f) => format!(
                "imaptest scripted test, messages from {}",
                f.file_name().unwrap_or_default().to_string_lossy()
            ),
            None => "imaptest scripted test".into(),
        },
        // Every check judges a script (`every_check`): it names none, and a
        // finding of any check during it is a failure of it.
        targets: Vec::new(),
        requires: header.capabilities,
        users: vec!["u".into()],
        quota: Vec::new(),
        full_wait: false,
        every_check: true,
        file: file.to_path_buf(),
        steps,
    })
}

fn read_text(p: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE {
        return Err(format!(
            "{} bytes: more than the {MAX_FILE} a script or fixture may have",
            meta.len()
        ));
    }
    let bytes = std::fs::read(p).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (byte {}): scripts and fixtures are read as text",
            e.utf8_error().valid_up_to()
        )
    })
}

/// `<name>.mbox` beside the script, else `default.mbox` in its folder.
fn fixture_path(file: &Path) -> Option<PathBuf> {
    let own = PathBuf::from(format!("{}.mbox", file.display()));
    let default = file.with_file_name("default.mbox");
    [own, default].into_iter().find(|p| p.is_file())
}

/// The script's lines with `!ifenv` blocks decided: a line left out becomes
/// a comment, so every line keeps its number.
fn preprocess(text: &str) -> Parsed<Vec<String>> {
    let mut out = Vec::new();
    // Per open block: (its line, taking lines now, the outer block took lines).
    let mut stack: Vec<(u64, bool, bool)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let n = i as u64 + 1;
        let taking = stack.last().is_none_or(|s| s.1);
        let word = line.split_whitespace().next().unwrap_or("");
        let arg = line.split_whitespace().nth(1);
        match word {
            "!ifenv" | "!ifnenv" => {
                let Some(var) = arg else {
                    return Err((n, format!("`{word}` needs an environment variable name")));
                };
                let set = std::env::var_os(var).is_some();
                stack.push((n, taking && (set == (word == "!ifenv")), taking));
                out.push(String::from("#"));
            }
            "!else" => {
                let Some(top) = stack.last_mut() else {
                    return Err((n, "`!else` without `!ifenv` or `!ifnenv`".into()));
                };
                top.1 = top.2 && !top.1;
                out.push(String::from("#"));
            }
            "!endif" => {
                if stack.pop().is_none() {
                    return Err((n, "`!endif` without `!ifenv` or `!ifnenv`".into()));
                }
                out.push(String::from("#"));
            }
            _ if taking => out.push(line.to_string()),
            _ => out.push(String::from("#")),
        }
    }
    if let Some((n, _, _)) = stack.last() {
        return Err((*n, "this block has no `!endif`".into()));
    }
    Ok(out)
}

/// The header's `key: value` lines, up to the first empty line; returns the
/// index where the commands begin.
fn header(lines: &[String]) -> Parsed<(Header, usize)> {
    let mut h = Header {
        capabilities: Vec::new(),
        connections: 1,
        state: StartState::Selected,
        messages: None,
        ignore_extra_untagged: true,
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let n = i as u64 + 1;
        if line.is_empty() {
            return Ok((h, i + 1));
        }
        if line.starts_with('#') {
            i += 1;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            // No header: the commands start here.
            return Ok((h, i));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.contains(char::is_whitespace) {
            return Ok((h, i));
        }
        let value = value.trim();
        match key.as_str() {
            "capabilities" => {
                h.capabilities = value.split_whitespace().map(str::to_string).collect()
            }
            "connections" => {
                h.connections = value
                    .parse()
                    .ok()
                    .filter(|c| (1..=MAX_CONNECTIONS).contains(c))
                    .ok_or((
                        n,
                        format!("`connections: {value}`: a number from 1 to {MAX_CONNECTIONS}"),
                    ))?
            }
            "messages" => {
                let m = if value.eq_ignore_ascii_case("all") {
                    None
                } else {
                    Some(
                        value
                            .parse()
                            .ok()
                            .filter(|m| *m <= MAX_MESSAGES)
                            .ok_or((
                                n,
                                format!(
                                    "`messages: {value}`: a number up to {MAX_MESSAGES}, or `all`"
                                ),
                            ))?,
                    )
                };
                h.messages = m;
            }
            "state" => {
                h.state = match value.to_ascii_lowercase().as_str() {
                    "nonauth" => StartState::NonAuth,
                    "auth" => StartState::Auth,
                    "created" => StartState::Created,
                    "appended" => StartState::Appended,
                    "selected" => StartState::Selected,
                    _ => {
                        return Err((
                            n,
                            format!(
                                "`state: {value}`: one of nonauth, auth, created, appended, selected"
                            ),
                        ))
                    }
                }
            }
            "ignore_extra_untagged" => {
                h.ignore_extra_untagged = match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err((n, format!("`ignore_extra_untagged: {value}`: yes or no"))),
                }
            }
            other => {
                return Err((
                    n,
                    format!(
                        "unknown header `{other}:` (imaptest's are capabilities, connections, messages, state, ignore_extra_untagged)"
                    ),
                ))
            }
        }
        i += 1;
    }
    Ok((h, lines.len()))
}

/// One logical line: its number and pieces (a `{{{ ... }}}` block is a literal).
struct Logical {
    line: u64,
    pieces: Vec<Piece>,
}

impl Logical {
    fn text(&self) -> String {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Literal(l) => {
                    s.push_str(&format!("{{{}}}\r\n", l.len()));
                    s.push_str(&String::from_utf8_lossy(l));
                }
            }
        }
        s
    }
}

/// Joins `{{{` … `}}}` blocks into their lines: the lines between, joined by
/// CRLF (no CRLF after the last), are one literal.
fn logical_lines(lines: &[String], first: u64) -> Parsed<Vec<Logical>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let n = first + i as u64;
        let mut pieces = Vec::new();
        let mut rest = lines[i].clone();
        i += 1;
        while let Some(open) = rest.find("{{{") {
            pieces.push(Piece::Text(rest[..open].to_string()));
            let mut body: Vec<String> = Vec::new();
            let tail = rest[open + 3..].to_string();
            if !tail.trim().is_empty() {
                body.push(tail);
            }
            loop {
                let Some(l) = lines.get(i) else {
                    return Err((n, "`{{{` without its `}}}`".into()));
                };
                i += 1;
                if let Some(close) = l.find("}}}") {
                    if close > 0 {
                        body.push(l[..close].to_string());
                    }
                    rest = l[close + 3..].to_string();
                    break;
                }
                body.push(l.clone());
            }
            pieces.push(Piece::Literal(body.join("\r\n").into_bytes()));
        }
        pieces.push(Piece::Text(rest));
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        out.push(Logical { line: n, pieces });
    }
    Ok(out)
}

fn status_word(w: &str) -> Option<Option<StatusKind>> {
    match w.to_ascii_lowercase().as_str() {
        "ok" => Some(Some(StatusKind::Ok)),
        "no" => Some(Some(StatusKind::No)),
        "bad" => Some(Some(StatusKind::Bad)),
        "\"\"" => Some(None),
        _ => None,
    }
}

/// Splits the first word off the pieces' text.
fn split_word(pieces: &[Piece]) -> (String, Vec<Piece>) {
    let mut rest = pieces.to_vec();
    let Some(Piece::Text(t)) = rest.first().cloned() else {
        return (String::new(), rest);
    };
    let t = t.trim_start();
    let (w, after) = t.split_once(' ').unwrap_or((t, ""));
    let w = w.to_string();
    if after.is_empty() {
        rest.remove(0);
    } else {
        rest[0] = Piece::Text(after.trim_start().to_string());
    }
    (w, rest)
}

fn trimmed(mut pieces: Vec<Piece>) -> Vec<Piece> {
    if let Some(Piece::Text(t)) = pieces.last_mut() {
        *t = t.trim_end().to_string();
    }
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    pieces
}

/// A command that waits for its status line: (its group, its tag label).
struct Pending {
    group: usize,
    command: usize,
    tag: Option<String>,
}

fn body(
    lines: &[String],
    first: u64,
    h: &Header,
    mbox: &mut Mbox,
    name: &str,
) -> Parsed<Vec<Group>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for l in logical_lines(lines, first)? {
        let text = l.text();
        let t = text.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let n = l.line;
        // `* reply` expected, `! reply` banned: for the last command.
        if let Some((banned, pattern)) = t
            .strip_prefix("* ")
            .map(|p| (false, p))
            .or_else(|| t.strip_prefix("! ").map(|p| (true, p)))
        {
            let Some(g) = groups.last_mut() else {
                return Err((n, "an untagged reply before any command".into()));
            };
            g.untagged.push(Untagged {
                line: n,
                pattern: pattern.trim().to_string(),
                banned,
            });
            continue;
        }
        let (mut word, mut pieces) = split_word(&l.pieces);
        let mut connection = 1;
        if let Ok(c) = word.parse::<usize>() {
            if !(1..=h.connections).contains(&c) {
                return Err((
                    n,
                    format!(
                        "connection {c}: the script has {} (`connections:`)",
                        h.connections
                    ),
                ));
            }
            connection = c;
            (word, pieces) = split_word(&pieces);
        } else if h.connections > 1 {
            return Err((
                n,
                format!(
                    "with {} connections, each command begins with its connection number",
                    h.connections
                ),
            ));
        }
        let rest_text = Logical {
            line: n,
            pieces: pieces.clone(),
        }
        .text();
        let next_word = rest_text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        let waiting = |tag: Option<&str>, pending: &[Pending]| {
            pending
                .iter()
                .position(|p| groups[p.group].connection == connection && p.tag.as_deref() == tag)
        };
        // The status of a command that waits for it (second and third forms).
        let status_for = if status_word(&word).is_some() {
            waiting(None, &pending).map(|i| (i, word.clone(), pieces.clone()))
        } else if status_word(&next_word).is_some() {
            waiting(Some(&word), &pending).map(|i| {
                let (w, p) = split_word(&pieces);
                (i, w, p)
            })
        } else {
            None
        };
        if let Some((i, w, p)) = status_for {
            let Pending { group, command, .. } = pending.remove(i);
            let c = &mut groups[group].commands[command];
            c.expect = status_word(&w).flatten();
            let prefix = Logical {
                line: n,
                pieces: trimmed(p),
            }
            .text();
            c.prefix = (!prefix.trim().is_empty()).then(|| prefix.trim().to_string());
            c.status_line = n;
            continue;
        }
        let lower = word.to_ascii_lowercase();
        let (expect, tag, pieces) = if let Some(st) = status_word(&word) {
            if pieces.is_empty() {
                return Err((
                    n,
                    format!("`{word}` with no command, and no command waits for a status"),
                ));
            }
            (Some(st), None, pieces)
        } else if !VERBS.contains(&lower.as_str())
            && VERBS.contains(&next_word.to_ascii_lowercase().as_str())
        {
            (None, Some(word.clone()), pieces)
        } else {
            // The second form: the whole line is the command.
            let mut p = vec![Piece::Text(format!("{word} "))];
            p.extend(pieces);
            (None, None, p)
        };
        let pieces = trimmed(pieces);
        let pieces = with_fixture(pieces, mbox, name).map_err(|m| (n, m))?;
        let command = ScriptCommand {
            line: n,
            pieces,
            expect: expect.flatten(),
            prefix: None,
            status_line: n,
        };
        // A tagged command joins the pipelined group still open on its connection.
        let open = tag.is_some()
            && groups.last().is_some_and(|g| g.connection == connection)
            && pending
                .iter()
                .any(|p| p.group + 1 == groups.len() && p.tag.is_some());
        if !open {
            groups.push(Group {
                connection,
                commands: Vec::new(),
                untagged: Vec::new(),
                no_extra: !h.ignore_extra_untagged,
                setup: false,
            });
        }
        let group = groups.len() - 1;
        groups[group].commands.push(command);
        if expect.is_none() {
            pending.push(Pending {
                group,
                command: groups[group].commands.len() - 1,
                tag,
            });
        }
    }
    if let Some(p) = pending.first() {
        let c = &groups[p.group].commands[p.command];
        return Err((
            c.line,
            format!(
                "no status line (`ok`, `no`, `bad` or `\"\"`{}) for this command",
                p.tag
                    .as_ref()
                    .map(|t| format!(" after `{t}`"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(groups)
}

/// `append` with no message of its own takes the fixture's next one, as a
/// literal at its end; a bare `append` goes to the test mailbox.
fn with_fixture(pieces: Vec<Piece>, mbox: &mut Mbox, name: &str) -> Result<Vec<Piece>, String> {
    let text = match pieces.as_slice() {
        [Piece::Text(t)] => t.clone(),
        _ => return Ok(pieces),
    };
    let mut words = text.split_whitespace();
    if !words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("append"))
        || text
            .to_ascii_lowercase()
            .split_whitespace()
            .any(|w| w == "catenate")
    {
        return Ok(pieces);
    }
    let command = if words.next().is_none() {
        "append $mailbox ".to_string()
    } else {
        format!("{text} ")
    };
    let message = mbox.next().ok_or_else(|| {
        format!("`append` without a message needs {name}.mbox or default.mbox beside the script")
    })?;
    Ok(vec![Piece::Text(command), Piece::Literal(message)])
}

/// An mbox file's messages, handed out in order and from the start again
/// when they run out (as imaptest does).
struct Mbox {
    messages: Vec<Vec<u8>>,
    next: usize,
}

impl Mbox {
    fn new(messages: Vec<Vec<u8>>) -> Self {
        Mbox { messages, next: 0 }
    }

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.messages.is_empty() {
            return None;
        }
        let m = self.messages[self.next % self.messages.len()].clone();
        self.next += 1;
        Some(m)
    }
}

/// The messages of an mbox: each starts after a `From ` line; lines end in
/// CRLF; the blank line before the next `From ` belongs to the separator;
/// `>From ` is unquoted (mboxrd).
fn split_mbox(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<&str>> = None;
    let finish = |m: Vec<&str>, out: &mut Vec<Vec<u8>>| {
        let mut m = m;
        if m.last().is_some_and(|l| l.is_empty()) {
            m.pop();
        }
        let mut bytes = Vec::new();
        for l in m {
            let l = if l.trim_start_matches('>').starts_with("From ") && l.starts_with('>') {
                &l[1..]
            } else {
                l
            };
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        out.push(bytes);
    };
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with("From ") {
            if let Some(m) = cur.take() {
                finish(m, &mut out);
            }
            cur = Some(Vec::new());
        } else if let Some(m) = cur.as_mut() {
            m.push(line);
        }
    }
    if let Some(m) = cur.take() {
        let mut m = m;
        // The text's own last newline.
        if m.last().is_some_and(|l| l.is_empty()) {
            m.pop();
        }
        finish(m, &mut out);
    }
    out
}
