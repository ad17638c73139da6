//! Command forms imap-codec 2.0 (alpha) does not parse, read by hand: the
//! extended LIST of RFC 5258 with its SPECIAL-USE (RFC 6154) and STATUS
//! (RFC 5819) options, CREATE with a USE list (RFC 6154 3), the APPEND of
//! several messages (MULTIAPPEND, RFC 3502) and STATUS with items imap-codec
//! does not know (APPENDLIMIT, RFC 7889).
//!
//! Both sides read them here: the reference server to answer them, the
//! harness to know what a LIST asked for when it judges the answer. A command
//! is read as IMAP structure (atoms, quoted strings, literals, lists) under
//! hard bounds, so no input can make the reader recurse deeply or grow large.

/// Bound on list nesting in a command (RFC 5258's grammar needs three).
const MAX_DEPTH: usize = 8;
/// Bound on the items of one command (patterns, options, STATUS items).
const MAX_ITEMS: usize = 4096;
/// Bound on the messages of one MULTIAPPEND. RFC 3502 sets none; the whole
/// command is already bounded in bytes (the server's `max_command`), this
/// bounds the work per message (a record, a UID) as well. 1,000: far more
/// than a client uploads at once (Thunderbird, imapsync send one by one).
pub const MAX_APPEND_MESSAGES: usize = 1000;

/// The special uses of RFC 6154 2 (`\Important` is RFC 8457's, in the same
/// registry).
pub const SPECIAL_USES: [&str; 8] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
    "\\Important",
];

/// The special-use attributes among a LIST response's attributes, spelled
/// as the registry does.
pub fn special_uses_of<'a>(attributes: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    attributes
        .into_iter()
        .filter_map(|a| SPECIAL_USES.iter().find(|u| u.eq_ignore_ascii_case(a)))
        .map(|u| u.to_string())
        .collect()
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    List(Vec<Arg>),
}

impl Arg {
    /// An atom or a string as text (a mailbox name, a pattern).
    pub fn text(&self) -> Option<String> {
        match self {
            Arg::Atom(a) => Some(a.clone()),
            Arg::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Arg::List(_) => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self, Arg::Atom(a) if a.eq_ignore_ascii_case(w))
    }
}

/// What a LIST's RETURN options ask for (RFC 5258 3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    /// `STATUS (items)`, upper-cased.
    pub status: Option<Vec<String>>,
}

/// A LIST in RFC 5258's extended form (or a plain one read the same way).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListCommand {
    /// Selection options, upper-cased (`SUBSCRIBED`, `REMOTE`,
    /// `RECURSIVEMATCH`, `SPECIAL-USE`).
    pub selection: Vec<String>,
    pub reference: String,
    /// One pattern, or the several of `("a" "b")`.
    pub patterns: Vec<String>,
    pub returns: ListReturn,
}

impl ListCommand {
    pub fn selects(&self, option: &str) -> bool {
        self.selection.iter().any(|s| s == option)
    }

    /// RFC 6154 2: "The "SPECIAL-USE" return option is implied by the
    /// "SPECIAL-USE" selection option."
    pub fn returns_special_use(&self) -> bool {
        self.returns.special_use || self.selects("SPECIAL-USE")
    }
}

/// A command this module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedCommand {
    List(ListCommand),
    /// `CREATE name (USE (\Sent ...))`.
    Create {
        mailbox: String,
        uses: Vec<String>,
    },
    /// An APPEND of two or more messages (RFC 3502); imap-codec reads the
    /// APPEND of one.
    MultiAppend {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    /// A STATUS whose items imap-codec does not know (`APPENDLIMIT`),
    /// upper-cased.
    Status {
        mailbox: String,
        items: Vec<String>,
    },
}

/// One message of a MULTIAPPEND: RFC 3502 `append-message = [SP flag-list]
/// [SP date-time] SP literal` (RFC 4466 spells it `append-opts SP
/// append-data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// The flags as sent (`\Seen`, `$Label`).
    pub flags: Vec<String>,
    /// The date-time string as sent, without its quotes.
    pub date: Option<String>,
    /// Where the message's bytes are in the command (a range, not a copy:
    /// a MULTIAPPEND may carry tens of megabytes).
    pub data: std::ops::Range<usize>,
    /// Sent as `~{n}` (RFC 3516 literal8).
    pub literal8: bool,
    /// Sent as `UTF8 (~{n})` (RFC 6855 4).
    pub utf8: bool,
    /// The size the literal announced (`data`'s length, unless the command
    /// was cut after the announcement: see `append_sizes`).
    pub size: u64,
}

impl AppendMessage {
    /// The message's bytes in the command they were read from.
    pub fn bytes<'a>(&self, command: &'a [u8]) -> &'a [u8] {
        command.get(self.data.clone()).unwrap_or_default()
    }
}

/// Why a command of this module's kind could not be read (answered `BAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Reads `bytes` (one whole command, literals included) when it is an
/// extended LIST or a CREATE with parameters: `Ok(None)` when it is some other
/// command, `Err` when it is one of these but malformed.
pub fn parse(bytes: &[u8]) -> Result<Option<(String, ExtendedCommand)>, Malformed> {
    let mut r = Reader { b: bytes, i: 0 };
    let Some(tag) = r.word() else { return Ok(None) };
    let Some(name) = r.word() else {
        return Ok(None);
    };
    let name = name.to_ascii_uppercase();
    if name == "APPEND" {
        let (mailbox, messages) = append(&mut r, false)?;
        // One plain message is imap-codec's; `UTF8 (...)` it does not read.
        if messages.len() < 2 && !messages.iter().any(|m| m.utf8) {
            return Ok(None);
        }
        return Ok(Some((
            tag,
            ExtendedCommand::MultiAppend { mailbox, messages },
        )));
    }
    if name != "LIST" && name != "CREATE" && name != "STATUS" {
        return Ok(None);
    }
    let args = r.args().map_err(Malformed)?;
    let command = match name.as_str() {
        "LIST" => ExtendedCommand::List(list(&args)?),
        "STATUS" => status(&args)?,
        _ => match create(&args)? {
            Some(c) => c,
            None => return Ok(None),
        },
    };
    Ok(Some((tag, command)))
}

/// RFC 3501 6.3.10: `status = "STATUS" SP mailbox SP "(" status-att *(SP
/// status-att) ")"`, any atom taken as an item (the caller judges which it
/// knows).
fn status(args: &[Arg]) -> Result<ExtendedCommand, Malformed> {
    let bad = |why: &str| Malformed(why.to_string());
    let [mailbox, Arg::List(items)] = args else {
        return Err(bad("STATUS takes a mailbox and a list of items"));
    };
    let mailbox = mailbox
        .text()
        .ok_or_else(|| bad("the STATUS mailbox is a string"))?;
    if items.is_empty() {
        return Err(bad("STATUS needs at least one item"));
    }
    let mut names = Vec::with_capacity(items.len());
    for it in items {
        match it {
            Arg::Atom(a) => names.push(a.to_ascii_uppercase()),
            _ => return Err(bad("a STATUS item is an atom")),
        }
    }
    Ok(ExtendedCommand::Status {
        mailbox,
        items: names,
    })
}

/// The harness's view of an APPEND of one message or many: the mailbox and
/// the size each literal announced. Also for an APPEND the server refused
/// when a synchronising literal was announced (`{n}` and no data after it:
/// the size is what was announced), which is how an over-the-limit APPEND
/// ends (RFC 7889).
pub fn append_sizes(bytes: &[u8]) -> Option<(String, Vec<u64>)> {
    let mut r = Reader { b: bytes, i: 0 };
    r.word()?;
    if !r.word()?.eq_ignore_ascii_case("APPEND") {
        return None;
    }
    let (mailbox, messages) = append(&mut r, true).ok()?;
    Some((mailbox, messages.iter().map(|m| m.size).collect()))
}

/// RFC 3502 6.3.11: `append = "APPEND" SP mailbox 1*append-message`,
/// `append-message = [SP flag-list] [SP date-time] SP literal`. With
/// `cut_ok`, the command may stop right after a literal's announcement.
fn append(r: &mut Reader<'_>, cut_ok: bool) -> Result<(String, Vec<AppendMessage>), Malformed> {
    let bad = |why: &str| Malformed(why.to_string());
    let mut count = 0;
    let mailbox = match r.peek() {
        Some(b'"') => r.quoted().map_err(Malformed)?,
        Some(b'{') => r.literal().map_err(Malformed)?,
        _ => r.atom().map_err(Malformed)?.into_bytes(),
    };
    // Not repaired with U+FFFD: two different names must not become one
    // (`server::imap::names`).
    let mailbox = String::from_utf8(mailbox)
        .map_err(|_| bad("the APPEND mailbox name is not valid UTF-8"))?;
    if mailbox.is_empty() {
        return Err(bad("APPEND needs a mailbox name"));
    }
    let mut messages = Vec::new();
    loop {
        match r.peek() {
            None | Some(b'\r') | Some(b'\n') => break,
            Some(b' ') => r.i += 1,
            _ => return Err(bad("APPEND arguments are separated by a space")),
        }
        let mut flags = Vec::new();
        if r.peek() == Some(b'(') {
            r.i += 1;
            for f in r.seq(Some(b')'), 1, &mut count).map_err(Malformed)? {
                match f {
                    Arg::Atom(a) if !a.is_empty() => flags.push(a),
                    _ => return Err(bad("an APPEND flag is an atom")),
                }
            }
            if r.peek() != Some(b' ') {
                return Err(bad("a message literal follows the flag list"));
            }
            r.i += 1;
        }
        let mut date = None;
        if r.peek() == Some(b'"') {
            let d = r.quoted().map_err(Malformed)?;
            date = Some(String::from_utf8_lossy(&d).into_owned());
            if r.peek() != Some(b' ') {
                return Err(bad("a message literal follows the date-time"));
            }
            r.i += 1;
        }
        // RFC 6855 4: `append-data =/ utf8-literal`, `utf8-literal = "UTF8"
        // SP "(" literal8 ")"`, a message with UTF-8 header fields (RFC 9755,
        // which replaces RFC 6855, drops the form; older clients still send
        // it).
        let utf8 =
            r.b.get(r.i..r.i + 6)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"UTF8 ("));
        if utf8 {
            r.i += 6;
        }
        let literal8 = r.peek() == Some(b'~');
        if !matches!(r.peek(), Some(b'{') | Some(b'~')) {
            return Err(bad("each APPEND message is a literal"));
        }
        let (size, start) = r.literal_head().map_err(Malformed)?;
        if cut_ok && start == r.b.len() && size > 0 {
            messages.push(AppendMessage {
                flags,
                date,
                data: start..start,
                literal8,
                utf8,
                size: size as u64,
            });
            r.i = start;
            break;
        }
        let data = r.literal_range().map_err(Malformed)?;
        if utf8 {
            if r.peek() != Some(b')') {
                return Err(bad("UTF8 (literal8) needs its closing parenthesis"));
            }
            r.i += 1;
        }
        messages.push(AppendMessage {
            flags,
            date,
            size: data.len() as u64,
            data,
            literal8,
            utf8,
        });
        if messages.len() > MAX_APPEND_MESSAGES {
            return Err(Malformed(format!(
                "more than {MAX_APPEND_MESSAGES} messages in one APPEND"
            )));
        }
    }
    match &r.b[r.i..] {
        b"\r\n" | b"\n" | b"" => {}
        _ => return Err(bad("unexpected bytes after the APPEND messages")),
    }
    if messages.is_empty() {
        return Err(bad("APPEND needs a message"));
    }
    Ok((mailbox, messages))
}

/// RFC 5258 3: `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
/// [SP list-return-opts]`.
fn list(args: &[Arg]) -> Result<ListCommand, Malformed> {
    let bad = |why: &str| Malformed(why.to_string());
    let mut rest = args;
    let mut cmd = ListCommand::default();
    if let Some((Arg::List(opts), more)) = rest.split_first() {
        for o in opts {
            match o {
                Arg::Atom(a) => cmd.selection.push(a.to_ascii_uppercase()),
                _ => return Err(bad("a LIST selection option is an atom")),
            }
        }
        rest = more;
    }
    let (reference, more) = rest
        .split_first()
        .ok_or_else(|| bad("LIST needs a reference and a mailbox pattern"))?;
    cmd.reference = reference
        .text()
        .ok_or_else(|| bad("the LIST reference is a string"))?;
    let (pattern, more) = more
        .split_first()
        .ok_or_else(|| bad("LIST needs a mailbox pattern"))?;
    match pattern {
        Arg::List(ps) if !ps.is_empty() => {
            for p in ps {
                cmd.patterns
                    .push(p.text().ok_or_else(|| bad("a LIST pattern is a string"))?);
            }
        }
        Arg::List(_) => return Err(bad("a LIST pattern list is not empty")),
        p => cmd.patterns.push(p.text().unwrap_or_default()),
    }
    match more {
        [] => {}
        [ret, Arg::List(opts)] if ret.is_word("RETURN") => {
            let mut i = 0;
            while let Some(o) = opts.get(i) {
                match o {
                    o if o.is_word("SUBSCRIBED") => cmd.returns.subscribed = true,
                    o if o.is_word("CHILDREN") => cmd.returns.children = true,
                    o if o.is_word("SPECIAL-USE") => cmd.returns.special_use = true,
                    o if o.is_word("STATUS") => {
                        let Some(Arg::List(items)) = opts.get(i + 1) else {
                            return Err(bad("RETURN STATUS takes a list of STATUS items"));
                        };
                        let mut names = Vec::new();
                        for it in items {
                            match it {
                                Arg::Atom(a) => names.push(a.to_ascii_uppercase()),
                                _ => return Err(bad("a STATUS item is an atom")),
                            }
                        }
                        cmd.returns.status = Some(names);
                        i += 1;
                    }
                    Arg::Atom(a) => {
                        return Err(Malformed(format!("unknown LIST return option {a}")))
                    }
                    _ => return Err(bad("a LIST return option is an atom")),
                }
                i += 1;
            }
        }
        _ => return Err(bad("after the pattern LIST takes only RETURN (options)")),
    }
    Ok(cmd)
}

/// RFC 6154 3 / RFC 4466: `create = "CREATE" SP mailbox [create-params]`,
/// `create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"`. `None` for a
/// plain CREATE (imap-codec reads those).
fn create(args: &[Arg]) -> Result<Option<ExtendedCommand>, Malformed> {
    let bad = |why: &str| Malformed(why.to_string());
    let [mailbox, Arg::List(params)] = args else {
        return Ok(None);
    };
    let mailbox = mailbox
        .text()
        .ok_or_else(|| bad("the CREATE mailbox is a string"))?;
    let mut uses = Vec::new();
    let mut i = 0;
    while let Some(p) = params.get(i) {
        match (p, params.get(i + 1)) {
            (p, Some(Arg::List(attrs))) if p.is_word("USE") => {
                for a in attrs {
                    match a {
                        Arg::Atom(a) if a.starts_with('\\') => uses.push(a.clone()),
                        _ => return Err(bad("a USE attribute is \\Name")),
                    }
                }
            }
            (Arg::Atom(a), _) => {
                return Err(Malformed(format!("unknown CREATE parameter {a}")));
            }
            _ => return Err(bad("CREATE parameters are NAME (values)")),
        }
        i += 2;
    }
    Ok(Some(ExtendedCommand::Create { mailbox, uses }))
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A space-terminated word (the tag, the command name).
    fn word(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\r' || c == b'\n' {
                break;
            }
            self.i += 1;
        }
        let w = std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .to_string();
        if w.is_empty() || self.peek() != Some(b' ') {
            return None;
        }
        self.i += 1;
        Some(w)
    }

    /// The arguments up to the CRLF that ends the command.
    fn args(&mut self) -> Result<Vec<Arg>, String> {
        let mut count = 0;
        let args = self.seq(None, 0, &mut count)?;
        match &self.b[self.i..] {
            b"\r\n" | b"\n" | b"" => Ok(args),
            _ => Err("unexpected bytes after the arguments".into()),
        }
    }

    fn seq(
        &mut self,
        close: Option<u8>,
        depth: usize,
        count: &mut usize,
    ) -> Result<Vec<Arg>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("lists nested deeper than {MAX_DEPTH}"));
        }
        let mut out = Vec::new();
        loop {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => {
                    return match close {
                        None => Ok(out),
                        Some(_) => Err("a list is not closed".into()),
                    }
                }
                Some(c) if Some(c) == close => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b')') => return Err("a ')' closes no list".into()),
                Some(b'(') => {
                    self.i += 1;
                    out.push(Arg::List(self.seq(Some(b')'), depth + 1, count)?));
                }
                Some(b'"') => out.push(Arg::Str(self.quoted()?)),
                Some(b'{') | Some(b'~') => out.push(Arg::Str(self.literal()?)),
                Some(_) => out.push(Arg::Atom(self.atom()?)),
            }
            *count += 1;
            if *count > MAX_ITEMS {
                return Err(format!("more than {MAX_ITEMS} arguments"));
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.i += 1;
        let mut v = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(v);
                }
                Some(b'\\') => {
                    match self.b.get(self.i + 1) {
                        Some(&c @ (b'"' | b'\\')) => v.push(c),
                        _ => return Err("a quoted string escapes only \" and \\".into()),
                    }
                    self.i += 2;
                }
                Some(b'\r') | Some(b'\n') | None => {
                    return Err("a quoted string is not closed".into())
                }
                Some(c) => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// `{n}`, `{n+}` or `~{n}` (RFC 3516), CRLF, then n bytes: the framer
    /// has already read exactly that much.
    fn literal(&mut self) -> Result<Vec<u8>, String> {
        let r = self.literal_range()?;
        Ok(self.b[r].to_vec())
    }

    /// As `literal`, the place of the data rather than a copy of it.
    fn literal_range(&mut self) -> Result<std::ops::Range<usize>, String> {
        let (n, start) = self.literal_head()?;
        let end = start.checked_add(n).ok_or("a malformed literal")?;
        if end > self.b.len() {
            return Err("a literal longer than what follows it".into());
        }
        self.i = end;
        Ok(start..end)
    }

    /// A literal's announcement: its size and where its data starts (the
    /// reader is left before the announcement).
    fn literal_head(&self) -> Result<(usize, usize), String> {
        let bad = || "a malformed literal".to_string();
        let mut i = self.i;
        if self.b.get(i) == Some(&b'~') {
            i += 1;
        }
        let rest = self.b.get(i..).unwrap_or_default();
        if rest.first() != Some(&b'{') {
            return Err(bad());
        }
        let close = rest.iter().position(|&c| c == b'}').ok_or_else(bad)?;
        let digits = &rest[1..close];
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let digits = digits.strip_suffix(b"-").unwrap_or(digits);
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?;
        let after = &rest[close + 1..];
        let skip = if after.starts_with(b"\r\n") {
            2
        } else if after.starts_with(b"\n") {
            1
        } else {
            return Err(bad());
        };
        Ok((n, i + close + 1 + skip))
    }

    fn atom(&mut self) -> Result<String, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'(' | b')' | b'"' | b'{' | b'\r' | b'\n')
                || c < 0x20
                || c == 0x7f
            {
                break;
            }
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .map(str::to_string)
            .map_err(|_| "an atom is ASCII".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(line: &str) -> ListCommand {
        match parse(line.as_bytes()) {
            Ok(Some((_, ExtendedCommand::List(l)))) => l,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn rfc5258_and_rfc6154_forms() {
        // RFC 5258 5: "A002 LIST (SUBSCRIBED) "" "*"" and the RETURN form.
        let l = list_of("A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n");
        assert_eq!(l.selection, vec!["SUBSCRIBED", "RECURSIVEMATCH"]);
        assert_eq!(l.patterns, vec!["%"]);
        assert!(l.returns.children && !l.returns.subscribed);
        // RFC 5258's multiple patterns.
        let l = list_of("A03 LIST () \"\" (\"INBOX\" \"Drafts\" {4}\r\nSent) RETURN ()\r\n");
        assert_eq!(l.patterns, vec!["INBOX", "Drafts", "Sent"]);
        // RFC 5819: LIST-STATUS.
        let l = list_of("A04 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))\r\n");
        assert_eq!(
            l.returns.status,
            Some(vec!["MESSAGES".into(), "UNSEEN".into()])
        );
        // RFC 6154 5.2: the selection option implies the return option.
        let l = list_of("t1 LIST (SPECIAL-USE) \"\" \"*\"\r\n");
        assert!(l.returns_special_use() && !l.returns.special_use);
        // A plain LIST reads the same way.
        let l = list_of("a LIST \"\" *\r\n");
        assert!(l.selection.is_empty() && l.patterns == vec!["*"]);
    }

    #[test]
    fn create_with_use_and_malformed_forms() {
        assert_eq!(
            parse(b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n"),
            Ok(Some((
                "t1".into(),
                ExtendedCommand::Create {
                    mailbox: "MySpecial".into(),
                    uses: vec!["\\Drafts".into(), "\\Sent".into()]
                }
            )))
        );
        assert_eq!(parse(b"t1 CREATE Plain\r\n"), Ok(None));
        assert_eq!(parse(b"t1 SELECT INBOX\r\n"), Ok(None));
        assert!(parse(b"t1 CREATE X (FOO (bar))\r\n").is_err());
        assert!(parse(b"t1 LIST \"\" * RETURN (BOGUS)\r\n").is_err());
        assert!(parse(b"t1 LIST (\r\n").is_err());
        assert!(parse(b"t1 LIST \"\" * RETURN (STATUS)\r\n").is_err());
        // Nesting and item count are bounded.
        let deep = format!("t1 LIST {}\"\" *\r\n", "(".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
        let wide = format!("t1 LIST \"\" ({})\r\n", "a ".repeat(10_000));
        assert!(parse(wide.as_bytes()).is_err());
        // A literal longer than what follows it is refused, not read past.
        assert!(parse(b"t1 LIST \"\" {99}\r\nab\r\n").is_err());
    }

    #[test]
    fn multiappend_as_rfc3502_shows_it() {
        // RFC 3502 6.3.11's example, with shorter messages: flags on the
        // first, flags and a date-time on the second.
        let cmd = b"A003 APPEND saved-messages (\\Seen) {5}\r\nHello (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {5}\r\nWorld\r\n";
        let Ok(Some((tag, ExtendedCommand::MultiAppend { mailbox, messages }))) = parse(cmd) else {
            panic!("{:?}", parse(cmd));
        };
        assert_eq!((tag.as_str(), mailbox.as_str()), ("A003", "saved-messages"));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].flags, vec!["\\Seen"]);
        assert_eq!(messages[0].bytes(cmd), b"Hello");
        assert_eq!(
            messages[1].date.as_deref(),
            Some(" 7-Feb-1994 22:43:04 -0800")
        );
        assert_eq!(messages[1].bytes(cmd), b"World");
        // No flags, no date; literal8 and a non-synchronising literal.
        let cmd = b"a APPEND \"Sent Items\" {1+}\r\nx ~{2}\r\ny\0\r\n";
        let Ok(Some((_, ExtendedCommand::MultiAppend { mailbox, messages }))) = parse(cmd) else {
            panic!("{:?}", parse(cmd));
        };
        assert_eq!(mailbox, "Sent Items");
        assert!(!messages[0].literal8 && messages[1].literal8);
        assert_eq!(messages[1].bytes(cmd), b"y\0");
        // One message: imap-codec's to read.
        assert_eq!(parse(b"a APPEND INBOX (\\Seen) {1}\r\nx\r\n"), Ok(None));
        // Malformed: no literal, junk between messages, a literal cut short.
        assert!(parse(b"a APPEND INBOX {1}\r\nx (\\Seen)\r\n").is_err());
        assert!(parse(b"a APPEND INBOX {1}\r\nx junk {1}\r\ny\r\n").is_err());
        assert!(parse(b"a APPEND INBOX {1}\r\nx {9}\r\ny\r\n").is_err());
        assert!(parse(b"a APPEND INBOX {1}\r\nx{1}\r\ny\r\n").is_err());
        // Bounded in messages.
        let many = format!(
            "a APPEND INBOX{}\r\n",
            " {1}\r\nx".repeat(MAX_APPEND_MESSAGES + 1)
        );
        assert!(parse(many.as_bytes()).is_err());
    }

    #[test]
    fn append_sizes_of_a_refused_literal() {
        assert_eq!(
            append_sizes(b"s APPEND INBOX (\\Seen) {90000}\r\n"),
            Some(("INBOX".into(), vec![90000]))
        );
        assert_eq!(
            append_sizes(b"s APPEND INBOX {1}\r\nx {7}\r\n"),
            Some(("INBOX".into(), vec![1, 7]))
        );
        assert_eq!(append_sizes(b"s APPEND INBOX\r\n"), None);
        assert_eq!(append_sizes(b"s NOOP\r\n"), None);
        // Hostile literal heads are refused, not panicked on.
        assert!(parse(b"a APPEND INBOX ~}\r\n").is_err());
        assert!(parse(b"a LIST \"\" {}\r\n").is_err());
    }

    #[test]
    fn status_with_items_imap_codec_does_not_know() {
        assert_eq!(
            parse(b"a STATUS INBOX (APPENDLIMIT messages)\r\n"),
            Ok(Some((
                "a".into(),
                ExtendedCommand::Status {
                    mailbox: "INBOX".into(),
                    items: vec!["APPENDLIMIT".into(), "MESSAGES".into()]
                }
            )))
        );
        assert!(parse(b"a STATUS INBOX ()\r\n").is_err());
        assert!(parse(b"a STATUS INBOX\r\n").is_err());
    }
}
