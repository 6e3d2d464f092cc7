//! Parsing and checking settings: the webhook retry schedule, the public URL, a secret key's
//! shape.

use std::fmt;
use std::time::Duration;

use vinr_ports::Mode;

/// `api.md` §6's default webhook retry schedule.
pub(crate) const DEFAULT_WEBHOOK_RETRY: &str = "1m,5m,30m,2h,6h,12h,24h,24h";

/// Deliveries are retried for up to 3 days (`api.md` §6): a schedule may not add up to more.
const RETRY_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

/// At most this many retries.
const MAX_RETRIES: usize = 32;

/// The delays between webhook delivery attempts (`--webhook-retry`): the n-th failed attempt
/// of an event is retried after the n-th delay, with jitter; after the last, the event is
/// given up. Parsed from `1s,5m,2h,1d` (units `s`, `m`, `h`, `d`; whole numbers).
///
/// Kept in [`crate::serve::ServeConfig`] for the webhook dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// Parses and checks a schedule: 1 to 32 delays, each at least one second, adding up to
    /// at most 3 days.
    pub(crate) fn parse(text: &str) -> Result<RetrySchedule, String> {
        let mut delays = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "an empty delay in `{text}`; expected a comma list such as `{DEFAULT_WEBHOOK_RETRY}`"
                ));
            }
            delays.push(parse_delay(part)?);
        }
        if delays.len() > MAX_RETRIES {
            return Err(format!(
                "{} delays is too many; at most {MAX_RETRIES}",
                delays.len()
            ));
        }
        let total: Duration = delays.iter().sum();
        if total > RETRY_WINDOW {
            return Err(format!(
                "the delays add up to {}, more than the 3 days deliveries are retried for",
                human(total)
            ));
        }
        Ok(RetrySchedule { delays })
    }

    /// The delays, first retry first.
    pub(crate) fn delays(&self) -> &[Duration] {
        &self.delays
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.delays().iter().map(|d| human(*d)).collect();
        f.write_str(&parts.join(","))
    }
}

/// One delay: a whole number and a unit.
fn parse_delay(part: &str) -> Result<Duration, String> {
    let digits = part.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = part.split_at(digits);
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{part}` is not a delay; write a whole number and a unit: `30s`, `5m`, `2h`, `1d`"
            ));
        }
    };
    let n: u64 = number.parse().map_err(|_| {
        format!("`{part}` is not a delay; write a whole number and a unit: `30s`, `5m`, `2h`, `1d`")
    })?;
    if n == 0 {
        return Err(format!("`{part}`: a delay must be at least 1s"));
    }
    n.checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{part}` is too long"))
}

/// A duration in the largest unit that divides it, up to hours (`90s`, `5m`, `2h`, `24h`),
/// as `api.md` writes the default schedule.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

/// Checks a public base URL: absolute `http(s)://host…`, no query, no fragment, no user info.
/// Returns it without trailing slashes.
pub(crate) fn public_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("the public URL `{url}` must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("the public URL `{url}` names no host"));
    }
    if host.contains('@') {
        return Err("the public URL may not hold a user name or password".to_owned());
    }
    if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        return Err(format!(
            "the public URL `{url}` must be a plain base URL (no query, fragment or spaces)"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The shortest body accepted after `sk_test_`/`sk_live_` in `VINR_SECRET_KEY`: 16 characters
/// of 63 possible ones is about 95 bits, the least an operator-chosen key may have.
const MIN_SECRET_BODY: usize = 16;

/// The longest secret key the server's authentication accepts.
const MAX_SECRET_LEN: usize = 255;

/// The mode of an operator-chosen secret key (`VINR_SECRET_KEY`), if it has the shape the
/// server authenticates (`vinr_http::server::auth`): `sk_test_` or `sk_live_`, then at least
/// 16 letters, digits or underscores, 255 characters in all at most.
/// Never echoes the key in its error.
pub(crate) fn secret_key_mode(secret: &str) -> Result<Mode, String> {
    let (mode, body) = if let Some(body) = secret.strip_prefix("sk_test_") {
        (Mode::Test, body)
    } else if let Some(body) = secret.strip_prefix("sk_live_") {
        (Mode::Live, body)
    } else {
        return Err(
            "VINR_SECRET_KEY must start with sk_test_ (sandbox) or sk_live_ (live)".to_owned(),
        );
    };
    let ok = body.len() >= MIN_SECRET_BODY
        && secret.len() <= MAX_SECRET_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(format!(
            "VINR_SECRET_KEY must have at least {MIN_SECRET_BODY} letters, digits or underscores after its sk_test_/sk_live_ prefix, and {MAX_SECRET_LEN} characters in all at most"
        ));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedules_parse_and_print() {
        let s = RetrySchedule::parse(DEFAULT_WEBHOOK_RETRY).unwrap();
        assert_eq!(s.delays().len(), 8);
        assert_eq!(s.delays()[0], Duration::from_secs(60));
        assert_eq!(s.to_string(), DEFAULT_WEBHOOK_RETRY);
        let s = RetrySchedule::parse("1s, 1s,2s").unwrap();
        assert_eq!(s.delays(), [1, 1, 2].map(Duration::from_secs).as_slice());
        assert_eq!(s.to_string(), "1s,1s,2s");
        assert_eq!(
            RetrySchedule::parse("90s,1d").unwrap().to_string(),
            "90s,24h"
        );
    }

    #[test]
    fn bad_retry_schedules_are_refused_with_a_reason() {
        for (text, reason) in [
            ("", "empty delay"),
            ("1s,,2s", "empty delay"),
            ("0s", "at least 1s"),
            ("5", "not a delay"),
            ("5x", "not a delay"),
            ("-1s", "not a delay"),
            ("1.5s", "not a delay"),
            ("2d,2d", "3 days"),
            ("99999999999999999999s", "not a delay"),
        ] {
            let e = RetrySchedule::parse(text).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
        }
        let many = vec!["1s"; 33].join(",");
        assert!(
            RetrySchedule::parse(&many)
                .unwrap_err()
                .contains("too many")
        );
    }

    #[test]
    fn public_urls_are_plain_http_bases() {
        assert_eq!(
            public_url("https://pay.example.com/").unwrap(),
            "https://pay.example.com"
        );
        assert_eq!(
            public_url("http://127.0.0.1:4242").unwrap(),
            "http://127.0.0.1:4242"
        );
        assert_eq!(
            public_url("https://x.example/vinr//").unwrap(),
            "https://x.example/vinr"
        );
        for bad in [
            "pay.example.com",
            "ftp://x",
            "https://",
            "https://a:b@x",
            "https://x/?a=1",
            "https://x/#f",
            "https://x y",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_secret_keys_need_a_prefix_and_a_long_body_and_are_never_echoed() {
        assert_eq!(
            secret_key_mode(&format!("sk_test_acceptance_{}", "0f".repeat(16))),
            Ok(Mode::Test)
        );
        assert_eq!(secret_key_mode("sk_live_ABCDEFGHIJKLMNOP"), Ok(Mode::Live));
        for bad in [
            "pk_test_ABCDEFGHIJKLMNOPQR",
            "sk_test_short",
            "sk_test_ABCDEFGHIJKLMNOP-Q",
            "sk_test_ABCDEFGHIJKLMNOP Q",
        ] {
            let e = secret_key_mode(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
    }
}
