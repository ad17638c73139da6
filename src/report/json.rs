//! The JSON report. `schema_version` changes whenever a field changes meaning or
//! goes away; new fields may appear without a change.
//!
//! ```json
//! { "schema_version": 1, "tool": "imapspec", "command": "check",
//!   "summary": { "logs": 1, "passed": 0, "failed": 1, "errors": 0, "violations": 3, "warnings": 0 },
//!   "results": [ { "id": "seed000.log", "status": "failed", "format": "seed000",
//!                  "bytes": 2310, "lines": 24, "events": 24, "error": null,
//!                  "findings": [ { "check": "uid.no-reuse", "severity": "violation",
//!                                  "rfc": "RFC 3501 2.3.1.1", "session": "29397",
//!                                  "file": "seed000.log", "line": 22,
//!                                  "excerpt": "* 147 FETCH (UID 3193)",
//!                                  "message": "...", "client_impact": "..." } ],
//!                  "dropped": {} } ] }
//! ```

use super::{summarize, LogResult};

pub const SCHEMA_VERSION: u32 = 1;

pub fn render(command: &str, results: &[LogResult]) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let findings: Vec<serde_json::Value> =
                r.findings.iter().map(super::finding_json).collect();
            serde_json::json!({
                "id": r.id,
                "status": r.status,
                "format": r.format,
                "bytes": r.bytes,
                "lines": r.lines,
                "events": r.events,
                "error": r.error,
                "findings": findings,
                "dropped": r.dropped,
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "tool": "imapspec",
        "version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "summary": summarize(results),
        "results": entries,
    })
}
