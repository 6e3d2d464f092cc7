//! `vinr listen` and `vinr trigger`, run as the built binary against a `vinr serve` on a
//! temporary SQLite database, with a receiver on port 0 that checks the forwarded signatures.

// The helpers below fail the test, as an assertion would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::process::Process;
use common::receiver::{Hit, Receiver};
use common::{Server, TempDir, run, text, vinr, wait_until};
use serde_json::json;
use vinr_ports::clock::Clock as _;
use vinr_store::clock::SystemClock;
use vinr_webhooks::Verifier;

const KEY: &str = "sk_test_listen_4f1c2b7a9d0e4c3b8a6f5e1d";

/// How long any one thing may take (a debug build on a busy machine).
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `vinr trigger <kind>` against `server`; returns `(event id, object id)` from its last
/// line, `Triggered <kind>: event <evt> on <object>`.
fn trigger(server: &Server, kind: &str) -> (String, String) {
    let out = run(
        &["trigger", kind, "--api-base", &server.base],
        &[("VINR_SECRET_KEY", KEY)],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "trigger {kind} failed: {stdout}\n{}",
        text(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let rest = last
        .strip_prefix(&format!("Triggered {kind}: event "))
        .unwrap_or_else(|| panic!("unexpected last line: {stdout}"));
    let (event, object) = rest.split_once(" on ").unwrap();
    assert!(event.starts_with("evt_"), "{last}");
    (event.to_owned(), object.to_owned())
}

/// `listen`'s event lines, `<created> <type> <evt> <object>`, as tokens.
fn event_lines(lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Checks a forwarded request: `POST /hook`, JSON, the event id header, and a signature by
/// `secret` over the raw body; returns the event's type and object id.
fn check_forwarded(hit: &Hit, secret: &str) -> (String, String) {
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hook");
    assert_eq!(hit.header("content-type"), Some("application/json"));
    let signature = hit.header("x-vinr-signature").expect("a signature");
    let now = SystemClock::new().now().timestamp();
    let event = Verifier::new([secret])
        .verify(&hit.body, signature, now)
        .unwrap_or_else(|e| panic!("the forwarded event does not verify: {e}"));
    assert_eq!(event.id(), hit.event_id());
    // Another secret does not verify it.
    assert!(
        Verifier::new(["whsec_other"])
            .verify_signature(&hit.body, signature, now)
            .is_err()
    );
    (
        event.kind().as_str().to_owned(),
        event.object_id().unwrap_or_default().to_owned(),
    )
}

#[test]
fn listen_prints_and_forwards_signed_the_events_trigger_causes() {
    let dir = TempDir::new("listen");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", KEY)]);
    // Created before `listen` starts: never shown.
    let before = server.post_json("/v1/customers", KEY, &json!({"name": "Before"}));
    assert_eq!(before.status, 200, "{}", before.body);
    let before = before.json()["id"].as_str().unwrap().to_owned();

    let receiver = Receiver::ok();
    let hook = format!("{}/hook", receiver.base);
    let listen = Process::start(vinr(
        &[
            "listen",
            "--api-base",
            &server.base,
            "--forward-to",
            &hook,
            "--events",
            "payment.requires_action,customer.created",
        ],
        &[("VINR_SECRET_KEY", KEY)],
    ));
    let secret = listen
        .wait_for_line(DEADLINE, |l| {
            l.starts_with("Your webhook signing secret is ")
        })
        .trim_start_matches("Your webhook signing secret is ")
        .to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 30,
        "{secret}"
    );
    listen.wait_for_line(DEADLINE, |l| l.starts_with("Ready!"));

    let (action_event, payment) = trigger(&server, "payment.requires_action");
    assert!(payment.starts_with("pay_"), "{payment}");
    let (created_event, customer) = trigger(&server, "customer.created");
    assert!(customer.starts_with("cust_"), "{customer}");

    // The lines, as they happen.
    for (event, kind, object) in [
        (&action_event, "payment.requires_action", &payment),
        (&created_event, "customer.created", &customer),
    ] {
        let line = listen.wait_for_line(DEADLINE, |l| {
            l.split_whitespace().nth(2) == Some(event.as_str())
        });
        let tokens: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(tokens.len(), 4, "{line}");
        assert_eq!(
            &tokens[1..],
            [kind, event.as_str(), object.as_str()],
            "{line}"
        );
        // `<created>` is a UTC time.
        assert!(
            tokens[0].len() == 20 && tokens[0].ends_with('Z') && tokens[0].contains('T'),
            "{line}"
        );
    }

    // Forwarded, signed with the printed secret, once each.
    wait_until(
        DEADLINE,
        "the receiver gets the forwarded events",
        || !receiver.hits_for(&created_event).is_empty(),
        || receiver.describe(),
    );
    for (event, kind, object) in [
        (&action_event, "payment.requires_action", &payment),
        (&created_event, "customer.created", &customer),
    ] {
        let hits = receiver.hits_for(event);
        assert_eq!(hits.len(), 1, "{}", receiver.describe());
        assert_eq!(
            check_forwarded(&hits[0], &secret),
            (kind.to_owned(), object.clone())
        );
    }
    // Each forward's outcome is printed once its answer is in.
    wait_until(
        DEADLINE,
        "listen prints the outcome of each forward",
        || {
            listen
                .stdout_lines()
                .iter()
                .filter(|l| l.starts_with("  --> "))
                .count()
                >= 3
        },
        || listen.stdout_lines().join("\n"),
    );

    // Printed: exactly what the filter admits since the start, oldest first. The customer
    // `trigger payment.requires_action` made comes first; its card's
    // `payment_method.attached` is filtered out; nothing from before the start.
    let lines = listen.stdout_lines();
    let shown = event_lines(&lines);
    let kinds: Vec<&str> = shown.iter().map(|t| t[1].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "customer.created",
            "payment.requires_action",
            "customer.created"
        ],
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(&before)), "{lines:#?}");
    assert_eq!(receiver.hits().len(), 3, "{}", receiver.describe());
    for hit in receiver.hits() {
        let (kind, _) = check_forwarded(&hit, &secret);
        assert!(kind == "customer.created" || kind == "payment.requires_action");
    }
    let forwards: Vec<&String> = lines.iter().filter(|l| l.starts_with("  --> ")).collect();
    assert_eq!(forwards.len(), 3, "{lines:#?}");
    assert!(
        forwards
            .iter()
            .all(|l| **l == format!("  --> POST {hook} [200 OK]")),
        "{lines:#?}"
    );
    // The secret is printed once; the API key never.
    assert_eq!(lines.iter().filter(|l| l.contains(&secret)).count(), 1);
    assert!(!lines.iter().any(|l| l.contains(KEY)));
    assert!(!listen.stderr_text().contains(KEY));

    let status = listen.stop();
    assert!(status.success(), "{status:?}");
    assert!(server.stop().success());
}

#[test]
fn listen_catches_up_on_a_burst_larger_than_a_page_in_order() {
    let dir = TempDir::new("listen-burst");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", KEY)]);
    let listen = Process::start(vinr(
        &["listen", "--api-base", &server.base],
        &[("VINR_SECRET_KEY", KEY)],
    ));
    listen.wait_for_line(DEADLINE, |l| l.starts_with("Ready!"));
    // Frozen while the burst is written, so its next look finds 150 new events: two pages.
    listen.signal("STOP");
    let customers: Vec<String> = (0..150)
        .map(|i| {
            let created = server.post_json("/v1/customers", KEY, &json!({"name": format!("C{i}")}));
            assert_eq!(created.status, 200, "{}", created.body);
            created.json()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    listen.signal("CONT");
    let last = customers.last().unwrap().clone();
    listen.wait_for_line(DEADLINE, |l| l.ends_with(&last));
    let shown: Vec<String> = event_lines(&listen.stdout_lines())
        .into_iter()
        .map(|t| {
            assert_eq!(t[1], "customer.created", "{t:?}");
            t[3].clone()
        })
        .collect();
    assert_eq!(shown, customers);
    assert!(listen.stop().success());
    assert!(server.stop().success());
}

#[test]
fn every_event_type_can_be_triggered() {
    let dir = TempDir::new("trigger-all");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", KEY)]);
    for kind in [
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "payment_method.expiring",
        "setup.canceled",
        "setup.failed",
        "setup.succeeded",
        "payment.succeeded",
        "payment.failed",
        "payment.requires_action",
        "payment.canceled",
    ] {
        let (event, object) = trigger(&server, kind);
        let found = server.get(&format!("/v1/events/{event}"), Some(KEY));
        assert_eq!(found.status, 200, "{kind}: {}", found.body);
        let found = found.json();
        assert_eq!(found["type"], kind);
        assert_eq!(found["data"]["object"]["id"], object.as_str(), "{found}");
    }
    let object_of = |kind: &str| {
        let listed = server.get(&format!("/v1/events?type={kind}&limit=1"), Some(KEY));
        listed.json()["data"][0]["data"]["object"].clone()
    };
    assert_eq!(object_of("payment.failed")["status"], "failed");
    assert_eq!(
        object_of("payment.requires_action")["status"],
        "requires_action"
    );
    assert_eq!(object_of("payment.canceled")["status"], "canceled");
    assert_eq!(object_of("setup.succeeded")["status"], "succeeded");
    assert!(server.stop().success());
}

#[test]
fn trigger_refuses_unknown_types_and_live_keys() {
    let unknown = run(
        &[
            "trigger",
            "payment.refunded",
            "--api-base",
            "http://127.0.0.1:9",
        ],
        &[("VINR_SECRET_KEY", KEY)],
    );
    assert!(!unknown.status.success());
    let err = text(&unknown.stderr);
    assert!(
        err.contains("payment.refunded")
            && err.contains("customer.created")
            && err.contains("payment.requires_action"),
        "{err}"
    );

    let live_key = "sk_live_trigger_0123456789abcdef";
    let live = run(
        &[
            "trigger",
            "customer.created",
            "--api-base",
            "http://127.0.0.1:9",
        ],
        &[("VINR_SECRET_KEY", live_key)],
    );
    assert!(!live.status.success());
    let err = text(&live.stderr);
    assert!(err.contains("sandbox") && err.contains("sk_test_"), "{err}");
    assert!(!err.contains(live_key), "{err}");

    let no_key = run(
        &[
            "trigger",
            "customer.created",
            "--api-base",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert!(!no_key.status.success());
    assert!(
        text(&no_key.stderr).contains("--secret-key"),
        "{}",
        text(&no_key.stderr)
    );
}

#[test]
fn listen_stops_on_a_refused_key_and_on_an_unreachable_server() {
    let dir = TempDir::new("listen-refused");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", KEY)]);
    let wrong = "sk_test_listen_wrong_0123456789abcdef";
    let refused = run(
        &["listen", "--api-base", &server.base],
        &[("VINR_SECRET_KEY", wrong)],
    );
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    assert!(server.stop().success());

    let gone = run(
        &["listen", "--api-base", "http://127.0.0.1:9"],
        &[("VINR_SECRET_KEY", KEY)],
    );
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("cannot read the events of http://127.0.0.1:9"),
        "{}",
        text(&gone.stderr)
    );
}
