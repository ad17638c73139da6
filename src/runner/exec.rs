//! Executes one scenario's steps on live sessions and judges the outcome.

use std::collections::{HashMap, VecDeque};
use std::io::BufWriter;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod script;

use super::recorder::{Recorder, SharedRecorder};
use super::{Failure, NamespaceInfo, RunOptions, ScenarioResult, Status, Target};
use crate::event::{Event, EventKind};
use crate::finding::Severity;
use crate::finding::{excerpt, Finding};
use crate::scenario::{Action, Expect, Keyword, Level, Scenario, Step};
use crate::session::{Reply, Session, SessionError, SessionOptions};
use crate::source::{human_duration, Origin};
use crate::wire::{RespCode, ServerMessage, StatusKind};

/// The state of one scenario run.
struct Run<'a> {
    scenario: &'a Scenario,
    index: usize,
    target: &'a Target,
    options: &'a RunOptions,
    recorder: SharedRecorder,
    sessions: HashMap<String, Session>,
    idle_tags: HashMap<String, String>,
    vars: HashMap<String, String>,
    failures: Vec<Failure>,
    step_findings: Vec<Finding>,
    /// Untagged responses per session since its last SELECT/EXAMINE (`seen`).
    seen: HashMap<String, VecDeque<Vec<u8>>>,
    /// Waits cut short by --max-wait: (asked, waited).
    capped: Vec<(Duration, Duration)>,
    capabilities_checked: bool,
    /// What the server announced (CAPABILITY after login), for `requires`
    /// and for levels that hold `with CAP`.
    capabilities: Vec<String>,
    /// The checker's finding count when the current step began: an `on-fail`
    /// finding is not added when the check itself already reported the same
    /// refusal during the step (one refusal, counted once).
    step_mark: usize,
    skipped: Option<String>,
    delivered: u32,
    /// imaptest scripts: each connection's message count after its last
    /// group (what `$N` numbers from), and the script lines that ran.
    script_exists: HashMap<String, u32>,
    script_ran: std::collections::HashSet<u64>,
}

/// Responses kept per session for `seen` expectations.
const SEEN_CAP: usize = 10_000;

/// Why a scenario stopped before its end.
enum Stop {
    Skip(String),
    Error(String),
    /// An expectation failed in a way the next steps depend on.
    Failed,
    /// A wait cut short by --max-wait did not see what the full wait might have.
    Inconclusive(String),
}

pub async fn run_scenario(
    scenario: &Scenario,
    index: usize,
    target: &Target,
    options: &RunOptions,
) -> ScenarioResult {
    let started = Instant::now();
    let _ = std::fs::create_dir_all(&options.transcripts);
    let path = std::path::PathBuf::from(transcript_path(scenario, options));
    let out: Box<dyn std::io::Write + Send> = match std::fs::File::create(&path) {
        Ok(f) => Box::new(BufWriter::new(f)),
        Err(_) => Box::new(std::io::sink()),
    };
    let recorder = match Recorder::new(out, &path.display().to_string()) {
        Ok(r) => r,
        Err(e) => {
            return error_result(
                scenario,
                format!("cannot write the transcript {}: {e}", path.display()),
                started,
            )
        }
    };
    let mut run = Run {
        scenario,
        index,
        target,
        options,
        recorder: recorder.clone(),
        sessions: HashMap::new(),
        idle_tags: HashMap::new(),
        vars: HashMap::new(),
        failures: Vec::new(),
        step_findings: Vec::new(),
        seen: HashMap::new(),
        capped: Vec::new(),
        capabilities_checked: false,
        capabilities: Vec::new(),
        step_mark: 0,
        skipped: None,
        delivered: 0,
        script_exists: HashMap::new(),
        script_ran: std::collections::HashSet::new(),
    };
    if let Some(ns) = &options.namespace {
        run.vars.insert("ns".into(), ns.prefix.clone());
        run.vars.insert("delim".into(), ns.delimiter.clone());
    }
    let mut outcome = Ok(());
    if target.shared_accounts() {
        outcome = run.clean_accounts().await;
    }
    // Quotas the runner set through --admin, cleared at the end.
    let mut quotas_set = Vec::new();
    if outcome.is_ok() && target.shared_accounts() && !scenario.quota.is_empty() {
        outcome = run.quota_preconditions(&mut quotas_set).await;
    }
    if outcome.is_ok() {
        outcome = run.steps(&scenario.steps).await;
    }
    run.clear_quotas(&quotas_set).await;
    // Close what is still open, from the client side, as a client would.
    let names: Vec<String> = run.sessions.keys().cloned().collect();
    for n in names {
        if let Some(mut s) = run.sessions.remove(&n) {
            if !s.is_closed() {
                let _ = s.close().await;
            }
        }
    }
    let mut all = {
        let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
        let _ = r.flush();
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    // A scenario is judged by the checks it is about (its targets) and its
    // own expectations; every other finding is kept for the server-wide part
    // of the report, where it still fails the run.
    let (mut findings, other_findings): (Vec<Finding>, Vec<Finding>) = all
        .drain(..)
        .partition(|f| scenario.every_check || scenario.targets.iter().any(|t| t == f.check));
    findings.extend(run.step_findings.clone());
    let strict = options.strict;
    let violation = findings
        .iter()
        .any(|f| f.severity == Severity::Violation || strict);
    let failed = violation || run.failures.iter().any(|f| f.fails(strict));
    let (status, reason) = match outcome {
        Err(Stop::Skip(why)) => (Status::Skipped, Some(why)),
        Err(Stop::Error(why)) if !failed => (Status::Error, Some(why)),
        Err(Stop::Inconclusive(why)) if !failed => (Status::Inconclusive, Some(why)),
        _ if failed => (Status::Failed, None),
        _ if scenario.full_wait && !run.capped.is_empty() => {
            let (asked, waited) = run.capped[0];
            (
                Status::Inconclusive,
                Some(format!(
                    "waited {} of {} (--max-wait); the verdict needs the full time",
                    human_duration(waited),
                    human_duration(asked)
                )),
            )
        }
        _ => (Status::Passed, run.skipped.take()),
    };
    let cases = script::cases(&scenario.steps, &run.failures, &run.script_ran);
    ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        client: scenario.client.clone(),
        source: scenario.source.clone(),
        file: scenario.file.display().to_string(),
        targets: scenario.targets.clone(),
        status,
        reason,
        findings,
        other_findings,
        failures: run.failures,
        transcript: Some(path.display().to_string()),
        millis: started.elapsed().as_millis() as u64,
        cases,
    }
}

/// Where a scenario's transcript goes.
pub(super) fn transcript_path(scenario: &Scenario, options: &RunOptions) -> String {
    let name = scenario.id.replace('/', "__");
    options
        .transcripts
        .join(format!("{name}.transcript"))
        .display()
        .to_string()
}

pub(super) fn error_result(s: &Scenario, why: String, started: Instant) -> ScenarioResult {
    ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        client: s.client.clone(),
        source: s.source.clone(),
        file: s.file.display().to_string(),
        targets: s.targets.clone(),
        status: Status::Error,
        reason: Some(why),
        findings: Vec::new(),
        other_findings: Vec::new(),
        failures: Vec::new(),
        transcript: None,
        millis: started.elapsed().as_millis() as u64,
        cases: Vec::new(),
    }
}

impl Run<'_> {
    /// A MUST expectation of the statement itself failed.
    fn fail(&mut self, step: &Step, line: u64, message: String) {
        let level = step.level.clone();
        self.fail_at(step, line, message, &level);
    }

    /// An expectation at `level` failed: a finding of the step's `on-fail`
    /// check (a warning unless MUST), or a scenario failure at that level.
    fn fail_at(&mut self, step: &Step, line: u64, message: String, level: &Level) {
        let keyword = level.on(&self.capabilities);
        // A rule the server never claimed (its capability is not announced)
        // is a note, and the note says why.
        let quote = match (&level.with_capability, keyword == level.keyword) {
            (Some(cap), false) => Some(format!(
                "not claimed here: the server does not announce {cap}, and the rule is that extension's ({})",
                level.quote.as_deref().unwrap_or("")
            )),
            _ => level.quote.clone(),
        };
        let level = &Level {
            keyword,
            quote,
            ..level.clone()
        };
        // A MAY that did not happen is a note, never a finding of a check.
        let on_fail = step.on_fail.as_ref().filter(|_| keyword != Keyword::May);
        if let Some((check, why)) = on_fail {
            let already = {
                let r = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
                r.checker
                    .findings
                    .list
                    .get(self.step_mark..)
                    .is_some_and(|new| new.iter().any(|f| f.check == check.as_str()))
            };
            if already {
                // The check judged this very response; its finding says it.
                return;
            }
            if let Some(info) = crate::checks::info(check) {
                let message = if why.is_empty() {
                    message
                } else {
                    format!("{why}: {message}")
                };
                let severity = if level.keyword == Keyword::Must {
                    info.severity
                } else {
                    Severity::Warning
                };
                self.step_findings.push(Finding {
                    check: info.id,
                    severity,
                    session: "scenario".into(),
                    origin: Origin::new(&Arc::from(self.scenario.file.display().to_string()), line),
                    line: format!("{:?}", step.action).chars().take(120).collect(),
                    message,
                    client_impact: Some(info.clients.to_string()),
                });
                return;
            }
        }
        self.failures.push(Failure {
            file: self.scenario.file.display().to_string(),
            line,
            message,
            level: level.keyword,
            quote: level.quote.clone(),
        });
    }

    /// A wait as the target allows: full on the embedded server, capped by
    /// --max-wait elsewhere (and remembered, for an inconclusive verdict).
    fn allowed(&mut self, d: Duration) -> Duration {
        match (self.target.shared_accounts(), self.options.max_wait) {
            (true, Some(max)) if d > max => {
                self.capped.push((d, max));
                max
            }
            _ => d,
        }
    }

    fn session(&mut self, name: &str, line: u64) -> Result<&mut Session, Stop> {
        let name = &crate::scenario::pattern::substitute(name, &self.vars);
        if !self.sessions.contains_key(name) {
            let file = self.scenario.file.display().to_string();
            self.failures.push(Failure {
                file,
                line,
                message: format!("session `{name}` is not open here (use `open {name}` first)"),
                level: Keyword::Must,
                quote: None,
            });
            return Err(Stop::Failed);
        }
        self.sessions.get_mut(name).ok_or(Stop::Failed)
    }

    async fn clean_accounts(&mut self) -> Result<(), Stop> {
        for (i, _) in self.scenario.users.clone().iter().enumerate() {
            let user = self.scenario.users[i].clone();
            let account = self
                .target
                .account(self.index, self.scenario, &user)
                .map_err(Stop::Error)?;
            let url = self
                .target
                .url(&crate::scenario::Security::Default)
                .map_err(Stop::Error)?;
            let opts = self.session_options();
            let rec = Recorder::new(Box::new(std::io::sink()), "cleanup")
                .map_err(|e| Stop::Error(e.to_string()))?;
            let mut s = Session::connect(&url, "cleanup", &rec, &opts)
                .await
                .map_err(unreachable)?;
            s.login(&account.user, &account.password)
                .await
                .map_err(unreachable)?;
            // Dedicated test accounts only: every other mailbox goes, INBOX is emptied.
            let list = s.command("LIST \"\" \"*\"").await.map_err(unreachable)?;
            for e in &list.untagged {
                let line = crate::wire::decode::first_line(&e.raw).to_string();
                let name = line
                    .rsplit(' ')
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string();
                if line.starts_with("* LIST")
                    && !name.is_empty()
                    && !name.eq_ignore_ascii_case("INBOX")
                {
                    let _ = s
                        .command(&format!("DELETE {}", crate::session::quoted(&name)))
                        .await;
                }
            }
            s.command_ok("SELECT INBOX").await.map_err(unreachable)?;
            let _ = s.command("STORE 1:* +FLAGS.SILENT (\\Deleted)").await;
            let _ = s.command("EXPUNGE").await;
            let _ = s.logout().await;
        }
        Ok(())
    }

    /// A quota scenario on a foreign server needs a limit its messages will
    /// exceed. It runs when the server already shows one (GETQUOTAROOT), or when
    /// --admin can set one; otherwise it is skipped with the reason — a server
    /// never given a quota has broken no rule by accepting the mail.
    async fn quota_preconditions(&mut self, set: &mut Vec<String>) -> Result<(), Stop> {
        for (user, bytes) in self.scenario.quota.clone() {
            let account = self
                .target
                .account(self.index, self.scenario, &user)
                .map_err(Stop::Error)?;
            let (roots, limit) = self.quota_of(&account).await?;
            if let Some((used, limit)) = limit {
                // The scenario stores more than `bytes`; a limit with no more
                // room than that (in whole KiB, as quotas count) will be hit.
                let left = limit.saturating_sub(used).saturating_mul(1024);
                if left <= bytes.div_ceil(1024) * 1024 {
                    continue;
                }
                if self.target.admin().is_none() {
                    return Err(Stop::Skip(format!(
                        "needs a quota its messages will exceed: {} has a STORAGE limit of {limit} KiB with {used} KiB used, more than the ~{bytes} bytes this scenario stores (give --admin USER:PASS to set one)",
                        account.user
                    )));
                }
            }
            let Some(admin) = self.target.admin().cloned() else {
                return Err(Stop::Skip(format!(
                    "needs a storage quota on {} that the harness cannot set on this server (GETQUOTAROOT INBOX shows no STORAGE limit); give --admin USER:PASS for an account that may SETQUOTA",
                    account.user
                )));
            };
            // The user's own quota roots as the server names them to the user,
            // then the names an administrator sees on Cyrus (`user.NAME`,
            // `user/NAME`): a user's "INBOX" root is the admin's `user/NAME`.
            let mut candidates = roots;
            for c in [
                format!("user.{}", account.user),
                format!("user/{}", account.user),
            ] {
                if !candidates.contains(&c) {
                    candidates.push(c);
                }
            }
            let kib = bytes.div_ceil(1024).max(1);
            let url = self
                .target
                .url(&crate::scenario::Security::Default)
                .map_err(Stop::Error)?;
            let opts = self.session_options();
            let mut s = Session::connect(&url, "admin", &self.recorder, &opts)
                .await
                .map_err(unreachable)?;
            s.login(&admin.user, &admin.password)
                .await
                .map_err(|e| Stop::Error(format!("--admin login as {} failed: {e}", admin.user)))?;
            let mut done = None;
            for root in &candidates {
                let r = s
                    .command(&format!(
                        "SETQUOTA {} (STORAGE {kib})",
                        crate::session::quoted(root)
                    ))
                    .await
                    .map_err(unreachable)?;
                if r.status == StatusKind::Ok {
                    done = Some(root.clone());
                    break;
                }
            }
            let _ = s.logout().await;
            match done {
                Some(root) => set.push(root),
                None => {
                    return Err(Stop::Skip(format!(
                        "needs a storage quota on {}: SETQUOTA as {} was refused for {}",
                        account.user,
                        admin.user,
                        candidates.join(", ")
                    )))
                }
            }
        }
        Ok(())
    }

    /// GETQUOTAROOT INBOX as `account`: the quota roots, and the STORAGE
    /// usage and limit (KiB) when the server shows one.
    async fn quota_of(
        &mut self,
        account: &super::Account,
    ) -> Result<(Vec<String>, Option<(u64, u64)>), Stop> {
        let url = self
            .target
            .url(&crate::scenario::Security::Default)
            .map_err(Stop::Error)?;
        let opts = self.session_options();
        let mut s = Session::connect(&url, "precondition", &self.recorder, &opts)
            .await
            .map_err(unreachable)?;
        s.login(&account.user, &account.password)
            .await
            .map_err(unreachable)?;
        let reply = s.command("GETQUOTAROOT INBOX").await.map_err(unreachable)?;
        let _ = s.logout().await;
        let none = HashMap::new();
        let root_pattern = crate::scenario::Pattern::new("* QUOTAROOT {_} ...");
        let mut roots = Vec::new();
        let mut limit = None;
        for raw in reply.untagged.iter().filter_map(server_raw) {
            let line = crate::wire::decode::first_line(raw);
            let line: &str = &line;
            if root_pattern.matches(line, &none).is_some() {
                roots.extend(
                    line.split_whitespace()
                        .skip(3)
                        .map(|r| r.trim_matches('"').to_string()),
                );
            }
            if let Some(l) = storage_limit(line) {
                limit = Some(l);
            }
        }
        Ok((roots, limit))
    }

    /// Removes the limits `quota_preconditions` set (`SETQUOTA root ()`).
    async fn clear_quotas(&mut self, roots: &[String]) {
        let Some(admin) = self.target.admin().cloned() else {
            return;
        };
        if roots.is_empty() {
            return;
        }
        let Ok(url) = self.target.url(&crate::scenario::Security::Default) else {
            return;
        };
        let opts = self.session_options();
        let Ok(mut s) = Session::connect(&url, "admin", &self.recorder, &opts).await else {
            return;
        };
        if s.login(&admin.user, &admin.password).await.is_ok() {
            for root in roots {
                let _ = s
                    .command(&format!("SETQUOTA {} ()", crate::session::quoted(root)))
                    .await;
            }
        }
        let _ = s.logout().await;
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            limits: self.options.limits.clone(),
            insecure: self.target.insecure(),
            clock: self.target.clock(),
        }
    }

    fn steps<'s>(
        &'s mut self,
        steps: &'s [Step],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Stop>> + Send + 's>> {
        Box::pin(async move {
            for step in steps {
                self.step(step).await?;
            }
            Ok(())
        })
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        let line = step.line;
        self.step_mark = {
            let r = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
            r.checker.findings.list.len()
        };
        match &step.action {
            Action::Open {
                session,
                user,
                security,
                login,
                auth_plain,
            } => {
                let url = self.target.url(security).map_err(Stop::Error)?;
                let opts = self.session_options();
                let session = &crate::scenario::pattern::substitute(session, &self.vars);
                let mut s = Session::connect(&url, session, &self.recorder, &opts)
                    .await
                    .map_err(unreachable)?;
                if *login {
                    let u = user.clone().unwrap_or_default();
                    let account = self
                        .target
                        .account(self.index, self.scenario, &u)
                        .map_err(Stop::Error)?;
                    let r = if *auth_plain {
                        s.authenticate_plain(&account.user, &account.password).await
                    } else {
                        s.login(&account.user, &account.password).await
                    };
                    r.map_err(|e| {
                        Stop::Error(format!(
                            "login as {} failed: {e} (check --user/--password)",
                            account.user
                        ))
                    })?;
                }
                if !self.capabilities_checked
                    && (!self.scenario.requires.is_empty()
                        || conditional_levels(&self.scenario.steps)
                        || cuts_appends(&self.scenario.steps))
                {
                    self.capabilities_checked = true;
                    let reply = s.command("CAPABILITY").await.map_err(unreachable)?;
                    let caps: Vec<String> = reply
                        .untagged
                        .iter()
                        .filter_map(|e| match &e.kind {
                            EventKind::Server {
                                message: ServerMessage::Capability(c),
                                ..
                            } => Some(c.clone()),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    self.capabilities = caps.clone();
                    let missing: Vec<&String> = self
                        .scenario
                        .requires
                        .iter()
                        .filter(|r| !caps.iter().any(|c| c.eq_ignore_ascii_case(r)))
                        .collect();
                    if !missing.is_empty() {
                        self.sessions.insert(session.clone(), s);
                        return Err(Stop::Skip(format!(
                            "the server does not announce {}",
                            missing
                                .iter()
                                .map(|m| m.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
                self.sessions.insert(session.clone(), s);
            }
            Action::Command { session, text } => {
                let text = crate::scenario::pattern::substitute(text, &self.vars);
                let reply = match self.session(session, line)?.command(&text).await {
                    Ok(r) => r,
                    Err(e) => return self.session_error(step, session, e),
                };
                self.judge(step, session, Some(&text), &reply);
            }
            Action::Raw {
                session,
                bytes,
                chunk,
            } => {
                // `$ns/...` and bound names work here as in commands; bytes
                // that are not UTF-8 are sent as written.
                let substituted = std::str::from_utf8(bytes)
                    .ok()
                    .map(|t| crate::scenario::pattern::substitute(t, &self.vars).into_bytes());
                let bytes = substituted.as_deref().unwrap_or(bytes);
                let s = self.session(session, line)?;
                let r = match chunk {
                    None => s.send_raw(bytes).await,
                    Some(n) => {
                        let mut r = Ok(());
                        for c in bytes.chunks(*n) {
                            r = s.send_raw(c).await;
                            if r.is_err() {
                                break;
                            }
                        }
                        r
                    }
                };
                if let Err(e) = r {
                    return self.session_error(step, session, e);
                }
            }
            Action::Idle { session } => match self.session(session, line)?.idle().await {
                Ok(tag) => {
                    self.idle_tags.insert(session.clone(), tag);
                }
                Err(e) => return self.session_error(step, session, e),
            },
            Action::Append {
                session,
                mailbox,
                subject,
                nonsync,
            } => {
                self.delivered += 1;
                let data = test_message(self.delivered, 300, Some(subject), &chrono::Utc::now());
                let mailbox = crate::scenario::pattern::substitute(mailbox, &self.vars);
                // `append` quotes the name itself.
                let mailbox = mailbox.trim_matches('"').to_string();
                let s = self.session(session, line)?;
                let r = if *nonsync {
                    s.append_nonsync(&mailbox, &data).await
                } else {
                    s.append(&mailbox, "", &data).await
                };
                match r {
                    Ok(reply) => self.judge(step, session, None, &reply),
                    Err(e) => return self.session_error(step, session, e),
                }
            }
            Action::MultiAppend {
                session,
                mailbox,
                subject,
                count,
                bad_last,
            } => {
                let mut messages = Vec::with_capacity(*count);
                for i in 0..*count {
                    self.delivered += 1;
                    let subject = format!("{subject}-{}", i + 1);
                    let data =
                        test_message(self.delivered, 300, Some(&subject), &chrono::Utc::now());
                    // RFC 3501 9: `date-month = "Jan" / "Feb" / ...`: "Foo"
                    // is none, so the APPEND cannot succeed.
                    let date = (*bad_last && i + 1 == *count)
                        .then(|| "31-Foo-2024 00:00:00 +0000".to_string());
                    messages.push((date, data));
                }
                let mailbox = crate::scenario::pattern::substitute(mailbox, &self.vars);
                let mailbox = mailbox.trim_matches('"').to_string();
                let s = self.session(session, line)?;
                match s.multiappend(&mailbox, &messages).await {
                    Ok(reply) => self.judge(step, session, None, &reply),
                    Err(e) => return self.session_error(step, session, e),
                }
            }
            Action::AppendCut {
                session,
                mailbox,
                subject,
            } => {
                self.delivered += 1;
                let data = test_message(self.delivered, 300, Some(subject), &chrono::Utc::now());
                let mailbox = crate::scenario::pattern::substitute(mailbox, &self.vars);
                let mailbox = crate::session::quoted(mailbox.trim_matches('"'));
                let half = &data[..data.len() / 2];
                let literal_plus = self
                    .capabilities
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case("LITERAL+"));
                let s = self.session(session, line)?;
                let tag = s.tag();
                if literal_plus {
                    // RFC 7888: the literal's bytes follow at once.
                    let mut bytes =
                        format!("{tag} APPEND {mailbox} {{{}+}}\r\n", data.len()).into_bytes();
                    bytes.extend_from_slice(half);
                    if let Err(e) = s.send_raw(&bytes).await {
                        return self.session_error(step, session, e);
                    }
                } else {
                    // RFC 3501 7.5: a synchronising literal waits for `+`; the
                    // server may refuse first (a tagged NO), and then there is
                    // nothing to cut.
                    let head = format!("{tag} APPEND {mailbox} {{{}}}\r\n", data.len());
                    if let Err(e) = s.send_raw(head.as_bytes()).await {
                        return self.session_error(step, session, e);
                    }
                    let clock = s.clock().clone();
                    let deadline = clock.elapsed() + Duration::from_secs(30);
                    let mut go = false;
                    while !go {
                        let left = deadline.saturating_sub(clock.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        match s.next_event_within(left).await {
                            Ok(Some(e)) => match &e.kind {
                                EventKind::Server {
                                    message: ServerMessage::Continue { .. },
                                    ..
                                } => go = true,
                                EventKind::Server {
                                    message: ServerMessage::Status { tag: Some(t), .. },
                                    ..
                                } if *t == tag => {
                                    return Err(Stop::Inconclusive(format!(
                                        "the server refused the APPEND before its literal (`{}`), so there was nothing to cut",
                                        excerpt(&e.raw, 120)
                                    )));
                                }
                                _ => {}
                            },
                            Ok(None) | Err(_) => break,
                        }
                    }
                    if !go {
                        self.fail(
                            step,
                            line,
                            "no `+` continuation for the APPEND's synchronising literal within 30s"
                                .into(),
                        );
                        return Err(Stop::Failed);
                    }
                    if let Err(e) = s.send_raw(half).await {
                        return self.session_error(step, session, e);
                    }
                }
            }
            Action::StartTlsInject { session } => {
                match self.session(session, line)?.starttls_with_injection().await {
                    Ok(reply) => self.judge(step, session, None, &reply),
                    // Closing the connection rather than going on after injected
                    // plaintext is a safe answer too; the checks judge anything
                    // the server said in reply to the injected command.
                    Err(SessionError::Tls(_) | SessionError::Closed(_)) => {
                        self.sessions.remove(session);
                        self.skipped = Some(
                            "the server closed the connection after the injected plaintext (safe)"
                                .into(),
                        );
                    }
                    Err(e) => return self.session_error(step, session, e),
                }
            }
            Action::Done { session } => {
                let tag = self.idle_tags.remove(session).unwrap_or_default();
                match self.session(session, line)?.done(&tag).await {
                    Ok(reply) => self.judge(step, session, None, &reply),
                    Err(e) => return self.session_error(step, session, e),
                }
            }
            Action::WaitFor {
                session,
                pattern,
                within,
            } => {
                let within = self.allowed(*within);
                let vars = self.vars.clone();
                let s = self.session(session, line)?;
                let clock = s.clock().clone();
                let deadline = clock.elapsed() + within;
                let mut found = None;
                let mut heard = Vec::new();
                while found.is_none() {
                    let left = deadline.saturating_sub(clock.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match s.next_event_within(left).await {
                        Ok(Some(e)) => {
                            if let Some(b) =
                                server_raw(&e).and_then(|r| pattern.matches_bytes(r, &vars))
                            {
                                found = Some(b);
                            }
                            heard.push(e);
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                let name = crate::scenario::pattern::substitute(session, &self.vars);
                self.remember(&name, None, &heard);
                let shown = self.shown(pattern);
                match found {
                    Some(b) => self.vars.extend(b),
                    // Not a MUST (a push the RFC does not promise in time): a
                    // warning or a note, and the scenario goes on.
                    None if step.level.on(&self.capabilities) != Keyword::Must => {
                        self.fail(
                            step,
                            line,
                            format!(
                                "no response matching `{shown}` within {}",
                                human_duration(within)
                            ),
                        );
                    }
                    None if self.capped.last().is_some_and(|&(_, w)| w == within) => {
                        return Err(Stop::Inconclusive(format!(
                            "no `{shown}` within the {} allowed by --max-wait (the scenario waits up to {})",
                            human_duration(within),
                            human_duration(self.capped.last().map_or(within, |c| c.0))
                        )));
                    }
                    None => {
                        self.fail(
                            step,
                            line,
                            format!(
                                "no response matching `{shown}` within {}",
                                human_duration(within)
                            ),
                        );
                        return Err(Stop::Failed);
                    }
                }
            }
            Action::Stay { session, time } => {
                let time = self.allowed(*time);
                let s = self.session(session, line)?;
                let clock = s.clock().clone();
                let deadline = clock.elapsed() + time;
                while !s.is_closed() {
                    let left = deadline.saturating_sub(clock.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match s.next_event_within(left).await {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            Action::ExpectClose { session, within } => {
                let asked = *within;
                let within = self.allowed(asked);
                let s = self.session(session, line)?;
                let clock = s.clock().clone();
                let deadline = clock.elapsed() + within;
                while !s.is_closed() {
                    let left = deadline.saturating_sub(clock.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match s.next_event_within(left).await {
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                if !s.is_closed() && within == asked {
                    self.fail(
                        step,
                        line,
                        format!(
                            "the server kept the session open for more than {}",
                            human_duration(asked)
                        ),
                    );
                }
            }
            Action::Drop { session } => {
                let session = &crate::scenario::pattern::substitute(session, &self.vars);
                if let Some(mut s) = self.sessions.remove(session) {
                    let _ = s.close().await;
                }
            }
            Action::Logout { session } => {
                let session = &crate::scenario::pattern::substitute(session, &self.vars);
                if let Some(mut s) = self.sessions.remove(session) {
                    if let Err(e) = s.logout().await {
                        self.fail(step, line, format!("LOGOUT failed: {e}"));
                    }
                }
            }
            Action::Wait(d) => {
                let d = self.allowed(*d);
                self.target.clock().sleep(d).await;
            }
            Action::Deliver {
                user,
                count,
                mailbox,
                size,
                subject,
            } => {
                self.deliver(
                    step,
                    user,
                    *count,
                    mailbox.as_deref(),
                    *size,
                    subject.as_deref(),
                )
                .await?;
            }
            Action::Smtp { user, count, size } => self.smtp(step, user, *count, *size).await?,
            Action::ScriptVars { mailbox } => self.script_vars(mailbox)?,
            Action::Script(group) => self.script_group(step, group).await?,
            Action::Repeat { count, body } => {
                for i in 0..*count {
                    self.vars.insert("i".into(), (i + 1).to_string());
                    self.steps(body).await?;
                }
            }
        }
        Ok(())
    }

    fn session_error(&mut self, step: &Step, session: &str, e: SessionError) -> Result<(), Stop> {
        match e {
            SessionError::Closed(_) => {
                // The server ended the session; the checks judge how (BYE or not).
                self.fail(step, step.line, format!("session `{session}`: {e}"));
                self.sessions.remove(session);
                Err(Stop::Failed)
            }
            SessionError::Timeout(_) => {
                self.fail(step, step.line, format!("session `{session}`: {e}"));
                Err(Stop::Failed)
            }
            other => {
                self.fail(step, step.line, format!("session `{session}`: {other}"));
                Err(Stop::Failed)
            }
        }
    }

    /// Checks a command's reply against the step's expectations.
    fn judge(&mut self, step: &Step, session: &str, command: Option<&str>, reply: &Reply) {
        let session = crate::scenario::pattern::substitute(session, &self.vars);
        self.remember(&session, command, &reply.untagged);
        self.judge_seen(step, &session);
        let status_ok = match step.expect {
            Expect::Ok => reply.status == StatusKind::Ok,
            Expect::No => reply.status == StatusKind::No,
            Expect::Bad => reply.status == StatusKind::Bad,
            Expect::Any => true,
        };
        if !status_ok {
            let got = excerpt(&reply.completion.raw, 200);
            self.fail(
                step,
                step.line,
                format!("expected {:?}, got `{got}`", step.expect)
                    .replace("Ok", "OK")
                    .replace("No,", "NO,"),
            );
        }
        if let Some(code) = &step.code {
            let has = match &reply.completion.kind {
                EventKind::Server {
                    message: ServerMessage::Status { code: Some(c), .. },
                    ..
                } => code_name(c) == *code,
                _ => false,
            };
            if !has {
                let got = excerpt(&reply.completion.raw, 200);
                self.fail(
                    step,
                    step.line,
                    format!("expected the response code [{code}], got `{got}`"),
                );
            }
        }
        // Patterns see whole responses (literals too), so an item after a
        // literal is matched like any other.
        let lines: Vec<&[u8]> = reply.untagged.iter().filter_map(server_raw).collect();
        for e in &step.must {
            if !lines
                .iter()
                .any(|x| e.pattern.matches_bytes(x, &self.vars).is_some())
            {
                let shown = self.shown(&e.pattern);
                self.fail_at(
                    step,
                    e.line,
                    format!("no untagged response matched `{shown}`"),
                    &e.level,
                );
            }
        }
        for e in &step.must_not {
            if let Some(x) = lines
                .iter()
                .find(|x| e.pattern.matches_bytes(x, &self.vars).is_some())
            {
                let x = excerpt(x, 200);
                let shown = self.shown(&e.pattern);
                self.fail_at(
                    step,
                    e.line,
                    format!("`{x}` matched `{shown}`, which must not appear"),
                    &e.level,
                );
            }
        }
        for e in &step.capture {
            match lines
                .iter()
                .find_map(|x| e.pattern.matches_bytes(x, &self.vars))
            {
                Some(b) => self.vars.extend(b),
                None => {
                    let shown = self.shown(&e.pattern);
                    self.fail_at(
                        step,
                        e.line,
                        format!("nothing to capture: no response matched `{shown}`"),
                        &e.level,
                    )
                }
            }
        }
    }

    /// Every untagged response `session` has had since its last SELECT or
    /// EXAMINE, for `seen` expectations. Bounded: past the cap, older ones go.
    fn remember(&mut self, session: &str, command: Option<&str>, events: &[Event]) {
        let history = self.seen.entry(session.to_string()).or_default();
        let verb = command
            .and_then(|c| c.split_whitespace().next())
            .map(str::to_ascii_uppercase);
        if matches!(verb.as_deref(), Some("SELECT" | "EXAMINE")) {
            history.clear();
        }
        for e in events {
            if let Some(raw) = server_raw(e) {
                if history.len() >= SEEN_CAP {
                    history.pop_front();
                }
                history.push_back(raw.to_vec());
            }
        }
    }

    /// Checks a step's `seen` expectations against the session's history.
    fn judge_seen(&mut self, step: &Step, session: &str) {
        for e in &step.seen {
            let found = self.seen.get(session).is_some_and(|h| {
                h.iter()
                    .any(|x| e.pattern.matches_bytes(x, &self.vars).is_some())
            });
            if !found {
                let shown = self.shown(&e.pattern);
                self.fail_at(
                    step,
                    e.line,
                    format!("no untagged response since the last SELECT/EXAMINE matched `{shown}`"),
                    &e.level,
                );
            }
        }
    }

    /// A pattern as it was matched: variables and `$ns/` names replaced, so a
    /// report shows the server's real mailbox names.
    fn shown(&self, p: &crate::scenario::Pattern) -> String {
        crate::scenario::pattern::substitute(&p.text, &self.vars)
    }

    async fn deliver(
        &mut self,
        step: &Step,
        user: &str,
        count: u32,
        mailbox: Option<&str>,
        size: usize,
        subject: Option<&str>,
    ) -> Result<(), Stop> {
        let account = self
            .target
            .account(self.index, self.scenario, user)
            .map_err(Stop::Error)?;
        let mailbox = crate::scenario::pattern::substitute(mailbox.unwrap_or("INBOX"), &self.vars);
        let mailbox = mailbox.trim_matches('"');
        let now = chrono::Utc::now();
        if let Some(store) = self.target.store() {
            // The embedded server: put mail in place as a delivery agent would.
            for _ in 0..count {
                self.delivered += 1;
                let data = test_message(self.delivered, size, subject, &now);
                if let Err(e) = store.append(
                    &account.user,
                    mailbox,
                    Arc::from(data),
                    Default::default(),
                    (now.timestamp(), 0),
                    false,
                ) {
                    self.fail(
                        step,
                        step.line,
                        format!("delivery to {user}/{mailbox} failed: {e}"),
                    );
                    return Err(Stop::Failed);
                }
            }
            return Ok(());
        }
        let url = self
            .target
            .url(&crate::scenario::Security::Default)
            .map_err(Stop::Error)?;
        let opts = self.session_options();
        let mut s = Session::connect(&url, "deliver", &self.recorder, &opts)
            .await
            .map_err(unreachable)?;
        s.login(&account.user, &account.password)
            .await
            .map_err(unreachable)?;
        // Many messages go in pipelined batches of LITERAL+ APPENDs (RFC 7888), so
        // a 100,000-message mailbox fills in seconds, not minutes.
        let caps = s.command("CAPABILITY").await.map_err(unreachable)?;
        let literal_plus = caps.untagged.iter().any(|e| {
            matches!(&e.kind, EventKind::Server { message: ServerMessage::Capability(c), .. } if c.iter().any(|x| x.eq_ignore_ascii_case("LITERAL+")))
        });
        if !literal_plus {
            for _ in 0..count {
                self.delivered += 1;
                let data = test_message(self.delivered, size, subject, &now);
                let reply = s.append(mailbox, "", &data).await;
                self.delivery_reply(step, reply)?;
            }
        }
        let mut left = if literal_plus { count } else { 0 };
        while left > 0 {
            let batch = left.min(200);
            left -= batch;
            let mut tags = Vec::new();
            let mut bytes = Vec::new();
            for _ in 0..batch {
                self.delivered += 1;
                let data = test_message(self.delivered, size, subject, &now);
                let tag = s.tag();
                bytes.extend_from_slice(
                    format!(
                        "{tag} APPEND {} {{{}+}}\r\n",
                        crate::session::quoted(mailbox),
                        data.len()
                    )
                    .as_bytes(),
                );
                bytes.extend_from_slice(&data);
                bytes.extend_from_slice(b"\r\n");
                tags.push(tag);
            }
            s.send_raw(&bytes).await.map_err(unreachable)?;
            for tag in tags {
                let reply = s.read_until_tagged(&tag).await;
                self.delivery_reply(step, reply)?;
            }
        }
        let _ = s.logout().await;
        Ok(())
    }

    /// The answer to one APPEND of a delivery: OK goes on, NO/BAD fails the
    /// step, a dead connection is a setup error.
    fn delivery_reply(
        &mut self,
        step: &Step,
        reply: Result<Reply, SessionError>,
    ) -> Result<(), Stop> {
        match reply {
            Ok(r) if r.status == StatusKind::Ok => Ok(()),
            Ok(r) => {
                self.fail(
                    step,
                    step.line,
                    format!(
                        "APPEND for delivery answered {} {}",
                        r.status.as_str(),
                        r.text
                    ),
                );
                Err(Stop::Failed)
            }
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn smtp(&mut self, step: &Step, user: &str, count: u32, size: usize) -> Result<(), Stop> {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
        let Some(addr) = self.target.smtp() else {
            return Err(Stop::Skip(
                "needs an SMTP listener: give --smtp smtp://host:port".into(),
            ));
        };
        let account = self
            .target
            .account(self.index, self.scenario, user)
            .map_err(Stop::Error)?;
        let mailer: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(addr.port())
                .timeout(Some(Duration::from_secs(30)))
                .build();
        let want = step.smtp_reply.unwrap_or(2);
        let now = chrono::Utc::now();
        for _ in 0..count {
            self.delivered += 1;
            let data = test_message(self.delivered, size, None, &now);
            let to = format!("{}@localhost", account.user);
            let envelope = match (to.parse(), "imapspec@example.org".parse()) {
                (Ok(to), Ok(from)) => lettre::address::Envelope::new(Some(from), vec![to]),
                _ => return Err(Stop::Error(format!("`{to}` is not an email address"))),
            };
            let envelope = envelope.map_err(|e| Stop::Error(e.to_string()))?;
            let got = match mailer.send_raw(&envelope, &data).await {
                Ok(_) => (2, "250".to_string()),
                Err(e) if e.is_transient() => (4, e.to_string()),
                Err(e) if e.is_permanent() => (5, e.to_string()),
                Err(e) => return Err(Stop::Error(format!("SMTP to {addr} failed: {e}"))),
            };
            if got.0 != want {
                self.fail(
                    step,
                    step.line,
                    format!(
                        "SMTP delivery got a {}xx reply ({}), expected {want}xx",
                        got.0, got.1
                    ),
                );
                return Ok(());
            }
        }
        Ok(())
    }
}

fn unreachable(e: SessionError) -> Stop {
    Stop::Error(format!(
        "{e} (is the server running and the address right?)"
    ))
}

/// The raw bytes of a server response (client lines and notes are not matched).
fn server_raw(e: &Event) -> Option<&[u8]> {
    match &e.kind {
        EventKind::Server { .. } => Some(&e.raw),
        _ => None,
    }
}

fn code_name(c: &RespCode) -> String {
    match c {
        RespCode::UidValidity(_) => "UIDVALIDITY".into(),
        RespCode::UidNext(_) => "UIDNEXT".into(),
        RespCode::PermanentFlags(_) => "PERMANENTFLAGS".into(),
        RespCode::ReadWrite => "READ-WRITE".into(),
        RespCode::ReadOnly => "READ-ONLY".into(),
        RespCode::OverQuota => "OVERQUOTA".into(),
        RespCode::InUse => "INUSE".into(),
        RespCode::Alert => "ALERT".into(),
        RespCode::Capability(_) => "CAPABILITY".into(),
        RespCode::AppendUid { .. } => "APPENDUID".into(),
        RespCode::CopyUid { .. } => "COPYUID".into(),
        RespCode::HighestModSeq(_) => "HIGHESTMODSEQ".into(),
        RespCode::Modified(_) => "MODIFIED".into(),
        RespCode::Other(s) => s.clone(),
    }
}

/// A test message of about `size` bytes with a unique Message-ID.
fn test_message(
    n: u32,
    size: usize,
    subject: Option<&str>,
    now: &chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let subject = subject
        .map(str::to_string)
        .unwrap_or_else(|| format!("imapspec test {n}"));
    let mut m = format!(
        "From: imapspec <tester@example.org>\r\nTo: user@example.org\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{n}.{}@imapspec.test>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        now.to_rfc2822(),
        now.timestamp_nanos_opt().unwrap_or(0)
    );
    while m.len() + 2 < size {
        m.push_str("The quick brown fox jumps over the lazy dog.\r\n");
    }
    m.push_str("\r\n");
    m.into_bytes()
}

/// `(used, limit)` in KiB from `* QUOTA root (... STORAGE used limit ...)`.
fn storage_limit(line: &str) -> Option<(u64, u64)> {
    if !line.to_ascii_uppercase().starts_with("* QUOTA ") {
        return None;
    }
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let i = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("STORAGE"))?;
    let used = words.get(i + 1)?.parse().ok()?;
    let limit = words.get(i + 2)?.parse().ok()?;
    Some((used, limit))
}

/// Whether a step cuts an APPEND (which needs to know of LITERAL+).
fn cuts_appends(steps: &[Step]) -> bool {
    steps.iter().any(|s| match &s.action {
        Action::AppendCut { .. } => true,
        Action::Repeat { body, .. } => cuts_appends(body),
        _ => false,
    })
}

/// Whether any expectation's level depends on a capability (`with CAP`).
fn conditional_levels(steps: &[Step]) -> bool {
    steps.iter().any(|s| {
        s.level.with_capability.is_some()
            || s.must
                .iter()
                .chain(&s.must_not)
                .chain(&s.capture)
                .chain(&s.seen)
                .any(|e| e.level.with_capability.is_some())
            || matches!(&s.action, Action::Repeat { body, .. } if conditional_levels(body))
    })
}

/// Asks the server for the personal namespace `$ns/NAME` maps to: NAMESPACE
/// (RFC 2342) when announced, else `LIST "" ""` for the delimiter (RFC 3501
/// 6.3.8: "An empty ("" string) mailbox name argument is a special request to
/// return the hierarchy delimiter and the root name"), else `("" "/")`.
/// Logs in as the first account any scenario uses; None when none does or the
/// server cannot be reached (the scenarios then report that themselves).
pub(super) async fn learn_namespace(
    scenarios: &[Scenario],
    target: &Target,
    options: &RunOptions,
) -> Option<NamespaceInfo> {
    let (index, scenario, user) = scenarios
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.users.first().map(|u| (i, s, u.clone())))?;
    let account = target.account(index, scenario, &user).ok()?;
    let url = target.url(&crate::scenario::Security::Default).ok()?;
    let opts = SessionOptions {
        limits: options.limits.clone(),
        insecure: target.insecure(),
        clock: target.clock(),
    };
    let rec = Recorder::new(Box::new(std::io::sink()), "namespace").ok()?;
    let mut s = Session::connect(&url, "namespace", &rec, &opts)
        .await
        .ok()?;
    s.login(&account.user, &account.password).await.ok()?;
    let caps = s.command("CAPABILITY").await.ok()?;
    let has_namespace = caps.untagged.iter().any(|e| {
        matches!(&e.kind, EventKind::Server { message: ServerMessage::Capability(c), .. } if c.iter().any(|x| x.eq_ignore_ascii_case("NAMESPACE")))
    });
    let none = HashMap::new();
    let mut found = None;
    if has_namespace {
        // `* NAMESPACE (("INBOX." ".") ...) NIL NIL`: the first personal one.
        let p = crate::scenario::Pattern::new("* NAMESPACE (({prefix} {delim} ...) ...) ...");
        if let Ok(reply) = s.command("NAMESPACE").await {
            found = reply
                .untagged
                .iter()
                .filter_map(server_raw)
                .find_map(|r| p.matches_bytes(r, &none))
                .map(|b| (b, "NAMESPACE"));
        }
    }
    if found.is_none() {
        let p = crate::scenario::Pattern::new("* LIST {_} {delim} ...");
        if let Ok(reply) = s.command("LIST \"\" \"\"").await {
            found = reply
                .untagged
                .iter()
                .filter_map(server_raw)
                .find_map(|r| p.matches_bytes(r, &none))
                .map(|b| (b, "LIST"));
        }
    }
    let _ = s.logout().await;
    let (b, source) = found.unwrap_or_default();
    // NIL: a flat namespace, where `/` in a logical name stays as written.
    let delimiter = b
        .get("delim")
        .filter(|d| !d.eq_ignore_ascii_case("NIL") && !d.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into());
    Some(NamespaceInfo {
        prefix: b.get("prefix").cloned().unwrap_or_default(),
        delimiter,
        source: if source.is_empty() { "default" } else { source }.to_string(),
    })
}
