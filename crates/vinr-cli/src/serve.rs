//! `vinr serve`: the API, the hosted pages and the background maintenance, until `SIGINT` or
//! `SIGTERM`.
//!
//! Start-up, in order: parse the settings (and find where the vault keys come from); open and
//! migrate the store; refuse live mode (see [`keys::refuse_live_mode`]); load the vault; bind
//! the listener; make sure there is an API key (printing a generated one once); print
//! `listening on http://ADDR`; serve.
//! The listener is bound before anything is printed, so `--listen 127.0.0.1:0` prints the
//! port actually given, and a key is generated only once the server can start.
//!
//! Background tasks (each runs at start-up, then on its period):
//! - the recovery sweep, every 60 s: payments left in `processing` for over 60 s by a crash or
//!   a lost network answer are finished (`Engine::recover_stuck_payments`);
//! - the idempotency purge, hourly: records older than 24 h are forgotten;
//! - the expiry scan, daily, for both modes: `payment_method.expiring` notices.
//!
//! Results are logged as counts at info level when something was done (a recovery sweep or
//! purge that found nothing logs at debug, so an idle server's log stays quiet).
//!
//! Test hooks (hidden: not flags, not in `api.md` §7, for `cargo xtask crash` only):
//! - `VINR_SANDBOX_NETWORK_JOURNAL=<path>`: the sandbox card network keeps its memory in that
//!   append-only file ([`SandboxNetwork::with_journal`]), so it remembers its answers across a
//!   `SIGKILL` of the server, as a real network would;
//! - `VINR_TEST_RECOVERY_SECONDS=<n>`: the recovery sweep runs every `n` seconds for payments
//!   `processing` for over `n` seconds (instead of 60 and 60), so a crash test need not wait.
//!
//! Shutdown: on `SIGINT` or `SIGTERM` the listener stops accepting, requests in flight finish
//! (for up to [`SHUTDOWN_GRACE`]), the background tasks stop, and the store is closed (SQLite:
//! every queued write committed, the WAL checkpointed); then the process exits 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use vinr_domain::limits::AttemptLimit;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::hosted::guard::AddressLimit;
use vinr_http::server::metrics::MetricsSource;
use vinr_http::server::ratelimit::RateLimit;
use vinr_http::server::{AppState, ServerConfig, router, serve};
use vinr_ports::Mode;
use vinr_ports::clock::Clock as _;
use vinr_ports::delivery::DeliveryStore;
use vinr_sandbox::SandboxNetwork;
use vinr_store::clock::SystemClock;
use vinr_store::ids::OsRandomIds;
use vinr_store::open::{StoreUrl, open};
use vinr_webhooks::dispatch::{DispatchStats, Dispatcher, DispatcherConfig, ReqwestSender};

use crate::cli::{Environment, Global, ServeArgs};
use vinr_webhooks::dispatch::RetrySchedule;

use crate::config::public_url;
use crate::keys;
use crate::signals::Signals;
use crate::terminal;
use crate::vault::{self, KeySource};

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The recovery sweep's period, and how long a payment must have been `processing` for it.
const RECOVERY_PERIOD: Duration = Duration::from_secs(60);

/// The idempotency purge's period.
const PURGE_PERIOD: Duration = Duration::from_secs(3600);

/// The expiry scan's period.
const EXPIRY_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The settings `vinr serve` runs with, once checked.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    /// The database (its `Display` hides the password).
    pub(crate) database: StoreUrl,
    /// The address to bind.
    pub(crate) listen: String,
    /// `--public-url`, if given (checked, without trailing slash).
    pub(crate) public_url: Option<String>,
    /// The webhook delivery retry schedule, for the webhook dispatcher.
    pub(crate) webhook_retry: RetrySchedule,
    /// The per-API-key request limit on `/v1` (`None`: no limit).
    pub(crate) rate_limit: Option<RateLimit>,
    /// The server-wide request timeout (`None`: no limit).
    pub(crate) request_timeout: Option<Duration>,
    /// The failed card attempts a hosted link takes before it locks.
    pub(crate) hosted_max_attempts: AttemptLimit,
    /// The failed card attempts a client address may make (`None`: no limit).
    pub(crate) hosted_address_limit: Option<AddressLimit>,
    /// Whether the client address comes from `X-Forwarded-For`.
    pub(crate) trust_proxy: bool,
}

impl ServeConfig {
    /// Checks the command line's settings.
    pub(crate) fn new(global: &Global, args: ServeArgs) -> anyhow::Result<ServeConfig> {
        let database =
            StoreUrl::parse(&global.database_url).context("--database-url is not usable")?;
        let public_url = args
            .public_url
            .as_deref()
            .map(public_url)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--public-url is not usable")?;
        Ok(ServeConfig {
            database,
            listen: args.listen,
            public_url,
            webhook_retry: args.webhook_retry,
            rate_limit: args.rate_limit.0,
            request_timeout: args.request_timeout.0,
            hosted_max_attempts: AttemptLimit::new(args.hosted_max_attempts)
                .context("--hosted-max-attempts must be at least 1")?,
            hosted_address_limit: args.hosted_address_limit.0,
            trust_proxy: args.trust_proxy,
        })
    }
}

/// `vinr serve`.
pub(crate) async fn run(global: &Global, args: ServeArgs, env: Environment) -> anyhow::Result<()> {
    let config = ServeConfig::new(global, args)?;
    let signals = Signals::install().context("cannot watch for SIGINT/SIGTERM")?;

    let source = vault::key_source(global, &env, &config.database)?;
    let opened = open(&config.database).await?;
    tracing::info!(database = %config.database, "database open and migrated");
    keys::refuse_live_mode(opened.keys.as_ref(), &env).await?;
    let vault = vault::load(&source, &env)?;
    match (&vault.source, vault.created) {
        (KeySource::File(path), true) => tracing::info!(
            file = %path.display(),
            "created a sandbox vault key file (mode 0600); keep it with the database"
        ),
        _ => tracing::info!(keys = %vault.source, "vault keys loaded"),
    }

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => default_public_url(addr),
    };

    if let Some(secret) = keys::ensure_start_key(opened.keys.as_ref(), &env).await? {
        terminal::say(&format!(
            "Generated a sandbox secret key. It is shown only this once and stored hashed; keep it now:\n  {secret}"
        ));
    }

    let network = sandbox_network()?;
    let recovery = recovery_period()?;
    let engine = Engine::new(
        Ports {
            store: opened.store.clone(),
            vault: vault.vault.clone(),
            network: Arc::new(network),
            clock: Arc::new(SystemClock::new()),
            ids: Arc::new(OsRandomIds::new()),
        },
        EngineConfig {
            public_url: public_url.clone(),
            hosted_max_attempts: config.hosted_max_attempts,
            ..EngineConfig::default()
        },
    );
    let state = AppState::new(
        engine.clone(),
        opened.keys.clone(),
        ServerConfig {
            public_url: public_url.clone(),
            csrf_key: vault.csrf_key,
            rate_limit: config.rate_limit,
        },
    );
    let dispatcher = Dispatcher::new(
        opened.deliveries.clone(),
        Arc::new(ReqwestSender::new().context("cannot build the webhook HTTP client")?),
        Arc::new(SystemClock::new()),
        DispatcherConfig {
            schedule: config.webhook_retry.clone(),
            ..DispatcherConfig::default()
        },
    )
    .context("the webhook dispatcher settings are invalid")?;
    state.add_metrics_source(Arc::new(OutboxMetrics {
        deliveries: opened.deliveries.clone(),
        stats: dispatcher.stats(),
    }));
    state.set_request_timeout(config.request_timeout);
    state
        .hosted_guard()
        .configure(config.hosted_address_limit, config.trust_proxy);
    tracing::info!(
        hosted_max_attempts = %config.hosted_max_attempts,
        hosted_address_limit = ?config.hosted_address_limit.map(|l| l.to_string()),
        trust_proxy = config.trust_proxy,
        "hosted pages: failed card attempt limits"
    );
    let app = router(state);
    tracing::info!(webhook_retry = %config.webhook_retry, "webhook delivery schedule");
    match config.rate_limit {
        Some(limit) => tracing::info!(rate_limit = %limit, "per-key rate limit (per second/burst)"),
        None => tracing::info!("per-key rate limit disabled"),
    }
    match config.request_timeout {
        Some(t) => tracing::info!(request_timeout = ?t, "request timeout"),
        None => tracing::info!("request timeout disabled"),
    }
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let mut tasks = spawn_maintenance(&engine, &stopped, recovery);
    tasks.push(tokio::spawn({
        let mut stopped = stopped.clone();
        dispatcher.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
    }));
    drop(engine);

    terminal::say(&format!("listening on http://{addr}"));
    tracing::info!(%addr, public_url = %public_url, "listening");

    let mut shutdown_started = stopped.clone();
    let server = serve(listener, app, {
        let stop = stop.clone();
        async move {
            let signal = signals.wait().await;
            tracing::info!(signal, "shutting down: finishing requests in flight");
            stop.send_replace(true);
        }
    });
    let grace = async move {
        let _ = shutdown_started.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        r = server => r.context("the server failed"),
        () = grace => {
            tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "requests still running after the grace period; stopping anyway");
            Ok(())
        }
    };

    // However serving ended, the background tasks stop now.
    stop.send_replace(true);
    for task in tasks {
        let _ = task.await;
    }
    let closed = opened.close().context("cannot close the database");
    if closed.is_ok() {
        tracing::info!("stopped; the database is closed");
    }
    served.and(closed)
}

/// The webhook outbox on `/metrics`: its depth and lag from the store, the dispatcher's counters.
struct OutboxMetrics {
    deliveries: Arc<dyn DeliveryStore>,
    stats: Arc<DispatchStats>,
}

#[async_trait::async_trait]
impl MetricsSource for OutboxMetrics {
    async fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if let Ok(o) = self.deliveries.outbox_stats(SystemClock::new().now()).await {
            let _ = writeln!(
                out,
                "# HELP vinr_outbox_unfanned_events Events not yet turned into deliveries."
            );
            let _ = writeln!(out, "# TYPE vinr_outbox_unfanned_events gauge");
            let _ = writeln!(out, "vinr_outbox_unfanned_events {}", o.unfanned_events);
            let _ = writeln!(
                out,
                "# HELP vinr_outbox_pending_deliveries Webhook deliveries waiting for an attempt."
            );
            let _ = writeln!(out, "# TYPE vinr_outbox_pending_deliveries gauge");
            let _ = writeln!(
                out,
                "vinr_outbox_pending_deliveries {}",
                o.pending_deliveries
            );
            let _ = writeln!(
                out,
                "# HELP vinr_outbox_lag_seconds Age of the oldest due delivery."
            );
            let _ = writeln!(out, "# TYPE vinr_outbox_lag_seconds gauge");
            let _ = writeln!(out, "vinr_outbox_lag_seconds {}", o.oldest_due_seconds);
        }
        let s = self.stats.snapshot();
        for (name, help, value) in [
            (
                "vinr_webhook_attempts_total",
                "Webhook delivery attempts made.",
                s.attempts,
            ),
            (
                "vinr_webhook_delivered_total",
                "Webhook deliveries answered 2xx.",
                s.delivered,
            ),
            (
                "vinr_webhook_retried_total",
                "Webhook attempts scheduled for a retry.",
                s.retried,
            ),
            (
                "vinr_webhook_failed_total",
                "Webhook deliveries given up (schedule spent).",
                s.failed,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

/// `http://<address listened on>`; an unspecified address (`0.0.0.0`) is kept but warned
/// about, since a buyer's browser cannot open it.
fn default_public_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        tracing::warn!(
            %addr,
            "listening on every interface without --public-url: hosted page links will name this address, which browsers cannot open; set --public-url"
        );
    }
    format!("http://{addr}")
}

/// Runs `work` now and then every `period`, until `stopped` turns true (which also cancels a
/// run in progress: every engine operation commits atomically, so nothing is half-done).
fn periodic<F, Fut>(
    period: Duration,
    stopped: &watch::Receiver<bool>,
    mut work: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut stopped = stopped.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = work() => {}
            }
        }
    })
}

/// The test hook naming the sandbox network's journal file.
const NETWORK_JOURNAL_VAR: &str = "VINR_SANDBOX_NETWORK_JOURNAL";

/// The test hook shortening the recovery sweep's period and age.
const RECOVERY_SECONDS_VAR: &str = "VINR_TEST_RECOVERY_SECONDS";

/// The sandbox card network: in memory, or kept in the journal `VINR_SANDBOX_NETWORK_JOURNAL`
/// names (a test hook; see the module docs).
fn sandbox_network() -> anyhow::Result<SandboxNetwork> {
    match std::env::var_os(NETWORK_JOURNAL_VAR).filter(|v| !v.is_empty()) {
        None => Ok(SandboxNetwork::new()),
        Some(path) => {
            let network = SandboxNetwork::with_journal(&path)
                .with_context(|| format!("{NETWORK_JOURNAL_VAR} is not usable"))?;
            tracing::warn!(
                journal = %std::path::Path::new(&path).display(),
                attempts = network.authorizations(),
                "test hook: the sandbox card network keeps its memory in a journal file"
            );
            Ok(network)
        }
    }
}

/// The recovery sweep's period and age: [`RECOVERY_PERIOD`], or `VINR_TEST_RECOVERY_SECONDS`
/// (a test hook; see the module docs).
fn recovery_period() -> anyhow::Result<Duration> {
    let Some(value) = std::env::var_os(RECOVERY_SECONDS_VAR).filter(|v| !v.is_empty()) else {
        return Ok(RECOVERY_PERIOD);
    };
    let seconds = recovery_seconds(&value).with_context(|| {
        format!("{RECOVERY_SECONDS_VAR} must be a whole number of seconds from 1 to 3600")
    })?;
    tracing::warn!(
        seconds,
        "test hook: the recovery sweep runs every {seconds} s for payments processing over {seconds} s"
    );
    Ok(Duration::from_secs(seconds))
}

/// The value of `VINR_TEST_RECOVERY_SECONDS`: whole seconds from 1 to 3600.
fn recovery_seconds(value: &std::ffi::OsStr) -> Option<u64> {
    value
        .to_str()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
}

/// The recovery sweep (every `recovery`, for payments `processing` for over `recovery`), the
/// idempotency purge and the expiry scan.
fn spawn_maintenance(
    engine: &Engine,
    stopped: &watch::Receiver<bool>,
    recovery: Duration,
) -> Vec<JoinHandle<()>> {
    let older_than = chrono::Duration::from_std(recovery).unwrap_or(chrono::Duration::seconds(60));
    let recovery = {
        let engine = engine.clone();
        periodic(recovery, stopped, move || {
            let engine = engine.clone();
            async move {
                match engine.recover_stuck_payments(older_than).await {
                    Ok(r) if r.finished > 0 || r.still_stuck > 0 => tracing::info!(
                        finished = r.finished,
                        still_stuck = r.still_stuck,
                        "recovery sweep"
                    ),
                    Ok(_) => tracing::debug!("recovery sweep: nothing stuck"),
                    Err(e) => {
                        tracing::warn!(error = %e, "recovery sweep failed; trying again next time")
                    }
                }
            }
        })
    };
    let purge = {
        let engine = engine.clone();
        periodic(PURGE_PERIOD, stopped, move || {
            let engine = engine.clone();
            async move {
                match engine.purge_idempotency().await {
                    Ok(n) if n > 0 => {
                        tracing::info!(purged = n, "idempotency records older than 24 h purged")
                    }
                    Ok(_) => tracing::debug!("idempotency purge: nothing to purge"),
                    Err(e) => {
                        tracing::warn!(error = %e, "idempotency purge failed; trying again next time")
                    }
                }
            }
        })
    };
    let expiry = {
        let engine = engine.clone();
        periodic(EXPIRY_PERIOD, stopped, move || {
            let engine = engine.clone();
            async move {
                let today = engine.ports().clock.now().date_naive();
                for mode in [Mode::Test, Mode::Live] {
                    match engine.run_expiry_scan(mode, today).await {
                        Ok(n) => {
                            tracing::info!(livemode = mode.livemode(), %today, emitted = n, "expiry scan")
                        }
                        Err(e) => {
                            tracing::warn!(livemode = mode.livemode(), error = %e, "expiry scan failed; trying again tomorrow")
                        }
                    }
                }
            }
        })
    };
    vec![recovery, purge, expiry]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recovery_test_hook_takes_whole_seconds() {
        use std::ffi::OsStr;
        assert_eq!(recovery_seconds(OsStr::new("2")), Some(2));
        assert_eq!(recovery_seconds(OsStr::new(" 3600 ")), Some(3600));
        for bad in ["0", "3601", "-1", "1.5", "2s", ""] {
            assert_eq!(recovery_seconds(OsStr::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_default_public_url_is_the_address_listened_on() {
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        assert_eq!(default_public_url(addr), "http://127.0.0.1:4242");
        let addr: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(default_public_url(addr), "http://[::1]:80");
    }
}
