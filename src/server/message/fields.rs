//! Structured header field values lexed *as written*, for IMAP rendering:
//! media types and their parameters (RFC 2045), Content-Disposition (RFC
//! 2183), Content-Language (RFC 3282), and address lists (RFC 5322 3.4),
//! with quoting and comments removed but case, encoded words and RFC 2231
//! parameter sections left as they stand.
//!
//! mail-parser has parsers for all of these, but they decode: its
//! Content-Type parser lowercases names, joins RFC 2231 continuations and
//! decodes values, and its address parser decodes RFC 2047 words in names,
//! folds comments into the display name and keeps no source route. RFC 3501
//! renders none of that: "body-fld-param" is the [MIME-IMB] parameter list
//! as it stands, and ENVELOPE names go out undecoded, so in 7 bits (RFC 3501
//! 4.3: "IMAP4rev1 implementations MAY transmit 8-bit or multi-octet
//! characters in literals, but SHOULD do so only when the [CHARSET] is
//! identified", which an ENVELOPE string cannot do).

use super::sub;

/// A tolerant lexer over a structured field value: skips CFWS (whitespace
/// and nested comments) and reads tokens and quoted strings.
struct Lexer<'s> {
    s: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn new(s: &'s str) -> Self {
        Lexer { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    let _ = self.comment();
                }
                _ => break,
            }
        }
    }

    /// A comment starting at `(`, nested parentheses and `\` escapes honoured;
    /// returns its text without the outer parentheses.
    fn comment(&mut self) -> String {
        let bytes = self.s.as_bytes();
        let mut depth = 0usize;
        let mut out = Vec::new();
        while let Some(&b) = bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'(' => {
                    if depth > 0 {
                        out.push(b);
                    }
                    depth += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => {
                    if let Some(&next) = bytes.get(self.pos) {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        // Only ASCII bytes were dropped, so the UTF-8 stays valid.
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A quoted string starting at `"`, unescaped, without the quotes.
    fn quoted(&mut self) -> String {
        let bytes = self.s.as_bytes();
        let mut out = Vec::new();
        self.pos += 1;
        while let Some(&b) = bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(&next) = bytes.get(self.pos) {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A run of bytes up to whitespace or one of `stops`. Stops are ASCII, so
    /// the slice always falls on character boundaries.
    fn token(&mut self, stops: &[u8]) -> Option<&'s str> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || b.is_ascii_control() || stops.contains(&b) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            None
        } else {
            self.s.get(start..self.pos)
        }
    }

    /// Skip to just after the next `;` (or the end): error recovery.
    fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'"' {
                let _ = self.quoted();
                continue;
            }
            if b == b'(' {
                let _ = self.comment();
                continue;
            }
            self.pos += 1;
            if b == b';' {
                break;
            }
        }
    }

    /// `*(";" attribute "=" value)`; malformed parameters are skipped.
    fn params(&mut self) -> Vec<(String, String)> {
        const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";
        let mut out = Vec::new();
        loop {
            self.skip_cfws();
            match self.peek() {
                None => break,
                Some(b';') => self.pos += 1,
                Some(_) => {
                    self.skip_past_semicolon();
                    continue;
                }
            }
            self.skip_cfws();
            let Some(name) = self.token(TSPECIALS) else {
                continue;
            };
            self.skip_cfws();
            if self.peek() != Some(b'=') {
                continue;
            }
            self.pos += 1;
            self.skip_cfws();
            let value = match self.peek() {
                Some(b'"') => self.quoted(),
                // Lenient: unquoted values with tspecials (`name=a/b.pdf`)
                // are common, so only `;` and whitespace end them.
                _ => self.token(b";").unwrap_or_default().to_string(),
            };
            out.push((name.to_string(), value));
        }
        out
    }
}

/// A media type as sent (case preserved), with parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaType {
    pub(super) ty: String,
    pub(super) subtype: String,
    pub(super) params: Vec<(String, String)>,
}

impl MediaType {
    /// RFC 2045 5.2: no (or an invalid) Content-Type means text/plain; charset=us-ascii.
    pub(super) fn text_plain() -> Self {
        MediaType {
            ty: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
        }
    }

    /// RFC 2046 5.1.5: the default inside multipart/digest.
    pub(super) fn message_rfc822() -> Self {
        MediaType {
            ty: "MESSAGE".into(),
            subtype: "RFC822".into(),
            params: Vec::new(),
        }
    }

    pub(super) fn octet_stream() -> Self {
        MediaType {
            ty: "APPLICATION".into(),
            subtype: "OCTET-STREAM".into(),
            params: Vec::new(),
        }
    }

    pub(super) fn is(&self, ty: &str, subtype: &str) -> bool {
        self.ty.eq_ignore_ascii_case(ty) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn parse(value: &str) -> Option<Self> {
        const STOPS: &[u8] = b"()<>@,;:\\\"/[]?=";
        let mut lx = Lexer::new(value);
        lx.skip_cfws();
        let ty = lx.token(STOPS)?.to_string();
        lx.skip_cfws();
        if lx.peek() != Some(b'/') {
            return None;
        }
        lx.pos += 1;
        lx.skip_cfws();
        let subtype = lx.token(STOPS)?.to_string();
        let mut params = lx.params();
        // RFC 2045: text/* without a charset is us-ascii; BODYSTRUCTURE
        // reports that default so clients need not know it.
        if ty.eq_ignore_ascii_case("text")
            && !params
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("charset"))
        {
            params.push(("CHARSET".into(), "US-ASCII".into()));
        }
        Some(MediaType {
            ty,
            subtype,
            params,
        })
    }
}

/// Content-Disposition (RFC 2183): the type as sent and its parameters.
pub(super) fn parse_disposition(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut lx = Lexer::new(value);
    lx.skip_cfws();
    let ty = lx.token(b"()<>@,;:\\\"/[]?=")?.to_string();
    Some((ty, lx.params()))
}

/// Content-Language (RFC 3282): comma-separated tags, comments ignored.
pub(super) fn parse_languages(value: &str) -> Vec<String> {
    let mut lx = Lexer::new(value);
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.pos += 1,
            Some(_) => match lx.token(b"(,") {
                Some(tag) => out.push(tag.to_string()),
                None => lx.pos += 1,
            },
        }
    }
    out
}

/// One ENVELOPE address-list member (RFC 3501 7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Addr {
    Mailbox {
        name: Option<String>,
        adl: Option<String>,
        mailbox: String,
        host: String,
    },
    /// `(NIL NIL "group name" NIL)`.
    GroupStart(String),
    /// `(NIL NIL NIL NIL)`.
    GroupEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Atom(String),
    Quoted(String),
    Comment(String),
    DomainLiteral(String),
    Special(u8),
}

/// RFC 5322 address tokens. `.` stays inside atoms, so dot-atoms and
/// obsolete phrases like `J. Doe` come out whole.
fn tokenize(s: &str) -> Vec<Tok> {
    let bytes = s.as_bytes();
    let mut lx = Lexer::new(s);
    let mut out = Vec::new();
    while let Some(b) = lx.peek() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => lx.pos += 1,
            b'(' => out.push(Tok::Comment(lx.comment())),
            b'"' => out.push(Tok::Quoted(lx.quoted())),
            b'[' => {
                let start = lx.pos;
                let close = memchr::memchr(b']', sub(bytes, start, bytes.len()))
                    .map_or(bytes.len(), |i| start + i + 1);
                lx.pos = close;
                out.push(Tok::DomainLiteral(
                    s.get(start..close).unwrap_or_default().to_string(),
                ));
            }
            b'<' | b'>' | b',' | b';' | b':' | b'@' => {
                lx.pos += 1;
                out.push(Tok::Special(b));
            }
            _ => match lx.token(b"()<>,;:@\"[") {
                Some(atom) => out.push(Tok::Atom(atom.to_string())),
                // A control character: skip it so the loop always advances.
                None => lx.pos += 1,
            },
        }
    }
    out
}

/// Parse an address list (RFC 5322 3.4, obsolete forms tolerated), keeping
/// display names and local parts as sent apart from removing quoting (RFC
/// 3501 wants them undecoded).
pub(super) fn parse_address_list(value: &str) -> Vec<Addr> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    let mut buf: Vec<Tok> = Vec::new();
    let mut in_angle = false;
    let mut in_group = false;
    for tok in toks {
        match tok {
            Tok::Special(b'<') => {
                in_angle = true;
                buf.push(tok);
            }
            Tok::Special(b'>') => {
                in_angle = false;
                buf.push(tok);
            }
            Tok::Special(b',') if !in_angle => flush_mailbox(&mut buf, &mut out),
            Tok::Special(b':')
                if !in_angle
                    && !in_group
                    && !buf.iter().any(|t| matches!(t, Tok::Special(b'@' | b'<'))) =>
            {
                out.push(Addr::GroupStart(phrase(&buf)));
                buf.clear();
                in_group = true;
            }
            Tok::Special(b';') if !in_angle => {
                flush_mailbox(&mut buf, &mut out);
                if in_group {
                    out.push(Addr::GroupEnd);
                    in_group = false;
                }
            }
            _ => buf.push(tok),
        }
    }
    flush_mailbox(&mut buf, &mut out);
    if in_group {
        out.push(Addr::GroupEnd);
    }
    out
}

/// Words joined by single spaces (a display or group name).
fn phrase(toks: &[Tok]) -> String {
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Atom(s) | Tok::Quoted(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    words.join(" ")
}

/// Tokens concatenated without spaces (local part, domain, route).
fn concat(toks: &[Tok]) -> String {
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Atom(s) | Tok::Quoted(s) | Tok::DomainLiteral(s) => out.push_str(s),
            Tok::Special(b) => out.push(char::from(*b)),
            Tok::Comment(_) => {}
        }
    }
    out
}

/// `local@domain`, split at the last `@`. Without one, the words are the
/// mailbox and the host is empty (not NIL, which would mean a group).
fn addr_spec(toks: &[Tok]) -> (String, String) {
    let toks: Vec<Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Comment(_)))
        .cloned()
        .collect();
    match toks.iter().rposition(|t| *t == Tok::Special(b'@')) {
        Some(at) => (
            concat(sub_toks(&toks, 0, at)),
            concat(sub_toks(&toks, at + 1, toks.len())),
        ),
        None => (phrase(&toks), String::new()),
    }
}

fn sub_toks(toks: &[Tok], a: usize, b: usize) -> &[Tok] {
    toks.get(a..b).unwrap_or(&[])
}

fn flush_mailbox(buf: &mut Vec<Tok>, out: &mut Vec<Addr>) {
    let toks = std::mem::take(buf);
    if !toks.iter().any(|t| !matches!(t, Tok::Comment(_))) {
        return;
    }
    let addr = match toks.iter().position(|t| *t == Tok::Special(b'<')) {
        Some(lt) => {
            let name = phrase(sub_toks(&toks, 0, lt));
            let inner_end = toks
                .iter()
                .skip(lt + 1)
                .position(|t| *t == Tok::Special(b'>'))
                .map_or(toks.len(), |i| lt + 1 + i);
            let inner = sub_toks(&toks, lt + 1, inner_end);
            // Obsolete source route: `<@a,@b:user@host>`.
            let (adl, spec) = match (
                inner.first(),
                inner.iter().position(|t| *t == Tok::Special(b':')),
            ) {
                (Some(Tok::Special(b'@')), Some(colon)) => (
                    Some(concat(sub_toks(inner, 0, colon))),
                    sub_toks(inner, colon + 1, inner.len()),
                ),
                _ => (None, inner),
            };
            let (mailbox, host) = addr_spec(spec);
            Addr::Mailbox {
                name: (!name.is_empty()).then_some(name),
                adl,
                mailbox,
                host,
            }
        }
        None => {
            // `user@host (Real Name)`: the comment is the only name there is.
            let name = toks.iter().find_map(|t| match t {
                Tok::Comment(c) if !c.trim().is_empty() => Some(c.trim().to_string()),
                _ => None,
            });
            let (mailbox, host) = addr_spec(&toks);
            Addr::Mailbox {
                name,
                adl: None,
                mailbox,
                host,
            }
        }
    };
    out.push(addr);
}
