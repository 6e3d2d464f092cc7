//! The figures of one timed window: the JSON line `vinr-bench load` prints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs to a minute, at 3 significant digits.
pub(crate) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Records one latency.
pub(crate) fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    histogram.saturating_record(micros);
}

/// The server's resources over a scenario (from `/proc/PID`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerUsage {
    /// Peak resident set (`VmHWM`), KiB: over the scenario when the peak could be reset before
    /// it (`rss_reset`), else since the server started.
    pub(crate) peak_rss_kib: u64,
    /// Whether the peak was reset before the scenario.
    pub(crate) rss_reset: bool,
    /// User plus system CPU time spent in the timed window, seconds.
    pub(crate) cpu_s: f64,
}

/// The figures of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// The scenario's name.
    pub(crate) scenario: String,
    /// Keep-alive connections.
    pub(crate) connections: u32,
    /// The timed window, seconds.
    pub(crate) duration_s: f64,
    /// Requests answered in the window (successes and errors).
    pub(crate) count: u64,
    /// Non-2xx answers plus transport failures.
    pub(crate) errors: u64,
    /// Successful (2xx) requests per second.
    pub(crate) requests_per_s: f64,
    /// Latency percentiles of the successful requests, microseconds.
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) max_us: u64,
    pub(crate) mean_us: f64,
    /// The server's peak RSS and CPU, when its pid was given.
    pub(crate) server: Option<ServerUsage>,
    /// The load generator's own CPU time in the window, seconds.
    pub(crate) generator_cpu_s: Option<f64>,
    /// CPU time the whole machine was busy in the window (every CPU, every process), seconds.
    pub(crate) machine_busy_s: Option<f64>,
}

impl Summary {
    /// Summarises a window of `elapsed`: `histogram` holds the successful requests' latencies,
    /// `errors` counts the failures.
    pub(crate) fn new(
        scenario: &str,
        connections: u32,
        elapsed: Duration,
        histogram: &Histogram<u64>,
        errors: u64,
    ) -> Summary {
        let ok = histogram.len();
        let seconds = elapsed.as_secs_f64();
        let quantile = |q: f64| {
            if ok == 0 {
                0
            } else {
                histogram.value_at_quantile(q)
            }
        };
        Summary {
            scenario: scenario.to_owned(),
            connections,
            duration_s: round3(seconds),
            count: ok + errors,
            errors,
            requests_per_s: if seconds > 0.0 {
                round1(ok as f64 / seconds)
            } else {
                0.0
            },
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            max_us: if ok == 0 { 0 } else { histogram.max() },
            mean_us: if ok == 0 {
                0.0
            } else {
                round1(histogram.mean())
            },
            server: None,
            generator_cpu_s: None,
            machine_busy_s: None,
        }
    }

    /// The JSON line.
    pub(crate) fn to_json_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut histogram = new_histogram().unwrap();
        // 1..=1000 µs, once each: p50 = 500, p99 = 990, p99.9 = 999.
        for micros in 1..=1000 {
            record(&mut histogram, Duration::from_micros(micros));
        }
        let summary = Summary::new("x", 64, Duration::from_secs(2), &histogram, 3);
        assert_eq!(summary.count, 1003);
        assert_eq!(summary.errors, 3);
        assert!((summary.requests_per_s - 500.0).abs() < 1e-9);
        assert_eq!(summary.p50_us, 500);
        assert_eq!(summary.p99_us, 990);
        assert_eq!(summary.p999_us, 999);
        assert_eq!(summary.max_us, 1000);
        assert!((summary.mean_us - 500.5).abs() < 1e-9);
    }

    #[test]
    fn a_window_without_successes_reports_zeroes() {
        let summary = Summary::new("x", 1, Duration::from_secs(1), &new_histogram().unwrap(), 7);
        assert_eq!((summary.count, summary.errors), (7, 7));
        assert_eq!((summary.p50_us, summary.p99_us, summary.max_us), (0, 0, 0));
        assert!(summary.requests_per_s.abs() < f64::EPSILON);
    }

    #[test]
    fn latencies_are_clamped_not_dropped() {
        let mut histogram = new_histogram().unwrap();
        record(&mut histogram, Duration::ZERO);
        record(&mut histogram, Duration::from_secs(3600));
        assert_eq!(histogram.len(), 2);
        assert_eq!(histogram.min(), 1);
    }

    #[test]
    fn the_json_line_round_trips_and_names_every_figure() {
        let mut histogram = new_histogram().unwrap();
        record(&mut histogram, Duration::from_micros(250));
        let mut summary = Summary::new(
            "retrieve_customer",
            64,
            Duration::from_secs(1),
            &histogram,
            0,
        );
        summary.server = Some(ServerUsage {
            peak_rss_kib: 20_480,
            rss_reset: true,
            cpu_s: 1.5,
        });
        let line = summary.to_json_line();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        for field in [
            "scenario",
            "requests_per_s",
            "p50_us",
            "p99_us",
            "p999_us",
            "errors",
            "count",
        ] {
            assert!(value.get(field).is_some(), "{field} missing from {line}");
        }
        let back: Summary = serde_json::from_str(&line).unwrap();
        assert_eq!(back, summary);
    }
}
