//! Opening a durable store: replaying the journal, reporting damage loudly,
//! keeping every record that can be proven, never giving a UID twice, keeping
//! the damaged bytes as evidence, and the offline `--check-store` and
//! `--reconstruct` (after Cyrus's `reconstruct`).
//!
//! What can be proven after damage, and what is done about it:
//! - every record whose checksums hold is real and is kept, wherever it lies;
//!   an APPEND whose message bytes are damaged but whose head is sound loses
//!   that one message, and we know which;
//! - what a damaged stretch held is unknown (sequence numbers say how many
//!   records, when there is a sound record after it), so the highest UID given
//!   out there is unknown too: the high-water marks (`marks`) bound it, and
//!   UIDNEXT is raised to the bound;
//! - if the marks are lost or damaged, or do not know a mailbox the journal
//!   has, its UIDs cannot be proven: that mailbox gets a new UIDVALIDITY
//!   (RFC 3501 2.3.1.1: "If unique identifiers from an earlier session fail to
//!   persist in this session, the unique identifier validity value MUST be
//!   greater than the one used in the earlier session."), so no client is
//!   misled by a UID it cached;
//! - nothing is destroyed: a damaged journal is renamed `journal.damaged-TIME`
//!   (and a clean one is rewritten from what was proven), a torn tail is copied
//!   to `journal.tail-TIME` before it is cut.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::journal::{self, Record, Scanned, SyncMode};
use super::marks::{self, Loaded, Marks};
use super::{insert_message, FlagSet, Journal, Store, StoreError};

/// What opening (or checking) a store found and did.
#[derive(Debug, Default, Clone)]
pub struct StoreReport {
    pub dir: PathBuf,
    pub journal_len: u64,
    pub records: u64,
    pub last_seq: Option<u64>,
    /// "intact", "missing" or why it is damaged.
    pub marks: String,
    /// Damage and what it cost, one human-readable line each.
    pub problems: Vec<String>,
    /// Things done or worth knowing that are not damage.
    pub notes: Vec<String>,
    /// (user, mailbox, UIDVALIDITY, UID) of messages known to be lost.
    pub lost_messages: Vec<(String, String, u32, u32)>,
    /// (user, mailbox, old, new) UIDVALIDITY changes.
    pub validity_changed: Vec<(String, String, u32, u32)>,
    /// (user, mailbox, journal's UIDNEXT, the UIDNEXT used).
    pub uidnext_raised: Vec<(String, String, u32, u32)>,
    /// Files kept as evidence.
    pub kept: Vec<PathBuf>,
    /// (user, mailbox, messages, UIDVALIDITY, UIDNEXT) after recovery.
    pub mailboxes: Vec<(String, String, usize, u32, u32)>,
    /// What was (or, for a check, would be) done to the files.
    pub repair: Vec<String>,
}

impl StoreReport {
    /// No damage at all (a UIDNEXT raised after a crash is not damage).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "store {}: journal {} bytes, {} records{}; UID marks {}",
            self.dir.display(),
            self.journal_len,
            self.records,
            self.last_seq
                .map(|s| format!(" (last #{s})"))
                .unwrap_or_default(),
            self.marks
        );
        if self.problems.is_empty() {
            let _ = writeln!(o, "no damage found");
        } else {
            let _ = writeln!(o, "DAMAGE ({} problems):", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(o, "  - {p}");
            }
        }
        for (u, m, v, uid) in &self.lost_messages {
            let _ = writeln!(o, "  lost message: {u}/{m} UIDVALIDITY {v} UID {uid}");
        }
        for (u, m, old, new) in &self.validity_changed {
            let _ = writeln!(
                o,
                "  UIDVALIDITY of {u}/{m} changed {old} -> {new}: its UIDs cannot be proven, clients must resynchronise"
            );
        }
        for (u, m, from, to) in &self.uidnext_raised {
            let _ = writeln!(
                o,
                "  UIDNEXT of {u}/{m} raised {from} -> {to} (the UID mark): no UID handed out before is given again"
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note: {n}");
        }
        for r in &self.repair {
            let _ = writeln!(o, "  {r}");
        }
        for k in &self.kept {
            let _ = writeln!(o, "  kept as evidence: {}", k.display());
        }
        let _ = writeln!(o, "mailboxes:");
        for (u, m, n, v, next) in &self.mailboxes {
            let _ = writeln!(
                o,
                "  {u}/{m}: {n} messages, UIDVALIDITY {v}, UIDNEXT {next}"
            );
        }
        o
    }
}

/// What to do to the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repair {
    /// `--check-store`: read only.
    Nothing,
    /// Start: keep and repair only what is damaged.
    Damaged,
    /// `--reconstruct`: rewrite the journal from what is proven, always.
    Rewrite,
}

/// Reads `dir` and reports, changing nothing on disk.
pub fn check_store(dir: &Path) -> Result<StoreReport, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Io(format!(
            "{} is not a folder (give the --data-dir of a store)",
            dir.display()
        )));
    }
    let (_, report) = open_store(dir, SyncMode::Group, Repair::Nothing)?;
    Ok(report)
}

/// Rebuilds a clean journal from what `dir` proves, keeping the old one.
pub fn reconstruct(dir: &Path) -> Result<StoreReport, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Io(format!(
            "{} is not a folder (give the --data-dir of a store)",
            dir.display()
        )));
    }
    let (_, report) = open_store(dir, SyncMode::Group, Repair::Rewrite)?;
    Ok(report)
}

impl Store {
    /// A durable store in `dir` with group commit; damage found on the way is
    /// printed on stderr.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, SyncMode::Group).map(|(s, _)| s)
    }

    /// A durable store in `dir`, and what opening it found.
    pub fn open_with(dir: &Path, mode: SyncMode) -> Result<(Self, StoreReport), StoreError> {
        let (store, report) = open_store(dir, mode, Repair::Damaged)?;
        if !report.is_clean() {
            eprintln!(
                "imapspec: THE DURABLE STORE WAS DAMAGED; what could be proven is kept\n{}",
                report.render()
            );
        } else if !report.uidnext_raised.is_empty() {
            eprintln!(
                "imapspec: store {}: UIDNEXT raised to the UID marks after an unclean stop",
                dir.display()
            );
        }
        Ok((store, report))
    }
}

fn open_store(
    dir: &Path,
    mode: SyncMode,
    repair: Repair,
) -> Result<(Store, StoreReport), StoreError> {
    if repair != Repair::Nothing {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
    }
    let path = dir.join("journal");
    let buf = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(StoreError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let loaded = Marks::load(dir);
    let mut report = StoreReport {
        dir: dir.to_path_buf(),
        journal_len: buf.len() as u64,
        marks: match &loaded {
            Loaded::Missing => "missing".into(),
            Loaded::Damaged(why) => format!("DAMAGED ({why})"),
            Loaded::Intact(_) => "intact".into(),
        },
        ..StoreReport::default()
    };
    let store = Store::memory();
    let mut max_validity = 0u32;
    let mut recreated: BTreeSet<(String, String)> = BTreeSet::new();
    let summary = journal::scan(&buf, &mut |item| match item {
        Scanned::Record { record, .. } => {
            let r = record.as_record();
            if let Record::Create { uid_validity, .. } | Record::Append { uid_validity, .. } = r {
                max_validity = max_validity.max(uid_validity);
            }
            if let Record::Rename { uid_validity, .. } = r {
                max_validity = max_validity.max(uid_validity);
            }
            store.replay(r, &mut report, &mut recreated);
        }
        Scanned::LostAppend {
            seq,
            start,
            end,
            user,
            mailbox,
            uid_validity,
            uid,
        } => {
            report.problems.push(format!(
                "bytes {start}..{end} (record #{seq}): the message of APPEND UID {uid} to {user}/{mailbox} (UIDVALIDITY {uid_validity}) fails its checksum; that one message is lost"
            ));
            report
                .lost_messages
                .push((user.clone(), mailbox.clone(), uid_validity, uid));
            max_validity = max_validity.max(uid_validity);
            // The UID is known, so UIDNEXT stays above it.
            if let Some(mb) = store.mailbox(&user, &mailbox) {
                let mut st = mb.lock();
                if st.uid_validity == uid_validity {
                    st.uid_next = st.uid_next.max(uid.saturating_add(1));
                }
            }
        }
        Scanned::Unreadable {
            start,
            end,
            seq_before,
            seq_after,
            torn,
        } => {
            let lost = match (seq_before, seq_after) {
                (Some(a), Some(b)) if b == a + 1 => {
                    "no record number is missing around it (bytes that are no record)".to_string()
                }
                (Some(a), Some(b)) => {
                    format!("records #{}..#{} ({} records) are lost", a + 1, b - 1, b - a - 1)
                }
                (None, Some(1)) => "no record number is missing (bytes before the first record)".into(),
                (None, Some(b)) => format!("records #1..#{} are lost", b - 1),
                (_, None) if torn => "an incomplete last record: what a crash mid-write leaves (never acknowledged), or a file cut short".into(),
                (_, None) => "whatever records it held are unknown".into(),
            };
            let known: Vec<String> = store
                .all_mailboxes()
                .iter()
                .map(|(u, m)| format!("{u}/{m}"))
                .collect();
            let touched = if known.is_empty() || seq_after == Some(seq_before.map_or(1, |a| a + 1))
            {
                String::new()
            } else if known.len() > 20 {
                format!(
                    "; they may have changed any of the {} mailboxes, e.g. {}",
                    known.len(),
                    known[..20].join(", ")
                )
            } else {
                format!("; they may have changed any of: {}", known.join(", "))
            };
            report.problems.push(format!(
                "bytes {start}..{end} ({} bytes) are unreadable: {lost}{touched}",
                end - start
            ));
        }
    });
    report.records = summary.records;
    report.last_seq = summary.last_seq;
    if summary.legacy {
        report
            .notes
            .push("the journal is in the old text format; it is rewritten in the new one".into());
    }

    // Reconcile with the marks.
    let marks_state = match loaded {
        Loaded::Intact(m) => Some(m),
        _ => None,
    };
    if let Some(m) = &marks_state {
        if summary.last_seq.unwrap_or(0) < m.durable_seq && !summary.legacy {
            report.problems.push(format!(
                "the journal ends at record #{} but records up to #{} were on disk: records #{}..#{} are lost (the file was cut or damaged)",
                summary.last_seq.unwrap_or(0),
                m.durable_seq,
                summary.last_seq.unwrap_or(0) + 1,
                m.durable_seq
            ));
        }
    }
    let marks_lost = marks_state.is_none() && !buf.is_empty() && !summary.legacy;
    if marks_lost {
        report.problems.push(format!(
            "the UID marks are {}: the highest UID handed out in each mailbox cannot be proven",
            report.marks
        ));
    }
    let legacy_unproven = summary.legacy && summary.damaged;
    {
        let mut v = store
            .next_validity
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *v = (*v).max(max_validity);
        match &marks_state {
            Some(m) => *v = (*v).max(m.validity.saturating_sub(1)),
            // Validities handed out after the last proven one are unknown: leave
            // a wide gap (validities are handed out one by one).
            None if !buf.is_empty() => *v = (*v).max(max_validity.saturating_add(1 << 16)),
            None => {}
        }
    }
    for (user, name) in store.all_mailboxes() {
        let Some(mb) = store.mailbox(&user, &name) else {
            continue;
        };
        let (validity, uid_next) = {
            let st = mb.lock();
            (st.uid_validity, st.uid_next)
        };
        let mark = marks_state.as_ref().and_then(|m| m.get(&user, &name));
        match mark {
            Some((v, bound)) if v == validity && bound > uid_next => {
                mb.lock().uid_next = bound;
                report
                    .uidnext_raised
                    .push((user.clone(), name.clone(), uid_next, bound));
            }
            Some((v, _)) if v == validity => {}
            _ if marks_state.is_some() || marks_lost || legacy_unproven => {
                let new = store.new_validity();
                let mut st = mb.lock();
                st.uid_validity = new;
                drop(st);
                report
                    .validity_changed
                    .push((user.clone(), name.clone(), validity, new));
                if marks_state.is_some() {
                    report.problems.push(format!(
                        "{user}/{name} (UIDVALIDITY {validity}) is not in the UID marks: part of its history is lost"
                    ));
                }
            }
            _ => {}
        }
    }
    for (user, name) in store.all_mailboxes() {
        if let Some(mb) = store.mailbox(&user, &name) {
            let mut st = mb.lock();
            st.changes.clear();
            st.change_base = 0;
            report
                .mailboxes
                .push((user, name, st.messages.len(), st.uid_validity, st.uid_next));
        }
    }

    // Repair.
    let rewrite = match repair {
        Repair::Nothing => false,
        Repair::Rewrite => true,
        Repair::Damaged => {
            (summary.damaged && !summary.damage_only_at_end)
                || summary.legacy
                || !report.validity_changed.is_empty()
        }
    };
    let cut_tail =
        !rewrite && summary.damaged && summary.damage_only_at_end && repair != Repair::Nothing;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut next_seq = summary.last_seq.unwrap_or(0) + 1;
    if repair == Repair::Nothing {
        if summary.damaged && summary.damage_only_at_end && report.validity_changed.is_empty() {
            report.repair.push(format!(
                "on start the server copies bytes {}.. to journal.tail-TIME and cuts them off",
                summary.good_end
            ));
        } else if !report.is_clean() {
            report.repair.push(
                "on start (or with --reconstruct) the server keeps this journal as journal.damaged-TIME and rewrites it from what is proven".into(),
            );
        }
    } else if cut_tail {
        let kept = evidence_path(dir, &format!("journal.tail-{stamp}"));
        let tail = &buf[summary.good_end as usize..];
        write_durably(&kept, tail)
            .map_err(|e| StoreError::Io(format!("cannot keep {}: {e}", kept.display())))?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        f.set_len(summary.good_end)
            .and_then(|_| f.sync_all())
            .map_err(|e| StoreError::Io(format!("cannot cut {}: {e}", path.display())))?;
        report.repair.push(format!(
            "cut the journal at byte {} ({} bytes after the last sound record)",
            summary.good_end,
            tail.len()
        ));
        report.kept.push(kept);
    } else if rewrite {
        let what = if !report.is_clean() {
            "damaged"
        } else if summary.legacy {
            "v1"
        } else {
            "before-reconstruct"
        };
        let image = store.image();
        let tmp = dir.join("journal.tmp");
        write_durably(&tmp, &image.bytes)
            .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", tmp.display())))?;
        // The marks say "records up to #0 were on disk" while the journal is
        // swapped, so a crash in between is not mistaken for a cut file.
        let mut m = store.marks_from_state(0);
        m.validity = m
            .validity
            .max(marks_state.as_ref().map_or(0, |x| x.validity));
        m.save(dir)
            .map_err(|e| StoreError::Io(format!("cannot save the UID marks: {e}")))?;
        if !buf.is_empty() {
            // A second name for the old journal (a copy where links are not
            // possible), then an atomic rename over it: `journal` exists, old
            // or new, at every instant, so a crash here loses nothing.
            let kept = evidence_path(dir, &format!("journal.{what}-{stamp}"));
            std::fs::hard_link(&path, &kept)
                .or_else(|_| write_durably(&kept, &buf))
                .and_then(|_| marks::sync_dir(dir))
                .map_err(|e| StoreError::Io(format!("cannot keep {}: {e}", kept.display())))?;
            report.kept.push(kept);
        }
        std::fs::rename(&tmp, &path)
            .and_then(|_| marks::sync_dir(dir))
            .map_err(|e| StoreError::Io(format!("cannot replace {}: {e}", path.display())))?;
        next_seq = image.records + 1;
        report.repair.push(format!(
            "rewrote the journal from what is proven: {} records",
            image.records
        ));
    }
    if repair == Repair::Nothing {
        return Ok((store, report));
    }
    let mut m = store.marks_from_state(next_seq - 1);
    m.validity = m
        .validity
        .max(marks_state.as_ref().map_or(0, |x| x.validity));
    m.save(dir)
        .map_err(|e| StoreError::Io(format!("cannot save the UID marks: {e}")))?;
    let journal = Journal::start(dir, next_seq, m, mode)?;
    Ok((
        Store {
            journal: Some(journal),
            ..store
        },
        report,
    ))
}

/// A fresh journal holding the store's state.
struct Image {
    bytes: Vec<u8>,
    records: u64,
}

impl Store {
    fn all_mailboxes(&self) -> Vec<(String, String)> {
        let accounts = self.accounts();
        let mut v: Vec<(String, String)> = accounts
            .iter()
            .flat_map(|(u, a)| a.mailboxes.keys().map(move |m| (u.clone(), m.clone())))
            .collect();
        v.sort();
        v
    }

    /// Marks that match the state exactly (every UIDNEXT, every UIDVALIDITY).
    fn marks_from_state(&self, durable_seq: u64) -> Marks {
        let mut m = Marks {
            durable_seq,
            validity: self
                .next_validity
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_add(1),
            ..Marks::default()
        };
        for (user, name) in self.all_mailboxes() {
            if let Some(mb) = self.mailbox(&user, &name) {
                let st = mb.lock();
                m.mailboxes
                    .insert((user, name), (st.uid_validity, st.uid_next));
            }
        }
        m
    }

    fn image(&self) -> Image {
        let mut out = Vec::new();
        let mut seq = 0u64;
        let mut put = |out: &mut Vec<u8>, r: &Record<'_>| {
            seq += 1;
            let (meta, data) = journal_meta(r);
            journal::encode_record(out, seq, &meta, data);
        };
        let users: Vec<String> = {
            let mut u: Vec<String> = self.accounts().keys().cloned().collect();
            u.sort();
            u
        };
        for user in &users {
            for name in self.mailbox_names(user) {
                let Some(mb) = self.mailbox(user, &name) else {
                    continue;
                };
                let st = mb.lock();
                put(
                    &mut out,
                    &Record::Create {
                        user,
                        mailbox: &name,
                        uid_validity: st.uid_validity,
                        uid_next: st.uid_next,
                    },
                );
                if !st.special_use.is_empty() {
                    put(
                        &mut out,
                        &Record::SpecialUse {
                            user,
                            mailbox: &name,
                            uses: &st.special_use,
                        },
                    );
                }
                for m in &st.messages {
                    put(
                        &mut out,
                        &Record::Append {
                            user,
                            mailbox: &name,
                            uid_validity: st.uid_validity,
                            uid: m.uid,
                            flags: &m.flags.names(),
                            internal_date: m.internal_date,
                            zone: m.zone,
                            data: &m.data,
                        },
                    );
                }
            }
            for name in self.subscriptions(user) {
                put(
                    &mut out,
                    &Record::Subscribe {
                        user,
                        mailbox: &name,
                        on: true,
                    },
                );
            }
        }
        Image {
            bytes: out,
            records: seq,
        }
    }

    /// Applies one sound journal record while replaying. Records that name a
    /// mailbox whose CREATE was lost re-make it, so no message is dropped.
    fn replay(
        &self,
        rec: Record<'_>,
        report: &mut StoreReport,
        recreated: &mut BTreeSet<(String, String)>,
    ) {
        match rec {
            Record::Create {
                user,
                mailbox,
                uid_validity,
                uid_next,
            } => {
                self.ensure_account(user);
                self.apply_create(user, mailbox, uid_validity, uid_next);
            }
            Record::Delete { user, mailbox } => self.apply_delete(user, mailbox),
            Record::Rename {
                user,
                from,
                to,
                uid_validity,
            } => self.apply_rename(user, from, to, uid_validity),
            Record::SpecialUse {
                user,
                mailbox,
                uses,
            } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    mb.lock().special_use = uses.to_vec();
                }
            }
            Record::Subscribe { user, mailbox, on } => {
                self.ensure_account(user);
                if let Some(a) = self.accounts().get_mut(user) {
                    if on {
                        a.subscribed.insert(mailbox.to_string());
                    } else {
                        a.subscribed.remove(mailbox);
                    }
                }
            }
            Record::Append {
                user,
                mailbox,
                uid_validity,
                uid,
                flags,
                internal_date,
                zone,
                data,
            } => {
                let current = self.mailbox(user, mailbox).map(|mb| mb.lock().uid_validity);
                match current {
                    Some(v) if v == uid_validity => {}
                    Some(v) if v > uid_validity => {
                        report.notes.push(format!(
                            "an APPEND to an earlier {user}/{mailbox} (UIDVALIDITY {uid_validity}, now {v}) is not replayed"
                        ));
                        return;
                    }
                    _ => {
                        // The CREATE (or the DELETE and CREATE) of this mailbox
                        // was lost; its messages are not.
                        self.ensure_account(user);
                        self.apply_create(user, mailbox, uid_validity, 1);
                        if recreated.insert((user.to_string(), mailbox.to_string())) {
                            report.problems.push(format!(
                                "{user}/{mailbox} (UIDVALIDITY {uid_validity}) has messages but its CREATE record is lost; re-made from its messages"
                            ));
                        }
                    }
                }
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    let f = FlagSet::from_names(flags.iter().map(String::as_str));
                    insert_message(&mut st, uid, f, (internal_date, zone), Arc::from(data));
                    st.changes.clear();
                    st.change_base = 0;
                }
            }
            Record::Flags {
                user,
                mailbox,
                uid,
                flags,
            } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    if let Some(i) = st.index_of(uid) {
                        // Keywords stay defined once used, as they did live.
                        let f = FlagSet::from_names(flags.iter().map(String::as_str));
                        st.set_message_flags(i, f);
                    }
                }
            }
            Record::Expunge { user, mailbox, uid } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    if let Some(i) = st.index_of(uid) {
                        st.remove_at(i);
                    }
                }
            }
        }
    }
}

fn journal_meta<'a>(r: &Record<'a>) -> (Vec<u8>, &'a [u8]) {
    journal::encode_for_image(r)
}

/// `dir/name`, or `dir/name.N` if that is taken (evidence is never overwritten).
fn evidence_path(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    if !p.exists() {
        return p;
    }
    (1..10_000)
        .map(|n| dir.join(format!("{name}.{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{name}.last")))
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(parent) = path.parent() {
        marks::sync_dir(parent)?;
    }
    Ok(())
}
