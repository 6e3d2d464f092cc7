//! The payment state machine against its contract (design.md, "The payment state machine";
//! api.md §5): property tests over arbitrary sequences of inputs, checked step by step against
//! a small reference oracle of the contract table, and a few concrete flows.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::card::{Brand, Expiry, Funding};
use crate::error::{CardErrorCode, DeclineCode, LastErrorCode};
use crate::limits::AttemptLimit;
use crate::method::{CardSummary, Fingerprint, SealedCard};
use crate::money::MAX_AMOUNT;

/// Every currency of the table in `money.rs`.
const CURRENCY_CODES: &[&str] = &[
    "EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "HUF", "RON", "BGN", "ISK",
    "JPY", "KRW", "VND", "CLP", "PYG", "UGX", "XAF", "XOF", "CAD", "AUD", "NZD", "HKD", "SGD",
    "CNY", "INR", "BRL", "MXN", "ZAR", "TRY", "ILS", "AED", "SAR", "THB", "BHD", "KWD", "JOD",
    "OMR", "TND", "IQD", "LYD",
];

/// How long the contract lets a payment wait for the buyer.
const EXPIRY: Duration = Duration::hours(24);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at_secs(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(secs, 0).expect("a valid timestamp")
}

fn pay_id(n: u8) -> PaymentId {
    PaymentId::from_entropy(&[n; 24])
}

fn cust_id(n: u8) -> CustomerId {
    CustomerId::from_entropy(&[n; 24])
}

fn pm_id(n: u8) -> PaymentMethodId {
    PaymentMethodId::from_entropy(&[n; 24])
}

fn pending_card(n: u8) -> PendingCard {
    let brands = [Brand::Visa, Brand::Mastercard, Brand::Amex, Brand::Unknown];
    PendingCard {
        sealed: SealedCard {
            key_id: "k1".into(),
            nonce: vec![n; 12],
            ciphertext: vec![n; 32],
        },
        summary: CardSummary {
            brand: brands[usize::from(n) % brands.len()],
            last4: format!("{:04}", u16::from(n)),
            expiry: Expiry::new(u32::from(n % 12) + 1, 2030 + i32::from(n % 10))
                .expect("a valid expiry"),
            funding: Funding::Credit,
        },
        fingerprint: Fingerprint::new(format!("fp_{n}")),
    }
}

fn challenge_url(n: u16) -> String {
    format!("https://vinr.example/hosted/authenticate/pay_{n}")
}

fn new_payment(method: Option<PaymentMethodId>, off_session: bool) -> NewPayment {
    NewPayment {
        id: pay_id(1),
        money: Money::from_minor(2500, Currency::EUR).expect("valid money"),
        customer_id: Some(cust_id(2)),
        checkout_url: method
            .is_none()
            .then(|| "https://vinr.example/hosted/pay/pay_1".to_owned()),
        payment_method_id: method,
        off_session,
        description: Some("Order #4471".into()),
        metadata: Metadata::default(),
        save_payment_method: false,
        return_url: Some("https://shop.example/done".into()),
        livemode: false,
    }
}

/// One of every input, for probing a state with all of them.
fn every_input() -> Vec<PaymentInput> {
    vec![
        PaymentInput::CardEntered {
            card: pending_card(7),
        },
        PaymentInput::Approved { method: None },
        PaymentInput::Approved {
            method: Some(pm_id(7)),
        },
        PaymentInput::Declined(CardFailure::declined(DeclineCode::GenericDecline)),
        PaymentInput::Declined(CardFailure::of(CardErrorCode::ProcessingError)),
        PaymentInput::CardRefused(CardFailure::of(CardErrorCode::IncorrectNumber)),
        PaymentInput::ChallengeRequired {
            url: challenge_url(7),
        },
        PaymentInput::AuthenticationCompleted,
        PaymentInput::AuthenticationFailed,
        PaymentInput::Cancel,
        PaymentInput::Lock,
        PaymentInput::Expire,
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A payment to create, valid by construction (a method, or on-session with a checkout page).
fn new_payment_strategy() -> impl Strategy<Value = (NewPayment, DateTime<Utc>)> {
    (
        (select(CURRENCY_CODES), 1..=MAX_AMOUNT),
        any::<u8>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0i64..4_000_000_000,
    )
        .prop_map(
            |((code, amount), id, customer, method, off_session, save, returns, livemode, t0)| {
                let currency = Currency::parse(code).expect("a currency of the table");
                let has_method = method.is_some();
                let new = NewPayment {
                    id: pay_id(id),
                    money: Money::from_minor(amount, currency).expect("an amount in range"),
                    customer_id: customer.map(cust_id),
                    payment_method_id: method.map(pm_id),
                    off_session: has_method && off_session,
                    description: None,
                    metadata: Metadata::default(),
                    save_payment_method: save,
                    return_url: returns.then(|| "https://shop.example/done".to_owned()),
                    checkout_url: (!has_method)
                        .then(|| format!("https://vinr.example/hosted/pay/pay_{id}")),
                    livemode,
                };
                (new, at_secs(t0))
            },
        )
}

fn card_failure() -> impl Strategy<Value = CardFailure> {
    prop_oneof![
        select(DeclineCode::ALL).prop_map(CardFailure::declined),
        select(CardErrorCode::ALL).prop_map(CardFailure::of),
    ]
}

fn payment_input() -> impl Strategy<Value = PaymentInput> {
    prop_oneof![
        3 => any::<u8>().prop_map(|n| PaymentInput::CardEntered { card: pending_card(n) }),
        2 => proptest::option::of(any::<u8>()).prop_map(|m| PaymentInput::Approved { method: m.map(pm_id) }),
        3 => card_failure().prop_map(PaymentInput::Declined),
        1 => card_failure().prop_map(PaymentInput::CardRefused),
        3 => (0u16..1000).prop_map(|n| PaymentInput::ChallengeRequired { url: challenge_url(n) }),
        2 => Just(PaymentInput::AuthenticationCompleted),
        1 => Just(PaymentInput::AuthenticationFailed),
        1 => Just(PaymentInput::Cancel),
        1 => Just(PaymentInput::Lock),
        1 => Just(PaymentInput::Expire),
    ]
}

/// A time step of 0..=30 hours: often nothing or seconds (long flows stay inside the 24 h),
/// often whole hours (so the exact expiry instant is hit), sometimes any second.
fn time_step() -> impl Strategy<Value = Duration> {
    prop_oneof![
        2 => Just(0i64),
        5 => 0i64..=600,
        2 => (0i64..=30).prop_map(|h| h * 3600),
        1 => 0i64..=30 * 3600,
    ]
    .prop_map(Duration::seconds)
}

fn script() -> impl Strategy<Value = Vec<(PaymentInput, Duration)>> {
    proptest::collection::vec((payment_input(), time_step()), 0..30)
}

// ---------------------------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------------------------

/// One input applied to the current record at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    before: PaymentRecord,
    input: PaymentInput,
    at: DateTime<Utc>,
    outcome: Result<Transition<PaymentRecord>, TransitionError>,
}

impl Step {
    /// The record after the step: the new one, or the old one when the input was refused.
    fn after(&self) -> &PaymentRecord {
        match &self.outcome {
            Ok(t) => &t.record,
            Err(_) => &self.before,
        }
    }
}

fn create(new: &NewPayment, t0: DateTime<Utc>) -> PaymentRecord {
    let created = PaymentRecord::create(new.clone(), t0).expect("a valid payment is created");
    assert!(created.events.is_empty(), "create emits nothing");
    assert_eq!(created.record.payment.version, 1);
    let status = if new.payment_method_id.is_some() {
        PaymentStatus::Processing
    } else {
        PaymentStatus::RequiresPaymentMethod
    };
    assert_eq!(created.record.payment.status, status);
    created.record
}

/// A failed-attempt limit: often small, so scripts reach it.
fn attempt_limit() -> impl Strategy<Value = AttemptLimit> {
    (1u32..=6).prop_map(|n| AttemptLimit::new(n).expect("a positive limit"))
}

/// Applies each input in turn under the default limit.
fn run(start: &PaymentRecord, script: &[(PaymentInput, Duration)]) -> Vec<Step> {
    run_limited(start, script, AttemptLimit::DEFAULT)
}

/// Applies each input in turn, time advancing by its step; a refused input leaves the record.
fn run_limited(
    start: &PaymentRecord,
    script: &[(PaymentInput, Duration)],
    limit: AttemptLimit,
) -> Vec<Step> {
    let mut record = start.clone();
    let mut at = start.payment.created;
    let mut steps = Vec::with_capacity(script.len());
    for (input, dt) in script {
        at += *dt;
        let outcome = record.apply_with_limit(input.clone(), at, limit);
        let step = Step {
            before: record,
            input: input.clone(),
            at,
            outcome,
        };
        record = step.after().clone();
        steps.push(step);
    }
    steps
}

/// Every record the payment went through: the start, then the record after each step.
fn states<'a>(
    start: &'a PaymentRecord,
    steps: &'a [Step],
) -> impl Iterator<Item = &'a PaymentRecord> {
    std::iter::once(start).chain(steps.iter().map(Step::after))
}

// ---------------------------------------------------------------------------------------------
// The reference oracle: the contract table, written independently of the machine
// ---------------------------------------------------------------------------------------------

/// Why the contract refuses an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not in the table from this status.
    NotAllowed,
    /// Expiry before the payment's time is up.
    NotExpired,
    /// The payment waits for a buyer and its time is up: only expiry applies.
    Expired,
}

fn refusal(e: &TransitionError) -> Refusal {
    match e {
        TransitionError::NotAllowed { .. } => Refusal::NotAllowed,
        TransitionError::NotExpired => Refusal::NotExpired,
        TransitionError::Expired => Refusal::Expired,
        TransitionError::MethodRequired | TransitionError::CheckoutUrlRequired => {
            panic!("apply returned a create-only error: {e:?}")
        }
    }
}

/// What the test knows of a payment: its status, where the current card came from, and how
/// many hosted card attempts failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Model {
    status: PaymentStatus,
    source: Option<CardSource>,
    failed: u32,
}

impl Model {
    fn of_new(new: &NewPayment) -> Model {
        match new.payment_method_id {
            Some(_) => Model {
                status: PaymentStatus::Processing,
                source: Some(CardSource::Given),
                failed: 0,
            },
            None => Model {
                status: PaymentStatus::RequiresPaymentMethod,
                source: None,
                failed: 0,
            },
        }
    }
}

/// An allowed step: the next model and exactly the events the contract names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    next: Model,
    events: Vec<EventType>,
}

/// The contract table. `expired`: the payment's 24 hours are up; `limit`: the failed-attempt
/// limit of the hosted page.
fn allowed(
    model: Model,
    input: &PaymentInput,
    expired: bool,
    limit: AttemptLimit,
) -> Result<Allowed, Refusal> {
    use EventType as E;
    use PaymentInput as I;
    use PaymentStatus as S;
    let to = |status: S, events: Vec<EventType>| Allowed {
        next: Model { status, ..model },
        events,
    };
    // A failed hosted attempt reopens the payment, or locks it at the limit.
    let hosted_failure = || {
        let failed = model.failed + 1;
        let (status, events) = if failed >= limit.get() {
            (S::Canceled, vec![E::PaymentCanceled])
        } else {
            (S::RequiresPaymentMethod, vec![])
        };
        Allowed {
            next: Model {
                status,
                failed,
                ..model
            },
            events,
        }
    };
    let awaits_buyer = matches!(model.status, S::RequiresPaymentMethod | S::RequiresAction);
    if awaits_buyer && expired {
        return match input {
            I::Expire => Ok(to(S::Canceled, vec![E::PaymentCanceled])),
            _ => Err(Refusal::Expired),
        };
    }
    match (model.status, input) {
        (S::RequiresPaymentMethod, I::CardEntered { .. }) => Ok(Allowed {
            next: Model {
                status: S::Processing,
                source: Some(CardSource::Hosted),
                ..model
            },
            events: vec![],
        }),
        (S::RequiresPaymentMethod, I::CardRefused(_)) => Ok(hosted_failure()),
        (S::Processing, I::Approved { .. }) => Ok(to(S::Succeeded, vec![E::PaymentSucceeded])),
        (S::Processing, I::Declined(_)) => match model.source {
            Some(CardSource::Hosted) => Ok(hosted_failure()),
            Some(CardSource::Given) | None => Ok(to(S::Failed, vec![E::PaymentFailed])),
        },
        (S::Processing, I::ChallengeRequired { .. }) => {
            Ok(to(S::RequiresAction, vec![E::PaymentRequiresAction]))
        }
        (S::RequiresAction, I::AuthenticationCompleted) => Ok(to(S::Processing, vec![])),
        (S::RequiresAction, I::AuthenticationFailed) => Ok(Allowed {
            next: Model {
                status: S::Failed,
                failed: model.failed + 1,
                ..model
            },
            events: vec![E::PaymentFailed],
        }),
        (S::RequiresPaymentMethod | S::RequiresAction, I::Cancel | I::Lock) => {
            Ok(to(S::Canceled, vec![E::PaymentCanceled]))
        }
        (S::RequiresPaymentMethod | S::RequiresAction, I::Expire) => Err(Refusal::NotExpired),
        _ => Err(Refusal::NotAllowed),
    }
}

/// Walks the steps with the oracle beside the machine, checking at every step that the
/// machine accepts exactly what the table allows (with the right status) and refuses the rest
/// for the right reason. Returns the oracle's verdict for each step.
fn walk_with_oracle(
    new: &NewPayment,
    start: &PaymentRecord,
    steps: &[Step],
    limit: AttemptLimit,
) -> Vec<Result<Allowed, Refusal>> {
    let expires_at = start.payment.created + EXPIRY;
    let mut model = Model::of_new(new);
    let mut verdicts = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(
            s.before.payment.status, model.status,
            "step {i}: record and model agree"
        );
        assert_eq!(
            s.before.failed_attempts, model.failed,
            "step {i}: failed attempts"
        );
        let want = allowed(model, &s.input, s.at >= expires_at, limit);
        match (&s.outcome, &want) {
            (Ok(t), Ok(a)) => {
                assert_eq!(
                    t.record.payment.status, a.next.status,
                    "step {i}: {:?} from {:?}",
                    s.input, model
                );
                let locks = a.next.status == PaymentStatus::Canceled
                    && (s.input == PaymentInput::Lock || a.next.failed > model.failed);
                assert_eq!(
                    t.record.is_locked(),
                    locks,
                    "step {i}: locked after {:?}",
                    s.input
                );
                model = a.next;
            }
            (Err(e), Err(r)) => {
                assert_eq!(
                    refusal(e),
                    *r,
                    "step {i}: {:?} from {:?} refused for the wrong reason",
                    s.input,
                    model
                );
                if let TransitionError::NotAllowed { status, input } = e {
                    assert_eq!(*status, model.status.as_str());
                    assert_eq!(*input, s.input.name());
                }
            }
            (Ok(t), Err(r)) => panic!(
                "step {i}: the contract refuses {:?} from {:?} ({r:?}) but the machine went to {}",
                s.input, model, t.record.payment.status
            ),
            (Err(e), Ok(a)) => panic!(
                "step {i}: the contract allows {:?} from {:?} (to {:?}) but the machine refused: {e:?}",
                s.input, model, a.next.status
            ),
        }
        verdicts.push(want);
    }
    verdicts
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    /// The oracle and the machine agree on every step: same acceptance, same next status,
    /// same reason for a refusal.
    #[test]
    fn accepts_exactly_what_the_contract_table_allows((new, t0) in new_payment_strategy(), script in script(), limit in attempt_limit()) {
        let start = create(&new, t0);
        let steps = run_limited(&start, &script, limit);
        let verdicts = walk_with_oracle(&new, &start, &steps, limit);
        prop_assert_eq!(verdicts.len(), steps.len());
    }

    /// `succeeded`, `failed` and `canceled` absorb: every input, now or later, is refused.
    #[test]
    fn terminal_states_accept_no_further_transition((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        let steps = run(&start, &script);
        for s in &steps {
            if s.before.payment.status.is_terminal() {
                prop_assert!(s.outcome.is_err(), "{:?} was accepted from {}", s.input, s.before.payment.status);
            }
        }
        for (record, at) in std::iter::once((&start, t0)).chain(steps.iter().map(|s| (s.after(), s.at))) {
            if !record.payment.status.is_terminal() {
                continue;
            }
            for input in every_input() {
                for when in [at, at + Duration::hours(25), at + Duration::days(400)] {
                    let refused = record.apply(input.clone(), when);
                    prop_assert_eq!(
                        refused,
                        Err(TransitionError::NotAllowed { status: record.payment.status.as_str(), input: input.name() })
                    );
                }
            }
        }
    }

    /// amount, currency, customer, id, created and livemode never change.
    #[test]
    fn amount_currency_customer_and_id_never_change((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        let steps = run(&start, &script);
        for r in states(&start, &steps) {
            let p = &r.payment;
            prop_assert_eq!(&p.id, &new.id);
            prop_assert_eq!(p.amount, new.money.minor());
            prop_assert_eq!(p.currency, new.money.currency());
            prop_assert_eq!(&p.customer_id, &new.customer_id);
            prop_assert_eq!(p.created, t0);
            prop_assert_eq!(p.livemode, new.livemode);
            prop_assert_eq!(p.off_session, new.off_session);
        }
    }

    /// At most one approved authorization; `charged` iff it happened; `succeeded` iff charged.
    #[test]
    fn a_payment_is_charged_at_most_once((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        prop_assert!(!start.charged);
        let steps = run(&start, &script);
        let mut approvals = 0;
        for s in &steps {
            if matches!(s.input, PaymentInput::Approved { .. }) && s.outcome.is_ok() {
                approvals += 1;
            }
            let after = s.after();
            prop_assert!(approvals <= 1, "charged twice");
            prop_assert_eq!(after.charged, approvals == 1);
            prop_assert_eq!(after.payment.status == PaymentStatus::Succeeded, after.charged);
        }
    }

    /// Every accepted input emits exactly the contract's events, and a refused one none.
    #[test]
    fn every_transition_emits_exactly_the_contract_events((new, t0) in new_payment_strategy(), script in script(), limit in attempt_limit()) {
        let start = create(&new, t0);
        let steps = run_limited(&start, &script, limit);
        let verdicts = walk_with_oracle(&new, &start, &steps, limit);
        for (s, v) in steps.iter().zip(&verdicts) {
            if let (Ok(t), Ok(a)) = (&s.outcome, v) {
                prop_assert_eq!(&t.events, &a.events, "{:?} from {}", &s.input, s.before.payment.status);
            }
        }
    }

    /// `requires_action` carries a redirect to the challenge page given, and off-session ones
    /// `authentication_required`; every other status has no next action.
    #[test]
    fn requires_action_always_carries_a_next_action((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        let steps = run(&start, &script);
        let mut challenge: Option<String> = None;
        let mut seen = vec![(&start, challenge.clone())];
        for s in &steps {
            if let (PaymentInput::ChallengeRequired { url }, Ok(_)) = (&s.input, &s.outcome) {
                challenge = Some(url.clone());
            }
            seen.push((s.after(), challenge.clone()));
        }
        for (r, challenge) in seen {
            let p = &r.payment;
            if p.status == PaymentStatus::RequiresAction {
                let next = p.next_action.as_ref().expect("requires_action has a next action");
                prop_assert_eq!(next.kind, NextActionType::Redirect);
                prop_assert_eq!(Some(&next.url), challenge.as_ref(), "the url of the last challenge");
                if p.off_session {
                    let code = p.last_error.as_ref().map(|e| e.code);
                    prop_assert_eq!(code, Some(LastErrorCode::AuthenticationRequired));
                }
            } else {
                prop_assert_eq!(&p.next_action, &None);
            }
        }
    }

    /// The same script from the same start gives the same records and events at every step,
    /// and replaying any prefix lands on the state observed at that point of the full run.
    #[test]
    fn replaying_any_prefix_gives_the_same_state((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        prop_assert_eq!(&create(&new, t0), &start);
        let steps = run(&start, &script);
        prop_assert_eq!(&run(&start, &script), &steps);
        let observed: Vec<&PaymentRecord> = states(&start, &steps).collect();
        for k in 0..=script.len() {
            let replay = run(&start, &script[..k]);
            let state = replay.last().map_or(&start, Step::after);
            prop_assert_eq!(state, observed[k], "prefix of {} inputs", k);
        }
    }

    /// Each accepted input adds exactly 1 to the version; a refused one changes nothing.
    #[test]
    fn version_goes_up_by_one_per_accepted_input((new, t0) in new_payment_strategy(), script in script()) {
        let start = create(&new, t0);
        let steps = run(&start, &script);
        let mut accepted = 0;
        for s in &steps {
            match &s.outcome {
                Ok(t) => {
                    accepted += 1;
                    prop_assert_eq!(t.record.payment.version, s.before.payment.version + 1);
                }
                Err(_) => prop_assert_eq!(s.after(), &s.before),
            }
        }
        let last = steps.last().map_or(&start, Step::after);
        prop_assert_eq!(last.payment.version, 1 + accepted);
    }

    /// A payment waiting for the buyer expires only at or after 24 hours from creation: expiry
    /// before is `NotExpired`; from then on expiry cancels it (`payment.canceled`) and any other
    /// input is `Expired`. A processing payment never expires (the network's verdict is awaited).
    #[test]
    fn a_payment_expires_only_at_or_after_24_hours(
        (new, t0) in new_payment_strategy(),
        script in script(),
        offsets in proptest::collection::vec(
            prop_oneof![Just(-1i64), Just(0i64), Just(1i64), -30 * 3600i64..=30 * 3600],
            1..6,
        ),
    ) {
        let start = create(&new, t0);
        let steps = run(&start, &script);
        let expires_at = t0 + EXPIRY;
        let observed = std::iter::once((&start, t0)).chain(steps.iter().map(|s| (s.after(), s.at)));
        for (record, seen_at) in observed {
            let status = record.payment.status;
            for off in &offsets {
                let when = expires_at + Duration::seconds(*off);
                if when < seen_at || status.is_terminal() {
                    continue; // time does not run backwards; terminal states are checked elsewhere
                }
                let expire = record.apply(PaymentInput::Expire, when);
                if status == PaymentStatus::Processing {
                    prop_assert_eq!(expire, Err(TransitionError::NotAllowed { status: "processing", input: "expire" }));
                    for input in every_input() {
                        prop_assert_ne!(record.apply(input, when).err(), Some(TransitionError::Expired));
                    }
                } else if when < expires_at {
                    prop_assert_eq!(expire, Err(TransitionError::NotExpired));
                } else {
                    let t = expire.expect("a payment waiting for the buyer expires once its time is up");
                    prop_assert_eq!(t.record.payment.status, PaymentStatus::Canceled);
                    prop_assert_eq!(&t.events, &vec![EventType::PaymentCanceled]);
                    prop_assert_eq!(&t.record.payment.next_action, &None);
                    for input in every_input().into_iter().filter(|i| *i != PaymentInput::Expire) {
                        prop_assert_eq!(record.apply(input, when), Err(TransitionError::Expired));
                    }
                }
            }
        }
    }

    /// A card typed on the hosted page and declined reopens the payment for another card,
    /// with `lastError`, and emits nothing.
    #[test]
    fn a_hosted_card_decline_reopens_the_payment_silently(
        (new, t0) in new_payment_strategy(),
        card in any::<u8>(),
        failure in card_failure(),
        dt in 0i64..=48 * 3600,
    ) {
        let new = NewPayment { payment_method_id: None, off_session: false, checkout_url: Some("https://vinr.example/hosted/pay/x".into()), ..new };
        let open = create(&new, t0);
        let at = t0 + Duration::seconds(dt / 2);
        match open.apply(PaymentInput::CardEntered { card: pending_card(card) }, at) {
            Err(e) => prop_assert!(at >= t0 + EXPIRY && e == TransitionError::Expired),
            Ok(entered) => {
                prop_assert!(entered.events.is_empty());
                prop_assert_eq!(entered.record.payment.status, PaymentStatus::Processing);
                // The network's verdict may come after the 24 h: a processing payment does not expire.
                let declined = entered.record.apply(PaymentInput::Declined(failure), t0 + Duration::seconds(dt)).expect("a decline applies");
                prop_assert_eq!(&declined.events, &Vec::<EventType>::new());
                let p = &declined.record.payment;
                prop_assert_eq!(p.status, PaymentStatus::RequiresPaymentMethod);
                prop_assert_eq!(p.last_error.as_ref(), Some(&LastError::from_card(failure)));
                prop_assert_eq!(&p.next_action, &None);
                prop_assert!(!declined.record.charged);
                prop_assert_eq!(&declined.record.pending_card, &None);
            }
        }
    }

    /// A card named at create and declined fails the payment, with `payment.failed`.
    #[test]
    fn a_given_card_decline_fails_the_payment(
        (new, t0) in new_payment_strategy(),
        method in any::<u8>(),
        failure in card_failure(),
        dt in 0i64..=48 * 3600,
    ) {
        let new = NewPayment { payment_method_id: Some(pm_id(method)), checkout_url: None, ..new };
        let processing = create(&new, t0);
        let declined = processing.apply(PaymentInput::Declined(failure), t0 + Duration::seconds(dt)).expect("a decline applies");
        prop_assert_eq!(&declined.events, &vec![EventType::PaymentFailed]);
        let p = &declined.record.payment;
        prop_assert_eq!(p.status, PaymentStatus::Failed);
        prop_assert_eq!(p.last_error.as_ref(), Some(&LastError::from_card(failure)));
        prop_assert!(!declined.record.charged);
    }

    /// A payment locks exactly when its failed hosted attempts reach the limit (or on
    /// `lock`), and a locked payment is `canceled` with `too_many_attempts`, uncharged, for good.
    #[test]
    fn a_payment_locks_at_the_failed_attempt_limit((new, t0) in new_payment_strategy(), script in script(), limit in attempt_limit()) {
        let start = create(&new, t0);
        let steps = run_limited(&start, &script, limit);
        for s in &steps {
            if let Ok(t) = &s.outcome {
                let locked_now = t.record.is_locked() && !s.before.is_locked();
                let counted = t.record.failed_attempts > s.before.failed_attempts;
                let by_count = counted && limit.reached_by(t.record.failed_attempts)
                    && t.record.payment.status == PaymentStatus::Canceled;
                prop_assert_eq!(locked_now, by_count || s.input == PaymentInput::Lock, "{:?}", &s.input);
                if locked_now {
                    prop_assert_eq!(&t.events, &vec![EventType::PaymentCanceled]);
                    prop_assert!(!t.record.charged);
                    prop_assert_eq!(&t.record.pending_card, &None);
                    prop_assert_eq!(&t.record.payment.next_action, &None);
                }
            }
            if s.before.is_locked() {
                prop_assert!(s.outcome.is_err());
            }
        }
    }

    /// No method and off-session: refused at create, whatever else the request says.
    #[test]
    fn an_off_session_payment_without_a_method_is_refused((new, t0) in new_payment_strategy()) {
        let off = NewPayment { payment_method_id: None, off_session: true, ..new.clone() };
        prop_assert_eq!(PaymentRecord::create(off, t0), Err(TransitionError::MethodRequired));
        let nowhere = NewPayment { payment_method_id: None, off_session: false, checkout_url: None, ..new };
        prop_assert_eq!(PaymentRecord::create(nowhere, t0), Err(TransitionError::CheckoutUrlRequired));
    }
}

// ---------------------------------------------------------------------------------------------
// Concrete flows
// ---------------------------------------------------------------------------------------------

/// What one step of a flow must give: the next status and its events, or a refusal.
type Want = Result<(PaymentStatus, &'static [EventType]), TransitionError>;

/// Walks a flow from `new` created at t0; each step is (input, minutes after t0, wanted).
/// Returns the final record.
fn check(new: NewPayment, steps: &[(PaymentInput, i64, Want)]) -> PaymentRecord {
    let t0 = at_secs(1_750_000_000);
    let mut record = create(&new, t0);
    for (i, (input, minutes, want)) in steps.iter().enumerate() {
        let got = record.apply(input.clone(), t0 + Duration::minutes(*minutes));
        match (got, want) {
            (Ok(t), Ok((status, events))) => {
                assert_eq!(t.record.payment.status, *status, "step {i}: {input:?}");
                assert_eq!(t.events, events.to_vec(), "step {i}: {input:?}");
                assert_eq!(
                    t.record.payment.version,
                    record.payment.version + 1,
                    "step {i}"
                );
                record = t.record;
            }
            (Err(e), Err(w)) => assert_eq!(&e, w, "step {i}: {input:?}"),
            (got, want) => panic!("step {i}: {input:?} gave {got:?}, wanted {want:?}"),
        }
    }
    record
}

#[test]
fn off_session_3220_stops_for_authentication_then_succeeds() {
    use EventType as E;
    use PaymentStatus as S;
    let url = challenge_url(3220);
    let r = check(
        new_payment(Some(pm_id(3)), true),
        &[
            (
                PaymentInput::ChallengeRequired { url: url.clone() },
                0,
                Ok((S::RequiresAction, &[E::PaymentRequiresAction])),
            ),
            (
                PaymentInput::Approved { method: None },
                1,
                Err(TransitionError::NotAllowed {
                    status: "requires_action",
                    input: "approved",
                }),
            ),
            (
                PaymentInput::AuthenticationCompleted,
                60,
                Ok((S::Processing, &[])),
            ),
            (
                PaymentInput::Approved { method: None },
                61,
                Ok((S::Succeeded, &[E::PaymentSucceeded])),
            ),
            (
                PaymentInput::Approved { method: None },
                62,
                Err(TransitionError::NotAllowed {
                    status: "succeeded",
                    input: "approved",
                }),
            ),
        ],
    );
    assert!(r.charged);
    assert_eq!(r.payment.next_action, None);
    assert_eq!(r.payment.last_error, None);
    assert_eq!(r.payment.payment_method_id, Some(pm_id(3)));

    // The intermediate state, checked on its own.
    let t0 = at_secs(1_750_000_000);
    let ra = create(&new_payment(Some(pm_id(3)), true), t0)
        .apply(PaymentInput::ChallengeRequired { url: url.clone() }, t0)
        .expect("a challenge applies")
        .record;
    assert_eq!(
        ra.payment.next_action,
        Some(NextAction {
            kind: NextActionType::Redirect,
            url
        })
    );
    assert_eq!(
        ra.payment.last_error,
        Some(LastError::authentication_required())
    );
    assert_eq!(
        ra.payment.last_error.map(|e| e.code),
        Some(LastErrorCode::AuthenticationRequired)
    );
}

#[test]
fn on_session_challenge_then_failed_authentication_fails_the_payment() {
    use EventType as E;
    use PaymentStatus as S;
    let r = check(
        new_payment(Some(pm_id(3)), false),
        &[
            (
                PaymentInput::ChallengeRequired {
                    url: challenge_url(1),
                },
                0,
                Ok((S::RequiresAction, &[E::PaymentRequiresAction])),
            ),
            (
                PaymentInput::AuthenticationFailed,
                5,
                Ok((S::Failed, &[E::PaymentFailed])),
            ),
            (
                PaymentInput::Cancel,
                6,
                Err(TransitionError::NotAllowed {
                    status: "failed",
                    input: "cancel",
                }),
            ),
        ],
    );
    assert_eq!(
        r.payment.last_error,
        Some(LastError::authentication_failed())
    );
    assert!(!r.charged);
}

#[test]
fn hosted_decline_then_another_card_succeeds() {
    use EventType as E;
    use PaymentStatus as S;
    let insufficient = CardFailure::declined(DeclineCode::InsufficientFunds);
    let r = check(
        new_payment(None, false),
        &[
            (
                PaymentInput::Approved { method: None },
                0,
                Err(TransitionError::NotAllowed {
                    status: "requires_payment_method",
                    input: "approved",
                }),
            ),
            (
                PaymentInput::CardEntered {
                    card: pending_card(1),
                },
                1,
                Ok((S::Processing, &[])),
            ),
            (
                PaymentInput::Declined(insufficient),
                1,
                Ok((S::RequiresPaymentMethod, &[])),
            ),
            (
                PaymentInput::CardEntered {
                    card: pending_card(2),
                },
                3,
                Ok((S::Processing, &[])),
            ),
            (
                PaymentInput::Approved {
                    method: Some(pm_id(9)),
                },
                3,
                Ok((S::Succeeded, &[E::PaymentSucceeded])),
            ),
        ],
    );
    assert!(r.charged);
    assert_eq!(r.attempt, 2, "two cards, two authorization attempts");
    assert_eq!(r.payment.payment_method_id, Some(pm_id(9)));
    assert_eq!(r.payment.last_error, None);
    assert_eq!(r.pending_card, None);
}

#[test]
fn hosted_decline_sets_last_error() {
    let t0 = at_secs(1_750_000_000);
    let failure = CardFailure::declined(DeclineCode::StolenCard);
    let open = create(&new_payment(None, false), t0);
    let processing = open
        .apply(
            PaymentInput::CardEntered {
                card: pending_card(1),
            },
            t0,
        )
        .expect("a card applies")
        .record;
    assert_eq!(processing.pending_card, Some(pending_card(1)));
    assert_eq!(processing.card_source, Some(CardSource::Hosted));
    let declined = processing
        .apply(PaymentInput::Declined(failure), t0)
        .expect("a decline applies");
    assert!(declined.events.is_empty());
    assert_eq!(
        declined.record.payment.status,
        PaymentStatus::RequiresPaymentMethod
    );
    let err = declined
        .record
        .payment
        .last_error
        .expect("lastError is set");
    assert_eq!(err.code, LastErrorCode::CardDeclined);
    assert_eq!(err.decline_code, Some(DeclineCode::StolenCard));
}

#[test]
fn given_card_decline_fails_with_payment_failed() {
    use EventType as E;
    use PaymentStatus as S;
    let r = check(
        new_payment(Some(pm_id(3)), true),
        &[
            (
                PaymentInput::Declined(CardFailure::of(CardErrorCode::ExpiredCard)),
                0,
                Ok((S::Failed, &[E::PaymentFailed])),
            ),
            (
                PaymentInput::Approved { method: None },
                1,
                Err(TransitionError::NotAllowed {
                    status: "failed",
                    input: "approved",
                }),
            ),
        ],
    );
    assert_eq!(
        r.payment.last_error.map(|e| e.code),
        Some(LastErrorCode::ExpiredCard)
    );
    assert!(!r.charged);
}

#[test]
fn cancel_from_requires_action() {
    use EventType as E;
    use PaymentStatus as S;
    let r = check(
        new_payment(Some(pm_id(3)), true),
        &[
            (
                PaymentInput::Cancel,
                0,
                Err(TransitionError::NotAllowed {
                    status: "processing",
                    input: "cancel",
                }),
            ),
            (
                PaymentInput::ChallengeRequired {
                    url: challenge_url(2),
                },
                0,
                Ok((S::RequiresAction, &[E::PaymentRequiresAction])),
            ),
            (
                PaymentInput::Cancel,
                30,
                Ok((S::Canceled, &[E::PaymentCanceled])),
            ),
            (
                PaymentInput::AuthenticationCompleted,
                31,
                Err(TransitionError::NotAllowed {
                    status: "canceled",
                    input: "authentication_completed",
                }),
            ),
        ],
    );
    assert_eq!(r.payment.next_action, None);
    assert!(!r.charged);
}

#[test]
fn an_unpaid_payment_expires_after_24_hours() {
    use EventType as E;
    use PaymentStatus as S;
    let day = 24 * 60;
    let r = check(
        new_payment(None, false),
        &[
            (
                PaymentInput::Expire,
                day - 1,
                Err(TransitionError::NotExpired),
            ),
            (
                PaymentInput::CardEntered {
                    card: pending_card(1),
                },
                day,
                Err(TransitionError::Expired),
            ),
            (PaymentInput::Cancel, day, Err(TransitionError::Expired)),
            (
                PaymentInput::Expire,
                day,
                Ok((S::Canceled, &[E::PaymentCanceled])),
            ),
            (
                PaymentInput::Expire,
                day + 1,
                Err(TransitionError::NotAllowed {
                    status: "canceled",
                    input: "expire",
                }),
            ),
        ],
    );
    assert_eq!(r.payment.version, 2);
}

#[test]
fn a_processing_payment_does_not_expire() {
    use EventType as E;
    use PaymentStatus as S;
    let day = 24 * 60;
    check(
        new_payment(Some(pm_id(3)), true),
        &[
            (
                PaymentInput::Expire,
                day * 2,
                Err(TransitionError::NotAllowed {
                    status: "processing",
                    input: "expire",
                }),
            ),
            (
                PaymentInput::ChallengeRequired {
                    url: challenge_url(3),
                },
                day * 2,
                Ok((S::RequiresAction, &[E::PaymentRequiresAction])),
            ),
            // Now waiting for the buyer, and past the 24 hours: only expiry applies.
            (
                PaymentInput::AuthenticationCompleted,
                day * 2,
                Err(TransitionError::Expired),
            ),
            (
                PaymentInput::Expire,
                day * 2,
                Ok((S::Canceled, &[E::PaymentCanceled])),
            ),
        ],
    );
}

#[test]
fn terminal_statuses_are_exactly_the_three() {
    for s in PaymentStatus::ALL {
        assert_eq!(
            s.is_terminal(),
            matches!(
                s,
                PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Canceled
            )
        );
        assert_eq!(PaymentStatus::from_wire(s.as_str()), Some(s));
    }
}

/// A payment waiting for a card on its hosted page.
fn hosted_payment() -> NewPayment {
    NewPayment {
        checkout_url: Some("https://vinr.example/hosted/pay/pay_1".into()),
        ..new_payment(None, false)
    }
}

#[test]
fn the_fifth_failed_hosted_attempt_locks_the_payment() {
    use EventType as E;
    use PaymentStatus as S;
    let decline = || PaymentInput::Declined(CardFailure::declined(DeclineCode::GenericDecline));
    let entered = |n: u8| PaymentInput::CardEntered {
        card: pending_card(n),
    };
    let r = check(
        hosted_payment(),
        &[
            (entered(1), 1, Ok((S::Processing, &[]))),
            (decline(), 1, Ok((S::RequiresPaymentMethod, &[]))),
            (
                PaymentInput::CardRefused(CardFailure::of(CardErrorCode::IncorrectNumber)),
                2,
                Ok((S::RequiresPaymentMethod, &[])),
            ),
            (entered(2), 3, Ok((S::Processing, &[]))),
            (decline(), 3, Ok((S::RequiresPaymentMethod, &[]))),
            (entered(3), 4, Ok((S::Processing, &[]))),
            (decline(), 4, Ok((S::RequiresPaymentMethod, &[]))),
            (entered(4), 5, Ok((S::Processing, &[]))),
            (decline(), 5, Ok((S::Canceled, &[E::PaymentCanceled]))),
            (
                entered(5),
                6,
                Err(TransitionError::NotAllowed {
                    status: "canceled",
                    input: "card_entered",
                }),
            ),
        ],
    );
    assert!(r.is_locked());
    assert!(!r.charged);
    assert_eq!(r.failed_attempts, 5);
    assert_eq!(r.pending_card, None);
    assert_eq!(
        r.payment.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
}

#[test]
fn a_hosted_success_before_the_limit_charges_once() {
    use EventType as E;
    use PaymentStatus as S;
    let decline = || PaymentInput::Declined(CardFailure::declined(DeclineCode::GenericDecline));
    let entered = |n: u8| PaymentInput::CardEntered {
        card: pending_card(n),
    };
    let mut steps = Vec::new();
    for n in 0..4 {
        steps.push((entered(n), i64::from(n), Ok((S::Processing, &[][..]))));
        steps.push((
            decline(),
            i64::from(n),
            Ok((S::RequiresPaymentMethod, &[][..])),
        ));
    }
    steps.push((entered(9), 10, Ok((S::Processing, &[][..]))));
    steps.push((
        PaymentInput::Approved {
            method: Some(pm_id(9)),
        },
        10,
        Ok((S::Succeeded, &[E::PaymentSucceeded][..])),
    ));
    let r = check(hosted_payment(), &steps);
    assert!(r.charged);
    assert!(!r.is_locked());
    assert_eq!(r.failed_attempts, 4);
}

#[test]
fn lock_cancels_a_payment_waiting_for_the_buyer_only() {
    use EventType as E;
    use PaymentStatus as S;
    let r = check(
        hosted_payment(),
        &[(
            PaymentInput::Lock,
            1,
            Ok((S::Canceled, &[E::PaymentCanceled])),
        )],
    );
    assert!(r.is_locked());
    // A stored card at the network cannot be locked: the network answers first.
    check(
        new_payment(Some(pm_id(3)), false),
        &[(
            PaymentInput::Lock,
            1,
            Err(TransitionError::NotAllowed {
                status: "processing",
                input: "lock",
            }),
        )],
    );
}

#[test]
fn a_stored_card_decline_is_not_a_hosted_attempt() {
    let t0 = at_secs(1_750_000_000);
    let limit = AttemptLimit::new(1).expect("a positive limit");
    let processing = create(&new_payment(Some(pm_id(3)), true), t0);
    let t = processing
        .apply_with_limit(
            PaymentInput::Declined(CardFailure::declined(DeclineCode::GenericDecline)),
            t0,
            limit,
        )
        .expect("a decline applies");
    assert_eq!(t.record.payment.status, PaymentStatus::Failed);
    assert_eq!(t.record.failed_attempts, 0);
    assert!(!t.record.is_locked());
}

#[test]
fn payment_records_stored_before_the_counter_read_as_zero_failures() {
    let t0 = at_secs(1_750_000_000);
    let record = create(&hosted_payment(), t0);
    let mut json = serde_json::to_value(&record).expect("a record serializes");
    json.as_object_mut()
        .expect("an object")
        .remove("failed_attempts");
    let back: PaymentRecord = serde_json::from_value(json).expect("an old record reads");
    assert_eq!(back, record);
}
