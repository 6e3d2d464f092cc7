//! `vinr listen`: prints a running server's events as they happen and, with `--forward-to`,
//! posts each one, signed, to a local URL, so a merchant can develop a webhook receiver
//! against a sandbox without registering an endpoint.
//!
//! How it follows the log: `GET /v1/events` lists newest first, in the order the server wrote
//! them. At start it notes the newest event (nothing before it is shown); then, every
//! [`POLL_INTERVAL`], it reads pages from the newest back until it meets the event it saw last
//! (following `startingAfter`, so a burst larger than a page is caught up), and prints what is
//! new oldest first. If that event has gone (events are kept 30 days) it stops at the first
//! event created before it.
//!
//! Forwarding: each event's JSON exactly as the API returned it is `POST`ed with
//! `content-type: application/json`, `x-vinr-event-id` and `x-vinr-signature` (api.md §6),
//! signed with a `whsec_` secret made at start and printed once, one event at a time, in
//! order; the answer's status (or why there was none) is printed under the event's line.
//! Nothing is retried: this is a development tool, and a failing receiver is what the
//! developer wants to see.
//!
//! One limit: with several servers on one PostgreSQL database, an event committed late by one
//! server may be listed behind one already seen, and then it is not shown.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use vinr_domain::webhook::WebhookSecret;
use vinr_ports::clock::Clock as _;
use vinr_ports::ids::IdGenerator as _;
use vinr_store::clock::SystemClock;
use vinr_store::ids::OsRandomIds;
use vinr_webhooks::dispatch::{DEFAULT_TIMEOUT, ReqwestSender, Sender as _};
use vinr_webhooks::{EVENT_ID_HEADER, Event, SIGNATURE_HEADER, signature_header};

use crate::cli::{ApiArgs, ListenArgs};
use crate::signals::Signals;
use crate::terminal;

/// How often the event log is read.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Events per page (the API's maximum).
const PAGE_SIZE: u32 = 100;

/// The most pages one look reads: a burst beyond this many events between two looks shows only
/// its newest part.
const MAX_PAGES: usize = 10;

/// How long one request to the API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// `vinr listen`.
pub(crate) async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let signals = Signals::install().context("cannot watch for SIGINT/SIGTERM")?;
    let log = EventLog::new(&args.api)?;
    let forwarder = args.forward_to.as_deref().map(Forwarder::new).transpose()?;

    let mut seen = match log.newest().await {
        Ok(seen) => seen,
        Err(e) => {
            return Err(e.into_error())
                .with_context(|| format!("cannot read the events of {}", log.base));
        }
    };
    if let Some(f) = &forwarder {
        terminal::say(&format!(
            "Your webhook signing secret is {}",
            f.secret.expose()
        ));
        terminal::say(&format!("Forwarding events to {}", f.url));
    }
    terminal::say(&format!(
        "Ready! Listening for events on {} (Ctrl-C to quit)",
        log.base
    ));

    let follow = async {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the start-up read was the look "now".
        ticks.tick().await;
        let mut unavailable = false;
        loop {
            ticks.tick().await;
            let events = match log.since(&seen).await {
                Ok(events) => events,
                Err(PollError::Refused(why)) => {
                    return Err(anyhow::Error::msg(why))
                        .with_context(|| format!("cannot read the events of {}", log.base));
                }
                Err(PollError::Unavailable(why)) => {
                    if !unavailable {
                        tracing::warn!(api = %log.base, error = %why, "cannot read the events; trying again every second");
                        unavailable = true;
                    }
                    continue;
                }
            };
            if unavailable {
                tracing::info!(api = %log.base, "reading the events again");
                unavailable = false;
            }
            for incoming in &events {
                if !args.events.admits(incoming.event.kind().as_str()) {
                    continue;
                }
                terminal::say(&incoming.line());
                if let Some(f) = &forwarder {
                    terminal::say(&f.forward(incoming).await);
                }
            }
            if let Some(newest) = events.last() {
                seen = Seen::of(&newest.event);
            }
        }
    };
    tokio::select! {
        result = follow => result,
        signal = signals.wait() => {
            tracing::debug!(signal, "stopped");
            Ok(())
        }
    }
}

/// The event seen last: where the next look stops.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// Its id (`None`: the log was empty at start).
    id: Option<String>,
    /// Its `created`; an event created before it is older even if `id` has gone.
    created: i64,
}

impl Seen {
    fn of(event: &Event) -> Seen {
        Seen {
            id: Some(event.id().to_owned()),
            created: event.created(),
        }
    }

    /// Nothing seen: every event is new.
    fn nothing() -> Seen {
        Seen {
            id: None,
            created: i64::MIN,
        }
    }

    /// Whether `event` was shown already (it is this one, or older).
    fn covers(&self, event: &Event) -> bool {
        self.id.as_deref() == Some(event.id()) || event.created() < self.created
    }
}

/// An event as listed: the JSON exactly as received, and its parsed form.
#[derive(Debug)]
struct Incoming {
    raw: Box<RawValue>,
    event: Event,
}

impl Incoming {
    fn parse(raw: Box<RawValue>) -> Result<Incoming, PollError> {
        let event = Event::parse(raw.get().as_bytes()).map_err(|e| {
            PollError::Refused(format!(
                "the server listed an event that is not one: {}",
                e.reason()
            ))
        })?;
        Ok(Incoming { raw, event })
    }

    /// `<created> <type> <event id> <object id>`.
    fn line(&self) -> String {
        let e = &self.event;
        format!(
            "{} {} {} {}",
            timestamp(e.created()),
            e.kind().as_str(),
            e.id(),
            e.object_id().unwrap_or("-")
        )
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn timestamp(unix: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix, 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// Why a look at the log failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PollError {
    /// The server refused (a wrong key, a request it rejects): looking again will not help.
    Refused(String),
    /// The server could not be reached or failed: look again later.
    Unavailable(String),
}

impl PollError {
    fn into_error(self) -> anyhow::Error {
        match self {
            PollError::Refused(why) | PollError::Unavailable(why) => anyhow::Error::msg(why),
        }
    }
}

/// One page of `GET /v1/events`, each event kept as received.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    data: Vec<Box<RawValue>>,
    has_more: bool,
}

/// `GET /v1/events` of one server, with one key.
struct EventLog {
    /// The base URL, as given (without a trailing slash).
    base: String,
    events: reqwest::Url,
    client: reqwest::Client,
    bearer: String,
}

impl EventLog {
    fn new(api: &ApiArgs) -> anyhow::Result<EventLog> {
        let base = api.api_base.trim().trim_end_matches('/').to_owned();
        let events = http_url(&format!("{base}/v1/events"))
            .with_context(|| format!("--api-base `{base}` is not usable"))?;
        let client = reqwest::Client::builder()
            .timeout(API_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vinr-listen/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(EventLog {
            base,
            events,
            client,
            bearer: format!("Bearer {}", api.secret_key.expose()),
        })
    }

    /// Where to start: the newest event now.
    async fn newest(&self) -> Result<Seen, PollError> {
        let page = self.page(None, 1).await?;
        match page.data.into_iter().next() {
            Some(raw) => Ok(Seen::of(&Incoming::parse(raw)?.event)),
            None => Ok(Seen::nothing()),
        }
    }

    /// The events after `seen`, oldest first.
    async fn since(&self, seen: &Seen) -> Result<Vec<Incoming>, PollError> {
        let mut fresh = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.page(after.as_deref(), PAGE_SIZE).await?;
            let more = page.has_more && !page.data.is_empty();
            for raw in page.data {
                let incoming = Incoming::parse(raw)?;
                if seen.covers(&incoming.event) {
                    fresh.reverse();
                    return Ok(fresh);
                }
                after = Some(incoming.event.id().to_owned());
                fresh.push(incoming);
            }
            if !more {
                fresh.reverse();
                return Ok(fresh);
            }
        }
        tracing::warn!(
            shown = fresh.len(),
            "more new events than one look reads; the older ones of this burst are not shown"
        );
        fresh.reverse();
        Ok(fresh)
    }

    async fn page(&self, after: Option<&str>, limit: u32) -> Result<Page, PollError> {
        let mut url = self.events.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &limit.to_string());
            if let Some(after) = after {
                query.append_pair("startingAfter", after);
            }
        }
        let answer = self
            .client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| PollError::Unavailable(transport_error(&e)))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| PollError::Unavailable(transport_error(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                PollError::Refused(format!("the server's answer is not a list of events: {e}"))
            });
        }
        let why = format!(
            "the server answered HTTP {status}: {}",
            error_message(&body)
        );
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Err(PollError::Unavailable(why))
        } else {
            Err(PollError::Refused(why))
        }
    }
}

/// The `message` of an API error body, or a note that there is none.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(no error message)".to_owned())
}

/// A transport failure, without the URL's query.
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// An absolute http(s) URL without credentials.
fn http_url(text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text.trim()).context("not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("the scheme must be http or https");
    }
    if url.host_str().is_none() {
        bail!("there is no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("it may not hold a user name or password");
    }
    Ok(url)
}

/// Posts events, signed, to `--forward-to`.
struct Forwarder {
    url: String,
    secret: WebhookSecret,
    sender: ReqwestSender,
}

impl Forwarder {
    fn new(url: &str) -> anyhow::Result<Forwarder> {
        let parsed = http_url(url)
            .with_context(|| format!("--forward-to `{}` is not usable", url.trim()))?;
        let ids = OsRandomIds::new();
        Ok(Forwarder {
            url: parsed.to_string(),
            secret: WebhookSecret::from_entropy(&ids.entropy(), &ids.entropy()),
            sender: ReqwestSender::new().context("cannot build the HTTP client")?,
        })
    }

    /// Posts `incoming` and says how it went: `  --> POST <url> [<status>]`.
    async fn forward(&self, incoming: &Incoming) -> String {
        let body = incoming.raw.get().as_bytes();
        let now = SystemClock::new().now().timestamp();
        let signature = signature_header(&[&self.secret], now, body);
        let headers = [
            ("content-type", "application/json"),
            (EVENT_ID_HEADER, incoming.event.id()),
            (SIGNATURE_HEADER, signature.as_str()),
        ];
        let outcome = self
            .sender
            .send(&self.url, &headers, body, DEFAULT_TIMEOUT)
            .await;
        let result = match outcome {
            Ok(code) => {
                let reason = StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason());
                match reason {
                    Some(reason) => format!("{code} {reason}"),
                    None => code.to_string(),
                }
            }
            Err(e) => format!("failed: {e}"),
        };
        format!("  --> POST {} [{result}]", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, created: i64) -> Event {
        let body = format!(
            r#"{{"id":"{id}","object":"event","type":"customer.created","created":{created},"livemode":false,"data":{{"object":{{"object":"customer","id":"cust_1","version":1}}}}}}"#
        );
        Event::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_look_stops_at_the_event_seen_last_or_at_an_older_one() {
        let seen = Seen::of(&event("evt_b", 100));
        assert!(seen.covers(&event("evt_b", 100)));
        assert!(seen.covers(&event("evt_a", 99)));
        assert!(!seen.covers(&event("evt_c", 100)));
        assert!(!seen.covers(&event("evt_d", 101)));
        assert!(!Seen::nothing().covers(&event("evt_a", 0)));
    }

    #[test]
    fn lines_name_the_time_type_event_and_object() {
        let raw = RawValue::from_string(
            r#"{"id":"evt_1","object":"event","type":"payment.succeeded","created":1700000000,"livemode":false,"data":{"object":{"object":"payment","id":"pay_1","version":2}}}"#
                .to_owned(),
        )
        .unwrap();
        let incoming = Incoming::parse(raw).unwrap();
        assert_eq!(
            incoming.line(),
            "2023-11-14T22:13:20Z payment.succeeded evt_1 pay_1"
        );
    }

    #[test]
    fn pages_keep_each_event_as_received() {
        let body = br#"{"object":"list","data":[{"id":"evt_1", "b":1 ,"a":2}],"hasMore":true}"#;
        let page: Page = serde_json::from_slice(body).unwrap();
        assert!(page.has_more);
        assert_eq!(page.data[0].get(), r#"{"id":"evt_1", "b":1 ,"a":2}"#);
    }

    #[test]
    fn only_plain_http_urls_are_forwarded_to() {
        assert!(http_url("http://127.0.0.1:3000/hook").is_ok());
        assert!(http_url("https://example.com/").is_ok());
        for bad in ["ftp://x/", "localhost:3000", "http://u:p@x/"] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
        assert!(
            error_message(br#"{"error":{"message":"Invalid API key"}}"#)
                .contains("Invalid API key")
        );
    }
}
