//! The durable store's append-only journal (`DATA_DIR/journal`): its record
//! format, the scan that replays it and resynchronises past damage, and the
//! group-commit writer thread that puts records on disk.
//!
//! Why a journal and not an embedded database: the store keeps every message in
//! memory anyway (sessions read `Arc<[u8]>` bodies without a copy), so the disk
//! only has to remember a sequence of changes. A journal whose records carry a
//! sync marker, a sequence number and two checksums gives what a database would
//! (atomic records, detected damage) plus what one hides: it can say *which*
//! bytes and *which* records were lost and keep every record around them, and
//! group commit is one `write` + one `fdatasync` per batch. SQLite or redb would
//! add a large dependency and still leave "was this UID handed out?" to us.
//!
//! A record, all integers little-endian:
//!
//! ```text
//! magic     8  89 49 4D 4A 0D 0A 1A 0A   ("\x89IMJ\r\n\x1a\n": sync marker)
//! seq       8  record number, +1 per record (gaps show lost records)
//! meta_len  4  length of the meta line
//! data_len  4  length of the message bytes (0 unless APPEND)
//! data_sum  8  FNV-1a 64 of the message bytes
//! head_sum  8  FNV-1a 64 of bytes 8..32 and the meta line
//! meta         one line of space-separated, percent-encoded fields
//! data         the message bytes
//! ```
//!
//! The head checksum covers the lengths, so a record whose head is sound has a
//! trustworthy extent: a damaged message body loses that one message and the
//! scan goes on right after it, knowing which message it was. When a head is
//! damaged the scan looks for the next magic whose head checks out and has a
//! higher sequence number, and reports the bytes in between (and, from the
//! sequence numbers, how many records were there). Journals written before this
//! format (`R <len> <fnv64>\n<payload>\n`) are still read, then rewritten.
//! Mailbox names are never used as file names, so none can reach outside the
//! data directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use super::marks::Marks;
use super::StoreError;

/// The sync marker that starts every record.
pub const MAGIC: [u8; 8] = *b"\x89IMJ\r\n\x1a\n";
/// Bytes before the meta line.
pub const HEAD_LEN: usize = 40;
/// Longest message accepted on replay.
const MAX_DATA: usize = 256 << 20;
/// Longest meta line accepted on replay (names are at most a few KB).
const MAX_META: usize = 1 << 20;
/// A batch stops growing at this many records or bytes.
const MAX_BATCH_RECORDS: usize = 4096;
const MAX_BATCH_BYTES: usize = 32 << 20;

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
    /// `uid_validity` is the new mailbox's when INBOX is renamed (its messages
    /// move to a new mailbox), 0 otherwise (and in old journals).
    Rename {
        user: &'a str,
        from: &'a str,
        to: &'a str,
        uid_validity: u32,
    },
    /// The mailbox's special-use attributes (RFC 6154), all of them: empty
    /// clears them.
    SpecialUse {
        user: &'a str,
        mailbox: &'a str,
        uses: &'a [String],
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

/// What the scan found, in file order.
#[derive(Debug)]
pub enum Scanned<'a> {
    /// A record whose checksums hold.
    Record {
        seq: u64,
        start: u64,
        record: Decoded<'a>,
    },
    /// An APPEND whose head is sound but whose message bytes are not: that one
    /// message is lost, and we know which it was.
    LostAppend {
        seq: u64,
        start: u64,
        end: u64,
        user: String,
        mailbox: String,
        uid_validity: u32,
        uid: u32,
    },
    /// Bytes `start..end` hold no record that passes its checksums.
    /// `seq_before`/`seq_after` are the neighbours' numbers (`None`: none).
    Unreadable {
        start: u64,
        end: u64,
        seq_before: Option<u64>,
        seq_after: Option<u64>,
        /// It begins with a record head whose length runs past the end of the
        /// file: what a crash mid-write leaves (or a truncated file).
        torn: bool,
    },
}

/// The totals of one scan.
#[derive(Debug, Default, Clone)]
pub struct ScanSummary {
    pub file_len: u64,
    pub records: u64,
    pub last_seq: Option<u64>,
    /// Where the last sound record ends.
    pub good_end: u64,
    /// Anything other than sound records was found.
    pub damaged: bool,
    /// All damage lies after the last sound record.
    pub damage_only_at_end: bool,
    /// The file is in the old text format.
    pub legacy: bool,
}

/// Reads a whole journal, calling `visit` for each record and each damaged
/// stretch, in file order.
pub fn scan<'a>(buf: &'a [u8], visit: &mut dyn FnMut(Scanned<'a>)) -> ScanSummary {
    if !buf.is_empty() && !buf.starts_with(&MAGIC) && buf.starts_with(b"R ") {
        return scan_legacy(buf, visit);
    }
    let mut sum = ScanSummary {
        file_len: buf.len() as u64,
        damage_only_at_end: true,
        ..ScanSummary::default()
    };
    let mut pos = 0usize;
    let mut bad_start: Option<usize> = None;
    let mut torn = false;
    while pos < buf.len() {
        match parse_at(buf, pos, sum.last_seq) {
            Parsed::Good {
                seq,
                end,
                meta,
                data,
                data_ok,
            } => {
                let Some(owned) = decode(meta, if data_ok { data } else { &[] }) else {
                    // Sound checksums but a record we cannot read: a newer
                    // format, or a bug. Keep looking past it.
                    bad_start.get_or_insert(pos);
                    pos = end;
                    continue;
                };
                if let Some(s) = bad_start.take() {
                    sum.damaged = true;
                    sum.damage_only_at_end = false;
                    visit(Scanned::Unreadable {
                        start: s as u64,
                        end: pos as u64,
                        seq_before: sum.last_seq,
                        seq_after: Some(seq),
                        torn: false,
                    });
                }
                if data_ok {
                    visit(Scanned::Record {
                        seq,
                        start: pos as u64,
                        record: owned,
                    });
                } else {
                    sum.damaged = true;
                    sum.damage_only_at_end = false;
                    match owned {
                        Decoded::Append(user, mailbox, uid_validity, uid, ..) => {
                            visit(Scanned::LostAppend {
                                seq,
                                start: pos as u64,
                                end: end as u64,
                                user,
                                mailbox,
                                uid_validity,
                                uid,
                            })
                        }
                        // Only APPEND carries data; any other record with a
                        // bad data sum is simply unreadable.
                        _ => visit(Scanned::Unreadable {
                            start: pos as u64,
                            end: end as u64,
                            seq_before: sum.last_seq,
                            seq_after: None,
                            torn: false,
                        }),
                    }
                }
                sum.records += 1;
                sum.last_seq = Some(seq);
                sum.good_end = end as u64;
                pos = end;
            }
            Parsed::Bad { torn: t } => {
                if bad_start.is_none() {
                    bad_start = Some(pos);
                    torn = t;
                }
                pos = next_magic(buf, pos + 1);
            }
        }
    }
    if let Some(s) = bad_start {
        sum.damaged = true;
        visit(Scanned::Unreadable {
            start: s as u64,
            end: buf.len() as u64,
            seq_before: sum.last_seq,
            seq_after: None,
            torn,
        });
    }
    if !sum.damaged {
        sum.damage_only_at_end = false;
    }
    sum
}

enum Parsed<'a> {
    Good {
        seq: u64,
        end: usize,
        meta: &'a [u8],
        data: &'a [u8],
        data_ok: bool,
    },
    Bad {
        torn: bool,
    },
}

fn parse_at<'a>(buf: &'a [u8], pos: usize, last_seq: Option<u64>) -> Parsed<'a> {
    let rest = &buf[pos..];
    if rest.len() < HEAD_LEN || rest[..8] != MAGIC {
        return Parsed::Bad {
            torn: rest.len() < HEAD_LEN && MAGIC.starts_with(&rest[..rest.len().min(8)]),
        };
    }
    let u64_at = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().unwrap_or([0; 4]));
    let seq = u64_at(8);
    let meta_len = u32_at(16) as usize;
    let data_len = u32_at(20) as usize;
    let data_sum = u64_at(24);
    let head_sum = u64_at(32);
    if meta_len > MAX_META || data_len > MAX_DATA {
        return Parsed::Bad { torn: false };
    }
    let end = HEAD_LEN + meta_len + data_len;
    if rest.len() < end {
        // Either a torn last record or a damaged length: only the head sum
        // (which needs the meta bytes) could tell, and they are not all here.
        let torn = rest.len() >= HEAD_LEN + meta_len
            && head_checksum(&rest[8..32], &rest[HEAD_LEN..HEAD_LEN + meta_len]) == head_sum;
        return Parsed::Bad {
            torn: torn || rest.len() < HEAD_LEN + meta_len,
        };
    }
    let meta = &rest[HEAD_LEN..HEAD_LEN + meta_len];
    if head_checksum(&rest[8..32], meta) != head_sum {
        return Parsed::Bad { torn: false };
    }
    // A copy of a record inside a message body, found while resynchronising,
    // has an older number: it is not a record of this journal.
    if last_seq.is_some_and(|l| seq <= l) {
        return Parsed::Bad { torn: false };
    }
    let data = &rest[HEAD_LEN + meta_len..end];
    Parsed::Good {
        seq,
        end: pos + end,
        meta,
        data,
        data_ok: fnv64(data) == data_sum,
    }
}

fn next_magic(buf: &[u8], from: usize) -> usize {
    if from >= buf.len() {
        return buf.len();
    }
    memchr::memmem::find(&buf[from..], &MAGIC).map_or(buf.len(), |i| from + i)
}

/// The old format, `R <len> <fnv64>\n<payload>\n`, read up to its first bad
/// record (it has no sync marker to resynchronise on).
fn scan_legacy<'a>(buf: &'a [u8], visit: &mut dyn FnMut(Scanned<'a>)) -> ScanSummary {
    let mut sum = ScanSummary {
        file_len: buf.len() as u64,
        legacy: true,
        ..ScanSummary::default()
    };
    let mut pos = 0usize;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let Some(nl) = memchr::memchr(b'\n', &rest[..rest.len().min(64)]) else {
            break;
        };
        let Some((len, check)) = parse_legacy_header(&rest[..=nl]) else {
            break;
        };
        let body = nl + 1;
        if len > MAX_DATA + MAX_META || rest.len() < body + len + 1 || rest[body + len] != b'\n' {
            break;
        }
        let payload = &rest[body..body + len];
        if fnv64(payload) != check {
            break;
        }
        let Some(split) = memchr::memchr(b'\n', payload) else {
            break;
        };
        let Some(owned) = decode(&payload[..split], &payload[split + 1..]) else {
            break;
        };
        let seq = sum.records + 1;
        visit(Scanned::Record {
            seq,
            start: pos as u64,
            record: owned,
        });
        sum.records += 1;
        sum.last_seq = Some(seq);
        pos += body + len + 1;
        sum.good_end = pos as u64;
    }
    if pos < buf.len() {
        sum.damaged = true;
        sum.damage_only_at_end = true;
        visit(Scanned::Unreadable {
            start: pos as u64,
            end: buf.len() as u64,
            seq_before: sum.last_seq,
            seq_after: None,
            torn: false,
        });
    }
    sum
}

fn parse_legacy_header(h: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(h.strip_suffix(b"\n")?).ok()?;
    let mut parts = text.split(' ');
    if parts.next()? != "R" {
        return None;
    }
    let len = parts.next()?.parse().ok()?;
    let sum = u64::from_str_radix(parts.next()?, 16).ok()?;
    Some((len, sum))
}

fn head_checksum(fixed: &[u8], meta: &[u8]) -> u64 {
    fnv64_from(fnv64(fixed), meta)
}

pub fn fnv64(data: &[u8]) -> u64 {
    fnv64_from(0xcbf2_9ce4_8422_2325, data)
}

fn fnv64_from(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Appends one record, numbered `seq`, to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, meta: &[u8], data: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&fnv64(data).to_le_bytes());
    let head = head_checksum(&out[start + 8..start + 32], meta);
    out.extend_from_slice(&head.to_le_bytes());
    out.extend_from_slice(meta);
    out.extend_from_slice(data);
}

// ---------------------------------------------------------------------------
// The writer: one thread, batches, one fdatasync per batch.

/// How records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Group commit: every record waiting when the writer is free goes in one
    /// write and one fdatasync.
    #[default]
    Group,
    /// One write and one fdatasync per record (the old behaviour; kept so the
    /// benchmark can show both side by side).
    PerRecord,
}

/// One change waiting to be written.
pub struct Entry {
    meta: Vec<u8>,
    data: Arc<[u8]>,
    mark: MarkOp,
}

/// What a record means for the UID high-water marks.
enum MarkOp {
    None,
    Mailbox {
        user: String,
        mailbox: String,
        uid_validity: u32,
        uid_next: u32,
    },
    Rename {
        user: String,
        from: String,
        to: String,
        uid_validity: u32,
    },
    Delete {
        user: String,
        mailbox: String,
    },
}

impl Entry {
    /// `shared`, when given, is the message bytes (so they are not copied).
    pub fn new(record: &Record<'_>, shared: Option<Arc<[u8]>>) -> Entry {
        let (meta, data) = encode(record);
        let data = shared.unwrap_or_else(|| Arc::from(data));
        let mark = match *record {
            Record::Create {
                user,
                mailbox,
                uid_validity,
                uid_next,
            } => MarkOp::Mailbox {
                user: user.into(),
                mailbox: mailbox.into(),
                uid_validity,
                uid_next,
            },
            Record::Append {
                user,
                mailbox,
                uid_validity,
                uid,
                ..
            } => MarkOp::Mailbox {
                user: user.into(),
                mailbox: mailbox.into(),
                uid_validity,
                uid_next: uid.saturating_add(1),
            },
            Record::Rename {
                user,
                from,
                to,
                uid_validity,
            } => MarkOp::Rename {
                user: user.into(),
                from: from.into(),
                to: to.into(),
                uid_validity,
            },
            Record::Delete { user, mailbox } => MarkOp::Delete {
                user: user.into(),
                mailbox: mailbox.into(),
            },
            _ => MarkOp::None,
        };
        Entry { meta, data, mark }
    }
}

const WAITING: u8 = 0;
const DURABLE: u8 = 1;
const FAILED: u8 = 2;

/// Says when one record is on disk (or failed to get there).
#[derive(Debug, Default)]
pub struct Ticket {
    state: Mutex<u8>,
    done: Condvar,
}

impl Ticket {
    fn settle(&self, to: u8) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s == WAITING {
            *s = to;
            self.done.notify_all();
        }
    }

    /// `None` while waiting; `Some(true)` once durable, `Some(false)` if failed.
    pub fn outcome(&self) -> Option<bool> {
        match *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            WAITING => None,
            s => Some(s == DURABLE),
        }
    }

    /// Blocks until the writer has settled this ticket.
    pub fn wait(&self) -> Result<(), StoreError> {
        blocking(|| {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            while *s == WAITING {
                s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if *s == DURABLE {
                Ok(())
            } else {
                Err(StoreError::Io("the journal could not be written".into()))
            }
        })
    }
}

struct Job {
    entry: Entry,
    ticket: Arc<Ticket>,
}

impl Drop for Job {
    /// A job dropped unwritten (the writer stopped) fails its ticket, so no
    /// session waits forever.
    fn drop(&mut self) {
        self.ticket.settle(FAILED);
    }
}

/// The journal open for writing: a handle on the writer thread.
pub struct Journal {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    /// Starts the writer on `DATA_DIR/journal` (already replayed and repaired),
    /// numbering records from `next_seq`. `marks` are the high-water marks in
    /// force, already on disk.
    pub fn start(
        dir: &Path,
        next_seq: u64,
        marks: Marks,
        mode: SyncMode,
    ) -> Result<Journal, StoreError> {
        let path = dir.join("journal");
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            file,
            next_seq,
            exact: marks.clone(),
            marks,
            mode,
            failed: None,
        };
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Io(format!("cannot start the journal writer: {e}")))?;
        Ok(Journal {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a record; the ticket settles once it is on disk. Records reach
    /// the disk in the order they were queued.
    pub fn submit(&self, entry: Entry) -> Arc<Ticket> {
        let ticket = Arc::new(Ticket::default());
        let job = Job {
            entry,
            ticket: Arc::clone(&ticket),
        };
        match &self.tx {
            // A send to a stopped writer drops the job, which fails the ticket.
            Some(tx) => drop(tx.send(job)),
            None => drop(job),
        }
        ticket
    }

    /// Writes one record and waits until it is on disk.
    pub fn write(&self, entry: Entry) -> Result<(), StoreError> {
        self.submit(entry).wait()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    dir: PathBuf,
    file: File,
    next_seq: u64,
    /// The marks on disk: every UID and UIDVALIDITY handed out is below them.
    marks: Marks,
    /// The exact high-water of what was written, saved on a clean stop so a
    /// restart does not skip UIDs for nothing.
    exact: Marks,
    mode: SyncMode,
    /// After a failed write the journal's end is unknown: every later record
    /// fails too, so no record can be acknowledged after a lost one.
    failed: Option<String>,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        // How many writers recent batches served, and how long the last sync took.
        let mut writers = 1usize;
        let mut last_sync = std::time::Duration::ZERO;
        while let Ok(first) = rx.recv() {
            batch.push(first);
            if self.mode == SyncMode::Group {
                self.gather(&rx, &mut batch, writers, last_sync);
            }
            let t0 = std::time::Instant::now();
            let ok = self.commit(&batch, &mut buf);
            last_sync = t0.elapsed();
            // The recent maximum, forgetting one writer per batch: a batch that
            // missed a few writers does not lower the next one's aim.
            writers = batch.len().max(writers.saturating_sub(1));
            for job in batch.drain(..) {
                job.ticket.settle(if ok { DURABLE } else { FAILED });
            }
        }
        if self.failed.is_none() {
            // A clean stop: the exact marks let the next start go on from the
            // very next UID.
            let _ = self.exact.save(&self.dir);
        }
    }

    /// Adds to `batch` every record already queued; then, if the last batch
    /// served more writers than are here, waits a little for them: the
    /// sessions it acknowledged are sending their next command, and catching
    /// them in this sync instead of the next one is what makes group commit pay
    /// (PostgreSQL's `commit_delay`/`commit_siblings`, MySQL's
    /// `binlog_group_commit_sync_delay`). The wait is at most half the last
    /// sync's time (and 2 ms), so it never costs more than the sync it saves; a
    /// lone writer never waits.
    fn gather(
        &self,
        rx: &mpsc::Receiver<Job>,
        batch: &mut Vec<Job>,
        writers: usize,
        last_sync: std::time::Duration,
    ) {
        let mut bytes = batch.iter().map(|j| j.entry.data.len()).sum::<usize>();
        let wait = (last_sync / 2).min(std::time::Duration::from_millis(2));
        let deadline = std::time::Instant::now() + wait;
        while batch.len() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(j) => Some(j),
                Err(mpsc::TryRecvError::Disconnected) => None,
                Err(mpsc::TryRecvError::Empty) if batch.len() < writers => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        None
                    } else {
                        rx.recv_timeout(left).ok()
                    }
                }
                Err(mpsc::TryRecvError::Empty) => None,
            };
            let Some(j) = next else { break };
            bytes += j.entry.data.len() + j.entry.meta.len();
            batch.push(j);
        }
    }

    /// Raises the marks for this batch (saved first), then writes and syncs it.
    fn commit(&mut self, batch: &[Job], buf: &mut Vec<u8>) -> bool {
        if let Some(e) = &self.failed {
            eprintln!("imapspec: journal write refused after an earlier failure: {e}");
            return false;
        }
        let mut raise = false;
        for job in batch {
            raise |= self.marks.cover(&job.entry.mark);
            self.exact.follow(&job.entry.mark);
        }
        if raise {
            self.marks.durable_seq = self.next_seq.saturating_sub(1);
            if let Err(e) = self.marks.save(&self.dir) {
                self.fail(format!("cannot save the UID marks: {e}"));
                return false;
            }
        }
        buf.clear();
        for job in batch {
            encode_record(buf, self.next_seq, &job.entry.meta, &job.entry.data);
            self.next_seq += 1;
        }
        self.exact.durable_seq = self.next_seq - 1;
        match self.file.write_all(buf).and_then(|_| self.file.sync_data()) {
            Ok(()) => true,
            Err(e) => {
                self.fail(format!("cannot write the journal: {e}"));
                false
            }
        }
    }

    fn fail(&mut self, why: String) {
        eprintln!("imapspec: DURABLE STORE FAILED: {why}; every later change is refused (restart to recover)");
        self.failed = Some(why);
    }
}

impl Marks {
    /// Raises the reserved marks so they cover `op`; true if they changed.
    fn cover(&mut self, op: &MarkOp) -> bool {
        match op {
            MarkOp::None | MarkOp::Delete { .. } => false,
            MarkOp::Mailbox {
                user,
                mailbox,
                uid_validity,
                uid_next,
            } => {
                let v = self.reserve_validity(*uid_validity);
                self.reserve_uid(user, mailbox, *uid_validity, *uid_next) || v
            }
            MarkOp::Rename {
                user,
                from,
                to,
                uid_validity,
            } => {
                // A rename always moves a bound: save.
                self.reserve_validity(*uid_validity);
                self.rename(user, from, to, *uid_validity);
                true
            }
        }
    }

    /// Keeps the exact high-water of what was written.
    fn follow(&mut self, op: &MarkOp) {
        match op {
            MarkOp::None => {}
            MarkOp::Delete { user, mailbox } => {
                self.mailboxes.remove(&(user.clone(), mailbox.clone()));
            }
            MarkOp::Mailbox {
                user,
                mailbox,
                uid_validity,
                uid_next,
            } => {
                self.validity = self.validity.max(uid_validity.saturating_add(1));
                let e = self
                    .mailboxes
                    .entry((user.clone(), mailbox.clone()))
                    .or_insert((*uid_validity, *uid_next));
                if e.0 != *uid_validity {
                    *e = (*uid_validity, *uid_next);
                }
                e.1 = e.1.max(*uid_next);
            }
            MarkOp::Rename {
                user,
                from,
                to,
                uid_validity,
            } => {
                self.validity = self.validity.max(uid_validity.saturating_add(1));
                self.rename(user, from, to, *uid_validity);
            }
        }
    }
}

/// Runs a blocking wait so that, on a multi-threaded runtime, the worker hands
/// its other tasks to another thread meanwhile.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

// ---------------------------------------------------------------------------
// The meta line.

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

pub(crate) fn unesc(s: &str) -> Option<String> {
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

pub(crate) fn esc_name(s: &str) -> String {
    esc(s)
}

/// The meta line and the data of a record.
fn encode<'a>(r: &Record<'a>) -> (Vec<u8>, &'a [u8]) {
    let flags = |f: &[String]| {
        if f.is_empty() {
            "%".to_string()
        } else {
            f.iter().map(|x| esc(x)).collect::<Vec<_>>().join(",")
        }
    };
    let (line, data): (String, &[u8]) = match *r {
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
        Record::SpecialUse {
            user,
            mailbox,
            uses,
        } => (
            format!("use {} {} {}", esc(user), esc(mailbox), flags(uses)),
            &[],
        ),
        Record::Rename {
            user,
            from,
            to,
            uid_validity,
        } => (
            format!(
                "rename {} {} {} {uid_validity}",
                esc(user),
                esc(from),
                esc(to)
            ),
            &[],
        ),
        Record::Subscribe { user, mailbox, on } => (
            format!("subscribe {} {} {}", esc(user), esc(mailbox), u8::from(on)),
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
    (line.into_bytes(), data)
}

/// A decoded record that owns its strings (its message bytes stay in the
/// scanned buffer); `as_record` gives the borrowed view.
#[derive(Debug)]
pub enum Decoded<'d> {
    Create(String, String, u32, u32),
    Delete(String, String),
    Rename(String, String, String, u32),
    Subscribe(String, String, bool),
    SpecialUse(String, String, Vec<String>),
    Append(String, String, u32, u32, Vec<String>, i64, i32, &'d [u8]),
    Flags(String, String, u32, Vec<String>),
    Expunge(String, String, u32),
}

impl<'d> Decoded<'d> {
    /// The record, borrowing from this decoded copy.
    pub fn as_record(&self) -> Record<'_> {
        match self {
            Decoded::Create(u, m, v, n) => Record::Create {
                user: u,
                mailbox: m,
                uid_validity: *v,
                uid_next: *n,
            },
            Decoded::Delete(u, m) => Record::Delete {
                user: u,
                mailbox: m,
            },
            Decoded::Rename(u, f, t, v) => Record::Rename {
                user: u,
                from: f,
                to: t,
                uid_validity: *v,
            },
            Decoded::Subscribe(u, m, on) => Record::Subscribe {
                user: u,
                mailbox: m,
                on: *on,
            },
            Decoded::SpecialUse(u, m, uses) => Record::SpecialUse {
                user: u,
                mailbox: m,
                uses,
            },
            Decoded::Append(u, m, v, uid, f, d, z, data) => Record::Append {
                user: u,
                mailbox: m,
                uid_validity: *v,
                uid: *uid,
                flags: f,
                internal_date: *d,
                zone: *z,
                data,
            },
            Decoded::Flags(u, m, uid, f) => Record::Flags {
                user: u,
                mailbox: m,
                uid: *uid,
                flags: f,
            },
            Decoded::Expunge(u, m, uid) => Record::Expunge {
                user: u,
                mailbox: m,
                uid: *uid,
            },
        }
    }
}

fn decode<'d>(meta: &[u8], data: &'d [u8]) -> Option<Decoded<'d>> {
    let line = std::str::from_utf8(meta).ok()?;
    let f: Vec<&str> = line.split(' ').collect();
    let flags = |s: &str| -> Option<Vec<String>> {
        if s == "%" {
            return Some(Vec::new());
        }
        s.split(',').map(unesc).collect()
    };
    Some(match (*f.first()?, f.len()) {
        ("create", 5) => Decoded::Create(
            unesc(f[1])?,
            unesc(f[2])?,
            f[3].parse().ok()?,
            f[4].parse().ok()?,
        ),
        ("delete", 3) => Decoded::Delete(unesc(f[1])?, unesc(f[2])?),
        ("rename", 4) => Decoded::Rename(unesc(f[1])?, unesc(f[2])?, unesc(f[3])?, 0),
        ("rename", 5) => {
            Decoded::Rename(unesc(f[1])?, unesc(f[2])?, unesc(f[3])?, f[4].parse().ok()?)
        }
        ("use", 4) => Decoded::SpecialUse(unesc(f[1])?, unesc(f[2])?, flags(f[3])?),
        ("subscribe", 4) => Decoded::Subscribe(unesc(f[1])?, unesc(f[2])?, f[3] == "1"),
        ("append", 8) => Decoded::Append(
            unesc(f[1])?,
            unesc(f[2])?,
            f[3].parse().ok()?,
            f[4].parse().ok()?,
            flags(f[5])?,
            f[6].parse().ok()?,
            f[7].parse().ok()?,
            data,
        ),
        ("flags", 5) => {
            Decoded::Flags(unesc(f[1])?, unesc(f[2])?, f[3].parse().ok()?, flags(f[4])?)
        }
        ("expunge", 4) => Decoded::Expunge(unesc(f[1])?, unesc(f[2])?, f[3].parse().ok()?),
        _ => return None,
    })
}

/// The meta line and data of a record, for writing a fresh journal image.
pub(crate) fn encode_for_image<'a>(r: &Record<'a>) -> (Vec<u8>, &'a [u8]) {
    encode(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append_meta(uid: u32) -> Vec<u8> {
        encode(&Record::Append {
            user: "a b",
            mailbox: "Sent Items",
            uid_validity: 7,
            uid,
            flags: &["\\Seen".to_string()],
            internal_date: 1_700_000_000,
            zone: 3600,
            data: &[],
        })
        .0
    }

    fn records_of(buf: &[u8]) -> (Vec<u64>, Vec<(u64, u64)>, ScanSummary) {
        let mut seqs = Vec::new();
        let mut bad = Vec::new();
        let sum = scan(buf, &mut |s| match s {
            Scanned::Record { seq, .. } => seqs.push(seq),
            Scanned::Unreadable { start, end, .. } => bad.push((start, end)),
            Scanned::LostAppend { seq, .. } => bad.push((seq, seq)),
        });
        (seqs, bad, sum)
    }

    #[test]
    fn a_record_copied_into_a_message_is_not_taken_for_a_record() {
        // Record 1 is an old record; record 3's message holds a copy of it.
        let mut old = Vec::new();
        encode_record(&mut old, 1, &append_meta(1), b"Subject: one\r\n\r\n1\r\n");
        let mut buf = old.clone();
        encode_record(&mut buf, 2, &append_meta(2), b"Subject: two\r\n\r\n2\r\n");
        let third = buf.len();
        let mut body = b"Subject: a journal\r\n\r\n".to_vec();
        body.extend_from_slice(&old);
        encode_record(&mut buf, 3, &append_meta(3), &body);
        encode_record(&mut buf, 4, &append_meta(4), b"Subject: four\r\n\r\n4\r\n");
        let (seqs, bad, sum) = records_of(&buf);
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        assert!(bad.is_empty() && !sum.damaged);

        // Damage record 3's head: the scan must skip the copy inside it (its
        // number is not above 2) and pick up again at record 4.
        let mut damaged = buf.clone();
        damaged[third + 9] ^= 0xff;
        let (seqs, bad, sum) = records_of(&damaged);
        assert_eq!(seqs, vec![1, 2, 4], "{bad:?}");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, third as u64);
        assert!(sum.damaged && !sum.damage_only_at_end);
    }

    #[test]
    fn a_torn_last_record_is_named_torn_and_a_dropped_job_fails_its_ticket() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, &append_meta(1), b"Subject: one\r\n\r\n1\r\n");
        let good = buf.len();
        encode_record(&mut buf, 2, &append_meta(2), b"Subject: two\r\n\r\n2\r\n");
        buf.truncate(buf.len() - 3);
        let mut torn = false;
        let sum = scan(&buf, &mut |s| {
            if let Scanned::Unreadable { torn: t, start, .. } = s {
                torn = t && start == good as u64;
            }
        });
        assert!(torn && sum.damage_only_at_end && sum.good_end == good as u64);

        let ticket = Arc::new(Ticket::default());
        drop(Job {
            entry: Entry::new(
                &Record::Expunge {
                    user: "a",
                    mailbox: "b",
                    uid: 1,
                },
                None,
            ),
            ticket: Arc::clone(&ticket),
        });
        assert_eq!(ticket.outcome(), Some(false), "never left waiting");
    }
}
