//! The reference server held to the letter of RFC 3501 where issue 8 found it
//! wrong on the wire: \Recent and RECENT (2.3.2, 6.3.1, 6.3.2, 7.3.2), keywords
//! announced in FLAGS/PERMANENTFLAGS (7.2.6, 7.1), LSUB's \Noselect parent
//! (6.3.9), address SEARCH keys (6.4.4), FETCH of a message another session
//! expunged (RFC 2180 4.1), and hostile LIST patterns and sequence sets that
//! must be answered in bounded time and memory.
//!
//! Each test talks raw IMAP over loopback, so what is asserted is exactly what
//! a client sees.

mod support;

use std::sync::Arc;
use std::time::Duration;

use imapspec::clock::Clock;
use imapspec::server::store::FlagSet;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Bound on any one answer: a hang guard, not a speed assertion.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// One raw IMAP connection.
struct Client {
    io: BufReader<TcpStream>,
    next: u32,
}

/// The untagged lines of one command's answer (literals inlined) and its
/// tagged status line.
struct Answer {
    untagged: Vec<String>,
    tagged: String,
}

impl Answer {
    fn ok(&self) -> bool {
        self.tagged.split(' ').nth(1) == Some("OK")
    }

    fn has(&self, prefix: &str) -> bool {
        self.untagged.iter().any(|l| l.starts_with(prefix))
    }

    /// A STATUS line (for any quoting of the name) ending in `items`.
    fn has_status(&self, items: &str) -> bool {
        self.untagged
            .iter()
            .any(|l| l.starts_with("* STATUS ") && l.ends_with(items))
    }

    /// The number in the last `* n WORD` line, if any.
    fn last_count(&self, word: &str) -> Option<u32> {
        self.untagged.iter().rev().find_map(|l| count_of(l, word))
    }
}

fn count_of(line: &str, word: &str) -> Option<u32> {
    let mut w = line.split(' ');
    if w.next() != Some("*") {
        return None;
    }
    let n = w.next()?.parse().ok()?;
    (w.next()? == word).then_some(n)
}

impl Client {
    async fn connect(h: &imapspec::server::Handle) -> Client {
        let tcp = TcpStream::connect(h.imap.expect("imap"))
            .await
            .expect("connect");
        let mut c = Client {
            io: BufReader::new(tcp),
            next: 1,
        };
        let greeting = c.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c
    }

    async fn login(h: &imapspec::server::Handle) -> Client {
        let mut c = Client::connect(h).await;
        let a = c.cmd("LOGIN alice alicepw").await;
        assert!(a.ok(), "{}", a.tagged);
        c
    }

    /// One response line, with any literal it announces read and inlined.
    async fn line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            let n = tokio::time::timeout(ANSWER_WITHIN, self.io.read_until(b'\n', &mut l))
                .await
                .expect("an answer in bounded time")
                .expect("read");
            assert!(n > 0, "server closed the connection");
            out.extend_from_slice(&l);
            let text = String::from_utf8_lossy(&l);
            let t = text.trim_end();
            let lit = t
                .strip_suffix('}')
                .and_then(|s| s.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match lit {
                Some(n) => {
                    let mut data = vec![0u8; n];
                    tokio::time::timeout(ANSWER_WITHIN, self.io.read_exact(&mut data))
                        .await
                        .expect("literal in bounded time")
                        .expect("read literal");
                    out.extend_from_slice(&data);
                }
                None => break,
            }
        }
        String::from_utf8_lossy(&out).trim_end().to_string()
    }

    async fn send(&mut self, raw: &[u8]) {
        self.io.get_mut().write_all(raw).await.expect("write");
    }

    async fn cmd(&mut self, command: &str) -> Answer {
        let tag = format!("t{}", self.next);
        self.next += 1;
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.answer(&tag).await
    }

    async fn answer(&mut self, tag: &str) -> Answer {
        let mut untagged = Vec::new();
        for _ in 0..1_000_000 {
            let l = self.line().await;
            if l.starts_with(&format!("{tag} ")) {
                return Answer {
                    untagged,
                    tagged: l,
                };
            }
            untagged.push(l);
        }
        panic!("no tagged answer for {tag}");
    }

    async fn append(&mut self, mailbox: &str, flags: &str, body: &str) -> Answer {
        self.cmd(&format!(
            "APPEND {mailbox} ({flags}) {{{}+}}\r\n{body}",
            body.len()
        ))
        .await
    }
}

fn msg(i: u32) -> String {
    format!("From: a@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n")
}

async fn server() -> imapspec::server::Handle {
    support::start_server(&[], Clock::real(), None).await
}

/// The same server with `--data-dir`: a change becomes visible only once its
/// journal record is on disk, and must be announced the same way.
async fn durable_server(name: &str) -> imapspec::server::Handle {
    let dir = support::temp_dir(&format!("server-rfc-{name}"));
    support::start_server(&[], Clock::real(), Some(dir)).await
}

// ---------------------------------------------------------------------------
// \Recent and RECENT.

/// RFC 3501 7.3.2: RECENT is "the number of messages with the \Recent flag
/// set"; \Recent is a flag on messages of the mailbox, so there can never be
/// more recent messages than messages. An expunged \Recent message takes its
/// flag with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_is_lowered_by_expunge() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("SELECT INBOX").await.ok());
    assert!(a.append("INBOX", "", &msg(1)).await.ok());
    assert!(a.append("INBOX", "", &msg(2)).await.ok());
    assert!(a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await.ok());
    let e = a.cmd("EXPUNGE").await;
    assert!(e.has("* 1 EXPUNGE"), "{:?}", e.untagged);
    let r = a.append("INBOX", "", &msg(3)).await;
    assert_eq!(r.last_count("EXISTS"), Some(2), "{:?}", r.untagged);
    assert_eq!(
        r.last_count("RECENT"),
        Some(2),
        "two messages, both recent to this session: {:?}",
        r.untagged
    );
    let s = a.cmd("SEARCH RECENT").await;
    assert!(s.has("* SEARCH 1 2"), "{:?}", s.untagged);
    h.shutdown().await;
}

/// A MOVE into the selected mailbox is an expunge plus an arrival: one
/// message, at most one recent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_after_move_into_the_selected_mailbox() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("SELECT INBOX").await.ok());
    assert!(a.append("INBOX", "", &msg(1)).await.ok());
    let m = a.cmd("MOVE 1 INBOX").await;
    assert!(m.ok(), "{}", m.tagged);
    let n = a.cmd("NOOP").await;
    let mut exists = 1i64;
    let mut recent = None;
    for l in m.untagged.iter().chain(&n.untagged) {
        if let Some(e) = count_of(l, "EXISTS") {
            exists = i64::from(e);
        }
        if l.ends_with(" EXPUNGE") {
            exists -= 1;
        }
        if let Some(r) = count_of(l, "RECENT") {
            assert!(i64::from(r) <= exists, "{l} with {exists} messages");
            recent = Some(r);
        }
    }
    assert_eq!(exists, 1);
    assert_eq!(recent, Some(1), "{:?} {:?}", m.untagged, n.untagged);
    h.shutdown().await;
}

/// RFC 3501 6.3.2: EXAMINE "MUST NOT cause messages to lose the \Recent
/// flag", and it "returns the same output" as SELECT: the new messages are
/// reported recent, as STATUS counts them. RFC 2.3.2: the first read-write
/// session to be notified takes \Recent; "subsequent sessions will not see
/// \Recent set" — after that session leaves, neither STATUS nor a new SELECT
/// counts them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_is_consistent_across_examine_status_and_reselect() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let mut b = Client::login(&h).await;
    assert!(a.cmd("CREATE R").await.ok());
    assert!(a.append("R", "", &msg(1)).await.ok());
    assert!(a.append("R", "", &msg(2)).await.ok());
    let st = b.cmd("STATUS R (MESSAGES RECENT)").await;
    assert!(st.has_status("(MESSAGES 2 RECENT 2)"), "{:?}", st.untagged);

    let ex = b.cmd("EXAMINE R").await;
    assert_eq!(ex.last_count("RECENT"), Some(2), "{:?}", ex.untagged);
    let f = b.cmd("FETCH 1:* FLAGS").await;
    assert_eq!(
        f.untagged.iter().filter(|l| l.contains("\\Recent")).count(),
        2,
        "{:?}",
        f.untagged
    );
    assert!(b.cmd("CLOSE").await.ok());
    let st = a.cmd("STATUS R (RECENT)").await;
    assert!(
        st.has_status("(RECENT 2)"),
        "EXAMINE left \\Recent alone: {:?}",
        st.untagged
    );

    let sel = b.cmd("SELECT R").await;
    assert_eq!(sel.last_count("RECENT"), Some(2), "{:?}", sel.untagged);
    let st = a.cmd("STATUS R (RECENT)").await;
    assert!(
        st.has_status("(RECENT 0)"),
        "b took \\Recent: {:?}",
        st.untagged
    );
    let st = b.cmd("STATUS R (RECENT)").await;
    assert!(
        st.has_status("(RECENT 2)"),
        "b itself still sees its recent messages: {:?}",
        st.untagged
    );
    let ex = a.cmd("EXAMINE R").await;
    assert_eq!(ex.last_count("RECENT"), Some(0), "{:?}", ex.untagged);

    assert!(b.cmd("UNSELECT").await.ok());
    let st = b.cmd("STATUS R (RECENT)").await;
    assert!(st.has_status("(RECENT 0)"), "{:?}", st.untagged);
    let sel = b.cmd("SELECT R").await;
    assert_eq!(
        sel.last_count("RECENT"),
        Some(0),
        "a later selection is a subsequent session: {:?}",
        sel.untagged
    );
    h.shutdown().await;
}

/// A new arrival is \Recent to exactly one of the read-write sessions that
/// have the mailbox selected (RFC 3501 2.3.2: which one is undefined).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_is_recent_to_exactly_one_session() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let mut b = Client::login(&h).await;
    let mut c = Client::login(&h).await;
    assert!(a.cmd("SELECT INBOX").await.ok());
    assert!(b.cmd("SELECT INBOX").await.ok());
    assert!(c.append("INBOX", "", &msg(1)).await.ok());
    let na = a.cmd("NOOP").await;
    let nb = b.cmd("NOOP").await;
    assert_eq!(na.last_count("EXISTS"), Some(1));
    assert_eq!(nb.last_count("EXISTS"), Some(1));
    let ra = a.cmd("SEARCH RECENT").await;
    let rb = b.cmd("SEARCH RECENT").await;
    let hits = |a: &Answer| a.has("* SEARCH 1");
    assert!(hits(&ra) ^ hits(&rb), "{:?} {:?}", ra.untagged, rb.untagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// Keywords.

fn flags_line(a: &Answer) -> Option<&String> {
    a.untagged.iter().rev().find(|l| l.starts_with("* FLAGS ("))
}

fn permanent_line(a: &Answer) -> Option<&String> {
    a.untagged
        .iter()
        .rev()
        .find(|l| l.starts_with("* OK [PERMANENTFLAGS ("))
}

/// RFC 3501 7.2.6: FLAGS lists the flags "applicable for this mailbox" and
/// "the update from the FLAGS response MUST be recorded by the client"; a
/// keyword that comes into use is announced to every session that has the
/// mailbox selected, before any FETCH shows it, and a fresh SELECT lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_keywords_are_announced() {
    new_keywords_are_announced_on(server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_keywords_are_announced_durable() {
    new_keywords_are_announced_on(durable_server("new_keywords_are_announced").await).await;
}

async fn new_keywords_are_announced_on(h: imapspec::server::Handle) {
    let mut a = Client::login(&h).await;
    let mut b = Client::login(&h).await;
    let mut ro = Client::login(&h).await;
    assert!(a.append("INBOX", "", &msg(1)).await.ok());
    assert!(a.cmd("SELECT INBOX").await.ok());
    assert!(b.cmd("SELECT INBOX").await.ok());
    assert!(ro.cmd("EXAMINE INBOX").await.ok());

    let s = a.cmd("STORE 1 +FLAGS ($Label3)").await;
    assert!(s.ok());
    let f = flags_line(&s).expect("FLAGS update to the storing session");
    assert!(f.contains("$Label3") && f.contains("\\Seen"), "{f}");
    let p = permanent_line(&s).expect("PERMANENTFLAGS update");
    assert!(p.contains("$Label3") && p.contains("\\*"), "{p}");
    let flags_at = s.untagged.iter().position(|l| l.starts_with("* FLAGS"));
    let fetch_at = s.untagged.iter().position(|l| l.contains("FETCH"));
    assert!(
        flags_at < fetch_at,
        "announced before shown: {:?}",
        s.untagged
    );

    let n = b.cmd("NOOP").await;
    let f = flags_line(&n).expect("FLAGS update to another session");
    assert!(f.contains("$Label3"), "{f}");
    let flags_at = n.untagged.iter().position(|l| l.starts_with("* FLAGS"));
    let fetch_at = n.untagged.iter().position(|l| l.contains("FETCH"));
    assert!(flags_at < fetch_at, "{:?}", n.untagged);

    let n = ro.cmd("NOOP").await;
    let f = flags_line(&n).expect("FLAGS update to a read-only session");
    assert!(f.contains("$Label3"), "{f}");

    let mut c = Client::login(&h).await;
    let sel = c.cmd("SELECT INBOX").await;
    let f = flags_line(&sel).expect("FLAGS");
    assert!(f.contains("$Label3"), "SELECT lists keywords in use: {f}");
    let p = permanent_line(&sel).expect("PERMANENTFLAGS");
    assert!(p.contains("$Label3") && p.contains("\\*"), "{p}");

    // A keyword arriving with APPEND is announced too.
    let r = a.append("INBOX", "$Fresh \\Seen", &msg(2)).await;
    let f = flags_line(&r).expect("FLAGS update after APPEND");
    assert!(f.contains("$Fresh") && f.contains("$Label3"), "{f}");
    let n = b.cmd("NOOP").await;
    assert!(flags_line(&n).is_some_and(|f| f.contains("$Fresh")));

    // Nothing new: nothing announced.
    let s = a.cmd("STORE 1 +FLAGS ($label3)").await;
    assert!(flags_line(&s).is_none(), "{:?}", s.untagged);
    h.shutdown().await;
}

/// The keywords of a mailbox are bounded: past the limit a new keyword is
/// refused with `NO [LIMIT]` (RFC 5530: "such as the number of flags used in
/// a mailbox"), and the mailbox goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywords_per_mailbox_are_bounded() {
    keywords_per_mailbox_are_bounded_on(server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywords_per_mailbox_are_bounded_durable() {
    keywords_per_mailbox_are_bounded_on(durable_server("keywords_per_mailbox_are_bounded").await)
        .await;
}

async fn keywords_per_mailbox_are_bounded_on(h: imapspec::server::Handle) {
    let mut a = Client::login(&h).await;
    assert!(a.append("INBOX", "", &msg(1)).await.ok());
    assert!(a.cmd("SELECT INBOX").await.ok());
    let limit = imapspec::server::store::MAX_KEYWORDS;
    let mut refused = None;
    for i in 0..=limit {
        let s = a.cmd(&format!("STORE 1 +FLAGS.SILENT (k{i})")).await;
        if !s.ok() {
            refused = Some((i, s.tagged));
            break;
        }
        // RFC 3501 7.1: `\*` says new keywords can be created; the last one
        // that fits takes it away.
        let p = permanent_line(&s).expect("PERMANENTFLAGS with each new keyword");
        assert_eq!(p.contains("\\*"), i + 1 < limit, "after k{i}: {p}");
    }
    let (i, tagged) = refused.expect("a limit");
    assert_eq!(i, limit);
    assert!(tagged.contains("NO [LIMIT]"), "{tagged}");
    assert!(a.cmd("STORE 1 +FLAGS.SILENT (k0 \\Seen)").await.ok());
    let mut b = Client::login(&h).await;
    let sel = b.cmd("SELECT INBOX").await;
    let p = permanent_line(&sel).expect("PERMANENTFLAGS");
    assert!(
        p.contains(&format!("k{}", limit - 1)) && !p.contains("\\*"),
        "{p}"
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// LSUB.

/// RFC 3501 6.3.9: with only "foo/bar" subscribed, "A "%" wildcard to LSUB
/// must return foo, not foo/bar, in the LSUB response, and it MUST be
/// flagged with the \Noselect attribute."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsub_percent_returns_the_noselect_parent() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("CREATE imaptest/test2/sub").await.ok());
    assert!(a.cmd("CREATE imaptest/test1").await.ok());
    assert!(a.cmd("SUBSCRIBE imaptest/test2/sub").await.ok());
    assert!(a.cmd("SUBSCRIBE imaptest/test1").await.ok());
    let l = a.cmd("LSUB \"\" imaptest/%").await;
    assert!(l.ok());
    let parent: Vec<_> = l
        .untagged
        .iter()
        .filter(|x| x.ends_with("imaptest/test2") || x.ends_with("imaptest/test2\""))
        .collect();
    assert_eq!(parent.len(), 1, "{:?}", l.untagged);
    assert!(
        parent[0].starts_with("* LSUB (\\Noselect)"),
        "{}",
        parent[0]
    );
    assert!(
        !l.untagged.iter().any(|x| x.contains("test2/sub")),
        "{:?}",
        l.untagged
    );
    let t1: Vec<_> = l.untagged.iter().filter(|x| x.contains("test1")).collect();
    assert_eq!(t1.len(), 1);
    assert!(!t1[0].contains("\\Noselect"), "{}", t1[0]);

    // `*` reaches the child itself: no stand-in parent.
    let l = a.cmd("LSUB \"\" imaptest/*").await;
    assert!(l.untagged.iter().any(|x| x.contains("test2/sub")));
    assert!(
        !l.untagged.iter().any(|x| x.contains("\\Noselect")),
        "{:?}",
        l.untagged
    );
    // And the top level: only `imaptest`, as a \Noselect stand-in.
    let l = a.cmd("LSUB \"\" %").await;
    assert_eq!(l.untagged.len(), 1, "{:?}", l.untagged);
    assert!(l.untagged[0].starts_with("* LSUB (\\Noselect)"));
    h.shutdown().await;
}

/// RFC 3501 6.3.8: "If the "%" wildcard is the last character of a mailbox
/// name argument, matching levels of hierarchy are also returned. If these
/// levels of hierarchy are not also selectable mailboxes, they are returned
/// with the \Noselect mailbox name attribute".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_percent_returns_missing_levels_as_noselect() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("CREATE x/y/z").await.ok());
    // RFC 3501 6.3.3: CREATE "SHOULD create any superior hierarchical names
    // that are needed" — x and x/y are real, selectable mailboxes now.
    let l = a.cmd("LIST \"\" x*").await;
    for name in ["\"x\"", "\"x/y\"", "\"x/y/z\""] {
        let line = l.untagged.iter().find(|s| s.ends_with(name));
        assert!(
            line.is_some_and(|s| !s.contains("\\Noselect")),
            "{name}: {:?}",
            l.untagged
        );
    }
    assert!(a.cmd("SELECT x/y").await.ok());
    assert!(a.cmd("CLOSE").await.ok());
    // Deleted, the levels are gone but their inferior stays: LIST % must
    // still show the way down (6.3.8), as \Noselect.
    assert!(a.cmd("DELETE x/y").await.ok());
    assert!(a.cmd("DELETE x").await.ok());
    let l = a.cmd("LIST \"\" %").await;
    let x: Vec<_> = l.untagged.iter().filter(|s| s.ends_with("\"x\"")).collect();
    assert_eq!(x.len(), 1, "{:?}", l.untagged);
    assert!(x[0].contains("\\Noselect"), "{}", x[0]);
    let l = a.cmd("LIST \"\" x/%").await;
    assert_eq!(l.untagged.len(), 1, "{:?}", l.untagged);
    assert!(
        l.untagged[0].contains("\\Noselect") && l.untagged[0].ends_with("\"x/y\""),
        "{:?}",
        l.untagged
    );
    let l = a.cmd("LIST \"\" x/*").await;
    assert!(l.untagged.iter().any(|s| s.ends_with("\"x/y/z\"")));
    assert!(
        !l.untagged.iter().any(|s| s.ends_with("\"x/y\"")),
        "{:?}",
        l.untagged
    );
    // A level that is a mailbox is listed as one.
    assert!(a.cmd("CREATE x").await.ok());
    let l = a.cmd("LIST \"\" %").await;
    let x: Vec<_> = l.untagged.iter().filter(|s| s.ends_with("\"x\"")).collect();
    assert_eq!(x.len(), 1);
    assert!(!x[0].contains("\\Noselect"), "{}", x[0]);
    h.shutdown().await;
}

/// RFC 3501 6.3.5: RENAME "SHOULD create any superior hierarchical names
/// that are needed for the RENAME command to complete successfully".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_creates_superiors() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("CREATE old").await.ok());
    assert!(a.cmd("RENAME old p/q/new").await.ok());
    let l = a.cmd("LIST \"\" p*").await;
    for name in ["\"p\"", "\"p/q\"", "\"p/q/new\""] {
        let line = l.untagged.iter().find(|s| s.ends_with(name));
        assert!(
            line.is_some_and(|s| !s.contains("\\Noselect")),
            "{name}: {:?}",
            l.untagged
        );
    }
    // A RENAME that fails creates nothing.
    assert!(!a.cmd("RENAME nosuch r/s").await.ok());
    let l = a.cmd("LIST \"\" r*").await;
    assert!(l.untagged.is_empty(), "{:?}", l.untagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// SEARCH address keys.

/// RFC 3501 6.4.4: FROM "Messages that contain the specified string in the
/// envelope structure's FROM field." The address as ENVELOPE parses it
/// (comments removed) matches, and so does the header text as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_address_keys_match_parsed_addresses() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let m = "From: <user-from (comment)@ (comment) domain.org>\r\n\
To: \"Real Name\" <real (c) @ example.net>, other@example.com\r\n\
Cc: group: one (x) @ cc.example;\r\n\
Subject: addr\r\n\r\nbody\r\n";
    assert!(a.append("INBOX", "", m).await.ok());
    assert!(a.append("INBOX", "", &msg(2)).await.ok());
    assert!(a.cmd("SELECT INBOX").await.ok());
    for (key, want) in [
        ("FROM user-from@domain.org", "* SEARCH 1"),
        ("FROM USER-FROM@DOMAIN", "* SEARCH 1"),
        ("FROM \"(comment)\"", "* SEARCH 1"),
        ("TO real@example.net", "* SEARCH 1"),
        ("TO \"Real Name\"", "* SEARCH 1"),
        ("CC one@cc.example", "* SEARCH 1"),
        ("FROM a@example.org", "* SEARCH 2"),
        ("FROM nobody@nowhere", "* SEARCH"),
    ] {
        let s = a.cmd(&format!("SEARCH {key}")).await;
        assert!(s.ok(), "{key}: {}", s.tagged);
        let line = s.untagged.iter().find(|l| l.starts_with("* SEARCH"));
        assert_eq!(line.map(String::as_str), Some(want), "{key}");
    }
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// FETCH of a message another session expunged.

/// RFC 2180 4.1.1: the server "MAY allow the EXPUNGE of a multi-accessed
/// mailbox but keep the messages available to satisfy subsequent FETCH
/// commands until it is able to send an EXPUNGE response to each client."
/// This server does (as Dovecot and Cyrus do): the FETCH gets the data and
/// OK, and the expunge is reported at the next command that allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_after_another_session_expunged_returns_the_data() {
    fetch_after_another_session_expunged_returns_the_data_on(server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_after_another_session_expunged_returns_the_data_durable() {
    fetch_after_another_session_expunged_returns_the_data_on(
        durable_server("fetch_after_another_session_expunged_returns_the_data").await,
    )
    .await;
}

async fn fetch_after_another_session_expunged_returns_the_data_on(h: imapspec::server::Handle) {
    let mut a = Client::login(&h).await;
    let mut b = Client::login(&h).await;
    assert!(a.append("INBOX", "\\Flagged", &msg(1)).await.ok());
    assert!(a.append("INBOX", "", &msg(2)).await.ok());
    assert!(a.cmd("SELECT INBOX").await.ok());
    assert!(b.cmd("SELECT INBOX").await.ok());
    assert!(b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await.ok());
    assert!(b.cmd("EXPUNGE").await.ok());

    let f = a.cmd("FETCH 1:2 (FLAGS BODY.PEEK[])").await;
    assert!(f.ok(), "{}", f.tagged);
    assert!(
        !f.has("* 1 EXPUNGE"),
        "no EXPUNGE during FETCH (RFC 3501 7.4.1)"
    );
    let one = f.untagged.iter().find(|l| l.starts_with("* 1 FETCH"));
    let one = one.expect("the expunged message's data");
    assert!(one.contains("body 1") && one.contains("\\Flagged"), "{one}");
    assert!(f.has("* 2 FETCH"));
    let s = a.cmd("SEARCH ALL").await;
    assert!(s.has("* SEARCH 1 2"), "{:?}", s.untagged);

    let n = a.cmd("NOOP").await;
    assert!(n.has("* 1 EXPUNGE"), "{:?}", n.untagged);
    let f = a.cmd("FETCH 1 BODY.PEEK[]").await;
    assert!(f.ok());
    assert!(
        f.untagged.iter().any(|l| l.contains("body 2")),
        "{:?}",
        f.untagged
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// Hostile LIST patterns and sequence sets.

/// A 33 KB `%%%…` pattern once overflowed a worker's stack; a 40-byte
/// `*a*a*a*a*b` against a 999-character name froze the server. Both are
/// answered now, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_list_patterns_are_answered() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let long = "a".repeat(999);
    assert!(a.cmd(&format!("CREATE {long}")).await.ok());

    let pct = "%".repeat(33_000);
    let l = a.cmd(&format!("LIST \"\" \"{pct}\"")).await;
    assert!(
        l.tagged.contains(" BAD ") || l.tagged.contains(" NO "),
        "an over-long pattern is refused: {}",
        &l.tagged[..l.tagged.len().min(200)]
    );

    let l = a.cmd("LIST \"\" \"*a*a*a*a*b\"").await;
    assert!(l.ok(), "{}", l.tagged);
    assert!(l.untagged.is_empty(), "{:?}", l.untagged);
    let l = a.cmd("LIST \"\" \"*a*a*a*a*a\"").await;
    assert!(l.untagged.iter().any(|x| x.contains(&long)));
    let l = a.cmd(&format!("LIST \"\" \"{}\"", "%a".repeat(400))).await;
    assert!(l.ok(), "{}", l.tagged);

    let mut other = Client::login(&h).await;
    assert!(other.cmd("NOOP").await.ok());
    assert!(a.cmd("NOOP").await.ok());
    h.shutdown().await;
}

/// `FETCH 1:*,1:*,…` (15,000 ranges) on 10,000 messages names each message
/// once: the set is normalised before it is expanded, so the work is that of
/// one `1:*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_sequence_set_is_answered_once_per_message() {
    let h = server().await;
    let body: Arc<[u8]> = Arc::from(msg(0).into_bytes());
    for _ in 0..10_000 {
        h.store
            .append(
                "alice",
                "INBOX",
                Arc::clone(&body),
                FlagSet::default(),
                (0, 0),
                false,
            )
            .expect("append");
    }
    let mut a = Client::login(&h).await;
    assert!(a.cmd("SELECT INBOX").await.ok());
    let set = vec!["1:*"; 15_000].join(",");
    let f = a.cmd(&format!("FETCH {set} UID")).await;
    assert!(f.ok(), "{}", f.tagged);
    assert_eq!(f.untagged.len(), 10_000);
    let set = vec!["2:3,1:2"; 7_000].join(",");
    let f = a.cmd(&format!("UID FETCH {set} UID")).await;
    assert_eq!(f.untagged.len(), 3);
    let s = a
        .cmd(&format!("SEARCH {}", vec!["9999:*"; 8_000].join(",")))
        .await;
    assert!(s.has("* SEARCH 9999 10000"), "{:?}", s.untagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// Under concurrency.

/// Twelve imaplib sessions, four per mailbox, appending, storing keywords,
/// expunging, moving and re-selecting at once: on every session's wire
/// RECENT never exceeds EXISTS, STATUS RECENT never exceeds MESSAGES, and no
/// FETCH shows a keyword no FLAGS response announced
/// (tests/clients/recent_keywords_load.py does the checking).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_python_sessions_see_recent_within_exists_and_keywords_announced() {
    let h = server().await;
    let imap = h.imap.expect("imap").to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/recent_keywords_load.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &imap, "4", "3", "150", "7"])
            .output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The run exercised what it checks.
    let figure = |k: &str| -> u64 {
        stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(figure("recent_lines") > 50, "{stdout}");
    assert!(figure("keywords_shown") > 50, "{stdout}");
    assert!(figure("flags_lines") > 12, "{stdout}");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// SPECIAL-USE (RFC 6154), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
// STATUS=SIZE (RFC 8438).

/// RFC 6154 5.1 and 5.2: a new account's Sent, Drafts, Trash, Junk and
/// Archive carry their uses in LIST, `LIST (SPECIAL-USE)` lists only them, and
/// 5.3: CREATE with USE gives a mailbox its uses (journaled: they survive a
/// restart), while a use already held or unknown is `NO [USEATTR]` and makes
/// no mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_use_lists_creates_and_survives_a_restart() {
    let dir = support::temp_dir("server-rfc-special-use");
    let h = support::start_server(&[], Clock::real(), Some(dir.clone())).await;
    let mut c = Client::login(&h).await;
    let all = c.cmd("LIST \"\" \"%\"").await;
    for (name, attr) in [
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            all.untagged
                .iter()
                .any(|l| l.ends_with(&format!("\"{name}\"")) && l.contains(attr)),
            "{name} {attr}: {:?}",
            all.untagged
        );
    }
    let special = c.cmd("LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(special.ok(), "{}", special.tagged);
    assert_eq!(special.untagged.len(), 5, "{:?}", special.untagged);
    assert!(!special.untagged.iter().any(|l| l.contains("INBOX")));

    let made = c.cmd("CREATE Starred (USE (\\Flagged \\All))").await;
    assert!(made.ok(), "{}", made.tagged);
    let held = c.cmd("CREATE Sent2 (USE (\\Sent))").await;
    assert!(held.tagged.contains("NO [USEATTR]"), "{}", held.tagged);
    let unknown = c.cmd("CREATE Odd (USE (\\Bogus))").await;
    assert!(
        unknown.tagged.contains("NO [USEATTR]"),
        "{}",
        unknown.tagged
    );
    let after = c.cmd("LIST \"\" \"*\" RETURN (SPECIAL-USE)").await;
    assert!(
        !after
            .untagged
            .iter()
            .any(|l| l.contains("Sent2") || l.contains("Odd")),
        "a refused CREATE made no mailbox: {:?}",
        after.untagged
    );
    h.shutdown().await;

    let h = support::start_server(&[], Clock::real(), Some(dir)).await;
    let mut c = Client::login(&h).await;
    let again = c.cmd("LIST \"\" \"Starred\" RETURN (SPECIAL-USE)").await;
    assert!(
        again
            .untagged
            .iter()
            .any(|l| l.contains("\\Flagged") && l.contains("\\All")),
        "{:?}",
        again.untagged
    );
    h.shutdown().await;
}

/// RFC 5258: several patterns in one LIST, SUBSCRIBED (with \Subscribed and
/// \NonExistent), RECURSIVEMATCH with CHILDINFO, and RECURSIVEMATCH alone is
/// BAD (3.1: "The server MUST return BAD tagged response in such case").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_extended_selection_and_return_options() {
    let h = server().await;
    let mut c = Client::login(&h).await;
    for cmd in [
        "CREATE Foo/Bar",
        "SUBSCRIBE Foo/Bar",
        "CREATE Gone",
        "SUBSCRIBE Gone",
        "DELETE Gone",
    ] {
        let a = c.cmd(cmd).await;
        assert!(a.ok(), "{cmd}: {}", a.tagged);
    }
    let two = c.cmd("LIST \"\" (\"INBOX\" \"Foo\")").await;
    assert_eq!(two.untagged.len(), 2, "{:?}", two.untagged);
    let subs = c.cmd("LIST (SUBSCRIBED) \"\" \"*\"").await;
    assert!(
        subs.untagged
            .iter()
            .any(|l| l.contains("\\Subscribed") && l.ends_with("\"Foo/Bar\"")),
        "{:?}",
        subs.untagged
    );
    assert!(
        subs.untagged
            .iter()
            .any(|l| l.contains("\\NonExistent") && l.ends_with("\"Gone\"")),
        "{:?}",
        subs.untagged
    );
    assert!(!subs.untagged.iter().any(|l| l.ends_with("\"Foo\"")));
    let rec = c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"").await;
    assert!(
        rec.untagged
            .iter()
            .any(|l| l.contains("\"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))")),
        "{:?}",
        rec.untagged
    );
    let alone = c.cmd("LIST (RECURSIVEMATCH) \"\" \"%\"").await;
    assert!(alone.tagged.contains(" BAD "), "{}", alone.tagged);
    let unknown = c.cmd("LIST \"\" \"%\" RETURN (NOSUCH)").await;
    assert!(unknown.tagged.contains(" BAD "), "{}", unknown.tagged);
    h.shutdown().await;
}

/// RFC 5819: each selectable mailbox's STATUS follows its LIST line; a
/// \Noselect one gets none. RFC 8438: STATUS SIZE is the mailbox's octets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_status_follows_each_list_line_and_status_size_counts_octets() {
    let h = server().await;
    let mut c = Client::login(&h).await;
    let a = c.append("INBOX", "", &msg(1)).await;
    assert!(a.ok(), "{}", a.tagged);
    assert!(c.cmd("CREATE Top/Leaf").await.ok());
    let l = c
        .cmd("LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT SIZE))")
        .await;
    assert!(l.ok(), "{}", l.tagged);
    for (i, line) in l.untagged.iter().enumerate() {
        if line.starts_with("* LIST") && !line.contains("\\Noselect") {
            let name = line.rsplit(' ').next().unwrap_or_default();
            let next = l.untagged.get(i + 1).map(String::as_str).unwrap_or("");
            assert!(
                next.starts_with(&format!("* STATUS {name} (")),
                "no STATUS right after {line}: {:?}",
                l.untagged
            );
        }
        if line.starts_with("* LIST") && line.contains("\\Noselect") {
            let next = l.untagged.get(i + 1).map(String::as_str).unwrap_or("");
            assert!(!next.starts_with("* STATUS"), "{:?}", l.untagged);
        }
    }
    let size = msg(1).len();
    assert!(
        l.has(&format!(
            "* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2 SIZE {size})"
        )),
        "{:?}",
        l.untagged
    );
    let s = c.cmd("STATUS INBOX (SIZE)").await;
    assert!(s.has_status(&format!("(SIZE {size})")), "{:?}", s.untagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// SORT and THREAD (RFC 5256).

fn dated(subject: &str, date: &str, extra: &str) -> String {
    format!("From: a@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n{extra}\r\nbody\r\n")
}

/// RFC 5256 3's SORT examples in their own form: `SORT (SUBJECT REVERSE
/// DATE) UTF-8 ALL` answered `* SORT 5 3 4 1 2` by a mailbox built to give
/// that order (base subjects "A", "B", "C"; REVERSE applies to DATE alone),
/// a search that finds nothing answered `* SORT`, the UID form, and the
/// refusals: an unknown charset (NO [BADCHARSET]), no mailbox selected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_answers_rfc_5256s_examples() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let early = a.cmd("SORT (SUBJECT) UTF-8 ALL").await;
    assert!(
        !early.ok(),
        "SORT without a selected mailbox: {}",
        early.tagged
    );
    for (subject, day) in [
        ("C", 2),
        ("Re: C", 1),
        ("[list] B", 4),
        ("Fwd: B", 3),
        ("A", 5),
    ] {
        let m = dated(subject, &format!("Fri, {day} Feb 1994 10:00:00 +0000"), "");
        assert!(a.append("INBOX", "", &m).await.ok());
    }
    assert!(a.cmd("SELECT INBOX").await.ok());
    let sorted = |a: &Answer| a.untagged.iter().find(|l| l.starts_with("* SORT")).cloned();
    for (command, want) in [
        ("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 5 3 4 1 2"),
        ("SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"", "* SORT"),
        ("SORT (DATE) utf-8 ALL", "* SORT 2 1 4 3 5"),
        // Sizes differ by the subject's length; 1 and 5 tie, and a tie keeps
        // sequence order under REVERSE too (REVERSE reverses the key).
        ("SORT (REVERSE SIZE) UTF-8 ALL", "* SORT 3 4 2 1 5"),
        (
            "SORT (FROM SUBJECT) UTF-8 SINCE 3-Feb-1994",
            "* SORT 5 3 4 1 2",
        ),
        (
            "UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            "* SORT 5 3 4 1 2",
        ),
        ("UID SORT (SIZE) UTF-8 UID 2:4", "* SORT 2 4 3"),
    ] {
        let r = a.cmd(command).await;
        assert!(r.ok(), "{command}: {}", r.tagged);
        assert_eq!(sorted(&r).as_deref(), Some(want), "{command}");
    }
    let bad = a.cmd("SORT (SUBJECT) KOI8-R ALL").await;
    assert!(bad.tagged.contains("NO [BADCHARSET"), "{}", bad.tagged);
    let bad = a.cmd("SORT (NOSUCHKEY) UTF-8 ALL").await;
    assert!(bad.tagged.contains(" BAD "), "{}", bad.tagged);
    h.shutdown().await;
}

/// RFC 5256 3's two threading algorithms: REFERENCES links by Message-ID and
/// References (or In-Reply-To), keeps a missing parent as a dummy that groups
/// its children `((5)(6))`, and sorts siblings by sent date; ORDEREDSUBJECT
/// groups by base subject under the earliest message. Each answer follows
/// the thread-list grammar of RFC 5256 4, lists side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_references_and_orderedsubject() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    assert!(a.cmd("CREATE Threads").await.ok());
    for (subject, day, extra) in [
        ("Plan", 1, "Message-ID: <a@x>\r\n"),
        ("Re: Plan", 2, "Message-ID: <b@x>\r\nReferences: <a@x>\r\n"),
        (
            "Re: Plan",
            4,
            "Message-ID: <c@x>\r\nReferences: <a@x> <b@x>\r\n",
        ),
        ("Re: Plan", 3, "Message-ID: <d@x>\r\nIn-Reply-To: <a@x>\r\n"),
        ("Other", 5, "Message-ID: <e@x>\r\nReferences: <gone@x>\r\n"),
        (
            "Re: Other",
            6,
            "Message-ID: <f@x>\r\nReferences: <gone@x>\r\n",
        ),
    ] {
        let m = dated(
            subject,
            &format!("Tue, {day} Feb 2000 10:00:00 +0000"),
            extra,
        );
        assert!(a.append("Threads", "", &m).await.ok());
    }
    assert!(a.cmd("SELECT Threads").await.ok());
    let threads = |a: &Answer| {
        a.untagged
            .iter()
            .find(|l| l.starts_with("* THREAD"))
            .cloned()
    };
    for (command, want) in [
        (
            "THREAD REFERENCES UTF-8 ALL",
            "* THREAD (1 (2 3)(4))((5)(6))",
        ),
        (
            "UID THREAD REFERENCES UTF-8 ALL",
            "* THREAD (1 (2 3)(4))((5)(6))",
        ),
        (
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            "* THREAD (1 (2)(4)(3))(5 6)",
        ),
        (
            "THREAD REFERENCES US-ASCII SUBJECT Other",
            "* THREAD ((5)(6))",
        ),
        ("THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing", "* THREAD"),
    ] {
        let r = a.cmd(command).await;
        assert!(r.ok(), "{command}: {}", r.tagged);
        assert_eq!(threads(&r).as_deref(), Some(want), "{command}");
        // What the harness reads back: every number once.
        let line = format!("{want}\r\n");
        let numbers = imapspec::wire::thread::thread_numbers(line.as_bytes());
        assert!(numbers.is_some(), "{want} follows the grammar");
    }
    let bad = a.cmd("THREAD REFERENCES KOI8-R ALL").await;
    assert!(bad.tagged.contains("NO [BADCHARSET"), "{}", bad.tagged);
    let bad = a.cmd("THREAD NOSUCHALGORITHM UTF-8 ALL").await;
    assert!(bad.tagged.contains(" BAD "), "{}", bad.tagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// IMAP4rev2 (RFC 9051).

/// After `ENABLE IMAP4rev2` a session has no \Recent (RFC 9051 appendix E
/// lists the RECENT response and the \Recent flag among what was removed),
/// SELECT answers with the LIST response 6.3.2 requires and marks leaving a
/// mailbox with `[CLOSED]`, and mailbox names travel as UTF-8 (5.1) while a
/// rev1 session sees the same mailbox in modified UTF-7 (appendix A).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap4rev2_session_differs_only_where_rfc_9051_says() {
    let h = server().await;
    let mut v2 = Client::login(&h).await;
    let caps = v2.cmd("CAPABILITY").await;
    assert!(
        caps.has("* CAPABILITY IMAP4rev1 IMAP4rev2 "),
        "{:?}",
        caps.untagged
    );
    let e = v2.cmd("ENABLE IMAP4rev2").await;
    assert!(e.ok() && e.has("* ENABLED IMAP4rev2"), "{:?}", e.untagged);
    // A UTF-8 name, as a literal and as a quoted string.
    let c = v2.cmd("CREATE {9+}\r\nEntw\u{fc}rfe").await;
    assert!(c.ok(), "{}", c.tagged);
    let c = v2.cmd("CREATE \"Caf\u{e9}/Men\u{fc}\"").await;
    assert!(c.ok(), "{}", c.tagged);
    let l = v2.cmd("LIST \"\" *").await;
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Entw\u{fc}rfe\""),
        "{:?}",
        l.untagged
    );
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Caf\u{e9}/Men\u{fc}\""),
        "{:?}",
        l.untagged
    );
    let st = v2.cmd("STATUS \"Entw\u{fc}rfe\" (MESSAGES)").await;
    assert!(
        st.has("* STATUS \"Entw\u{fc}rfe\" (MESSAGES 0)"),
        "{:?}",
        st.untagged
    );

    let mut v1 = Client::login(&h).await;
    let l = v1.cmd("LIST \"\" Entw*").await;
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\""),
        "{:?}",
        l.untagged
    );
    assert!(v1.append("INBOX", "", &msg(1)).await.ok());

    let s = v2.cmd("SELECT INBOX").await;
    assert!(s.ok(), "{}", s.tagged);
    assert!(s.has("* 1 EXISTS"), "{:?}", s.untagged);
    assert!(
        !s.has("* 1 RECENT") && !s.has("* 0 RECENT"),
        "{:?}",
        s.untagged
    );
    assert!(
        s.has("* LIST (\\HasNoChildren) \"/\" \"INBOX\""),
        "{:?}",
        s.untagged
    );
    assert!(!s.has("* OK [UNSEEN"), "{:?}", s.untagged);
    let f = v2.cmd("FETCH 1 (FLAGS)").await;
    assert!(f.has("* 1 FETCH (FLAGS ())"), "{:?}", f.untagged);
    // RFC 9051 6.4.4: ESEARCH, never SEARCH, to a rev2 client.
    let q = v2.cmd("UID SEARCH ALL").await;
    assert!(
        q.untagged.len() == 1
            && q.untagged[0].starts_with("* ESEARCH (TAG \"t")
            && q.untagged[0].ends_with(" UID ALL 1"),
        "{:?}",
        q.untagged
    );
    let s = v2.cmd("SELECT \"Entw\u{fc}rfe\"").await;
    assert!(s.ok() && s.has("* OK [CLOSED]"), "{:?}", s.untagged);
    assert!(
        s.has("* LIST (\\HasNoChildren) \"/\" \"Entw\u{fc}rfe\""),
        "{:?}",
        s.untagged
    );

    // The rev2 session took no \Recent: the message is still recent to the
    // first rev1 session that selects the mailbox.
    let s = v1.cmd("SELECT INBOX").await;
    assert!(s.has("* 1 RECENT"), "{:?}", s.untagged);
    assert!(!s.has("* LIST"), "{:?}", s.untagged);
    let f = v1.cmd("FETCH 1 (FLAGS)").await;
    assert!(f.has("* 1 FETCH (FLAGS (\\Recent))"), "{:?}", f.untagged);
    h.shutdown().await;
}

/// Thunderbird adds a hierarchy delimiter to the end of names (Dovecot's
/// `tb-extra-mailbox-sep` workaround): CREATE drops it (RFC 3501 6.3.3), and
/// as no name ends with one, every other command reads `a/b/` as `a/b`. A
/// LIST reference keeps its delimiter: it is a prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_delimiter_names_the_same_mailbox() {
    let h = server().await;
    let mut tb = Client::login(&h).await;
    assert!(tb.cmd("CREATE Projects/").await.ok());
    assert!(tb.cmd("CREATE Projects/2024").await.ok());
    let st = tb.cmd("STATUS Projects/2024/ (MESSAGES)").await;
    assert!(
        st.has("* STATUS Projects/2024 (MESSAGES 0)")
            || st.has("* STATUS \"Projects/2024\" (MESSAGES 0)"),
        "{:?} {}",
        st.untagged,
        st.tagged
    );
    let s = tb.cmd("SELECT Projects/2024/").await;
    assert!(
        s.ok() && s.has("* 0 EXISTS"),
        "{:?} {}",
        s.untagged,
        s.tagged
    );
    let l = tb.cmd("LIST Projects/ %").await;
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Projects/2024\""),
        "{:?}",
        l.untagged
    );
    assert_eq!(l.untagged.len(), 1, "{:?}", l.untagged);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).

/// The `* ESEARCH` line of an answer, with its `(TAG "tN")` correlator
/// checked and taken off.
fn esearch_of(a: &Answer) -> Option<String> {
    let tag = a.tagged.split(' ').next()?;
    let line = a.untagged.iter().find(|l| l.starts_with("* ESEARCH"))?;
    let rest = line.strip_prefix(&format!("* ESEARCH (TAG \"{tag}\")"))?;
    Some(rest.trim_start().to_string())
}

fn seqs_fetched(a: &Answer) -> Vec<u32> {
    a.untagged
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect()
}

/// RFC 4731 3.1 (its own example: `SEARCH RETURN (MIN COUNT) FLAGGED SINCE
/// ...` answered `* ESEARCH (TAG "A282") MIN 2 COUNT 3`): one ESEARCH with
/// the tag correlator and just the data asked for, ALL as a sequence set,
/// UID for UID SEARCH, nothing but COUNT 0 when nothing matched, `RETURN ()`
/// meaning ALL, an unknown option refused; MODSEQ data for a MODSEQ key
/// (RFC 7162 3.1.5). CAPABILITY names both extensions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esearch_return_options() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let caps = a.cmd("CAPABILITY").await;
    let caps = caps.untagged.join(" ");
    assert!(
        caps.contains(" ESEARCH") && caps.contains(" SEARCHRES"),
        "{caps}"
    );
    for i in 1..=5 {
        let flags = if [2, 3, 5].contains(&i) {
            "\\Flagged"
        } else {
            ""
        };
        assert!(a.append("INBOX", flags, &msg(i)).await.ok());
    }
    assert!(a.cmd("SELECT INBOX").await.ok());
    for (command, want) in [
        ("SEARCH RETURN (MIN COUNT) FLAGGED", "MIN 2 COUNT 3"),
        (
            "SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED",
            "MIN 2 MAX 5 COUNT 3 ALL 2:3,5",
        ),
        ("UID SEARCH RETURN () FLAGGED", "UID ALL 2:3,5"),
        ("SEARCH RETURN (ALL) ALL", "ALL 1:5"),
        ("UID SEARCH RETURN (MAX) UNFLAGGED", "UID MAX 4"),
        (
            "SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nomatch",
            "COUNT 0",
        ),
        ("SEARCH RETURN (MIN MAX ALL) SUBJECT nomatch", ""),
    ] {
        let r = a.cmd(command).await;
        assert!(r.ok(), "{command}: {}", r.tagged);
        assert_eq!(esearch_of(&r).as_deref(), Some(want), "{command}");
        assert!(!r.has("* SEARCH"), "{command}: a SEARCH response too");
    }
    let r = a.cmd("SEARCH RETURN (COUNT) MODSEQ 1").await;
    let e = esearch_of(&r).unwrap_or_default();
    assert!(e.starts_with("COUNT 5 MODSEQ "), "{e}");
    let r = a.cmd("SEARCH RETURN (BOGUS) ALL").await;
    assert!(r.tagged.contains(" BAD "), "{}", r.tagged);
    let r = a.cmd("SEARCH RETURN MIN ALL").await;
    assert!(r.tagged.contains(" BAD "), "{}", r.tagged);
    // A plain SEARCH is unchanged.
    let r = a.cmd("SEARCH FLAGGED").await;
    assert!(r.has("* SEARCH 2 3 5"), "{:?}", r.untagged);
    h.shutdown().await;
}

/// RFC 5182: `SEARCH RETURN (SAVE)` answers with the tagged OK alone and
/// saves the result; `$` names it in FETCH, STORE, COPY, SEARCH and their
/// UID forms, the same messages either way; SAVE with MIN and/or MAX alone
/// saves just those (2.4); an expunged message drops out; `$` is empty at
/// first and again after SELECT, UNSELECT and CLOSE, and an empty `$` is a
/// valid set naming no message; `$` inside a string is only a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searchres_saves_and_names_the_result() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let r = a.cmd("FETCH $ (FLAGS)").await;
    assert!(r.tagged.contains(" BAD "), "not selected: {}", r.tagged);
    for i in 1..=5 {
        let flags = if [2, 3, 5].contains(&i) {
            "\\Flagged"
        } else {
            ""
        };
        assert!(a.append("INBOX", flags, &msg(i)).await.ok());
    }
    assert!(a.cmd("CREATE Other").await.ok());
    assert!(a.cmd("SELECT INBOX").await.ok());
    let r = a.cmd("FETCH $ (FLAGS)").await;
    assert!(
        r.ok() && r.untagged.is_empty(),
        "{:?} {}",
        r.untagged,
        r.tagged
    );

    let r = a.cmd("SEARCH RETURN (SAVE) FLAGGED").await;
    assert!(
        r.ok() && !r.has("* ESEARCH") && !r.has("* SEARCH"),
        "{:?}",
        r.untagged
    );
    assert_eq!(seqs_fetched(&a.cmd("FETCH $ (FLAGS)").await), vec![2, 3, 5]);
    let r = a.cmd("UID FETCH $ (FLAGS)").await;
    assert_eq!(seqs_fetched(&r), vec![2, 3, 5]);
    let r = a.cmd("SEARCH $ SMALLER 100000").await;
    assert!(r.has("* SEARCH 2 3 5"), "{:?}", r.untagged);
    let r = a.cmd("SEARCH NOT $").await;
    assert!(r.has("* SEARCH 1 4"), "{:?}", r.untagged);
    let r = a.cmd("UID SEARCH UID $").await;
    assert!(r.has("* SEARCH 2 3 5"), "{:?}", r.untagged);
    let r = a.cmd("SEARCH SUBJECT \"$\"").await;
    assert!(r.ok() && r.has("* SEARCH"), "{:?}", r.untagged);
    assert!(a.cmd("STORE $ +FLAGS.SILENT (\\Seen)").await.ok());
    let r = a.cmd("SEARCH SEEN").await;
    assert!(r.has("* SEARCH 2 3 5"), "{:?}", r.untagged);
    let r = a.cmd("UID COPY $ Other").await;
    assert!(r.ok(), "{}", r.tagged);
    let r = a.cmd("STATUS Other (MESSAGES)").await;
    assert!(r.has_status("(MESSAGES 3)"), "{:?}", r.untagged);

    // RFC 5182 2.4: SAVE with MIN and/or MAX alone saves only those.
    let r = a.cmd("SEARCH RETURN (MIN SAVE) FLAGGED").await;
    assert_eq!(esearch_of(&r).as_deref(), Some("MIN 2"));
    assert_eq!(seqs_fetched(&a.cmd("FETCH $ (UID)").await), vec![2]);
    let r = a.cmd("UID SEARCH RETURN (MIN MAX SAVE) FLAGGED").await;
    assert_eq!(esearch_of(&r).as_deref(), Some("UID MIN 2 MAX 5"));
    assert_eq!(seqs_fetched(&a.cmd("FETCH $ (UID)").await), vec![2, 5]);
    let r = a.cmd("SEARCH RETURN (MIN COUNT SAVE) FLAGGED").await;
    assert_eq!(esearch_of(&r).as_deref(), Some("MIN 2 COUNT 3"));
    assert_eq!(seqs_fetched(&a.cmd("FETCH $ (UID)").await), vec![2, 3, 5]);

    // An expunged message drops out: 3 and 5 are now 2 and 4.
    assert!(a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").await.ok());
    assert!(a.cmd("EXPUNGE").await.ok());
    assert_eq!(seqs_fetched(&a.cmd("FETCH $ (UID)").await), vec![2, 4]);
    // A SEARCH with SAVE that finds nothing saves the empty set.
    let r = a.cmd("SEARCH RETURN (SAVE) SUBJECT nomatch").await;
    assert!(r.ok());
    let r = a.cmd("UID STORE $ +FLAGS (\\Answered)").await;
    assert!(r.ok() && r.untagged.is_empty(), "{:?}", r.untagged);

    // MOVE and UID EXPUNGE take `$` too: the saved messages (2 and 4 now).
    assert!(a.cmd("SEARCH RETURN (SAVE) FLAGGED").await.ok());
    let r = a.cmd("MOVE $ Other").await;
    assert!(r.ok(), "{}", r.tagged);
    let r = a.cmd("SEARCH FLAGGED").await;
    assert!(r.has("* SEARCH") && !r.has("* SEARCH "), "{:?}", r.untagged);
    assert!(a.cmd("SEARCH RETURN (SAVE) ALL").await.ok());
    assert!(a.cmd("STORE $ +FLAGS.SILENT (\\Deleted)").await.ok());
    assert!(a.cmd("UID EXPUNGE $").await.ok());
    let r = a.cmd("SEARCH RETURN (COUNT) ALL").await;
    assert_eq!(esearch_of(&r).as_deref(), Some("COUNT 0"));
    assert!(a.append("INBOX", "", &msg(9)).await.ok());

    // Reset by SELECT, UNSELECT and CLOSE.
    for reset in ["SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"] {
        assert!(a.cmd("SELECT INBOX").await.ok());
        assert!(a.cmd("SEARCH RETURN (SAVE) ALL").await.ok());
        assert!(a.cmd(reset).await.ok(), "{reset}");
        if reset.starts_with("UNSELECT") || reset.starts_with("CLOSE") {
            assert!(a.cmd("SELECT INBOX").await.ok());
        }
        let r = a.cmd("FETCH $ (UID)").await;
        assert!(
            r.ok() && seqs_fetched(&r).is_empty(),
            "after {reset}: {:?}",
            r.untagged
        );
    }
    h.shutdown().await;
}

// ---------------------------------------------------------------------------
// MULTIAPPEND (RFC 3502), APPENDLIMIT (RFC 7889), LITERAL+ (RFC 7888).

/// RFC 3502 6.3.11's example (shorter messages): flags on the first, flags
/// and a date-time on the second, one APPEND, both stored in order with
/// consecutive UIDs named by RFC 4315's `[APPENDUID uidvalidity uid-set]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiappend_stores_every_message_with_one_appenduid_set() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let caps = a.cmd("CAPABILITY").await;
    assert!(
        caps.untagged
            .iter()
            .any(|l| l.contains(" MULTIAPPEND") && l.contains(" APPENDLIMIT=67108864")),
        "{:?}",
        caps.untagged
    );
    assert!(a.cmd("CREATE saved-messages").await.ok());
    let (m1, m2) = (msg(1), msg(2));
    // Synchronising literals: each gets its `+`.
    a.send(format!("A003 APPEND saved-messages (\\Seen) {{{}}}\r\n", m1.len()).as_bytes())
        .await;
    assert!(a.line().await.starts_with('+'));
    a.send(
        format!(
            "{m1} (\\Seen $Work) \" 7-Feb-1994 22:43:04 -0800\" {{{}}}\r\n",
            m2.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(a.line().await.starts_with('+'));
    a.send(format!("{m2}\r\n").as_bytes()).await;
    let r = a.answer("A003").await;
    assert!(r.ok(), "{}", r.tagged);
    let code = r
        .tagged
        .split_once("[APPENDUID ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(c, _)| c.to_string())
        .expect("APPENDUID");
    let (validity, set) = code.split_once(' ').expect("uidvalidity and uid-set");
    // RFC 4315 `uid-set`: "1:2" and "1,2" name the same two UIDs.
    assert!(set == "1:2" || set == "1,2", "{}", r.tagged);
    assert!(a.cmd("SELECT saved-messages").await.ok());
    let f = a
        .cmd("UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    let all = f.untagged.join("\n");
    assert!(
        all.contains("Subject: m1") && all.contains("Subject: m2"),
        "{all}"
    );
    assert!(all.contains("07-Feb-1994 22:43:04 -0800"), "{all}");
    assert!(all.contains("$Work"), "{all}");
    let s = a.cmd("STATUS saved-messages (UIDVALIDITY MESSAGES)").await;
    assert!(
        s.has_status(&format!("(UIDVALIDITY {validity} MESSAGES 2)")),
        "{:?}",
        s.untagged
    );
    h.shutdown().await;
}

/// RFC 3502: "A MULTIAPPEND APPEND operation is atomic; either all messages
/// are successfully appended, or no messages are appended." A bad last
/// message (empty; a date-time that is not one), a mailbox that does not
/// exist, a quota the total goes over: nothing of the command is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiappend_is_all_or_nothing() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let m = msg(1);
    let n = m.len();
    let empty = a
        .cmd(&format!(
            "APPEND INBOX {{{n}+}}\r\n{m} {{{n}+}}\r\n{m} {{0+}}\r\n"
        ))
        .await;
    assert!(empty.tagged.contains(" NO "), "{}", empty.tagged);
    let date = a
        .cmd(&format!(
            "APPEND INBOX {{{n}+}}\r\n{m} \"31-Foo-2024 00:00:00 +0000\" {{{n}+}}\r\n{m}"
        ))
        .await;
    assert!(date.tagged.contains(" BAD "), "{}", date.tagged);
    let none = a
        .cmd(&format!("APPEND NoSuchBox {{{n}+}}\r\n{m} {{{n}+}}\r\n{m}"))
        .await;
    assert!(none.tagged.contains("NO [TRYCREATE]"), "{}", none.tagged);
    let s = a.cmd("STATUS INBOX (MESSAGES UIDNEXT)").await;
    assert!(s.has_status("(MESSAGES 0 UIDNEXT 1)"), "{:?}", s.untagged);
    // bob's quota is 2,000 bytes: over it for the two together, though
    // either alone would fit.
    let mut b = Client::connect(&h).await;
    assert!(b.cmd("LOGIN bob bobpw").await.ok());
    let mut big = msg(2);
    big.push_str(&"y".repeat(1200));
    let k = big.len();
    let quota = b
        .cmd(&format!("APPEND INBOX {{{k}+}}\r\n{big} {{{k}+}}\r\n{big}"))
        .await;
    assert!(quota.tagged.contains("NO [OVERQUOTA]"), "{}", quota.tagged);
    let s = b.cmd("STATUS INBOX (MESSAGES)").await;
    assert!(s.has_status("(MESSAGES 0)"), "{:?}", s.untagged);
    assert!(b.append("INBOX", "", &big).await.ok());
    h.shutdown().await;
}

/// RFC 7889: the limit the capability announces, as a STATUS item and as
/// LIST-STATUS's (RFC 5819) return item; an unknown STATUS item is BAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appendlimit_in_status_and_list_status() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let s = a.cmd("STATUS INBOX (MESSAGES APPENDLIMIT)").await;
    assert!(s.ok(), "{}", s.tagged);
    assert!(
        s.has_status("(MESSAGES 0 APPENDLIMIT 67108864)"),
        "{:?}",
        s.untagged
    );
    let l = a.cmd("LIST \"\" INBOX RETURN (STATUS (APPENDLIMIT))").await;
    assert!(l.ok(), "{}", l.tagged);
    assert!(l.has_status("(APPENDLIMIT 67108864)"), "{:?}", l.untagged);
    let bad = a.cmd("STATUS INBOX (APPENDLIMIT BOGUS)").await;
    assert!(bad.tagged.contains(" BAD "), "{}", bad.tagged);
    h.shutdown().await;
}

/// RFC 7888's abstract: "LITERAL- is the same as LITERAL+, but it disallows
/// the alternate form of literals unless they are 4096 bytes or less." This
/// server announces LITERAL+, so a non-synchronising literal over 4096 bytes
/// is taken like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_plus_is_not_bounded_at_4096() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let caps = a.cmd("CAPABILITY").await;
    let line = caps.untagged.join(" ");
    assert!(
        line.contains(" LITERAL+") && !line.contains("LITERAL-"),
        "{line}"
    );
    let mut big = msg(1);
    big.push_str(&"x".repeat(5000));
    big.push_str("\r\n");
    let r = a.append("INBOX", "", &big).await;
    assert!(r.ok(), "{}", r.tagged);
    h.shutdown().await;
}

/// BINARY (RFC 3516; RFC 9051 6.4.5): sections come transfer-decoded
/// ("Requests that the specified section be transmitted after performing
/// CTE-related decoding"), partial offsets count decoded octets, BINARY.SIZE
/// is the decoded length, NUL data goes as a literal8, an encoding the server
/// cannot undo is `NO [UNKNOWN-CTE]` ("it MUST fail the request"), BINARY.PEEK
/// leaves \Seen alone and BINARY sets it; a literal8 APPEND of binary data
/// comes back octet for octet, and BODY[] of it stays free of NUL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_fetch_decodes_and_literal8_append_round_trips() {
    let h = server().await;
    let mut a = Client::login(&h).await;
    let caps = a.cmd("CAPABILITY").await;
    assert!(caps.has("* CAPABILITY ") && caps.untagged[0].contains(" BINARY "));
    let multi = "From: a@b\r\nSubject: multi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=zz\r\n\r\n\
--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=C3=A9 =\r\nend\r\n\
--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAECAwBoZWxsbw==\r\n\
--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n\
--zz--\r\n";
    assert!(a.append("INBOX", "", multi).await.ok());
    // A literal8 message whose body holds NUL octets.
    let binary = b"From: a@b\r\nSubject: nul\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\nab\x00cd\r\n";
    let mut append = format!("t900 APPEND INBOX ~{{{}+}}\r\n", binary.len()).into_bytes();
    append.extend_from_slice(binary);
    append.extend_from_slice(b"\r\n");
    a.send(&append).await;
    let appended = a.answer("t900").await;
    assert!(appended.ok(), "{}", appended.tagged);
    assert!(a.cmd("SELECT INBOX").await.ok());

    let fetched = |r: &Answer, seq: u32| {
        r.untagged
            .iter()
            .find(|l| l.starts_with(&format!("* {seq} FETCH ")))
            .cloned()
            .unwrap_or_default()
    };
    let r = a
        .cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2])")
        .await;
    assert!(r.ok(), "{}", r.tagged);
    let line = fetched(&r, 1);
    assert!(line.contains("BINARY[1] {9}\r\ncafé end"), "{line:?}");
    assert!(
        line.contains("BINARY.SIZE[1] 9") && line.contains("BINARY.SIZE[2] 10"),
        "{line:?}"
    );
    let r = a.cmd("FETCH 1 (BINARY.PEEK[2] BINARY.PEEK[2]<5.5>)").await;
    let line = fetched(&r, 1);
    assert!(
        line.contains("BINARY[2] ~{10}\r\n\0\u{1}\u{2}\u{3}\0hello"),
        "{line:?}"
    );
    assert!(
        line.contains("BINARY[2] {5}\r\nhello"),
        "partial counts decoded octets: {line:?}"
    );

    // x-uuencode: the message is left out and the command fails.
    let r = a.cmd("FETCH 1:2 (BINARY.PEEK[3])").await;
    assert!(r.tagged.contains(" NO [UNKNOWN-CTE]"), "{}", r.tagged);
    assert!(
        fetched(&r, 1).is_empty() && !fetched(&r, 2).is_empty(),
        "{:?}",
        r.untagged
    );

    // The literal8 message: stored in base64, given back whole.
    let r = a
        .cmd("FETCH 2 (BODY.PEEK[] BINARY.PEEK[1] BINARY.SIZE[1])")
        .await;
    let line = fetched(&r, 2);
    assert!(
        line.contains("Content-Transfer-Encoding: base64"),
        "{line:?}"
    );
    assert_eq!(
        line.matches('\0').count(),
        1,
        "one NUL, in BINARY[1]: {line:?}"
    );
    assert!(line.contains("BINARY[1] ~{7}\r\nab\0cd\r\n"), "{line:?}");
    assert!(line.contains("BINARY.SIZE[1] 7"), "{line:?}");

    // \Seen: PEEK left it alone so far; BINARY sets it.
    let r = a.cmd("FETCH 2 (FLAGS)").await;
    assert!(!fetched(&r, 2).contains("\\Seen"), "{:?}", r.untagged);
    let r = a.cmd("FETCH 2 (BINARY[1])").await;
    assert!(fetched(&r, 2).contains("\\Seen"), "{:?}", r.untagged);

    // A NUL in a header cannot be stored without loss.
    let bad = b"Subject: a\x00b\r\n\r\nbody\r\n";
    let mut append = format!("t901 APPEND INBOX ~{{{}+}}\r\n", bad.len()).into_bytes();
    append.extend_from_slice(bad);
    append.extend_from_slice(b"\r\n");
    a.send(&append).await;
    let refused = a.answer("t901").await;
    assert!(
        refused.tagged.contains(" NO [UNKNOWN-CTE]"),
        "{}",
        refused.tagged
    );
    h.shutdown().await;
}

/// UTF8=ACCEPT (RFC 6855 3, RFC 9755): after `ENABLE UTF8=ACCEPT` mailbox
/// names go both ways as UTF-8 quoted strings while a session that did not
/// enable it sees the same mailbox in modified UTF-7; RFC 6855 4's `APPEND
/// mailbox UTF8 (literal8)` stores the message inside the parentheses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_accept_names_and_the_utf8_append_form() {
    let h = server().await;
    let mut u = Client::login(&h).await;
    let mut old = Client::login(&h).await;
    let caps = u.cmd("CAPABILITY").await;
    assert!(
        caps.untagged[0].contains(" UTF8=ACCEPT "),
        "{:?}",
        caps.untagged
    );
    let e = u.cmd("ENABLE UTF8=ACCEPT").await;
    assert!(e.ok() && e.has("* ENABLED UTF8=ACCEPT"), "{:?}", e.untagged);
    let again = u.cmd("ENABLE UTF8=ACCEPT").await;
    assert!(
        again.has("* ENABLED") && !again.untagged[0].contains("UTF8"),
        "{:?}",
        again.untagged
    );
    assert!(u.cmd("CREATE \"Entw\u{fc}rfe\"").await.ok());
    let l = u.cmd("LIST \"\" Entw*").await;
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Entw\u{fc}rfe\""),
        "{:?}",
        l.untagged
    );
    let l = old.cmd("LIST \"\" Entw*").await;
    assert!(
        l.has("* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\""),
        "{:?}",
        l.untagged
    );

    let message = "From: j\u{f6}rg@example.org\r\nSubject: Gr\u{fc}\u{df}e\r\n\r\nhallo\r\n";
    let mut append = format!(
        "t900 APPEND \"Entw\u{fc}rfe\" (\\Seen) UTF8 (~{{{}+}}\r\n",
        message.len()
    )
    .into_bytes();
    append.extend_from_slice(message.as_bytes());
    append.extend_from_slice(b")\r\n");
    u.send(&append).await;
    let appended = u.answer("t900").await;
    assert!(
        appended.ok() && appended.tagged.contains("[APPENDUID "),
        "{}",
        appended.tagged
    );
    let unclosed = format!("APPEND INBOX UTF8 (~{{{}+}}\r\n{message}", message.len());
    assert!(u.cmd(&unclosed).await.tagged.contains(" BAD "));
    assert!(u.cmd("SELECT \"Entw\u{fc}rfe\"").await.ok());
    let f = u.cmd("FETCH 1 (FLAGS BODY.PEEK[])").await;
    let line = f
        .untagged
        .iter()
        .find(|l| l.starts_with("* 1 FETCH"))
        .cloned()
        .unwrap_or_default();
    assert!(line.contains("\\Seen"), "{line:?}");
    assert!(
        line.contains(&format!("{{{}}}\r\n{message}", message.len())),
        "{line:?}"
    );
    h.shutdown().await;
}
