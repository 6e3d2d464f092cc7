//! The document against the router and against the types.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{DateTime, NaiveDate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;
use vinr_domain::customer::Address;
use vinr_domain::ids::{CustomerId, EventId, PaymentId, PaymentMethodId, WebhookEndpointId};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::Mode;
use vinr_ports::api::HostedApi;
use vinr_ports::keys::ApiKeyStore;
use vinr_ports::params::{
    AttachTestCard, CardEntry, CreateCustomer, CreatePayment, CreateSetup, CreateWebhookEndpoint,
    ExpiringScan, ListCustomers, ListEvents, ListParams, ListPayments, NetworkUpdate, RotateSecret,
    UpdateCustomer,
};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

use super::*;
use crate::server::auth::new_key;
use crate::server::{AppState, ServerConfig, router};

// ---------------------------------------------------------------------------------------------
// A small validator of JSON values against the document's schemas: types, enums, the id and
// currency patterns, required properties, and no property the schema does not name.

struct Checker<'a> {
    doc: &'a Value,
    /// Per named schema, the properties some checked value had.
    seen: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Checker<'a> {
    fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            seen: BTreeMap::new(),
        }
    }

    fn component(&self, name: &str) -> &'a Value {
        let schema = &self.doc["components"]["schemas"][name];
        assert!(!schema.is_null(), "no schema {name}");
        schema
    }

    /// Checks `value` against the named schema; returns what is wrong.
    fn check_named(&mut self, name: &str, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let schema = self.component(name);
        self.check(schema, value, name, Some(name), &mut errors);
        errors
    }

    fn check(
        &mut self,
        schema: &'a Value,
        value: &Value,
        at: &str,
        component: Option<&str>,
        errors: &mut Vec<String>,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = self.component(name);
            return self.check(target, value, at, Some(name), errors);
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let mut passing = Vec::new();
            for branch in branches {
                let mut trial = Checker {
                    doc: self.doc,
                    seen: BTreeMap::new(),
                };
                let mut e = Vec::new();
                trial.check(branch, value, at, None, &mut e);
                if e.is_empty() {
                    passing.push(trial.seen);
                }
            }
            match passing.len() {
                1 => {
                    for (k, v) in passing.remove(0) {
                        self.seen.entry(k).or_default().extend(v);
                    }
                }
                n => errors.push(format!("{at}: {n} branches of oneOf match {value}")),
            }
            return;
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                "object" => value.is_object(),
                "array" => value.is_array(),
                _ => false,
            });
            if !ok {
                errors.push(format!("{at}: {value} is not of type {t}"));
                return;
            }
        }
        if value.is_null() {
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {values:?}"));
        }
        if let (Some(p), Some(s)) = (
            schema.get("pattern").and_then(Value::as_str),
            value.as_str(),
        ) && !pattern_matches(p, s)
        {
            errors.push(format!("{at}: {s:?} does not match {p}"));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_i64)
            && value.as_i64().is_some_and(|v| v < min)
        {
            errors.push(format!("{at}: {value} < {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_i64)
            && value.as_i64().is_some_and(|v| v > max)
        {
            errors.push(format!("{at}: {value} > {max}"));
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), None, errors);
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let strict = properties.is_some() || additional == Some(&Value::Bool(false));
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    errors.push(format!("{at}: missing required {required}"));
                }
            }
            for (key, v) in object {
                if let Some(name) = component {
                    self.seen
                        .entry(name.to_owned())
                        .or_default()
                        .insert(key.clone());
                }
                let child = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => self.check(s, v, &child, None, errors),
                    None => match additional {
                        Some(s @ Value::Object(_)) => self.check(s, v, &child, None, errors),
                        _ if strict => {
                            errors.push(format!("{at}: property {key} is not in the schema"))
                        }
                        _ => {}
                    },
                }
            }
        }
    }

    /// Every property of the named schema that no checked value had.
    fn unseen(&self, name: &str) -> Vec<String> {
        let seen = self.seen.get(name).cloned().unwrap_or_default();
        self.component(name)["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .filter(|k| !seen.contains(k))
            .collect()
    }
}

/// The kinds of pattern the document uses; any other fails the test, so none goes
/// unchecked.
fn pattern_matches(pattern: &str, s: &str) -> bool {
    if let Some(prefix) = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix("_[0-9A-Za-z]{24}$"))
    {
        return s
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|b| b.len() == 24 && b.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
    match pattern {
        "^[A-Z]{3}$" => s.len() == 3 && s.bytes().all(|c| c.is_ascii_uppercase()),
        "^[A-Z]{2}$" => s.len() == 2 && s.bytes().all(|c| c.is_ascii_uppercase()),
        "^[A-Za-z]{2}$" => s.len() == 2 && s.bytes().all(|c| c.is_ascii_alphabetic()),
        "^whsec_" => s.starts_with("whsec_"),
        other => panic!("unknown pattern {other}"),
    }
}

fn doc() -> Value {
    serde_json::from_str(document_json()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests: every field of each parameter type is in its schema and the reverse, and
// `required` lists exactly the fields the type cannot do without.

fn check_request<T: Serialize + DeserializeOwned>(checker: &mut Checker<'_>, name: &str, full: T) {
    let value = serde_json::to_value(&full).unwrap();
    assert_eq!(
        checker.check_named(name, &value),
        Vec::<String>::new(),
        "{name}"
    );
    assert_eq!(
        checker.unseen(name),
        Vec::<String>::new(),
        "{name}: fields the type lacks"
    );
    let schema = checker.component(name);
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for key in value.as_object().unwrap().keys() {
        let mut without = value.clone();
        without.as_object_mut().unwrap().remove(key);
        let needed = serde_json::from_value::<T>(without).is_err();
        assert_eq!(
            needed,
            required.contains(key.as_str()),
            "{name}.{key}: required in the type: {needed}"
        );
    }
    // A property the schema names but the type refuses would be caught here.
    let back: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), value);
}

fn metadata() -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]))
}

fn full_address() -> Address {
    Address {
        line1: Some("1 Rue".into()),
        line2: Some("2e".into()),
        city: Some("Paris".into()),
        postal_code: Some("75001".into()),
        state: Some("IDF".into()),
        country: Some("FR".into()),
    }
}

fn pm() -> PaymentMethodId {
    PaymentMethodId::from_entropy(&[3; 24])
}

fn cust() -> CustomerId {
    CustomerId::from_entropy(&[4; 24])
}

#[test]
fn request_schemas_match_the_parameter_types() {
    let doc = doc();
    let mut c = Checker::new(&doc);
    check_request(
        &mut c,
        "CreateCustomer",
        CreateCustomer {
            email: Some("a@b.co".into()),
            name: Some("Ada".into()),
            phone: Some("+33".into()),
            address: Some(full_address()),
            metadata: metadata(),
        },
    );
    check_request(&mut c, "AddressInput", full_address());
    check_request(
        &mut c,
        "UpdateCustomer",
        UpdateCustomer {
            email: Some(Some("a@b.co".into())),
            name: Some(Some("Ada".into())),
            phone: Some(Some("+33".into())),
            address: Some(Some(full_address())),
            metadata: metadata(),
            default_method_id: Some(Some(pm())),
        },
    );
    check_request(
        &mut c,
        "CreateSetup",
        CreateSetup {
            return_url: "https://shop.example/back".into(),
        },
    );
    check_request(
        &mut c,
        "CreatePayment",
        CreatePayment {
            amount: 2500,
            currency: "eur".into(),
            customer_id: Some(cust()),
            payment_method_id: Some(pm()),
            off_session: true,
            description: Some("d".into()),
            metadata: metadata(),
            save_payment_method: true,
            return_url: Some("https://shop.example/back".into()),
        },
    );
    check_request(
        &mut c,
        "CreateWebhookEndpoint",
        CreateWebhookEndpoint {
            url: "https://shop.example/hooks".into(),
            events: vec!["*".into()],
        },
    );
    check_request(
        &mut c,
        "RotateSecret",
        RotateSecret {
            overlap_seconds: Some(60),
        },
    );
    check_request(
        &mut c,
        "AttachTestCard",
        AttachTestCard {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: Some("123".into()),
        },
    );
    check_request(
        &mut c,
        "NetworkUpdate",
        NetworkUpdate {
            exp_month: 1,
            exp_year: 2031,
            last4: Some("4242".into()),
        },
    );
    check_request(
        &mut c,
        "ExpiringScan",
        ExpiringScan {
            as_of: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        },
    );
    assert_eq!(c.check_named("NoParams", &json!({})), Vec::<String>::new());
    assert_eq!(c.check_named("NoParams", &json!({"x": 1})).len(), 1);
    assert!(
        !c.check_named("CreatePayment", &json!({"amount": 0, "currency": "EUR"}))
            .is_empty()
    );
}

fn query_keys<T: Serialize>(full: T) -> BTreeSet<String> {
    serde_json::to_value(full)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn query_parameters_match_the_list_types() {
    let names = |kind| -> BTreeSet<String> {
        query_params(kind)
            .into_iter()
            .map(|(n, _)| n.to_owned())
            .collect()
    };
    let cases = [
        (
            QueryKind::Customers,
            query_keys(ListCustomers {
                email: Some("a@b.co".into()),
                limit: Some(1),
                starting_after: Some(cust()),
            }),
        ),
        (
            QueryKind::Methods,
            query_keys(ListParams::<PaymentMethodId> {
                limit: Some(1),
                starting_after: Some(pm()),
            }),
        ),
        (
            QueryKind::Payments,
            query_keys(ListPayments {
                customer_id: Some(cust()),
                status: Some(vinr_domain::payment::PaymentStatus::Failed),
                limit: Some(1),
                starting_after: Some(PaymentId::from_entropy(&[5; 24])),
            }),
        ),
        (
            QueryKind::WebhookEndpoints,
            query_keys(ListParams::<WebhookEndpointId> {
                limit: Some(1),
                starting_after: Some(WebhookEndpointId::from_entropy(&[6; 24])),
            }),
        ),
        (
            QueryKind::Events,
            query_keys(ListEvents {
                kind: Some("customer.created".into()),
                limit: Some(1),
                starting_after: Some(EventId::from_entropy(&[7; 24])),
            }),
        ),
    ];
    for (kind, keys) in cases {
        assert_eq!(names(kind), keys, "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The router and the document: one table.

struct App {
    router: Router,
    engine: Engine,
    key: String,
}

async fn app() -> App {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(
        Ports {
            store: store.clone(),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::new(11)),
        },
        EngineConfig::default(),
    );
    let (key, record) = new_key(Mode::Test, &[1; 24], &[2; 32], DateTime::UNIX_EPOCH);
    store.insert_key(record).await.unwrap();
    let state = AppState::new(
        engine.clone(),
        store,
        ServerConfig {
            public_url: "http://127.0.0.1:4242".into(),
            csrf_key: [7; 32],
            rate_limit: None,
        },
    );
    App {
        router: router(state),
        engine,
        key,
    }
}

async fn call(
    app: &App,
    method: Method,
    path: &str,
    key: bool,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if key {
        request = request.header("authorization", format!("Bearer {}", app.key));
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, value)
}

/// A path of the table with its placeholders filled by well-formed ids.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("{}_{}", path_param_prefix(path, name), "0".repeat(24)),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn table() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.method.as_str().to_lowercase()))
        .collect()
}

#[test]
fn the_document_has_every_route_of_the_table_and_no_other() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((path.clone(), method.clone()));
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for segment in path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        params.contains(name),
                        "{method} {path}: {name} undocumented"
                    );
                    assert_ne!(path_param_prefix(path, name), "", "{path}: {name}");
                }
            }
        }
    }
    assert_eq!(documented, table());
    let ids: BTreeSet<&str> = ROUTES.iter().map(|r| r.op.id).collect();
    assert_eq!(ids.len(), ROUTES.len(), "operation ids are unique");
}

#[tokio::test]
async fn the_router_serves_every_route_of_the_table_and_only_those_methods() {
    let app = app().await;
    for spec in ROUTES {
        let path = concrete(spec.path);
        let (status, body) = call(&app, spec.method.clone(), &path, false, None).await;
        if spec.op.public {
            assert_eq!(status, StatusCode::OK, "{} {path}", spec.method);
        } else {
            // Authentication comes first: a routed request without a key is 401.
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path}: {body}",
                spec.method
            );
            assert_eq!(body["error"]["code"], "api_key_missing");
        }
    }
    let table = table();
    let paths: BTreeSet<&str> = ROUTES.iter().map(|r| r.path).collect();
    for path in paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
        ] {
            if table.contains(&(path.to_owned(), method.as_str().to_lowercase())) {
                continue;
            }
            let (status, body) = call(&app, method.clone(), &concrete(path), true, None).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: a route outside the table?"
            );
            assert_eq!(body["error"]["code"], "method_not_allowed");
        }
    }
    let (status, body) = call(&app, Method::GET, "/v1/nothing", true, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "resource_missing");
}

// ---------------------------------------------------------------------------------------------
// Responses: every body a full run answers validates against its operation's schema, and
// every property of every response schema shows up in some answer.

/// A call of the run: (method, route template, concrete path, body).
struct Run<'a> {
    app: &'a App,
    doc: &'a Value,
    checker: Checker<'a>,
    statuses: BTreeSet<(String, String, u16)>,
}

impl Run<'_> {
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, value) = call(self.app, method.clone(), path, true, body).await;
        let m = method.as_str().to_lowercase();
        let responses = &self.doc["paths"][template][&m]["responses"];
        let schema = &responses[status.as_str()]["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} answered {status}, which the document does not list: {value}"
        );
        let mut errors = Vec::new();
        self.checker
            .check(schema, &value, template, None, &mut errors);
        assert_eq!(
            errors,
            Vec::<String>::new(),
            "{method} {path} -> {status}: {value}"
        );
        self.statuses
            .insert((m, template.to_owned(), status.as_u16()));
        value
    }
}

#[tokio::test]
async fn every_answer_of_a_full_run_validates_against_the_document() {
    let app = app().await;
    let doc = doc();
    let mut run = Run {
        app: &app,
        doc: &doc,
        checker: Checker::new(&doc),
        statuses: BTreeSet::new(),
    };
    let address = json!({"line1": "1 Rue", "line2": null, "city": "Paris", "postalCode": "75001", "state": null, "country": "fr"});
    let ada = run
        .call(Method::POST, "/v1/customers", "/v1/customers", Some(json!({"email": "ada@example.com", "name": "Ada", "address": address, "metadata": {"crm": "1"}})))
        .await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let c = format!("/v1/customers/{ada_id}");
    run.call(
        Method::GET,
        "/v1/customers",
        "/v1/customers?email=ADA@example.com&limit=5",
        None,
    )
    .await;
    run.call(Method::GET, "/v1/customers/{id}", &c, None).await;
    let visa = run
        .call(
            Method::POST,
            "/v1/test_helpers/customers/{id}/methods",
            &format!("/v1/test_helpers/customers/{ada_id}/methods"),
            Some(json!({"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"})),
        )
        .await;
    let visa_id = visa["id"].as_str().unwrap().to_owned();
    run.call(
        Method::PATCH,
        "/v1/customers/{id}",
        &c,
        Some(json!({"defaultMethodId": visa_id, "phone": "+33 1"})),
    )
    .await;
    run.call(
        Method::GET,
        "/v1/customers/{id}/methods",
        &format!("{c}/methods"),
        None,
    )
    .await;
    run.call(
        Method::GET,
        "/v1/customers/{id}/methods/{pm}",
        &format!("{c}/methods/{visa_id}"),
        None,
    )
    .await;
    run.call(
        Method::POST,
        "/v1/test_helpers/payment_methods/{pm}/network_update",
        &format!("/v1/test_helpers/payment_methods/{visa_id}/network_update"),
        Some(json!({"expMonth": 1, "expYear": 2031})),
    )
    .await;
    run.call(
        Method::POST,
        "/v1/test_helpers/expiring_scan",
        "/v1/test_helpers/expiring_scan",
        Some(json!({"asOf": "2030-12-15"})),
    )
    .await;
    // Payments: succeeded, declined (402 with declineCode and paymentId), requires_action,
    // waiting for a card, canceled.
    let paid = run
        .call(Method::POST, "/v1/payments", "/v1/payments", Some(json!({"amount": 2500, "currency": "eur", "customerId": ada_id, "offSession": true, "description": "box", "metadata": {"order": "7"}})))
        .await;
    assert_eq!(paid["status"], "succeeded");
    let declined_card = run
        .call(
            Method::POST,
            "/v1/test_helpers/customers/{id}/methods",
            &format!("/v1/test_helpers/customers/{ada_id}/methods"),
            Some(json!({"number": "4000000000009995", "expMonth": 12, "expYear": 2030})),
        )
        .await;
    let declined = run
        .call(Method::POST, "/v1/payments", "/v1/payments", Some(json!({"amount": 100, "currency": "eur", "customerId": ada_id, "paymentMethodId": declined_card["id"], "offSession": true})))
        .await;
    assert_eq!(declined["error"]["declineCode"], "insufficient_funds");
    let failed_id = declined["error"]["paymentId"].as_str().unwrap().to_owned();
    run.call(
        Method::GET,
        "/v1/payments/{id}",
        &format!("/v1/payments/{failed_id}"),
        None,
    )
    .await;
    let sca_card = run
        .call(
            Method::POST,
            "/v1/test_helpers/customers/{id}/methods",
            &format!("/v1/test_helpers/customers/{ada_id}/methods"),
            Some(json!({"number": "4000000000003220", "expMonth": 12, "expYear": 2030})),
        )
        .await;
    let sca = run
        .call(Method::POST, "/v1/payments", "/v1/payments", Some(json!({"amount": 100, "currency": "eur", "customerId": ada_id, "paymentMethodId": sca_card["id"], "offSession": true})))
        .await;
    assert_eq!(sca["status"], "requires_action");
    let open = run
        .call(
            Method::POST,
            "/v1/payments",
            "/v1/payments",
            Some(
                json!({"amount": 100, "currency": "jpy", "returnUrl": "https://shop.example/back"}),
            ),
        )
        .await;
    let open_id = open["id"].as_str().unwrap().to_owned();
    run.call(
        Method::POST,
        "/v1/payments/{id}/cancel",
        &format!("/v1/payments/{open_id}/cancel"),
        None,
    )
    .await;
    run.call(
        Method::POST,
        "/v1/payments/{id}/cancel",
        &format!("/v1/payments/{open_id}/cancel"),
        None,
    )
    .await;
    run.call(
        Method::GET,
        "/v1/payments",
        &format!("/v1/payments?customerId={ada_id}&status=failed"),
        None,
    )
    .await;
    // Setups, one with a failed card attempt on the hosted page.
    let setup = run
        .call(
            Method::POST,
            "/v1/customers/{id}/setup",
            &format!("{c}/setup"),
            Some(json!({"returnUrl": "https://shop.example/saved"})),
        )
        .await;
    let seti = setup["id"].as_str().unwrap().to_owned();
    app.engine
        .submit_setup_card(
            &seti.parse().unwrap(),
            CardEntry::new("4000 0000 0000 0002", "12/30", "123"),
        )
        .await
        .unwrap();
    let failed_setup = run
        .call(
            Method::GET,
            "/v1/setups/{id}",
            &format!("/v1/setups/{seti}"),
            None,
        )
        .await;
    assert!(failed_setup["lastError"].is_object());
    run.call(
        Method::POST,
        "/v1/setups/{id}/cancel",
        &format!("/v1/setups/{seti}/cancel"),
        Some(json!({})),
    )
    .await;
    // Webhook endpoints.
    let we = run
        .call(
            Method::POST,
            "/v1/webhook_endpoints",
            "/v1/webhook_endpoints",
            Some(json!({"url": "https://shop.example/hooks", "events": ["*"]})),
        )
        .await;
    let we_id = we["id"].as_str().unwrap().to_owned();
    run.call(
        Method::POST,
        "/v1/webhook_endpoints/{id}/rotate_secret",
        &format!("/v1/webhook_endpoints/{we_id}/rotate_secret"),
        Some(json!({"overlapSeconds": 60})),
    )
    .await;
    run.call(
        Method::GET,
        "/v1/webhook_endpoints",
        "/v1/webhook_endpoints",
        None,
    )
    .await;
    run.call(
        Method::DELETE,
        "/v1/webhook_endpoints/{id}",
        &format!("/v1/webhook_endpoints/{we_id}"),
        None,
    )
    .await;
    // Events, then the deletes.
    let events = run
        .call(Method::GET, "/v1/events", "/v1/events?limit=100", None)
        .await;
    let evt = events["data"][0]["id"].as_str().unwrap().to_owned();
    run.call(
        Method::GET,
        "/v1/events/{id}",
        &format!("/v1/events/{evt}"),
        None,
    )
    .await;
    run.call(
        Method::DELETE,
        "/v1/customers/{id}/methods/{pm}",
        &format!("{c}/methods/{visa_id}"),
        None,
    )
    .await;
    run.call(Method::DELETE, "/v1/customers/{id}", &c, None)
        .await;
    run.call(Method::GET, "/v1/events", "/v1/events?limit=100", None)
        .await;
    // Errors with a param, and a request refused before routing to the engine.
    run.call(
        Method::POST,
        "/v1/customers",
        "/v1/customers",
        Some(json!({"email": "nope"})),
    )
    .await;
    run.call(Method::GET, "/v1/customers/{id}", &c, None).await;
    run.call(Method::GET, "/v1/openapi.json", "/v1/openapi.json", None)
        .await;

    // Every route of the table was exercised.
    let exercised: BTreeSet<(String, String)> = run
        .statuses
        .iter()
        .map(|(m, t, _)| (t.clone(), m.clone()))
        .collect();
    assert_eq!(exercised, table());
    // Every response schema's every property was seen in some answer.
    for name in [
        "Customer",
        "Address",
        "PaymentMethod",
        "Setup",
        "LastError",
        "Payment",
        "NextAction",
        "WebhookEndpoint",
        "Event",
        "EventData",
        "CustomerList",
        "PaymentMethodList",
        "PaymentList",
        "WebhookEndpointList",
        "EventList",
        "DeletedCustomer",
        "DeletedWebhookEndpoint",
        "ScanResult",
        "ErrorBody",
        "ErrorDetail",
    ] {
        assert_eq!(
            run.checker.unseen(name),
            Vec::<String>::new(),
            "{name}: never answered"
        );
    }
}

#[test]
fn the_checker_catches_drift() {
    let doc = doc();
    let mut c = Checker::new(&doc);
    let mut customer = json!({
        "id": format!("cust_{}", "a".repeat(24)), "object": "customer", "email": null,
        "name": null, "phone": null, "address": null, "metadata": {}, "defaultMethodId": null,
        "created": 1, "livemode": false, "version": 1
    });
    assert_eq!(c.check_named("Customer", &customer), Vec::<String>::new());
    let broken = [
        ("nickname", json!("x")),
        ("object", json!("payment")),
        ("created", json!("yesterday")),
        ("metadata", json!({"k": 1})),
        ("defaultMethodId", json!("cust_000000000000000000000000")),
        ("address", json!({"line1": null})),
    ];
    for (key, value) in broken {
        let mut bad = customer.clone();
        bad[key] = value;
        assert!(!c.check_named("Customer", &bad).is_empty(), "{key}");
    }
    customer.as_object_mut().unwrap().remove("version");
    assert!(!c.check_named("Customer", &customer).is_empty());
}

#[test]
fn links_name_real_operations_and_their_path_parameters() {
    let doc = doc();
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            let params: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            operations.insert(
                op["operationId"].as_str().unwrap().to_owned(),
                (path, params),
            );
        }
    }
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for link in op["responses"]["200"]["links"]
                .as_object()
                .into_iter()
                .flat_map(|l| l.values())
            {
                links += 1;
                let to = link["operationId"].as_str().unwrap();
                let (_, params) = operations.get(to).unwrap_or_else(|| panic!("no {to}"));
                let given: BTreeSet<String> = link["parameters"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                assert_eq!(&given, params, "link to {to}");
            }
        }
    }
    assert_eq!(links, super::LINKS.len());
}
