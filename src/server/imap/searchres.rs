//! SEARCHRES (RFC 5182) in the reference server: the session's search result
//! variable, and the `$` marker that commands use to name it.
//!
//! imap-codec does not read `$`, nor a SEARCH's RETURN options, so a command
//! that has them is rewritten first (`wire::esearch::rewrite`): `$` becomes
//! the saved messages as a sequence set, or as one search key, and the RETURN
//! options are kept aside for `cmd_search`. The variable holds UIDs, so it
//! names the same messages whichever command uses it (RFC 5182 2.1 speaks of
//! "the list of messages", not of numbers: this reading was not checked
//! against the RFC's exact words here), and a message expunged since drops
//! out of it by itself (RFC 5182 2.1: "When a message listed in the search
//! result variable is expunged, it is automatically removed from the list",
//! quoted from memory, not checked against the RFC's text).
//!
//! The rewritten command is bounded like any other: one longer than the
//! command limit is refused with `NO [LIMIT]` (RFC 5530 3).

use super::session::{position_of, uid_ranges, Session};
use crate::wire::esearch::{self, Marker, Rewritten};

/// What to do with a command before imap-codec reads it.
pub(super) enum Prepared {
    /// Nothing of ESEARCH or SEARCHRES in it.
    Plain,
    /// Decode these bytes instead.
    Rewritten(Rewritten),
    /// Answered already (an empty `$`, a refused RETURN option).
    Answered(String),
}

impl Session {
    /// The saved UIDs still in this session's view, ascending.
    fn saved_in_view(&self) -> Vec<u32> {
        let Some(sel) = &self.selected else {
            return Vec::new();
        };
        self.saved
            .iter()
            .copied()
            .filter(|&u| position_of(&sel.uids, u).is_some())
            .collect()
    }

    /// Rewrites `$` and RETURN for imap-codec (see the module doc).
    pub(super) fn prepare_searchres(&self, bytes: &[u8], max_command: usize) -> Prepared {
        let selected = self.user.is_some() && self.selected.is_some();
        let uid_command = first_words_uid(bytes);
        let saved = self.saved_in_view();
        let seqs: Vec<u32> = match &self.selected {
            Some(sel) => saved
                .iter()
                .filter_map(|&u| position_of(&sel.uids, u).map(|i| i as u32 + 1))
                .collect(),
            None => Vec::new(),
        };
        let rewritten = esearch::rewrite(bytes, |marker| {
            if !selected {
                // Not selected: any valid form, so that the command is
                // refused for its state as usual.
                return Some(match marker {
                    Marker::SequenceSet => "1".into(),
                    Marker::SearchKey => "ALL".into(),
                });
            }
            match marker {
                Marker::SequenceSet if saved.is_empty() => None,
                Marker::SequenceSet if uid_command => Some(uid_ranges(&saved)),
                Marker::SequenceSet => Some(uid_ranges(&seqs)),
                // A key names the same messages in SEARCH and UID SEARCH.
                Marker::SearchKey if saved.is_empty() => None,
                Marker::SearchKey => Some(format!("(UID {})", uid_ranges(&saved))),
            }
        });
        match rewritten {
            Ok(None) => Prepared::Plain,
            Err(bad) => {
                let tag = crate::wire::decode::first_line(bytes)
                    .split(' ')
                    .next()
                    .unwrap_or("*")
                    .to_string();
                Prepared::Answered(format!("{tag} BAD {}\r\n", bad.0))
            }
            Ok(Some(r)) => {
                if let Some(other) = r.returns.as_ref().and_then(|x| x.other.first()) {
                    // RFC 4466 2.6.1 (from memory): a server refuses an
                    // unknown search-return-opt with BAD.
                    return Prepared::Answered(format!(
                        "{} BAD unknown SEARCH RETURN option {other}\r\n",
                        r.tag
                    ));
                }
                if r.bytes.len() > max_command {
                    return Prepared::Answered(format!(
                        "{} NO [LIMIT] the saved search result is too large to use here\r\n",
                        r.tag
                    ));
                }
                if r.empty_set {
                    // "$" with nothing saved names no message: the command
                    // succeeds and does nothing (RFC 5182 2.1 makes the empty
                    // variable a valid "$"; wording not checked here).
                    let name = if r.uid {
                        format!("UID {}", r.name)
                    } else {
                        r.name.clone()
                    };
                    return Prepared::Answered(format!("{} OK {name} completed\r\n", r.tag));
                }
                Prepared::Rewritten(r)
            }
        }
    }

    /// RFC 5182 2.4 (from memory of its text, not checked here): "If the
    /// SAVE result option is combined with MIN or MAX result options, and
    /// none of the other ESEARCH result options are present, the
    /// corresponding MIN/MAX is saved in the search result variable"; with
    /// ALL or COUNT too, the whole result is saved.
    pub(super) fn save_result(&mut self, returns: &esearch::SearchReturn, uids: &[u32]) {
        self.saved = if (returns.min || returns.max) && !returns.all && !returns.count {
            let mut v: Vec<u32> = Vec::new();
            if returns.min {
                v.extend(uids.first());
            }
            if returns.max {
                v.extend(uids.last());
            }
            v.dedup();
            v
        } else {
            uids.to_vec()
        };
    }
}

/// Whether the command's second word is `UID`.
fn first_words_uid(bytes: &[u8]) -> bool {
    let line = &bytes[..memchr::memchr(b'\n', bytes).unwrap_or(bytes.len())];
    line.split(|&c| c == b' ')
        .nth(1)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"UID"))
}
