//! An EXPUNGE storm: `* 2000000 EXISTS`, the UIDs of all 2,000,000 messages
//! learned, then 200,000 `* 1 EXPUNGE`, checked as `imapspec check` checks a log.
//!
//! `cargo bench --bench expunge_storm` prints the check's time and peak RSS,
//! and, for comparison, the time the same 200,000 removals take on the flat
//! vector the model used before (every removal shifting every later entry).
//! Under `cargo test` it runs once at 1/100 of the size as a smoke test.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use imapspec::cli::check::check_log;
use imapspec::wire::Limits;

fn generate(path: &Path, messages: u32, expunges: u32) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "# imapspec transcript v1")?;
    writeln!(out, "S: * OK ready")?;
    writeln!(out, "C: a1 LOGIN u p")?;
    writeln!(out, "S: a1 OK done")?;
    writeln!(out, "C: a2 SELECT INBOX")?;
    writeln!(
        out,
        "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    )?;
    writeln!(out, "S: * {messages} EXISTS")?;
    writeln!(out, "S: * 0 RECENT")?;
    writeln!(out, "S: * OK [UIDVALIDITY 1] ok")?;
    writeln!(out, "S: * OK [UIDNEXT {}] ok", messages + 1)?;
    writeln!(out, "S: a2 OK [READ-WRITE] done")?;
    writeln!(out, "C: a3 UID FETCH 1:* (UID)")?;
    for n in 1..=messages {
        writeln!(out, "S: * {n} FETCH (UID {n})")?;
    }
    writeln!(out, "S: a3 OK done")?;
    writeln!(out, "C: a4 EXPUNGE")?;
    for _ in 0..expunges {
        writeln!(out, "S: * 1 EXPUNGE")?;
    }
    writeln!(out, "S: a4 OK done")?;
    out.flush()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (messages, expunges) = if bench {
        (2_000_000, 200_000)
    } else {
        (20_000, 2_000)
    };
    let dir = std::env::temp_dir().join(format!("imapspec-storm-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("storm.transcript");
    if let Err(e) = generate(&path, messages, expunges) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(2);
    }
    let started = Instant::now();
    let r = check_log(&path, &Limits::default(), 1000);
    let took = started.elapsed();
    println!(
        "check: {messages} messages, {expunges} × `* 1 EXPUNGE`: {:.2} s, {} findings, peak RSS {:.0} MB",
        took.as_secs_f64(),
        r.findings.len(),
        peak_rss_mb()
    );
    assert!(r.findings.is_empty(), "{:#?}", r.findings);

    // The flat vectors the model used before: a removal at the front shifts
    // every later UID and flag byte.
    let mut uids: Vec<u32> = (1..=messages).collect();
    let mut flags: Vec<u8> = vec![0; messages as usize];
    let started = Instant::now();
    for _ in 0..expunges {
        uids.remove(0);
        flags.remove(0);
    }
    println!(
        "before (flat Vec::remove): {expunges} removals at the front of {messages}: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut map = imapspec::model::seqmap::SeqMap::default();
    map.resize(messages as usize);
    let started = Instant::now();
    for _ in 0..expunges {
        map.remove(0);
    }
    println!(
        "after (SeqMap::remove): {expunges} removals at the front of {messages}: {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
