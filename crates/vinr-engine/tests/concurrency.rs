//! Concurrent commands in one process, on a multi-thread runtime: one idempotency key raced by
//! many tasks charges once; version-guarded retries let every concurrent update land; a detach
//! racing charges of its method never lets the two disagree.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::Barrier;
use vinr_domain::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::AttemptId;
use vinr_domain::payment::{Payment, PaymentStatus};
use vinr_ports::api::{CustomersApi, MethodsApi, PaymentsApi};
use vinr_ports::event::EventObject;
use vinr_ports::network::{AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError};
use vinr_ports::params::{CreateCustomer, ListParams, UpdateCustomer};
use vinr_ports::store::{MockStore, Store, Write};
use vinr_ports::{Error, Mode};
use vinr_sandbox::SandboxNetwork;

use common::{Sandbox, VISA, ctx, customer, customer_with_card, keyed, off_session, ready};

const TASKS: usize = 32;

/// The sandbox network, yielding to the scheduler around each authorization so that other
/// tasks run while a charge is between its phases; counts the authorizations that arrived.
struct YieldingNetwork(SandboxNetwork, Arc<AtomicUsize>);

#[async_trait]
impl CardNetwork for YieldingNetwork {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let answer = self.0.authorize(request).await;
        tokio::task::yield_now().await;
        answer
    }

    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.0.complete_challenge(attempt, passed).await
    }

    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.0.attempt_result(attempt).await
    }
}

/// A sandbox over a [`YieldingNetwork`], and its count of arrived authorizations.
fn yielding() -> (Sandbox, Arc<AtomicUsize>) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let counter = arrived.clone();
    let sb = Sandbox::with(|h, ports| {
        ports.network = Arc::new(YieldingNetwork(h.network.clone(), counter))
    });
    (sb, arrived)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_racing_one_key_charge_once() {
    let (sb, _) = yielding();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (engine, params, barrier) = (sb.engine.clone(), params.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                engine.create_payment(&keyed("one-key"), params).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }

    let stored = sb.payments().await;
    assert_eq!(stored.len(), 1, "one payment for one key");
    let the_one = &stored[0].payment;
    assert_eq!(the_one.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
    let listed = sb
        .engine
        .list_payments(&ctx(), Default::default())
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);

    let mut ok = 0;
    for r in &results {
        match r {
            Ok(p) => {
                assert_eq!(p, the_one);
                ok += 1;
            }
            Err(Error::IdempotencyKeyInUse) => {}
            Err(other) => panic!("a racing task got {other:?}"),
        }
    }
    assert!(ok >= 1, "the task that charged got its payment");
    // Once finished, the key replays to everyone.
    assert_eq!(
        &sb.engine
            .create_payment(&keyed("one-key"), params)
            .await
            .unwrap(),
        the_one
    );
}

/// Creating a customer has no in-flight phase: every racer gets the one customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_racing_one_key_create_one_customer() {
    let sb = Sandbox::new();
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (engine, barrier) = (sb.engine.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let params = CreateCustomer {
                    email: Some("ada@example.com".into()),
                    ..Default::default()
                };
                engine.create_customer(&keyed("c"), params).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(sb.count(EventType::CustomerCreated).await, 1);
    let all = sb
        .engine
        .list_customers(&ctx(), Default::default())
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_metadata_updates_all_land() {
    let sb = Sandbox::new();
    let id = customer(&sb.engine).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (engine, id, barrier) = (sb.engine.clone(), id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let params = UpdateCustomer {
                    metadata: Some(BTreeMap::from([(format!("k{i}"), format!("v{i}"))])),
                    ..Default::default()
                };
                engine.update_customer(&ctx(), &id, params).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let c = sb.engine.retrieve_customer(&ctx(), &id).await.unwrap();
    assert_eq!(c.version, 1 + TASKS as u64);
    assert_eq!(c.metadata.len(), TASKS);
    for i in 0..TASKS {
        assert_eq!(
            c.metadata.get(&format!("k{i}")),
            Some(format!("v{i}").as_str()),
            "k{i}"
        );
    }
    // One `customer.updated` per change, each with its own version, each adding its own key.
    let updated = sb.events(Some(EventType::CustomerUpdated)).await;
    assert_eq!(updated.len(), TASKS);
    let mut versions: Vec<u64> = updated.iter().map(|e| e.data.object.version()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=1 + TASKS as u64).collect::<Vec<_>>());
    for e in &updated {
        let EventObject::Customer(snapshot) = &e.data.object else {
            panic!("customer.updated about {:?}", e.data.object);
        };
        assert_eq!(snapshot.metadata.len() as u64, snapshot.version - 1);
    }
}

/// A detach races 32 off-session charges of the method. A charge either succeeds (its phase 1
/// committed before the detach) or is refused `payment_method_detached`; the network charged
/// exactly the succeeded ones; and once the detach returned, no new charge gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detach_racing_charges_of_its_method() {
    let (sb, arrived) = yielding();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let charges: Vec<_> = (0..TASKS)
        .map(|i| {
            let (engine, barrier) = (sb.engine.clone(), barrier.clone());
            let params = off_session(&cust, &pm, 100 + i as i64);
            tokio::spawn(async move {
                barrier.wait().await;
                // Staggered starts: some charges read the method before the detach, some after.
                for _ in 0..2 * i {
                    tokio::task::yield_now().await;
                }
                engine.create_payment(&ctx(), params).await
            })
        })
        .collect();
    let detach = {
        let (engine, barrier, cust, pm) =
            (sb.engine.clone(), barrier.clone(), cust.clone(), pm.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            // Let a few charges get going first, so the detach lands in the middle of them.
            for _ in 0..10_000 {
                if arrived.load(Ordering::SeqCst) >= 4 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            engine.detach_method(&ctx(), &cust, &pm).await
        })
    };
    let mut succeeded: Vec<Payment> = Vec::new();
    let mut refused = 0;
    for c in charges {
        match c.await.unwrap() {
            Ok(p) => {
                assert_eq!(p.status, PaymentStatus::Succeeded);
                succeeded.push(p);
            }
            Err(Error::InvalidRequest {
                code: InvalidRequestCode::PaymentMethodDetached,
                ..
            }) => refused += 1,
            Err(other) => panic!("a racing charge got {other:?}"),
        }
    }
    let detached = detach.await.unwrap().unwrap();
    assert_eq!(detached.customer_id, None);
    assert_eq!(succeeded.len() + refused, TASKS);

    // The network charged exactly the payments that say so, and no payment is left halfway.
    assert_eq!(sb.network.approved_charges(), succeeded.len() as u64);
    let stored = sb.payments().await;
    assert_eq!(
        stored.len(),
        succeeded.len(),
        "a refused charge creates no payment"
    );
    assert!(
        stored
            .iter()
            .all(|r| r.payment.status == PaymentStatus::Succeeded)
    );
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, succeeded.len());
    assert_eq!(sb.count(EventType::PaymentMethodDetached).await, 1);

    // The detach holds: the method is gone from the wallet and nothing charges it any more.
    let wallet = sb
        .engine
        .list_methods(&ctx(), &cust, ListParams::default())
        .await
        .unwrap();
    assert!(wallet.data.is_empty());
    let method = sb.store.method(Mode::Test, &pm).await.unwrap().unwrap();
    assert_eq!(method.method.customer_id, None);
    for amount in [1, 2, 3] {
        let after = sb
            .engine
            .create_payment(&ctx(), off_session(&cust, &pm, amount))
            .await;
        assert!(
            matches!(
                after,
                Err(Error::InvalidRequest {
                    code: InvalidRequestCode::PaymentMethodDetached,
                    ..
                })
            ),
            "{after:?}"
        );
    }
    assert_eq!(sb.network.approved_charges(), succeeded.len() as u64);
}

/// The same race, pinned down: a detach that commits after a charge read the method but before
/// the charge's phase 1 commits makes that commit conflict (phase 1 checks the method's
/// version), and the charge, run again, is refused. Nothing is charged.
#[tokio::test]
async fn a_detach_between_a_charges_reads_and_its_phase_1_stops_the_charge() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let detached = Arc::new(AtomicBool::new(false));

    // The real store, with a detach slipped in just before the first commit that creates a
    // payment.
    let mut store = MockStore::new();
    let mem = sb.store.clone();
    store
        .expect_customer()
        .returning(move |mode, id| ready(mem.customer(mode, id)));
    let mem = sb.store.clone();
    store
        .expect_method()
        .returning(move |mode, id| ready(mem.method(mode, id)));
    let (mem, engine, flag) = (sb.store.clone(), sb.engine.clone(), detached.clone());
    let (c, p) = (cust.clone(), pm.clone());
    store.expect_commit().returning(move |ws| {
        let creates_payment = ws.payments.iter().any(|w| matches!(w, Write::Insert(_)));
        if creates_payment && !flag.swap(true, Ordering::SeqCst) {
            ready(engine.detach_method(&ctx(), &c, &p)).unwrap();
        }
        ready(mem.commit(ws))
    });
    let racing = Sandbox::with(|_, ports| {
        ports.store = Arc::new(store);
        ports.vault = sb.engine.ports().vault.clone();
        ports.network = Arc::new(sb.network.clone());
    });

    let result = racing
        .engine
        .create_payment(&ctx(), off_session(&cust, &pm, 2500))
        .await;
    assert!(detached.load(Ordering::SeqCst), "the detach ran");
    assert!(
        matches!(
            result,
            Err(Error::InvalidRequest {
                code: InvalidRequestCode::PaymentMethodDetached,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(sb.network.authorizations(), 0);
    assert_eq!(sb.network.approved_charges(), 0);
    assert!(sb.payments().await.is_empty());
}
