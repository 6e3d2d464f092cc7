//! The setup state machine against its contract (api.md §3 and the table of `setup.rs`):
//! property tests over arbitrary sequences of inputs, checked step by step against a small
//! reference oracle of the contract table, and a few concrete flows.

use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::card::{Brand, Expiry, Funding};
use crate::error::{CardErrorCode, DeclineCode, LastErrorCode};
use crate::limits::AttemptLimit;
use crate::method::{CardSummary, Fingerprint, SealedCard};

/// How long the contract keeps a setup open.
const EXPIRY: Duration = Duration::hours(24);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at_secs(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(secs, 0).expect("a valid timestamp")
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
            funding: Funding::Debit,
        },
        fingerprint: Fingerprint::new(format!("fp_{n}")),
    }
}

/// The arguments of `SetupRecord::create` but the time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewSetup {
    id: SetupId,
    customer_id: CustomerId,
    checkout_url: String,
    return_url: String,
    livemode: bool,
}

impl NewSetup {
    fn example() -> NewSetup {
        NewSetup {
            id: SetupId::from_entropy(&[1; 24]),
            customer_id: CustomerId::from_entropy(&[2; 24]),
            checkout_url: "https://vinr.example/hosted/setup/seti_1".into(),
            return_url: "https://shop.example/saved?from=vinr".into(),
            livemode: false,
        }
    }

    fn create(&self, now: DateTime<Utc>) -> SetupRecord {
        let r = SetupRecord::create(
            self.id.clone(),
            self.customer_id.clone(),
            self.checkout_url.clone(),
            self.return_url.clone(),
            self.livemode,
            now,
        );
        assert_eq!(r.setup.status, SetupStatus::RequiresPaymentMethod);
        assert_eq!(r.setup.version, 1);
        assert_eq!(r.setup.payment_method_id, None);
        assert_eq!(r.setup.last_error, None);
        r
    }
}

/// One of every input, for probing a state with all of them.
fn every_input() -> Vec<SetupInput> {
    vec![
        SetupInput::CardVerified { method: pm_id(7) },
        SetupInput::CardFailed(CardFailure::declined(DeclineCode::GenericDecline)),
        SetupInput::CardFailed(CardFailure::of(CardErrorCode::IncorrectNumber)),
        SetupInput::ChallengeRequired {
            card: pending_card(7),
        },
        SetupInput::AuthenticationCompleted { method: pm_id(8) },
        SetupInput::AuthenticationDeclined(CardFailure::declined(DeclineCode::InsufficientFunds)),
        SetupInput::AuthenticationFailed,
        SetupInput::Cancel,
        SetupInput::Lock,
        SetupInput::Expire,
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn new_setup_strategy() -> impl Strategy<Value = (NewSetup, DateTime<Utc>)> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        0i64..4_000_000_000,
    )
        .prop_map(|(id, customer, query, livemode, t0)| {
            let seti = SetupId::from_entropy(&[id; 24]);
            let new = NewSetup {
                checkout_url: format!("https://vinr.example/hosted/setup/{seti}"),
                id: seti,
                customer_id: CustomerId::from_entropy(&[customer; 24]),
                return_url: if query {
                    "https://shop.example/saved?x=1".into()
                } else {
                    "https://shop.example/saved".into()
                },
                livemode,
            };
            (new, at_secs(t0))
        })
}

fn card_failure() -> impl Strategy<Value = CardFailure> {
    prop_oneof![
        select(DeclineCode::ALL).prop_map(CardFailure::declined),
        select(CardErrorCode::ALL).prop_map(CardFailure::of),
    ]
}

fn setup_input() -> impl Strategy<Value = SetupInput> {
    prop_oneof![
        2 => any::<u8>().prop_map(|n| SetupInput::CardVerified { method: pm_id(n) }),
        3 => card_failure().prop_map(SetupInput::CardFailed),
        3 => any::<u8>().prop_map(|n| SetupInput::ChallengeRequired { card: pending_card(n) }),
        2 => any::<u8>().prop_map(|n| SetupInput::AuthenticationCompleted { method: pm_id(n) }),
        2 => card_failure().prop_map(SetupInput::AuthenticationDeclined),
        2 => Just(SetupInput::AuthenticationFailed),
        1 => Just(SetupInput::Cancel),
        1 => Just(SetupInput::Lock),
        1 => Just(SetupInput::Expire),
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

fn script() -> impl Strategy<Value = Vec<(SetupInput, Duration)>> {
    proptest::collection::vec((setup_input(), time_step()), 0..30)
}

// ---------------------------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------------------------

/// One input applied to the current record at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    before: SetupRecord,
    input: SetupInput,
    at: DateTime<Utc>,
    outcome: Result<Transition<SetupRecord>, TransitionError>,
}

impl Step {
    /// The record after the step: the new one, or the old one when the input was refused.
    fn after(&self) -> &SetupRecord {
        match &self.outcome {
            Ok(t) => &t.record,
            Err(_) => &self.before,
        }
    }
}

/// A failed-attempt limit: often small, so scripts reach it.
fn attempt_limit() -> impl Strategy<Value = AttemptLimit> {
    (1u32..=6).prop_map(|n| AttemptLimit::new(n).expect("a positive limit"))
}

/// Applies each input in turn under the default limit.
fn run(start: &SetupRecord, script: &[(SetupInput, Duration)]) -> Vec<Step> {
    run_limited(start, script, AttemptLimit::DEFAULT)
}

/// Applies each input in turn, time advancing by its step; a refused input leaves the record.
fn run_limited(
    start: &SetupRecord,
    script: &[(SetupInput, Duration)],
    limit: AttemptLimit,
) -> Vec<Step> {
    let mut record = start.clone();
    let mut at = start.setup.created;
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

/// Every record the setup went through, with the time it was observed at.
fn states<'a>(
    start: &'a SetupRecord,
    steps: &'a [Step],
) -> impl Iterator<Item = (&'a SetupRecord, DateTime<Utc>)> {
    std::iter::once((start, start.setup.created)).chain(steps.iter().map(|s| (s.after(), s.at)))
}

// ---------------------------------------------------------------------------------------------
// The reference oracle: the contract table, written independently of the machine
// ---------------------------------------------------------------------------------------------

/// Why the contract refuses an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not in the table from this status.
    NotAllowed,
    /// Expiry before the 24 hours are up.
    NotExpired,
    /// The setup is open and its time is up: only expiry applies.
    Expired,
}

fn refusal(e: &TransitionError) -> Refusal {
    match e {
        TransitionError::NotAllowed { .. } => Refusal::NotAllowed,
        TransitionError::NotExpired => Refusal::NotExpired,
        TransitionError::Expired => Refusal::Expired,
        TransitionError::MethodRequired | TransitionError::CheckoutUrlRequired => {
            panic!("a setup returned a payment-only error: {e:?}")
        }
    }
}

/// An allowed step: the next status and exactly the events the contract names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    next: SetupStatus,
    events: Vec<EventType>,
}

/// Whether the input is a failed card attempt.
fn is_failure(input: &SetupInput) -> bool {
    matches!(
        input,
        SetupInput::CardFailed(_)
            | SetupInput::AuthenticationDeclined(_)
            | SetupInput::AuthenticationFailed
    )
}

/// The contract table. `expired`: the setup's 24 hours are up; `locks`: a failed attempt now
/// reaches the failed-attempt limit.
fn allowed(
    status: SetupStatus,
    input: &SetupInput,
    expired: bool,
    locks: bool,
) -> Result<Allowed, Refusal> {
    use EventType as E;
    use SetupInput as I;
    use SetupStatus as S;
    let to = |next: S, events: Vec<EventType>| Ok(Allowed { next, events });
    let failed = |status: S| {
        if locks {
            to(S::Canceled, vec![E::SetupFailed, E::SetupCanceled])
        } else {
            to(status, vec![E::SetupFailed])
        }
    };
    let open = matches!(status, S::RequiresPaymentMethod | S::RequiresAction);
    if open && expired {
        return match input {
            I::Expire => to(S::Expired, vec![]),
            _ => Err(Refusal::Expired),
        };
    }
    match (status, input) {
        (S::RequiresPaymentMethod, I::CardVerified { .. }) => {
            to(S::Succeeded, vec![E::SetupSucceeded])
        }
        (S::RequiresPaymentMethod, I::CardFailed(_)) => failed(S::RequiresPaymentMethod),
        (S::RequiresPaymentMethod, I::ChallengeRequired { .. }) => to(S::RequiresAction, vec![]),
        (S::RequiresAction, I::AuthenticationCompleted { .. }) => {
            to(S::Succeeded, vec![E::SetupSucceeded])
        }
        (S::RequiresAction, I::AuthenticationDeclined(_) | I::AuthenticationFailed) => {
            failed(S::RequiresPaymentMethod)
        }
        (S::RequiresPaymentMethod | S::RequiresAction, I::Cancel | I::Lock) => {
            to(S::Canceled, vec![E::SetupCanceled])
        }
        (S::RequiresPaymentMethod | S::RequiresAction, I::Expire) => Err(Refusal::NotExpired),
        _ => Err(Refusal::NotAllowed),
    }
}

/// The `lastError` the contract names after an accepted input, when it names one.
fn wanted_last_error(input: &SetupInput, locked: bool) -> Option<Option<LastError>> {
    if locked {
        return Some(Some(LastError::too_many_attempts()));
    }
    match input {
        SetupInput::CardFailed(f) | SetupInput::AuthenticationDeclined(f) => {
            Some(Some(LastError::from_card(*f)))
        }
        SetupInput::AuthenticationFailed => Some(Some(LastError::authentication_failed())),
        SetupInput::CardVerified { .. } | SetupInput::AuthenticationCompleted { .. } => Some(None),
        SetupInput::Lock => Some(Some(LastError::too_many_attempts())),
        SetupInput::ChallengeRequired { .. } | SetupInput::Cancel | SetupInput::Expire => None,
    }
}

/// Walks the steps with the oracle beside the machine, checking at every step that the
/// machine accepts exactly what the table allows (with the right status and `lastError`) and
/// refuses the rest for the right reason. Returns the oracle's verdict for each step.
fn walk_with_oracle(
    start: &SetupRecord,
    steps: &[Step],
    limit: AttemptLimit,
) -> Vec<Result<Allowed, Refusal>> {
    let expires_at = start.setup.created + EXPIRY;
    let mut status = start.setup.status;
    let mut failures = 0u32;
    let mut verdicts = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(
            s.before.setup.status, status,
            "step {i}: record and model agree"
        );
        assert_eq!(
            s.before.failed_attempts, failures,
            "step {i}: failed attempts"
        );
        let locks = is_failure(&s.input) && failures + 1 >= limit.get();
        let want = allowed(status, &s.input, s.at >= expires_at, locks);
        match (&s.outcome, &want) {
            (Ok(t), Ok(a)) => {
                assert_eq!(
                    t.record.setup.status, a.next,
                    "step {i}: {:?} from {status}",
                    s.input
                );
                if is_failure(&s.input) {
                    failures += 1;
                }
                assert_eq!(
                    t.record.is_locked(),
                    locks || s.input == SetupInput::Lock,
                    "step {i}: locked after {:?}",
                    s.input
                );
                if let Some(last_error) = wanted_last_error(&s.input, locks) {
                    assert_eq!(
                        t.record.setup.last_error, last_error,
                        "step {i}: lastError after {:?}",
                        s.input
                    );
                }
                status = a.next;
            }
            (Err(e), Err(r)) => {
                assert_eq!(
                    refusal(e),
                    *r,
                    "step {i}: {:?} from {status} refused for the wrong reason",
                    s.input
                );
                if let TransitionError::NotAllowed { status: st, input } = e {
                    assert_eq!(*st, status.as_str());
                    assert_eq!(*input, s.input.name());
                }
            }
            (Ok(t), Err(r)) => panic!(
                "step {i}: the contract refuses {:?} from {status} ({r:?}) but the machine went to {}",
                s.input, t.record.setup.status
            ),
            (Err(e), Ok(a)) => panic!(
                "step {i}: the contract allows {:?} from {status} (to {}) but the machine refused: {e:?}",
                s.input, a.next
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
    /// The oracle and the machine agree on every step, under any failed-attempt limit: same
    /// acceptance, same next status and `lastError`, same reason for a refusal.
    #[test]
    fn setup_accepts_exactly_what_the_contract_table_allows((new, t0) in new_setup_strategy(), script in script(), limit in attempt_limit()) {
        let start = new.create(t0);
        let steps = run_limited(&start, &script, limit);
        let verdicts = walk_with_oracle(&start, &steps, limit);
        prop_assert_eq!(verdicts.len(), steps.len());
    }

    /// A setup locks exactly when its failed attempts reach the limit (or on `lock`), never
    /// counts past it, and a locked setup is `canceled` with `too_many_attempts` for good.
    #[test]
    fn a_setup_locks_at_the_failed_attempt_limit((new, t0) in new_setup_strategy(), script in script(), limit in attempt_limit()) {
        let start = new.create(t0);
        let steps = run_limited(&start, &script, limit);
        for s in &steps {
            let after = s.after();
            prop_assert!(after.failed_attempts <= limit.get());
            if let Ok(t) = &s.outcome {
                let locked_now = t.record.is_locked() && !s.before.is_locked();
                let by_count = limit.reached_by(t.record.failed_attempts) && t.record.failed_attempts > s.before.failed_attempts;
                prop_assert_eq!(locked_now, by_count || s.input == SetupInput::Lock, "{:?}", &s.input);
                if locked_now {
                    prop_assert!(t.events.contains(&EventType::SetupCanceled));
                    prop_assert_eq!(t.record.setup.status, SetupStatus::Canceled);
                    prop_assert_eq!(&t.record.pending_card, &None);
                }
            }
            if s.before.is_locked() {
                prop_assert!(s.outcome.is_err());
            }
        }
    }

    /// `succeeded`, `canceled` and `expired` absorb: every input, now or later, is refused.
    #[test]
    fn terminal_setups_accept_no_further_transition((new, t0) in new_setup_strategy(), script in script()) {
        let start = new.create(t0);
        let steps = run(&start, &script);
        for s in &steps {
            if s.before.setup.status.is_terminal() {
                prop_assert!(s.outcome.is_err(), "{:?} was accepted from {}", s.input, s.before.setup.status);
            }
        }
        for (record, at) in states(&start, &steps) {
            if !record.setup.status.is_terminal() {
                continue;
            }
            for input in every_input() {
                for when in [at, at + Duration::hours(25), at + Duration::days(400)] {
                    let refused = record.apply(input.clone(), when);
                    prop_assert_eq!(
                        refused,
                        Err(TransitionError::NotAllowed { status: record.setup.status.as_str(), input: input.name() })
                    );
                }
            }
        }
    }

    /// id, customer, pages, created, expiry and livemode never change.
    #[test]
    fn setup_identity_and_urls_never_change((new, t0) in new_setup_strategy(), script in script()) {
        let start = new.create(t0);
        let steps = run(&start, &script);
        for (r, _) in states(&start, &steps) {
            let s = &r.setup;
            prop_assert_eq!(&s.id, &new.id);
            prop_assert_eq!(&s.customer_id, &new.customer_id);
            prop_assert_eq!(&s.checkout_url, &new.checkout_url);
            prop_assert_eq!(&s.return_url, &new.return_url);
            prop_assert_eq!(s.created, t0);
            prop_assert_eq!(s.expires_at, t0 + EXPIRY);
            prop_assert_eq!(s.livemode, new.livemode);
        }
    }

    /// Every accepted input emits exactly the contract's events: `setup.failed` on every
    /// failed card attempt (and `setup.canceled` beside it when it locks), nothing on expiry.
    #[test]
    fn every_setup_transition_emits_exactly_the_contract_events((new, t0) in new_setup_strategy(), script in script(), limit in attempt_limit()) {
        let start = new.create(t0);
        let steps = run_limited(&start, &script, limit);
        let verdicts = walk_with_oracle(&start, &steps, limit);
        let mut failed_attempts = 0;
        let mut failed_events = 0;
        for (s, v) in steps.iter().zip(&verdicts) {
            if let (Ok(t), Ok(a)) = (&s.outcome, v) {
                prop_assert_eq!(&t.events, &a.events, "{:?} from {}", &s.input, s.before.setup.status);
                if matches!(s.input, SetupInput::CardFailed(_) | SetupInput::AuthenticationDeclined(_) | SetupInput::AuthenticationFailed) {
                    failed_attempts += 1;
                }
                if s.input == SetupInput::Expire {
                    prop_assert!(t.events.is_empty(), "expiry emits nothing");
                }
                failed_events += t.events.iter().filter(|e| **e == EventType::SetupFailed).count();
            }
        }
        prop_assert_eq!(failed_attempts, failed_events);
    }

    /// A setup is `succeeded` exactly when it holds the saved method, and the method is the
    /// one the succeeding input named.
    #[test]
    fn a_setup_succeeded_iff_it_has_a_payment_method((new, t0) in new_setup_strategy(), script in script()) {
        let start = new.create(t0);
        let steps = run(&start, &script);
        for (r, _) in states(&start, &steps) {
            prop_assert_eq!(r.setup.status == SetupStatus::Succeeded, r.setup.payment_method_id.is_some());
        }
        for s in &steps {
            if let (SetupInput::CardVerified { method } | SetupInput::AuthenticationCompleted { method }, Ok(t)) = (&s.input, &s.outcome) {
                prop_assert_eq!(t.record.setup.payment_method_id.as_ref(), Some(method));
            }
        }
    }

    /// The same script from the same start gives the same records and events at every step,
    /// and replaying any prefix lands on the state observed at that point of the full run.
    #[test]
    fn setup_replaying_any_prefix_gives_the_same_state((new, t0) in new_setup_strategy(), script in script()) {
        let start = new.create(t0);
        prop_assert_eq!(&new.create(t0), &start);
        let steps = run(&start, &script);
        prop_assert_eq!(&run(&start, &script), &steps);
        let observed: Vec<&SetupRecord> = states(&start, &steps).map(|(r, _)| r).collect();
        for k in 0..=script.len() {
            let replay = run(&start, &script[..k]);
            let state = replay.last().map_or(&start, Step::after);
            prop_assert_eq!(state, observed[k], "prefix of {} inputs", k);
        }
    }

    /// Each accepted input adds exactly 1 to the version; a refused one changes nothing.
    #[test]
    fn setup_version_goes_up_by_one_per_accepted_input((new, t0) in new_setup_strategy(), script in script()) {
        let start = new.create(t0);
        let steps = run(&start, &script);
        let mut accepted = 0;
        for s in &steps {
            match &s.outcome {
                Ok(t) => {
                    accepted += 1;
                    prop_assert_eq!(t.record.setup.version, s.before.setup.version + 1);
                }
                Err(_) => prop_assert_eq!(s.after(), &s.before),
            }
        }
        let last = steps.last().map_or(&start, Step::after);
        prop_assert_eq!(last.setup.version, 1 + accepted);
    }

    /// An open setup expires only at or after `expires_at`: expiry before is `NotExpired`;
    /// from then on expiry gives `expired` (no event) and any other input is `Expired`.
    #[test]
    fn a_setup_expires_only_at_or_after_expires_at(
        (new, t0) in new_setup_strategy(),
        script in script(),
        offsets in proptest::collection::vec(prop_oneof![Just(-1i64), Just(0i64), Just(1i64), -30 * 3600i64..=30 * 3600], 1..6),
    ) {
        let start = new.create(t0);
        let steps = run(&start, &script);
        let expires_at = t0 + EXPIRY;
        for (record, seen_at) in states(&start, &steps) {
            if record.setup.status.is_terminal() {
                continue;
            }
            for off in &offsets {
                let when = expires_at + Duration::seconds(*off);
                if when < seen_at {
                    continue; // time does not run backwards
                }
                let expire = record.apply(SetupInput::Expire, when);
                if when < expires_at {
                    prop_assert_eq!(expire, Err(TransitionError::NotExpired));
                } else {
                    let t = expire.expect("an open setup expires once its time is up");
                    prop_assert_eq!(t.record.setup.status, SetupStatus::Expired);
                    prop_assert!(t.events.is_empty());
                    prop_assert_eq!(t.record.pending_card, None);
                    for input in every_input().into_iter().filter(|i| *i != SetupInput::Expire) {
                        prop_assert_eq!(record.apply(input, when), Err(TransitionError::Expired));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Concrete flows
// ---------------------------------------------------------------------------------------------

/// What one step of a flow must give: the next status and its events, or a refusal.
type Want = Result<(SetupStatus, &'static [EventType]), TransitionError>;

/// Walks a flow from a new setup created at t0; each step is (input, minutes after t0,
/// wanted). Returns the final record.
fn check(steps: &[(SetupInput, i64, Want)]) -> SetupRecord {
    let t0 = at_secs(1_750_000_000);
    let mut record = NewSetup::example().create(t0);
    for (i, (input, minutes, want)) in steps.iter().enumerate() {
        let got = record.apply(input.clone(), t0 + Duration::minutes(*minutes));
        match (got, want) {
            (Ok(t), Ok((status, events))) => {
                assert_eq!(t.record.setup.status, *status, "step {i}: {input:?}");
                assert_eq!(t.events, events.to_vec(), "step {i}: {input:?}");
                assert_eq!(t.record.setup.version, record.setup.version + 1, "step {i}");
                record = t.record;
            }
            (Err(e), Err(w)) => assert_eq!(&e, w, "step {i}: {input:?}"),
            (got, want) => panic!("step {i}: {input:?} gave {got:?}, wanted {want:?}"),
        }
    }
    record
}

#[test]
fn a_good_card_saves_at_once() {
    let r = check(&[
        (
            SetupInput::CardVerified { method: pm_id(4) },
            2,
            Ok((SetupStatus::Succeeded, &[EventType::SetupSucceeded])),
        ),
        (
            SetupInput::CardVerified { method: pm_id(5) },
            3,
            Err(TransitionError::NotAllowed {
                status: "succeeded",
                input: "card_verified",
            }),
        ),
    ]);
    assert_eq!(r.setup.payment_method_id, Some(pm_id(4)));
    assert_eq!(r.attempt, 1);
}

#[test]
fn declines_then_a_challenge_completed() {
    use EventType as E;
    use SetupStatus as S;
    let r = check(&[
        (
            SetupInput::CardFailed(CardFailure::declined(DeclineCode::InsufficientFunds)),
            1,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            SetupInput::CardFailed(CardFailure::of(CardErrorCode::ExpiredCard)),
            2,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            SetupInput::AuthenticationCompleted { method: pm_id(1) },
            3,
            Err(TransitionError::NotAllowed {
                status: "requires_payment_method",
                input: "authentication_completed",
            }),
        ),
        (
            SetupInput::ChallengeRequired {
                card: pending_card(3),
            },
            4,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::CardVerified { method: pm_id(1) },
            5,
            Err(TransitionError::NotAllowed {
                status: "requires_action",
                input: "card_verified",
            }),
        ),
        (
            SetupInput::AuthenticationCompleted { method: pm_id(3) },
            6,
            Ok((S::Succeeded, &[E::SetupSucceeded])),
        ),
    ]);
    assert_eq!(r.setup.payment_method_id, Some(pm_id(3)));
    assert_eq!(r.setup.last_error, None);
    assert_eq!(r.pending_card, None);
    assert_eq!(r.attempt, 3, "three cards typed");
}

#[test]
fn a_failed_challenge_reopens_the_setup_with_authentication_failed() {
    use EventType as E;
    use SetupStatus as S;
    let t0 = at_secs(1_750_000_000);
    let open = NewSetup::example().create(t0);
    let ra = open
        .apply(
            SetupInput::ChallengeRequired {
                card: pending_card(5),
            },
            t0,
        )
        .expect("a challenge applies")
        .record;
    assert_eq!(ra.pending_card, Some(pending_card(5)));
    let r = check(&[
        (
            SetupInput::ChallengeRequired {
                card: pending_card(5),
            },
            1,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::AuthenticationFailed,
            2,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            SetupInput::ChallengeRequired {
                card: pending_card(6),
            },
            3,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::AuthenticationDeclined(CardFailure::declined(DeclineCode::GenericDecline)),
            4,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
    ]);
    let err = r.setup.last_error.expect("lastError is set");
    assert_eq!(err.code, LastErrorCode::CardDeclined);
    assert_eq!(err.decline_code, Some(DeclineCode::GenericDecline));
    assert_eq!(r.pending_card, None);
    assert_eq!(r.setup.payment_method_id, None);

    let failed = ra
        .apply(SetupInput::AuthenticationFailed, t0)
        .expect("a failed challenge applies")
        .record;
    assert_eq!(
        failed.setup.last_error.map(|e| e.code),
        Some(LastErrorCode::AuthenticationFailed)
    );
}

#[test]
fn cancel_from_requires_action() {
    use EventType as E;
    use SetupStatus as S;
    let r = check(&[
        (
            SetupInput::ChallengeRequired {
                card: pending_card(1),
            },
            1,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::Cancel,
            2,
            Ok((S::Canceled, &[E::SetupCanceled])),
        ),
        (
            SetupInput::AuthenticationCompleted { method: pm_id(1) },
            3,
            Err(TransitionError::NotAllowed {
                status: "canceled",
                input: "authentication_completed",
            }),
        ),
        (
            SetupInput::Cancel,
            4,
            Err(TransitionError::NotAllowed {
                status: "canceled",
                input: "cancel",
            }),
        ),
    ]);
    assert_eq!(r.pending_card, None);
    assert_eq!(r.setup.payment_method_id, None);
}

#[test]
fn a_setup_expires_after_24_hours_without_an_event() {
    use SetupStatus as S;
    let day = 24 * 60;
    let r = check(&[
        (
            SetupInput::ChallengeRequired {
                card: pending_card(1),
            },
            10,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::Expire,
            day - 1,
            Err(TransitionError::NotExpired),
        ),
        (
            SetupInput::AuthenticationCompleted { method: pm_id(1) },
            day,
            Err(TransitionError::Expired),
        ),
        (SetupInput::Cancel, day, Err(TransitionError::Expired)),
        (SetupInput::Expire, day, Ok((S::Expired, &[]))),
        (
            SetupInput::Expire,
            day + 1,
            Err(TransitionError::NotAllowed {
                status: "expired",
                input: "expire",
            }),
        ),
    ]);
    assert_eq!(r.pending_card, None);
    assert_eq!(r.setup.version, 3);
}

#[test]
fn a_new_setup_expires_in_a_day() {
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let r = NewSetup::example().create(now);
    assert_eq!(r.setup.expires_at, now + Duration::hours(24));
    assert!(!r.is_expired(now + Duration::hours(24) - Duration::seconds(1)));
    assert!(r.is_expired(now + Duration::hours(24)));
    for s in [
        SetupStatus::Succeeded,
        SetupStatus::Canceled,
        SetupStatus::Expired,
    ] {
        assert!(s.is_terminal(), "{s}");
    }
    assert!(!SetupStatus::RequiresPaymentMethod.is_terminal());
    assert!(!SetupStatus::RequiresAction.is_terminal());
}

#[test]
fn the_fifth_failed_attempt_locks_the_setup() {
    use EventType as E;
    use SetupStatus as S;
    let decline = || SetupInput::CardFailed(CardFailure::declined(DeclineCode::GenericDecline));
    let r = check(&[
        (
            decline(),
            1,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            2,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            SetupInput::ChallengeRequired {
                card: pending_card(2),
            },
            3,
            Ok((S::RequiresAction, &[])),
        ),
        (
            SetupInput::AuthenticationFailed,
            4,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            5,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            6,
            Ok((S::Canceled, &[E::SetupFailed, E::SetupCanceled])),
        ),
        (
            SetupInput::CardVerified { method: pm_id(1) },
            7,
            Err(TransitionError::NotAllowed {
                status: "canceled",
                input: "card_verified",
            }),
        ),
    ]);
    assert!(r.is_locked());
    assert_eq!(r.failed_attempts, 5);
    assert_eq!(
        r.setup.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(r.setup.version, 7, "one version per accepted input");
}

#[test]
fn a_success_before_the_limit_saves_the_card() {
    use EventType as E;
    use SetupStatus as S;
    let decline = || SetupInput::CardFailed(CardFailure::declined(DeclineCode::GenericDecline));
    let r = check(&[
        (
            decline(),
            1,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            2,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            3,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            decline(),
            4,
            Ok((S::RequiresPaymentMethod, &[E::SetupFailed])),
        ),
        (
            SetupInput::CardVerified { method: pm_id(9) },
            5,
            Ok((S::Succeeded, &[E::SetupSucceeded])),
        ),
    ]);
    assert!(!r.is_locked());
    assert_eq!(r.failed_attempts, 4);
    assert_eq!(r.setup.last_error, None);
}

#[test]
fn lock_cancels_an_open_setup_with_too_many_attempts() {
    use EventType as E;
    use SetupStatus as S;
    let r = check(&[
        (
            SetupInput::ChallengeRequired {
                card: pending_card(1),
            },
            1,
            Ok((S::RequiresAction, &[])),
        ),
        (SetupInput::Lock, 2, Ok((S::Canceled, &[E::SetupCanceled]))),
        (
            SetupInput::Lock,
            3,
            Err(TransitionError::NotAllowed {
                status: "canceled",
                input: "lock",
            }),
        ),
    ]);
    assert!(r.is_locked());
    assert_eq!(r.pending_card, None);
    assert_eq!(r.failed_attempts, 0);
}

#[test]
fn a_limit_of_one_locks_on_the_first_failure() {
    let t0 = at_secs(1_750_000_000);
    let open = NewSetup::example().create(t0);
    let limit = AttemptLimit::new(1).expect("a positive limit");
    let t = open
        .apply_with_limit(
            SetupInput::CardFailed(CardFailure::of(CardErrorCode::IncorrectNumber)),
            t0,
            limit,
        )
        .expect("a failure applies");
    assert!(t.record.is_locked());
    assert_eq!(
        t.events,
        vec![EventType::SetupFailed, EventType::SetupCanceled]
    );
}

#[test]
fn records_stored_before_the_counter_read_as_zero_failures() {
    let t0 = at_secs(1_750_000_000);
    let record = NewSetup::example().create(t0);
    let mut json = serde_json::to_value(&record).expect("a record serializes");
    json.as_object_mut()
        .expect("an object")
        .remove("failed_attempts");
    let back: SetupRecord = serde_json::from_value(json).expect("an old record reads");
    assert_eq!(back, record);
}
