//! Payment card data: card numbers (PAN), security codes (CVC), expiry dates,
//! brands and funding types.
//!
//! Secrets ([`Pan`], [`Cvc`]) never reveal themselves through `Debug`,
//! `Display` or serde; the raw value is only reachable through an explicit
//! `expose()` call, which keeps accidental leaks (logs, error messages, JSON
//! responses) out of the code paths that do not need the number.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};

/// Shortest card number accepted by [`Pan::parse`].
const PAN_MIN_LEN: usize = 12;
/// Longest card number accepted by [`Pan::parse`] (ISO/IEC 7812).
const PAN_MAX_LEN: usize = 19;
/// Character used in place of each hidden digit by [`Pan::masked`].
const MASK_CHAR: char = '•';

/// Returns `true` iff `digits` is non-empty, made only of ASCII digits and
/// passes the Luhn (mod 10) checksum.
///
/// No separators are tolerated here; use [`Pan::parse`] for human input.
///
/// # Examples
///
/// ```
/// use vinr_domain::card::luhn_valid;
///
/// assert!(luhn_valid("4242424242424242"));
/// assert!(!luhn_valid("4242424242424241"));
/// assert!(!luhn_valid("4242 4242 4242 4242"));
/// assert!(!luhn_valid(""));
/// ```
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum = digits.bytes().rev().enumerate().fold(0u32, |acc, (i, b)| {
        let d = u32::from(b - b'0');
        let v = if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
        // Reducing as we go keeps the accumulator bounded for any input length.
        (acc + v) % 10
    });
    sum == 0
}

/// Card network, detected from the issuer identification number (IIN)
/// prefix of the card number.
///
/// Serialized as its lower-case name (`"visa"`, `"mastercard"`, …).
///
/// # Examples
///
/// ```
/// use vinr_domain::card::Brand;
///
/// assert_eq!(Brand::detect("4242424242424242"), Brand::Visa);
/// assert_eq!(Brand::detect("2223003122003222"), Brand::Mastercard);
/// assert_eq!(Brand::detect("9999999999999995"), Brand::Unknown);
/// assert_eq!(Brand::Amex.as_str(), "amex");
/// assert_eq!(Brand::Jcb.to_string(), "jcb");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Brand {
    /// Visa (IIN 4).
    Visa,
    /// Mastercard (IIN 51–55 and 2221–2720).
    Mastercard,
    /// American Express (IIN 34, 37).
    Amex,
    /// Discover (IIN 6011, 644–649, 65).
    Discover,
    /// Diners Club (IIN 300–305, 3095, 36, 38, 39).
    Diners,
    /// JCB (IIN 3528–3589).
    Jcb,
    /// UnionPay (IIN 62, 81).
    Unionpay,
    /// Any number whose prefix matches none of the known ranges.
    Unknown,
}

impl Brand {
    /// The stable lower-case name of the brand, identical to its serde form.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::Brand;
    ///
    /// assert_eq!(Brand::Mastercard.as_str(), "mastercard");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Diners => "diners",
            Brand::Jcb => "jcb",
            Brand::Unionpay => "unionpay",
            Brand::Unknown => "unknown",
        }
    }

    /// Detects the brand from the leading digits of `digits`.
    ///
    /// Only the leading ASCII digits are looked at, so this never fails:
    /// anything that does not start with a known prefix is
    /// [`Brand::Unknown`]. The input is not checked for length or checksum.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::Brand;
    ///
    /// assert_eq!(Brand::detect("378282246310005"), Brand::Amex);
    /// assert_eq!(Brand::detect("not a number"), Brand::Unknown);
    /// ```
    pub fn detect(digits: &str) -> Brand {
        let bytes = digits.as_bytes();
        let p1 = leading_number(bytes, 1);
        let p2 = leading_number(bytes, 2);
        let p3 = leading_number(bytes, 3);
        let p4 = leading_number(bytes, 4);

        if p1 == Some(4) {
            Brand::Visa
        } else if matches!(p2, Some(34 | 37)) {
            Brand::Amex
        } else if matches!(p2, Some(51..=55)) || matches!(p4, Some(2221..=2720)) {
            Brand::Mastercard
        } else if matches!(p4, Some(6011)) || matches!(p3, Some(644..=649)) || p2 == Some(65) {
            Brand::Discover
        } else if matches!(p3, Some(300..=305))
            || p4 == Some(3095)
            || matches!(p2, Some(36 | 38 | 39))
        {
            Brand::Diners
        } else if matches!(p4, Some(3528..=3589)) {
            Brand::Jcb
        } else if matches!(p2, Some(62 | 81)) {
            Brand::Unionpay
        } else {
            Brand::Unknown
        }
    }
}

impl fmt::Display for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The numeric value of the first `n` bytes, or `None` if there are fewer
/// than `n` or any of them is not an ASCII digit.
fn leading_number(bytes: &[u8], n: usize) -> Option<u32> {
    bytes.get(..n)?.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.saturating_mul(10).saturating_add(u32::from(b - b'0')))
    })
}

/// How the card is funded, as reported by the network or issuer.
///
/// Serialized as its lower-case name (`"credit"`, `"debit"`, …).
///
/// # Examples
///
/// ```
/// use vinr_domain::card::Funding;
///
/// assert_eq!(Funding::Debit.as_str(), "debit");
/// assert_eq!(Funding::Prepaid.to_string(), "prepaid");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Funding {
    /// A credit card.
    Credit,
    /// A debit card.
    Debit,
    /// A prepaid card.
    Prepaid,
    /// Funding type not reported.
    Unknown,
}

impl Funding {
    /// The stable lower-case name of the funding type, identical to its serde form.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::Funding;
    ///
    /// assert_eq!(Funding::Credit.as_str(), "credit");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Funding::Credit => "credit",
            Funding::Debit => "debit",
            Funding::Prepaid => "prepaid",
            Funding::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Funding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a card number was rejected by [`Pan::parse`].
///
/// Messages never contain the number itself, so they are safe to log or
/// return to a client.
///
/// # Examples
///
/// ```
/// use vinr_domain::card::{CardNumberError, Pan};
///
/// let err = CardNumberError::ChecksumFailed;
/// assert_eq!(Pan::parse("4242424242424241"), Err(err.clone()));
/// assert_eq!(err.to_string(), "the card number is not valid (checksum failed)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardNumberError {
    /// Nothing but separators (or nothing at all) was given.
    #[error("the card number is empty")]
    Empty,
    /// Something other than digits, spaces and dashes was given.
    #[error("the card number may only contain digits, spaces and dashes")]
    InvalidCharacters,
    /// The number of digits is outside 12..=19.
    #[error("the card number must have 12 to 19 digits, not {len}")]
    InvalidLength {
        /// How many digits were given.
        len: usize,
    },
    /// The Luhn checksum does not match, usually a typo.
    #[error("the card number is not valid (checksum failed)")]
    ChecksumFailed,
}

/// A validated primary account number (the card number): 12 to 19 ASCII
/// digits with a valid Luhn checksum.
///
/// `Debug` shows only the last four digits (`Pan(…4242)`) and `Display` shows
/// the [masked](Pan::masked) form. There is deliberately no serde support so a
/// PAN can never be serialized by accident; use [`Pan::expose`] where the
/// digits are truly needed.
///
/// # Examples
///
/// ```
/// use vinr_domain::card::{Brand, Pan};
///
/// let pan = Pan::parse("4242 4242-4242 4242")?;
/// assert_eq!(pan.last4(), "4242");
/// assert_eq!(pan.bin(), "424242");
/// assert_eq!(pan.brand(), Brand::Visa);
/// assert_eq!(pan.len(), 16);
/// assert_eq!(format!("{pan:?}"), "Pan(…4242)");
/// assert_eq!(pan.to_string(), "•••• •••• •••• 4242");
/// # Ok::<(), vinr_domain::card::CardNumberError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pan(String);

impl Pan {
    /// Parses a card number as typed by a person.
    ///
    /// ASCII spaces and `-` anywhere in the input are dropped (common human
    /// formatting); what remains must be 12 to 19 ASCII digits with a valid
    /// Luhn checksum. Any other character, including tabs and newlines, is
    /// rejected as [`CardNumberError::InvalidCharacters`].
    ///
    /// # Errors
    ///
    /// [`CardNumberError::Empty`], [`CardNumberError::InvalidCharacters`],
    /// [`CardNumberError::InvalidLength`] or
    /// [`CardNumberError::ChecksumFailed`], checked in that order.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::{CardNumberError, Pan};
    ///
    /// assert!(Pan::parse("3782-822463-10005").is_ok());
    /// assert_eq!(Pan::parse("4242"), Err(CardNumberError::InvalidLength { len: 4 }));
    /// assert_eq!(Pan::parse("4242abcd42424242"), Err(CardNumberError::InvalidCharacters));
    /// ```
    pub fn parse(input: &str) -> Result<Pan, CardNumberError> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() {
            return Err(CardNumberError::Empty);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardNumberError::InvalidCharacters);
        }
        let len = digits.len();
        if !(PAN_MIN_LEN..=PAN_MAX_LEN).contains(&len) {
            return Err(CardNumberError::InvalidLength { len });
        }
        if !luhn_valid(&digits) {
            return Err(CardNumberError::ChecksumFailed);
        }
        Ok(Pan(digits))
    }

    /// The full card number, digits only.
    ///
    /// Only the card vault and the network client may call this; everything
    /// else should work with [`last4`](Pan::last4), [`bin`](Pan::bin),
    /// [`brand`](Pan::brand) or [`masked`](Pan::masked).
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::Pan;
    ///
    /// let pan = Pan::parse("4242 4242 4242 4242")?;
    /// assert_eq!(pan.expose(), "4242424242424242");
    /// # Ok::<(), vinr_domain::card::CardNumberError>(())
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four digits, which may be shown to the card holder.
    pub fn last4(&self) -> &str {
        let start = self.0.len().saturating_sub(4);
        // The PAN is ASCII and at least 12 long, so the fallback is never taken.
        self.0.get(start..).unwrap_or_default()
    }

    /// The first six digits (bank identification number).
    pub fn bin(&self) -> &str {
        // The PAN is ASCII and at least 12 long, so the fallback is never taken.
        self.0.get(..6).unwrap_or_default()
    }

    /// The card network, detected from the number's prefix.
    pub fn brand(&self) -> Brand {
        Brand::detect(&self.0)
    }

    /// The number with every digit but the last four replaced by `•`,
    /// grouped in fours counted from the right and separated by single
    /// spaces, so the last four always stand as their own group.
    ///
    /// 16 digits give `•••• •••• •••• 4242`, 15 give `••• •••• •••• 0005`,
    /// 19 give `••• •••• •••• •••• 0004`.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::Pan;
    ///
    /// let amex = Pan::parse("378282246310005")?;
    /// assert_eq!(amex.masked(), "••• •••• •••• 0005");
    /// # Ok::<(), vinr_domain::card::CardNumberError>(())
    /// ```
    pub fn masked(&self) -> String {
        let len = self.0.len();
        let hidden = len.saturating_sub(4);
        let mut out = String::with_capacity(len * MASK_CHAR.len_utf8() + len / 4);
        for (i, ch) in self.0.chars().enumerate() {
            if i > 0 && (len - i).is_multiple_of(4) {
                out.push(' ');
            }
            out.push(if i < hidden { MASK_CHAR } else { ch });
        }
        out
    }

    /// The number of digits (12 to 19).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a parsed PAN has at least 12 digits.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan(…{})", self.last4())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a security code was rejected by [`Cvc::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvcError {
    /// Not 3 or 4 ASCII digits.
    #[error("the security code must be 3 or 4 digits")]
    Invalid,
}

/// A card security code (CVC/CVV/CID): 3 or 4 ASCII digits.
///
/// `Debug` prints `Cvc(***)`; there is no `Display` and no serde, so the
/// code cannot end up in logs or storage by accident.
///
/// # Examples
///
/// ```
/// use vinr_domain::card::{Cvc, CvcError};
///
/// let cvc = Cvc::parse(" 123 ")?;
/// assert_eq!(cvc.expose(), "123");
/// assert_eq!(format!("{cvc:?}"), "Cvc(***)");
/// assert_eq!(Cvc::parse("12"), Err(CvcError::Invalid));
/// # Ok::<(), CvcError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    /// Parses a security code: 3 or 4 ASCII digits once surrounding
    /// whitespace is trimmed.
    ///
    /// # Errors
    ///
    /// [`CvcError::Invalid`] for anything else.
    pub fn parse(input: &str) -> Result<Cvc, CvcError> {
        let code = input.trim();
        if matches!(code.len(), 3 | 4) && code.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Cvc(code.to_owned()))
        } else {
            Err(CvcError::Invalid)
        }
    }

    /// The code itself. Only the network client may call this; a CVC must
    /// never be stored.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

/// Why an expiry date was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// The month is not within 1..=12.
    #[error("the expiry month must be between 1 and 12")]
    InvalidMonth,
    /// The year is not within 2000..=2099.
    #[error("the expiry year must be between 2000 and 2099")]
    InvalidYear,
    /// The text does not look like an expiry date.
    #[error("the expiry date must look like MM/YY")]
    Malformed,
}

/// A card's expiry month. The card is valid through the last day of that
/// month and lapses on the first day of the next one.
///
/// Ordered chronologically. Serialized as `{"month": 12, "year": 2034}`;
/// deserialization applies the same checks as [`Expiry::new`].
///
/// # Examples
///
/// ```
/// use chrono::NaiveDate;
/// use vinr_domain::card::Expiry;
///
/// let exp = Expiry::parse_mm_yy("12/34")?;
/// assert_eq!((exp.month(), exp.year()), (12, 2034));
/// assert_eq!(Some(exp.lapses_on()), NaiveDate::from_ymd_opt(2035, 1, 1));
///
/// let last_day = exp.lapses_on().pred_opt();
/// assert_eq!(last_day.map(|d| exp.is_expired(d)), Some(false));
/// assert_eq!(last_day.map(|d| exp.days_until_lapse(d)), Some(1));
/// assert!(exp.is_expired(exp.lapses_on()));
/// # Ok::<(), vinr_domain::card::ExpiryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Expiry {
    month: u32,
    year: i32,
}

impl Expiry {
    /// Builds an expiry from a month (1..=12) and a four-digit year
    /// (2000..=2099).
    ///
    /// # Errors
    ///
    /// [`ExpiryError::InvalidMonth`] or [`ExpiryError::InvalidYear`], month
    /// checked first.
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::{Expiry, ExpiryError};
    ///
    /// assert!(Expiry::new(2, 2030).is_ok());
    /// assert_eq!(Expiry::new(13, 2030), Err(ExpiryError::InvalidMonth));
    /// assert_eq!(Expiry::new(1, 30), Err(ExpiryError::InvalidYear));
    /// ```
    pub fn new(month: u32, year: i32) -> Result<Expiry, ExpiryError> {
        if !(1..=12).contains(&month) {
            return Err(ExpiryError::InvalidMonth);
        }
        if !(2000..=2099).contains(&year) {
            return Err(ExpiryError::InvalidYear);
        }
        Ok(Expiry { month, year })
    }

    /// Parses an expiry as printed on a card or typed in a form.
    ///
    /// Accepts `MM/YY`, `M/YY`, `MM / YY`, `MM/YYYY`, `M/YYYY` and `MMYY`,
    /// with surrounding whitespace. Two-digit years mean `20YY`.
    ///
    /// # Errors
    ///
    /// [`ExpiryError::Malformed`] if the shape is wrong, otherwise the errors
    /// of [`Expiry::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use vinr_domain::card::{Expiry, ExpiryError};
    ///
    /// assert_eq!(Expiry::parse_mm_yy(" 3 / 27 "), Expiry::new(3, 2027));
    /// assert_eq!(Expiry::parse_mm_yy("0327"), Expiry::new(3, 2027));
    /// assert_eq!(Expiry::parse_mm_yy("03/2027"), Expiry::new(3, 2027));
    /// assert_eq!(Expiry::parse_mm_yy("03-27"), Err(ExpiryError::Malformed));
    /// ```
    pub fn parse_mm_yy(input: &str) -> Result<Expiry, ExpiryError> {
        let s = input.trim();
        let (mm, yy) = match s.split_once('/') {
            Some((m, y)) => (m.trim(), y.trim()),
            None => match (s.len(), s.get(..2), s.get(2..)) {
                (4, Some(m), Some(y)) => (m, y),
                _ => return Err(ExpiryError::Malformed),
            },
        };
        if !matches!(mm.len(), 1 | 2) {
            return Err(ExpiryError::Malformed);
        }
        let month = ascii_number(mm).ok_or(ExpiryError::Malformed)?;
        let year_digits = ascii_number(yy).ok_or(ExpiryError::Malformed)?;
        let year = match yy.len() {
            2 => 2000 + year_digits,
            4 => year_digits,
            _ => return Err(ExpiryError::Malformed),
        };
        let year = i32::try_from(year).map_err(|_| ExpiryError::Malformed)?;
        Expiry::new(month, year)
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month
    }

    /// The four-digit year, 2000..=2099.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The first day on which the card is no longer valid: the 1st of the
    /// month after the expiry month (December 2034 lapses on 2035-01-01).
    pub fn lapses_on(&self) -> NaiveDate {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        // Fields are validated to 2000..=2099 / 1..=12, so this always exists;
        // should it ever not, failing closed (already lapsed) is the safe side.
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Whether the card has lapsed on `today` (`today >= lapses_on()`); it is
    /// still valid on the last day of its expiry month.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        today >= self.lapses_on()
    }

    /// Whole days from `today` until [`lapses_on`](Expiry::lapses_on);
    /// zero or negative once expired.
    pub fn days_until_lapse(&self, today: NaiveDate) -> i64 {
        self.lapses_on().signed_duration_since(today).num_days()
    }
}

impl PartialOrd for Expiry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Expiry {
    // Field order is month-first, so a derived Ord would rank Jan 2030 before
    // Feb 2025; compare chronologically instead.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.year, self.month).cmp(&(other.year, other.month))
    }
}

/// Wire form of [`Expiry`], so deserialization can go through [`Expiry::new`]
/// instead of trusting the input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpiryRepr {
    month: u32,
    year: i32,
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = ExpiryRepr::deserialize(deserializer)?;
        Expiry::new(repr.month, repr.year).map_err(serde::de::Error::custom)
    }
}

/// Parses a short run of ASCII digits; `None` if empty or anything else
/// (notably `+`, which `str::parse` would accept).
fn ascii_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
// A failed unwrap is exactly how a test should fail.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The digit that makes `payload` followed by it Luhn-valid.
    fn luhn_check_digit(payload: &str) -> char {
        (b'0'..=b'9')
            .map(char::from)
            .find(|d| luhn_valid(&format!("{payload}{d}")))
            .unwrap()
    }

    #[test]
    fn luhn_table() {
        fn check(input: &str, expected: bool) {
            assert_eq!(luhn_valid(input), expected, "luhn_valid({input:?})");
        }
        let table: &[(&str, bool)] = &[
            ("4242424242424242", true),
            ("4000002500003155", true),
            ("5555555555554444", true),
            ("2223003122003222", true),
            ("378282246310005", true),
            ("6011111111111117", true),
            ("3056930009020004", true),
            ("36227206271667", true),
            ("3566002020360505", true),
            ("6200000000000005", true),
            ("79927398713", true),
            ("0", true),
            ("00", true),
            ("18", true),
            ("4242424242424241", false),
            ("4242424242424243", false),
            ("79927398710", false),
            ("1", false),
            ("", false),
            ("4242 4242 4242 4242", false),
            ("4242-4242-4242-4242", false),
            ("42424242424242a2", false),
            ("٤٢٤٢", false),
            ("+4242424242424242", false),
        ];
        for &(input, expected) in table {
            check(input, expected);
        }
    }

    #[test]
    fn brand_table() {
        fn check(input: &str, expected: Brand) {
            assert_eq!(Brand::detect(input), expected, "Brand::detect({input:?})");
        }
        let table: &[(&str, Brand)] = &[
            ("4242424242424242", Brand::Visa),
            ("4000002500003155", Brand::Visa),
            ("4000000000000002", Brand::Visa),
            ("4000000000009995", Brand::Visa),
            ("4000000000000069", Brand::Visa),
            ("4000000000000127", Brand::Visa),
            ("4000000000003220", Brand::Visa),
            ("4000002760003184", Brand::Visa),
            ("4000008260003178", Brand::Visa),
            ("4000008400001629", Brand::Visa),
            ("4000000000003055", Brand::Visa),
            ("4000000000000341", Brand::Visa),
            ("4000000000009987", Brand::Visa),
            ("4000000000009979", Brand::Visa),
            ("4000000000000119", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("2223003122003222", Brand::Mastercard),
            ("5105105105105100", Brand::Mastercard),
            ("2221000000000009", Brand::Mastercard),
            ("2720990000000000", Brand::Mastercard),
            ("2220990000000000", Brand::Unknown),
            ("2721000000000000", Brand::Unknown),
            ("5000000000000000", Brand::Unknown),
            ("5600000000000000", Brand::Unknown),
            ("378282246310005", Brand::Amex),
            ("371449635398431", Brand::Amex),
            ("6011111111111117", Brand::Discover),
            ("6440000000000000", Brand::Discover),
            ("6490000000000000", Brand::Discover),
            ("6500000000000000", Brand::Discover),
            ("6430000000000000", Brand::Unknown),
            ("3056930009020004", Brand::Diners),
            ("36227206271667", Brand::Diners),
            ("30000000000004", Brand::Diners),
            ("30950000000000", Brand::Diners),
            ("38000000000000", Brand::Diners),
            ("39000000000000", Brand::Diners),
            ("30600000000000", Brand::Unknown),
            ("3566002020360505", Brand::Jcb),
            ("3528000000000000", Brand::Jcb),
            ("3589000000000000", Brand::Jcb),
            ("3527000000000000", Brand::Unknown),
            ("3590000000000000", Brand::Unknown),
            ("6200000000000005", Brand::Unionpay),
            ("8100000000000000", Brand::Unionpay),
            ("9999999999999995", Brand::Unknown),
            ("", Brand::Unknown),
            ("4", Brand::Visa),
            ("3", Brand::Unknown),
            ("x4242424242424242", Brand::Unknown),
            ("é", Brand::Unknown),
        ];
        for &(input, expected) in table {
            check(input, expected);
        }
    }

    #[test]
    fn enum_names_match_serde() {
        fn check<T: Serialize>(value: T, name: &str) {
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                format!("\"{name}\"")
            );
        }
        for brand in [
            Brand::Visa,
            Brand::Mastercard,
            Brand::Amex,
            Brand::Discover,
            Brand::Diners,
            Brand::Jcb,
            Brand::Unionpay,
            Brand::Unknown,
        ] {
            check(brand, brand.as_str());
            assert_eq!(brand.to_string(), brand.as_str());
            let back: Brand = serde_json::from_str(&format!("\"{brand}\"")).unwrap();
            assert_eq!(back, brand);
        }
        for funding in [
            Funding::Credit,
            Funding::Debit,
            Funding::Prepaid,
            Funding::Unknown,
        ] {
            check(funding, funding.as_str());
            let back: Funding = serde_json::from_str(&format!("\"{funding}\"")).unwrap();
            assert_eq!(back, funding);
        }
    }

    #[test]
    fn pan_parse_table() {
        fn check(input: &str, expected: Result<&str, CardNumberError>) {
            let got = Pan::parse(input);
            assert_eq!(
                got.as_ref().map(Pan::expose).map_err(Clone::clone),
                expected,
                "Pan::parse({input:?})"
            );
        }
        let table: &[(&str, Result<&str, CardNumberError>)] = &[
            ("4242424242424242", Ok("4242424242424242")),
            ("4242 4242 4242 4242", Ok("4242424242424242")),
            ("4242-4242-4242-4242", Ok("4242424242424242")),
            (" 4242 - 4242 4242-4242 ", Ok("4242424242424242")),
            ("3782 822463 10005", Ok("378282246310005")),
            ("000000000000", Ok("000000000000")),
            ("4000000000000000006", Ok("4000000000000000006")),
            ("", Err(CardNumberError::Empty)),
            ("  - -", Err(CardNumberError::Empty)),
            (
                "4242\t4242424242424242",
                Err(CardNumberError::InvalidCharacters),
            ),
            (
                "4242424242424242\n",
                Err(CardNumberError::InvalidCharacters),
            ),
            (
                "4242.4242.4242.4242",
                Err(CardNumberError::InvalidCharacters),
            ),
            ("4242abcd42424242", Err(CardNumberError::InvalidCharacters)),
            ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", Err(CardNumberError::InvalidCharacters)),
            (
                "00000000000",
                Err(CardNumberError::InvalidLength { len: 11 }),
            ),
            (
                "42424242424",
                Err(CardNumberError::InvalidLength { len: 11 }),
            ),
            (
                "42424242424242424242",
                Err(CardNumberError::InvalidLength { len: 20 }),
            ),
            ("4242424242424241", Err(CardNumberError::ChecksumFailed)),
            ("4242 4242 4242 4243", Err(CardNumberError::ChecksumFailed)),
        ];
        for (input, expected) in table {
            check(input, expected.clone());
        }
    }

    #[test]
    fn pan_accessors_table() {
        fn check(input: &str, bin: &str, last4: &str, masked: &str, brand: Brand) {
            let pan = Pan::parse(input).unwrap();
            assert_eq!(pan.bin(), bin, "{input}");
            assert_eq!(pan.last4(), last4, "{input}");
            assert_eq!(pan.masked(), masked, "{input}");
            assert_eq!(pan.to_string(), masked, "{input}");
            assert_eq!(format!("{pan:?}"), format!("Pan(…{last4})"), "{input}");
            assert_eq!(format!("{pan:#?}"), format!("Pan(…{last4})"), "{input}");
            assert_eq!(pan.brand(), brand, "{input}");
            assert_eq!(pan.len(), pan.expose().len(), "{input}");
            assert!(!pan.is_empty());
        }
        let table: &[(&str, &str, &str, &str, Brand)] = &[
            (
                "4242424242424242",
                "424242",
                "4242",
                "•••• •••• •••• 4242",
                Brand::Visa,
            ),
            (
                "378282246310005",
                "378282",
                "0005",
                "••• •••• •••• 0005",
                Brand::Amex,
            ),
            (
                "36227206271667",
                "362272",
                "1667",
                "•• •••• •••• 1667",
                Brand::Diners,
            ),
            (
                "000000000000",
                "000000",
                "0000",
                "•••• •••• 0000",
                Brand::Unknown,
            ),
            (
                "4000000000000000006",
                "400000",
                "0006",
                "••• •••• •••• •••• 0006",
                Brand::Visa,
            ),
        ];
        for &(input, bin, last4, masked, brand) in table {
            check(input, bin, last4, masked, brand);
        }
    }

    #[test]
    fn pan_errors_never_echo_the_number() {
        for input in ["4242424242424241", "4242x42424242424", "42424242424"] {
            let err = Pan::parse(input).unwrap_err();
            assert!(!err.to_string().contains("4242"), "{err}");
            assert!(!format!("{err:?}").contains("4242"), "{err:?}");
        }
    }

    #[test]
    fn cvc_table() {
        fn check(input: &str, expected: Result<&str, CvcError>) {
            let got = Cvc::parse(input);
            assert_eq!(
                got.as_ref().map(Cvc::expose).map_err(Clone::clone),
                expected,
                "Cvc::parse({input:?})"
            );
            if let Ok(cvc) = got {
                assert_eq!(format!("{cvc:?}"), "Cvc(***)");
                assert_eq!(format!("{cvc:#?}"), "Cvc(***)");
            }
        }
        let table: &[(&str, Result<&str, CvcError>)] = &[
            ("123", Ok("123")),
            ("1234", Ok("1234")),
            (" 987\n", Ok("987")),
            ("000", Ok("000")),
            ("12", Err(CvcError::Invalid)),
            ("12345", Err(CvcError::Invalid)),
            ("12a", Err(CvcError::Invalid)),
            ("1 23", Err(CvcError::Invalid)),
            ("+12", Err(CvcError::Invalid)),
            ("", Err(CvcError::Invalid)),
            ("١٢٣", Err(CvcError::Invalid)),
        ];
        for (input, expected) in table {
            check(input, expected.clone());
        }
    }

    #[test]
    fn expiry_parse_table() {
        fn check(input: &str, expected: Result<(u32, i32), ExpiryError>) {
            let got = Expiry::parse_mm_yy(input).map(|e| (e.month(), e.year()));
            assert_eq!(got, expected, "Expiry::parse_mm_yy({input:?})");
        }
        type Expected = Result<(u32, i32), ExpiryError>;
        let table: &[(&str, Expected)] = &[
            ("12/34", Ok((12, 2034))),
            ("1/25", Ok((1, 2025))),
            ("01/25", Ok((1, 2025))),
            ("12 / 34", Ok((12, 2034))),
            ("  09/2031  ", Ok((9, 2031))),
            ("9/2031", Ok((9, 2031))),
            ("0931", Ok((9, 2031))),
            ("\t0500\n", Ok((5, 2000))),
            ("12/99", Ok((12, 2099))),
            ("00/25", Err(ExpiryError::InvalidMonth)),
            ("13/25", Err(ExpiryError::InvalidMonth)),
            ("1325", Err(ExpiryError::InvalidMonth)),
            ("12/1999", Err(ExpiryError::InvalidYear)),
            ("12/2100", Err(ExpiryError::InvalidYear)),
            ("", Err(ExpiryError::Malformed)),
            ("/", Err(ExpiryError::Malformed)),
            ("12/", Err(ExpiryError::Malformed)),
            ("/25", Err(ExpiryError::Malformed)),
            ("12/5", Err(ExpiryError::Malformed)),
            ("12/025", Err(ExpiryError::Malformed)),
            ("012/25", Err(ExpiryError::Malformed)),
            ("12-25", Err(ExpiryError::Malformed)),
            ("12/25/1", Err(ExpiryError::Malformed)),
            ("122025", Err(ExpiryError::Malformed)),
            ("125", Err(ExpiryError::Malformed)),
            ("+1/25", Err(ExpiryError::Malformed)),
            ("ab/cd", Err(ExpiryError::Malformed)),
            ("é1/25", Err(ExpiryError::Malformed)),
            ("1é25", Err(ExpiryError::Malformed)),
        ];
        for (input, expected) in table {
            check(input, expected.clone());
        }
    }

    #[test]
    fn expiry_new_table() {
        fn check(month: u32, year: i32, expected: Result<(), ExpiryError>) {
            assert_eq!(
                Expiry::new(month, year).map(|_| ()),
                expected,
                "Expiry::new({month}, {year})"
            );
        }
        let table: &[(u32, i32, Result<(), ExpiryError>)] = &[
            (1, 2000, Ok(())),
            (12, 2099, Ok(())),
            (0, 2030, Err(ExpiryError::InvalidMonth)),
            (13, 2030, Err(ExpiryError::InvalidMonth)),
            (1, 1999, Err(ExpiryError::InvalidYear)),
            (1, 2100, Err(ExpiryError::InvalidYear)),
            (1, 30, Err(ExpiryError::InvalidYear)),
            (0, 30, Err(ExpiryError::InvalidMonth)),
        ];
        for (month, year, expected) in table {
            check(*month, *year, expected.clone());
        }
    }

    #[test]
    fn expiry_lapse_table() {
        // (expiry month, year, today, lapses_on, expired, days until lapse)
        fn check(
            (month, year): (u32, i32),
            today: NaiveDate,
            lapses_on: NaiveDate,
            expired: bool,
            days: i64,
        ) {
            let exp = Expiry::new(month, year).unwrap();
            assert_eq!(exp.lapses_on(), lapses_on, "{exp:?}");
            assert_eq!(exp.is_expired(today), expired, "{exp:?} on {today}");
            assert_eq!(exp.days_until_lapse(today), days, "{exp:?} on {today}");
        }
        let table = [
            ((12, 2034), date(2034, 12, 31), date(2035, 1, 1), false, 1),
            ((12, 2034), date(2035, 1, 1), date(2035, 1, 1), true, 0),
            ((12, 2034), date(2035, 1, 11), date(2035, 1, 1), true, -10),
            ((2, 2028), date(2028, 2, 29), date(2028, 3, 1), false, 1),
            ((2, 2027), date(2027, 2, 28), date(2027, 3, 1), false, 1),
            ((2, 2027), date(2027, 3, 1), date(2027, 3, 1), true, 0),
            ((6, 2030), date(2030, 6, 1), date(2030, 7, 1), false, 30),
            ((6, 2030), date(2029, 7, 1), date(2030, 7, 1), false, 365),
            ((12, 2099), date(2099, 12, 31), date(2100, 1, 1), false, 1),
            ((1, 2000), date(2000, 2, 1), date(2000, 2, 1), true, 0),
        ];
        for (exp, today, lapses_on, expired, days) in table {
            check(exp, today, lapses_on, expired, days);
        }
    }

    #[test]
    fn expiry_orders_chronologically() {
        let a = Expiry::new(12, 2025).unwrap();
        let b = Expiry::new(1, 2026).unwrap();
        let c = Expiry::new(2, 2026).unwrap();
        assert!(a < b && b < c);
        assert_eq!(a.max(b), b);
    }

    #[test]
    fn expiry_serde_table() {
        fn check(json: &str, expected: Option<(u32, i32)>) {
            let got: Result<Expiry, _> = serde_json::from_str(json);
            assert_eq!(
                got.as_ref().ok().map(|e| (e.month(), e.year())),
                expected,
                "{json} -> {got:?}"
            );
            if let Ok(exp) = got {
                let back: Expiry =
                    serde_json::from_str(&serde_json::to_string(&exp).unwrap()).unwrap();
                assert_eq!(back, exp);
            }
        }
        let table: &[(&str, Option<(u32, i32)>)] = &[
            (r#"{"month":12,"year":2034}"#, Some((12, 2034))),
            (r#"{"year":2030,"month":1}"#, Some((1, 2030))),
            (r#"{"month":13,"year":2034}"#, None),
            (r#"{"month":12,"year":34}"#, None),
            (r#"{"month":12}"#, None),
            (r#"{"month":12,"year":2034,"day":1}"#, None),
            (r#""12/34""#, None),
        ];
        for &(json, expected) in table {
            check(json, expected);
        }
        assert_eq!(
            serde_json::to_string(&Expiry::new(12, 2034).unwrap()).unwrap(),
            r#"{"month":12,"year":2034}"#
        );
    }

    /// 11..=18 random digits followed by their Luhn check digit.
    fn valid_number() -> impl Strategy<Value = String> {
        "[0-9]{11,18}".prop_map(|payload| {
            let check = luhn_check_digit(&payload);
            format!("{payload}{check}")
        })
    }

    proptest! {
        #[test]
        fn prop_luhn_check_digit_parses_and_single_digit_change_fails(
            number in valid_number(),
            index in any::<prop::sample::Index>(),
            bump in 1u8..=9,
        ) {
            let pan = Pan::parse(&number);
            prop_assert!(pan.is_ok(), "{number} -> {pan:?}");

            let mut bytes = number.clone().into_bytes();
            let i = index.index(bytes.len());
            bytes[i] = b'0' + (bytes[i] - b'0' + bump) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_ne!(&changed, &number);
            prop_assert!(!luhn_valid(&changed), "{changed} still passes Luhn");
        }

        #[test]
        fn prop_brand_detect_total_and_visa_on_4(
            any_text in any::<String>(),
            payload in "4[0-9]{10,17}",
        ) {
            let _ = Brand::detect(&any_text);
            let number = format!("{payload}{}", luhn_check_digit(&payload));
            let pan = Pan::parse(&number).unwrap();
            prop_assert_eq!(pan.brand(), Brand::Visa);
            prop_assert_eq!(Brand::detect(&number), Brand::Visa);
        }

        #[test]
        fn prop_pan_parse_total(input in any::<String>()) {
            let _ = Pan::parse(&input);
        }

        #[test]
        fn prop_pan_parse_total_on_card_like_text(input in "[0-9 -]{0,25}[0-9a-z]?") {
            if let Ok(pan) = Pan::parse(&input) {
                prop_assert!(luhn_valid(pan.expose()));
            }
        }

        #[test]
        fn prop_pan_debug_display_hide_all_but_last4(
            payload in "[0-9]{12,18}",
        ) {
            let number = format!("{payload}{}", luhn_check_digit(&payload));
            let pan = Pan::parse(&number).unwrap();
            let hidden = &number[..number.len() - 4];
            for shown in [format!("{pan:?}"), format!("{pan:#?}"), pan.to_string(), pan.masked()] {
                let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
                prop_assert_eq!(&digits, pan.last4(), "{}", shown);
                prop_assert!(!shown.contains(hidden));
                prop_assert!(!shown.contains(&number));
            }
        }

        #[test]
        fn prop_expiry_mm_yy_round_trips(month in 1u32..=12, yy in 0i32..=99) {
            let exp = Expiry::parse_mm_yy(&format!("{month:02}/{yy:02}")).unwrap();
            prop_assert_eq!(exp.month(), month);
            prop_assert_eq!(exp.year(), 2000 + yy);
            prop_assert_eq!(Expiry::parse_mm_yy(&format!("{month}/{}", 2000 + yy)), Ok(exp));
            prop_assert_eq!(Expiry::parse_mm_yy(&format!("{month:02}{yy:02}")), Ok(exp));
        }

        #[test]
        fn prop_expiry_parse_total(input in any::<String>()) {
            let _ = Expiry::parse_mm_yy(&input);
        }
    }
}
