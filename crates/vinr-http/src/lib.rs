//! VINR over HTTP.
//!
//! With the `server` feature: the axum router of the whole contract of `api.md` (the JSON API
//! under `/v1`, the hosted card pages under `/hosted`, health, readiness, metrics and the
//! OpenAPI document), over an in-process [`vinr_engine::Engine`], and [`server::serve`] to run
//! it with graceful shutdown.
//! With the `client` feature: [`client::HttpClient`], a reqwest client that implements the
//! same driving API traits as the engine, so code written against `vinr::Vinr` runs unchanged
//! against a server.
//!
//! # Layout
//! - [`server`]: `AppState`, `router`, `serve`; `server::api` (JSON handlers),
//!   `server::hosted` (HTML pages), and the edges (auth, errors, extractors, idempotency,
//!   metrics, OpenAPI).
//! - [`client`]: the HTTP implementation of `vinr_ports::api::VinrApi`.

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;
