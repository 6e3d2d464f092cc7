//! The buyer's steps on the hosted pages as the server sees them, and locking a link.
//!
//! [`HostedApi`](vinr_ports::api::HostedApi) answers what the page does next; the server also
//! needs to know whether the step was a *failed card attempt* (to count failures per client
//! address) and a way to lock a link whose client went over its limit. Both live here, over
//! the same code paths as the trait.
//!
//! A link locks in two ways, with the same result (`canceled`, `lastError.code =
//! "too_many_attempts"`, event `setup.canceled` or `payment.canceled`, version +1, the event in
//! the same write set): by its own failed attempts reaching
//! [`EngineConfig::hosted_max_attempts`](crate::EngineConfig::hosted_max_attempts), or by
//! [`Engine::lock_hosted_link`]. Its pages then answer `410`.

use vinr_domain::ids::{PaymentId, SetupId};
use vinr_ports::Error;
use vinr_ports::params::{CardEntry, ChallengeOutcome, HostedOutcome};

use crate::Engine;

/// The setup or payment whose hosted page the buyer is on. Its id is the capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostedLink {
    /// `/hosted/setup/{seti}` (or its challenge page).
    Setup(SetupId),
    /// `/hosted/pay/{pay}` (or its challenge page).
    Payment(PaymentId),
}

/// What a buyer's step on a hosted page came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedStep {
    /// What the page does next, as [`HostedApi`](vinr_ports::api::HostedApi) answers it;
    /// `Err(Error::Gone)` when this step locked the link.
    pub outcome: Result<HostedOutcome, Error>,
    /// Whether the step was a failed card attempt (a card refused, declined, or a failed
    /// challenge). Form mistakes that never reached a card check (an expiry that is not a
    /// date, an oversized field) are not.
    pub failed_attempt: bool,
}

impl HostedStep {
    /// A step that failed before it did anything.
    pub(crate) fn refused(error: Error) -> Self {
        Self {
            outcome: Err(error),
            failed_attempt: false,
        }
    }

    /// A step that did not fail a card attempt.
    pub(crate) fn ok(outcome: HostedOutcome) -> Self {
        Self {
            outcome: Ok(outcome),
            failed_attempt: false,
        }
    }
}

/// The answer for a link this step (or an earlier one) locked.
pub(crate) fn locked() -> Error {
    Error::Gone {
        message:
            "Too many failed card attempts: this link is locked. Ask the merchant for a new one."
                .to_owned(),
    }
}

/// Flattens the retry loop's answer.
pub(crate) fn step_of(result: Result<HostedStep, Error>) -> HostedStep {
    result.unwrap_or_else(HostedStep::refused)
}

/// A step that failed a card attempt: `outcome`, or the locked answer when it locked the link.
pub(crate) fn failed_step(outcome: HostedOutcome, locked_now: bool) -> HostedStep {
    HostedStep {
        outcome: if locked_now {
            Err(locked())
        } else {
            Ok(outcome)
        },
        failed_attempt: true,
    }
}

impl Engine {
    /// The buyer submitted a card on a link's card page.
    pub async fn submit_hosted_card(&self, link: &HostedLink, card: CardEntry) -> HostedStep {
        match link {
            HostedLink::Setup(id) => self.submit_setup_card_step(id, card).await,
            HostedLink::Payment(id) => self.submit_payment_card_step(id, card).await,
        }
    }

    /// The buyer answered a link's 3-D Secure challenge.
    pub async fn answer_hosted_challenge(
        &self,
        link: &HostedLink,
        outcome: ChallengeOutcome,
    ) -> HostedStep {
        match link {
            HostedLink::Setup(id) => self.authenticate_setup_step(id, outcome).await,
            HostedLink::Payment(id) => self.authenticate_payment_step(id, outcome).await,
        }
    }

    /// Locks a link that still waits for the buyer: `canceled` with `lastError.code =
    /// "too_many_attempts"` and its `setup.canceled` or `payment.canceled` event. Returns
    /// whether this call locked it (`false`: it no longer waited for the buyer). `NotFound`
    /// for an unknown id.
    pub async fn lock_hosted_link(&self, link: &HostedLink) -> Result<bool, Error> {
        match link {
            HostedLink::Setup(id) => self.lock_setup_retrying(id).await,
            HostedLink::Payment(id) => self.lock_payment_retrying(id).await,
        }
    }
}
