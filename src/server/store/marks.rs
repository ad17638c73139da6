//! UID and UIDVALIDITY high-water marks (`DATA_DIR/uidmarks`): the proof,
//! kept apart from the journal, that no UID is handed out twice.
//!
//! Why a second file: the journal alone cannot tell a file cut at a record
//! boundary from a complete one, nor how many APPENDs a damaged stretch held, so
//! after damage "the highest UID given out" is unknown. The marks say, for each
//! mailbox, a bound every UID handed out in it is below, and a bound for
//! UIDVALIDITY. The writer raises a bound (by `BLOCK`, so about one save per
//! thousand APPENDs) and saves this file *before* it writes the record that
//! needs it, so whatever the journal lost, a restart that takes
//! `UIDNEXT = max(journal, mark)` never gives a UID again. A clean stop saves
//! the exact values. The file is small, replaced atomically (write, fsync,
//! rename, fsync the folder) and checksummed; if it is lost or damaged the
//! bounds are unknown, and the store gives the mailboxes a new UIDVALIDITY.
//!
//! Format: `imapspec uidmarks 1`, `validity N`, `seq N` (records up to this
//! number were on disk when saved, so a journal ending earlier was cut), one
//! `mailbox USER MAILBOX UIDVALIDITY BOUND` per mailbox (percent-encoded names),
//! and `end FNV64` over all the bytes before it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::journal::{esc_name, fnv64, unesc};

/// How far ahead a bound is raised each time.
pub const BLOCK: u32 = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Every UIDVALIDITY handed out is below this.
    pub validity: u32,
    /// Records numbered up to this were on disk when the marks were saved.
    pub durable_seq: u64,
    /// (user, mailbox) → (UIDVALIDITY, bound every UID handed out is below).
    pub mailboxes: BTreeMap<(String, String), (u32, u32)>,
}

/// What was found on disk.
#[derive(Debug)]
pub enum Loaded {
    Missing,
    Damaged(String),
    Intact(Marks),
}

const FILE: &str = "uidmarks";

impl Marks {
    pub fn load(dir: &Path) -> Loaded {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Damaged(format!("cannot read {}: {e}", path.display())),
        };
        match parse(&bytes) {
            Some(m) => Loaded::Intact(m),
            None => Loaded::Damaged(format!(
                "{} fails its checksum or does not parse",
                path.display()
            )),
        }
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = format!(
            "imapspec uidmarks 1\nvalidity {}\nseq {}\n",
            self.validity, self.durable_seq
        );
        for ((user, mailbox), (v, bound)) in &self.mailboxes {
            text.push_str(&format!(
                "mailbox {} {} {v} {bound}\n",
                esc_name(user),
                esc_name(mailbox)
            ));
        }
        let sum = fnv64(text.as_bytes());
        text.push_str(&format!("end {sum:016x}\n"));
        let tmp = dir.join("uidmarks.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(FILE))?;
        sync_dir(dir)
    }

    pub fn get(&self, user: &str, mailbox: &str) -> Option<(u32, u32)> {
        self.mailboxes
            .get(&(user.to_string(), mailbox.to_string()))
            .copied()
    }

    /// Makes sure `validity` is below the bound; true if it was raised.
    pub(crate) fn reserve_validity(&mut self, validity: u32) -> bool {
        if validity >= self.validity {
            self.validity = validity.saturating_add(BLOCK);
            true
        } else {
            false
        }
    }

    /// Makes sure every UID below `uid_next` in this mailbox incarnation is
    /// below its bound; true if the bound was raised.
    pub(crate) fn reserve_uid(
        &mut self,
        user: &str,
        mailbox: &str,
        validity: u32,
        uid_next: u32,
    ) -> bool {
        let key = (user.to_string(), mailbox.to_string());
        match self.mailboxes.get_mut(&key) {
            Some(e) if e.0 == validity => {
                if uid_next > e.1 {
                    e.1 = uid_next.saturating_add(BLOCK);
                    true
                } else {
                    false
                }
            }
            _ => {
                self.mailboxes
                    .insert(key, (validity, uid_next.saturating_add(BLOCK)));
                true
            }
        }
    }

    /// Follows a RENAME: the bound moves with the mailbox; renaming INBOX moves
    /// its messages (with their UIDs) to a new mailbox of `new_validity`.
    pub(crate) fn rename(&mut self, user: &str, from: &str, to: &str, new_validity: u32) {
        let key = (user.to_string(), from.to_string());
        let Some(&(v, bound)) = self.mailboxes.get(&key) else {
            return;
        };
        let to_key = (user.to_string(), to.to_string());
        if from == "INBOX" {
            self.mailboxes.insert(to_key, (new_validity, bound));
        } else {
            self.mailboxes.remove(&key);
            self.mailboxes.insert(to_key, (v, bound));
        }
    }
}

fn parse(bytes: &[u8]) -> Option<Marks> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body_end = text.rfind("end ")?;
    let (body, tail) = text.split_at(body_end);
    let sum = u64::from_str_radix(tail.strip_prefix("end ")?.trim_end(), 16).ok()?;
    if fnv64(body.as_bytes()) != sum || !body.ends_with('\n') {
        return None;
    }
    let mut lines = body.lines();
    if lines.next()? != "imapspec uidmarks 1" {
        return None;
    }
    let mut m = Marks::default();
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        match (f.first().copied()?, f.len()) {
            ("validity", 2) => m.validity = f[1].parse().ok()?,
            ("seq", 2) => m.durable_seq = f[1].parse().ok()?,
            ("mailbox", 5) => {
                m.mailboxes.insert(
                    (unesc(f[1])?, unesc(f[2])?),
                    (f[3].parse().ok()?, f[4].parse().ok()?),
                );
            }
            _ => return None,
        }
    }
    Some(m)
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_damage_is_detected() {
        let dir = std::env::temp_dir().join(format!("imapspec-marks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(matches!(Marks::load(&dir), Loaded::Missing));
        let mut m = Marks {
            validity: 99,
            durable_seq: 7,
            ..Marks::default()
        };
        assert!(m.reserve_uid("a b", "Sent Items", 5, 1));
        assert!(!m.reserve_uid("a b", "Sent Items", 5, 1000));
        assert!(m.reserve_uid("a b", "Sent Items", 5, 1026));
        m.save(&dir).expect("save");
        match Marks::load(&dir) {
            Loaded::Intact(back) => assert_eq!(back, m),
            other => panic!("{other:?}"),
        }
        let path = dir.join(FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[25] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(Marks::load(&dir), Loaded::Damaged(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
