//! The durable store damaged on purpose: a torn tail, a file cut in the middle,
//! one flipped byte (in a message, in a record head), a zeroed 4 KB page, a
//! damaged first record, garbage appended, lost or damaged UID marks, and an
//! old-format journal. Each time: every acknowledged message outside the
//! damaged bytes is still there under its UID, no UID is given again under
//! the same UIDVALIDITY, the damage is reported with its byte range, and the
//! damaged bytes are kept. `serve --check-store` and `--reconstruct` on top.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use imapspec::server::store::journal::MAGIC;
use imapspec::server::store::{FlagSet, Store, StoreReport, SyncMode};

const MESSAGES: usize = 100;

fn body(i: usize) -> Vec<u8> {
    // About 300 bytes, so a 4 KB page holds a dozen records.
    format!(
        "From: a@example.org\r\nSubject: message {i:03}\r\n\r\nbody-{i:03} {}\r\n",
        "x".repeat(220)
    )
    .into_bytes()
}

/// What was acknowledged: UIDVALIDITY, and UID → message number.
struct Acked {
    validity: u32,
    uids: BTreeMap<u32, usize>,
}

fn fill(dir: &Path) -> Acked {
    let store = Store::open(dir).expect("open");
    store.add_user("alice", "pw", None).expect("user");
    let mut uids = BTreeMap::new();
    let mut validity = 0;
    for i in 0..MESSAGES {
        let (v, uid) = store
            .append(
                "alice",
                "INBOX",
                Arc::from(body(i)),
                FlagSet::from_names(["\\Seen"]),
                (1_700_000_000 + i as i64, 0),
                false,
            )
            .expect("append");
        validity = v;
        uids.insert(uid, i);
    }
    Acked { validity, uids }
}

fn journal(dir: &Path) -> PathBuf {
    dir.join("journal")
}

/// Byte ranges of the records, in file order (the test messages hold no magic).
fn records(dir: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(journal(dir)).expect("read journal");
    let mut starts: Vec<usize> = memchr::memmem::find_iter(&bytes, &MAGIC).collect();
    starts.push(bytes.len());
    starts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Which message each record holds (the first record is INBOX's CREATE).
fn message_of_record(dir: &Path, rec: (usize, usize)) -> Option<usize> {
    let bytes = std::fs::read(journal(dir)).expect("read journal");
    let text = String::from_utf8_lossy(&bytes[rec.0..rec.1]);
    let at = text.find("body-")?;
    text.get(at + 5..at + 8)?.parse().ok()
}

/// Messages whose record overlaps `damaged` (those may be lost).
fn at_risk(dir: &Path, damaged: (usize, usize)) -> Vec<usize> {
    records(dir)
        .into_iter()
        .filter(|&(a, b)| a < damaged.1 && damaged.0 < b)
        .filter_map(|r| message_of_record(dir, r))
        .collect()
}

/// Reopens the damaged store and checks everything the store promises.
fn reopen_and_verify(
    dir: &Path,
    acked: &Acked,
    risk: &[usize],
    damaged_from: usize,
) -> StoreReport {
    let original = std::fs::read(journal(dir)).expect("read");
    let (store, report) = Store::open_with(dir, SyncMode::Group).expect("reopen");
    assert!(
        !report.is_clean(),
        "damage is reported:\n{}",
        report.render()
    );
    let text = report.render();
    assert!(
        text.contains(&format!("bytes {damaged_from}..")) || !report.lost_messages.is_empty(),
        "the report names the damaged bytes (from {damaged_from}):\n{text}"
    );
    // The damaged bytes are kept somewhere, byte for byte.
    assert!(!report.kept.is_empty(), "evidence kept:\n{text}");
    let kept: Vec<u8> = report
        .kept
        .iter()
        .flat_map(|k| std::fs::read(k).expect("evidence file"))
        .collect();
    assert!(
        original.ends_with(&kept) || kept == original,
        "the evidence holds the damaged journal (or its damaged tail)"
    );

    let mb = store.mailbox("alice", "INBOX").expect("INBOX survives");
    let (validity, present, uid_next) = {
        let st = mb.lock();
        let present: BTreeMap<u32, Vec<u8>> = st
            .messages
            .iter()
            .map(|m| (m.uid, m.data.to_vec()))
            .collect();
        (st.uid_validity, present, st.uid_next)
    };
    let same_validity = validity == acked.validity;
    for (&uid, &i) in &acked.uids {
        if risk.contains(&i) {
            continue;
        }
        let found = present.values().any(|d| d == &body(i));
        assert!(
            found,
            "message {i} (UID {uid}) outside the damage is kept\n{text}"
        );
        if same_validity {
            assert_eq!(
                present.get(&uid),
                Some(&body(i)),
                "message {i} keeps UID {uid} under the same UIDVALIDITY"
            );
        }
    }
    for d in present.values() {
        assert!((0..MESSAGES).any(|i| &body(i) == d), "nothing is invented");
    }
    let max_acked = *acked.uids.keys().last().expect("acked");
    if same_validity {
        assert!(
            uid_next > max_acked,
            "UIDNEXT {uid_next} stays above every UID handed out"
        );
    }
    let (v, uid) = store
        .append(
            "alice",
            "INBOX",
            Arc::from(b"Subject: after\r\n\r\nafter\r\n".to_vec()),
            FlagSet::default(),
            (1_800_000_000, 0),
            false,
        )
        .expect("append after the damage");
    assert!(
        v != acked.validity || uid > max_acked,
        "the next APPEND (UIDVALIDITY {v}, UID {uid}) reuses no UID of UIDVALIDITY {} (max {max_acked})",
        acked.validity
    );
    drop(mb);
    drop(store);

    // The repair holds: the next start is clean and keeps what was proven.
    let (again, second) = Store::open_with(dir, SyncMode::Group).expect("second reopen");
    assert!(second.is_clean(), "repaired for good:\n{}", second.render());
    let st = again.mailbox("alice", "INBOX").expect("INBOX");
    let st = st.lock();
    assert_eq!(st.uid_validity, v, "UIDVALIDITY stays as announced");
    assert!(
        st.index_of(uid).is_some(),
        "the APPEND after the damage is kept"
    );
    assert_eq!(st.messages.len(), present.len() + 1);
    report
}

fn fresh(name: &str) -> PathBuf {
    support::temp_dir(&format!("store-damage-{name}"))
}

#[test]
fn torn_tail_loses_only_the_torn_record() {
    let dir = fresh("torn");
    let acked = fill(&dir);
    let len = std::fs::metadata(journal(&dir)).expect("meta").len() as usize;
    let cut = len - 10;
    let risk = at_risk(&dir, (cut, len));
    assert_eq!(risk, vec![MESSAGES - 1], "only the last record is torn");
    std::fs::OpenOptions::new()
        .write(true)
        .open(journal(&dir))
        .and_then(|f| f.set_len(cut as u64))
        .expect("cut");
    let last_start = records(&dir).last().expect("record").0;
    let report = reopen_and_verify(&dir, &acked, &risk, last_start);
    assert!(
        report.render().contains("incomplete last record"),
        "{}",
        report.render()
    );
}

#[test]
fn mid_file_truncation_is_reported_and_uids_stay_unique() {
    let dir = fresh("truncate");
    let acked = fill(&dir);
    let len = std::fs::metadata(journal(&dir)).expect("meta").len() as usize;
    let cut = len / 2;
    let risk = at_risk(&dir, (cut, len));
    assert!(risk.len() > 40, "half the messages are cut off");
    std::fs::OpenOptions::new()
        .write(true)
        .open(journal(&dir))
        .and_then(|f| f.set_len(cut as u64))
        .expect("cut");
    let start = records(&dir).last().expect("record").0;
    let report = reopen_and_verify(&dir, &acked, &risk, start);
    // The marks knew how many records were on disk: the cut is named as such.
    assert!(
        report.render().contains("were on disk"),
        "{}",
        report.render()
    );
}

#[test]
fn one_flipped_byte_in_a_message_loses_that_message_only() {
    let dir = fresh("flip-body");
    let acked = fill(&dir);
    let recs = records(&dir);
    let (a, b) = recs[50];
    let target = message_of_record(&dir, (a, b)).expect("an APPEND");
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    let at = b - 20; // inside the message bytes
    bytes[at] ^= 0x01;
    std::fs::write(journal(&dir), &bytes).expect("write");
    let report = reopen_and_verify(&dir, &acked, &[target], a);
    assert_eq!(report.lost_messages.len(), 1, "{}", report.render());
    let lost_uid = report.lost_messages[0].3;
    assert_eq!(
        acked.uids.get(&lost_uid),
        Some(&target),
        "the lost message is named by its UID"
    );
}

#[test]
fn one_flipped_byte_in_a_record_head_resynchronises() {
    let dir = fresh("flip-head");
    let acked = fill(&dir);
    let recs = records(&dir);
    let (a, b) = recs[30];
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    bytes[a + 17] ^= 0x40; // the meta length
    std::fs::write(journal(&dir), &bytes).expect("write");
    let risk = at_risk(&dir, (a, b));
    assert_eq!(risk.len(), 1);
    let report = reopen_and_verify(&dir, &acked, &risk, a);
    assert!(
        report.render().contains("records #31..#31"),
        "{}",
        report.render()
    );
}

#[test]
fn zeroed_4k_page_loses_only_the_records_on_it() {
    let dir = fresh("zero-page");
    let acked = fill(&dir);
    let page = (8192, 8192 + 4096);
    let risk = at_risk(&dir, page);
    assert!(risk.len() >= 12 && risk.len() < 20, "{risk:?}");
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    bytes[page.0..page.1].fill(0);
    std::fs::write(journal(&dir), &bytes).expect("write");
    let first = records(&dir)
        .into_iter()
        .find(|&(a, b)| a < page.1 && page.0 < b)
        .expect("a record on the page")
        .0;
    reopen_and_verify(&dir, &acked, &risk, first);
}

#[test]
fn damaged_first_record_keeps_every_message() {
    let dir = fresh("first");
    let acked = fill(&dir);
    let (a, _) = records(&dir)[0];
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    bytes[a + 45] ^= 0xff; // in INBOX's CREATE line
    std::fs::write(journal(&dir), &bytes).expect("write");
    let report = reopen_and_verify(&dir, &acked, &[], a);
    assert!(
        report.render().contains("CREATE record is lost"),
        "{}",
        report.render()
    );
}

#[test]
fn garbage_appended_loses_nothing() {
    let dir = fresh("garbage");
    let acked = fill(&dir);
    let len = std::fs::metadata(journal(&dir)).expect("meta").len() as usize;
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    let mut x: u32 = 12345;
    for _ in 0..5000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    std::fs::write(journal(&dir), &bytes).expect("write");
    reopen_and_verify(&dir, &acked, &[], len);
}

#[test]
fn lost_uid_marks_with_a_damaged_journal_change_uidvalidity() {
    let dir = fresh("marks-lost");
    let acked = fill(&dir);
    std::fs::remove_file(dir.join("uidmarks")).expect("rm marks");
    let len = std::fs::metadata(journal(&dir)).expect("meta").len() as usize;
    let cut = len / 2;
    let risk = at_risk(&dir, (cut, len));
    std::fs::OpenOptions::new()
        .write(true)
        .open(journal(&dir))
        .and_then(|f| f.set_len(cut as u64))
        .expect("cut");
    let start = records(&dir).last().expect("record").0;
    let report = reopen_and_verify(&dir, &acked, &risk, start);
    assert_eq!(report.validity_changed.len(), 1, "{}", report.render());
    assert!(report.validity_changed[0].3 > acked.validity);
}

#[test]
fn damaged_uid_marks_change_uidvalidity_and_keep_every_message() {
    let dir = fresh("marks-damaged");
    let acked = fill(&dir);
    let path = dir.join("uidmarks");
    let mut m = std::fs::read(&path).expect("marks");
    m[22] ^= 0x04;
    std::fs::write(&path, &m).expect("write marks");
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("reopen");
    assert!(!report.is_clean(), "{}", report.render());
    assert!(
        report.render().contains("UID marks are DAMAGED"),
        "{}",
        report.render()
    );
    let st = store.mailbox("alice", "INBOX").expect("INBOX");
    let st = st.lock();
    assert!(
        st.uid_validity > acked.validity,
        "a new UIDVALIDITY: UIDs cannot be proven"
    );
    assert_eq!(st.messages.len(), MESSAGES, "every message is kept");
}

#[test]
fn clean_restart_keeps_uidvalidity_and_uidnext_exactly() {
    let dir = fresh("clean");
    let acked = fill(&dir);
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("reopen");
    assert!(report.is_clean(), "{}", report.render());
    assert!(report.kept.is_empty());
    let st = store.mailbox("alice", "INBOX").expect("INBOX");
    let st = st.lock();
    assert_eq!(st.uid_validity, acked.validity);
    assert_eq!(st.messages.len(), MESSAGES);
    assert_eq!(
        st.uid_next as usize,
        MESSAGES + 1,
        "a clean stop saved the exact UIDNEXT"
    );
}

#[test]
fn concurrent_appends_are_group_committed_in_uid_order() {
    let dir = fresh("concurrent");
    let store = Arc::new(Store::open(&dir).expect("open"));
    store.add_user("alice", "pw", None).expect("user");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let n = t * 50 + i;
                        store
                            .append(
                                "alice",
                                "INBOX",
                                Arc::from(body(n % 1000)),
                                FlagSet::default(),
                                (n as i64, 0),
                                false,
                            )
                            .expect("append")
                            .1
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "no UID given twice");
    {
        let mb = store.mailbox("alice", "INBOX").expect("INBOX");
        let st = mb.lock();
        let visible: Vec<u32> = st.messages.iter().map(|m| m.uid).collect();
        assert_eq!(
            visible, all,
            "every acknowledged message is visible, in UID order"
        );
    }
    drop(store);
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("reopen");
    assert!(report.is_clean(), "{}", report.render());
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    let st = mb.lock();
    assert_eq!(
        st.messages.len(),
        n,
        "all acknowledged messages are on disk"
    );
}

#[test]
fn old_format_journal_is_read_and_rewritten() {
    let dir = fresh("legacy");
    std::fs::create_dir_all(&dir).expect("dir");
    let fnv = |d: &[u8]| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in d {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let mut old = Vec::new();
    for payload in [
        b"create alice INBOX 77 1\n".to_vec(),
        b"append alice INBOX 77 1 %5CSeen 1700000000 0\nSubject: old\r\n\r\nold\r\n".to_vec(),
    ] {
        old.extend_from_slice(format!("R {} {:016x}\n", payload.len(), fnv(&payload)).as_bytes());
        old.extend_from_slice(&payload);
        old.push(b'\n');
    }
    std::fs::write(journal(&dir), &old).expect("write v1");
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("open v1");
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.kept.len(), 1, "the old journal is kept");
    let mb = store.mailbox("alice", "INBOX").expect("INBOX");
    {
        let st = mb.lock();
        assert_eq!(
            st.uid_validity, 77,
            "a clean old journal keeps its UIDVALIDITY"
        );
        assert_eq!(st.messages.len(), 1);
        assert!(st.messages[0]
            .flags
            .has(imapspec::server::store::flags::SEEN));
    }
    drop(mb);
    drop(store);
    let bytes = std::fs::read(journal(&dir)).expect("read");
    assert!(bytes.starts_with(&MAGIC), "rewritten in the new format");
}

fn imapspec(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imapspec"))
        .arg("serve")
        .args(args)
        .arg(dir)
        .output()
        .expect("run imapspec");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_store_reports_and_changes_nothing_then_reconstruct_rebuilds() {
    let dir = fresh("cli");
    let acked = fill(&dir);
    let (code, out) = imapspec(&["--check-store"], &dir);
    assert_eq!(code, 0, "a clean store: exit 0\n{out}");
    assert!(
        out.contains("no damage found") && out.contains("alice/INBOX: 100 messages"),
        "{out}"
    );

    let recs = records(&dir);
    let (a, b) = recs[40];
    let mut bytes = std::fs::read(journal(&dir)).expect("read");
    bytes[a..b].fill(0);
    std::fs::write(journal(&dir), &bytes).expect("write");
    let (code, out) = imapspec(&["--check-store"], &dir);
    assert_eq!(code, 1, "a damaged store: exit 1\n{out}");
    assert!(
        out.contains("DAMAGE") && out.contains(&format!("bytes {a}..{b}")),
        "{out}"
    );
    assert!(out.contains("--reconstruct"), "says what to do\n{out}");
    assert_eq!(
        std::fs::read(journal(&dir)).expect("read"),
        bytes,
        "check changes nothing"
    );

    let (code, out) = imapspec(&["--reconstruct"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("kept as evidence") && out.contains("rebuilt"),
        "{out}"
    );
    let (code, out) = imapspec(&["--check-store"], &dir);
    assert_eq!(code, 0, "clean after --reconstruct\n{out}");
    assert!(
        out.contains(&format!("alice/INBOX: {} messages", MESSAGES - 1)),
        "{out}"
    );
    assert!(
        out.contains(&format!("UIDVALIDITY {}", acked.validity)),
        "{out}"
    );
    let (code, out) = imapspec(&["--check-store"], &dir.join("no-such-dir"));
    assert_eq!(code, 2, "{out}");
}

#[test]
fn rename_and_delete_survive_a_restart_with_the_same_uidvalidity() {
    let dir = fresh("rename");
    let put = |store: &Store, mailbox: &str, i: usize| {
        store
            .append(
                "alice",
                mailbox,
                Arc::from(body(i)),
                FlagSet::default(),
                (i as i64, 0),
                false,
            )
            .expect("append")
    };
    let (work_validity, old_validity) = {
        let store = Store::open(&dir).expect("open");
        store.add_user("alice", "pw", None).expect("user");
        store.create("alice", "Work").expect("create");
        store.create("alice", "Trash").expect("create");
        put(&store, "Work", 1);
        put(&store, "Work", 2);
        store.rename("alice", "Work", "Archive").expect("rename");
        put(&store, "Archive", 3);
        put(&store, "INBOX", 4);
        store.rename("alice", "INBOX", "Old").expect("rename INBOX");
        store.delete("alice", "Trash").expect("delete");
        assert!(
            store
                .append(
                    "alice",
                    "Trash",
                    Arc::from(body(5)),
                    FlagSet::default(),
                    (5, 0),
                    false
                )
                .is_err(),
            "no APPEND into a deleted mailbox"
        );
        let v = |m: &str| store.mailbox("alice", m).expect(m).lock().uid_validity;
        (v("Archive"), v("Old"))
    };
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("reopen");
    assert!(report.is_clean(), "{}", report.render());
    assert!(store.mailbox("alice", "Work").is_none() && store.mailbox("alice", "Trash").is_none());
    let archive = store.mailbox("alice", "Archive").expect("Archive");
    let archive = archive.lock();
    assert_eq!(archive.messages.len(), 3);
    assert_eq!(archive.uid_validity, work_validity);
    let old = store.mailbox("alice", "Old").expect("Old");
    let old = old.lock();
    assert_eq!(old.messages.len(), 1);
    assert_eq!(
        old.uid_validity, old_validity,
        "the mailbox made by renaming INBOX keeps its UIDVALIDITY across a restart"
    );
    let inbox = store.mailbox("alice", "INBOX").expect("INBOX");
    assert!(inbox.lock().messages.is_empty());
}

#[test]
fn a_replayed_inbox_rename_takes_the_uidvalidity_from_its_record() {
    use imapspec::server::store::journal::encode_record;
    use imapspec::server::store::marks::Marks;
    let dir = fresh("rename-record");
    let mut j = Vec::new();
    let msg = body(7);
    encode_record(&mut j, 1, b"create alice INBOX 10 1", &[]);
    encode_record(&mut j, 2, b"append alice INBOX 10 1 % 1700000000 0", &msg);
    // UIDVALIDITY 500 is not what a replay would pick (11, or the clock).
    encode_record(&mut j, 3, b"rename alice INBOX Old 500", &[]);
    std::fs::write(journal(&dir), &j).expect("journal");
    let mut marks = Marks {
        validity: 1000,
        durable_seq: 3,
        ..Marks::default()
    };
    marks
        .mailboxes
        .insert(("alice".into(), "INBOX".into()), (10, 2));
    marks
        .mailboxes
        .insert(("alice".into(), "Old".into()), (500, 2));
    marks.save(&dir).expect("marks");
    let (store, report) = Store::open_with(&dir, SyncMode::Group).expect("open");
    assert!(report.is_clean(), "{}", report.render());
    let old = store.mailbox("alice", "Old").expect("Old");
    let old = old.lock();
    assert_eq!(old.uid_validity, 500);
    assert_eq!(old.messages.len(), 1);
    assert_eq!(&*old.messages[0].data, &msg[..]);
}
