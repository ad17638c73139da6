//! Runs scenarios against a server (the embedded reference server, or a foreign
//! one by URL), with every check on, and returns plain results.
//!
//! Each scenario gets its own recorder (transcript + checks) and, on the embedded
//! server, its own accounts, so scenarios are isolated and can run in parallel.
//! Against a foreign server the given accounts are shared: scenarios run one at
//! a time and each starts by emptying the accounts' INBOX.

mod exec;
pub mod partition;
pub mod recorder;
pub mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scenario::Scenario;
use crate::wire::Limits;

pub use crate::results::{Failure, NamespaceInfo, RunReport, ScenarioResult, Status};
pub use target::{Account, Target};

/// Told of each scenario result as it comes: (result, done so far, total).
pub type Progress = Arc<dyn Fn(&ScenarioResult, usize, usize) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    /// Caps every wait against a foreign server.
    pub max_wait: Option<Duration>,
    pub transcripts: PathBuf,
    pub limits: Limits,
    /// Warnings (SHOULD) fail scenarios too.
    pub strict: bool,
    /// The personal namespace `$ns/NAME` maps to; `run` learns it from the
    /// server when None.
    pub namespace: Option<NamespaceInfo>,
    /// A bound on the whole run: scenarios not finished by then are errors
    /// ("not run"), and the report is still written.
    pub timeout: Option<Duration>,
}

/// Runs every scenario; `progress` is told of each result as it comes.
pub async fn run(
    scenarios: Vec<Scenario>,
    target: Arc<Target>,
    options: RunOptions,
    progress: Progress,
) -> RunReport {
    let started = Instant::now();
    let total = scenarios.len();
    let jobs = if target.shared_accounts() {
        1
    } else {
        options.jobs.max(1)
    };
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut options = options;
    if options.namespace.is_none() {
        options.namespace = exec::learn_namespace(&scenarios, &target, &options).await;
    }
    let namespace = options.namespace.clone();
    let options = Arc::new(options);
    let mut tasks = Vec::new();
    let mut pending = Vec::new();
    // Whether each scenario got its turn, for the reason a timed-out one gives.
    let started_flags: Vec<Arc<std::sync::atomic::AtomicBool>> = (0..total)
        .map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)))
        .collect();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        let (sem, target, options, progress, done) = (
            semaphore.clone(),
            target.clone(),
            options.clone(),
            progress.clone(),
            done.clone(),
        );
        pending.push(scenario.clone());
        let began = started_flags[index].clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            began.store(true, std::sync::atomic::Ordering::Relaxed);
            let result = exec::run_scenario(&scenario, index, &target, &options).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&result, n, total);
            result
        }));
    }
    // --timeout bounds the whole run in real time (the embedded clock may be
    // compressed; a CI job's budget is not).
    let deadline = options.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut results = Vec::new();
    let mut timed_out = false;
    for (i, mut t) in tasks.into_iter().enumerate() {
        let joined = match deadline {
            Some(d) => match tokio::time::timeout_at(d, &mut t).await {
                Ok(j) => Some(j),
                Err(_) => {
                    t.abort();
                    None
                }
            },
            None => Some(t.await),
        };
        match joined {
            Some(Ok(r)) => results.push(r),
            Some(Err(e)) => results.push(exec::error_result(
                &pending[i],
                format!("the scenario's task ended abnormally: {e}"),
                started,
            )),
            None => {
                timed_out = true;
                let limit = options
                    .timeout
                    .map(crate::source::human_duration)
                    .unwrap_or_default();
                let why = if started_flags[i].load(std::sync::atomic::Ordering::Relaxed) {
                    format!("stopped by --timeout {limit}: the run's time ran out during this scenario (its transcript holds what happened so far)")
                } else {
                    format!(
                        "not run: the run's --timeout {limit} ran out before this scenario's turn"
                    )
                };
                let mut r = exec::error_result(&pending[i], why, started);
                r.millis = 0;
                if started_flags[i].load(std::sync::atomic::Ordering::Relaxed) {
                    r.transcript = Some(exec::transcript_path(&pending[i], &options));
                }
                results.push(r);
            }
        }
    }
    RunReport {
        server: target.describe(),
        server_name: target.default_name(),
        partition: None,
        baseline: None,
        results,
        millis: started.elapsed().as_millis() as u64,
        strict: options.strict,
        namespace,
        timed_out,
    }
}
