//! Checking a card a buyer typed (or a test helper sent) and vaulting it.

use chrono::NaiveDate;
use vinr_domain::card::{CardNumberError, Cvc, Expiry, Funding, Pan};
use vinr_domain::customer::{NAME_MAX_CHARS, parse_text};
use vinr_domain::error::{CardErrorCode, CardFailure, DeclineCode, InvalidRequestCode};
use vinr_domain::limits::{CARD_NUMBER_MAX_CHARS, CVC_MAX_CHARS, EXPIRY_MAX_CHARS};
use vinr_domain::method::{CardSummary, PendingCard};
use vinr_domain::testcards;
use vinr_ports::params::CardEntry;
use vinr_ports::{Error, Mode};

use crate::Engine;
use crate::core::EngineError;

/// A card that passed the checks that need no network.
pub(crate) struct CheckedCard {
    pub(crate) pan: Pan,
    pub(crate) expiry: Expiry,
    pub(crate) cvc: Option<Cvc>,
    pub(crate) funding: Funding,
}

/// Why a typed card goes no further.
pub(crate) enum CardProblem {
    /// A failed card attempt (`incorrect_number`, `incorrect_cvc`, `expired_card`, a card the
    /// mode does not take): recorded as `lastError`, with a hint for the buyer if any.
    Failed(CardFailure, Option<&'static str>),
    /// Form input to correct that is not a card attempt (an expiry that is not a date):
    /// nothing is recorded.
    Invalid(Error),
}

impl CardProblem {
    /// What the buyer reads above the form.
    pub(crate) fn buyer_message(failure: CardFailure, hint: Option<&'static str>) -> String {
        match hint {
            Some(h) => format!("{} {h}", failure.message()),
            None => failure.message().to_owned(),
        }
    }
}

/// Checks the number against the mode: sandbox takes test cards only, live refuses them.
/// Returns the card's funding.
fn check_mode(mode: Mode, pan: &Pan) -> Result<Funding, Error> {
    match (mode, testcards::lookup(pan.expose())) {
        (Mode::Test, Some(card)) => Ok(card.funding),
        (Mode::Test, None) => Err(Error::invalid(
            InvalidRequestCode::NotATestCard,
            "number",
            "sandbox mode accepts only the sandbox test cards listed in the documentation",
        )),
        (Mode::Live, Some(_)) => Err(Error::invalid(
            InvalidRequestCode::LivemodeMismatch,
            "number",
            "test cards cannot be used in live mode",
        )),
        (Mode::Live, None) => Ok(Funding::Unknown),
    }
}

/// Parses a card number; anything that is not a valid number is `incorrect_number`.
pub(crate) fn parse_pan(number: &str) -> Result<Pan, CardFailure> {
    Pan::parse(number).map_err(|e| match e {
        CardNumberError::Empty
        | CardNumberError::InvalidCharacters
        | CardNumberError::InvalidLength { .. }
        | CardNumberError::ChecksumFailed => CardFailure::of(CardErrorCode::IncorrectNumber),
    })
}

/// Refuses a field longer than `max` characters, naming it; the value is never echoed.
fn check_bound(param: &str, what: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            InvalidRequestCode::ParameterInvalid,
            param,
            format!("The {what} has at most {max} characters."),
        ));
    }
    Ok(())
}

/// Checks the sizes of the fields of a card form (oversized input is form input to correct,
/// not a card attempt).
fn check_entry_bounds(entry: &CardEntry) -> Result<(), Error> {
    check_bound(
        "number",
        "card number",
        &entry.number,
        CARD_NUMBER_MAX_CHARS,
    )?;
    check_bound("expiry", "expiry date", &entry.expiry, EXPIRY_MAX_CHARS)?;
    check_bound("cvc", "security code", &entry.cvc, CVC_MAX_CHARS)?;
    if let Some(name) = &entry.name {
        parse_text("name", name, NAME_MAX_CHARS)?;
    }
    Ok(())
}

/// Checks a card typed on a hosted page.
pub(crate) fn check_typed_card(
    mode: Mode,
    entry: &CardEntry,
    today: NaiveDate,
) -> Result<CheckedCard, CardProblem> {
    check_entry_bounds(entry).map_err(CardProblem::Invalid)?;
    let (number, expiry, cvc) = (&entry.number, &entry.expiry, &entry.cvc);
    let pan = parse_pan(number).map_err(|f| CardProblem::Failed(f, None))?;
    let expiry = Expiry::parse_mm_yy(expiry).map_err(|_| {
        CardProblem::Invalid(Error::invalid(
            InvalidRequestCode::ParameterInvalid,
            "expiry",
            "Enter the expiry date as MM/YY.",
        ))
    })?;
    let cvc = Cvc::parse(cvc)
        .map_err(|_| CardProblem::Failed(CardFailure::of(CardErrorCode::IncorrectCvc), None))?;
    // A card the mode does not take is a declined attempt, as a network would decline it.
    let funding = check_mode(mode, &pan).map_err(|_| {
        let hint = match mode {
            Mode::Test => "Sandbox mode accepts only the sandbox test cards.",
            Mode::Live => "Test cards cannot be used in live mode.",
        };
        CardProblem::Failed(
            CardFailure::declined(DeclineCode::GenericDecline),
            Some(hint),
        )
    })?;
    if expiry.is_expired(today) {
        return Err(CardProblem::Failed(
            CardFailure::of(CardErrorCode::ExpiredCard),
            None,
        ));
    }
    Ok(CheckedCard {
        pan,
        expiry,
        cvc: Some(cvc),
        funding,
    })
}

/// Checks a card sent to the test helper: API errors rather than hosted-page problems.
pub(crate) fn check_helper_card(
    mode: Mode,
    number: &str,
    exp_month: u32,
    exp_year: i32,
    cvc: Option<&str>,
    today: NaiveDate,
) -> Result<CheckedCard, EngineError> {
    check_bound("number", "card number", number, CARD_NUMBER_MAX_CHARS)?;
    let pan = parse_pan(number).map_err(|f| Error::card(f, None))?;
    let funding = check_mode(mode, &pan)?;
    let expiry = Expiry::new(exp_month, exp_year).map_err(|e| {
        let param = match e {
            vinr_domain::card::ExpiryError::InvalidMonth => "expMonth",
            vinr_domain::card::ExpiryError::InvalidYear
            | vinr_domain::card::ExpiryError::Malformed => "expYear",
        };
        Error::invalid(InvalidRequestCode::ParameterInvalid, param, e.to_string())
    })?;
    let cvc = cvc
        .map(|c| {
            Cvc::parse(c).map_err(|_| {
                Error::invalid(
                    InvalidRequestCode::ParameterInvalid,
                    "cvc",
                    "cvc must be 3 or 4 digits",
                )
            })
        })
        .transpose()?;
    if expiry.is_expired(today) {
        return Err(Error::card(CardFailure::of(CardErrorCode::ExpiredCard), None).into());
    }
    Ok(CheckedCard {
        pan,
        expiry,
        cvc,
        funding,
    })
}

impl Engine {
    /// Seals a checked card and fingerprints it.
    pub(crate) fn vault_card(&self, card: &CheckedCard) -> Result<PendingCard, EngineError> {
        let vault = &self.ports().vault;
        let sealed = vault
            .seal(&card.pan)
            .map_err(|_| Error::internal("the card could not be stored; retry"))?;
        Ok(PendingCard {
            sealed,
            summary: CardSummary {
                brand: card.pan.brand(),
                last4: card.pan.last4().to_owned(),
                expiry: card.expiry,
                funding: card.funding,
            },
            fingerprint: vault.fingerprint(&card.pan),
        })
    }

    /// Opens a sealed card for one authorization.
    pub(crate) fn open_card(
        &self,
        sealed: &vinr_domain::method::SealedCard,
    ) -> Result<Pan, EngineError> {
        self.ports()
            .vault
            .open(sealed)
            .map_err(|_| EngineError::Api(Error::internal("a stored card could not be read")))
    }
}
