//! Mailbox names: the one check every command that names a mailbox goes
//! through, before its handler runs.
//!
//! `check_command` finds every mailbox name (and LIST/LSUB reference and
//! pattern) in a decoded command and checks it with `check_name`: the same
//! length limit for CREATE, RENAME, SELECT, APPEND, COPY, LIST and the rest, and
//! bytes that must decode to one name only. Names are kept as sent: RFC 3501
//! 5.1.3's modified UTF-7 is 7-bit ASCII, stored and compared byte for byte
//! without decoding. 8-bit names must be valid UTF-8; anything else is refused
//! rather than "repaired" with U+FFFD, which would make two different names one.
//!
//! An IMAP4rev2 session sends and receives names as UTF-8 (RFC 9051 5.1:
//! "mailbox names are encoded in UTF-8"); `utf7_encode` and `utf7_decode`
//! translate between that and the modified UTF-7 the store keeps, so a rev1
//! and a rev2 client name the same mailbox the same way.

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};

/// Why a name was refused: the completion to send (without the tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRefused(pub String);

/// Checks one name's bytes as sent.
pub fn check_name(bytes: &[u8], max_len: usize) -> Result<(), NameRefused> {
    if bytes.len() > max_len {
        return Err(NameRefused(format!(
            "NO [LIMIT] Mailbox name of {} bytes is over the limit of {max_len}",
            bytes.len()
        )));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(NameRefused(
            "BAD Mailbox name is not valid UTF-8 (RFC 3501 5.1.3: international names are sent in modified UTF-7)"
                .into(),
        ));
    }
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(NameRefused("BAD Mailbox name with CR, LF or NUL".into()));
    }
    Ok(())
}

fn mailbox(m: &Mailbox<'_>, max_len: usize) -> Result<(), NameRefused> {
    match m {
        Mailbox::Inbox => Ok(()),
        Mailbox::Other(o) => check_name(o.as_ref(), max_len),
    }
}

fn pattern(p: &ListMailbox<'_>, max_len: usize) -> Result<(), NameRefused> {
    match p {
        ListMailbox::Token(t) => check_name(t.as_ref(), max_len),
        ListMailbox::String(s) => check_name(s.as_ref(), max_len),
    }
}

/// Checks every mailbox name a command carries.
pub fn check_command(body: &CommandBody<'_>, max_len: usize) -> Result<(), NameRefused> {
    match body {
        CommandBody::Select { mailbox, .. }
        | CommandBody::Examine { mailbox, .. }
        | CommandBody::Create { mailbox }
        | CommandBody::Delete { mailbox }
        | CommandBody::Subscribe { mailbox }
        | CommandBody::Unsubscribe { mailbox }
        | CommandBody::Status { mailbox, .. }
        | CommandBody::Append { mailbox, .. }
        | CommandBody::Copy { mailbox, .. }
        | CommandBody::Move { mailbox, .. }
        | CommandBody::GetQuotaRoot { mailbox }
        | CommandBody::SetMetadata { mailbox, .. }
        | CommandBody::GetMetadata { mailbox, .. } => self::mailbox(mailbox, max_len),
        CommandBody::Rename { from, to } => {
            self::mailbox(from, max_len)?;
            self::mailbox(to, max_len)
        }
        CommandBody::List {
            reference,
            mailbox_wildcard,
        }
        | CommandBody::Lsub {
            reference,
            mailbox_wildcard,
        } => {
            self::mailbox(reference, max_len)?;
            pattern(mailbox_wildcard, max_len)
        }
        _ => Ok(()),
    }
}

/// RFC 3501 5.1.3's "modified BASE64, with "," used instead of "/"", no
/// padding.
const MODIFIED_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::IMAP_MUTF7,
    base64::engine::general_purpose::NO_PAD,
);

/// A UTF-8 name in modified UTF-7 (RFC 3501 5.1.3): printable US-ASCII
/// represents itself, "&" is "&-", every other run of characters is "&",
/// the modified BASE64 of its UTF-16BE, "-".
pub fn utf7_encode(name: &str) -> String {
    use base64::Engine as _;
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&MODIFIED_BASE64.encode(bytes));
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A stored name as UTF-8, or `None` when it is not well-formed modified
/// UTF-7: a shift that does not decode to UTF-16, or that spells printable
/// US-ASCII ("Modified BASE64 MUST NOT be used to represent any printing
/// US-ASCII character which can represent itself"). Characters outside the
/// shifts pass as they are (a name some client sent as raw UTF-8).
pub fn utf7_decode(name: &str) -> Option<String> {
    use base64::Engine as _;
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find('-')?;
        let shifted = &after[..end];
        if shifted.is_empty() {
            out.push('&');
        } else {
            let bytes = MODIFIED_BASE64.decode(shifted).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            let text = String::from_utf16(&units).ok()?;
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf7_round_trips_rfc_3501s_example() {
        // RFC 3501 5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-" is
        // "~peter/mail/台北/日本語".
        let utf8 = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(
            utf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some(utf8)
        );
        assert_eq!(utf7_encode(utf8), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(utf7_encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(utf7_decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
        assert_eq!(utf7_encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
        // An emoji: a surrogate pair in one shift.
        let e = "\u{1f4e7} Mail";
        assert_eq!(utf7_decode(&utf7_encode(e)).as_deref(), Some(e));
        // 5.1.3's counter-examples: a shift spelling printable ASCII, an
        // unterminated one, one that is not BASE64.
        assert_eq!(utf7_decode("&AGE-"), None);
        assert_eq!(utf7_decode("&U,BTFw"), None);
        assert_eq!(utf7_decode("&*-"), None);
        assert_eq!(utf7_decode("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn names_are_checked_by_length_and_encoding() {
        assert!(check_name(b"Work/2024", 1000).is_ok());
        // Modified UTF-7 (RFC 3501 5.1.3's example) and UTF-8 both pass.
        assert!(check_name(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", 1000).is_ok());
        assert!(check_name("Entw\u{fc}rfe".as_bytes(), 1000).is_ok());
        let long = vec![b'a'; 1001];
        assert!(check_name(&long, 1000)
            .unwrap_err()
            .0
            .starts_with("NO [LIMIT]"));
        // Two invalid byte strings that U+FFFD would have made one name.
        for bad in [&b"caf\xe9"[..], &b"caf\xff"[..]] {
            assert!(check_name(bad, 1000).unwrap_err().0.starts_with("BAD"));
        }
        assert!(check_name(b"a\r\nb", 1000).is_err());
    }
}
