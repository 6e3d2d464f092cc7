//! Webhook delivery through the real server: `vinr serve` (the built binary) delivers to a
//! receiver on port 0, retries on `VINR_WEBHOOK_RETRY`, resumes after a crash, and shares the
//! work with a second server on one PostgreSQL database without double sends.
//!
//! The PostgreSQL test needs `VINR_TEST_POSTGRES_URL` (as the other PostgreSQL tests: unset, it
//! says so and passes, unless `CI=true`, where it fails). It creates a database of its own,
//! `vinr_t_<random>`, on that server, and drops it at the end.

// The helpers below fail the test, as an assertion would, when the database misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::postgres::{execute, postgres_url, random_suffix};
use common::receiver::{Hit, Receiver};
use common::{Server, TempDir, wait_until};
use serde_json::json;
use vinr_ports::clock::Clock as _;
use vinr_store::clock::SystemClock;
use vinr_webhooks::Verifier;

const KEY: &str = "sk_test_delivery_4f1c2b7a9d0e4c3b8a6f5e1d";

/// How long any one thing may take (a debug build on a busy machine).
const DEADLINE: Duration = Duration::from_secs(20);

/// Registers an endpoint for every event at `receiver`'s `/hook`; returns its secret.
fn endpoint(server: &Server, receiver: &Receiver) -> String {
    let created = server.post_json(
        "/v1/webhook_endpoints",
        KEY,
        &json!({"url": format!("{}/hook", receiver.base), "events": ["*"]}),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

fn create_customer(server: &Server, name: &str) -> String {
    let created = server.post_json("/v1/customers", KEY, &json!({"name": name}));
    assert_eq!(created.status, 200, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_owned()
}

/// Checks a delivery: `POST /hook`, JSON, signed by `secret` over the raw body, its id
/// header matching its body; returns `(type, object id)`.
fn check_delivery(hit: &Hit, secret: &str) -> (String, String) {
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("POST", "/hook"));
    assert_eq!(hit.header("content-type"), Some("application/json"));
    let signature = hit.header("x-vinr-signature").expect("a signature");
    let now = SystemClock::new().now().timestamp();
    let event = Verifier::new([secret])
        .verify(&hit.body, signature, now)
        .unwrap_or_else(|e| panic!("the delivery does not verify: {e}"));
    assert_eq!(event.id(), hit.event_id());
    (
        event.kind().as_str().to_owned(),
        event.object_id().unwrap_or_default().to_owned(),
    )
}

/// The one event delivered for `customer`'s creation: its requests, once some arrived.
fn deliveries_of(receiver: &Receiver, secret: &str, customer: &str) -> Vec<Hit> {
    let mut ids = BTreeSet::new();
    for hit in receiver.hits() {
        if check_delivery(&hit, secret) == ("customer.created".to_owned(), customer.to_owned()) {
            ids.insert(hit.event_id().to_owned());
        }
    }
    assert!(ids.len() <= 1, "{}", receiver.describe());
    ids.first()
        .map(|id| receiver.hits_for(id))
        .unwrap_or_default()
}

#[test]
fn a_refused_delivery_is_retried_on_the_schedule_and_every_attempt_is_signed() {
    let dir = TempDir::new("retry");
    let server = Server::start(
        &dir.db_url(),
        &[],
        &[("VINR_SECRET_KEY", KEY), ("VINR_WEBHOOK_RETRY", "1s,1s,2s")],
    );
    let receiver = Receiver::failing_once();
    let secret = endpoint(&server, &receiver);
    let customer = create_customer(&server, "Ada");

    wait_until(
        DEADLINE,
        "customer.created is delivered on the second attempt",
        || deliveries_of(&receiver, &secret, &customer).len() >= 2,
        || format!("{}; log: {}", receiver.describe(), server.stderr_text()),
    );
    let hits = deliveries_of(&receiver, &secret, &customer);
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 200],
        "{}",
        receiver.describe()
    );
    // The retry waited for the schedule's first delay (1 s, ± 10 % jitter).
    let waited = hits[1].at.duration_since(hits[0].at);
    assert!(waited >= Duration::from_millis(850), "{waited:?}");
    // The same event both times, signed afresh.
    assert_eq!(hits[0].body, hits[1].body);

    wait_until(
        DEADLINE,
        "the delivery is recorded",
        || server.metric("vinr_webhook_delivered_total") == Some(1.0),
        || server.get("/metrics", None).body,
    );
    assert_eq!(server.metric("vinr_webhook_retried_total"), Some(1.0));
    assert_eq!(server.metric("vinr_webhook_attempts_total"), Some(2.0));
    assert_eq!(server.metric("vinr_outbox_pending_deliveries"), Some(0.0));
    assert_eq!(receiver.hits().len(), 2, "{}", receiver.describe());
    assert!(server.stop().success());
}

#[test]
fn a_server_killed_while_a_retry_is_pending_delivers_it_after_a_restart() {
    let dir = TempDir::new("crash");
    // A first delay long enough that the retry cannot happen before the kill.
    let env = [("VINR_SECRET_KEY", KEY), ("VINR_WEBHOOK_RETRY", "4s,1s,2s")];
    let server = Server::start(&dir.db_url(), &[], &env);
    let receiver = Receiver::failing_once();
    let secret = endpoint(&server, &receiver);
    let customer = create_customer(&server, "Grace");

    wait_until(
        DEADLINE,
        "the first attempt is received and recorded",
        || {
            !deliveries_of(&receiver, &secret, &customer).is_empty()
                && server.metric("vinr_webhook_retried_total") == Some(1.0)
        },
        || format!("{}; log: {}", receiver.describe(), server.stderr_text()),
    );
    server.kill();
    let first = deliveries_of(&receiver, &secret, &customer);
    assert_eq!(first.len(), 1, "{}", receiver.describe());
    assert_eq!(first[0].status, 500);

    let restarted = Server::start(&dir.db_url(), &[], &env);
    wait_until(
        DEADLINE,
        "the restarted server delivers the pending retry",
        || deliveries_of(&receiver, &secret, &customer).len() >= 2,
        || format!("{}; log: {}", receiver.describe(), restarted.stderr_text()),
    );
    let hits = deliveries_of(&receiver, &secret, &customer);
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 200],
        "{}",
        receiver.describe()
    );
    wait_until(
        DEADLINE,
        "the restarted server records the delivery",
        || restarted.metric("vinr_webhook_delivered_total") == Some(1.0),
        || restarted.get("/metrics", None).body,
    );
    // The restarted server made the second attempt only: the first was not sent again.
    assert_eq!(restarted.metric("vinr_webhook_attempts_total"), Some(1.0));
    assert_eq!(
        restarted.metric("vinr_outbox_pending_deliveries"),
        Some(0.0)
    );
    assert_eq!(receiver.hits().len(), 2, "{}", receiver.describe());
    assert!(restarted.stop().success());
}

/// A database made for the test on the server of `VINR_TEST_POSTGRES_URL`, dropped when this
/// goes.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn new(admin: &str) -> Database {
        let name = format!("vinr_t_{}", random_suffix());
        execute(admin, &format!("CREATE DATABASE {name}"));
        Database {
            admin: admin.to_owned(),
            url: with_database(admin, &name),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        execute(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// `url` naming the database `name` instead of its own (its query, if any, kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[test]
fn the_database_of_a_url_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "vinr_t_1"),
        "postgres://postgres@127.0.0.1:5432/vinr_t_1"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// base64 of 32 bytes of 5: the vault key both servers share.
const VAULT_KEY: &str = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=";

#[test]
fn two_servers_on_one_postgres_deliver_each_event_once() {
    let Some(admin) = postgres_url() else { return };
    let database = Database::new(&admin);
    let env = [
        ("VINR_SECRET_KEY", KEY),
        ("VINR_VAULT_KEY", VAULT_KEY),
        ("VINR_WEBHOOK_RETRY", "1s,1s,2s"),
    ];
    // One after the other, so the first applies the migrations alone.
    let a = Server::start(&database.url, &[], &env);
    let b = Server::start(&database.url, &[], &env);
    let receiver = Receiver::ok();
    let secret = endpoint(&a, &receiver);

    let distinct = || {
        receiver
            .hits()
            .iter()
            .map(|h| h.event_id().to_owned())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let state = || {
        format!(
            "{} hits; A: {}; B: {}",
            receiver.hits().len(),
            a.stderr_text(),
            b.stderr_text()
        )
    };
    let mut customers = BTreeSet::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        customers.insert(create_customer(server, &format!("Customer {i}")));
    }
    wait_until(
        DEADLINE,
        "every event is delivered",
        || distinct() >= customers.len(),
        state,
    );
    assert_eq!(customers.len(), 20);
    // Done when nothing is pending any more (a delivery leaves `pending` only once its
    // attempt is recorded, after the receiver has answered), so no second send can follow.
    wait_until(
        DEADLINE,
        "no delivery pending",
        || {
            a.metric("vinr_outbox_unfanned_events") == Some(0.0)
                && a.metric("vinr_outbox_pending_deliveries") == Some(0.0)
        },
        state,
    );

    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    let mut delivered = BTreeSet::new();
    for hit in receiver.hits() {
        *per_event.entry(hit.event_id().to_owned()).or_default() += 1;
        let (kind, object) = check_delivery(&hit, &secret);
        assert_eq!(kind, "customer.created");
        delivered.insert(object);
        assert_eq!(hit.status, 200);
    }
    assert_eq!(per_event.len(), 20, "{per_event:?}");
    assert!(per_event.values().all(|&n| n == 1), "{per_event:?}");
    assert_eq!(delivered, customers);
    // One attempt per event in all, whichever server made it.
    let attempts = |s: &Server| s.metric("vinr_webhook_attempts_total").unwrap_or(0.0);
    let (by_a, by_b) = (attempts(&a), attempts(&b));
    assert_eq!(by_a + by_b, 20.0, "A made {by_a}, B made {by_b}");
    eprintln!("attempts: server A {by_a}, server B {by_b}");

    assert!(a.stop().success());
    assert!(b.stop().success());
    drop(database);
}
