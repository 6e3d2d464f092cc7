//! [`SandboxNetwork`]: the card network of the sandbox.
//!
//! It answers from the test-card table of `api.md` §4 ([`vinr_domain::testcards`]) and adds what
//! the pure table cannot: memory.
//! Every answer is remembered by attempt id, so a caller that asks again (after a timeout, or
//! from the recovery sweep after a crash) gets the first answer and is never charged twice.
//! Counters and fault injection let tests of the engine check exactly that.
//!
//! A real network remembers its answers across our crashes; an in-memory one does not. With
//! [`SandboxNetwork::with_journal`] the memory is also appended to a file (see
//! [`crate::journal`]) and replayed when the file is opened again, so a restarted server's
//! recovery sweep finds the answers the network gave before the crash, and a crash test can
//! count the charges made across it ([`SandboxNetwork::from_journal`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use vinr_domain::error::{CardFailure, DeclineCode};
use vinr_domain::ids::AttemptId;
use vinr_domain::testcards::{Context, Decision, decide, lookup};
use vinr_ports::network::{
    AuthorizationKind, AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError,
};

use crate::journal::{Journal, JournalError};

/// The message of every injected [`NetworkError::Unavailable`].
const INJECTED: &str = "injected";

/// What the network remembers of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptState {
    /// Answered [`NetworkAnswer::ChallengeRequired`]; waiting for the buyer.
    Challenging {
        /// The answer after a passed challenge: approved (`None`) or refused.
        after: Option<CardFailure>,
        /// Whether an approval would charge money (the attempt carried an amount).
        charges: bool,
    },
    /// Answered for good.
    Final {
        /// The answer.
        answer: NetworkAnswer,
        /// Whether money was charged (approved with an amount).
        charged: bool,
    },
}

impl AttemptState {
    /// The state of an attempt the network has not seen before.
    fn first(request: &AuthorizationRequest) -> Self {
        let charges = request.amount.is_some();
        let Some(card) = lookup(request.pan.expose()) else {
            // The engine refuses non-test cards before calling; a stray one is simply declined.
            return Self::Final {
                answer: NetworkAnswer::Declined(CardFailure::declined(DeclineCode::GenericDecline)),
                charged: false,
            };
        };
        match decide(card, context(request.kind)) {
            Decision::Approve => Self::Final {
                answer: NetworkAnswer::Approved,
                charged: charges,
            },
            Decision::Refuse(failure) => Self::Final {
                answer: NetworkAnswer::Declined(failure),
                charged: false,
            },
            Decision::Challenge { after } => Self::Challenging { after, charges },
        }
    }

    /// The last answer given for this attempt.
    fn answer(self) -> NetworkAnswer {
        match self {
            Self::Challenging { .. } => NetworkAnswer::ChallengeRequired,
            Self::Final { answer, .. } => answer,
        }
    }

    /// Whether this attempt charged money.
    pub(crate) fn charged(self) -> bool {
        match self {
            Self::Challenging { .. } => false,
            Self::Final { charged, .. } => charged,
        }
    }
}

/// The test-card table's context for an authorization kind.
fn context(kind: AuthorizationKind) -> Context {
    match kind {
        AuthorizationKind::Setup => Context::Setup,
        AuthorizationKind::OnSession => Context::OnSession,
        AuthorizationKind::OffSession { authenticated } => Context::OffSession { authenticated },
    }
}

/// The shared memory of a [`SandboxNetwork`] and its clones.
#[derive(Debug, Default)]
struct Ledger {
    /// Every attempt seen, with its state.
    attempts: HashMap<AttemptId, AttemptState>,
    /// Calls still to fail before reaching the network.
    fail_next: u32,
    /// `authorize` calls still to fail after the network decided.
    fail_after_recording: u32,
    /// Where every new or changed attempt is appended before it is answered, if anywhere.
    journal: Option<Journal>,
}

impl Ledger {
    /// Consumes one injected "unreachable" failure, if any is pending.
    fn take_failure(&mut self) -> Result<(), NetworkError> {
        take(&mut self.fail_next)
    }

    fn authorize(&mut self, request: &AuthorizationRequest) -> Result<NetworkAnswer, NetworkError> {
        self.take_failure()?;
        let state = match self.attempts.get(&request.attempt) {
            Some(state) => *state,
            None => {
                let state = AttemptState::first(request);
                self.record(&request.attempt, state)?;
                state
            }
        };
        take(&mut self.fail_after_recording)?;
        Ok(state.answer())
    }

    /// Remembers `state` for `attempt`: first in the journal, if there is one (a failed append
    /// answers [`NetworkError::Unavailable`] and leaves the memory as it was, as if the
    /// request never reached the network), then in memory.
    fn record(&mut self, attempt: &AttemptId, state: AttemptState) -> Result<(), NetworkError> {
        if let Some(journal) = &mut self.journal {
            journal
                .append(attempt, state)
                .map_err(|e| NetworkError::Unavailable(format!("the network journal: {e}")))?;
        }
        self.attempts.insert(attempt.clone(), state);
        Ok(())
    }

    fn complete_challenge(
        &mut self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.take_failure()?;
        let state = *self
            .attempts
            .get(attempt)
            .ok_or_else(|| NetworkError::UnknownAttempt(attempt.to_string()))?;
        match state {
            AttemptState::Final { answer, .. } => Ok(answer),
            AttemptState::Challenging { after, charges } => {
                let answer = match (passed, after) {
                    (false, _) => NetworkAnswer::AuthenticationFailed,
                    (true, None) => NetworkAnswer::Approved,
                    (true, Some(failure)) => NetworkAnswer::Declined(failure),
                };
                self.record(
                    attempt,
                    AttemptState::Final {
                        answer,
                        charged: charges && answer == NetworkAnswer::Approved,
                    },
                )?;
                Ok(answer)
            }
        }
    }

    fn attempt_result(
        &mut self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.take_failure()?;
        Ok(self.attempts.get(attempt).map(|state| state.answer()))
    }
}

/// Counts one injected failure down: `Err` if one was pending.
fn take(pending: &mut u32) -> Result<(), NetworkError> {
    if *pending == 0 {
        return Ok(());
    }
    *pending -= 1;
    Err(NetworkError::Unavailable(INJECTED.to_owned()))
}

/// The sandbox [`CardNetwork`]: answers from the test-card table, one answer per attempt id.
///
/// - `authorize` decides a new attempt with [`vinr_domain::testcards::decide`] and remembers the
///   answer; asking again with the same attempt id returns the first answer unchanged (even if
///   the request differs) and charges nothing more. A number outside the table is declined
///   `generic_decline`. The CVC and the expiry are not checked: the table alone decides.
/// - A challenge stays open until [`complete_challenge`](CardNetwork::complete_challenge); a
///   passed one is approved or declined as the table says, a failed one answers
///   [`NetworkAnswer::AuthenticationFailed`]. Completing a finished attempt repeats its answer.
/// - Setups (no amount) are verified, never charged.
///
/// Cloning is cheap and every clone shares the same memory, so a test can keep a handle to
/// count charges while the engine owns another.
///
/// ```
/// use vinr_domain::card::{Expiry, Pan};
/// use vinr_domain::ids::AttemptId;
/// use vinr_domain::money::{Currency, Money};
/// use vinr_ports::network::{AuthorizationKind, AuthorizationRequest, CardNetwork, NetworkAnswer};
/// use vinr_sandbox::SandboxNetwork;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let network = SandboxNetwork::new();
/// let request = AuthorizationRequest {
///     attempt: AttemptId::new("pay_x", 1),
///     pan: Pan::parse("4242 4242 4242 4242")?,
///     cvc: None,
///     expiry: Expiry::new(12, 2034)?,
///     amount: Some(Money::from_minor(2500, Currency::EUR)?),
///     kind: AuthorizationKind::OffSession { authenticated: false },
/// };
/// assert_eq!(network.authorize(request.clone()).await?, NetworkAnswer::Approved);
/// assert_eq!(network.authorize(request).await?, NetworkAnswer::Approved);
/// assert_eq!(network.approved_charges(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SandboxNetwork {
    ledger: Arc<Mutex<Ledger>>,
}

impl SandboxNetwork {
    /// A network that has seen no attempt.
    pub fn new() -> Self {
        Self::default()
    }

    /// A network whose memory is also kept in the append-only journal at `path`: the file is
    /// created if missing, every attempt it holds is replayed into memory, and from then on
    /// each attempt the network decides or changes (a new answer, an open challenge, a
    /// completed one) is appended as one line *before* the answer is given.
    ///
    /// This is the network being an external party: a real card network remembers its
    /// answers when our server crashes, so a restarted server's recovery sweep must find them
    /// there and never charge twice. Lines are written with a plain `write` and no `fsync`: a
    /// `SIGKILL` of the process keeps what is in the kernel's page cache, which is the crash a
    /// test of the server makes; a power loss is out of scope for a sandbox. A torn last line
    /// (a write cut short) is dropped on open, since its answer was never given.
    ///
    /// Only one process may have a journal open at a time (nothing locks the file); the
    /// clones of the returned network share it.
    ///
    /// # Errors
    /// [`JournalError`] if the file cannot be opened, read or repaired, or holds a line that is
    /// not a journal entry.
    pub fn with_journal(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let (journal, attempts) = Journal::open(path.as_ref())?;
        Ok(Self::with_ledger(Ledger {
            attempts,
            journal: Some(journal),
            ..Ledger::default()
        }))
    }

    /// A network holding what the journal at `path` remembers, without writing to it: for
    /// counting, after a run, the charges a server made through
    /// [`with_journal`](Self::with_journal) (see [`charged_attempts`](Self::charged_attempts)).
    /// Answers it gives from then on are kept in memory only. A torn last line is ignored.
    ///
    /// # Errors
    /// [`JournalError`] if the file cannot be read or holds a line that is not a journal entry.
    pub fn from_journal(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let attempts = Journal::read(path.as_ref())?;
        Ok(Self::with_ledger(Ledger {
            attempts,
            ..Ledger::default()
        }))
    }

    fn with_ledger(ledger: Ledger) -> Self {
        Self {
            ledger: Arc::new(Mutex::new(ledger)),
        }
    }

    /// Every attempt that charged money, in id order.
    pub fn charged_attempts(&self) -> Vec<AttemptId> {
        let mut charged: Vec<AttemptId> = self
            .lock()
            .attempts
            .iter()
            .filter(|(_, state)| state.charged())
            .map(|(attempt, _)| attempt.clone())
            .collect();
        charged.sort();
        charged
    }

    /// How many attempts charged money: approved, with an amount (setups only verify).
    pub fn approved_charges(&self) -> u64 {
        let ledger = self.lock();
        count(
            ledger
                .attempts
                .values()
                .filter(|state| state.charged())
                .count(),
        )
    }

    /// How many distinct attempts the network has seen.
    pub fn authorizations(&self) -> u64 {
        count(self.lock().attempts.len())
    }

    /// How many times `attempt` charged money: 0 or 1.
    pub fn charges_for(&self, attempt: &AttemptId) -> u64 {
        let charged = self
            .lock()
            .attempts
            .get(attempt)
            .is_some_and(|state| state.charged());
        u64::from(charged)
    }

    /// Makes the next `n` calls of any [`CardNetwork`] method fail with
    /// [`NetworkError::Unavailable`] before reaching the network: nothing is recorded or charged.
    ///
    /// Replaces any count still pending; `fail_next(0)` cancels. These failures come before
    /// those of [`fail_next_after_recording`](Self::fail_next_after_recording).
    pub fn fail_next(&self, n: u32) {
        self.lock().fail_next = n;
    }

    /// Makes the next `n` `authorize` calls reach the network (the attempt is recorded, decided
    /// and, if approved with an amount, charged) and then fail with
    /// [`NetworkError::Unavailable`], as if the answer were lost on the way back.
    ///
    /// The caller recovers by asking [`attempt_result`](CardNetwork::attempt_result) or by
    /// authorizing again under the same attempt id. Replaces any count still pending.
    pub fn fail_next_after_recording(&self, n: u32) {
        self.lock().fail_after_recording = n;
    }

    /// The ledger; a poisoned lock is taken over, since no update can be left half done (every
    /// update is a single assignment after all checks).
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A count as `u64`; a `usize` always fits on the platforms Rust supports.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl CardNetwork for SandboxNetwork {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.lock().authorize(&request)
    }

    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.lock().complete_challenge(attempt, passed)
    }

    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.lock().attempt_result(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_domain::card::{Cvc, Expiry, Pan};
    use vinr_domain::error::CardErrorCode;
    use vinr_domain::money::{Currency, Money};
    use vinr_domain::testcards::TEST_CARDS;

    use NetworkAnswer::{
        Approved as A, AuthenticationFailed, ChallengeRequired as C, Declined as D,
    };

    const SETUP: AuthorizationKind = AuthorizationKind::Setup;
    const ON: AuthorizationKind = AuthorizationKind::OnSession;
    const OFF: AuthorizationKind = AuthorizationKind::OffSession {
        authenticated: false,
    };
    const OFF_AUTH: AuthorizationKind = AuthorizationKind::OffSession {
        authenticated: true,
    };
    const KINDS: [AuthorizationKind; 4] = [SETUP, ON, OFF, OFF_AUTH];

    fn request(attempt: &AttemptId, number: &str, kind: AuthorizationKind) -> AuthorizationRequest {
        let cvc = match kind {
            AuthorizationKind::Setup | AuthorizationKind::OnSession => {
                Some(Cvc::parse("123").unwrap())
            }
            AuthorizationKind::OffSession { .. } => None,
        };
        let amount = match kind {
            AuthorizationKind::Setup => None,
            AuthorizationKind::OnSession | AuthorizationKind::OffSession { .. } => {
                Some(Money::from_minor(2500, Currency::EUR).unwrap())
            }
        };
        AuthorizationRequest {
            attempt: attempt.clone(),
            pan: Pan::parse(number).unwrap(),
            cvc,
            expiry: Expiry::new(12, 2034).unwrap(),
            amount,
            kind,
        }
    }

    fn declined(reason: DeclineCode) -> NetworkAnswer {
        D(CardFailure::declined(reason))
    }

    fn failed(code: CardErrorCode) -> NetworkAnswer {
        D(CardFailure::of(code))
    }

    /// Authorizes `number` once per kind (setup, on-session, off-session, off-session after 3DS),
    /// each under a fresh attempt on a fresh network, and checks answers, memory and charges.
    async fn check(number: &str, expected: [NetworkAnswer; 4]) {
        for (kind, want) in KINDS.into_iter().zip(expected) {
            let network = SandboxNetwork::new();
            let attempt = AttemptId::new("pay_t", 1);
            let got = network
                .authorize(request(&attempt, number, kind))
                .await
                .unwrap();
            assert_eq!(got, want, "{number} {kind:?}");
            assert_eq!(
                network.attempt_result(&attempt).await.unwrap(),
                Some(want),
                "{number} {kind:?}"
            );
            assert_eq!(network.authorizations(), 1);
            let charged = u64::from(want == A && kind != SETUP);
            assert_eq!(network.approved_charges(), charged, "{number} {kind:?}");
            assert_eq!(network.charges_for(&attempt), charged, "{number} {kind:?}");
        }
    }

    #[tokio::test]
    async fn the_whole_test_card_table() {
        let generic = declined(DeclineCode::GenericDecline);
        let funds = declined(DeclineCode::InsufficientFunds);
        for n in [
            "4242424242424242",
            "5555555555554444",
            "378282246310005",
            "4000000000003055",
        ] {
            check(n, [A, A, A, A]).await;
        }
        check("4000000000000002", [generic; 4]).await;
        check("4000000000009995", [funds; 4]).await;
        check("4000000000000069", [failed(CardErrorCode::ExpiredCard); 4]).await;
        let cvc = failed(CardErrorCode::IncorrectCvc);
        check("4000000000000127", [cvc, cvc, A, A]).await;
        check("4000000000003220", [C; 4]).await;
        check("4000002500003155", [C, C, C, A]).await;
        check("4000000000000341", [A, generic, generic, generic]).await;
        check("4000000000009987", [declined(DeclineCode::LostCard); 4]).await;
        check("4000000000009979", [declined(DeclineCode::StolenCard); 4]).await;
        check(
            "4000000000000119",
            [failed(CardErrorCode::ProcessingError); 4],
        )
        .await;
        check("4000002760003184", [C; 4]).await;
        check("4000008260003178", [C; 4]).await;
        check("4000008400001629", [C; 4]).await;
        assert_eq!(TEST_CARDS.len(), 17, "a new test card needs a row above");
    }

    #[tokio::test]
    async fn incorrect_cvc_card_without_a_cvc_is_still_decided_by_the_table() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        let mut req = request(&attempt, "4000000000000127", ON);
        req.cvc = None;
        assert_eq!(
            network.authorize(req).await.unwrap(),
            failed(CardErrorCode::IncorrectCvc)
        );
    }

    #[tokio::test]
    async fn a_card_outside_the_table_is_declined() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        let got = network
            .authorize(request(&attempt, "4111111111111111", ON))
            .await
            .unwrap();
        assert_eq!(got, declined(DeclineCode::GenericDecline));
        assert_eq!(network.authorizations(), 1);
        assert_eq!(network.approved_charges(), 0);
    }

    #[tokio::test]
    async fn same_attempt_twice_gives_the_first_answer_and_one_charge() {
        let network = SandboxNetwork::new();
        let handle = network.clone();
        let attempt = AttemptId::new("pay_t", 1);
        let req = request(&attempt, "4242424242424242", ON);
        assert_eq!(network.authorize(req.clone()).await.unwrap(), A);
        assert_eq!(network.authorize(req).await.unwrap(), A);
        // Even a different card under the same attempt id repeats the first answer.
        let other = request(&attempt, "4000000000000002", ON);
        assert_eq!(network.authorize(other).await.unwrap(), A);
        assert_eq!(handle.approved_charges(), 1);
        assert_eq!(handle.authorizations(), 1);
        assert_eq!(handle.charges_for(&attempt), 1);

        let second = AttemptId::new("pay_t", 2);
        assert_eq!(
            network
                .authorize(request(&second, "4242424242424242", OFF))
                .await
                .unwrap(),
            A
        );
        assert_eq!(handle.approved_charges(), 2);
        assert_eq!(handle.authorizations(), 2);
        assert_eq!(handle.charges_for(&second), 1);
        assert_eq!(handle.charges_for(&AttemptId::new("pay_t", 3)), 0);
    }

    #[tokio::test]
    async fn a_declined_attempt_stays_declined() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        let req = request(&attempt, "4000000000009995", ON);
        let funds = declined(DeclineCode::InsufficientFunds);
        assert_eq!(network.authorize(req.clone()).await.unwrap(), funds);
        assert_eq!(network.authorize(req).await.unwrap(), funds);
        assert_eq!(network.authorizations(), 1);
        assert_eq!(network.approved_charges(), 0);
    }

    /// Opens a challenge for `number` on-session, completes it with `passed`, checks the answer,
    /// that a second completion repeats it, and the charge count.
    async fn check_challenge(number: &str, passed: bool, want: NetworkAnswer) {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        assert_eq!(
            network
                .authorize(request(&attempt, number, ON))
                .await
                .unwrap(),
            C,
            "{number}"
        );
        assert_eq!(
            network.attempt_result(&attempt).await.unwrap(),
            Some(C),
            "{number}"
        );
        assert_eq!(
            network.approved_charges(),
            0,
            "{number}: no charge while challenging"
        );
        assert_eq!(
            network.complete_challenge(&attempt, passed).await.unwrap(),
            want,
            "{number}"
        );
        assert_eq!(
            network.complete_challenge(&attempt, passed).await.unwrap(),
            want,
            "{number}"
        );
        assert_eq!(
            network.complete_challenge(&attempt, !passed).await.unwrap(),
            want,
            "{number}"
        );
        assert_eq!(
            network.attempt_result(&attempt).await.unwrap(),
            Some(want),
            "{number}"
        );
        // Authorizing again after the challenge repeats the final answer, charging nothing more.
        assert_eq!(
            network
                .authorize(request(&attempt, number, ON))
                .await
                .unwrap(),
            want,
            "{number}"
        );
        let charged = u64::from(want == A);
        assert_eq!(network.approved_charges(), charged, "{number}");
        assert_eq!(network.charges_for(&attempt), charged, "{number}");
        assert_eq!(network.authorizations(), 1, "{number}");
    }

    #[tokio::test]
    async fn challenges_end_as_the_table_says() {
        check_challenge("4000000000003220", true, A).await;
        check_challenge("4000002760003184", true, A).await;
        check_challenge("4000002500003155", true, A).await;
        check_challenge(
            "4000008260003178",
            true,
            declined(DeclineCode::InsufficientFunds),
        )
        .await;
        check_challenge(
            "4000008400001629",
            true,
            declined(DeclineCode::GenericDecline),
        )
        .await;
        for n in [
            "4000000000003220",
            "4000002760003184",
            "4000008260003178",
            "4000008400001629",
        ] {
            check_challenge(n, false, AuthenticationFailed).await;
        }
    }

    #[tokio::test]
    async fn a_passed_setup_challenge_verifies_without_charging() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("seti_t", 1);
        assert_eq!(
            network
                .authorize(request(&attempt, "4000002500003155", SETUP))
                .await
                .unwrap(),
            C
        );
        assert_eq!(network.complete_challenge(&attempt, true).await.unwrap(), A);
        assert_eq!(network.approved_charges(), 0);
        assert_eq!(network.charges_for(&attempt), 0);
    }

    #[tokio::test]
    async fn completing_an_attempt_without_a_challenge_repeats_its_answer() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        network
            .authorize(request(&attempt, "4000000000000002", ON))
            .await
            .unwrap();
        let generic = declined(DeclineCode::GenericDecline);
        assert_eq!(
            network.complete_challenge(&attempt, true).await.unwrap(),
            generic
        );
        assert_eq!(
            network.complete_challenge(&attempt, false).await.unwrap(),
            generic
        );
    }

    #[tokio::test]
    async fn unknown_attempts() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 9);
        assert_eq!(
            network.complete_challenge(&attempt, true).await,
            Err(NetworkError::UnknownAttempt("pay_t.9".to_owned()))
        );
        assert_eq!(network.attempt_result(&attempt).await, Ok(None));
        assert_eq!(network.authorizations(), 0);
    }

    #[tokio::test]
    async fn attempt_result_before_and_after() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        assert_eq!(network.attempt_result(&attempt).await.unwrap(), None);
        network
            .authorize(request(&attempt, "4242424242424242", OFF))
            .await
            .unwrap();
        assert_eq!(network.attempt_result(&attempt).await.unwrap(), Some(A));
    }

    fn unavailable() -> NetworkError {
        NetworkError::Unavailable("injected".to_owned())
    }

    #[tokio::test]
    async fn fail_next_records_nothing() {
        let network = SandboxNetwork::new();
        let handle = network.clone();
        let attempt = AttemptId::new("pay_t", 1);
        let req = request(&attempt, "4242424242424242", ON);
        handle.fail_next(3);
        assert_eq!(network.authorize(req.clone()).await, Err(unavailable()));
        assert_eq!(network.attempt_result(&attempt).await, Err(unavailable()));
        assert_eq!(
            network.complete_challenge(&attempt, true).await,
            Err(unavailable())
        );
        assert_eq!(handle.authorizations(), 0);
        assert_eq!(handle.approved_charges(), 0);
        assert_eq!(network.attempt_result(&attempt).await, Ok(None));
        assert_eq!(network.authorize(req).await, Ok(A));
        assert_eq!(handle.approved_charges(), 1);
    }

    #[tokio::test]
    async fn fail_next_can_be_cancelled() {
        let network = SandboxNetwork::new();
        network.fail_next(5);
        network.fail_next(0);
        assert_eq!(
            network.attempt_result(&AttemptId::new("pay_t", 1)).await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn fail_next_after_recording_charges_but_loses_the_answer() {
        let network = SandboxNetwork::new();
        let handle = network.clone();
        let attempt = AttemptId::new("pay_t", 1);
        let req = request(&attempt, "4242424242424242", OFF);
        handle.fail_next_after_recording(1);
        assert_eq!(network.authorize(req.clone()).await, Err(unavailable()));
        assert_eq!(handle.authorizations(), 1);
        assert_eq!(handle.approved_charges(), 1);
        assert_eq!(handle.charges_for(&attempt), 1);
        // Recovery: the answer is there, and asking again does not charge twice.
        assert_eq!(network.attempt_result(&attempt).await, Ok(Some(A)));
        assert_eq!(network.authorize(req).await, Ok(A));
        assert_eq!(handle.approved_charges(), 1);
    }

    #[tokio::test]
    async fn fail_next_after_recording_applies_to_authorize_only() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        network.fail_next_after_recording(1);
        assert_eq!(network.attempt_result(&attempt).await, Ok(None));
        let req = request(&attempt, "4000000000003220", ON);
        assert_eq!(network.authorize(req.clone()).await, Err(unavailable()));
        assert_eq!(network.complete_challenge(&attempt, true).await, Ok(A));
        assert_eq!(network.authorize(req).await, Ok(A));
        assert_eq!(network.approved_charges(), 1);
    }

    #[tokio::test]
    async fn fail_next_comes_before_fail_after_recording() {
        let network = SandboxNetwork::new();
        let attempt = AttemptId::new("pay_t", 1);
        let req = request(&attempt, "4242424242424242", ON);
        network.fail_next(1);
        network.fail_next_after_recording(1);
        assert_eq!(network.authorize(req.clone()).await, Err(unavailable()));
        assert_eq!(network.authorizations(), 0);
        assert_eq!(network.authorize(req.clone()).await, Err(unavailable()));
        assert_eq!(network.authorizations(), 1);
        assert_eq!(network.authorize(req).await, Ok(A));
        assert_eq!(network.approved_charges(), 1);
    }

    #[test]
    fn the_network_is_a_shareable_port() {
        fn assert_port<T: CardNetwork + Clone>() {}
        assert_port::<SandboxNetwork>();
        let _: Arc<dyn CardNetwork> = Arc::new(SandboxNetwork::new());
    }
}
