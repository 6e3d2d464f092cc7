//! The `/v1` JSON API (api.md §2–§6): one module per resource, and `ROUTES`, the one table
//! of every route, from which both the router and the OpenAPI document are built.
//!
//! Every handler takes [`Ctx`](super::extract::Ctx) first (so a missing or wrong key is
//! answered 401 before anything else is looked at), then its path ids, query or body, calls
//! the engine through the `vinr_ports::api` traits, and answers 200 with the object or the
//! error of api.md §1.

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::AppState;
use super::openapi::{Op, QueryKind};

mod customers;
mod events;
mod methods;
mod payments;
mod setups;
mod test_helpers;
mod webhooks;

/// One route: method, path template, handler, and how the OpenAPI document describes it.
pub(crate) struct RouteSpec {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The path template, axum syntax (`/v1/customers/{id}`), which is also OpenAPI's.
    pub(crate) path: &'static str,
    /// The method router serving it.
    pub(crate) handler: fn() -> MethodRouter<AppState>,
    /// Its description.
    pub(crate) op: Op,
}

macro_rules! route {
    ($method:ident $path:literal => $handler:path, $op:expr) => {
        RouteSpec {
            method: Method::$method,
            path: $path,
            handler: || on(MethodFilter::$method, $handler),
            op: $op,
        }
    };
}

/// Every `/v1` route. The router ([`routes`]) and the OpenAPI document are both built from
/// this table, so neither can have a route the other lacks.
pub(crate) static ROUTES: &[RouteSpec] = &[
    // Customers (§2).
    route!(POST "/v1/customers" => customers::create,
        Op::new("createCustomer", "Create a customer", "customers")
            .body("CreateCustomer").response("Customer")),
    route!(GET "/v1/customers" => customers::list,
        Op::new("listCustomers", "List customers, newest first (filter by email)", "customers")
            .query(QueryKind::Customers).response("CustomerList")),
    route!(GET "/v1/customers/{id}" => customers::retrieve,
        Op::new("retrieveCustomer", "Retrieve a customer", "customers").response("Customer")),
    route!(PATCH "/v1/customers/{id}" => customers::update,
        Op::new("updateCustomer", "Update a customer (metadata merges; null clears)", "customers")
            .body("UpdateCustomer").response("Customer")),
    route!(DELETE "/v1/customers/{id}" => customers::delete,
        Op::new("deleteCustomer", "Delete a customer, detaching every method", "customers")
            .response("DeletedCustomer")),
    // Setups (§3).
    route!(POST "/v1/customers/{id}/setup" => setups::create,
        Op::new("createSetup", "Start saving a card on the hosted page", "setups")
            .body("CreateSetup").response("Setup")),
    route!(GET "/v1/setups/{id}" => setups::retrieve,
        Op::new("retrieveSetup", "Retrieve a setup", "setups").response("Setup")),
    route!(POST "/v1/setups/{id}/cancel" => setups::cancel,
        Op::new("cancelSetup", "Cancel an open setup", "setups")
            .body("NoParams").response("Setup")),
    // Methods (§4).
    route!(GET "/v1/customers/{id}/methods" => methods::list,
        Op::new("listMethods", "List a customer's attached methods", "payment_methods")
            .query(QueryKind::Methods).response("PaymentMethodList")),
    route!(GET "/v1/customers/{id}/methods/{pm}" => methods::retrieve,
        Op::new("retrieveMethod", "Retrieve a customer's method", "payment_methods")
            .response("PaymentMethod")),
    route!(DELETE "/v1/customers/{id}/methods/{pm}" => methods::detach,
        Op::new("detachMethod", "Detach a method now and for ever", "payment_methods")
            .response("PaymentMethod")),
    route!(POST "/v1/test_helpers/customers/{id}/methods" => test_helpers::attach_test_card,
        Op::new("attachTestCard", "Sandbox: attach a test card without the hosted flow", "test_helpers")
            .body("AttachTestCard").response("PaymentMethod").card_errors()),
    route!(POST "/v1/test_helpers/payment_methods/{pm}/network_update" => test_helpers::network_update,
        Op::new("networkUpdate", "Sandbox: simulate the network auto-updater", "test_helpers")
            .body("NetworkUpdate").response("PaymentMethod")),
    route!(POST "/v1/test_helpers/expiring_scan" => test_helpers::expiring_scan,
        Op::new("expiringScan", "Sandbox: run the expiry scan as of a date", "test_helpers")
            .body("ExpiringScan").response("ScanResult")),
    // Payments (§5).
    route!(POST "/v1/payments" => payments::create,
        Op::new("createPayment", "Create (and, with a method, charge) a payment", "payments")
            .body("CreatePayment").response("Payment").card_errors()),
    route!(GET "/v1/payments" => payments::list,
        Op::new("listPayments", "List payments, newest first", "payments")
            .query(QueryKind::Payments).response("PaymentList")),
    route!(GET "/v1/payments/{id}" => payments::retrieve,
        Op::new("retrievePayment", "Retrieve a payment", "payments").response("Payment")),
    route!(POST "/v1/payments/{id}/cancel" => payments::cancel,
        Op::new("cancelPayment", "Cancel a payment waiting for a card or a challenge", "payments")
            .body("NoParams").response("Payment")),
    // Webhook endpoints and events (§6).
    route!(POST "/v1/webhook_endpoints" => webhooks::create,
        Op::new("createWebhookEndpoint", "Create a webhook endpoint (its secret is shown once)", "webhooks")
            .body("CreateWebhookEndpoint").response("WebhookEndpoint")),
    route!(GET "/v1/webhook_endpoints" => webhooks::list,
        Op::new("listWebhookEndpoints", "List webhook endpoints", "webhooks")
            .query(QueryKind::WebhookEndpoints).response("WebhookEndpointList")),
    route!(DELETE "/v1/webhook_endpoints/{id}" => webhooks::delete,
        Op::new("deleteWebhookEndpoint", "Delete a webhook endpoint", "webhooks")
            .response("DeletedWebhookEndpoint")),
    route!(POST "/v1/webhook_endpoints/{id}/rotate_secret" => webhooks::rotate_secret,
        Op::new("rotateWebhookSecret", "Give an endpoint a new secret", "webhooks")
            .body("RotateSecret").response("WebhookEndpoint")),
    route!(GET "/v1/events" => events::list,
        Op::new("listEvents", "List events, newest first", "events")
            .query(QueryKind::Events).response("EventList")),
    route!(GET "/v1/events/{id}" => events::retrieve,
        Op::new("retrieveEvent", "Retrieve an event", "events").response("Event")),
    // The document itself.
    route!(GET "/v1/openapi.json" => super::openapi::document,
        Op::new("openapi", "This OpenAPI 3.1 document", "meta")
            .response("OpenApiDocument").public()),
];

/// The `/v1` routes, from [`ROUTES`]; every one gets a fresh replay probe per request.
pub(crate) fn routes() -> Router<AppState> {
    let router = ROUTES.iter().fold(Router::new(), |r, spec| {
        r.route(spec.path, (spec.handler)())
    });
    router
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn(super::idempotency::middleware))
}

/// A known path asked with a method it does not have.
async fn method_not_allowed(request: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = vinr_ports::ErrorBody {
        error: vinr_ports::error::ErrorDetail {
            kind: vinr_ports::ErrorType::InvalidRequestError,
            code: "method_not_allowed".to_owned(),
            message: format!(
                "{} is not allowed on {}",
                request.method(),
                super::observe::redact_digit_runs(request.uri().path())
            ),
            param: None,
            decline_code: None,
            payment_id: None,
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response =
        super::error::json_response(axum::http::StatusCode::METHOD_NOT_ALLOWED, bytes);
    response
        .extensions_mut()
        .insert(super::error::ErrorCode("method_not_allowed"));
    response.into_response()
}
