//! `imapspec check LOG...`: reads recorded sessions, runs every check, reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Exit;
use crate::checks::Checker;
use crate::event::Event;
use crate::report::{self, LogResult, Status};
use crate::source::Timestamp;
use crate::transcript::{self, rawlog::Probe, Format};
use crate::wire::Limits;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Log files or folders (searched recursively). Formats are detected: generic
    /// `C:`/`S:` transcripts, Dovecot rawlog pairs (.in/.out), the field-log
    /// formats of seeds 000 and 001, and packet captures (pcap, pcapng: the
    /// plaintext IMAP streams on any port; positions are packet numbers).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Keep at most this many findings per check and log (the rest are counted).
    #[arg(long, default_value_t = 1000)]
    pub max_findings: usize,
    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Events handed to the checker thread at a time, and the bytes after which a
/// batch goes early. At most `PIPELINE_BATCHES` wait in the channel, one is
/// being filled and one checked, and checked batches come back to be dropped
/// (at most `PIPELINE_BATCHES + 1` of them, since the reader takes them back
/// before each send): what is held between the threads stays near
/// `(2 × PIPELINE_BATCHES + 3) × BATCH_BYTES` of messages (a batch may
/// overshoot by one message of at most `Limits::max_message`), whatever the
/// log.
const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
const PIPELINE_BATCHES: usize = 4;

/// Runs `read` (which feeds events to the sink it is given) on this thread and
/// every check on another: reading, framing and decoding take about as long as
/// the model and the checks, so on two cores the log is checked nearly twice as
/// fast. Events keep their order (one bounded channel, one checker).
///
/// Checked batches are sent back and dropped here, on the thread that made
/// them: an event holds `Arc`s shared by every event of its log (the file
/// name) and of its connection, and freeing them on the other thread made the
/// two cores fight over those counters' cache lines on every event (60% of
/// the reader's own time, by `perf annotate`), besides a cross-thread free of
/// each allocation.
fn check_on_own_thread<R>(
    max_findings: usize,
    read: impl FnOnce(&mut dyn FnMut(Event)) -> R,
) -> (R, crate::checks::Findings) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(PIPELINE_BATCHES);
    // Unbounded, but never holds more than the batches sent since the reader
    // last emptied it (see BATCH_EVENTS): the checker must never block on it,
    // or both threads could wait on each other.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Vec<Event>>();
    std::thread::scope(|scope| {
        let checking = scope.spawn(move || {
            let mut checker = Checker {
                findings: crate::checks::Findings::new(max_findings),
                ..Checker::default()
            };
            for batch in rx {
                for e in &batch {
                    checker.on_event(e);
                }
                // The reader may be gone (it returned); then drop here.
                let _ = done_tx.send(batch);
            }
            checker.into_findings()
        });
        let mut batch = Vec::with_capacity(BATCH_EVENTS);
        let mut bytes = 0usize;
        // A send fails only when the checker thread is gone (it panicked);
        // the join below reports that.
        let mut open = true;
        let result = read(&mut |e: Event| {
            bytes += e.raw.len();
            batch.push(e);
            if batch.len() >= BATCH_EVENTS || bytes >= BATCH_BYTES {
                bytes = 0;
                // A checked batch, if one is back, is emptied here and its
                // room reused.
                let mut next = Vec::with_capacity(BATCH_EVENTS);
                for mut done in done_rx.try_iter() {
                    done.clear();
                    next = done;
                }
                let full = std::mem::replace(&mut batch, next);
                if open {
                    open = tx.send(full).is_ok();
                }
            }
        });
        if open && !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        // Take back (and drop, here) what the checker finishes with, until
        // it is done.
        for done in done_rx.iter() {
            drop(done);
        }
        let findings = match checking.join() {
            Ok(f) => f,
            // A panic in a check is a bug of ours: let it surface as one.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (result, findings)
    })
}

/// Reads one log and runs every check on it.
pub fn check_log(path: &Path, limits: &Limits, max_findings: usize) -> LogResult {
    let (read, findings) = check_on_own_thread(max_findings, |sink| {
        transcript::read_file(path, limits, sink)
    });
    let id = path.display().to_string();
    match read {
        Ok((format, stats)) => {
            let dropped: BTreeMap<String, u64> = findings
                .dropped
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            LogResult {
                status: LogResult::status_of(&findings.list, &dropped),
                id,
                format: Some(format),
                bytes: stats.bytes,
                lines: stats.lines,
                events: stats.events,
                error: None,
                findings: findings.list,
                dropped,
            }
        }
        Err(e) => error_result(id, &e),
    }
}

/// Checks every log. The timestamped Dovecot rawlogs of one folder are the
/// sessions of one account (Dovecot writes one folder per user), so they are
/// read merged by time into one checker: a UID expunged in one session and shown
/// again in another is seen (`uid.no-reuse`, RFC 3501 2.3.1.1: "the unique
/// identifier of a message MUST NOT change during the session, and SHOULD NOT
/// change between sessions"; and a UID, once used, is never given to another
/// message in the same UIDVALIDITY). Findings still name each file and line.
/// Rawlogs without timestamps cannot be placed in time among the others; they
/// are checked one by one, and a note (second value) says so.
pub fn check_logs(
    files: &[PathBuf],
    limits: &Limits,
    max_findings: usize,
) -> (Vec<LogResult>, Vec<String>) {
    let mut results: Vec<Option<LogResult>> = files.iter().map(|_| None).collect();
    // Folder → (index in `files`, first time) of its timestamped rawlogs.
    let mut sets: BTreeMap<PathBuf, Vec<(usize, Option<Timestamp>)>> = BTreeMap::new();
    let mut plain: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, f) in files.iter().enumerate() {
        // A pair named twice (a folder and a file in it) is read once in its
        // set; the repeat is checked on its own, as any repeated log is.
        if !transcript::rawlog::is_rawlog(f) || !seen.insert(f.with_extension("in")) {
            continue;
        }
        let folder = f.parent().map(Path::to_path_buf).unwrap_or_default();
        let probe = transcript::rawlog::Stream::open(f, limits)
            .ok()
            .flatten()
            .map(|mut s| s.probe());
        match probe {
            Some(Ok(Probe::Timestamped(at))) => sets.entry(folder).or_default().push((i, at)),
            Some(Ok(Probe::Plain)) => *plain.entry(folder).or_insert(0) += 1,
            // Unreadable: check_log below reports why.
            _ => {}
        }
    }
    let mut notes = Vec::new();
    for (folder, count) in &plain {
        let timed = sets.get(folder).map_or(0, Vec::len);
        if count + timed > 1 {
            notes.push(format!(
                "{}: {count} rawlog(s) without timestamps cannot be ordered among the \
                 folder's other sessions; each was checked on its own, without what the \
                 other sessions of the account did",
                folder.display()
            ));
        }
    }
    for set in sets.values().filter(|s| s.len() > 1) {
        let paths: Vec<PathBuf> = set.iter().map(|&(i, _)| files[i].clone()).collect();
        let starts: Vec<Option<Timestamp>> = set.iter().map(|&(_, at)| at).collect();
        for ((i, _), r) in set
            .iter()
            .zip(check_rawlog_set(&paths, &starts, limits, max_findings))
        {
            results[*i] = Some(r);
        }
    }
    let results = results
        .into_iter()
        .zip(files)
        .map(|(r, f)| r.unwrap_or_else(|| check_log(f, limits, max_findings)))
        .collect();
    (results, notes)
}

/// Checks timestamped rawlog pairs as one account, merged by time (see
/// [`check_logs`]); one result per pair, in the order of `paths`.
pub fn check_rawlog_set(
    paths: &[PathBuf],
    starts: &[Option<Timestamp>],
    limits: &Limits,
    max_findings: usize,
) -> Vec<LogResult> {
    // The cap is per check and log: the set's checker may keep the whole set's
    // worth, and each pair's share is cut to the cap below.
    let (read, findings) = check_on_own_thread(max_findings.saturating_mul(paths.len()), |sink| {
        transcript::rawlog::read_merged(paths, starts, limits, &mut |_, e| sink(e))
    });
    // A finding belongs to the pair whose session it names (the `.in` file's stem).
    let session_of = |p: &PathBuf| {
        p.with_extension("in")
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "rawlog".into())
    };
    let index: BTreeMap<String, usize> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (session_of(p), i))
        .collect();
    let mut per_pair: Vec<Vec<crate::finding::Finding>> =
        paths.iter().map(|_| Vec::new()).collect();
    let mut dropped: Vec<BTreeMap<String, u64>> = paths.iter().map(|_| BTreeMap::new()).collect();
    let mut kept: Vec<BTreeMap<&'static str, usize>> =
        paths.iter().map(|_| BTreeMap::new()).collect();
    for f in findings.list {
        let i = index.get(&f.session).copied().unwrap_or(0);
        let n = kept[i].entry(f.check).or_insert(0);
        if *n >= max_findings {
            *dropped[i].entry(f.check.to_string()).or_insert(0) += 1;
        } else {
            *n += 1;
            per_pair[i].push(f);
        }
    }
    // Past the set's cap the pair is no longer known; the count goes to the
    // pair with most findings of that check, which is over its own cap.
    for (check, n) in findings.dropped {
        let i = (0..paths.len())
            .max_by_key(|&i| {
                (
                    kept[i].get(check).copied().unwrap_or(0),
                    std::cmp::Reverse(i),
                )
            })
            .unwrap_or(0);
        *dropped[i].entry(check.to_string()).or_insert(0) += n;
    }
    read.into_iter()
        .zip(per_pair)
        .zip(dropped)
        .zip(paths)
        .map(|(((read, list), dropped), path)| {
            let id = path.display().to_string();
            match read {
                Ok(stats) => LogResult {
                    status: LogResult::status_of(&list, &dropped),
                    id,
                    format: Some(Format::Rawlog),
                    bytes: stats.bytes,
                    lines: stats.lines,
                    events: stats.events,
                    error: None,
                    findings: list,
                    dropped,
                },
                Err(e) => error_result(id, &e),
            }
        })
        .collect()
}

fn error_result(id: String, e: &transcript::TranscriptError) -> LogResult {
    LogResult {
        id,
        status: Status::Error,
        format: None,
        bytes: 0,
        lines: 0,
        events: 0,
        error: Some(format!(
            "{e}\n  (imapspec check exits 2: fix or remove this log)"
        )),
        findings: Vec::new(),
        dropped: BTreeMap::new(),
    }
}

/// Expands folders into their files, sorted; a rawlog pair is listed once (.in).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir)
                    .map_err(|e| format!("{}: cannot list folder: {e}", dir.display()))?;
                for entry in entries {
                    let path = entry
                        .map_err(|e| format!("{}: cannot list folder: {e}", dir.display()))?
                        .path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if !skipped_in_folder(&path) {
                        out.push(path);
                    }
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    out.sort();
    Ok(out)
}

/// In a folder: the `.out` half of a rawlog pair (read with its `.in`), and notes.
fn skipped_in_folder(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    (ext == "out" && path.with_extension("in").is_file()) || ext == "snap" || ext == "md"
}

pub fn run(args: &CheckArgs) -> Exit {
    let files = match expand(&args.logs) {
        Ok(f) if f.is_empty() => {
            eprintln!("error: no log files found in {:?}", args.logs);
            return Exit::Usage;
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let limits = Limits::default();
    let (results, notes) = check_logs(&files, &limits, args.max_findings);
    if !args.quiet {
        for note in &notes {
            super::outln!("note: {note}");
        }
    }
    let text = report::terminal::render(&results);
    if args.quiet {
        if let Some(last) = text.lines().last() {
            super::outln!("{last}");
        }
    } else {
        super::outf!("{text}");
    }
    if let Some(path) = &args.report_json {
        let json = report::json::render("check", &results);
        let written = serde_json::to_vec_pretty(&json)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(path, bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!(
                "error: cannot write the JSON report to {}: {e}",
                path.display()
            );
            return Exit::Usage;
        }
    }
    let summary = report::summarize(&results);
    if summary.errors > 0 {
        Exit::Usage
    } else if summary.failed > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    }
}
