//! The webhook delivery worker (feature `dispatch`): the outbox to signed HTTP `POST`s, with
//! retries on a schedule with jitter (api.md §6).
//!
//! The [`Dispatcher`] works over the [`DeliveryStore`] port (memory, SQLite or PostgreSQL),
//! a [`Sender`] ([`ReqwestSender`] in production) and the [`Clock`] port. Each round it
//! fans new events out into deliveries, claims due deliveries under a lease, and attempts
//! them: the event serialized once, signed by every secret of the endpoint valid now
//! (`EndpointRecord::signing_secrets`), `POST`ed with `content-type: application/json`,
//! `x-vinr-event-id` and `x-vinr-signature`. A 2xx answer within the timeout (10 s) is a
//! delivery; anything else is retried on the [`RetrySchedule`] (default
//! `1m,5m,30m,2h,6h,12h,24h,24h`) ± 10 % jitter, then failed for that endpoint. Every attempt
//! is recorded with its status, latency and error. Events past their retention (30 days)
//! are purged, at most hourly.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vinr_ports::clock::Clock;
//! use vinr_ports::delivery::DeliveryStore;
//! use vinr_webhooks::dispatch::{Dispatcher, DispatcherConfig, ReqwestSender, RetrySchedule};
//!
//! # async fn serve(store: Arc<dyn DeliveryStore>, clock: Arc<dyn Clock>) -> Result<(), Box<dyn std::error::Error>> {
//! let config = DispatcherConfig {
//!     schedule: "1m,5m,30m,2h,6h,12h,24h,24h".parse::<RetrySchedule>()?,
//!     ..DispatcherConfig::default()
//! };
//! let dispatcher = Dispatcher::new(store, Arc::new(ReqwestSender::new()?), clock, config)?;
//! let stats = dispatcher.stats(); // for /metrics
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let worker = tokio::spawn(dispatcher.run(async move {
//!     let _ = stopped.await;
//! }));
//! // … on shutdown:
//! let _ = stop.send(());
//! worker.await?;
//! tracing::info!(delivered = stats.snapshot().delivered, "webhook dispatcher stopped");
//! # Ok(())
//! # }
//! ```
//!
//! [`DeliveryStore`]: vinr_ports::delivery::DeliveryStore
//! [`Clock`]: vinr_ports::clock::Clock

mod dispatcher;
mod schedule;
mod sender;
mod stats;

pub use dispatcher::{
    ConfigError, DEFAULT_EVENT_RETENTION, DispatchError, Dispatcher, DispatcherConfig, TickReport,
};
pub use schedule::{
    DEFAULT_SCHEDULE, FixedJitter, JITTER, Jitter, MAX_RETRIES, MIN_DELAY, RETRY_WINDOW,
    RandomJitter, RetrySchedule, ScheduleError, apply_jitter,
};
pub use sender::{ClientBuildError, DEFAULT_TIMEOUT, ReqwestSender, SendError, Sender, USER_AGENT};
pub use stats::{DispatchStats, StatsSnapshot};
