#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The axum extractor, through `Router::oneshot`: verified deliveries reach the handler;
//! anything else is a 400 with a JSON error, and the handler never runs.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tower::ServiceExt;
use vinr_webhooks::axum::{VerifiedEvent, WebhookVerifier};
use vinr_webhooks::harness::signed_request;
use vinr_webhooks::{Event, SIGNATURE_HEADER, Verifier};

const NOW: i64 = 1_700_000_000;

fn event() -> Event {
    Event::from_value(json!({
        "id": "evt_1", "object": "event", "type": "payment.requires_action", "created": NOW,
        "livemode": false,
        "data": {"object": {"object": "payment", "id": "pay_1", "version": 2}}
    }))
    .unwrap()
}

async fn handler(VerifiedEvent(event): VerifiedEvent) -> String {
    format!("{} {}", event.kind(), event.object_id().unwrap_or("-"))
}

fn app() -> Router {
    Router::new()
        .route("/hooks", post(handler))
        .with_state(WebhookVerifier::new(Verifier::new(["whsec_k"])).with_clock(|| NOW))
}

async fn send(app: Router, body: Vec<u8>, header: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::post("/hooks").header("content-type", "application/json");
    if let Some(h) = header {
        request = request.header(SIGNATURE_HEADER, h);
    }
    let response = app
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
}

async fn refused(header: Option<&str>, body: Vec<u8>) -> Value {
    let (status, bytes) = send(app(), body, header).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert!(
        !json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whsec_k")
    );
    json
}

#[tokio::test]
async fn a_signed_delivery_reaches_the_handler() {
    let (body, header) = signed_request(&event(), &["whsec_new", "whsec_k"], NOW - 10);
    let (status, bytes) = send(app(), body, Some(&header)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"payment.requires_action pay_1");
}

#[tokio::test]
async fn anything_else_is_a_400() {
    let (body, header) = signed_request(&event(), &["whsec_k"], NOW);
    let code = |json: Value| json["error"]["code"].as_str().unwrap().to_owned();

    assert_eq!(code(refused(None, body.clone()).await), "signature_missing");
    assert_eq!(
        code(refused(Some("t=x"), body.clone()).await),
        "signature_malformed"
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        code(refused(Some(&header), tampered).await),
        "signature_mismatch"
    );
    let (_, stale) = signed_request(&event(), &["whsec_k"], NOW - 301);
    assert_eq!(
        code(refused(Some(&stale), body.clone()).await),
        "signature_expired"
    );
    let not_an_event = b"{\"hello\":1}".to_vec();
    let header = vinr_webhooks::signature_header(&["whsec_k"], NOW, &not_an_event);
    assert_eq!(
        code(refused(Some(&header), not_an_event).await),
        "body_invalid"
    );
}

#[tokio::test]
async fn the_verifier_can_live_inside_a_larger_state() {
    #[derive(Clone)]
    struct AppState {
        webhooks: WebhookVerifier,
        shop_name: &'static str,
    }
    impl FromRef<AppState> for WebhookVerifier {
        fn from_ref(state: &AppState) -> Self {
            state.webhooks.clone()
        }
    }
    async fn shop_handler(
        axum::extract::State(state): axum::extract::State<AppState>,
        VerifiedEvent(event): VerifiedEvent,
    ) -> String {
        format!("{}: {}", state.shop_name, event.id())
    }
    let app = Router::new()
        .route("/hooks", post(shop_handler))
        .with_state(AppState {
            webhooks: WebhookVerifier::new(Verifier::new(["whsec_k"])).with_clock(|| NOW),
            shop_name: "shop",
        });
    let (body, header) = signed_request(&event(), &["whsec_k"], NOW);
    let (status, bytes) = send(app, body, Some(&header)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"shop: evt_1");
}

#[test]
fn the_system_clock_is_the_default() {
    let v = WebhookVerifier::new(Verifier::new(["whsec_k"]));
    assert!(v.now() > NOW);
    assert!(!format!("{v:?}").contains("whsec_k"));
}
