//! The sandbox test-card table: which number does what, on a setup, an on-session payment and
//! an off-session payment.
//!
//! Any other Luhn-valid number is refused in sandbox (`not_a_test_card`); a number failing Luhn
//! is `incorrect_number` before this table is consulted.
//!
//! ```
//! use vinr_domain::testcards::{decide, lookup, Context, Decision};
//! let card = lookup("4242424242424242").unwrap();
//! assert_eq!(decide(card, Context::OffSession { authenticated: false }), Decision::Approve);
//! let card = lookup("4000000000003220").unwrap();
//! assert!(matches!(decide(card, Context::OffSession { authenticated: true }), Decision::Challenge { .. }));
//! assert!(lookup("4111111111111111").is_none());
//! ```

use crate::card::{Brand, Funding};
use crate::error::{CardErrorCode, CardFailure, DeclineCode};

/// How a test card behaves at the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Approved everywhere.
    Succeeds,
    /// Refused everywhere with this failure.
    Fails(CardFailure),
    /// `incorrect_cvc` when a CVC is checked (setup, on-session); approved off-session.
    IncorrectCvcOnSession,
    /// A setup succeeds, but every payment is declined `generic_decline`.
    SetupOnly,
    /// A challenge every time (off-session: `requires_action`); after a completed challenge,
    /// approved (`None`) or declined with this failure.
    AlwaysChallenge(Option<CardFailure>),
    /// A challenge on setups and on-session payments; off-session approved once the card was
    /// saved through a completed challenge, `requires_action` otherwise.
    ChallengeUnlessAuthenticated,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    /// The card number, digits only.
    pub number: &'static str,
    /// Its brand.
    pub brand: Brand,
    /// Its funding.
    pub funding: Funding,
    /// What it does.
    pub behavior: Behavior,
}

const fn card(number: &'static str, brand: Brand, behavior: Behavior) -> TestCard {
    TestCard {
        number,
        brand,
        funding: Funding::Credit,
        behavior,
    }
}

const fn declined(reason: DeclineCode) -> CardFailure {
    CardFailure {
        code: CardErrorCode::CardDeclined,
        decline_code: Some(reason),
    }
}

const fn failed(code: CardErrorCode) -> CardFailure {
    CardFailure {
        code,
        decline_code: None,
    }
}

/// The whole table of `api.md` §4.
pub const TEST_CARDS: &[TestCard] = &[
    card("4242424242424242", Brand::Visa, Behavior::Succeeds),
    card("5555555555554444", Brand::Mastercard, Behavior::Succeeds),
    card("378282246310005", Brand::Amex, Behavior::Succeeds),
    card(
        "4000000000000002",
        Brand::Visa,
        Behavior::Fails(declined(DeclineCode::GenericDecline)),
    ),
    card(
        "4000000000009995",
        Brand::Visa,
        Behavior::Fails(declined(DeclineCode::InsufficientFunds)),
    ),
    card(
        "4000000000000069",
        Brand::Visa,
        Behavior::Fails(failed(CardErrorCode::ExpiredCard)),
    ),
    card(
        "4000000000000127",
        Brand::Visa,
        Behavior::IncorrectCvcOnSession,
    ),
    card(
        "4000000000003220",
        Brand::Visa,
        Behavior::AlwaysChallenge(None),
    ),
    card(
        "4000002500003155",
        Brand::Visa,
        Behavior::ChallengeUnlessAuthenticated,
    ),
    card("4000000000000341", Brand::Visa, Behavior::SetupOnly),
    card(
        "4000000000009987",
        Brand::Visa,
        Behavior::Fails(declined(DeclineCode::LostCard)),
    ),
    card(
        "4000000000009979",
        Brand::Visa,
        Behavior::Fails(declined(DeclineCode::StolenCard)),
    ),
    card(
        "4000000000000119",
        Brand::Visa,
        Behavior::Fails(failed(CardErrorCode::ProcessingError)),
    ),
    card(
        "4000002760003184",
        Brand::Visa,
        Behavior::AlwaysChallenge(None),
    ),
    card(
        "4000008260003178",
        Brand::Visa,
        Behavior::AlwaysChallenge(Some(declined(DeclineCode::InsufficientFunds))),
    ),
    card(
        "4000008400001629",
        Brand::Visa,
        Behavior::AlwaysChallenge(Some(declined(DeclineCode::GenericDecline))),
    ),
    card("4000000000003055", Brand::Visa, Behavior::Succeeds),
];

/// The test card with this number (digits only), if it is one.
pub fn lookup(digits: &str) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|c| c.number == digits)
}

/// Where the card is being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Saved through a setup (verified, nothing charged).
    Setup,
    /// Charged with the buyer present.
    OnSession,
    /// Charged with the buyer absent; `authenticated` tells whether the card was saved
    /// through a completed challenge.
    OffSession {
        /// Saved through a completed challenge.
        authenticated: bool,
    },
}

/// The network's answer to one authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved.
    Approve,
    /// Refused.
    Refuse(CardFailure),
    /// The buyer must authenticate; after a completed challenge the answer is `after`.
    Challenge {
        /// `None`: approved after the challenge; `Some`: refused with this failure.
        after: Option<CardFailure>,
    },
}

/// What the sandbox network answers for `card` in `context`. Pure; the sandbox network adds
/// memory (one answer per attempt id).
pub fn decide(card: &TestCard, context: Context) -> Decision {
    let generic = declined(DeclineCode::GenericDecline);
    match card.behavior {
        Behavior::Succeeds => Decision::Approve,
        Behavior::Fails(f) => Decision::Refuse(f),
        Behavior::IncorrectCvcOnSession => match context {
            Context::Setup | Context::OnSession => {
                Decision::Refuse(failed(CardErrorCode::IncorrectCvc))
            }
            Context::OffSession { .. } => Decision::Approve,
        },
        Behavior::SetupOnly => match context {
            Context::Setup => Decision::Approve,
            Context::OnSession | Context::OffSession { .. } => Decision::Refuse(generic),
        },
        Behavior::AlwaysChallenge(after) => Decision::Challenge { after },
        Behavior::ChallengeUnlessAuthenticated => match context {
            Context::Setup
            | Context::OnSession
            | Context::OffSession {
                authenticated: false,
            } => Decision::Challenge { after: None },
            Context::OffSession {
                authenticated: true,
            } => Decision::Approve,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::Pan;

    #[test]
    fn every_number_is_valid_and_of_its_brand() {
        for c in TEST_CARDS {
            let pan = Pan::parse(c.number).unwrap();
            assert_eq!(pan.brand(), c.brand, "{}", c.number);
        }
    }

    fn check(
        number: &str,
        setup: Decision,
        on: Decision,
        off_fresh: Decision,
        off_authenticated: Decision,
    ) {
        let c = lookup(number).unwrap();
        assert_eq!(decide(c, Context::Setup), setup, "{number} setup");
        assert_eq!(decide(c, Context::OnSession), on, "{number} on-session");
        assert_eq!(
            decide(
                c,
                Context::OffSession {
                    authenticated: false
                }
            ),
            off_fresh,
            "{number} off-session"
        );
        assert_eq!(
            decide(
                c,
                Context::OffSession {
                    authenticated: true
                }
            ),
            off_authenticated,
            "{number} off-session after 3DS"
        );
    }

    #[test]
    fn the_table_of_the_contract() {
        use Decision::{Approve as A, Challenge as C, Refuse as R};
        let generic = declined(DeclineCode::GenericDecline);
        let funds = declined(DeclineCode::InsufficientFunds);
        for n in [
            "4242424242424242",
            "5555555555554444",
            "378282246310005",
            "4000000000003055",
        ] {
            check(n, A, A, A, A);
        }
        check(
            "4000000000000002",
            R(generic),
            R(generic),
            R(generic),
            R(generic),
        );
        check("4000000000009995", R(funds), R(funds), R(funds), R(funds));
        let expired = failed(CardErrorCode::ExpiredCard);
        check(
            "4000000000000069",
            R(expired),
            R(expired),
            R(expired),
            R(expired),
        );
        let cvc = failed(CardErrorCode::IncorrectCvc);
        check("4000000000000127", R(cvc), R(cvc), A, A);
        check(
            "4000000000003220",
            C { after: None },
            C { after: None },
            C { after: None },
            C { after: None },
        );
        check(
            "4000002760003184",
            C { after: None },
            C { after: None },
            C { after: None },
            C { after: None },
        );
        check(
            "4000002500003155",
            C { after: None },
            C { after: None },
            C { after: None },
            A,
        );
        check("4000000000000341", A, R(generic), R(generic), R(generic));
        let lost = declined(DeclineCode::LostCard);
        let stolen = declined(DeclineCode::StolenCard);
        check("4000000000009987", R(lost), R(lost), R(lost), R(lost));
        check(
            "4000000000009979",
            R(stolen),
            R(stolen),
            R(stolen),
            R(stolen),
        );
        let processing = failed(CardErrorCode::ProcessingError);
        check(
            "4000000000000119",
            R(processing),
            R(processing),
            R(processing),
            R(processing),
        );
        let after_funds = C { after: Some(funds) };
        check(
            "4000008260003178",
            after_funds,
            after_funds,
            after_funds,
            after_funds,
        );
        let after_generic = C {
            after: Some(generic),
        };
        check(
            "4000008400001629",
            after_generic,
            after_generic,
            after_generic,
            after_generic,
        );
        assert_eq!(TEST_CARDS.len(), 17);
    }
}
