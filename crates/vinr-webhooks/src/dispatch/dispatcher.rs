//! The [`Dispatcher`]: fan-out, claim, sign, send, record; and the loop that keeps doing it.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream;
use tokio::task::JoinSet;
use vinr_domain::webhook::EndpointStatus;
use vinr_ports::clock::Clock;
use vinr_ports::delivery::{AttemptRecord, DeliveryJob, DeliveryStatus, DeliveryStore};
use vinr_ports::store::StoreError;

use super::schedule::{Jitter, RandomJitter, RetrySchedule};
use super::sender::{DEFAULT_TIMEOUT, SendError, Sender};
use super::stats::DispatchStats;
use crate::signature::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header};

/// How long events are kept (api.md §6): 30 days.
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// "Never purged yet", in [`Dispatcher::last_purge`].
const NEVER: i64 = i64::MIN;

/// The longest lease accepted.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

/// How the dispatcher works. [`Default`] is what `vinr serve` should use, with the schedule
/// of `--webhook-retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// The delays between attempts. Default: `1m,5m,30m,2h,6h,12h,24h,24h`.
    pub schedule: RetrySchedule,
    /// How long an attempt may wait for an answer. Default: 10 s.
    pub timeout: Duration,
    /// How long a claimed delivery stays leased to this dispatcher; at least twice `timeout`,
    /// so an attempt is recorded before another worker may take the delivery. Default: 30 s.
    pub lease: Duration,
    /// How many deliveries one claim takes at most, and how many events one fan-out handles
    /// at most. Default: 100.
    pub batch_size: usize,
    /// How many attempts are in flight at once. Default: 32.
    pub concurrency: usize,
    /// How long [`Dispatcher::run`] waits before looking again when it found nothing to do.
    /// Default: 1 s.
    pub idle_interval: Duration,
    /// How long [`Dispatcher::run`] waits after a store failure before trying again.
    /// Default: 5 s.
    pub error_pause: Duration,
    /// Events older than this are purged, with their deliveries; longer than the schedule.
    /// Default: 30 days.
    pub event_retention: Duration,
    /// How often the purge runs at most. Default: 1 h.
    pub purge_interval: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            timeout: DEFAULT_TIMEOUT,
            lease: Duration::from_secs(30),
            batch_size: 100,
            concurrency: 32,
            idle_interval: Duration::from_secs(1),
            error_pause: Duration::from_secs(5),
            event_retention: DEFAULT_EVENT_RETENTION,
            purge_interval: Duration::from_secs(3600),
        }
    }
}

/// Settings the dispatcher refuses; the text says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook dispatcher settings: {0}")]
pub struct ConfigError(&'static str);

impl DispatcherConfig {
    /// Checks the settings (see each field).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |why| Err(ConfigError(why));
        if self.timeout.is_zero() {
            return fail("the timeout must be positive");
        }
        if self.lease < self.timeout.saturating_mul(2) {
            return fail("the lease must be at least twice the timeout");
        }
        if self.lease > MAX_LEASE {
            return fail("the lease must be at most one day");
        }
        if self.batch_size == 0 {
            return fail("the batch size must be at least 1");
        }
        if self.concurrency == 0 {
            return fail("the concurrency must be at least 1");
        }
        if self.idle_interval.is_zero() || self.error_pause.is_zero() {
            return fail("the idle interval and the error pause must be positive");
        }
        if self.purge_interval.is_zero() {
            return fail("the purge interval must be positive");
        }
        let schedule: Duration = self.schedule.delays().iter().sum();
        if self.event_retention <= schedule {
            return fail("events must be kept longer than the retry schedule lasts");
        }
        if chrono::Duration::from_std(self.event_retention).is_err() {
            return fail("the event retention is too long");
        }
        Ok(())
    }
}

/// What one [`Dispatcher::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickReport {
    /// Deliveries created by fan-out.
    pub fanned_out: u64,
    /// Deliveries claimed, each attempted once.
    pub claimed: usize,
    /// Attempts answered 2xx.
    pub delivered: usize,
    /// Attempts that failed with a retry to come.
    pub retrying: usize,
    /// Attempts that failed with the schedule spent (or an endpoint that is disabled).
    pub failed: usize,
    /// Attempts another worker had already recorded (the lease ran out first).
    pub stale: usize,
    /// Attempts made whose record failed (the delivery is claimed again once its lease ends,
    /// and sent again: delivery is at least once).
    pub record_errors: usize,
    /// Events purged, when the purge ran in this tick and succeeded.
    pub purged: Option<u64>,
}

impl TickReport {
    /// Whether the tick found nothing to do (no delivery created, none due).
    pub fn is_idle(&self) -> bool {
        self.fanned_out == 0 && self.claimed == 0
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Stale => self.stale += 1,
            Outcome::RecordError => self.record_errors += 1,
        }
    }
}

/// A store call a tick cannot go on without failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// Fanning out new events failed.
    #[error("webhook fan-out failed: {0}")]
    FanOut(#[source] StoreError),
    /// Claiming due deliveries failed.
    #[error("claiming due webhook deliveries failed: {0}")]
    Claim(#[source] StoreError),
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retrying,
    Failed,
    Stale,
    RecordError,
}

/// Logs an attempt task that did not end normally (a bug: `deliver` does not panic).
fn note_join(done: Result<Outcome, tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "a webhook attempt task failed");
    }
}

/// What a fill found: new deliveries, and the deliveries leased to this dispatcher.
struct Fill {
    fanned_out: u64,
    purged: Option<u64>,
    jobs: Vec<DeliveryJob>,
}

/// The webhook delivery worker: turns the outbox into signed HTTP POSTs (api.md §6).
///
/// Each round ([`tick`](Self::tick)): purge events past their retention (at most once per
/// `purge_interval`), fan out new events into deliveries, claim up to `batch_size` due
/// deliveries (leased for `lease`), and attempt each, `concurrency` at a time: the event
/// serialized once into the body, signed by every secret of the endpoint valid now, `POST`ed
/// with `content-type: application/json`, `x-vinr-event-id` and `x-vinr-signature`. A 2xx
/// answer within `timeout` is a delivery; anything else (another status, a transport error, no
/// answer in time) is retried after the schedule's next delay ± 10 % jitter, and once the
/// schedule is spent the delivery is failed for that endpoint. Every attempt is recorded
/// (number, time, status, latency, error text without secrets or body).
///
/// Several dispatchers, in one process or many, may share one store: the store's leases give
/// each due delivery to one of them, and its guarded record keeps one record per attempt.
/// Delivery is at least once: an attempt whose record is lost (a crash between send and
/// record) is sent again once its lease ends.
pub struct Dispatcher {
    store: Arc<dyn DeliveryStore>,
    sender: Arc<dyn Sender>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    config: DispatcherConfig,
    lease: chrono::Duration,
    retention: chrono::Duration,
    stats: Arc<DispatchStats>,
    /// The Unix second of the last purge, or [`NEVER`].
    last_purge: AtomicI64,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.config)
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher over `store`, sending with `sender`, reading the time from `clock`, with
    /// random jitter ([`RandomJitter`]; see [`with_jitter`](Self::with_jitter)).
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        sender: Arc<dyn Sender>,
        clock: Arc<dyn Clock>,
        config: DispatcherConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let lease = chrono::Duration::from_std(config.lease)
            .map_err(|_| ConfigError("the lease must be at most one day"))?;
        let retention = chrono::Duration::from_std(config.event_retention)
            .map_err(|_| ConfigError("the event retention is too long"))?;
        Ok(Self {
            store,
            sender,
            clock,
            jitter: Arc::new(RandomJitter),
            config,
            lease,
            retention,
            stats: Arc::new(DispatchStats::default()),
            last_purge: AtomicI64::new(NEVER),
        })
    }

    /// The same dispatcher drawing its jitter from `jitter` (tests: a
    /// [`FixedJitter`](super::FixedJitter)).
    #[must_use]
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// Its settings.
    pub fn config(&self) -> &DispatcherConfig {
        &self.config
    }

    /// Its counters, shared: keep the `Arc` to read them while [`run`](Self::run) owns the
    /// dispatcher.
    pub fn stats(&self) -> Arc<DispatchStats> {
        Arc::clone(&self.stats)
    }

    /// One round: purge if due, fan out, claim up to `batch_size` due deliveries and attempt
    /// them all (`concurrency` at a time), recording each. Returns once every attempt of the
    /// round is recorded.
    ///
    /// Errors only when fan-out or the claim fails (nothing was sent then); a failed record or
    /// purge is logged and counted, not returned.
    pub async fn tick(&self) -> Result<TickReport, DispatchError> {
        let fill = self.fill(self.config.batch_size).await?;
        let mut report = TickReport {
            fanned_out: fill.fanned_out,
            claimed: fill.jobs.len(),
            purged: fill.purged,
            ..TickReport::default()
        };
        let outcomes: Vec<Outcome> = stream::iter(fill.jobs)
            .map(|job| self.deliver(job))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for outcome in outcomes {
            report.count(outcome);
        }
        Ok(report)
    }

    /// Works until `shutdown` completes, then finishes the attempts in flight (at most
    /// `timeout` and their records) and returns. Never panics and never gives up: a store
    /// failure is logged (`tracing`, warn) and retried after `error_pause`.
    ///
    /// It does what [`tick`](Self::tick) does, as a pipeline: up to `concurrency` attempts
    /// are in flight, and freed slots are refilled by new claims while slower attempts are
    /// still waiting, so one endpoint that times out does not hold up the others. When a
    /// round finds nothing to do, it waits `idle_interval` before looking again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let this = Arc::new(self);
        let mut shutdown = pin!(shutdown);
        let concurrency = this.config.concurrency;
        // Refill when a quarter of the slots are free, not on every completion: fewer claims.
        let refill_at = (concurrency / 4).max(1);
        // Each attempt is a task of its own, so it goes on while the loop waits on the store.
        let mut in_flight: JoinSet<Outcome> = JoinSet::new();
        let mut next_fill = tokio::time::Instant::now();
        loop {
            let free = concurrency.saturating_sub(in_flight.len());
            let can_fill = in_flight.is_empty() || free >= refill_at;
            let now = tokio::time::Instant::now();
            if can_fill && now >= next_fill {
                let limit = free.min(this.config.batch_size);
                match this.fill(limit).await {
                    Ok(fill) => {
                        // A full claim, or new deliveries, suggest more work: look again soon.
                        let busy = fill.fanned_out > 0 || fill.jobs.len() >= limit;
                        for job in fill.jobs {
                            let worker = Arc::clone(&this);
                            in_flight.spawn(async move { worker.deliver(job).await });
                        }
                        next_fill = if busy {
                            now
                        } else {
                            now + this.config.idle_interval
                        };
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            pause_ms = u64::try_from(this.config.error_pause.as_millis()).unwrap_or(u64::MAX),
                            "webhook dispatch failed; trying again after a pause"
                        );
                        next_fill = now + this.config.error_pause;
                    }
                }
            }
            // Shutdown is looked at first, even while there is always more work.
            let can_fill =
                in_flight.is_empty() || concurrency.saturating_sub(in_flight.len()) >= refill_at;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => note_join(done),
                () = tokio::time::sleep_until(next_fill), if can_fill => {}
            }
        }
        let left = in_flight.len();
        if left > 0 {
            tracing::info!(
                in_flight = left,
                "webhook dispatcher stopping: finishing attempts in flight"
            );
        }
        while let Some(done) = in_flight.join_next().await {
            note_join(done);
        }
        tracing::debug!("webhook dispatcher stopped");
    }

    /// Purge (if due), fan-out, and a claim of up to `limit` deliveries.
    async fn fill(&self, limit: usize) -> Result<Fill, DispatchError> {
        let now = self.clock.now();
        let purged = self.purge_if_due(now).await;
        let fanned_out = self
            .store
            .fan_out(now, self.config.batch_size)
            .await
            .map_err(|e| {
                self.stats.store_error();
                DispatchError::FanOut(e)
            })?;
        self.stats.fanned_out(fanned_out);
        let jobs = if limit == 0 {
            Vec::new()
        } else {
            self.store
                .claim_due(now, self.lease, limit)
                .await
                .map_err(|e| {
                    self.stats.store_error();
                    DispatchError::Claim(e)
                })?
        };
        self.note_lag(now, &jobs);
        Ok(Fill {
            fanned_out,
            purged,
            jobs,
        })
    }

    /// Records the lag of a claim (see [`StatsSnapshot::last_lag_seconds`]).
    ///
    /// [`StatsSnapshot::last_lag_seconds`]: super::StatsSnapshot::last_lag_seconds
    fn note_lag(&self, now: DateTime<Utc>, jobs: &[DeliveryJob]) {
        if jobs.is_empty() {
            self.stats.set_lag(0);
            return;
        }
        let lag = jobs
            .iter()
            .filter(|job| job.attempt == 1)
            .map(|job| (now - job.event.created).num_seconds().max(0))
            .max();
        if let Some(lag) = lag {
            self.stats.set_lag(u64::try_from(lag).unwrap_or(0));
        }
    }

    /// Purges events past their retention if the last purge is `purge_interval` old (or
    /// there was none); at most one caller purges per interval. `None` when it did not run
    /// or failed (logged).
    async fn purge_if_due(&self, now: DateTime<Utc>) -> Option<u64> {
        let second = now.timestamp();
        let last = self.last_purge.load(Ordering::Relaxed);
        let interval = i64::try_from(self.config.purge_interval.as_secs()).unwrap_or(i64::MAX);
        if last != NEVER && second.saturating_sub(last) < interval {
            return None;
        }
        self.last_purge
            .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        let before = now
            .checked_sub_signed(self.retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        match self.store.purge_events(before).await {
            Ok(n) => {
                self.stats.purged(n);
                if n > 0 {
                    tracing::info!(events = n, %before, "purged events past their retention");
                }
                Some(n)
            }
            Err(e) => {
                self.stats.store_error();
                tracing::warn!(error = %e, "purging old events failed; trying again next interval");
                None
            }
        }
    }

    /// Makes one attempt of `job` and records it.
    async fn deliver(&self, job: DeliveryJob) -> Outcome {
        let at = self.clock.now();
        let started = std::time::Instant::now();
        let sent = if job.endpoint.endpoint.status == EndpointStatus::Enabled {
            Some(self.send(&job, at).await)
        } else {
            None
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if sent.is_some() {
            self.stats.attempt();
        }
        let (status, error, next) = match sent {
            Some(Ok(code)) if (200..300).contains(&code) => {
                (Some(code), None, DeliveryStatus::Delivered)
            }
            Some(Ok(code)) => (
                Some(code),
                Some(format!("the endpoint answered HTTP {code}")),
                self.after_failure(job.attempt),
            ),
            Some(Err(why)) => (None, Some(why), self.after_failure(job.attempt)),
            None => (
                None,
                Some("the endpoint is disabled; not sent".to_owned()),
                DeliveryStatus::Failed,
            ),
        };
        let log_error = error.clone();
        let record = AttemptRecord {
            attempt: job.attempt,
            at,
            status,
            latency_ms,
            error,
        };
        let key = &job.key;
        match self.store.record_attempt(key, record, next).await {
            Ok(true) => match next {
                DeliveryStatus::Delivered => {
                    self.stats.delivered();
                    tracing::debug!(
                        event = %key.event, endpoint = %key.endpoint, attempt = job.attempt,
                        status, latency_ms, "webhook delivered"
                    );
                    Outcome::Delivered
                }
                DeliveryStatus::Pending { next_at } => {
                    self.stats.retried();
                    tracing::info!(
                        event = %key.event, endpoint = %key.endpoint, attempt = job.attempt,
                        status, latency_ms, error = log_error.as_deref().unwrap_or(""),
                        %next_at, "webhook attempt failed; will retry"
                    );
                    Outcome::Retrying
                }
                DeliveryStatus::Failed => {
                    self.stats.failed();
                    tracing::warn!(
                        event = %key.event, endpoint = %key.endpoint, attempt = job.attempt,
                        status, error = log_error.as_deref().unwrap_or(""),
                        "webhook delivery failed for good"
                    );
                    Outcome::Failed
                }
            },
            Ok(false) => {
                self.stats.stale();
                tracing::debug!(
                    event = %key.event, endpoint = %key.endpoint, attempt = job.attempt,
                    "attempt already recorded by another worker"
                );
                Outcome::Stale
            }
            Err(e) => {
                self.stats.store_error();
                tracing::warn!(
                    event = %key.event, endpoint = %key.endpoint, attempt = job.attempt,
                    error = %e, "recording a webhook attempt failed; it will be made again"
                );
                Outcome::RecordError
            }
        }
    }

    /// What follows a failed attempt number `attempt`: a retry after the schedule's next
    /// delay (jittered), or failure when the schedule is spent.
    fn after_failure(&self, attempt: u32) -> DeliveryStatus {
        match self
            .config
            .schedule
            .jittered_delay_after(attempt, self.jitter.as_ref())
        {
            Some(delay) => {
                let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                let next_at = self
                    .clock
                    .now()
                    .checked_add_signed(delay)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                DeliveryStatus::Pending { next_at }
            }
            None => DeliveryStatus::Failed,
        }
    }

    /// Serializes, signs and sends `job` at `now`; the status, or why there is none (text
    /// without secrets or body).
    async fn send(&self, job: &DeliveryJob, now: DateTime<Utc>) -> Result<u16, String> {
        let body = serde_json::to_vec(&job.event)
            .map_err(|_| "the event could not be serialized".to_owned())?;
        let signature =
            signature_header(&job.endpoint.signing_secrets(now), now.timestamp(), &body);
        let headers = [
            ("content-type", "application/json"),
            (EVENT_ID_HEADER, job.event.id.as_str()),
            (SIGNATURE_HEADER, signature.as_str()),
        ];
        let timeout = self.config.timeout;
        let send = self
            .sender
            .send(&job.endpoint.endpoint.url, &headers, &body, timeout);
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(SendError::Timeout(timeout).to_string()),
        }
    }
}
