//! The per-client-address limit of failed card attempts on the hosted pages (card testing).
//!
//! Each failed card attempt (a card refused, declined, or a failed challenge: what the engine
//! reports as [`HostedStep::failed_attempt`](vinr_engine::HostedStep)) counts against the
//! client's address in a fixed window (default: 20 failures an hour). A client that has used
//! up its failures gets no further card attempt in that window: its next card or challenge
//! post **locks the link it targets** (the engine's `lock_hosted_link`: `canceled`,
//! `lastError.code = "too_many_attempts"`, event `setup.canceled` or `payment.canceled`) and
//! is answered `410`, without the card reaching the network. Page views (`GET`) are never
//! limited.
//!
//! The address is the TCP peer's (the server must be run with connect info, as
//! [`serve`](crate::server::serve) does; without it no address is known and nothing is
//! counted). Behind a reverse proxy every client has the proxy's address: turn on
//! `trust_proxy` so the last `X-Forwarded-For` entry (the one the proxy appended) is used
//! instead. IPv6 addresses count per `/64`, the block one subscriber usually holds.
//!
//! Memory stays bounded: at most `capacity` addresses are tracked; when the table is full,
//! windows that ended are dropped, and if that is not enough the oldest sixteenth of the
//! windows goes (amortized O(1) per new address), so an attacker with many addresses cannot
//! grow the table, only age out the oldest entries.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vinr_http::server::hosted::guard::{AddressLimit, HostedGuard};
//! use vinr_http::server::ratelimit::ManualClock;
//! let clock = Arc::new(ManualClock::new());
//! let guard = HostedGuard::with_clock(clock.clone());
//! guard.configure(Some(AddressLimit { failures: 2, window: Duration::from_secs(60), capacity: 100 }), false);
//! let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
//! guard.record_failure(ip);
//! assert!(!guard.is_blocked(ip));
//! guard.record_failure(ip);
//! assert!(guard.is_blocked(ip));
//! clock.advance(Duration::from_secs(60));
//! assert!(!guard.is_blocked(ip));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::server::AppState;
use crate::server::ratelimit::{Clock, MonotonicClock};

/// How many failed card attempts one address may make in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLimit {
    /// Failed attempts allowed in a window; the next card post locks its link. At least 1.
    pub failures: u32,
    /// The window's length (a fixed window, starting at the address's first failure).
    pub window: Duration,
    /// The most addresses tracked at once.
    pub capacity: usize,
}

impl AddressLimit {
    /// `vinr serve`'s default: 20 failed attempts an hour, 10 000 addresses tracked.
    pub const DEFAULT: AddressLimit = AddressLimit {
        failures: 20,
        window: Duration::from_secs(3600),
        capacity: 10_000,
    };

    /// Parses `<failures>/<window>` (window `<n>s`, `<n>m` or `<n>h`, at most 24 h), with the
    /// default capacity; `0` disables the limit (`None`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use vinr_http::server::hosted::guard::AddressLimit;
    /// assert_eq!(AddressLimit::parse("20/1h"), Ok(Some(AddressLimit::DEFAULT)));
    /// let l = AddressLimit::parse("5/10m").unwrap().unwrap();
    /// assert_eq!((l.failures, l.window), (5, Duration::from_secs(600)));
    /// assert_eq!(AddressLimit::parse("0"), Ok(None));
    /// assert!(AddressLimit::parse("5").is_err());
    /// assert!(AddressLimit::parse("0/1h").is_err());
    /// assert!(AddressLimit::parse("5/2d").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Option<AddressLimit>, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let usage = || {
            format!(
                "`{text}`: expected `<failures>/<window>` such as `20/1h` (window in s, m or h, at most 24h), or `0` to disable"
            )
        };
        let (failures, window) = text.split_once('/').ok_or_else(usage)?;
        let failures = u32::from_str(failures.trim())
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(usage)?;
        let window = window.trim();
        let split = window
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(usage)?;
        let (n, unit) = window.split_at(split);
        let n = u64::from_str(n).map_err(|_| usage())?;
        let seconds = match unit {
            "s" => n,
            "m" => n.saturating_mul(60),
            "h" => n.saturating_mul(3600),
            _ => return Err(usage()),
        };
        if seconds == 0 || seconds > 24 * 3600 {
            return Err(usage());
        }
        Ok(Some(AddressLimit {
            failures,
            window: Duration::from_secs(seconds),
            capacity: Self::DEFAULT.capacity,
        }))
    }
}

impl fmt::Display for AddressLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.failures, self.window.as_secs())
    }
}

/// One address's window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

struct Inner {
    limit: Option<AddressLimit>,
    trust_proxy: bool,
    windows: HashMap<IpAddr, Window>,
}

/// The failed-attempt counts of client addresses, in memory (see the module documentation).
pub struct HostedGuard {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HostedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("HostedGuard")
            .field("limit", &inner.limit)
            .field("trust_proxy", &inner.trust_proxy)
            .field("tracked", &inner.windows.len())
            .finish()
    }
}

impl Default for HostedGuard {
    fn default() -> Self {
        Self::with_clock(Arc::new(MonotonicClock))
    }
}

impl HostedGuard {
    /// A guard with the default limit on this clock, trusting no proxy.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                limit: Some(AddressLimit::DEFAULT),
                trust_proxy: false,
                windows: HashMap::new(),
            }),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the limit (`None`: no per-address limit) and whether the last `X-Forwarded-For`
    /// entry names the client; forgets every count.
    pub fn configure(&self, limit: Option<AddressLimit>, trust_proxy: bool) {
        let mut inner = self.lock();
        inner.limit = limit;
        inner.trust_proxy = trust_proxy;
        inner.windows.clear();
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<AddressLimit> {
        self.lock().limit
    }

    /// How many addresses are tracked now.
    pub fn tracked(&self) -> usize {
        self.lock().windows.len()
    }

    /// Whether `ip` has used up its failed attempts for the current window.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = self.clock.now();
        let inner = self.lock();
        let Some(limit) = inner.limit else {
            return false;
        };
        inner.windows.get(&key(ip)).is_some_and(|w| {
            now.duration_since(w.start) < limit.window && w.failures >= limit.failures
        })
    }

    /// Counts one failed card attempt of `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = self.clock.now();
        let mut inner = self.lock();
        let Some(limit) = inner.limit else {
            return;
        };
        let ip = key(ip);
        if !inner.windows.contains_key(&ip) && inner.windows.len() >= limit.capacity.max(1) {
            make_room(&mut inner.windows, now, limit);
        }
        let w = inner.windows.entry(ip).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.duration_since(w.start) >= limit.window {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// The client's address: the peer's, or with `trust_proxy` the last valid
    /// `X-Forwarded-For` entry (the peer's when there is none).
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.lock().trust_proxy {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| IpAddr::from_str(v.trim()).ok());
        forwarded.or(peer)
    }
}

/// Drops the windows that ended; if none did, the oldest sixteenth.
fn make_room(windows: &mut HashMap<IpAddr, Window>, now: Instant, limit: AddressLimit) {
    windows.retain(|_, w| now.duration_since(w.start) < limit.window);
    if windows.len() < limit.capacity.max(1) {
        return;
    }
    let mut starts: Vec<(Instant, IpAddr)> = windows.iter().map(|(k, w)| (w.start, *k)).collect();
    let drop = (starts.len() / 16).max(1);
    starts.select_nth_unstable_by_key(drop - 1, |(start, _)| *start);
    for (_, k) in &starts[..drop] {
        windows.remove(k);
    }
}

/// The key an address counts under: IPv4 as is (also when mapped into IPv6), IPv6 per `/64`.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client address of a hosted request, when the server knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(
            state.hosted_guard().client_address(peer, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::server::ratelimit::ManualClock;

    fn guard(failures: u32, capacity: usize) -> (HostedGuard, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let g = HostedGuard::with_clock(clock.clone());
        g.configure(
            Some(AddressLimit {
                failures,
                window: Duration::from_secs(3600),
                capacity,
            }),
            false,
        );
        (g, clock)
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let (g, clock) = guard(3, 100);
        let ip = v4(1);
        for _ in 0..2 {
            g.record_failure(ip);
            assert!(!g.is_blocked(ip));
        }
        g.record_failure(ip);
        assert!(g.is_blocked(ip));
        assert!(!g.is_blocked(v4(2)), "other addresses are not");
        clock.advance(Duration::from_secs(3599));
        assert!(g.is_blocked(ip));
        clock.advance(Duration::from_secs(1));
        assert!(!g.is_blocked(ip));
        g.record_failure(ip);
        assert!(!g.is_blocked(ip), "a new window starts at one failure");
    }

    #[test]
    fn the_table_never_grows_past_its_capacity() {
        let (g, clock) = guard(2, 64);
        for n in 0..10_000 {
            g.record_failure(v4(n));
            assert!(g.tracked() <= 64);
            if n % 1000 == 0 {
                clock.advance(Duration::from_secs(1));
            }
        }
        // The newest addresses are still counted.
        g.record_failure(v4(9_999));
        assert!(g.is_blocked(v4(9_999)));
    }

    #[test]
    fn ended_windows_make_room_first() {
        let (g, clock) = guard(1, 4);
        for n in 0..4 {
            g.record_failure(v4(n));
        }
        clock.advance(Duration::from_secs(1800));
        g.record_failure(v4(100));
        clock.advance(Duration::from_secs(1800));
        // The first four windows ended; the fifth address still counts.
        g.record_failure(v4(200));
        assert!(g.is_blocked(v4(100)));
        assert!(g.is_blocked(v4(200)));
        assert_eq!(g.tracked(), 2);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let (g, _) = guard(2, 100);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        g.record_failure(a);
        g.record_failure(b);
        assert!(g.is_blocked(a) && g.is_blocked(b));
        assert!(!g.is_blocked(other));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        g.record_failure(mapped);
        g.record_failure(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        assert!(g.is_blocked(mapped));
    }

    #[test]
    fn disabled_counts_nothing() {
        let (g, _) = guard(1, 100);
        g.configure(None, false);
        g.record_failure(v4(1));
        assert!(!g.is_blocked(v4(1)));
        assert_eq!(g.tracked(), 0);
    }

    #[test]
    fn forwarded_for_is_read_only_behind_a_trusted_proxy() {
        let (g, _) = guard(1, 100);
        let peer = Some(v4(7));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.5".parse().unwrap(),
        );
        assert_eq!(g.client_address(peer, &headers), peer);
        g.configure(g.limit(), true);
        assert_eq!(
            g.client_address(peer, &headers),
            Some("203.0.113.5".parse().unwrap())
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(g.client_address(peer, &headers), peer);
        assert_eq!(g.client_address(peer, &HeaderMap::new()), peer);
    }
}
