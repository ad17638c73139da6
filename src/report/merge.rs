//! Reading JSON run reports back into a [`RunReport`], and joining the reports
//! of `--partition K/N` runs into the report of the whole run: from it every
//! format (JSON, JUnit, HTML, Markdown) is rendered as for an unsharded run.

use std::sync::Arc;

use serde_json::Value;

use crate::baseline::Baseline;
use crate::finding::{Finding, Severity};
use crate::results::{NamespaceInfo, PartitionInfo, RunReport, ScenarioResult};
use crate::source::Origin;

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("{what} has no `{key}`"))
}

fn text(v: &Value, key: &str, what: &str) -> Result<String, String> {
    field(v, key, what)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what}: `{key}` is not a string"))
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value, key: &str, what: &str) -> Result<T, String> {
    serde_json::from_value(field(v, key, what)?.clone())
        .map_err(|e| format!("{what}: bad `{key}`: {e}"))
}

/// A finding as `finding_json` wrote it.
fn finding(v: &Value, what: &str) -> Result<Finding, String> {
    let id = text(v, "check", what)?;
    let check = crate::checks::info(&id).map(|i| i.id).ok_or_else(|| {
        format!("{what}: unknown check id `{id}` (a report of another imapspec version?)")
    })?;
    let severity = match text(v, "severity", what)?.as_str() {
        "violation" => Severity::Violation,
        "warning" => Severity::Warning,
        other => return Err(format!("{what}: unknown severity `{other}`")),
    };
    Ok(Finding {
        check,
        severity,
        session: text(v, "session", what)?,
        origin: Origin {
            file: Arc::from(text(v, "file", what)?.as_str()),
            line: field(v, "line", what)?
                .as_u64()
                .ok_or_else(|| format!("{what}: `line` is not a number"))?,
        },
        line: text(v, "excerpt", what)?,
        message: text(v, "message", what)?,
        client_impact: opt_text(v, "client_impact"),
    })
}

fn findings(v: &Value, key: &str, what: &str) -> Result<Vec<Finding>, String> {
    let list = field(v, key, what)
        .map_err(|e| format!("{e} (written by an older imapspec: run it again with this one)"))?
        .as_array()
        .ok_or_else(|| format!("{what}: `{key}` is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, f)| finding(f, &format!("{what}, {key}[{i}]")))
        .collect()
}

/// A JSON report of `imapspec run` (schema 2, with `all_findings`), read back.
pub fn from_json(v: &Value) -> Result<RunReport, String> {
    let version = v.get("schema_version").and_then(Value::as_u64);
    if version != Some(u64::from(super::run::SCHEMA_VERSION)) || v["command"] != "run" {
        return Err(format!(
            "not an `imapspec run` report of schema_version {} (found schema_version {})",
            super::run::SCHEMA_VERSION,
            version.map_or("none".to_string(), |n| n.to_string())
        ));
    }
    let list = field(v, "results", "the report")?
        .as_array()
        .ok_or("the report's `results` is not a list")?;
    let mut results = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let what = format!("results[{i}]");
        results.push(ScenarioResult {
            id: text(r, "id", &what)?,
            title: text(r, "title", &what)?,
            client: text(r, "client", &what)?,
            source: text(r, "source", &what)?,
            file: text(r, "file", &what)?,
            targets: typed(r, "targets", &what)?,
            status: typed(r, "status", &what)?,
            reason: opt_text(r, "reason"),
            findings: findings(r, "all_findings", &what)?,
            other_findings: findings(r, "all_other_findings", &what)?,
            failures: typed(r, "failures", &what)?,
            transcript: opt_text(r, "transcript"),
            millis: r["millis"].as_u64().unwrap_or(0),
            // Reports from before imaptest scripts have none.
            cases: match r.get("cases") {
                None | Some(Value::Null) => Vec::new(),
                Some(_) => typed(r, "cases", &what)?,
            },
        });
    }
    let baseline = match v.get("baseline") {
        None | Some(Value::Null) => None,
        Some(b) => {
            let file = text(b, "file", "baseline")?;
            let deviations = field(b, "deviations", "baseline")?
                .as_array()
                .ok_or("baseline: `deviations` is not a list")?
                .iter()
                .map(|d| {
                    Ok(crate::baseline::Deviation {
                        line: d["line"].as_u64().ok_or("baseline entry without `line`")?,
                        check: opt_text(d, "check"),
                        scenario: opt_text(d, "scenario"),
                        server: opt_text(d, "server"),
                        reason: text(d, "reason", "baseline entry")?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Some(Baseline { file, deviations })
        }
    };
    let namespace: Option<NamespaceInfo> = match v.get("namespace") {
        None | Some(Value::Null) => None,
        Some(_) => typed(v, "namespace", "the report")?,
    };
    let partition: Option<PartitionInfo> = match v.get("partition") {
        None | Some(Value::Null) => None,
        Some(_) => typed(v, "partition", "the report")?,
    };
    let server = text(v, "server", "the report")?;
    Ok(RunReport {
        server_name: opt_text(v, "server_name").unwrap_or_else(|| server.clone()),
        server,
        results,
        millis: v["millis"].as_u64().unwrap_or(0),
        strict: v["strict"].as_bool().unwrap_or(false),
        namespace,
        timed_out: v["timed_out"].as_bool().unwrap_or(false),
        partition,
        baseline,
    })
}

/// Whether a report is one partition of a run.
pub fn is_partition(v: &Value) -> bool {
    v.get("partition").is_some_and(|p| !p.is_null())
}

/// Why the partitions' reports cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// A report of a whole run among partitions'.
    NotAPartition {
        file: String,
    },
    NoReports,
    /// Partitions of different N.
    MixedN {
        first: String,
        first_k: usize,
        first_n: usize,
        file: String,
        k: usize,
        n: usize,
    },
    OutOfRange {
        file: String,
        k: usize,
        n: usize,
    },
    /// One partition given twice.
    Twice {
        k: usize,
        n: usize,
        first: String,
        again: String,
    },
    /// Reports of different runs (server, name, --strict, baseline or scenario list).
    NotOneRun {
        first: String,
        file: String,
        what: String,
    },
    /// Partitions not given (`K/N` each).
    Missing {
        parts: Vec<String>,
        n: usize,
    },
    /// A scenario twice, in none, or outside the run's list.
    Scenario {
        message: String,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::NotAPartition { file } => write!(f, "{file} is not a partition's report (no `partition`): give only the reports of `imapspec run --partition K/N`, or only whole runs for a server matrix"),
            MergeError::NoReports => write!(f, "no reports to merge"),
            MergeError::MixedN { first, first_k, first_n, file, k, n } => write!(f, "mixed N: {first} is partition {first_k}/{first_n}, {file} is {k}/{n}: merge the partitions of one run"),
            MergeError::OutOfRange { file, k, n } => write!(f, "{file}: partition {k}/{n} is out of range"),
            MergeError::Twice { k, n, first, again } => write!(f, "partition {k}/{n} given twice: {first} and {again}"),
            MergeError::NotOneRun { first, file, what } => write!(f, "{first} and {file} are not partitions of one run: {what}"),
            MergeError::Missing { parts, n } => write!(f, "partition {} missing: give the reports of all {n} partitions", parts.join(", ")),
            MergeError::Scenario { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for MergeError {}

/// The reports of partitions 1..=N of one run (`name` is each one's file, for
/// messages), joined into the run's report: results in the whole run's order,
/// no partition, `millis` the longest partition's (they run side by side).
/// Every partition must be there once, with the same N, scenarios, server,
/// `--strict` and baseline.
pub fn partitions(reports: Vec<(String, RunReport)>) -> Result<RunReport, MergeError> {
    let mut parts: Vec<(String, RunReport, PartitionInfo)> = Vec::new();
    for (name, r) in reports {
        let p = r
            .partition
            .clone()
            .ok_or_else(|| MergeError::NotAPartition { file: name.clone() })?;
        parts.push((name, r, p));
    }
    let Some((first_name, first, first_p)) = parts.first().cloned() else {
        return Err(MergeError::NoReports);
    };
    let n = first_p.n;
    let mut by_k: Vec<Option<String>> = vec![None; n];
    for (name, r, p) in &parts {
        if p.n != n {
            return Err(MergeError::MixedN {
                first: first_name,
                first_k: first_p.k,
                first_n: first_p.n,
                file: name.clone(),
                k: p.k,
                n: p.n,
            });
        }
        if p.k == 0 || p.k > n {
            return Err(MergeError::OutOfRange {
                file: name.clone(),
                k: p.k,
                n: p.n,
            });
        }
        if let Some(other) = &by_k[p.k - 1] {
            return Err(MergeError::Twice {
                k: p.k,
                n,
                first: other.clone(),
                again: name.clone(),
            });
        }
        by_k[p.k - 1] = Some(name.clone());
        let same = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            if format!("{a:?}") == format!("{b:?}") {
                Ok(())
            } else {
                Err(MergeError::NotOneRun {
                    first: first_name.clone(),
                    file: name.clone(),
                    what: format!("their {what} differ ({a:?} vs {b:?})"),
                })
            }
        };
        same("servers", &first.server, &r.server)?;
        same("server names", &first.server_name, &r.server_name)?;
        same("--strict", &first.strict, &r.strict)?;
        same("baselines", &first.baseline, &r.baseline)?;
        if p.scenarios != first_p.scenarios {
            return Err(MergeError::NotOneRun {
                first: first_name.clone(),
                file: name.clone(),
                what: "they were dealt from different scenario lists".to_string(),
            });
        }
    }
    let missing: Vec<String> = by_k
        .iter()
        .enumerate()
        .filter(|(_, g)| g.is_none())
        .map(|(k, _)| format!("{}/{n}", k + 1))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { parts: missing, n });
    }
    let order = &first_p.scenarios;
    let mut slots: Vec<Option<ScenarioResult>> = vec![None; order.len()];
    let mut millis = 0;
    let mut namespace = None;
    let mut timed_out = false;
    for (name, r, _) in parts {
        millis = millis.max(r.millis);
        namespace = namespace.or(r.namespace);
        timed_out |= r.timed_out;
        for res in r.results {
            let i =
                order
                    .iter()
                    .position(|id| *id == res.id)
                    .ok_or_else(|| MergeError::Scenario {
                        message: format!(
                            "{name}: scenario `{}` is not in the run's scenario list",
                            res.id
                        ),
                    })?;
            if slots[i].is_some() {
                return Err(MergeError::Scenario {
                    message: format!("scenario `{}` is in two partitions", res.id),
                });
            }
            slots[i] = Some(res);
        }
    }
    let mut results = Vec::with_capacity(slots.len());
    for (id, s) in order.iter().zip(slots) {
        results.push(s.ok_or_else(|| MergeError::Scenario {
            message: format!(
                "scenario `{id}` is in no partition's report (a partition that was cut short?)"
            ),
        })?);
    }
    Ok(RunReport {
        server: first.server,
        server_name: first.server_name,
        partition: None,
        baseline: first.baseline,
        results,
        millis,
        strict: first.strict,
        namespace,
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;

    fn result(id: &str) -> ScenarioResult {
        ScenarioResult {
            id: id.to_string(),
            title: String::new(),
            client: "c".to_string(),
            source: String::new(),
            file: String::new(),
            targets: Vec::new(),
            status: Status::Passed,
            reason: None,
            findings: Vec::new(),
            other_findings: Vec::new(),
            failures: Vec::new(),
            transcript: None,
            millis: 5,
            cases: Vec::new(),
        }
    }

    fn part(k: usize, n: usize, ids: &[&str], all: &[&str]) -> RunReport {
        RunReport {
            server: "s".to_string(),
            server_name: "reference".to_string(),
            partition: Some(PartitionInfo {
                k,
                n,
                scenarios: all.iter().map(|s| s.to_string()).collect(),
            }),
            baseline: None,
            results: ids.iter().map(|i| result(i)).collect(),
            millis: 10 * k as u64,
            strict: false,
            namespace: None,
            timed_out: false,
        }
    }

    const ALL: [&str; 3] = ["a", "b", "c"];

    #[test]
    fn partitions_join_in_run_order() {
        let merged = partitions(vec![
            ("p2".into(), part(2, 2, &["b"], &ALL)),
            ("p1".into(), part(1, 2, &["c", "a"], &ALL)),
        ])
        .expect("joins");
        let ids: Vec<&str> = merged.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ALL);
        assert!(merged.partition.is_none());
        assert_eq!(merged.millis, 20, "the longest partition's");
    }

    #[test]
    fn what_cannot_be_joined_says_why() {
        let e =
            partitions(vec![("p1".into(), part(1, 2, &["a", "c"], &ALL))]).expect_err("missing");
        assert_eq!(
            e,
            MergeError::Missing {
                parts: vec!["2/2".into()],
                n: 2
            }
        );
        let e = partitions(vec![
            ("p1".into(), part(1, 2, &["a", "c"], &ALL)),
            ("again".into(), part(1, 2, &["a", "c"], &ALL)),
        ])
        .expect_err("twice");
        assert!(matches!(e, MergeError::Twice { k: 1, n: 2, .. }), "{e}");
        let e = partitions(vec![
            ("p1".into(), part(1, 2, &["a", "c"], &ALL)),
            ("q".into(), part(2, 3, &["b"], &ALL)),
        ])
        .expect_err("mixed");
        assert!(
            matches!(e, MergeError::MixedN { .. }) && e.to_string().starts_with("mixed N"),
            "{e}"
        );
        let mut whole = part(1, 1, &ALL, &ALL);
        whole.partition = None;
        let e = partitions(vec![("w".into(), whole)]).expect_err("whole run");
        assert!(matches!(e, MergeError::NotAPartition { .. }), "{e}");
        let mut other = part(2, 2, &["b"], &ALL);
        other.server_name = "dovecot".into();
        let e = partitions(vec![
            ("p1".into(), part(1, 2, &["a", "c"], &ALL)),
            ("p2".into(), other),
        ])
        .expect_err("other server");
        assert!(
            matches!(e, MergeError::NotOneRun { .. }) && e.to_string().contains("server names"),
            "{e}"
        );
        let e = partitions(vec![
            ("p1".into(), part(1, 2, &["a"], &ALL)),
            ("p2".into(), part(2, 2, &["b"], &ALL)),
        ])
        .expect_err("c in none");
        assert!(e.to_string().contains("`c` is in no partition"), "{e}");
    }

    #[test]
    fn a_report_reads_back_whole() {
        let mut r = part(1, 2, &["a"], &ALL);
        r.results[0].status = Status::Failed;
        r.results[0].findings.push(Finding {
            check: "uid.no-reuse",
            severity: Severity::Violation,
            session: "s".into(),
            origin: Origin {
                file: Arc::from("t"),
                line: 3,
            },
            line: "* 1 FETCH (UID 1)".into(),
            message: "m".into(),
            client_impact: None,
        });
        let v = crate::report::run::json(&r);
        let back = from_json(&v).expect("reads back");
        assert_eq!(crate::report::run::json(&back), v);
        let mut old = v.clone();
        old["schema_version"] = serde_json::json!(1);
        assert!(from_json(&old)
            .expect_err("old")
            .contains("schema_version 2"));
        let mut cut = v;
        cut["results"][0]
            .as_object_mut()
            .map(|o| o.remove("all_findings"));
        assert!(from_json(&cut).expect_err("cut").contains("older imapspec"));
    }
}
