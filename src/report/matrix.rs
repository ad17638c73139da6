//! The published server × scenario matrix (`imapspec report merge` of whole
//! runs, `reports/matrix.md`): every cell that is not `passed` says why in a
//! sentence — the deviation with its RFC sentence and the line the server
//! sent, the missing capability, or the wait capped by `--max-wait` — and a
//! notes file checked by hand can add to a cell (or fill one for a scenario
//! not run on that server, and say why).

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::checks;
use crate::results::{RunReport, ScenarioResult, Status};

/// Hand-written notes on matrix cells (`--notes FILE`, TOML).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    #[serde(default, rename = "note")]
    pub notes: Vec<Note>,
}

/// One note: the server (its `--server-name`), the scenario id and the text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub server: String,
    pub scenario: String,
    pub text: String,
}

impl Notes {
    /// Reads a notes file; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Notes, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn get(&self, server: &str, scenario: &str) -> Option<&str> {
        self.notes
            .iter()
            .find(|n| n.server == server && n.scenario == scenario)
            .map(|n| n.text.as_str())
    }

    /// Notes that name no server or scenario of these runs: a typo, said so.
    pub fn unmatched(&self, reports: &[RunReport]) -> Vec<String> {
        self.notes
            .iter()
            .filter(|n| !reports.iter().any(|r| r.server_name == n.server))
            .map(|n| {
                format!(
                    "note for server `{}` (scenario `{}`): no run of that --server-name",
                    n.server, n.scenario
                )
            })
            .collect()
    }
}

/// Why a scenario did not simply pass, in one sentence; `None` when it passed.
pub fn why(report: &RunReport, r: &ScenarioResult) -> Option<String> {
    if r.status == Status::Passed {
        return None;
    }
    if r.status != Status::Failed {
        return Some(
            r.reason
                .clone()
                .unwrap_or_else(|| "no reason was recorded".into()),
        );
    }
    // A finding carries the RFC's words and the line the server sent: it
    // comes first; the scenario's own expectation says what the client saw.
    let finding = r.failing_findings(report.strict).next().map(|f| {
        let info = checks::info(f.check);
        let rfc = info.map_or("", |i| i.rfc);
        let quote = info
            .map(|i| format!(" — \"{}\"", i.quote))
            .unwrap_or_default();
        format!(
            "`{}` ({rfc}): {}; the server sent `{}`{quote}",
            f.check, f.message, f.line
        )
    });
    let expectation = r.failures.iter().find(|f| f.fails(report.strict)).map(|f| {
        let quote = f
            .quote
            .as_deref()
            .map(|q| format!(" — \"{q}\""))
            .unwrap_or_default();
        format!(
            "{} expectation not met: {}{quote}",
            f.level.as_str(),
            f.message
        )
    });
    match (finding, expectation) {
        (Some(f), Some(e)) => return Some(format!("{f}; {e}")),
        (Some(one), None) | (None, Some(one)) => return Some(one),
        (None, None) => {}
    }
    Some(
        r.reason
            .clone()
            .unwrap_or_else(|| "failed (see the run's report)".into()),
    )
}

/// The matrix as Markdown: a status table, then one numbered sentence per
/// cell that is not `passed`, then the server-wide findings.
pub fn markdown(reports: &[RunReport], notes: &Notes) -> String {
    let mut ids: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(|x| x.id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut t = String::from("| scenario |");
    for r in reports {
        let _ = write!(t, " {} |", r.server_name);
    }
    t.push_str("\n| --- |");
    for _ in reports {
        t.push_str(" --- |");
    }
    t.push('\n');
    let mut whys = String::new();
    let mut n = 0;
    for id in &ids {
        let _ = write!(t, "| `{id}` |");
        for r in reports {
            let result = r.results.iter().find(|x| x.id == *id);
            let status = result.map_or("not run", |x| x.status.as_str());
            let reason = result.and_then(|x| why(r, x));
            let note = notes.get(&r.server_name, id);
            if reason.is_none() && note.is_none() {
                let _ = write!(t, " {status} |");
                continue;
            }
            n += 1;
            let _ = write!(t, " {status} [{n}] |");
            let mut sentence = reason.unwrap_or_default();
            if let Some(note) = note {
                if !sentence.is_empty() {
                    sentence.push_str(" — ");
                }
                sentence.push_str(note);
            }
            let _ = writeln!(
                whys,
                "{n}. `{id}` on {}: {status} — {}",
                r.server_name,
                sentence.replace('\n', " ")
            );
        }
        t.push('\n');
    }
    if !whys.is_empty() {
        t.push_str("\nWhy each cell that is not `passed` is so:\n\n");
        t.push_str(&whys);
    }
    let mut server_rows = String::new();
    for r in reports {
        for g in super::run::server_folded(r) {
            let _ = writeln!(
                server_rows,
                "| {} | `{}` | {} | {} | {} |",
                r.server_name,
                g.first.check,
                g.first.severity.as_str(),
                g.count,
                g.first.message.replace('|', "\\|").replace('\n', " ")
            );
        }
    }
    if !server_rows.is_empty() {
        t.push_str("\nServer-wide findings (outside every scenario's own checks, each once):\n\n| server | check | severity | times | message |\n| --- | --- | --- | --- | --- |\n");
        t.push_str(&server_rows);
    }
    t
}
