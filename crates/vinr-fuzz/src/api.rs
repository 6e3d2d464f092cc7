//! The `api_body` target: any bytes as the JSON body (or the query) of any `/v1` route.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;

use crate::app::{Answer, App, block_on};

/// Send an `Idempotency-Key`.
const IDEMPOTENCY_KEY: u8 = 1;
/// Authenticate with the live key instead of the test key.
const LIVE_KEY: u8 = 1 << 1;
/// Send no `Authorization` at all.
const NO_KEY: u8 = 1 << 2;
/// Name the other objects of each kind: the setup and payment waiting for a challenge, the
/// 3-D Secure method.
const OTHER_OBJECTS: u8 = 1 << 3;
/// Name well-formed ids that do not exist.
const UNKNOWN_IDS: u8 = 1 << 4;
/// Send no `content-type`.
const NO_CONTENT_TYPE: u8 = 1 << 5;
/// Send the request twice under one idempotency key, and check the second is a replay.
const TWICE: u8 = 1 << 6;
/// Swap where the bytes go: bodies of `GET`/`DELETE`, queries of `POST`/`PATCH`.
const SWAP: u8 = 1 << 7;

/// The `/v1` routes, as `(method, path template)` in the order of the OpenAPI document's
/// paths (sorted), read from the served document once.
static ROUTES: OnceLock<Vec<(Method, String)>> = OnceLock::new();

/// How many routes [`api_request`] chooses from (every operation of `/v1/openapi.json`).
pub fn route_count() -> usize {
    block_on(async { routes(&App::new().await).await.len() })
}

/// The fuzz entry: the first byte picks the route (modulo [`route_count`]), the second the
/// variations (keys, ids, headers, replay), the rest is the body or the query.
/// See [`api_request`].
pub fn api_body(data: &[u8]) {
    match data {
        [route, flags, rest @ ..] => api_request(usize::from(*route), *flags, rest),
        [route] => api_request(usize::from(*route), 0, &[]),
        [] => api_request(0, 0, &[]),
    }
}

/// Sends `data` to route `route_index` (modulo the number of routes) of a fresh server whose
/// path ids name existing objects, as the body of `POST`/`PATCH` and the query of
/// `GET`/`DELETE` (the `flags` bits choose keys, ids, headers and a replay).
///
/// Invariants: never a 5xx; every answer is JSON; an error is `{"error":{type, code,
/// message}}` with the type api.md gives its status; a success is an object; the `number`
/// sent is never in the answer; a `POST` repeated under one idempotency key whose first answer
/// was stored (2xx, 402) is replayed byte for byte with `Idempotent-Replayed: true`.
pub fn api_request(route_index: usize, flags: u8, data: &[u8]) {
    block_on(async {
        let app = App::new().await;
        let routes = routes(&app).await;
        let Some((method, template)) = routes.get(route_index % routes.len().max(1)) else {
            panic!("the OpenAPI document lists no route");
        };
        let path = fill_path(template, &app, flags);
        let carries_body = matches!(*method, Method::POST | Method::PATCH) != (flags & SWAP != 0);
        let uri = if carries_body || data.is_empty() {
            path
        } else {
            format!("{path}?{}", query_text(data))
        };
        let body = carries_body.then_some(data);
        let twice = flags & TWICE != 0 && *method == Method::POST;
        let idempotency_key = flags & IDEMPOTENCY_KEY != 0 || twice;
        let build = || {
            let mut request = Request::builder().method(method.clone()).uri(&uri);
            if flags & NO_KEY == 0 {
                let key = if flags & LIVE_KEY != 0 {
                    &app.live_key
                } else {
                    &app.test_key
                };
                request = request.header("authorization", format!("Bearer {key}"));
            }
            if body.is_some() && flags & NO_CONTENT_TYPE == 0 {
                request = request.header("content-type", "application/json");
            }
            if idempotency_key {
                request = request.header("idempotency-key", "fuzz-idempotency-key");
            }
            let body = body.map_or_else(Body::empty, |b| Body::from(b.to_vec()));
            match request.body(body) {
                Ok(request) => request,
                Err(e) => panic!("the harness built a bad request {method} {uri}: {e}"),
            }
        };
        let first = app.request(build()).await;
        let what = format!("{method} {uri} (flags {flags:#010b})");
        crate::app::trace(&what, &first);
        check_answer(&what, &first, data);
        if twice {
            let second = app.request(build()).await;
            check_answer(&what, &second, data);
            if first.status.is_success() || first.status == StatusCode::PAYMENT_REQUIRED {
                assert_eq!(
                    second.status, first.status,
                    "{what}: replay changed the status"
                );
                assert_eq!(second.body, first.body, "{what}: replay changed the body");
                assert!(
                    second
                        .headers
                        .get("idempotent-replayed")
                        .is_some_and(|v| v == "true"),
                    "{what}: replay without Idempotent-Replayed"
                );
            }
        }
    });
}

/// The routes of the served OpenAPI document (fetched once per process).
async fn routes(app: &App) -> &'static [(Method, String)] {
    if let Some(routes) = ROUTES.get() {
        return routes;
    }
    let answer = app.send("GET", "/v1/openapi.json", None, &[]).await;
    let document = answer.json();
    let Some(paths) = document["paths"].as_object() else {
        panic!("/v1/openapi.json has no paths: {}", answer.status);
    };
    let mut found = Vec::new();
    for (path, item) in paths {
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
            ("put", Method::PUT),
        ] {
            if item.get(name).is_some() {
                found.push((method, path.clone()));
            }
        }
    }
    found.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    ROUTES.get_or_init(|| found)
}

/// The path with each `{…}` replaced by the id of an object of the kind its segment names.
fn fill_path(template: &str, app: &App, flags: u8) -> String {
    let ids = &app.ids;
    let other = flags & OTHER_OBJECTS != 0;
    let mut previous = "";
    let mut out = Vec::new();
    for segment in template.split('/') {
        let filled = if segment.starts_with('{') {
            let (prefix, id) = match previous {
                "customers" => ("cust", &ids.customer),
                "methods" | "payment_methods" if other => ("pm", &ids.method_3ds),
                "methods" | "payment_methods" => ("pm", &ids.method),
                "setups" if other => ("seti", &ids.setup_action),
                "setups" => ("seti", &ids.setup),
                "payments" if other => ("pay", &ids.payment_action),
                "payments" => ("pay", &ids.payment),
                "webhook_endpoints" => ("we", &ids.webhook_endpoint),
                "events" => ("evt", &ids.event),
                _ => ("x", &ids.customer),
            };
            if flags & UNKNOWN_IDS != 0 {
                format!("{prefix}_{}", "Z".repeat(24))
            } else {
                id.clone()
            }
        } else {
            segment.to_owned()
        };
        previous = segment;
        out.push(filled);
    }
    out.join("/")
}

/// `data` as a query string: bytes a URI may hold as they are (so `&`, `=` and `%` keep
/// their meaning), anything else percent-encoded.
fn query_text(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The error type api.md §1 gives each status.
fn error_type_of(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 | 404 | 405 | 410 | 413 => "invalid_request_error",
        401 => "authentication_error",
        402 => "card_error",
        409 | 422 => "idempotency_error",
        429 => "rate_limit_error",
        _ => return None,
    })
}

/// The invariants of one answer to `sent`.
fn check_answer(what: &str, answer: &Answer, sent: &[u8]) {
    let text = String::from_utf8_lossy(&answer.body);
    assert!(
        !answer.status.is_server_error(),
        "{what}: {} {text}",
        answer.status
    );
    assert!(
        answer
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json")),
        "{what}: {} without a JSON content-type",
        answer.status
    );
    let json = answer.json();
    assert!(json.is_object(), "{what}: {} {text}", answer.status);
    if answer.status.is_success() {
        assert!(json.get("error").is_none(), "{what}: success with an error");
    } else {
        let error = &json["error"];
        let non_empty = |field: &str| error[field].as_str().is_some_and(|s| !s.is_empty());
        assert!(
            non_empty("code") && non_empty("message"),
            "{what}: {} error without code or message: {text}",
            answer.status
        );
        assert_eq!(
            error["type"].as_str(),
            error_type_of(answer.status),
            "{what}: {} with this error: {text}",
            answer.status
        );
    }
    // The card number sent is never answered.
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(sent)
        && let Some(Value::String(number)) = body.get("number")
    {
        for digits in crate::card_numbers_in(number) {
            assert!(
                !text.contains(&digits) && !text.contains(number.as_str()),
                "{what}: the card number came back: {text}"
            );
        }
    }
}
