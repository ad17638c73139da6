//! Human output: findings grouped by the log line they point at, each with the
//! rule in a sentence and what a real client does about it; then a summary.

use std::fmt::Write as _;

use super::{summarize, LogResult, Status};
use crate::checks;

pub fn render(results: &[LogResult]) -> String {
    let mut s = String::new();
    for r in results {
        if let Some(e) = &r.error {
            let _ = writeln!(s, "error: {e}\n");
            continue;
        }
        // One deviation is told once: repeats of a check with the same cause
        // fold into the first, with a count and the next few places.
        let folded = super::fold(r.findings.iter().map(|f| (r.id.as_str(), f)));
        let mut groups: Vec<_> = folded.iter().collect();
        groups.sort_by_key(|g| (g.first.origin.clone(), std::cmp::Reverse(g.first.severity)));
        let mut last_origin = None;
        for g in groups {
            let f = g.first;
            if last_origin.as_ref() != Some(&f.origin) {
                if last_origin.is_some() {
                    s.push('\n');
                }
                let _ = writeln!(s, "{}  [session {}]", f.origin, f.session);
                let _ = writeln!(s, "  | {}", f.line);
                last_origin = Some(f.origin.clone());
            }
            let info = checks::info(f.check);
            let rfc = info.map_or("", |i| i.rfc);
            let _ = writeln!(s, "  {} {} ({rfc})", f.severity.as_str(), f.check);
            let _ = writeln!(s, "    {}", f.message);
            if g.count > 1 {
                let _ = writeln!(s, "    {}", repeats(g));
            }
            if let Some(i) = info {
                let _ = writeln!(s, "    rule: {}", i.rule);
            }
            if let Some(impact) = &f.client_impact {
                let _ = writeln!(s, "    client impact: {impact}");
            }
        }
        if !r.findings.is_empty() {
            s.push('\n');
        }
        for (id, n) in &r.dropped {
            let _ = writeln!(s, "  … and {n} more {id} findings not shown");
        }
        let verdict = match r.status {
            Status::Passed => "passed",
            Status::Failed => "FAILED",
            Status::Error => "error",
        };
        let _ = writeln!(
            s,
            "{}: {verdict} — {} findings; {} {}, {} events, read as {}",
            r.id,
            r.findings.len() as u64 + r.dropped.values().sum::<u64>(),
            r.lines,
            // A capture's positions are packet numbers, not lines.
            if r.format == Some(crate::transcript::Format::Capture) {
                "packets"
            } else {
                "lines"
            },
            r.events,
            r.format.map_or("?", |f| f.name())
        );
    }
    let sum = summarize(results);
    let _ = writeln!(
        s,
        "\n{} logs: {} passed, {} failed, {} unreadable; {} violations, {} warnings",
        sum.logs, sum.passed, sum.failed, sum.errors, sum.violations, sum.warnings
    );
    s
}

/// "seen 7 times …; also at lines 23, 24 … and 2 more" for a folded finding
/// (places in the first one's file by line, others in full).
pub fn repeats(g: &super::Folded<'_>) -> String {
    let first = &g.first.origin.file;
    let more: Vec<String> = g
        .locations
        .iter()
        .skip(1)
        .map(|o| {
            if &o.file == first {
                format!("line {}", o.line)
            } else {
                o.to_string()
            }
        })
        .collect();
    let shown = g.locations.len() as u64;
    let rest = if g.count > shown {
        format!(" and {} more", g.count - shown)
    } else {
        String::new()
    };
    format!(
        "seen {} times (one cause, reported once); also at {}{rest}",
        g.count,
        more.join(", ")
    )
}
