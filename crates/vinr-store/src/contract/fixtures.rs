//! Domain objects for the suite, built through the domain's own constructors, and helpers
//! that read any list of the store the same way.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};
use vinr_domain::card::{Brand, Expiry, Funding};
use vinr_domain::customer::{Address, Customer, CustomerFields, Metadata};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{
    CustomerId, Entropy, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{CardSummary, Fingerprint, PendingCard, SealedCard, StoredMethod};
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord, PaymentStatus};
use vinr_domain::setup::{SetupInput, SetupRecord};
use vinr_domain::webhook::{EndpointRecord, WebhookSecret};
use vinr_domain::{CardFailure, DeclineCode};
use vinr_ports::Mode;
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{
    IdempotencyRecord, IdempotencyState, PageRequest, Store, StoreError, StoredOutcome, Write,
    WriteSet,
};

/// The time of object number 0 (2030-03-17T17:46:40Z); object `n` is created `n` seconds later.
const T0: i64 = 1_900_000_000;

/// Hands out object numbers: each object gets a fresh one, which makes its id (per kind) and
/// its creation time, so objects made later are also created later.
#[derive(Debug, Default)]
pub(super) struct Fx {
    next: AtomicU32,
}

/// 24 bytes that give a distinct id for every `n` below 62⁴ (ids reduce bytes modulo 62).
pub(super) fn entropy(n: u32) -> Entropy {
    let mut e = [0u8; 24];
    let mut rest = n;
    for byte in e.iter_mut().take(5) {
        *byte = u8::try_from(rest % 62).unwrap_or(0);
        rest /= 62;
    }
    // A marker so suite ids never collide with the all-zero ids of other tests.
    e[23] = 61;
    e
}

/// The creation time of object number `n`.
pub(super) fn at(n: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + i64::from(n), 0).expect("a time within chrono's range")
}

/// A customer id that no fixture hands out.
pub(super) fn unknown_customer() -> CustomerId {
    CustomerId::from_entropy(&[7; 24])
}

impl Fx {
    /// A fresh object number.
    pub(super) fn n(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A customer with every field set.
    pub(super) fn customer(&self, mode: Mode) -> Customer {
        let n = self.n();
        let fields = CustomerFields {
            email: Some(format!("buyer{n}@example.com")),
            name: Some(format!("Ada Lovelace №{n}")),
            phone: Some("+44 20 7946 0958".to_owned()),
            address: Some(Address {
                line1: Some("12 St James's Square".to_owned()),
                line2: Some("Flat 3".to_owned()),
                city: Some("London".to_owned()),
                postal_code: Some("SW1Y 4JH".to_owned()),
                state: None,
                country: Some("GB".to_owned()),
            }),
            metadata: Metadata::parse(BTreeMap::from([
                ("internalId".to_owned(), format!("user_{n}")),
                ("note".to_owned(), "prefers \"email\" — ✉".to_owned()),
            ]))
            .expect("valid metadata"),
        };
        Customer::new(
            CustomerId::from_entropy(&entropy(n)),
            fields,
            mode.livemode(),
            at(n),
        )
    }

    /// A customer with only this email (or none).
    pub(super) fn customer_with_email(&self, mode: Mode, email: Option<&str>) -> Customer {
        let n = self.n();
        let fields = CustomerFields {
            email: email.map(str::to_owned),
            ..CustomerFields::default()
        };
        Customer::new(
            CustomerId::from_entropy(&entropy(n)),
            fields,
            mode.livemode(),
            at(n),
        )
    }

    /// A card method with this fingerprint, attached to `customer` if one is given
    /// (unattached otherwise).
    pub(super) fn method(
        &self,
        mode: Mode,
        customer: Option<&CustomerId>,
        fingerprint: &str,
    ) -> StoredMethod {
        let n = self.n();
        let mut m = StoredMethod::new(
            PaymentMethodId::from_entropy(&entropy(n)),
            customer.cloned(),
            pending_card(n, fingerprint),
            n.is_multiple_of(2),
            mode.livemode(),
            at(n),
        );
        if n.is_multiple_of(3) {
            m.expiry_notice_sent = Expiry::new(12, 2034).ok();
        }
        m
    }

    /// A payment in `status`, for `customer`, reached through the payment state machine.
    pub(super) fn payment(
        &self,
        mode: Mode,
        customer: Option<&CustomerId>,
        status: PaymentStatus,
    ) -> PaymentRecord {
        let n = self.n();
        let now = at(n);
        let hosted = matches!(
            status,
            PaymentStatus::RequiresPaymentMethod | PaymentStatus::Canceled
        );
        let new = NewPayment {
            id: PaymentId::from_entropy(&entropy(n)),
            money: Money::from_minor(1000 + i64::from(n), Currency::EUR).expect("a valid amount"),
            customer_id: customer.cloned(),
            payment_method_id: if hosted {
                None
            } else {
                Some(PaymentMethodId::from_entropy(&entropy(n + 10_000)))
            },
            off_session: !hosted,
            description: Some(format!("Order #{n} — ünïcode")),
            metadata: Metadata::parse(BTreeMap::from([("order".to_owned(), n.to_string())]))
                .expect("valid metadata"),
            save_payment_method: hosted,
            return_url: Some("https://shop.example/return".to_owned()),
            checkout_url: hosted.then(|| format!("https://pay.example/checkout/{n}")),
            livemode: mode.livemode(),
        };
        let created = PaymentRecord::create(new, now)
            .expect("a valid payment")
            .record;
        let step = |record: &PaymentRecord, input: PaymentInput| {
            record
                .apply(input, now)
                .expect("an allowed transition")
                .record
        };
        match status {
            PaymentStatus::Processing | PaymentStatus::RequiresPaymentMethod => created,
            PaymentStatus::Succeeded => step(&created, PaymentInput::Approved { method: None }),
            PaymentStatus::Failed => step(
                &created,
                PaymentInput::Declined(CardFailure::declined(DeclineCode::InsufficientFunds)),
            ),
            PaymentStatus::RequiresAction => step(
                &created,
                PaymentInput::ChallengeRequired {
                    url: format!("https://pay.example/3ds/{n}"),
                },
            ),
            PaymentStatus::Canceled => step(&created, PaymentInput::Cancel),
        }
    }

    /// A payment whose card was typed on the hosted page and now waits for a challenge: it
    /// carries a pending card and a next action.
    pub(super) fn hosted_payment_in_challenge(
        &self,
        mode: Mode,
        customer: &CustomerId,
    ) -> PaymentRecord {
        let created = self.payment(mode, Some(customer), PaymentStatus::RequiresPaymentMethod);
        let now = created.payment.created;
        let entered = created
            .apply(
                PaymentInput::CardEntered {
                    card: pending_card(self.n(), "fp-hosted"),
                },
                now,
            )
            .expect("card entered")
            .record;
        entered
            .apply(
                PaymentInput::ChallengeRequired {
                    url: "https://pay.example/3ds/hosted".to_owned(),
                },
                now,
            )
            .expect("challenge")
            .record
    }

    /// A setup for `customer`, fresh.
    pub(super) fn setup(&self, mode: Mode, customer: &CustomerId) -> SetupRecord {
        let n = self.n();
        SetupRecord::create(
            SetupId::from_entropy(&entropy(n)),
            customer.clone(),
            format!("https://pay.example/setup/{n}"),
            "https://shop.example/saved".to_owned(),
            mode.livemode(),
            at(n),
        )
    }

    /// A setup waiting for a challenge, after one failed card: it carries a last error, a
    /// pending card and two attempts.
    pub(super) fn setup_in_challenge(&self, mode: Mode, customer: &CustomerId) -> SetupRecord {
        let s = self.setup(mode, customer);
        let now = s.setup.created;
        let failed = s
            .apply(
                SetupInput::CardFailed(CardFailure::declined(DeclineCode::GenericDecline)),
                now,
            )
            .expect("card failed")
            .record;
        failed
            .apply(
                SetupInput::ChallengeRequired {
                    card: pending_card(self.n(), "fp-setup"),
                },
                now,
            )
            .expect("challenge")
            .record
    }

    /// A webhook endpoint; `rotated` gives it a second, expiring secret.
    pub(super) fn endpoint(&self, mode: Mode, rotated: bool) -> EndpointRecord {
        let n = self.n();
        let filter = EventFilter::Only(vec![
            EventType::PaymentSucceeded,
            EventType::CustomerCreated,
        ]);
        let e = EndpointRecord::new(
            WebhookEndpointId::from_entropy(&entropy(n)),
            format!("https://shop.example/hooks/{n}"),
            &filter,
            WebhookSecret::from_entropy(&entropy(n), &entropy(n + 1)),
            mode.livemode(),
            at(n),
        );
        if rotated {
            e.rotated(
                WebhookSecret::from_entropy(&entropy(n + 2), &entropy(n + 3)),
                Duration::hours(24),
                at(n),
            )
        } else {
            e
        }
    }

    /// An event of `kind` about `object`, in `mode`.
    pub(super) fn event(&self, mode: Mode, kind: EventType, object: EventObject) -> Event {
        let n = self.n();
        Event {
            id: EventId::from_entropy(&entropy(n)),
            kind,
            created: at(n),
            livemode: mode.livemode(),
            data: EventData {
                object,
                previous_attributes: None,
            },
        }
    }

    /// An event of `kind` about a fresh customer (the customer is not stored).
    pub(super) fn customer_event(&self, mode: Mode, kind: EventType) -> Event {
        let c = self.customer(mode);
        self.event(mode, kind, EventObject::Customer(c))
    }

    /// An in-flight idempotency record.
    pub(super) fn idempotency(&self, scope: &str, key: &str) -> IdempotencyRecord {
        let n = self.n();
        IdempotencyRecord {
            scope: scope.to_owned(),
            key: key.to_owned(),
            request_hash: format!("sha256:{n:064}"),
            state: IdempotencyState::InFlight {
                resource: Some(PaymentId::from_entropy(&entropy(n)).to_string()),
            },
            created: at(n),
            version: 1,
        }
    }
}

/// A vaulted card (fake ciphertext: the store never opens it).
fn pending_card(n: u32, fingerprint: &str) -> PendingCard {
    PendingCard {
        sealed: SealedCard {
            key_id: "contract-key".to_owned(),
            nonce: (0..12u8)
                .map(|i| {
                    i.wrapping_mul(17)
                        .wrapping_add(u8::try_from(n % 251).unwrap_or(0))
                })
                .collect(),
            ciphertext: (0..32u8).map(|i| 255 - i).collect(),
        },
        summary: CardSummary {
            brand: Brand::Visa,
            last4: format!("{:04}", n % 10_000),
            expiry: Expiry::new(1 + n % 12, 2030 + i32::try_from(n % 10).unwrap_or(0))
                .expect("a valid expiry"),
            funding: Funding::Credit,
        },
        fingerprint: Fingerprint::new(fingerprint),
    }
}

/// A sealed card under `key_id`, distinct for each `n` (fake ciphertext: the store never opens
/// it).
pub(super) fn sealed(n: u32, key_id: &str) -> SealedCard {
    let b = n.to_be_bytes();
    SealedCard {
        key_id: key_id.to_owned(),
        nonce: b.iter().copied().chain(0..8u8).collect(),
        ciphertext: (0..32u8)
            .map(|i| i.wrapping_mul(29) ^ b[usize::from(i % 4)])
            .collect(),
    }
}

/// The idempotency record finished with `body` as its outcome, at version + 1.
pub(super) fn idempotency_done(record: &IdempotencyRecord, body: &str) -> IdempotencyRecord {
    let mut next = record.clone();
    next.state = IdempotencyState::Done {
        outcome: StoredOutcome {
            ok: true,
            body: body.to_owned(),
        },
    };
    next.version += 1;
    next
}

/// `Write::Update` to `value`, guarded by the version `expected` that was read.
pub(super) fn update<T>(expected: u64, value: T) -> Write<T> {
    Write::Update { expected, value }
}

/// `Write::Delete` of `value` at its version.
pub(super) fn delete<T>(expected: u64, value: T) -> Write<T> {
    Write::Delete { expected, value }
}

/// Commits, panicking with `what` if the store refuses.
pub(super) async fn commit_ok(store: &dyn Store, writes: WriteSet, what: &str) {
    if let Err(e) = store.commit(writes).await {
        panic!("{what}: the commit should succeed, but the store said {e:?}");
    }
}

/// Commits, asserting the store answers `Conflict`.
pub(super) async fn commit_conflicts(store: &dyn Store, writes: WriteSet, what: &str) {
    let got = store.commit(writes).await;
    assert_eq!(
        got,
        Err(StoreError::Conflict),
        "{what}: the commit should conflict"
    );
}

/// Which list of the store to read.
#[derive(Debug, Clone, Copy)]
pub(super) enum List<'a> {
    /// `customers`, with an optional email filter.
    Customers(Option<&'a str>),
    /// `customer_methods` of a customer.
    CustomerMethods(&'a CustomerId),
    /// `attached_methods`.
    AttachedMethods,
    /// `payments`, with optional customer and status filters.
    Payments(Option<&'a CustomerId>, Option<PaymentStatus>),
    /// `endpoints`.
    Endpoints,
    /// `events`, with an optional type filter.
    Events(Option<EventType>),
}

/// Parses a cursor given as text into the typed id of a list.
fn cursor<Id: FromStr>(after: Option<&str>) -> Option<Id>
where
    Id::Err: Debug,
{
    after.map(|a| {
        a.parse()
            .unwrap_or_else(|e| panic!("suite bug: `{a}` is no id of this list: {e:?}"))
    })
}

/// One page of a list, as ids in text, and its `has_more`.
pub(super) async fn page_ids(
    store: &dyn Store,
    mode: Mode,
    list: List<'_>,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<String>, bool), StoreError> {
    fn ids<T>(items: &[T], id: impl Fn(&T) -> String) -> Vec<String> {
        items.iter().map(id).collect()
    }
    Ok(match list {
        List::Customers(email) => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<CustomerId>(after),
            };
            let p = store
                .customers(mode, email.map(str::to_owned), request)
                .await?;
            (ids(&p.items, |c| c.id.to_string()), p.has_more)
        }
        List::CustomerMethods(customer) => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<PaymentMethodId>(after),
            };
            let p = store.customer_methods(mode, customer, request).await?;
            (ids(&p.items, |m| m.method.id.to_string()), p.has_more)
        }
        List::AttachedMethods => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<PaymentMethodId>(after),
            };
            let p = store.attached_methods(mode, request).await?;
            (ids(&p.items, |m| m.method.id.to_string()), p.has_more)
        }
        List::Payments(customer, status) => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<PaymentId>(after),
            };
            let p = store
                .payments(mode, customer.cloned(), status, request)
                .await?;
            (ids(&p.items, |r| r.payment.id.to_string()), p.has_more)
        }
        List::Endpoints => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<WebhookEndpointId>(after),
            };
            let p = store.endpoints(mode, request).await?;
            (ids(&p.items, |e| e.endpoint.id.to_string()), p.has_more)
        }
        List::Events(kind) => {
            let request = PageRequest {
                limit,
                starting_after: cursor::<EventId>(after),
            };
            let p = store.events(mode, kind, request).await?;
            (ids(&p.items, |e| e.id.to_string()), p.has_more)
        }
    })
}

/// The whole list in one page (the suite never stores more than 1000 objects).
pub(super) async fn all_ids(store: &dyn Store, mode: Mode, list: List<'_>) -> Vec<String> {
    let (ids, has_more) = page_ids(store, mode, list, 1000, None)
        .await
        .unwrap_or_else(|e| panic!("listing {list:?} in {mode:?} failed: {e:?}"));
    assert!(
        !has_more,
        "{list:?} in {mode:?}: has_more on a page holding everything"
    );
    ids
}

/// The whole list, walked with `starting_after` in pages of `size`, checking every page's
/// size and `has_more` on the way.
pub(super) async fn walk(
    store: &dyn Store,
    mode: Mode,
    list: List<'_>,
    size: usize,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let (ids, has_more) = page_ids(store, mode, list, size, after.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{list:?}: page after {after:?} failed: {e:?}"));
        assert!(
            ids.len() <= size,
            "{list:?}: a page of limit {size} held {} objects",
            ids.len()
        );
        if has_more {
            assert_eq!(
                ids.len(),
                size,
                "{list:?}: a page with has_more must be full"
            );
        }
        seen.extend(ids);
        if !has_more {
            return seen;
        }
        after = seen.last().cloned();
    }
    panic!("{list:?}: paging did not end after 1000 pages");
}

/// Ids of objects as text, for comparing with lists.
pub(super) fn texts<I: AsRef<str>>(ids: impl IntoIterator<Item = I>) -> Vec<String> {
    ids.into_iter().map(|i| i.as_ref().to_owned()).collect()
}
