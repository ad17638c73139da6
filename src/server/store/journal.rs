//! The durable store's append-only journal (`DATA_DIR/journal`).
//!
//! Each record is `R <len> <fnv64>\n<payload>\n`; the payload is one line of
//! space-separated, percent-encoded fields and, for an appended message, the
//! message bytes after it. A record is written and fsynced before the change is
//! applied and acknowledged. On open, records are replayed in order; the first
//! record that is short or fails its checksum (a crash mid-write) and everything
//! after it are cut off, so a half-written message never appears.
//! Mailbox names are never used as file names, so none can reach outside the
//! data directory.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Create {
        user: &'a str,
        mailbox: &'a str,
        uid_validity: u32,
        uid_next: u32,
    },
    Delete {
        user: &'a str,
        mailbox: &'a str,
    },
    Rename {
        user: &'a str,
        from: &'a str,
        to: &'a str,
    },
    Subscribe {
        user: &'a str,
        mailbox: &'a str,
        on: bool,
    },
    Append {
        user: &'a str,
        mailbox: &'a str,
        uid_validity: u32,
        uid: u32,
        flags: &'a [String],
        internal_date: i64,
        zone: i32,
        data: &'a [u8],
    },
    Flags {
        user: &'a str,
        mailbox: &'a str,
        uid: u32,
        flags: &'a [String],
    },
    Expunge {
        user: &'a str,
        mailbox: &'a str,
        uid: u32,
    },
}

pub struct Journal {
    file: File,
}

/// Longest record accepted on replay (a message plus its fields).
const MAX_RECORD: usize = 256 << 20;

impl Journal {
    /// Opens (or creates) the journal in `dir`, replaying each good record.
    pub fn open(dir: &Path, apply: &mut dyn FnMut(Record<'_>)) -> Result<Journal, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
        let path = dir.join("journal");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        let good_len = replay(&mut file, apply)
            .map_err(|e| StoreError::Io(format!("cannot read {}: {e}", path.display())))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(good_len);
        if len > good_len {
            // A torn record from a crash: drop it, it was never acknowledged.
            file.set_len(good_len)
                .and_then(|_| file.sync_all())
                .map_err(|e| StoreError::Io(format!("cannot repair {}: {e}", path.display())))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Journal { file })
    }

    /// Writes one record and waits until it is on disk.
    pub fn write(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        let payload = encode(record);
        let mut out = format!("R {} {:016x}\n", payload.len(), fnv64(&payload)).into_bytes();
        out.extend_from_slice(&payload);
        out.push(b'\n');
        let file = &mut self.file;
        blocking(|| file.write_all(&out).and_then(|_| file.sync_data()))
            .map_err(|e| StoreError::Io(format!("cannot write the journal: {e}")))
    }
}

/// Runs a blocking write+fsync so that, on a multi-threaded runtime, the
/// worker hands its other tasks to another thread meanwhile (an fsync takes
/// about half a millisecond here; thousands of sessions must not wait on it).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn replay(file: &mut File, apply: &mut dyn FnMut(Record<'_>)) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut input = BufReader::new(&mut *file);
    let mut good: u64 = 0;
    let mut header = Vec::new();
    loop {
        header.clear();
        let n = (&mut input).take(64).read_until(b'\n', &mut header)?;
        if n == 0 {
            return Ok(good);
        }
        let Some((len, sum)) = parse_header(&header) else {
            return Ok(good);
        };
        if len > MAX_RECORD {
            return Ok(good);
        }
        let mut payload = vec![0u8; len + 1];
        if input.read_exact(&mut payload).is_err() || payload[len] != b'\n' {
            return Ok(good);
        }
        payload.truncate(len);
        if fnv64(&payload) != sum {
            return Ok(good);
        }
        let Some(rec) = decode(&payload) else {
            return Ok(good);
        };
        apply(rec.as_record());
        good += (n + len + 1) as u64;
    }
}

fn parse_header(h: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(h.strip_suffix(b"\n")?).ok()?;
    let mut parts = text.split(' ');
    if parts.next()? != "R" {
        return None;
    }
    let len = parts.next()?.parse().ok()?;
    let sum = u64::from_str_radix(parts.next()?, 16).ok()?;
    Some((len, sum))
}

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'\\' | b'$') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    if o.is_empty() {
        o.push('%');
    }
    o
}

fn unesc(s: &str) -> Option<String> {
    if s == "%" {
        return Some(String::new());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn encode(r: &Record<'_>) -> Vec<u8> {
    let flags = |f: &[String]| {
        if f.is_empty() {
            "%".to_string()
        } else {
            f.iter().map(|x| esc(x)).collect::<Vec<_>>().join(",")
        }
    };
    let (line, data): (String, &[u8]) = match r {
        Record::Create {
            user,
            mailbox,
            uid_validity,
            uid_next,
        } => (
            format!(
                "create {} {} {uid_validity} {uid_next}",
                esc(user),
                esc(mailbox)
            ),
            &[],
        ),
        Record::Delete { user, mailbox } => (format!("delete {} {}", esc(user), esc(mailbox)), &[]),
        Record::Rename { user, from, to } => (
            format!("rename {} {} {}", esc(user), esc(from), esc(to)),
            &[],
        ),
        Record::Subscribe { user, mailbox, on } => (
            format!("subscribe {} {} {}", esc(user), esc(mailbox), u8::from(*on)),
            &[],
        ),
        Record::Append {
            user,
            mailbox,
            uid_validity,
            uid,
            flags: f,
            internal_date,
            zone,
            data,
        } => (
            format!(
                "append {} {} {uid_validity} {uid} {} {internal_date} {zone}",
                esc(user),
                esc(mailbox),
                flags(f)
            ),
            data,
        ),
        Record::Flags {
            user,
            mailbox,
            uid,
            flags: f,
        } => (
            format!("flags {} {} {uid} {}", esc(user), esc(mailbox), flags(f)),
            &[],
        ),
        Record::Expunge { user, mailbox, uid } => {
            (format!("expunge {} {} {uid}", esc(user), esc(mailbox)), &[])
        }
    };
    let mut out = line.into_bytes();
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// An owned decoded record (replay hands out borrowed views of it).
enum Owned {
    Create(String, String, u32, u32),
    Delete(String, String),
    Rename(String, String, String),
    Subscribe(String, String, bool),
    Append(String, String, u32, u32, Vec<String>, i64, i32, Vec<u8>),
    Flags(String, String, u32, Vec<String>),
    Expunge(String, String, u32),
}

impl Owned {
    fn as_record(&self) -> Record<'_> {
        match self {
            Owned::Create(u, m, v, n) => Record::Create {
                user: u,
                mailbox: m,
                uid_validity: *v,
                uid_next: *n,
            },
            Owned::Delete(u, m) => Record::Delete {
                user: u,
                mailbox: m,
            },
            Owned::Rename(u, f, t) => Record::Rename {
                user: u,
                from: f,
                to: t,
            },
            Owned::Subscribe(u, m, on) => Record::Subscribe {
                user: u,
                mailbox: m,
                on: *on,
            },
            Owned::Append(u, m, v, uid, f, d, z, data) => Record::Append {
                user: u,
                mailbox: m,
                uid_validity: *v,
                uid: *uid,
                flags: f,
                internal_date: *d,
                zone: *z,
                data,
            },
            Owned::Flags(u, m, uid, f) => Record::Flags {
                user: u,
                mailbox: m,
                uid: *uid,
                flags: f,
            },
            Owned::Expunge(u, m, uid) => Record::Expunge {
                user: u,
                mailbox: m,
                uid: *uid,
            },
        }
    }
}

fn decode(payload: &[u8]) -> Option<Owned> {
    let nl = memchr::memchr(b'\n', payload)?;
    let line = std::str::from_utf8(&payload[..nl]).ok()?;
    let data = &payload[nl + 1..];
    let f: Vec<&str> = line.split(' ').collect();
    let flags = |s: &str| -> Option<Vec<String>> {
        if s == "%" {
            return Some(Vec::new());
        }
        s.split(',').map(unesc).collect()
    };
    Some(match (f.first()?, f.len()) {
        (&"create", 5) => Owned::Create(
            unesc(f[1])?,
            unesc(f[2])?,
            f[3].parse().ok()?,
            f[4].parse().ok()?,
        ),
        (&"delete", 3) => Owned::Delete(unesc(f[1])?, unesc(f[2])?),
        (&"rename", 4) => Owned::Rename(unesc(f[1])?, unesc(f[2])?, unesc(f[3])?),
        (&"subscribe", 4) => Owned::Subscribe(unesc(f[1])?, unesc(f[2])?, f[3] == "1"),
        (&"append", 8) => Owned::Append(
            unesc(f[1])?,
            unesc(f[2])?,
            f[3].parse().ok()?,
            f[4].parse().ok()?,
            flags(f[5])?,
            f[6].parse().ok()?,
            f[7].parse().ok()?,
            data.to_vec(),
        ),
        (&"flags", 5) => Owned::Flags(unesc(f[1])?, unesc(f[2])?, f[3].parse().ok()?, flags(f[4])?),
        (&"expunge", 4) => Owned::Expunge(unesc(f[1])?, unesc(f[2])?, f[3].parse().ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("imapspec-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let flags = vec!["\\Seen".to_string(), "$Junk".to_string()];
        {
            let mut j = Journal::open(&dir, &mut |_| {}).expect("open");
            j.write(&Record::Create {
                user: "a b",
                mailbox: "Sent Items",
                uid_validity: 7,
                uid_next: 1,
            })
            .expect("w");
            j.write(&Record::Append {
                user: "a b",
                mailbox: "Sent Items",
                uid_validity: 7,
                uid: 1,
                flags: &flags,
                internal_date: 1_700_000_000,
                zone: 3600,
                data: b"Subject: x\r\n\r\nhello\nR 5 0\n",
            })
            .expect("w");
        }
        // A crash in the middle of the next record.
        let path = dir.join("journal");
        let mut f = OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"R 900 00000000000000aa\nappend a 1")
            .expect("torn");
        drop(f);
        let mut seen = Vec::new();
        let _j = Journal::open(&dir, &mut |r| seen.push(format!("{r:?}"))).expect("reopen");
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[1].contains("uid: 1") && seen[1].contains("Junk"));
        let text = std::fs::read(&path).expect("read");
        assert!(!text.ends_with(b"append a 1"), "the torn tail is cut");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
