//! The `tracing` subscriber: text or JSON lines on standard error, filtered by `RUST_LOG`
//! (default `info`).
//!
//! Standard error carries the log; standard output carries only what the operator is told
//! (the listen address, a key created), so a JSON log reader sees nothing but JSON.
//! What is logged is the server's own business: the request line (method, path without query,
//! status, latency, request id) comes from `vinr-http`'s middleware, and nothing in this
//! crate logs a key, a card number or a database password.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. An unusable `RUST_LOG` falls back to `info`, and says so.
pub(crate) fn init(format: LogFormat) {
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(f) => (f, false),
            Err(_) => (EnvFilter::new("info"), true),
        },
        _ => (EnvFilter::new("info"), false),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second subscriber can only be refused in tests that call this twice; keep the first.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    if bad_filter {
        tracing::warn!("RUST_LOG is not a valid filter; logging at info");
    }
}
