//! The scale scenario: load customers, each with a card, through the API up to each size, and
//! measure retrieve and list-by-email latency at each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Connection, Target};
use crate::load::{self, LoadPlan};
use crate::procstat;
use crate::scenario::{Workload, attach_card_call, create_customer_call, scale_email};
use crate::summary::Summary;

/// The figures at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScaleStep {
    /// Customers in the database (each with a card).
    pub(crate) customers: u64,
    /// Seconds the load of this step took, and its rate (customers with a card per second).
    pub(crate) load_s: f64,
    pub(crate) load_per_s: f64,
    /// `GET /v1/customers/{id}` of a random loaded customer.
    pub(crate) retrieve: Summary,
    /// `GET /v1/customers?email=` of a random loaded customer's email.
    pub(crate) list_by_email: Summary,
    /// The server's peak RSS over the load and the measurements of this step, KiB.
    pub(crate) server_peak_rss_kib: Option<u64>,
}

/// How a scale run is driven.
#[derive(Debug, Clone)]
pub(crate) struct ScalePlan {
    pub(crate) target: Target,
    pub(crate) connections: u32,
    pub(crate) sizes: Vec<u64>,
    pub(crate) duration: Duration,
    pub(crate) server_pid: Option<u32>,
}

/// Runs every step, calling `each` with each step's figures as soon as they are known.
pub(crate) async fn run(
    plan: &ScalePlan,
    mut each: impl FnMut(&ScaleStep),
) -> Result<Vec<ScaleStep>> {
    if plan.sizes.windows(2).any(|w| w[0] >= w[1]) {
        bail!("scale sizes must be ascending: {:?}", plan.sizes);
    }
    let mut ids: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for &size in &plan.sizes {
        if let Some(pid) = plan.server_pid {
            procstat::reset_peak(pid);
        }
        let from = ids.len() as u64;
        let started = Instant::now();
        let loaded = load_customers(&plan.target, plan.connections, from, size).await?;
        let load_s = started.elapsed().as_secs_f64();
        ids.extend(loaded);
        eprintln!(
            "vinr-bench: scale: {size} customers loaded ({} in {load_s:.1} s)",
            size - from
        );
        let shared = Arc::new(ids);
        let measure = |workload: Workload| LoadPlan {
            target: plan.target.clone(),
            workload,
            connections: plan.connections,
            warmup: Duration::from_millis(500),
            duration: plan.duration,
            // The peak is taken over the whole step below, not reset per measurement.
            server_pid: None,
        };
        let retrieve = load::run(measure(Workload::RetrieveAmong(shared.clone()))).await?;
        let list_by_email = load::run(measure(Workload::ListByEmail { customers: size })).await?;
        let server_peak_rss_kib = plan
            .server_pid
            .map(|pid| procstat::memory(pid).map(|m| m.peak_kib))
            .transpose()?;
        let step = ScaleStep {
            customers: size,
            load_s: (load_s * 10.0).round() / 10.0,
            load_per_s: ((size - from) as f64 / load_s.max(1e-9)).round(),
            retrieve,
            list_by_email,
            server_peak_rss_kib,
        };
        each(&step);
        steps.push(step);
        ids = Arc::try_unwrap(shared).unwrap_or_else(|shared| shared.as_ref().clone());
    }
    Ok(steps)
}

/// Creates customers `from..to` (emails `scale-N@example.com`), each with a 4242, over
/// `connections` connections; returns their ids in order.
async fn load_customers(
    target: &Target,
    connections: u32,
    from: u64,
    to: u64,
) -> Result<Vec<String>> {
    let next = Arc::new(AtomicU64::new(from));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let target = target.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            let mut conn = Connection::open(&target).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= to {
                    break;
                }
                let customer = conn
                    .create(&create_customer_call(&scale_email(n)))
                    .await
                    .with_context(|| format!("loading scale customer {n}"))?;
                conn.create(&attach_card_call(&customer))
                    .await
                    .with_context(|| format!("attaching a card to scale customer {n}"))?;
                made.push((n, customer));
            }
            anyhow::Ok(made)
        }));
    }
    let mut all = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
    for task in tasks {
        all.extend(task.await.context("a loading task failed")??);
    }
    all.sort_unstable_by_key(|(n, _)| *n);
    Ok(all.into_iter().map(|(_, id)| id).collect())
}
