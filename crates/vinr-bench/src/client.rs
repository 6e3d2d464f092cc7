//! One keep-alive HTTP/1.1 connection, with nothing between the timer and the socket: no pool,
//! no retries, no redirects.

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: the server's `host:port` and the key they carry.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port`, for the socket and the `Host` header.
    authority: String,
    host_header: HeaderValue,
    auth_header: HeaderValue,
}

impl Target {
    /// `base` is `http://HOST:PORT` (a trailing `/` is allowed; a path is not, since every
    /// request names its own).
    pub(crate) fn parse(base: &str, key: &str) -> Result<Target> {
        let rest = base
            .strip_prefix("http://")
            .with_context(|| format!("`{base}`: only http:// base URLs are supported"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            bail!("`{base}`: expected http://HOST:PORT");
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let host_header = HeaderValue::from_str(&authority)
            .with_context(|| format!("`{base}`: not a valid host"))?;
        let auth_header = HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the key is not a valid header value")?;
        Ok(Target {
            authority,
            host_header,
            auth_header,
        })
    }

    /// `host:port`.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }
}

/// One request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// A JSON body (sent with `content-type: application/json`).
    pub(crate) body: Option<String>,
    pub(crate) idempotency_key: Option<String>,
}

impl Call {
    /// `GET path`.
    pub(crate) fn get(path: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            body: None,
            idempotency_key: None,
        }
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post(path: impl Into<String>, body: impl Into<String>) -> Call {
        Call {
            method: Method::POST,
            path: path.into(),
            body: Some(body.into()),
            idempotency_key: None,
        }
    }

    /// The same call under an `Idempotency-Key`.
    pub(crate) fn idempotent(mut self, key: impl Into<String>) -> Call {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A transport failure: the connection is unusable and must be replaced.
#[derive(Debug)]
pub(crate) struct Transport(pub(crate) anyhow::Error);

/// One open keep-alive connection.
pub(crate) struct Connection {
    target: Target,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Opens a connection (with `TCP_NODELAY`, as every HTTP client does).
    pub(crate) async fn open(target: &Target) -> Result<Connection> {
        let stream = TcpStream::connect(target.authority())
            .await
            .with_context(|| format!("cannot connect to {}", target.authority()))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("the HTTP/1.1 handshake failed")?;
        // The connection's I/O runs in a task of its own; it ends when `sender` is dropped or
        // the server closes, and `sender` then reports the failure.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            target: target.clone(),
            sender,
        })
    }

    /// Sends `call` and reads the whole answer.
    pub(crate) async fn send(&mut self, call: &Call) -> Result<(StatusCode, Bytes), Transport> {
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(HOST, self.target.host_header.clone())
            .header(AUTHORIZATION, self.target.auth_header.clone());
        if call.body.is_some() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header("idempotency-key", key.as_str());
        }
        let body = Full::new(Bytes::from(call.body.clone().unwrap_or_default()));
        let request = request
            .body(body)
            .map_err(|err| Transport(anyhow::Error::new(err).context("bad request")))?;
        self.sender
            .ready()
            .await
            .map_err(|err| Transport(anyhow::Error::new(err).context("connection closed")))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|err| Transport(anyhow::Error::new(err).context("request failed")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| Transport(anyhow::Error::new(err).context("reading the body failed")))?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends `call` and returns the JSON answer, failing on a transport error or a non-2xx
    /// status (for setup, where any failure stops the run).
    pub(crate) async fn json(&mut self, call: &Call) -> Result<serde_json::Value> {
        let (status, body) = self.send(call).await.map_err(|t| t.0)?;
        if !status.is_success() {
            bail!(
                "{} {} answered {status}: {}",
                call.method,
                call.path,
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("{} {} answered non-JSON", call.method, call.path))
    }

    /// Like [`Connection::json`], returning the answer's `id`.
    pub(crate) async fn create(&mut self, call: &Call) -> Result<String> {
        let value = self.json(call).await?;
        value
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("{} {} answered without an id", call.method, call.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_takes_host_and_port() {
        let target = Target::parse("http://127.0.0.1:4242/", "sk_test_x").unwrap();
        assert_eq!(target.authority(), "127.0.0.1:4242");
        assert_eq!(target.host_header, "127.0.0.1:4242");
        assert_eq!(target.auth_header, "Bearer sk_test_x");
        assert_eq!(
            Target::parse("http://localhost", "k").unwrap().authority(),
            "localhost:80"
        );
    }

    #[test]
    fn target_refuses_what_it_cannot_drive() {
        for bad in [
            "https://127.0.0.1:1",
            "127.0.0.1:1",
            "http://",
            "http://h:1/v1",
            "http://u@h:1",
        ] {
            assert!(Target::parse(bad, "k").is_err(), "{bad} parsed");
        }
        assert!(Target::parse("http://h:1", "bad\nkey").is_err());
    }
}
