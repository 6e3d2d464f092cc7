//! `vinr trigger <event-type>`: makes a running sandbox server produce an event by doing what
//! causes it, through the API only (the facade over HTTP, `vinr::Vinr::with_base_url`), as a
//! merchant's code and a buyer's browser would. It says what it did, with the ids, and ends
//! with the event the server recorded.
//!
//! Sandbox keys only: it creates customers, attaches test cards and charges them.

use anyhow::{Context as _, bail};
use chrono::{Datelike as _, NaiveDate};
use vinr::{
    CardEntry, CreateCustomer, CreatePayment, Customer, CustomerId, Error, EventType,
    HostedOutcome, ListEvents, NetworkUpdate, Payment, PaymentMethod, PaymentStatus, Setup, Vinr,
};
use vinr_ports::clock::Clock as _;
use vinr_store::clock::SystemClock;

use crate::cli::{TriggerArgs, TriggerEvent};
use crate::terminal;

/// The card that succeeds everywhere.
const CARD_OK: &str = "4242424242424242";
/// Declined `generic_decline`, on a setup and off-session.
const CARD_DECLINED: &str = "4000000000000002";
/// 3-D Secure every time: `requires_action` off-session.
const CARD_3DS: &str = "4000000000003220";

/// What the payments are for.
const AMOUNT: i64 = 2000;
const CURRENCY: &str = "EUR";
const DESCRIPTION: &str = "vinr trigger";

/// Where the setups send the buyer back to (never opened: the hosted page is played here).
const RETURN_URL: &str = "https://example.com/vinr-trigger/return";

/// How many days before a card lapses the expiry scan runs for `payment_method.expiring`.
const EXPIRING_NOTICE_DAYS: u64 = 10;

/// `vinr trigger`.
pub(crate) async fn run(args: TriggerArgs) -> anyhow::Result<()> {
    if args.api.secret_key.is_live() {
        bail!(
            "vinr trigger works in the sandbox only: it creates customers, attaches test cards and charges them; give it a sk_test_ key"
        );
    }
    let base = args.api.api_base.trim().trim_end_matches('/').to_owned();
    let vinr = Vinr::with_base_url(args.api.secret_key.expose(), &base)
        .with_context(|| format!("--api-base `{base}` or the secret key is not usable"))?;
    let today = SystemClock::new().now().date_naive();
    let kind = args.event.event_type();
    let object = cause(&vinr, args.event, today)
        .await
        .with_context(|| format!("cannot trigger {kind} on {base}"))?;
    let event = recorded_event(&vinr, kind, &object).await?;
    terminal::say(&format!("Triggered {kind}: event {event} on {object}"));
    Ok(())
}

/// Does what makes the server emit the event; returns the id of the event's object.
async fn cause(vinr: &Vinr, event: TriggerEvent, today: NaiveDate) -> anyhow::Result<String> {
    let (card_month, card_year) = (12, today.year() + 3);
    match event {
        TriggerEvent::CustomerCreated => Ok(customer(vinr).await?.id.to_string()),
        TriggerEvent::CustomerUpdated => {
            let c = customer(vinr).await?;
            let updated = vinr
                .customers()
                .update(
                    &c.id,
                    vinr::UpdateCustomer {
                        name: Some(Some("VINR trigger (renamed)".to_owned())),
                        ..Default::default()
                    },
                )
                .await
                .context("updating the customer failed")?;
            say(format!(
                "Renamed customer {} (version {})",
                updated.id, updated.version
            ));
            Ok(updated.id.to_string())
        }
        TriggerEvent::CustomerDeleted => {
            let c = customer(vinr).await?;
            vinr.customers()
                .delete(&c.id)
                .await
                .context("deleting the customer failed")?;
            say(format!("Deleted customer {}", c.id));
            Ok(c.id.to_string())
        }
        TriggerEvent::PaymentMethodAttached => {
            let c = customer(vinr).await?;
            Ok(attach(vinr, &c.id, CARD_OK, card_month, card_year)
                .await?
                .id
                .to_string())
        }
        TriggerEvent::PaymentMethodDetached => {
            let c = customer(vinr).await?;
            let pm = attach(vinr, &c.id, CARD_OK, card_month, card_year).await?;
            vinr.customers()
                .detach_method(&c.id, &pm.id)
                .await
                .context("detaching the card failed")?;
            say(format!("Detached {} from {}", pm.id, c.id));
            Ok(pm.id.to_string())
        }
        TriggerEvent::PaymentMethodUpdated => {
            let c = customer(vinr).await?;
            let pm = attach(vinr, &c.id, CARD_OK, card_month, card_year).await?;
            let update = NetworkUpdate {
                exp_month: 6,
                exp_year: card_year + 1,
                last4: None,
            };
            let updated = vinr
                .test_helpers()
                .network_update(&pm.id, update)
                .await
                .context("the network update helper failed")?;
            say(format!(
                "Network update of {}: now expires {:02}/{}",
                updated.id, updated.exp_month, updated.exp_year
            ));
            Ok(updated.id.to_string())
        }
        TriggerEvent::PaymentMethodExpiring => {
            let c = customer(vinr).await?;
            let (month, year) = next_month(today);
            let pm = attach(vinr, &c.id, CARD_OK, month, year).await?;
            let as_of = scan_date(month, year)?;
            let emitted = vinr
                .test_helpers()
                .expiring_scan(as_of)
                .await
                .context("the expiry scan helper failed")?;
            say(format!(
                "Ran the expiry scan as of {as_of} ({EXPIRING_NOTICE_DAYS} days before the card lapses): {emitted} notice(s)"
            ));
            Ok(pm.id.to_string())
        }
        TriggerEvent::SetupCanceled => {
            let c = customer(vinr).await?;
            let s = setup(vinr, &c.id).await?;
            let canceled = vinr
                .setups()
                .cancel(&s.id)
                .await
                .context("canceling the setup failed")?;
            say(format!(
                "Canceled setup {}: {}",
                canceled.id,
                canceled.status.as_str()
            ));
            Ok(canceled.id.to_string())
        }
        TriggerEvent::SetupFailed => {
            let c = customer(vinr).await?;
            let s = setup(vinr, &c.id).await?;
            match submit(vinr, &s, CARD_DECLINED, today).await? {
                HostedOutcome::Retry { message } => {
                    say(format!(
                        "Typed the declined card {CARD_DECLINED} on the setup page: {message}"
                    ));
                    Ok(s.id.to_string())
                }
                other => bail!("the setup page did not decline {CARD_DECLINED}: {other:?}"),
            }
        }
        TriggerEvent::SetupSucceeded => {
            let c = customer(vinr).await?;
            let s = setup(vinr, &c.id).await?;
            match submit(vinr, &s, CARD_OK, today).await? {
                HostedOutcome::Redirect { url } => {
                    say(format!(
                        "Typed the card {CARD_OK} on the setup page; it sent the buyer to {url}"
                    ));
                    Ok(s.id.to_string())
                }
                other => bail!("the setup page did not accept {CARD_OK}: {other:?}"),
            }
        }
        TriggerEvent::PaymentSucceeded => {
            let p = charge(vinr, CARD_OK, card_month, card_year)
                .await?
                .context("charging the card off-session failed")?;
            expect_status(&p, PaymentStatus::Succeeded)?;
            Ok(p.id.to_string())
        }
        TriggerEvent::PaymentRequiresAction => {
            let p = charge(vinr, CARD_3DS, card_month, card_year)
                .await?
                .context("charging the card off-session failed")?;
            expect_status(&p, PaymentStatus::RequiresAction)?;
            if let Some(next) = &p.next_action {
                say(format!("The buyer would authenticate at {}", next.url));
            }
            Ok(p.id.to_string())
        }
        TriggerEvent::PaymentFailed => {
            match charge(vinr, CARD_DECLINED, card_month, card_year).await? {
                Err(Error::Card {
                    payment_id: Some(id),
                    message,
                    ..
                }) => {
                    say(format!("Payment {id} was declined: {message}"));
                    Ok(id.to_string())
                }
                Err(e) => Err(anyhow::Error::new(e).context("charging the declined card failed")),
                Ok(p) => bail!(
                    "the charge of {CARD_DECLINED} was not declined: payment {} is {}",
                    p.id,
                    p.status.as_str()
                ),
            }
        }
        TriggerEvent::PaymentCanceled => {
            let p = vinr
                .payments()
                .create(CreatePayment {
                    amount: AMOUNT,
                    currency: CURRENCY.to_owned(),
                    description: Some(DESCRIPTION.to_owned()),
                    ..Default::default()
                })
                .await
                .context("creating the payment failed")?;
            say(format!(
                "Created payment {} ({} {CURRENCY}, on-session, no card yet): {}",
                p.id,
                amount_text(),
                p.status.as_str()
            ));
            let canceled = vinr
                .payments()
                .cancel(&p.id)
                .await
                .context("canceling the payment failed")?;
            say(format!(
                "Canceled payment {}: {}",
                canceled.id,
                canceled.status.as_str()
            ));
            Ok(canceled.id.to_string())
        }
    }
}

/// Writes one step to standard output.
fn say(text: String) {
    terminal::say(&text);
}

/// `20.00`.
fn amount_text() -> String {
    format!("{}.{:02}", AMOUNT / 100, AMOUNT % 100)
}

async fn customer(vinr: &Vinr) -> anyhow::Result<Customer> {
    let c = vinr
        .customers()
        .create(CreateCustomer {
            name: Some("VINR trigger".to_owned()),
            metadata: Some([("createdBy".to_owned(), "vinr trigger".to_owned())].into()),
            ..Default::default()
        })
        .await
        .context("creating a customer failed")?;
    say(format!("Created customer {}", c.id));
    Ok(c)
}

async fn attach(
    vinr: &Vinr,
    customer: &CustomerId,
    number: &str,
    month: u32,
    year: i32,
) -> anyhow::Result<PaymentMethod> {
    let pm = vinr
        .test_helpers()
        .attach_card(customer, number, month, year)
        .await
        .with_context(|| format!("attaching the test card {number} failed"))?;
    say(format!(
        "Attached the test card {number} (expires {month:02}/{year}) to {customer}: {}",
        pm.id
    ));
    Ok(pm)
}

async fn setup(vinr: &Vinr, customer: &CustomerId) -> anyhow::Result<Setup> {
    let s = vinr
        .customers()
        .setup_method(customer, RETURN_URL)
        .await
        .context("opening a setup failed")?;
    say(format!(
        "Opened setup {} for {customer} ({})",
        s.id, s.checkout_url
    ));
    Ok(s)
}

/// Types `number` on the setup's hosted page, as the buyer would.
async fn submit(
    vinr: &Vinr,
    setup: &Setup,
    number: &str,
    today: NaiveDate,
) -> anyhow::Result<HostedOutcome> {
    let expiry = format!("12/{:02}", (today.year() + 3) % 100);
    vinr.hosted()
        .submit_setup_card(&setup.id, CardEntry::new(number, expiry, "123"))
        .await
        .context("submitting the card on the hosted setup page failed")
}

/// A new customer, the card `number` attached, and an off-session charge of it: the payment,
/// or the API's refusal (a decline is `Err(Error::Card { .. })`).
async fn charge(
    vinr: &Vinr,
    number: &str,
    month: u32,
    year: i32,
) -> anyhow::Result<Result<Payment, Error>> {
    let c = customer(vinr).await?;
    let pm = attach(vinr, &c.id, number, month, year).await?;
    let created = vinr
        .payments()
        .create(CreatePayment {
            amount: AMOUNT,
            currency: CURRENCY.to_owned(),
            customer_id: Some(c.id.clone()),
            payment_method_id: Some(pm.id.clone()),
            off_session: true,
            description: Some(DESCRIPTION.to_owned()),
            ..Default::default()
        })
        .await;
    if let Ok(p) = &created {
        say(format!(
            "Charged {} {CURRENCY} off-session to {}: payment {} is {}",
            amount_text(),
            pm.id,
            p.id,
            p.status.as_str()
        ));
    }
    Ok(created)
}

fn expect_status(p: &Payment, wanted: PaymentStatus) -> anyhow::Result<()> {
    if p.status != wanted {
        bail!(
            "payment {} is {}, not {}",
            p.id,
            p.status.as_str(),
            wanted.as_str()
        );
    }
    Ok(())
}

/// The month after `today`'s, as `(month, year)`.
fn next_month(today: NaiveDate) -> (u32, i32) {
    if today.month() == 12 {
        (1, today.year() + 1)
    } else {
        (today.month() + 1, today.year())
    }
}

/// [`EXPIRING_NOTICE_DAYS`] before a card expiring `month/year` lapses (the 1st of the month
/// after).
fn scan_date(month: u32, year: i32) -> anyhow::Result<NaiveDate> {
    let (m, y) = if month == 12 {
        (1, year + 1)
    } else {
        (month + 1, year)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|lapses| lapses.checked_sub_days(chrono::Days::new(EXPIRING_NOTICE_DAYS)))
        .with_context(|| format!("no date before the expiry {month:02}/{year}"))
}

/// The id of the newest `kind` event about `object` (events are written in the same
/// transaction as the change, so it is there once the call has answered).
async fn recorded_event(vinr: &Vinr, kind: EventType, object: &str) -> anyhow::Result<String> {
    let page = vinr
        .events()
        .list(ListEvents {
            kind: Some(kind.as_str().to_owned()),
            limit: Some(100),
            starting_after: None,
        })
        .await
        .context("listing the events failed")?;
    page.data
        .iter()
        .find(|e| e.data.object.id() == object)
        .map(|e| e.id.to_string())
        .with_context(|| format!("the server recorded no {kind} event on {object}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_expiring_card_lapses_within_the_notice_window_of_the_scan() {
        assert_eq!(next_month(date(2025, 12, 31)), (1, 2026));
        assert_eq!(next_month(date(2025, 1, 31)), (2, 2025));
        // A card expiring 02/2025 lapses on 2025-03-01; the scan runs 10 days before.
        assert_eq!(scan_date(2, 2025).unwrap(), date(2025, 2, 19));
        assert_eq!(scan_date(12, 2025).unwrap(), date(2025, 12, 22));
        // However late in the month it runs, the scan date is after today.
        for today in [date(2025, 1, 31), date(2025, 2, 28), date(2025, 12, 31)] {
            let (m, y) = next_month(today);
            assert!(scan_date(m, y).unwrap() > today, "{today}");
        }
        assert_eq!(amount_text(), "20.00");
    }
}
