//! What a load run measured: a latency histogram per command (HDR, so runs of
//! several processes or machines merge exactly: histograms are added, never
//! averaged), errors by kind, connections held, CPU used; and the JSON report
//! those merge from.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// Latencies are kept in microseconds, from 1 µs to 1 h, 3 significant digits.
const HIGHEST_US: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant, valid bounds")
}

/// Latency figures of one command kind (or of all), from its histogram.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The histogram itself (HdrHistogram V2, base64): what merges add.
    pub histogram: String,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut bytes = Vec::new();
        // Writing to a Vec does not fail; a histogram that cannot be written
        // (none can) is kept as empty rather than losing the figures.
        let _ = V2Serializer::new().serialize(h, &mut bytes);
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn decode(&self) -> Result<Histogram<u64>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.histogram)
            .map_err(|e| format!("a histogram that is not base64: {e}"))?;
        Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| format!("a histogram that does not read: {e:?}"))
    }
}

/// One process's (or a merged) load report: `--report-json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    pub schema_version: u32,
    pub tool: String,
    pub command: String,
    pub server: String,
    pub profile: String,
    pub clients: u64,
    /// Processes whose results this holds (1 unless merged).
    pub processes: u64,
    pub seconds: f64,
    pub rampup_seconds: f64,
    pub commands: u64,
    pub commands_per_second: f64,
    /// CPU time this tool used (user + system), and per command.
    pub cpu_seconds: f64,
    pub cpu_ms_per_command: f64,
    /// Most connections open at once (summed over processes: they ran together).
    pub connections_peak: u64,
    /// Peak resident memory of the load generator (largest process), KiB.
    pub rss_peak_kib: u64,
    pub latency: Latency,
    pub per_command: BTreeMap<String, Latency>,
    /// Errors by kind: `no`, `bad` (answers), `timeout`, `closed`, `connect`, `login`.
    pub errors: BTreeMap<String, u64>,
    /// The first errors, word for word.
    pub error_samples: Vec<String>,
    pub findings: Vec<serde_json::Value>,
}

/// How many error texts a report keeps.
pub const MAX_SAMPLES: usize = 20;

impl LoadReport {
    /// The reports of processes that ran side by side, as one run's: counts
    /// and histograms added, the longest time, the peaks of memory.
    pub fn merge(parts: &[LoadReport]) -> Result<LoadReport, String> {
        let Some(first) = parts.first() else {
            return Err("no load reports to merge".into());
        };
        let mut all = histogram();
        let mut per: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut samples = Vec::new();
        let mut findings = Vec::new();
        let (mut clients, mut processes, mut commands, mut peak) = (0, 0, 0, 0);
        let (mut seconds, mut rampup, mut cpu, mut rss) = (0f64, 0f64, 0f64, 0u64);
        for (i, p) in parts.iter().enumerate() {
            if p.command != "load" {
                return Err(format!(
                    "report {}: not a load report (command `{}`)",
                    i + 1,
                    p.command
                ));
            }
            if p.server != first.server || p.profile != first.profile {
                return Err(format!(
                    "report {}: {} with profile {}, the first: {} with profile {} (merge parts of one run)",
                    i + 1,
                    p.server,
                    p.profile,
                    first.server,
                    first.profile
                ));
            }
            all.add(p.latency.decode()?).map_err(|e| format!("{e:?}"))?;
            for (k, l) in &p.per_command {
                let h = per.entry(k.clone()).or_insert_with(histogram);
                h.add(l.decode()?).map_err(|e| format!("{e:?}"))?;
            }
            for (k, n) in &p.errors {
                *errors.entry(k.clone()).or_default() += n;
            }
            for s in &p.error_samples {
                if samples.len() < MAX_SAMPLES {
                    samples.push(s.clone());
                }
            }
            findings.extend(p.findings.iter().cloned());
            clients += p.clients;
            processes += p.processes;
            commands += p.commands;
            peak += p.connections_peak;
            seconds = seconds.max(p.seconds);
            rampup = rampup.max(p.rampup_seconds);
            cpu += p.cpu_seconds;
            rss = rss.max(p.rss_peak_kib);
        }
        Ok(LoadReport {
            schema_version: first.schema_version,
            tool: first.tool.clone(),
            command: "load".into(),
            server: first.server.clone(),
            profile: first.profile.clone(),
            clients,
            processes,
            seconds,
            rampup_seconds: rampup,
            commands,
            commands_per_second: commands as f64 / seconds.max(1e-9),
            cpu_seconds: cpu,
            cpu_ms_per_command: cpu * 1000.0 / (commands.max(1) as f64),
            connections_peak: peak,
            rss_peak_kib: rss,
            latency: Latency::of(&all),
            per_command: per
                .iter()
                .map(|(k, h)| (k.clone(), Latency::of(h)))
                .collect(),
            errors,
            error_samples: samples,
            findings,
        })
    }
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0;
    if !ok {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// This process's peak resident memory, KiB (Linux reports `ru_maxrss` in KiB).
pub fn rss_peak_kib() -> u64 {
    // SAFETY: as above.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0;
    }
    u.ru_maxrss.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(values: &[u64], server: &str) -> LoadReport {
        let mut h = histogram();
        for v in values {
            h.record(*v).expect("in range");
        }
        LoadReport {
            schema_version: 2,
            tool: "imapspec".into(),
            command: "load".into(),
            server: server.into(),
            profile: "imaptest".into(),
            clients: 10,
            processes: 1,
            seconds: 2.0,
            rampup_seconds: 0.0,
            commands: values.len() as u64,
            commands_per_second: values.len() as f64 / 2.0,
            cpu_seconds: 0.5,
            cpu_ms_per_command: 0.0,
            connections_peak: 10,
            rss_peak_kib: 1000,
            latency: Latency::of(&h),
            per_command: [("noop".to_string(), Latency::of(&h))].into(),
            errors: [("no".to_string(), 1)].into(),
            error_samples: vec![],
            findings: vec![],
        }
    }

    #[test]
    fn merged_histograms_are_added_not_averaged() {
        let a = report(&[100; 99], "s");
        let b = report(&[100_000], "s");
        let m = LoadReport::merge(&[a.clone(), b]).expect("merge");
        assert_eq!(m.commands, 100);
        assert_eq!(m.latency.count, 100);
        // One slow command in 100: p99 is the fast one, max the slow one;
        // an average of the two p99s would say 50 ms.
        assert!(
            (m.latency.p99_ms - 0.1).abs() < 0.01,
            "{}",
            m.latency.p99_ms
        );
        assert!(
            (m.latency.max_ms - 100.0).abs() < 0.1,
            "{}",
            m.latency.max_ms
        );
        assert_eq!(m.errors["no"], 2);
        assert_eq!(m.clients, 20);
        assert_eq!(m.processes, 2);
        assert!(LoadReport::merge(&[a, report(&[1], "other")]).is_err());
    }
}
