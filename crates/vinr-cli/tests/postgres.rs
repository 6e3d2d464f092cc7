//! `vinr` on PostgreSQL, when `VINR_TEST_POSTGRES_URL` names a database (as `vinr-store`'s
//! PostgreSQL tests: unset, the test says so and passes, unless `CI=true`, where it fails).
//! The test works in a schema of its own (`vinr_cli_t_<random>`, through the URL's
//! `options=-c search_path=…`), dropped at the end.

// The helpers below fail the test, as an assertion would, when the database misbehaves.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::postgres::{Schema, postgres_url};
use common::{Server, TempDir, run, secret_keys, text};
use serde_json::json;

const OLD: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const NEW: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

#[test]
fn serve_keys_vault_and_migrate_run_on_postgres() {
    let Some(base) = postgres_url() else { return };
    let schema = Schema::new(&base, "vinr_cli_t");
    let db = schema.url();

    let migrated = run(&["migrate", "--database-url", &db], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(
        text(&migrated.stdout).contains("schema version"),
        "{}",
        text(&migrated.stdout)
    );

    // No vault key: refused; with one: a first start prints one key.
    let refused = run(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &db],
        &[],
    );
    assert!(!refused.status.success());
    let server = Server::start(&db, &[], &[("VINR_VAULT_KEY", OLD)]);
    let keys = secret_keys(&server.stdout_text());
    assert_eq!(keys.len(), 1, "{}", server.stdout_text());
    let key = keys[0].clone();
    let customer = server.post_json("/v1/customers", &key, &json!({"name": "Ada"}));
    assert_eq!(customer.status, 200, "{}", customer.body);
    let customer = customer.json()["id"].as_str().unwrap().to_owned();
    let method = server.post_json(
        &format!("/v1/test_helpers/customers/{customer}/methods"),
        &key,
        &json!({"number": "4242424242424242", "expMonth": 12, "expYear": 2034}),
    );
    assert_eq!(method.status, 200, "{}", method.body);
    let method = method.json()["id"].as_str().unwrap().to_owned();
    assert!(server.stop().success());

    let listed = text(&run(&["keys", "list", "--database-url", &db], &[]).stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");

    let both = format!("{NEW},{OLD}");
    let rotated = run(
        &["vault", "rotate", "--database-url", &db],
        &[("VINR_VAULT_KEY", &both)],
    );
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("Re-encrypted 1 card(s)"),
        "{}",
        text(&rotated.stdout)
    );

    let server = Server::start(&db, &[], &[("VINR_VAULT_KEY", &both)]);
    assert!(secret_keys(&server.stdout_text()).is_empty());
    let paid = server.post_json(
        "/v1/payments",
        &key,
        &json!({"amount": 2500, "currency": "EUR", "customerId": customer,
                "paymentMethodId": method, "offSession": true}),
    );
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.json()["status"], "succeeded");
    assert!(server.stop().success());

    // A key file instead of VINR_VAULT_KEY: made on first use, private.
    let dir = TempDir::new("pg-key-file");
    let file = dir.0.join("pg.vaultkey");
    let file_arg = file.display().to_string();
    let server = Server::start(&db, &["--vault-key-file", &file_arg], &[]);
    assert!(file.exists());
    #[cfg(unix)]
    assert_eq!(common::mode_of(&file), 0o600);
    assert!(server.stop().success());
}
