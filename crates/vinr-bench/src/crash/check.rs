//! The properties a crash round must keep, checked over what the round observed (no I/O here,
//! so every rule is tested below without a server).
//!
//! 1. Every key has a final answer after the restart, `200` or `402`, naming a payment.
//! 2. Every answer acknowledged before the kill is replayed byte for byte after it.
//! 3. Each key maps to exactly one payment: no two keys share one, and the customers' payment
//!    lists hold no payment that no key answered with (a second payment for a retried key).
//! 4. Every key's payment is there (`GET /v1/payments/{id}`) with the status its answer gave,
//!    the status its test card must give off-session, and the amount and customer asked for.
//! 5. The network's approved charges are the `succeeded` payments, one each: every charged
//!    attempt belongs to a `succeeded` payment and every `succeeded` payment has exactly one.
//! 6. Each payment has exactly one outcome event of its status (`payment.succeeded`,
//!    `payment.failed` or `payment.requires_action`) and no other; in particular each
//!    `succeeded` payment exactly one `payment.succeeded` (also counted from the list filtered
//!    by type).
//! 7. Every event was delivered to the webhook receiver at least once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde_json::Value;

/// What a card does off-session (`api.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200, `succeeded`, `payment.succeeded`.
    Succeeded,
    /// 402, `failed`, `payment.failed`.
    Failed,
    /// 200, `requires_action`, `payment.requires_action`.
    RequiresAction,
}

impl Outcome {
    /// The payment's `status`.
    pub(crate) fn status(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RequiresAction => "requires_action",
        }
    }

    /// The event type of the outcome.
    fn event(self) -> &'static str {
        match self {
            Outcome::Succeeded => "payment.succeeded",
            Outcome::Failed => "payment.failed",
            Outcome::RequiresAction => "payment.requires_action",
        }
    }
}

/// The outcome event types.
const OUTCOME_EVENTS: [&str; 3] = [
    "payment.succeeded",
    "payment.failed",
    "payment.requires_action",
];

/// One HTTP answer to `POST /v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// The body, as received.
    pub(crate) body: String,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The payment it names: `id` of a 200, `error.paymentId` of a 402.
    pub(crate) fn payment_id(&self) -> Option<String> {
        let json = self.json()?;
        let id = match self.status {
            200 => json.get("id"),
            402 => json.get("error").and_then(|e| e.get("paymentId")),
            _ => None,
        };
        id.and_then(Value::as_str).map(str::to_owned)
    }

    /// The payment status it tells: `status` of a 200, `failed` for a 402.
    pub(crate) fn payment_status(&self) -> Option<String> {
        match self.status {
            200 => self
                .json()?
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
            402 => Some("failed".to_owned()),
            _ => None,
        }
    }
}

/// One idempotency key of the round and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    /// The `Idempotency-Key`.
    pub(crate) key: String,
    /// The customer charged.
    pub(crate) customer: String,
    /// The amount asked for.
    pub(crate) amount: u64,
    /// What its card must do.
    pub(crate) expected: Outcome,
    /// The answer received before the kill, if one was.
    pub(crate) ack: Option<Answer>,
    /// The first answer other than 409 after the restart (`None`: none came in time).
    pub(crate) last: Option<Answer>,
}

/// A payment as `GET /v1/payments/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentView {
    pub(crate) status: String,
    pub(crate) customer: String,
    pub(crate) amount: u64,
}

impl PaymentView {
    /// Reads the fields checked from a payment's JSON.
    pub(crate) fn parse(json: &Value) -> Option<PaymentView> {
        Some(PaymentView {
            status: json.get("status")?.as_str()?.to_owned(),
            customer: json.get("customerId")?.as_str()?.to_owned(),
            amount: json.get("amount")?.as_u64()?,
        })
    }
}

/// An event as `GET /v1/events` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventView {
    pub(crate) id: String,
    pub(crate) kind: String,
    /// `data.object.id`.
    pub(crate) object: Option<String>,
}

impl EventView {
    /// Reads an event's id, type and object id.
    pub(crate) fn parse(json: &Value) -> Option<EventView> {
        Some(EventView {
            id: json.get("id")?.as_str()?.to_owned(),
            kind: json.get("type")?.as_str()?.to_owned(),
            object: json
                .get("data")
                .and_then(|d| d.get("object"))
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// Everything a round observed, after the restart and the retries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// Every key, in the order sent.
    pub(crate) keys: Vec<KeyRecord>,
    /// `GET /v1/payments/{id}` of every payment a key named (absent: 404).
    pub(crate) payments: HashMap<String, PaymentView>,
    /// Every payment id of the customers' payment lists.
    pub(crate) listed: Vec<String>,
    /// Every event (`GET /v1/events`, all types).
    pub(crate) events: Vec<EventView>,
    /// `GET /v1/events?type=payment.succeeded`.
    pub(crate) succeeded_events: Vec<EventView>,
    /// The attempt ids the network charged (`pay_….n`), from its journal.
    pub(crate) charged_attempts: Vec<String>,
    /// The event ids the webhook receiver got at least once.
    pub(crate) received: HashSet<String>,
    /// Deliveries received, duplicates included.
    pub(crate) deliveries: u64,
}

/// The figures of a round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Keys sent.
    pub(crate) keys: usize,
    /// Keys answered before the kill.
    pub(crate) acknowledged: usize,
    /// Keys with a final answer naming a payment, checked.
    pub(crate) checked: usize,
    /// Payments beyond one per key: shared by keys, or answering no key.
    pub(crate) duplicates: usize,
    /// Keys whose acknowledged answer, or whose payment, did not survive.
    pub(crate) lost: usize,
    /// Attempts the network charged.
    pub(crate) approved_charges: usize,
    /// Payments `succeeded`.
    pub(crate) succeeded: usize,
    /// `payment.succeeded` events.
    pub(crate) succeeded_events: usize,
    /// Events of the round (all types).
    pub(crate) events: usize,
    /// Of those, delivered to the receiver at least once.
    pub(crate) delivered: usize,
    /// Deliveries received, duplicates included.
    pub(crate) deliveries: u64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "keys checked {}/{}, duplicates {}, lost {}, approved charges {}, succeeded payments {}, \
             payment.succeeded events {}, webhooks delivered {}/{} events ({} deliveries)",
            self.checked,
            self.keys,
            self.duplicates,
            self.lost,
            self.approved_charges,
            self.succeeded,
            self.succeeded_events,
            self.delivered,
            self.events,
            self.deliveries
        )
    }
}

/// The figures and every broken property, each a precise sentence.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict {
    pub(crate) figures: Figures,
    pub(crate) violations: Vec<String>,
}

/// The payment an attempt id (`pay_….n`) belongs to.
fn attempt_owner(attempt: &str) -> &str {
    attempt.rsplit_once('.').map_or(attempt, |(owner, _)| owner)
}

/// Checks every property over `o`.
pub(crate) fn check(o: &Observed) -> Verdict {
    let mut v = Verdict::default();
    let f = &mut v.figures;
    let bad = &mut v.violations;
    f.keys = o.keys.len();
    f.acknowledged = o.keys.iter().filter(|k| k.ack.is_some()).count();

    // 1, 2, 4: each key on its own.
    let mut owner: HashMap<String, Vec<&str>> = HashMap::new();
    let mut outcome_of: HashMap<&str, Outcome> = HashMap::new();
    for k in &o.keys {
        let Some(last) = &k.last else {
            f.lost += 1;
            bad.push(format!(
                "key {}: no answer other than 409 after the restart (acknowledged before: {})",
                k.key,
                k.ack
                    .as_ref()
                    .map_or("no".to_owned(), |a| a.status.to_string())
            ));
            continue;
        };
        let Some(id) = last
            .payment_id()
            .filter(|_| matches!(last.status, 200 | 402))
        else {
            f.lost += 1;
            bad.push(format!(
                "key {}: answered {} after the restart, naming no payment: {}",
                k.key, last.status, last.body
            ));
            continue;
        };
        let mut lost = false;
        if let Some(ack) = &k.ack
            && ack != last
        {
            lost = true;
            bad.push(format!(
                "key {}: acknowledged {} {} before the kill, but answered {} {} after it",
                k.key, ack.status, ack.body, last.status, last.body
            ));
        }
        owner.entry(id.clone()).or_default().push(&k.key);
        f.checked += 1;
        match o.payments.get(&id) {
            None => {
                lost = true;
                bad.push(format!(
                    "key {}: payment {id} is not there (GET /v1/payments/{id})",
                    k.key
                ));
            }
            Some(p) => {
                let told = last.payment_status().unwrap_or_default();
                if p.status != told {
                    lost = true;
                    bad.push(format!(
                        "key {}: payment {id} is {} but the key's answer says {told}",
                        k.key, p.status
                    ));
                }
                if p.status != k.expected.status() {
                    bad.push(format!(
                        "key {}: payment {id} is {} but its card must give {}",
                        k.key,
                        p.status,
                        k.expected.status()
                    ));
                }
                if p.customer != k.customer || p.amount != k.amount {
                    bad.push(format!(
                        "key {}: payment {id} is {} for {} but {} for {} was asked",
                        k.key, p.amount, p.customer, k.amount, k.customer
                    ));
                }
                if let Some(outcome) =
                    [Outcome::Succeeded, Outcome::Failed, Outcome::RequiresAction]
                        .into_iter()
                        .find(|o| o.status() == p.status)
                {
                    outcome_of.insert(k.key.as_str(), outcome);
                }
            }
        }
        if lost {
            f.lost += 1;
        }
    }

    // 3: one payment per key.
    let mut payments: BTreeMap<&str, Option<Outcome>> = BTreeMap::new();
    for (id, keys) in &owner {
        if keys.len() > 1 {
            f.duplicates += keys.len() - 1;
            bad.push(format!(
                "payment {id} answers {} keys: {}",
                keys.len(),
                keys.join(", ")
            ));
        }
        payments.insert(id, keys.first().and_then(|k| outcome_of.get(k).copied()));
    }
    let mut listed_seen = HashSet::new();
    for id in &o.listed {
        if !listed_seen.insert(id.as_str()) {
            f.duplicates += 1;
            bad.push(format!("payment {id} is listed twice"));
        } else if !owner.contains_key(id) {
            f.duplicates += 1;
            bad.push(format!(
                "payment {id} is in its customer's list but no key answered with it (a second payment for one key?)"
            ));
        }
    }
    for id in owner.keys() {
        if !listed_seen.contains(id.as_str()) {
            bad.push(format!("payment {id} is missing from its customer's list"));
        }
    }

    // 5: charges.
    f.approved_charges = o.charged_attempts.len();
    f.succeeded = o
        .payments
        .iter()
        .filter(|(id, p)| p.status == "succeeded" && owner.contains_key(*id))
        .count();
    let mut charges: HashMap<&str, usize> = HashMap::new();
    for attempt in &o.charged_attempts {
        let id = attempt_owner(attempt);
        *charges.entry(id).or_default() += 1;
        match o.payments.get(id) {
            Some(p) if p.status == "succeeded" => {}
            Some(p) => bad.push(format!(
                "the network charged attempt {attempt} of payment {id}, which is {}",
                p.status
            )),
            None => bad.push(format!(
                "the network charged attempt {attempt} of {id}, a payment no key answered with"
            )),
        }
    }
    for (id, p) in &o.payments {
        if p.status != "succeeded" {
            continue;
        }
        match charges.get(id.as_str()).copied().unwrap_or(0) {
            1 => {}
            0 => bad.push(format!(
                "payment {id} is succeeded but the network charged nothing for it"
            )),
            n => bad.push(format!("payment {id} was charged {n} times by the network")),
        }
    }
    if f.approved_charges != f.succeeded {
        bad.push(format!(
            "the network approved {} charges but {} payments succeeded",
            f.approved_charges, f.succeeded
        ));
    }

    // 6: outcome events.
    let mut outcome_events: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &o.events {
        if OUTCOME_EVENTS.contains(&e.kind.as_str())
            && let Some(id) = &e.object
        {
            outcome_events.entry(id).or_default().push(&e.kind);
        }
    }
    for (id, outcome) in &payments {
        let got = outcome_events.remove(id).unwrap_or_default();
        match outcome {
            Some(outcome) if got == [outcome.event()] => {}
            Some(outcome) => bad.push(format!(
                "payment {id} is {} and has events [{}], expected exactly one {}",
                outcome.status(),
                got.join(", "),
                outcome.event()
            )),
            // Its status was already reported above.
            None => {}
        }
    }
    for (id, kinds) in outcome_events {
        bad.push(format!(
            "events [{}] are about {id}, a payment no key answered with",
            kinds.join(", ")
        ));
    }
    f.succeeded_events = o.succeeded_events.len();
    let mut succeeded_events: HashMap<&str, usize> = HashMap::new();
    for e in &o.succeeded_events {
        if e.kind != "payment.succeeded" {
            bad.push(format!(
                "GET /v1/events?type=payment.succeeded listed {} of type {}",
                e.id, e.kind
            ));
        }
        if let Some(id) = &e.object {
            *succeeded_events.entry(id).or_default() += 1;
        }
    }
    for (id, p) in &o.payments {
        let n = succeeded_events.get(id.as_str()).copied().unwrap_or(0);
        let want = usize::from(p.status == "succeeded");
        if n != want {
            bad.push(format!(
                "payment {id} is {} and has {n} payment.succeeded events (filtered by type), expected {want}",
                p.status
            ));
        }
    }

    // 7: webhooks.
    f.events = o.events.len();
    f.deliveries = o.deliveries;
    let missing: Vec<&str> = o
        .events
        .iter()
        .filter(|e| !o.received.contains(&e.id))
        .map(|e| e.id.as_str())
        .collect();
    f.delivered = f.events - missing.len();
    if !missing.is_empty() {
        bad.push(format!(
            "{} of {} events were never delivered to the webhook receiver, e.g. {}",
            missing.len(),
            f.events,
            missing
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: &str, status: &str) -> Answer {
        Answer {
            status: 200,
            body: format!(r#"{{"id":"{id}","object":"payment","status":"{status}"}}"#),
        }
    }

    fn declined(id: &str) -> Answer {
        Answer {
            status: 402,
            body: format!(
                r#"{{"error":{{"type":"card_error","code":"card_declined","paymentId":"{id}"}}}}"#
            ),
        }
    }

    fn key(n: usize, expected: Outcome, ack: Option<Answer>, last: Option<Answer>) -> KeyRecord {
        KeyRecord {
            key: format!("k{n}"),
            customer: "cust_a".to_owned(),
            amount: 100,
            expected,
            ack,
            last,
        }
    }

    fn view(status: &str) -> PaymentView {
        PaymentView {
            status: status.to_owned(),
            customer: "cust_a".to_owned(),
            amount: 100,
        }
    }

    fn event(id: &str, kind: &str, object: &str) -> EventView {
        EventView {
            id: id.to_owned(),
            kind: kind.to_owned(),
            object: Some(object.to_owned()),
        }
    }

    /// A sound round: a success acknowledged before the kill, a decline answered only after
    /// it, and a payment needing action.
    fn sound() -> Observed {
        let keys = vec![
            key(
                1,
                Outcome::Succeeded,
                Some(ok("pay_1", "succeeded")),
                Some(ok("pay_1", "succeeded")),
            ),
            key(2, Outcome::Failed, None, Some(declined("pay_2"))),
            key(
                3,
                Outcome::RequiresAction,
                None,
                Some(ok("pay_3", "requires_action")),
            ),
        ];
        let events = vec![
            event("evt_1", "payment.succeeded", "pay_1"),
            event("evt_2", "payment.failed", "pay_2"),
            event("evt_3", "payment.requires_action", "pay_3"),
            event("evt_4", "customer.created", "cust_a"),
        ];
        Observed {
            keys,
            payments: [
                ("pay_1", "succeeded"),
                ("pay_2", "failed"),
                ("pay_3", "requires_action"),
            ]
            .into_iter()
            .map(|(id, s)| (id.to_owned(), view(s)))
            .collect(),
            listed: vec!["pay_3".into(), "pay_2".into(), "pay_1".into()],
            succeeded_events: vec![events[0].clone()],
            received: events.iter().map(|e| e.id.clone()).collect(),
            deliveries: 5,
            events,
            charged_attempts: vec!["pay_1.1".into()],
        }
    }

    fn violations(o: &Observed) -> Vec<String> {
        check(o).violations
    }

    fn assert_one(o: &Observed, part: &str) {
        let v = violations(o);
        assert!(
            v.iter().any(|m| m.contains(part)),
            "expected a violation with `{part}`, got {v:#?}"
        );
    }

    #[test]
    fn a_sound_round_passes_with_its_figures() {
        let verdict = check(&sound());
        assert!(verdict.violations.is_empty(), "{:#?}", verdict.violations);
        assert_eq!(
            verdict.figures,
            Figures {
                keys: 3,
                acknowledged: 1,
                checked: 3,
                duplicates: 0,
                lost: 0,
                approved_charges: 1,
                succeeded: 1,
                succeeded_events: 1,
                events: 4,
                delivered: 4,
                deliveries: 5,
            }
        );
        assert!(
            verdict
                .figures
                .to_string()
                .contains("approved charges 1, succeeded payments 1")
        );
    }

    #[test]
    fn answers_name_their_payment() {
        assert_eq!(
            ok("pay_1", "succeeded").payment_id().as_deref(),
            Some("pay_1")
        );
        assert_eq!(declined("pay_2").payment_id().as_deref(), Some("pay_2"));
        assert_eq!(
            declined("pay_2").payment_status().as_deref(),
            Some("failed")
        );
        let conflict = Answer {
            status: 409,
            body: r#"{"error":{"code":"idempotency_key_in_use"}}"#.into(),
        };
        assert_eq!(conflict.payment_id(), None);
        assert_eq!(conflict.payment_status(), None);
    }

    #[test]
    fn a_key_never_answered_is_lost() {
        let mut o = sound();
        o.keys[1].last = None;
        assert_one(&o, "key k2: no answer other than 409");
        assert_eq!(check(&o).figures.lost, 1);
    }

    #[test]
    fn an_error_answer_is_reported() {
        let mut o = sound();
        o.keys[1].last = Some(Answer {
            status: 500,
            body: "{}".into(),
        });
        assert_one(&o, "key k2: answered 500 after the restart");
    }

    #[test]
    fn an_acknowledged_answer_must_be_replayed() {
        let mut o = sound();
        o.keys[0].last = Some(declined("pay_1"));
        assert_one(&o, "key k1: acknowledged 200");
        assert_eq!(check(&o).figures.lost, 1);
    }

    #[test]
    fn an_acknowledged_payment_must_be_there_with_its_status() {
        let mut o = sound();
        o.payments.remove("pay_1");
        assert_one(&o, "payment pay_1 is not there");
        assert_eq!(check(&o).figures.lost, 1);
        let mut o = sound();
        o.payments.insert("pay_1".into(), view("processing"));
        assert_one(
            &o,
            "payment pay_1 is processing but the key's answer says succeeded",
        );
        assert_one(&o, "its card must give succeeded");
    }

    #[test]
    fn amount_and_customer_must_be_those_asked() {
        let mut o = sound();
        o.payments.insert(
            "pay_2".into(),
            PaymentView {
                amount: 999,
                ..view("failed")
            },
        );
        assert_one(
            &o,
            "payment pay_2 is 999 for cust_a but 100 for cust_a was asked",
        );
    }

    #[test]
    fn two_keys_on_one_payment_are_duplicates() {
        let mut o = sound();
        o.keys[2].last = Some(ok("pay_1", "succeeded"));
        o.keys[2].expected = Outcome::Succeeded;
        o.listed.retain(|id| id != "pay_3");
        o.payments.remove("pay_3");
        o.events.retain(|e| e.object.as_deref() != Some("pay_3"));
        let verdict = check(&o);
        assert_eq!(verdict.figures.duplicates, 1, "{:#?}", verdict.violations);
        assert_one(&o, "payment pay_1 answers 2 keys");
    }

    #[test]
    fn a_payment_no_key_answered_is_a_duplicate() {
        let mut o = sound();
        o.listed.push("pay_9".into());
        assert_one(
            &o,
            "payment pay_9 is in its customer's list but no key answered",
        );
        assert_eq!(check(&o).figures.duplicates, 1);
        let mut o = sound();
        o.listed.push("pay_1".into());
        assert_one(&o, "payment pay_1 is listed twice");
        let mut o = sound();
        o.listed.retain(|id| id != "pay_2");
        assert_one(&o, "payment pay_2 is missing from its customer's list");
    }

    #[test]
    fn charges_must_match_succeeded_payments_one_each() {
        let mut o = sound();
        o.charged_attempts.push("pay_1.2".into());
        assert_one(&o, "payment pay_1 was charged 2 times");
        assert_one(&o, "approved 2 charges but 1 payments succeeded");
        let mut o = sound();
        o.charged_attempts.clear();
        assert_one(
            &o,
            "payment pay_1 is succeeded but the network charged nothing",
        );
        let mut o = sound();
        o.charged_attempts.push("pay_2.1".into());
        assert_one(
            &o,
            "charged attempt pay_2.1 of payment pay_2, which is failed",
        );
        let mut o = sound();
        o.charged_attempts.push("pay_7.1".into());
        assert_one(
            &o,
            "charged attempt pay_7.1 of pay_7, a payment no key answered",
        );
    }

    #[test]
    fn each_payment_has_exactly_one_outcome_event() {
        let mut o = sound();
        o.events.push(event("evt_5", "payment.succeeded", "pay_1"));
        o.received.insert("evt_5".into());
        assert_one(
            &o,
            "payment pay_1 is succeeded and has events [payment.succeeded, payment.succeeded]",
        );
        let mut o = sound();
        o.events.retain(|e| e.id != "evt_2");
        assert_one(&o, "payment pay_2 is failed and has events []");
        let mut o = sound();
        o.events.push(event("evt_6", "payment.failed", "pay_8"));
        o.received.insert("evt_6".into());
        assert_one(&o, "about pay_8, a payment no key answered with");
    }

    #[test]
    fn the_type_filtered_list_is_checked_too() {
        let mut o = sound();
        o.succeeded_events
            .push(event("evt_1b", "payment.succeeded", "pay_1"));
        assert_one(
            &o,
            "payment pay_1 is succeeded and has 2 payment.succeeded events",
        );
        let mut o = sound();
        o.succeeded_events.clear();
        assert_one(&o, "has 0 payment.succeeded events");
        let mut o = sound();
        o.succeeded_events
            .push(event("evt_2", "payment.failed", "pay_2"));
        assert_one(&o, "listed evt_2 of type payment.failed");
    }

    #[test]
    fn every_event_must_reach_the_receiver() {
        let mut o = sound();
        o.received.remove("evt_4");
        let verdict = check(&o);
        assert_eq!(verdict.figures.delivered, 3);
        assert_one(
            &o,
            "1 of 4 events were never delivered to the webhook receiver, e.g. evt_4",
        );
    }

    #[test]
    fn events_and_payments_parse_from_the_wire() {
        let e: Value = serde_json::from_str(
            r#"{"id":"evt_1","object":"event","type":"payment.failed","data":{"object":{"id":"pay_1"}}}"#,
        )
        .unwrap();
        assert_eq!(
            EventView::parse(&e),
            Some(event("evt_1", "payment.failed", "pay_1"))
        );
        let p: Value = serde_json::from_str(
            r#"{"id":"pay_1","status":"failed","customerId":"cust_a","amount":100}"#,
        )
        .unwrap();
        assert_eq!(PaymentView::parse(&p), Some(view("failed")));
        assert_eq!(attempt_owner("pay_x.2"), "pay_x");
    }
}
