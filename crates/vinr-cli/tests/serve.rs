//! `vinr serve`, run as the built binary on a temporary SQLite database.

mod common;

use common::{Server, TempDir, mode_of, run, save_card_on_hosted_page, secret_keys, text};
use serde_json::json;

const OPERATOR_KEY: &str = "sk_test_acceptance_4f1c2b7a9d0e4c3b8a6f5e1d2c3b4a59";

#[test]
fn a_first_start_prints_one_test_key_that_works_and_data_outlives_a_restart() {
    let dir = TempDir::new("first-start");
    let server = Server::start(&dir.db_url(), &[], &[]);
    let printed = secret_keys(&server.stdout_text());
    assert_eq!(printed.len(), 1, "{}", server.stdout_text());
    let key = printed[0].clone();
    assert!(key.starts_with("sk_test_"), "{key}");
    assert_eq!(secret_keys(&server.stderr_text()), Vec::<String>::new());

    assert_eq!(server.get("/healthz", None).status, 200);
    let ready = server.get("/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(server.get("/v1/customers", None).status, 401);
    let created = server.post_json("/v1/customers", &key, &json!({"email": "ada@example.com"}));
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();

    #[cfg(unix)]
    assert_eq!(mode_of(&dir.key_file()), 0o600);
    let status = server.stop();
    assert!(status.success(), "{status:?}");

    let again = Server::start(&dir.db_url(), &[], &[]);
    assert_eq!(secret_keys(&again.stdout_text()), Vec::<String>::new());
    assert_eq!(
        again.stdout_text().lines().count(),
        1,
        "{}",
        again.stdout_text()
    );
    let found = again.get(&format!("/v1/customers/{id}"), Some(&key));
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.json()["email"], "ada@example.com");
    assert!(again.stop().success());
}

#[test]
fn sigint_stops_it_gracefully_too() {
    let dir = TempDir::new("sigint");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    let created = server.post_json("/v1/customers", OPERATOR_KEY, &json!({"name": "Grace"}));
    assert_eq!(created.status, 200, "{}", created.body);
    let status = server.stop_with("INT");
    assert!(status.success(), "{status:?}");
    assert!(dir.db_path().exists());
}

#[test]
fn json_logs_are_json_lines() {
    let dir = TempDir::new("json");
    let server = Server::start(
        &dir.db_url(),
        &["--log-format", "json"],
        &[("VINR_SECRET_KEY", OPERATOR_KEY)],
    );
    assert_eq!(server.get("/healthz", None).status, 200);
    let stderr = server.stderr.clone();
    assert!(server.stop().success());
    let stderr = stderr.lock().unwrap().join("\n");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line: {stderr}"));
    assert_eq!(request["path"], "/healthz");
    assert_eq!(request["status"], 200);
    assert!(request["request_id"].is_string());
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
}

#[test]
fn an_operator_key_authenticates_and_is_never_printed() {
    let dir = TempDir::new("operator-key");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    assert_eq!(secret_keys(&server.stdout_text()), Vec::<String>::new());
    let created = server.post_json(
        "/v1/customers",
        OPERATOR_KEY,
        &json!({"email": "ada@example.com"}),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let other = format!("{}0", &OPERATOR_KEY[..OPERATOR_KEY.len() - 1]);
    assert_eq!(server.get("/v1/customers", Some(&other)).status, 401);
    assert!(server.stop().success());

    // A restart with the same key stores nothing new and still accepts it.
    let again = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    assert_eq!(again.get("/v1/customers", Some(OPERATOR_KEY)).status, 200);
    assert!(again.stop().success());
    let listed = run(&["keys", "list", "--database-url", &dir.db_url()], &[]);
    assert_eq!(
        text(&listed.stdout).matches("key_").count(),
        1,
        "{}",
        text(&listed.stdout)
    );
}

#[test]
fn the_log_of_a_run_that_saved_a_card_holds_no_card_number_and_no_key() {
    let dir = TempDir::new("log-leak");
    let server = Server::start(&dir.db_url(), &[], &[("VINR_SECRET_KEY", OPERATOR_KEY)]);
    let created = server.post_json("/v1/customers", OPERATOR_KEY, &json!({}));
    let customer = created.json()["id"].as_str().unwrap().to_owned();
    for number in ["4242424242424242", "4000000000000002", "4000000000003220"] {
        let answer = save_card_on_hosted_page(&server, OPERATOR_KEY, &customer, number);
        assert!(!answer.body.contains(number));
    }
    let stdout = server.stdout.clone();
    let stderr = server.stderr.clone();
    assert!(server.stop().success());
    let log = format!(
        "{}\n{}",
        stdout.lock().unwrap().join("\n"),
        stderr.lock().unwrap().join("\n")
    );
    assert!(log.contains("request"), "{log}");
    for number in ["4242424242424242", "4000000000000002", "4000000000003220"] {
        assert!(!log.contains(number), "{number} in the log");
    }
    assert!(!log.contains(OPERATOR_KEY), "the secret key is in the log");
    assert!(!log.contains(&OPERATOR_KEY["sk_test_".len()..]));
}

#[test]
fn a_bad_database_url_is_refused_clearly() {
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "mysql://root:hunter2@db/vinr",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("mysql://") && err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(text(&out.stdout).is_empty());

    let dir = TempDir::new("missing-dir");
    let url = format!("sqlite://{}", dir.0.join("no/such/dir/vinr.db").display());
    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn postgres_without_vault_keys_is_refused_before_connecting() {
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://vinr:hunter2@127.0.0.1:1/vinr",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("VINR_VAULT_KEY") && err.contains("--vault-key-file"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn an_unreachable_postgres_is_reported_without_its_password() {
    let out = run(
        &[
            "migrate",
            "--database-url",
            "postgres://vinr:hunter2@127.0.0.1:1/vinr",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("PostgreSQL") && err.contains("vinr:***@127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn live_mode_is_refused_because_there_is_no_live_card_network() {
    let dir = TempDir::new("live");
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &dir.db_url(),
        ],
        &[("VINR_SECRET_KEY", "sk_live_0123456789abcdefABCDEF")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("live mode is not available") && err.contains("no live card network"),
        "{err}"
    );
    assert!(err.contains("VINR_VAULT_KEY"), "{err}");
    assert!(!err.contains("0123456789abcdef"), "{err}");
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let dir = TempDir::new("settings");
    for (args, env, says) in [
        (vec!["--webhook-retry", "1s,0s"], vec![], "at least 1s"),
        (vec!["--webhook-retry", "2d,2d"], vec![], "3 days"),
        (vec!["--public-url", "pay.example.com"], vec![], "http://"),
        (
            vec![],
            vec![("VINR_SECRET_KEY", "sk_test_short")],
            "at least 16",
        ),
        (
            vec![],
            vec![("VINR_VAULT_KEY", "bm90IDMyIGJ5dGVz")],
            "32 bytes",
        ),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--database-url"];
        let url = dir.db_url();
        all.push(&url);
        all.extend(args);
        let out = run(&all, &env);
        assert!(!out.status.success(), "{all:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(!err.contains("sk_test_short"), "{err}");
    }
}

#[test]
fn a_vault_key_from_the_environment_makes_no_key_file() {
    let dir = TempDir::new("env-vault");
    // base64 of 32 bytes of 7.
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let server = Server::start(
        &dir.db_url(),
        &[],
        &[("VINR_SECRET_KEY", OPERATOR_KEY), ("VINR_VAULT_KEY", key)],
    );
    let customer = server.post_json("/v1/customers", OPERATOR_KEY, &json!({}));
    let customer = customer.json()["id"].as_str().unwrap().to_owned();
    let saved = save_card_on_hosted_page(&server, OPERATOR_KEY, &customer, "5555555555554444");
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(!dir.key_file().exists());
    let log = server.stderr_text();
    assert!(!log.contains(key));
    assert!(server.stop().success());
}
