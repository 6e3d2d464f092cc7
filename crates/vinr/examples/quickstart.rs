//! The seed page, in Rust, against the in-process sandbox:
//! create Ada, save 4242 through a setup, list her methods, make it the default, charge
//! €25.00 off-session, hit the 3-D Secure branch with 4000 0000 0000 3220 and finish it, detach.
//!
//! Run it with `cargo run -p vinr --example quickstart`.

// An example talks to its reader on standard output.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use vinr::{
    CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, HostedOutcome, ListCustomers,
    PaymentStatus, UpdateCustomer, Vinr,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vinr = Vinr::sandbox();

    // A customer is a long-lived record keyed by cust_.
    let ada = vinr
        .customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            metadata: Some(BTreeMap::from([("internalId".into(), "user_8821".into())])),
            ..Default::default()
        })
        .await?;
    println!(
        "created {} ({})",
        ada.id,
        ada.email.as_deref().unwrap_or_default()
    );

    // Look her up by email, as a merchant would.
    let found = vinr
        .customers()
        .list(ListCustomers {
            email: Some("ADA@example.com".into()),
            ..Default::default()
        })
        .await?;
    println!("found by email: {}", found.data.len());

    // Save a card: the buyer types it on the hosted page (here, we play the buyer).
    let setup = vinr
        .customers()
        .setup_method(&ada.id, "https://yoursite.com/wallet/saved")
        .await?;
    println!("send the buyer to {}", setup.checkout_url);
    let outcome = vinr
        .hosted()
        .submit_setup_card(
            &setup.id,
            CardEntry::new("4242 4242 4242 4242", "12/34", "123"),
        )
        .await?;
    if let HostedOutcome::Redirect { url } = &outcome {
        println!("buyer returns to {url}");
    }

    // List saved methods: brand, last four and expiry, never the number.
    let methods = vinr.customers().list_methods(&ada.id).await?;
    for m in &methods.data {
        println!(
            "saved {} {} •••• {} exp {:02}/{}",
            m.id, m.brand, m.last4, m.exp_month, m.exp_year
        );
    }
    let visa = methods.data.first().ok_or("no method saved")?.clone();

    // Make it the default, then charge it with no buyer present.
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(visa.id.clone())),
                ..Default::default()
            },
        )
        .await?;
    let payment = vinr
        .idempotent("order-4471")
        .payments()
        .create(CreatePayment {
            amount: 2500,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            off_session: true,
            description: Some("Order #4471".into()),
            ..Default::default()
        })
        .await?;
    println!(
        "charged {} {} off-session: {}",
        payment.amount, payment.currency, payment.status
    );

    // A card that always wants 3-D Secure: saved through the challenge...
    let setup = vinr
        .customers()
        .setup_method(&ada.id, "https://yoursite.com/wallet/saved")
        .await?;
    let outcome = vinr
        .hosted()
        .submit_setup_card(
            &setup.id,
            CardEntry::new("4000 0000 0000 3220", "12/34", "123"),
        )
        .await?;
    println!("3220 on the setup page: {outcome:?}");
    vinr.hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
        .await?;
    let secure = vinr
        .setups()
        .retrieve(&setup.id)
        .await?
        .payment_method_id
        .ok_or("3220 not saved")?;

    // ...and charged off-session: it stops in requires_action.
    let payment = vinr
        .payments()
        .create(CreatePayment {
            amount: 1000,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            payment_method_id: Some(secure.clone()),
            off_session: true,
            ..Default::default()
        })
        .await?;
    let url = payment
        .next_action
        .as_ref()
        .map(|a| a.url.clone())
        .unwrap_or_default();
    println!(
        "off-session 3220: {} — bring the buyer back to {url}",
        payment.status
    );

    // The buyer completes the challenge on the hosted page.
    vinr.hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await?;
    let payment = vinr.payments().retrieve(&payment.id).await?;
    println!("after the challenge: {}", payment.status);
    assert_eq!(payment.status, PaymentStatus::Succeeded);

    // Detach when the buyer removes the card from their wallet.
    let detached = vinr.customers().detach_method(&ada.id, &visa.id).await?;
    println!(
        "detached {} (customer now {:?})",
        detached.id, detached.customer_id
    );
    Ok(())
}
