//! Absolute http(s) URLs given by merchants (`returnUrl`, webhook endpoint URLs).

use crate::error::{InvalidRequestCode, ValidationError};

/// A URL has at most this many characters.
pub const URL_MAX_CHARS: usize = 2048;

/// Checks that `value` is an absolute `http` or `https` URL with a host and no white space or
/// control characters, and returns it as given.
///
/// ```
/// use vinr_domain::url::parse_http_url;
/// assert!(parse_http_url("returnUrl", "https://yoursite.com/wallet/saved?x=1").is_ok());
/// assert!(parse_http_url("returnUrl", "http://127.0.0.1:8080/hook").is_ok());
/// assert!(parse_http_url("returnUrl", "/wallet").is_err());
/// assert!(parse_http_url("returnUrl", "javascript:alert(1)").is_err());
/// ```
pub fn parse_http_url(param: &str, value: &str) -> Result<String, ValidationError> {
    let bad = |why: &str| {
        ValidationError::new(
            InvalidRequestCode::InvalidUrl,
            param,
            format!("{param} must be an absolute http(s) URL: {why}"),
        )
    };
    if value.chars().count() > URL_MAX_CHARS {
        return Err(bad("too long"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains white space"));
    }
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| bad("the scheme must be http or https"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    if !host
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(bad("the host is malformed"));
    }
    if let Some(port) = host_port
        .strip_prefix('[')
        .and_then(|v| v.split("]:").nth(1))
        .or_else(|| {
            (!host_port.starts_with('['))
                .then(|| host_port.split_once(':').map(|(_, p)| p))
                .flatten()
        })
        && port.parse::<u16>().is_err()
    {
        return Err(bad("the port is malformed"));
    }
    Ok(value.to_owned())
}

/// Appends `pairs` to the query of `url`, keeping any query it already has.
///
/// ```
/// use vinr_domain::url::append_query;
/// assert_eq!(append_query("https://m.example/done", &[("setup", "seti_1")]), "https://m.example/done?setup=seti_1");
/// assert_eq!(append_query("https://m.example/done?a=1#top", &[("status", "succeeded")]), "https://m.example/done?a=1&status=succeeded#top");
/// ```
pub fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (k, v) in pairs {
        out.push_str(sep);
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
        sep = "&";
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ok: bool) {
        let r = parse_http_url("url", input);
        assert_eq!(r.is_ok(), ok, "{input}");
        if let Err(e) = r {
            assert_eq!(e.code, InvalidRequestCode::InvalidUrl);
        }
    }

    #[test]
    fn url_table() {
        check("https://merchant.example/wallet/saved", true);
        check("HTTPS://merchant.example", true);
        check("http://localhost:3000/return", true);
        check("http://[::1]:8080/x", true);
        check("https://user@merchant.example/x", true);
        check("ftp://merchant.example", false);
        check("merchant.example/return", false);
        check("https://", false);
        check("https:///path", false);
        check("https://merchant example.com", false);
        check("https://merchant.example:99999/", false);
        check("https://merchant.example:abc/", false);
        check("", false);
    }
}
