//! The traffic of a crash round: the setup (a webhook endpoint, customers with test cards),
//! the payments fired until the kill, the retries of every key after the restart, and the
//! reads the checker needs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::check::{Answer, EventView, Outcome, PaymentView};
use crate::client::{Call, Connection, Target};
use crate::scenario::create_customer_call;

/// The test cards of the round, one per customer slot (customer `c` holds `CARDS[c % 20]`), and
/// what each does off-session (`api.md` §4): 12 of 20 succeed, 5 are declined (402), 3 need
/// the buyer (`requires_action`).
pub(crate) const CARDS: [(&str, Outcome); 20] = {
    use Outcome::{Failed as F, RequiresAction as A, Succeeded as S};
    [
        ("4242424242424242", S),
        ("5555555555554444", S),
        ("4000000000000002", F),
        ("4242424242424242", S),
        ("4000000000003220", A),
        ("4000000000000127", S),
        ("4000000000009995", F),
        ("4242424242424242", S),
        ("378282246310005", S),
        ("4000000000000119", F),
        ("4000000000003055", S),
        ("4000002760003184", A),
        ("4242424242424242", S),
        ("4000000000000341", F),
        ("5555555555554444", S),
        ("4000000000000127", S),
        ("4000000000009987", F),
        ("4000000000003220", A),
        ("4242424242424242", S),
        ("5555555555554444", S),
    ]
};

/// How many customers a round makes (fewer when it makes fewer payments).
pub(crate) const CUSTOMERS: usize = 40;

/// Connections used for the reads after the restart.
const READ_CONNECTIONS: usize = 8;

/// How long a key answered 409 (still in flight) waits before asking again.
const IN_FLIGHT_PAUSE: Duration = Duration::from_millis(200);

/// How long a connection waits before reconnecting after a transport failure.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// One payment of the round.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// Its `Idempotency-Key`.
    pub(crate) key: String,
    /// The body, the same on every try.
    pub(crate) body: String,
    pub(crate) customer: String,
    pub(crate) amount: u64,
    pub(crate) expected: Outcome,
}

impl Planned {
    fn call(&self) -> Call {
        Call::post("/v1/payments", self.body.clone()).idempotent(self.key.clone())
    }
}

/// Registers a webhook endpoint for every event type at `hook_url`, makes the customers, each
/// with its card attached, and plans `payments` payments spread over them.
pub(crate) async fn setup(
    target: &Target,
    hook_url: &str,
    payments: usize,
    run: &str,
) -> Result<Vec<Planned>> {
    let mut conn = Connection::open(target).await?;
    conn.create(
        &Call::post(
            "/v1/webhook_endpoints",
            format!(r#"{{"url":"{hook_url}","events":["*"]}}"#),
        )
        .idempotent(format!("crash-{run}-endpoint")),
    )
    .await
    .context("cannot register the webhook endpoint")?;
    let customers = CUSTOMERS.min(payments.max(1));
    let mut holders = Vec::with_capacity(customers);
    for c in 0..customers {
        let email = format!("crash-{run}-{c}@example.com");
        let customer = conn
            .create(&create_customer_call(&email).idempotent(format!("crash-{run}-cust-{c}")))
            .await?;
        let (number, outcome) = CARDS[c % CARDS.len()];
        let method = conn
            .create(
                &Call::post(
                    format!("/v1/test_helpers/customers/{customer}/methods"),
                    format!(r#"{{"number":"{number}","expMonth":12,"expYear":2034}}"#),
                )
                .idempotent(format!("crash-{run}-card-{c}")),
            )
            .await?;
        holders.push((customer, method, outcome));
    }
    Ok((0..payments)
        .map(|i| {
            let (customer, method, expected) = &holders[i % customers];
            let amount = 100 + u64::try_from(i % 900).unwrap_or(0);
            Planned {
                key: format!("crash-{run}-pay-{i}"),
                body: format!(
                    r#"{{"amount":{amount},"currency":"EUR","customerId":"{customer}","paymentMethodId":"{method}","offSession":true}}"#
                ),
                customer: customer.clone(),
                amount,
                expected: *expected,
            }
        })
        .collect())
}

/// Fires every planned payment once, from `connections` connections, until `stop` is set or
/// all were sent. When the `kill_at`-th answer arrives, `kill` is notified (the caller kills
/// the server and sets `stop`). A request whose connection breaks is left unacknowledged.
/// Returns the answer of each payment received, by index.
pub(crate) async fn fire(
    target: &Target,
    plan: Arc<Vec<Planned>>,
    connections: usize,
    kill_at: usize,
    kill: Arc<Notify>,
    stop: Arc<AtomicBool>,
) -> Vec<Option<Answer>> {
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (target, plan, next, acked, kill, stop) = (
            target.clone(),
            plan.clone(),
            next.clone(),
            acked.clone(),
            kill.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut conn: Option<Connection> = None;
            while !stop.load(Ordering::SeqCst) {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match Connection::open(&target).await {
                        Ok(c) => conn.insert(c),
                        Err(_) => {
                            tokio::time::sleep(RECONNECT_PAUSE).await;
                            continue;
                        }
                    },
                };
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = plan.get(i) else { break };
                match c.send(&p.call()).await {
                    Ok((status, body)) => {
                        answers.push((
                            i,
                            Answer {
                                status: status.as_u16(),
                                body: String::from_utf8_lossy(&body).into_owned(),
                            },
                        ));
                        if acked.fetch_add(1, Ordering::SeqCst) + 1 == kill_at {
                            kill.notify_one();
                        }
                    }
                    Err(_) => conn = None,
                }
            }
            answers
        }));
    }
    let mut acks = vec![None; plan.len()];
    for task in tasks {
        if let Ok(answers) = task.await {
            for (i, answer) in answers {
                acks[i] = Some(answer);
            }
        }
    }
    acks
}

/// What retrying every key after the restart gave.
#[derive(Debug, Clone, Default)]
pub(crate) struct Retried {
    /// The first answer other than 409 of each key (`None`: none before the deadline).
    pub(crate) answers: Vec<Option<Answer>>,
    /// Keys answered 409 (still in flight) at least once.
    pub(crate) in_flight_keys: usize,
    /// 409 answers in all.
    pub(crate) conflicts: u64,
}

/// Sends every planned payment again (the same key and body) until it answers something other
/// than 409 `idempotency_key_in_use`, or `deadline` passes.
pub(crate) async fn retry_all(
    target: &Target,
    plan: Arc<Vec<Planned>>,
    connections: usize,
    deadline: Instant,
) -> Retried {
    let next = Arc::new(AtomicUsize::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (target, plan, next, conflicts) = (
            target.clone(),
            plan.clone(),
            next.clone(),
            conflicts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut conn: Option<Connection> = None;
            'keys: loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = plan.get(i) else { break };
                let call = p.call();
                let mut waited = false;
                while Instant::now() < deadline {
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match Connection::open(&target).await {
                            Ok(c) => conn.insert(c),
                            Err(_) => {
                                tokio::time::sleep(RECONNECT_PAUSE).await;
                                continue;
                            }
                        },
                    };
                    match c.send(&call).await {
                        Ok((status, _)) if status.as_u16() == 409 => {
                            conflicts.fetch_add(1, Ordering::SeqCst);
                            waited = true;
                            tokio::time::sleep(IN_FLIGHT_PAUSE).await;
                        }
                        Ok((status, body)) => {
                            let answer = Answer {
                                status: status.as_u16(),
                                body: String::from_utf8_lossy(&body).into_owned(),
                            };
                            answers.push((i, Some(answer), waited));
                            continue 'keys;
                        }
                        Err(_) => {
                            conn = None;
                            tokio::time::sleep(RECONNECT_PAUSE).await;
                        }
                    }
                }
                answers.push((i, None, waited));
            }
            answers
        }));
    }
    let mut retried = Retried {
        answers: vec![None; plan.len()],
        ..Retried::default()
    };
    for task in tasks {
        if let Ok(answers) = task.await {
            for (i, answer, waited) in answers {
                retried.answers[i] = answer;
                retried.in_flight_keys += usize::from(waited);
            }
        }
    }
    retried.conflicts = conflicts.load(Ordering::SeqCst);
    retried
}

/// `GET` every page of a list (`limit=100`, `startingAfter` the last id), in list order.
pub(crate) async fn list_all(conn: &mut Connection, path: &str) -> Result<Vec<Value>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_path = match &after {
            Some(id) => format!("{path}{sep}limit=100&startingAfter={id}"),
            None => format!("{path}{sep}limit=100"),
        };
        let page = conn.json(&Call::get(page_path.clone())).await?;
        let data = page
            .get("data")
            .and_then(Value::as_array)
            .with_context(|| format!("GET {page_path}: not a list"))?;
        let more = page.get("hasMore").and_then(Value::as_bool) == Some(true);
        let last = data
            .last()
            .and_then(|item| item.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        items.extend(data.iter().cloned());
        match (more, last) {
            (true, Some(last)) => after = Some(last),
            (true, None) => bail!("GET {page_path}: hasMore on an empty page"),
            (false, _) => return Ok(items),
        }
    }
}

/// What the reads after the restart found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Read {
    pub(crate) payments: HashMap<String, PaymentView>,
    pub(crate) listed: Vec<String>,
    pub(crate) events: Vec<EventView>,
    pub(crate) succeeded_events: Vec<EventView>,
}

/// `GET /v1/payments/{id}` of every id (absent when 404), the customers' payment lists, every
/// event, and the events filtered by `type=payment.succeeded`.
pub(crate) async fn read(
    target: &Target,
    ids: &BTreeSet<String>,
    plan: &[Planned],
) -> Result<Read> {
    let ids: Arc<Vec<String>> = Arc::new(ids.iter().cloned().collect());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..READ_CONNECTIONS {
        let (target, ids, next) = (target.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(&target).await?;
            let mut found = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(id) = ids.get(i) else { break };
                let (status, body) = conn
                    .send(&Call::get(format!("/v1/payments/{id}")))
                    .await
                    .map_err(|t| t.0)?;
                match status.as_u16() {
                    200 => {
                        let json: Value = serde_json::from_slice(&body)
                            .with_context(|| format!("GET /v1/payments/{id}: not JSON"))?;
                        let view = PaymentView::parse(&json).with_context(|| {
                            format!("GET /v1/payments/{id}: not a payment: {json}")
                        })?;
                        found.push((id.clone(), view));
                    }
                    404 => {}
                    other => bail!(
                        "GET /v1/payments/{id} answered {other}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                }
            }
            anyhow::Ok(found)
        }));
    }
    let mut out = Read::default();
    for task in tasks {
        out.payments
            .extend(task.await.context("a read task failed")??);
    }

    let mut conn = Connection::open(target).await?;
    let customers: BTreeSet<&str> = plan.iter().map(|p| p.customer.as_str()).collect();
    for customer in customers {
        for payment in list_all(&mut conn, &format!("/v1/payments?customerId={customer}")).await? {
            let id = payment
                .get("id")
                .and_then(Value::as_str)
                .context("a listed payment without an id")?;
            out.listed.push(id.to_owned());
        }
    }
    let events = |items: Vec<Value>| -> Result<Vec<EventView>> {
        items
            .iter()
            .map(|e| EventView::parse(e).with_context(|| format!("not an event: {e}")))
            .collect()
    };
    out.events = events(list_all(&mut conn, "/v1/events").await?)?;
    out.succeeded_events = events(list_all(&mut conn, "/v1/events?type=payment.succeeded").await?)?;
    Ok(out)
}
