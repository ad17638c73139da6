//! The durable store (changes applied only once their journal record is on
//! disk) keeps the mailbox bookkeeping the in-memory store keeps: keywords
//! in use (FLAGS/PERMANENTFLAGS, RFC 3501 7.2.6) are defined when a change
//! becomes visible and rebuilt by the replay at start, an expunged message
//! stays readable for a selection not yet told of it (RFC 2180 4.1.1), and
//! the keyword limit (RFC 5530 LIMIT) holds.

mod support;

use std::sync::Arc;

use imapspec::server::store::{FlagSet, Store, StoreError, MAX_KEYWORDS};

fn open(name: &str) -> (std::path::PathBuf, Store) {
    let dir = support::temp_dir(&format!("store-bookkeeping-{name}"));
    let store = Store::open(&dir).expect("open");
    store.add_user("alice", "pw", None).expect("user");
    (dir, store)
}

fn append(store: &Store, flags: &[&str], body: &str) -> u32 {
    let (_, uid) = store
        .append(
            "alice",
            "INBOX",
            Arc::from(body.as_bytes()),
            FlagSet::from_names(flags.iter().copied()),
            (1_700_000_000, 0),
            false,
        )
        .expect("append");
    uid
}

fn keywords(store: &Store) -> Vec<String> {
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let st = mb.lock();
    st.keywords.to_vec()
}

/// A keyword stays applicable once used (FLAGS lists it even when no message
/// has it any more); the journal replay at start gives the same list.
#[test]
fn keywords_are_defined_when_durable_and_rebuilt_at_start() {
    let (dir, store) = open("keywords");
    let uid = append(&store, &["$Appended"], "From: a@example.org\r\n\r\n1\r\n");
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    store
        .set_flags(
            "alice",
            &mb,
            &[(uid, FlagSet::from_names(["$Stored"]))],
            1,
            None,
        )
        .expect("store");
    store
        .set_flags(
            "alice",
            &mb,
            &[(uid, FlagSet::from_names(["\\Seen"]))],
            1,
            None,
        )
        .expect("store");
    assert_eq!(keywords(&store), ["$Appended", "$Stored"]);
    drop(mb);
    drop(store);

    let store = Store::open(&dir).expect("reopen");
    assert_eq!(
        keywords(&store),
        ["$Appended", "$Stored"],
        "replay rebuilds the keywords from APPEND and FLAGS records"
    );
}

/// RFC 2180 4.1.1: the server "MAY allow the EXPUNGE of a multi-accessed
/// mailbox but keep the messages available to satisfy subsequent FETCH
/// commands until it is able to send an EXPUNGE response to each client."
/// With the durable store the expunge becomes visible once on disk, and the
/// message is kept for the selection that has not been told.
#[test]
fn a_durable_expunge_keeps_the_message_for_a_selection_not_told() {
    let (_dir, store) = open("expunge");
    let uid = append(
        &store,
        &["\\Flagged"],
        "From: a@example.org\r\n\r\nkept\r\n",
    );
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let token = {
        let mut st = mb.lock();
        let cursor = st.change_end();
        st.views.open(cursor)
    };
    store.expunge("alice", &mb, &[uid]).expect("expunge");
    {
        let st = mb.lock();
        assert!(st.index_of(uid).is_none(), "expunged once durable");
        let kept = st.visible(uid).expect("kept for the selection");
        assert_eq!(&kept.data[..], b"From: a@example.org\r\n\r\nkept\r\n");
    }
    let mut st = mb.lock();
    let end = st.change_end();
    st.views.advance(token, end);
    assert!(
        st.visible(uid).is_none(),
        "dropped once every selection is told"
    );
}

/// RFC 5530 LIMIT: past `MAX_KEYWORDS` a new keyword is refused, before its
/// record is journaled (so it is not there after a restart either).
#[test]
fn the_keyword_limit_holds_on_the_durable_store() {
    let (dir, store) = open("limit");
    let uid = append(&store, &[], "From: a@example.org\r\n\r\n1\r\n");
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let names: Vec<String> = (0..MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
    let all = FlagSet::from_names(names.iter().map(String::as_str));
    store
        .set_flags("alice", &mb, &[(uid, all)], 1, None)
        .expect("up to the limit");
    let over = FlagSet::from_names(["one-more"]);
    let refused = store.set_flags("alice", &mb, &[(uid, over.clone())], 1, None);
    assert!(matches!(refused, Err(StoreError::Limit(_))), "{refused:?}");
    let refused = store.append(
        "alice",
        "INBOX",
        Arc::from(&b"From: a@example.org\r\n\r\n2\r\n"[..]),
        over,
        (1_700_000_000, 0),
        false,
    );
    assert!(matches!(refused, Err(StoreError::Limit(_))), "{refused:?}");
    drop(mb);
    drop(store);
    let store = Store::open(&dir).expect("reopen");
    let k = keywords(&store);
    assert_eq!(k.len(), MAX_KEYWORDS);
    assert!(!k.iter().any(|k| k == "one-more"));
}
