//! Model-based test (issue 7): proptest generates random sequences of API operations, runs each
//! against the engine (in-process `Vinr::sandbox()`, and with fewer cases through the HTTP
//! client against a real server) and against a small reference model written here; every
//! observable result — the `Ok`/`Err` variant and code of each call, the payment and setup
//! statuses, each customer's attached methods and default method — must agree after every step.
//!
//! Ids differ between runs, so the model names objects by creation index; the real side maps
//! each id it sees to the index it was first seen at (a step creates at most one object of
//! each kind, so the two numberings agree whenever the behaviour does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use vinr::{
    CardEntry, CardErrorCode, ChallengeOutcome, CreateCustomer, CreatePayment, CustomerId,
    DeclineCode, Error, HostedOutcome, InvalidRequestCode, PaymentId, PaymentMethodId,
    PaymentStatus, SetupId, SetupStatus, UpdateCustomer, Vinr,
};

// ---------------------------------------------------------------------------------------------
// The test cards (api.md §4) and what the model knows about each.

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Succeeds everywhere.
    Approves,
    /// Refused everywhere with this error.
    Declines(CardErrorCode, Option<DeclineCode>),
    /// 0127: `incorrect_cvc` with the buyer present, succeeds off-session.
    IncorrectCvc,
    /// 0341: a setup succeeds, every payment is declined `generic_decline`.
    SetupOnly,
    /// 3220, 3184: a challenge every time; `requires_action` off-session.
    AlwaysChallenges,
    /// 3155: a challenge; off-session succeeds once saved through a completed challenge.
    ChallengesOnce,
    /// 3178, 1629: a challenge, then declined.
    ChallengeThenDecline(DeclineCode),
}

const CARDS: [(&str, Behaviour); 17] = {
    use Behaviour::*;
    use CardErrorCode::{CardDeclined, ExpiredCard, ProcessingError};
    [
        ("4242 4242 4242 4242", Approves),
        ("5555 5555 5555 4444", Approves),
        ("3782 822463 10005", Approves),
        (
            "4000 0000 0000 0002",
            Declines(CardDeclined, Some(DeclineCode::GenericDecline)),
        ),
        (
            "4000 0000 0000 9995",
            Declines(CardDeclined, Some(DeclineCode::InsufficientFunds)),
        ),
        ("4000 0000 0000 0069", Declines(ExpiredCard, None)),
        ("4000 0000 0000 0127", IncorrectCvc),
        ("4000 0000 0000 3220", AlwaysChallenges),
        ("4000 0025 0000 3155", ChallengesOnce),
        ("4000 0000 0000 0341", SetupOnly),
        (
            "4000 0000 0000 9987",
            Declines(CardDeclined, Some(DeclineCode::LostCard)),
        ),
        (
            "4000 0000 0000 9979",
            Declines(CardDeclined, Some(DeclineCode::StolenCard)),
        ),
        ("4000 0000 0000 0119", Declines(ProcessingError, None)),
        ("4000 0027 6000 3184", AlwaysChallenges),
        (
            "4000 0082 6000 3178",
            ChallengeThenDecline(DeclineCode::InsufficientFunds),
        ),
        (
            "4000 0084 0000 1629",
            ChallengeThenDecline(DeclineCode::GenericDecline),
        ),
        ("4000 0000 0000 3055", Approves),
    ]
};

const RETURN_URL: &str = "https://yoursite.com/wallet/saved";

// ---------------------------------------------------------------------------------------------
// Operations. Every reference is a "pick", resolved modulo what exists when the step runs, so
// that shrinking (dropping steps) keeps every sequence meaningful.

#[derive(Debug, Clone)]
enum Op {
    CreateCustomer,
    /// A setup for a customer, the card typed on its hosted page.
    Setup {
        customer: usize,
        card: usize,
    },
    /// The sandbox helper: attached without any authorization.
    AttachHelper {
        customer: usize,
        card: usize,
    },
    /// Answer one of the pending challenges (setups and payments in `requires_action`).
    Challenge {
        pick: usize,
        complete: bool,
    },
    /// Set (a method, any customer's, attached or not) or clear the default.
    SetDefault {
        customer: usize,
        method: Option<usize>,
    },
    Detach {
        customer: usize,
        method: usize,
    },
    /// An on-session payment, paid on its hosted page with a card.
    ChargeOnSession {
        customer: usize,
        card: usize,
        save: bool,
        amount: i64,
    },
    /// An off-session payment on the default (`None`) or a chosen method.
    ChargeOffSession {
        customer: usize,
        method: Option<usize>,
        amount: i64,
    },
    Cancel {
        payment: usize,
    },
    /// The previous create again, with the same idempotency key and parameters.
    Retry,
}

fn op() -> impl Strategy<Value = Op> {
    let pick = 0usize..16;
    let card = 0usize..CARDS.len();
    prop_oneof![
        1 => Just(Op::CreateCustomer),
        3 => (pick.clone(), card.clone()).prop_map(|(customer, card)| Op::Setup { customer, card }),
        1 => (pick.clone(), card.clone())
            .prop_map(|(customer, card)| Op::AttachHelper { customer, card }),
        2 => (pick.clone(), any::<bool>())
            .prop_map(|(pick, complete)| Op::Challenge { pick, complete }),
        3 => (pick.clone(), proptest::option::weighted(0.85, pick.clone()))
            .prop_map(|(customer, method)| Op::SetDefault { customer, method }),
        1 => (pick.clone(), pick.clone())
            .prop_map(|(customer, method)| Op::Detach { customer, method }),
        2 => (pick.clone(), card, any::<bool>(), 1i64..5000).prop_map(
            |(customer, card, save, amount)| Op::ChargeOnSession { customer, card, save, amount }
        ),
        4 => (pick.clone(), proptest::option::weighted(0.6, pick.clone()), 1i64..5000).prop_map(
            |(customer, method, amount)| Op::ChargeOffSession { customer, method, amount }
        ),
        1 => pick.prop_map(|payment| Op::Cancel { payment }),
        2 => Just(Op::Retry),
    ]
}

/// 1 to 24 steps, the first creating a customer (so that fewer steps are skipped).
fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 0..24).prop_map(|mut ops| {
        ops.insert(0, Op::CreateCustomer);
        ops
    })
}

// ---------------------------------------------------------------------------------------------
// Observations: what both sides report, in index terms.

/// An error as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Err {
    Invalid(InvalidRequestCode, Option<String>),
    NotFound(Option<String>),
    /// A refused card; the failed payment's index.
    Card(CardErrorCode, Option<DeclineCode>, Option<usize>),
    Gone,
    Other(String),
}

/// Where a hosted page sends the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// To the return URL with `status=succeeded`.
    Succeeded,
    /// To the return URL with `status=failed`.
    Failed,
    /// The card form again (shown again, or a redirect to the checkout page).
    BackToForm,
    /// To the challenge page.
    Challenge,
    /// Over, with no return URL.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Obs {
    Skipped,
    Customer(Result<usize, Err>),
    /// The setup created, then the page's answer to the card.
    Setup(Result<usize, Err>, Option<Result<Page, Err>>),
    Method(Result<usize, Err>),
    Page(Result<Page, Err>),
    /// The customer's default after the update.
    Default(Result<Option<usize>, Err>),
    /// The detached method and its customer afterwards.
    Detached(Result<(usize, Option<usize>), Err>),
    /// The payment created (index and status), then the page's answer to the card.
    OnSession(
        Result<(usize, PaymentStatus), Err>,
        Option<Result<Page, Err>>,
    ),
    OffSession(Result<(usize, PaymentStatus), Err>),
    Canceled(Result<PaymentStatus, Err>),
}

/// Everything readable after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// Per customer: the default, and the attached methods.
    customers: Vec<(Option<usize>, BTreeSet<usize>)>,
    /// Per setup: status and saved method.
    setups: Vec<(SetupStatus, Option<usize>)>,
    /// Per payment: status, and the method for off-session ones.
    payments: Vec<(PaymentStatus, Option<usize>)>,
}

// ---------------------------------------------------------------------------------------------
// The reference model.

#[derive(Debug, Clone)]
struct MMethod {
    owner: usize,
    card: usize,
    attached: bool,
    authenticated: bool,
}

#[derive(Debug, Clone)]
struct MSetup {
    customer: usize,
    status: SetupStatus,
    card: Option<usize>,
    method: Option<usize>,
}

#[derive(Debug, Clone)]
struct MPayment {
    customer: usize,
    status: PaymentStatus,
    off_session: bool,
    /// The card is typed on the hosted page (else a saved method is charged).
    hosted: bool,
    save: bool,
    card: Option<usize>,
    method: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Setup(usize),
    Payment(usize),
}

/// The last create, for `Op::Retry`.
#[derive(Debug, Clone)]
struct LastCreate {
    key: String,
    op: Resolved,
    result: Obs,
}

#[derive(Debug, Default)]
struct Model {
    /// Per customer: the default method.
    customers: Vec<Option<usize>>,
    methods: Vec<MMethod>,
    setups: Vec<MSetup>,
    payments: Vec<MPayment>,
    pending: Vec<Pending>,
    last_create: Option<LastCreate>,
}

/// An operation with its picks resolved to indices (the same for both sides).
#[derive(Debug, Clone)]
enum Resolved {
    Skip,
    CreateCustomer {
        n: usize,
    },
    Setup {
        customer: usize,
        card: usize,
    },
    AttachHelper {
        customer: usize,
        card: usize,
    },
    Challenge {
        target: Pending,
        complete: bool,
    },
    SetDefault {
        customer: usize,
        method: Option<usize>,
    },
    Detach {
        customer: usize,
        method: usize,
    },
    ChargeOnSession {
        customer: usize,
        card: usize,
        save: bool,
        amount: i64,
    },
    ChargeOffSession {
        customer: usize,
        method: Option<usize>,
        amount: i64,
    },
    Cancel {
        payment: usize,
    },
}

impl Model {
    fn resolve(&self, op: &Op, step: usize) -> Resolved {
        let nc = self.customers.len();
        let nm = self.methods.len();
        if nc == 0 && !matches!(op, Op::CreateCustomer | Op::Retry) {
            return Resolved::Skip;
        }
        match *op {
            Op::CreateCustomer => Resolved::CreateCustomer { n: step },
            Op::Setup { customer, card } => Resolved::Setup {
                customer: customer % nc,
                card,
            },
            Op::AttachHelper { customer, card } => Resolved::AttachHelper {
                customer: customer % nc,
                card,
            },
            Op::Challenge { pick, complete } => {
                if self.pending.is_empty() {
                    Resolved::Skip
                } else {
                    Resolved::Challenge {
                        target: self.pending[pick % self.pending.len()],
                        complete,
                    }
                }
            }
            Op::SetDefault { customer, method } => Resolved::SetDefault {
                customer: customer % nc,
                method: match method {
                    Some(_) if nm == 0 => return Resolved::Skip,
                    m => m.map(|m| m % nm),
                },
            },
            Op::Detach { customer, method } if nm > 0 => Resolved::Detach {
                customer: customer % nc,
                method: method % nm,
            },
            Op::Detach { .. } => Resolved::Skip,
            Op::ChargeOnSession {
                customer,
                card,
                save,
                amount,
            } => Resolved::ChargeOnSession {
                customer: customer % nc,
                card,
                save,
                amount,
            },
            Op::ChargeOffSession {
                customer,
                method,
                amount,
            } => Resolved::ChargeOffSession {
                customer: customer % nc,
                method: if nm == 0 {
                    None
                } else {
                    method.map(|m| m % nm)
                },
                amount,
            },
            Op::Cancel { payment } if !self.payments.is_empty() => Resolved::Cancel {
                payment: payment % self.payments.len(),
            },
            Op::Cancel { .. } => Resolved::Skip,
            Op::Retry => Resolved::Skip,
        }
    }

    /// Saves card `card` to `customer` as the engine does: the attached method with the same
    /// card is reused (and stays authenticated once it was), else a new one.
    fn save(&mut self, customer: usize, card: usize, authenticated: bool) -> usize {
        if let Some(i) = self
            .methods
            .iter()
            .position(|m| m.attached && m.owner == customer && m.card == card)
        {
            self.methods[i].authenticated |= authenticated;
            return i;
        }
        self.methods.push(MMethod {
            owner: customer,
            card,
            attached: true,
            authenticated,
        });
        self.methods.len() - 1
    }

    fn new_payment(&mut self, p: MPayment) -> usize {
        self.payments.push(p);
        self.payments.len() - 1
    }

    fn apply(&mut self, op: &Resolved) -> Obs {
        match *op {
            Resolved::Skip => Obs::Skipped,
            Resolved::CreateCustomer { .. } => {
                self.customers.push(None);
                Obs::Customer(Ok(self.customers.len() - 1))
            }
            Resolved::Setup { customer, card } => {
                self.setups.push(MSetup {
                    customer,
                    status: SetupStatus::RequiresPaymentMethod,
                    card: None,
                    method: None,
                });
                let s = self.setups.len() - 1;
                let page = match CARDS[card].1 {
                    Behaviour::Approves | Behaviour::SetupOnly => {
                        let m = self.save(customer, card, false);
                        self.setups[s].status = SetupStatus::Succeeded;
                        self.setups[s].method = Some(m);
                        Page::Succeeded
                    }
                    Behaviour::Declines(..) | Behaviour::IncorrectCvc => Page::BackToForm,
                    Behaviour::AlwaysChallenges
                    | Behaviour::ChallengesOnce
                    | Behaviour::ChallengeThenDecline(_) => {
                        self.setups[s].status = SetupStatus::RequiresAction;
                        self.setups[s].card = Some(card);
                        self.pending.push(Pending::Setup(s));
                        Page::Challenge
                    }
                };
                Obs::Setup(Ok(s), Some(Ok(page)))
            }
            Resolved::AttachHelper { customer, card } => {
                Obs::Method(Ok(self.save(customer, card, false)))
            }
            Resolved::Challenge { target, complete } => {
                self.pending.retain(|p| *p != target);
                let page = match target {
                    Pending::Setup(s) => {
                        let card = self.setups[s].card.take().expect("a challenged card");
                        let customer = self.setups[s].customer;
                        self.setups[s].status = SetupStatus::RequiresPaymentMethod;
                        match (complete, CARDS[card].1) {
                            (true, Behaviour::ChallengeThenDecline(_)) | (false, _) => {
                                Page::BackToForm
                            }
                            (true, _) => {
                                let m = self.save(customer, card, true);
                                self.setups[s].status = SetupStatus::Succeeded;
                                self.setups[s].method = Some(m);
                                Page::Succeeded
                            }
                        }
                    }
                    Pending::Payment(p) => {
                        let pay = self.payments[p].clone();
                        let card = pay.card.expect("a challenged card");
                        let declined = matches!(CARDS[card].1, Behaviour::ChallengeThenDecline(_));
                        let (status, page) = match (pay.off_session, complete, declined) {
                            (true, true, false) => (PaymentStatus::Succeeded, Page::Done),
                            (true, _, _) => (PaymentStatus::Failed, Page::Done),
                            (false, true, false) => (PaymentStatus::Succeeded, Page::Succeeded),
                            // A declined typed card leaves the page open for another card; a
                            // declined saved method fails the payment.
                            (false, true, true) if pay.hosted => {
                                (PaymentStatus::RequiresPaymentMethod, Page::BackToForm)
                            }
                            (false, _, _) => (PaymentStatus::Failed, Page::Failed),
                        };
                        self.payments[p].status = status;
                        if pay.hosted && status == PaymentStatus::Succeeded && pay.save {
                            self.save(pay.customer, card, true);
                        }
                        page
                    }
                };
                Obs::Page(Ok(page))
            }
            Resolved::SetDefault { customer, method } => {
                if let Some(m) = method {
                    let mm = &self.methods[m];
                    if !mm.attached {
                        return Obs::Default(Err(Err::Invalid(
                            InvalidRequestCode::PaymentMethodDetached,
                            Some("defaultMethodId".into()),
                        )));
                    }
                    if mm.owner != customer {
                        return Obs::Default(Err(Err::Invalid(
                            InvalidRequestCode::PaymentMethodCustomerMismatch,
                            Some("defaultMethodId".into()),
                        )));
                    }
                }
                self.customers[customer] = method;
                Obs::Default(Ok(method))
            }
            Resolved::Detach { customer, method } => {
                let mm = &mut self.methods[method];
                if !mm.attached || mm.owner != customer {
                    return Obs::Detached(Err(Err::NotFound(None)));
                }
                mm.attached = false;
                if self.customers[customer] == Some(method) {
                    self.customers[customer] = None;
                }
                Obs::Detached(Ok((method, None)))
            }
            Resolved::ChargeOnSession {
                customer,
                card,
                save,
                ..
            } => {
                if let Some(m) = self.customers[customer] {
                    // The default method is charged at once, the buyer present.
                    return self.charge_default_on_session(customer, m, save);
                }
                let p = self.new_payment(MPayment {
                    customer,
                    status: PaymentStatus::RequiresPaymentMethod,
                    off_session: false,
                    hosted: true,
                    save,
                    card: None,
                    method: None,
                });
                let page = match CARDS[card].1 {
                    Behaviour::Approves => {
                        self.payments[p].status = PaymentStatus::Succeeded;
                        if save {
                            self.save(customer, card, false);
                        }
                        Page::Succeeded
                    }
                    Behaviour::Declines(..) | Behaviour::IncorrectCvc | Behaviour::SetupOnly => {
                        Page::BackToForm
                    }
                    Behaviour::AlwaysChallenges
                    | Behaviour::ChallengesOnce
                    | Behaviour::ChallengeThenDecline(_) => {
                        self.payments[p].status = PaymentStatus::RequiresAction;
                        self.payments[p].card = Some(card);
                        self.pending.push(Pending::Payment(p));
                        Page::Challenge
                    }
                };
                Obs::OnSession(
                    Ok((p, PaymentStatus::RequiresPaymentMethod)),
                    Some(Ok(page)),
                )
            }
            Resolved::ChargeOffSession {
                customer, method, ..
            } => Obs::OffSession(self.charge_off_session(customer, method)),
            Resolved::Cancel { payment } => {
                let pay = &mut self.payments[payment];
                match pay.status {
                    PaymentStatus::RequiresPaymentMethod | PaymentStatus::RequiresAction => {
                        pay.status = PaymentStatus::Canceled;
                        self.pending.retain(|p| *p != Pending::Payment(payment));
                        Obs::Canceled(Ok(PaymentStatus::Canceled))
                    }
                    _ => Obs::Canceled(Err(Err::Invalid(
                        InvalidRequestCode::PaymentUnexpectedState,
                        None,
                    ))),
                }
            }
        }
    }

    /// An on-session payment for a customer with a default method: that method is charged
    /// with the buyer present (api.md §5: the method chosen is the default when none is
    /// given); its page then no longer awaits a card.
    fn charge_default_on_session(&mut self, customer: usize, m: usize, save: bool) -> Obs {
        let card = self.methods[m].card;
        let (status, error) = match CARDS[card].1 {
            Behaviour::Approves => (PaymentStatus::Succeeded, None),
            Behaviour::Declines(code, decline) => (PaymentStatus::Failed, Some((code, decline))),
            Behaviour::IncorrectCvc => (
                PaymentStatus::Failed,
                Some((CardErrorCode::IncorrectCvc, None)),
            ),
            Behaviour::SetupOnly => (
                PaymentStatus::Failed,
                Some((
                    CardErrorCode::CardDeclined,
                    Some(DeclineCode::GenericDecline),
                )),
            ),
            Behaviour::AlwaysChallenges
            | Behaviour::ChallengesOnce
            | Behaviour::ChallengeThenDecline(_) => (PaymentStatus::RequiresAction, None),
        };
        let p = self.new_payment(MPayment {
            customer,
            status,
            off_session: false,
            hosted: false,
            save,
            card: Some(card),
            method: Some(m),
        });
        if status == PaymentStatus::RequiresAction {
            self.pending.push(Pending::Payment(p));
        }
        match error {
            Some((code, decline)) => Obs::OnSession(Err(Err::Card(code, decline, Some(p))), None),
            None => Obs::OnSession(Ok((p, status)), Some(Err(Err::Gone))),
        }
    }

    fn charge_off_session(
        &mut self,
        customer: usize,
        method: Option<usize>,
    ) -> Result<(usize, PaymentStatus), Err> {
        let m = match method {
            Some(m) => {
                if !self.methods[m].attached {
                    return Err(Err::Invalid(
                        InvalidRequestCode::PaymentMethodDetached,
                        Some("paymentMethodId".into()),
                    ));
                }
                if self.methods[m].owner != customer {
                    return Err(Err::Invalid(
                        InvalidRequestCode::PaymentMethodCustomerMismatch,
                        Some("paymentMethodId".into()),
                    ));
                }
                m
            }
            None => match self.customers[customer] {
                Some(m) => m,
                None => {
                    return Err(Err::Invalid(
                        InvalidRequestCode::PaymentMethodRequired,
                        None,
                    ));
                }
            },
        };
        let card = self.methods[m].card;
        let (status, error) = match CARDS[card].1 {
            Behaviour::Approves | Behaviour::IncorrectCvc => (PaymentStatus::Succeeded, None),
            Behaviour::ChallengesOnce if self.methods[m].authenticated => {
                (PaymentStatus::Succeeded, None)
            }
            Behaviour::Declines(code, decline) => (PaymentStatus::Failed, Some((code, decline))),
            Behaviour::SetupOnly => (
                PaymentStatus::Failed,
                Some((
                    CardErrorCode::CardDeclined,
                    Some(DeclineCode::GenericDecline),
                )),
            ),
            Behaviour::AlwaysChallenges
            | Behaviour::ChallengesOnce
            | Behaviour::ChallengeThenDecline(_) => (PaymentStatus::RequiresAction, None),
        };
        let p = self.new_payment(MPayment {
            customer,
            status,
            off_session: true,
            hosted: false,
            save: false,
            card: Some(card),
            method: Some(m),
        });
        if status == PaymentStatus::RequiresAction {
            self.pending.push(Pending::Payment(p));
        }
        match error {
            Some((code, decline)) => Err(Err::Card(code, decline, Some(p))),
            None => Ok((p, status)),
        }
    }

    /// Runs `op` and keeps what `Op::Retry` needs; a retry replays a stored answer (2xx and
    /// 402) and runs a refused request (other 4xx) afresh.
    fn step(&mut self, op: &Op, resolved: &Resolved, key: &str) -> Obs {
        if let Op::Retry = op {
            let Some(last) = self.last_create.clone() else {
                return Obs::Skipped;
            };
            if stored(&last.result) {
                return replayed(&last.result);
            }
            let result = self.apply(&last.op);
            self.last_create = Some(LastCreate {
                result: result.clone(),
                ..last
            });
            return replayed(&result);
        }
        let result = self.apply(resolved);
        if let Some(op) = create_part(resolved) {
            self.last_create = Some(LastCreate {
                key: key.to_owned(),
                op,
                result: result.clone(),
            });
        }
        result
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            customers: self
                .customers
                .iter()
                .enumerate()
                .map(|(c, default)| {
                    let methods = self
                        .methods
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.attached && m.owner == c)
                        .map(|(i, _)| i)
                        .collect();
                    (*default, methods)
                })
                .collect(),
            setups: self.setups.iter().map(|s| (s.status, s.method)).collect(),
            payments: self
                .payments
                .iter()
                .map(|p| (p.status, p.method.filter(|_| p.off_session)))
                .collect(),
        }
    }
}

/// The create of a step (what a retry sends again), if it has one: the setup or on-session
/// payment without the card typed on its page.
fn create_part(op: &Resolved) -> Option<Resolved> {
    match op {
        Resolved::CreateCustomer { .. }
        | Resolved::Setup { .. }
        | Resolved::ChargeOnSession { .. }
        | Resolved::ChargeOffSession { .. } => Some(op.clone()),
        _ => None,
    }
}

/// Whether the create's answer was stored under its key (2xx and 402).
fn stored(result: &Obs) -> bool {
    match result {
        Obs::Customer(r) => r.is_ok(),
        Obs::Setup(r, _) => r.is_ok(),
        Obs::OnSession(r, _) => matches!(r, Ok(_) | Err(Err::Card(..))),
        Obs::OffSession(r) => matches!(r, Ok(_) | Err(Err::Card(..))),
        _ => false,
    }
}

/// What a retry of a create answers: the create's own answer, without the page part.
fn replayed(result: &Obs) -> Obs {
    match result {
        Obs::Setup(r, _) => Obs::Setup(r.clone(), None),
        Obs::OnSession(r, _) => Obs::OnSession(r.clone(), None),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The real side: the same resolved operations through the facade.

/// The ids seen so far, by index.
#[derive(Default)]
struct Real {
    customers: Vec<CustomerId>,
    methods: Vec<PaymentMethodId>,
    setups: Vec<SetupId>,
    payments: Vec<PaymentId>,
}

fn index_of<T: PartialEq>(seen: &mut Vec<T>, id: T) -> usize {
    if let Some(i) = seen.iter().position(|s| *s == id) {
        return i;
    }
    seen.push(id);
    seen.len() - 1
}

fn page(outcome: &HostedOutcome) -> Page {
    match outcome {
        HostedOutcome::Redirect { url } if url.contains("status=succeeded") => Page::Succeeded,
        HostedOutcome::Redirect { url } if url.contains("status=failed") => Page::Failed,
        HostedOutcome::Redirect { .. } | HostedOutcome::Retry { .. } => Page::BackToForm,
        HostedOutcome::Challenge { .. } => Page::Challenge,
        HostedOutcome::Done { .. } => Page::Done,
    }
}

fn card_entry(card: usize) -> CardEntry {
    CardEntry::new(CARDS[card].0, "12/34", "987")
}

impl Real {
    fn err(&mut self, e: Error) -> Err {
        match e {
            Error::InvalidRequest { code, param, .. } => Err::Invalid(code, param),
            Error::NotFound { param, .. } => Err::NotFound(param),
            Error::Card {
                code,
                decline_code,
                payment_id,
                ..
            } => Err::Card(
                code,
                decline_code,
                payment_id.map(|p| index_of(&mut self.payments, p)),
            ),
            Error::Gone { .. } => Err::Gone,
            other => Err::Other(format!("{other:?}")),
        }
    }

    fn page(&mut self, r: vinr::Result<HostedOutcome>) -> Result<Page, Err> {
        r.map(|o| page(&o)).map_err(|e| self.err(e))
    }

    /// The create part of a step, under `key`; `None` if `op` has none.
    async fn create(&mut self, vinr: &Vinr, op: &Resolved, key: &str) -> Option<Obs> {
        let v = vinr.idempotent(key);
        Some(match *op {
            Resolved::CreateCustomer { n } => {
                let r = v
                    .customers()
                    .create(CreateCustomer {
                        email: Some(format!("buyer{n}@example.com")),
                        ..Default::default()
                    })
                    .await;
                Obs::Customer(match r {
                    Ok(c) => Ok(index_of(&mut self.customers, c.id)),
                    Err(e) => Err(self.err(e)),
                })
            }
            Resolved::Setup { customer, .. } => {
                let r = v
                    .customers()
                    .setup_method(&self.customers[customer], RETURN_URL)
                    .await;
                Obs::Setup(
                    match r {
                        Ok(s) => Ok(index_of(&mut self.setups, s.id)),
                        Err(e) => Err(self.err(e)),
                    },
                    None,
                )
            }
            Resolved::ChargeOnSession {
                customer,
                save,
                amount,
                ..
            } => {
                let r = v
                    .payments()
                    .create(CreatePayment {
                        amount,
                        currency: "EUR".into(),
                        customer_id: Some(self.customers[customer].clone()),
                        save_payment_method: save,
                        return_url: Some(RETURN_URL.into()),
                        ..Default::default()
                    })
                    .await;
                Obs::OnSession(
                    match r {
                        Ok(p) => Ok((index_of(&mut self.payments, p.id), p.status)),
                        Err(e) => Err(self.err(e)),
                    },
                    None,
                )
            }
            Resolved::ChargeOffSession {
                customer,
                method,
                amount,
            } => {
                let r = v
                    .payments()
                    .create(CreatePayment {
                        amount,
                        currency: "EUR".into(),
                        customer_id: Some(self.customers[customer].clone()),
                        payment_method_id: method.map(|m| self.methods[m].clone()),
                        off_session: true,
                        ..Default::default()
                    })
                    .await;
                Obs::OffSession(match r {
                    Ok(p) => Ok((index_of(&mut self.payments, p.id), p.status)),
                    Err(e) => Err(self.err(e)),
                })
            }
            _ => return None,
        })
    }

    async fn apply(&mut self, vinr: &Vinr, op: &Resolved, key: &str) -> Obs {
        if let Some(created) = self.create(vinr, op, key).await {
            // The page part of setups and on-session payments: type the card.
            return match (created, op) {
                (Obs::Setup(Ok(s), None), Resolved::Setup { card, .. }) => {
                    let r = vinr
                        .hosted()
                        .submit_setup_card(&self.setups[s], card_entry(*card))
                        .await;
                    Obs::Setup(Ok(s), Some(self.page(r)))
                }
                (Obs::OnSession(Ok((p, status)), None), Resolved::ChargeOnSession { card, .. }) => {
                    let r = vinr
                        .hosted()
                        .submit_payment_card(&self.payments[p], card_entry(*card))
                        .await;
                    Obs::OnSession(Ok((p, status)), Some(self.page(r)))
                }
                (other, _) => other,
            };
        }
        match *op {
            Resolved::AttachHelper { customer, card } => {
                let r = vinr
                    .test_helpers()
                    .attach_card(&self.customers[customer], CARDS[card].0, 12, 2034)
                    .await;
                Obs::Method(match r {
                    Ok(m) => Ok(index_of(&mut self.methods, m.id)),
                    Err(e) => Err(self.err(e)),
                })
            }
            Resolved::Challenge { target, complete } => {
                let outcome = if complete {
                    ChallengeOutcome::Complete
                } else {
                    ChallengeOutcome::Fail
                };
                let r = match target {
                    Pending::Setup(s) => {
                        vinr.hosted()
                            .authenticate_setup(&self.setups[s], outcome)
                            .await
                    }
                    Pending::Payment(p) => {
                        vinr.hosted()
                            .authenticate_payment(&self.payments[p], outcome)
                            .await
                    }
                };
                Obs::Page(self.page(r))
            }
            Resolved::SetDefault { customer, method } => {
                let r = vinr
                    .customers()
                    .update(
                        &self.customers[customer],
                        UpdateCustomer {
                            default_method_id: Some(method.map(|m| self.methods[m].clone())),
                            ..Default::default()
                        },
                    )
                    .await;
                Obs::Default(match r {
                    Ok(c) => Ok(c.default_method_id.map(|m| index_of(&mut self.methods, m))),
                    Err(e) => Err(self.err(e)),
                })
            }
            Resolved::Detach { customer, method } => {
                let r = vinr
                    .customers()
                    .detach_method(&self.customers[customer], &self.methods[method])
                    .await;
                Obs::Detached(match r {
                    Ok(m) => Ok((
                        index_of(&mut self.methods, m.id),
                        m.customer_id.map(|c| index_of(&mut self.customers, c)),
                    )),
                    Err(e) => Err(self.err(e)),
                })
            }
            Resolved::Cancel { payment } => {
                let r = vinr.payments().cancel(&self.payments[payment]).await;
                Obs::Canceled(match r {
                    Ok(p) => Ok(p.status),
                    Err(e) => Err(self.err(e)),
                })
            }
            _ => Obs::Skipped,
        }
    }

    async fn snapshot(&mut self, vinr: &Vinr) -> Snapshot {
        let mut customers = Vec::new();
        for c in self.customers.clone() {
            let customer = vinr.customers().retrieve(&c).await.expect("customer");
            let listed = vinr.customers().list_methods(&c).await.expect("methods");
            let methods = listed
                .data
                .into_iter()
                .map(|m| index_of(&mut self.methods, m.id))
                .collect();
            let default = customer
                .default_method_id
                .map(|m| index_of(&mut self.methods, m));
            customers.push((default, methods));
        }
        let mut setups = Vec::new();
        for s in self.setups.clone() {
            let setup = vinr.setups().retrieve(&s).await.expect("setup");
            let method = setup
                .payment_method_id
                .map(|m| index_of(&mut self.methods, m));
            setups.push((setup.status, method));
        }
        let mut payments = Vec::new();
        for p in self.payments.clone() {
            let payment = vinr.payments().retrieve(&p).await.expect("payment");
            let method = payment
                .payment_method_id
                .filter(|_| payment.off_session)
                .map(|m| index_of(&mut self.methods, m));
            payments.push((payment.status, method));
        }
        Snapshot {
            customers,
            setups,
            payments,
        }
    }
}

/// Runs `ops` on `vinr` and on the model, comparing every answer and the state after each step.
async fn run(vinr: &Vinr, ops: &[Op]) -> Result<(), String> {
    let mut model = Model::default();
    let mut real = Real::default();
    let mut last: Option<LastCreate> = None;
    for (step, op) in ops.iter().enumerate() {
        let key = format!("model-step-{step}");
        let resolved = model.resolve(op, step);
        let want = model.step(op, &resolved, &key);
        let got = match op {
            Op::Retry => match &last {
                None => Obs::Skipped,
                Some(last) => real
                    .create(vinr, &last.op, &last.key)
                    .await
                    .unwrap_or(Obs::Skipped),
            },
            _ => real.apply(vinr, &resolved, &key).await,
        };
        if create_part(&resolved).is_some() {
            last = model.last_create.clone();
        }
        if got != want {
            return Err(format!(
                "step {step} {op:?} ({resolved:?}): engine answered {got:?}, model predicts {want:?}"
            ));
        }
        let got = real.snapshot(vinr).await;
        let want = model.snapshot();
        if got != want {
            return Err(format!(
                "after step {step} {op:?} ({resolved:?}):\n engine {got:?}\n model  {want:?}"
            ));
        }
    }
    Ok(())
}

/// `cases` sequences, or `VINR_MODEL_CASES` (the in-process count; the HTTP run takes an
/// eighth of it) for a longer hunt.
fn config(cases: u32, share: u32) -> ProptestConfig {
    let cases = std::env::var("VINR_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(cases, |n| (n / share).max(1));
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(64, 1))]

    /// 64 random sequences against the in-process sandbox.
    #[test]
    fn the_sandbox_agrees_with_the_model(ops in ops()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = rt.block_on(async { run(&Vinr::sandbox(), &ops).await });
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

#[cfg(feature = "client")]
proptest! {
    #![proptest_config(config(8, 8))]

    /// 8 random sequences through the HTTP client against a fresh server each.
    #[test]
    fn the_server_agrees_with_the_model(ops in ops()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async { run(&over_http(), &ops).await });
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// A server as `tests/http_flows.rs` starts one.

#[cfg(feature = "client")]
const SECRET: &str = "sk_test_ModelTest0123456789abcdefghij";

/// A fresh server (memory store, sandbox network) on a free port, in the current runtime, and
/// a handle talking to it over HTTP.
#[cfg(feature = "client")]
fn over_http() -> Vinr {
    use vinr_engine::{Engine, EngineConfig, Ports};
    use vinr_http::server::{AppState, ServerConfig, router, serve};
    use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};

    use sha2::{Digest, Sha256};

    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", std_listener.local_addr().expect("address"));
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
    let store = vinr_store::memory::MemoryStore::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(vinr_store::vault::AesVault::random()),
            network: Arc::new(vinr::SandboxNetwork::new()),
            clock: Arc::new(vinr::SystemClock::new()),
            ids: Arc::new(vinr_store::ids::OsRandomIds::new()),
        },
        EngineConfig {
            public_url: base.clone(),
            ..EngineConfig::default()
        },
    );
    let keys = store.clone();
    let config = ServerConfig {
        public_url: base.clone(),
        csrf_key: [3u8; 32],
        rate_limit: None,
    };
    let state = AppState::new(engine, Arc::new(store), config);
    tokio::spawn(async move {
        let hash: String = Sha256::digest(SECRET.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let record = ApiKeyRecord {
            id: "key_model".into(),
            mode: vinr::Mode::Test,
            hash,
            prefix: SECRET[..12].into(),
            created: chrono::DateTime::UNIX_EPOCH,
            revoked: None,
        };
        keys.insert_key(record).await.expect("key");
        serve(listener, router(state), std::future::pending()).await
    });
    Vinr::with_base_url(SECRET, &base).expect("client")
}
