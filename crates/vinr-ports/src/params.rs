//! Request parameters and response shapes of the driving API, in their wire form (camelCase,
//! unknown fields refused), shared by the engine, the HTTP server and the HTTP client so the
//! three cannot drift.
//!
//! Parameters are plain structs with `Default`, so a call reads like the seed's object literals:
//!
//! ```
//! use vinr_ports::params::CreateCustomer;
//! let params = CreateCustomer {
//!     email: Some("ada@example.com".into()),
//!     name: Some("Ada Lovelace".into()),
//!     ..Default::default()
//! };
//! assert_eq!(serde_json::to_value(&params).unwrap()["email"], "ada@example.com");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use vinr_domain::customer::Address;
use vinr_domain::ids::{CustomerId, PaymentMethodId, WebhookEndpointId};
use vinr_domain::payment::PaymentStatus;

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /v1/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomer {
    /// The buyer's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The buyer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The buyer's phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The merchant's key-value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH /v1/customers/{id}`: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCustomer {
    /// New email; `Some(None)` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Option<String>>,
    /// New name; `Some(None)` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    /// New phone; `Some(None)` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<Option<String>>,
    /// New address; `Some(None)` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<Option<Address>>,
    /// Metadata merged key by key; a key set to `""` is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The default method; `Some(None)` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_method_id: Option<Option<PaymentMethodId>>,
}

/// `GET /v1/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListCustomers {
    /// Only customers with this email (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// 1 to 100; 10 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The page after this customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<CustomerId>,
}

/// Paging of a plain list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams<Id> {
    /// 1 to 100; 10 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The page after this object.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<Id>,
}

impl<Id> Default for ListParams<Id> {
    fn default() -> Self {
        Self {
            limit: None,
            starting_after: None,
        }
    }
}

/// `POST /v1/customers/{id}/setup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSetup {
    /// Where the buyer goes after the hosted page; absolute http(s).
    pub return_url: String,
}

/// `POST /v1/payments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePayment {
    /// Minor units, 1 to 99,999,999.
    pub amount: i64,
    /// ISO 4217 code, any case.
    pub currency: String,
    /// The paying customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    /// The method to charge; the customer's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<PaymentMethodId>,
    /// The buyer is absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off_session: bool,
    /// The merchant's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The merchant's key-value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Save a card typed on the hosted page to the customer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub save_payment_method: bool,
    /// Where the buyer goes after a hosted page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

/// `GET /v1/payments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPayments {
    /// Only this customer's payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    /// Only payments in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PaymentStatus>,
    /// 1 to 100; 10 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The page after this payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<vinr_domain::ids::PaymentId>,
}

/// `POST /v1/webhook_endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// Where events are POSTed.
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing; 24 h when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<i64>,
}

/// `GET /v1/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListEvents {
    /// Only events of this type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// 1 to 100; 10 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The page after this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<vinr_domain::ids::EventId>,
}

/// `POST /v1/test_helpers/customers/{id}/methods`. `Debug` hides the number and the CVC.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachTestCard {
    /// A number from the test-card table.
    pub number: String,
    /// Expiry month.
    pub exp_month: u32,
    /// Expiry year, four digits.
    pub exp_year: i32,
    /// Any CVC (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvc: Option<String>,
}

impl fmt::Debug for AttachTestCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachTestCard")
            .field("number", &"[redacted]")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/test_helpers/payment_methods/{pm}/network_update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkUpdate {
    /// New expiry month.
    pub exp_month: u32,
    /// New expiry year.
    pub exp_year: i32,
    /// New last four digits, when the card number changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
}

/// `POST /v1/test_helpers/expiring_scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpiringScan {
    /// Run the scan as if today were this date (`YYYY-MM-DD`).
    pub as_of: NaiveDate,
}

/// The answer of the expiry scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// How many `payment_method.expiring` events were emitted.
    pub emitted: u64,
}

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "list", rename_all = "camelCase")]
pub struct List<T> {
    /// The objects of this page.
    pub data: Vec<T>,
    /// Whether more follow (ask again with `startingAfter` = the last id).
    pub has_more: bool,
}

/// The answer of a delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted<Id> {
    /// The deleted object's id.
    pub id: Id,
    /// `customer`, `webhook_endpoint`, …
    pub object: String,
    /// Always true.
    pub deleted: bool,
}

/// The answer of deleting a customer.
pub type DeletedCustomer = Deleted<CustomerId>;
/// The answer of deleting a webhook endpoint.
pub type DeletedWebhookEndpoint = Deleted<WebhookEndpointId>;

/// What a buyer typed on a hosted card page. `Debug` hides the number and the CVC.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEntry {
    /// The card number as typed (spaces allowed).
    pub number: String,
    /// `MM/YY`.
    pub expiry: String,
    /// The CVC.
    pub cvc: String,
    /// The name on the card.
    #[serde(default)]
    pub name: Option<String>,
}

impl CardEntry {
    /// A card entry with an expiry and CVC, the way a test would type it.
    pub fn new(
        number: impl Into<String>,
        expiry: impl Into<String>,
        cvc: impl Into<String>,
    ) -> Self {
        Self {
            number: number.into(),
            expiry: expiry.into(),
            cvc: cvc.into(),
            name: None,
        }
    }
}

impl fmt::Debug for CardEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardEntry")
            .field("number", &"[redacted]")
            .field("expiry", &self.expiry)
            .field("cvc", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The buyer's answer on a 3-D Secure challenge page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeOutcome {
    /// The buyer authenticated.
    Complete,
    /// The buyer failed (or refused).
    Fail,
}

/// What a hosted page does after the buyer submitted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostedOutcome {
    /// Send the buyer to `url` (the merchant's `returnUrl` with the result in its query, or the
    /// checkout page again after a failed challenge).
    Redirect {
        /// Where to.
        url: String,
    },
    /// Send the buyer to the 3-D Secure challenge page.
    Challenge {
        /// The challenge page.
        url: String,
    },
    /// Show the form again with this message (declined or invalid card).
    Retry {
        /// Why, safe to show the buyer.
        message: String,
    },
    /// The flow is over and there is no `returnUrl`: show this message.
    Done {
        /// What happened.
        message: String,
    },
}

/// What a hosted page shows before the buyer acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostedView {
    /// Whether the page collects a card, asks for a challenge, or is over.
    pub stage: HostedStage,
    /// For payments: the amount as the buyer reads it ("25.00 EUR").
    pub amount: Option<String>,
    /// The merchant's description of the payment.
    pub description: Option<String>,
    /// The last error, to show above the form.
    pub last_error: Option<String>,
    /// Whether the page is the live or the sandbox one.
    pub livemode: bool,
}

/// The stage of a hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostedStage {
    /// Waiting for a card.
    CollectCard,
    /// Waiting for the challenge.
    Authenticate,
}
