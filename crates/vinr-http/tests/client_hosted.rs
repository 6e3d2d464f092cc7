#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The HTTP client's hosted pages (the buyer's side) against fake pages shaped as `api.md` §3
//! says: cookies per flow, CSRF token sent back, `Origin`, redirects observed, alerts and
//! statuses read.

mod client_support;

use std::time::Duration;

use client_support::{FakeServer, Reply, Seen, id};
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_http::client::{ClientOptions, HttpClient};
use vinr_ports::Error;
use vinr_ports::api::HostedApi;
use vinr_ports::params::{CardEntry, ChallengeOutcome, HostedOutcome, HostedStage, HostedView};

const KEY: &str = "sk_test_HostedPagesNeverSeeMe42";

fn client(server: &FakeServer) -> HttpClient {
    HttpClient::with_options(
        &server.url(),
        KEY,
        ClientOptions {
            timeout: Duration::from_secs(5),
            max_retries: 2,
            backoff_base: Duration::from_millis(1),
        },
    )
    .unwrap()
}

fn seti() -> SetupId {
    SetupId::parse(&id("seti", 's')).unwrap()
}

fn pay() -> PaymentId {
    PaymentId::parse(&id("pay", 'p')).unwrap()
}

fn card() -> CardEntry {
    CardEntry {
        name: Some("Ada Lovelace".into()),
        ..CardEntry::new("4242 4242 4242 4242", "12/34", "123")
    }
}

fn flow_of(req: &Seen) -> String {
    req.path().rsplit('/').next().unwrap().to_owned()
}

fn card_page(token: &str, main_attrs: &str, alert: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Pay</title></head>
<body><main {main_attrs}>
<h1>Card details</h1>
<div role="alert" aria-live="assertive">{alert}</div>
<form method="post" novalidate>
  <input type="hidden" name="csrf_token" value="{token}">
  <label for="number">Card number</label><input id="number" name="number" autocomplete="cc-number" inputmode="numeric">
  <label for="expiry">Expiry (MM/YY)</label><input id="expiry" name="expiry">
  <label for="cvc">CVC</label><input id="cvc" name="cvc">
  <label for="name">Name on card</label><input id="name" name="name">
  <button type="submit">Save card</button>
</form></main></body></html>"#
    )
}

fn auth_page(token: &str) -> String {
    format!(
        r#"<!doctype html><main data-stage="authenticate"><h1>Confirm it's you</h1>
<form method="post" action="">
<input type="hidden" name="csrf_token" value="{token}">
<button name="outcome" value="complete">Complete authentication</button>
<button name="outcome" value="fail">Fail authentication</button>
</form></main>"#
    )
}

/// Fake hosted pages: a GET sets the flow's CSRF cookie and renders its form; a POST with the
/// right token, cookie and origin gets `answer(request)`, anything else 403.
fn pages(
    main_attrs: &'static str,
    alert: &'static str,
    answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> FakeServer {
    FakeServer::start(move |req, _| {
        let token = format!("tok-{}", flow_of(req));
        if req.method == "GET" {
            let page = if req.path().starts_with("/hosted/authenticate/") {
                auth_page(&token)
            } else {
                card_page(&token, main_attrs, alert)
            };
            return Reply::html(200, &page).with_header(
                "set-cookie",
                &format!("vinr_csrf={token}; Path=/hosted; HttpOnly; SameSite=Strict"),
            );
        }
        let origin = format!("http://{}", req.header("host").unwrap_or(""));
        let form = req.form();
        let sent_token = form
            .iter()
            .find(|(n, _)| n == "csrf_token")
            .map(|(_, v)| v.clone());
        let cookie_ok = req
            .header("cookie")
            .is_some_and(|c| c.split("; ").any(|kv| kv == format!("vinr_csrf={token}")));
        if sent_token.as_deref() != Some(&token)
            || !cookie_ok
            || req.header("origin") != Some(origin.as_str())
            || req.header("content-type") != Some("application/x-www-form-urlencoded")
        {
            return Reply::html(403, "<p>This form has expired. Reload the page.</p>");
        }
        answer(req)
    })
}

fn field(req: &Seen, name: &str) -> Option<String> {
    req.form()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn the_setup_page_view_reads_stage_alert_and_livemode() {
    let server = pages(
        r#"data-stage="collect_card" data-livemode="true""#,
        "Your card was declined.",
        |_| Reply::html(500, "unused"),
    );
    let view = client(&server).setup_page(&seti()).await.unwrap();
    assert_eq!(
        view,
        HostedView {
            stage: HostedStage::CollectCard,
            amount: None,
            description: None,
            last_error: Some("Your card was declined.".into()),
            livemode: true,
        }
    );
    let seen = server.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path(), format!("/hosted/setup/{}", seti()));
    assert!(
        seen.iter().all(|s| s.header("authorization").is_none()),
        "the API key never goes to a hosted page"
    );
}

#[tokio::test]
async fn the_payment_page_view_reads_amount_and_description() {
    let server = pages(
        r#"data-stage="collect_card" data-amount="25.00 EUR" data-description="Order #4471""#,
        "",
        |_| Reply::html(500, "unused"),
    );
    let view = client(&server).payment_page(&pay()).await.unwrap();
    assert_eq!(
        view,
        HostedView {
            stage: HostedStage::CollectCard,
            amount: Some("25.00 EUR".into()),
            description: Some("Order #4471".into()),
            last_error: None,
            livemode: false,
        }
    );
    assert_eq!(server.seen()[0].path(), format!("/hosted/pay/{}", pay()));
}

#[tokio::test]
async fn a_page_that_sends_the_buyer_on_to_the_challenge_is_followed() {
    let p = pay();
    let server = FakeServer::start(move |req, _| {
        if req.path() == format!("/hosted/pay/{p}") {
            Reply::see_other(&format!("/hosted/authenticate/{p}"))
        } else {
            Reply::html(200, &auth_page("t"))
        }
    });
    let view = client(&server).payment_page(&pay()).await.unwrap();
    assert_eq!(view.stage, HostedStage::Authenticate);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_good_card_posts_the_form_and_redirects_to_the_return_url() {
    let server = pages(r#"data-stage="collect_card""#, "", |req| {
        Reply::see_other(&format!(
            "https://shop.example/done?x=1&setup={}&status=succeeded",
            flow_of(req)
        ))
    });
    let outcome = client(&server)
        .submit_setup_card(&seti(), card())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Redirect {
            url: format!(
                "https://shop.example/done?x=1&setup={}&status=succeeded",
                seti()
            )
        }
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "GET the page, POST the form");
    let post = &seen[1];
    assert_eq!(post.method, "POST");
    assert_eq!(post.path(), format!("/hosted/setup/{}", seti()));
    assert_eq!(
        field(post, "number").as_deref(),
        Some("4242 4242 4242 4242")
    );
    assert_eq!(field(post, "expiry").as_deref(), Some("12/34"));
    assert_eq!(field(post, "cvc").as_deref(), Some("123"));
    assert_eq!(field(post, "name").as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        field(post, "csrf_token"),
        Some(format!("tok-{}", seti())),
        "the hidden CSRF token goes back"
    );
    assert!(post.header("authorization").is_none());
}

#[tokio::test]
async fn a_3ds_card_gets_a_challenge_then_completing_it_redirects() {
    let server = pages(r#"data-stage="collect_card""#, "", |req| {
        if req.path().starts_with("/hosted/authenticate/") {
            match field(req, "outcome").as_deref() {
                Some("complete") => Reply::see_other("https://shop.example/done?status=succeeded"),
                _ => Reply::see_other(&format!("/hosted/setup/{}", flow_of(req))),
            }
        } else {
            Reply::see_other(&format!("/hosted/authenticate/{}", flow_of(req)))
        }
    });
    let client = client(&server);
    let outcome = client.submit_setup_card(&seti(), card()).await.unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Challenge {
            url: format!("{}/hosted/authenticate/{}", server.url(), seti())
        },
        "a relative Location is made absolute"
    );
    let failed = client
        .authenticate_setup(&seti(), ChallengeOutcome::Fail)
        .await
        .unwrap();
    assert_eq!(
        failed,
        HostedOutcome::Redirect {
            url: format!("{}/hosted/setup/{}", server.url(), seti())
        },
        "a failed challenge sends the buyer back to the card form"
    );
    let done = client
        .authenticate_setup(&seti(), ChallengeOutcome::Complete)
        .await
        .unwrap();
    assert_eq!(
        done,
        HostedOutcome::Redirect {
            url: "https://shop.example/done?status=succeeded".into()
        }
    );
    let posts: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 3);
    assert_eq!(field(&posts[1], "outcome").as_deref(), Some("fail"));
    assert_eq!(field(&posts[2], "outcome").as_deref(), Some("complete"));
    assert_eq!(
        field(&posts[2], "number"),
        None,
        "no card data on the challenge"
    );
}

#[tokio::test]
async fn a_declined_card_shows_the_alert_as_a_retry() {
    let server = pages(r#"data-stage="collect_card""#, "", |_| {
        Reply::html(
            200,
            &card_page(
                "tok-new",
                r#"data-stage="collect_card""#,
                "Your card was <b>declined</b>.",
            ),
        )
    });
    let outcome = client(&server)
        .submit_payment_card(&pay(), card())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Retry {
            message: "Your card was declined.".into()
        }
    );

    let server = pages(r#"data-stage="collect_card""#, "", |_| {
        Reply::html(
            402,
            &card_page(
                "tok-new",
                r#"data-stage="collect_card""#,
                "Your card has expired.",
            ),
        )
    });
    let outcome = client(&server)
        .submit_setup_card(&seti(), card())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Retry {
            message: "Your card has expired.".into()
        },
        "402 with the form again is a retry too"
    );
}

#[tokio::test]
async fn a_payment_without_return_url_ends_on_a_status_page() {
    let server = pages(
        r#"data-stage="collect_card" data-amount="9.99 EUR""#,
        "",
        |_| {
            Reply::html(
                200,
                r#"<main><h1>Thank you</h1><p role="status">Payment succeeded. You can close this page.</p></main>"#,
            )
        },
    );
    let outcome = client(&server)
        .submit_payment_card(&pay(), card())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Done {
            message: "Payment succeeded. You can close this page.".into()
        }
    );
}

#[tokio::test]
async fn used_and_unknown_links_are_gone_and_not_found() {
    let server = FakeServer::always(Reply::html(
        410,
        "<p>This link has already been used, was canceled, or has expired.</p>",
    ));
    let client_gone = client(&server);
    assert_eq!(
        client_gone.setup_page(&seti()).await.unwrap_err(),
        Error::Gone {
            message: "This link has already been used, was canceled, or has expired.".into()
        }
    );
    assert!(matches!(
        client_gone.submit_payment_card(&pay(), card()).await,
        Err(Error::Gone { .. })
    ));
    assert!(matches!(
        client_gone
            .authenticate_payment(&pay(), ChallengeOutcome::Complete)
            .await,
        Err(Error::Gone { .. })
    ));
    assert_eq!(
        server.seen().iter().filter(|s| s.method == "POST").count(),
        0,
        "nothing is posted to a dead link"
    );

    let server = FakeServer::always(Reply::html(404, "Not found"));
    assert!(matches!(
        client(&server).payment_page(&pay()).await,
        Err(Error::NotFound { .. })
    ));

    // Gone between the page and the post (the link was used in another tab).
    let server = pages(r#"data-stage="collect_card""#, "", |_| {
        Reply::html(410, "This link has already been used.")
    });
    assert!(matches!(
        client(&server).submit_setup_card(&seti(), card()).await,
        Err(Error::Gone { .. })
    ));
}

#[tokio::test]
async fn a_refused_csrf_token_is_an_invalid_request_on_csrf_token() {
    // The page's token is fine but the server refuses the post anyway (expired token).
    let server = pages(r#"data-stage="collect_card""#, "", |_| {
        Reply::html(403, "This form has expired. Reload the page.")
    });
    let err = client(&server)
        .submit_setup_card(&seti(), card())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest { param: Some(p), .. } if p == "csrf_token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_card_is_never_posted_to_a_page_that_does_not_collect_one() {
    let server = FakeServer::always(Reply::html(200, &auth_page("t")));
    let err = client(&server)
        .submit_setup_card(&seti(), card())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(server.seen().iter().all(|s| s.method == "GET"));

    let server = FakeServer::always(Reply::html(
        200,
        &card_page("t", r#"data-stage="collect_card""#, ""),
    ));
    let err = client(&server)
        .authenticate_payment(&pay(), ChallengeOutcome::Complete)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(server.seen().iter().all(|s| s.method == "GET"));
}

#[tokio::test]
async fn each_flow_keeps_its_own_cookies() {
    let server = pages(r#"data-stage="collect_card""#, "", |req| {
        Reply::see_other(&format!("https://shop.example/{}", flow_of(req)))
    });
    let client = client(&server);
    let other = SetupId::parse(&id("seti", 't')).unwrap();
    // Interleave two flows: each post must carry its own flow's cookie (the fake server
    // answers 403 otherwise).
    client.setup_page(&seti()).await.unwrap();
    client.setup_page(&other).await.unwrap();
    client.submit_setup_card(&other, card()).await.unwrap();
    client.submit_setup_card(&seti(), card()).await.unwrap();
    for post in server.seen().iter().filter(|s| s.method == "POST") {
        let cookie = post.header("cookie").unwrap();
        assert_eq!(cookie, format!("vinr_csrf=tok-{}", flow_of(post)));
    }
}

#[tokio::test]
async fn a_page_get_is_retried_on_5xx_but_a_form_post_never() {
    let server = FakeServer::start(|req, n| match (req.method.as_str(), n) {
        ("GET", 0) => Reply::html(503, "busy"),
        ("GET", _) => Reply::html(200, &card_page("t", r#"data-stage="collect_card""#, "")),
        _ => Reply::html(502, "bad gateway"),
    });
    let err = client(&server)
        .submit_setup_card(&seti(), card())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    let methods: Vec<_> = server.seen().iter().map(|s| s.method.clone()).collect();
    assert_eq!(methods, vec!["GET", "GET", "POST"]);
}
