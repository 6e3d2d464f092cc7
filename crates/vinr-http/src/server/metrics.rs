//! Prometheus metrics: `GET /metrics` (no auth; bind it to loopback in production).
//!
//! - `vinr_http_requests_total{route,method,status}`: a counter per matched route template
//!   (`/v1/customers/{id}`, never the raw path, so ids do not become series), method and
//!   status; requests that matched no route count under `route="unmatched"`.
//! - `vinr_http_request_duration_seconds{route,method}`: a histogram with fixed buckets.
//!
//! Outbox depth and delivery metrics belong to the webhook dispatcher and are not here yet.
//! The registry is a map of atomic series: a request takes a read lock and adds atomically;
//! only the first request of a new series takes the write lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// Upper bounds of the latency buckets, in seconds (`+Inf` follows).
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The Prometheus text exposition content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative), then `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of observations in nanoseconds.
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

type CounterKey = (String, String, u16);
type HistogramKey = (String, String);

/// The metrics registry of a server.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<CounterKey, Arc<AtomicU64>>>,
    latency: RwLock<BTreeMap<HistogramKey, Arc<Histogram>>>,
}

/// A method as a label: the standard ones by name, anything else `OTHER` (bounded labels).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The series of `key` in `map`, created on first use.
fn series<K: Ord + Clone, V: Default>(map: &RwLock<BTreeMap<K, Arc<V>>>, key: K) -> Arc<V> {
    if let Some(found) = map.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Arc::clone(found);
    }
    let mut write = map.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(write.entry(key).or_default())
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: &str, method: &Method, status: u16, latency: Duration) {
        let method = method_label(method).to_owned();
        series(&self.requests, (route.to_owned(), method.clone(), status))
            .fetch_add(1, Ordering::Relaxed);
        series(&self.latency, (route.to_owned(), method)).observe(latency);
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP vinr_http_requests_total HTTP requests answered, by route template, method and status.\n\
             # TYPE vinr_http_requests_total counter\n",
        );
        for ((route, method, status), n) in self
            .requests
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "vinr_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP vinr_http_request_duration_seconds Time to answer HTTP requests, by route template and method.\n\
             # TYPE vinr_http_request_duration_seconds histogram\n",
        );
        for ((route, method), h) in self
            .latency
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            let mut cumulative = 0u64;
            for (i, bucket) in h.buckets.iter().enumerate() {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "vinr_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "vinr_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "vinr_http_request_duration_seconds_count{{{labels}}} {}",
                h.count.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// More metrics for `/metrics`, rendered after the server's own (the webhook outbox's depth
/// and lag and the dispatcher's counters, which live outside this crate).
#[async_trait::async_trait]
pub trait MetricsSource: Send + Sync + 'static {
    /// Lines in the Prometheus text format, each ending in a newline.
    async fn render(&self) -> String;
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics().render();
    for source in state.metric_sources() {
        text.push_str(&source.render().await);
    }
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// The `/metrics` route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.record(
            "/v1/customers",
            &Method::POST,
            200,
            Duration::from_micros(800),
        );
        m.record(
            "/v1/customers",
            &Method::POST,
            200,
            Duration::from_millis(30),
        );
        m.record("/v1/customers", &Method::POST, 400, Duration::from_secs(9));
        m.record(
            "a\"b",
            &Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::ZERO,
        );
        let text = m.render();
        assert!(text.contains(
            "vinr_http_requests_total{route=\"/v1/customers\",method=\"POST\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "vinr_http_requests_total{route=\"/v1/customers\",method=\"POST\",status=\"400\"} 1\n"
        ));
        assert!(text.contains("route=\"a\\\"b\",method=\"OTHER\",status=\"404\"} 1\n"));
        let bucket = |le: &str| {
            let prefix = format!(
                "vinr_http_request_duration_seconds_bucket{{route=\"/v1/customers\",method=\"POST\",le=\"{le}\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(bucket("0.001"), 1);
        assert_eq!(bucket("0.025"), 1);
        assert_eq!(bucket("0.05"), 2);
        assert_eq!(bucket("5"), 2);
        assert_eq!(bucket("+Inf"), 3);
        assert!(text.contains(
            "vinr_http_request_duration_seconds_count{route=\"/v1/customers\",method=\"POST\"} 3\n"
        ));
        let sum_line = text
            .lines()
            .find(|l| {
                l.starts_with("vinr_http_request_duration_seconds_sum{route=\"/v1/customers\"")
            })
            .unwrap();
        let sum: f64 = sum_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 9.0308).abs() < 1e-9, "{sum}");
    }
}
