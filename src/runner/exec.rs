//! Executes one scenario's steps on live sessions and judges the outcome.

use std::collections::HashMap;
use std::io::BufWriter;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recorder::{Recorder, SharedRecorder};
use super::{Failure, RunOptions, ScenarioResult, Status, Target};
use crate::event::{Event, EventKind};
use crate::finding::{excerpt, Finding};
use crate::scenario::{Action, Expect, Scenario, Step};
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
    /// Waits cut short by --max-wait: (asked, waited).
    capped: Vec<(Duration, Duration)>,
    capabilities_checked: bool,
    skipped: Option<String>,
    delivered: u32,
}

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
    let name = scenario.id.replace('/', "__");
    let path = options.transcripts.join(format!("{name}.transcript"));
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
        capped: Vec::new(),
        capabilities_checked: false,
        skipped: None,
        delivered: 0,
    };
    let mut outcome = Ok(());
    if target.shared_accounts() {
        outcome = run.clean_accounts().await;
    }
    if outcome.is_ok() {
        outcome = run.steps(&scenario.steps).await;
    }
    // Close what is still open, from the client side, as a client would.
    let names: Vec<String> = run.sessions.keys().cloned().collect();
    for n in names {
        if let Some(mut s) = run.sessions.remove(&n) {
            if !s.is_closed() {
                let _ = s.close().await;
            }
        }
    }
    let mut findings = {
        let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
        let _ = r.flush();
        r.checker.findings.list.clone()
    };
    findings.extend(run.step_findings.clone());
    // A warning fails the scenario too when it is about a check the scenario
    // was written for (its `targets`).
    let violation = findings.iter().any(|f| {
        f.severity == crate::finding::Severity::Violation
            || scenario.targets.iter().any(|t| t == f.check)
    });
    let (status, reason) = match outcome {
        Err(Stop::Skip(why)) => (Status::Skipped, Some(why)),
        Err(Stop::Error(why)) if !violation => (Status::Error, Some(why)),
        Err(Stop::Inconclusive(why)) if !violation && run.failures.is_empty() => {
            (Status::Inconclusive, Some(why))
        }
        _ if violation || !run.failures.is_empty() => (Status::Failed, None),
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
        failures: run.failures,
        transcript: Some(path.display().to_string()),
        millis: started.elapsed().as_millis() as u64,
    }
}

fn error_result(s: &Scenario, why: String, started: Instant) -> ScenarioResult {
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
        failures: Vec::new(),
        transcript: None,
        millis: started.elapsed().as_millis() as u64,
    }
}

impl Run<'_> {
    fn fail(&mut self, step: &Step, line: u64, message: String) {
        if let Some((check, why)) = &step.on_fail {
            if let Some(info) = crate::checks::info(check) {
                let message = if why.is_empty() {
                    message
                } else {
                    format!("{why}: {message}")
                };
                self.step_findings.push(Finding {
                    check: info.id,
                    severity: info.severity,
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
                if !self.capabilities_checked && !self.scenario.requires.is_empty() {
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
                self.judge(step, &reply);
            }
            Action::Raw {
                session,
                bytes,
                chunk,
            } => {
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
                let s = self.session(session, line)?;
                let r = if *nonsync {
                    s.append_nonsync(&mailbox, &data).await
                } else {
                    s.append(&mailbox, "", &data).await
                };
                match r {
                    Ok(reply) => self.judge(step, &reply),
                    Err(e) => return self.session_error(step, session, e),
                }
            }
            Action::StartTlsInject { session } => {
                match self.session(session, line)?.starttls_with_injection().await {
                    Ok(reply) => self.judge(step, &reply),
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
                    Ok(reply) => self.judge(step, &reply),
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
                while found.is_none() {
                    let left = deadline.saturating_sub(clock.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match s.next_event_within(left).await {
                        Ok(Some(e)) => {
                            if let Some(b) = first_line(&e).and_then(|l| pattern.matches(&l, &vars))
                            {
                                found = Some(b);
                            }
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                match found {
                    Some(b) => self.vars.extend(b),
                    None if self.capped.last().is_some_and(|&(_, w)| w == within) => {
                        return Err(Stop::Inconclusive(format!(
                            "no `{}` within the {} allowed by --max-wait (the scenario waits up to {})",
                            pattern.text,
                            human_duration(within),
                            human_duration(self.capped.last().map_or(within, |c| c.0))
                        )));
                    }
                    None => {
                        self.fail(
                            step,
                            line,
                            format!(
                                "no response matching `{}` within {}",
                                pattern.text,
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
    fn judge(&mut self, step: &Step, reply: &Reply) {
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
        let lines: Vec<String> = reply.untagged.iter().filter_map(first_line).collect();
        for (l, p) in step.must.clone() {
            if !lines.iter().any(|x| p.matches(x, &self.vars).is_some()) {
                self.fail(
                    step,
                    l,
                    format!("no untagged response matched `{}`", p.text),
                );
            }
        }
        for (l, p) in step.must_not.clone() {
            if let Some(x) = lines.iter().find(|x| p.matches(x, &self.vars).is_some()) {
                self.fail(
                    step,
                    l,
                    format!("`{x}` matched `{}`, which must not appear", p.text),
                );
            }
        }
        for (l, p) in step.capture.clone() {
            match lines.iter().find_map(|x| p.matches(x, &self.vars)) {
                Some(b) => self.vars.extend(b),
                None => self.fail(
                    step,
                    l,
                    format!("nothing to capture: no response matched `{}`", p.text),
                ),
            }
        }
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
        let mailbox = mailbox.unwrap_or("INBOX");
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

fn first_line(e: &Event) -> Option<String> {
    match &e.kind {
        EventKind::Server { .. } => Some(crate::wire::decode::first_line(&e.raw).to_string()),
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
