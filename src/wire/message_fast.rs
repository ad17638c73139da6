//! A strict fast path for the few response shapes that make up most of a large
//! log (`* n EXISTS`, `* n EXPUNGE`, `* n RECENT`, `* n FETCH (UID u FLAGS (...))`).
//!
//! It accepts only exactly-valid input (RFC 3501 nz-number, atom characters, single
//! spaces, CRLF) and returns `None` for anything else, which then goes to the full
//! imap-codec parser. A test checks that both agree on every input it accepts.

use super::message::{FlagName, ServerMessage};

pub fn server(bytes: &[u8]) -> Option<ServerMessage> {
    let body = bytes.strip_suffix(b"\r\n")?;
    let Some(rest) = body.strip_prefix(b"* ") else {
        // `tag OK|NO|BAD text`
        let sp = memchr::memchr(b' ', body)?;
        let tag = &body[..sp];
        if !valid_tag(tag) {
            return None;
        }
        return status(Some(tag), &body[sp + 1..]);
    };
    if !rest.first().is_some_and(u8::is_ascii_digit) {
        // `* OK|NO|BAD|BYE text`
        return status(None, rest);
    }
    let sp = memchr::memchr(b' ', rest)?;
    let n = nz_number(&rest[..sp])?;
    let rest = &rest[sp + 1..];
    match rest {
        b"EXISTS" => Some(ServerMessage::Exists(n)),
        b"RECENT" => Some(ServerMessage::Recent(n)),
        b"EXPUNGE" => Some(ServerMessage::Expunge(n)),
        _ => {
            let items = rest.strip_prefix(b"FETCH (")?.strip_suffix(b")")?;
            fetch(n, items)
        }
    }
}

/// A status response without a response code (a `[` goes to the full parser).
fn status(tag: Option<&[u8]>, rest: &[u8]) -> Option<ServerMessage> {
    use super::message::StatusKind;
    let (kind, text) = if let Some(t) = rest.strip_prefix(b"OK ") {
        (StatusKind::Ok, t)
    } else if let Some(t) = rest.strip_prefix(b"NO ") {
        (StatusKind::No, t)
    } else if let Some(t) = rest.strip_prefix(b"BAD ") {
        (StatusKind::Bad, t)
    } else if let (None, Some(t)) = (tag, rest.strip_prefix(b"BYE ")) {
        (StatusKind::Bye, t)
    } else {
        return None;
    };
    // text = 1*TEXT-CHAR; only plain ASCII here, anything else is the full
    // parser's to judge.
    if text.is_empty() || text[0] == b'[' || !text.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(ServerMessage::Status {
        tag: tag.map(|t| String::from_utf8_lossy(t).into_owned()),
        kind,
        code: None,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// `tag = 1*<any ASTRING-CHAR except "+">`, here without `]` (rare, left to the
/// full parser).
fn valid_tag(tag: &[u8]) -> bool {
    !tag.is_empty() && tag.iter().all(|&b| is_atom_char(b) && b != b'+')
}

/// A command without arguments (`a1 NOOP`), the most frequent kind in logs.
pub fn client(bytes: &[u8]) -> Option<(String, super::message::CommandKind)> {
    use super::message::CommandKind as K;
    let body = bytes.strip_suffix(b"\r\n")?;
    let sp = memchr::memchr(b' ', body)?;
    let (tag, name) = (&body[..sp], &body[sp + 1..]);
    if !valid_tag(tag) || name.len() > 12 {
        return None;
    }
    let kind = match name.to_ascii_uppercase().as_slice() {
        b"NOOP" => K::Noop,
        b"LOGOUT" => K::Logout,
        b"CAPABILITY" => K::Capability,
        b"IDLE" => K::Idle,
        b"CHECK" => K::Check,
        b"CLOSE" => K::Close,
        b"EXPUNGE" => K::Expunge { uid: false },
        b"UNSELECT" => K::Unselect,
        b"STARTTLS" => K::StartTls,
        b"NAMESPACE" => K::Namespace,
        _ => return None,
    };
    Some((String::from_utf8_lossy(tag).into_owned(), kind))
}

fn fetch(seq: u32, mut items: &[u8]) -> Option<ServerMessage> {
    let mut uid = None;
    let mut flags = None;
    loop {
        if let Some(r) = items.strip_prefix(b"UID ") {
            if uid.is_some() {
                return None;
            }
            let end = memchr::memchr(b' ', r).unwrap_or(r.len());
            uid = Some(nz_number(&r[..end])?);
            items = &r[end..];
        } else if let Some(r) = items.strip_prefix(b"FLAGS (") {
            if flags.is_some() {
                return None;
            }
            let end = memchr::memchr(b')', r)?;
            flags = Some(flag_list(&r[..end])?);
            items = &r[end + 1..];
        } else {
            return None;
        }
        if items.is_empty() {
            break;
        }
        items = items.strip_prefix(b" ")?;
    }
    Some(ServerMessage::Fetch {
        seq,
        uid,
        flags,
        facts: Vec::new(),
        modseq: None,
    })
}

fn flag_list(list: &[u8]) -> Option<Vec<FlagName>> {
    if list.is_empty() {
        return Some(Vec::new());
    }
    list.split(|&b| b == b' ').map(flag).collect()
}

fn flag(f: &[u8]) -> Option<FlagName> {
    const SYSTEM: [&str; 6] = ["Answered", "Flagged", "Deleted", "Seen", "Draft", "Recent"];
    let (backslash, atom) = match f.strip_prefix(b"\\") {
        Some(a) => (true, a),
        None => (false, f),
    };
    if atom.is_empty() || !atom.iter().all(|&b| is_atom_char(b)) {
        return None;
    }
    if !backslash {
        let atom = std::str::from_utf8(atom).ok()?;
        return Some(FlagName::Owned(atom.to_string()));
    }
    // Other `\Name` flags are left to the full parser (it knows `\*` and
    // extension rules the fast path need not repeat).
    SYSTEM
        .iter()
        .position(|s| s.as_bytes().eq_ignore_ascii_case(atom))
        // System flags are shared constants: no allocation per flag.
        .map(|i| FlagName::Borrowed(SYSTEM_WITH_BACKSLASH[i]))
}

const SYSTEM_WITH_BACKSLASH: [&str; 6] = [
    "\\Answered",
    "\\Flagged",
    "\\Deleted",
    "\\Seen",
    "\\Draft",
    "\\Recent",
];

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn nz_number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || digits[0] == b'0' {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::decode::Decoder;

    #[test]
    fn agrees_with_imap_codec() {
        let cases: &[&[u8]] = &[
            b"* 147 EXISTS\r\n",
            b"* 0 EXISTS\r\n",
            b"* 01 EXISTS\r\n",
            b"* 5 RECENT\r\n",
            b"* 141 EXPUNGE\r\n",
            b"* 0 EXPUNGE\r\n",
            b"* 4294967295 EXISTS\r\n",
            b"* 4294967296 EXISTS\r\n",
            b"* 147 FETCH (UID 3193)\r\n",
            b"* 141 FETCH (FLAGS (\\Deleted \\Seen) UID 3170)\r\n",
            b"* 1 FETCH (UID 39 FLAGS (Seen))\r\n",
            b"* 1 FETCH (UID 39 FLAGS (\\SEEN $Junk \\Recent))\r\n",
            b"* 1 FETCH (UID 39 FLAGS ())\r\n",
            b"* 1 FETCH (UID 0 FLAGS ())\r\n",
            b"* 1 FETCH (UID 3  FLAGS ())\r\n",
            b"* 1 FETCH (FLAGS (\\Foo))\r\n",
            b"* 1 FETCH (FLAGS (a%b))\r\n",
            b"* 1 FETCH (UID 3 UID 4)\r\n",
            b"* 1 FETCH ()\r\n",
            b"* 147 EXISTS \r\n",
            b"* 147 exists\r\n",
            b"a1 OK done\r\n",
            b"a1 OK  two spaces\r\n",
            b"a1 NO [INUSE] locked\r\n",
            b"a+1 OK done\r\n",
            b"a1 OK \r\n",
            b"a1 ok done\r\n",
            b"a1 BYE nope\r\n",
            b"* OK Still here\r\n",
            b"* BYE Logging out\r\n",
            b"* NO \xc3\xa9t\xc3\xa9\r\n",
            b"* BAD [PARSE] x\r\n",
            b"* PREAUTH x\r\n",
            b"x] OK y\r\n",
            b"\"q\" OK y\r\n",
        ];
        for case in cases {
            let fast = server(case);
            let strict = match imap_codec::ResponseCodec::default().decode(case) {
                Ok((&[], _)) => crate::wire::decode::decode_server_strict_only(case),
                _ => None,
            };
            if let Some(fast) = fast {
                assert_eq!(Some(fast), strict, "{}", String::from_utf8_lossy(case));
            }
        }
        assert!(server(b"* 147 EXISTS\r\n").is_some());
        assert!(server(b"a1 OK done\r\n").is_some());
        assert!(server(b"* OK Still here\r\n").is_some());
        for c in [
            &b"a1 NOOP\r\n"[..],
            b"z LOGOUT\r\n",
            b"t idle\r\n",
            b"a EXPUNGE\r\n",
            b"a+ NOOP\r\n",
            b"a NOOP x\r\n",
            b"a XNOOP\r\n",
        ] {
            let fast = client(c);
            let strict = match crate::wire::decode::decode_client_strict_only(c) {
                Some(crate::wire::ClientMessage::Command {
                    tag,
                    command,
                    unparsed: false,
                }) => Some((tag, command)),
                _ => None,
            };
            if let Some(f) = fast {
                assert_eq!(Some(f), strict, "{}", String::from_utf8_lossy(c));
            }
        }
        assert!(client(b"a1 NOOP\r\n").is_some());
        assert!(server(b"* 1 FETCH (UID 39 FLAGS (Seen))\r\n").is_some());
    }
}
