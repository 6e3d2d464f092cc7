//! Vault key rotation through the engine: cards sealed under an old key still work while the
//! rotation runs, every card moves to the new key, and a vault without the key fails cleanly.

use std::sync::Arc;

use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::api::{CustomersApi, HostedApi, PaymentsApi, SandboxApi, SetupsApi};
use vinr_ports::params::{
    AttachTestCard, CardEntry, CreateCustomer, CreatePayment, CreateSetup, HostedOutcome,
};
use vinr_ports::store::Store;
use vinr_ports::vault::CardVault;
use vinr_ports::{Error, RequestContext};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::{AesVault, VaultKey};

/// An engine over a shared store, ids and network (the network is one, outside the engines).
fn engine(store: &MemoryStore, vault: AesVault, ids: &SequentialIds) -> Engine {
    static NETWORK: std::sync::OnceLock<SandboxNetwork> = std::sync::OnceLock::new();
    Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(vault),
            network: Arc::new(NETWORK.get_or_init(SandboxNetwork::new).clone()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(ids.clone()),
        },
        EngineConfig::default(),
    )
}

fn charge(
    customer: &vinr_domain::ids::CustomerId,
    pm: &vinr_domain::ids::PaymentMethodId,
) -> CreatePayment {
    CreatePayment {
        amount: 1200,
        currency: "EUR".into(),
        customer_id: Some(customer.clone()),
        payment_method_id: Some(pm.clone()),
        off_session: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn rotation_moves_every_card_and_old_cards_work_meanwhile() {
    let store = MemoryStore::new();
    let ids = SequentialIds::new(3);
    let fingerprint_key = [9u8; 32];
    let old_key = VaultKey::new("old", [1; 32]);
    let new_key = VaultKey::new("new", [2; 32]);
    let before = engine(
        &store,
        AesVault::new(old_key.clone(), fingerprint_key),
        &ids,
    );
    let ctx = RequestContext::sandbox();

    let ada = before
        .create_customer(&ctx, CreateCustomer::default())
        .await
        .unwrap();
    let mut methods = Vec::new();
    for number in [
        "4242424242424242",
        "5555555555554444",
        "378282246310005",
        "4000000000003055",
    ] {
        let params = AttachTestCard {
            number: number.into(),
            exp_month: 12,
            exp_year: 2034,
            cvc: None,
        };
        methods.push(
            before
                .attach_test_card(&ctx, &ada.id, params)
                .await
                .unwrap(),
        );
    }
    // A card waiting on a challenge is sealed too, in the setup.
    let setup = before
        .create_setup(
            &ctx,
            &ada.id,
            CreateSetup {
                return_url: "https://m.example/r".into(),
            },
        )
        .await
        .unwrap();
    let out = before
        .submit_setup_card(
            &setup.id,
            CardEntry::new("4000000000003220", "12/34", "123"),
        )
        .await
        .unwrap();
    assert!(matches!(out, HostedOutcome::Challenge { .. }));

    // The rotating vault: the new key seals, the old one still opens.
    let rotating = AesVault::new(new_key.clone(), fingerprint_key)
        .with_key(old_key.clone())
        .unwrap();
    let during = engine(&store, rotating, &ids);
    let paid = during
        .create_payment(&ctx, charge(&ada.id, &methods[0].id))
        .await
        .unwrap();
    assert_eq!(paid.status, vinr_domain::payment::PaymentStatus::Succeeded);

    let moved = during.reencrypt_cards().await.unwrap();
    assert_eq!(moved, 5, "four methods and the pending setup card");
    assert!(
        store
            .cards_sealed_with_other_keys("new", 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        during.reencrypt_cards().await.unwrap(),
        0,
        "a second run finds nothing to do"
    );

    // Only the new key now: everything still works, versions untouched, fingerprints equal.
    let after = engine(&store, AesVault::new(new_key, fingerprint_key), &ids);
    for m in &methods {
        let stored = store
            .method(vinr_ports::Mode::Test, &m.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.sealed.key_id, "new");
        assert_eq!(
            stored.method.version, m.version,
            "re-encryption is not a change"
        );
        let p = after
            .create_payment(&ctx, charge(&ada.id, &m.id))
            .await
            .unwrap();
        assert_eq!(p.status, vinr_domain::payment::PaymentStatus::Succeeded);
    }
    let done = after
        .authenticate_setup(&setup.id, vinr_ports::params::ChallengeOutcome::Complete)
        .await
        .unwrap();
    assert!(matches!(done, HostedOutcome::Redirect { .. }));
    let resaved = before.retrieve_setup(&ctx, &setup.id).await.unwrap();
    let pm = resaved.payment_method_id.unwrap();
    assert_eq!(
        after.retrieve_payment(&ctx, &paid.id).await.unwrap().id,
        paid.id
    );
    let p = after
        .create_payment(&ctx, charge(&ada.id, &pm))
        .await
        .unwrap();
    assert_eq!(
        p.status,
        vinr_domain::payment::PaymentStatus::RequiresAction
    );
}

#[tokio::test]
async fn a_vault_without_the_key_fails_cleanly() {
    let store = MemoryStore::new();
    let ids = SequentialIds::new(4);
    let good = engine(
        &store,
        AesVault::new(VaultKey::new("a", [1; 32]), [9; 32]),
        &ids,
    );
    let ctx = RequestContext::sandbox();
    let ada = good
        .create_customer(&ctx, CreateCustomer::default())
        .await
        .unwrap();
    let params = AttachTestCard {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    };
    let pm = good.attach_test_card(&ctx, &ada.id, params).await.unwrap();

    // Another key under the same id: the ciphertext does not authenticate.
    let wrong = engine(
        &store,
        AesVault::new(VaultKey::new("a", [2; 32]), [9; 32]),
        &ids,
    );
    let err = wrong
        .create_payment(&ctx, charge(&ada.id, &pm.id))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert!(!err.to_string().contains("4242"));
    // A vault that lacks the key altogether.
    let missing = engine(
        &store,
        AesVault::new(VaultKey::new("b", [3; 32]), [9; 32]),
        &ids,
    );
    let err = missing
        .create_payment(&ctx, charge(&ada.id, &pm.id))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    // Nothing was charged by either: the payments never left validation.
    let page = store
        .payments(
            vinr_ports::Mode::Test,
            None,
            None,
            vinr_ports::store::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let vault = AesVault::new(VaultKey::new("a", [1; 32]), [9; 32]);
    assert_eq!(vault.active_key_id(), "a");
}
