//! The line formats of recorded sessions, their detection, and one parser each.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::generic::unescape;
use super::Record;
use crate::event::SessionId;
use crate::source::Timestamp;
use crate::wire::Direction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Generic,
    Seed000,
    Gms,
    Oe,
    Rawlog,
    /// A packet capture (pcap or pcapng): see `transcript::capture`.
    Capture,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Generic => "generic (C:/S:)",
            Format::Seed000 => "server log `DATE TIME PID < line` (seed 000)",
            Format::Gms => "GMS server log (seed 001)",
            Format::Oe => "Outlook Express client log (seed 001)",
            Format::Rawlog => "Dovecot rawlog",
            Format::Capture => "packet capture (pcap/pcapng)",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Format::Generic => "[TIME] [CONN] C: a1 NOOP  /  S: a1 OK done",
            Format::Seed000 => "2014-05-20 12:16:24.174617500 29397 < 1kaf SELECT \"Trash\"",
            Format::Gms => "IMAP 12:24:17.921 A 06157 1 0003 SELECT \"INBOX\"",
            Format::Oe => "IMAP: 12:24:17 [tx] 0003 SELECT \"INBOX\"",
            Format::Rawlog => "NAME.in / NAME.out",
            Format::Capture => "tcpdump -w FILE.pcap port 143",
        }
    }
}

const LINE_FORMATS: [Format; 4] = [Format::Generic, Format::Seed000, Format::Gms, Format::Oe];

/// Picks the format from the first meaningful line of a log.
pub fn detect(head: &[u8]) -> Result<Format, String> {
    if head.is_empty() {
        return Err("the log is empty".into());
    }
    for raw in head.split(|&b| b == b'\n').take(200) {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) || line.starts_with(b"#") {
            continue;
        }
        for f in LINE_FORMATS {
            if matches!(Parser::new(f).parse(line), Ok(r) if r != Record::Skip) {
                return Ok(f);
            }
        }
        let shown = crate::finding::excerpt(line, 80);
        let formats: Vec<String> = LINE_FORMATS
            .iter()
            .map(|f| format!("  {}: {}", f.name(), f.example()))
            .collect();
        return Err(format!(
            "unknown log format: the first line `{shown}` matches none of the formats imapspec reads:\n{}\n(Dovecot rawlogs are read by their .in/.out file names)",
            formats.join("\n")
        ));
    }
    Err("no log lines found in the first part of the file".into())
}

/// Parses the lines of one format, with the little state some formats need.
pub struct Parser {
    format: Format,
    day: DayClock,
    /// GMS logs do not say which way a line went: tags the client sent and
    /// still awaiting completion, per session, tell a tagged reply from a command.
    open_tags: HashMap<String, HashSet<String>>,
    /// The last connection name read: consecutive lines mostly share one, and
    /// handing out the same shared name saves an allocation per line.
    last_conn: Option<SessionId>,
}

impl Parser {
    pub fn new(format: Format) -> Self {
        Parser {
            format,
            day: DayClock::default(),
            open_tags: HashMap::new(),
            last_conn: None,
        }
    }

    pub fn parse(&mut self, line: &[u8]) -> Result<Record, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Record::Skip);
        }
        // Only the text formats need the whole line as UTF-8; the generic
        // format carries bytes and validates just its prefix tokens.
        let text = || std::str::from_utf8(line);
        let r = match self.format {
            Format::Generic => self.generic(line),
            Format::Seed000 => text().ok().and_then(|t| self.seed000(t)),
            Format::Gms => text().ok().and_then(|t| self.gms(t)),
            Format::Oe => text().ok().and_then(|t| self.oe(t)),
            Format::Rawlog | Format::Capture => None,
        };
        r.ok_or_else(|| {
            format!(
                "this line is not in the {} format of this log (expected like `{}`): `{}`",
                self.format.name(),
                self.format.example(),
                crate::finding::excerpt(line, 120)
            )
        })
    }

    /// The shared name of connection `name`.
    fn conn(&mut self, name: &str) -> SessionId {
        match &self.last_conn {
            Some(last) if &**last == name => Arc::clone(last),
            _ => {
                let id: SessionId = Arc::from(name);
                self.last_conn = Some(Arc::clone(&id));
                id
            }
        }
    }

    fn generic(&mut self, line: &[u8]) -> Option<Record> {
        if line.starts_with(b"#") {
            return Some(Record::Skip);
        }
        let mut rest = line;
        let mut at = None;
        let mut conn: Option<&str> = None;
        // Up to two optional prefixes: a timestamp, then `[conn]`.
        for _ in 0..3 {
            if let Some(r) = marker(rest) {
                let conn = self.conn(conn.unwrap_or("1"));
                return generic_body(r, at, conn);
            }
            let sp = memchr::memchr(b' ', rest)?;
            // Seconds (what imapspec writes) are read from the bytes: no
            // UTF-8 pass and no `str::parse` per line.
            if at.is_none() {
                if let Some(t) = seconds_bytes(&rest[..sp]) {
                    at = Some(t);
                    rest = &rest[sp + 1..];
                    continue;
                }
            }
            let token = std::str::from_utf8(&rest[..sp]).ok()?;
            if let Some(c) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                conn = Some(c);
                rest = &rest[sp + 1..];
            } else if at.is_none() {
                if let Some(t) = parse_seconds(token).or_else(|| parse_iso(token)) {
                    at = Some(t);
                    rest = &rest[sp + 1..];
                } else if let Some(date) = parse_date(token) {
                    let after = &rest[sp + 1..];
                    let sp2 = memchr::memchr(b' ', after)?;
                    let secs = parse_time_of_day(std::str::from_utf8(&after[..sp2]).ok()?)?;
                    at = Some(Timestamp(date + secs.0));
                    rest = &after[sp2 + 1..];
                } else if let Some(t) = parse_time_of_day(token) {
                    at = Some(self.day.place(t));
                    rest = &rest[sp + 1..];
                } else {
                    return None;
                }
            } else {
                return None;
            }
        }
        None
    }

    fn seed000(&mut self, line: &str) -> Option<Record> {
        let mut parts = line.splitn(5, ' ');
        let date = parse_date(parts.next()?)?;
        let time = parse_time_of_day(parts.next()?)?;
        let conn = self.conn(parts.next()?);
        let dir = match parts.next()? {
            "<" => Direction::Client,
            ">" => Direction::Server,
            _ => return None,
        };
        let text = parts.next().unwrap_or("");
        Some(Record::Data {
            at: Some(Timestamp(date + time.0)),
            conn,
            dir,
            bytes: crlf(text),
        })
    }

    fn gms(&mut self, line: &str) -> Option<Record> {
        if let Some(more) = line.strip_prefix("   ") {
            return Some(Record::Wrapped(more.to_string()));
        }
        let mut parts = line.splitn(6, ' ');
        if parts.next()? != "IMAP" {
            return None;
        }
        let at = Some(self.day.place(parse_time_of_day(parts.next()?)?));
        let level = parts.next()?;
        let code = parts.next()?;
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let conn = self.conn(parts.next()?);
        let text = parts.next().unwrap_or("").to_string();
        match level {
            "A" => {
                let dir = self.gms_direction(&conn, &text);
                Some(Record::Data {
                    at,
                    conn,
                    dir,
                    bytes: crlf(&text),
                })
            }
            "F" if text.starts_with("Removing session") => Some(Record::Closed {
                at,
                conn,
                by: Some(Direction::Server),
            }),
            l if l.len() == 1 && l.bytes().all(|b| b.is_ascii_uppercase()) => {
                Some(Record::Note { at, conn, text })
            }
            _ => None,
        }
    }

    fn gms_direction(&mut self, conn: &str, text: &str) -> Direction {
        let open = self.open_tags.entry(conn.to_string()).or_default();
        if text.starts_with("* ") || text.starts_with('+') {
            return Direction::Server;
        }
        let mut words = text.split(' ');
        let (tag, second) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let status = ["OK", "NO", "BAD"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(second));
        if status && open.remove(tag) {
            return Direction::Server;
        }
        if !text.eq_ignore_ascii_case("DONE") {
            open.insert(tag.to_string());
        }
        Direction::Client
    }

    fn oe(&mut self, line: &str) -> Option<Record> {
        if let Some(more) = line.strip_prefix("   ") {
            return Some(Record::Wrapped(more.to_string()));
        }
        let rest = line.strip_prefix("IMAP: ")?;
        let (time, rest) = rest.split_once(' ')?;
        let at = Some(self.day.place(parse_time_of_day(time)?));
        let (kind, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let conn = self.conn("oe");
        match kind {
            "[tx]" => Some(Record::Data {
                at,
                conn,
                dir: Direction::Client,
                bytes: crlf(text),
            }),
            "[rx]" => Some(Record::Data {
                at,
                conn,
                dir: Direction::Server,
                bytes: crlf(text),
            }),
            // Outlook Express logs "Connection to '...' closed." when the server
            // drops the connection; its own LOGOUT path logs no such line.
            "[db]" if text.starts_with("Connection to") && text.trim_end().ends_with("closed.") => {
                Some(Record::Closed {
                    at,
                    conn,
                    by: Some(Direction::Server),
                })
            }
            "[db]" => Some(Record::Note {
                at,
                conn,
                text: text.to_string(),
            }),
            _ => None,
        }
    }
}

/// `C: `, `S: `, `C=`, `S=` or `==` at the start of `rest`: returns `rest` itself.
fn marker(rest: &[u8]) -> Option<&[u8]> {
    let m = rest.get(..2)?;
    matches!(m, b"C:" | b"S:" | b"C=" | b"S=" | b"==").then_some(rest)
}

fn generic_body(rest: &[u8], at: Option<Timestamp>, conn: SessionId) -> Option<Record> {
    let (m, body) = rest.split_at(2);
    let body = body.strip_prefix(b" ").unwrap_or(body);
    let dir = |c: u8| {
        if c == b'C' {
            Direction::Client
        } else {
            Direction::Server
        }
    };
    match m {
        b"C:" | b"S:" => {
            let mut bytes = Vec::with_capacity(body.len() + 2);
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(b"\r\n");
            Some(Record::Data {
                at,
                conn,
                dir: dir(m[0]),
                bytes,
            })
        }
        b"C=" | b"S=" => Some(Record::Data {
            at,
            conn,
            dir: dir(m[0]),
            bytes: unescape(body)?,
        }),
        _ => {
            let text = std::str::from_utf8(body).ok()?.trim();
            match text {
                "closed by server" => Some(Record::Closed {
                    at,
                    conn,
                    by: Some(Direction::Server),
                }),
                "closed by client" => Some(Record::Closed {
                    at,
                    conn,
                    by: Some(Direction::Client),
                }),
                "closed" => Some(Record::Closed { at, conn, by: None }),
                "tls" => Some(Record::TlsStarted { at, conn }),
                t => t.strip_prefix("note").map(|n| Record::Note {
                    at,
                    conn,
                    text: n.trim().to_string(),
                }),
            }
        }
    }
}

fn crlf(text: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(text.len() + 2);
    v.extend_from_slice(text.as_bytes());
    v.extend_from_slice(b"\r\n");
    v
}

/// Time-of-day logs: adds a day whenever the clock jumps back by more than 12 hours.
#[derive(Debug, Default)]
struct DayClock {
    last: Option<i64>,
    offset: i64,
}

impl DayClock {
    fn place(&mut self, t: Timestamp) -> Timestamp {
        const DAY: i64 = 86_400_000_000_000;
        let mut v = t.0 + self.offset;
        if let Some(last) = self.last {
            if v < last - DAY / 2 {
                self.offset += DAY;
                v += DAY;
            }
        }
        self.last = Some(v);
        Timestamp(v)
    }
}

/// Digits with an optional fraction of up to 9 digits, exactly, as nanoseconds.
fn secs_frac(whole: &str, frac: Option<&str>) -> Option<i64> {
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i64 = whole.parse::<i64>().ok()? * 1_000_000_000;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos += f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32);
    }
    Some(nanos)
}

/// ASCII digits as a number; `None` if any byte is not a digit. At most
/// 12 digits are passed in, so the value fits.
fn digits(d: &[u8]) -> Option<i64> {
    d.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// [`parse_seconds`] on bytes, with the same rules and the same result.
fn seconds_bytes(token: &[u8]) -> Option<Timestamp> {
    let (whole, frac) = match memchr::memchr(b'.', token) {
        Some(i) => (&token[..i], Some(&token[i + 1..])),
        None => (token, None),
    };
    if whole.is_empty() || whole.len() > 12 {
        return None;
    }
    let mut nanos = digits(whole)? * 1_000_000_000;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 {
            return None;
        }
        nanos += digits(f)? * 10i64.pow(9 - f.len() as u32);
    }
    Some(Timestamp(nanos))
}

/// `12345.678901234`: seconds since some epoch.
pub fn parse_seconds(token: &str) -> Option<Timestamp> {
    let (whole, frac) = match token.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (token, None),
    };
    secs_frac(whole, frac).map(Timestamp)
}

/// `hh:mm:ss` or `hh:mm:ss.fff`: nanoseconds since midnight.
pub fn parse_time_of_day(token: &str) -> Option<Timestamp> {
    let (hms, frac) = match token.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (token, None),
    };
    let mut it = hms.split(':');
    let (h, m, s) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m) = (secs_frac(h, None)?, secs_frac(m, None)?);
    let s = secs_frac(s, frac)?;
    if h >= 24 * 1_000_000_000 || m >= 60 * 1_000_000_000 || s >= 61 * 1_000_000_000 {
        return None;
    }
    Some(Timestamp(h * 3600 + m * 60 + s))
}

/// `YYYY-MM-DD`: nanoseconds from the Unix epoch to that day's midnight.
pub fn parse_date(token: &str) -> Option<i64> {
    if token.len() != 10 {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(token, "%Y-%m-%d").ok()?;
    let days = d
        .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    Some(days * 86_400_000_000_000)
}

/// `YYYY-MM-DDThh:mm:ss(.f)(Z)`.
fn parse_iso(token: &str) -> Option<Timestamp> {
    let (date, time) = token.split_once('T')?;
    let time = time.strip_suffix('Z').unwrap_or(time);
    Some(Timestamp(parse_date(date)? + parse_time_of_day(time)?.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(
            detect(b"# x\n12.5 [a] C: a1 NOOP\n").ok(),
            Some(Format::Generic)
        );
        assert_eq!(detect(b"S: * OK hi\n").ok(), Some(Format::Generic));
        assert_eq!(
            detect(b"2014-05-20 12:16:24.174617500 29397 < 1kaf SELECT \"Trash\"\n").ok(),
            Some(Format::Seed000)
        );
        assert_eq!(
            detect(b"IMAP 12:24:17.921 A 06157 1 0003 SELECT \"INBOX\"\n").ok(),
            Some(Format::Gms)
        );
        assert_eq!(
            detect(b"IMAP: 12:24:17 [tx] 0003 SELECT \"INBOX\"\n").ok(),
            Some(Format::Oe)
        );
        let e = detect(b"\x00\x01garbage\xff\n").unwrap_err();
        assert!(e.contains("unknown log format"), "{e}");
        assert!(detect(b"").is_err());
    }

    #[test]
    fn seconds_from_bytes_agree_with_parse_seconds() {
        for t in [
            "1",
            "1.5",
            "0.000000001",
            "1764720000.123456789",
            "1234567890123",
            "1.",
            ".5",
            "1.1234567890",
            "1.2.3",
            "",
            "12a",
            "1.x",
            "[s1]",
            "00012.000",
        ] {
            assert_eq!(seconds_bytes(t.as_bytes()), parse_seconds(t), "{t:?}");
        }
    }

    #[test]
    fn timestamps_are_exact() {
        assert_eq!(parse_seconds("1.000000001"), Some(Timestamp(1_000_000_001)));
        assert_eq!(
            parse_time_of_day("12:17:50.5793075"),
            Some(Timestamp(
                (12 * 3600 + 17 * 60 + 50) * 1_000_000_000 + 579_307_500
            ))
        );
        assert_eq!(parse_time_of_day("25:00:00"), None);
        let mut d = DayClock::default();
        let late = d.place(parse_time_of_day("23:59:59").unwrap_or(Timestamp(0)));
        let early = d.place(parse_time_of_day("00:00:01").unwrap_or(Timestamp(0)));
        assert_eq!(early.since(late).as_secs(), 2);
    }

    #[test]
    fn gms_tells_directions_apart() {
        let mut p = Parser::new(Format::Gms);
        let dir = |r: Record| match r {
            Record::Data { dir, .. } => Some(dir),
            _ => None,
        };
        assert_eq!(
            dir(p
                .parse(b"IMAP 12:24:17.937 A 06157 1 0004 IDLE")
                .unwrap_or(Record::Skip)),
            Some(Direction::Client)
        );
        assert_eq!(
            dir(p
                .parse(b"IMAP 12:24:17.937 A 06266 1 + idling")
                .unwrap_or(Record::Skip)),
            Some(Direction::Server)
        );
        assert_eq!(
            dir(p
                .parse(b"IMAP 12:24:17.953 A 06157 1 DONE")
                .unwrap_or(Record::Skip)),
            Some(Direction::Client)
        );
        assert_eq!(
            dir(p
                .parse(b"IMAP 12:24:17.953 A 06266 1 0004 OK IDLE terminated")
                .unwrap_or(Record::Skip)),
            Some(Direction::Server)
        );
        assert!(
            p.parse(b"IMAP: 12:24:17 [tx] x").is_err(),
            "mixed formats are refused"
        );
    }
}
