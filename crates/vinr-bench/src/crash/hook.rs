//! The webhook receiver of a crash round: a small axum server on `127.0.0.1:0` that answers
//! every `POST /hook` with 200 and records the `x-vinr-event-id` it carried. It runs in the
//! driver's process, so it outlives the killed server and hears the deliveries of the restarted
//! one. Delivery is at least once: duplicates are counted, not refused.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::oneshot;

/// What the receiver heard.
#[derive(Debug, Default)]
struct Heard {
    ids: HashSet<String>,
    deliveries: u64,
    unsigned: u64,
}

/// A running receiver; stopped on drop.
pub(crate) struct Receiver {
    url: String,
    heard: Arc<Mutex<Heard>>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves in a task of its own.
    pub(crate) async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the webhook receiver")?;
        let addr = listener.local_addr()?;
        let heard = Arc::new(Mutex::new(Heard::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(heard.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            heard,
            _stop: stop,
        })
    }

    /// The URL to register as a webhook endpoint.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The event ids heard at least once, the deliveries heard (duplicates included), and how
    /// many came without an event id or a signature header.
    pub(crate) fn snapshot(&self) -> (HashSet<String>, u64, u64) {
        let heard = self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        (heard.ids.clone(), heard.deliveries, heard.unsigned)
    }

    /// How many of `ids` were heard.
    pub(crate) fn count_heard<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> usize {
        let heard = self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        ids.into_iter().filter(|id| heard.ids.contains(*id)).count()
    }
}

async fn receive(State(heard): State<Arc<Mutex<Heard>>>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get("x-vinr-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let signed = headers.contains_key("x-vinr-signature");
    let mut heard = heard.lock().unwrap_or_else(PoisonError::into_inner);
    heard.deliveries += 1;
    match id {
        Some(id) if signed => {
            heard.ids.insert(id);
        }
        _ => heard.unsigned += 1,
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// One `POST /hook` over a fresh connection, with `headers`; returns the status line.
    async fn post(addr: &str, headers: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST /hook HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             {headers}content-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn records_each_event_id_and_counts_duplicates() {
        let receiver = Receiver::start().await.unwrap();
        let addr = receiver
            .url()
            .trim_start_matches("http://")
            .trim_end_matches("/hook")
            .to_owned();
        for id in ["evt_1", "evt_2", "evt_1"] {
            let headers = format!("x-vinr-event-id: {id}\r\nx-vinr-signature: t=1,v1=00\r\n");
            assert_eq!(post(&addr, &headers).await, "HTTP/1.1 200 OK");
        }
        assert_eq!(post(&addr, "").await, "HTTP/1.1 200 OK");
        let (ids, deliveries, unsigned) = receiver.snapshot();
        assert_eq!(ids.len(), 2);
        assert_eq!(deliveries, 4);
        assert_eq!(unsigned, 1);
        assert_eq!(receiver.count_heard(["evt_1", "evt_3"]), 1);
    }
}
