//! The module dependency rule (data flows one way): each top-level module may use
//! only the modules listed for it. Cheaper than arguing about it in review.

use std::collections::BTreeSet;
use std::path::Path;

/// Module → the crate modules it may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("clock", &["source"]),
    ("source", &[]),
    ("wire", &[]),
    ("event", &["source", "wire"]),
    ("transcript", &["event", "source", "wire", "finding"]),
    ("model", &["event", "source", "wire"]),
    ("finding", &["source", "wire"]),
    ("checks", &["event", "finding", "model", "source", "wire"]),
    // The raw client knows neither the checks nor the transcript format: it
    // hands events to an `event::EventSink` (the runner's recorder).
    ("session", &["clock", "event", "source", "wire"]),
    ("server", &["clock", "source", "wire"]),
    // Expectations carry the RFC keyword level findings have (`finding::Level`);
    // imaptest scripts carry the statuses and command pieces of `wire`.
    (
        "scenario",
        &["checks", "finding", "server", "transcript", "wire"],
    ),
    ("baseline", &["checks", "finding"]),
    ("results", &["baseline", "finding"]),
    (
        "report",
        &[
            "baseline",
            "checks",
            "finding",
            "results",
            "source",
            "transcript",
        ],
    ),
    (
        "runner",
        &[
            "checks",
            "clock",
            "event",
            "finding",
            "results",
            "scenario",
            "server",
            "session",
            "source",
            "transcript",
            "wire",
        ],
    ),
    ("load", &["event", "runner", "session", "source", "wire"]),
    // The proxy is a live `check`: it frames, records and checks what passes
    // (and makes its TLS certificate as the server does).
    (
        "proxy",
        &[
            "checks",
            "clock",
            "event",
            "finding",
            "server",
            "session",
            "source",
            "transcript",
            "wire",
        ],
    ),
    (
        "cli",
        &[
            "baseline",
            "checks",
            "clock",
            "event",
            "finding",
            "load",
            "proxy",
            "report",
            "results",
            "runner",
            "scenario",
            "server",
            "session",
            "source",
            "transcript",
            "wire",
        ],
    ),
];

#[test]
fn the_session_knows_neither_checks_nor_transcripts() {
    let rows: Vec<&str> = ALLOWED
        .iter()
        .find(|(m, _)| *m == "session")
        .map(|(_, a)| a.to_vec())
        .unwrap_or_default();
    assert!(!rows.contains(&"checks") && !rows.contains(&"transcript"));
    assert!(ALLOWED.iter().any(|(m, _)| *m == "load"));
    assert!(ALLOWED.iter().any(|(m, _)| *m == "cli"));
}

fn uses(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            uses(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + 7..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut found = BTreeSet::new();
        let dir = src.join(module);
        if dir.is_dir() {
            uses(&dir, &mut found);
        }
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
        for used in found {
            if used != *module && !allowed.contains(&used.as_str()) {
                broken.push(format!("{module} uses crate::{used}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}
