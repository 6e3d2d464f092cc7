//! Per-API-key rate limiting: one token bucket per key id, in memory.
//!
//! Every authenticated `/v1` request takes a token from its key's bucket; the bucket holds at
//! most `burst` tokens and refills at `per_second` tokens a second, by the time elapsed on a
//! monotonic clock ([`Instant`], never the wall clock). A request that finds no token is
//! answered `429 rate_limit_error` / `rate_limited` with `Retry-After`: the whole seconds
//! (rounded up, at least 1) until a token is back. Requests without a valid key are not counted
//! here (they are answered 401 by the handler's key check); hosted pages, health and metrics
//! are never limited.
//!
//! The map stays bounded: a bucket that has refilled to full is the same as no bucket, so it is
//! dropped by a sweep that runs whenever the map has doubled since the last one (amortized
//! O(1) per request). Keys are the ids of stored keys, so the map cannot grow with made-up
//! keys either.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vinr_http::server::ratelimit::{ManualClock, RateLimit, RateLimiter};
//! let clock = Arc::new(ManualClock::new());
//! let limiter = RateLimiter::with_clock(RateLimit { per_second: 1, burst: 2 }, clock.clone());
//! assert!(limiter.check("key_a").is_ok());
//! assert!(limiter.check("key_a").is_ok());
//! assert_eq!(limiter.check("key_a"), Err(1));
//! assert!(limiter.check("key_b").is_ok());
//! clock.advance(Duration::from_secs(1));
//! assert!(limiter.check("key_a").is_ok());
//! ```

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vinr_ports::Error;

use super::error::ApiError;
use super::{AppState, auth};

/// The limit of each API key: `per_second` tokens a second, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added a second (sustained requests a second); at least 1.
    pub per_second: u32,
    /// The bucket's size (requests allowed at once after a pause); at least 1.
    pub burst: u32,
}

impl RateLimit {
    /// `vinr serve`'s default: 1000 requests a second, bursts of 2000.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 1000,
        burst: 2000,
    };

    /// Parses `<per_second>[/<burst>]`: `0` (or `0/…`) disables limiting (`None`); without
    /// `/<burst>` the burst is `per_second`.
    ///
    /// ```
    /// use vinr_http::server::ratelimit::RateLimit;
    /// assert_eq!(RateLimit::parse("1000/2000"), Ok(Some(RateLimit { per_second: 1000, burst: 2000 })));
    /// assert_eq!(RateLimit::parse("5"), Ok(Some(RateLimit { per_second: 5, burst: 5 })));
    /// assert_eq!(RateLimit::parse("0"), Ok(None));
    /// assert!(RateLimit::parse("5/0").is_err());
    /// assert!(RateLimit::parse("x").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Option<RateLimit>, String> {
        let text = text.trim();
        let (rate, burst) = match text.split_once('/') {
            Some((rate, burst)) => (rate.trim(), Some(burst.trim())),
            None => (text, None),
        };
        let number = |s: &str, what: &str| {
            u32::from_str(s).map_err(|_| {
                format!("`{text}`: {what} must be a whole number (`<per_second>[/<burst>]`, `0` disables)")
            })
        };
        let per_second = number(rate, "the rate")?;
        if per_second == 0 {
            return Ok(None);
        }
        let burst = match burst {
            Some(b) => number(b, "the burst")?,
            None => per_second,
        };
        if burst == 0 {
            return Err(format!("`{text}`: the burst must be at least 1"));
        }
        Ok(Some(RateLimit { per_second, burst }))
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.per_second, self.burst)
    }
}

/// Where the limiter reads the time: monotonic, so a wall-clock jump changes nothing.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
}

/// [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told (for tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock standing at the moment it is made.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fewest buckets kept before a sweep of full ones is considered.
const SWEEP_AT_LEAST: usize = 1024;

/// One key's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens left at `at`.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

struct Buckets {
    map: HashMap<String, Bucket>,
    /// The map's size that triggers the next sweep.
    sweep_at: usize,
}

/// Token buckets by API key id. Cheap to share (behind the [`AppState`]).
pub struct RateLimiter {
    limit: RateLimit,
    clock: Arc<dyn Clock>,
    buckets: Mutex<Buckets>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("keys", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter on the monotonic clock.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_clock(limit, Arc::new(MonotonicClock))
    }

    /// A limiter reading the time from `clock`. A rate or burst of 0 counts as 1.
    pub fn with_clock(limit: RateLimit, clock: Arc<dyn Clock>) -> Self {
        Self {
            limit: RateLimit {
                per_second: limit.per_second.max(1),
                burst: limit.burst.max(1),
            },
            clock,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
        }
    }

    /// The limit applied.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// How many keys have a bucket that is not full.
    pub fn tracked(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tokens of `bucket` at `now`, refilled and capped at the burst.
    fn level(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * f64::from(self.limit.per_second))
            .min(f64::from(self.limit.burst))
    }

    /// Takes a token for `key`: `Ok(())`, or `Err(seconds)` to wait before one is available
    /// (rounded up, at least 1).
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = self.clock.now();
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.lock();
        if buckets.map.len() >= buckets.sweep_at && !buckets.map.contains_key(key) {
            buckets
                .map
                .retain(|_, bucket| self.level(bucket, now) < burst);
            buckets.sweep_at = (buckets.map.len() * 2).max(SWEEP_AT_LEAST);
        }
        let bucket = buckets.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = self.level(bucket, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let wait = (1.0 - tokens) / f64::from(self.limit.per_second);
            // At most 1 s (the rate is at least 1 a second); never 0.
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// The one `/v1` route that takes no key (the OpenAPI document): never limited.
const PUBLIC_PATH: &str = "/v1/openapi.json";

/// The `/v1` middleware: a request whose key authenticates takes a token from that key's
/// bucket, or is answered 429 with `Retry-After`. Without a limiter it does nothing; a request
/// without a valid key passes on to be answered 401 by the handler. The key found here rides
/// along in the request's extensions, so the handler's [`Ctx`](super::extract::Ctx) does not
/// look it up again.
pub(crate) async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = state.rate_limiter()
        && request.uri().path() != PUBLIC_PATH
        && let Ok(key) = auth::authenticate(request.headers(), state.keys().as_ref()).await
    {
        if let Err(seconds) = limiter.check(&key.id) {
            return ApiError(Error::RateLimited {
                retry_after: Some(seconds),
            })
            .into_response();
        }
        request.extensions_mut().insert(key);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> (Arc<ManualClock>, RateLimiter) {
        let clock = Arc::new(ManualClock::new());
        let limiter = RateLimiter::with_clock(RateLimit { per_second, burst }, clock.clone());
        (clock, limiter)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_by_elapsed_time() {
        let (clock, l) = limiter(2, 4);
        for _ in 0..4 {
            assert_eq!(l.check("k"), Ok(()));
        }
        assert_eq!(l.check("k"), Err(1));
        clock.advance(Duration::from_millis(499));
        assert_eq!(l.check("k"), Err(1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(l.check("k"), Ok(()));
        assert_eq!(l.check("k"), Err(1));
        // A long pause refills to the burst, no more.
        clock.advance(Duration::from_secs(3600));
        for _ in 0..4 {
            assert_eq!(l.check("k"), Ok(()));
        }
        assert_eq!(l.check("k"), Err(1));
    }

    #[test]
    fn retry_after_is_the_ceiling_of_the_wait() {
        // One token every 1/1 s; empty: 1 s; a tenth of a token short: still 1 s.
        let (clock, l) = limiter(1, 1);
        assert_eq!(l.check("k"), Ok(()));
        assert_eq!(l.check("k"), Err(1));
        clock.advance(Duration::from_millis(900));
        assert_eq!(l.check("k"), Err(1));
        clock.advance(Duration::from_millis(100));
        assert_eq!(l.check("k"), Ok(()));
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let (_, l) = limiter(1, 1);
        assert_eq!(l.check("a"), Ok(()));
        assert_eq!(l.check("a"), Err(1));
        assert_eq!(l.check("b"), Ok(()));
    }

    #[test]
    fn full_buckets_are_swept_so_the_map_stays_bounded() {
        let (clock, l) = limiter(10, 10);
        for i in 0..SWEEP_AT_LEAST {
            l.check(&format!("k{i}")).unwrap();
        }
        assert_eq!(l.tracked(), SWEEP_AT_LEAST);
        // Busy keys stay tracked; idle ones refill and go at the next sweep.
        clock.advance(Duration::from_secs(1));
        for _ in 0..10 {
            l.check("k0").unwrap();
        }
        l.check("new").unwrap();
        assert_eq!(l.tracked(), 2);
        assert_eq!(l.check("k0"), Err(1));
    }

    #[test]
    fn zero_limits_count_as_one() {
        let (_, l) = limiter(0, 0);
        assert_eq!(
            l.limit(),
            RateLimit {
                per_second: 1,
                burst: 1
            }
        );
        assert_eq!(l.check("k"), Ok(()));
        assert_eq!(l.check("k"), Err(1));
    }
}
