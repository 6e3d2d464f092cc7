//! The payment and its state machine.
//!
//! A transition is a pure function of the record, an input and the time; it returns the next
//! record and exactly the events the contract names for that step.
//!
//! | from | input | to | events |
//! | --- | --- | --- | --- |
//! | — | create, no method, on-session | `requires_payment_method` | — |
//! | — | create with a method | `processing` | — |
//! | `requires_payment_method` | card entered on the hosted page | `processing` | — |
//! | `requires_payment_method` | card refused before the network (invalid number, expired) | `requires_payment_method` (+`lastError`) | — |
//! | `processing` | approved | `succeeded` | `payment.succeeded` |
//! | `processing` | declined, card given at create | `failed` | `payment.failed` |
//! | `processing` | declined, card from the hosted page | `requires_payment_method` (+`lastError`) | — |
//! | `processing` | challenge required | `requires_action` (+`nextAction`) | `payment.requires_action` |
//! | `requires_action` | authentication completed | `processing` | — |
//! | `requires_action` | authentication failed | `failed` | `payment.failed` |
//! | `requires_payment_method`, `requires_action` | cancel, or expiry | `canceled` | `payment.canceled` |
//! | `requires_payment_method`, `requires_action` | locked (too many failed attempts from the buyer's address) | `canceled` (+`lastError` `too_many_attempts`) | `payment.canceled` |
//!
//! A failed hosted card attempt (a card refused before the network, a hosted card declined)
//! that brings the payment's failed attempts to the [`AttemptLimit`] locks the payment instead
//! of reopening it: `canceled` with `lastError.code = "too_many_attempts"` and
//! `payment.canceled`, in the same transition. A failed challenge fails the payment as before
//! (it is counted too, but `failed` is terminal already).
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use vinr_domain::ids::{CustomerId, PaymentId, PaymentMethodId};
//! use vinr_domain::money::{Currency, Money};
//! use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord, PaymentStatus};
//! use vinr_domain::event::EventType;
//!
//! let now = DateTime::<Utc>::UNIX_EPOCH;
//! let created = PaymentRecord::create(NewPayment {
//!     id: PaymentId::from_entropy(&[1; 24]),
//!     money: Money::from_minor(2500, Currency::parse("EUR").unwrap()).unwrap(),
//!     customer_id: Some(CustomerId::from_entropy(&[2; 24])),
//!     payment_method_id: Some(PaymentMethodId::from_entropy(&[3; 24])),
//!     off_session: true,
//!     description: Some("Order #4471".into()),
//!     metadata: Default::default(),
//!     save_payment_method: false,
//!     return_url: None,
//!     checkout_url: None,
//!     livemode: false,
//! }, now).unwrap();
//! assert_eq!(created.record.payment.status, PaymentStatus::Processing);
//! let done = created.record.apply(PaymentInput::Approved { method: None }, now).unwrap();
//! assert_eq!(done.record.payment.status, PaymentStatus::Succeeded);
//! assert_eq!(done.events, vec![EventType::PaymentSucceeded]);
//! ```

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::Metadata;
use crate::error::{CardFailure, LastError};
use crate::event::EventType;
use crate::ids::{AttemptId, CustomerId, PaymentId, PaymentMethodId};
use crate::limits::AttemptLimit;
use crate::method::PendingCard;
use crate::money::{Currency, Money};

/// How long a payment may wait for the buyer (a card, or a 3-D Secure challenge) before it
/// expires and is canceled.
pub const PAYMENT_EXPIRES_AFTER_HOURS: i64 = 24;

/// Where a payment stands. `succeeded`, `failed` and `canceled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for a card on the hosted page.
    RequiresPaymentMethod,
    /// Waiting for the buyer to authenticate (3-D Secure).
    RequiresAction,
    /// At the card network.
    Processing,
    /// Charged.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Canceled, or expired unpaid.
    Canceled,
}

impl PaymentStatus {
    /// Whether no transition leaves this state.
    pub fn is_terminal(&self) -> bool {
        match self {
            PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Canceled => true,
            PaymentStatus::RequiresPaymentMethod
            | PaymentStatus::RequiresAction
            | PaymentStatus::Processing => false,
        }
    }

    /// The status as text.
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }

    /// Every status.
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::RequiresPaymentMethod,
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
    ];

    /// Reads a status from its wire text.
    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a next action; a redirect to a hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NextActionType {
    /// Send the buyer to `url`.
    Redirect,
}

/// What the buyer must do next: open `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    /// Always `redirect`.
    #[serde(rename = "type")]
    pub kind: NextActionType,
    /// The hosted authentication page.
    pub url: String,
}

/// A payment, as the merchant sees it (`pay_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "payment", rename_all = "camelCase")]
#[non_exhaustive]
pub struct Payment {
    /// `pay_…`.
    pub id: PaymentId,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, upper-case.
    pub currency: Currency,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The paying customer, if any.
    pub customer_id: Option<CustomerId>,
    /// The method charged (or being charged).
    pub payment_method_id: Option<PaymentMethodId>,
    /// Whether the buyer is absent.
    pub off_session: bool,
    /// The merchant's description.
    pub description: Option<String>,
    /// The merchant's key-value pairs.
    pub metadata: Metadata,
    /// Whether a card entered on the hosted page is saved to the customer.
    pub save_payment_method: bool,
    /// Where the buyer goes after a hosted page.
    pub return_url: Option<String>,
    /// The hosted card page, for payments created without a method.
    pub checkout_url: Option<String>,
    /// What the buyer must do, in `requires_action`.
    pub next_action: Option<NextAction>,
    /// Why the last attempt did not succeed.
    pub last_error: Option<LastError>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it lives in live mode.
    pub livemode: bool,
    /// +1 on every change.
    pub version: u64,
}

impl Payment {
    /// The amount as money.
    pub fn money(&self) -> Option<Money> {
        Money::from_minor(self.amount, self.currency).ok()
    }
}

/// Where the card of the current attempt came from; it decides what a decline does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardSource {
    /// Named at create (a stored method): a decline fails the payment.
    Given,
    /// Typed on the hosted page: a decline leaves the payment open for another card.
    Hosted,
}

/// A payment as the store keeps it: the merchant's view plus the machine's own facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// What the merchant sees.
    pub payment: Payment,
    /// How many authorization attempts were started; the current one is `attempt`.
    pub attempt: u32,
    /// Where the card of the current attempt came from.
    pub card_source: Option<CardSource>,
    /// Whether an authorization was approved (the payment was charged).
    pub charged: bool,
    /// A card typed on the hosted page, vaulted, waiting for the network's verdict.
    pub pending_card: Option<PendingCard>,
    /// Whether the buyer passed the 3-D Secure challenge of the current attempt (so a
    /// recovery sweep knows to complete the challenge rather than authorize afresh).
    pub challenge_passed: bool,
    /// How many hosted card attempts failed (refused, declined, failed authentication).
    #[serde(default)]
    pub failed_attempts: u32,
}

/// A new payment, validated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// Its id.
    pub id: PaymentId,
    /// Amount and currency.
    pub money: Money,
    /// The paying customer.
    pub customer_id: Option<CustomerId>,
    /// The method to charge now; `None` for a hosted card page.
    pub payment_method_id: Option<PaymentMethodId>,
    /// Whether the buyer is absent.
    pub off_session: bool,
    /// The merchant's description.
    pub description: Option<String>,
    /// The merchant's key-value pairs.
    pub metadata: Metadata,
    /// Save a card entered on the hosted page to the customer.
    pub save_payment_method: bool,
    /// Where the buyer goes after a hosted page.
    pub return_url: Option<String>,
    /// The hosted card page, required when no method is given.
    pub checkout_url: Option<String>,
    /// Whether it lives in live mode.
    pub livemode: bool,
}

/// What happens to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentInput {
    /// A card was typed on the hosted page and vaulted.
    CardEntered {
        /// The vaulted card.
        card: PendingCard,
    },
    /// A card typed on the hosted page was refused before reaching the network (a number
    /// failing its checksum, a past expiry).
    CardRefused(CardFailure),
    /// The network approved the authorization.
    Approved {
        /// The method charged, when the card came from the hosted page.
        method: Option<PaymentMethodId>,
    },
    /// The network declined.
    Declined(CardFailure),
    /// The network wants the buyer to authenticate.
    ChallengeRequired {
        /// The hosted authentication page.
        url: String,
    },
    /// The buyer passed the challenge; the authorization goes on.
    AuthenticationCompleted,
    /// The buyer failed the challenge.
    AuthenticationFailed,
    /// The merchant canceled.
    Cancel,
    /// Too many failed card attempts came from the buyer's address: the link locks.
    Lock,
    /// Nobody finished the payment in time.
    Expire,
}

impl PaymentInput {
    /// A short name of the input, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentInput::CardEntered { .. } => "card_entered",
            PaymentInput::CardRefused(_) => "card_refused",
            PaymentInput::Approved { .. } => "approved",
            PaymentInput::Declined(_) => "declined",
            PaymentInput::ChallengeRequired { .. } => "challenge_required",
            PaymentInput::AuthenticationCompleted => "authentication_completed",
            PaymentInput::AuthenticationFailed => "authentication_failed",
            PaymentInput::Cancel => "cancel",
            PaymentInput::Lock => "lock",
            PaymentInput::Expire => "expire",
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The input does not apply in this state.
    #[error("a {status} object does not accept `{input}`")]
    NotAllowed {
        /// The current status, as text.
        status: &'static str,
        /// The refused input.
        input: &'static str,
    },
    /// An expiry asked for before the object's time was up.
    #[error("the object has not expired yet")]
    NotExpired,
    /// The object's time is up; only expiry applies now.
    #[error("the object has expired")]
    Expired,
    /// An off-session payment with no method.
    #[error("an off-session payment needs a payment method")]
    MethodRequired,
    /// A payment with no method and no hosted page to collect one.
    #[error("a payment without a method needs a checkout page")]
    CheckoutUrlRequired,
}

/// The outcome of a transition: the next record and the events it emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<R> {
    /// The record after the step; its version is one more than before.
    pub record: R,
    /// Exactly the events the contract names for this step.
    pub events: Vec<EventType>,
}

impl PaymentRecord {
    /// Creates a payment: `processing` with a method, `requires_payment_method` without.
    pub fn create(
        new: NewPayment,
        now: DateTime<Utc>,
    ) -> Result<Transition<PaymentRecord>, TransitionError> {
        let (status, attempt, card_source) = match &new.payment_method_id {
            Some(_) => (PaymentStatus::Processing, 1, Some(CardSource::Given)),
            None if new.off_session => return Err(TransitionError::MethodRequired),
            None if new.checkout_url.is_none() => return Err(TransitionError::CheckoutUrlRequired),
            None => (PaymentStatus::RequiresPaymentMethod, 0, None),
        };
        let payment = Payment {
            id: new.id,
            amount: new.money.minor(),
            currency: new.money.currency(),
            status,
            customer_id: new.customer_id,
            payment_method_id: new.payment_method_id,
            off_session: new.off_session,
            description: new.description,
            metadata: new.metadata,
            save_payment_method: new.save_payment_method,
            return_url: new.return_url,
            checkout_url: new.checkout_url,
            next_action: None,
            last_error: None,
            created: now,
            livemode: new.livemode,
            version: 1,
        };
        Ok(Transition {
            record: PaymentRecord {
                payment,
                attempt,
                card_source,
                charged: false,
                pending_card: None,
                challenge_passed: false,
                failed_attempts: 0,
            },
            events: Vec::new(),
        })
    }

    /// The id the network keys the current authorization attempt by.
    pub fn attempt_id(&self) -> AttemptId {
        AttemptId::new(self.payment.id.as_str(), self.attempt)
    }

    /// When an open payment expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.payment.created + Duration::hours(PAYMENT_EXPIRES_AFTER_HOURS)
    }

    /// Whether the payment waits for the buyer and its time is up.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.awaits_buyer() && now >= self.expires_at()
    }

    /// Whether the payment was locked after too many failed card attempts.
    pub fn is_locked(&self) -> bool {
        self.payment.status == PaymentStatus::Canceled
            && self
                .payment
                .last_error
                .as_ref()
                .is_some_and(|e| e.code == crate::error::LastErrorCode::TooManyAttempts)
    }

    /// Whether the payment waits for the buyer (a card or a challenge).
    pub fn awaits_buyer(&self) -> bool {
        matches!(
            self.payment.status,
            PaymentStatus::RequiresPaymentMethod | PaymentStatus::RequiresAction
        )
    }

    /// Applies one input under the default [`AttemptLimit`]. Pure: the same record, input and
    /// time always give the same result.
    pub fn apply(
        &self,
        input: PaymentInput,
        now: DateTime<Utc>,
    ) -> Result<Transition<PaymentRecord>, TransitionError> {
        self.apply_with_limit(input, now, AttemptLimit::DEFAULT)
    }

    /// Applies one input; a failed hosted card attempt that brings the failed attempts to
    /// `limit` locks the payment (see the module documentation). Pure.
    pub fn apply_with_limit(
        &self,
        input: PaymentInput,
        now: DateTime<Utc>,
        limit: AttemptLimit,
    ) -> Result<Transition<PaymentRecord>, TransitionError> {
        use PaymentStatus as S;
        let status = self.payment.status;
        let refuse = || TransitionError::NotAllowed {
            status: status.as_str(),
            input: input.name(),
        };
        if self.is_expired(now) && input != PaymentInput::Expire {
            return Err(TransitionError::Expired);
        }
        let mut next = self.clone();
        next.payment.version += 1;
        let events = match (status, &input) {
            (S::RequiresPaymentMethod, PaymentInput::CardEntered { card }) => {
                next.payment.status = S::Processing;
                next.attempt += 1;
                next.card_source = Some(CardSource::Hosted);
                next.pending_card = Some(card.clone());
                next.challenge_passed = false;
                next.payment.last_error = None;
                vec![]
            }
            (S::RequiresPaymentMethod, PaymentInput::CardRefused(failure)) => {
                next.payment.last_error = Some(LastError::from_card(*failure));
                next.count_failure(limit)
            }
            (S::Processing, PaymentInput::Approved { method }) => {
                next.payment.status = S::Succeeded;
                next.charged = true;
                next.pending_card = None;
                next.payment.next_action = None;
                next.payment.last_error = None;
                if let Some(m) = method {
                    next.payment.payment_method_id = Some(m.clone());
                }
                vec![EventType::PaymentSucceeded]
            }
            (S::Processing, PaymentInput::Declined(failure)) => {
                next.payment.last_error = Some(LastError::from_card(*failure));
                next.payment.next_action = None;
                match self.card_source {
                    Some(CardSource::Hosted) => {
                        next.payment.status = S::RequiresPaymentMethod;
                        next.pending_card = None;
                        next.count_failure(limit)
                    }
                    Some(CardSource::Given) | None => {
                        next.payment.status = S::Failed;
                        vec![EventType::PaymentFailed]
                    }
                }
            }
            (S::Processing, PaymentInput::ChallengeRequired { url }) => {
                next.payment.status = S::RequiresAction;
                next.payment.next_action = Some(NextAction {
                    kind: NextActionType::Redirect,
                    url: url.clone(),
                });
                next.payment.last_error = if self.payment.off_session {
                    Some(LastError::authentication_required())
                } else {
                    None
                };
                vec![EventType::PaymentRequiresAction]
            }
            (S::RequiresAction, PaymentInput::AuthenticationCompleted) => {
                next.payment.status = S::Processing;
                next.challenge_passed = true;
                next.payment.next_action = None;
                next.payment.last_error = None;
                vec![]
            }
            (S::RequiresAction, PaymentInput::AuthenticationFailed) => {
                next.failed_attempts = next.failed_attempts.saturating_add(1);
                next.payment.status = S::Failed;
                next.payment.next_action = None;
                next.pending_card = None;
                next.payment.last_error = Some(LastError::authentication_failed());
                vec![EventType::PaymentFailed]
            }
            (S::RequiresPaymentMethod | S::RequiresAction, PaymentInput::Cancel) => {
                next.payment.status = S::Canceled;
                next.payment.next_action = None;
                next.pending_card = None;
                vec![EventType::PaymentCanceled]
            }
            (S::RequiresPaymentMethod | S::RequiresAction, PaymentInput::Lock) => {
                next.lock();
                vec![EventType::PaymentCanceled]
            }
            (S::RequiresPaymentMethod | S::RequiresAction, PaymentInput::Expire) => {
                if now < self.expires_at() {
                    return Err(TransitionError::NotExpired);
                }
                next.payment.status = S::Canceled;
                next.payment.next_action = None;
                next.pending_card = None;
                vec![EventType::PaymentCanceled]
            }
            (
                S::RequiresPaymentMethod,
                PaymentInput::Approved { .. }
                | PaymentInput::Declined(_)
                | PaymentInput::ChallengeRequired { .. }
                | PaymentInput::AuthenticationCompleted
                | PaymentInput::AuthenticationFailed,
            )
            | (
                S::RequiresAction,
                PaymentInput::CardEntered { .. }
                | PaymentInput::CardRefused(_)
                | PaymentInput::Approved { .. }
                | PaymentInput::Declined(_)
                | PaymentInput::ChallengeRequired { .. },
            )
            | (
                S::Processing,
                PaymentInput::CardEntered { .. }
                | PaymentInput::CardRefused(_)
                | PaymentInput::AuthenticationCompleted
                | PaymentInput::AuthenticationFailed
                | PaymentInput::Cancel
                | PaymentInput::Lock
                | PaymentInput::Expire,
            )
            | (S::Succeeded | S::Failed | S::Canceled, _) => return Err(refuse()),
        };
        Ok(Transition {
            record: next,
            events,
        })
    }

    /// Counts a failed hosted card attempt on a payment back in `requires_payment_method` and
    /// returns its events: none, or `payment.canceled` when it reaches the limit and locks it.
    fn count_failure(&mut self, limit: AttemptLimit) -> Vec<EventType> {
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        if limit.reached_by(self.failed_attempts) {
            self.lock();
            vec![EventType::PaymentCanceled]
        } else {
            vec![]
        }
    }

    /// Cancels the payment as locked.
    fn lock(&mut self) {
        self.payment.status = PaymentStatus::Canceled;
        self.payment.next_action = None;
        self.payment.last_error = Some(LastError::too_many_attempts());
        self.pending_card = None;
    }
}

#[cfg(test)]
mod tests;
