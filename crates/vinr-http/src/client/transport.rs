//! One logical call of the JSON API: the idempotency key, the retries with backoff, and the
//! mapping of every answer to `Result<T, vinr_ports::Error>`.

use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vinr_ports::error::AuthenticationCode;
use vinr_ports::{Error, ErrorBody, RequestContext};

use super::HttpClient;

/// The longest single backoff between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// A `Retry-After` longer than this is not waited for: the call fails with the server's
/// answer (`RateLimited { retry_after }`) and the caller decides.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The length of a generated idempotency key (base62: 32 chars ≈ 190 bits).
const KEY_LEN: usize = 32;

/// A fresh idempotency key: 32 random base62 characters.
pub(super) fn fresh_idempotency_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(KEY_LEN)
        .map(char::from)
        .collect()
}

/// An answer that came back, whatever its status.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl HttpClient {
    /// `GET {path}`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<T, Error> {
        self.call(ctx, Method::GET, self.url(path), None).await
    }

    /// `GET {path}?{query}`, the query URL-encoded from `query`'s camelCase fields.
    pub(super) async fn list_json<T: DeserializeOwned, Q: Serialize>(
        &self,
        ctx: &RequestContext,
        path: &str,
        query: &Q,
    ) -> Result<T, Error> {
        let query = serde_urlencoded::to_string(query).map_err(|e| Error::Internal {
            message: format!("could not encode the query of GET {path}: {e}"),
        })?;
        let url = if query.is_empty() {
            self.url(path)
        } else {
            format!("{}?{query}", self.url(path))
        };
        self.call(ctx, Method::GET, url, None).await
    }

    /// `POST {path}` with a JSON body and an idempotency key.
    pub(super) async fn post_json<T: DeserializeOwned, B: Serialize>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = encode_body(&Method::POST, path, body)?;
        self.call(ctx, Method::POST, self.url(path), Some(body))
            .await
    }

    /// `PATCH {path}` with a JSON body.
    pub(super) async fn patch_json<T: DeserializeOwned, B: Serialize>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = encode_body(&Method::PATCH, path, body)?;
        self.call(ctx, Method::PATCH, self.url(path), Some(body))
            .await
    }

    /// `DELETE {path}`.
    pub(super) async fn delete_json<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<T, Error> {
        self.call(ctx, Method::DELETE, self.url(path), None).await
    }

    /// One logical call: tries, and tries again under the same idempotency key while the
    /// failure is one a retry can cure.
    async fn call<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        method: Method,
        url: String,
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        // One key per logical call, whatever the number of tries: that is what makes a retry
        // of a POST whose answer was lost safe (the server replays instead of acting twice).
        let key = (method == Method::POST).then(|| {
            ctx.idempotency_key
                .clone()
                .unwrap_or_else(fresh_idempotency_key)
        });
        let key = match key.as_deref().map(HeaderValue::from_str).transpose() {
            Ok(k) => k,
            Err(_) => {
                return Err(Error::invalid(
                    vinr_domain::error::InvalidRequestCode::ParameterInvalid,
                    "Idempotency-Key",
                    "the idempotency key must be 1 to 255 printable ASCII characters",
                ));
            }
        };
        let mut retries = 0;
        loop {
            let (error, wait) = match self
                .try_once(&method, &url, body.as_deref(), key.clone())
                .await
            {
                Ok(answer) => {
                    let replayed = is_replayed(&answer.headers);
                    if replayed && let Some(probe) = &ctx.replay {
                        probe.mark();
                    }
                    if answer.status.is_success() {
                        return decode(&method, &url, &answer.body);
                    }
                    let error = error_from_answer(&answer);
                    // A replayed failure is the stored outcome: asking again replays it again.
                    if replayed || !retryable_status(&method, answer.status) {
                        return Err(error);
                    }
                    (error, retry_after(&answer.headers))
                }
                Err(error) => (error, None),
            };
            if retries >= self.options.max_retries {
                return Err(error);
            }
            let wait = match wait {
                Some(asked) if asked > MAX_RETRY_AFTER => return Err(error),
                Some(asked) => asked.max(self.backoff(retries)),
                None => self.backoff(retries),
            };
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// One HTTP exchange; `Err` only for a transport failure (no answer came back whole).
    async fn try_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        key: Option<HeaderValue>,
    ) -> Result<Answer, Error> {
        let mut request = self.api.request(method.clone(), url);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(method, url, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(method, url, &e))?
            .to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The backoff before retry number `retries + 1`: `base * 2^retries`, at most
    /// [`MAX_BACKOFF`], of which a random half ("equal jitter") so that clients that failed
    /// together do not come back together.
    pub(super) fn backoff(&self, retries: u32) -> Duration {
        let full = self
            .options
            .backoff_base
            .saturating_mul(1u32 << retries.min(20))
            .min(MAX_BACKOFF);
        let half = full / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=spread)
        };
        half + Duration::from_nanos(jitter)
    }

    /// A transport failure as [`Error::Transport`]; the message names the call and the cause,
    /// never the key.
    pub(super) fn transport_error(&self, method: &Method, url: &str, e: &reqwest::Error) -> Error {
        let what = if e.is_timeout() {
            format!("timed out after {:?}", self.options.timeout)
        } else if e.is_connect() {
            "could not connect".to_owned()
        } else if e.is_body() || e.is_decode() {
            "the answer was cut off".to_owned()
        } else {
            "the exchange failed".to_owned()
        };
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let mut message = format!("{method} {url}: {what}");
        for cause in causes {
            if !message.contains(&cause) {
                message.push_str(": ");
                message.push_str(&cause);
            }
        }
        Error::Transport {
            message: self.secret.redact(&message),
        }
    }
}

fn encode_body<B: Serialize>(method: &Method, path: &str, body: &B) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::Internal {
        message: format!("could not encode the body of {method} {path}: {e}"),
    })
}

fn decode<T: DeserializeOwned>(method: &Method, url: &str, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Internal {
        message: format!("the answer to {method} {url} could not be read: {e}"),
    })
}

/// Whether a failure with this status may succeed when tried again under the same key.
///
/// A POST is retried on 409 (the same key still in flight: it will finish), 429 and 5xx; a
/// GET, PATCH or DELETE on 429 and 5xx. Every other 4xx, and 402, is the answer.
fn retryable_status(method: &Method, status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || (status == StatusCode::CONFLICT && method == Method::POST)
}

fn is_replayed(headers: &HeaderMap) -> bool {
    headers
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by VINR and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The typed error of a non-2xx answer: the JSON error body when there is one (so the caller
/// gets exactly what the engine would have returned in-process), else what the status says.
fn error_from_answer(answer: &Answer) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let message = || match &parsed {
        Some(body) => body.error.message.clone(),
        None => plain_message(answer),
    };
    if answer.status == StatusCode::GONE {
        return Error::Gone { message: message() };
    }
    let retry_after_secs = retry_after(&answer.headers).map(|d| d.as_secs());
    if let Some(body) = &parsed {
        return match Error::from_body(body) {
            Error::RateLimited { retry_after } => Error::RateLimited {
                retry_after: retry_after.or(retry_after_secs),
            },
            Error::ServiceUnavailable {
                message,
                retry_after,
            } => Error::ServiceUnavailable {
                message,
                retry_after: retry_after.or(retry_after_secs),
            },
            other => other,
        };
    }
    match answer.status {
        StatusCode::UNAUTHORIZED => Error::Authentication {
            code: AuthenticationCode::ApiKeyInvalid,
            message: message(),
        },
        StatusCode::NOT_FOUND => Error::NotFound {
            param: None,
            message: message(),
        },
        StatusCode::CONFLICT => Error::IdempotencyKeyInUse,
        StatusCode::UNPROCESSABLE_ENTITY => Error::IdempotencyKeyReused,
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            retry_after: retry_after_secs,
        },
        StatusCode::SERVICE_UNAVAILABLE => Error::ServiceUnavailable {
            message: message(),
            retry_after: retry_after_secs,
        },
        status => Error::Internal {
            message: format!("unexpected answer HTTP {}: {}", status.as_u16(), message()),
        },
    }
}

/// A short message from a body that is not a JSON error (a proxy's page, a plain 410).
fn plain_message(answer: &Answer) -> String {
    let text = String::from_utf8_lossy(&answer.body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return answer
            .status
            .canonical_reason()
            .unwrap_or("no message")
            .to_owned();
    }
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_32_base62_chars_and_differ() {
        let a = fresh_idempotency_key();
        let b = fresh_idempotency_key();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn retry_policy_by_method_and_status() {
        let check = |m: Method, s: u16, want: bool| {
            let status = StatusCode::from_u16(s).unwrap();
            assert_eq!(retryable_status(&m, status), want, "{m} {s}");
        };
        for m in [Method::POST, Method::GET, Method::DELETE, Method::PATCH] {
            check(m.clone(), 500, true);
            check(m.clone(), 503, true);
            check(m.clone(), 429, true);
            check(m.clone(), 400, false);
            check(m.clone(), 401, false);
            check(m.clone(), 402, false);
            check(m.clone(), 404, false);
            check(m.clone(), 410, false);
            check(m.clone(), 422, false);
        }
        check(Method::POST, 409, true);
        check(Method::GET, 409, false);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let client = HttpClient::with_options(
            "http://127.0.0.1:1",
            "sk_test_x",
            super::super::ClientOptions {
                backoff_base: Duration::from_millis(100),
                ..Default::default()
            },
        )
        .unwrap();
        for retries in 0..5 {
            let full = Duration::from_millis(100) * (1 << retries);
            let d = client.backoff(retries);
            assert!(d >= full / 2 && d <= full, "{retries}: {d:?}");
        }
        assert!(client.backoff(30) <= MAX_BACKOFF);
    }

    #[test]
    fn answers_without_a_json_body_map_by_status() {
        let answer = |s: u16, body: &str| Answer {
            status: StatusCode::from_u16(s).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        assert!(matches!(
            error_from_answer(&answer(410, "This link has expired.")),
            Error::Gone { message } if message == "This link has expired."
        ));
        assert!(matches!(
            error_from_answer(&answer(502, "<html>Bad gateway</html>")),
            Error::Internal { .. }
        ));
        assert!(matches!(
            error_from_answer(&answer(404, "")),
            Error::NotFound { .. }
        ));
        let mut limited = answer(
            429,
            r#"{"error":{"type":"rate_limit_error","code":"rate_limited","message":"slow down"}}"#,
        );
        limited
            .headers
            .insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            error_from_answer(&limited),
            Error::RateLimited {
                retry_after: Some(7)
            }
        );
        let mut unavailable = answer(
            503,
            r#"{"error":{"type":"api_error","code":"service_unavailable","message":"later"}}"#,
        );
        unavailable
            .headers
            .insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("1"));
        let e = error_from_answer(&unavailable);
        assert_eq!(
            e,
            Error::ServiceUnavailable {
                message: "later".into(),
                retry_after: Some(1)
            }
        );
        assert!(e.is_retryable());
        assert!(matches!(
            error_from_answer(&answer(503, "Service Unavailable")),
            Error::ServiceUnavailable {
                retry_after: None,
                ..
            }
        ));
    }
}
