//! Saved methods (api.md §2, §4): one method per card per customer, the default method,
//! detaching.

use vinr::{Error, InvalidRequestCode, UpdateCustomer, Vinr};

use super::support::{
    MASTERCARD, VISA, assert_invalid, assert_not_found, create_ada, create_customer, events_about,
    methods_of, save_card, save_card_with_expiry,
};

/// A buyer who saves 4242 twice keeps one method: the same `pm`, no second entry, no second
/// `payment_method.attached`.
pub async fn saving_the_same_card_twice_keeps_one_method(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let first = save_card(vinr, &ada.id, VISA).await;
    let second = save_card(vinr, &ada.id, "4242424242424242").await;
    assert_eq!(first, second, "the same card gives back the same method");
    let methods = methods_of(vinr, &ada.id).await;
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_eq!(
        events_about(vinr, "payment_method.attached", first.as_str())
            .await
            .len(),
        1
    );
    assert!(
        events_about(vinr, "payment_method.updated", first.as_str())
            .await
            .is_empty(),
        "the expiry did not change, so no payment_method.updated"
    );
}

/// The fingerprint is the card's, not the customer's: Bob saving 4242 gets his own method
/// with the same fingerprint; Ada's mastercard has another.
pub async fn another_customer_saving_the_same_card_gets_their_own_method(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let adas = save_card(vinr, &ada.id, VISA).await;
    let bobs = save_card(vinr, &bob.id, VISA).await;
    let adas_mc = save_card(vinr, &ada.id, MASTERCARD).await;
    assert_ne!(adas, bobs);

    let a = vinr
        .customers()
        .retrieve_method(&ada.id, &adas)
        .await
        .expect("Ada's visa");
    let b = vinr
        .customers()
        .retrieve_method(&bob.id, &bobs)
        .await
        .expect("Bob's visa");
    let mc = vinr
        .customers()
        .retrieve_method(&ada.id, &adas_mc)
        .await
        .expect("Ada's mastercard");
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_ne!(a.fingerprint, mc.fingerprint);
    assert_eq!(b.customer_id.as_ref(), Some(&bob.id));
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 2);
    assert_eq!(methods_of(vinr, &bob.id).await.len(), 1);

    let err = vinr
        .customers()
        .retrieve_method(&bob.id, &adas)
        .await
        .expect_err("Ada's method under Bob");
    assert_not_found(&err, None);
}

/// Re-entering a saved card with a new expiry refreshes the one method
/// (`payment_method.updated` with the old expiry in `previousAttributes`).
pub async fn re_entering_a_card_with_a_new_expiry_refreshes_the_saved_method(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    let again = save_card_with_expiry(vinr, &ada.id, VISA, "03/36").await;
    assert_eq!(again, pm);
    let m = vinr
        .customers()
        .retrieve_method(&ada.id, &pm)
        .await
        .expect("the method");
    assert_eq!((m.exp_month, m.exp_year), (3, 2036));
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 1);
    let updated = events_about(vinr, "payment_method.updated", pm.as_str()).await;
    assert_eq!(updated.len(), 1);
    let previous = updated[0]
        .data
        .previous_attributes
        .clone()
        .expect("previousAttributes");
    assert_eq!(previous.get("expMonth"), Some(&serde_json::json!(12)));
    assert_eq!(previous.get("expYear"), Some(&serde_json::json!(2034)));
}

/// The seed's "set a default": `defaultMethodId` takes one of Ada's methods; Bob's is refused
/// with `payment_method_customer_mismatch`.
pub async fn a_method_becomes_the_default_but_another_customers_cannot(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    let bobs = save_card(vinr, &bob.id, MASTERCARD).await;

    let updated = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm.clone())),
                ..Default::default()
            },
        )
        .await
        .expect("setting the default");
    assert_eq!(updated.default_method_id.as_ref(), Some(&pm));
    assert_eq!(
        vinr.customers()
            .retrieve(&ada.id)
            .await
            .expect("retrieve")
            .default_method_id,
        Some(pm.clone())
    );

    let err = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(bobs)),
                ..Default::default()
            },
        )
        .await
        .expect_err("Bob's method as Ada's default");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodCustomerMismatch,
        Some("defaultMethodId"),
    );
    assert_eq!(
        vinr.customers()
            .retrieve(&ada.id)
            .await
            .expect("retrieve")
            .default_method_id,
        Some(pm),
        "a refused update changes nothing"
    );
}

/// The seed's "detach": the method comes back with `customerId: null`, leaves the list and the
/// default, `payment_method.detached` is emitted, and a second detach is 404.
pub async fn detaching_a_method_is_immediate_and_final(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    let other = save_card(vinr, &ada.id, MASTERCARD).await;
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm.clone())),
                ..Default::default()
            },
        )
        .await
        .expect("setting the default");

    let detached = vinr
        .customers()
        .detach_method(&ada.id, &pm)
        .await
        .expect("detach");
    assert_eq!(detached.id, pm);
    assert_eq!(detached.customer_id, None);

    let after = vinr.customers().retrieve(&ada.id).await.expect("retrieve");
    assert_eq!(after.default_method_id, None, "the default is cleared");
    let listed: Vec<_> = methods_of(vinr, &ada.id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, vec![other.clone()]);
    let err = vinr
        .customers()
        .retrieve_method(&ada.id, &pm)
        .await
        .expect_err("a detached method");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let detached_events = events_about(vinr, "payment_method.detached", pm.as_str()).await;
    assert_eq!(detached_events.len(), 1);
    match &detached_events[0].data.object {
        vinr::EventObject::PaymentMethod(m) => assert_eq!(m.customer_id, None),
        other => panic!("payment_method.detached about {other:?}"),
    }

    let err = vinr
        .customers()
        .detach_method(&ada.id, &pm)
        .await
        .expect_err("detaching twice");
    assert_not_found(&err, None);
    assert_eq!(
        events_about(vinr, "payment_method.detached", pm.as_str())
            .await
            .len(),
        1
    );

    let err = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm)),
                ..Default::default()
            },
        )
        .await
        .expect_err("a detached method as the default");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodDetached,
        Some("defaultMethodId"),
    );

    // Detaching a method that is not the default leaves the customer alone.
    let before = vinr.customers().retrieve(&ada.id).await.expect("retrieve");
    vinr.customers()
        .detach_method(&ada.id, &other)
        .await
        .expect("detach");
    assert_eq!(
        vinr.customers().retrieve(&ada.id).await.expect("retrieve"),
        before
    );
}

/// `defaultMethodId: null` (`Some(None)`) clears the default; the method stays saved.
pub async fn setting_the_default_to_none_clears_it(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    let set = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm.clone())),
                ..Default::default()
            },
        )
        .await
        .expect("setting the default");
    let cleared = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .expect("clearing the default");
    assert_eq!(cleared.default_method_id, None);
    assert_eq!(cleared.version, set.version + 1);
    assert_eq!(
        methods_of(vinr, &ada.id).await.len(),
        1,
        "the method stays saved"
    );

    let updates = events_about(vinr, "customer.updated", ada.id.as_str()).await;
    assert_eq!(updates.len(), 2);
    let previous = updates[0]
        .data
        .previous_attributes
        .clone()
        .expect("previousAttributes");
    assert_eq!(
        previous.get("defaultMethodId"),
        Some(&serde_json::json!(pm.as_str()))
    );
}

/// A method can only be detached through its own customer: Bob cannot detach Ada's card.
pub async fn a_method_cannot_be_detached_through_another_customer(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    let err = vinr
        .customers()
        .detach_method(&bob.id, &pm)
        .await
        .expect_err("Ada's card through Bob");
    assert_not_found(&err, None);
    let still = vinr
        .customers()
        .retrieve_method(&ada.id, &pm)
        .await
        .expect("still Ada's");
    assert_eq!(still.customer_id.as_ref(), Some(&ada.id));
    assert!(
        events_about(vinr, "payment_method.detached", pm.as_str())
            .await
            .is_empty()
    );
    let err = vinr
        .customers()
        .list_methods(&super::support::unknown_customer())
        .await
        .expect_err("no one");
    assert_not_found(&err, None);
    let missing: vinr::PaymentMethodId = "pm_000000000000000000000000".parse().expect("an id");
    let err = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(missing)),
                ..Default::default()
            },
        )
        .await
        .expect_err("an unknown default");
    assert_not_found(&err, Some("defaultMethodId"));
}

/// Detached is for ever: saving the same card again makes a new method.
pub async fn a_card_saved_again_after_detaching_is_a_new_method(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let old = save_card(vinr, &ada.id, VISA).await;
    vinr.customers()
        .detach_method(&ada.id, &old)
        .await
        .expect("detach");
    let new = save_card(vinr, &ada.id, VISA).await;
    assert_ne!(new, old);
    let listed: Vec<_> = methods_of(vinr, &ada.id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, vec![new]);
    let err = vinr
        .payments()
        .create(super::support::off_session(&ada.id, Some(&old), 2500))
        .await
        .expect_err("the old one stays detached");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodDetached,
        Some("paymentMethodId"),
    );
}
