//! The operator commands: `vinr keys`, `vinr vault rotate`, `vinr migrate`, run as the built
//! binary, next to a running server where it matters.

mod common;

use common::{Server, TempDir, run, secret_keys, text};
use serde_json::json;

const OPERATOR_KEY: &str = "sk_test_operator_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";

#[test]
fn keys_create_list_revoke_round_trip_against_a_running_server() {
    let dir = TempDir::new("keys");
    let db = dir.db_url();
    let server = Server::start(&db, &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);

    let created = run(
        &["keys", "create", "--mode", "test", "--database-url", &db],
        &[],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let out = text(&created.stdout);
    let keys = secret_keys(&out);
    assert_eq!(keys.len(), 1, "{out}");
    let key = keys[0].clone();
    assert!(key.starts_with("sk_test_") && key.len() == 40, "{key}");
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    assert!(secret_keys(&text(&created.stderr)).is_empty());

    // The running server accepts the key another process stored.
    let ok = server.get("/v1/customers", Some(&key));
    assert_eq!(ok.status, 200, "{}", ok.body);

    let listed = run(&["keys", "list", "--database-url", &db], &[]);
    assert!(listed.status.success());
    let table = text(&listed.stdout);
    assert!(table.contains("ID") && table.contains("REVOKED"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("test") && row.contains(&key[..12]) && row.trim_end().ends_with('-'),
        "{row}"
    );
    assert!(!table.contains(&key), "a listed key: {table}");
    assert!(!table.contains(OPERATOR_KEY));
    assert_eq!(table.lines().count(), 3, "{table}");

    let revoked = run(&["keys", "revoke", &id, "--database-url", &db], &[]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let refused = server.get("/v1/customers", Some(&key));
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "api_key_invalid");
    assert_eq!(server.get("/v1/customers", Some(OPERATOR_KEY)).status, 200);

    let table = text(&run(&["keys", "list", "--database-url", &db], &[]).stdout);
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(!row.trim_end().ends_with('-'), "{row}");

    let again = run(&["keys", "revoke", &id, "--database-url", &db], &[]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("no active key"),
        "{}",
        text(&again.stderr)
    );
    assert!(server.stop().success());
}

#[test]
fn a_live_key_can_be_made_but_then_serve_refuses_until_it_is_revoked() {
    let dir = TempDir::new("live-key");
    let db = dir.db_url();
    let created = run(
        &["keys", "create", "--mode", "live", "--database-url", &db],
        &[],
    );
    assert!(created.status.success());
    let out = text(&created.stdout);
    assert!(secret_keys(&out)[0].starts_with("sk_live_"), "{out}");
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .trim_end_matches('.')
        .to_owned();

    let refused = run(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &db],
        &[],
    );
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains(&id) && err.contains("no live card network"),
        "{err}"
    );

    assert!(
        run(&["keys", "revoke", &id, "--database-url", &db], &[])
            .status
            .success()
    );
    let server = Server::start(&db, &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    assert!(server.stop().success());
}

/// Attaches 4242 to a new customer; returns (customer, method).
#[allow(clippy::unwrap_used)] // A helper of the tests: failing fails the test.
fn customer_with_card(server: &Server) -> (String, String) {
    let customer = server.post_json("/v1/customers", OPERATOR_KEY, &json!({"name": "Ada"}));
    assert_eq!(customer.status, 200, "{}", customer.body);
    let customer = customer.json()["id"].as_str().unwrap().to_owned();
    let method = server.post_json(
        &format!("/v1/test_helpers/customers/{customer}/methods"),
        OPERATOR_KEY,
        &json!({"number": "4242424242424242", "expMonth": 12, "expYear": 2034}),
    );
    assert_eq!(method.status, 200, "{}", method.body);
    (customer, method.json()["id"].as_str().unwrap().to_owned())
}

#[allow(clippy::unwrap_used)] // A helper of the tests: failing fails the test.
fn charge(server: &Server, customer: &str, method: &str) -> serde_json::Value {
    let paid = server.post_json(
        "/v1/payments",
        OPERATOR_KEY,
        &json!({"amount": 2500, "currency": "EUR", "customerId": customer,
                "paymentMethodId": method, "offSession": true}),
    );
    assert_eq!(paid.status, 200, "{}", paid.body);
    paid.json()
}

#[allow(clippy::unwrap_used)] // A helper of the tests: failing fails the test.
fn key_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("key "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn vault_rotate_runs_online_and_cards_still_charge() {
    let dir = TempDir::new("rotate");
    let db = dir.db_url();
    let server = Server::start(&db, &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    let (customer, method) = customer_with_card(&server);
    let before = key_lines(&dir.key_file());
    assert_eq!(before.len(), 1);

    let rotated = run(&["vault", "rotate", "--database-url", &db], &[]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let out = text(&rotated.stdout);
    assert!(out.contains("Re-encrypted 1 card(s)"), "{out}");
    let after = key_lines(&dir.key_file());
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    #[cfg(unix)]
    assert_eq!(common::mode_of(&dir.key_file()), 0o600);

    // The running server follows the key file: the card still charges, and a new card is
    // sealed with the new key.
    assert_eq!(charge(&server, &customer, &method)["status"], "succeeded");
    let (customer2, method2) = customer_with_card(&server);
    assert!(server.stop().success());

    let again = Server::start(&db, &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    assert_eq!(charge(&again, &customer, &method)["status"], "succeeded");
    assert_eq!(charge(&again, &customer2, &method2)["status"], "succeeded");
    assert!(again.stop().success());

    // A second rotation moves both cards again, onto its own new key.
    let rotated = run(&["vault", "rotate", "--database-url", &db], &[]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("Re-encrypted 2 card(s)"),
        "{}",
        text(&rotated.stdout)
    );
}

#[test]
fn vault_rotate_with_env_keys_explains_the_procedure_and_reencrypts() {
    let dir = TempDir::new("rotate-env");
    let db = dir.db_url();
    let old = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 bytes of 1
    let new = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 bytes of 2
    let server = Server::start(
        &db,
        &[],
        &[("VINR_SECRET_KEY", OPERATOR_KEY), ("VINR_VAULT_KEY", old)],
    );
    let (customer, method) = customer_with_card(&server);
    assert!(server.stop().success());

    let both = format!("{new},{old}");
    let rotated = run(
        &["vault", "rotate", "--database-url", &db],
        &[("VINR_VAULT_KEY", &both)],
    );
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let out = text(&rotated.stdout);
    assert!(
        out.contains("put it first") && out.contains("Re-encrypted 1 card(s)"),
        "{out}"
    );
    assert!(!out.contains(old) && !out.contains(new));
    assert!(!dir.key_file().exists());

    let server = Server::start(
        &db,
        &[],
        &[("VINR_SECRET_KEY", OPERATOR_KEY), ("VINR_VAULT_KEY", &both)],
    );
    assert_eq!(charge(&server, &customer, &method)["status"], "succeeded");
    assert!(server.stop().success());
}

#[test]
fn migrate_applies_the_schema_and_exits_0() {
    let dir = TempDir::new("migrate");
    let db = dir.db_url();
    let out = run(&["migrate", "--database-url", &db], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("schema version") && said.contains(&db),
        "{said}"
    );
    assert!(dir.db_path().exists());
    // Idempotent.
    let again = run(&["migrate", "--database-url", &db], &[]);
    assert!(again.status.success());
    assert_eq!(text(&again.stdout), said);
    let bad = run(&["migrate", "--database-url", "mysql://x"], &[]);
    assert!(!bad.status.success());
}

#[test]
fn the_help_names_every_flag_and_variable_of_the_contract() {
    let out = run(&["serve", "--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--listen",
        "VINR_LISTEN",
        "--database-url",
        "VINR_DATABASE_URL",
        "--public-url",
        "VINR_PUBLIC_URL",
        "--webhook-retry",
        "VINR_WEBHOOK_RETRY",
        "--log-format",
        "--vault-key-file",
    ] {
        assert!(help.contains(flag), "{flag} missing from: {help}");
    }
    let top = text(&run(&["--help"], &[]).stdout);
    for var in [
        "VINR_SECRET_KEY",
        "VINR_VAULT_KEY",
        "VINR_FINGERPRINT_KEY",
        "RUST_LOG",
    ] {
        assert!(top.contains(var), "{var} missing from: {top}");
    }
    // The database URL's value (a password, maybe) is never shown by the help.
    let out = run(
        &["serve", "--help"],
        &[("VINR_DATABASE_URL", "postgres://u:hunter2@h/d")],
    );
    assert!(!text(&out.stdout).contains("hunter2"));
}
