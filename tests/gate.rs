//! What a CI gate relies on: `run --partition K/N` and `report merge` of the
//! partitions into reports equal to an unsharded run's; `run --baseline` with
//! known deviations (shown, not failing; a new one fails; one that no longer
//! occurs fails until removed) and `imapspec baseline` writing one.

mod support;

use std::path::{Path, PathBuf};

use support::imapspec;

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Sets aside what differs between two runs of the same scenarios against the
/// same server (see `report::run::RUN_SPECIFIC_FIELDS`): the transcript
/// folders, every `millis`, the run time shown, and the transcript text shown
/// in HTML (timestamps, and what the server made up: UIDVALIDITY, dates).
fn normalise(text: &str, dirs: &[&Path]) -> String {
    let mut t = text.to_string();
    for d in dirs {
        t = t.replace(s(d), "<transcripts>");
    }
    // A whole transcript shown in HTML is what the server said this time
    // (an IDLE's "still here" lines come as the clock ticks): set aside.
    let mut kept = String::with_capacity(t.len());
    let mut rest = t.as_str();
    while let Some(i) = rest.find("<summary>whole transcript") {
        kept.push_str(&rest[..i]);
        match rest[i..].find("</details>") {
            Some(j) => {
                kept.push_str("<summary>whole transcript</summary></details>");
                rest = &rest[i + j + "</details>".len()..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    kept.push_str(rest);
    // A transcript's first line shown follows `<pre>` on its line.
    let t = kept.replace("<pre>", "<pre>\n");
    let mut out = String::with_capacity(t.len());
    // Context lines around a marked one depend on timing (a poll more or
    // less under load moves them): a run of them compares as one "…".
    let mut in_context = false;
    for line in t.split_inclusive('\n') {
        // "  135 | 19.186 [poller] S: ..." → "  135 | …": a transcript line.
        match line.find(" | ") {
            Some(i)
                if line[..i]
                    .trim_start_matches("<mark>")
                    .trim()
                    .parse::<u64>()
                    .is_ok() =>
            {
                if line.contains("</mark>") {
                    in_context = false;
                    out.push_str(&line[..i]);
                    out.push_str(" | …</mark>");
                } else if !in_context {
                    in_context = true;
                    out.push_str("  … | …");
                } else {
                    continue;
                }
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => {
                in_context = false;
                out.push_str(line)
            }
        }
    }
    // "<td>3.4 s</td>": the run's wall time.
    let mut res = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find(" s</td>") {
        let head = &rest[..i];
        let cut = head.rfind("<td>").map_or(i, |j| j + 4);
        res.push_str(&rest[..cut]);
        res.push_str("T s</td>");
        rest = &rest[i + " s</td>".len()..];
    }
    res.push_str(rest);
    res
}

fn strip_millis(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("millis");
            m.values_mut().for_each(strip_millis);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_millis),
        _ => {}
    }
}

fn normalised_json(p: &Path, dirs: &[&Path]) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&normalise(&read(p), dirs)).expect("valid json");
    strip_millis(&mut v);
    v
}

/// What a run decided: per scenario its id, status and the checks of its
/// findings; the server-wide findings' checks; the summary; the exit.
fn verdict(v: &serde_json::Value) -> serde_json::Value {
    // A finding by its check, a failed expectation by its scenario line.
    let checks = |fs: &serde_json::Value| -> Vec<serde_json::Value> {
        let mut c: Vec<serde_json::Value> = fs
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f.get("check").unwrap_or(&f["line"]).clone())
                    .collect()
            })
            .unwrap_or_default();
        c.sort_by_key(|x| x.to_string());
        c
    };
    let results: Vec<serde_json::Value> = v["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r["id"], "status": r["status"],
                        "findings": checks(&r["findings"]),
                        "failures": checks(&r["failures"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "results": results,
        "server_findings": checks(&v["server_findings"]),
        "summary": v["summary"],
        "fails": v["fails"],
    })
}

/// Where two JSON values differ, one line per leaf: `path: a ≠ b`.
fn json_differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: String, out: &mut Vec<String>) {
        use serde_json::Value::{Array, Object};
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let null = serde_json::Value::Null;
                    let (p, q) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                    walk(p, q, format!("{at}.{k}"), out);
                }
            }
            (Array(x), Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{at}[{i}]"), out);
                }
            }
            _ if a != b => out.push(format!("{at}: {a} ≠ {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

struct Reports {
    json: PathBuf,
    junit: PathBuf,
    html: PathBuf,
    md: PathBuf,
}

fn reports(dir: &Path, name: &str) -> Reports {
    Reports {
        json: dir.join(format!("{name}.json")),
        junit: dir.join(format!("{name}.xml")),
        html: dir.join(format!("{name}.html")),
        md: dir.join(format!("{name}.md")),
    }
}

/// Most of the bundled suite (the 100,000-message and TLS scenarios left out:
/// they load the CPU so much on a busy 2-core machine that the compressed
/// clock's 60 ms pre-login timeout can fire), one fault on so there are
/// findings, scenario and server-wide, to merge.
const SUITE: [&str; 6] = [
    "scenarios/apple",
    "scenarios/outlook",
    "scenarios/outlook-express",
    "scenarios/rfc",
    "scenarios/thunderbird",
    "scenarios/windows-mail",
];

#[test]
fn three_partitions_merge_into_the_unsharded_run() {
    let dir = support::temp_dir("partitions");
    let (whole_t, parts_t) = (dir.join("t-whole"), dir.join("t-parts"));
    let whole = reports(&dir, "whole");
    let fault = "stale-noop-after-expunge";
    let mut whole_args = vec!["run", "-q", "--jobs", "2"];
    whole_args.extend(SUITE);
    whole_args.extend([
        "--fault",
        fault,
        "--report-json",
        s(&whole.json),
        "--report-junit",
        s(&whole.junit),
        "--report-html",
        s(&whole.html),
        "--report-md",
        s(&whole.md),
        "--transcripts",
        s(&whole_t),
    ]);
    let (whole_code, out, err) = imapspec(&whole_args);
    assert_eq!(whole_code, 1, "the fault fails the run\n{out}{err}");

    let mut part_files = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut codes = Vec::new();
    for k in 1..=3 {
        let p = dir.join(format!("p{k}.json"));
        let part = format!("{k}/3");
        let mut args = vec!["run", "-q", "--jobs", "2"];
        args.extend(SUITE);
        args.extend([
            "--fault",
            fault,
            "--partition",
            &part,
            "--report-json",
            s(&p),
            "--transcripts",
            s(&parts_t),
        ]);
        let (code, out, err) = imapspec(&args);
        assert!(code == 0 || code == 1, "{out}{err}");
        assert!(out.contains(&format!("(partition {k}/3)")), "{out}");
        codes.push(code);
        let v = json(&p);
        assert_eq!(v["partition"]["k"], k);
        assert_eq!(v["partition"]["n"], 3);
        let share: Vec<String> = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        assert!(!share.is_empty(), "partition {k} got no scenarios");
        ids.extend(share);
        part_files.push(p);
    }
    assert!(codes.contains(&1), "some partition has the failure");
    // Every scenario in exactly one partition.
    let whole_v = json(&whole.json);
    let mut want: Vec<String> = whole_v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert!(want.len() >= 25, "most of the bundled suite: {want:?}");
    want.sort();
    ids.sort();
    assert_eq!(ids, want);

    let merged = reports(&dir, "merged");
    let mut args = vec!["report", "merge"];
    // Given out of order: merge restores the run's order.
    args.extend([s(&part_files[2]), s(&part_files[0]), s(&part_files[1])]);
    args.extend([
        "--json",
        s(&merged.json),
        "--junit",
        s(&merged.junit),
        "--html",
        s(&merged.html),
        "--md",
        s(&merged.md),
    ]);
    let (code, out, err) = imapspec(&args);
    assert_eq!(
        code, whole_code,
        "the merged run exits as the whole run\n{out}{err}"
    );
    assert!(
        out.contains(&format!("{} scenarios against", want.len())),
        "{out}"
    );

    let dirs = [whole_t.as_path(), parts_t.as_path()];
    let merged_v = normalised_json(&merged.json, &dirs);
    // The merge changes nothing a partition found: each merged result is its
    // partition's, word for word.
    let mut from_parts = std::collections::BTreeMap::new();
    for p in &part_files {
        let v = normalised_json(p, &dirs);
        for r in v["results"].as_array().expect("results") {
            from_parts.insert(r["id"].as_str().unwrap_or("").to_string(), r.clone());
        }
    }
    for r in merged_v["results"].as_array().expect("results") {
        let id = r["id"].as_str().unwrap_or("");
        assert_eq!(
            Some(r),
            from_parts.get(id),
            "merged result {id} = its partition's"
        );
    }
    // And the merged run is the unsharded run's verdict: the same scenarios in
    // the same order, each with the same status and checks found, the same
    // server-wide findings and summary.
    let whole_nv = normalised_json(&whole.json, &dirs);
    let differences = json_differences(&merged_v, &whole_nv);
    assert_eq!(
        verdict(&merged_v),
        verdict(&whole_nv),
        "merged verdict = unsharded verdict; where the JSON differs:\n{}",
        differences.join("\n")
    );
    // Two runs agree word for word unless timing moved something (a poll more
    // or less under load shifts a finding's transcript line): the rendered
    // reports are compared when the JSON shows the runs alike.
    if !differences.is_empty() {
        eprintln!(
            "the runs differ beyond their verdict (timing); rendered reports not compared:\n{}",
            differences.join("\n")
        );
        return;
    }
    for (m, w, what) in [
        (&merged.junit, &whole.junit, "JUnit"),
        (&merged.md, &whole.md, "Markdown"),
        (&merged.html, &whole.html, "HTML"),
    ] {
        let (m, w) = (normalise(&read(m), &dirs), normalise(&read(w), &dirs));
        if m != w {
            let at = m
                .chars()
                .zip(w.chars())
                .position(|(a, b)| a != b)
                .unwrap_or(m.len().min(w.len()));
            let from = at.saturating_sub(200);
            panic!(
                "merged {what} differs from the unsharded run's at char {at}:\nmerged: {}\nwhole:  {}",
                m.chars().skip(from).take(400).collect::<String>(),
                w.chars().skip(from).take(400).collect::<String>()
            );
        }
    }
    // The comparison is not vacuous: the reports hold the findings.
    assert!(read(&merged.junit).contains("uid.no-reuse") && read(&merged.html).contains("<mark>"));
}

#[test]
fn merge_refuses_missing_duplicate_and_mixed_partitions() {
    let dir = support::temp_dir("merge-errors");
    let t = dir.join("t");
    let run = |part: &str, name: &str| {
        let p = dir.join(name);
        let (code, out, err) = imapspec(&[
            "run",
            "-q",
            "scenarios/rfc",
            "--partition",
            part,
            "--report-json",
            s(&p),
            "--transcripts",
            s(&t),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        p
    };
    let (a1, a2, a3) = (
        run("1/3", "a1.json"),
        run("2/3", "a2.json"),
        run("3/3", "a3.json"),
    );
    let b1 = run("1/2", "b1.json");

    let (code, out, err) = imapspec(&["report", "merge", s(&a1), s(&a2), s(&a3)]);
    assert_eq!(code, 0, "all three merge\n{out}{err}");

    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&a3)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("partition 2/3 missing"), "{err}");

    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&a2), s(&a2), s(&a3)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("partition 2/3 given twice"), "{err}");

    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&a2), s(&a3), s(&b1)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mixed N"), "{err}");

    let whole = dir.join("whole.json");
    let (code, _, _) = imapspec(&[
        "run",
        "-q",
        "scenarios/rfc",
        "--report-json",
        s(&whole),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&a2), s(&a3), s(&whole)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("some reports are partitions"), "{err}");

    let (code, _, err) = imapspec(&[
        "report",
        "merge",
        s(&whole),
        "--junit",
        s(&dir.join("x.xml")),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--json and --junit are for merging the partitions"),
        "{err}"
    );

    let mut old = json(&a2);
    old["schema_version"] = serde_json::json!(1);
    let old_file = dir.join("old.json");
    std::fs::write(&old_file, old.to_string()).expect("write");
    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&old_file), s(&a3)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("schema_version 2"), "{err}");

    // Partitions of another run (other scenarios) are not mixed in.
    let c2 = dir.join("c2.json");
    let (code, _, _) = imapspec(&[
        "run",
        "-q",
        "scenarios/outlook",
        "--partition",
        "2/3",
        "--report-json",
        s(&c2),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = imapspec(&["report", "merge", s(&a1), s(&c2), s(&a3)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not partitions of one run"), "{err}");
}

#[test]
fn bad_partitions_are_usage_errors() {
    for bad in ["0/3", "4/3", "1/0", "x/3", "3", "2/-1"] {
        let (code, _, err) = imapspec(&["run", "-q", "--partition", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("--partition") && err.contains("K/N"),
            "{bad}: {err}"
        );
    }
}

const FAULT: &str = "stale-noop-after-expunge";

#[test]
fn a_baseline_from_a_faulted_run_passes_it_and_fails_when_fixed_or_new() {
    let dir = support::temp_dir("baseline");
    let t = dir.join("t");
    let first = dir.join("first.json");
    let (code, out, err) = imapspec(&[
        "run",
        "-q",
        "scenarios/outlook",
        "--fault",
        FAULT,
        "--report-json",
        s(&first),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 1, "the fault fails the run\n{out}{err}");

    let base = dir.join("baseline.toml");
    let (code, out, err) = imapspec(&[
        "baseline",
        s(&first),
        "-o",
        s(&base),
        "--reason",
        "seed 000: lagging index (test)",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = read(&base);
    assert!(
        text.contains("check = \"uid.no-reuse\"") && text.contains("server = \"reference\""),
        "{text}"
    );
    assert!(
        text.contains("reason = \"seed 000: lagging index (test)\""),
        "{text}"
    );

    // The same fault with its baseline: passes, every deviation still shown.
    let r = reports(&dir, "known");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--fault",
        FAULT,
        "--baseline",
        s(&base),
        "--report-json",
        s(&r.json),
        "--report-junit",
        s(&r.junit),
        "--report-html",
        s(&r.html),
        "--report-md",
        s(&r.md),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 0, "known deviations do not fail\n{out}{err}");
    assert!(
        out.contains("FAILED (known deviation") && out.contains("uid.no-reuse"),
        "{out}"
    );
    assert!(out.contains("seed 000: lagging index (test)"), "{out}");
    let v = json(&r.json);
    assert_eq!(v["fails"], false);
    let failed: Vec<&serde_json::Value> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "still shown as failed");
    for r in &failed {
        assert_eq!(r["baselined"], true, "{r}");
        assert!(
            r["baseline_reason"]
                .as_str()
                .is_some_and(|w| w.contains("lagging index")),
            "{r}"
        );
        assert!(
            r["findings"]
                .as_array()
                .is_some_and(|f| f.iter().all(|f| f["baselined"] == true)),
            "{r}"
        );
    }
    assert!(v["server_findings"]
        .as_array()
        .is_some_and(|f| !f.is_empty() && f.iter().all(|f| f["baselined"] == true)));
    let xml = read(&r.junit);
    assert!(
        xml.contains("<skipped") && xml.contains("known deviation: seed 000"),
        "{xml:.2000}"
    );
    assert!(
        !xml.contains("<failure"),
        "nothing fails in JUnit: {xml:.3000}"
    );
    let page = read(&r.html);
    assert!(page.contains("class=\"tag\">known<") && page.contains("data-status=\"known\""));
    assert!(read(&r.md).contains("failed (known)"));

    // No fault, same baseline: every entry is fixed, and says so.
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--baseline",
        s(&base),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 1, "a fixed deviation fails until removed\n{out}{err}");
    let line = text
        .lines()
        .position(|l| l.starts_with("[[deviation]]"))
        .map(|i| i + 1)
        .expect("an entry");
    assert!(
        out.contains(&format!("{}:{line} (check = ", s(&base)))
            && out.contains("fixed — remove it from the baseline"),
        "{out}"
    );

    // A new finding (another fault) with the old baseline: fails, and the
    // new one is not known.
    let new = dir.join("new.json");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "scenarios/rfc/expunge-timing.toml",
        "--fault",
        "expunge-during-fetch",
        "--baseline",
        s(&base),
        "--report-json",
        s(&new),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&new);
    let timing = v["results"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == "rfc/expunge-timing"))
        .expect("the expunge scenario");
    assert_eq!(timing["status"], "failed");
    assert_eq!(timing["baselined"], false);

    // The same fault, one check entry removed from the baseline: that
    // finding is new again, nothing is fixed, and the run fails.
    let cut = dir.join("cut.toml");
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.contains("check = \"uid.no-reuse\""))
        .collect();
    std::fs::write(&cut, kept.join("\n\n")).expect("write");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--fault",
        FAULT,
        "--baseline",
        s(&cut),
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("FIXED"), "{out}");

    // Entries for another server do not apply here.
    let (code, out, err) = imapspec(&[
        "run",
        "-q",
        "scenarios/outlook",
        "--fault",
        FAULT,
        "--baseline",
        s(&base),
        "--server-name",
        "dovecot",
        "--transcripts",
        s(&t),
    ]);
    assert_eq!(code, 1, "{out}{err}");
}

#[test]
fn partitions_with_a_baseline_judge_only_what_they_ran() {
    let dir = support::temp_dir("baseline-parts");
    let t = dir.join("t");
    let base = dir.join("b.toml");
    // A scenario entry and a check entry for the faulted deviations.
    std::fs::write(
        &base,
        "[[deviation]]\nscenario = \"outlook/seed000-noop-75ms-after-expunge\"\nreason = \"known (test)\"\n\n\
         [[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"known (test)\"\n\n\
         [[deviation]]\ncheck = \"uid.strictly-ascending\"\nreason = \"known (test)\"\n\n\
         [[deviation]]\ncheck = \"uid.new-above-uidnext\"\nreason = \"known (test)\"\n",
    )
    .expect("write");
    let mut files = Vec::new();
    let mut not_judged = 0;
    for k in 1..=3 {
        let p = dir.join(format!("p{k}.json"));
        let (code, out, err) = imapspec(&[
            "run",
            "scenarios/outlook",
            "--fault",
            FAULT,
            "--partition",
            &format!("{k}/3"),
            "--baseline",
            s(&base),
            "--report-json",
            s(&p),
            "--transcripts",
            s(&t),
        ]);
        // A partition without the faulted scenarios does not call their
        // entries fixed: another partition has them.
        assert_eq!(code, 0, "partition {k}\n{out}{err}");
        not_judged += out.matches("not judged").count();
        files.push(p);
    }
    assert!(not_judged > 0, "some entry was another partition's");
    let merged = dir.join("m.json");
    let (code, out, err) = imapspec(&[
        "report",
        "merge",
        s(&files[0]),
        s(&files[1]),
        s(&files[2]),
        "--json",
        s(&merged),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&merged);
    assert!(
        v["baseline"]["deviations"]
            .as_array()
            .is_some_and(|d| d.iter().all(|d| d["verdict"] == "occurred")),
        "{}",
        v["baseline"]
    );

    // Without the fault, the partitions pass what they cannot judge, and the
    // merge finds every entry fixed.
    let mut files = Vec::new();
    for k in 1..=3 {
        let p = dir.join(format!("c{k}.json"));
        let (_, out, err) = imapspec(&[
            "run",
            "-q",
            "scenarios/outlook",
            "--partition",
            &format!("{k}/3"),
            "--baseline",
            s(&base),
            "--report-json",
            s(&p),
            "--transcripts",
            s(&t),
        ]);
        assert!(!err.contains("error"), "{out}{err}");
        files.push(p);
    }
    let (code, out, err) = imapspec(&["report", "merge", s(&files[0]), s(&files[1]), s(&files[2])]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out.matches("fixed — remove it from the baseline").count(),
        4,
        "{out}"
    );
}

#[test]
fn malformed_baselines_are_usage_errors_with_the_line() {
    let dir = support::temp_dir("baseline-bad");
    for (text, line, what) in [
        (
            "[[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"r\"\nseverity = \"x\"\n",
            4,
            "unknown field",
        ),
        (
            "\n\n[[deviation]]\nserver = \"dovecot\"\nreason = \"r\"\n",
            3,
            "needs `check",
        ),
        (
            "[[deviation]]\ncheck = \"uid.no-reuse\"\n",
            1,
            "needs `reason",
        ),
        (
            "[[deviation]]\ncheck = \"uid.nope\"\nreason = \"r\"\n",
            1,
            "unknown check id `uid.nope`",
        ),
    ] {
        let f = dir.join("b.toml");
        std::fs::write(&f, text).expect("write");
        let (code, _, err) = imapspec(&[
            "run",
            "-q",
            "scenarios/rfc/noop-always-ok.toml",
            "--baseline",
            s(&f),
        ]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(
            err.contains(&format!("{}:{line}: ", s(&f))) && err.contains(what),
            "{text}: {err}"
        );
    }
    let (code, _, err) = imapspec(&["run", "-q", "--baseline", s(&dir.join("none.toml"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the baseline"), "{err}");
    let (code, _, err) = imapspec(&["baseline", s(&dir.join("none.json"))]);
    assert_eq!(code, 2, "{err}");
}

/// The rows of the scenario table (`<tr ... data-status=...>`) as rendered.
fn scenario_rows(dom: &str) -> Vec<&str> {
    dom.split("<tr")
        .skip(1)
        .filter_map(|r| r.split("</tr>").next())
        .filter(|r| r.contains("data-status="))
        .collect()
}

#[test]
fn the_html_report_reads_at_a_glance() {
    let dir = support::temp_dir("html-glance");
    let t = dir.join("t");
    let base = dir.join("b.toml");
    std::fs::write(
        &base,
        "[[deviation]]\ncheck = \"uid.no-reuse\"\nreason = \"lagging index (test)\"\n\n\
         [[deviation]]\ncheck = \"uid.strictly-ascending\"\nreason = \"lagging index (test)\"\n\n\
         [[deviation]]\ncheck = \"uid.new-above-uidnext\"\nreason = \"lagging index (test)\"\n",
    )
    .expect("write");
    let page = dir.join("r.html");
    let json_file = dir.join("r.json");
    let (code, out, err) = imapspec(&[
        "run",
        "-q",
        "scenarios/outlook",
        "scenarios/rfc",
        "--fault",
        FAULT,
        "--baseline",
        s(&base),
        "--report-html",
        s(&page),
        "--report-json",
        s(&json_file),
        "--transcripts",
        s(&t),
    ]);
    // seed000-noop-75ms has a MUST expectation of its own no check entry covers.
    assert_eq!(code, 1, "{out}{err}");
    let html = read(&page);
    // The grid comes before the scenario list, with a row per client.
    let grid = html
        .find("id=\"client-grid\"")
        .expect("the client × check grid");
    let list = html.find("id=\"scenarios\"").expect("the scenario list");
    assert!(grid < list);
    let grid_html = &html[grid..list];
    assert!(
        grid_html.contains("data-grid-client=\"Outlook 2010\"")
            && grid_html.contains(">uid.no-reuse</th>")
    );
    assert!(
        grid_html.contains("c-known")
            && grid_html.contains("c-fail")
            && grid_html.contains("c-pass"),
        "{grid_html:.3000}"
    );
    assert!(grid_html.contains("0x800CCCDC"), "clients hurt are named");
    // Failures first, then known, then passes.
    let statuses: Vec<&str> = scenario_rows(&html[list..])
        .iter()
        .filter_map(|r| {
            r.split("data-status=\"")
                .nth(1)
                .and_then(|x| x.split('"').next())
        })
        .collect();
    assert_eq!(statuses.first(), Some(&"failed"), "{statuses:?}");
    assert!(statuses.contains(&"known"), "{statuses:?}");
    let first_pass = statuses
        .iter()
        .position(|s| *s == "passed")
        .expect("a pass");
    assert!(
        statuses[..first_pass]
            .iter()
            .all(|s| *s == "failed" || *s == "known"),
        "{statuses:?}"
    );
    assert!(
        statuses[first_pass..].iter().all(|s| *s == "passed"),
        "{statuses:?}"
    );
    // Each finding with its transcript lines, the offending one marked.
    assert!(html.contains("<div class=\"finding kn\">") && html.contains("<mark>"));
    assert!(html.contains("known deviation (") && html.contains("lagging index (test)"));
    assert!(
        !html.contains("<script src")
            && !html.contains("<link ")
            && !html.contains("http://")
            && !html.contains("https://"),
        "self-contained, no network"
    );

    if let Some(dom) = support::chromium_dom(&page, "?status=failed") {
        let rows = scenario_rows(&dom);
        assert!(rows.len() > 5, "{dom:.500}");
        for r in &rows {
            let hidden = r.contains("display: none");
            let failed = r.contains("data-status=\"failed\"");
            assert_eq!(hidden, !failed, "status filter: {r:.300}");
        }
        let dom = support::chromium_dom(&page, "?client=RFC%203501").unwrap_or_default();
        let rows = scenario_rows(&dom);
        assert!(rows.iter().any(|r| !r.contains("display: none")));
        for r in &rows {
            assert_eq!(
                r.contains("display: none"),
                !r.contains("data-client=\"RFC 3501\""),
                "client filter: {r:.300}"
            );
        }
        assert!(dom.contains("id=\"summary\""));
    }

    // The same page for a merged matrix: grid (cells name servers), filters.
    let clean = dir.join("clean.json");
    let (code, _, _) = imapspec(&[
        "run",
        "-q",
        "scenarios/outlook",
        "scenarios/rfc",
        "--report-json",
        s(&clean),
        "--server-name",
        "clean",
        "--transcripts",
        s(&dir.join("t2")),
    ]);
    assert_eq!(code, 0);
    let matrix = dir.join("m.html");
    let (code, _, err) = imapspec(&[
        "report",
        "merge",
        s(&json_file),
        s(&clean),
        "--html",
        s(&matrix),
    ]);
    assert_eq!(code, 0, "{err}");
    let m = read(&matrix);
    assert!(
        m.contains("id=\"client-grid\"")
            && m.contains("id=\"f-status\"")
            && m.contains("id=\"matrix\"")
    );
    assert!(
        m.contains(">reference</td>") || m.contains(">reference<"),
        "the servers' names"
    );
    if let Some(dom) = support::chromium_dom(&matrix, "?status=passed") {
        let rows = scenario_rows(&dom);
        assert!(!rows.is_empty());
        for r in &rows {
            assert_eq!(
                r.contains("display: none"),
                !r.split("data-status=\"").nth(1).is_some_and(|x| x
                    .split('"')
                    .next()
                    .is_some_and(|x| x.split(' ').any(|s| s == "passed"))),
                "{r:.300}"
            );
        }
    }
}
