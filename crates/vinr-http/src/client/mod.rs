//! The HTTP client: [`HttpClient`] implements every trait of [`vinr_ports::api`] (hence
//! [`VinrApi`](vinr_ports::api::VinrApi)) over the wire contract of `api.md`, so code written
//! against `vinr::Vinr` runs unchanged against a VINR server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vinr_http::client::HttpClient;
//! use vinr_ports::api::CustomersApi;
//! use vinr_ports::params::CreateCustomer;
//! use vinr_ports::RequestContext;
//!
//! # async fn run() -> Result<(), vinr_ports::Error> {
//! let secret_key = std::env::var("VINR_SECRET_KEY").unwrap_or_default();
//! let client = HttpClient::new("http://127.0.0.1:4242", &secret_key)?;
//! let ada = client
//!     .create_customer(&RequestContext::sandbox(), CreateCustomer::default())
//!     .await?;
//! # let _ = (ada, Arc::new(client));
//! # Ok(())
//! # }
//! ```
//!
//! What it does on the wire:
//! - Every `/v1` call carries `Authorization: Bearer <secret key>`; the key is never printed
//!   (`Debug` redacts it, transport errors never contain it).
//! - Every `POST` carries an `Idempotency-Key`: the caller's
//!   [`RequestContext::idempotency_key`](vinr_ports::RequestContext) if set, else a fresh random
//!   one per call; the retries of that call reuse it, so a retry can never charge twice.
//! - Retries with exponential backoff and jitter (see [`ClientOptions`]): a `POST` on a network
//!   failure, 409, 429 and 5xx; a `GET`, `PATCH` or `DELETE` on a network failure, 429 and 5xx.
//!   Other 4xx and 402 are answers, never retried.
//! - Errors come back as the same typed [`vinr_ports::Error`] as in-process: the JSON error
//!   body goes through [`Error::from_body`]; 410 is [`Error::Gone`]; network failures and
//!   timeouts are [`Error::Transport`].
//! - `Idempotent-Replayed: true` marks the context's [`ReplayProbe`](vinr_ports::ReplayProbe).
//! - The hosted pages ([`HostedApi`](vinr_ports::api::HostedApi)) are played like a buyer's
//!   browser: a cookie jar per page flow, the form's hidden inputs (the CSRF token) sent back,
//!   an `Origin` header, redirects observed rather than followed.
//!
//! # Layout
//! - `transport`: one logical call (key, retries, backoff, error mapping).
//! - `api`: the JSON API traits, endpoint by endpoint.
//! - `hosted`: the hosted pages, with the cookie jar.
//! - `html`: a tiny, tolerant HTML scanner (tags, attributes, text) for those pages.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use vinr_domain::error::InvalidRequestCode;
use vinr_ports::{Error, Mode};

mod api;
mod hosted;
mod html;
mod transport;

/// How the client waits and retries.
///
/// ```
/// use std::time::Duration;
/// use vinr_http::client::ClientOptions;
/// let options = ClientOptions { max_retries: 5, ..Default::default() };
/// assert_eq!(options.timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The deadline of one HTTP exchange (connect, send, read the answer); default 30 s.
    pub timeout: Duration,
    /// How many times a failed call is tried again (so at most `1 + max_retries` requests);
    /// default 3.
    pub max_retries: u32,
    /// The first backoff; the n-th retry waits about `backoff_base * 2^n` (with jitter, at
    /// most 20 s), or what the server's `Retry-After` asks; default 250 ms.
    pub backoff_base: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff_base: Duration::from_millis(250),
        }
    }
}

/// The VINR API over HTTP: implements every trait of [`vinr_ports::api`].
///
/// Cheap to clone (the connection pools and the hosted pages' cookie jar are shared).
/// `Debug` shows the base URL and the key's mode, never the key.
///
/// ```
/// let client = vinr_http::client::HttpClient::new("http://127.0.0.1:4242", "sk_test_123")?;
/// assert!(!format!("{client:?}").contains("sk_test_123"));
/// assert_eq!(client.mode(), vinr_ports::Mode::Test);
/// # Ok::<(), vinr_ports::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    base: Url,
    secret: SecretKey,
    options: ClientOptions,
    /// The API client: bearer auth, JSON.
    api: reqwest::Client,
    /// The buyer's browser: no auth, no redirects followed.
    browser: reqwest::Client,
    /// Cookies of the hosted pages, per page flow (the object id).
    jar: Arc<Mutex<hosted::CookieJar>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.base.as_str())
            .field("secret_key", &self.secret)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client of the server at `base_url` (`http://127.0.0.1:4242`, `https://api.example.com`)
    /// authenticating with `secret_key`, with the default [`ClientOptions`].
    ///
    /// Fails with [`Error::InvalidRequest`] when the URL is not an absolute http(s) URL
    /// (`invalid_url`, param `base_url`) or the key is not printable ASCII (`parameter_invalid`,
    /// param `secret_key`; the message never contains the key).
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, Error> {
        Self::with_options(base_url, secret_key, ClientOptions::default())
    }

    /// A client with explicit timeouts and retries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vinr_http::client::{ClientOptions, HttpClient};
    /// let client = HttpClient::with_options(
    ///     "http://127.0.0.1:4242",
    ///     "sk_test_123",
    ///     ClientOptions { timeout: Duration::from_secs(5), max_retries: 0, ..Default::default() },
    /// )?;
    /// # let _ = client;
    /// # Ok::<(), vinr_ports::Error>(())
    /// ```
    pub fn with_options(
        base_url: &str,
        secret_key: &str,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let base = parse_base_url(base_url)?;
        let secret = SecretKey::parse(secret_key)?;
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, secret.bearer_header()?);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let api = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            // The API answers redirects to nobody; a redirect would lose the method and body.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Transport {
                message: format!("could not set up the HTTP client: {e}"),
            })?;
        let browser = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Transport {
                message: format!("could not set up the HTTP client: {e}"),
            })?;
        Ok(Self {
            base,
            secret,
            options,
            api,
            browser,
            jar: Arc::new(Mutex::new(hosted::CookieJar::default())),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The mode of the secret key: live for `sk_live_…`, else test.
    pub fn mode(&self) -> Mode {
        self.secret.mode()
    }

    /// The timeouts and retries in use.
    pub fn options(&self) -> ClientOptions {
        self.options
    }

    /// `{base}{path}`, where `path` starts with `/`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }
}

const USER_AGENT: &str = concat!("vinr-rust/", env!("CARGO_PKG_VERSION"));

fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let invalid = |why: &str| {
        Error::invalid(
            InvalidRequestCode::InvalidUrl,
            "base_url",
            format!("the base URL must be an absolute http(s) URL without query: {why}"),
        )
    };
    let url = Url::parse(base_url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme is not http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("there is no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it has a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it carries credentials"));
    }
    Ok(url)
}

/// The secret API key: never printed.
#[derive(Clone)]
struct SecretKey(Arc<str>);

impl SecretKey {
    fn parse(key: &str) -> Result<Self, Error> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "secret_key",
                "the secret key must be non-empty printable ASCII without spaces",
            ));
        }
        Ok(Self(Arc::from(key)))
    }

    fn mode(&self) -> Mode {
        if self.0.starts_with("sk_live_") {
            Mode::Live
        } else {
            Mode::Test
        }
    }

    fn bearer_header(&self) -> Result<HeaderValue, Error> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).map_err(|_| {
            Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "secret_key",
                "the secret key cannot be sent in a header",
            )
        })?;
        // Keeps it out of reqwest's and hyper's own debug output.
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the key replaced, for messages built from foreign
    /// errors.
    fn redact(&self, text: &str) -> String {
        text.replace(&*self.0, "[redacted]")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode() {
            Mode::Live => f.write_str("[redacted live key]"),
            Mode::Test => f.write_str("[redacted test key]"),
        }
    }
}
