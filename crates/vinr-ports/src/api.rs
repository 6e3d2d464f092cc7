//! The driving API: what a merchant (and, on the hosted pages, a buyer) can do.
//!
//! `vinr-engine` implements these traits in-process; an HTTP client implements them over the
//! wire. [`VinrApi`] is all of them together, which is what the facade holds.

use async_trait::async_trait;
use vinr_domain::customer::Customer;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::PaymentMethod;
use vinr_domain::payment::Payment;
use vinr_domain::setup::Setup;
use vinr_domain::webhook::WebhookEndpoint;

use crate::RequestContext;
use crate::error::Error;
use crate::event::Event;
use crate::params::{
    AttachTestCard, CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, CreateSetup,
    CreateWebhookEndpoint, DeletedCustomer, DeletedWebhookEndpoint, ExpiringScan, HostedOutcome,
    HostedView, List, ListCustomers, ListEvents, ListParams, ListPayments, NetworkUpdate,
    RotateSecret, ScanResult, UpdateCustomer,
};

/// Customers: create, read, update, delete, list (by email).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CustomersApi: Send + Sync {
    /// Creates a customer; emits `customer.created`.
    async fn create_customer(
        &self,
        ctx: &RequestContext,
        params: CreateCustomer,
    ) -> Result<Customer, Error>;
    /// One customer; `NotFound` when unknown or deleted.
    async fn retrieve_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<Customer, Error>;
    /// Changes a customer; emits `customer.updated` with `previousAttributes`.
    async fn update_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
        params: UpdateCustomer,
    ) -> Result<Customer, Error>;
    /// Deletes a customer, detaching every method first.
    async fn delete_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<DeletedCustomer, Error>;
    /// Lists customers, newest first.
    async fn list_customers(
        &self,
        ctx: &RequestContext,
        params: ListCustomers,
    ) -> Result<List<Customer>, Error>;
}

/// Setups: saving a card through the hosted page.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SetupsApi: Send + Sync {
    /// Starts a setup for a customer; the buyer goes to its `checkoutUrl`.
    async fn create_setup(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: CreateSetup,
    ) -> Result<Setup, Error>;
    /// One setup (an open one past its 24 hours reads as `expired`).
    async fn retrieve_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error>;
    /// Cancels an open setup; emits `setup.canceled`.
    async fn cancel_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error>;
}

/// A customer's saved methods.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait MethodsApi: Send + Sync {
    /// The methods attached to a customer, newest first.
    async fn list_methods(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: ListParams<PaymentMethodId>,
    ) -> Result<List<PaymentMethod>, Error>;
    /// One method attached to the customer.
    async fn retrieve_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error>;
    /// Detaches a method now and for ever; emits `payment_method.detached`.
    async fn detach_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error>;
}

/// Payments.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait PaymentsApi: Send + Sync {
    /// Creates (and, with a method, charges) a payment. A declined card is
    /// `Err(Error::Card { payment_id: Some(..), .. })`; a card needing 3-D Secure is
    /// `Ok` with `status: requires_action`.
    async fn create_payment(
        &self,
        ctx: &RequestContext,
        params: CreatePayment,
    ) -> Result<Payment, Error>;
    /// One payment.
    async fn retrieve_payment(
        &self,
        ctx: &RequestContext,
        id: &PaymentId,
    ) -> Result<Payment, Error>;
    /// Payments, newest first.
    async fn list_payments(
        &self,
        ctx: &RequestContext,
        params: ListPayments,
    ) -> Result<List<Payment>, Error>;
    /// Cancels a payment waiting for a card or a challenge; emits `payment.canceled`.
    async fn cancel_payment(&self, ctx: &RequestContext, id: &PaymentId) -> Result<Payment, Error>;
}

/// Webhook endpoints.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookEndpointsApi: Send + Sync {
    /// Creates an endpoint; the answer carries its secret, the only time it is shown.
    async fn create_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        params: CreateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, Error>;
    /// Lists endpoints (without secrets).
    async fn list_webhook_endpoints(
        &self,
        ctx: &RequestContext,
        params: ListParams<WebhookEndpointId>,
    ) -> Result<List<WebhookEndpoint>, Error>;
    /// Deletes an endpoint.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
    ) -> Result<DeletedWebhookEndpoint, Error>;
    /// Gives an endpoint a new secret; the old one keeps signing during the overlap.
    async fn rotate_webhook_secret(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
        params: RotateSecret,
    ) -> Result<WebhookEndpoint, Error>;
}

/// The event log.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait EventsApi: Send + Sync {
    /// Events, newest first.
    async fn list_events(
        &self,
        ctx: &RequestContext,
        params: ListEvents,
    ) -> Result<List<Event>, Error>;
    /// One event.
    async fn retrieve_event(&self, ctx: &RequestContext, id: &EventId) -> Result<Event, Error>;
}

/// Sandbox helpers (test mode only; live mode answers `livemode_mismatch`).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SandboxApi: Send + Sync {
    /// Attaches a test card without the hosted flow and without any authorization.
    async fn attach_test_card(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: AttachTestCard,
    ) -> Result<PaymentMethod, Error>;
    /// Simulates the network auto-updater on a method; emits `payment_method.updated`.
    async fn network_update(
        &self,
        ctx: &RequestContext,
        id: &PaymentMethodId,
        params: NetworkUpdate,
    ) -> Result<PaymentMethod, Error>;
    /// Runs the expiry scan as if today were `as_of`.
    async fn expiring_scan(
        &self,
        ctx: &RequestContext,
        params: ExpiringScan,
    ) -> Result<ScanResult, Error>;
}

/// The hosted pages, as the buyer uses them. The id in the path is the capability: no API key.
/// A used, canceled or expired link answers [`Error::Gone`].
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait HostedApi: Send + Sync {
    /// What the setup page shows.
    async fn setup_page(&self, id: &SetupId) -> Result<HostedView, Error>;
    /// The buyer submitted a card on the setup page.
    async fn submit_setup_card(
        &self,
        id: &SetupId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error>;
    /// The buyer answered the setup's challenge.
    async fn authenticate_setup(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error>;
    /// What the payment page shows.
    async fn payment_page(&self, id: &PaymentId) -> Result<HostedView, Error>;
    /// The buyer submitted a card on the payment page.
    async fn submit_payment_card(
        &self,
        id: &PaymentId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error>;
    /// The buyer answered the payment's challenge.
    async fn authenticate_payment(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error>;
}

/// The whole driving API.
pub trait VinrApi:
    CustomersApi
    + SetupsApi
    + MethodsApi
    + PaymentsApi
    + WebhookEndpointsApi
    + EventsApi
    + SandboxApi
    + HostedApi
{
}

impl<T> VinrApi for T where
    T: CustomersApi
        + SetupsApi
        + MethodsApi
        + PaymentsApi
        + WebhookEndpointsApi
        + EventsApi
        + SandboxApi
        + HostedApi
{
}
