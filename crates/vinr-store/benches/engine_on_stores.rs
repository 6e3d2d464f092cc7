//! The engine's write paths on every store, side by side: create a customer, attach a test
//! card, charge it off-session — each alone (latency) and from 64 concurrent tasks
//! (throughput, where SQLite's group commit and PostgreSQL's pool show).
//!
//! `cargo bench -p vinr-store --all-features`; PostgreSQL runs when `VINR_TEST_POSTGRES_URL`
//! is set (each run in a fresh schema), and is left out otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::RequestContext;
use vinr_ports::api::{CustomersApi, PaymentsApi, SandboxApi};
use vinr_ports::params::{AttachTestCard, CreateCustomer, CreatePayment};
use vinr_ports::store::Store;
use vinr_sandbox::{ManualClock, SandboxNetwork};
use vinr_store::ids::OsRandomIds;
use vinr_store::memory::MemoryStore;
use vinr_store::postgres::{PostgresOptions, PostgresStore};
use vinr_store::sqlite::SqliteStore;
use vinr_store::vault::AesVault;

/// Concurrent tasks in the throughput runs.
const TASKS: u64 = 64;

fn engine(store: Arc<dyn Store>) -> Engine {
    Engine::new(
        Ports {
            store,
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(OsRandomIds::new()),
        },
        EngineConfig::default(),
    )
}

fn stores(rt: &tokio::runtime::Runtime) -> Vec<(&'static str, Engine)> {
    let mut out = vec![("memory", engine(Arc::new(MemoryStore::new())))];
    let dir = std::env::temp_dir().join(format!("vinr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = SqliteStore::open(dir.join("bench.db")).unwrap();
    out.push(("sqlite", engine(Arc::new(sqlite))));
    if let Ok(url) = std::env::var("VINR_TEST_POSTGRES_URL") {
        let schema = format!("vinr_bench_{}", std::process::id());
        let pg = rt
            .block_on(PostgresStore::connect_with(
                &url,
                PostgresOptions {
                    pool_size: 16,
                    schema: Some(schema),
                },
            ))
            .unwrap();
        out.push(("postgres", engine(Arc::new(pg))));
    } else {
        eprintln!("VINR_TEST_POSTGRES_URL is not set: PostgreSQL is left out of this run");
    }
    out
}

async fn customer(e: &Engine) -> CustomerId {
    e.create_customer(&RequestContext::sandbox(), CreateCustomer::default())
        .await
        .unwrap()
        .id
}

async fn attach(e: &Engine, c: &CustomerId) -> PaymentMethodId {
    let params = AttachTestCard {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    };
    e.attach_test_card(&RequestContext::sandbox(), c, params)
        .await
        .unwrap()
        .id
}

async fn charge(e: &Engine, c: &CustomerId, pm: &PaymentMethodId) {
    let params = CreatePayment {
        amount: 2500,
        currency: "EUR".into(),
        customer_id: Some(c.clone()),
        payment_method_id: Some(pm.clone()),
        off_session: true,
        ..Default::default()
    };
    let p = e
        .create_payment(&RequestContext::sandbox(), params)
        .await
        .unwrap();
    assert_eq!(p.status, vinr_domain::payment::PaymentStatus::Succeeded);
}

/// Runs `iters` operations spread over `tasks` concurrent tasks and returns the wall time.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, tasks: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async move {
        let start = Instant::now();
        let per_task = iters.div_ceil(tasks);
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let op = op.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        op().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engines = stores(&rt);
    for tasks in [1, TASKS] {
        let mut group = c.benchmark_group(format!("engine/{tasks}_tasks"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
        for (name, e) in &engines {
            group.bench_function(BenchmarkId::new("create_customer", name), |b| {
                let e = e.clone();
                b.iter_custom(|iters| {
                    let e = e.clone();
                    timed(&rt, iters, tasks, move || {
                        let e = e.clone();
                        async move {
                            customer(&e).await;
                        }
                    })
                });
            });
            group.bench_function(BenchmarkId::new("attach_method", name), |b| {
                let e = e.clone();
                b.iter_custom(|iters| {
                    let e = e.clone();
                    timed(&rt, iters, tasks, move || {
                        let e = e.clone();
                        async move {
                            let c = customer(&e).await;
                            attach(&e, &c).await;
                        }
                    })
                });
            });
            let (cust, pm) = rt.block_on(async {
                let c = customer(e).await;
                let pm = attach(e, &c).await;
                (c, pm)
            });
            group.bench_function(BenchmarkId::new("off_session_payment", name), |b| {
                let e = e.clone();
                b.iter_custom(|iters| {
                    let (e, cust, pm) = (e.clone(), cust.clone(), pm.clone());
                    timed(&rt, iters, tasks, move || {
                        let (e, cust, pm) = (e.clone(), cust.clone(), pm.clone());
                        async move { charge(&e, &cust, &pm).await }
                    })
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
