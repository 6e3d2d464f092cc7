//! The JSON API traits over HTTP, endpoint by endpoint as `api.md` §2–§6 names them.

use async_trait::async_trait;
use serde::Serialize;
use vinr_domain::customer::Customer;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::PaymentMethod;
use vinr_domain::payment::Payment;
use vinr_domain::setup::Setup;
use vinr_domain::webhook::WebhookEndpoint;
use vinr_ports::api::{
    CustomersApi, EventsApi, MethodsApi, PaymentsApi, SandboxApi, SetupsApi, WebhookEndpointsApi,
};
use vinr_ports::event::Event;
use vinr_ports::params::{
    AttachTestCard, CreateCustomer, CreatePayment, CreateSetup, CreateWebhookEndpoint,
    DeletedCustomer, DeletedWebhookEndpoint, ExpiringScan, List, ListCustomers, ListEvents,
    ListParams, ListPayments, NetworkUpdate, RotateSecret, ScanResult, UpdateCustomer,
};
use vinr_ports::{Error, RequestContext};

use super::HttpClient;

/// The body of a POST that takes no parameters (`…/cancel`): `{}`.
#[derive(Serialize)]
struct NoParams {}

#[async_trait]
impl CustomersApi for HttpClient {
    async fn create_customer(
        &self,
        ctx: &RequestContext,
        params: CreateCustomer,
    ) -> Result<Customer, Error> {
        self.post_json(ctx, "/v1/customers", &params).await
    }

    async fn retrieve_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<Customer, Error> {
        self.get_json(ctx, &format!("/v1/customers/{id}")).await
    }

    async fn update_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
        params: UpdateCustomer,
    ) -> Result<Customer, Error> {
        self.patch_json(ctx, &format!("/v1/customers/{id}"), &params)
            .await
    }

    async fn delete_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<DeletedCustomer, Error> {
        self.delete_json(ctx, &format!("/v1/customers/{id}")).await
    }

    async fn list_customers(
        &self,
        ctx: &RequestContext,
        params: ListCustomers,
    ) -> Result<List<Customer>, Error> {
        self.list_json(ctx, "/v1/customers", &params).await
    }
}

#[async_trait]
impl SetupsApi for HttpClient {
    async fn create_setup(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: CreateSetup,
    ) -> Result<Setup, Error> {
        self.post_json(ctx, &format!("/v1/customers/{customer}/setup"), &params)
            .await
    }

    async fn retrieve_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error> {
        self.get_json(ctx, &format!("/v1/setups/{id}")).await
    }

    async fn cancel_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error> {
        self.post_json(ctx, &format!("/v1/setups/{id}/cancel"), &NoParams {})
            .await
    }
}

#[async_trait]
impl MethodsApi for HttpClient {
    async fn list_methods(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: ListParams<PaymentMethodId>,
    ) -> Result<List<PaymentMethod>, Error> {
        self.list_json(ctx, &format!("/v1/customers/{customer}/methods"), &params)
            .await
    }

    async fn retrieve_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error> {
        self.get_json(ctx, &format!("/v1/customers/{customer}/methods/{id}"))
            .await
    }

    async fn detach_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error> {
        self.delete_json(ctx, &format!("/v1/customers/{customer}/methods/{id}"))
            .await
    }
}

#[async_trait]
impl PaymentsApi for HttpClient {
    async fn create_payment(
        &self,
        ctx: &RequestContext,
        params: CreatePayment,
    ) -> Result<Payment, Error> {
        self.post_json(ctx, "/v1/payments", &params).await
    }

    async fn retrieve_payment(
        &self,
        ctx: &RequestContext,
        id: &PaymentId,
    ) -> Result<Payment, Error> {
        self.get_json(ctx, &format!("/v1/payments/{id}")).await
    }

    async fn list_payments(
        &self,
        ctx: &RequestContext,
        params: ListPayments,
    ) -> Result<List<Payment>, Error> {
        self.list_json(ctx, "/v1/payments", &params).await
    }

    async fn cancel_payment(&self, ctx: &RequestContext, id: &PaymentId) -> Result<Payment, Error> {
        self.post_json(ctx, &format!("/v1/payments/{id}/cancel"), &NoParams {})
            .await
    }
}

#[async_trait]
impl WebhookEndpointsApi for HttpClient {
    async fn create_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        params: CreateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, Error> {
        self.post_json(ctx, "/v1/webhook_endpoints", &params).await
    }

    async fn list_webhook_endpoints(
        &self,
        ctx: &RequestContext,
        params: ListParams<WebhookEndpointId>,
    ) -> Result<List<WebhookEndpoint>, Error> {
        self.list_json(ctx, "/v1/webhook_endpoints", &params).await
    }

    async fn delete_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
    ) -> Result<DeletedWebhookEndpoint, Error> {
        self.delete_json(ctx, &format!("/v1/webhook_endpoints/{id}"))
            .await
    }

    async fn rotate_webhook_secret(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
        params: RotateSecret,
    ) -> Result<WebhookEndpoint, Error> {
        self.post_json(
            ctx,
            &format!("/v1/webhook_endpoints/{id}/rotate_secret"),
            &params,
        )
        .await
    }
}

#[async_trait]
impl EventsApi for HttpClient {
    async fn list_events(
        &self,
        ctx: &RequestContext,
        params: ListEvents,
    ) -> Result<List<Event>, Error> {
        self.list_json(ctx, "/v1/events", &params).await
    }

    async fn retrieve_event(&self, ctx: &RequestContext, id: &EventId) -> Result<Event, Error> {
        self.get_json(ctx, &format!("/v1/events/{id}")).await
    }
}

#[async_trait]
impl SandboxApi for HttpClient {
    async fn attach_test_card(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: AttachTestCard,
    ) -> Result<PaymentMethod, Error> {
        self.post_json(
            ctx,
            &format!("/v1/test_helpers/customers/{customer}/methods"),
            &params,
        )
        .await
    }

    async fn network_update(
        &self,
        ctx: &RequestContext,
        id: &PaymentMethodId,
        params: NetworkUpdate,
    ) -> Result<PaymentMethod, Error> {
        self.post_json(
            ctx,
            &format!("/v1/test_helpers/payment_methods/{id}/network_update"),
            &params,
        )
        .await
    }

    async fn expiring_scan(
        &self,
        ctx: &RequestContext,
        params: ExpiringScan,
    ) -> Result<ScanResult, Error> {
        self.post_json(ctx, "/v1/test_helpers/expiring_scan", &params)
            .await
    }
}
