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

/// RFC 7162: mod-sequences only grow within a UIDVALIDITY. The journal is
/// replayed in order at start, so every message comes back with the MODSEQ
/// it had and HIGHESTMODSEQ with the value it had (a server whose modseqs
/// restart after a restart breaks every CHANGEDSINCE resync: the
/// `modseq-reset` fault). And an UNCHANGEDSINCE store of a message changed
/// since is refused without touching it.
#[test]
fn modseqs_survive_a_restart_and_unchangedsince_holds() {
    let (dir, store) = open("modseq");
    let a = append(&store, &[], "From: a@example.org\r\n\r\n1\r\n");
    let b = append(&store, &[], "From: a@example.org\r\n\r\n2\r\n");
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let seen = FlagSet::from_names(["\\Seen"]);
    store
        .set_flags("alice", &mb, &[(a, seen.clone())], 1, None)
        .expect("store");
    let (modseq_a, before) = {
        let st = mb.lock();
        (st.messages[0].modseq, st.highest_modseq)
    };
    assert_eq!(modseq_a, before, "the last change holds the highest");
    // UNCHANGEDSINCE below a's mod-sequence: a is refused, b is changed.
    let flagged = FlagSet::from_names(["\\Flagged"]);
    let refused = store
        .set_flags(
            "alice",
            &mb,
            &[(a, flagged.clone()), (b, flagged.clone())],
            1,
            Some(modseq_a - 1),
        )
        .expect("conditional store");
    assert_eq!(refused, vec![a]);
    let (flags_a, flags_b, highest) = {
        let st = mb.lock();
        (
            st.messages[0].flags.clone(),
            st.messages[1].flags.clone(),
            st.highest_modseq,
        )
    };
    assert_eq!(flags_a, seen, "a refused message is left alone");
    assert_eq!(flags_b, flagged);
    assert!(highest > before);
    store.expunge("alice", &mb, &[b]).expect("expunge");
    let (highest, validity) = {
        let st = mb.lock();
        (st.highest_modseq, st.uid_validity)
    };
    drop(mb);
    drop(store);

    let store = Store::open(&dir).expect("reopen");
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let st = mb.lock();
    assert_eq!(st.uid_validity, validity);
    assert_eq!(st.highest_modseq, highest, "HIGHESTMODSEQ after the replay");
    assert_eq!(
        st.messages[0].modseq, modseq_a,
        "a's MODSEQ after the replay"
    );
    assert_eq!(
        st.vanished_since(before),
        Some(vec![b]),
        "b's expunge is remembered"
    );
}
