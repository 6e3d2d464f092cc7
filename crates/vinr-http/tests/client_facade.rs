#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `vinr::Vinr` over the HTTP client: `Vinr::with_base_url` and `Vinr::new` (which reads
//! `VINR_API_BASE`).

mod client_support;

use client_support::{FakeServer, Reply, customer_json, id};
use serde_json::json;
use vinr::{CreateCustomer, Error, Vinr};

const KEY: &str = "sk_test_FacadeKey0123456789";

#[tokio::test]
async fn the_facade_speaks_http_with_the_key_and_idempotency_keys() {
    let c = id("cust", 'h');
    let server = FakeServer::always(Reply::json(200, customer_json(&c)));
    let vinr = Vinr::with_base_url(KEY, &server.url()).unwrap();
    assert!(!format!("{vinr:?}").contains(KEY));
    assert!(vinr.engine().is_none() && vinr.clock().is_none());

    let ada = vinr
        .customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ada.id.as_str(), c);
    let again = vinr.idempotent("signup-8821");
    again.customers().create(Default::default()).await.unwrap();
    again.customers().retrieve(&ada.id).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    assert_eq!(seen[0].header("idempotency-key").map(str::len), Some(32));
    assert_eq!(seen[1].header("idempotency-key"), Some("signup-8821"));
    assert_eq!(seen[2].header("idempotency-key"), None);
}

#[tokio::test]
async fn the_facade_returns_the_same_typed_errors() {
    let server = FakeServer::always(Reply::error(
        404,
        json!({"type": "invalid_request_error", "code": "resource_missing", "message": "No such customer"}),
    ));
    let vinr = Vinr::with_base_url(KEY, &server.url()).unwrap();
    let err = vinr
        .customers()
        .retrieve(&id("cust", 'z').parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[test]
fn a_bad_base_url_is_refused() {
    assert!(matches!(
        Vinr::with_base_url(KEY, "not a url"),
        Err(Error::InvalidRequest { .. })
    ));
}

/// The child half of `vinr_new_reads_vinr_api_base`: does nothing unless the parent ran it.
#[tokio::test]
async fn vinr_new_child() {
    if std::env::var("VINR_CLIENT_FACADE_CHILD").is_err() {
        return;
    }
    let vinr = Vinr::new(KEY).unwrap();
    vinr.customers().create(Default::default()).await.unwrap();
}

/// `Vinr::new` finds the server through `VINR_API_BASE`: checked in a child process, since a
/// test may not change its own environment safely.
#[test]
fn vinr_new_reads_vinr_api_base() {
    let server = FakeServer::always(Reply::json(200, customer_json(&id("cust", 'n'))));
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "vinr_new_child", "--test-threads=1"])
        .env("VINR_CLIENT_FACADE_CHILD", "1")
        .env("VINR_API_BASE", server.url())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/v1/customers");
}
