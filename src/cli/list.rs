//! `imapspec list`: the checks, with ids, RFC sections and the clients they protect.

use clap::Args;

use super::Exit;
use crate::checks::{Judged, CHECKS};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders to list (default: the bundled scenarios/).
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ListArgs) -> Exit {
    let scenarios = match super::run::load(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    if args.json {
        let list: Vec<serde_json::Value> = scenarios
            .iter()
            .map(|s| {
                let levels: Vec<serde_json::Value> = levels(&s.steps)
                    .into_iter()
                    .map(|(line, l)| serde_json::json!({ "line": line, "level": l.keyword, "quote": l.quote }))
                    .collect();
                serde_json::json!({
                    "id": s.id, "title": s.title, "client": s.client, "source": s.source,
                    "targets": s.targets, "requires": s.requires, "file": s.file.display().to_string(),
                    "levels": levels,
                })
            })
            .collect();
        match serde_json::to_string_pretty(
            &serde_json::json!({ "checks": CHECKS, "scenarios": list }),
        ) {
            Ok(s) => super::outln!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the check list: {e}");
                return Exit::Usage;
            }
        }
        return Exit::Ok;
    }
    super::outln!("scenarios ({}):", scenarios.len());
    for s in &scenarios {
        super::outln!("  {:<48} {:<28} {}", s.id, s.client, s.source);
        super::outln!("  {:<48} {}", "", s.title);
        if !s.targets.is_empty() {
            super::outln!("  {:<48} checks: {}", "", s.targets.join(", "));
        }
        for (line, level) in levels(&s.steps) {
            super::outln!(
                "  {:<48} line {line}: {} — {}",
                "",
                level.keyword.as_str(),
                level.quote.as_deref().unwrap_or("")
            );
        }
    }
    super::out(
        "
",
    );
    super::outln!("checks ({}):", CHECKS.len());
    for c in CHECKS {
        let how = match c.judged {
            Judged::Transcript => "",
            Judged::Scenario => "  [needs a scenario]",
        };
        super::outln!(
            "  {:<28} {:<6} {:<9} {:<28} {}{how}",
            c.id,
            c.level.as_str(),
            c.severity.as_str(),
            c.rfc,
            c.rule
        );
        if !c.quote.is_empty() {
            super::outln!(
                "  {:<28} {:<6} {:<9} {:<28} \"{}\"",
                "",
                "",
                "",
                "",
                c.quote
            );
        }
        if !c.clients.is_empty() {
            super::outln!(
                "  {:<28} {:<6} {:<9} {:<28} clients: {}",
                "",
                "",
                "",
                "",
                c.clients
            );
        }
    }
    Exit::Ok
}

/// The expectations of a scenario that are not MUST (and any MUST that quotes
/// its sentence), with their lines: what `list` shows of a scenario's levels.
fn levels(steps: &[crate::scenario::Step]) -> Vec<(u64, crate::scenario::Level)> {
    let mut out = Vec::new();
    for st in steps {
        if let crate::scenario::Action::Repeat { body, .. } = &st.action {
            out.extend(levels(body));
        }
        if st.level.quote.is_some() {
            out.push((st.line, st.level.clone()));
        }
        for e in st
            .must
            .iter()
            .chain(&st.must_not)
            .chain(&st.capture)
            .chain(&st.seen)
        {
            if e.level.quote.is_some() {
                out.push((e.line, e.level.clone()));
            }
        }
    }
    out
}
