//! TEMPORARY: the hand-written MIME parser that `message.rs` replaced, kept
//! only for the differential test in `message.rs`; deleted once that is clean.
#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use imap_codec::imap_types::fetch::{Part, Section};
use mail_parser::parsers::MessageStream;
use mail_parser::HeaderValue;

/// Deeper MIME nesting than this is reported as an opaque
/// application/octet-stream leaf: it bounds the recursion (stack) a hostile
/// message can cause, and no real mail nests anywhere near this deep.
const MAX_DEPTH: usize = 32;

/// Parsed once at APPEND/delivery time, cheap to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// RFC822.SIZE: the message's length in octets (saturating at `u32::MAX`).
    pub size: u32,
    /// Octets of the top-level header, blank line included (RFC822.HEADER's size).
    pub header_size: u32,
    /// The Date: header, if it parses (for SENT* searches and sorting).
    pub sent_date: Option<DateTime<FixedOffset>>,
}

/// Parse what is worth caching about a message.
pub fn parse(raw: &[u8]) -> MessageInfo {
    let (_, body_start, _) = find_header_end(raw, 0, raw.len());
    MessageInfo {
        size: to_u32(raw.len()),
        header_size: to_u32(body_start),
        sent_date: sent_date(raw),
    }
}

/// The ENVELOPE item value, IMAP syntax, e.g.
/// `("Mon, 7 Feb 1994 21:52:25 -0800" "subject" (("Name" NIL "user" "host")) ... "<msgid>")`.
pub fn envelope(raw: &[u8]) -> String {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    envelope_of(&header_fields(sub(raw, 0, fields_end)))
}

/// BODYSTRUCTURE (`extensible = true`) or BODY (`extensible = false`), IMAP
/// syntax, single-part and multipart (recursive, message/rfc822 included).
pub fn body_structure(raw: &[u8], extensible: bool) -> String {
    let root = parse_entity(raw, 0, raw.len(), false, 0);
    let mut out = String::new();
    write_body(&mut out, raw, &root, extensible);
    out
}

/// The octets of `BODY[section]` (`None` = the whole message). A section that
/// names no part of this message yields no octets. Partial `<start.count>` is
/// applied by the caller.
pub fn section(raw: &[u8], section: Option<&Section<'_>>) -> Vec<u8> {
    let Some(section) = section else {
        return raw.to_vec();
    };
    let root = parse_entity(raw, 0, raw.len(), false, 0);
    let bytes =
        match section {
            Section::Part(part) => resolve(&root, part).map(|e| body_bytes(raw, e).to_vec()),
            Section::Mime(part) => resolve(&root, part).map(|e| header_bytes(raw, e).to_vec()),
            Section::Header(part) => {
                message_at(&root, part.as_ref()).map(|m| header_bytes(raw, m).to_vec())
            }
            Section::Text(part) => {
                message_at(&root, part.as_ref()).map(|m| body_bytes(raw, m).to_vec())
            }
            Section::HeaderFields(part, names) => message_at(&root, part.as_ref())
                .map(|m| header_subset(raw, m, names.as_ref(), true)),
            Section::HeaderFieldsNot(part, names) => message_at(&root, part.as_ref())
                .map(|m| header_subset(raw, m, names.as_ref(), false)),
        };
    bytes.unwrap_or_default()
}

/// A header field's unfolded value (first occurrence in the top-level
/// header), with RFC 2047 encoded words decoded and surrounding whitespace
/// trimmed, for SEARCH HEADER/FROM/SUBJECT etc. Field names match
/// case-insensitively.
pub fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    header_fields(sub(raw, 0, fields_end))
        .iter()
        .find(|f| f.is(name))
        .map(|f| decode_header_text(f.value))
}

/// The addresses of every `name` field of the top-level header as ENVELOPE
/// parses them (comments and quoting removed, route and group syntax
/// understood), each as the forms SEARCH FROM/TO/CC/BCC compare with: the
/// display name, RFC 2047 decoded, and `mailbox@host` (RFC 3501 6.4.4: "the
/// envelope structure's FROM field").
pub fn address_search_forms(raw: &[u8], name: &str) -> Vec<String> {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    let mut out = Vec::new();
    for f in header_fields(sub(raw, 0, fields_end))
        .iter()
        .filter(|f| f.is(name))
    {
        for a in parse_address_list(&unfold(f.value)) {
            match a {
                Addr::Mailbox {
                    name,
                    mailbox,
                    host,
                    ..
                } => {
                    if let Some(n) = name {
                        out.push(decode_header_text(n.as_bytes()));
                    }
                    out.push(if host.is_empty() {
                        mailbox
                    } else {
                        format!("{mailbox}@{host}")
                    });
                }
                Addr::GroupStart(g) => out.push(decode_header_text(g.as_bytes())),
                Addr::GroupEnd => {}
            }
        }
    }
    out
}

/// The Date: header as a chrono DateTime, for SEARCH SENTBEFORE etc.
pub fn sent_date(raw: &[u8]) -> Option<DateTime<FixedOffset>> {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    let fields = header_fields(sub(raw, 0, fields_end));
    let value = unfold(fields.iter().find(|f| f.is("date"))?.value);
    parse_date(&value)
}

/// Quote a string for IMAP output: NIL for None, a quoted string when
/// possible, else a literal `{n}\r\n...`.
pub fn nstring(s: Option<&str>) -> String {
    let Some(s) = s else {
        return "NIL".to_string();
    };
    // quoted = DQUOTE *QUOTED-CHAR DQUOTE, where QUOTED-CHAR is any 7-bit
    // TEXT-CHAR (no NUL, CR, LF), with `"` and `\` escaped.
    if s.bytes()
        .all(|b| matches!(b, 0x01..=0x09 | 0x0b..=0x0c | 0x0e..=0x7f))
    {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for ch in s.chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
        out
    } else {
        // A literal may hold any CHAR8, which excludes NUL only; dropping NUL
        // keeps the UTF-8 valid because it is a one-byte character.
        let body = s.replace('\0', "");
        format!("{{{}}}\r\n{}", body.len(), body)
    }
}

// ---------------------------------------------------------------------------
// Crate-internal helpers shared with SEARCH.

/// Every top-level header field as (name, decoded value), in order, the
/// value RFC 2047-decoded, unfolded and trimmed. SEARCH matches any
/// occurrence of a repeated field, so it needs them all.
pub(crate) fn header_fields_decoded(raw: &[u8]) -> Vec<(String, String)> {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    header_fields(sub(raw, 0, fields_end))
        .iter()
        .filter(|f| !f.name.is_empty())
        .map(|f| {
            (
                String::from_utf8_lossy(f.name).into_owned(),
                decode_header_text(f.value),
            )
        })
        .collect()
}

/// The top-level header as text for SEARCH TEXT: each field as
/// `name: decoded value`, one per line.
pub(crate) fn header_search_text(raw: &[u8]) -> String {
    let (fields_end, _, _) = find_header_end(raw, 0, raw.len());
    fields_as_text(&header_fields(sub(raw, 0, fields_end)))
}

/// The body as text for SEARCH BODY/TEXT: the decoded (transfer encoding and
/// charset) content of every text/* part, plus the headers of attached
/// messages, which are part of the outer message's body. Non-text leaves
/// (images, archives) are skipped: their encoded form is not text anyone
/// searches for.
pub(crate) fn body_search_text(raw: &[u8]) -> String {
    let root = parse_entity(raw, 0, raw.len(), false, 0);
    let mut out = String::new();
    collect_text(raw, &root, &mut out);
    out
}

/// The raw top-level header octets, blank line included.
pub(crate) fn raw_header(raw: &[u8]) -> &[u8] {
    let (_, body_start, _) = find_header_end(raw, 0, raw.len());
    sub(raw, 0, body_start)
}

/// The raw body octets (after the top-level header), for a plain substring
/// fallback when decoding is not possible.
pub(crate) fn raw_body(raw: &[u8]) -> &[u8] {
    let (_, body_start, _) = find_header_end(raw, 0, raw.len());
    sub(raw, body_start, raw.len())
}

// ---------------------------------------------------------------------------
// Bounds-safe primitives.

/// `raw[a..b]`, or empty when the range is not inside `raw`.
fn sub(raw: &[u8], a: usize, b: usize) -> &[u8] {
    raw.get(a..b).unwrap_or(&[])
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The end (exclusive, after the LF) of the line starting at `pos`, or `end`.
fn line_end(raw: &[u8], pos: usize, end: usize) -> usize {
    match memchr::memchr(b'\n', sub(raw, pos, end)) {
        Some(i) => pos + i + 1,
        None => end.max(pos),
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Lines in a body, as BODYSTRUCTURE counts them: each LF ends one, and a
/// final unterminated line still counts.
fn count_lines(body: &[u8]) -> u32 {
    let mut n = memchr::memchr_iter(b'\n', body).count();
    if !body.is_empty() && !body.ends_with(b"\n") {
        n += 1;
    }
    to_u32(n)
}

/// `Name:` with a valid RFC 5322 field name (printable ASCII except colon),
/// tolerating obsolete whitespace before the colon.
fn field_name_len(line: &[u8]) -> Option<usize> {
    let colon = memchr::memchr(b':', line)?;
    let name = sub(line, 0, colon);
    let trimmed = name.trim_ascii_end();
    if trimmed.is_empty() || !trimmed.iter().all(|&b| (33..=126).contains(&b)) {
        return None;
    }
    Some(colon)
}

// ---------------------------------------------------------------------------
// Headers.

/// One header field: its name, its raw value (after the colon, folding and
/// final line end included) and its raw lines (for HEADER.FIELDS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
    raw: &'a [u8],
}

impl Field<'_> {
    fn is(&self, name: &str) -> bool {
        !self.name.is_empty() && self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Where an entity's header ends: (end of the fields, start of the body,
/// whether a blank line separated them). The blank line is
/// `fields_end..body_start`.
///
/// An entity whose first line is not a header field has no header at all
/// (RFC 2046: a body part may start directly with content after its blank
/// line, and broken mailers omit the blank line); one with no blank line is
/// all header (RFC 3501: "a message which has no body and no blank line").
fn find_header_end(raw: &[u8], start: usize, end: usize) -> (usize, usize, bool) {
    let end = end.min(raw.len());
    if start >= end {
        return (end, end, false);
    }
    let first_end = line_end(raw, start, end);
    let first = sub(raw, start, first_end);
    if is_blank(first) {
        return (start, first_end, true);
    }
    if field_name_len(first).is_none() {
        return (start, start, false);
    }
    let mut pos = first_end;
    while pos < end {
        let le = line_end(raw, pos, end);
        if is_blank(sub(raw, pos, le)) {
            return (pos, le, true);
        }
        pos = le;
    }
    (end, end, false)
}

/// Split a header block into fields. Continuation lines (leading WSP) extend
/// the previous field; lines that are not `name:` become nameless fields that
/// no HEADER.FIELDS list can select.
fn header_fields(header: &[u8]) -> Vec<Field<'_>> {
    // (start, value_start, end, named) as offsets, so continuation lines can
    // extend the previous field before the slices are taken.
    let mut spans: Vec<(usize, usize, usize, bool)> = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let le = line_end(header, pos, header.len());
        let line = sub(header, pos, le);
        if is_blank(line) {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        match spans.last_mut() {
            Some(last) if continuation => last.2 = le,
            _ => match field_name_len(line) {
                Some(colon) => spans.push((pos, pos + colon + 1, le, true)),
                None => spans.push((pos, pos, le, false)),
            },
        }
        pos = le;
    }
    spans
        .into_iter()
        .map(|(start, value_start, end, named)| {
            let name = if named {
                sub(header, start, value_start.saturating_sub(1)).trim_ascii_end()
            } else {
                &[]
            };
            Field {
                name,
                value: sub(header, value_start, end),
                raw: sub(header, start, end),
            }
        })
        .collect()
}

fn first_field<'f, 'a>(fields: &'f [Field<'a>], name: &str) -> Option<&'f Field<'a>> {
    fields.iter().find(|f| f.is(name))
}

/// RFC 5322 unfolding (every CRLF inside a field precedes WSP, so dropping
/// CR and LF is exactly unfolding), then trimming; 8-bit bytes that are not
/// UTF-8 are replaced rather than rejected.
fn unfold(value: &[u8]) -> String {
    let bytes: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(bytes.trim_ascii()).into_owned()
}

/// Unfold and decode RFC 2047 encoded words (mail-parser's unstructured
/// field parser, which needs the value to end with a line break).
pub(crate) fn decode_header_text(value: &[u8]) -> String {
    let mut buf = Vec::with_capacity(value.len() + 2);
    buf.extend_from_slice(value.trim_ascii_end());
    buf.extend_from_slice(b"\r\n");
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(text) => text.trim().to_string(),
        _ => unfold(value),
    }
}

fn fields_as_text(fields: &[Field<'_>]) -> String {
    let mut out = String::new();
    for f in fields {
        out.push_str(&String::from_utf8_lossy(f.name));
        out.push_str(": ");
        out.push_str(&decode_header_text(f.value));
        out.push('\n');
    }
    out
}

/// RFC 5322 date, strictly (chrono) and then leniently (mail-parser, which
/// copes with missing weekdays, odd zones and comments).
fn parse_date(value: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(dt) = DateTime::parse_from_rfc2822(value) {
        return Some(dt);
    }
    let dt = mail_parser::DateTime::parse_rfc822(value)?;
    let offset_secs = i32::from(dt.tz_hour) * 3600 + i32::from(dt.tz_minute) * 60;
    let offset = FixedOffset::east_opt(if dt.tz_before_gmt {
        -offset_secs
    } else {
        offset_secs
    })?;
    let naive =
        NaiveDate::from_ymd_opt(i32::from(dt.year), u32::from(dt.month), u32::from(dt.day))?
            .and_hms_opt(
                u32::from(dt.hour),
                u32::from(dt.minute),
                u32::from(dt.second),
            )?;
    offset.from_local_datetime(&naive).single()
}

// ---------------------------------------------------------------------------
// Structured field values (Content-Type and friends, RFC 2045/2183).

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
pub(crate) struct MediaType {
    ty: String,
    subtype: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    /// RFC 2045 5.2: no (or an invalid) Content-Type means text/plain; charset=us-ascii.
    fn text_plain() -> Self {
        MediaType {
            ty: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
        }
    }

    /// RFC 2046 5.1.5: the default inside multipart/digest.
    fn message_rfc822() -> Self {
        MediaType {
            ty: "MESSAGE".into(),
            subtype: "RFC822".into(),
            params: Vec::new(),
        }
    }

    fn octet_stream() -> Self {
        MediaType {
            ty: "APPLICATION".into(),
            subtype: "OCTET-STREAM".into(),
            params: Vec::new(),
        }
    }

    fn is(&self, ty: &str, subtype: &str) -> bool {
        self.ty.eq_ignore_ascii_case(ty) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn parse(value: &str) -> Option<Self> {
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
fn parse_disposition(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut lx = Lexer::new(value);
    lx.skip_cfws();
    let ty = lx.token(b"()<>@,;:\\\"/[]?=")?.to_string();
    Some((ty, lx.params()))
}

/// Content-Language (RFC 3282): comma-separated tags, comments ignored.
fn parse_languages(value: &str) -> Vec<String> {
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

// ---------------------------------------------------------------------------
// The MIME tree.

/// One MIME entity (the message itself, a body part, or an attached
/// message), as offsets into the raw message.
#[derive(Debug)]
pub(crate) struct Entity<'a> {
    /// Start of the header.
    start: usize,
    /// End of the header fields (start of the blank line, if any).
    fields_end: usize,
    /// Start of the body (after the blank line, if any).
    body_start: usize,
    /// End of the entity.
    end: usize,
    fields: Vec<Field<'a>>,
    ctype: MediaType,
    kind: Kind<'a>,
}

#[derive(Debug)]
enum Kind<'a> {
    Leaf,
    /// multipart/*: never empty (an empty one gets a synthetic empty part,
    /// because BODYSTRUCTURE's grammar needs at least one).
    Multi(Vec<Entity<'a>>),
    /// message/rfc822: the encapsulated message, spanning this entity's body.
    Message(Box<Entity<'a>>),
}

fn parse_entity(raw: &[u8], start: usize, end: usize, in_digest: bool, depth: usize) -> Entity<'_> {
    let end = end.min(raw.len());
    let start = start.min(end);
    let (fields_end, body_start, _) = find_header_end(raw, start, end);
    let fields = header_fields(sub(raw, start, fields_end));
    let mut ctype = match first_field(&fields, "content-type") {
        Some(f) => MediaType::parse(&unfold(f.value)).unwrap_or_else(MediaType::text_plain),
        None if in_digest => MediaType::message_rfc822(),
        None => MediaType::text_plain(),
    };
    let kind = if ctype.ty.eq_ignore_ascii_case("multipart") {
        match ctype
            .param("boundary")
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
        {
            Some(_) if depth >= MAX_DEPTH => {
                ctype = MediaType::octet_stream();
                Kind::Leaf
            }
            Some(boundary) => {
                let digest = ctype.subtype.eq_ignore_ascii_case("digest");
                Kind::Multi(parse_multipart(
                    raw,
                    body_start,
                    end,
                    boundary.as_bytes(),
                    digest,
                    depth + 1,
                ))
            }
            // A multipart without a boundary cannot be split; RFC 2045 5.2
            // says to treat an invalid Content-Type as text/plain.
            None => {
                ctype = MediaType::text_plain();
                Kind::Leaf
            }
        }
    } else if ctype.is("message", "rfc822") {
        if depth >= MAX_DEPTH {
            ctype = MediaType::octet_stream();
            Kind::Leaf
        } else {
            Kind::Message(Box::new(parse_entity(
                raw,
                body_start,
                end,
                false,
                depth + 1,
            )))
        }
    } else {
        Kind::Leaf
    };
    Entity {
        start,
        fields_end,
        body_start,
        end,
        fields,
        ctype,
        kind,
    }
}

/// Split a multipart body at its delimiter lines (RFC 2046 5.1.1). The line
/// break before a delimiter belongs to the delimiter, not to the part; the
/// preamble and epilogue belong to no part; a missing close delimiter ends
/// the last part at the end of the body.
fn parse_multipart<'a>(
    raw: &'a [u8],
    body_start: usize,
    end: usize,
    boundary: &[u8],
    digest: bool,
    depth: usize,
) -> Vec<Entity<'a>> {
    let body = sub(raw, body_start, end);
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delim);

    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut from = 0;
    while let Some(i) = finder.find(sub(body, from, body.len())) {
        let at = from + i;
        from = at + 1;
        // A delimiter starts a line.
        if at > 0 && body.get(at - 1) != Some(&b'\n') {
            continue;
        }
        let mut p = at + delim.len();
        let close = sub(body, p, p + 2) == b"--";
        if close {
            p += 2;
        }
        // Transport padding, then the line end (or the end of the body).
        while matches!(body.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        let line_end = if p >= body.len() {
            body.len()
        } else if sub(body, p, p + 2) == b"\r\n" {
            p + 2
        } else if body.get(p) == Some(&b'\n') {
            p + 1
        } else {
            // `--boundaryX`: a longer boundary, not ours.
            continue;
        };
        if let Some(s) = part_start {
            let mut e = at;
            if e >= s + 2 && sub(body, e - 2, e) == b"\r\n" {
                e -= 2;
            } else if e > s && body.get(e - 1) == Some(&b'\n') {
                e -= 1;
            }
            parts.push(parse_entity(
                raw,
                body_start + s,
                body_start + e,
                digest,
                depth,
            ));
        }
        if close {
            part_start = None;
            break;
        }
        part_start = Some(line_end);
        from = line_end.max(from);
    }
    if let Some(s) = part_start {
        parts.push(parse_entity(
            raw,
            body_start + s,
            body_start + body.len(),
            digest,
            depth,
        ));
    }
    if parts.is_empty() {
        let at = body_start + body.len();
        parts.push(Entity {
            start: at,
            fields_end: at,
            body_start: at,
            end: at,
            fields: Vec::new(),
            // Even in a digest: a synthetic message/rfc822 would need an
            // envelope and body of its own, so the placeholder is plain text.
            ctype: MediaType::text_plain(),
            kind: Kind::Leaf,
        });
    }
    parts
}

fn header_bytes<'r>(raw: &'r [u8], e: &Entity<'_>) -> &'r [u8] {
    sub(raw, e.start, e.body_start)
}

fn body_bytes<'r>(raw: &'r [u8], e: &Entity<'_>) -> &'r [u8] {
    sub(raw, e.body_start, e.end)
}

// ---------------------------------------------------------------------------
// Section resolution (RFC 3501 6.4.5).

/// Part `n` of a message: the n-th body part if its body is multipart;
/// otherwise only part 1 exists, and it is the message's own body.
fn part_of_message<'e, 'a>(m: &'e Entity<'a>, n: u32) -> Option<&'e Entity<'a>> {
    match &m.kind {
        Kind::Multi(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        _ if n == 1 => Some(m),
        _ => None,
    }
}

/// Part `n` nested in an already selected part: a multipart's n-th child, or
/// part `n` of an attached message. Plain leaves have no sub-parts.
fn part_of_part<'e, 'a>(e: &'e Entity<'a>, n: u32) -> Option<&'e Entity<'a>> {
    match &e.kind {
        Kind::Multi(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        Kind::Message(inner) => part_of_message(inner, n),
        Kind::Leaf => None,
    }
}

fn resolve<'e, 'a>(root: &'e Entity<'a>, part: &Part) -> Option<&'e Entity<'a>> {
    let mut ids = part.0.as_ref().iter();
    let mut cur = part_of_message(root, ids.next()?.get())?;
    for id in ids {
        cur = part_of_part(cur, id.get())?;
    }
    Some(cur)
}

/// The message that HEADER/TEXT/HEADER.FIELDS refer to: the top level, or
/// the message attached as the named (message/rfc822) part.
fn message_at<'e, 'a>(root: &'e Entity<'a>, part: Option<&Part>) -> Option<&'e Entity<'a>> {
    match part {
        None => Some(root),
        Some(part) => match &resolve(root, part)?.kind {
            Kind::Message(inner) => Some(inner),
            _ => None,
        },
    }
}

/// HEADER.FIELDS (`keep = true`) or HEADER.FIELDS.NOT: the matching raw
/// field lines in order, then the blank line if the header had one.
fn header_subset<S: AsRef<[u8]>>(raw: &[u8], m: &Entity<'_>, names: &[S], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in &m.fields {
        if f.name.is_empty() {
            continue;
        }
        let listed = names
            .iter()
            .any(|n| f.name.eq_ignore_ascii_case(n.as_ref()));
        if listed == keep {
            out.extend_from_slice(f.raw);
            // A last field without a line end (header without blank line or
            // body) still has to end its line before the next one.
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(sub(raw, m.fields_end, m.body_start));
    out
}

// ---------------------------------------------------------------------------
// ENVELOPE.

fn envelope_of(fields: &[Field<'_>]) -> String {
    let text = |name: &str| first_field(fields, name).map(|f| unfold(f.value));
    let addrs =
        |name: &str| first_field(fields, name).map(|f| parse_address_list(&unfold(f.value)));

    let from = addrs("from").unwrap_or_default();
    // RFC 3501 7.4.2: absent or empty Sender/Reply-To default to From.
    let sender = addrs("sender")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| from.clone());
    let reply_to = addrs("reply-to")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| from.clone());

    let parts = [
        nstring(text("date").as_deref()),
        nstring(text("subject").as_deref()),
        address_list(&from),
        address_list(&sender),
        address_list(&reply_to),
        address_list(&addrs("to").unwrap_or_default()),
        address_list(&addrs("cc").unwrap_or_default()),
        address_list(&addrs("bcc").unwrap_or_default()),
        nstring(text("in-reply-to").as_deref()),
        nstring(text("message-id").as_deref()),
    ];
    format!("({})", parts.join(" "))
}

/// One ENVELOPE address-list member (RFC 3501 7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addr {
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

fn address_list(addrs: &[Addr]) -> String {
    if addrs.is_empty() {
        return "NIL".to_string();
    }
    let mut out = String::from("(");
    for a in addrs {
        // No spaces between addresses: `env-from = "(" 1*address ")"`.
        match a {
            Addr::Mailbox {
                name,
                adl,
                mailbox,
                host,
            } => out.push_str(&format!(
                "({} {} {} {})",
                nstring(name.as_deref()),
                nstring(adl.as_deref()),
                nstring(Some(mailbox)),
                nstring(Some(host))
            )),
            Addr::GroupStart(name) => {
                out.push_str(&format!("(NIL NIL {} NIL)", nstring(Some(name))))
            }
            Addr::GroupEnd => out.push_str("(NIL NIL NIL NIL)"),
        }
    }
    out.push(')');
    out
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
fn parse_address_list(value: &str) -> Vec<Addr> {
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

// ---------------------------------------------------------------------------
// BODY / BODYSTRUCTURE.

fn param_list(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return "NIL".to_string();
    }
    let items: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{} {}", nstring(Some(k)), nstring(Some(v))))
        .collect();
    format!("({})", items.join(" "))
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`, shared by single and
/// multipart extension data.
fn disposition_language_location(fields: &[Field<'_>]) -> String {
    let disposition = first_field(fields, "content-disposition")
        .and_then(|f| parse_disposition(&unfold(f.value)))
        .map_or("NIL".to_string(), |(ty, params)| {
            format!("({} {})", nstring(Some(&ty)), param_list(&params))
        });
    let languages = first_field(fields, "content-language")
        .map(|f| parse_languages(&unfold(f.value)))
        .unwrap_or_default();
    let language = match languages.as_slice() {
        [] => "NIL".to_string(),
        [one] => nstring(Some(one)),
        many => {
            let items: Vec<String> = many.iter().map(|l| nstring(Some(l))).collect();
            format!("({})", items.join(" "))
        }
    };
    let location = nstring(
        first_field(fields, "content-location")
            .map(|f| unfold(f.value))
            .as_deref(),
    );
    format!("{disposition} {language} {location}")
}

fn write_body(out: &mut String, raw: &[u8], e: &Entity<'_>, extensible: bool) {
    let field = |name: &str| first_field(&e.fields, name).map(|f| unfold(f.value));
    out.push('(');
    match &e.kind {
        Kind::Multi(children) => {
            for child in children {
                write_body(out, raw, child, extensible);
            }
            out.push(' ');
            out.push_str(&nstring(Some(&e.ctype.subtype)));
            if extensible {
                out.push(' ');
                out.push_str(&param_list(&e.ctype.params));
                out.push(' ');
                out.push_str(&disposition_language_location(&e.fields));
            }
        }
        Kind::Leaf | Kind::Message(_) => {
            let body = body_bytes(raw, e);
            let encoding = field("content-transfer-encoding")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "7BIT".to_string());
            out.push_str(&format!(
                "{} {} {} {} {} {} {}",
                nstring(Some(&e.ctype.ty)),
                nstring(Some(&e.ctype.subtype)),
                param_list(&e.ctype.params),
                nstring(field("content-id").as_deref()),
                nstring(field("content-description").as_deref()),
                nstring(Some(&encoding)),
                to_u32(body.len()),
            ));
            if let Kind::Message(inner) = &e.kind {
                out.push(' ');
                out.push_str(&envelope_of(&inner.fields));
                out.push(' ');
                write_body(out, raw, inner, extensible);
                out.push_str(&format!(" {}", count_lines(body)));
            } else if e.ctype.ty.eq_ignore_ascii_case("text") {
                out.push_str(&format!(" {}", count_lines(body)));
            }
            if extensible {
                out.push(' ');
                out.push_str(&nstring(field("content-md5").as_deref()));
                out.push(' ');
                out.push_str(&disposition_language_location(&e.fields));
            }
        }
    }
    out.push(')');
}

// ---------------------------------------------------------------------------
// Text for SEARCH.

fn collect_text(raw: &[u8], e: &Entity<'_>, out: &mut String) {
    match &e.kind {
        Kind::Multi(children) => {
            for child in children {
                collect_text(raw, child, out);
            }
        }
        Kind::Message(inner) => {
            out.push_str(&fields_as_text(&inner.fields));
            collect_text(raw, inner, out);
        }
        Kind::Leaf if e.ctype.ty.eq_ignore_ascii_case("text") => {
            let body = body_bytes(raw, e);
            let encoding = first_field(&e.fields, "content-transfer-encoding")
                .map(|f| unfold(f.value).to_ascii_lowercase())
                .unwrap_or_default();
            let decoded = match encoding.as_str() {
                "base64" => mail_parser::decoders::base64::base64_decode(body),
                "quoted-printable" => {
                    mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
                }
                _ => None,
            };
            let bytes = decoded.as_deref().unwrap_or(body);
            let text = e
                .ctype
                .param("charset")
                .and_then(|cs| mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()))
                .map_or_else(
                    || String::from_utf8_lossy(bytes).into_owned(),
                    |decode| decode(bytes),
                );
            out.push_str(&text);
            out.push('\n');
        }
        Kind::Leaf => {}
    }
}

