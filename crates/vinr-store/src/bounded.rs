//! [`Bounded`]: a store whose every call answers within a time limit.
//!
//! A database that stops answering (a hung server, a network path that drops packets while
//! the connection stays open) would otherwise hold a call, and the request or background task
//! behind it, until the operating system gives up on the connection, minutes later.
//! `Bounded` gives each call [`OPERATION_TIMEOUT`] (purges, which may delete many rows,
//! [`PURGE_TIMEOUT`]); a call that runs out of time answers [`StoreError::Unavailable`] and
//! is dropped.
//!
//! Dropping a call is safe for the stores wrapped here: a PostgreSQL write set is sent
//! `BEGIN` to `COMMIT` in one flight, so the server sees a whole transaction whatever
//! happens to the caller, and it applies all of it or none; a commit that ran out of time has
//! an unknown outcome, exactly as one whose connection was lost, which the engine's
//! idempotency records and recovery sweep already handle.
//! [`open`](crate::open::open) wraps the PostgreSQL store in it.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use vinr_domain::customer::Customer;
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::Mode;
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::event::Event;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, Page, PageRequest, SealedCardRef, Store, StoreError, WriteSet,
};

/// The time limit of one store call: well inside the server's default request timeout
/// (10 s), so a request whose database hangs answers `503` from the store rather than from
/// the request timeout, and a background task is never held longer.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The time limit of a purge (idempotency records, old events), which may delete many rows.
pub const PURGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A store (and key store, and delivery store) whose calls answer within a time limit.
#[derive(Debug, Clone)]
pub struct Bounded<S> {
    inner: S,
    limit: Duration,
    purge_limit: Duration,
}

impl<S> Bounded<S> {
    /// `inner` with [`OPERATION_TIMEOUT`] per call ([`PURGE_TIMEOUT`] for purges).
    pub fn new(inner: S) -> Self {
        Self::with_limits(inner, OPERATION_TIMEOUT, PURGE_TIMEOUT)
    }

    /// `inner` with these limits per call and per purge.
    pub fn with_limits(inner: S, limit: Duration, purge_limit: Duration) -> Self {
        Self {
            inner,
            limit,
            purge_limit,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// `call`, or [`StoreError::Unavailable`] once `limit` has passed.
async fn within<T>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(format!(
            "the database did not answer {what} within {} ms",
            limit.as_millis()
        ))),
    }
}

#[async_trait]
impl<S: Store> Store for Bounded<S> {
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        within(self.limit, "a read", self.inner.customer(mode, id)).await
    }

    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.customers(mode, email, page),
        )
        .await
    }

    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError> {
        within(self.limit, "a read", self.inner.method(mode, id)).await
    }

    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.customer_methods(mode, customer, page),
        )
        .await
    }

    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError> {
        within(
            self.limit,
            "a read",
            self.inner
                .method_by_fingerprint(mode, customer, fingerprint),
        )
        .await
    }

    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.attached_methods(mode, page),
        )
        .await
    }

    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        within(self.limit, "a read", self.inner.payment(mode, id)).await
    }

    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.payments(mode, customer, status, page),
        )
        .await
    }

    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.stuck_payments(before, limit),
        )
        .await
    }

    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError> {
        within(self.limit, "a read", self.inner.setup(mode, id)).await
    }

    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        within(self.limit, "a read", self.inner.endpoint(mode, id)).await
    }

    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError> {
        within(self.limit, "a list", self.inner.endpoints(mode, page)).await
    }

    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError> {
        within(self.limit, "a read", self.inner.event(mode, id)).await
    }

    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        within(self.limit, "a list", self.inner.events(mode, kind, page)).await
    }

    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        within(self.limit, "a read", self.inner.idempotency(scope, key)).await
    }

    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        within(self.limit, "a commit", self.inner.commit(writes)).await
    }

    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        within(
            self.limit,
            "a list",
            self.inner.cards_sealed_with_other_keys(key_id, limit),
        )
        .await
    }

    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError> {
        within(
            self.limit,
            "a write",
            self.inner.replace_sealed_card(owner, current, resealed),
        )
        .await
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        within(
            self.purge_limit,
            "a purge",
            self.inner.purge_idempotency(before),
        )
        .await
    }
}

#[async_trait]
impl<S: ApiKeyStore> ApiKeyStore for Bounded<S> {
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        within(self.limit, "a write", self.inner.insert_key(key)).await
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        within(self.limit, "a read", self.inner.key_by_hash(hash)).await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        within(self.limit, "a list", self.inner.list_keys()).await
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        within(self.limit, "a write", self.inner.revoke_key(id, at)).await
    }
}

#[async_trait]
impl<S: DeliveryStore> DeliveryStore for Bounded<S> {
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        within(self.limit, "a fan-out", self.inner.fan_out(now, limit)).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        within(
            self.limit,
            "a claim",
            self.inner.claim_due(now, lease, limit),
        )
        .await
    }

    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        within(
            self.limit,
            "a write",
            self.inner.record_attempt(key, record, next),
        )
        .await
    }

    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError> {
        within(self.limit, "a read", self.inner.deliveries(event)).await
    }

    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        within(self.limit, "a read", self.inner.outbox_stats(now)).await
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        within(self.purge_limit, "a purge", self.inner.purge_events(before)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    /// A store whose every call hangs.
    struct Hung;

    #[async_trait]
    impl ApiKeyStore for Hung {
        async fn insert_key(&self, _: ApiKeyRecord) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn key_by_hash(&self, _: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
            std::future::pending().await
        }
        async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
            std::future::pending().await
        }
        async fn revoke_key(&self, _: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_hung_call_is_unavailable_after_the_limit() {
        let limit = Duration::from_millis(50);
        let store = Bounded::with_limits(Hung, limit, limit);
        let started = std::time::Instant::now();
        let got = store.key_by_hash("h").await;
        assert!(
            matches!(&got, Err(StoreError::Unavailable(m)) if m.contains("did not answer")),
            "{got:?}"
        );
        assert!(started.elapsed() >= limit);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn answers_in_time_pass_through() {
        let store = Bounded::new(MemoryStore::new());
        let page = store
            .customers(Mode::Test, None, PageRequest::first(10))
            .await
            .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(store.commit(WriteSet::default()).await, Ok(()));
    }
}
