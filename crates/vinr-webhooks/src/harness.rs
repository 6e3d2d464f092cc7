//! A test harness for merchants' receivers: deliver events the way a real sender may, with
//! duplicates, out of order and late, and check that the receiver ends where one clean,
//! in-order delivery of each event would have left it.
//!
//! Everything is deterministic from a seed (a small splitmix64 generator of our own), and
//! "late" is simulated time (each delivery's `at`), never a sleep.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vinr_webhooks::Event;
//! use vinr_webhooks::harness::Harness;
//!
//! // Three snapshots of one customer, as the server would send them.
//! let events: Vec<Event> = (1..=3u64)
//!     .map(|v| {
//!         Event::from_value(serde_json::json!({
//!             "id": format!("evt_{v}"), "type": "customer.updated", "created": 1_700_000_000 + v,
//!             "livemode": false,
//!             "data": {"object": {"object": "customer", "id": "cust_1", "version": v}}
//!         }))
//!         .unwrap()
//!     })
//!     .collect();
//!
//! // Keeps the newest version of each object: passes.
//! let newest = Harness::new(7).check(&events, BTreeMap::new(), |held: &mut BTreeMap<String, u64>, e| {
//!     let id = e.object_id().unwrap_or_default().to_owned();
//!     if held.get(&id).is_none_or(|&v| e.is_newer_than(v)) {
//!         held.insert(id, e.object_version().unwrap_or_default());
//!     }
//! });
//! assert!(newest.is_ok());
//!
//! // Counts deliveries: fails, because deliveries are at least once.
//! let naive = Harness::new(7).check(&events, 0u32, |count, _| *count += 1);
//! assert!(naive.is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::event::Event;
use crate::signature::{SecretBytes, signature_header};

/// A realistic delivery of `event` at `now`: the body as the server sends it, and its
/// `x-vinr-signature` value signed by each of `secrets` (several during a rotation overlap).
///
/// ```
/// use vinr_webhooks::{Event, Verifier};
/// use vinr_webhooks::harness::signed_request;
///
/// let event = Event::parse(br#"{"id":"evt_1","type":"customer.deleted","created":1,
///     "livemode":false,"data":{"object":{"object":"customer","id":"cust_1","version":4}}}"#).unwrap();
/// let (body, header) = signed_request(&event, &["whsec_test"], 1_700_000_000);
/// let got = Verifier::new(["whsec_test"]).verify(&body, &header, 1_700_000_000).unwrap();
/// assert_eq!(got, event);
/// ```
pub fn signed_request<S: SecretBytes>(event: &Event, secrets: &[S], now: i64) -> (Vec<u8>, String) {
    let body = event.raw().to_string().into_bytes();
    let header = signature_header(secrets, now, &body);
    (body, header)
}

/// One delivery of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The event's position in the list given to the harness.
    pub index: usize,
    /// The event's id.
    pub event_id: String,
    /// 1 for the first arrival of this event, 2 and up for duplicates.
    pub attempt: u32,
    /// When it arrives, in simulated Unix seconds: the event's `created` plus a delay.
    pub at: i64,
}

impl Delivery {
    /// Whether the event arrived before.
    pub fn is_duplicate(&self) -> bool {
        self.attempt > 1
    }
}

/// The deliveries of one run, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    seed: u64,
    deliveries: Vec<Delivery>,
}

impl Schedule {
    /// The seed this schedule was drawn from; [`Harness::new`] with it draws it again.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The deliveries, in arrival order.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// How many deliveries repeat an event that arrived before.
    pub fn duplicates(&self) -> usize {
        self.deliveries.iter().filter(|d| d.is_duplicate()).count()
    }

    /// How many deliveries arrive after an event that happened later than theirs.
    pub fn reordered(&self) -> usize {
        let mut latest: Option<usize> = None;
        let mut count = 0;
        for d in &self.deliveries {
            match latest {
                Some(l) if d.index < l => count += 1,
                _ => latest = Some(d.index),
            }
        }
        count
    }
}

/// What a run delivered, and what the handler answered to each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<R> {
    schedule: Schedule,
    outputs: Vec<R>,
}

impl<R> Report<R> {
    /// The deliveries made.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The handler's answers, one per delivery, in arrival order.
    pub fn outputs(&self) -> &[R] {
        &self.outputs
    }

    /// Each delivery with the handler's answer.
    pub fn iter(&self) -> impl Iterator<Item = (&Delivery, &R)> {
        self.schedule.deliveries.iter().zip(&self.outputs)
    }
}

/// What [`Harness::check`] tried, when the handler held up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// Schedules run.
    pub rounds: u32,
    /// Deliveries made, over all rounds.
    pub deliveries: usize,
    /// Duplicates among them.
    pub duplicates: usize,
    /// Deliveries that arrived after a later event.
    pub reordered: usize,
}

impl Checked {
    fn add(&mut self, schedule: &Schedule) {
        self.rounds += 1;
        self.deliveries += schedule.deliveries.len();
        self.duplicates += schedule.duplicates();
        self.reordered += schedule.reordered();
    }
}

/// The handler ended somewhere else than a clean, in-order delivery of each event once: it
/// is not idempotent, or not order-proof. Carries the schedule that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation<S> {
    /// The deliveries that led to `actual`.
    pub schedule: Schedule,
    /// The state after each event was delivered once, in order.
    pub expected: S,
    /// The state after `schedule`.
    pub actual: S,
}

impl<S: fmt::Debug> fmt::Display for Violation<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the receiver is not idempotent and order-proof: after {} deliveries ({} duplicates, \
             {} out of order; seed {}) its state is {:?}, but delivering each event once in \
             order gives {:?}",
            self.schedule.deliveries.len(),
            self.schedule.duplicates(),
            self.schedule.reordered(),
            self.schedule.seed,
            self.actual,
            self.expected
        )
    }
}

impl<S: fmt::Debug> std::error::Error for Violation<S> {}

/// Delivers events the way a real sender may: each at least once, in no guaranteed order,
/// late. Deterministic from its seed.
///
/// Defaults: half the events delivered more than once (up to 3 copies), delays up to one
/// hour, reordering on, and 16 rounds (schedules) per [`check`](Self::check). Every schedule
/// of two or more events holds at least one duplicate and one reordering, unless turned off.
///
/// ```
/// use vinr_webhooks::Event;
/// use vinr_webhooks::harness::Harness;
///
/// let events: Vec<Event> = (0..5)
///     .map(|i| Event::from_value(serde_json::json!({
///         "id": format!("evt_{i}"), "type": "payment.succeeded", "created": i, "livemode": false,
///         "data": {"object": {"object": "payment", "id": format!("pay_{i}"), "version": 2}}
///     })).unwrap())
///     .collect();
/// let report = Harness::new(42).run(&events, |e| e.id().to_owned());
/// assert!(report.schedule().duplicates() >= 1);
/// assert!(report.schedule().reordered() >= 1);
/// // Every event arrived at least once.
/// for e in &events {
///     assert!(report.outputs().iter().any(|id| id == e.id()));
/// }
/// // Same seed, same schedule.
/// assert_eq!(Harness::new(42).plan(&events), *report.schedule());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Harness {
    seed: u64,
    duplicate_probability: f64,
    max_copies: u32,
    max_delay: u64,
    reorder: bool,
    rounds: u32,
}

impl Harness {
    /// A harness drawing its schedules from `seed`, with the defaults above.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            duplicate_probability: 0.5,
            max_copies: 3,
            max_delay: 3_600,
            reorder: true,
            rounds: 16,
        }
    }

    /// The chance that an event is delivered more than once (clamped to 0..=1; 0 turns
    /// duplicates off).
    #[must_use]
    pub fn duplicates(mut self, probability: f64) -> Self {
        self.duplicate_probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self
    }

    /// The most copies of one event (at least 1; 1 turns duplicates off).
    #[must_use]
    pub fn max_copies(mut self, copies: u32) -> Self {
        self.max_copies = copies.max(1);
        self
    }

    /// The longest delay between an event's `created` and a delivery (whole seconds).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay.as_secs();
        self
    }

    /// Whether deliveries may arrive out of order (on by default).
    #[must_use]
    pub fn reorder(mut self, reorder: bool) -> Self {
        self.reorder = reorder;
        self
    }

    /// How many schedules [`check`](Self::check) tries (at least 1).
    #[must_use]
    pub fn rounds(mut self, rounds: u32) -> Self {
        self.rounds = rounds.max(1);
        self
    }

    /// The schedule that [`run`](Self::run) follows for these events.
    pub fn plan(&self, events: &[Event]) -> Schedule {
        self.plan_round(events, 0)
    }

    /// Delivers `events` to `handler` following [`plan`](Self::plan), and reports what it
    /// delivered and what the handler answered.
    pub fn run<R>(&self, events: &[Event], mut handler: impl FnMut(&Event) -> R) -> Report<R> {
        let schedule = self.plan(events);
        let outputs = schedule
            .deliveries
            .iter()
            .filter_map(|d| events.get(d.index))
            .map(&mut handler)
            .collect();
        Report { schedule, outputs }
    }

    /// Like [`run`](Self::run), but each delivery is a signed request, as
    /// [`signed_request`] builds it at the delivery's time: the handler receives the body,
    /// the `x-vinr-signature` value and that time (its "now"), so the receiver's whole path,
    /// verification included, is under test.
    ///
    /// ```
    /// use vinr_webhooks::{Event, Verifier};
    /// use vinr_webhooks::harness::Harness;
    ///
    /// let events = vec![Event::parse(br#"{"id":"evt_1","type":"setup.succeeded","created":1700000000,
    ///     "livemode":false,"data":{"object":{"object":"setup","id":"seti_1","version":2}}}"#).unwrap()];
    /// let verifier = Verifier::new(["whsec_a"]);
    /// let report = Harness::new(1).run_signed(&events, &["whsec_a"], |body, header, now| {
    ///     verifier.verify(body, header, now).map(|e| e.id().to_owned())
    /// });
    /// assert!(report.outputs().iter().all(|r| r.as_deref() == Ok("evt_1")));
    /// ```
    pub fn run_signed<S: SecretBytes, R>(
        &self,
        events: &[Event],
        secrets: &[S],
        mut handler: impl FnMut(&[u8], &str, i64) -> R,
    ) -> Report<R> {
        let schedule = self.plan(events);
        let outputs = schedule
            .deliveries
            .iter()
            .filter_map(|d| {
                let event = events.get(d.index)?;
                let (body, header) = signed_request(event, secrets, d.at);
                Some(handler(&body, &header, d.at))
            })
            .collect();
        Report { schedule, outputs }
    }

    /// Like [`run`](Self::run), for an async handler; the deliveries are awaited one after
    /// the other, on whatever executor awaits this.
    pub async fn run_async<R, Fut>(
        &self,
        events: &[Event],
        mut handler: impl FnMut(Event) -> Fut,
    ) -> Report<R>
    where
        Fut: Future<Output = R>,
    {
        let schedule = self.plan(events);
        let mut outputs = Vec::with_capacity(schedule.deliveries.len());
        for d in &schedule.deliveries {
            if let Some(event) = events.get(d.index) {
                outputs.push(handler(event.clone()).await);
            }
        }
        Report { schedule, outputs }
    }

    /// Checks that `handler`, starting from `initial` each time, ends in the same state after
    /// every schedule (of [`rounds`](Self::rounds)) as after delivering each event once, in
    /// the order given (the order they happened).
    ///
    /// The state is whatever the receiver keeps (a map, a counter, a copy of its tables).
    pub fn check<S, F>(
        &self,
        events: &[Event],
        initial: S,
        mut handler: F,
    ) -> Result<Checked, Violation<S>>
    where
        S: Clone + PartialEq + fmt::Debug,
        F: FnMut(&mut S, &Event),
    {
        let mut expected = initial.clone();
        for event in events {
            handler(&mut expected, event);
        }
        let mut checked = Checked::default();
        for round in 0..self.rounds {
            let schedule = self.plan_round(events, round);
            let mut actual = initial.clone();
            for d in &schedule.deliveries {
                if let Some(event) = events.get(d.index) {
                    handler(&mut actual, event);
                }
            }
            checked.add(&schedule);
            if actual != expected {
                return Err(Violation {
                    schedule,
                    expected,
                    actual,
                });
            }
        }
        Ok(checked)
    }

    /// [`check`](Self::check) for an async receiver whose state lives behind a handle (a
    /// pool, an `Arc<Mutex<…>>`, an app state): `fresh` makes a new, empty receiver,
    /// `deliver` hands it one event, `snapshot` reads the state to compare.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    /// use std::sync::{Arc, Mutex};
    /// use vinr_webhooks::Event;
    /// use vinr_webhooks::harness::Harness;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let events: Vec<Event> = (0..4)
    ///     .map(|i| Event::from_value(serde_json::json!({
    ///         "id": format!("evt_{i}"), "type": "payment.succeeded", "created": i, "livemode": false,
    ///         "data": {"object": {"object": "payment", "id": format!("pay_{i}"), "version": 2}}
    ///     })).unwrap())
    ///     .collect();
    /// // Records paid payments by id: idempotent.
    /// let checked = Harness::new(3)
    ///     .check_async(
    ///         &events,
    ///         || Arc::new(Mutex::new(BTreeSet::new())),
    ///         |paid, e| async move {
    ///             paid.lock().unwrap().insert(e.object_id().unwrap_or_default().to_owned());
    ///         },
    ///         |paid| async move { paid.lock().unwrap().clone() },
    ///     )
    ///     .await
    ///     .unwrap();
    /// assert!(checked.duplicates > 0);
    /// # });
    /// ```
    pub async fn check_async<R, S, DF, PF>(
        &self,
        events: &[Event],
        mut fresh: impl FnMut() -> R,
        mut deliver: impl FnMut(R, Event) -> DF,
        mut snapshot: impl FnMut(R) -> PF,
    ) -> Result<Checked, Violation<S>>
    where
        R: Clone,
        S: PartialEq + fmt::Debug,
        DF: Future<Output = ()>,
        PF: Future<Output = S>,
    {
        let receiver = fresh();
        for event in events {
            deliver(receiver.clone(), event.clone()).await;
        }
        let expected = snapshot(receiver).await;
        let mut checked = Checked::default();
        for round in 0..self.rounds {
            let schedule = self.plan_round(events, round);
            let receiver = fresh();
            for d in &schedule.deliveries {
                if let Some(event) = events.get(d.index) {
                    deliver(receiver.clone(), event.clone()).await;
                }
            }
            let actual = snapshot(receiver).await;
            checked.add(&schedule);
            if actual != expected {
                return Err(Violation {
                    schedule,
                    expected,
                    actual,
                });
            }
        }
        Ok(checked)
    }

    /// The schedule of one round: round 0 is [`plan`](Self::plan)'s.
    fn plan_round(&self, events: &[Event], round: u32) -> Schedule {
        let seed = match round {
            0 => self.seed,
            r => SplitMix64(self.seed.wrapping_add(u64::from(r))).next_u64(),
        };
        let mut rng = SplitMix64(seed);
        let duplicates_on = self.duplicate_probability > 0.0 && self.max_copies > 1;

        // (event index, arrival time, tie-break)
        let mut arrivals: Vec<(usize, i64, u64)> = Vec::with_capacity(events.len() * 2);
        for (index, event) in events.iter().enumerate() {
            let copies = if duplicates_on && rng.chance(self.duplicate_probability) {
                2 + rng.below(u64::from(self.max_copies - 1))
            } else {
                1
            };
            for _ in 0..copies {
                arrivals.push(self.arrival(&mut rng, index, event));
            }
        }
        if duplicates_on && !events.is_empty() && arrivals.len() == events.len() {
            let index = rng.below(events.len() as u64) as usize;
            if let Some(event) = events.get(index) {
                arrivals.push(self.arrival(&mut rng, index, event));
            }
        }

        if self.reorder {
            arrivals.sort_by_key(|&(_, at, tie)| (at, tie));
            force_an_inversion(&mut arrivals, &mut rng);
        } else {
            arrivals.sort_by_key(|&(index, at, _)| (index, at));
            let mut last = i64::MIN;
            for (_, at, _) in &mut arrivals {
                last = last.max(*at);
                *at = last;
            }
        }

        let mut seen: HashMap<usize, u32> = HashMap::new();
        let deliveries = arrivals
            .into_iter()
            .filter_map(|(index, at, _)| {
                let event = events.get(index)?;
                let attempt = seen.entry(index).or_insert(0);
                *attempt += 1;
                Some(Delivery {
                    index,
                    event_id: event.id().to_owned(),
                    attempt: *attempt,
                    at,
                })
            })
            .collect();
        Schedule { seed, deliveries }
    }

    fn arrival(&self, rng: &mut SplitMix64, index: usize, event: &Event) -> (usize, i64, u64) {
        let delay = rng.below(self.max_delay.saturating_add(1));
        let at = event
            .created()
            .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        (index, at, rng.next_u64())
    }
}

/// When arrivals came out in the order the events happened, swaps one adjacent pair of
/// different events (keeping the arrival times), so every schedule tests order.
fn force_an_inversion(arrivals: &mut [(usize, i64, u64)], rng: &mut SplitMix64) {
    let n = arrivals.len();
    let in_order = arrivals.windows(2).all(|w| match w {
        [a, b] => a.0 <= b.0,
        _ => true,
    });
    if n < 2 || !in_order {
        return;
    }
    let start = rng.below(n as u64 - 1) as usize;
    for k in (start..n - 1).chain(0..start) {
        let (a, b) = (arrivals[k].0, arrivals[k + 1].0);
        if a < b {
            arrivals[k].0 = b;
            arrivals[k + 1].0 = a;
            return;
        }
    }
}

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and plenty for test schedules.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (multiply-shift; `0` when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn events(n: i64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                Event::from_value(serde_json::json!({
                    "id": format!("evt_{i}"), "type": "customer.updated", "created": 1_000 + i * 10,
                    "livemode": false,
                    "data": {"object": {"object": "customer", "id": "cust_1", "version": i + 1}}
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn splitmix64_matches_the_reference() {
        // First outputs for seed 1234567 of the reference C implementation.
        let mut r = SplitMix64(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(r.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn every_event_arrives_and_attempts_count_up() {
        let events = events(20);
        for seed in 0..50 {
            let s = Harness::new(seed).plan(&events);
            for (i, e) in events.iter().enumerate() {
                let mine: Vec<_> = s.deliveries().iter().filter(|d| d.index == i).collect();
                assert!(!mine.is_empty());
                assert!(mine.len() <= 3);
                let attempts: Vec<u32> = mine.iter().map(|d| d.attempt).collect();
                assert_eq!(attempts, (1..=mine.len() as u32).collect::<Vec<_>>());
                assert!(mine.iter().all(|d| d.event_id == e.id()));
            }
            assert!(s.duplicates() >= 1 && s.reordered() >= 1, "seed {seed}");
            assert!(s.deliveries().windows(2).all(|w| w[0].at <= w[1].at));
            assert!(
                s.deliveries()
                    .iter()
                    .all(|d| d.at >= events[d.index].created()
                        && d.at <= events[d.index].created() + 3_600)
            );
        }
    }

    #[test]
    fn turning_things_off() {
        let events = events(10);
        let calm = Harness::new(9)
            .duplicates(0.0)
            .reorder(false)
            .max_delay(Duration::ZERO);
        let s = calm.plan(&events);
        assert_eq!(s.duplicates(), 0);
        assert_eq!(s.reordered(), 0);
        assert_eq!(
            s.deliveries().iter().map(|d| d.index).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        let once = Harness::new(9).max_copies(1).reorder(false);
        assert_eq!(once.plan(&events).duplicates(), 0);
        let s = Harness::new(9).duplicates(f64::NAN).plan(&events);
        assert_eq!(s.duplicates(), 0);
        assert_eq!(Harness::new(9).plan(&[]).deliveries(), &[]);
        let one = Harness::new(9).plan(&events[..1]);
        assert!(one.duplicates() >= 1);
    }

    #[test]
    fn rounds_differ_and_the_first_is_the_plan() {
        let events = events(8);
        let h = Harness::new(5);
        assert_eq!(h.plan_round(&events, 0), h.plan(&events));
        assert_ne!(h.plan_round(&events, 1), h.plan_round(&events, 2));
        assert_eq!(h.plan_round(&events, 0).seed(), 5);
    }
}
