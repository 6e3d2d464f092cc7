//! Webhook delivery for in-process handles: the same dispatcher as `vinr serve`
//! (`vinr_webhooks::dispatch`), run over the handle's own store and clock, so a merchant's tests
//! receive signed deliveries with no server.
//!
//! - [`TestHelpers::deliver_webhooks`](crate::TestHelpers::deliver_webhooks) flushes what is due
//!   now: rounds of fan-out → claim → signed `POST` → record until nothing is left, then
//!   reports. Failed attempts wait for their retry on the handle's clock: move a
//!   [`ManualClock`](crate::ManualClock) past the delay and flush again.
//! - [`Vinr::deliver_webhooks_in_background`](crate::Vinr::deliver_webhooks_in_background)
//!   runs the dispatcher's loop on the current tokio runtime until its [`WebhookWorker`] is
//!   stopped or dropped.

use std::sync::{Arc, OnceLock};

use vinr_domain::error::InvalidRequestCode;
use vinr_ports::clock::Clock;
use vinr_ports::delivery::DeliveryStore;
use vinr_webhooks::dispatch::{
    DispatchStats, Dispatcher, DispatcherConfig, ReqwestSender, StatsSnapshot, TickReport,
};

use crate::{Error, Result};

/// At most this many rounds per [`deliver_webhooks`](crate::TestHelpers::deliver_webhooks)
/// call, so a receiver whose handler makes new events on every delivery cannot keep it busy
/// for ever (the report then says it did not drain).
pub(crate) const MAX_ROUNDS: u32 = 100;

/// What an in-process handle delivers webhooks with: its delivery store (when it has one), its
/// clock and the dispatcher settings; the dispatcher is built on first use.
pub(crate) struct InProcessDelivery {
    store: Option<Arc<dyn DeliveryStore>>,
    clock: Arc<dyn Clock>,
    config: DispatcherConfig,
    dispatcher: OnceLock<Arc<Dispatcher>>,
}

impl InProcessDelivery {
    pub(crate) fn new(
        store: Option<Arc<dyn DeliveryStore>>,
        clock: Arc<dyn Clock>,
        config: DispatcherConfig,
    ) -> Self {
        Self {
            store,
            clock,
            config,
            dispatcher: OnceLock::new(),
        }
    }

    /// The delivery store, or why there is none.
    pub(crate) fn store(&self) -> Result<&Arc<dyn DeliveryStore>> {
        self.store.as_ref().ok_or_else(|| {
            invalid(
                InvalidRequestCode::ParameterMissing,
                "deliveries",
                "this handle was built with a custom store and no delivery store: pass the \
                 same store to `VinrBuilder::deliveries` to deliver webhooks in-process",
            )
        })
    }

    /// A new dispatcher over the handle's store and clock.
    fn build_dispatcher(&self) -> Result<Dispatcher> {
        let store = Arc::clone(self.store()?);
        let sender = ReqwestSender::new().map_err(|e| Error::internal(e.to_string()))?;
        Dispatcher::new(
            store,
            Arc::new(sender),
            Arc::clone(&self.clock),
            self.config.clone(),
        )
        .map_err(|e| {
            invalid(
                InvalidRequestCode::ParameterInvalid,
                "webhook_dispatch",
                e.to_string(),
            )
        })
    }

    /// The handle's dispatcher, built once.
    fn dispatcher(&self) -> Result<Arc<Dispatcher>> {
        if let Some(d) = self.dispatcher.get() {
            return Ok(Arc::clone(d));
        }
        let built = Arc::new(self.build_dispatcher()?);
        // Another call may have won the race; either dispatcher does the same work.
        Ok(Arc::clone(self.dispatcher.get_or_init(|| built)))
    }

    /// Runs rounds until one finds nothing to do (or [`MAX_ROUNDS`]).
    pub(crate) async fn flush(&self) -> Result<DeliveryReport> {
        let dispatcher = self.dispatcher()?;
        let mut report = DeliveryReport::default();
        while report.rounds < MAX_ROUNDS {
            let tick = dispatcher
                .tick()
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            report.rounds += 1;
            if tick.is_idle() {
                report.drained = true;
                break;
            }
            report.add(&tick);
        }
        Ok(report)
    }

    /// Spawns the dispatcher's loop on the current tokio runtime.
    pub(crate) fn spawn(&self) -> Result<WebhookWorker> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            invalid(
                InvalidRequestCode::ParameterMissing,
                "runtime",
                "delivering webhooks in the background needs a tokio runtime: call this from \
                 async code",
            )
        })?;
        let dispatcher = self.build_dispatcher()?;
        let stats = dispatcher.stats();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The loop stops when `stop` is sent or dropped (the worker dropped).
        let task = runtime.spawn(dispatcher.run(async move {
            let _ = stopped.await;
        }));
        Ok(WebhookWorker {
            stop: Some(stop),
            task: Some(task),
            stats,
        })
    }
}

/// An invalid-request error about the handle's set-up.
pub(crate) fn invalid(code: InvalidRequestCode, param: &str, message: impl Into<String>) -> Error {
    Error::invalid(code, param, message)
}

/// What one [`deliver_webhooks`](crate::TestHelpers::deliver_webhooks) call did, summed over
/// its rounds.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let vinr = vinr::Vinr::sandbox();
/// let report = vinr.test_helpers().deliver_webhooks().await?;
/// // No endpoint: nothing to send.
/// assert_eq!(report.attempted, 0);
/// assert!(report.drained);
/// # Ok::<(), vinr::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Dispatcher rounds run, the last one (when `drained`) finding nothing to do.
    pub rounds: u32,
    /// Deliveries created from new events (one per event and matching endpoint).
    pub fanned_out: u64,
    /// Attempts made.
    pub attempted: usize,
    /// Attempts answered 2xx.
    pub delivered: usize,
    /// Attempts that failed with a retry to come (due later on the handle's clock).
    pub retrying: usize,
    /// Attempts that failed with the schedule spent (or a disabled endpoint).
    pub failed: usize,
    /// Attempts that were made but could not be recorded (they are made again later).
    pub record_errors: usize,
    /// Whether the outbox was left with nothing due; false only when the round limit was
    /// reached first.
    pub drained: bool,
}

impl DeliveryReport {
    fn add(&mut self, tick: &TickReport) {
        self.fanned_out += tick.fanned_out;
        self.attempted += tick.claimed;
        self.delivered += tick.delivered;
        self.retrying += tick.retrying;
        self.failed += tick.failed;
        self.record_errors += tick.record_errors;
    }
}

/// Webhook delivery running in the background
/// ([`Vinr::deliver_webhooks_in_background`](crate::Vinr::deliver_webhooks_in_background)).
///
/// Dropping it stops the loop too (after the attempts in flight); [`stop`](Self::stop) also
/// waits for that.
#[derive(Debug)]
pub struct WebhookWorker {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<DispatchStats>,
}

impl WebhookWorker {
    /// The worker's counters (attempts, deliveries, retries, failures) so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops the loop and waits until the attempts in flight are recorded.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The loop never panics; a cancelled runtime is nothing to report here.
            let _ = task.await;
        }
    }
}
