//! A real browser on the hosted pages: headless Chromium driven over WebDriver (`chromedriver`
//! and `fantoccini`) against a server started with `vinr_http::server::serve` on a free port.
//!
//! It types 4242 4242 4242 4242 into a setup's `checkoutUrl`, submits and lands on the
//! `returnUrl` (a tiny merchant route on another local listener); then takes 4000 0000 0000 3220
//! through the challenge page (`complete`); then a declined card (4000 0000 0000 0002) shows its
//! `role="alert"`. Screenshots go to `target/e2e/`. Without `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` it prints a notice and passes, except under `CI=true`, where it fails.
#![cfg(feature = "server")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use vinr_domain::ids::SetupId;
use vinr_domain::setup::{Setup, SetupStatus};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::{AppState, ServerConfig, router, serve};
use vinr_ports::RequestContext;
use vinr_ports::api::{CustomersApi, SetupsApi};
use vinr_ports::params::{CreateCustomer, CreateSetup};
use vinr_sandbox::{ManualClock, SandboxNetwork};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(20);

/// Whether the browser and its driver are installed; under `CI=true` their absence fails.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the browser test needs {} (Debian packages `chromium` and `chromium-driver`); \
             under CI=true it may not skip",
            missing.join(" and ")
        );
    }
    println!(
        "NOTICE: browser test skipped: {} missing (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    false
}

/// `chromedriver`, ended when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> (Driver, String) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < WAIT,
            "chromedriver did not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, format!("http://{addr}"))
}

async fn connect(webdriver: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--window-size=390,844",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a WebDriver session with headless Chromium")
}

/// The server under test, on a free port, with its engine.
struct App {
    base: String,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_app() -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = MemoryStore::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(vinr_store::ids::OsRandomIds::new()),
        },
        EngineConfig {
            public_url: base.clone(),
            ..EngineConfig::default()
        },
    );
    let mut csrf_key = [0u8; 32];
    csrf_key
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8 ^ 0x5a);
    let state = AppState::new(
        engine,
        Arc::new(store),
        ServerConfig {
            public_url: base.clone(),
            csrf_key,
            rate_limit: None,
        },
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, router(state.clone()), async move {
        let _ = rx.await;
    }));
    App {
        base,
        state,
        stop: Some(tx),
        served,
    }
}

/// The merchant's site: `/done` says the buyer is back.
async fn start_merchant() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/done",
        get(|| async {
            Html(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Merchant</title></head><body><h1 id=\"merchant\">Back at the shop</h1>\
                 </body></html>",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn e2e_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(e2e_dir().join(name), png).unwrap();
}

/// Waits until the browser's URL starts with `prefix`; returns it.
async fn wait_for_url(client: &Client, prefix: &str) -> String {
    let started = Instant::now();
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        assert!(
            started.elapsed() < WAIT,
            "the browser stayed on {url}, expected {prefix}…; page: {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn new_setup(state: &AppState, return_url: &str) -> Setup {
    let ctx = RequestContext::sandbox();
    let customer = state
        .engine()
        .create_customer(&ctx, CreateCustomer::default())
        .await
        .unwrap();
    state
        .engine()
        .create_setup(
            &ctx,
            &customer.id,
            CreateSetup {
                return_url: return_url.to_owned(),
            },
        )
        .await
        .unwrap()
}

async fn setup_status(state: &AppState, id: &SetupId) -> SetupStatus {
    state
        .engine()
        .retrieve_setup(&RequestContext::sandbox(), id)
        .await
        .unwrap()
        .status
}

/// Types a card into the form on screen, as a person would, and submits it.
async fn type_card(client: &Client, number: &str) {
    for (name, value) in [
        ("number", number),
        ("expiry", "12/34"),
        ("cvc", "123"),
        ("name", "Ada Lovelace"),
    ] {
        let input = client
            .find(Locator::Css(&format!("input[name=\"{name}\"]")))
            .await
            .unwrap();
        input.send_keys(value).await.unwrap();
    }
    client
        .find(Locator::Css("form button[type=\"submit\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn flows(client: Client, state: AppState, merchant: String) {
    // 1. 4242: the form, typed and submitted, lands on the returnUrl.
    let return_url = format!("{merchant}/done?flow=visa");
    let setup = new_setup(&state, &return_url).await;
    client.goto(&setup.checkout_url).await.unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("main[data-stage=\"collect_card\"]"))
        .await
        .unwrap();
    // The stylesheet loaded under the CSP: the button wears its colour.
    let background = client
        .execute(
            "return getComputedStyle(document.querySelector('button')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        background,
        json!("rgb(29, 78, 216)"),
        "the stylesheet applies"
    );
    screenshot(&client, "01-setup-form.png").await;
    type_card(&client, "4242 4242 4242 4242").await;
    let landed = wait_for_url(&client, &return_url).await;
    assert!(
        landed.ends_with(&format!("&setup={}&status=succeeded", setup.id)),
        "{landed}"
    );
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("merchant"))
        .await
        .unwrap();
    screenshot(&client, "02-returned-to-merchant.png").await;
    assert_eq!(
        setup_status(&state, &setup.id).await,
        SetupStatus::Succeeded
    );

    // 2. 3220: the challenge page, `complete`, then the returnUrl.
    let return_url = format!("{merchant}/done?flow=3ds");
    let setup = new_setup(&state, &return_url).await;
    client.goto(&setup.checkout_url).await.unwrap();
    type_card(&client, "4000 0000 0000 3220").await;
    let challenge = wait_for_url(
        &client,
        &format!("{}/hosted/authenticate/", state.config().public_url),
    )
    .await;
    assert!(challenge.ends_with(setup.id.as_str()), "{challenge}");
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("main[data-stage=\"authenticate\"]"))
        .await
        .unwrap();
    screenshot(&client, "03-challenge.png").await;
    client
        .find(Locator::Css("button[name=\"outcome\"][value=\"complete\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let landed = wait_for_url(&client, &return_url).await;
    assert!(landed.ends_with("&status=succeeded"), "{landed}");
    assert_eq!(
        setup_status(&state, &setup.id).await,
        SetupStatus::Succeeded
    );

    // 3. 0002: declined, the form again with its alert, the number not in the page.
    let setup = new_setup(&state, &format!("{merchant}/done?flow=declined")).await;
    client.goto(&setup.checkout_url).await.unwrap();
    type_card(&client, "4000 0000 0000 0002").await;
    let alert = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[role=\"alert\"]"))
        .await
        .unwrap();
    let text = alert.text().await.unwrap();
    assert!(text.to_lowercase().contains("declined"), "{text}");
    let source = client.source().await.unwrap();
    assert!(!source.contains("4000 0000 0000 0002") && !source.contains("4000000000000002"));
    let number = client
        .find(Locator::Css("input[name=\"number\"]"))
        .await
        .unwrap();
    assert_eq!(number.prop("value").await.unwrap().as_deref(), Some(""));
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with(setup.id.as_str())
    );
    screenshot(&client, "04-declined.png").await;
    assert_eq!(
        setup_status(&state, &setup.id).await,
        SetupStatus::RequiresPaymentMethod
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_saves_cards_through_the_hosted_pages() {
    let started = Instant::now();
    if !browser_installed() {
        return;
    }
    let mut app = start_app().await;
    let merchant = start_merchant().await;
    let (driver, webdriver) = start_driver().await;
    let profile = std::env::temp_dir().join(format!(
        "vinr-e2e-chromium-{}-{}",
        std::process::id(),
        free_port()
    ));
    let client = connect(&webdriver, &profile).await;

    // The flows run in their own task so that a failed assertion still closes the browser.
    let outcome = tokio::spawn(flows(client.clone(), app.state.clone(), merchant)).await;
    let closed = client.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    if let Some(stop) = app.stop.take() {
        let _ = stop.send(());
    }
    let served = tokio::time::timeout(WAIT, &mut app.served).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    closed.expect("the browser session closes");
    served
        .expect("the server stops on shutdown")
        .unwrap()
        .expect("the server ran cleanly");
    println!(
        "browser test ({}) took {:.2} s; screenshots in {}",
        app.base,
        started.elapsed().as_secs_f64(),
        e2e_dir().display()
    );
}
