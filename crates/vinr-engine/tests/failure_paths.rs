//! The engine's failure paths, driven by `mockall` mocks of the ports (and the fault injection
//! of the memory store and the sandbox network): a network that does not answer or loses its
//! answer, a store that fails before or between the phases of a charge, every decline, a vault
//! that cannot seal or open, and ids and time from mocks.
//!
//! The rules under test (design.md "The write path", api.md §1 and §5): a failed request leaves
//! the store as it was, or — for a charge past phase 1 — a `processing` payment that the
//! recovery sweep finishes with one charge at most; internals are never echoed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use mockall::Sequence;
use vinr_domain::error::{CardErrorCode, CardFailure, DeclineCode, LastErrorCode};
use vinr_domain::event::EventType;
use vinr_domain::ids::{AttemptId, CustomerId, EventId};
use vinr_domain::payment::PaymentStatus;
use vinr_engine::EngineConfig;
use vinr_ports::api::{CustomersApi, MethodsApi, PaymentsApi, SandboxApi};
use vinr_ports::clock::MockClock;
use vinr_ports::ids::MockIdGenerator;
use vinr_ports::network::{
    AuthorizationKind, CardNetwork, MockCardNetwork, NetworkAnswer, NetworkError,
};
use vinr_ports::params::{CreateCustomer, ListParams, UpdateCustomer};
use vinr_ports::store::{MockStore, PageRequest, Store, StoreError};
use vinr_ports::vault::{CardVault, MockCardVault, VaultError};
use vinr_ports::{Error, Mode};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

use common::{
    Sandbox, THREE_DS_ALWAYS, VISA, ctx, customer, customer_with_card, is_internal, json, keyed,
    off_session, ready, test_card,
};

/// What the network says when it is down; the address must never reach the caller.
fn unreachable() -> NetworkError {
    NetworkError::Unavailable("connect to 10.9.8.7:443 timed out".to_owned())
}

/// Asserts `e` is `Error::Internal` and that neither it nor its wire form mentions `secret`.
fn assert_internal_without(e: &Error, secret: &str) {
    assert!(is_internal(e), "expected an internal error, got {e:?}");
    assert!(
        !format!("{e} {e:?}").contains(secret),
        "{e:?} echoes {secret:?}"
    );
    let wire = json(&e.to_body()).to_string();
    assert!(!wire.contains(secret), "{wire} echoes {secret:?}");
    assert_eq!(e.code(), "internal");
}

/// A database that cannot be reached: `service_unavailable` (retryable), and what the store
/// said stays inside.
fn assert_unavailable_without(e: &Error, secret: &str) {
    assert!(
        matches!(e, Error::ServiceUnavailable { .. }),
        "expected service_unavailable, got {e:?}"
    );
    assert!(e.is_retryable());
    assert!(
        !format!("{e} {e:?}").contains(secret),
        "{e:?} echoes {secret:?}"
    );
    let wire = json(&e.to_body()).to_string();
    assert!(!wire.contains(secret), "{wire} echoes {secret:?}");
    assert_eq!(e.code(), "service_unavailable");
}

/// The network is down during an off-session charge (a mock: `authorize` fails once, then the
/// network has no record of the attempt and approves it when asked again under the same
/// attempt id).
#[tokio::test]
async fn network_down_on_an_off_session_charge_leaves_it_processing_until_recovery() {
    let seen: Arc<Mutex<Vec<AttemptId>>> = Arc::default();
    let mut network = MockCardNetwork::new();
    let mut seq = Sequence::new();
    let log = seen.clone();
    network
        .expect_authorize()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|r| {
            r.kind
                == AuthorizationKind::OffSession {
                    authenticated: false,
                }
                && r.cvc.is_none()
        })
        .returning(move |r| {
            log.lock().unwrap().push(r.attempt);
            Err(unreachable())
        });
    let log = seen.clone();
    network
        .expect_attempt_result()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |a| {
            log.lock().unwrap().push(a.clone());
            Ok(None)
        });
    let log = seen.clone();
    network
        .expect_authorize()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |r| {
            log.lock().unwrap().push(r.attempt);
            Ok(NetworkAnswer::Approved)
        });
    let sb = Sandbox::with(|_, ports| ports.network = Arc::new(network));
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);

    let err = sb
        .engine
        .create_payment(&keyed("k"), params.clone())
        .await
        .unwrap_err();
    assert_internal_without(&err, "10.9.8.7");

    // Phase 1 committed: the payment exists, in `processing`, and nothing says how it ended.
    let stored = sb.payments().await;
    assert_eq!(stored.len(), 1);
    let id = stored[0].payment.id.clone();
    assert_eq!(stored[0].payment.status, PaymentStatus::Processing);
    let retrieved = sb.engine.retrieve_payment(&ctx(), &id).await.unwrap();
    assert_eq!(retrieved.status, PaymentStatus::Processing);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 0);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 0);

    // The key is still held by the unfinished charge.
    let again = sb.engine.create_payment(&keyed("k"), params.clone()).await;
    assert_eq!(again, Err(Error::IdempotencyKeyInUse));

    sb.clock.advance(Duration::seconds(1));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );

    let done = sb.engine.retrieve_payment(&ctx(), &id).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 0);
    // Every call was about the one attempt of this payment.
    let attempt = AttemptId::new(id.as_str(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![attempt.clone(), attempt.clone(), attempt]
    );

    // The retry now replays the finished payment, without asking the network again.
    let replayed = sb.engine.create_payment(&keyed("k"), params).await.unwrap();
    assert_eq!(json(&replayed), json(&done));
    assert_eq!(sb.payments().await.len(), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
}

/// The same story with the sandbox network's fault injection; a young payment is left alone by
/// the sweep (its request may still be running).
#[tokio::test]
async fn network_down_then_the_sweep_finishes_the_charge_once() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);

    sb.network.fail_next(1);
    let err = sb
        .engine
        .create_payment(&keyed("k"), params.clone())
        .await
        .unwrap_err();
    assert_internal_without(&err, "injected");
    assert_eq!(sb.network.authorizations(), 0);
    let id = sb.payments().await[0].payment.id.clone();
    assert_eq!(
        sb.engine.create_payment(&keyed("k"), params.clone()).await,
        Err(Error::IdempotencyKeyInUse)
    );

    // Younger than five minutes: not touched.
    sb.clock.advance(Duration::seconds(30));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::minutes(5))
            .await
            .map(|r| r.finished),
        Ok(0)
    );
    assert_eq!(
        sb.payments().await[0].payment.status,
        PaymentStatus::Processing
    );
    assert_eq!(sb.network.authorizations(), 0);

    sb.clock.advance(Duration::minutes(5));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::minutes(5))
            .await
            .map(|r| r.finished),
        Ok(1)
    );
    let done = sb.engine.retrieve_payment(&ctx(), &id).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);

    // A second sweep finds nothing; a different request under the key is refused; the same
    // one replays.
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(0)
    );
    assert_eq!(
        sb.engine
            .create_payment(&keyed("k"), off_session(&cust, &pm, 2501))
            .await,
        Err(Error::IdempotencyKeyReused)
    );
    let replayed = sb.engine.create_payment(&keyed("k"), params).await.unwrap();
    assert_eq!(json(&replayed), json(&done));
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
}

/// A sweep while the network is still down changes nothing; a later one finishes the charge.
#[tokio::test]
async fn a_sweep_while_the_network_is_still_down_leaves_the_payment_processing() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    sb.network.fail_next(1);
    assert!(is_internal(
        &sb.engine
            .create_payment(&ctx(), off_session(&cust, &pm, 700))
            .await
            .unwrap_err()
    ));
    sb.clock.advance(Duration::seconds(1));
    let commits = sb.store.commit_count();

    sb.network.fail_next(1);
    let report = sb
        .engine
        .recover_stuck_payments(Duration::zero())
        .await
        .unwrap();
    assert_eq!(
        report,
        vinr_engine::RecoveryReport {
            finished: 0,
            still_stuck: 1
        }
    );
    assert_eq!(sb.store.commit_count(), commits);
    assert_eq!(
        sb.payments().await[0].payment.status,
        PaymentStatus::Processing
    );
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 0);

    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );
    assert_eq!(
        sb.payments().await[0].payment.status,
        PaymentStatus::Succeeded
    );
    assert_eq!(sb.network.approved_charges(), 1);
}

/// The network charged the card but its answer was lost: recovery asks for the attempt's
/// result rather than charging again.
#[tokio::test]
async fn a_lost_network_answer_is_recovered_without_charging_twice() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);

    sb.network.fail_next_after_recording(1);
    let err = sb
        .engine
        .create_payment(&keyed("lost"), params.clone())
        .await
        .unwrap_err();
    assert_internal_without(&err, "injected");
    assert_eq!(sb.network.approved_charges(), 1, "the network did charge");
    let record = &sb.payments().await[0];
    assert_eq!(record.payment.status, PaymentStatus::Processing);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 0);

    sb.clock.advance(Duration::seconds(1));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );
    let done = sb
        .engine
        .retrieve_payment(&ctx(), &record.payment.id)
        .await
        .unwrap();
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1, "charged once");
    assert_eq!(sb.network.authorizations(), 1);
    assert_eq!(sb.network.charges_for(&record.attempt_id()), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);

    let replayed = sb
        .engine
        .create_payment(&keyed("lost"), params)
        .await
        .unwrap();
    assert_eq!(json(&replayed), json(&done));
    assert_eq!(sb.network.approved_charges(), 1);
}

/// A lost decline: recovery fails the payment (one `payment.failed`), and the retry under the
/// key gets the 402 the first request should have had.
#[tokio::test]
async fn a_lost_decline_is_recovered_and_replayed_as_the_card_error() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, "4000000000009995").await;
    let params = off_session(&cust, &pm, 2500);
    sb.network.fail_next_after_recording(1);
    assert!(is_internal(
        &sb.engine
            .create_payment(&keyed("f"), params.clone())
            .await
            .unwrap_err()
    ));
    sb.clock.advance(Duration::seconds(1));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );

    let p = sb.payments().await.remove(0).payment;
    assert_eq!(p.status, PaymentStatus::Failed);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 1);
    let expected = Error::card(
        CardFailure::declined(DeclineCode::InsufficientFunds),
        Some(p.id.clone()),
    );
    assert_eq!(
        sb.engine.create_payment(&keyed("f"), params.clone()).await,
        Err(expected.clone())
    );
    // Resolved once, replayed ever after.
    assert_eq!(
        sb.engine.create_payment(&keyed("f"), params).await,
        Err(expected)
    );
    assert_eq!(sb.network.authorizations(), 1);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 1);
}

/// A lost answer of a card that needs 3-D Secure: recovery commits `requires_action`.
#[tokio::test]
async fn a_lost_challenge_answer_is_recovered_as_requires_action() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, THREE_DS_ALWAYS).await;
    sb.network.fail_next_after_recording(1);
    assert!(is_internal(
        &sb.engine
            .create_payment(&keyed("3ds"), off_session(&cust, &pm, 2500))
            .await
            .unwrap_err()
    ));
    sb.clock.advance(Duration::seconds(1));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );
    let p = &sb.payments().await[0].payment;
    assert_eq!(p.status, PaymentStatus::RequiresAction);
    assert_eq!(
        p.last_error.as_ref().map(|e| e.code),
        Some(LastErrorCode::AuthenticationRequired)
    );
    assert!(p.next_action.is_some());
    assert_eq!(sb.count(EventType::PaymentRequiresAction).await, 1);
    assert_eq!(sb.network.approved_charges(), 0);
    let replayed = sb
        .engine
        .create_payment(&keyed("3ds"), off_session(&cust, &pm, 2500))
        .await
        .unwrap();
    assert_eq!(json(&replayed), json(p));
}

/// A store that reads fine (from a real memory store) but fails every commit with a message
/// naming its internals.
fn failing_commits(mem: &MemoryStore) -> MockStore {
    let mut store = MockStore::new();
    let m = mem.clone();
    store
        .expect_idempotency()
        .returning(move |scope, key| ready(m.idempotency(scope, key)));
    let m = mem.clone();
    store
        .expect_customer()
        .returning(move |mode, id| ready(m.customer(mode, id)));
    let m = mem.clone();
    store
        .expect_method()
        .returning(move |mode, id| ready(m.method(mode, id)));
    store.expect_commit().times(1).returning(|_| {
        Err(StoreError::Unavailable(
            "boom: pg host db-7.internal refused".to_owned(),
        ))
    });
    store
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_never_echoed_and_writes_nothing() {
    let mem = MemoryStore::new();
    let sb = Sandbox::with(|_, ports| ports.store = Arc::new(failing_commits(&mem)));

    let err = sb
        .engine
        .create_customer(
            &keyed("c1"),
            CreateCustomer {
                email: Some("ada@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_unavailable_without(&err, "boom");
    assert_unavailable_without(&err, "db-7.internal");

    let listed = mem
        .customers(Mode::Test, None, PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(common::events(&mem, None).await.is_empty());
    assert_eq!(mem.idempotency("sandbox", "c1").await.unwrap(), None);
    assert_eq!(mem.commit_count(), 0);
}

/// The same over a store that already holds a customer: the failed update leaves it as it was.
#[tokio::test]
async fn a_failed_update_commit_leaves_the_customer_as_it_was() {
    let prefilled = Sandbox::new();
    let id = customer(&prefilled.engine).await;
    let before = prefilled
        .store
        .customer(Mode::Test, &id)
        .await
        .unwrap()
        .unwrap();
    let commits = prefilled.store.commit_count();

    let sb = Sandbox::with(|_, ports| ports.store = Arc::new(failing_commits(&prefilled.store)));
    let err = sb
        .engine
        .update_customer(
            &ctx(),
            &id,
            UpdateCustomer {
                name: Some(Some("Ada Lovelace".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_unavailable_without(&err, "boom");

    assert_eq!(
        prefilled.store.customer(Mode::Test, &id).await.unwrap(),
        Some(before)
    );
    assert_eq!(prefilled.store.commit_count(), commits);
    assert_eq!(prefilled.count(EventType::CustomerUpdated).await, 0);
}

/// A store that cannot read back what it holds: internal, and the reason stays inside.
#[tokio::test]
async fn a_corrupt_read_is_internal_and_never_echoed() {
    let mut store = MockStore::new();
    store.expect_customer().times(1).returning(|_, _| {
        Err(StoreError::Corrupt(
            "customers row 7: invalid json at col 3".to_owned(),
        ))
    });
    let sb = Sandbox::with(|_, ports| ports.store = Arc::new(store));
    let err = sb
        .engine
        .retrieve_customer(&ctx(), &CustomerId::from_entropy(&[9; 24]))
        .await
        .unwrap_err();
    assert_internal_without(&err, "row 7");
}

/// A store that always reports a lost race: the command gives up after `max_attempts` tries,
/// with an internal error.
#[tokio::test]
async fn endless_conflicts_give_up_after_max_attempts() {
    let mut store = MockStore::new();
    store
        .expect_commit()
        .times(3)
        .returning(|_| Err(StoreError::Conflict));
    let config = EngineConfig {
        max_attempts: 3,
        ..EngineConfig::default()
    };
    let sb = Sandbox::with_config(config, |_, ports| ports.store = Arc::new(store));
    let err = sb
        .engine
        .create_customer(&ctx(), CreateCustomer::default())
        .await
        .unwrap_err();
    assert!(is_internal(&err), "{err:?}");
}

/// `fail_next_commits(1)` on the real memory store: the create fails and leaves nothing; the
/// same call (same key: nothing could be recorded) then succeeds.
#[tokio::test]
async fn an_injected_commit_failure_writes_nothing_and_the_same_call_then_succeeds() {
    let sb = Sandbox::new();
    let params = CreateCustomer {
        email: Some("grace@example.com".into()),
        ..Default::default()
    };
    sb.store.fail_next_commits(1);
    let err = sb
        .engine
        .create_customer(&keyed("c"), params.clone())
        .await
        .unwrap_err();
    assert_unavailable_without(&err, "injected");
    let listed = sb
        .store
        .customers(Mode::Test, None, PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(sb.events(None).await.is_empty());
    assert_eq!(sb.store.commit_count(), 0);

    let created = sb
        .engine
        .create_customer(&keyed("c"), params.clone())
        .await
        .unwrap();
    assert_eq!(created.email.as_deref(), Some("grace@example.com"));
    assert_eq!(sb.count(EventType::CustomerCreated).await, 1);
    // And the key now replays it.
    let replayed = sb
        .engine
        .create_customer(&keyed("c"), params)
        .await
        .unwrap();
    assert_eq!(json(&replayed), json(&created));
}

/// Phase 1 of a charge fails to commit: no payment, nothing asked of the network.
#[tokio::test]
async fn a_failed_phase_1_commit_charges_nothing() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    sb.store.fail_next_commits(1);
    let err = sb
        .engine
        .create_payment(&keyed("p"), params.clone())
        .await
        .unwrap_err();
    assert_unavailable_without(&err, "injected");
    assert!(sb.payments().await.is_empty());
    assert_eq!(sb.network.authorizations(), 0);
    assert_eq!(sb.store.idempotency("sandbox", "p").await.unwrap(), None);

    let paid = sb.engine.create_payment(&keyed("p"), params).await.unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);
}

/// The store fails the commit of phase 2 (the network has approved and charged): the payment
/// stays `processing` with no outcome event; recovery completes it from the network's record,
/// with the one charge.
#[tokio::test]
async fn a_store_failure_in_phase_2_leaves_the_payment_processing_until_recovery() {
    let mut network = MockCardNetwork::new();
    let sb = Sandbox::with(|h, ports| {
        let (net, mem) = (h.network.clone(), h.store.clone());
        // Charges for real (the sandbox), then makes the next commit — phase 2's — fail.
        network.expect_authorize().times(1).returning(move |r| {
            let answer = ready(net.authorize(r));
            mem.fail_next_commits(1);
            answer
        });
        let net = h.network.clone();
        network
            .expect_attempt_result()
            .times(1)
            .returning(move |a| ready(net.attempt_result(a)));
        ports.network = Arc::new(network);
    });
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 4200);

    let err = sb
        .engine
        .create_payment(&keyed("k2"), params.clone())
        .await
        .unwrap_err();
    assert_unavailable_without(&err, "injected");
    assert_eq!(sb.network.approved_charges(), 1);
    let record = &sb.payments().await[0];
    assert_eq!(record.payment.status, PaymentStatus::Processing);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 0);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 0);
    assert_eq!(
        sb.engine.create_payment(&keyed("k2"), params.clone()).await,
        Err(Error::IdempotencyKeyInUse)
    );

    sb.clock.advance(Duration::seconds(1));
    assert_eq!(
        sb.engine
            .recover_stuck_payments(Duration::zero())
            .await
            .map(|r| r.finished),
        Ok(1)
    );
    let done = sb
        .engine
        .retrieve_payment(&ctx(), &record.payment.id)
        .await
        .unwrap();
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
    let replayed = sb
        .engine
        .create_payment(&keyed("k2"), params)
        .await
        .unwrap();
    assert_eq!(json(&replayed), json(&done));
}

/// Every card failure of api.md §1/§4, as the network answers it for a stored card.
#[tokio::test]
async fn every_decline_fails_the_payment_with_its_codes() {
    let failures = [
        CardFailure::declined(DeclineCode::GenericDecline),
        CardFailure::declined(DeclineCode::InsufficientFunds),
        CardFailure::declined(DeclineCode::LostCard),
        CardFailure::declined(DeclineCode::StolenCard),
        CardFailure::of(CardErrorCode::ExpiredCard),
        CardFailure::of(CardErrorCode::IncorrectCvc),
        CardFailure::of(CardErrorCode::IncorrectNumber),
        CardFailure::of(CardErrorCode::ProcessingError),
    ];
    for failure in failures {
        let mut network = MockCardNetwork::new();
        network
            .expect_authorize()
            .times(1)
            .withf(|r| {
                r.amount.is_some_and(|m| m.minor() == 1999) && r.attempt.as_str().ends_with(".1")
            })
            .returning(move |_| Ok(NetworkAnswer::Declined(failure)));
        let sb = Sandbox::with(|_, ports| ports.network = Arc::new(network));
        let (cust, pm) = customer_with_card(&sb.engine, VISA).await;

        let err = sb
            .engine
            .create_payment(&keyed("d"), off_session(&cust, &pm, 1999))
            .await
            .unwrap_err();
        let Error::Card {
            code,
            decline_code,
            payment_id: Some(payment_id),
            message,
        } = &err
        else {
            panic!("{failure:?}: expected a card error with a payment id, got {err:?}");
        };
        assert_eq!(
            (*code, *decline_code),
            (failure.code, failure.decline_code),
            "{failure:?}"
        );
        assert_eq!(message, failure.message());
        assert_eq!(err.code(), failure.code.as_str());

        let p = sb
            .engine
            .retrieve_payment(&ctx(), payment_id)
            .await
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Failed, "{failure:?}");
        let last = p.last_error.as_ref().unwrap();
        assert_eq!(last.code, LastErrorCode::from(failure.code), "{failure:?}");
        assert_eq!(last.decline_code, failure.decline_code, "{failure:?}");
        assert_eq!(last.message, failure.message());

        let failed = sb.events(Some(EventType::PaymentFailed)).await;
        assert_eq!(failed.len(), 1, "{failure:?}");
        assert_eq!(failed[0].data.object.id(), payment_id.as_str());
        assert_eq!(sb.count(EventType::PaymentSucceeded).await, 0);

        // Stored as a 402: the retry replays the same error and asks the network nothing.
        let replay = sb
            .engine
            .create_payment(&keyed("d"), off_session(&cust, &pm, 1999))
            .await;
        assert_eq!(replay, Err(err.clone()), "{failure:?}");
        assert_eq!(sb.payments().await.len(), 1);
    }
}

/// The vault cannot seal: nothing is attached, no event, no write.
#[tokio::test]
async fn a_vault_failure_on_attach_stores_nothing() {
    let mut vault = MockCardVault::new();
    vault
        .expect_seal()
        .times(1)
        .returning(|_| Err(VaultError::Encrypt));
    let sb = Sandbox::with(|_, ports| ports.vault = Arc::new(vault));
    let cust = customer(&sb.engine).await;
    let commits = sb.store.commit_count();

    let err = sb
        .engine
        .attach_test_card(&keyed("a"), &cust, test_card(VISA))
        .await
        .unwrap_err();
    assert_internal_without(&err, "4242");
    assert_eq!(sb.store.commit_count(), commits);
    let methods = sb
        .engine
        .list_methods(&ctx(), &cust, ListParams::default())
        .await
        .unwrap();
    assert!(methods.data.is_empty());
    assert_eq!(sb.events(None).await.len(), 1, "customer.created only");
    assert_eq!(sb.store.idempotency("sandbox", "a").await.unwrap(), None);
}

/// The vault cannot open a stored card: the charge fails before anything is written or asked.
#[tokio::test]
async fn an_unreadable_stored_card_fails_the_charge_before_anything_is_written() {
    let real = AesVault::random();
    let mut vault = MockCardVault::new();
    let v = real.clone();
    vault.expect_seal().returning(move |pan| v.seal(pan));
    let v = real.clone();
    vault
        .expect_fingerprint()
        .returning(move |pan| v.fingerprint(pan));
    vault
        .expect_open()
        .times(1)
        .returning(|_| Err(VaultError::UnknownKey("k-2019-retired".into())));
    let sb = Sandbox::with(|_, ports| ports.vault = Arc::new(vault));
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let commits = sb.store.commit_count();

    let err = sb
        .engine
        .create_payment(&keyed("u"), off_session(&cust, &pm, 2500))
        .await
        .unwrap_err();
    assert_internal_without(&err, "k-2019-retired");
    assert!(sb.payments().await.is_empty());
    assert_eq!(sb.network.authorizations(), 0);
    assert_eq!(sb.store.commit_count(), commits);
}

/// Ids and time come only from the ports: with mocks, the customer and its event are exactly
/// predictable, and the time is cut to the second.
#[tokio::test]
async fn ids_and_time_come_from_the_ports() {
    let at = DateTime::<Utc>::from_timestamp(1_772_600_767, 890_000_000).unwrap();
    let mut clock = MockClock::new();
    clock.expect_now().returning(move || at);
    let mut ids = MockIdGenerator::new();
    let mut seq = Sequence::new();
    ids.expect_entropy()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| [1; 24]);
    ids.expect_entropy()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| [2; 24]);
    let sb = Sandbox::with(|_, ports| {
        ports.clock = Arc::new(clock);
        ports.ids = Arc::new(ids);
    });

    let c = sb
        .engine
        .create_customer(
            &ctx(),
            CreateCustomer {
                name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(c.id, CustomerId::from_entropy(&[1; 24]));
    assert_eq!(
        c.created,
        DateTime::<Utc>::from_timestamp(1_772_600_767, 0).unwrap()
    );
    let events = sb.events(None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, EventId::from_entropy(&[2; 24]));
    assert_eq!(events[0].kind, EventType::CustomerCreated);
    assert_eq!(events[0].created, c.created);
}

/// One stuck payment whose outcome cannot be learned (the network keeps failing for it) must
/// not keep the sweep from finishing the others: the sweep runs oldest first, so otherwise the
/// oldest poisoned payment blocks every later one for good.
#[tokio::test]
async fn one_unrecoverable_payment_does_not_block_the_recovery_of_the_others() {
    let up = Arc::new(AtomicBool::new(false));
    let poisoned: Arc<Mutex<Option<AttemptId>>> = Arc::default();
    let answers =
        |up: &Arc<AtomicBool>, poisoned: &Arc<Mutex<Option<AttemptId>>>, a: &AttemptId| {
            up.load(Ordering::SeqCst) && poisoned.lock().unwrap().as_ref() != Some(a)
        };
    let mut network = MockCardNetwork::new();
    let (u, p) = (up.clone(), poisoned.clone());
    network.expect_authorize().returning(move |r| {
        if answers(&u, &p, &r.attempt) {
            Ok(NetworkAnswer::Approved)
        } else {
            Err(unreachable())
        }
    });
    let (u, p) = (up.clone(), poisoned.clone());
    network.expect_attempt_result().returning(move |a| {
        if answers(&u, &p, a) {
            Ok(None)
        } else {
            Err(unreachable())
        }
    });
    let sb = Sandbox::with(|_, ports| ports.network = Arc::new(network));
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;

    for amount in [100, 200] {
        let err = sb
            .engine
            .create_payment(&ctx(), off_session(&cust, &pm, amount))
            .await
            .unwrap_err();
        assert!(is_internal(&err));
        sb.clock.advance(Duration::seconds(1));
    }
    let stuck = sb.payments().await;
    let (younger, oldest) = (&stuck[0], &stuck[1]);
    assert_eq!((oldest.payment.amount, younger.payment.amount), (100, 200));
    *poisoned.lock().unwrap() = Some(oldest.attempt_id());
    up.store(true, Ordering::SeqCst);

    let swept = sb.engine.recover_stuck_payments(Duration::zero()).await;
    let younger_now = sb
        .engine
        .retrieve_payment(&ctx(), &younger.payment.id)
        .await
        .unwrap();
    let oldest_now = sb
        .engine
        .retrieve_payment(&ctx(), &oldest.payment.id)
        .await
        .unwrap();
    assert_eq!(oldest_now.status, PaymentStatus::Processing);
    assert_eq!(
        younger_now.status,
        PaymentStatus::Succeeded,
        "the sweep ({swept:?}) stopped at the oldest stuck payment and left the younger one processing"
    );
}
