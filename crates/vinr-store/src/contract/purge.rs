//! Checks of `purge_idempotency`: forgetting idempotency records older than a time.

use chrono::Duration;
use vinr_domain::event::EventType;
use vinr_domain::payment::PaymentStatus;
use vinr_ports::Mode;
use vinr_ports::store::{IdempotencyRecord, Store, Write, WriteSet};

use super::fixtures::{Fx, commit_conflicts, commit_ok, idempotency_done, update};

/// Reads every record back: `Some` for those still held.
async fn held(store: &dyn Store, records: &[IdempotencyRecord]) -> Vec<Option<IdempotencyRecord>> {
    let mut out = Vec::new();
    for r in records {
        out.push(store.idempotency(&r.scope, &r.key).await.unwrap());
    }
    out
}

/// Purging forgets the idempotency records created strictly before the time given, of every
/// scope and state (in flight or done), counts them, and touches nothing else; a time between
/// two whole seconds counts as itself (a record created at the second before it goes, one at
/// the second after it stays); a purged key is free again.
pub async fn purge_idempotency_forgets_records_created_before(store: &dyn Store) {
    let fx = Fx::default();
    assert_eq!(
        store
            .purge_idempotency(super::fixtures::at(1_000_000))
            .await,
        Ok(0),
        "purging an empty store"
    );

    let records: Vec<IdempotencyRecord> = (0..6)
        .map(|i| {
            let scope = if i % 2 == 0 { "sk_a" } else { "sk_b" };
            fx.idempotency(scope, &format!("order-{i}"))
        })
        .collect();
    let payment = fx.payment(Mode::Test, None, PaymentStatus::Processing);
    let event = fx.customer_event(Mode::Test, EventType::CustomerCreated);
    commit_ok(
        store,
        WriteSet {
            payments: vec![Write::Insert(payment.clone())],
            idempotency: records.iter().cloned().map(Write::Insert).collect(),
            events: vec![event.clone()],
            ..WriteSet::default()
        },
        "storing idempotency records, a payment and an event",
    )
    .await;
    // Two of them finished (the state changes; the creation time stays).
    let mut records = records;
    for i in [1, 4] {
        let done = idempotency_done(&records[i], "{\"id\":\"pay_1\"}");
        commit_ok(
            store,
            WriteSet {
                idempotency: vec![update(records[i].version, done.clone())],
                ..WriteSet::default()
            },
            "finishing a request",
        )
        .await;
        records[i] = done;
    }
    let all: Vec<Option<IdempotencyRecord>> = records.iter().cloned().map(Some).collect();
    assert_eq!(held(store, &records).await, all);

    let first = records[0].created;
    let third = records[2].created;
    assert_eq!(
        store.purge_idempotency(first - Duration::hours(1)).await,
        Ok(0),
        "nothing is that old"
    );
    assert_eq!(
        store.purge_idempotency(first).await,
        Ok(0),
        "a record created at the time given is not before it"
    );
    assert_eq!(held(store, &records).await, all);

    // Half a second after the third: it and the two before go, whatever their scope or state.
    assert_eq!(
        store
            .purge_idempotency(third + Duration::milliseconds(500))
            .await,
        Ok(3),
        "purging the three oldest"
    );
    assert_eq!(
        store
            .purge_idempotency(third + Duration::milliseconds(500))
            .await,
        Ok(0),
        "purging again finds nothing"
    );
    assert_eq!(
        store.purge_idempotency(records[3].created).await,
        Ok(0),
        "the fourth record was created at the time given, not before it"
    );
    let want: Vec<Option<IdempotencyRecord>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (i >= 3).then(|| r.clone()))
        .collect();
    assert_eq!(held(store, &records).await, want);
    assert_eq!(
        store
            .payment(Mode::Test, &payment.payment.id)
            .await
            .unwrap(),
        Some(payment),
        "a purge removes idempotency records only"
    );
    assert_eq!(
        store.event(Mode::Test, &event.id).await.unwrap(),
        Some(event),
        "a purge removes idempotency records only"
    );

    // A purged key is free again; a kept one is still taken.
    let again = fx.idempotency(&records[0].scope, &records[0].key);
    commit_ok(
        store,
        WriteSet {
            idempotency: vec![Write::Insert(again.clone())],
            ..WriteSet::default()
        },
        "reusing a purged key",
    )
    .await;
    assert_eq!(
        store
            .idempotency(&records[0].scope, &records[0].key)
            .await
            .unwrap(),
        Some(again.clone())
    );
    let taken = fx.idempotency(&records[3].scope, &records[3].key);
    commit_conflicts(
        store,
        WriteSet {
            idempotency: vec![Write::Insert(taken)],
            ..WriteSet::default()
        },
        "reusing a key that was not purged",
    )
    .await;

    // Everything is older than a time far ahead.
    assert_eq!(
        store
            .purge_idempotency(again.created + Duration::days(1))
            .await,
        Ok(4),
        "purging everything left"
    );
    assert_eq!(held(store, &records).await, vec![None; records.len()]);
}
