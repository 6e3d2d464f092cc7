#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The HTTP client against the real server (`vinr_http::server`) over a real engine, spawned on
//! `127.0.0.1:0`, driven through `vinr::Vinr`: the seed flows, hosted pages included, and the
//! contract's errors and idempotency, end to end. (Needs the `server` feature.)
#![cfg(feature = "server")]

use std::sync::Arc;

use sha2::{Digest, Sha256};
use vinr::{
    CardEntry, CardErrorCode, ChallengeOutcome, CreateCustomer, CreatePayment, DeclineCode, Error,
    HostedOutcome, HostedStage, HttpClient, ListCustomers, PaymentStatus, RequestContext,
    SetupStatus, UpdateCustomer, Vinr,
};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::{AppState, ServerConfig, router, serve};
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::{Mode, ReplayProbe};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

const SECRET: &str = "sk_test_ClientEndToEnd0123456789abcdefgh";
const RETURN_URL: &str = "https://shop.example/wallet/saved?from=app";

/// A running server and a `Vinr` talking to it over HTTP.
struct Running {
    vinr: Vinr,
    base: String,
    network: SandboxNetwork,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = MemoryStore::new();
    store
        .insert_key(ApiKeyRecord {
            id: "key_client_test".into(),
            mode: Mode::Test,
            hash: sha256_hex(SECRET),
            prefix: SECRET[..12].into(),
            created: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
            revoked: None,
        })
        .await
        .unwrap();
    let network = SandboxNetwork::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(network.clone()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::new(7)),
        },
        EngineConfig {
            public_url: base.clone(),
            ..EngineConfig::default()
        },
    );
    let state = AppState::new(
        engine,
        Arc::new(store),
        ServerConfig {
            public_url: base.clone(),
            csrf_key: [7u8; 32],
            rate_limit: None,
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router(state), async move {
        stopped.await.ok();
    }));
    Running {
        vinr: Vinr::with_base_url(SECRET, &base).unwrap(),
        base,
        network,
        stop: Some(stop),
        task,
    }
}

fn card(number: &str) -> CardEntry {
    CardEntry {
        name: Some("Ada Lovelace".into()),
        ..CardEntry::new(number, "12/34", "123")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flow_runs_over_http() {
    let server = start().await;
    let vinr = &server.vinr;

    // A customer, found again by email.
    let ada = vinr
        .customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            metadata: Some([("internalId".to_owned(), "user_8821".to_owned())].into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(ada.id.as_str().starts_with("cust_"));
    let found = vinr
        .customers()
        .list(ListCustomers {
            email: Some("ADA@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, ada.id);

    // Saving 4242 through the hosted page, as the buyer's browser does.
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .unwrap();
    assert_eq!(
        setup.checkout_url,
        format!("{}/hosted/setup/{}", server.base, setup.id)
    );
    let view = vinr.hosted().setup_page(&setup.id).await.unwrap();
    assert_eq!(view.stage, HostedStage::CollectCard);
    assert!(!view.livemode);
    assert_eq!(view.last_error, None);
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card("4242 4242 4242 4242"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        HostedOutcome::Redirect {
            url: format!(
                "https://shop.example/wallet/saved?from=app&setup={}&status=succeeded",
                setup.id
            )
        }
    );
    assert!(matches!(
        vinr.hosted().setup_page(&setup.id).await,
        Err(Error::Gone { .. })
    ));

    // The saved method.
    let methods = vinr.customers().list_methods(&ada.id).await.unwrap();
    assert_eq!(methods.data.len(), 1);
    let pm = &methods.data[0];
    assert_eq!(pm.last4, "4242");
    assert_eq!((pm.exp_month, pm.exp_year), (12, 2034));
    let done = vinr.setups().retrieve(&setup.id).await.unwrap();
    assert_eq!(done.status, SetupStatus::Succeeded);
    assert_eq!(done.payment_method_id.as_ref(), Some(&pm.id));

    // Default method, then an off-session charge on it.
    let ada = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm.id.clone())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ada.default_method_id.as_ref(), Some(&pm.id));
    let payment = vinr
        .payments()
        .create(CreatePayment {
            amount: 2500,
            currency: "eur".into(),
            customer_id: Some(ada.id.clone()),
            off_session: true,
            description: Some("Order #4471".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.payment_method_id.as_ref(), Some(&pm.id));
    assert_eq!(
        server.network.approved_charges(),
        1,
        "one charge, never two"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_declines_and_the_hosted_payment_page_over_http() {
    let server = start().await;
    let vinr = &server.vinr;
    let ada = vinr.customers().create(Default::default()).await.unwrap();

    // A declined card on the setup page: the alert, and the page says why afterwards.
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .unwrap();
    let retry = vinr
        .hosted()
        .submit_setup_card(&setup.id, card("4000 0000 0000 0002"))
        .await
        .unwrap();
    let HostedOutcome::Retry { message } = retry else {
        panic!("expected a retry, got {retry:?}");
    };
    assert!(message.contains("declined"), "{message}");
    let view = vinr.hosted().setup_page(&setup.id).await.unwrap();
    assert_eq!(view.last_error.as_deref(), Some(message.as_str()));

    // 3220 on the same setup: a challenge, failed once (back to the card page), then passed.
    let challenge = vinr
        .hosted()
        .submit_setup_card(&setup.id, card("4000000000003220"))
        .await
        .unwrap();
    assert_eq!(
        challenge,
        HostedOutcome::Challenge {
            url: format!("{}/hosted/authenticate/{}", server.base, setup.id)
        }
    );
    assert_eq!(
        vinr.hosted().setup_page(&setup.id).await.unwrap().stage,
        HostedStage::Authenticate
    );
    let back = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Fail)
        .await
        .unwrap();
    assert_eq!(
        back,
        HostedOutcome::Redirect {
            url: setup.checkout_url.clone()
        }
    );
    vinr.hosted()
        .submit_setup_card(&setup.id, card("4000000000003220"))
        .await
        .unwrap();
    let saved = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
        .await
        .unwrap();
    assert!(
        matches!(&saved, HostedOutcome::Redirect { url } if url.ends_with("status=succeeded")),
        "{saved:?}"
    );
    let pm = vinr
        .setups()
        .retrieve(&setup.id)
        .await
        .unwrap()
        .payment_method_id
        .unwrap();

    // 3220 off-session: requires_action, then the buyer completes it on the challenge page.
    let pending = vinr
        .payments()
        .create(CreatePayment {
            amount: 1000,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            payment_method_id: Some(pm.clone()),
            off_session: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.status, PaymentStatus::RequiresAction);
    assert_eq!(
        pending.next_action.as_ref().map(|a| a.url.clone()),
        Some(format!(
            "{}/hosted/authenticate/{}",
            server.base, pending.id
        ))
    );
    assert_eq!(
        vinr.hosted().payment_page(&pending.id).await.unwrap().stage,
        HostedStage::Authenticate
    );
    let finished = vinr
        .hosted()
        .authenticate_payment(&pending.id, ChallengeOutcome::Complete)
        .await
        .unwrap();
    assert!(
        matches!(finished, HostedOutcome::Done { .. }),
        "{finished:?}"
    );
    assert_eq!(
        vinr.payments().retrieve(&pending.id).await.unwrap().status,
        PaymentStatus::Succeeded
    );

    // An on-session payment with no method: the hosted payment page.
    let open = vinr
        .payments()
        .create(CreatePayment {
            amount: 2500,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            description: Some("Order #4471 & co".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.status, PaymentStatus::RequiresPaymentMethod);
    let view = vinr.hosted().payment_page(&open.id).await.unwrap();
    assert_eq!(view.stage, HostedStage::CollectCard);
    assert_eq!(view.amount.as_deref(), Some("25.00 EUR"));
    assert_eq!(view.description.as_deref(), Some("Order #4471 & co"));
    let paid = vinr
        .hosted()
        .submit_payment_card(&open.id, card("5555 5555 5555 4444"))
        .await
        .unwrap();
    assert!(matches!(paid, HostedOutcome::Done { .. }), "{paid:?}");
    assert!(matches!(
        vinr.hosted().payment_page(&open.id).await,
        Err(Error::Gone { .. })
    ));

    // An off-session decline: 402 with the failed payment's id.
    let bad = vinr
        .test_helpers()
        .attach_card(&ada.id, "4000000000009995", 12, 2034)
        .await
        .unwrap();
    let err = vinr
        .payments()
        .create(CreatePayment {
            amount: 700,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            payment_method_id: Some(bad.id.clone()),
            off_session: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let Error::Card {
        code,
        decline_code,
        payment_id: Some(failed),
        ..
    } = err
    else {
        panic!("expected a card error with a payment id, got {err:?}");
    };
    assert_eq!(code, CardErrorCode::CardDeclined);
    assert_eq!(decline_code, Some(DeclineCode::InsufficientFunds));
    assert_eq!(
        vinr.payments().retrieve(&failed).await.unwrap().status,
        PaymentStatus::Failed
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_idempotent_replays_over_http() {
    let server = start().await;
    let vinr = &server.vinr;

    // The same typed errors as in-process.
    let unknown = "cust_000000000000000000000000".parse().unwrap();
    assert!(matches!(
        vinr.customers().retrieve(&unknown).await,
        Err(Error::NotFound { .. })
    ));
    let err = vinr
        .customers()
        .create(CreateCustomer {
            email: Some("not an email".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest { param: Some(p), .. } if p == "email"),
        "{err:?}"
    );
    let stranger =
        Vinr::with_base_url("sk_test_NobodyHasThisKey0123456789abcdef", &server.base).unwrap();
    assert!(matches!(
        stranger.customers().create(Default::default()).await,
        Err(Error::Authentication { .. })
    ));

    // One key, two calls: one customer, and the second says it replayed.
    let client = Arc::new(HttpClient::new(&server.base, SECRET).unwrap());
    let with_probe = |probe: &ReplayProbe| {
        Vinr::from_api(
            client.clone(),
            RequestContext {
                replay: Some(probe.clone()),
                ..RequestContext::sandbox().with_idempotency_key("signup-8821")
            },
        )
    };
    let (first, second) = (ReplayProbe::default(), ReplayProbe::default());
    let a = with_probe(&first)
        .customers()
        .create(Default::default())
        .await
        .unwrap();
    let b = with_probe(&second)
        .customers()
        .create(Default::default())
        .await
        .unwrap();
    assert_eq!(a, b);
    assert!(!first.replayed());
    assert!(second.replayed());
    // The same key with another body: 422.
    let err = with_probe(&ReplayProbe::default())
        .customers()
        .create(CreateCustomer {
            name: Some("Someone else".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdempotencyKeyReused);

    server.stop().await;
}
