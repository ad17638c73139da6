//! One self-contained HTML page (no external assets): the summary, then each
//! scenario with its findings, the client impact and its transcript, the offending
//! lines marked. Also the server × scenario matrix made by `report merge`.

use std::fmt::Write as _;

use crate::checks;
use crate::results::{RunReport, Status};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
.passed{background:#e6f4ea}.failed{background:#fce8e6}.skipped,.inconclusive{background:#fef7e0}.error{background:#f3e8fd}\
pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:.85em}mark{background:#ffd54f}\
details{margin:.4em 0}summary{cursor:pointer}.finding{border-left:4px solid #d93025;padding-left:.8em;margin:.6em 0}";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Most transcript lines shown per scenario.
const MAX_LINES: usize = 400;

pub fn render(report: &RunReport) -> String {
    let s = super::run::summary(report);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>imapspec report</title><style>{STYLE}</style></head><body>\
         <h1>imapspec: {}</h1><table id=\"summary\"><tr><th>scenarios</th><th>passed</th><th>failed</th><th>skipped</th><th>inconclusive</th><th>errors</th><th>time</th></tr>\
         <tr><td>{}</td><td class=\"passed\">{}</td><td class=\"failed\">{}</td><td class=\"skipped\">{}</td><td class=\"inconclusive\">{}</td><td class=\"error\">{}</td><td>{:.1} s</td></tr></table>",
        escape(&report.server),
        s.total,
        s.passed,
        s.failed,
        s.skipped,
        s.inconclusive,
        s.error,
        report.millis as f64 / 1000.0
    );
    h.push_str("<h2>Scenarios</h2><table><tr><th>scenario</th><th>client</th><th>source</th><th>status</th></tr>");
    for r in &report.results {
        let _ = write!(
            h,
            "<tr class=\"{st}\"><td><a href=\"#{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{st}</td></tr>",
            escape(&r.client),
            escape(&r.source),
            id = escape(&r.id),
            st = r.status.as_str()
        );
    }
    h.push_str("</table>");
    for r in &report.results {
        let _ = write!(
            h,
            "<h3 id=\"{}\" class=\"{}\">{} — {}</h3>",
            escape(&r.id),
            r.status.as_str(),
            escape(&r.id),
            escape(&r.title)
        );
        if let Some(why) = &r.reason {
            let _ = write!(h, "<p>{}</p>", escape(why));
        }
        for f in &r.failures {
            let _ = write!(
                h,
                "<p class=\"finding\">{} at {}:{}: {}{}</p>",
                super::run::failure_kind(f, report.strict),
                escape(&f.file),
                f.line,
                escape(&f.message),
                f.quote
                    .as_deref()
                    .map(|q| format!("<br><q>{}</q>", escape(q)))
                    .unwrap_or_default()
            );
        }
        let mut marked = Vec::new();
        for g in super::fold(r.findings.iter().map(|f| (r.id.as_str(), f))) {
            marked.extend(g.locations.iter().map(|o| o.line));
            finding_html(&mut h, &g);
        }
        let others = super::run::other_checks(r);
        if !others.is_empty() {
            let _ = write!(
                h,
                "<p>also seen here (<a href=\"#server-wide\">server-wide findings</a>): {}</p>",
                escape(&others.join(", "))
            );
        }
        if let Some(t) = &r.transcript {
            if let Ok(text) = std::fs::read_to_string(t) {
                let open = if r.status == Status::Passed {
                    ""
                } else {
                    " open"
                };
                let _ = write!(
                    h,
                    "<details{open}><summary>transcript ({})</summary><pre>",
                    escape(t)
                );
                let focus = marked.first().copied().unwrap_or(1) as usize;
                let start = focus.saturating_sub(MAX_LINES / 2).max(1);
                for (i, line) in text.lines().enumerate().skip(start - 1).take(MAX_LINES) {
                    let n = i as u64 + 1;
                    if marked.contains(&n) {
                        let _ = writeln!(h, "<mark>{n:>5} | {}</mark>", escape(line));
                    } else {
                        let _ = writeln!(h, "{n:>5} | {}", escape(line));
                    }
                }
                h.push_str("</pre></details>");
            }
        }
    }
    let server = super::run::server_folded(report);
    if !server.is_empty() {
        h.push_str("<h2 id=\"server-wide\">Server-wide findings</h2><p>Checks no scenario here is about, each deviation reported once; they fail the run when a violation.</p>");
        for g in &server {
            let _ = write!(
                h,
                "<p>seen in {} scenario(s): {}</p>",
                g.seen_in.len(),
                escape(&g.seen_in.join(", "))
            );
            finding_html(&mut h, g);
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn finding_html(h: &mut String, g: &super::Folded<'_>) {
    let f = g.first;
    let info = checks::info(f.check);
    let times = if g.count > 1 {
        format!("<br>{}", escape(&super::terminal::repeats(g)))
    } else {
        String::new()
    };
    let _ = write!(
        h,
        "<div class=\"finding\"><b>{} {}</b> ({}) at {}<br>{}{times}<br><i>rule:</i> {}<br><i>client impact:</i> {}</div>",
        f.severity.as_str(),
        escape(f.check),
        escape(info.map_or("", |i| i.rfc)),
        escape(&f.origin.to_string()),
        escape(&f.message),
        escape(info.map_or("", |i| i.rule)),
        escape(f.client_impact.as_deref().unwrap_or("")),
    );
}

/// Every scenario id in a set of JSON run reports, sorted, once each.
pub fn scenario_ids(reports: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = reports
        .iter()
        .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The same matrix as a Markdown table (status per server).
pub fn matrix_markdown(reports: &[serde_json::Value]) -> String {
    let mut text = String::from("| scenario |");
    for r in reports {
        text.push_str(&format!(" {} |", r["server"].as_str().unwrap_or("?")));
    }
    text.push_str("\n| --- |");
    for _ in reports {
        text.push_str(" --- |");
    }
    text.push('\n');
    for id in scenario_ids(reports) {
        text.push_str(&format!("| `{id}` |"));
        for r in reports {
            let st = r["results"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["id"].as_str() == Some(&id)))
                .and_then(|x| x["status"].as_str())
                .unwrap_or("—");
            text.push_str(&format!(" {st} |"));
        }
        text.push('\n');
    }
    let mut server_rows = String::new();
    for r in reports {
        let server = r["server"].as_str().unwrap_or("?");
        for f in r["server_findings"].as_array().into_iter().flatten() {
            server_rows.push_str(&format!(
                "| {server} | `{}` | {} | {} | {} |\n",
                f["check"].as_str().unwrap_or("?"),
                f["severity"].as_str().unwrap_or("?"),
                f["count"].as_u64().unwrap_or(1),
                f["message"]
                    .as_str()
                    .unwrap_or("")
                    .replace('|', "\\|")
                    .replace('\n', " ")
            ));
        }
    }
    if !server_rows.is_empty() {
        text.push_str("\nServer-wide findings (outside every scenario's own checks, each once):\n\n| server | check | severity | times | message |\n| --- | --- | --- | --- | --- |\n");
        text.push_str(&server_rows);
    }
    text
}

/// The server × scenario matrix from several JSON run reports.
pub fn matrix(reports: &[serde_json::Value]) -> String {
    let servers: Vec<String> = reports
        .iter()
        .map(|r| r["server"].as_str().unwrap_or("?").to_string())
        .collect();
    let ids = scenario_ids(reports);
    let mut h = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>imapspec matrix</title><style>{STYLE}</style></head><body><h1>imapspec: server × scenario</h1><table id=\"summary\"><tr><th>scenario</th>"
    );
    for s in &servers {
        let _ = write!(h, "<th>{}</th>", escape(s));
    }
    h.push_str("</tr>");
    for id in &ids {
        let _ = write!(h, "<tr><td>{}</td>", escape(id));
        for r in reports {
            let hit = r["results"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["id"].as_str() == Some(id)));
            let (status, checks) = match hit {
                Some(x) => {
                    let mut c: Vec<String> = x["findings"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .filter_map(|f| f["check"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    c.sort();
                    c.dedup();
                    let mut text = c.join(", ");
                    let others: Vec<&str> = x["other_checks"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    if !others.is_empty() {
                        text.push_str(&format!(" (also: {})", others.join(", ")));
                    }
                    (x["status"].as_str().unwrap_or("?").to_string(), text)
                }
                None => ("—".to_string(), String::new()),
            };
            let _ = write!(
                h,
                "<td class=\"{}\">{} {}</td>",
                escape(&status),
                escape(&status),
                escape(&checks)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    // Per server, the deviations outside every scenario's own checks, once each.
    h.push_str("<h2>Server-wide findings</h2><table><tr><th>server</th><th>check</th><th>severity</th><th>times</th><th>scenarios</th><th>message</th></tr>");
    for (r, server) in reports.iter().zip(&servers) {
        for f in r["server_findings"].as_array().into_iter().flatten() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(server),
                escape(f["check"].as_str().unwrap_or("?")),
                escape(f["severity"].as_str().unwrap_or("?")),
                f["count"].as_u64().unwrap_or(1),
                f["seen_in"].as_array().map_or(0, |a| a.len()),
                escape(f["message"].as_str().unwrap_or(""))
            );
        }
    }
    h.push_str("</table></body></html>\n");
    h
}
