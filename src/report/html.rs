//! One self-contained HTML page a person reads at a glance (no external assets,
//! no network; plain JS for the filters): the summary; a client × check grid
//! ("which client breaks, and how"), each cell the worst that check did in that
//! client's scenarios; filters by status and client; then the scenarios,
//! failures first, each finding with the transcript lines around it and the
//! offending line marked, baselined deviations marked "known". The same page
//! for a server matrix made by `report merge` (the grid's cells name servers).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checks;
use crate::finding::Severity;
use crate::results::{RunReport, ScenarioResult, Status, Verdict};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1400px}\
h1{font-size:1.4em;margin-bottom:.3em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em;padding:.3em .5em;margin:1.2em 0 .4em}\
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
.passed,.c-pass{background:#e6f4ea}.failed,.c-fail{background:#fce8e6}.skipped,.inconclusive,.c-warn{background:#fef7e0}.error{background:#f3e8fd}\
.known,.c-known{background:#fff0d0}.c-none{background:#fafafa;color:#bbb}\
td.c{text-align:center;white-space:nowrap;font-size:.9em}td.c a{color:inherit;text-decoration:none}\
th.v{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.85em;padding:.4em .2em;white-space:nowrap}\
pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:.82em;margin:.3em 0}mark{background:#ffd54f;display:inline-block;min-width:100%}\
details{margin:.4em 0}summary{cursor:pointer}.finding{border-left:4px solid #d93025;padding:.1em .8em;margin:.6em 0}\
.finding.kn{border-left-color:#f29900}.finding.w{border-left-color:#fbbc04}.tag{font-size:.75em;padding:.05em .4em;border-radius:.3em;background:#f29900;color:#fff;margin-left:.4em}\
.banner{background:#fce8e6;border:1px solid #d93025;padding:.5em .8em;margin:.6em 0}#filters{margin:.8em 0;padding:.4em .6em;background:#f1f3f4;display:inline-block}\
#filters label{margin-right:1em}.legend{font-size:.85em;color:#555}";

/// The filters: hide every element with `data-status`/`data-client` that does
/// not match (statuses are space-separated: a matrix row has one per server).
/// `?status=failed&client=NAME` in the page's address presets them.
const SCRIPT: &str = "function imapspecFilter(){\
var s=document.getElementById('f-status').value,c=document.getElementById('f-client').value;\
document.querySelectorAll('[data-status]').forEach(function(e){\
var ok=(s===''||e.getAttribute('data-status').split(' ').indexOf(s)>=0)&&(c===''||e.getAttribute('data-client')===c);\
e.style.display=ok?'':'none';});\
document.querySelectorAll('tr[data-grid-client]').forEach(function(e){\
e.style.display=(c===''||e.getAttribute('data-grid-client')===c)?'':'none';});}\
document.getElementById('f-status').addEventListener('change',imapspecFilter);\
document.getElementById('f-client').addEventListener('change',imapspecFilter);\
(function(){var q=new URLSearchParams(location.search);\
if(q.has('status'))document.getElementById('f-status').value=q.get('status');\
if(q.has('client'))document.getElementById('f-client').value=q.get('client');\
imapspecFilter();})();";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Most transcript lines shown per scenario.
const MAX_LINES: usize = 400;

/// What a check did in a client's scenarios, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    None,
    Pass,
    Warn,
    Known,
    Fail,
}

impl Cell {
    fn class(self) -> &'static str {
        match self {
            Cell::None => "c-none",
            Cell::Pass => "c-pass",
            Cell::Warn => "c-warn",
            Cell::Known => "c-known",
            Cell::Fail => "c-fail",
        }
    }
}

/// The grid's column for the scenarios' own expectations (the MUST / SHOULD
/// lines of the scenario files), beside the checks.
const EXPECTATIONS: &str = "scenario expectations";

/// One (client, check) cell of one report.
#[derive(Debug, Clone)]
struct Mark {
    cell: Cell,
    count: usize,
    /// The first finding of the worst kind, and the scenario it was in.
    first: Option<(String, String)>,
}

type Grid = BTreeMap<(String, &'static str), Mark>;

/// Records one observation in a cell: the worst kind wins, counted.
fn put(
    g: &mut Grid,
    client: &str,
    check: &'static str,
    cell: Cell,
    first: Option<(String, String)>,
) {
    let m = g.entry((client.to_string(), check)).or_insert(Mark {
        cell: Cell::None,
        count: 0,
        first: None,
    });
    if cell > m.cell {
        m.cell = cell;
        m.count = usize::from(cell >= Cell::Warn);
        m.first = first;
    } else if cell == m.cell && cell >= Cell::Warn {
        m.count += 1;
    }
}

/// The grid of one report: (client, check) → mark.
fn grid_of(report: &RunReport) -> Grid {
    let mut g = Grid::new();
    let cell_of = |fails: bool, known: bool| match (fails, known) {
        (false, _) => Cell::Warn,
        (true, true) => Cell::Known,
        (true, false) => Cell::Fail,
    };
    for r in &report.results {
        let c = r.client.as_str();
        if matches!(r.status, Status::Passed | Status::Failed) {
            put(&mut g, c, EXPECTATIONS, Cell::Pass, None);
            for t in &r.targets {
                if let Some(i) = checks::info(t) {
                    put(&mut g, c, i.id, Cell::Pass, None);
                }
            }
        }
        // The scenario's own expectations, as one column.
        for f in &r.failures {
            if !f.fails(report.strict) && f.level == crate::finding::Level::May {
                continue;
            }
            let cell = cell_of(
                f.fails(report.strict),
                report.known_scenario(&r.id).is_some(),
            );
            let first = (
                r.id.clone(),
                format!("{}:{}: {}", f.file, f.line, f.message),
            );
            put(&mut g, c, EXPECTATIONS, cell, Some(first));
        }
        for f in &r.findings {
            let fails = f.severity == Severity::Violation || report.strict;
            let cell = cell_of(fails, report.known_finding(r, f).is_some());
            put(
                &mut g,
                c,
                f.check,
                cell,
                Some((r.id.clone(), f.message.clone())),
            );
        }
        for f in &r.other_findings {
            let fails = f.severity == Severity::Violation || report.strict;
            let cell = cell_of(fails, report.known_check(f.check).is_some());
            put(
                &mut g,
                c,
                f.check,
                cell,
                Some((r.id.clone(), f.message.clone())),
            );
        }
    }
    g
}

/// The client × check grid over one report or several (a matrix: each cell
/// names the servers where the check failed there).
fn grid(h: &mut String, reports: &[&RunReport]) {
    let grids: Vec<_> = reports.iter().map(|r| grid_of(r)).collect();
    // Servers by --server-name, or by address where two share a name.
    let labels: Vec<String> = reports
        .iter()
        .map(|r| {
            let shared = reports
                .iter()
                .filter(|o| o.server_name == r.server_name)
                .count()
                > 1;
            if shared {
                r.server.clone()
            } else {
                r.server_name.clone()
            }
        })
        .collect();
    let mut worst_check: BTreeMap<&'static str, Cell> = BTreeMap::new();
    let mut worst_client: BTreeMap<String, Cell> = BTreeMap::new();
    for g in &grids {
        for ((client, check), m) in g {
            let w = worst_check.entry(check).or_insert(Cell::None);
            *w = (*w).max(m.cell);
            let w = worst_client.entry(client.clone()).or_insert(Cell::None);
            *w = (*w).max(m.cell);
        }
    }
    if worst_check.is_empty() {
        return;
    }
    // The expectations column first among equals, then the registry's order.
    let registry = |id: &str| {
        if id == EXPECTATIONS {
            0
        } else {
            checks::CHECKS
                .iter()
                .position(|c| c.id == id)
                .map_or(usize::MAX, |p| p + 1)
        }
    };
    let mut cols: Vec<(&'static str, Cell)> = worst_check.into_iter().collect();
    cols.sort_by_key(|(id, c)| (std::cmp::Reverse(*c), registry(id)));
    let mut rows: Vec<(String, Cell)> = worst_client.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    h.push_str("<h2 id=\"grid\">Which client breaks, and how</h2><p class=\"legend\">Each cell: what that check found in the scenarios of that client \
                (✗ a violation, known = baselined, ! a warning, ✓ exercised and held, blank: not exercised). Hover for the first finding; click for the scenario.</p>\
                <table id=\"client-grid\"><tr><th>client</th>");
    for (id, _) in &cols {
        let _ = write!(
            h,
            "<th class=\"v\" title=\"{}\">{}</th>",
            escape(checks::info(id).map_or(
                "The scenario's own expectations: the MUST / SHOULD lines of its file.",
                |i| i.rule
            )),
            escape(id)
        );
    }
    h.push_str("</tr>");
    for (client, _) in &rows {
        let _ = write!(
            h,
            "<tr data-grid-client=\"{c}\"><th>{c}</th>",
            c = escape(client)
        );
        for (check, _) in &cols {
            let marks: Vec<(usize, &Mark)> = grids
                .iter()
                .enumerate()
                .filter_map(|(i, g)| g.get(&(client.clone(), *check)).map(|m| (i, m)))
                .collect();
            let worst = marks
                .iter()
                .map(|(_, m)| m.cell)
                .max()
                .unwrap_or(Cell::None);
            let first = marks
                .iter()
                .filter(|(_, m)| m.cell == worst)
                .find_map(|(_, m)| m.first.clone());
            let text = if reports.len() > 1 {
                let bad: Vec<&str> = marks
                    .iter()
                    .filter(|(_, m)| m.cell >= Cell::Warn)
                    .map(|(i, _)| labels[*i].as_str())
                    .collect();
                match worst {
                    Cell::None => String::new(),
                    Cell::Pass => "✓".to_string(),
                    _ => bad.join(" "),
                }
            } else {
                let n: usize = marks.iter().map(|(_, m)| m.count).sum();
                match worst {
                    Cell::None => String::new(),
                    Cell::Pass => "✓".to_string(),
                    Cell::Warn => format!("! {n}"),
                    Cell::Known => format!("known {n}"),
                    Cell::Fail => format!("✗ {n}"),
                }
            };
            let (title, link) = match &first {
                Some((scenario, message)) => (
                    format!("{scenario}: {message}"),
                    (reports.len() == 1).then(|| scenario.clone()),
                ),
                None => (String::new(), None),
            };
            let inner = match link {
                Some(id) => format!("<a href=\"#{}\">{}</a>", escape(&id), escape(&text)),
                None => escape(&text),
            };
            let _ = write!(
                h,
                "<td class=\"c {}\" title=\"{}\">{inner}</td>",
                worst.class(),
                escape(&title)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    // How each failing check breaks clients, in words.
    let failing: Vec<&(&'static str, Cell)> = cols
        .iter()
        .filter(|(id, c)| *c >= Cell::Known && *id != EXPECTATIONS)
        .collect();
    if !failing.is_empty() {
        h.push_str("<table id=\"how\"><tr><th>check</th><th>RFC</th><th>rule</th><th>clients hurt</th></tr>");
        for (id, c) in failing {
            let i = checks::info(id);
            let _ = write!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.class(),
                escape(id),
                escape(i.map_or("", |i| i.rfc)),
                escape(i.map_or("", |i| i.rule)),
                escape(i.map_or("", |i| i.clients))
            );
        }
        h.push_str("</table>");
    }
}

/// The filters, with every status and client of the page.
fn filters(h: &mut String, statuses: &[&str], clients: &[String]) {
    h.push_str(
        "<div id=\"filters\"><label>status <select id=\"f-status\"><option value=\"\">all</option>",
    );
    for s in statuses {
        let _ = write!(h, "<option value=\"{s}\">{s}</option>");
    }
    h.push_str(
        "</select></label><label>client <select id=\"f-client\"><option value=\"\">all</option>",
    );
    for c in clients {
        let _ = write!(h, "<option value=\"{c}\">{c}</option>", c = escape(c));
    }
    h.push_str("</select></label></div>");
}

const STATUSES: [&str; 6] = [
    "failed",
    "known",
    "error",
    "inconclusive",
    "skipped",
    "passed",
];

/// A scenario's status for the page: `known` for a baselined failure.
fn shown_status(report: &RunReport, r: &ScenarioResult) -> &'static str {
    if !report.known_result(r).is_empty() {
        "known"
    } else {
        r.status.as_str()
    }
}

fn rank(s: &str) -> usize {
    STATUSES
        .iter()
        .position(|x| *x == s)
        .unwrap_or(STATUSES.len())
}

fn clients_of(reports: &[&RunReport]) -> Vec<String> {
    let mut c: Vec<String> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(|x| x.client.clone()))
        .collect();
    c.sort();
    c.dedup();
    c
}

fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

fn fixed_banner(h: &mut String, report: &RunReport) {
    let Some(b) = &report.baseline else {
        return;
    };
    for (d, v) in report.verdicts() {
        if v == Verdict::Fixed {
            let _ = write!(
                h,
                "<div class=\"banner\"><b>fixed — remove it from the baseline:</b> {} ({}) did not occur in this run. Reason given: {}</div>",
                escape(&b.place(d)),
                escape(&d.names()),
                escape(&d.reason)
            );
        }
    }
}

/// A run's counts as summary-table cells, from scenarios to server-wide
/// findings (failed counts only the failures not in the baseline).
fn summary_cells(s: &super::run::RunSummary) -> String {
    format!(
        "<td>{}</td><td class=\"passed\">{}</td><td class=\"failed\">{}</td><td class=\"known\">{}</td><td class=\"skipped\">{}</td><td class=\"inconclusive\">{}</td><td class=\"error\">{}</td><td>{} violations, {} warnings</td>",
        s.total,
        s.passed,
        s.failed - s.known.min(s.failed),
        s.known,
        s.skipped,
        s.inconclusive,
        s.error,
        s.server_violations,
        s.server_warnings
    )
}

pub fn render(report: &RunReport) -> String {
    let s = super::run::summary(report);
    let mut h = String::new();
    head(&mut h, "imapspec report");
    let _ = write!(
        h,
        "<h1>imapspec: {} <small>({})</small></h1><table id=\"summary\"><tr><th>scenarios</th><th>passed</th><th>failed</th><th>known</th><th>skipped</th><th>inconclusive</th><th>errors</th><th>server-wide</th><th>time</th></tr>\
         <tr>{}<td>{:.1} s</td></tr></table>",
        escape(&report.server),
        escape(&report.server_name),
        summary_cells(&s),
        report.millis as f64 / 1000.0
    );
    let verdict = if report.fails() {
        ("failed", "the run fails")
    } else {
        ("passed", "the run passes")
    };
    let _ = write!(
        h,
        "<p class=\"{}\" id=\"verdict\"><b>{}</b></p>",
        verdict.0, verdict.1
    );
    fixed_banner(&mut h, report);
    grid(&mut h, &[report]);
    let mut results: Vec<&ScenarioResult> = report.results.iter().collect();
    results.sort_by_key(|r| (rank(shown_status(report, r)), r.id.clone()));
    h.push_str("<h2>Scenarios</h2>");
    filters(&mut h, &STATUSES, &clients_of(&[report]));
    h.push_str("<table id=\"scenarios\"><tr><th>scenario</th><th>client</th><th>source</th><th>status</th><th>checks</th></tr>");
    for r in &results {
        let st = shown_status(report, r);
        let mut ids: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
        ids.sort();
        ids.dedup();
        let _ = write!(
            h,
            "<tr class=\"{st}\" data-status=\"{st}\" data-client=\"{c}\"><td><a href=\"#{id}\">{id}</a></td><td>{c}</td><td>{}</td><td>{st}</td><td>{}</td></tr>",
            escape(&r.source),
            escape(&ids.join(", ")),
            c = escape(&r.client),
            id = escape(&r.id),
        );
    }
    h.push_str("</table>");
    for r in &results {
        scenario_html(&mut h, report, r);
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
            let known = report.known_check(g.first.check);
            finding_html(&mut h, report, g, known);
        }
    }
    baseline_table(&mut h, report);
    let _ = writeln!(h, "<script>{SCRIPT}</script></body></html>");
    h
}

fn baseline_table(h: &mut String, report: &RunReport) {
    let Some(b) = &report.baseline else {
        return;
    };
    let _ = write!(h, "<h2 id=\"baseline\">Baseline {}</h2><table><tr><th>entry</th><th>names</th><th>verdict</th><th>reason</th></tr>", escape(&b.file));
    for (d, v) in report.verdicts() {
        let (class, text) = match &v {
            Verdict::Fixed => ("failed", "fixed — remove it from the baseline".to_string()),
            Verdict::Occurred(n) => ("known", format!("known, occurred ({n})")),
            Verdict::NotJudged(why) => ("skipped", format!("not judged: {why}")),
            Verdict::OtherServer => ("skipped", "for another server".to_string()),
        };
        let _ = write!(
            h,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.place(d)),
            escape(&d.names()),
            escape(&text),
            escape(&d.reason)
        );
    }
    h.push_str("</table>");
}

fn scenario_html(h: &mut String, report: &RunReport, r: &ScenarioResult) {
    let st = shown_status(report, r);
    let _ = write!(
        h,
        "<section data-status=\"{st}\" data-client=\"{}\"><h3 id=\"{id}\" class=\"{st}\">{st}: {id} — {} <small>({}; {})</small></h3>",
        escape(&r.client),
        escape(&r.title),
        escape(&r.client),
        escape(&r.source),
        id = escape(&r.id),
    );
    if let Some(why) = &r.reason {
        let _ = write!(h, "<p>{}</p>", escape(why));
    }
    if let Some(k) = super::run::known_reason(report, r) {
        let _ = write!(
            h,
            "<p class=\"known\">known deviation (baseline): {}</p>",
            escape(&k)
        );
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
    let mut folded = super::fold(r.findings.iter().map(|f| (r.id.as_str(), f)));
    // Violations before warnings.
    folded.sort_by_key(|g| std::cmp::Reverse(g.first.severity));
    for g in folded {
        marked.extend(g.locations.iter().map(|o| o.line));
        finding_html(h, report, &g, report.known_finding(r, g.first));
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
            let open = if r.status == Status::Passed || !marked.is_empty() {
                ""
            } else {
                " open"
            };
            let _ = write!(
                h,
                "<details{open}><summary>whole transcript ({})</summary><pre>",
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
    h.push_str("</section>");
}

fn finding_html(
    h: &mut String,
    report: &RunReport,
    g: &super::Folded<'_>,
    known: Option<&crate::baseline::Deviation>,
) {
    let f = g.first;
    let info = checks::info(f.check);
    let times = if g.count > 1 {
        format!("<br>{}", escape(&super::terminal::repeats(g)))
    } else {
        String::new()
    };
    let (class, tag) = match (known, &report.baseline) {
        (Some(d), Some(b)) => (
            "finding kn",
            format!(
                "<span class=\"tag\">known</span><br><i>known deviation ({}):</i> {}",
                escape(&b.place(d)),
                escape(&d.reason)
            ),
        ),
        _ if f.severity == Severity::Warning => ("finding w", String::new()),
        _ => ("finding", String::new()),
    };
    let _ = write!(
        h,
        "<div class=\"{class}\"><b>{} {}</b> ({}) at {}{tag}<br>{}{times}<br><i>rule:</i> {}<br><i>client impact:</i> {}",
        f.severity.as_str(),
        escape(f.check),
        escape(info.map_or("", |i| i.rfc)),
        escape(&f.origin.to_string()),
        escape(&f.message),
        escape(info.map_or("", |i| i.rule)),
        escape(f.client_impact.as_deref().or(info.map(|i| i.clients)).unwrap_or("")),
    );
    // The transcript lines around it, the offending one marked.
    let lines = super::run::context(&f.origin.file, f.origin.line, 4, 2);
    if !lines.is_empty() {
        h.push_str("<pre>");
        for (n, l, mark) in lines {
            if mark {
                let _ = writeln!(h, "<mark>{n:>5} | {}</mark>", escape(&l));
            } else {
                let _ = writeln!(h, "{n:>5} | {}", escape(&l));
            }
        }
        h.push_str("</pre>");
    } else if !f.line.is_empty() {
        let _ = write!(
            h,
            "<pre><mark>{:>5} | {}</mark></pre>",
            f.origin.line,
            escape(&f.line)
        );
    }
    h.push_str("</div>");
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

/// The server × scenario matrix from several runs (one per server): the same
/// page as a run's, the grid's cells naming the servers where a check failed.
pub fn matrix(reports: &[RunReport], notes: &super::matrix::Notes) -> String {
    let refs: Vec<&RunReport> = reports.iter().collect();
    let mut h = String::new();
    head(&mut h, "imapspec matrix");
    h.push_str("<h1>imapspec: server × scenario</h1><table id=\"summary\"><tr><th>server</th><th>name</th><th>scenarios</th><th>passed</th><th>failed</th><th>known</th><th>skipped</th><th>inconclusive</th><th>errors</th><th>server-wide</th></tr>");
    for r in reports {
        let s = super::run::summary(r);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td>{}</tr>",
            escape(&r.server),
            escape(&r.server_name),
            summary_cells(&s)
        );
    }
    h.push_str("</table>");
    for r in reports {
        fixed_banner(&mut h, r);
    }
    grid(&mut h, &refs);
    let mut ids: Vec<(String, String)> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(|x| (x.id.clone(), x.client.clone())))
        .collect();
    ids.sort();
    ids.dedup_by(|a, b| a.0 == b.0);
    // Rows with a failure first.
    let worst = |id: &str| {
        reports
            .iter()
            .filter_map(|r| {
                r.results
                    .iter()
                    .find(|x| x.id == id)
                    .map(|x| rank(shown_status(r, x)))
            })
            .min()
            .unwrap_or(STATUSES.len())
    };
    ids.sort_by_key(|(id, _)| (worst(id), id.clone()));
    h.push_str("<h2>Scenarios</h2>");
    filters(&mut h, &STATUSES, &clients_of(&refs));
    h.push_str("<table id=\"matrix\"><tr><th>scenario</th><th>client</th>");
    for r in reports {
        let _ = write!(h, "<th>{}</th>", escape(&r.server_name));
    }
    h.push_str("</tr>");
    for (id, client) in &ids {
        let mut statuses: Vec<&str> = Vec::new();
        let mut cells = String::new();
        for r in reports {
            let (status, text) = match r.results.iter().find(|x| &x.id == id) {
                Some(x) => {
                    let st = shown_status(r, x);
                    statuses.push(st);
                    let mut c: Vec<&str> = x.findings.iter().map(|f| f.check).collect();
                    c.sort();
                    c.dedup();
                    let mut text = c.join(", ");
                    let others = super::run::other_checks(x);
                    if !others.is_empty() {
                        text.push_str(&format!(" (also: {})", others.join(", ")));
                    }
                    // Why it is not `passed`, in a sentence (see report::matrix).
                    if let Some(why) = super::matrix::why(r, x) {
                        text.push_str(&format!(" — {why}"));
                    }
                    if let Some(note) = notes.get(&r.server_name, id) {
                        text.push_str(&format!(" — {note}"));
                    }
                    if let Some(k) = super::run::known_reason(r, x) {
                        text.push_str(&format!(" known: {k}"));
                    }
                    (st, text)
                }
                None => (
                    "not run",
                    notes
                        .get(&r.server_name, id)
                        .unwrap_or_default()
                        .to_string(),
                ),
            };
            let _ = write!(
                cells,
                "<td class=\"{}\">{} {}</td>",
                escape(status),
                escape(status),
                escape(&text)
            );
        }
        statuses.sort();
        statuses.dedup();
        let _ = write!(
            h,
            "<tr data-status=\"{}\" data-client=\"{c}\"><td>{}</td><td>{c}</td>{cells}</tr>",
            statuses.join(" "),
            escape(id),
            c = escape(client)
        );
    }
    h.push_str("</table>");
    // Per server, the deviations outside every scenario's own checks, once each.
    h.push_str("<h2>Server-wide findings</h2><table><tr><th>server</th><th>check</th><th>severity</th><th>times</th><th>scenarios</th><th>message</th></tr>");
    for r in reports {
        for g in super::run::server_folded(r) {
            let known = if r.known_check(g.first.check).is_some() {
                " (known)"
            } else {
                ""
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}{known}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.server),
                escape(g.first.check),
                g.first.severity.as_str(),
                g.count,
                g.seen_in.len(),
                escape(&g.first.message)
            );
        }
    }
    let _ = writeln!(h, "</table><script>{SCRIPT}</script></body></html>");
    h
}
