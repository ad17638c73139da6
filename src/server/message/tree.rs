//! mail-parser's parts turned into the MIME tree as IMAP numbers it (RFC
//! 3501 6.4.5), with octet offsets into the stored message, and section
//! resolution over it. Besides the conversion this holds only the repairs
//! for the few malformed shapes mail-parser reads differently from RFC 2046.

use imap_codec::imap_types::fetch::Part;
use mail_parser::{Encoding, PartType};

use super::fields::MediaType;
use super::{
    blank_line_start, fields_from, first_field, sub, to_usize, unfold, Field, MAX_DEPTH, PARSER,
};

/// One MIME entity (the message itself, a body part, or an attached
/// message), as offsets into the raw message.
#[derive(Debug)]
pub(super) struct Entity<'a> {
    /// Start of the header.
    pub(super) start: usize,
    /// End of the header fields (start of the blank line, if any).
    pub(super) fields_end: usize,
    /// Start of the body (after the blank line, if any).
    pub(super) body_start: usize,
    /// End of the entity.
    pub(super) end: usize,
    pub(super) fields: Vec<Field<'a>>,
    pub(super) ctype: MediaType,
    pub(super) kind: Kind<'a>,
}

#[derive(Debug)]
pub(super) enum Kind<'a> {
    Leaf,
    /// multipart/*: never empty (BODYSTRUCTURE's grammar needs at least one
    /// part, so an empty one gets a synthetic empty part).
    Multi(Vec<Entity<'a>>),
    /// message/rfc822: the encapsulated message, spanning this entity's body.
    Message(Box<Entity<'a>>),
}

impl Entity<'_> {
    /// An entity with no header at all, all body (or empty).
    pub(super) fn headerless(start: usize, end: usize) -> Self {
        Entity {
            start,
            fields_end: start,
            body_start: start,
            end,
            fields: Vec::new(),
            ctype: MediaType::text_plain(),
            kind: Kind::Leaf,
        }
    }
}

/// An entity's media type from its Content-Type field, or the default.
fn media_type(fields: &[Field<'_>], in_digest: bool) -> MediaType {
    match first_field(fields, "content-type") {
        Some(f) => MediaType::parse(&unfold(f.value)).unwrap_or_else(MediaType::text_plain),
        // RFC 2046 5.1.5: "in a digest, the default Content-Type value for a
        // body part is changed from "text/plain" to "message/rfc822"."
        None if in_digest => MediaType::message_rfc822(),
        None => MediaType::text_plain(),
    }
}

/// mail-parser reads every line up to a blank one as a part's header,
/// skipping lines that are not fields, even a delimiter line of the
/// enclosing multipart. So a part with neither a field nor the blank line
/// RFC 2046 5.1.1 requires (a delimiter line "is then terminated by either
/// another CRLF and the header fields for the next part, or by two CRLFs, in
/// which case there are no header fields for the next part") swallows the
/// next delimiter and the part after it. Split such a header back at its
/// delimiter lines ("The boundary delimiter MUST occur at the beginning of a
/// line") and push the parts to `out`.
fn split_at_delimiters<'a>(
    raw: &'a [u8],
    mut child: Entity<'a>,
    boundary: &[u8],
    in_digest: bool,
    out: &mut Vec<Entity<'a>>,
) {
    if child.start > 0 && raw.get(child.start - 1) != Some(&b'\n') && child.start < child.fields_end
    {
        // mail-parser starts the part right after the boundary when the
        // delimiter line goes on (`--zzz` for boundary `zz`, which RFC 2046
        // 5.1.1 counts as a delimiter: "it is sufficient that the boundary
        // appear in its entirety following the CRLF"). The rest of that
        // line belongs to the delimiter line, not to the part.
        let next = memchr::memchr(b'\n', sub(raw, child.start, child.fields_end))
            .map_or(child.fields_end, |i| child.start + i + 1);
        child.start = next;
        child.fields.retain(|f| f.at >= next);
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    if !boundary.is_empty()
        && child.body_start == child.end
        && child.fields_end < child.body_start
        && sub(raw, child.end, raw.len()).starts_with(&delimiter)
    {
        // An empty body right before a delimiter: the line break mail-parser
        // took as the blank line is the one before the delimiter, and "the
        // initial CRLF is considered to be attached to the boundary
        // delimiter line rather than part of the preceding part" (RFC 2046
        // 5.1.1). So the header has no blank line.
        child.body_start = child.fields_end;
        child.end = child.fields_end;
    }
    // Delimiter lines in the header: (line start, next line start).
    let mut cuts = Vec::new();
    let mut pos = child.start;
    while pos < child.fields_end {
        let next = memchr::memchr(b'\n', sub(raw, pos, child.fields_end))
            .map_or(child.fields_end, |i| pos + i + 1);
        if !boundary.is_empty() && sub(raw, pos, next).starts_with(&delimiter) {
            cuts.push((pos, next));
        }
        pos = next;
    }
    if cuts.is_empty() {
        out.push(child);
        return;
    }
    let mut seg_start = child.start;
    for &(line, next) in &cuts {
        // The line break before a delimiter belongs to the delimiter.
        let mut seg_end = line;
        if sub(raw, seg_end.saturating_sub(2), seg_end) == b"\r\n" && seg_end >= seg_start + 2 {
            seg_end -= 2;
        } else if seg_end > seg_start && raw.get(seg_end - 1) == Some(&b'\n') {
            seg_end -= 1;
        }
        let fields: Vec<Field<'a>> = child
            .fields
            .iter()
            .filter(|f| (seg_start..seg_end).contains(&f.at))
            .copied()
            .collect();
        let mut e = Entity::headerless(seg_start, seg_end);
        if !fields.is_empty() {
            // Fields and no blank line: all header, no body.
            e.fields_end = seg_end;
            e.body_start = seg_end;
        }
        e.ctype = media_type(&fields, in_digest);
        if e.ctype.ty.eq_ignore_ascii_case("multipart") || e.ctype.is("message", "rfc822") {
            // Nothing to split or encapsulate in a part without a body.
            e.ctype = MediaType::text_plain();
        }
        e.fields = fields;
        out.push(e);
        seg_start = next;
    }
    let mut last = child;
    last.start = seg_start;
    last.fields.retain(|f| f.at >= seg_start);
    if last.fields.is_empty() && last.fields_end == seg_start {
        last.fields_end = seg_start;
    }
    let ctype = media_type(&last.fields, in_digest);
    if ctype != last.ctype {
        last.kind = Kind::Leaf;
        last.ctype = if ctype.ty.eq_ignore_ascii_case("multipart") || ctype.is("message", "rfc822")
        {
            MediaType::text_plain()
        } else {
            ctype
        };
    }
    out.push(last);
}

/// Where the next delimiter line for `delimiter` (`--boundary`) starts at
/// or after `from` in `raw[..end]`, and whether it is the close delimiter.
fn next_delimiter(raw: &[u8], from: usize, end: usize, delimiter: &[u8]) -> Option<(usize, bool)> {
    let finder = memchr::memmem::Finder::new(delimiter);
    let mut pos = from;
    while let Some(i) = finder.find(sub(raw, pos, end)) {
        let at = pos + i;
        if at == 0 || raw.get(at - 1) == Some(&b'\n') {
            let close = sub(raw, at + delimiter.len(), end).starts_with(b"--");
            return Some((at, close));
        }
        pos = at + 1;
    }
    None
}

/// mail-parser drops a last part whose header is cut off by the end of the
/// message (no blank line and no close delimiter after it), which is what a
/// truncated message looks like. RFC 2046 5.1.1 leaves a missing close
/// delimiter undefined; reading such a part up to the end of the body keeps
/// what is there addressable, as it was before mail-parser did the work.
fn dropped_parts<'a>(
    raw: &'a [u8],
    from: usize,
    end: usize,
    boundary: &[u8],
    in_digest: bool,
    depth: usize,
    out: &mut Vec<Entity<'a>>,
) {
    if boundary.is_empty() {
        return;
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let mut pos = from;
    // Bounded by the body: each round moves past one delimiter line.
    while let Some((at, close)) = next_delimiter(raw, pos, end, &delimiter) {
        if close {
            return;
        }
        let start = memchr::memchr(b'\n', sub(raw, at, end)).map_or(end, |i| at + i + 1);
        let part_end = match next_delimiter(raw, start, end, &delimiter) {
            Some((next, _)) => {
                let mut e = next;
                if e >= start + 2 && sub(raw, e - 2, e) == b"\r\n" {
                    e -= 2;
                } else if e > start && raw.get(e - 1) == Some(&b'\n') {
                    e -= 1;
                }
                e
            }
            None => end,
        };
        out.push(parse_part(raw, start, part_end, in_digest, depth));
        if part_end >= end {
            return;
        }
        pos = part_end.max(start);
    }
}

/// The whole message's tree.
pub(super) fn parse_tree(raw: &[u8]) -> Entity<'_> {
    parse_message(raw, 0, raw.len(), 0)
}

/// Parse `raw[start..end]` as a message (the top level, or an attached one
/// mail-parser did not descend into in place) and convert it.
fn parse_message(raw: &[u8], start: usize, end: usize, depth: usize) -> Entity<'_> {
    let end = end.min(raw.len());
    let start = start.min(end);
    match PARSER.parse(sub(raw, start, end)) {
        Some(msg) if !msg.parts.is_empty() => {
            let cx = Convert { raw, base: start };
            cx.entity(&msg, 0, Some(end), false, depth)
        }
        // mail-parser finds no header field at all: RFC 3501 still numbers
        // the body as part 1, and HEADER is empty.
        _ => Entity::headerless(start, end),
    }
}

/// Parse `raw[start..end]` as one body part (its own header and body).
fn parse_part(raw: &[u8], start: usize, end: usize, in_digest: bool, depth: usize) -> Entity<'_> {
    let end = end.min(raw.len());
    let start = start.min(end);
    match PARSER.parse(sub(raw, start, end)) {
        Some(msg) if !msg.parts.is_empty() => {
            let cx = Convert { raw, base: start };
            cx.entity(&msg, 0, Some(end), in_digest, depth)
        }
        _ => {
            let mut e = Entity::headerless(start, end);
            e.ctype = media_type(&[], in_digest);
            if e.ctype.is("message", "rfc822") {
                e.kind = Kind::Message(Box::new(Entity::headerless(start, end)));
            }
            e
        }
    }
}

/// Turns mail-parser's flat part list into IMAP's tree. `base` is where the
/// bytes mail-parser parsed start in `raw` (its offsets are relative to them).
struct Convert<'a> {
    raw: &'a [u8],
    base: usize,
}

impl<'a> Convert<'a> {
    fn at(&self, offset: u32) -> usize {
        self.base
            .saturating_add(to_usize(offset))
            .min(self.raw.len())
    }

    /// Part `id` of `msg`; `end` overrides where it ends (a message's root
    /// part ends where the message does).
    fn entity(
        &self,
        msg: &mail_parser::Message<'_>,
        id: usize,
        end: Option<usize>,
        in_digest: bool,
        depth: usize,
    ) -> Entity<'a> {
        let Some(part) = msg.parts.get(id) else {
            return Entity::headerless(self.raw.len(), self.raw.len());
        };
        let start = self.at(part.offset_header);
        let body_start = self.at(part.offset_body).max(start);
        let end = end
            .unwrap_or_else(|| self.at(part.offset_end))
            .max(body_start);
        let fields = fields_from(self.raw, self.base, &part.headers);
        let ctype = media_type(&fields, in_digest);
        let mut fields_end = blank_line_start(self.raw, start, body_start);
        let mut body_start = body_start;
        if fields.is_empty() && fields_end == body_start {
            // No field and no blank line: mail-parser skipped lines that are
            // not fields looking for a header; there is none, it is all body.
            fields_end = start;
            body_start = start;
        }
        let mut e = Entity {
            start,
            fields_end,
            body_start,
            end,
            fields,
            ctype,
            kind: Kind::Leaf,
        };
        let multipart = e.ctype.ty.eq_ignore_ascii_case("multipart");
        let message = e.ctype.is("message", "rfc822");
        if (multipart || message) && depth >= MAX_DEPTH {
            e.ctype = MediaType::octet_stream();
            return e;
        }
        match &part.body {
            PartType::Multipart(ids) if multipart => {
                let digest = e.ctype.subtype.eq_ignore_ascii_case("digest");
                let boundary = e.ctype.param("boundary").unwrap_or_default().as_bytes();
                let mut children: Vec<Entity<'a>> = Vec::with_capacity(ids.len());
                for &c in ids {
                    let child = self.entity(msg, to_usize(c), None, digest, depth + 1);
                    split_at_delimiters(self.raw, child, boundary, digest, &mut children);
                }
                let from = children.last().map_or(body_start, |c| c.end);
                dropped_parts(
                    self.raw,
                    from,
                    end,
                    boundary,
                    digest,
                    depth + 1,
                    &mut children,
                );
                if children.is_empty() {
                    children.push(Entity::headerless(end, end));
                }
                e.kind = Kind::Multi(children);
            }
            // mail-parser parsed the attached message in place, so its
            // offsets are ours.
            PartType::Message(inner) if message && part.encoding == Encoding::None => {
                e.kind =
                    Kind::Message(Box::new(self.entity(inner, 0, Some(end), false, depth + 1)));
            }
            // An attached message mail-parser decoded first (RFC 2046 5.2.1
            // forbids any encoding but 7bit, 8bit or binary there) or could
            // not parse: IMAP sections are octets of the stored message, so
            // the body is taken as it stands.
            _ if message => {
                e.kind = Kind::Message(Box::new(parse_message(
                    self.raw,
                    body_start,
                    end,
                    depth + 1,
                )));
            }
            // A multipart mail-parser could not split (no boundary
            // parameter, or the boundary never appears) is one opaque
            // text body; RFC 2045 5.2: "It is also recommended that this
            // default be assumed when a syntactically invalid Content-Type
            // header field is encountered."
            _ if multipart => e.ctype = MediaType::text_plain(),
            _ => {}
        }
        e
    }
}

pub(super) fn header_bytes<'r>(raw: &'r [u8], e: &Entity<'_>) -> &'r [u8] {
    sub(raw, e.start, e.body_start)
}

pub(super) fn body_bytes<'r>(raw: &'r [u8], e: &Entity<'_>) -> &'r [u8] {
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

pub(super) fn resolve<'e, 'a>(root: &'e Entity<'a>, part: &Part) -> Option<&'e Entity<'a>> {
    let mut ids = part.0.as_ref().iter();
    let mut cur = part_of_message(root, ids.next()?.get())?;
    for id in ids {
        cur = part_of_part(cur, id.get())?;
    }
    Some(cur)
}

/// The message that HEADER/TEXT/HEADER.FIELDS refer to: the top level, or
/// the message attached as the named (message/rfc822) part.
pub(super) fn message_at<'e, 'a>(
    root: &'e Entity<'a>,
    part: Option<&Part>,
) -> Option<&'e Entity<'a>> {
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
pub(super) fn header_subset<S: AsRef<[u8]>>(
    raw: &[u8],
    m: &Entity<'_>,
    names: &[S],
    keep: bool,
) -> Vec<u8> {
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
