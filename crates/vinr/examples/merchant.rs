//! A small merchant service on axum that embeds VINR: buyers sign up, save a card on VINR's
//! hosted page, and are charged off-session when they order; a card that wants 3-D Secure
//! sends the buyer back on-session to authenticate; webhooks arrive signed and are verified by
//! the `VerifiedEvent` extractor and handled idempotently, in any order.
//!
//! Run it with `cargo run -p vinr --example merchant`. It listens on `MERCHANT_ADDR`
//! (default `127.0.0.1:3000`) and embeds the in-process sandbox, delivering webhooks to itself
//! in the background. With `VINR_SECRET_KEY` (and `VINR_API_BASE`) it talks to a VINR server
//! instead, which then delivers the webhooks; `VINR_WEBHOOK_SECRET` names the secret of an
//! endpoint already registered there, else one is registered at `<public url>/webhooks`
//! (`MERCHANT_PUBLIC_URL`, default `http://<MERCHANT_ADDR>`).
//!
//! ```text
//! POST /signup             {"email": "ada@example.com", "name": "Ada"}  → 201 {"customerId"}
//! POST /cards              {"customerId": "cust_…"}                      → 201 {"setupId", "checkoutUrl"}
//! GET  /cards/saved?setup=seti_…  (the buyer's return from the hosted page: makes the card the default)
//! POST /orders/{customer}  {"amount": 2500, "currency": "EUR"}           → 201 paid
//!                          · 3-D Secure wanted → 202 {"nextActionUrl"}: send the buyer there
//!                          · declined          → 402 {"error": {"code", "declineCode", "message"}}
//! GET  /orders/{customer}  (also the buyer's return after authenticating) → the customer's orders
//! POST /webhooks           (VINR's deliveries)                           → 200 {"outcome"}
//! ```
//!
//! In-process there is no server to show VINR's hosted pages to a browser, so two routes play
//! the buyer on them (through `vinr.hosted()`, as the tests do; 404 over HTTP):
//!
//! ```text
//! POST /sandbox/setups/{setup}     {"card": "4242 4242 4242 4242"} or {"authenticate": "complete"}
//! POST /sandbox/payments/{payment} {"authenticate": "complete"}   (or "fail")
//! ```
//!
//! A walk through it: sign up, start a card setup, type 4242 as the buyer, follow the
//! redirect back (`GET /cards/saved?…`), order: paid. With `4000 0000 0000 3220` saved
//! (type it, then authenticate the setup), an order answers 202 with the `nextActionUrl`;
//! authenticate the payment as the buyer and the `payment.succeeded` webhook marks it paid.
//!
//! Its tests (`crates/vinr/tests/merchant.rs`) run this app against `Vinr::sandbox()`.

// An example talks to its reader on standard output.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
// `vinr::webhooks::axum` needs the `axum` feature of `vinr` (this example's dev-dependencies
// turn it on): `vinr = { version = "…", features = ["axum"] }` in a service's own manifest.
use vinr::webhooks::axum::{VerifiedEvent, WebhookVerifier};
use vinr::webhooks::{Event, Object, Verifier};
use vinr::{
    CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, CreateWebhookEndpoint, CustomerId,
    Error, HostedOutcome, InvalidRequestCode, ListCustomers, Payment, PaymentId, PaymentStatus,
    SetupId, SetupStatus, SystemClock, UpdateCustomer, Vinr,
};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The VINR handle (in-process or over HTTP: the same calls).
    pub(crate) vinr: Vinr,
    /// Checks VINR's signature on every webhook (the extractor finds it here).
    pub(crate) webhooks: WebhookVerifier,
    /// The shop's own books.
    pub(crate) shop: Shop,
    /// Where buyers reach this service (the hosted pages send them back here).
    pub(crate) public_url: String,
}

impl FromRef<AppState> for WebhookVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks.clone()
    }
}

impl AppState {
    /// A service over `vinr`, verifying webhooks signed by `webhook_secret`, reached at
    /// `public_url`.
    pub(crate) fn new(vinr: Vinr, webhook_secret: &str, public_url: impl Into<String>) -> Self {
        Self {
            vinr,
            webhooks: WebhookVerifier::new(Verifier::new([webhook_secret])),
            shop: Shop::default(),
            public_url: public_url.into(),
        }
    }
}

/// The service's routes.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .route("/signup", post(signup))
        .route("/cards", post(start_card_setup))
        .route("/cards/saved", get(card_saved))
        .route("/orders/{customer}", post(place_order).get(list_orders))
        .route("/webhooks", post(webhook))
        .route("/sandbox/setups/{setup}", post(sandbox_setup))
        .route("/sandbox/payments/{payment}", post(sandbox_payment))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// The books: orders, and what the webhooks told us.
// ---------------------------------------------------------------------------------------------

/// The shop's books behind a lock, shared by the handlers. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Shop(Arc<Mutex<Books>>);

impl Shop {
    /// The books, locked (a panicked holder left them consistent: each change is one call).
    pub(crate) fn books(&self) -> MutexGuard<'_, Books> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    /// Created, not charged yet.
    Pending,
    /// The card wants 3-D Secure: the buyer must come back and authenticate.
    RequiresAction,
    /// Paid.
    Paid,
    /// The charge failed.
    Failed,
    /// The payment was canceled.
    Canceled,
}

impl From<PaymentStatus> for OrderStatus {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Succeeded => OrderStatus::Paid,
            PaymentStatus::RequiresAction => OrderStatus::RequiresAction,
            PaymentStatus::Failed => OrderStatus::Failed,
            PaymentStatus::Canceled => OrderStatus::Canceled,
            _ => OrderStatus::Pending,
        }
    }
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) status: OrderStatus,
    pub(crate) payment_id: Option<String>,
    /// Where the buyer authenticates, while the order requires action.
    pub(crate) next_action_url: Option<String>,
    /// Why the charge failed, as VINR says it (safe to show the buyer).
    pub(crate) failure: Option<String>,
}

/// How a webhook was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Handled {
    /// Its object was newer than what the books held: applied.
    Applied,
    /// The same event came before (deliveries are at least once): nothing done.
    Duplicate,
    /// The books already hold this object at a version as new (events come in no guaranteed
    /// order): dropped.
    Stale,
}

/// The shop's state. Webhooks and the order routes change it through [`Books::apply_payment`],
/// which keeps the newest snapshot of each payment, so the result does not depend on which
/// arrives first, nor on how many times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Books {
    /// Orders by id.
    pub(crate) orders: BTreeMap<String, Order>,
    /// The newest `version` held of every VINR object seen, by object id.
    pub(crate) versions: BTreeMap<String, u64>,
    /// Ids of the events handled.
    pub(crate) events: BTreeSet<String>,
    /// Orders whose receipt was e-mailed: once each, however many events say "paid".
    pub(crate) receipts: Vec<String>,
    next_order: u64,
}

/// A random number drawn once per process, so that order ids (and the idempotency keys made
/// from them) never repeat across restarts; a real shop's database gives its ids.
fn run_id() -> u32 {
    static RUN: OnceLock<u32> = OnceLock::new();
    // std's hasher keys are random per process: hashing anything gives a random number.
    *RUN.get_or_init(|| RandomState::new().hash_one(0u8) as u32)
}

impl Books {
    /// Opens an order for `customer` and names it.
    fn open_order(&mut self, customer: &CustomerId, amount: i64, currency: &str) -> String {
        self.next_order += 1;
        let id = format!("ord_{:x}_{}", run_id(), self.next_order);
        self.orders.insert(
            id.clone(),
            Order {
                id: id.clone(),
                customer_id: customer.to_string(),
                amount,
                currency: currency.to_uppercase(),
                status: OrderStatus::Pending,
                payment_id: None,
                next_action_url: None,
                failure: None,
            },
        );
        id
    }

    /// Whether `version` of object `id` is newer than the one held (an object without a
    /// version always is); if so, it is now the one held.
    fn take_if_newer(&mut self, id: &str, version: Option<u64>) -> bool {
        let Some(version) = version else { return true };
        if self.versions.get(id).is_some_and(|&held| held >= version) {
            return false;
        }
        self.versions.insert(id.to_owned(), version);
        true
    }

    /// Applies a snapshot of a payment unless an equal or newer one was applied before; the
    /// order is the one named by the payment's `orderId` metadata (made from the payment if
    /// these books never saw it). Returns whether it was applied.
    pub(crate) fn apply_payment(&mut self, payment: &Payment) -> bool {
        if !self.take_if_newer(payment.id.as_str(), Some(payment.version)) {
            return false;
        }
        let Some(order_id) = payment.metadata.get("orderId") else {
            return true; // Not one of our orders.
        };
        let order = self
            .orders
            .entry(order_id.to_owned())
            .or_insert_with(|| Order {
                id: order_id.to_owned(),
                customer_id: payment
                    .customer_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                amount: payment.amount,
                currency: payment.currency.to_string(),
                status: OrderStatus::Pending,
                payment_id: None,
                next_action_url: None,
                failure: None,
            });
        order.payment_id = Some(payment.id.to_string());
        order.status = payment.status.into();
        order.next_action_url = match payment.status {
            PaymentStatus::RequiresAction => payment.next_action.as_ref().map(|a| a.url.clone()),
            _ => None,
        };
        order.failure = match payment.status {
            PaymentStatus::Failed => payment.last_error.as_ref().map(|e| e.message.clone()),
            _ => None,
        };
        if order.status == OrderStatus::Paid && !self.receipts.iter().any(|r| r == order_id) {
            // Here a real shop e-mails the receipt.
            self.receipts.push(order_id.to_owned());
        }
        true
    }

    /// Handles a verified webhook: once per event id, and only when its object is newer than
    /// what the books hold.
    pub(crate) fn apply_event(&mut self, event: &Event) -> Handled {
        if !self.events.insert(event.id().to_owned()) {
            return Handled::Duplicate;
        }
        let Some(object) = event.object_id() else {
            return Handled::Applied; // Nothing to order it by: a newer server's object.
        };
        let held = self.versions.get(object).copied();
        if held.is_some_and(|held| !event.is_newer_than(held)) {
            return Handled::Stale;
        }
        match event.object() {
            Object::Payment(payment) => {
                self.apply_payment(payment);
            }
            // Customers, methods and setups: this shop only tracks their versions (and a
            // newer server's objects, `Object::Other`, when they carry one).
            _ => {
                self.take_if_newer(object, event.object_version());
            }
        }
        Handled::Applied
    }

    /// A customer's orders, oldest first.
    fn orders_of(&self, customer: &CustomerId) -> Vec<Order> {
        self.orders
            .values()
            .filter(|o| o.customer_id == customer.as_str())
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Routes.
// ---------------------------------------------------------------------------------------------

/// A JSON error answer: `{"error": {"code", "message", …}}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": code, "message": message.into()}});
    (status, Json(body)).into_response()
}

/// A VINR error this service did not expect: 404 for a missing object, 502 otherwise.
fn upstream(e: &Error) -> Response {
    match e {
        Error::NotFound { message, .. } => error(StatusCode::NOT_FOUND, e.code(), message),
        other => error(StatusCode::BAD_GATEWAY, other.code(), other.to_string()),
    }
}

/// The 404 of a customer id that names no customer.
fn no_customer() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "customer_missing",
        "no such customer",
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signup {
    email: String,
    name: Option<String>,
}

/// `POST /signup`: the buyer's VINR customer, found by e-mail or created (never two for one
/// buyer: saved cards do not move between customers).
async fn signup(State(state): State<AppState>, Json(body): Json<Signup>) -> Response {
    let found = state
        .vinr
        .customers()
        .list(ListCustomers {
            email: Some(body.email.clone()),
            ..Default::default()
        })
        .await;
    match found {
        Ok(page) => {
            if let Some(customer) = page.data.first() {
                return (StatusCode::OK, Json(json!({"customerId": customer.id}))).into_response();
            }
        }
        Err(e) => return upstream(&e),
    }
    let created = state
        .vinr
        .customers()
        .create(CreateCustomer {
            email: Some(body.email),
            name: body.name,
            ..Default::default()
        })
        .await;
    match created {
        Ok(customer) => (
            StatusCode::CREATED,
            Json(json!({"customerId": customer.id})),
        )
            .into_response(),
        Err(e @ Error::InvalidRequest { .. }) => {
            error(StatusCode::BAD_REQUEST, e.code(), e.to_string())
        }
        Err(e) => upstream(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CardRequest {
    customer_id: String,
}

/// `POST /cards`: starts saving a card; the buyer goes to `checkoutUrl` (VINR's page) and
/// comes back to `/cards/saved`.
async fn start_card_setup(
    State(state): State<AppState>,
    Json(body): Json<CardRequest>,
) -> Response {
    let Ok(customer) = CustomerId::parse(&body.customer_id) else {
        return no_customer();
    };
    let return_url = format!("{}/cards/saved", state.public_url);
    match state
        .vinr
        .customers()
        .setup_method(&customer, return_url)
        .await
    {
        Ok(setup) => (
            StatusCode::CREATED,
            Json(json!({"setupId": setup.id, "checkoutUrl": setup.checkout_url})),
        )
            .into_response(),
        Err(e) => upstream(&e),
    }
}

#[derive(Debug, Deserialize)]
struct SavedQuery {
    setup: String,
}

/// `GET /cards/saved?setup=seti_…&status=…`: the buyer's return from the hosted page. The
/// query is only a hint: the setup is read from VINR, and its card becomes the default.
async fn card_saved(State(state): State<AppState>, Query(query): Query<SavedQuery>) -> Response {
    let Ok(id) = SetupId::parse(&query.setup) else {
        return error(StatusCode::NOT_FOUND, "setup_missing", "no such setup");
    };
    let setup = match state.vinr.setups().retrieve(&id).await {
        Ok(s) => s,
        Err(e) => return upstream(&e),
    };
    let (SetupStatus::Succeeded, Some(method)) = (setup.status, setup.payment_method_id) else {
        return error(
            StatusCode::CONFLICT,
            "card_not_saved",
            format!("the card was not saved (setup {})", setup.status),
        );
    };
    let update = UpdateCustomer {
        default_method_id: Some(Some(method.clone())),
        ..Default::default()
    };
    match state
        .vinr
        .customers()
        .update(&setup.customer_id, update)
        .await
    {
        Ok(_) => Json(json!({"customerId": setup.customer_id, "paymentMethodId": method}))
            .into_response(),
        Err(e) => upstream(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRequest {
    amount: i64,
    currency: String,
    description: Option<String>,
}

/// `POST /orders/{customer}`: charges the customer's default card off-session.
///
/// Paid → 201. The card wants 3-D Secure → 202 with `nextActionUrl`: the buyer is not here,
/// so the shop asks them (by e-mail, in the app) to come back and authenticate there; VINR
/// sends them back to `GET /orders/{customer}` and a `payment.succeeded` webhook follows.
/// Declined → 402 with the reason. No saved card → 409.
async fn place_order(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Json(body): Json<OrderRequest>,
) -> Response {
    let Ok(customer) = CustomerId::parse(&customer) else {
        return no_customer();
    };
    let order_id = state
        .shop
        .books()
        .open_order(&customer, body.amount, &body.currency);
    let params = CreatePayment {
        amount: body.amount,
        currency: body.currency,
        customer_id: Some(customer.clone()),
        off_session: true,
        description: body.description,
        metadata: Some(BTreeMap::from([("orderId".to_owned(), order_id.clone())])),
        // Where the buyer lands after authenticating, if VINR needs them.
        return_url: Some(format!("{}/orders/{customer}", state.public_url)),
        ..Default::default()
    };
    // One idempotency key per order: however often this call is retried, it charges once.
    let created = state
        .vinr
        .idempotent(format!("order-{order_id}"))
        .payments()
        .create(params)
        .await;
    let payment = match created {
        Ok(payment) => payment,
        Err(Error::Card {
            code,
            decline_code,
            payment_id,
            message,
        }) => {
            let mut books = state.shop.books();
            if let Some(order) = books.orders.get_mut(&order_id) {
                order.status = OrderStatus::Failed;
                order.payment_id = payment_id.as_ref().map(ToString::to_string);
                order.failure = Some(message.clone());
            }
            let body = json!({
                "orderId": order_id,
                "paymentId": payment_id,
                "error": {"code": code, "declineCode": decline_code, "message": message},
            });
            return (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response();
        }
        Err(e) => {
            // Nothing was charged: the order goes away.
            state.shop.books().orders.remove(&order_id);
            return match e {
                Error::InvalidRequest {
                    code: InvalidRequestCode::PaymentMethodRequired,
                    ..
                } => error(
                    StatusCode::CONFLICT,
                    "no_saved_card",
                    "the customer has no saved card: POST /cards first",
                ),
                Error::InvalidRequest { .. } => {
                    error(StatusCode::BAD_REQUEST, e.code(), e.to_string())
                }
                other => upstream(&other),
            };
        }
    };
    let order = {
        let mut books = state.shop.books();
        books.apply_payment(&payment);
        books.orders.get(&order_id).cloned()
    };
    let status = match payment.status {
        PaymentStatus::RequiresAction => StatusCode::ACCEPTED,
        _ => StatusCode::CREATED,
    };
    (status, Json(json!(order))).into_response()
}

#[derive(Debug, Deserialize)]
struct OrdersQuery {
    payment: Option<String>,
}

/// `GET /orders/{customer}`: the customer's orders. VINR sends the buyer here after a
/// challenge with `?payment=pay_…`: that payment is read from VINR and applied first, so the
/// page is right even before the webhook arrives.
async fn list_orders(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Query(query): Query<OrdersQuery>,
) -> Response {
    let Ok(customer) = CustomerId::parse(&customer) else {
        return no_customer();
    };
    if let Some(payment) = query
        .payment
        .as_deref()
        .and_then(|p| PaymentId::parse(p).ok())
    {
        match state.vinr.payments().retrieve(&payment).await {
            Ok(p) if p.customer_id.as_ref() == Some(&customer) => {
                state.shop.books().apply_payment(&p);
            }
            Ok(_) => {}
            Err(e) => return upstream(&e),
        }
    }
    let orders = state.shop.books().orders_of(&customer);
    Json(json!({"orders": orders})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyerAction {
    card: Option<String>,
    authenticate: Option<ChallengeOutcome>,
}

/// The 404 of the buyer's routes when this service talks to a VINR server.
fn not_in_process() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "the buyer's routes exist only in-process",
    )
}

/// What a hosted page did, as JSON (`{"kind": "redirect", "url": …}`, …).
fn hosted(outcome: Result<HostedOutcome, Error>) -> Response {
    match outcome {
        Ok(outcome) => Json(json!(outcome)).into_response(),
        Err(e @ Error::Gone { .. }) => error(StatusCode::GONE, e.code(), e.to_string()),
        Err(e) => upstream(&e),
    }
}

/// `POST /sandbox/setups/{setup}`: the buyer types a card on the setup page, or answers its
/// 3-D Secure challenge.
async fn sandbox_setup(
    State(state): State<AppState>,
    Path(setup): Path<String>,
    Json(action): Json<BuyerAction>,
) -> Response {
    if state.vinr.engine().is_none() {
        return not_in_process();
    }
    let Ok(setup) = SetupId::parse(&setup) else {
        return error(StatusCode::NOT_FOUND, "setup_missing", "no such setup");
    };
    let page = state.vinr.hosted();
    match action {
        BuyerAction {
            card: Some(number),
            authenticate: None,
        } => hosted(
            page.submit_setup_card(&setup, CardEntry::new(number, "12/34", "123"))
                .await,
        ),
        BuyerAction {
            card: None,
            authenticate: Some(outcome),
        } => hosted(page.authenticate_setup(&setup, outcome).await),
        _ => error(
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
            "give either `card` or `authenticate`",
        ),
    }
}

/// `POST /sandbox/payments/{payment}`: the buyer answers a payment's 3-D Secure challenge
/// (the page at its `nextActionUrl`).
async fn sandbox_payment(
    State(state): State<AppState>,
    Path(payment): Path<String>,
    Json(action): Json<BuyerAction>,
) -> Response {
    if state.vinr.engine().is_none() {
        return not_in_process();
    }
    let Ok(payment) = PaymentId::parse(&payment) else {
        return error(StatusCode::NOT_FOUND, "payment_missing", "no such payment");
    };
    match action {
        BuyerAction {
            card: None,
            authenticate: Some(outcome),
        } => hosted(
            state
                .vinr
                .hosted()
                .authenticate_payment(&payment, outcome)
                .await,
        ),
        _ => error(
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
            "give `authenticate`",
        ),
    }
}

/// `POST /webhooks`: a delivery from VINR, verified by the extractor (else 400), handled once
/// per event and only if newer than what the books hold; always acknowledged quickly.
async fn webhook(State(shop): State<Shop>, VerifiedEvent(event): VerifiedEvent) -> Response {
    let outcome = shop.books().apply_event(&event);
    println!(
        "webhook {} {} {}: {outcome:?}",
        event.id(),
        event.kind(),
        event.object_id().unwrap_or("-")
    );
    Json(json!({"received": event.id(), "outcome": outcome})).into_response()
}

impl FromRef<AppState> for Shop {
    fn from_ref(state: &AppState) -> Self {
        state.shop.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

/// An environment variable, if set and not blank.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = env("MERCHANT_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let public_url = env("MERCHANT_PUBLIC_URL").unwrap_or_else(|| format!("http://{local}"));

    // A VINR server when a key is given; else the in-process sandbox. A long-running sandbox
    // reads the system clock (`Vinr::sandbox()` starts a manual clock that tests move), so
    // that signatures carry the real time and setups expire on time.
    let vinr = match env("VINR_SECRET_KEY") {
        Some(key) => Vinr::new(&key)?,
        None => Vinr::builder().clock(SystemClock::new()).build(),
    };
    let in_process = vinr.engine().is_some();

    let secret = match env("VINR_WEBHOOK_SECRET") {
        Some(secret) => secret,
        None => {
            let endpoint = vinr
                .webhook_endpoints()
                .create(CreateWebhookEndpoint {
                    url: format!("{public_url}/webhooks"),
                    events: vec!["*".to_owned()],
                })
                .await?;
            println!("registered webhook endpoint {}", endpoint.id);
            endpoint
                .secret
                .ok_or("VINR did not show the new endpoint's secret")?
                .expose()
                .to_owned()
        }
    };

    // In-process, this service's own VINR delivers the webhooks (a server does it itself).
    let worker = if in_process {
        Some(vinr.deliver_webhooks_in_background()?)
    } else {
        None
    };

    let state = AppState::new(vinr, &secret, public_url.clone());
    println!(
        "merchant listening on {public_url} (VINR: {})",
        if in_process {
            "in-process sandbox"
        } else {
            "server"
        }
    );
    println!(
        "  curl -s -XPOST {public_url}/signup -H 'content-type: application/json' -d '{{\"email\":\"ada@example.com\"}}'"
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    Ok(())
}
