//! The hosted card pages through the whole router (`Router::oneshot`) over a real engine with
//! the sandbox adapters: forms, CSRF, redirects, alerts, 410s and the security headers.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::Duration;
use tower::ServiceExt;
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_domain::payment::{Payment, PaymentStatus};
use vinr_domain::setup::{Setup, SetupStatus};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::{AppState, ServerConfig, router};
use vinr_ports::RequestContext;
use vinr_ports::api::{CustomersApi, MethodsApi, PaymentsApi, SandboxApi, SetupsApi};
use vinr_ports::params::{AttachTestCard, CreateCustomer, CreatePayment, CreateSetup, ListParams};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

const PUBLIC: &str = "http://127.0.0.1:4242";
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a form page whose submission may end at `origin` (Chromium checks
/// `form-action` on the redirects after a form submission).
fn csp_with(origin: &str) -> String {
    CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    )
}

/// Every spelling of every card number the tests type.
const PANS: &[&str] = &[
    "4242424242424242",
    "4242 4242 4242 4242",
    "4000000000000002",
    "4000 0000 0000 0002",
    "4000000000003220",
    "4000 0000 0000 3220",
];

struct Harness {
    app: Router,
    state: AppState,
    clock: ManualClock,
    network: SandboxNetwork,
}

fn harness(public_url: &str) -> Harness {
    let store = MemoryStore::new();
    let clock = ManualClock::default();
    let network = SandboxNetwork::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(network.clone()),
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new(11)),
        },
        EngineConfig {
            public_url: public_url.to_owned(),
            ..EngineConfig::default()
        },
    );
    let state = AppState::new(
        engine,
        Arc::new(store),
        ServerConfig {
            public_url: public_url.to_owned(),
            csrf_key: [42u8; 32],
            rate_limit: None,
        },
    );
    Harness {
        app: router(state.clone()),
        state,
        clock,
        network,
    }
}

fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

impl Harness {
    async fn customer(&self) -> vinr_domain::ids::CustomerId {
        self.state
            .engine()
            .create_customer(
                &ctx(),
                CreateCustomer {
                    email: Some("ada@example.com".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn setup(&self, return_url: &str) -> Setup {
        let customer = self.customer().await;
        self.state
            .engine()
            .create_setup(
                &ctx(),
                &customer,
                CreateSetup {
                    return_url: return_url.to_owned(),
                },
            )
            .await
            .unwrap()
    }

    async fn setup_now(&self, id: &SetupId) -> Setup {
        self.state
            .engine()
            .retrieve_setup(&ctx(), id)
            .await
            .unwrap()
    }

    async fn payment(&self, return_url: Option<&str>) -> Payment {
        self.state
            .engine()
            .create_payment(
                &ctx(),
                CreatePayment {
                    amount: 2500,
                    currency: "eur".into(),
                    description: Some("Order #4471 <b>&</b>".into()),
                    return_url: return_url.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    }

    async fn payment_now(&self, id: &PaymentId) -> Payment {
        self.state
            .engine()
            .retrieve_payment(&ctx(), id)
            .await
            .unwrap()
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    fn buyer(&self) -> Buyer<'_> {
        Buyer {
            h: self,
            cookie: None,
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn location(&self) -> &str {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{self:?}");
        self.header("location")
    }

    /// The value of the hidden CSRF input.
    fn token(&self) -> String {
        attr_after(&self.body, "name=\"csrf_token\"", "value").expect("a csrf_token input")
    }

    fn assert_security_headers(&self) {
        let csp = self.header("content-security-policy");
        let widened = csp
            .split("; ")
            .find_map(|d| d.strip_prefix("form-action 'self' "))
            .is_some_and(|origin| csp == csp_with(origin) && !origin.contains(' '));
        assert!(csp == CSP || widened, "{self:?}");
        assert_eq!(self.header("x-frame-options"), "DENY");
        assert_eq!(self.header("cache-control"), "no-store");
        assert_eq!(self.header("referrer-policy"), "no-referrer");
        assert_eq!(self.header("x-content-type-options"), "nosniff");
    }

    fn assert_no_pan(&self) {
        for pan in PANS {
            assert!(
                !self.body.contains(pan),
                "the body holds {pan}: {}",
                self.body
            );
            for (_, v) in &self.headers {
                assert!(!v.to_str().unwrap_or("").contains(pan));
            }
        }
    }

    /// The text of the `role="alert"` element, if any.
    fn alert(&self) -> Option<String> {
        element_text(&self.body, "role=\"alert\"")
    }
}

/// The value of attribute `attr` of the tag holding `marker`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    let len = tag[v..].find('"')?;
    Some(tag[v..v + len].to_owned())
}

/// The text inside the element whose start tag holds `marker` (no nested tags expected).
fn element_text(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(html[open_end..close].to_owned())
}

fn path_of(url: &str) -> String {
    url.strip_prefix(PUBLIC)
        .or_else(|| url.strip_prefix("https://pay.example.com"))
        .unwrap_or(url)
        .to_owned()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// A browser: keeps the CSRF cookie, posts what the last page's form holds.
struct Buyer<'a> {
    h: &'a Harness,
    cookie: Option<String>,
}

impl Buyer<'_> {
    async fn get(&mut self, url: &str) -> Reply {
        let mut req = Request::builder().uri(path_of(url));
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        let reply = self.h.send(req.body(Body::empty()).unwrap()).await;
        if let Some(set) = reply.headers.get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        reply
    }

    async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path_of(url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, PUBLIC);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        self.h
            .send(req.body(Body::from(form_body(fields))).unwrap())
            .await
    }

    /// Opens `url` and submits its card form with `number`.
    async fn type_card(&mut self, url: &str, number: &str) -> Reply {
        let page = self.get(url).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let token = page.token();
        self.post(
            url,
            &[
                ("csrf_token", &token),
                ("number", number),
                ("expiry", "12/34"),
                ("cvc", "123"),
                ("name", "Ada Lovelace"),
            ],
        )
        .await
    }

    /// Opens the challenge page at `url` and clicks `outcome`.
    async fn answer_challenge(&mut self, url: &str, outcome: &str) -> Reply {
        let page = self.get(url).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        assert!(page.body.contains("data-stage=\"authenticate\""));
        let token = page.token();
        self.post(url, &[("csrf_token", &token), ("outcome", outcome)])
            .await
    }
}

#[tokio::test]
async fn the_setup_page_is_a_labelled_form_with_a_csrf_token_a_cookie_and_every_header() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    assert_eq!(
        setup.checkout_url,
        format!("{PUBLIC}/hosted/setup/{}", setup.id)
    );
    let mut buyer = h.buyer();
    let page = buyer.get(&setup.checkout_url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    page.assert_security_headers();
    assert_eq!(
        page.header("content-security-policy"),
        csp_with("https://merchant.example")
    );
    let b = &page.body;
    assert!(b.starts_with("<!doctype html>"));
    assert!(b.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert!(b.contains("<main data-stage=\"collect_card\" data-livemode=\"false\">"));
    assert!(b.contains("Sandbox — use a test card"));
    assert_eq!(b.matches("<form").count(), 1);
    assert!(b.contains(&format!(
        "<form method=\"post\" action=\"../setup/{}\">",
        setup.id
    )));
    for (name, autocomplete) in [
        ("number", "cc-number"),
        ("expiry", "cc-exp"),
        ("cvc", "cc-csc"),
        ("name", "cc-name"),
    ] {
        assert!(
            b.contains(&format!("<label for=\"{name}\">")),
            "label for {name}"
        );
        let marker = format!("name=\"{name}\"");
        assert_eq!(attr_after(b, &marker, "id").as_deref(), Some(name));
        assert_eq!(
            attr_after(b, &marker, "autocomplete").as_deref(),
            Some(autocomplete)
        );
    }
    for numeric in ["number", "expiry", "cvc"] {
        let marker = format!("name=\"{numeric}\"");
        assert_eq!(
            attr_after(b, &marker, "inputmode").as_deref(),
            Some("numeric")
        );
    }
    assert_eq!(
        attr_after(b, "name=\"expiry\"", "placeholder").as_deref(),
        Some("MM/YY")
    );
    assert_eq!(b.matches("<button").count(), 1);
    assert!(b.contains("<button type=\"submit\">Save card</button>"));
    assert_eq!(page.token().len(), 64);
    assert!(page.alert().is_none());
    let cookie = page.header("set-cookie");
    assert!(cookie.starts_with("vinr_csrf="), "{cookie}");
    assert!(cookie.contains("; Path=/hosted"));
    assert!(cookie.contains("; HttpOnly"));
    assert!(cookie.contains("; SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "http public url: no Secure");

    // A later visit reuses the cookie: no new one, the same token for the same page.
    let again = buyer.get(&setup.checkout_url).await;
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(again.token(), page.token());

    // The stylesheet the page links to.
    let css = h.buyer().get("/hosted/assets/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert!(css.body.contains("main{"));
    css.assert_security_headers();
}

#[tokio::test]
async fn the_cookie_is_secure_only_when_the_public_url_is_https() {
    let h = harness("https://pay.example.com");
    let setup = h.setup("https://merchant.example/saved").await;
    let page = h.buyer().get(&setup.checkout_url).await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = page.header("set-cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn a_succeeding_card_redirects_to_the_return_url_keeping_its_query() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/wallet?from=app").await;
    let mut buyer = h.buyer();
    let reply = buyer
        .type_card(&setup.checkout_url, "4242 4242 4242 4242")
        .await;
    reply.assert_security_headers();
    assert_eq!(
        reply.header("content-security-policy"),
        CSP,
        "a redirect has no form"
    );
    reply.assert_no_pan();
    assert_eq!(
        reply.location(),
        format!(
            "https://merchant.example/wallet?from=app&setup={}&status=succeeded",
            setup.id
        )
    );
    let now = h.setup_now(&setup.id).await;
    assert_eq!(now.status, SetupStatus::Succeeded);
    let methods = h
        .state
        .engine()
        .list_methods(&ctx(), &setup.customer_id, ListParams::default())
        .await
        .unwrap();
    assert_eq!(methods.data.len(), 1);
    assert_eq!(methods.data[0].last4, "4242");
    assert_eq!(Some(methods.data[0].id.clone()), now.payment_method_id);
}

#[tokio::test]
async fn a_declined_card_shows_the_form_again_with_an_alert_and_never_the_number() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let mut buyer = h.buyer();
    let reply = buyer
        .type_card(&setup.checkout_url, "4000 0000 0000 0002")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.assert_security_headers();
    reply.assert_no_pan();
    assert!(!reply.body.contains("0002"), "not even the last four");
    let alert = reply.alert().expect("an alert");
    assert!(alert.to_lowercase().contains("declined"), "{alert}");
    let b = &reply.body;
    assert_eq!(
        attr_after(b, "name=\"number\"", "value").as_deref(),
        Some("")
    );
    assert_eq!(attr_after(b, "name=\"cvc\"", "value").as_deref(), Some(""));
    assert_eq!(
        attr_after(b, "name=\"expiry\"", "value").as_deref(),
        Some("12/34")
    );
    assert_eq!(
        attr_after(b, "name=\"name\"", "value").as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        attr_after(b, "name=\"number\"", "aria-describedby").as_deref(),
        Some("form-error")
    );
    // The form still works: its token is good for another try.
    let now = h.setup_now(&setup.id).await;
    assert_eq!(now.status, SetupStatus::RequiresPaymentMethod);
    let last = now.last_error.expect("lastError");
    assert_eq!(last.code.as_str(), "card_declined");
    let token = reply.token();
    let ok = buyer
        .post(
            &setup.checkout_url,
            &[
                ("csrf_token", &token),
                ("number", "4242424242424242"),
                ("expiry", "12/34"),
                ("cvc", "123"),
            ],
        )
        .await;
    assert!(ok.location().contains("status=succeeded"));

    // A card that is not even a card (Luhn) is an alert too, the number not echoed.
    let other = h.setup("https://merchant.example/saved").await;
    let bad = buyer
        .type_card(&other.checkout_url, "4242 4242 4242 4241")
        .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.alert().is_some());
    assert!(!bad.body.contains("4241"));
    // A bad expiry: the alert says so.
    let page = buyer.get(&other.checkout_url).await;
    let bad = buyer
        .post(
            &other.checkout_url,
            &[
                ("csrf_token", &page.token()),
                ("number", "4242424242424242"),
                ("expiry", "13/99"),
                ("cvc", "123"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.alert().unwrap().contains("MM/YY"), "{:?}", bad.alert());
    assert!(!bad.body.contains("4242424242424242"));
}

#[tokio::test]
async fn a_3ds_card_goes_through_the_challenge_and_complete_redirects_to_the_return_url() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let mut buyer = h.buyer();
    let reply = buyer
        .type_card(&setup.checkout_url, "4000000000003220")
        .await;
    reply.assert_security_headers();
    let challenge = reply.location().to_owned();
    assert_eq!(
        challenge,
        format!("{PUBLIC}/hosted/authenticate/{}", setup.id)
    );

    let page = buyer.get(&challenge).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_security_headers();
    page.assert_no_pan();
    let b = &page.body;
    assert!(b.contains("<main data-stage=\"authenticate\""));
    assert_eq!(b.matches("<form").count(), 1);
    assert!(b.contains(&format!("action=\"../authenticate/{}\"", setup.id)));
    assert!(b.contains("<button type=\"submit\" name=\"outcome\" value=\"complete\">"));
    assert!(b.contains("<button type=\"submit\" name=\"outcome\" value=\"fail\""));
    assert_eq!(b.matches("<button").count(), 2);
    assert!(!b.contains("name=\"number\""));

    // While the challenge waits, the card URL shows the challenge, and a card posted there
    // (the back button) is sent on to the challenge.
    let on_card_url = buyer.get(&setup.checkout_url).await;
    assert!(on_card_url.body.contains("data-stage=\"authenticate\""));
    let resubmitted = buyer
        .type_card_raw(&setup.checkout_url, &page.token())
        .await;
    assert_eq!(resubmitted.location(), challenge);

    let done = buyer.answer_challenge(&challenge, "complete").await;
    done.assert_security_headers();
    assert_eq!(
        done.location(),
        format!(
            "https://merchant.example/saved?setup={}&status=succeeded",
            setup.id
        )
    );
    assert_eq!(h.setup_now(&setup.id).await.status, SetupStatus::Succeeded);
}

impl Buyer<'_> {
    /// Posts a card form with a token taken earlier.
    async fn type_card_raw(&self, url: &str, token: &str) -> Reply {
        self.post(
            url,
            &[
                ("csrf_token", token),
                ("number", "4242424242424242"),
                ("expiry", "12/34"),
                ("cvc", "123"),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn a_failed_challenge_returns_to_the_checkout_page_with_authentication_failed() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let mut buyer = h.buyer();
    let challenge = buyer
        .type_card(&setup.checkout_url, "4000000000003220")
        .await
        .location()
        .to_owned();
    let failed = buyer.answer_challenge(&challenge, "fail").await;
    assert_eq!(failed.location(), setup.checkout_url);
    let now = h.setup_now(&setup.id).await;
    assert_eq!(now.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(
        now.last_error.unwrap().code.as_str(),
        "authentication_failed"
    );
    assert!(now.payment_method_id.is_none());

    // The checkout page shows why, and takes another card.
    let page = buyer.get(&setup.checkout_url).await;
    assert!(page.body.contains("data-stage=\"collect_card\""));
    assert!(page.alert().is_some());
    // A second click on the challenge page (already answered) goes back to the card form.
    let twice = buyer
        .post(
            &challenge,
            &[("csrf_token", &page.token()), ("outcome", "fail")],
        )
        .await;
    assert_eq!(twice.location(), setup.checkout_url);
    let ok = buyer
        .type_card(&setup.checkout_url, "4242424242424242")
        .await;
    assert!(ok.location().ends_with("status=succeeded"));
}

#[tokio::test]
async fn a_post_without_a_valid_token_is_403_and_changes_nothing() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let other = h.setup("https://merchant.example/saved").await;
    let before = h.setup_now(&setup.id).await;
    let card = [
        ("number", "4242424242424242"),
        ("expiry", "12/34"),
        ("cvc", "123"),
    ];

    let mut buyer = h.buyer();
    let page = buyer.get(&setup.checkout_url).await;
    let token = page.token();
    let other_token = buyer.get(&other.checkout_url).await.token();
    let stranger_token = {
        let mut s = h.buyer();
        s.get(&setup.checkout_url).await.token()
    };
    assert_ne!(token, other_token, "a token is bound to its page");
    assert_ne!(token, stranger_token, "a token is bound to its cookie");

    let no_cookie = h.buyer();
    let mut attempts: Vec<Reply> = Vec::new();
    // No token at all.
    attempts.push(buyer.post(&setup.checkout_url, &card).await);
    // A token but no cookie.
    let mut with_token = card.to_vec();
    with_token.push(("csrf_token", &token));
    attempts.push(no_cookie.post(&setup.checkout_url, &with_token).await);
    // The cookie with another page's token, another browser's token, or a forged one.
    for bad in [
        other_token.as_str(),
        stranger_token.as_str(),
        &"0".repeat(64),
        "zz",
    ] {
        let mut fields = card.to_vec();
        fields.push(("csrf_token", bad));
        attempts.push(buyer.post(&setup.checkout_url, &fields).await);
    }
    // The challenge form, too.
    attempts.push(
        buyer
            .post(
                &format!("/hosted/authenticate/{}", setup.id),
                &[("outcome", "complete")],
            )
            .await,
    );
    for reply in &attempts {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        reply.assert_security_headers();
        reply.assert_no_pan();
        assert!(reply.alert().is_some());
    }
    let after = h.setup_now(&setup.id).await;
    assert_eq!(after, before, "the setup is unchanged");
    assert_eq!(
        h.network.authorizations(),
        0,
        "the engine never reached the network"
    );

    // The right pair goes through.
    let ok = buyer.post(&setup.checkout_url, &with_token).await;
    assert!(ok.location().contains("status=succeeded"));
}

#[tokio::test]
async fn a_used_canceled_or_expired_setup_answers_410_to_get_and_post() {
    let h = harness(PUBLIC);
    let mut buyer = h.buyer();

    let used = h.setup("https://merchant.example/saved").await;
    let page = buyer.get(&used.checkout_url).await;
    let token = page.token();
    assert!(
        buyer
            .type_card(&used.checkout_url, "4242424242424242")
            .await
            .location()
            .contains("succeeded")
    );

    let canceled = h.setup("https://merchant.example/saved").await;
    let canceled_token = buyer.get(&canceled.checkout_url).await.token();
    h.state
        .engine()
        .cancel_setup(&ctx(), &canceled.id)
        .await
        .unwrap();

    let expired = h.setup("https://merchant.example/saved").await;
    let expired_token = buyer.get(&expired.checkout_url).await.token();
    h.clock.advance(Duration::hours(25));
    assert_eq!(h.setup_now(&expired.id).await.status, SetupStatus::Expired);

    for (setup, token) in [
        (&used, &token),
        (&canceled, &canceled_token),
        (&expired, &expired_token),
    ] {
        let get = buyer.get(&setup.checkout_url).await;
        assert_eq!(get.status, StatusCode::GONE, "{get:?}");
        assert!(get.header("content-type").starts_with("text/plain"));
        assert!(!get.body.is_empty() && get.body.len() < 200);
        get.assert_security_headers();
        let post = buyer.type_card_raw(&setup.checkout_url, token).await;
        assert_eq!(post.status, StatusCode::GONE, "{post:?}");
        post.assert_security_headers();
        let auth = buyer
            .get(&format!("/hosted/authenticate/{}", setup.id))
            .await;
        assert_eq!(auth.status, StatusCode::GONE);
    }
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let payment = h.payment(None).await;
    let mut buyer = h.buyer();
    // (path, whether its id is well formed for the route)
    for (path, well_formed) in [
        (
            "/hosted/setup/seti_000000000000000000000000".to_owned(),
            true,
        ),
        ("/hosted/setup/nonsense".to_owned(), false),
        (format!("/hosted/setup/{}", payment.id), false),
        (format!("/hosted/pay/{}", setup.id), false),
        ("/hosted/pay/pay_000000000000000000000000".to_owned(), true),
        (
            "/hosted/authenticate/cust_000000000000000000000000".to_owned(),
            false,
        ),
        (
            "/hosted/authenticate/seti_000000000000000000000000".to_owned(),
            true,
        ),
    ] {
        let reply = buyer.get(&path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {reply:?}");
        reply.assert_security_headers();
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
        // A post is checked for its CSRF token before anything is looked up, so a well-formed
        // unknown id answers 403 like any tokenless post (and reveals nothing).
        let post = buyer.post(&path, &[("outcome", "complete")]).await;
        let want = if well_formed {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(post.status, want, "{path}");
        post.assert_security_headers();
    }
    // A method the route does not take still carries the headers.
    let put = h
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri(format!("/hosted/setup/{}", setup.id))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    put.assert_security_headers();
}

#[tokio::test]
async fn forms_over_8_kib_or_of_another_type_are_refused_before_anything_happens() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let mut buyer = h.buyer();
    let token = buyer.get(&setup.checkout_url).await.token();
    let big = "x".repeat(9 * 1024);
    let reply = buyer
        .post(
            &setup.checkout_url,
            &[
                ("csrf_token", &token),
                ("number", "4242424242424242"),
                ("name", &big),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    reply.assert_security_headers();

    let json = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(path_of(&setup.checkout_url))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, buyer.cookie.clone().unwrap())
                .body(Body::from(format!("{{\"csrf_token\":\"{token}\"}}")))
                .unwrap(),
        )
        .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    json.assert_security_headers();
    assert_eq!(h.setup_now(&setup.id).await.version, setup.version);
    assert_eq!(h.network.authorizations(), 0);
}

#[tokio::test]
async fn the_payment_page_shows_the_amount_takes_a_decline_then_a_good_card_and_redirects() {
    let h = harness(PUBLIC);
    let payment = h.payment(Some("https://shop.example/thanks?order=7")).await;
    assert_eq!(payment.status, PaymentStatus::RequiresPaymentMethod);
    let checkout = payment.checkout_url.clone().unwrap();
    assert_eq!(checkout, format!("{PUBLIC}/hosted/pay/{}", payment.id));

    let mut buyer = h.buyer();
    let page = buyer.get(&checkout).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_security_headers();
    let b = &page.body;
    assert!(b.contains("data-stage=\"collect_card\""));
    assert_eq!(
        attr_after(b, "data-stage", "data-amount").as_deref(),
        Some("25.00 EUR")
    );
    assert!(b.contains("<p class=\"amount\">25.00 EUR</p>"));
    assert!(
        b.contains("Order #4471 &lt;b&gt;&amp;&lt;/b&gt;"),
        "description escaped"
    );
    assert!(!b.contains("<b>&</b>"));
    assert!(b.contains("<button type=\"submit\">Pay 25.00 EUR</button>"));
    assert!(b.contains("Sandbox — use a test card"));

    assert_eq!(
        page.header("content-security-policy"),
        csp_with("https://shop.example")
    );
    let declined = buyer.type_card(&checkout, "4000000000000002").await;
    assert_eq!(declined.status, StatusCode::OK);
    assert_eq!(
        declined.header("content-security-policy"),
        csp_with("https://shop.example")
    );
    declined.assert_no_pan();
    assert!(declined.alert().is_some());
    assert!(
        declined.body.contains("25.00 EUR"),
        "the amount stays on the page"
    );
    let now = h.payment_now(&payment.id).await;
    assert_eq!(now.status, PaymentStatus::RequiresPaymentMethod);
    assert_eq!(now.last_error.unwrap().code.as_str(), "card_declined");

    let paid = buyer.type_card(&checkout, "4242 4242 4242 4242").await;
    paid.assert_security_headers();
    assert_eq!(
        paid.location(),
        format!(
            "https://shop.example/thanks?order=7&payment={}&status=succeeded",
            payment.id
        )
    );
    assert_eq!(
        h.payment_now(&payment.id).await.status,
        PaymentStatus::Succeeded
    );
    assert_eq!(h.network.approved_charges(), 1);

    // No longer awaiting a card: 410 to GET and POST, and nothing charged again.
    let get = buyer.get(&checkout).await;
    assert_eq!(get.status, StatusCode::GONE);
    get.assert_security_headers();
    let post = buyer.type_card_raw(&checkout, &page.token()).await;
    assert_eq!(post.status, StatusCode::GONE);
    assert_eq!(h.network.approved_charges(), 1);
}

#[tokio::test]
async fn a_payment_without_return_url_ends_on_a_done_page() {
    let h = harness(PUBLIC);
    let payment = h.payment(None).await;
    let checkout = payment.checkout_url.clone().unwrap();
    let mut buyer = h.buyer();
    let page = buyer.get(&checkout).await;
    assert_eq!(
        page.header("content-security-policy"),
        CSP,
        "no returnUrl: 'self' only"
    );
    let done = buyer.type_card(&checkout, "4242424242424242").await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    done.assert_security_headers();
    done.assert_no_pan();
    assert!(done.body.contains("data-stage=\"done\""));
    assert!(!done.body.contains("<form"));
    let status = element_text(&done.body, "role=\"status\"").expect("a status");
    assert!(!status.trim().is_empty());
    assert_eq!(
        h.payment_now(&payment.id).await.status,
        PaymentStatus::Succeeded
    );
}

#[tokio::test]
async fn a_payment_page_with_a_3ds_card_completes_through_the_challenge() {
    let h = harness(PUBLIC);
    let payment = h.payment(Some("https://shop.example/thanks")).await;
    let checkout = payment.checkout_url.clone().unwrap();
    let mut buyer = h.buyer();
    let challenge = buyer
        .type_card(&checkout, "4000 0000 0000 3220")
        .await
        .location()
        .to_owned();
    assert_eq!(
        challenge,
        format!("{PUBLIC}/hosted/authenticate/{}", payment.id)
    );
    let page = buyer.get(&challenge).await;
    assert_eq!(
        attr_after(&page.body, "data-stage", "data-amount").as_deref(),
        Some("25.00 EUR")
    );
    let done = buyer.answer_challenge(&challenge, "complete").await;
    assert_eq!(
        done.location(),
        format!(
            "https://shop.example/thanks?payment={}&status=succeeded",
            payment.id
        )
    );
    assert_eq!(
        h.payment_now(&payment.id).await.status,
        PaymentStatus::Succeeded
    );
}

#[tokio::test]
async fn an_off_session_payment_needing_3ds_fails_on_the_challenge_page_and_then_is_gone() {
    let h = harness(PUBLIC);
    let customer = h.customer().await;
    let method = h
        .state
        .engine()
        .attach_test_card(
            &ctx(),
            &customer,
            AttachTestCard {
                number: "4000000000003220".into(),
                exp_month: 12,
                exp_year: 2034,
                cvc: None,
            },
        )
        .await
        .unwrap();
    let payment = h
        .state
        .engine()
        .create_payment(
            &ctx(),
            CreatePayment {
                amount: 1000,
                currency: "EUR".into(),
                customer_id: Some(customer),
                payment_method_id: Some(method.id),
                off_session: true,
                return_url: Some("https://shop.example/back".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    let url = payment.next_action.clone().unwrap().url;
    assert_eq!(url, format!("{PUBLIC}/hosted/authenticate/{}", payment.id));

    let mut buyer = h.buyer();
    let failed = buyer.answer_challenge(&url, "fail").await;
    assert_eq!(
        failed.location(),
        format!(
            "https://shop.example/back?payment={}&status=failed",
            payment.id
        )
    );
    let now = h.payment_now(&payment.id).await;
    assert_eq!(now.status, PaymentStatus::Failed);
    assert_eq!(
        now.last_error.unwrap().code.as_str(),
        "authentication_failed"
    );
    let gone = buyer.get(&url).await;
    assert_eq!(gone.status, StatusCode::GONE);
    gone.assert_security_headers();
}

#[tokio::test]
async fn a_canceled_payment_page_is_410() {
    let h = harness(PUBLIC);
    let payment = h.payment(Some("https://shop.example/thanks")).await;
    let checkout = payment.checkout_url.clone().unwrap();
    let mut buyer = h.buyer();
    let token = buyer.get(&checkout).await.token();
    h.state
        .engine()
        .cancel_payment(&ctx(), &payment.id)
        .await
        .unwrap();
    assert_eq!(buyer.get(&checkout).await.status, StatusCode::GONE);
    let post = buyer.type_card_raw(&checkout, &token).await;
    assert_eq!(post.status, StatusCode::GONE);
    post.assert_security_headers();
    assert_eq!(h.network.authorizations(), 0);
}

#[tokio::test]
async fn an_invalid_challenge_answer_is_400_and_changes_nothing() {
    let h = harness(PUBLIC);
    let setup = h.setup("https://merchant.example/saved").await;
    let mut buyer = h.buyer();
    let challenge = buyer
        .type_card(&setup.checkout_url, "4000000000003220")
        .await
        .location()
        .to_owned();
    let page = buyer.get(&challenge).await;
    let before = h.setup_now(&setup.id).await;
    let reply = buyer
        .post(
            &challenge,
            &[("csrf_token", &page.token()), ("outcome", "maybe")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    reply.assert_security_headers();
    assert_eq!(h.setup_now(&setup.id).await, before);
}
