//! Reading scenario files: TOML metadata plus the `script` line language.
//! Every error names `file:line` and says what was expected.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Action, Expect, Expectation, Keyword, Level, Pattern, Scenario, Security, Step};
use crate::server::faults::parse_duration;

#[derive(Debug)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Meta {
    id: String,
    title: String,
    client: String,
    source: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    quota: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    full_wait: bool,
    script: String,
}

/// Loads every `*.toml` under `dir`, sorted by path.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| ScenarioError {
            file: d.clone(),
            line: None,
            message: format!("cannot list folder: {e}"),
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml")
                || super::imaptest::parse::is_script(&p)
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files.iter().map(|f| load(f)).collect()
}

/// A scenario file: TOML, or an imaptest script (no extension, or `.imaptest`).
pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
    if super::imaptest::parse::is_script(file) {
        return super::imaptest::load(file);
    }
    let err = |line: Option<u64>, message: String| ScenarioError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err(None, format!("cannot read: {e}")))?;
    let meta: Meta = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
        err(line, format!("not a valid scenario: {}", e.message()))
    })?;
    for t in &meta.targets {
        if crate::checks::info(t).is_none() {
            let line = find_line(&text, t);
            return Err(err(
                line,
                format!("unknown check id `{t}` in targets (see `imapspec list`)"),
            ));
        }
    }
    // The script's first line: the line after `script = '''`.
    let start = text
        .lines()
        .position(|l| l.trim_start().starts_with("script"))
        .map(|i| i as u64 + 2)
        .unwrap_or(1);
    let lines: Vec<&str> = meta.script.lines().collect();
    let mut pos = 0;
    let steps = parse_block(&lines, &mut pos, start, &meta.users, false)
        .map_err(|(l, m)| err(Some(l), m))?;
    let scenario = Scenario {
        id: meta.id,
        title: meta.title,
        client: meta.client,
        source: meta.source,
        targets: meta.targets,
        requires: meta.requires,
        users: meta.users,
        quota: meta.quota.into_iter().collect(),
        full_wait: meta.full_wait,
        every_check: false,
        file: file.to_path_buf(),
        steps,
    };
    Ok(scenario)
}

fn find_line(text: &str, needle: &str) -> Option<u64> {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u64 + 1)
}

type ParseResult<T> = Result<T, (u64, String)>;

fn parse_block(
    lines: &[&str],
    pos: &mut usize,
    start: u64,
    users: &[String],
    in_repeat: bool,
) -> ParseResult<Vec<Step>> {
    let mut steps: Vec<Step> = Vec::new();
    // What a `level` line applies to: the last attribute read under the step.
    let mut last_attr: Option<&'static str> = None;
    while *pos < lines.len() {
        let raw = lines[*pos];
        let line_no = start + *pos as u64;
        *pos += 1;
        let content = strip_comment(raw);
        if content.trim().is_empty() {
            continue;
        }
        let indented = content.starts_with(' ') || content.starts_with('\t');
        let text = content.trim();
        if indented && !text.starts_with("repeat") && !text.starts_with("end") && is_attribute(text)
        {
            let Some(step) = steps.last_mut() else {
                return Err((
                    line_no,
                    format!("`{text}` is an attribute, but there is no step before it to apply to"),
                ));
            };
            last_attr = attribute(step, text, line_no, last_attr)?;
            continue;
        }
        if text == "end" {
            if in_repeat {
                return Ok(steps);
            }
            return Err((line_no, "`end` without a `repeat`".into()));
        }
        if let Some(n) = text.strip_prefix("repeat ") {
            let count: u32 = n.trim().parse().map_err(|_| {
                (
                    line_no,
                    format!("`repeat` needs a count, like `repeat 50`; got `{n}`"),
                )
            })?;
            if count == 0 || count > 100_000 {
                return Err((line_no, "repeat count must be between 1 and 100000".into()));
            }
            let body = parse_block(lines, pos, start, users, true)?;
            steps.push(Step::new(line_no, Action::Repeat { count, body }));
            last_attr = None;
            continue;
        }
        steps.push(Step::new(line_no, statement(text, line_no, users)?));
        last_attr = None;
    }
    if in_repeat {
        return Err((
            start + lines.len() as u64,
            "`repeat` without its `end`".into(),
        ));
    }
    Ok(steps)
}

fn strip_comment(line: &str) -> &str {
    // `#` starts a comment only at the start or after a space (flags like \Seen
    // and atoms never contain ` #`).
    match line.find(" #") {
        Some(i) => &line[..i],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    }
}

fn is_attribute(text: &str) -> bool {
    let word = text.split(' ').next().unwrap_or("");
    matches!(
        word,
        "expect"
            | "code"
            | "must"
            | "must-not"
            | "capture"
            | "seen"
            | "level"
            | "on-fail"
            | "smtp-reply"
    )
}

/// Reads one attribute into `step`; returns what a following `level` line
/// would apply to.
fn attribute(
    step: &mut Step,
    text: &str,
    line: u64,
    last: Option<&'static str>,
) -> ParseResult<Option<&'static str>> {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err((line, format!("`{word}` needs a value")));
    }
    let expectation = |rest: &str| Expectation {
        line,
        pattern: Pattern::new(rest),
        level: Level::default(),
    };
    match word {
        "level" => {
            let level = parse_level(rest, line)?;
            let target = match last {
                Some("must") => step.must.last_mut().map(|e| &mut e.level),
                Some("must-not") => step.must_not.last_mut().map(|e| &mut e.level),
                Some("capture") => step.capture.last_mut().map(|e| &mut e.level),
                Some("seen") => step.seen.last_mut().map(|e| &mut e.level),
                _ => Some(&mut step.level),
            };
            if let Some(t) = target {
                *t = level;
            }
            return Ok(None);
        }
        "must" => {
            step.must.push(expectation(rest));
            return Ok(Some("must"));
        }
        "must-not" => {
            step.must_not.push(expectation(rest));
            return Ok(Some("must-not"));
        }
        "capture" => {
            step.capture.push(expectation(rest));
            return Ok(Some("capture"));
        }
        "seen" => {
            step.seen.push(expectation(rest));
            return Ok(Some("seen"));
        }
        _ => {}
    }
    match word {
        "expect" => {
            step.expect = match rest.to_ascii_uppercase().as_str() {
                "OK" => Expect::Ok,
                "NO" => Expect::No,
                "BAD" => Expect::Bad,
                "ANY" => Expect::Any,
                _ => {
                    return Err((
                        line,
                        format!("`expect` takes OK, NO, BAD or any; got `{rest}`"),
                    ))
                }
            }
        }
        "code" => step.code = Some(rest.to_ascii_uppercase()),
        "on-fail" => {
            let (id, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            if crate::checks::info(id).is_none() {
                return Err((
                    line,
                    format!("unknown check id `{id}` after on-fail (see `imapspec list`)"),
                ));
            }
            step.on_fail = Some((id.to_string(), msg.trim().trim_matches('"').to_string()));
        }
        "smtp-reply" => {
            step.smtp_reply = match rest {
                "2xx" => Some(2),
                "4xx" => Some(4),
                "5xx" => Some(5),
                _ => {
                    return Err((
                        line,
                        format!("`smtp-reply` takes 2xx, 4xx or 5xx; got `{rest}`"),
                    ))
                }
            }
        }
        _ => return Err((line, format!("unknown attribute `{word}`"))),
    }
    Ok(None)
}

/// `MUST`, or `SHOULD "RFC ...: sentence"` / `MAY "..."` (a SHOULD or MAY must
/// quote the sentence it comes from: the level is the RFC's, not ours).
fn parse_level(rest: &str, line: u64) -> ParseResult<Level> {
    let (word, quote) = rest.split_once(' ').unwrap_or((rest, ""));
    let keyword = match word.to_ascii_uppercase().as_str() {
        "MUST" => Keyword::Must,
        "SHOULD" => Keyword::Should,
        "MAY" => Keyword::May,
        _ => {
            return Err((
                line,
                format!(
                "`level` takes MUST, SHOULD or MAY and the RFC sentence in quotes; got `{word}`"
            ),
            ))
        }
    };
    let quote = quote.trim();
    // `"sentence" with CAP`: the level holds on servers announcing CAP.
    let (quote, with_capability) = match quote.rsplit_once("\" with ") {
        Some((q, cap)) if !cap.contains('"') => (format!("{q}\""), Some(cap.trim().to_string())),
        _ => (quote.to_string(), None),
    };
    let quote = quote
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .map(str::to_string);
    if keyword != Keyword::Must && quote.as_deref().is_none_or(str::is_empty) {
        return Err((
            line,
            format!("`level {word}` needs the RFC sentence it comes from, in quotes: level {word} \"RFC 3501 6.3.11: ... {word} ...\""),
        ));
    }
    Ok(Level {
        keyword,
        quote,
        with_capability,
    })
}

fn duration(s: &str, line: u64) -> ParseResult<Duration> {
    parse_duration(s).map_err(|e| (line, e))
}

fn user_ok(u: &str, users: &[String], line: u64) -> ParseResult<String> {
    if users.iter().any(|x| x == u) {
        Ok(u.to_string())
    } else {
        Err((
            line,
            format!("unknown user `{u}`: add it to `users = [...]` at the top of the file"),
        ))
    }
}

fn statement(text: &str, line: u64, users: &[String]) -> ParseResult<Action> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.first().copied() {
        Some("open") | Some("connect") => {
            let login = words[0] == "open";
            let session = words.get(1).ok_or((line, format!("`{}` needs a session name", words[0])))?.to_string();
            let mut user = None;
            let mut security = Security::Default;
            let mut auth_plain = false;
            let mut i = 2;
            while i < words.len() {
                match words[i] {
                    "as" => {
                        let u = words.get(i + 1).ok_or((line, "`as` needs a user".to_string()))?;
                        user = Some(user_ok(u, users, line)?);
                        i += 1;
                    }
                    "plain" => security = Security::Plain,
                    "starttls" => security = Security::StartTls,
                    "tls" => security = Security::Tls,
                    "auth=plain" => auth_plain = true,
                    other => return Err((line, format!("unexpected `{other}`; expected `as USER`, plain, starttls, tls or auth=plain"))),
                }
                i += 1;
            }
            if login && user.is_none() {
                user = users.first().cloned();
                if user.is_none() {
                    return Err((line, "`open` logs in, but the scenario has no `users`".into()));
                }
            }
            Ok(Action::Open { session, user, security, login, auth_plain })
        }
        Some("wait") => Ok(Action::Wait(duration(words.get(1).copied().unwrap_or(""), line)?)),
        Some("deliver") | Some("smtp") => {
            let user = user_ok(words.get(1).copied().unwrap_or(""), users, line)?;
            let count: u32 = words
                .get(2)
                .and_then(|n| n.parse().ok())
                .ok_or((line, format!("`{}` needs a count: `{} USER N`", words[0], words[0])))?;
            let mut mailbox = None;
            let mut size = 300;
            let mut subject = None;
            let mut i = 3;
            while i < words.len() {
                let val = words.get(i + 1).copied().ok_or((line, format!("`{}` needs a value", words[i])))?;
                match words[i] {
                    "to" => mailbox = Some(val.to_string()),
                    "size" => size = val.parse().map_err(|_| (line, format!("bad size `{val}`")))?,
                    "subject" => subject = Some(val.to_string()),
                    other => return Err((line, format!("unexpected `{other}`; expected to MAILBOX, size BYTES or subject WORD"))),
                }
                i += 2;
            }
            if words[0] == "smtp" {
                Ok(Action::Smtp { user, count, size })
            } else {
                Ok(Action::Deliver { user, count, mailbox, size, subject })
            }
        }
        Some(first) if first.ends_with(':') => {
            let session = first.trim_end_matches(':').to_string();
            let rest = text[first.len()..].trim_start();
            let (verb, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            match verb {
                "raw" | "raw-chunks" => {
                    let (chunk, body) = if verb == "raw-chunks" {
                        let (n, b) = arg.split_once(' ').ok_or((line, "`raw-chunks` needs a size and bytes: `raw-chunks 1 a1 NOOP\\r\\n`".to_string()))?;
                        (Some(n.parse::<usize>().map_err(|_| (line, format!("bad chunk size `{n}`")))?.max(1)), b)
                    } else {
                        (None, arg)
                    };
                    let bytes = crate::transcript::generic::unescape(body.as_bytes())
                        .ok_or((line, "bad escape in raw bytes (use \\r \\n \\t \\\\ \\xNN)".to_string()))?;
                    Ok(Action::Raw { session, bytes, chunk })
                }
                "idle" => Ok(Action::Idle { session }),
                "append" => {
                    let w: Vec<&str> = arg.split_whitespace().collect();
                    let (mailbox, subject) = match (w.first(), w.get(1)) {
                        (Some(m), Some(s)) => (m.to_string(), s.to_string()),
                        _ => return Err((line, "`append` needs a mailbox and a subject word: `append INBOX outbox-1 [nonsync]`".into())),
                    };
                    Ok(Action::Append { session, mailbox, subject, nonsync: w.get(2) == Some(&"nonsync") })
                }
                "multiappend" => {
                    let w: Vec<&str> = arg.split_whitespace().collect();
                    let usage = "`multiappend` needs a mailbox, a subject word and a count of 2 to 100: `multiappend INBOX batch 3 [bad-last]`";
                    let (Some(m), Some(s), Some(n)) = (w.first(), w.get(1), w.get(2)) else {
                        return Err((line, usage.into()));
                    };
                    let count = match n.parse::<usize>() {
                        Ok(c) if (2..=100).contains(&c) => c,
                        _ => return Err((line, usage.into())),
                    };
                    let bad_last = match w.get(3) {
                        None => false,
                        Some(&"bad-last") => true,
                        Some(_) => return Err((line, usage.into())),
                    };
                    Ok(Action::MultiAppend { session, mailbox: m.to_string(), subject: s.to_string(), count, bad_last })
                }
                "append-cut" => {
                    let w: Vec<&str> = arg.split_whitespace().collect();
                    match (w.first(), w.get(1)) {
                        (Some(m), Some(s)) => Ok(Action::AppendCut { session, mailbox: m.to_string(), subject: s.to_string() }),
                        _ => Err((line, "`append-cut` needs a mailbox and a subject word: `append-cut INBOX outbox-1`".into())),
                    }
                }
                "starttls-inject" => Ok(Action::StartTlsInject { session }),
                "done" => Ok(Action::Done { session }),
                "drop" => Ok(Action::Drop { session }),
                "logout" => Ok(Action::Logout { session }),
                "wait-for" => {
                    let (pat, within) = match arg.rsplit_once(" within ") {
                        Some((p, d)) => (p, duration(d.trim(), line)?),
                        None => (arg, Duration::from_secs(30)),
                    };
                    Ok(Action::WaitFor { session, pattern: Pattern::new(pat), within })
                }
                "stay" => Ok(Action::Stay { session, time: duration(arg.trim(), line)? }),
                "expect-close" => {
                    let d = arg.trim().strip_prefix("within ").unwrap_or(arg.trim());
                    Ok(Action::ExpectClose { session, within: duration(d, line)? })
                }
                _ if rest.is_empty() => Err((line, format!("`{first}` needs a command to send"))),
                _ => Ok(Action::Command { session, text: rest.to_string() }),
            }
        }
        _ => Err((
            line,
            format!("unknown step `{text}`; expected open, connect, SESSION: COMMAND, wait, deliver, smtp, repeat or an indented attribute"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("imapspec-scn-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join(name);
        let _ = std::fs::write(&p, text);
        p
    }

    #[test]
    fn parses_a_scenario_with_lines() {
        let p = write(
            "ok.toml",
            "id = \"x/y\"\ntitle = \"t\"\nclient = \"Outlook\"\nsource = \"seed 000\"\nusers = [\"u\"]\nscript = '''\nopen o\no: SELECT INBOX\n  must * {n} EXISTS\nrepeat 2\n  o: NOOP\nend\nwait 75ms\n'''\n",
        );
        let s = load(&p).expect("parses");
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.steps[0].line, 7);
        assert_eq!(s.steps[1].line, 8);
        assert_eq!(s.steps[1].must[0].line, 9);
        assert!(matches!(s.steps[2].action, Action::Repeat { count: 2, .. }));
    }
    #[test]
    fn levels_apply_to_the_expectation_above() {
        let p = write(
            "levels.toml",
            "id = \"x/l\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen o\no: wait-for * 1 EXISTS within 2m\n  level MAY \"RFC 2177 3: free to send\"\no: NOOP\n  must * 1 EXISTS\n  level SHOULD \"RFC 3501 6.3.11: SHOULD notify\"\n  seen * 1 EXISTS\n  code OVERQUOTA\n  level SHOULD \"RFC 9208 4.3.1: SHOULD be returned\" with QUOTA=RES-*\n'''\n",
        );
        let s = load(&p).expect("parses");
        assert_eq!(s.steps[1].level.keyword, Keyword::May);
        let noop = &s.steps[2];
        assert_eq!(noop.must[0].level.keyword, Keyword::Should);
        assert_eq!(noop.seen[0].level.keyword, Keyword::Must);
        assert_eq!(noop.level.keyword, Keyword::Should);
        assert_eq!(noop.level.with_capability.as_deref(), Some("QUOTA=RES-*"));
        assert_eq!(
            noop.level.quote.as_deref(),
            Some("RFC 9208 4.3.1: SHOULD be returned")
        );
        assert_eq!(noop.level.on(&["QUOTA".into()]), Keyword::May);
        assert_eq!(
            noop.level.on(&["quota=res-storage".into()]),
            Keyword::Should
        );
        // A SHOULD must quote its sentence.
        let p = write(
            "noquote.toml",
            "id = \"x/n\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen o\no: NOOP\n  must * OK ...\n  level SHOULD\n'''\n",
        );
        let e = load(&p).expect_err("needs a quote");
        assert!(e.message.contains("needs the RFC sentence"), "{e}");
    }

    #[test]
    fn errors_point_at_the_line() {
        let p = write("bad.toml", "id = \"x\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen o\n  frobnicate yes\no: NOOP\n'''\n");
        let e = load(&p).expect_err("bad");
        assert_eq!(e.line, Some(8), "{e}");
        let p = write("bad2.toml", "id = \"x\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen o as nobody\n'''\n");
        let e = load(&p).expect_err("bad");
        assert!(e.to_string().contains(":7: unknown user `nobody`"), "{e}");
        let p = write("bad3.toml", "id = \"x\"\ntitle = 3\n");
        let e = load(&p).expect_err("bad");
        assert_eq!(e.line, Some(2), "{e}");
        let p = write("bad4.toml", "id = \"x\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nrepeat 3\no: NOOP\n'''\n");
        assert!(load(&p)
            .expect_err("bad")
            .message
            .contains("without its `end`"));
    }
}
