//! Runs scenarios against a server (the embedded reference server, or a foreign
//! one by URL), with every check on, and returns plain results.
//!
//! Each scenario gets its own recorder (transcript + checks) and, on the embedded
//! server, its own accounts, so scenarios are isolated and can run in parallel.
//! Against a foreign server the given accounts are shared: scenarios run one at
//! a time and each starts by emptying the accounts' INBOX.

mod exec;
pub mod recorder;
pub mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scenario::Scenario;
use crate::wire::Limits;

pub use crate::results::{Failure, RunReport, ScenarioResult, Status};
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
    let options = Arc::new(options);
    let mut tasks = Vec::new();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        let (sem, target, options, progress, done) = (
            semaphore.clone(),
            target.clone(),
            options.clone(),
            progress.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let result = exec::run_scenario(&scenario, index, &target, &options).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(&result, n, total);
            result
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            results.push(r);
        }
    }
    RunReport {
        server: target.describe(),
        results,
        millis: started.elapsed().as_millis() as u64,
    }
}
