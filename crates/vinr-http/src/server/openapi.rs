//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of every `/v1` route (no auth).
//!
//! The paths come from `api::ROUTES`, the same table the router is built from, so a route
//! cannot be served without being described.
//! The schemas are built here with utoipa's builders: the response objects live in
//! `vinr-domain`, which takes no dependency on utoipa, and the request parameters are described
//! beside them so both follow one style.
//! The tests keep them true to the types: every field of a serialized sample of each object
//! must be in its schema and every property of a schema must be in a sample; a request schema's
//! `required` list is exactly the fields without which its type does not deserialize; and every
//! body the API answers in a full run validates against the document.
//! Enumerations of codes and event types are read from the types' own `ALL` lists.

use std::sync::OnceLock;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, ResponsesBuilder,
};
use vinr_domain::error::{DeclineCode, LastErrorCode};
use vinr_domain::event::EventType;
use vinr_domain::money::{MAX_AMOUNT, MIN_AMOUNT};
use vinr_domain::payment::PaymentStatus;

use super::api::ROUTES;
use super::error::json_response;

/// How an operation is described; one per entry of the route table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    id: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Option<&'static str>,
    query: Option<QueryKind>,
    response: &'static str,
    public: bool,
    card_errors: bool,
}

impl Op {
    /// An operation answering 200 with an object (set by [`Op::response`]).
    pub(crate) const fn new(id: &'static str, summary: &'static str, tag: &'static str) -> Self {
        Self {
            id,
            summary,
            tag,
            body: None,
            query: None,
            response: "OpenApiDocument",
            public: false,
            card_errors: false,
        }
    }

    /// The request body's schema.
    pub(crate) const fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }

    /// The query parameters.
    pub(crate) const fn query(mut self, query: QueryKind) -> Self {
        self.query = Some(query);
        self
    }

    /// The 200 answer's schema.
    pub(crate) const fn response(mut self, schema: &'static str) -> Self {
        self.response = schema;
        self
    }

    /// No API key needed.
    pub(crate) const fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// May answer 402 `card_error`.
    pub(crate) const fn card_errors(mut self) -> Self {
        self.card_errors = true;
        self
    }
}

/// The query parameters of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// `vinr_ports::params::ListCustomers`.
    Customers,
    /// `ListParams<PaymentMethodId>`.
    Methods,
    /// `vinr_ports::params::ListPayments`.
    Payments,
    /// `ListParams<WebhookEndpointId>`.
    WebhookEndpoints,
    /// `vinr_ports::params::ListEvents`.
    Events,
}

// ---------------------------------------------------------------------------------------------
// Schema helpers.

fn typed(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::new(t))
}

fn nullable(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn string() -> RefOr<Schema> {
    typed(Type::String).into()
}

fn nullable_string() -> RefOr<Schema> {
    nullable(Type::String).into()
}

fn integer() -> RefOr<Schema> {
    typed(Type::Integer).into()
}

fn boolean() -> RefOr<Schema> {
    typed(Type::Boolean).into()
}

fn integer_in(min: i64, max: i64) -> RefOr<Schema> {
    typed(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .into()
}

/// An expiry month, 1 to 12.
fn exp_month() -> RefOr<Schema> {
    integer_in(1, 12)
}

/// A four-digit expiry year as `vinr_domain::card::Expiry` takes it.
fn exp_year() -> RefOr<Schema> {
    integer_in(2000, 2099)
}

fn timestamp() -> RefOr<Schema> {
    typed(Type::Integer)
        .description(Some("Unix seconds"))
        .into()
}

fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}_[0-9A-Za-z]{{24}}$")
}

fn id(prefix: &str) -> RefOr<Schema> {
    typed(Type::String).pattern(Some(id_pattern(prefix))).into()
}

fn nullable_id(prefix: &str) -> RefOr<Schema> {
    nullable(Type::String)
        .pattern(Some(id_pattern(prefix)))
        .into()
}

fn one_of<I: IntoIterator<Item = S>, S: Into<Value>>(values: I) -> RefOr<Schema> {
    typed(Type::String).enum_values(Some(values)).into()
}

fn constant(value: &str) -> RefOr<Schema> {
    one_of([value])
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn nullable_ref(name: &str) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(reference(name))
        .item(typed(Type::Null))
        .into()
}

fn array(items: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(items).into()
}

fn string_map(null: bool) -> RefOr<Schema> {
    let base = if null {
        nullable(Type::Object)
    } else {
        typed(Type::Object)
    };
    base.additional_properties(Some(typed(Type::String)))
        .description(Some("Keys to string values"))
        .into()
}

/// A field of an object schema.
struct Field(&'static str, RefOr<Schema>, bool);

/// Always present.
fn req(name: &'static str, schema: RefOr<Schema>) -> Field {
    Field(name, schema, true)
}

/// May be absent.
fn opt(name: &'static str, schema: RefOr<Schema>) -> Field {
    Field(name, schema, false)
}

/// An object of these fields; `closed` refuses any other (request bodies: unknown fields are
/// `unknown_parameter`).
fn object(description: &str, closed: bool, fields: Vec<Field>) -> RefOr<Schema> {
    let mut o = typed(Type::Object).description(Some(description));
    for Field(name, schema, required) in fields {
        o = o.property(name, schema);
        if required {
            o = o.required(name);
        }
    }
    if closed {
        o = o.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    }
    o.into()
}

fn list_of(item: &str) -> RefOr<Schema> {
    object(
        "A page of a list, newest first",
        false,
        vec![
            req("object", constant("list")),
            req("data", array(reference(item))),
            req("hasMore", boolean()),
        ],
    )
}

fn wire<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Vec<Value> {
    values
        .into_iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The schemas.

/// Every named schema of the document.
fn schemas() -> Vec<(&'static str, RefOr<Schema>)> {
    let address = |closed: bool, required: bool| {
        let f = |name| Field(name, nullable_string(), required);
        // Answers hold the code upper-cased; requests may send it in any case.
        let country = if closed {
            "^[A-Za-z]{2}$"
        } else {
            "^[A-Z]{2}$"
        };
        object(
            "A postal address; `country` is ISO 3166-1 alpha-2",
            closed,
            vec![
                f("line1"),
                f("line2"),
                f("city"),
                f("postalCode"),
                f("state"),
                Field(
                    "country",
                    nullable(Type::String).pattern(Some(country)).into(),
                    required,
                ),
            ],
        )
    };
    let amount = || {
        typed(Type::Integer)
            .minimum(Some(MIN_AMOUNT))
            .maximum(Some(MAX_AMOUNT))
            .description(Some("Integer minor units"))
            .into()
    };
    let card_brands = [
        "visa",
        "mastercard",
        "amex",
        "discover",
        "diners",
        "jcb",
        "unionpay",
        "unknown",
    ];
    let error_types = [
        "invalid_request_error",
        "authentication_error",
        "card_error",
        "idempotency_error",
        "rate_limit_error",
        "api_error",
    ];
    vec![
        // Responses.
        (
            "Customer",
            object(
                "A buyer",
                false,
                vec![
                    req("id", id("cust")),
                    req("object", constant("customer")),
                    req("email", nullable_string()),
                    req("name", nullable_string()),
                    req("phone", nullable_string()),
                    req("address", nullable_ref("Address")),
                    req("metadata", string_map(false)),
                    req("defaultMethodId", nullable_id("pm")),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                    req("version", integer()),
                ],
            ),
        ),
        ("Address", address(false, true)),
        (
            "PaymentMethod",
            object(
                "A saved card",
                false,
                vec![
                    req("id", id("pm")),
                    req("object", constant("payment_method")),
                    req("customerId", nullable_id("cust")),
                    req("type", constant("card")),
                    req("brand", one_of(card_brands)),
                    req("last4", string()),
                    req("expMonth", exp_month()),
                    req("expYear", integer()),
                    req("fingerprint", string()),
                    req("funding", one_of(["credit", "debit", "prepaid", "unknown"])),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                    req("version", integer()),
                ],
            ),
        ),
        (
            "Setup",
            object(
                "Saving a card through the hosted page",
                false,
                vec![
                    req("id", id("seti")),
                    req("object", constant("setup")),
                    req("customerId", id("cust")),
                    req(
                        "status",
                        one_of([
                            "requires_payment_method",
                            "requires_action",
                            "succeeded",
                            "canceled",
                            "expired",
                        ]),
                    ),
                    req("checkoutUrl", string()),
                    req("returnUrl", string()),
                    req("paymentMethodId", nullable_id("pm")),
                    req("lastError", nullable_ref("LastError")),
                    req("expiresAt", timestamp()),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                    req("version", integer()),
                ],
            ),
        ),
        (
            "LastError",
            object(
                "Why the last attempt did not succeed",
                false,
                vec![
                    req("code", one_of(wire(LastErrorCode::ALL))),
                    opt("declineCode", one_of(wire(DeclineCode::ALL))),
                    req("message", string()),
                ],
            ),
        ),
        (
            "Payment",
            object(
                "A payment",
                false,
                vec![
                    req("id", id("pay")),
                    req("object", constant("payment")),
                    req("amount", amount()),
                    req(
                        "currency",
                        typed(Type::String)
                            .pattern(Some("^[A-Z]{3}$"))
                            .description(Some("ISO 4217, upper-case"))
                            .into(),
                    ),
                    req("status", one_of(wire(PaymentStatus::ALL))),
                    req("customerId", nullable_id("cust")),
                    req("paymentMethodId", nullable_id("pm")),
                    req("offSession", boolean()),
                    req("description", nullable_string()),
                    req("metadata", string_map(false)),
                    req("savePaymentMethod", boolean()),
                    req("returnUrl", nullable_string()),
                    req("checkoutUrl", nullable_string()),
                    req("nextAction", nullable_ref("NextAction")),
                    req("lastError", nullable_ref("LastError")),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                    req("version", integer()),
                ],
            ),
        ),
        (
            "NextAction",
            object(
                "What the buyer must do next",
                false,
                vec![req("type", constant("redirect")), req("url", string())],
            ),
        ),
        (
            "WebhookEndpoint",
            object(
                "Where events are delivered; `secret` only when created or rotated",
                false,
                vec![
                    req("id", id("we")),
                    req("object", constant("webhook_endpoint")),
                    req("url", string()),
                    req("events", array(string())),
                    req("status", one_of(["enabled", "disabled"])),
                    opt(
                        "secret",
                        typed(Type::String).pattern(Some("^whsec_")).into(),
                    ),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                ],
            ),
        ),
        (
            "Event",
            object(
                "Something that happened",
                false,
                vec![
                    req("id", id("evt")),
                    req("object", constant("event")),
                    req("type", one_of(wire(EventType::ALL.iter()))),
                    req("created", timestamp()),
                    req("livemode", boolean()),
                    req("data", reference("EventData")),
                ],
            ),
        ),
        (
            "EventData",
            object(
                "The object as it is after the change, and what changed",
                false,
                vec![
                    req(
                        "object",
                        OneOfBuilder::new()
                            .item(reference("Customer"))
                            .item(reference("PaymentMethod"))
                            .item(reference("Setup"))
                            .item(reference("Payment"))
                            .into(),
                    ),
                    opt(
                        "previousAttributes",
                        typed(Type::Object)
                            .description(Some("For updates: the changed fields' values before"))
                            .into(),
                    ),
                ],
            ),
        ),
        ("CustomerList", list_of("Customer")),
        ("PaymentMethodList", list_of("PaymentMethod")),
        ("PaymentList", list_of("Payment")),
        ("WebhookEndpointList", list_of("WebhookEndpoint")),
        ("EventList", list_of("Event")),
        (
            "DeletedCustomer",
            object(
                "A deleted customer",
                false,
                vec![
                    req("id", id("cust")),
                    req("object", constant("customer")),
                    req("deleted", boolean()),
                ],
            ),
        ),
        (
            "DeletedWebhookEndpoint",
            object(
                "A deleted webhook endpoint",
                false,
                vec![
                    req("id", id("we")),
                    req("object", constant("webhook_endpoint")),
                    req("deleted", boolean()),
                ],
            ),
        ),
        (
            "ScanResult",
            object(
                "What the expiry scan did",
                false,
                vec![req("emitted", integer())],
            ),
        ),
        (
            "ErrorBody",
            object(
                "Every error answer",
                false,
                vec![req("error", reference("ErrorDetail"))],
            ),
        ),
        (
            "ErrorDetail",
            object(
                "An error",
                false,
                vec![
                    req("type", one_of(error_types)),
                    req("code", string()),
                    req("message", string()),
                    opt("param", string()),
                    opt("declineCode", one_of(wire(DeclineCode::ALL))),
                    opt("paymentId", id("pay")),
                ],
            ),
        ),
        (
            "OpenApiDocument",
            typed(Type::Object)
                .description(Some("An OpenAPI 3.1 document"))
                .into(),
        ),
        // Requests.
        ("AddressInput", address(true, false)),
        (
            "CreateCustomer",
            object(
                "A new customer",
                true,
                vec![
                    opt("email", nullable_string()),
                    opt("name", nullable_string()),
                    opt("phone", nullable_string()),
                    opt("address", nullable_ref("AddressInput")),
                    opt("metadata", string_map(true)),
                ],
            ),
        ),
        (
            "UpdateCustomer",
            object(
                "Changes to a customer: absent fields stay, null clears, metadata merges (a key set to \"\" is removed)",
                true,
                vec![
                    opt("email", nullable_string()),
                    opt("name", nullable_string()),
                    opt("phone", nullable_string()),
                    opt("address", nullable_ref("AddressInput")),
                    opt("metadata", string_map(true)),
                    opt("defaultMethodId", nullable_id("pm")),
                ],
            ),
        ),
        (
            "CreateSetup",
            object(
                "Where the buyer goes after the hosted page",
                true,
                vec![req("returnUrl", string())],
            ),
        ),
        (
            "CreatePayment",
            object(
                "A new payment",
                true,
                vec![
                    req("amount", amount()),
                    req(
                        "currency",
                        typed(Type::String)
                            .description(Some("ISO 4217, any case"))
                            .into(),
                    ),
                    opt("customerId", nullable_id("cust")),
                    opt("paymentMethodId", nullable_id("pm")),
                    opt("offSession", boolean()),
                    opt("description", nullable_string()),
                    opt("metadata", string_map(true)),
                    opt("savePaymentMethod", boolean()),
                    opt("returnUrl", nullable_string()),
                ],
            ),
        ),
        (
            "CreateWebhookEndpoint",
            object(
                "A new webhook endpoint",
                true,
                vec![
                    req("url", string()),
                    req(
                        "events",
                        ArrayBuilder::new()
                            .items(typed(Type::String))
                            .description(Some("Event types, or [\"*\"]"))
                            .into(),
                    ),
                ],
            ),
        ),
        (
            "RotateSecret",
            object(
                "How long the old secret keeps signing (default 24 h)",
                true,
                vec![opt(
                    "overlapSeconds",
                    nullable(Type::Integer)
                        .minimum(Some(0))
                        .maximum(Some(7 * 24 * 3600))
                        .into(),
                )],
            ),
        ),
        (
            "AttachTestCard",
            object(
                "A card from the sandbox test-card table",
                true,
                vec![
                    req("number", string()),
                    // No month or year range here: the number is checked first, so a bad
                    // number with a bad month is `402 incorrect_number`, not a 400.
                    req("expMonth", integer()),
                    req("expYear", integer()),
                    opt("cvc", nullable_string()),
                ],
            ),
        ),
        (
            "NetworkUpdate",
            object(
                "New card details from the network",
                true,
                vec![
                    req("expMonth", exp_month()),
                    req("expYear", exp_year()),
                    opt("last4", nullable_string()),
                ],
            ),
        ),
        (
            "ExpiringScan",
            object(
                "The day the scan runs as",
                true,
                vec![req(
                    "asOf",
                    typed(Type::String)
                        .format(Some(SchemaFormat::Custom("date".to_owned())))
                        .into(),
                )],
            ),
        ),
        (
            "NoParams",
            object("No parameters (an empty body is `{}`)", true, vec![]),
        ),
    ]
}

/// The query parameters of a list: (name, schema).
fn query_params(kind: QueryKind) -> Vec<(&'static str, RefOr<Schema>)> {
    let limit = || -> RefOr<Schema> {
        typed(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(100))
            .description(Some("Page size, 10 when absent"))
            .into()
    };
    let after = |prefix| ("startingAfter", id(prefix));
    match kind {
        QueryKind::Customers => vec![("email", string()), ("limit", limit()), after("cust")],
        QueryKind::Methods => vec![("limit", limit()), after("pm")],
        QueryKind::Payments => vec![
            ("customerId", id("cust")),
            ("status", one_of(wire(PaymentStatus::ALL))),
            ("limit", limit()),
            after("pay"),
        ],
        QueryKind::WebhookEndpoints => vec![("limit", limit()), after("we")],
        QueryKind::Events => vec![
            ("type", one_of(wire(EventType::ALL.iter()))),
            ("limit", limit()),
            after("evt"),
        ],
    }
}

/// The id prefix of a path parameter, from the segment before it.
fn path_param_prefix(path: &str, name: &str) -> &'static str {
    let placeholder = format!("{{{name}}}");
    let before = path
        .split('/')
        .take_while(|s| *s != placeholder)
        .last()
        .unwrap_or_default();
    match before {
        "customers" => "cust",
        "methods" | "payment_methods" => "pm",
        "setups" => "seti",
        "payments" => "pay",
        "webhook_endpoints" => "we",
        "events" => "evt",
        _ => "",
    }
}

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::PUT => HttpMethod::Put,
        _ => return None,
    })
}

fn json(schema: RefOr<Schema>) -> Content {
    Content::new(Some(schema))
}

/// An OpenAPI link: from operation, to operation, and its path parameters as (name, runtime
/// expression).
type Link = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// OpenAPI links: the 200 answer of operation `from` supplies the path parameters of operation
/// `to` (name, runtime expression). They let a client (and schemathesis's stateful phase) chain
/// a created object into the calls that name it.
const LINKS: &[Link] = &[
    (
        "createCustomer",
        "retrieveCustomer",
        &[("id", "$response.body#/id")],
    ),
    (
        "createCustomer",
        "updateCustomer",
        &[("id", "$response.body#/id")],
    ),
    (
        "createCustomer",
        "deleteCustomer",
        &[("id", "$response.body#/id")],
    ),
    (
        "createCustomer",
        "createSetup",
        &[("id", "$response.body#/id")],
    ),
    (
        "createCustomer",
        "listMethods",
        &[("id", "$response.body#/id")],
    ),
    (
        "createCustomer",
        "attachTestCard",
        &[("id", "$response.body#/id")],
    ),
    (
        "createSetup",
        "retrieveSetup",
        &[("id", "$response.body#/id")],
    ),
    (
        "createSetup",
        "cancelSetup",
        &[("id", "$response.body#/id")],
    ),
    (
        "attachTestCard",
        "retrieveMethod",
        &[
            ("id", "$response.body#/customerId"),
            ("pm", "$response.body#/id"),
        ],
    ),
    (
        "attachTestCard",
        "detachMethod",
        &[
            ("id", "$response.body#/customerId"),
            ("pm", "$response.body#/id"),
        ],
    ),
    (
        "attachTestCard",
        "networkUpdate",
        &[("pm", "$response.body#/id")],
    ),
    (
        "createPayment",
        "retrievePayment",
        &[("id", "$response.body#/id")],
    ),
    (
        "createPayment",
        "cancelPayment",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhookEndpoint",
        "deleteWebhookEndpoint",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhookEndpoint",
        "rotateWebhookSecret",
        &[("id", "$response.body#/id")],
    ),
    (
        "listEvents",
        "retrieveEvent",
        &[("id", "$response.body#/data/0/id")],
    ),
];

/// Adds [`LINKS`] to the 200 answers of `document` (built here rather than with utoipa's
/// `Link`, which serializes its fields in snake case: `operation_id` where OpenAPI says
/// `operationId`).
fn add_links(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let links: serde_json::Map<String, Value> = LINKS
            .iter()
            .filter(|(from, _, _)| *from == id)
            .map(|(_, to, parameters)| {
                let parameters: serde_json::Map<String, Value> = parameters
                    .iter()
                    .map(|(name, expression)| ((*name).to_owned(), Value::from(*expression)))
                    .collect();
                (
                    (*to).to_owned(),
                    serde_json::json!({"operationId": to, "parameters": parameters}),
                )
            })
            .collect();
        if let (false, Some(ok)) = (
            links.is_empty(),
            operation
                .pointer_mut("/responses/200")
                .and_then(Value::as_object_mut),
        ) {
            ok.insert("links".to_owned(), Value::Object(links));
        }
    }
}

/// The error answers an operation can give.
fn error_statuses(method: &Method, path: &str, op: &Op) -> Vec<(StatusCode, &'static str)> {
    let mut out = Vec::new();
    let post = *method == Method::POST;
    let reads_body = op.body.is_some();
    if reads_body || op.query.is_some() || post {
        out.push((StatusCode::BAD_REQUEST, "Invalid request"));
    }
    if !op.public {
        out.push((StatusCode::UNAUTHORIZED, "Missing or invalid API key"));
    }
    if op.card_errors {
        out.push((StatusCode::PAYMENT_REQUIRED, "The card was refused"));
    }
    if path.contains('{') || reads_body || op.query.is_some() {
        out.push((
            StatusCode::NOT_FOUND,
            "An id names nothing visible to this key",
        ));
    }
    if post {
        out.push((
            StatusCode::CONFLICT,
            "A request with this Idempotency-Key is still in flight",
        ));
    }
    if reads_body {
        out.push((StatusCode::PAYLOAD_TOO_LARGE, "The body is over 64 KiB"));
    }
    if post {
        out.push((
            StatusCode::UNPROCESSABLE_ENTITY,
            "The Idempotency-Key was used for a different request",
        ));
    }
    if !op.public {
        out.push((StatusCode::INTERNAL_SERVER_ERROR, "Server error"));
    }
    out
}

/// The whole document.
pub(crate) fn build() -> OpenApi {
    let mut paths = Paths::new();
    for spec in ROUTES {
        let Some(method) = http_method(&spec.method) else {
            continue;
        };
        let op = &spec.op;
        let mut b = OperationBuilder::new()
            .operation_id(Some(op.id))
            .summary(Some(op.summary))
            .tag(op.tag);
        for segment in spec.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                b = b.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(id(path_param_prefix(spec.path, name)))),
                );
            }
        }
        if let Some(kind) = op.query {
            for (name, schema) in query_params(kind) {
                b = b.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(Some(schema)),
                );
            }
        }
        if spec.method == Method::POST {
            b = b.parameter(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "1 to 255 printable ASCII characters; a retry with the same key and request replays the answer",
                    ))
                    .schema(Some(
                        typed(Type::String).min_length(Some(1)).max_length(Some(255)),
                    )),
            );
        }
        if let Some(body) = op.body {
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::False))
                    .content("application/json", json(reference(body)))
                    .build(),
            ));
        }
        let mut responses = ResponsesBuilder::new().response(
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content("application/json", json(reference(op.response))),
        );
        for (status, description) in error_statuses(&spec.method, spec.path, op) {
            responses = responses.response(
                status.as_str(),
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", json(reference("ErrorBody"))),
            );
        }
        b = b.responses(responses);
        if !op.public {
            b = b.security(SecurityRequirement::new("bearerAuth", Vec::<String>::new()));
        }
        paths.add_path_operation(spec.path, vec![method], b.build());
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearerAuth",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    for (name, schema) in schemas() {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("VINR API")
                .version("1")
                .description(Some(
                    "Customers, stored cards and payments. `sk_test_` keys act in sandbox mode, `sk_live_` keys in live mode.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// The document as JSON, built once.
pub(crate) fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut document = serde_json::to_value(build()).unwrap_or_default();
        add_links(&mut document);
        serde_json::to_string(&document).unwrap_or_default()
    })
}

/// `GET /v1/openapi.json`.
pub(crate) async fn document() -> Response {
    json_response(StatusCode::OK, document_json().as_bytes().to_vec())
}

#[cfg(test)]
mod tests;
