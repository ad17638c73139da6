//! The one clock shared by the runner's waits, the sessions' timeouts and the
//! reference server's timers.
//!
//! A `Clock` is either real or compressed by a factor: a compressed clock turns a
//! scenario's "idle 31 minutes" into 31 minutes of *virtual* time that pass in a few
//! milliseconds of wall time. Everything that measures time (timestamps on recorded
//! bytes, autologout timers, waits) asks the clock, so the verdicts computed from
//! virtual timestamps are the same as with real time. No other module calls
//! `tokio::time` or `Instant::now` for protocol time.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::source::Timestamp;

#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    started: Instant,
    /// Virtual seconds per real second (1.0 for a real clock).
    factor: f64,
}

/// A wait or a read that ran past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl Clock {
    pub fn real() -> Self {
        Self::compressed(1.0)
    }

    /// A clock on which `factor` virtual seconds pass per real second.
    pub fn compressed(factor: f64) -> Self {
        let factor = if factor.is_finite() && factor >= 1.0 {
            factor
        } else {
            1.0
        };
        Clock {
            inner: Arc::new(ClockInner {
                started: Instant::now(),
                factor,
            }),
        }
    }

    pub fn factor(&self) -> f64 {
        self.inner.factor
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed().mul_f64(self.inner.factor)
    }

    /// The current virtual time as a transcript timestamp.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.elapsed().as_nanos().min(i64::MAX as u128) as i64)
    }

    /// Real time that corresponds to `d` of virtual time.
    pub fn to_real(&self, d: Duration) -> Duration {
        d.div_f64(self.inner.factor)
    }

    /// Sleeps for `d` of virtual time.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(self.to_real(d)).await
    }

    /// Runs `fut` for at most `d` of *real* time: for bounds that protect
    /// against a peer (connect, handshake, write), which must not shrink when
    /// the clock runs compressed.
    pub async fn timeout_real<F: Future>(&self, d: Duration, fut: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(d, fut).await.map_err(|_| Elapsed)
    }

    /// Runs `fut` for at most `d` of virtual time.
    pub async fn timeout<F: Future>(&self, d: Duration, fut: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(self.to_real(d), fut)
            .await
            .map_err(|_| Elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compressed_clock_runs_virtual_time_fast() {
        let clock = Clock::compressed(60_000.0);
        let before = std::time::Instant::now();
        clock.sleep(Duration::from_secs(60)).await; // one virtual minute = 1 ms
        assert!(clock.elapsed() >= Duration::from_secs(60));
        assert!(before.elapsed() < Duration::from_secs(5));
        assert!(clock
            .timeout(Duration::from_secs(1), std::future::pending::<()>())
            .await
            .is_err());
    }
}
