//! Domain records for the SQLite tests, built through the domain's constructors (the contract
//! suite's own fixtures are private to it).

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use vinr_domain::card::{Brand, Expiry, Funding};
use vinr_domain::customer::{Customer, CustomerFields, Metadata};
use vinr_domain::event::EventType;
use vinr_domain::ids::PaymentMethodId;
use vinr_domain::ids::{CustomerId, Entropy, EventId, PaymentId, SetupId};
use vinr_domain::method::{CardSummary, Fingerprint, PendingCard, SealedCard, StoredMethod};
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord};
use vinr_domain::setup::{SetupInput, SetupRecord};
use vinr_ports::Mode;
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{IdempotencyRecord, IdempotencyState};

/// The time of object number 0; object `n` is created `n` seconds later.
const T0: i64 = 1_900_000_000;

/// Hands out object numbers, which make ids and creation times.
#[derive(Debug, Default)]
pub(crate) struct Fx {
    next: AtomicU32,
}

/// 24 bytes giving a distinct id for each `n` below 62⁵ (ids reduce bytes modulo 62).
pub(crate) fn entropy(n: u32) -> Entropy {
    let mut e = [0u8; 24];
    let mut rest = n;
    for byte in e.iter_mut().take(5) {
        *byte = (rest % 62) as u8;
        rest /= 62;
    }
    e[23] = 59;
    e
}

/// The creation time of object `n`.
pub(crate) fn at(n: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + i64::from(n), 0).unwrap()
}

/// A sealed card under `key_id` (fake ciphertext: the store never opens it).
pub(crate) fn sealed(n: u32, key_id: &str) -> SealedCard {
    SealedCard {
        key_id: key_id.to_owned(),
        nonce: (0..12u8).map(|i| i.wrapping_add(n as u8)).collect(),
        ciphertext: (0..32u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(n as u8))
            .collect(),
    }
}

/// A vaulted card under `key_id`.
pub(crate) fn pending_card(n: u32, key_id: &str) -> PendingCard {
    PendingCard {
        sealed: sealed(n, key_id),
        summary: CardSummary {
            brand: Brand::Visa,
            last4: "4242".to_owned(),
            expiry: Expiry::new(12, 2034).unwrap(),
            funding: Funding::Credit,
        },
        fingerprint: Fingerprint::new(format!("fp-{n}")),
    }
}

impl Fx {
    /// A fresh object number.
    pub(crate) fn n(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A customer with an email.
    pub(crate) fn customer(&self) -> Customer {
        let n = self.n();
        let fields = CustomerFields {
            email: Some(format!("Buyer{n}@Example.com")),
            name: Some(format!("Buyer №{n}")),
            ..CustomerFields::default()
        };
        Customer::new(CustomerId::from_entropy(&entropy(n)), fields, false, at(n))
    }

    /// A method attached to `customer`, its card sealed under `key_id`.
    pub(crate) fn method(&self, customer: &CustomerId, key_id: &str) -> StoredMethod {
        let n = self.n();
        StoredMethod::new(
            PaymentMethodId::from_entropy(&entropy(n)),
            Some(customer.clone()),
            pending_card(n, key_id),
            false,
            false,
            at(n),
        )
    }

    /// An off-session payment of `customer` in `processing`.
    pub(crate) fn payment(&self, customer: &CustomerId) -> PaymentRecord {
        let n = self.n();
        let new = NewPayment {
            id: PaymentId::from_entropy(&entropy(n)),
            money: Money::from_minor(1000 + i64::from(n), Currency::EUR).unwrap(),
            customer_id: Some(customer.clone()),
            payment_method_id: Some(PaymentMethodId::from_entropy(&entropy(n + 50_000))),
            off_session: true,
            description: Some(format!("Order #{n}")),
            metadata: Metadata::default(),
            save_payment_method: false,
            return_url: None,
            checkout_url: None,
            livemode: false,
        };
        PaymentRecord::create(new, at(n)).unwrap().record
    }

    /// A hosted payment of `customer` holding a pending card under `key_id` (in a challenge).
    pub(crate) fn payment_with_card(&self, customer: &CustomerId, key_id: &str) -> PaymentRecord {
        let n = self.n();
        let new = NewPayment {
            id: PaymentId::from_entropy(&entropy(n)),
            money: Money::from_minor(500, Currency::EUR).unwrap(),
            customer_id: Some(customer.clone()),
            payment_method_id: None,
            off_session: false,
            description: None,
            metadata: Metadata::default(),
            save_payment_method: true,
            return_url: Some("https://shop.example/return".to_owned()),
            checkout_url: Some(format!("https://pay.example/checkout/{n}")),
            livemode: false,
        };
        let now = at(n);
        let created = PaymentRecord::create(new, now).unwrap().record;
        let entered = created
            .apply(
                PaymentInput::CardEntered {
                    card: pending_card(n, key_id),
                },
                now,
            )
            .unwrap()
            .record;
        entered
            .apply(
                PaymentInput::ChallengeRequired {
                    url: "https://pay.example/3ds".to_owned(),
                },
                now,
            )
            .unwrap()
            .record
    }

    /// A setup of `customer` holding a pending card under `key_id` (in a challenge).
    pub(crate) fn setup_with_card(&self, customer: &CustomerId, key_id: &str) -> SetupRecord {
        let n = self.n();
        let s = SetupRecord::create(
            SetupId::from_entropy(&entropy(n)),
            customer.clone(),
            format!("https://pay.example/setup/{n}"),
            "https://shop.example/saved".to_owned(),
            false,
            at(n),
        );
        s.apply(
            SetupInput::ChallengeRequired {
                card: pending_card(n, key_id),
            },
            at(n),
        )
        .unwrap()
        .record
    }

    /// A `customer.created` event about `customer`.
    pub(crate) fn event(&self, customer: &Customer) -> Event {
        let n = self.n();
        Event {
            id: EventId::from_entropy(&entropy(n)),
            kind: EventType::CustomerCreated,
            created: at(n),
            livemode: false,
            data: EventData {
                object: EventObject::Customer(customer.clone()),
                previous_attributes: None,
            },
        }
    }

    /// An in-flight idempotency record.
    pub(crate) fn idempotency(&self, scope: &str, key: &str) -> IdempotencyRecord {
        let n = self.n();
        IdempotencyRecord {
            scope: scope.to_owned(),
            key: key.to_owned(),
            request_hash: format!("sha256:{n:064}"),
            state: IdempotencyState::InFlight { resource: None },
            created: at(n),
            version: 1,
        }
    }
}

/// Test mode, the mode of every fixture.
pub(crate) const MODE: Mode = Mode::Test;
