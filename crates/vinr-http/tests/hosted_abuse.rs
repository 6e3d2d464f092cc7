//! Card testing on the hosted pages, through the whole router: a link locks after its own
//! failed attempts (410, `canceled`, `too_many_attempts`, one event), a client address over its
//! limit locks the next link it posts to, and the 410 page never holds the card number.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;
use vinr_domain::error::LastErrorCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_domain::limits::AttemptLimit;
use vinr_domain::payment::PaymentStatus;
use vinr_domain::setup::SetupStatus;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::hosted::guard::AddressLimit;
use vinr_http::server::{AppState, ServerConfig, router};
use vinr_ports::RequestContext;
use vinr_ports::api::{CustomersApi, EventsApi, PaymentsApi, SetupsApi};
use vinr_ports::params::{CreateCustomer, CreatePayment, CreateSetup, ListEvents};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

const PUBLIC: &str = "http://127.0.0.1:4242";
const DECLINE: &str = "4000000000000002";
const DECLINE_SPACED: &str = "4000 0000 0000 0002";
const VISA: &str = "4242424242424242";

struct Harness {
    app: Router,
    state: AppState,
    network: SandboxNetwork,
}

fn harness(link_limit: u32, address_limit: Option<u32>) -> Harness {
    let store = MemoryStore::new();
    let network = SandboxNetwork::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(network.clone()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::new(23)),
        },
        EngineConfig {
            public_url: PUBLIC.to_owned(),
            hosted_max_attempts: AttemptLimit::new(link_limit).unwrap(),
            ..EngineConfig::default()
        },
    );
    let state = AppState::new(
        engine,
        Arc::new(store),
        ServerConfig {
            public_url: PUBLIC.to_owned(),
            csrf_key: [7u8; 32],
            rate_limit: None,
        },
    );
    state.hosted_guard().configure(
        address_limit.map(|failures| AddressLimit {
            failures,
            window: Duration::from_secs(3600),
            capacity: 1000,
        }),
        false,
    );
    Harness {
        app: router(state.clone()),
        state,
        network,
    }
}

fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

impl Harness {
    async fn setup(&self) -> SetupId {
        let customer = self
            .state
            .engine()
            .create_customer(&ctx(), CreateCustomer::default())
            .await
            .unwrap()
            .id;
        self.state
            .engine()
            .create_setup(
                &ctx(),
                &customer,
                CreateSetup {
                    return_url: "https://shop.example/saved".into(),
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn payment(&self) -> PaymentId {
        self.state
            .engine()
            .create_payment(
                &ctx(),
                CreatePayment {
                    amount: 2500,
                    currency: "eur".into(),
                    return_url: Some("https://shop.example/done".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn events(&self, kind: EventType) -> usize {
        self.state
            .engine()
            .list_events(
                &ctx(),
                ListEvents {
                    kind: Some(kind.to_string()),
                    limit: Some(100),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .data
            .len()
    }
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: String,
}

/// A browser at one address: keeps its CSRF cookie.
struct Buyer<'a> {
    h: &'a Harness,
    addr: SocketAddr,
    cookie: Option<String>,
}

impl<'a> Buyer<'a> {
    fn at(h: &'a Harness, ip: &str) -> Self {
        Self {
            h,
            addr: SocketAddr::new(ip.parse().unwrap(), 50_000),
            cookie: None,
        }
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<String>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let mut req = req.body(Body::from(body.unwrap_or_default())).unwrap();
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let res = self.h.app.clone().oneshot(req).await.unwrap();
        if let Some(set) = res.headers().get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        Reply {
            status,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// Opens the card page at `path` and submits `number`.
    async fn type_card(&mut self, path: &str, number: &str) -> Reply {
        let page = self.send(Method::GET, path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let token = token_of(&page.body);
        let form = serde_urlencoded::to_string([
            ("csrf_token", token.as_str()),
            ("number", number),
            ("expiry", "12/34"),
            ("cvc", "123"),
            ("name", "Ada Lovelace"),
        ])
        .unwrap();
        self.send(Method::POST, path, Some(form)).await
    }
}

fn token_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\"")
        .expect("a csrf_token input");
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    let tag = &html[start..end];
    let v = tag.find("value=\"").unwrap() + "value=\"".len();
    let len = tag[v..].find('"').unwrap();
    tag[v..v + len].to_owned()
}

fn assert_no_pan(reply: &Reply) {
    for pan in [DECLINE, DECLINE_SPACED, VISA] {
        assert!(!reply.body.contains(pan), "the page holds {pan}: {reply:?}");
    }
}

#[tokio::test]
async fn k_declines_lock_a_setup_link_with_410_and_setup_canceled() {
    let h = harness(3, None);
    let id = h.setup().await;
    let path = format!("/hosted/setup/{id}");
    let mut buyer = Buyer::at(&h, "203.0.113.10");
    for _ in 0..2 {
        let reply = buyer.type_card(&path, DECLINE_SPACED).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert!(reply.body.contains("role=\"alert\""));
        assert_no_pan(&reply);
    }
    let third = buyer.type_card(&path, DECLINE_SPACED).await;
    assert_eq!(third.status, StatusCode::GONE, "{third:?}");
    assert!(third.body.contains("Too many failed card attempts"));
    assert_no_pan(&third);

    let setup = h.state.engine().retrieve_setup(&ctx(), &id).await.unwrap();
    assert_eq!(setup.status, SetupStatus::Canceled);
    assert_eq!(
        setup.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(h.events(EventType::SetupFailed).await, 3);
    assert_eq!(h.events(EventType::SetupCanceled).await, 1);
    // The page is gone for good, for a GET and for a good card.
    let page = buyer.send(Method::GET, &path, None).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(h.network.approved_charges(), 0);
}

#[tokio::test]
async fn k_declines_lock_a_payment_link_and_a_success_before_k_pays_once() {
    let h = harness(3, None);
    let locked = h.payment().await;
    let path = format!("/hosted/pay/{locked}");
    let mut buyer = Buyer::at(&h, "203.0.113.11");
    assert_eq!(buyer.type_card(&path, DECLINE).await.status, StatusCode::OK);
    assert_eq!(buyer.type_card(&path, DECLINE).await.status, StatusCode::OK);
    let third = buyer.type_card(&path, DECLINE).await;
    assert_eq!(third.status, StatusCode::GONE, "{third:?}");
    assert_no_pan(&third);
    let p = h
        .state
        .engine()
        .retrieve_payment(&ctx(), &locked)
        .await
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Canceled);
    assert_eq!(
        p.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(h.events(EventType::PaymentCanceled).await, 1);

    // Two declines, then a good card: paid, once, nothing canceled.
    let paid = h.payment().await;
    let path = format!("/hosted/pay/{paid}");
    for _ in 0..2 {
        assert_eq!(buyer.type_card(&path, DECLINE).await.status, StatusCode::OK);
    }
    let ok = buyer.type_card(&path, VISA).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{ok:?}");
    let p = h
        .state
        .engine()
        .retrieve_payment(&ctx(), &paid)
        .await
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(h.network.approved_charges(), 1);
    assert_eq!(h.events(EventType::PaymentCanceled).await, 1);
}

#[tokio::test]
async fn an_address_over_its_limit_locks_the_next_link_it_posts_to() {
    // Links take 5 failures each; the address takes 3 in all.
    let h = harness(5, Some(3));
    let a = h.setup().await;
    let b = h.payment().await;
    let c = h.setup().await;
    let mut attacker = Buyer::at(&h, "198.51.100.7");
    for path in [
        format!("/hosted/setup/{a}"),
        format!("/hosted/setup/{a}"),
        format!("/hosted/pay/{b}"),
    ] {
        let reply = attacker.type_card(&path, DECLINE).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    // The fourth card post, on a fresh link, goes nowhere: the link locks, 410.
    let charges_before = h.network.authorizations();
    let reply = attacker
        .type_card(&format!("/hosted/setup/{c}"), VISA)
        .await;
    assert_eq!(reply.status, StatusCode::GONE, "{reply:?}");
    assert!(reply.body.contains("Too many failed card attempts"));
    assert_no_pan(&reply);
    assert_eq!(
        h.network.authorizations(),
        charges_before,
        "the card never left"
    );
    let locked = h.state.engine().retrieve_setup(&ctx(), &c).await.unwrap();
    assert_eq!(locked.status, SetupStatus::Canceled);
    assert_eq!(
        locked.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(h.events(EventType::SetupCanceled).await, 1);
    // The earlier links stay open (their own counts are under 5) for other buyers.
    let a_now = h.state.engine().retrieve_setup(&ctx(), &a).await.unwrap();
    assert_eq!(a_now.status, SetupStatus::RequiresPaymentMethod);

    // Another address is not affected, even on a link the attacker used.
    let mut buyer = Buyer::at(&h, "192.0.2.44");
    let ok = buyer.type_card(&format!("/hosted/setup/{a}"), VISA).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{ok:?}");
    // The attacker's next post on the open payment link locks it too.
    let reply = attacker.type_card(&format!("/hosted/pay/{b}"), VISA).await;
    assert_eq!(reply.status, StatusCode::GONE);
    let b_now = h.state.engine().retrieve_payment(&ctx(), &b).await.unwrap();
    assert_eq!(b_now.status, PaymentStatus::Canceled);
    assert_eq!(h.events(EventType::PaymentCanceled).await, 1);
    assert_eq!(h.network.approved_charges(), 0, "nothing was charged");
}

#[tokio::test]
async fn successes_and_form_mistakes_do_not_count_against_an_address() {
    let h = harness(5, Some(1));
    let mut buyer = Buyer::at(&h, "203.0.113.12");
    for _ in 0..3 {
        let id = h.setup().await;
        let path = format!("/hosted/setup/{id}");
        let page = buyer.send(Method::GET, &path, None).await;
        let token = token_of(&page.body);
        // An expiry that is not a date, and an oversized name: the form again, uncounted.
        let long_name = "n".repeat(300);
        for (expiry, name) in [("13/99x", "Ada"), ("12/34", long_name.as_str())] {
            let form = serde_urlencoded::to_string([
                ("csrf_token", token.as_str()),
                ("number", VISA),
                ("expiry", expiry),
                ("cvc", "123"),
                ("name", name),
            ])
            .unwrap();
            let reply = buyer.send(Method::POST, &path, Some(form)).await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            assert!(reply.body.contains("role=\"alert\""));
            assert_no_pan(&reply);
        }
        let ok = buyer.type_card(&path, VISA).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{ok:?}");
    }
    assert_eq!(h.state.hosted_guard().tracked(), 0);
}

#[tokio::test]
async fn a_huge_form_post_is_413_and_changes_nothing() {
    let h = harness(5, Some(1));
    let id = h.setup().await;
    let path = format!("/hosted/setup/{id}");
    let mut buyer = Buyer::at(&h, "203.0.113.13");
    let page = buyer.send(Method::GET, &path, None).await;
    let token = token_of(&page.body);
    let huge = "4".repeat(200 * 1024);
    let form = serde_urlencoded::to_string([
        ("csrf_token", token.as_str()),
        ("number", huge.as_str()),
        ("expiry", "12/34"),
        ("cvc", "123"),
    ])
    .unwrap();
    let reply = buyer.send(Method::POST, &path, Some(form)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!reply.body.contains("4444"));
    let setup = h.state.engine().retrieve_setup(&ctx(), &id).await.unwrap();
    assert_eq!(setup.version, 1);
    assert_eq!(h.state.hosted_guard().tracked(), 0);
}
