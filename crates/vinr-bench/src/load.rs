//! The load generator: N keep-alive connections, each a task issuing requests back to back for
//! a fixed window, latencies in HDR histograms merged at the end.
//!
//! Each connection task connects and runs its scenario's setup, then waits for the go. The
//! window is `[start + warmup, start + warmup + duration)`: requests sent before it are not
//! recorded, and a request counts only when it both starts and ends inside it, so the rate is
//! the count over exactly `duration`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{Connection, Target, Transport};
use crate::procstat;
use crate::scenario::{ConnState, Workload, run_nonce};
use crate::summary::{ServerUsage, Summary, new_histogram, record};

/// How long a connection waits before reconnecting after a transport failure.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// How long the requests in flight when the window closes may take to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Error answers shown on standard error per run (the rest are only counted).
const ERRORS_SHOWN: u64 = 3;

/// One run of one workload.
#[derive(Debug, Clone)]
pub(crate) struct LoadPlan {
    pub(crate) target: Target,
    pub(crate) workload: Workload,
    pub(crate) connections: u32,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// The server process to sample (`/proc/PID`), if any.
    pub(crate) server_pid: Option<u32>,
}

/// When the timed window opens and closes.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

/// What one connection measured.
struct ConnOutcome {
    histogram: Histogram<u64>,
    errors: u64,
}

/// Runs `plan` and summarises its window.
pub(crate) async fn run(plan: LoadPlan) -> Result<Summary> {
    let rss_reset = plan.server_pid.is_some_and(procstat::reset_peak);
    let workload = Arc::new(plan.workload.clone());
    let run = run_nonce();
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<()>>(plan.connections as usize);
    let (go_tx, go_rx) = watch::channel::<Option<Window>>(None);
    let shown = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(plan.connections as usize);
    for index in 0..plan.connections {
        let state = ConnState::new(&run, index);
        tasks.push(tokio::spawn(connection_task(
            plan.target.clone(),
            workload.clone(),
            state,
            ready_tx.clone(),
            go_rx.clone(),
            shown.clone(),
        )));
    }
    drop(ready_tx);
    for _ in 0..plan.connections {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(err)) => {
                for task in &tasks {
                    task.abort();
                }
                return Err(err.context(format!("setup of `{}` failed", workload.name())));
            }
            None => bail!("a connection task ended before its setup finished"),
        }
    }
    let start = Instant::now();
    let window = Window {
        from: start + plan.warmup,
        until: start + plan.warmup + plan.duration,
    };
    go_tx.send_replace(Some(window));

    tokio::time::sleep_until(window.from).await;
    let cpu_before = plan.server_pid.map(procstat::cpu_seconds).transpose()?;
    let own_before = procstat::cpu_seconds(std::process::id()).ok();
    let busy_before = procstat::machine_busy_seconds().ok();
    tokio::time::sleep_until(window.until).await;
    let cpu_after = plan.server_pid.map(procstat::cpu_seconds).transpose()?;
    let own_after = procstat::cpu_seconds(std::process::id()).ok();
    let busy_after = procstat::machine_busy_seconds().ok();

    let mut histogram = new_histogram()?;
    let mut errors = 0;
    for task in tasks {
        let abort = task.abort_handle();
        let Ok(joined) = tokio::time::timeout(DRAIN_TIMEOUT, task).await else {
            abort.abort();
            bail!(
                "a request of `{}` was still unanswered {DRAIN_TIMEOUT:?} after the window closed",
                workload.name()
            );
        };
        let outcome = joined.context("a connection task failed")??;
        histogram
            .add(&outcome.histogram)
            .context("merging the histograms")?;
        errors += outcome.errors;
    }
    let mut summary = Summary::new(
        workload.name(),
        plan.connections,
        plan.duration,
        &histogram,
        errors,
    );
    let delta = |before: Option<f64>, after: Option<f64>| {
        Some(((after? - before?).max(0.0) * 100.0).round() / 100.0)
    };
    summary.generator_cpu_s = delta(own_before, own_after);
    summary.machine_busy_s = delta(busy_before, busy_after);
    if let (Some(pid), Some(before), Some(after)) = (plan.server_pid, cpu_before, cpu_after) {
        summary.server = Some(ServerUsage {
            peak_rss_kib: procstat::memory(pid)?.peak_kib,
            rss_reset,
            cpu_s: ((after - before) * 100.0).round() / 100.0,
        });
    }
    Ok(summary)
}

/// One connection: connect, set up, wait for the go, then requests back to back until the
/// window closes.
async fn connection_task(
    target: Target,
    workload: Arc<Workload>,
    mut state: ConnState,
    ready: mpsc::Sender<Result<()>>,
    mut go: watch::Receiver<Option<Window>>,
    shown: Arc<std::sync::atomic::AtomicU64>,
) -> Result<ConnOutcome> {
    let setup = async {
        let mut conn = Connection::open(&target).await?;
        workload.setup(&mut conn, &mut state).await?;
        anyhow::Ok(conn)
    }
    .await;
    let mut conn = match setup {
        Ok(conn) => {
            let _ = ready.send(Ok(())).await;
            Some(conn)
        }
        Err(err) => {
            let _ = ready.send(Err(err)).await;
            return Ok(ConnOutcome {
                histogram: new_histogram()?,
                errors: 0,
            });
        }
    };
    drop(ready);
    // `None` when the run was abandoned (the sender dropped) before the go.
    let window = go.wait_for(Option::is_some).await.ok().and_then(|w| *w);
    let Some(window) = window else {
        return Ok(ConnOutcome {
            histogram: new_histogram()?,
            errors: 0,
        });
    };
    let mut histogram = new_histogram()?;
    let mut errors = 0;
    loop {
        let sent = Instant::now();
        if sent >= window.until {
            break;
        }
        let Some(open) = conn.as_mut() else {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            conn = Connection::open(&target).await.ok();
            continue;
        };
        let call = workload.next(&mut state);
        let outcome = open.send(&call).await;
        let done = Instant::now();
        let counted = sent >= window.from && done < window.until;
        match outcome {
            Ok((status, _)) if status.is_success() => {
                if counted {
                    record(&mut histogram, done - sent);
                }
            }
            Ok((status, body)) => {
                if counted {
                    errors += 1;
                }
                show_error(&shown, || {
                    format!(
                        "{} {} answered {status}: {}",
                        call.method,
                        call.path,
                        String::from_utf8_lossy(&body)
                    )
                });
            }
            Err(Transport(err)) => {
                if counted {
                    errors += 1;
                }
                show_error(&shown, || format!("{} {}: {err:#}", call.method, call.path));
                conn = None;
            }
        }
    }
    Ok(ConnOutcome { histogram, errors })
}

fn show_error(shown: &std::sync::atomic::AtomicU64, message: impl FnOnce() -> String) {
    let n = shown.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if n < ERRORS_SHOWN {
        eprintln!("vinr-bench: {}", message());
    } else if n == ERRORS_SHOWN {
        eprintln!("vinr-bench: (further errors are only counted)");
    }
}
