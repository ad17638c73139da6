//! SEARCH evaluation (RFC 3501 6.4.4): whether one message matches one
//! search key, for every key imap-types can parse.
//!
//! String keys match case-insensitively as substrings of decoded text: RFC
//! 2047-decoded, unfolded header values, and transfer- and charset-decoded
//! body text. Date keys compare calendar dates only (RFC 3501: "disregarding
//! time and timezone"): the internal date for BEFORE/ON/SINCE, the Date:
//! header for SENT*. Decoding a message is the expensive part, so each is
//! done at most once per `matches` call, however often the key tree needs it.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::message;
use crate::server::seqset::{contains, ranges};

/// One message as SEARCH sees it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub uid: u32,
    /// Canonical: "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
    /// or keywords as stored.
    pub flags: &'a [String],
    pub recent: bool,
    pub internal_date: DateTime<FixedOffset>,
    pub size: u32,
    pub raw: &'a [u8],
    /// The message's mod-sequence (RFC 7162).
    pub modseq: u64,
}

/// Whether a key (or a key inside it) is MODSEQ: such a SEARCH is
/// CONDSTORE-enabling and its answer carries `(MODSEQ n)` (RFC 7162 3.1.5).
pub fn uses_modseq(key: &SearchKey<'_>) -> bool {
    use SearchKey as K;
    match key {
        K::ModSequence { .. } => true,
        K::And(keys) => keys.as_ref().iter().any(uses_modseq),
        K::Not(k) => uses_modseq(k),
        K::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        _ => false,
    }
}

/// A sequence set's normalised ranges (`seqset::ranges`).
type Ranges = Rc<[(u32, u32)]>;

/// What `*` means in sequence sets: the highest sequence number and the
/// highest UID in the mailbox; and each sequence-set key's normalised ranges,
/// worked out once per SEARCH rather than once per message.
pub struct SearchContext {
    pub max_seq: u32,
    pub max_uid: u32,
    /// By the address of the key's set, which lives as long as the SEARCH.
    ranges: RefCell<HashMap<(usize, bool), Ranges>>,
}

impl SearchContext {
    pub fn new(max_seq: u32, max_uid: u32) -> Self {
        SearchContext {
            max_seq,
            max_uid,
            ranges: RefCell::new(HashMap::new()),
        }
    }

    /// Whether `n` is in `set` (UIDs if `uid`, else sequence numbers).
    fn in_set(&self, set: &SequenceSet, uid: bool, n: u32) -> bool {
        let key = (std::ptr::from_ref(set) as usize, uid);
        let r =
            Rc::clone(self.ranges.borrow_mut().entry(key).or_insert_with(|| {
                ranges(set, if uid { self.max_uid } else { self.max_seq }).into()
            }));
        contains(&r, n)
    }
}

/// True if the message matches the key.
pub fn matches(key: &SearchKey<'_>, c: &Candidate<'_>, cx: &SearchContext) -> bool {
    Eval {
        c,
        cx,
        headers: OnceCell::new(),
        header_text: OnceCell::new(),
        body_text: OnceCell::new(),
        sent: OnceCell::new(),
    }
    .matches(key)
}

/// One message's evaluation, with lazily decoded (and lowercased) text.
struct Eval<'e, 'a> {
    c: &'e Candidate<'a>,
    cx: &'e SearchContext,
    /// Top-level header fields as (lowercased name, lowercased decoded value).
    headers: OnceCell<Vec<(String, String)>>,
    /// The whole header, lowercased: raw and decoded, so both match.
    header_text: OnceCell<String>,
    /// The body, lowercased: decoded text parts, then the raw body, so a
    /// message whose MIME structure is broken, or whose charset label is
    /// wrong (unlabelled UTF-8 defaults to us-ascii), still finds its words.
    body_text: OnceCell<String>,
    sent: OnceCell<Option<NaiveDate>>,
}

impl Eval<'_, '_> {
    fn matches(&self, key: &SearchKey<'_>) -> bool {
        use SearchKey as K;
        let c = self.c;
        match key {
            K::And(keys) => keys.as_ref().iter().all(|k| self.matches(k)),
            K::Or(a, b) => self.matches(a) || self.matches(b),
            K::Not(k) => !self.matches(k),
            K::All => true,
            K::SequenceSet(set) => self.cx.in_set(set, false, c.seq),
            K::Uid(set) => self.cx.in_set(set, true, c.uid),

            K::Answered => self.flag("\\Answered"),
            K::Deleted => self.flag("\\Deleted"),
            K::Draft => self.flag("\\Draft"),
            K::Flagged => self.flag("\\Flagged"),
            K::Seen => self.flag("\\Seen"),
            K::Unanswered => !self.flag("\\Answered"),
            K::Undeleted => !self.flag("\\Deleted"),
            K::Undraft => !self.flag("\\Draft"),
            K::Unflagged => !self.flag("\\Flagged"),
            K::Unseen => !self.flag("\\Seen"),
            K::Keyword(atom) => self.flag(atom.as_ref()),
            K::Unkeyword(atom) => !self.flag(atom.as_ref()),
            K::Recent => c.recent,
            K::Old => !c.recent,
            // RFC 3501: NEW is "(RECENT UNSEEN)".
            K::New => c.recent && !self.flag("\\Seen"),

            K::Larger(n) => c.size > *n,
            K::Smaller(n) => c.size < *n,

            K::Before(d) => c.internal_date.date_naive() < *d.as_ref(),
            K::On(d) => c.internal_date.date_naive() == *d.as_ref(),
            K::Since(d) => c.internal_date.date_naive() >= *d.as_ref(),
            // A message without a usable Date: header has no sent date, so no
            // SENT* key can say anything about it: it matches none of them.
            K::SentBefore(d) => self.sent().is_some_and(|s| s < *d.as_ref()),
            K::SentOn(d) => self.sent().is_some_and(|s| s == *d.as_ref()),
            K::SentSince(d) => self.sent().is_some_and(|s| s >= *d.as_ref()),

            K::Bcc(s) => self.address_contains("bcc", s.as_ref()),
            K::Cc(s) => self.address_contains("cc", s.as_ref()),
            K::From(s) => self.address_contains("from", s.as_ref()),
            K::To(s) => self.address_contains("to", s.as_ref()),
            K::Subject(s) => self.header_contains("subject", s.as_ref()),
            K::Header(name, s) => {
                let name = String::from_utf8_lossy(name.as_ref());
                self.header_contains(&name, s.as_ref())
            }
            K::Body(s) => self.body_text().contains(&needle(s.as_ref())),
            K::Text(s) => {
                let n = needle(s.as_ref());
                self.header_text().contains(&n) || self.body_text().contains(&n)
            }

            // RFC 7162 3.1.5: "messages that have modification values that
            // are equal to or greater than" the value. Flags share the
            // message's one mod-sequence, so the entry name adds nothing.
            K::ModSequence { modseq, .. } => c.modseq >= *modseq,
        }
    }

    /// Flags and keywords compare case-insensitively (RFC 3501 2.3.2 treats
    /// `\Seen` and `\seen` as the same flag; keywords follow suit).
    fn flag(&self, name: &str) -> bool {
        self.c.flags.iter().any(|f| f.eq_ignore_ascii_case(name))
    }

    fn sent(&self) -> Option<NaiveDate> {
        // The date as written, in the sender's own zone: RFC 3501 says to
        // disregard the time and timezone.
        *self
            .sent
            .get_or_init(|| message::sent_date(self.c.raw).map(|d| d.date_naive()))
    }

    fn headers(&self) -> &[(String, String)] {
        self.headers.get_or_init(|| {
            message::header_fields_decoded(self.c.raw)
                .into_iter()
                .map(|(name, value)| (name.to_lowercase(), value.to_lowercase()))
                .collect()
        })
    }

    /// Any occurrence of the field contains the string. An empty string
    /// matches every message that has the field at all (RFC 3501, HEADER).
    fn header_contains(&self, name: &str, s: &[u8]) -> bool {
        let name = name.to_lowercase();
        let n = needle(s);
        self.headers()
            .iter()
            .any(|(k, v)| *k == name && v.contains(&n))
    }

    /// RFC 3501 6.4.4: FROM is "the specified string in the envelope
    /// structure's FROM field" (likewise TO, CC, BCC). The envelope is the
    /// parsed address (`<user (comment)@ (comment) domain.org>` is
    /// `user@domain.org` there), so that form matches; the field as written
    /// still matches too, for clients that search for what they see.
    fn address_contains(&self, name: &str, s: &[u8]) -> bool {
        if self.header_contains(name, s) {
            return true;
        }
        let n = needle(s);
        message::address_search_forms(self.c.raw, name)
            .iter()
            .any(|form| form.to_lowercase().contains(&n))
    }

    fn header_text(&self) -> &str {
        self.header_text.get_or_init(|| {
            let mut text = message::header_search_text(self.c.raw);
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(message::raw_header(self.c.raw)));
            text.to_lowercase()
        })
    }

    fn body_text(&self) -> &str {
        self.body_text.get_or_init(|| {
            let mut text = message::body_search_text(self.c.raw);
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(message::raw_body(self.c.raw)));
            text.to_lowercase()
        })
    }
}

/// The search string, lowercased for case-insensitive matching. Strings
/// arrive as bytes (the CHARSET is the caller's business); they are taken as
/// UTF-8, which covers US-ASCII.
fn needle(s: &[u8]) -> String {
    String::from_utf8_lossy(s).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;
    use imap_codec::CommandCodec;

    const MSG: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
To: mooch@owatagu.siam.example\r\n\
To: second@example.org\r\n\
Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.de>\r\n\
Bcc: hidden@example.net\r\n\
Subject: afternoon\r\n meeting\r\n\
X-Tag: Blue\r\n\
X-Empty:\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
R3LDvMOfZSBhdXMgQmVybGluCg==\r\n\
--b\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Caf=E9 au lait\r\n\
--b--\r\n";

    fn flags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn candidate<'a>(raw: &'a [u8], flags: &'a [String]) -> Candidate<'a> {
        Candidate {
            seq: 3,
            uid: 30,
            flags,
            recent: false,
            // 23:30 on Feb 8 at -08:00 is already Feb 9 in UTC: the date part
            // must be taken in the internal date's own zone.
            internal_date: FixedOffset::west_opt(8 * 3600)
                .and_then(|tz| tz.with_ymd_and_hms(1994, 2, 8, 23, 30, 0).single())
                .unwrap(),
            size: 2000,
            raw,
            modseq: 7,
        }
    }

    /// Evaluate `SEARCH <criteria>` as imap-codec parses it from a command.
    fn search(c: &Candidate<'_>, criteria: &str) -> bool {
        let line = format!("a SEARCH {criteria}\r\n");
        let (_, cmd) = CommandCodec::default()
            .decode(line.as_bytes())
            .unwrap_or_else(|e| panic!("bad test criteria {criteria:?}: {e:?}"));
        let CommandBody::Search { criteria: keys, .. } = cmd.body else {
            panic!("not a SEARCH: {criteria}");
        };
        let cx = SearchContext::new(5, 50);
        keys.as_ref().iter().all(|k| matches(k, c, &cx))
    }

    #[test]
    fn all_and_logic() {
        let f = flags(&["\\Seen"]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "ALL"));
        assert!(search(&c, "SEEN ALL"));
        assert!(!search(&c, "SEEN UNSEEN"));
        assert!(search(&c, "(SEEN (ALL))"));
        assert!(search(&c, "OR UNSEEN SEEN"));
        assert!(!search(&c, "OR UNSEEN DELETED"));
        assert!(search(&c, "NOT DELETED"));
        assert!(!search(&c, "NOT (SEEN ALL)"));
        assert!(search(&c, "OR (DELETED) (NOT NOT SEEN)"));
    }

    #[test]
    fn flags_and_recent() {
        let f = flags(&["\\Answered", "\\Flagged", "$Work"]);
        let mut c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "ANSWERED FLAGGED UNDELETED UNDRAFT UNSEEN"));
        assert!(!search(&c, "UNANSWERED") && !search(&c, "UNFLAGGED"));
        assert!(!search(&c, "DELETED") && !search(&c, "DRAFT") && !search(&c, "SEEN"));
        assert!(search(&c, "KEYWORD $work") && search(&c, "KEYWORD $Work"));
        assert!(!search(&c, "KEYWORD $Other") && search(&c, "UNKEYWORD $Other"));
        assert!(!search(&c, "UNKEYWORD $Work"));
        assert!(search(&c, "OLD") && !search(&c, "RECENT") && !search(&c, "NEW"));
        c.recent = true;
        assert!(search(&c, "RECENT NEW") && !search(&c, "OLD"));
        let seen = flags(&["\\Seen", "\\Deleted", "\\Draft"]);
        let mut c = candidate(MSG.as_bytes(), &seen);
        c.recent = true;
        assert!(search(&c, "RECENT SEEN DELETED DRAFT") && !search(&c, "NEW"));
    }

    #[test]
    fn sequence_sets_and_uids() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "3") && search(&c, "1:4") && search(&c, "5:2") && search(&c, "1,3"));
        assert!(!search(&c, "4:*") && search(&c, "3:*") && !search(&c, "1,2"));
        assert!(search(&c, "UID 30") && search(&c, "UID 1:*") && search(&c, "UID 29,30:31"));
        assert!(!search(&c, "UID 3") && !search(&c, "UID 31:*"));
        let mut last = candidate(MSG.as_bytes(), &f);
        last.seq = 5;
        last.uid = 50;
        assert!(search(&last, "*") && search(&last, "UID *") && search(&last, "UID 60:*"));
    }

    #[test]
    fn sizes() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "LARGER 1999") && !search(&c, "LARGER 2000"));
        assert!(search(&c, "SMALLER 2001") && !search(&c, "SMALLER 2000"));
    }

    #[test]
    fn internal_dates() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "ON 8-Feb-1994") && !search(&c, "ON 9-Feb-1994"));
        assert!(search(&c, "BEFORE 9-Feb-1994") && !search(&c, "BEFORE 8-Feb-1994"));
        assert!(search(&c, "SINCE 8-Feb-1994") && !search(&c, "SINCE 9-Feb-1994"));
    }

    #[test]
    fn sent_dates() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        // Date: Mon, 7 Feb 1994 21:52:25 -0800 (Feb 8 in UTC).
        assert!(search(&c, "SENTON 7-Feb-1994") && !search(&c, "SENTON 8-Feb-1994"));
        assert!(search(&c, "SENTBEFORE 8-Feb-1994") && !search(&c, "SENTBEFORE 7-Feb-1994"));
        assert!(search(&c, "SENTSINCE 7-Feb-1994") && !search(&c, "SENTSINCE 8-Feb-1994"));
        let raw = b"Subject: no date\r\n\r\nx";
        let c = candidate(raw, &f);
        assert!(!search(&c, "SENTON 7-Feb-1994") && !search(&c, "SENTBEFORE 1-Jan-2100"));
        assert!(search(&c, "NOT SENTSINCE 1-Jan-1900"));
    }

    #[test]
    fn address_and_subject_headers() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "FROM foobar") && search(&c, "FROM \"FRED FOO\""));
        assert!(!search(&c, "FROM mooch"));
        // Any occurrence of a repeated field.
        assert!(search(&c, "TO mooch") && search(&c, "TO second@example"));
        // Encoded words are decoded before matching.
        assert!(
            search(&c, "CC \"jörg\"") && search(&c, "CC {5+}\r\nJÖRG") && search(&c, "CC joerg@")
        );
        assert!(search(&c, "BCC hidden") && !search(&c, "BCC foobar"));
        // Folded values are unfolded.
        assert!(search(&c, "SUBJECT \"afternoon meeting\"") && search(&c, "SUBJECT MEET"));
        assert!(!search(&c, "SUBJECT evening"));
    }

    #[test]
    fn header_key() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        assert!(search(&c, "HEADER X-Tag blue") && search(&c, "HEADER x-tag BLU"));
        assert!(!search(&c, "HEADER X-Tag red"));
        // Empty string: every message that has the field.
        assert!(search(&c, "HEADER X-Empty \"\"") && search(&c, "HEADER X-Tag \"\""));
        assert!(!search(&c, "HEADER X-Missing \"\""));
        let plain = b"Subject: x\r\n\r\nbody";
        let p = candidate(plain, &f);
        assert!(!search(&p, "CC \"\"") && search(&p, "SUBJECT \"\""));
    }

    #[test]
    fn body_and_text() {
        let f = flags(&[]);
        let c = candidate(MSG.as_bytes(), &f);
        // base64 UTF-8 and quoted-printable Latin-1 parts, decoded.
        assert!(search(&c, "BODY \"grüße aus\"") && search(&c, "BODY BERLIN"));
        assert!(search(&c, "BODY \"café au\""));
        assert!(!search(&c, "BODY foobar") && !search(&c, "BODY nowhere"));
        assert!(
            search(&c, "TEXT foobar") && search(&c, "TEXT berlin") && search(&c, "TEXT \"jörg\"")
        );
        assert!(!search(&c, "TEXT nowhere"));
        assert!(search(&c, "BODY \"\""));
        let plain = b"Subject: s\r\n\r\nPlain Body Words\r\n";
        let p = candidate(plain, &f);
        assert!(search(&p, "BODY \"body words\"") && !search(&p, "BODY subject"));
        assert!(search(&p, "TEXT \"subject: s\""));
    }

    #[test]
    fn garbage_does_not_panic() {
        let f = flags(&["\\Seen"]);
        let keys = [
            "ALL",
            "BODY x",
            "TEXT x",
            "FROM x",
            "HEADER Subject \"\"",
            "SENTON 1-Jan-2000",
            "OR SUBJECT a NOT CC b",
        ];
        const ALPHABET: &[u8] =
            b"=?utf-8?b?:;\r\n -Content-Type: multipart/mixed; boundary=x\xff\x00";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..200usize {
            let raw: Vec<u8> = (0..len * 3)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state % ALPHABET.len() as u64) as usize]
                })
                .collect();
            let c = candidate(&raw, &f);
            for k in keys {
                let _ = search(&c, k);
            }
        }
    }
}
