//! The `CardNetwork` port: authorizations and 3-D Secure challenges.

use async_trait::async_trait;
use vinr_domain::card::{Cvc, Expiry, Pan};
use vinr_domain::error::CardFailure;
use vinr_domain::ids::AttemptId;
use vinr_domain::money::Money;

/// What an authorization is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationKind {
    /// Verifying a card being saved (nothing is charged).
    Setup,
    /// Charging with the buyer present.
    OnSession,
    /// Charging with the buyer absent.
    OffSession {
        /// Whether the card was saved through a completed 3-D Secure challenge.
        authenticated: bool,
    },
}

/// One authorization request. `Debug` never shows the number or the CVC (their types redact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The attempt this belongs to; asking again for the same attempt MUST give the same answer.
    pub attempt: AttemptId,
    /// The card number, opened from the vault for this call only.
    pub pan: Pan,
    /// The CVC, when the buyer just typed it; never stored.
    pub cvc: Option<Cvc>,
    /// The card's expiry.
    pub expiry: Expiry,
    /// The amount to charge; `None` for a setup's verification.
    pub amount: Option<Money>,
    /// Setup, on-session or off-session.
    pub kind: AuthorizationKind,
}

/// The network's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkAnswer {
    /// Approved (charged, for a payment).
    Approved,
    /// Refused.
    Declined(CardFailure),
    /// The buyer must pass a 3-D Secure challenge first.
    ChallengeRequired,
    /// The buyer failed the challenge.
    AuthenticationFailed,
}

/// Why the network could not answer. The attempt may or may not have reached it; asking again
/// under the same attempt id is always safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// No answer in time, or the connection failed.
    #[error("the card network is unreachable: {0}")]
    Unavailable(String),
    /// The attempt is unknown to the network (for challenge completion).
    #[error("the card network does not know attempt {0}")]
    UnknownAttempt(String),
}

/// Authorizes cards.
///
/// Contract:
/// - answers are keyed by [`AttemptId`]: `authorize` twice with one attempt id returns the first
///   answer and charges at most once;
/// - `complete_challenge` ends the challenge of an attempt that answered
///   [`NetworkAnswer::ChallengeRequired`]: with `passed == false` it answers
///   [`NetworkAnswer::AuthenticationFailed`]; with `true`, approved or declined; asking twice
///   gives the same answer;
/// - `attempt_result` tells the last answer given for an attempt, or `None` if the network
///   never saw it (used by the recovery sweep after a crash).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CardNetwork: Send + Sync + 'static {
    /// Authorizes (or verifies) a card.
    async fn authorize(&self, request: AuthorizationRequest)
    -> Result<NetworkAnswer, NetworkError>;
    /// Ends the 3-D Secure challenge of an attempt.
    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError>;
    /// The last answer for an attempt, if the network saw it.
    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError>;
}
