//! The retry schedule (api.md §6) and its jitter.
//!
//! A schedule is the list of delays between attempts: the n-th failed attempt of a delivery
//! is retried after the n-th delay (±[`JITTER`]), and once the list is spent the delivery is
//! failed for that endpoint. The default, [`DEFAULT_SCHEDULE`], makes 9 attempts over about
//! 2 days 21 hours.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// api.md §6's schedule: `1m,5m,30m,2h,6h,12h,24h,24h`.
pub const DEFAULT_SCHEDULE: &str = "1m,5m,30m,2h,6h,12h,24h,24h";

/// The default schedule's delays, in seconds.
const DEFAULT_DELAYS: [u64; 8] = [60, 300, 1_800, 7_200, 21_600, 43_200, 86_400, 86_400];

/// Deliveries are retried for up to 3 days (api.md §6): a schedule may not add up to more.
pub const RETRY_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

/// A schedule holds at most this many delays.
pub const MAX_RETRIES: usize = 32;

/// The shortest delay.
pub const MIN_DELAY: Duration = Duration::from_secs(1);

/// The jitter applied to every delay: a delay `d` becomes `d × (1 + JITTER × s)`, `s` drawn
/// uniformly from `[-1, 1]`, so ±10 %. It spreads the retries of a burst of failures (an
/// endpoint that was down) instead of sending them all back at once.
pub const JITTER: f64 = 0.1;

/// The longest item text an error quotes; longer text is cut (with `…`).
const MAX_QUOTED: usize = 40;

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No delay at all.
    #[error("the retry schedule is empty; expected a comma list such as `{DEFAULT_SCHEDULE}`")]
    Empty,
    /// An empty item, as in `1m,,5m`.
    #[error(
        "delay {position} of the retry schedule is empty; expected a comma list such as `{DEFAULT_SCHEDULE}`"
    )]
    EmptyItem {
        /// Its position, from 1.
        position: usize,
    },
    /// An item that is not a whole number followed by `s`, `m`, `h` or `d`.
    #[error("`{item}` is not a delay; write a whole number and a unit: `30s`, `5m`, `2h`, `1d`")]
    NotADelay {
        /// The item (cut to 40 characters).
        item: String,
    },
    /// A delay under one second (`0s`).
    #[error("`{item}`: a delay must be at least 1s")]
    TooShort {
        /// The item.
        item: String,
    },
    /// A delay with a fraction of a second (only [`RetrySchedule::new`] can be given one).
    #[error("`{item}`: delays are whole seconds")]
    Fractional {
        /// The delay.
        item: String,
    },
    /// More delays than [`MAX_RETRIES`].
    #[error("{count} delays is too many; at most {MAX_RETRIES}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// The delays add up to more than [`RETRY_WINDOW`] (or overflow).
    #[error("the delays add up to more than the 3 days deliveries are retried for")]
    TooLong,
}

/// Where jitter comes from: each call draws a sample in `[-1, 1]` (values outside are
/// clamped, and a NaN counts as 0). Injected so that tests are deterministic.
pub trait Jitter: Send + Sync + 'static {
    /// A sample in `[-1, 1]`.
    fn sample(&self) -> f64;
}

/// Uniform samples from the thread-local generator of `rand` (the production source).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn sample(&self) -> f64 {
        use rand::Rng as _;
        rand::thread_rng().gen_range(-1.0..=1.0)
    }
}

/// Always the same sample: `FixedJitter(0.0)` is no jitter, `FixedJitter(1.0)` the most.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn sample(&self) -> f64 {
        self.0
    }
}

/// `delay` jittered by `sample` (see [`JITTER`]): `delay × (1 + 0.1 × sample)`, `sample`
/// clamped to `[-1, 1]`.
///
/// ```
/// use std::time::Duration;
/// use vinr_webhooks::dispatch::apply_jitter;
/// let d = Duration::from_secs(100);
/// assert_eq!(apply_jitter(d, 0.0), d);
/// assert_eq!(apply_jitter(d, 1.0), Duration::from_secs(110));
/// assert_eq!(apply_jitter(d, -5.0), Duration::from_secs(90));
/// assert_eq!(apply_jitter(d, f64::NAN), d);
/// ```
pub fn apply_jitter(delay: Duration, sample: f64) -> Duration {
    let sample = if sample.is_nan() {
        0.0
    } else {
        sample.clamp(-1.0, 1.0)
    };
    // A factor in [0.9, 1.1] of a delay of at most 3 days: never negative, never overflows.
    let millis = delay.as_secs_f64() * 1_000.0 * (1.0 + JITTER * sample);
    Duration::from_millis(millis.round() as u64)
}

/// The delays between delivery attempts.
///
/// Parsed from `1m,5m,30m,2h,6h,12h,24h,24h`: whole numbers with a unit (`s`, `m`, `h`, `d`),
/// separated by commas (white space around items is ignored). Refused: an empty schedule or
/// item, anything else than a whole number and a unit, a delay under 1 s, more than
/// [`MAX_RETRIES`] delays, and delays adding up to more than [`RETRY_WINDOW`] (3 days).
/// `Display` writes it back in the largest unit that divides each delay, up to hours
/// (`1d` is written `24h`, as api.md writes the default).
///
/// ```
/// use std::time::Duration;
/// use vinr_webhooks::dispatch::RetrySchedule;
///
/// let s: RetrySchedule = "1s, 90s,2h".parse().unwrap();
/// assert_eq!(s.to_string(), "1s,90s,2h");
/// assert_eq!(s.delay_after(1), Some(Duration::from_secs(1)));
/// assert_eq!(s.delay_after(3), Some(Duration::from_secs(7_200)));
/// assert_eq!(s.delay_after(4), None); // spent: the 4th attempt was the last
/// assert_eq!(s.max_attempts(), 4);
/// assert_eq!(RetrySchedule::default().to_string(), "1m,5m,30m,2h,6h,12h,24h,24h");
/// assert!("1m,0s".parse::<RetrySchedule>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// A schedule of these delays, checked as [`parse`](Self::parse) checks them.
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if let Some(short) = delays.iter().find(|d| **d < MIN_DELAY) {
            return Err(ScheduleError::TooShort {
                item: format!("{short:?}"),
            });
        }
        if let Some(fractional) = delays.iter().find(|d| d.subsec_nanos() != 0) {
            return Err(ScheduleError::Fractional {
                item: format!("{fractional:?}"),
            });
        }
        if delays.len() > MAX_RETRIES {
            return Err(ScheduleError::TooMany {
                count: delays.len(),
            });
        }
        let total = delays
            .iter()
            .try_fold(Duration::ZERO, |sum, d| sum.checked_add(*d));
        if total.is_none_or(|t| t > RETRY_WINDOW) {
            return Err(ScheduleError::TooLong);
        }
        Ok(Self { delays })
    }

    /// Parses a schedule such as `1m,5m,30m,2h,6h,12h,24h,24h`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        if text.trim().is_empty() {
            return Err(ScheduleError::Empty);
        }
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        if items.len() > MAX_RETRIES {
            return Err(ScheduleError::TooMany { count: items.len() });
        }
        let mut delays = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if item.is_empty() {
                return Err(ScheduleError::EmptyItem { position: i + 1 });
            }
            delays.push(parse_delay(item)?);
        }
        Self::new(delays)
    }

    /// The delays, first retry first.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a delivery gets at most: the first, and one per delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The delay before the attempt after attempt number `attempt` (from 1), without jitter;
    /// `None` when the schedule is spent (and for `attempt` 0, which is no attempt).
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// [`delay_after`](Self::delay_after), jittered by one sample of `jitter` (see
    /// [`apply_jitter`]).
    pub fn jittered_delay_after(&self, attempt: u32, jitter: &dyn Jitter) -> Option<Duration> {
        self.delay_after(attempt)
            .map(|d| apply_jitter(d, jitter.sample()))
    }
}

impl Default for RetrySchedule {
    /// [`DEFAULT_SCHEDULE`].
    fn default() -> Self {
        Self {
            delays: DEFAULT_DELAYS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.delays.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_delay(f, *d)?;
        }
        Ok(())
    }
}

/// One delay (whole seconds) in the largest unit that divides it, up to hours.
fn write_delay(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    let s = d.as_secs();
    for (unit, size) in [("h", 3_600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return write!(f, "{}{unit}", s / size);
        }
    }
    write!(f, "{s}s")
}

/// One item: ASCII digits, then one unit letter.
fn parse_delay(item: &str) -> Result<Duration, ScheduleError> {
    let not_a_delay = || ScheduleError::NotADelay { item: quote(item) };
    let digits = item.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = item.split_at(digits);
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(not_a_delay()),
    };
    if number.is_empty() {
        return Err(not_a_delay());
    }
    // Too many digits for a u64 is far beyond the window anyway.
    let n: u64 = number.parse().map_err(|_| ScheduleError::TooLong)?;
    if n == 0 {
        return Err(ScheduleError::TooShort { item: quote(item) });
    }
    n.checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .ok_or(ScheduleError::TooLong)
}

/// `text`, cut to [`MAX_QUOTED`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_documented_list() {
        assert_eq!(
            RetrySchedule::default(),
            RetrySchedule::parse(DEFAULT_SCHEDULE).unwrap()
        );
        assert_eq!(RetrySchedule::default().to_string(), DEFAULT_SCHEDULE);
        assert_eq!(RetrySchedule::default().max_attempts(), 9);
    }

    #[test]
    fn long_items_are_cut_in_errors() {
        let long = "x".repeat(100);
        let ScheduleError::NotADelay { item } = RetrySchedule::parse(&long).unwrap_err() else {
            panic!("not a NotADelay");
        };
        assert_eq!(item.chars().count(), MAX_QUOTED + 1);
    }

    #[test]
    fn delays_from_new_are_whole_seconds_of_at_least_one() {
        assert!(matches!(
            RetrySchedule::new(vec![Duration::from_millis(500)]),
            Err(ScheduleError::TooShort { .. })
        ));
        assert!(matches!(
            RetrySchedule::new(vec![Duration::from_millis(1_500)]),
            Err(ScheduleError::Fractional { .. })
        ));
        let s = RetrySchedule::new(vec![Duration::from_secs(90), Duration::from_secs(86_400)]);
        assert_eq!(s.unwrap().to_string(), "90s,24h");
    }
}
