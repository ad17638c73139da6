//! `imapspec list`: the checks, with ids, RFC sections and the clients they protect.

use clap::Args;

use super::Exit;
use crate::checks::{Judged, CHECKS};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ListArgs) -> Exit {
    if args.json {
        match serde_json::to_string_pretty(&serde_json::json!({ "checks": CHECKS })) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the check list: {e}");
                return Exit::Usage;
            }
        }
        return Exit::Ok;
    }
    println!("checks ({}):", CHECKS.len());
    for c in CHECKS {
        let how = match c.judged {
            Judged::Transcript => "",
            Judged::Scenario => "  [needs a scenario]",
        };
        println!(
            "  {:<28} {:<9} {:<28} {}{how}",
            c.id,
            c.severity.as_str(),
            c.rfc,
            c.rule
        );
        if !c.clients.is_empty() {
            println!("  {:<28} {:<9} {:<28} clients: {}", "", "", "", c.clients);
        }
    }
    Exit::Ok
}
