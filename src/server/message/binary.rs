//! BINARY (RFC 3516, part of IMAP4rev2: RFC 9051 6.4.5): a section with its
//! Content-Transfer-Encoding undone, for `FETCH BINARY[...]` and
//! `BINARY.SIZE[...]`, and the form a message appended as a `literal8` is
//! stored in.
//!
//! Stored messages stay 8-bit clean text (no NUL octet), so `BODY[]`,
//! `BODYSTRUCTURE` and SEARCH never meet data IMAP4rev1 cannot carry: RFC 3516
//! 4.4 lets the server re-encode appended binary data ("The server MAY modify
//! the CTE of the appended data, however any such transformation MUST NOT
//! result in a loss of data"), and Dovecot and Cyrus both store such a part in
//! base64. `BINARY[...]` then gives the client its octets back.

use std::borrow::Cow;

use base64::Engine as _;
use imap_codec::imap_types::fetch::Part;

use super::tree::{body_bytes, parse_tree, resolve, Entity, Kind};
use super::{first_field, unfold};

/// Why a `BINARY[...]` section cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// RFC 3516 4.3: "If the server does not know how to decode the section's
    /// CTE, it MUST fail the request and issue a "NO" response that contains
    /// the "UNKNOWN-CTE" extended response code." Holds the encoding's name.
    UnknownCte(String),
    /// The section claims base64 or quoted-printable but its octets are not
    /// (RFC 5530 PARSE: "an error in parsing the [RFC5322] header or
    /// [MIME-IMB] headers of a message").
    Corrupt(String),
}

/// The octets of `BINARY[part]`: the body of the part with its transfer
/// encoding removed. `None` (`BINARY[]`) is the whole message as stored: it
/// is not itself transfer-encoded, its parts are (Cyrus answers the same;
/// Dovecot decodes a single-part message's body and relabels the header,
/// which RFC 3516 does not ask for). A part this message does not have is
/// empty, as `BODY[part]` is. RFC 9051 6.4.5 says BINARY "can only be
/// requested for leaf body parts"; for a multipart or message/rfc822 part a
/// client asks anyway, its body is given under its own encoding, which RFC
/// 2045 6.4 restricts to the identity ones (7bit, 8bit, binary).
#[cfg(test)]
pub fn binary_section<'r>(
    raw: &'r [u8],
    part: Option<&Part>,
) -> Result<Cow<'r, [u8]>, BinaryError> {
    let mut one = binary_sections(raw, std::slice::from_ref(&part))?;
    Ok(one.pop().unwrap_or_default())
}

/// `binary_section` for several parts of one message, its MIME tree parsed
/// once for all of them.
pub fn binary_sections<'r>(
    raw: &'r [u8],
    parts: &[Option<&Part>],
) -> Result<Vec<Cow<'r, [u8]>>, BinaryError> {
    let root = parts.iter().any(Option::is_some).then(|| parse_tree(raw));
    parts
        .iter()
        .map(|part| match (part, &root) {
            (Some(part), Some(root)) => match resolve(root, part) {
                Some(entity) => decode_body(body_bytes(raw, entity), &transfer_encoding(entity)),
                None => Ok(Cow::Borrowed(&[][..])),
            },
            _ => Ok(Cow::Borrowed(raw)),
        })
        .collect()
}

/// An entity's Content-Transfer-Encoding, lowercased; "7bit" when absent
/// (RFC 2045 6.1: "This is the default value").
fn transfer_encoding(e: &Entity<'_>) -> String {
    first_field(&e.fields, "content-transfer-encoding")
        .map(|f| unfold(f.value).to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "7bit".to_string())
}

fn decode_body<'r>(body: &'r [u8], encoding: &str) -> Result<Cow<'r, [u8]>, BinaryError> {
    match encoding {
        "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(body)),
        "base64" => mail_parser::decoders::base64::base64_decode(body)
            .map(Cow::Owned)
            .ok_or_else(|| BinaryError::Corrupt("base64".into())),
        "quoted-printable" => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
                .map(Cow::Owned)
                .ok_or_else(|| BinaryError::Corrupt("quoted-printable".into()))
        }
        other => Err(BinaryError::UnknownCte(other.to_string())),
    }
}

/// Why an appended message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstorable(pub &'static str);

/// The form a message is stored in: unchanged unless it holds a NUL octet
/// (only a `literal8` can carry one). Then every leaf part whose body holds
/// NUL is re-encoded in base64, its Content-Transfer-Encoding field replaced
/// (or added), so `BINARY[part]` gives back exactly the octets appended. A NUL
/// in a header cannot be re-encoded without loss, so such a message is
/// refused (RFC 3516 4.4: a server that cannot store the binary content "MUST
/// fail the request and issue a "NO" response that contains the
/// "UNKNOWN-CTE" extended response code").
pub fn stored_form(raw: &[u8]) -> Result<Cow<'_, [u8]>, Unstorable> {
    if memchr::memchr(0, raw).is_none() {
        return Ok(Cow::Borrowed(raw));
    }
    let root = parse_tree(raw);
    let mut leaves = Vec::new();
    binary_leaves(raw, &root, &mut leaves);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 3 + 64);
    let mut at = 0;
    for leaf in leaves {
        // The header up to where the encoding field goes.
        let cte = first_field(&leaf.fields, "content-transfer-encoding");
        let (cut, resume) = match cte {
            Some(f) => (f.at, f.at + f.raw.len()),
            None => (leaf.fields_end, leaf.fields_end),
        };
        out.extend_from_slice(raw.get(at..cut).unwrap_or_default());
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
        if leaf.fields_end == leaf.body_start && leaf.fields_end == leaf.start {
            // A part with no header at all: it needs the blank line now.
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(raw.get(resume..leaf.body_start).unwrap_or_default());
        let body = body_bytes(raw, leaf);
        let encoded = base64::engine::general_purpose::STANDARD.encode(body);
        for (k, line) in encoded.as_bytes().chunks(76).enumerate() {
            if k > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        // The line end that ended the body (or the delimiter's CRLF) follows.
        if leaf.end == raw.len() {
            out.extend_from_slice(b"\r\n");
        }
        at = leaf.end;
    }
    out.extend_from_slice(raw.get(at..).unwrap_or_default());
    if memchr::memchr(0, &out).is_some() {
        return Err(Unstorable("a NUL octet outside any body part"));
    }
    Ok(Cow::Owned(out))
}

/// The leaf parts whose body holds a NUL octet, in message order.
fn binary_leaves<'e, 'a>(raw: &[u8], e: &'e Entity<'a>, out: &mut Vec<&'e Entity<'a>>) {
    match &e.kind {
        Kind::Multi(children) => {
            for child in children {
                binary_leaves(raw, child, out);
            }
        }
        Kind::Message(inner) => binary_leaves(raw, inner, out),
        Kind::Leaf => {
            if memchr::memchr(0, body_bytes(raw, e)).is_some() {
                out.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn part(ids: &[u32]) -> Part {
        let v: Vec<NonZeroU32> = ids.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
        match imap_codec::imap_types::core::Vec1::try_from(v) {
            Ok(p) => Part(p),
            Err(_) => panic!("bad part {ids:?}"),
        }
    }

    const MULTI: &[u8] = b"From: a@b\r\nSubject: multi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=zz\r\n\r\n\
--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=C3=A9 =\r\nend\r\n\
--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAECAwBoZWxsbw==\r\n\
--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n\
--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n\
--zz--\r\n";

    #[test]
    fn sections_are_transfer_decoded() {
        let got = |ids: &[u32]| binary_section(MULTI, Some(&part(ids))).map(|c| c.into_owned());
        // The same answers Dovecot 2.3 and Cyrus 3.6 give for this message.
        assert_eq!(got(&[1]), Ok("café end".as_bytes().to_vec()));
        assert_eq!(got(&[2]), Ok(b"\x00\x01\x02\x03\x00hello".to_vec()));
        assert_eq!(got(&[3]), Err(BinaryError::UnknownCte("x-uuencode".into())));
        assert_eq!(got(&[4]), Ok(b"Subject: inner\r\n\r\ninner body".to_vec()));
        assert_eq!(got(&[4, 1]), Ok(b"inner body".to_vec()));
        assert_eq!(got(&[9]), Ok(Vec::new()));
        assert_eq!(
            binary_section(MULTI, None).map(|c| c.len()),
            Ok(MULTI.len())
        );
    }

    #[test]
    fn corrupt_base64_is_a_parse_error_not_garbage() {
        let m = b"Content-Transfer-Encoding: base64\r\n\r\n@@@@\r\n";
        assert_eq!(
            binary_section(m, Some(&part(&[1]))),
            Err(BinaryError::Corrupt("base64".into()))
        );
    }

    #[test]
    fn binary_parts_are_stored_in_base64_and_come_back_whole() {
        let plain = b"Subject: x\r\n\r\nno nul here\r\n";
        assert!(matches!(stored_form(plain), Ok(Cow::Borrowed(_))));

        let single = b"Subject: nul\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\nab\x00cd\r\n";
        let Ok(stored) = stored_form(single) else {
            panic!("refused")
        };
        assert!(memchr::memchr(0, &stored).is_none());
        let text = String::from_utf8_lossy(&stored);
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\n"),
            "{text}"
        );
        assert!(!text.contains("binary"), "{text}");
        assert_eq!(
            binary_section(&stored, Some(&part(&[1]))).map(|c| c.into_owned()),
            Ok(b"ab\x00cd\r\n".to_vec())
        );

        let multi = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--b\r\nContent-Type: application/x-thing\r\n\r\n\x00\x01\x02 data\r\n\
--b--\r\n";
        let Ok(stored) = stored_form(multi) else {
            panic!("refused")
        };
        assert!(memchr::memchr(0, &stored).is_none());
        let back = |ids: &[u32]| binary_section(&stored, Some(&part(ids))).map(|c| c.into_owned());
        assert_eq!(back(&[1]), Ok(b"hello".to_vec()));
        assert_eq!(back(&[2]), Ok(b"\x00\x01\x02 data".to_vec()));
        assert!(String::from_utf8_lossy(&stored).ends_with("--b--\r\n"));
    }

    #[test]
    fn a_nul_in_a_header_is_refused() {
        let m = b"Subject: a\x00b\r\n\r\nbody\r\n";
        assert!(stored_form(m).is_err());
    }
}
