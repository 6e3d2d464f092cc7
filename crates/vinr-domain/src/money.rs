//! Amounts of money in ISO 4217 currencies, held as an integer count of the
//! currency's minor unit (cents, yen, fils…).
//!
//! Integers avoid floating-point rounding; conversions to and from major
//! units ([`Money::to_major`], [`Money::from_major`]) go through exact
//! [`Decimal`] arithmetic and refuse anything that is not a whole number of
//! minor units rather than rounding it silently.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Smallest amount accepted by [`Money`], in minor units.
pub const MIN_AMOUNT: i64 = 1;
/// Largest amount accepted by [`Money`], in minor units.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// The currencies we accept: ISO 4217 code and number of minor-unit digits.
const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 2),
    ("USD", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("DKK", 2),
    ("NOK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("HUF", 2),
    ("RON", 2),
    ("BGN", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("VND", 0),
    ("CLP", 0),
    ("PYG", 0),
    ("UGX", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("HKD", 2),
    ("SGD", 2),
    ("CNY", 2),
    ("INR", 2),
    ("BRL", 2),
    ("MXN", 2),
    ("ZAR", 2),
    ("TRY", 2),
    ("ILS", 2),
    ("AED", 2),
    ("SAR", 2),
    ("THB", 2),
    ("BHD", 3),
    ("KWD", 3),
    ("JOD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("IQD", 3),
    ("LYD", 3),
];

/// Largest exponent a [`Currency`] may have.
///
/// [`Decimal::new`] panics above scale 28, and `10^exponent` must fit an
/// `i128` alongside a 96-bit mantissa; keeping exponents this small (checked
/// at compile time below) is what makes [`Money::to_major`] infallible.
const MAX_EXPONENT: u32 = 4;

const _: () = {
    let mut i = 0;
    while i < CURRENCIES.len() {
        assert!(CURRENCIES[i].1 <= MAX_EXPONENT);
        i += 1;
    }
};

/// Why a currency or an amount was rejected.
///
/// # Examples
///
/// ```
/// use vinr_domain::money::{Currency, MoneyError};
///
/// assert_eq!(Currency::parse("XYZ"), Err(MoneyError::UnknownCurrency));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The code is not a currency in our table.
    #[error("not a known ISO 4217 currency")]
    UnknownCurrency,
    /// The amount is outside [`MIN_AMOUNT`]..=[`MAX_AMOUNT`] minor units.
    #[error(
        "the amount must be between {} and {} minor units",
        MIN_AMOUNT,
        MAX_AMOUNT
    )]
    AmountOutOfRange,
    /// The major-unit amount has more decimals than the currency allows.
    #[error("the amount is not a whole number of the currency's minor units")]
    FractionOfMinorUnit,
}

/// An ISO 4217 currency known to us, with its exponent (number of digits
/// after the decimal point in major units).
///
/// `Display` and serde use the upper-case code (`"EUR"`); deserialization
/// accepts any letter case.
///
/// # Examples
///
/// ```
/// use vinr_domain::money::Currency;
///
/// let eur = Currency::parse("eur")?;
/// assert_eq!(eur, Currency::EUR);
/// assert_eq!(eur.code(), "EUR");
/// assert_eq!(eur.exponent(), 2);
/// assert_eq!(Currency::parse("BHD")?.exponent(), 3);
/// assert_eq!(Currency::JPY.to_string(), "JPY");
/// # Ok::<(), vinr_domain::money::MoneyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency {
        code: "EUR",
        exponent: 2,
    };
    /// US dollar.
    pub const USD: Currency = Currency {
        code: "USD",
        exponent: 2,
    };
    /// Pound sterling.
    pub const GBP: Currency = Currency {
        code: "GBP",
        exponent: 2,
    };
    /// Japanese yen.
    pub const JPY: Currency = Currency {
        code: "JPY",
        exponent: 0,
    };

    /// Looks up a currency by its three-letter code, in any letter case.
    ///
    /// # Errors
    ///
    /// [`MoneyError::UnknownCurrency`] if the code is not in our table.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::money::{Currency, MoneyError};
    ///
    /// assert_eq!(Currency::parse("Usd"), Ok(Currency::USD));
    /// assert_eq!(Currency::parse("US"), Err(MoneyError::UnknownCurrency));
    /// ```
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(code))
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or(MoneyError::UnknownCurrency)
    }

    /// The upper-case ISO 4217 code, e.g. `"EUR"`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of minor-unit digits: 2 for EUR, 0 for JPY, 3 for BHD.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

// Hand-written because the derive would tie the `&'static str` field to the
// input's lifetime and only accept `'static` input.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A positive amount of money: an integer number of minor units
/// ([`MIN_AMOUNT`]..=[`MAX_AMOUNT`]) in a [`Currency`].
///
/// `Display` shows major units and the code, e.g. `25.00 EUR`.
///
/// # Examples
///
/// ```
/// use rust_decimal::Decimal;
/// use vinr_domain::money::{Currency, Money, MoneyError};
///
/// let m = Money::from_minor(2500, Currency::EUR)?;
/// assert_eq!(m.minor(), 2500);
/// assert_eq!(m.to_major(), Decimal::new(2500, 2));
/// assert_eq!(m.to_string(), "25.00 EUR");
///
/// assert_eq!(Money::from_major(Decimal::new(25, 0), Currency::EUR), Ok(m));
/// assert_eq!(
///     Money::from_major(Decimal::new(25_001, 3), Currency::EUR),
///     Err(MoneyError::FractionOfMinorUnit),
/// );
/// # Ok::<(), MoneyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Builds an amount from a count of minor units (cents for EUR, yen for
    /// JPY).
    ///
    /// # Errors
    ///
    /// [`MoneyError::AmountOutOfRange`] outside
    /// [`MIN_AMOUNT`]..=[`MAX_AMOUNT`].
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::money::{Currency, Money, MoneyError};
    ///
    /// assert!(Money::from_minor(1, Currency::USD).is_ok());
    /// assert_eq!(Money::from_minor(0, Currency::USD), Err(MoneyError::AmountOutOfRange));
    /// ```
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if (MIN_AMOUNT..=MAX_AMOUNT).contains(&minor) {
            Ok(Money { minor, currency })
        } else {
            Err(MoneyError::AmountOutOfRange)
        }
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in major units, exact, with scale equal to the currency's
    /// exponent: 2500 EUR cents → `25.00`, 2500 JPY → `2500`, 1234 BHD
    /// fils → `1.234`.
    pub fn to_major(&self) -> Decimal {
        // Cannot panic: exponents are bounded by MAX_EXPONENT at compile time.
        Decimal::new(self.minor, self.currency.exponent)
    }

    /// Builds an amount from major units.
    ///
    /// Trailing zeros do not matter (`25.00000` EUR is 2500 cents), but any
    /// non-zero digit past the currency's exponent is refused instead of
    /// rounded.
    ///
    /// # Errors
    ///
    /// [`MoneyError::FractionOfMinorUnit`] for `25.001` EUR, `1.5` JPY or
    /// `1.2345` BHD (checked first), then [`MoneyError::AmountOutOfRange`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// use vinr_domain::money::{Currency, Money, MoneyError};
    ///
    /// let bhd = Currency::parse("BHD")?;
    /// assert_eq!(Money::from_major(Decimal::new(1234, 3), bhd)?.minor(), 1234);
    /// assert_eq!(
    ///     Money::from_major(Decimal::new(15, 1), Currency::JPY),
    ///     Err(MoneyError::FractionOfMinorUnit),
    /// );
    /// assert_eq!(
    ///     Money::from_major(Decimal::MAX, Currency::EUR),
    ///     Err(MoneyError::AmountOutOfRange),
    /// );
    /// # Ok::<(), MoneyError>(())
    /// ```
    pub fn from_major(major: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        // Normalizing strips trailing zeros, so the remaining scale is the
        // true number of significant decimals.
        let major = major.normalize();
        let missing_digits = currency
            .exponent
            .checked_sub(major.scale())
            .ok_or(MoneyError::FractionOfMinorUnit)?;
        // Integer arithmetic on the mantissa is exact, unlike Decimal
        // multiplication, which may round when it runs out of precision.
        let minor = 10_i128
            .checked_pow(missing_digits)
            .and_then(|factor| major.mantissa().checked_mul(factor))
            .and_then(|minor| i64::try_from(minor).ok())
            .ok_or(MoneyError::AmountOutOfRange)?;
        Money::from_minor(minor, currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major(), self.currency)
    }
}

#[cfg(test)]
// A failed unwrap is exactly how a test should fail.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn table_is_well_formed() {
        for (i, &(code, exponent)) in CURRENCIES.iter().enumerate() {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(exponent <= 3, "{code}");
            assert!(
                CURRENCIES[..i].iter().all(|&(other, _)| other != code),
                "duplicate {code}"
            );
        }
    }

    #[test]
    fn currency_parse_table() {
        fn check(input: &str, expected: Result<(&str, u32), MoneyError>) {
            let got = Currency::parse(input).map(|c| (c.code(), c.exponent()));
            assert_eq!(got, expected, "Currency::parse({input:?})");
        }
        type Expected = Result<(&'static str, u32), MoneyError>;
        let table: &[(&str, Expected)] = &[
            ("EUR", Ok(("EUR", 2))),
            ("eur", Ok(("EUR", 2))),
            ("Eur", Ok(("EUR", 2))),
            ("usd", Ok(("USD", 2))),
            ("JPY", Ok(("JPY", 0))),
            ("krw", Ok(("KRW", 0))),
            ("XOF", Ok(("XOF", 0))),
            ("BHD", Ok(("BHD", 3))),
            ("kwd", Ok(("KWD", 3))),
            ("LYD", Ok(("LYD", 3))),
            ("", Err(MoneyError::UnknownCurrency)),
            ("EU", Err(MoneyError::UnknownCurrency)),
            ("EURO", Err(MoneyError::UnknownCurrency)),
            (" EUR", Err(MoneyError::UnknownCurrency)),
            ("XYZ", Err(MoneyError::UnknownCurrency)),
            ("ЕUR", Err(MoneyError::UnknownCurrency)),
            ("€", Err(MoneyError::UnknownCurrency)),
        ];
        for (input, expected) in table {
            check(input, expected.clone());
        }
    }

    #[test]
    fn named_consts_match_table() {
        fn check(named: Currency, code: &str) {
            assert_eq!(named, cur(code));
        }
        for (named, code) in [
            (Currency::EUR, "EUR"),
            (Currency::USD, "USD"),
            (Currency::GBP, "GBP"),
            (Currency::JPY, "JPY"),
        ] {
            check(named, code);
        }
    }

    #[test]
    fn currency_serde_table() {
        fn check(json: &str, expected: Option<Currency>) {
            let got: Result<Currency, _> = serde_json::from_str(json);
            assert_eq!(got.as_ref().ok(), expected.as_ref(), "{json} -> {got:?}");
            if let Some(c) = expected {
                assert_eq!(
                    serde_json::to_string(&c).unwrap(),
                    format!("\"{}\"", c.code())
                );
            }
        }
        let table: &[(&str, Option<Currency>)] = &[
            (r#""EUR""#, Some(Currency::EUR)),
            (r#""eur""#, Some(Currency::EUR)),
            (r#""bHd""#, Some(cur("BHD"))),
            (r#""XYZ""#, None),
            (r#""""#, None),
            ("978", None),
            ("null", None),
        ];
        for (json, expected) in table {
            check(json, *expected);
        }
        assert_eq!(
            "chf".parse::<Currency>(),
            Ok(cur("CHF")),
            "FromStr agrees with parse"
        );
    }

    #[test]
    fn error_messages_are_short() {
        assert_eq!(
            MoneyError::UnknownCurrency.to_string(),
            "not a known ISO 4217 currency"
        );
        assert_eq!(
            MoneyError::AmountOutOfRange.to_string(),
            "the amount must be between 1 and 99999999 minor units"
        );
    }

    #[test]
    fn from_minor_table() {
        fn check(minor: i64, expected: Result<i64, MoneyError>) {
            let got = Money::from_minor(minor, Currency::EUR).map(|m| m.minor());
            assert_eq!(got, expected, "Money::from_minor({minor})");
        }
        let table: &[(i64, Result<i64, MoneyError>)] = &[
            (1, Ok(1)),
            (2500, Ok(2500)),
            (MAX_AMOUNT, Ok(MAX_AMOUNT)),
            (0, Err(MoneyError::AmountOutOfRange)),
            (-1, Err(MoneyError::AmountOutOfRange)),
            (MAX_AMOUNT + 1, Err(MoneyError::AmountOutOfRange)),
            (i64::MIN, Err(MoneyError::AmountOutOfRange)),
            (i64::MAX, Err(MoneyError::AmountOutOfRange)),
        ];
        for (minor, expected) in table {
            check(*minor, expected.clone());
        }
    }

    #[test]
    fn to_major_and_display_table() {
        fn check(minor: i64, code: &str, major: &str, shown: &str) {
            let m = Money::from_minor(minor, cur(code)).unwrap();
            assert_eq!(m.to_major(), dec(major), "{m:?}");
            assert_eq!(m.to_major().to_string(), major, "scale of {m:?}");
            assert_eq!(m.to_string(), shown);
            assert_eq!(m.currency(), cur(code));
        }
        let table: &[(i64, &str, &str, &str)] = &[
            (2500, "EUR", "25.00", "25.00 EUR"),
            (1, "EUR", "0.01", "0.01 EUR"),
            (99_999_999, "USD", "999999.99", "999999.99 USD"),
            (2500, "JPY", "2500", "2500 JPY"),
            (1, "KRW", "1", "1 KRW"),
            (1234, "BHD", "1.234", "1.234 BHD"),
            (1, "KWD", "0.001", "0.001 KWD"),
        ];
        for &(minor, code, major, shown) in table {
            check(minor, code, major, shown);
        }
    }

    #[test]
    fn from_major_table() {
        fn check(major: Decimal, code: &str, expected: Result<i64, MoneyError>) {
            let got = Money::from_major(major, cur(code)).map(|m| m.minor());
            assert_eq!(got, expected, "Money::from_major({major}, {code})");
        }
        let table: &[(Decimal, &str, Result<i64, MoneyError>)] = &[
            (dec("25"), "EUR", Ok(2500)),
            (dec("25.0"), "EUR", Ok(2500)),
            (dec("25.00"), "EUR", Ok(2500)),
            (dec("25.00000"), "EUR", Ok(2500)),
            (dec("0.01"), "EUR", Ok(1)),
            (dec("999999.99"), "EUR", Ok(99_999_999)),
            (dec("2500"), "JPY", Ok(2500)),
            (dec("2500.000"), "JPY", Ok(2500)),
            (dec("1.234"), "BHD", Ok(1234)),
            (dec("1.2340"), "BHD", Ok(1234)),
            (dec("25.001"), "EUR", Err(MoneyError::FractionOfMinorUnit)),
            (dec("0.001"), "EUR", Err(MoneyError::FractionOfMinorUnit)),
            (dec("1.5"), "JPY", Err(MoneyError::FractionOfMinorUnit)),
            (dec("1.2345"), "BHD", Err(MoneyError::FractionOfMinorUnit)),
            (dec("-0.001"), "EUR", Err(MoneyError::FractionOfMinorUnit)),
            (
                dec("0.0000000000000000000000000001"),
                "EUR",
                Err(MoneyError::FractionOfMinorUnit),
            ),
            (dec("0"), "EUR", Err(MoneyError::AmountOutOfRange)),
            (dec("0.00"), "EUR", Err(MoneyError::AmountOutOfRange)),
            (dec("-0.00"), "EUR", Err(MoneyError::AmountOutOfRange)),
            (dec("-25.00"), "EUR", Err(MoneyError::AmountOutOfRange)),
            (dec("1000000"), "EUR", Err(MoneyError::AmountOutOfRange)),
            (dec("100000000"), "JPY", Err(MoneyError::AmountOutOfRange)),
            (Decimal::MAX, "EUR", Err(MoneyError::AmountOutOfRange)),
            (Decimal::MIN, "EUR", Err(MoneyError::AmountOutOfRange)),
            (Decimal::MAX, "BHD", Err(MoneyError::AmountOutOfRange)),
            (Decimal::MAX, "JPY", Err(MoneyError::AmountOutOfRange)),
        ];
        for &(major, code, ref expected) in table {
            check(major, code, expected.clone());
        }
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(CURRENCIES).prop_map(|(code, exponent)| Currency { code, exponent })
    }

    proptest! {
        #[test]
        fn prop_major_round_trips(currency in any_currency(), minor in MIN_AMOUNT..=MAX_AMOUNT) {
            let m = Money::from_minor(minor, currency).unwrap();
            prop_assert_eq!(m.to_major().scale(), currency.exponent());
            prop_assert_eq!(Money::from_major(m.to_major(), currency), Ok(m));
        }

        #[test]
        fn prop_excess_fraction_is_refused(
            currency in any_currency(),
            whole in (i64::MIN / 10)..=(i64::MAX / 10),
            last_digit in 1i64..=9,
            extra_scale in 1u32..=25,
        ) {
            // A non-zero final digit guarantees the value really has
            // `exponent + extra_scale` significant decimals.
            let mantissa = whole * 10 + last_digit;
            let major = Decimal::try_new(mantissa, currency.exponent() + extra_scale).unwrap();
            prop_assert_eq!(
                Money::from_major(major, currency),
                Err(MoneyError::FractionOfMinorUnit)
            );
        }

        #[test]
        fn prop_currency_parse_ignores_case(
            currency in any_currency(),
            lower in prop::array::uniform3(any::<bool>()),
        ) {
            let mixed: String = currency
                .code()
                .chars()
                .zip(lower)
                .map(|(c, lower)| if lower { c.to_ascii_lowercase() } else { c })
                .collect();
            prop_assert_eq!(Currency::parse(&mixed), Currency::parse(currency.code()));
            prop_assert_eq!(Currency::parse(&mixed), Ok(currency));
        }

        #[test]
        fn prop_currency_parse_total(input in any::<String>()) {
            let _ = Currency::parse(&input);
        }
    }
}
