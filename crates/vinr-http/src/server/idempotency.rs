//! The `Idempotency-Key` header in, `Idempotent-Replayed: true` out.
//!
//! The engine does the work (api.md §1 "Idempotency"): it validates the key, stores the outcome
//! of a `POST` (2xx and 402; refusals are not stored), and replays it for the same request.
//! The server only carries the header into [`vinr_ports::RequestContext::idempotency_key`],
//! gives each request a fresh [`ReplayProbe`], and marks the response of a replay.
//! A replayed body is the stored object serialized again by `serde_json`, which is
//! deterministic, so it is byte-for-byte the first answer.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use vinr_domain::error::InvalidRequestCode;
use vinr_ports::{Error, ReplayProbe};

/// The request header naming an idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header of a replayed answer.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` of a request: only `POST`s carry one (other methods ignore it).
/// A header that is not text is refused as the engine refuses a malformed key.
pub(crate) fn key(method: &Method, headers: &HeaderMap) -> Result<Option<String>, Error> {
    if method != Method::POST {
        return Ok(None);
    }
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text) => Ok(Some(text.to_owned())),
        Err(_) => Err(Error::invalid(
            InvalidRequestCode::ParameterInvalid,
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )),
    }
}

/// Gives the request a fresh [`ReplayProbe`] (the context extractor hands it to the engine)
/// and marks the response when the engine replayed.
pub(crate) async fn middleware(mut request: Request, next: Next) -> Response {
    let probe = ReplayProbe::default();
    request.extensions_mut().insert(probe.clone());
    let mut response = next.run(request).await;
    if probe.replayed() {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_carry_a_key() {
        let mut h = HeaderMap::new();
        h.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
        assert_eq!(key(&Method::POST, &h).unwrap().as_deref(), Some("k-1"));
        assert_eq!(key(&Method::GET, &h).unwrap(), None);
        assert_eq!(key(&Method::POST, &HeaderMap::new()).unwrap(), None);
        h.insert(
            IDEMPOTENCY_KEY,
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let e = key(&Method::POST, &h).unwrap_err();
        assert_eq!(e.to_body().error.param.as_deref(), Some("Idempotency-Key"));
    }
}
