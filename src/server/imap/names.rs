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

#[cfg(test)]
mod tests {
    use super::*;

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
