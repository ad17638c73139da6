//! `imapspec check` throughput and memory on a large generated log.
//!
//! `cargo bench --bench check_throughput` writes generic transcripts of 20 MB,
//! 200 MB and 2 GB (many sessions: SELECT, bulk `FETCH (UID FLAGS)`, flag updates, expunges,
//! NOOP polls), checks each with the same code as `imapspec check`, and prints
//! MB/s and the peak RSS after each, so flat memory shows as equal peaks.
//! Under `cargo test` (no `--bench`), it runs once on 2 MB as a smoke test.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use imapspec::cli::check::check_log;

/// The allocator the `imapspec` binary uses (src/main.rs), so that this measures
/// what `imapspec check` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use imapspec::wire::Limits;

/// Writes sessions until the file reaches `target` bytes.
fn generate(path: &Path, target: u64) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "# imapspec transcript v1")?;
    let mut written = 0u64;
    let mut session = 0u64;
    let mut t = 0u64;
    while written < target {
        session += 1;
        let c = format!("s{session}");
        let mut lines: Vec<String> = vec![
            "S: * OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] ready".to_string(),
            format!("C: a1 LOGIN user{} secret", session % 50),
            "S: a1 OK logged in".to_string(),
            "C: a2 SELECT INBOX".to_string(),
            "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)".to_string(),
            format!(
                "S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok"
            ),
            "S: * 2000 EXISTS".to_string(),
            "S: * 0 RECENT".to_string(),
            format!("S: * OK [UIDVALIDITY {session}] ok"),
            "S: * OK [UIDNEXT 4001] ok".to_string(),
            "S: a2 OK [READ-WRITE] SELECT done".to_string(),
            "C: a3 UID FETCH 1:* (UID FLAGS)".to_string(),
        ];
        for seq in 1..=2000u32 {
            let flags = if seq % 3 == 0 {
                "\\Seen \\Answered"
            } else {
                "\\Seen"
            };
            lines.push(format!(
                "S: * {seq} FETCH (UID {} FLAGS ({flags}))",
                seq * 2
            ));
        }
        lines.push("S: a3 OK done".into());
        for round in 0..20u32 {
            let seq = 100 + round;
            lines.push(format!(
                "C: b{round} UID STORE {} +FLAGS.SILENT (\\Deleted)",
                seq * 2
            ));
            lines.push(format!("S: b{round} OK done"));
            lines.push(format!("C: c{round} UID EXPUNGE {}", seq * 2));
            lines.push(format!("S: * {seq} EXPUNGE"));
            lines.push(format!("S: c{round} OK done"));
            lines.push(format!("C: d{round} NOOP"));
            lines.push("S: * 1 FETCH (FLAGS (\\Seen \\Flagged))".to_string());
            lines.push(format!("S: d{round} OK NOOP completed"));
        }
        lines.push("C: z LOGOUT".into());
        lines.push("S: * BYE logging out".into());
        lines.push("S: z OK done".into());
        lines.push("== closed by server".into());
        for l in lines {
            t += 1_000;
            let line = format!("{}.{:09} [{c}] {l}\n", t / 1_000_000_000, t % 1_000_000_000);
            written += line.len() as u64;
            out.write_all(line.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(written)
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
    let sizes: &[u64] = if bench {
        &[20 << 20, 200 << 20, 2000 << 20]
    } else {
        &[2 << 20]
    };
    let dir = std::env::temp_dir().join(format!("imapspec-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }
    for &size in sizes {
        let path = dir.join(format!("log-{}mb.transcript", size >> 20));
        let bytes = match generate(&path, size) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("cannot write {}: {e}", path.display());
                std::process::exit(2);
            }
        };
        let started = Instant::now();
        let result = check_log(&path, &Limits::default(), 1000);
        let secs = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&path);
        assert!(result.error.is_none(), "{:?}", result.error);
        assert!(
            result.findings.is_empty(),
            "the generated log is clean: {:?}",
            result.findings.first()
        );
        println!(
            "check_throughput: {:>6.1} MB log, {:>9} events: {:>6.2} s, {:>7.1} MB/s, peak RSS so far {:.1} MB",
            bytes as f64 / 1e6,
            result.events,
            secs,
            bytes as f64 / 1e6 / secs,
            peak_rss_mb()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
