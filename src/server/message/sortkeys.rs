//! What SORT and THREAD (RFC 5256) read from a message's top-level header,
//! in one pass over it: the base subject, the sent date, the first From/To/Cc
//! mailbox, Message-ID and References.

use super::fields::{parse_address_list, Addr};
use super::{date_of, decode_header_text, first_field, unfold, TopHeader};
use crate::server::sort::{base_subject, SortItem};

/// At most this many References ids are read per message: a real one holds
/// a few dozen, and the threading cost grows with them.
const MAX_REFERENCES: usize = 256;

/// The sort and thread keys of one stored message.
pub fn sort_item(raw: &[u8], seq: u32, uid: u32, arrival: i64) -> SortItem {
    let top = TopHeader::parse(raw);
    let fields = &top.fields;
    let subject = first_field(fields, "subject")
        .map(|f| decode_header_text(f.value))
        .unwrap_or_default();
    let (base_subject, is_reply) = base_subject(&subject);
    let first_mailbox = |name: &str| {
        first_field(fields, name)
            .and_then(|f| {
                parse_address_list(&unfold(f.value))
                    .into_iter()
                    .find_map(|a| match a {
                        // RFC 5256 3: "addr-mailbox of the first ... address".
                        Addr::Mailbox { mailbox, .. } => Some(mailbox),
                        _ => None,
                    })
            })
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    let ids = |name: &str| {
        first_field(fields, name)
            .map(|f| message_ids(&unfold(f.value)))
            .unwrap_or_default()
    };
    let mut references = ids("references");
    if references.is_empty() {
        // RFC 5256 REFERENCES step 1.B: without References, the first
        // message id of In-Reply-To.
        references = ids("in-reply-to").into_iter().take(1).collect();
    }
    SortItem {
        seq,
        uid,
        arrival,
        size: u32::try_from(raw.len()).unwrap_or(u32::MAX),
        base_subject,
        is_reply,
        date: SortItem::sent_or_arrival(date_of(fields), arrival),
        from: first_mailbox("from"),
        to: first_mailbox("to"),
        cc: first_mailbox("cc"),
        message_id: ids("message-id").into_iter().next(),
        references,
    }
}

/// The `<...>` message ids of a field, without the brackets, in order.
fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let id = after[..close].trim();
        if !id.is_empty() && out.len() < MAX_REFERENCES {
            out.push(id.to_string());
        }
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_header() {
        let raw = b"From: \"Ann\" <ann@example.org>\r\nTo: bob@example.org, carl@example.org\r\n\
Subject: Re: [team] Lunch\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <m2@x>\r\n\
In-Reply-To: <m1@x> <m0@x>\r\n\r\nbody\r\n";
        let item = sort_item(raw, 3, 30, 0);
        assert_eq!(item.base_subject, "LUNCH");
        assert!(item.is_reply);
        assert_eq!(item.from, "ANN");
        assert_eq!(item.to, "BOB");
        assert_eq!(item.cc, "");
        assert_eq!(item.date, 760_686_745);
        assert_eq!(item.message_id.as_deref(), Some("m2@x"));
        assert_eq!(item.references, vec!["m1@x".to_string()]);
    }

    #[test]
    fn a_message_without_date_sorts_by_arrival() {
        let item = sort_item(b"Subject: x\r\n\r\n", 1, 1, 1234);
        assert_eq!(item.date, 1234);
        assert_eq!(item.size, 14);
    }
}
