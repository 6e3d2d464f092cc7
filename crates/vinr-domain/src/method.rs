//! The stored payment method: what a merchant may see of a card (brand, last four, expiry),
//! and the record the store keeps beside it (the sealed number, never the plain one).

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::card::{Brand, Expiry, Funding};
use crate::ids::{CustomerId, PaymentMethodId};

/// An HMAC of a card number under an account key: equal for equal numbers within one account,
/// and revealing nothing about the number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Wraps a fingerprint computed by the vault.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// A card number as the vault sealed it: ciphertext, nonce and the id of the key used.
///
/// The plain number is never stored; only the vault can open this.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCard {
    /// Which vault key sealed it, so keys can rotate.
    pub key_id: String,
    /// The AEAD nonce, unique per record.
    pub nonce: Vec<u8>,
    /// The encrypted number with its authentication tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedCard(key {}, {} bytes)",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

/// What may be shown of a card: brand, last four, expiry, funding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    /// The card brand.
    pub brand: Brand,
    /// The last four digits.
    pub last4: String,
    /// The expiry date.
    pub expiry: Expiry,
    /// Credit, debit, prepaid or unknown.
    pub funding: Funding,
}

/// A card typed by a buyer and vaulted, waiting for the network's verdict (for example during
/// a 3-D Secure challenge) before it becomes a method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCard {
    /// The sealed number.
    pub sealed: SealedCard,
    /// What may be shown of it.
    pub summary: CardSummary,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
}

/// The kind of a payment method; cards only for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MethodType {
    /// A payment card.
    Card,
}

/// A saved card, as the merchant sees it (`pm_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "payment_method", rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentMethod {
    /// `pm_…`.
    pub id: PaymentMethodId,
    /// The customer it is attached to; `null` once detached.
    pub customer_id: Option<CustomerId>,
    /// Always `card`.
    #[serde(rename = "type")]
    pub kind: MethodType,
    /// The card brand.
    pub brand: Brand,
    /// The last four digits.
    pub last4: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u32,
    /// Expiry year, four digits.
    pub exp_year: i32,
    /// Equal for the same card number within one account.
    pub fingerprint: Fingerprint,
    /// Credit, debit, prepaid or unknown.
    pub funding: Funding,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it lives in live mode.
    pub livemode: bool,
    /// +1 on every change.
    pub version: u64,
}

impl PaymentMethod {
    /// The card's expiry date.
    ///
    /// `None` only if the stored pair were invalid, which construction through
    /// [`StoredMethod::new`] rules out.
    pub fn expiry(&self) -> Option<Expiry> {
        Expiry::new(self.exp_month, self.exp_year).ok()
    }
}

/// Where a method stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodState {
    /// Used for one payment on a hosted page and not saved to any customer.
    Unattached,
    /// Attached to a customer and chargeable.
    Attached,
    /// Detached for ever.
    Detached,
}

/// Why a method cannot be charged for a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MethodUseError {
    /// The method was detached (or never attached).
    #[error("the payment method is detached and can no longer be used")]
    Detached,
    /// The method is attached to someone else.
    #[error("the payment method belongs to another customer")]
    CustomerMismatch,
}

/// A method as the store keeps it: the merchant's view plus the sealed card and the facts the
/// network and the expiry scan need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMethod {
    /// What the merchant sees.
    pub method: PaymentMethod,
    /// The sealed card number.
    pub sealed: SealedCard,
    /// Attached, detached or never attached.
    pub state: MethodState,
    /// Whether the card was saved through a completed 3-D Secure challenge, which some cards
    /// need before the network lets them be charged off-session.
    pub authenticated: bool,
    /// The expiry for which a `payment_method.expiring` notice was already emitted.
    pub expiry_notice_sent: Option<Expiry>,
}

impl StoredMethod {
    /// A new method at version 1, attached to `customer` if one is given.
    pub fn new(
        id: PaymentMethodId,
        customer: Option<CustomerId>,
        card: PendingCard,
        authenticated: bool,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let state = if customer.is_some() {
            MethodState::Attached
        } else {
            MethodState::Unattached
        };
        Self {
            method: PaymentMethod {
                id,
                customer_id: customer,
                kind: MethodType::Card,
                brand: card.summary.brand,
                last4: card.summary.last4,
                exp_month: card.summary.expiry.month(),
                exp_year: card.summary.expiry.year(),
                fingerprint: card.fingerprint,
                funding: card.summary.funding,
                created: now,
                livemode,
                version: 1,
            },
            sealed: card.sealed,
            state,
            authenticated,
            expiry_notice_sent: None,
        }
    }

    /// Checks the method may be charged for `customer`; the detached check comes first, as
    /// the contract orders it.
    pub fn usable_by(&self, customer: &CustomerId) -> Result<(), MethodUseError> {
        match self.state {
            MethodState::Detached | MethodState::Unattached => Err(MethodUseError::Detached),
            MethodState::Attached => {
                if self.method.customer_id.as_ref() == Some(customer) {
                    Ok(())
                } else {
                    Err(MethodUseError::CustomerMismatch)
                }
            }
        }
    }

    /// Whether it is attached to `customer`.
    pub fn is_attached_to(&self, customer: &CustomerId) -> bool {
        self.state == MethodState::Attached && self.method.customer_id.as_ref() == Some(customer)
    }

    /// The method detached for ever; `None` if it is not attached.
    pub fn detached(&self) -> Option<StoredMethod> {
        match self.state {
            MethodState::Attached => {
                let mut next = self.clone();
                next.state = MethodState::Detached;
                next.method.customer_id = None;
                next.method.version += 1;
                Some(next)
            }
            MethodState::Detached | MethodState::Unattached => None,
        }
    }

    /// The method with a new expiry (and optionally new last four), as the network updater
    /// or a re-entered card gives it; `None` when nothing changes. A new expiry re-arms the
    /// expiry notice.
    pub fn refreshed(
        &self,
        expiry: Expiry,
        last4: Option<&str>,
        authenticated: bool,
    ) -> Option<StoredMethod> {
        let last4_changes = last4.is_some_and(|l| l != self.method.last4);
        let expiry_changes =
            self.method.exp_month != expiry.month() || self.method.exp_year != expiry.year();
        let auth_changes = authenticated && !self.authenticated;
        if !last4_changes && !expiry_changes && !auth_changes {
            return None;
        }
        let mut next = self.clone();
        next.method.exp_month = expiry.month();
        next.method.exp_year = expiry.year();
        if let Some(l) = last4 {
            l.clone_into(&mut next.method.last4);
        }
        next.authenticated = self.authenticated || authenticated;
        next.method.version += 1;
        Some(next)
    }

    /// Whether the merchant-visible part changed between two versions (an internal flag such
    /// as `authenticated` is not a change a merchant is told about).
    pub fn visible_change(&self, next: &StoredMethod) -> bool {
        self.method.last4 != next.method.last4
            || self.method.exp_month != next.method.exp_month
            || self.method.exp_year != next.method.exp_year
            || self.method.customer_id != next.method.customer_id
    }

    /// Whether the expiry notice is due for this method on `today`: attached, lapsing more
    /// than 0 and at most `window_days` days from today, and not yet notified for this expiry.
    /// Returns the method marked as notified.
    pub fn expiry_notice_due(&self, today: NaiveDate, window_days: i64) -> Option<StoredMethod> {
        if self.state != MethodState::Attached {
            return None;
        }
        let expiry = self.method.expiry()?;
        if self.expiry_notice_sent == Some(expiry) {
            return None;
        }
        let days = expiry.days_until_lapse(today);
        if days <= 0 || days > window_days {
            return None;
        }
        let mut next = self.clone();
        next.expiry_notice_sent = Some(expiry);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(month: u32, year: i32) -> PendingCard {
        PendingCard {
            sealed: SealedCard {
                key_id: "k1".into(),
                nonce: vec![0; 12],
                ciphertext: vec![1; 32],
            },
            summary: CardSummary {
                brand: Brand::Visa,
                last4: "4242".into(),
                expiry: Expiry::new(month, year).unwrap(),
                funding: Funding::Credit,
            },
            fingerprint: Fingerprint::new("fp"),
        }
    }

    fn stored(month: u32, year: i32) -> (StoredMethod, CustomerId) {
        let cust = CustomerId::from_entropy(&[1; 24]);
        let m = StoredMethod::new(
            PaymentMethodId::from_entropy(&[2; 24]),
            Some(cust.clone()),
            pending(month, year),
            false,
            false,
            DateTime::<Utc>::UNIX_EPOCH,
        );
        (m, cust)
    }

    #[test]
    fn detach_is_final_and_checked_first() {
        let (m, cust) = stored(12, 2034);
        assert_eq!(m.usable_by(&cust), Ok(()));
        let other = CustomerId::from_entropy(&[3; 24]);
        assert_eq!(m.usable_by(&other), Err(MethodUseError::CustomerMismatch));
        let d = m.detached().unwrap();
        assert_eq!(d.method.customer_id, None);
        assert_eq!(d.method.version, 2);
        assert_eq!(d.usable_by(&other), Err(MethodUseError::Detached));
        assert!(d.detached().is_none());
    }

    fn check_notice(exp: (u32, i32), today: (i32, u32, u32), due: bool) {
        let (m, _) = stored(exp.0, exp.1);
        let today = NaiveDate::from_ymd_opt(today.0, today.1, today.2).unwrap();
        assert_eq!(
            m.expiry_notice_due(today, 30).is_some(),
            due,
            "{exp:?} on {today}"
        );
        if let Some(n) = m.expiry_notice_due(today, 30) {
            assert!(
                n.expiry_notice_due(today, 30).is_none(),
                "never twice for one expiry"
            );
        }
    }

    #[test]
    fn expiry_notice_window() {
        // 12/2026 lapses on 2027-01-01.
        check_notice((12, 2026), (2026, 11, 30), false);
        check_notice((12, 2026), (2026, 12, 1), false); // 31 days ahead
        check_notice((12, 2026), (2026, 12, 2), true); // 30 days ahead
        check_notice((12, 2026), (2026, 12, 31), true);
        check_notice((12, 2026), (2027, 1, 1), false); // lapsed today
        check_notice((1, 2020), (2026, 12, 1), false);
    }

    #[test]
    fn a_new_expiry_rearms_the_notice() {
        let (m, _) = stored(12, 2026);
        let today = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap();

        let notified = m.expiry_notice_due(today, 30).unwrap();
        let renewed = notified
            .refreshed(Expiry::new(1, 2027).unwrap(), None, false)
            .unwrap();
        let later = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        assert!(renewed.expiry_notice_due(later, 30).is_some());
        assert!(
            renewed
                .refreshed(Expiry::new(1, 2027).unwrap(), Some("4242"), false)
                .is_none()
        );
    }
}
