//! SORT, UID SORT, THREAD and UID THREAD (RFC 5256): a search whose results
//! come back sorted, or as threads. The sorting itself is `server::sort`.

use std::fmt::Write as _;

use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::search::SearchKey;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;
use crate::server::sort::{self, SortItem};

/// The charsets SORT and THREAD take (RFC 5256 3: "US-ASCII MUST be
/// supported"; UTF-8 is what every client sends today).
const CHARSETS: [&str; 2] = ["US-ASCII", "UTF-8"];

impl Session {
    pub(in crate::server::imap) fn cmd_sort(
        &mut self,
        tag: &str,
        criteria: &[SortCriterion],
        charset: &str,
        keys: &[SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        let name = if uid { "UID SORT" } else { "SORT" };
        let Some(items) = self.sort_items(tag, name, charset, keys, uid, io) else {
            return;
        };
        let mut line = String::from("* SORT");
        for i in sort::sort(&items, criteria) {
            let item = &items[i];
            let _ = write!(line, " {}", if uid { item.uid } else { item.seq });
        }
        io.write(&format!("{line}\r\n{tag} OK {name} completed\r\n"));
    }

    pub(in crate::server::imap) fn cmd_thread(
        &mut self,
        tag: &str,
        algorithm: &ThreadingAlgorithm<'_>,
        charset: &str,
        keys: &[SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        let name = if uid { "UID THREAD" } else { "THREAD" };
        let forest_of: fn(&[SortItem]) -> sort::Forest = match algorithm {
            ThreadingAlgorithm::OrderedSubject => sort::ordered_subject,
            ThreadingAlgorithm::References => sort::references,
            ThreadingAlgorithm::Other(other) => {
                // RFC 5256 3: only an algorithm the server announces.
                io.write(&format!(
                    "{tag} BAD {name}: unknown threading algorithm {} (this server has ORDEREDSUBJECT and REFERENCES)\r\n",
                    other.as_ref()
                ));
                return;
            }
        };
        let Some(items) = self.sort_items(tag, name, charset, keys, uid, io) else {
            return;
        };
        let forest = forest_of(&items);
        let threads = forest.render(|i| if uid { items[i].uid } else { items[i].seq });
        io.write(&format!(
            "* THREAD{threads}\r\n{tag} OK {name} completed\r\n"
        ));
    }

    /// The sort keys of every message that matches `keys`, or `None` when
    /// the command was answered here (an unknown charset) or in `sync`.
    fn sort_items(
        &mut self,
        tag: &str,
        name: &str,
        charset: &str,
        keys: &[SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) -> Option<Vec<SortItem>> {
        if !CHARSETS.iter().any(|c| c.eq_ignore_ascii_case(charset)) {
            // RFC 5256 3 and RFC 3501 7.1: BADCHARSET lists the ones we take.
            io.write(&format!(
                "{tag} NO [BADCHARSET (US-ASCII UTF-8)] {name}: charset {charset} is not supported\r\n"
            ));
            return None;
        }
        let hits = self.search_hits(keys, uid, io)?;
        let sel = self.selected.as_ref()?;
        let st = sel.mailbox.lock();
        Some(
            hits.iter()
                .filter_map(|h| {
                    let m = st.visible(h.uid)?;
                    Some(crate::server::message::sort_item(
                        &m.data,
                        h.seq,
                        h.uid,
                        m.internal_date,
                    ))
                })
                .collect(),
        )
    }
}
