//! The baseline: the least an axum JSON endpoint can do, served the way `vinr serve` serves
//! (axum over tokio, HTTP/1.1, a multi-threaded runtime). Every scenario is reported as a ratio
//! to its requests per second, measured in the same run on the same box.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The answer: a small customer-shaped object.
#[derive(Debug, Serialize)]
struct Customer {
    id: &'static str,
    object: &'static str,
    email: &'static str,
    name: &'static str,
    livemode: bool,
    version: u64,
}

async fn customer() -> Json<Customer> {
    Json(Customer {
        id: "cust_x",
        object: "customer",
        email: "ada@example.com",
        name: "Ada Lovelace",
        livemode: false,
        version: 1,
    })
}

/// The baseline's routes: `GET /v1/customers/x` only.
pub(crate) fn router() -> Router {
    Router::new().route("/v1/customers/x", get(customer))
}

/// Binds `listen`, prints `listening on http://ADDR` on standard output (as `vinr serve` does),
/// and serves until `SIGTERM` or `SIGINT`, then exits 0.
pub(crate) async fn run(listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    axum::serve(listener, router())
        .with_graceful_shutdown(stopped())
        .await
        .context("the baseline server failed")
}

/// Resolves on `SIGTERM` or `SIGINT` (or never, if the handlers cannot be installed).
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
