//! The setup (saving a card for later) and its state machine.
//!
//! | from | input | to | events |
//! | --- | --- | --- | --- |
//! | — | create | `requires_payment_method` | — |
//! | `requires_payment_method` | card verified | `succeeded` | `setup.succeeded` |
//! | `requires_payment_method` | card failed (decline, invalid) | `requires_payment_method` (+`lastError`) | `setup.failed` |
//! | `requires_payment_method` | challenge required | `requires_action` | — |
//! | `requires_action` | authentication completed, card verified | `succeeded` | `setup.succeeded` |
//! | `requires_action` | authentication completed, then declined | `requires_payment_method` (+`lastError`) | `setup.failed` |
//! | `requires_action` | authentication failed | `requires_payment_method` (+`lastError` `authentication_failed`) | `setup.failed` |
//! | `requires_payment_method`, `requires_action` | cancel | `canceled` | `setup.canceled` |
//! | `requires_payment_method`, `requires_action` | locked (too many failed attempts from the buyer's address) | `canceled` (+`lastError` `too_many_attempts`) | `setup.canceled` |
//! | `requires_payment_method`, `requires_action` | expiry (24 h after creation) | `expired` | — |
//!
//! A failed card attempt (the three rows ending in `setup.failed`) that brings the setup's
//! failed attempts to the [`AttemptLimit`] locks it instead of reopening it: `canceled` with
//! `lastError.code = "too_many_attempts"`, events `setup.failed` then `setup.canceled`, in the
//! same transition (so the version goes up by one).
//!
//! The `payment_method.attached` (or `updated`) event of a succeeding setup belongs to the
//! method, and the engine emits it beside `setup.succeeded`.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CardFailure, LastError};
use crate::event::EventType;
use crate::ids::{AttemptId, CustomerId, PaymentMethodId, SetupId};
use crate::limits::AttemptLimit;
use crate::method::PendingCard;
use crate::payment::{Transition, TransitionError};

/// How long a setup link stays usable.
pub const SETUP_EXPIRES_AFTER_HOURS: i64 = 24;

/// Where a setup stands. `succeeded`, `canceled` and `expired` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupStatus {
    /// Waiting for a card.
    RequiresPaymentMethod,
    /// Waiting for the buyer to authenticate.
    RequiresAction,
    /// The card was saved.
    Succeeded,
    /// Canceled by the merchant.
    Canceled,
    /// Nobody finished it within 24 hours.
    Expired,
}

impl SetupStatus {
    /// Whether no transition leaves this state.
    pub fn is_terminal(&self) -> bool {
        match self {
            SetupStatus::Succeeded | SetupStatus::Canceled | SetupStatus::Expired => true,
            SetupStatus::RequiresPaymentMethod | SetupStatus::RequiresAction => false,
        }
    }

    /// The status as text.
    pub fn as_str(&self) -> &'static str {
        match self {
            SetupStatus::RequiresPaymentMethod => "requires_payment_method",
            SetupStatus::RequiresAction => "requires_action",
            SetupStatus::Succeeded => "succeeded",
            SetupStatus::Canceled => "canceled",
            SetupStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for SetupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setup, as the merchant sees it (`seti_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "setup", rename_all = "camelCase")]
#[non_exhaustive]
pub struct Setup {
    /// `seti_…`.
    pub id: SetupId,
    /// The customer the card is saved to.
    pub customer_id: CustomerId,
    /// Where it stands.
    pub status: SetupStatus,
    /// The hosted card page to send the buyer to.
    pub checkout_url: String,
    /// Where the buyer goes afterwards.
    pub return_url: String,
    /// The saved method, once succeeded.
    pub payment_method_id: Option<PaymentMethodId>,
    /// Why the last card attempt failed.
    pub last_error: Option<LastError>,
    /// When the link stops working.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it lives in live mode.
    pub livemode: bool,
    /// +1 on every change.
    pub version: u64,
}

/// A setup as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRecord {
    /// What the merchant sees.
    pub setup: Setup,
    /// How many card attempts were made; the current one is `attempt`.
    pub attempt: u32,
    /// The card waiting for its 3-D Secure challenge.
    pub pending_card: Option<PendingCard>,
    /// How many card attempts failed (declined, invalid, failed authentication).
    #[serde(default)]
    pub failed_attempts: u32,
}

/// What happens to a setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupInput {
    /// A card was typed and the network accepted it without a challenge.
    CardVerified {
        /// The method it was saved as.
        method: PaymentMethodId,
    },
    /// A card was typed and refused (invalid, expired, declined).
    CardFailed(CardFailure),
    /// A card was typed and the network wants a challenge.
    ChallengeRequired {
        /// The vaulted card, kept until the challenge ends.
        card: PendingCard,
    },
    /// The buyer passed the challenge and the network accepted the card.
    AuthenticationCompleted {
        /// The method it was saved as.
        method: PaymentMethodId,
    },
    /// The buyer passed the challenge but the network then declined.
    AuthenticationDeclined(CardFailure),
    /// The buyer failed the challenge.
    AuthenticationFailed,
    /// The merchant canceled.
    Cancel,
    /// Too many failed card attempts came from the buyer's address: the link locks.
    Lock,
    /// The 24 hours are up.
    Expire,
}

impl SetupInput {
    /// A short name of the input, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            SetupInput::CardVerified { .. } => "card_verified",
            SetupInput::CardFailed(_) => "card_failed",
            SetupInput::ChallengeRequired { .. } => "challenge_required",
            SetupInput::AuthenticationCompleted { .. } => "authentication_completed",
            SetupInput::AuthenticationDeclined(_) => "authentication_declined",
            SetupInput::AuthenticationFailed => "authentication_failed",
            SetupInput::Cancel => "cancel",
            SetupInput::Lock => "lock",
            SetupInput::Expire => "expire",
        }
    }
}

impl SetupRecord {
    /// A new setup in `requires_payment_method`, expiring 24 hours from `now`.
    pub fn create(
        id: SetupId,
        customer_id: CustomerId,
        checkout_url: String,
        return_url: String,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> SetupRecord {
        SetupRecord {
            setup: Setup {
                id,
                customer_id,
                status: SetupStatus::RequiresPaymentMethod,
                checkout_url,
                return_url,
                payment_method_id: None,
                last_error: None,
                expires_at: now + Duration::hours(SETUP_EXPIRES_AFTER_HOURS),
                created: now,
                livemode,
                version: 1,
            },
            attempt: 0,
            pending_card: None,
            failed_attempts: 0,
        }
    }

    /// The id the network keys the current card attempt by.
    pub fn attempt_id(&self) -> AttemptId {
        AttemptId::new(self.setup.id.as_str(), self.attempt)
    }

    /// The id the next card attempt will have.
    pub fn next_attempt_id(&self) -> AttemptId {
        AttemptId::new(self.setup.id.as_str(), self.attempt + 1)
    }

    /// Whether the setup was locked after too many failed card attempts.
    pub fn is_locked(&self) -> bool {
        self.setup.status == SetupStatus::Canceled
            && self
                .setup
                .last_error
                .as_ref()
                .is_some_and(|e| e.code == crate::error::LastErrorCode::TooManyAttempts)
    }

    /// Whether the setup is open and its time is up.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        !self.setup.status.is_terminal() && now >= self.setup.expires_at
    }

    /// Applies one input under the default [`AttemptLimit`]. Pure: the same record, input and
    /// time always give the same result.
    pub fn apply(
        &self,
        input: SetupInput,
        now: DateTime<Utc>,
    ) -> Result<Transition<SetupRecord>, TransitionError> {
        self.apply_with_limit(input, now, AttemptLimit::DEFAULT)
    }

    /// Applies one input; a failed card attempt that brings the failed attempts to `limit`
    /// locks the setup (see the module documentation). Pure.
    pub fn apply_with_limit(
        &self,
        input: SetupInput,
        now: DateTime<Utc>,
        limit: AttemptLimit,
    ) -> Result<Transition<SetupRecord>, TransitionError> {
        use SetupStatus as S;
        let status = self.setup.status;
        let refuse = || TransitionError::NotAllowed {
            status: status.as_str(),
            input: input.name(),
        };
        if self.is_expired(now) && input != SetupInput::Expire {
            return Err(TransitionError::Expired);
        }
        let mut next = self.clone();
        next.setup.version += 1;
        let events = match (status, &input) {
            (S::RequiresPaymentMethod, SetupInput::CardVerified { method }) => {
                next.attempt += 1;
                next.setup.status = S::Succeeded;
                next.setup.payment_method_id = Some(method.clone());
                next.setup.last_error = None;
                vec![EventType::SetupSucceeded]
            }
            (S::RequiresPaymentMethod, SetupInput::CardFailed(failure)) => {
                next.attempt += 1;
                next.setup.last_error = Some(LastError::from_card(*failure));
                next.count_failure(limit)
            }
            (S::RequiresPaymentMethod, SetupInput::ChallengeRequired { card }) => {
                next.attempt += 1;
                next.setup.status = S::RequiresAction;
                next.setup.last_error = None;
                next.pending_card = Some(card.clone());
                vec![]
            }
            (S::RequiresAction, SetupInput::AuthenticationCompleted { method }) => {
                next.setup.status = S::Succeeded;
                next.setup.payment_method_id = Some(method.clone());
                next.pending_card = None;
                vec![EventType::SetupSucceeded]
            }
            (S::RequiresAction, SetupInput::AuthenticationDeclined(failure)) => {
                next.setup.status = S::RequiresPaymentMethod;
                next.setup.last_error = Some(LastError::from_card(*failure));
                next.pending_card = None;
                next.count_failure(limit)
            }
            (S::RequiresAction, SetupInput::AuthenticationFailed) => {
                next.setup.status = S::RequiresPaymentMethod;
                next.setup.last_error = Some(LastError::authentication_failed());
                next.pending_card = None;
                next.count_failure(limit)
            }
            (S::RequiresPaymentMethod | S::RequiresAction, SetupInput::Cancel) => {
                next.setup.status = S::Canceled;
                next.pending_card = None;
                vec![EventType::SetupCanceled]
            }
            (S::RequiresPaymentMethod | S::RequiresAction, SetupInput::Lock) => {
                next.lock();
                vec![EventType::SetupCanceled]
            }
            (S::RequiresPaymentMethod | S::RequiresAction, SetupInput::Expire) => {
                if now < self.setup.expires_at {
                    return Err(TransitionError::NotExpired);
                }
                next.setup.status = S::Expired;
                next.pending_card = None;
                vec![]
            }
            (
                S::RequiresPaymentMethod,
                SetupInput::AuthenticationCompleted { .. }
                | SetupInput::AuthenticationDeclined(_)
                | SetupInput::AuthenticationFailed,
            )
            | (
                S::RequiresAction,
                SetupInput::CardVerified { .. }
                | SetupInput::CardFailed(_)
                | SetupInput::ChallengeRequired { .. },
            )
            | (S::Succeeded | S::Canceled | S::Expired, _) => return Err(refuse()),
        };
        Ok(Transition {
            record: next,
            events,
        })
    }

    /// Counts a failed card attempt (the record already shows it) and returns its events:
    /// `setup.failed`, and `setup.canceled` when it reaches the limit and locks the setup.
    fn count_failure(&mut self, limit: AttemptLimit) -> Vec<EventType> {
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        if limit.reached_by(self.failed_attempts) {
            self.lock();
            vec![EventType::SetupFailed, EventType::SetupCanceled]
        } else {
            vec![EventType::SetupFailed]
        }
    }

    /// Cancels the setup as locked.
    fn lock(&mut self) {
        self.setup.status = SetupStatus::Canceled;
        self.setup.last_error = Some(LastError::too_many_attempts());
        self.pending_card = None;
    }
}

#[cfg(test)]
mod tests;
