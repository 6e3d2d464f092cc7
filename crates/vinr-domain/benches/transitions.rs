//! The pure state machines, per transition: creating an off-session payment and taking it
//! through `processing → succeeded`, `processing → requires_action` and `processing → failed`,
//! and the card-number checks every saved card goes through.
//!
//! `cargo bench -p vinr-domain --bench transitions`. These set the floor under every engine
//! operation: whatever a request costs beyond them is I/O, encoding and bookkeeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use vinr_domain::card::Pan;
use vinr_domain::customer::Metadata;
use vinr_domain::error::{CardFailure, DeclineCode};
use vinr_domain::ids::{CustomerId, PaymentId, PaymentMethodId};
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn new_payment(method: Option<PaymentMethodId>) -> NewPayment {
    let hosted = method.is_none();
    NewPayment {
        id: PaymentId::from_entropy(&[7; 24]),
        money: Money::from_minor(2500, Currency::EUR).unwrap(),
        customer_id: Some(CustomerId::from_entropy(&[1; 24])),
        payment_method_id: method,
        off_session: !hosted,
        description: None,
        metadata: Metadata::default(),
        save_payment_method: false,
        return_url: None,
        checkout_url: hosted.then(|| "https://vinr.example/hosted/pay/x".to_owned()),
        livemode: false,
    }
}

fn transitions(c: &mut Criterion) {
    let method = PaymentMethodId::from_entropy(&[3; 24]);
    c.bench_function("payment: create off-session + approved", |b| {
        b.iter(|| {
            let created =
                PaymentRecord::create(black_box(new_payment(Some(method.clone()))), now()).unwrap();
            let done = created
                .record
                .apply(PaymentInput::Approved { method: None }, now())
                .unwrap();
            black_box(done.events.len())
        })
    });
    let processing = PaymentRecord::create(new_payment(Some(method.clone())), now())
        .unwrap()
        .record;
    c.bench_function(
        "payment: processing + challenge required (off-session)",
        |b| {
            b.iter(|| {
                let challenged = black_box(&processing)
                    .apply(
                        PaymentInput::ChallengeRequired {
                            url: "https://vinr.example/hosted/authenticate/x".to_owned(),
                        },
                        now(),
                    )
                    .unwrap();
                black_box(challenged.events.len())
            })
        },
    );
    c.bench_function("payment: processing + declined", |b| {
        b.iter(|| {
            let declined = black_box(&processing)
                .apply(
                    PaymentInput::Declined(CardFailure::declined(DeclineCode::InsufficientFunds)),
                    now(),
                )
                .unwrap();
            black_box(declined.events.len())
        })
    });
    c.bench_function("card: parse, Luhn, brand of a 16-digit number", |b| {
        b.iter(|| black_box(Pan::parse(black_box("4242 4242 4242 4242")).is_ok()))
    });
}

criterion_group!(benches, transitions);
criterion_main!(benches);
