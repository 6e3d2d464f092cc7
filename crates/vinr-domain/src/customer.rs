//! The customer: a long-lived buyer, and the validation of what a merchant may store on it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidRequestCode, ValidationError};
use crate::ids::{CustomerId, PaymentMethodId};

/// At most this many metadata keys.
pub const METADATA_MAX_KEYS: usize = 50;
/// A metadata key has at most this many characters.
pub const METADATA_MAX_KEY_CHARS: usize = 40;
/// A metadata value has at most this many characters.
pub const METADATA_MAX_VALUE_CHARS: usize = 500;
/// A name has at most this many characters.
pub const NAME_MAX_CHARS: usize = 256;
/// A phone number has at most this many characters.
pub const PHONE_MAX_CHARS: usize = 40;
/// An address line, city or state has at most this many characters.
pub const ADDRESS_FIELD_MAX_CHARS: usize = 200;
/// A postal code has at most this many characters.
pub const POSTAL_CODE_MAX_CHARS: usize = 64;
/// An email address has at most this many characters (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Key-value pairs a merchant attaches to an object (its own ids, notes).
///
/// Limits: at most 50 keys, keys of 1 to 40 characters, values of at most 500.
///
/// ```
/// use vinr_domain::customer::Metadata;
/// let mut m = Metadata::parse([("internalId".to_owned(), "user_8821".to_owned())].into()).unwrap();
/// // An update merges key by key; an empty value removes the key.
/// m.merge([("internalId".to_owned(), String::new()), ("tier".to_owned(), "gold".to_owned())].into()).unwrap();
/// assert_eq!(m.get("tier"), Some("gold"));
/// assert_eq!(m.get("internalId"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Validates a whole metadata map (as given at creation).
    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        let m = Self(map);
        m.check()?;
        Ok(m)
    }

    /// Merges an update key by key: a key set to `""` is removed, others are set.
    /// On error the metadata is left as it was.
    pub fn merge(&mut self, update: BTreeMap<String, String>) -> Result<(), ValidationError> {
        let mut next = self.0.clone();
        for (k, v) in update {
            check_key(&k)?;
            if v.is_empty() {
                next.remove(&k);
            } else {
                next.insert(k, v);
            }
        }
        let next = Self(next);
        next.check()?;
        *self = next;
        Ok(())
    }

    /// The value of one key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The pairs as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    fn check(&self) -> Result<(), ValidationError> {
        if self.0.len() > METADATA_MAX_KEYS {
            return Err(metadata_error(format!(
                "metadata has {} keys; at most {METADATA_MAX_KEYS} are allowed",
                self.0.len()
            )));
        }
        for (k, v) in &self.0 {
            check_key(k)?;
            if v.chars().count() > METADATA_MAX_VALUE_CHARS {
                return Err(ValidationError::new(
                    InvalidRequestCode::InvalidMetadata,
                    format!("metadata[{k}]"),
                    format!("metadata values have at most {METADATA_MAX_VALUE_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

fn metadata_error(message: String) -> ValidationError {
    ValidationError::new(InvalidRequestCode::InvalidMetadata, "metadata", message)
}

fn check_key(k: &str) -> Result<(), ValidationError> {
    let n = k.chars().count();
    if n == 0 {
        return Err(metadata_error("metadata keys may not be empty".to_owned()));
    }
    if n > METADATA_MAX_KEY_CHARS {
        return Err(metadata_error(format!(
            "metadata keys have at most {METADATA_MAX_KEY_CHARS} characters"
        )));
    }
    Ok(())
}

/// Checks an email address and returns it trimmed.
///
/// The check is deliberately practical rather than RFC 5322-complete: one `@`, a non-empty
/// local part without spaces or control characters, and a domain of dot-separated labels of
/// letters, digits and hyphens with at least one dot.
///
/// ```
/// use vinr_domain::customer::parse_email;
/// assert_eq!(parse_email(" ada@example.com ").unwrap(), "ada@example.com");
/// assert!(parse_email("ada@example").is_err());
/// assert!(parse_email("ada example.com").is_err());
/// ```
pub fn parse_email(input: &str) -> Result<String, ValidationError> {
    let email = input.trim();
    let bad = |why: &str| {
        ValidationError::new(
            InvalidRequestCode::InvalidEmail,
            "email",
            format!("email is not a valid address: {why}"),
        )
    };
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(bad("too long"));
    }
    let (local, domain) = email.split_once('@').ok_or_else(|| bad("missing @"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the part before @ must have 1 to 64 characters"));
    }
    if local.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '@' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']'
            )
    }) {
        return Err(bad("the part before @ has a character not allowed"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("misplaced dot before @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("the domain needs a dot"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !ok {
            return Err(bad("the domain is malformed"));
        }
    }
    Ok(email.to_owned())
}

/// The key under which an email is looked up: case-insensitive, so lower-cased.
pub fn email_lookup_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks a free-text field (name, phone, address line) against its length limit and returns
/// it as given.
pub fn parse_text(param: &str, value: &str, max_chars: usize) -> Result<String, ValidationError> {
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            InvalidRequestCode::ParameterInvalid,
            param,
            format!("{param} has at most {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(
            InvalidRequestCode::ParameterInvalid,
            param,
            format!("{param} may not contain control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A postal address. `country` is an ISO 3166-1 alpha-2 code, stored upper-case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
// No `deny_unknown_fields`: objects stay readable by older receivers when a field is added;
// the HTTP edge refuses unknown request fields itself.
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// First line (street, number).
    pub line1: Option<String>,
    /// Second line (apartment, floor).
    pub line2: Option<String>,
    /// City or town.
    pub city: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// State, county, province or region.
    pub state: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
}

impl Address {
    /// Checks every field; returns the address with its country upper-cased.
    ///
    /// ```
    /// use vinr_domain::customer::Address;
    /// let a = Address { country: Some("fr".into()), ..Default::default() }.validated().unwrap();
    /// assert_eq!(a.country.as_deref(), Some("FR"));
    /// assert!(Address { country: Some("FRA".into()), ..Default::default() }.validated().is_err());
    /// ```
    pub fn validated(self) -> Result<Self, ValidationError> {
        let field = |name: &str, v: Option<String>| -> Result<Option<String>, ValidationError> {
            v.map(|v| parse_text(&format!("address.{name}"), &v, ADDRESS_FIELD_MAX_CHARS))
                .transpose()
        };
        let country = match self.country {
            None => None,
            Some(c) => {
                let c = c.trim().to_ascii_uppercase();
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(ValidationError::new(
                        InvalidRequestCode::ParameterInvalid,
                        "address.country",
                        "address.country must be a two-letter ISO 3166-1 code",
                    ));
                }
                Some(c)
            }
        };
        Ok(Self {
            line1: field("line1", self.line1)?,
            line2: field("line2", self.line2)?,
            city: field("city", self.city)?,
            postal_code: self
                .postal_code
                .map(|v| parse_text("address.postalCode", &v, POSTAL_CODE_MAX_CHARS))
                .transpose()?,
            state: field("state", self.state)?,
            country,
        })
    }
}

/// A buyer, kept for as long as the merchant keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "customer", rename_all = "camelCase")]
#[non_exhaustive]
pub struct Customer {
    /// `cust_…`.
    pub id: CustomerId,
    /// The buyer's email, as given.
    pub email: Option<String>,
    /// The buyer's full name.
    pub name: Option<String>,
    /// The buyer's phone number.
    pub phone: Option<String>,
    /// The billing address.
    pub address: Option<Address>,
    /// The merchant's key-value pairs.
    pub metadata: Metadata,
    /// The method charged when a payment names none.
    pub default_method_id: Option<PaymentMethodId>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it lives in live mode.
    pub livemode: bool,
    /// +1 on every change.
    pub version: u64,
}

/// The validated fields of a new customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFields {
    /// Checked with [`parse_email`].
    pub email: Option<String>,
    /// Checked with [`parse_text`].
    pub name: Option<String>,
    /// Checked with [`parse_text`].
    pub phone: Option<String>,
    /// Checked with [`Address::validated`].
    pub address: Option<Address>,
    /// Checked with [`Metadata::parse`].
    pub metadata: Metadata,
}

impl CustomerFields {
    /// Validates raw fields as the create call receives them.
    pub fn parse(
        email: Option<String>,
        name: Option<String>,
        phone: Option<String>,
        address: Option<Address>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            email: email.as_deref().map(parse_email).transpose()?,
            name: name
                .map(|n| parse_text("name", &n, NAME_MAX_CHARS))
                .transpose()?,
            phone: phone
                .map(|p| parse_text("phone", &p, PHONE_MAX_CHARS))
                .transpose()?,
            address: address.map(Address::validated).transpose()?,
            metadata: Metadata::parse(metadata.unwrap_or_default())?,
        })
    }
}

/// A change to a customer; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    /// New email.
    pub email: Option<Option<String>>,
    /// New name.
    pub name: Option<Option<String>>,
    /// New phone.
    pub phone: Option<Option<String>>,
    /// New address.
    pub address: Option<Option<Address>>,
    /// Metadata to merge (an empty value removes a key).
    pub metadata: Option<BTreeMap<String, String>>,
    /// New default method; the caller has checked it is attached to this customer.
    pub default_method_id: Option<Option<PaymentMethodId>>,
}

impl Customer {
    /// A new customer at version 1.
    pub fn new(id: CustomerId, fields: CustomerFields, livemode: bool, now: DateTime<Utc>) -> Self {
        Self {
            id,
            email: fields.email,
            name: fields.name,
            phone: fields.phone,
            address: fields.address,
            metadata: fields.metadata,
            default_method_id: None,
            created: now,
            livemode,
            version: 1,
        }
    }

    /// Applies a change, validating each field; the version goes up by one.
    /// On error nothing changes (the customer is taken by reference).
    pub fn updated(&self, changes: CustomerChanges) -> Result<Customer, ValidationError> {
        let mut next = self.clone();
        if let Some(email) = changes.email {
            next.email = email.as_deref().map(parse_email).transpose()?;
        }
        if let Some(name) = changes.name {
            next.name = name
                .map(|n| parse_text("name", &n, NAME_MAX_CHARS))
                .transpose()?;
        }
        if let Some(phone) = changes.phone {
            next.phone = phone
                .map(|p| parse_text("phone", &p, PHONE_MAX_CHARS))
                .transpose()?;
        }
        if let Some(address) = changes.address {
            next.address = address.map(Address::validated).transpose()?;
        }
        if let Some(update) = changes.metadata {
            next.metadata.merge(update)?;
        }
        if let Some(default) = changes.default_method_id {
            next.default_method_id = default;
        }
        next.version = self.version + 1;
        Ok(next)
    }

    /// The customer once a method is detached from it: the default is cleared if it was that
    /// method. Returns `None` when nothing changes.
    pub fn without_method(&self, method: &PaymentMethodId) -> Option<Customer> {
        if self.default_method_id.as_ref() != Some(method) {
            return None;
        }
        let mut next = self.clone();
        next.default_method_id = None;
        next.version += 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_email(input: &str, ok: bool) {
        assert_eq!(parse_email(input).is_ok(), ok, "{input:?}");
        if let Err(e) = parse_email(input) {
            assert_eq!(e.code, InvalidRequestCode::InvalidEmail);
            assert_eq!(e.param.as_deref(), Some("email"));
        }
    }

    #[test]
    fn email_table() {
        check_email("ada@example.com", true);
        check_email("ADA.Lovelace+tag@sub.example.co.uk", true);
        check_email("a@b.c", true);
        check_email("", false);
        check_email("ada", false);
        check_email("@example.com", false);
        check_email("ada@", false);
        check_email("ada@example", false);
        check_email("ada@@example.com", false);
        check_email("ada lovelace@example.com", false);
        check_email("ada@exa mple.com", false);
        check_email("ada@-example.com", false);
        check_email("ada@example..com", false);
        check_email(".ada@example.com", false);
        check_email(&format!("{}@example.com", "a".repeat(65)), false);
        check_email(&format!("a@{}.com", "b".repeat(250)), false);
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn metadata_limits() {
        let fifty: BTreeMap<String, String> =
            (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(Metadata::parse(fifty.clone()).is_ok());
        let mut fifty_one = fifty.clone();
        fifty_one.insert("k50".to_owned(), "v".to_owned());
        assert_eq!(
            Metadata::parse(fifty_one).unwrap_err().code,
            InvalidRequestCode::InvalidMetadata
        );
        assert!(Metadata::parse(meta(&[(&"k".repeat(40), "v")])).is_ok());
        assert!(Metadata::parse(meta(&[(&"k".repeat(41), "v")])).is_err());
        assert!(Metadata::parse(meta(&[("k", &"v".repeat(500))])).is_ok());
        let e = Metadata::parse(meta(&[("k", &"v".repeat(501))])).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("metadata[k]"));
        assert!(Metadata::parse(meta(&[("", "v")])).is_err());
    }

    #[test]
    fn metadata_merge_removes_empty_values_and_is_atomic() {
        let mut m = Metadata::parse(meta(&[("a", "1"), ("b", "2")])).unwrap();
        m.merge(meta(&[("a", ""), ("c", "3")])).unwrap();
        assert_eq!(m.as_map(), &meta(&[("b", "2"), ("c", "3")]));
        let before = m.clone();
        let too_many: BTreeMap<String, String> =
            (0..49).map(|i| (format!("n{i}"), "v".to_owned())).collect();
        assert!(m.merge(too_many).is_err());
        assert_eq!(m, before);
    }

    #[test]
    fn customer_update_bumps_version_and_clears_default() {
        let id = CustomerId::from_entropy(&[1; 24]);
        let c = Customer::new(
            id,
            CustomerFields::default(),
            false,
            DateTime::<Utc>::UNIX_EPOCH,
        );
        let pm = PaymentMethodId::from_entropy(&[2; 24]);
        let c2 = c
            .updated(CustomerChanges {
                name: Some(Some("Ada".into())),
                default_method_id: Some(Some(pm.clone())),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(c2.version, 2);
        assert_eq!(c2.name.as_deref(), Some("Ada"));
        let c3 = c2.without_method(&pm).unwrap();
        assert_eq!(c3.default_method_id, None);
        assert_eq!(c3.version, 3);
        assert!(c3.without_method(&pm).is_none());
        let bad = c3.updated(CustomerChanges {
            email: Some(Some("nope".into())),
            ..Default::default()
        });
        assert_eq!(bad.unwrap_err().code, InvalidRequestCode::InvalidEmail);
    }

    #[test]
    fn customer_serializes_as_the_contract_says() {
        let c = Customer::new(
            CustomerId::from_entropy(&[1; 24]),
            CustomerFields::default(),
            false,
            DateTime::<Utc>::UNIX_EPOCH,
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["object"], "customer");
        assert_eq!(v["created"], 0);
        assert_eq!(v["version"], 1);
        assert!(v.get("defaultMethodId").is_some());
        let back: Customer = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }
}
