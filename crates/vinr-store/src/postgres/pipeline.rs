//! Pipelining: many statements sent in one flight on one connection.
//!
//! `tokio-postgres` queues a request on the connection the first time its future is polled,
//! and the connection answers requests in order. So polling each future of a list once, in
//! order, sends them all back to back, and the answers come back in one round trip.
//! The answers must then be read in the same order: the connection hands each answer to its
//! request only as fast as it is read, so waiting on a later one first would stall.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, Statement};

/// A request in flight, answering `R` (a statement's rows by default).
pub(super) type Flight<'a, R = Vec<Row>> =
    Pin<Box<dyn Future<Output = Result<R, Error>> + Send + 'a>>;

/// A prepared statement with its parameters.
pub(super) fn query<'a>(
    client: &'a Object,
    statement: &'a Statement,
    params: &'a [&'a (dyn ToSql + Sync)],
) -> Flight<'a> {
    Box::pin(client.query(statement, params))
}

/// A command sent as a simple query (`BEGIN`, `COMMIT`, `ROLLBACK`).
pub(super) fn command<'a>(client: &'a Object, sql: &'a str) -> Flight<'a> {
    Box::pin(async move { client.batch_execute(sql).await.map(|()| Vec::new()) })
}

/// A request, and its answer if it came at once.
struct InFlight<'a, R> {
    flight: Flight<'a, R>,
    answer: Option<Result<R, Error>>,
}

impl<'a, R> InFlight<'a, R> {
    /// Polls the request once (which queues it on the connection).
    fn start(mut flight: Flight<'a, R>, cx: &mut Context<'_>) -> Self {
        let answer = match flight.as_mut().poll(cx) {
            Poll::Ready(a) => Some(a),
            Poll::Pending => None,
        };
        Self { flight, answer }
    }
}

/// Requests sent, in order, whose answers are still to be read.
pub(super) struct Sent<'a, R> {
    flights: Vec<InFlight<'a, R>>,
}

impl<'a, R> Sent<'a, R> {
    /// Sends every request now, in order, without waiting for any answer.
    ///
    /// Each future is polled exactly once (which queues its request); one that already
    /// finished (it failed before sending, say a parameter that does not encode) keeps its
    /// answer. After the requests, `last` is called with whether every one of them was sent
    /// without an error, and its request (if any) is sent right behind them in the same
    /// poll: nothing can come between them, even if the caller's future is dropped.
    pub(super) async fn send(
        flights: Vec<Flight<'a, R>>,
        last: impl FnOnce(bool) -> Option<Flight<'a, R>>,
    ) -> Self {
        let mut pending = Some((flights, last));
        let mut started = Vec::new();
        poll_fn(|cx| {
            if let Some((flights, last)) = pending.take() {
                started = flights
                    .into_iter()
                    .map(|f| InFlight::start(f, cx))
                    .collect();
                let clean = started.iter().all(|f| !matches!(f.answer, Some(Err(_))));
                if let Some(flight) = last(clean) {
                    started.push(InFlight::start(flight, cx));
                }
            }
            Poll::Ready(())
        })
        .await;
        Self { flights: started }
    }

    /// Reads every answer, in order.
    pub(super) async fn answers(self) -> Vec<Result<R, Error>> {
        let mut out = Vec::with_capacity(self.flights.len());
        for f in self.flights {
            out.push(match f.answer {
                Some(a) => a,
                None => f.flight.await,
            });
        }
        out
    }
}

/// Sends every request in one flight and reads the answers, in order.
pub(super) async fn run<R>(flights: Vec<Flight<'_, R>>) -> Vec<Result<R, Error>> {
    Sent::send(flights, |_| None).await.answers().await
}
