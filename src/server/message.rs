//! What FETCH (and SEARCH) need from a stored RFC 5322 message: its size, the
//! ENVELOPE and BODY/BODYSTRUCTURE values in IMAP syntax (RFC 3501 7.4.2), the
//! octets of `BODY[section]` (RFC 3501 6.4.5), and header/date lookups.
//!
//! Stored messages are untrusted bytes, so nothing here panics or slices
//! without a bounds check; malformed input degrades to the RFC 2045 defaults
//! (text/plain; charset=us-ascii, 7BIT) instead of failing.
//!
//! mail-parser does the MIME work: it splits header fields (with their octet
//! offsets), finds multipart boundaries and nested messages, and gives every
//! part its `offset_header`/`offset_body`/`offset_end` in the raw message. It
//! also decodes RFC 2047 encoded words, dates, and transfer/charset encodings
//! (for SEARCH). What IMAP adds on top is ours: part numbering and section
//! resolution (`tree`, RFC 3501 6.4.5), and rendering ENVELOPE and
//! BODYSTRUCTURE (here), whose strings IMAP sends *as written* in the header
//! (raw parameter lists, undecoded names, source routes), which is why the
//! small lexer for structured field values (`fields`) is ours and not
//! mail-parser's decoding one.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use imap_codec::imap_types::fetch::Section;
use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderName, HeaderValue, MessageParser};

mod binary;
mod fields;
mod sortkeys;
mod tree;

pub use binary::{binary_sections, stored_form, BinaryError, Unstorable};
pub use sortkeys::sort_item;

use fields::{parse_address_list, parse_disposition, parse_languages, Addr};
use tree::{
    body_bytes, header_bytes, header_subset, message_at, parse_tree, resolve, Entity, Kind,
};

/// A multipart or attached message nested deeper than this is reported as an
/// opaque application/octet-stream leaf (its octets still fetchable as that
/// part). It bounds the recursion a hostile message can cause, and it keeps
/// BODYSTRUCTURE within what clients' parsers accept: imap-codec (the
/// harness's own parser) refuses a body nested more than 7 lists deep, which
/// depth 6 plus its leaf is. RFC 3501 sets no limit, so this is a choice;
/// a forward of a forward (mixed, rfc822, mixed, rfc822, mixed, alternative,
/// text) still fits.
const MAX_DEPTH: usize = 6;

/// mail-parser configured to parse only what the MIME structure depends on
/// (Content-Type: boundaries, digest defaults); every other field is kept
/// raw, which is cheap and is what IMAP renders anyway.
///
/// Content-Transfer-Encoding is deliberately *not* parsed as text: mail-parser
/// then sees no encoding and leaves every body as the borrowed octets it is,
/// instead of base64/quoted-printable-decoding each attachment on every
/// BODYSTRUCTURE (IMAP sections are the stored octets; SEARCH decodes the
/// text parts it needs itself). It also keeps an attached message that
/// is (against RFC 2046 5.2.1) transfer-encoded in place, so its offsets stay
/// offsets into the stored message.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_comma_separated(HeaderName::ContentTransferEncoding)
        .default_header_raw()
});

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
    let top = TopHeader::parse(raw);
    MessageInfo {
        size: to_u32(raw.len()),
        header_size: to_u32(top.body_start),
        sent_date: date_of(&top.fields),
    }
}

/// The ENVELOPE item value, IMAP syntax, e.g.
/// `("Mon, 7 Feb 1994 21:52:25 -0800" "subject" (("Name" NIL "user" "host")) ... "<msgid>")`.
pub fn envelope(raw: &[u8]) -> String {
    envelope_of(&TopHeader::parse(raw).fields)
}

/// BODYSTRUCTURE (`extensible = true`) or BODY (`extensible = false`), IMAP
/// syntax, single-part and multipart (recursive, message/rfc822 included).
pub fn body_structure(raw: &[u8], extensible: bool) -> String {
    let root = parse_tree(raw);
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
    // The commonest sections (RFC822.HEADER, RFC822.TEXT) need no MIME tree.
    match section {
        Section::Header(None) => return raw_header(raw).to_vec(),
        Section::Text(None) => return raw_body(raw).to_vec(),
        _ => {}
    }
    let root = parse_tree(raw);
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
    TopHeader::parse(raw)
        .fields
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
    let mut out = Vec::new();
    for f in TopHeader::parse(raw).fields.iter().filter(|f| f.is(name)) {
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
    date_of(&TopHeader::parse(raw).fields)
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
    TopHeader::parse(raw)
        .fields
        .iter()
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
    fields_as_text(&TopHeader::parse(raw).fields)
}

/// The body as text for SEARCH BODY/TEXT: the decoded (transfer encoding and
/// charset) content of every text/* part, plus the headers of attached
/// messages, which are part of the outer message's body. Non-text leaves
/// (images, archives) are skipped: their encoded form is not text anyone
/// searches for.
pub(crate) fn body_search_text(raw: &[u8]) -> String {
    let root = parse_tree(raw);
    let mut out = String::new();
    collect_text(raw, &root, &mut out);
    out
}

/// The raw top-level header octets, blank line included.
pub(crate) fn raw_header(raw: &[u8]) -> &[u8] {
    sub(raw, 0, TopHeader::parse(raw).body_start)
}

/// The raw body octets (after the top-level header), for a plain substring
/// fallback when decoding is not possible.
pub(crate) fn raw_body(raw: &[u8]) -> &[u8] {
    sub(raw, TopHeader::parse(raw).body_start, raw.len())
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

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
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

// ---------------------------------------------------------------------------
// Headers.

/// One header field as mail-parser found it, as slices of the raw message:
/// its name as written, its raw value (after the colon, folding and final
/// line end included) and its raw lines (for HEADER.FIELDS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// Where the field starts in the raw message.
    at: usize,
    name: &'a [u8],
    value: &'a [u8],
    raw: &'a [u8],
}

impl Field<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// mail-parser's header fields of the entity whose header starts at `base`,
/// turned into slices of `raw`. Its offsets are relative to the bytes it
/// parsed, which start at `base`.
fn fields_from<'a>(
    raw: &'a [u8],
    base: usize,
    headers: &[mail_parser::Header<'_>],
) -> Vec<Field<'a>> {
    headers
        .iter()
        .filter_map(|h| {
            let field = base.saturating_add(to_usize(h.offset_field));
            let value = base.saturating_add(to_usize(h.offset_start));
            let end = base.saturating_add(to_usize(h.offset_end));
            // The name is what precedes the colon, which mail-parser consumed
            // just before the value starts. A last line cut off at the end
            // of input has no colon, and mail-parser still reports its text
            // as a name: that is no field (RFC 5322 2.2: "Header fields are
            // lines beginning with a field name, followed by a colon").
            let colon = value.checked_sub(1)?;
            if raw.get(colon) != Some(&b':') {
                return None;
            }
            Some(Field {
                at: field,
                name: sub(raw, field, colon).trim_ascii(),
                value: sub(raw, value, end),
                raw: sub(raw, field, end),
            })
        })
        .collect()
}

/// The start of the blank line that ends the header `start..body_start`, or
/// `body_start` when the header ran to the end without one (RFC 3501: "a
/// message which has no body and no blank line").
fn blank_line_start(raw: &[u8], start: usize, body_start: usize) -> usize {
    let header = sub(raw, start, body_start);
    let Some(without_lf) = header.strip_suffix(b"\n") else {
        return body_start;
    };
    let line_start = memchr::memrchr(b'\n', without_lf).map_or(0, |i| i + 1);
    if sub(without_lf, line_start, without_lf.len())
        .trim_ascii()
        .is_empty()
    {
        start + line_start
    } else {
        body_start
    }
}

/// The top-level header alone, without the MIME tree (ENVELOPE, SEARCH and
/// RFC822.HEADER need no more).
struct TopHeader<'a> {
    fields: Vec<Field<'a>>,
    body_start: usize,
}

impl<'a> TopHeader<'a> {
    fn parse(raw: &'a [u8]) -> Self {
        let mut stream = MessageStream::new(raw);
        let mut headers = Vec::new();
        let complete = stream.parse_headers(&PARSER, &mut headers);
        let fields = fields_from(raw, 0, &headers);
        // Without a blank line the header runs to the end (mail-parser says
        // so by returning false at end of input), unless it held no field
        // at all: then there is no header, only body (as in the MIME tree).
        let body_start = if complete {
            stream.offset().min(raw.len())
        } else if fields.is_empty() {
            0
        } else {
            raw.len()
        };
        TopHeader { fields, body_start }
    }
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

/// The first Date: field, parsed by mail-parser (RFC 5322 3.3, obsolete
/// forms, comments and odd zones tolerated).
fn date_of(fields: &[Field<'_>]) -> Option<DateTime<FixedOffset>> {
    let value = unfold(first_field(fields, "date")?.value);
    let dt = mail_parser::DateTime::parse_rfc822(&value)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::body::{BodyStructure, SpecificFields};
    use imap_codec::imap_types::command::CommandBody;
    use imap_codec::imap_types::core::NString;
    use imap_codec::imap_types::envelope::{Address, Envelope};
    use imap_codec::imap_types::fetch::{
        MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
    };
    use imap_codec::imap_types::response::{Data, Response};
    use imap_codec::{CommandCodec, ResponseCodec};

    fn crlf(s: &str) -> Vec<u8> {
        s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
    }

    /// Decode `* 1 FETCH (<item>)` with imap-codec and hand the item over.
    fn decode_item(item: &str, check: impl FnOnce(&MessageDataItem<'_>)) {
        let line = format!("* 1 FETCH ({item})\r\n");
        match ResponseCodec::default().decode(line.as_bytes()) {
            Ok((rest, Response::Data(Data::Fetch { items, .. }))) => {
                assert!(rest.is_empty(), "trailing bytes after {line:?}");
                let items = items.as_ref();
                assert_eq!(items.len(), 1);
                check(&items[0]);
            }
            other => panic!("imap-codec rejected {line:?}: {other:?}"),
        }
    }

    pub(super) fn decode_envelope(raw: &[u8], check: impl FnOnce(&Envelope<'_>)) {
        decode_item(&format!("ENVELOPE {}", envelope(raw)), |item| match item {
            MessageDataItem::Envelope(env) => check(env),
            other => panic!("not an envelope: {other:?}"),
        });
    }

    pub(super) fn decode_bodystructure(raw: &[u8], check: impl FnOnce(&BodyStructure<'_>)) {
        let bs = body_structure(raw, true);
        decode_item(&format!("BODYSTRUCTURE {bs}"), |item| match item {
            MessageDataItem::BodyStructure(b) => check(b),
            other => panic!("not a bodystructure: {other:?}"),
        });
        // The non-extensible form must parse too.
        let body = body_structure(raw, false);
        decode_item(&format!("BODY {body}"), |item| {
            assert!(matches!(item, MessageDataItem::Body(_)), "{item:?}");
        });
    }

    fn ns(n: &NString<'_>) -> Option<String> {
        n.0.as_ref()
            .map(|s| String::from_utf8_lossy(s.as_ref()).into_owned())
    }

    fn addr(a: &Address<'_>) -> [Option<String>; 4] {
        [ns(&a.name), ns(&a.adl), ns(&a.mailbox), ns(&a.host)]
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    /// `BODY[<spec>]` of `raw`, with the section parsed by imap-codec from a
    /// real FETCH command so the test exercises the types the server gets.
    fn fetch_section(raw: &[u8], spec: &str) -> Vec<u8> {
        let cmd = format!("a FETCH 1 (BODY.PEEK[{spec}])\r\n");
        let (_, cmd) = CommandCodec::default()
            .decode(cmd.as_bytes())
            .unwrap_or_else(|e| panic!("bad test section {spec:?}: {e:?}"));
        match cmd.body {
            CommandBody::Fetch {
                macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
                ..
            } => match names.first() {
                Some(MessageDataItemName::BodyExt { section: sec, .. }) => {
                    section(raw, sec.as_ref())
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    pub(super) const PLAIN: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800\n\
From: Fred Foobar <foobar@Blurdybloop.example>\n\
Subject: afternoon meeting\n\
To: mooch@owatagu.siam.example\n\
Message-Id: <B27397-0100000@Blurdybloop.example>\n\
MIME-Version: 1.0\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\
\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\n";

    #[test]
    fn plain_message_envelope_and_structure() {
        let raw = crlf(PLAIN);
        let env = envelope(&raw);
        assert_eq!(
            env,
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((NIL NIL \"mooch\" \"owatagu.siam.example\")) NIL NIL NIL \
             \"<B27397-0100000@Blurdybloop.example>\")"
        );
        decode_envelope(&raw, |env| {
            assert_eq!(ns(&env.subject), s("afternoon meeting"));
            assert_eq!(env.sender.len(), 1);
            assert!(env.cc.is_empty());
        });
        assert_eq!(
            body_structure(&raw, true),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1 NIL NIL NIL NIL)"
        );
        assert_eq!(
            body_structure(&raw, false),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1)"
        );
        decode_bodystructure(&raw, |bs| match bs {
            BodyStructure::Single { body, .. } => {
                assert_eq!(body.basic.size, 55);
                assert!(matches!(
                    body.specific,
                    SpecificFields::Text {
                        number_of_lines: 1,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        });
        let info = parse(&raw);
        assert_eq!(info.size as usize, raw.len());
        assert_eq!(info.header_size as usize, raw.len() - 55);
        assert_eq!(
            info.sent_date.map(|d| d.to_rfc3339()),
            Some("1994-02-07T21:52:25-08:00".to_string())
        );
    }

    pub(super) const ALTERNATIVE: &str = "From: a@example.com\n\
Subject: alt\n\
MIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"b1\"\n\
\n\
preamble\n\
--b1\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Gr=C3=BC=C3=9Fe\n\
--b1\n\
Content-Type: text/html; charset=utf-8\n\
\n\
<p>Hi</p>\n\
--b1--\n\
epilogue\n";

    #[test]
    fn multipart_alternative() {
        let raw = crlf(ALTERNATIVE);
        let bs = body_structure(&raw, true);
        assert_eq!(
            bs,
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 1 NIL NIL NIL NIL)\
             (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL) \
             \"alternative\" (\"boundary\" \"b1\") NIL NIL NIL)"
        );
        decode_bodystructure(&raw, |bs| match bs {
            BodyStructure::Multi {
                bodies, subtype, ..
            } => {
                assert_eq!(bodies.as_ref().len(), 2);
                assert_eq!(subtype.as_ref(), b"alternative");
            }
            other => panic!("{other:?}"),
        });
        assert_eq!(fetch_section(&raw, "1"), b"Gr=C3=BC=C3=9Fe");
        assert_eq!(fetch_section(&raw, "2"), b"<p>Hi</p>");
        assert_eq!(
            fetch_section(&raw, "1.MIME"),
            crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")
        );
        assert_eq!(fetch_section(&raw, "3"), b"");
        assert!(body_search_text(&raw).contains("Grüße"));
    }

    pub(super) const MIXED: &str = "From: \"Sender, The\" <s@example.com>\n\
To: r@example.com\n\
Subject: report\n\
Date: Tue, 1 Mar 2022 10:00:00 +0000\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=outer\n\
\n\
--outer\n\
Content-Type: text/plain\n\
\n\
See attached.\n\
--outer\n\
Content-Type: application/pdf; name=\"report.pdf\"\n\
Content-Transfer-Encoding: base64\n\
Content-Disposition: attachment; filename=\"report.pdf\"\n\
Content-ID: <pdf1@example.com>\n\
Content-Description: The report\n\
Content-Language: en, de\n\
\n\
JVBERi0xLjQK\n\
--outer\n\
Content-Type: message/rfc822\n\
\n\
From: inner@example.org\n\
Subject: inner subject\n\
Content-Type: multipart/alternative; boundary=inner\n\
\n\
--inner\n\
Content-Type: text/plain\n\
\n\
inner text\n\
--inner\n\
Content-Type: text/html\n\
\n\
<b>inner</b>\n\
--inner--\n\
--outer--\n";

    #[test]
    fn multipart_mixed_with_attachment_and_nested_message() {
        let raw = crlf(MIXED);
        decode_bodystructure(&raw, |bs| {
            let BodyStructure::Multi { bodies, .. } = bs else {
                panic!("{bs:?}");
            };
            let bodies = bodies.as_ref();
            assert_eq!(bodies.len(), 3);
            let BodyStructure::Single {
                body,
                extension_data,
            } = &bodies[1]
            else {
                panic!("{:?}", bodies[1]);
            };
            assert_eq!(body.basic.size, 12);
            assert_eq!(ns(&body.basic.id), s("<pdf1@example.com>"));
            assert_eq!(ns(&body.basic.description), s("The report"));
            let ext = extension_data
                .as_ref()
                .map(|e| format!("{e:?}"))
                .unwrap_or_default();
            assert!(ext.contains("attachment"), "{ext}");
            let BodyStructure::Single { body, .. } = &bodies[2] else {
                panic!("{:?}", bodies[2]);
            };
            match &body.specific {
                SpecificFields::Message {
                    envelope,
                    body_structure,
                    ..
                } => {
                    assert_eq!(ns(&envelope.subject), s("inner subject"));
                    assert!(matches!(**body_structure, BodyStructure::Multi { .. }));
                }
                other => panic!("{other:?}"),
            }
        });
        assert!(body_structure(&raw, true).contains("(\"en\" \"de\")"));
        assert_eq!(fetch_section(&raw, "1"), b"See attached.");
        assert_eq!(fetch_section(&raw, "2"), b"JVBERi0xLjQK");
        assert_eq!(fetch_section(&raw, "3.HEADER"), crlf("From: inner@example.org\nSubject: inner subject\nContent-Type: multipart/alternative; boundary=inner\n\n"));
        assert_eq!(fetch_section(&raw, "3.1"), b"inner text");
        assert_eq!(fetch_section(&raw, "3.2"), b"<b>inner</b>");
        assert_eq!(
            fetch_section(&raw, "3.2.MIME"),
            crlf("Content-Type: text/html\n\n")
        );
        assert_eq!(
            fetch_section(&raw, "3.HEADER.FIELDS (subject)"),
            crlf("Subject: inner subject\n\n")
        );
        assert!(fetch_section(&raw, "3.TEXT").starts_with(b"--inner\r\n"));
        assert!(fetch_section(&raw, "3").starts_with(b"From: inner@example.org\r\n"));
        // Leaves have no sub-parts, and HEADER needs a message/rfc822 part.
        assert_eq!(fetch_section(&raw, "1.1"), b"");
        assert_eq!(fetch_section(&raw, "2.HEADER"), b"");
        assert_eq!(fetch_section(&raw, "3.3"), b"");
        let text = body_search_text(&raw);
        assert!(text.contains("inner subject") && text.contains("inner text"));
        assert!(!text.contains("JVBERi0"));
    }

    #[test]
    fn nested_single_part_message_numbering() {
        let raw = crlf(
            "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n\
             Subject: in\n\nbody of inner\n--x--\n",
        );
        // Part 2.1 of a message whose part 1 is a non-multipart message is
        // that message's body (RFC 3501 6.4.5).
        assert_eq!(fetch_section(&raw, "1.1"), b"body of inner");
        assert_eq!(fetch_section(&raw, "1.1.MIME"), crlf("Subject: in\n\n"));
        assert_eq!(fetch_section(&raw, "1.TEXT"), b"body of inner");
        decode_bodystructure(&raw, |_| {});
    }

    #[test]
    fn message_without_headers() {
        for raw in [
            crlf("\nJust a body\n"),
            crlf("Just a body, no header at all\n"),
            Vec::new(),
        ] {
            let env = envelope(&raw);
            assert_eq!(env, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
            decode_envelope(&raw, |env| assert!(env.from.is_empty()));
            let bs = body_structure(&raw, true);
            assert!(
                bs.starts_with("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\""),
                "{bs}"
            );
            decode_bodystructure(&raw, |_| {});
            assert_eq!(fetch_section(&raw, "1"), fetch_section(&raw, "TEXT"));
        }
        let raw = crlf("\nJust a body\n");
        assert_eq!(fetch_section(&raw, "HEADER"), b"\r\n");
        assert_eq!(fetch_section(&raw, "TEXT"), b"Just a body\r\n");
        let raw = crlf("Just a body, no header at all\n");
        assert_eq!(fetch_section(&raw, "HEADER"), b"");
        assert_eq!(fetch_section(&raw, "TEXT"), raw);
        // Cut before any line end: mail-parser reports the text as a field
        // name, but with no colon it is body (the same in every view).
        let raw = b"Just a body";
        assert_eq!(fetch_section(raw, "HEADER"), b"");
        assert_eq!(fetch_section(raw, "TEXT"), raw);
        assert_eq!(fetch_section(raw, "1"), raw);
        assert_eq!(fetch_section(raw, "1.MIME"), b"");
        assert_eq!(parse(raw).header_size, 0);
    }

    #[test]
    fn groups_and_quoted_names() {
        let raw = crlf(
            "From: \"O'Brien, Pat \\\"PJ\\\" (x)\" <pat@example.com>\n\
             Sender: =?utf-8?q?J=C3=B6rg?= <j@example.com>\n\
             To: Friends: \"Doe, John\" <john@x.org>, jane@y.org (Jane Y);, solo@z.org\n\
             Cc: undisclosed-recipients:;\n\
             Bcc: <@relay.example,@r2.example:route@dest.example>\n\
             Reply-To:\n\
             Subject: Caf\u{e9} \"quoted\" \\ back\n\
             In-Reply-To: <a@b>\n\
             \n\
             body\n",
        );
        let env = envelope(&raw);
        assert!(
            env.contains("((\"O'Brien, Pat \\\"PJ\\\" (x)\" NIL \"pat\" \"example.com\"))"),
            "{env}"
        );
        decode_envelope(&raw, |env| {
            assert_eq!(
                addr(&env.from[0]),
                [
                    s("O'Brien, Pat \"PJ\" (x)"),
                    None,
                    s("pat"),
                    s("example.com")
                ]
            );
            // Names are sent undecoded (RFC 3501 7.4.2).
            assert_eq!(addr(&env.sender[0])[0], s("=?utf-8?q?J=C3=B6rg?="));
            // Empty Reply-To defaults to From.
            assert_eq!(env.reply_to, env.from);
            let to: Vec<_> = env.to.iter().map(addr).collect();
            assert_eq!(
                to,
                vec![
                    [None, None, s("Friends"), None],
                    [s("Doe, John"), None, s("john"), s("x.org")],
                    [s("Jane Y"), None, s("jane"), s("y.org")],
                    [None, None, None, None],
                    [None, None, s("solo"), s("z.org")],
                ]
            );
            let cc: Vec<_> = env.cc.iter().map(addr).collect();
            assert_eq!(
                cc,
                vec![
                    [None, None, s("undisclosed-recipients"), None],
                    [None, None, None, None]
                ]
            );
            assert_eq!(
                addr(&env.bcc[0]),
                [
                    None,
                    s("@relay.example,@r2.example"),
                    s("route"),
                    s("dest.example")
                ]
            );
            // Non-ASCII goes out as a literal.
            assert_eq!(ns(&env.subject), s("Caf\u{e9} \"quoted\" \\ back"));
            assert_eq!(ns(&env.in_reply_to), s("<a@b>"));
            assert_eq!(ns(&env.message_id), None);
        });
        assert_eq!(header_value(&raw, "sender"), s("Jörg <j@example.com>"));
    }

    #[test]
    fn nstring_forms() {
        assert_eq!(nstring(None), "NIL");
        assert_eq!(nstring(Some("")), "\"\"");
        assert_eq!(nstring(Some("a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(nstring(Some("a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(nstring(Some("é")), "{2}\r\né");
        assert_eq!(nstring(Some("a\0b")), "{2}\r\nab");
    }

    #[test]
    fn top_level_sections() {
        let raw = crlf(PLAIN);
        let header_len = raw.len() - 55;
        assert_eq!(fetch_section(&raw, ""), raw);
        assert_eq!(fetch_section(&raw, "HEADER"), &raw[..header_len]);
        assert_eq!(fetch_section(&raw, "TEXT"), &raw[header_len..]);
        assert_eq!(fetch_section(&raw, "1"), &raw[header_len..]);
        assert_eq!(fetch_section(&raw, "1.MIME"), &raw[..header_len]);
        assert_eq!(fetch_section(&raw, "2"), b"");
        assert_eq!(
            fetch_section(&raw, "HEADER.FIELDS (Subject FROM)"),
            crlf("From: Fred Foobar <foobar@Blurdybloop.example>\nSubject: afternoon meeting\n\n")
        );
        let not = fetch_section(
            &raw,
            "HEADER.FIELDS.NOT (subject from date message-id mime-version)",
        );
        assert_eq!(
            not,
            crlf("To: mooch@owatagu.siam.example\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\n")
        );
        assert_eq!(fetch_section(&raw, "HEADER.FIELDS (X-Absent)"), b"\r\n");
        assert_eq!(section(&raw, None), raw);
    }

    #[test]
    fn folded_headers() {
        let raw = crlf("Subject: a\n  folded\n\tsubject\nX-A: 1\n\nb\n");
        // mail-parser's decoder also collapses the folding whitespace.
        assert_eq!(header_value(&raw, "SUBJECT"), s("a folded subject"));
        assert_eq!(
            fetch_section(&raw, "HEADER.FIELDS (subject)"),
            crlf("Subject: a\n  folded\n\tsubject\n\n")
        );
        assert_eq!(
            envelope(&raw),
            "(NIL \"a  folded\tsubject\" NIL NIL NIL NIL NIL NIL NIL NIL)"
        );
        assert_eq!(header_value(&raw, "x-b"), None);
    }

    #[test]
    fn dates() {
        let date =
            |d: &str| sent_date(format!("Date: {d}\r\n\r\n").as_bytes()).map(|d| d.to_rfc3339());
        assert_eq!(
            date("Mon, 7 Feb 1994 21:52:25 -0800"),
            s("1994-02-07T21:52:25-08:00")
        );
        assert_eq!(
            date("7 Feb 1994 21:52 +0100"),
            s("1994-02-07T21:52:00+01:00")
        );
        assert_eq!(
            date("Tue, 1 Mar 2022 10:00:00 GMT (comment)"),
            s("2022-03-01T10:00:00+00:00")
        );
        assert_eq!(date("garbage"), None);
        assert_eq!(sent_date(b"Subject: x\r\n\r\n"), None);
    }

    #[test]
    fn odd_mime_does_not_break_structure() {
        let cases = [
            // Multipart without a boundary: text/plain.
            "Content-Type: multipart/mixed\n\nhello\n",
            // Boundary never appears.
            "Content-Type: multipart/mixed; boundary=zz\n\nhello\n",
            // No close delimiter, and a longer look-alike boundary.
            "Content-Type: multipart/mixed; boundary=zz\n\n--zzz\n--zz\nContent-Type: text/plain\n\nx\n--zz",
            // Digest: parts default to message/rfc822.
            "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: d1\n\nhi\n--d--\n",
            // Invalid Content-Type.
            "Content-Type: ;;;\n\nx",
            "Content-Type: text/plain; charset=\"unterminated\n\nx",
            "Content-Type: message/rfc822\n\n",
            "Content-Type: text/plain; name*0=a; name*1=\"b c\"; (comment) x=y\n\nx",
        ];
        for case in cases {
            let raw = crlf(case);
            decode_bodystructure(&raw, |_| {});
            decode_envelope(&raw, |_| {});
        }
        let digest = crlf(cases[3]);
        assert!(body_structure(&digest, false).starts_with("((\"MESSAGE\" \"RFC822\""));
        assert_eq!(fetch_section(&digest, "1.HEADER"), crlf("Subject: d1\n\n"));
        // `--zzz` is a delimiter line for boundary `zz` (RFC 2046 5.1.1:
        // "An exact match of the entire candidate line is not required; it
        // is sufficient that the boundary appear in its entirety following
        // the CRLF"), so part 1 is empty; a delimiter may end the body
        // without a line break.
        assert_eq!(fetch_section(&crlf(cases[2]), "1"), b"");
        assert_eq!(fetch_section(&crlf(cases[2]), "2"), b"x");
        assert_eq!(
            fetch_section(&crlf(cases[2]), "2.MIME"),
            crlf("Content-Type: text/plain\n\n")
        );
        // Nesting past MAX_DEPTH turns opaque rather than recursing on.
        let nested: String = (0..100)
            .map(|i| format!("Content-Type: multipart/mixed; boundary=a{i}\r\n\r\n--a{i}\r\n"))
            .collect();
        let bs = body_structure(nested.as_bytes(), true);
        assert!(bs.contains("OCTET-STREAM"));
    }

    /// Random structured header values (addresses, media types, dates,
    /// encoded words) must never break the IMAP syntax of what we send.
    #[test]
    fn garbage_headers_still_give_valid_imap() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let alphabet: &[&str] = &[
            "\"",
            "\\",
            "(",
            ")",
            "<",
            ">",
            "@",
            ",",
            ";",
            ":",
            "[",
            "]",
            "=",
            "/",
            " ",
            "\t",
            "\r\n ",
            "a",
            "Zz",
            "0",
            "1994",
            "Feb",
            "+0100",
            "-",
            "=?utf-8?q?",
            "?=",
            "é",
            "\u{1}",
            "\0",
            "text",
            "multipart",
            "message",
            "rfc822",
            "boundary",
            "charset",
            "*0*",
        ];
        let fields = [
            "From",
            "Sender",
            "Reply-To",
            "To",
            "Cc",
            "Bcc",
            "Date",
            "Subject",
            "Message-ID",
            "Content-Type",
            "Content-Disposition",
            "Content-Language",
            "Content-Transfer-Encoding",
            "Content-ID",
            "Content-Location",
        ];
        for _ in 0..400 {
            let mut raw = String::new();
            for field in fields {
                if rng.next() % 3 == 0 {
                    continue;
                }
                let len = rng.next() % 12;
                let value: String = (0..len)
                    .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                    .collect();
                raw.push_str(&format!("{field}: {value}\r\n"));
            }
            raw.push_str("\r\nbody\r\n");
            let raw = raw.into_bytes();
            exercise(&raw);
            decode_envelope(&raw, |_| {});
            decode_bodystructure(&raw, |_| {});
        }
    }

    /// A tiny deterministic generator, so the no-panic tests need no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn exercise(raw: &[u8]) {
        // RFC822.HEADER/TEXT take a shortcut past the MIME tree: both views
        // must split the message at the same place.
        let root = parse_tree(raw);
        assert_eq!(header_bytes(raw, &root), raw_header(raw), "{raw:?}");
        assert_eq!(body_bytes(raw, &root), raw_body(raw), "{raw:?}");
        let _ = parse(raw);
        let _ = envelope(raw);
        let _ = body_structure(raw, true);
        let _ = body_structure(raw, false);
        let _ = header_value(raw, "subject");
        let _ = sent_date(raw);
        let _ = body_search_text(raw);
        let _ = header_search_text(raw);
        for spec in [
            "",
            "HEADER",
            "TEXT",
            "1",
            "2",
            "1.2",
            "2.1",
            "1.MIME",
            "2.1.MIME",
            "1.HEADER",
            "2.TEXT",
            "HEADER.FIELDS (Subject From)",
            "1.HEADER.FIELDS.NOT (To)",
            "3.1.2.4",
        ] {
            let _ = fetch_section(raw, spec);
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet: &[u8] = b"-:;=\"\\()<>@,[] \t\r\n\r\nabz09\x00\xff\xc3";
        for _ in 0..300 {
            let len = (rng.next() % 400) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    if r % 3 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            exercise(&bytes);
        }
        // Every truncation of realistic messages.
        for msg in [PLAIN, ALTERNATIVE, MIXED] {
            let raw = crlf(msg);
            for cut in 0..raw.len() {
                exercise(&raw[..cut]);
            }
            // The structure of truncated messages still parses as IMAP.
            for cut in (0..raw.len()).step_by(7) {
                decode_bodystructure(&raw[..cut], |_| {});
                decode_envelope(&raw[..cut], |_| {});
            }
        }
        exercise(b"Subject: \xff\xfe =?utf-8?b?////?= =?x?q?=ZZ?=\r\n\r\n");
        exercise(b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n");
        exercise(b"Content-Type: text/plain; charset=\"utf-16\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n");
    }
}
