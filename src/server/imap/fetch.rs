//! FETCH and UID FETCH: every RFC 3501 data item, rendered from the stored bytes.
//!
//! The answer is streamed: it is written out whenever `ServerLimits::output_buffer`
//! bytes are buffered, literals in pieces, so one connection's memory stays
//! bounded whatever the items (`BODY[]` of 200 big messages, or `BODY.PEEK[]`
//! named 2,000 times) and a client that does not read stalls only itself, until
//! the write timeout ends its connection. (RFC 9051 5.3 asks the same of
//! untagged data sent with no command in progress: servers "MUST either (1)
//! verify that the size of the data does not exceed the underlying transport's
//! available window size or (2) use non-blocking writes".)

use std::borrow::Cow;
use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section,
};

use super::io::Io;
use super::session::Session;
use crate::server::faults::Fault;
use crate::server::message::{self, BinaryError};
use crate::server::store::{flags as fl, FlagSet, Message};

/// Messages taken per hold of the mailbox lock, so other sessions are not
/// blocked for the whole of a million-message FETCH.
const CHUNK: usize = 4096;
/// The same when the items carry message text: fewer messages kept alive by
/// one stalled answer if other sessions expunge them meanwhile.
const CHUNK_WITH_TEXT: usize = 16;
/// Literal data is buffered in pieces of this size.
const LITERAL_PIECE: usize = 64 * 1024;

pub async fn fetch(
    session: &mut Session,
    tag: &str,
    targets: &[(u32, u32)],
    items: MacroOrMessageDataItemNames<'_>,
    uid: bool,
    changed_since: bool,
    io: &mut Io,
) {
    let mut names: Vec<MessageDataItemName<'_>> = match items {
        MacroOrMessageDataItemNames::Macro(m) => {
            let mut v = vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
            ];
            if matches!(m, Macro::All | Macro::Full) {
                v.push(MessageDataItemName::Envelope);
            }
            if matches!(m, Macro::Full) {
                v.push(MessageDataItemName::Body);
            }
            v
        }
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
    };
    if uid && !names.iter().any(|n| matches!(n, MessageDataItemName::Uid)) {
        names.insert(0, MessageDataItemName::Uid);
    }
    // RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ in the answer.
    if changed_since
        && !names
            .iter()
            .any(|n| matches!(n, MessageDataItemName::ModSeq))
    {
        names.push(MessageDataItemName::ModSeq);
    }
    let Some(sel) = &session.selected else { return };
    let mb = Arc::clone(&sel.mailbox);
    let read_only = sel.read_only;
    let sets_seen = !read_only
        && names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::BodyExt { peek: false, .. }
                    | MessageDataItemName::Binary { peek: false, .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
            )
        });
    if sets_seen {
        let updates: Vec<(u32, FlagSet)> = {
            let st = mb.lock();
            targets
                .iter()
                .filter_map(|&(_, u)| st.index_of(u).map(|i| &st.messages[i]))
                .filter(|m| !m.flags.has(fl::SEEN))
                .map(|m| {
                    let mut f = m.flags.clone();
                    f.add("\\Seen");
                    (m.uid, f)
                })
                .collect()
        };
        if !updates.is_empty() {
            let user = session.user().unwrap_or("").to_string();
            if session
                .ctx
                .store
                .set_flags(&user, &mb, &updates, session.id, None)
                .is_err()
            {
                io.write(&format!("{tag} NO [SERVERBUG] Cannot set \\Seen\r\n"));
                return;
            }
            if !names
                .iter()
                .any(|n| matches!(n, MessageDataItemName::Flags))
            {
                names.push(MessageDataItemName::Flags);
            }
            // RFC 7162 3.1: a FETCH "that implicitly set the \Seen flag" is
            // one of the FETCH responses that carry UID and MODSEQ.
            if session.condstore {
                if !names.iter().any(|n| matches!(n, MessageDataItemName::Uid)) {
                    names.insert(0, MessageDataItemName::Uid);
                }
                if !names
                    .iter()
                    .any(|n| matches!(n, MessageDataItemName::ModSeq))
                {
                    names.push(MessageDataItemName::ModSeq);
                }
            }
        }
    }
    let expunge_inside = !uid && session.ctx.faults.has(&Fault::ExpungeDuringFetch);
    let limit = session.ctx.limits.output_buffer;
    let mut missing = false;
    let mut refused: Option<BinaryError> = None;
    if !names.iter().any(carries_text) {
        // Line-sized items (UID, FLAGS, ...): rendered under the lock, a chunk
        // at a time, written out whenever the buffer is full.
        let mut next = 0;
        while next < targets.len() {
            {
                let st = mb.lock();
                // A keyword another session added since the FETCH began is
                // announced before the FLAGS that show it.
                session.announce_keywords(&st, io);
                let end = (next + CHUNK).min(targets.len());
                while next < end && io.out.len() < limit {
                    let (seq, u) = targets[next];
                    next += 1;
                    // Expunged by another session but not yet reported here:
                    // still served (RFC 2180 4.1.1, see `store::Views`). Only
                    // one dropped from that keep (past its bounds) is missing.
                    let Some(m) = st.visible(u) else {
                        missing = true;
                        continue;
                    };
                    render_lines(session, seq, m, &names, io);
                    if expunge_inside {
                        // The fault: pending EXPUNGEs go out in the middle of
                        // the answer.
                        drop(st);
                        session.sync(true, false, io);
                        return finish(tag, uid, missing, refused.as_ref(), io);
                    }
                }
            }
            if io.flush_over(limit).await.is_err() {
                return;
            }
        }
        return finish(tag, uid, missing, refused.as_ref(), io);
    }
    let mut done = 0;
    for chunk in targets.chunks(CHUNK_WITH_TEXT) {
        // Copies of the messages (their bytes are shared, not copied), so the
        // lock is not held while the answer waits for the client.
        let messages: Vec<(u32, Option<Message>)> = {
            let st = mb.lock();
            session.announce_keywords(&st, io);
            chunk
                .iter()
                .map(|&(seq, u)| (seq, st.visible(u).cloned()))
                .collect()
        };
        for (seq, m) in messages {
            let Some(m) = m else {
                missing = true;
                continue;
            };
            // BINARY sections are decoded before anything of this message is
            // written: one that cannot be decoded leaves the message out and
            // fails the command (RFC 3516 4.3), the other messages still go.
            let binaries = match binary_sections(&m, &names) {
                Ok(b) => b,
                Err(e) => {
                    refused.get_or_insert(e);
                    continue;
                }
            };
            if render(session, seq, &m, &names, &binaries, limit, io)
                .await
                .is_err()
            {
                return;
            }
            done += 1;
            if expunge_inside && done == 1 {
                // The fault: pending EXPUNGEs go out in the middle of the answer.
                session.sync(true, false, io);
                return finish(tag, uid, missing, refused.as_ref(), io);
            }
        }
    }
    finish(tag, uid, missing, refused.as_ref(), io)
}

/// The decoded octets of each section the BINARY and BINARY.SIZE items name,
/// each section once however often it is named (`BINARY.PEEK[1]` 2,000 times
/// holds one copy), with the MIME tree parsed once.
fn binary_sections<'m>(
    m: &'m Message,
    names: &[MessageDataItemName<'_>],
) -> Result<Binaries<'m>, BinaryError> {
    let mut sections: Vec<&[NonZeroU32]> = Vec::new();
    for n in names {
        if let MessageDataItemName::Binary { section, .. }
        | MessageDataItemName::BinarySize { section } = n
        {
            if !sections.contains(&section.as_slice()) {
                sections.push(section);
            }
        }
    }
    let parts: Vec<Option<Part>> = sections
        .iter()
        .map(|s| Vec1::try_from(s.to_vec()).ok().map(Part))
        .collect();
    let refs: Vec<Option<&Part>> = parts.iter().map(Option::as_ref).collect();
    let decoded = message::binary_sections(&m.data, &refs)?;
    Ok(sections
        .into_iter()
        .map(<[NonZeroU32]>::to_vec)
        .zip(decoded)
        .collect())
}

/// Decoded BINARY sections of one message, by section.
type Binaries<'m> = Vec<(Vec<NonZeroU32>, Cow<'m, [u8]>)>;

/// The decoded octets of `section` (empty if it was not decoded).
fn binary_of<'b>(binaries: &'b Binaries<'_>, section: &[NonZeroU32]) -> &'b [u8] {
    binaries
        .iter()
        .find(|(s, _)| s.as_slice() == section)
        .map_or(&[][..], |(_, b)| b)
}

/// The octets a `<start.count>` partial asks for, clamped to `bytes`.
fn partial_of<'b>(bytes: &'b [u8], partial: &Option<(u32, NonZeroU32)>) -> &'b [u8] {
    match partial {
        Some((start, count)) => {
            let s = (*start as usize).min(bytes.len());
            let e = s.saturating_add(count.get() as usize).min(bytes.len());
            &bytes[s..e]
        }
        None => bytes,
    }
}

/// Items whose size is the message's, not a line's.
fn carries_text(n: &MessageDataItemName<'_>) -> bool {
    matches!(
        n,
        MessageDataItemName::BodyExt { .. }
            | MessageDataItemName::Rfc822
            | MessageDataItemName::Rfc822Header
            | MessageDataItemName::Rfc822Text
            | MessageDataItemName::Envelope
            | MessageDataItemName::Body
            | MessageDataItemName::BodyStructure
            | MessageDataItemName::Binary { .. }
            | MessageDataItemName::BinarySize { .. }
    )
}

fn finish(tag: &str, uid: bool, missing: bool, refused: Option<&BinaryError>, io: &mut Io) {
    let what = if uid { "UID FETCH" } else { "FETCH" };
    if let Some(e) = refused {
        match e {
            BinaryError::UnknownCte(cte) => io.write(&format!(
                "{tag} NO [UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding {cte}\r\n"
            )),
            BinaryError::Corrupt(cte) => {
                io.write(&format!("{tag} NO [PARSE] A part is not valid {cte}\r\n"))
            }
        }
    } else if missing && !uid {
        // RFC 5530: some messages were expunged by another session meanwhile.
        io.write(&format!(
            "{tag} NO [EXPUNGEISSUED] Some messages were expunged\r\n"
        ));
    } else {
        io.write(&format!("{tag} OK {what} completed\r\n"));
    }
}

/// One message's FETCH response, written out whenever `limit` bytes are
/// buffered; fails when the client is gone or stopped reading.
async fn render(
    session: &Session,
    seq: u32,
    m: &Message,
    names: &[MessageDataItemName<'_>],
    binaries: &Binaries<'_>,
    limit: usize,
    io: &mut Io,
) -> std::io::Result<()> {
    io.write(&format!("* {seq} FETCH ("));
    for (k, name) in names.iter().enumerate() {
        if k > 0 {
            io.write(" ");
        }
        match name {
            MessageDataItemName::Envelope => {
                io.write(&format!("ENVELOPE {}", message::envelope(&m.data)))
            }
            MessageDataItemName::Body => {
                io.write(&format!("BODY {}", message::body_structure(&m.data, false)))
            }
            MessageDataItemName::BodyStructure => io.write(&format!(
                "BODYSTRUCTURE {}",
                message::body_structure(&m.data, true)
            )),
            MessageDataItemName::BodyExt {
                section, partial, ..
            } => {
                // The whole message is sent from the stored bytes, uncopied.
                let copied;
                let bytes: &[u8] = match section {
                    None => &m.data,
                    Some(s) => {
                        copied = message::section(&m.data, Some(s));
                        &copied
                    }
                };
                let spec = section.as_ref().map(section_text).unwrap_or_default();
                match partial {
                    Some((start, _)) => io.write(&format!("BODY[{spec}]<{start}> ")),
                    None => io.write(&format!("BODY[{spec}] ")),
                }
                literal(partial_of(bytes, partial), limit, io).await?;
            }
            MessageDataItemName::Binary {
                section, partial, ..
            } => {
                let bytes = partial_of(binary_of(binaries, section), partial);
                // RFC 9051 9: `"BINARY" section-binary SP (nstring / literal8)`,
                // no origin after the section even for a partial request
                // (RFC 9051 erratum 7246), so every parser reads it.
                io.write(&format!("BINARY[{}] ", part_text(section)));
                // RFC 3516 4.3: data without NUL "SHOULD" go as a string, not
                // a literal8; with NUL only a literal8 can carry it.
                if memchr::memchr(0, bytes).is_some() {
                    io.write("~");
                }
                literal(bytes, limit, io).await?;
            }
            MessageDataItemName::BinarySize { section } => {
                // RFC 3516 4.3: "The value returned MUST match the size of the
                // <nstring> or <literal8> that will be returned by the
                // corresponding FETCH BINARY request."
                let size = binary_of(binaries, section).len();
                io.write(&format!("BINARY.SIZE[{}] {size}", part_text(section)));
            }
            MessageDataItemName::Rfc822 => {
                io.write("RFC822 ");
                literal(&m.data, limit, io).await?;
            }
            MessageDataItemName::Rfc822Header => {
                io.write("RFC822.HEADER ");
                let header = message::section(&m.data, Some(&Section::Header(None)));
                literal(&header, limit, io).await?;
            }
            MessageDataItemName::Rfc822Text => {
                io.write("RFC822.TEXT ");
                let text = message::section(&m.data, Some(&Section::Text(None)));
                literal(&text, limit, io).await?;
            }
            small => line_item(session, m, small, io),
        }
        io.flush_over(limit).await?;
    }
    io.write(")\r\n");
    io.flush_over(limit).await
}

/// A FETCH response of line-sized items only (no `carries_text` item).
fn render_lines(
    session: &Session,
    seq: u32,
    m: &Message,
    names: &[MessageDataItemName<'_>],
    io: &mut Io,
) {
    io.write(&format!("* {seq} FETCH ("));
    for (k, name) in names.iter().enumerate() {
        if k > 0 {
            io.write(" ");
        }
        line_item(session, m, name, io);
    }
    io.write(")\r\n");
}

/// One line-sized item.
fn line_item(session: &Session, m: &Message, name: &MessageDataItemName<'_>, io: &mut Io) {
    match name {
        MessageDataItemName::Uid => io.write(&format!("UID {}", m.uid)),
        MessageDataItemName::Flags => {
            let mut f = m.flags.names();
            if session.is_recent(m.uid) {
                f.push("\\Recent".into());
            }
            io.write(&format!("FLAGS {}", session.flag_list(&f)));
        }
        MessageDataItemName::InternalDate => {
            io.write(&format!("INTERNALDATE \"{}\"", internal_date(m)))
        }
        MessageDataItemName::Rfc822Size => io.write(&format!("RFC822.SIZE {}", m.data.len())),
        MessageDataItemName::ModSeq => io.write(&format!("MODSEQ ({})", m.modseq)),
        _ => io.write("UID 0"),
    }
}

/// A literal, buffered in pieces and written out as the buffer fills.
async fn literal(bytes: &[u8], limit: usize, io: &mut Io) -> std::io::Result<()> {
    io.write(&format!("{{{}}}\r\n", bytes.len()));
    for piece in bytes.chunks(LITERAL_PIECE) {
        io.write_bytes(piece);
        io.flush_over(limit).await?;
    }
    Ok(())
}

fn internal_date(m: &Message) -> String {
    let offset = chrono::FixedOffset::east_opt(m.zone).unwrap_or(chrono::Utc.fix());
    chrono::DateTime::from_timestamp(m.internal_date, 0)
        .map(|d| {
            d.with_timezone(&offset)
                .format("%d-%b-%Y %H:%M:%S %z")
                .to_string()
        })
        .unwrap_or_else(|| "01-Jan-1970 00:00:00 +0000".to_string())
}

use chrono::Offset as _;

/// `1.2.3`, as a BINARY section names its part.
fn part_text(section: &[NonZeroU32]) -> String {
    let parts: Vec<String> = section.iter().map(|n| n.to_string()).collect();
    parts.join(".")
}

/// The section as the client asked for it, for echoing in the response:
/// field names as atoms where they can be, quoted otherwise.
pub fn section_text(s: &Section<'_>) -> String {
    crate::wire::message::section_text(s, |f| {
        let t = String::from_utf8_lossy(f).into_owned();
        if !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            t
        } else {
            super::session::quote(&t)
        }
    })
}
