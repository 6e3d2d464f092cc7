//! The `hosted_form` target: any bytes posted as the form of a hosted page.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::app::{App, block_on};

/// A hosted page that takes a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostedPage {
    /// `/hosted/setup/{seti}`: the card form of a setup.
    Setup,
    /// `/hosted/pay/{pay}`: the card form of a payment.
    Pay,
    /// `/hosted/authenticate/{seti}`: the challenge of a setup.
    AuthenticateSetup,
    /// `/hosted/authenticate/{pay}`: the challenge of a payment.
    AuthenticatePay,
}

impl HostedPage {
    const ALL: [HostedPage; 4] = [
        HostedPage::Setup,
        HostedPage::Pay,
        HostedPage::AuthenticateSetup,
        HostedPage::AuthenticatePay,
    ];
}

/// Send a valid CSRF token and its cookie.
const VALID_CSRF: u8 = 1;
/// Send the form as `text/plain`.
const WRONG_CONTENT_TYPE: u8 = 1 << 1;
/// Post to a well-formed id that does not exist.
const UNKNOWN_ID: u8 = 1 << 2;
/// Post the card forms of the objects waiting for a challenge, and the challenges of the
/// objects waiting for a card.
const OTHER_STAGE: u8 = 1 << 3;

/// The cookie the harness's browser holds (well-formed: 64 hex digits).
const COOKIE: &str = "vinr_csrf=5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// The fuzz entry: the first byte picks the page, the second the variations (CSRF, content
/// type, ids), the rest is the form body. See [`hosted_post`].
pub fn hosted_form(data: &[u8]) {
    let (page, flags, form) = match data {
        [page, flags, rest @ ..] => (*page, *flags, rest),
        [page] => (*page, 0, &[][..]),
        [] => (0, 0, &[][..]),
    };
    let page = HostedPage::ALL[usize::from(page) % HostedPage::ALL.len()];
    hosted_post(page, flags, form);
}

/// Posts `form` to `page` of a fresh server, with a valid CSRF token (read from the page with
/// the harness's cookie, and put first in the form) when `flags` asks.
///
/// Invariants: never a 5xx; every answer carries the hosted pages' security headers; a `303`
/// has a `Location`; without a valid token the answer is a refusal (400, 403, 404, 415) and the
/// setup or payment is unchanged; a card number typed in `number` is never in the answer
/// (unless the buyer also typed it into a field the page keeps, such as `name`).
pub fn hosted_post(page: HostedPage, flags: u8, form: &[u8]) {
    block_on(async {
        let app = App::new().await;
        let ids = &app.ids;
        let other = flags & OTHER_STAGE != 0;
        let (segment, id, api_path) = match page {
            HostedPage::Setup if other => ("setup", &ids.setup_action, "setups"),
            HostedPage::Setup => ("setup", &ids.setup, "setups"),
            HostedPage::Pay if other => ("pay", &ids.payment_action, "payments"),
            HostedPage::Pay => ("pay", &ids.payment_open, "payments"),
            HostedPage::AuthenticateSetup if other => ("authenticate", &ids.setup, "setups"),
            HostedPage::AuthenticateSetup => ("authenticate", &ids.setup_action, "setups"),
            HostedPage::AuthenticatePay if other => ("authenticate", &ids.payment_open, "payments"),
            HostedPage::AuthenticatePay => ("authenticate", &ids.payment_action, "payments"),
        };
        let id = if flags & UNKNOWN_ID != 0 {
            let prefix = id.split('_').next().unwrap_or("seti");
            format!("{prefix}_{}", "Z".repeat(24))
        } else {
            id.clone()
        };
        let page_path = format!("/hosted/{segment}/{id}");
        let object_path = format!("/v1/{api_path}/{id}");
        let before = app.send("GET", &object_path, None, &[]).await;

        let token = if flags & VALID_CSRF != 0 {
            csrf_token(&app, &page_path).await
        } else {
            None
        };
        let mut body = Vec::new();
        if let Some(token) = &token {
            body.extend_from_slice(b"csrf_token=");
            body.extend_from_slice(token.as_bytes());
            body.push(b'&');
        }
        body.extend_from_slice(form);
        let content_type = if flags & WRONG_CONTENT_TYPE != 0 {
            "text/plain"
        } else {
            "application/x-www-form-urlencoded"
        };
        let request = Request::builder()
            .method("POST")
            .uri(&page_path)
            .header("content-type", content_type)
            .header("cookie", COOKIE)
            .body(Body::from(body));
        let request = match request {
            Ok(request) => request,
            Err(e) => panic!("the harness built a bad request: {e}"),
        };
        let answer = app.request(request).await;
        let text = String::from_utf8_lossy(&answer.body);
        let what = format!("POST {page_path} (flags {flags:#010b})");
        crate::app::trace(&what, &answer);
        assert!(
            !answer.status.is_server_error(),
            "{what}: {} {text}",
            answer.status
        );
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert!(header("content-security-policy").contains("default-src 'none'"));
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
        if answer.status == StatusCode::SEE_OTHER {
            assert!(
                !header("location").is_empty(),
                "{what}: 303 without Location"
            );
        }
        if token.is_none() {
            assert!(
                matches!(answer.status.as_u16(), 400 | 403 | 404 | 415),
                "{what}: accepted without a CSRF token: {} {text}",
                answer.status
            );
            let after = app.send("GET", &object_path, None, &[]).await;
            assert_eq!(
                (after.status, after.body),
                (before.status, before.body),
                "{what}: a refused post changed the object"
            );
        }
        let location = header("location");
        for digits in typed_card_numbers(form) {
            assert!(
                !text.contains(&digits) && !location.contains(&digits),
                "{what}: the card number came back: {} {text}",
                answer.status
            );
        }
    });
}

/// The CSRF token of the page at `path` for [`COOKIE`], if the page shows a form.
async fn csrf_token(app: &App, path: &str) -> Option<String> {
    let page = app.send("GET", path, None, &[("cookie", COOKIE)]).await;
    let html = String::from_utf8_lossy(&page.body);
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

/// The card numbers typed in the form's `number` fields that no other field repeats (the
/// page keeps `name` and `expiry` as typed, so a number typed there too may come back).
fn typed_card_numbers(form: &[u8]) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut elsewhere = Vec::new();
    for (key, value) in form_urlencoded::parse(form) {
        let found = crate::card_numbers_in(&value);
        if key == "number" {
            numbers.extend(found);
        } else {
            elsewhere.push(value.into_owned());
        }
    }
    numbers.retain(|n| !elsewhere.iter().any(|v| v.contains(n.as_str())));
    numbers
}
