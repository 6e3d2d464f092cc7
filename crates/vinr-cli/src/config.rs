//! Parsing and checking settings: the public URL, a secret key's shape.
//! (The webhook retry schedule is `vinr_webhooks::dispatch::RetrySchedule`.)

use vinr_ports::Mode;

/// `api.md` §6's default webhook retry schedule.
pub(crate) const DEFAULT_WEBHOOK_RETRY: &str = "1m,5m,30m,2h,6h,12h,24h,24h";

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
