//! How a delivery leaves: the [`Sender`] port and its HTTP adapter, [`ReqwestSender`].

use std::time::Duration;

use async_trait::async_trait;

/// api.md §6: a 2xx answer within 10 s is a delivery.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `user-agent` of [`ReqwestSender`]'s requests.
pub const USER_AGENT: &str = concat!("vinr-webhooks/", env!("CARGO_PKG_VERSION"));

/// Why a request got no HTTP answer. Its text names the kind of failure and the transport's
/// reason, never the URL, a header (the signature) or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No answer within the timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection could not be made (DNS, refused, TLS).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The URL is not one a request can be made to.
    #[error("the endpoint URL is not usable: {0}")]
    InvalidUrl(String),
    /// The request failed after connecting.
    #[error("the request failed: {0}")]
    Request(String),
}

/// Sends one delivery: a `POST` of `body` to `url` with `headers`.
///
/// Contract: returns the answer's status as soon as it is known (the response body is not
/// needed); never follows a redirect (a 3xx is an answer like any other, and is not a
/// delivery); gives up after `timeout` with [`SendError::Timeout`]. The dispatcher also
/// enforces the timeout around the call, so a sender that overruns is cut off.
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    /// POSTs `body` to `url`; the answer's HTTP status, or why there was none.
    async fn send(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, SendError>;
}

/// The HTTP client could not be built (the TLS backend failed to start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct ClientBuildError(String);

/// The [`Sender`] over `reqwest` with rustls: no redirects followed, a 10 s timeout
/// ([`DEFAULT_TIMEOUT`], and the one each call passes), connections pooled per host.
///
/// ```
/// use vinr_webhooks::dispatch::ReqwestSender;
/// let sender = ReqwestSender::new().unwrap();
/// # let _ = sender;
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestSender {
    client: reqwest::Client,
}

impl ReqwestSender {
    /// A sender with its own client.
    pub fn new() -> Result<Self, ClientBuildError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DEFAULT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ClientBuildError(describe(&e)))?;
        Ok(Self { client })
    }

    /// A sender over a client built elsewhere; it should not follow redirects (the default of
    /// `reqwest` does: build it with `redirect(Policy::none())`).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Sender for ReqwestSender {
    async fn send(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, SendError> {
        let url = reqwest::Url::parse(url).map_err(|e| SendError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SendError::InvalidUrl(format!(
                "the scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        let mut request = self.client.post(url).timeout(timeout).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.send().await {
            // The status is the answer; the body is dropped unread.
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) if e.is_timeout() => Err(SendError::Timeout(timeout)),
            Err(e) if e.is_connect() => Err(SendError::Connect(describe(&e))),
            Err(e) if e.is_builder() => Err(SendError::InvalidUrl(describe(&e))),
            Err(e) => Err(SendError::Request(describe(&e))),
        }
    }
}

/// The error and its sources, joined by `: `, without the URL (which may hold a token).
fn describe(e: &reqwest::Error) -> String {
    let mut text = WithoutUrl(e).to_string();
    let mut current = std::error::Error::source(e);
    while let Some(err) = current {
        let part = err.to_string();
        // hyper repeats its source in its own text at times; keep the chain short.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = err.source();
    }
    text
}

/// Formats a `reqwest::Error` without its URL.
struct WithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for WithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.0.is_timeout() {
            "timed out"
        } else if self.0.is_connect() {
            "connection failed"
        } else if self.0.is_redirect() {
            "redirect refused"
        } else if self.0.is_body() {
            "request body failed"
        } else if self.0.is_builder() {
            "request not buildable"
        } else {
            "request failed"
        };
        f.write_str(kind)
    }
}
