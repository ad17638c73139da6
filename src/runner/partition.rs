//! `--partition K/N`: which share of the scenarios one of N machines runs.
//!
//! Deterministic and balanced: every scenario gets an expected cost from what
//! it declares (its waits and stays, the time it lets a server take to close,
//! the messages it delivers, its steps, repeats multiplied out), waits as the
//! target takes them (capped by `--max-wait`, compressed on the embedded
//! server's clock — so every partition of one run must get the same target
//! and `--max-wait`); scenarios are
//! dealt, most expensive first (ties by id), each to the least-loaded partition
//! (ties to the lowest K). So long scenarios are spread, not clumped, and the
//! same scenarios land in the same partition on every machine. Within a
//! partition the scenarios keep the run's order.

use std::time::Duration;

use crate::scenario::{Action, Scenario, Step};

/// `K/N`, 1 <= K <= N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("bad --partition `{s}`: {why}; expected K/N with 1 <= K <= N, e.g. 2/3")
        };
        let (k, n) = s.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| bad("K is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if n == 0 {
            return Err(bad("N must be at least 1"));
        }
        if k == 0 || k > n {
            return Err(bad("K must be between 1 and N"));
        }
        Ok(Partition { k, n })
    }
}

/// Fixed cost of any scenario (connecting, provisioning), in cost units (~ms).
const BASE: u64 = 200;
/// Cost of one step (a command round trip).
const PER_STEP: u64 = 5;
/// A bound on the estimate, so absurd repeat counts cannot overflow it.
const MAX: u64 = u64::MAX / 4;

/// What things cost on the target: waits capped, then divided by the clock's
/// speedup; each delivered message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waits {
    pub max_wait: Option<Duration>,
    /// Virtual seconds per real second (1 on a foreign server).
    pub speedup: f64,
    /// Microseconds per delivered message (an APPEND or SMTP round trip on a
    /// foreign server; put in place directly on the embedded one).
    pub message_us: u64,
}

impl Default for Waits {
    /// A foreign server.
    fn default() -> Self {
        Waits {
            max_wait: None,
            speedup: 1.0,
            message_us: 2000,
        }
    }
}

impl Waits {
    /// The embedded server (compressed clock, mail put in place).
    pub fn embedded(max_wait: Option<Duration>) -> Self {
        Waits {
            max_wait,
            speedup: crate::runner::target::EMBEDDED_SPEEDUP,
            message_us: 5,
        }
    }

    fn millis(&self, d: &Duration) -> u64 {
        let d = self.max_wait.map_or(*d, |m| m.min(*d));
        let ms = d.as_secs_f64() * 1000.0 / self.speedup.max(1.0);
        if ms >= MAX as f64 {
            MAX
        } else {
            ms as u64
        }
    }
}

fn steps_cost(steps: &[Step], w: &Waits) -> u64 {
    steps
        .iter()
        .map(|s| {
            let own = match &s.action {
                Action::Wait(d) => w.millis(d),
                Action::Stay { time, .. } => w.millis(time),
                Action::ExpectClose { within, .. } => w.millis(within),
                Action::Deliver { count, .. } | Action::Smtp { count, .. } => {
                    u64::from(*count).saturating_mul(w.message_us) / 1000
                }
                Action::Repeat { count, body } => {
                    u64::from(*count).saturating_mul(steps_cost(body, w))
                }
                _ => 0,
            };
            own.saturating_add(PER_STEP).min(MAX)
        })
        .fold(0u64, |a, b| a.saturating_add(b).min(MAX))
}

/// A scenario's expected cost (~ms of real time on the target).
pub fn cost(s: &Scenario, w: &Waits) -> u64 {
    BASE.saturating_add(steps_cost(&s.steps, w))
}

/// The partition (0-based) each scenario goes to, by position in `scenarios`.
pub fn assign(scenarios: &[Scenario], n: usize, w: &Waits) -> Vec<usize> {
    let n = n.max(1);
    let mut order: Vec<(u64, &str, usize)> = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (cost(s, w), s.id.as_str(), i))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut load = vec![0u64; n];
    let mut out = vec![0usize; scenarios.len()];
    for (c, _, i) in order {
        let mut best = 0;
        for (p, l) in load.iter().enumerate() {
            if *l < load[best] {
                best = p;
            }
        }
        load[best] = load[best].saturating_add(c);
        out[i] = best;
    }
    out
}

/// The scenarios of partition `p`, in their run order.
pub fn select(scenarios: Vec<Scenario>, p: Partition, w: &Waits) -> Vec<Scenario> {
    let assigned = assign(&scenarios, p.n, w);
    scenarios
        .into_iter()
        .zip(assigned)
        .filter(|(_, a)| *a == p.k - 1)
        .map(|(s, _)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Vec<Scenario> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        crate::scenario::load_dir(&dir).expect("bundled scenarios load")
    }

    #[test]
    fn k_over_n_parses_and_bad_values_say_why() {
        assert_eq!("2/3".parse(), Ok(Partition { k: 2, n: 3 }));
        assert_eq!("1/1".parse(), Ok(Partition { k: 1, n: 1 }));
        for (bad, why) in [
            ("0/3", "between 1 and N"),
            ("4/3", "between 1 and N"),
            ("1/0", "at least 1"),
            ("x/3", "K is not"),
            ("1/y", "N is not"),
            ("3", "no `/`"),
            ("-1/3", "K is not"),
        ] {
            let e = bad.parse::<Partition>().expect_err(bad);
            assert!(e.contains(why) && e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_scenario_in_exactly_one_partition_and_the_same_every_time() {
        let all = bundled();
        for n in 1..=5 {
            let mut seen: Vec<String> = Vec::new();
            for k in 1..=n {
                let part = select(all.clone(), Partition { k, n }, &Waits::default());
                let again = select(all.clone(), Partition { k, n }, &Waits::default());
                let ids: Vec<String> = part.iter().map(|s| s.id.clone()).collect();
                let ids2: Vec<String> = again.iter().map(|s| s.id.clone()).collect();
                assert_eq!(ids, ids2, "deterministic");
                // Run order kept within a partition.
                let pos: Vec<usize> = ids
                    .iter()
                    .filter_map(|id| all.iter().position(|s| &s.id == id))
                    .collect();
                assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
                seen.extend(ids);
            }
            seen.sort();
            let mut want: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
            want.sort();
            assert_eq!(seen, want, "n = {n}");
        }
    }

    #[test]
    fn long_scenarios_are_spread_and_loads_balanced() {
        let all = bundled();
        let n = 3;
        // As on the embedded server's compressed clock, where the waits do not
        // dwarf everything else.
        let w = Waits::embedded(None);
        let cost = |s: &Scenario| cost(s, &w);
        let assigned = assign(&all, n, &w);
        let mut load = vec![0u64; n];
        for (s, p) in all.iter().zip(&assigned) {
            load[*p] += cost(s);
        }
        // The three most expensive scenarios land in three partitions.
        let mut by_cost: Vec<(u64, usize)> = all
            .iter()
            .zip(&assigned)
            .map(|(s, p)| (cost(s), *p))
            .collect();
        by_cost.sort_by_key(|b| std::cmp::Reverse(b.0));
        let mut top: Vec<usize> = by_cost.iter().take(3).map(|x| x.1).collect();
        top.sort();
        assert_eq!(top, vec![0, 1, 2], "{by_cost:?}");
        // Greedy dealing: no partition exceeds another by more than the
        // largest single scenario.
        let max = *load.iter().max().unwrap_or(&0);
        let min = *load.iter().min().unwrap_or(&0);
        assert!(max - min <= by_cost[0].0, "{load:?}");
    }

    #[test]
    fn waits_cost_as_the_target_takes_them() {
        let all = bundled();
        let idle = all
            .iter()
            .find(|s| s.id.contains("31m"))
            .expect("31m scenario");
        let noop = all
            .iter()
            .find(|s| s.id == "rfc/noop-always-ok")
            .expect("noop scenario");
        let real = Waits::default();
        assert!(cost(idle, &real) > 1000 * cost(noop, &real));
        assert!(cost(idle, &real) >= 31 * 60 * 1000);
        let capped = Waits {
            max_wait: Some(Duration::from_secs(5)),
            ..Waits::default()
        };
        assert!(cost(idle, &capped) < cost(idle, &real) / 10);
        assert!(cost(idle, &capped) > cost(noop, &capped));
        let compressed = Waits::embedded(None);
        assert!(cost(idle, &compressed) < cost(idle, &real) / 100);
        assert_eq!(cost(noop, &compressed), cost(noop, &real));
    }
}
