//! CSRF protection of the hosted forms (double submit, signed).
//!
//! A `GET` of a page sets the cookie [`COOKIE`] to 32 random bytes (hex) unless the browser
//! already holds a well-formed one, and puts `hex(HMAC-SHA256(csrf_key, "vinr-hosted-csrf\0" ||
//! cookie || "\0" || page id))` into the form's hidden `csrf_token` input. A `POST` is accepted
//! only when that token matches, in constant time, one of the `vinr_csrf` cookies it carries:
//! a page on another site can neither read the cookie nor compute the token, and a token taken
//! from one page (or one browser) is worth nothing on another.

use axum::http::HeaderMap;
use axum::http::header::COOKIE as COOKIE_HEADER;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The name of the cookie.
pub(crate) const COOKIE: &str = "vinr_csrf";
/// The name of the hidden input holding the token.
pub(crate) const FIELD: &str = "csrf_token";

/// Random bytes in a cookie value.
const COOKIE_BYTES: usize = 32;
/// Separates the purpose, the cookie and the page id inside the MAC.
const DOMAIN: &[u8] = b"vinr-hosted-csrf\0";

/// A fresh cookie value: 32 bytes from the operating system, hex.
pub(crate) fn new_cookie_value() -> String {
    let mut bytes = [0u8; COOKIE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Whether `value` looks like a cookie value this server issues (64 lower-case hex digits).
fn well_formed(value: &str) -> bool {
    value.len() == COOKIE_BYTES * 2
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every well-formed `vinr_csrf` cookie of the request, in the order the browser sent them
/// (the most specific path first).
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, value)| *name == COOKIE && well_formed(value.trim()))
        .map(|(_, value)| value.trim().to_owned())
        .collect()
}

/// The `Set-Cookie` value for `value`: `HttpOnly`, `SameSite=Lax`, scoped to the hosted pages,
/// and `Secure` only when the public URL is https.
pub(crate) fn set_cookie(value: &str, public_url: &str) -> String {
    let mut cookie = format!(
        "{COOKIE}={value}; Path={}; HttpOnly; SameSite=Lax",
        cookie_path(public_url)
    );
    if public_url.to_ascii_lowercase().starts_with("https://") {
        cookie.push_str("; Secure");
    }
    cookie
}

/// `/hosted` under the path of the public URL (a server published as
/// `https://example.com/pay` serves its pages at `/pay/hosted/…` in the browser).
fn cookie_path(public_url: &str) -> String {
    let after_scheme = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |i| &after_scheme[i..])
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    let safe = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    if safe {
        format!("{path}/hosted")
    } else {
        "/hosted".to_owned()
    }
}

fn mac(key: &[u8; 32], cookie: &str, page_id: &str) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(DOMAIN);
    mac.update(cookie.as_bytes());
    mac.update(b"\0");
    mac.update(page_id.as_bytes());
    Some(mac.finalize().into_bytes().into())
}

/// The token of `page_id` for the browser holding `cookie`.
pub(crate) fn token(key: &[u8; 32], cookie: &str, page_id: &str) -> String {
    mac(key, cookie, page_id).map_or_else(String::new, |m| hex(&m))
}

/// Whether `token` was issued for `page_id` to a browser holding one of `cookies`; compared in
/// constant time.
pub(crate) fn verify(key: &[u8; 32], cookies: &[String], page_id: &str, token: &str) -> bool {
    let Some(given) = unhex32(token) else {
        return false;
    };
    let mut ok = subtle::Choice::from(0u8);
    for cookie in cookies {
        if let Some(expected) = mac(key, cookie, page_id) {
            ok |= expected.ct_eq(&given);
        }
    }
    ok.into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn a_token_verifies_only_with_its_cookie_and_page() {
        let cookie = new_cookie_value();
        let other = new_cookie_value();
        assert_ne!(cookie, other);
        let t = token(&KEY, &cookie, "seti_a");
        assert_eq!(t.len(), 64);
        assert!(verify(&KEY, std::slice::from_ref(&cookie), "seti_a", &t));
        assert!(verify(&KEY, &[other.clone(), cookie.clone()], "seti_a", &t));
        assert!(!verify(&KEY, std::slice::from_ref(&other), "seti_a", &t));
        assert!(!verify(&KEY, std::slice::from_ref(&cookie), "seti_b", &t));
        assert!(!verify(
            &[8u8; 32],
            std::slice::from_ref(&cookie),
            "seti_a",
            &t
        ));
        assert!(!verify(&KEY, &[], "seti_a", &t));
        assert!(!verify(&KEY, std::slice::from_ref(&cookie), "seti_a", ""));
        assert!(!verify(
            &KEY,
            std::slice::from_ref(&cookie),
            "seti_a",
            &t[..62]
        ));
        assert!(!verify(
            &KEY,
            std::slice::from_ref(&cookie),
            "seti_a",
            &t.replace(|_| true, "z")
        ));
    }

    #[test]
    fn only_well_formed_cookies_are_read() {
        let good = new_cookie_value();
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE_HEADER,
            HeaderValue::from_str(&format!("a=b; vinr_csrf=short; vinr_csrf={good}")).unwrap(),
        );
        headers.append(COOKIE_HEADER, HeaderValue::from_static("vinr_csrf=ZZ"));
        assert_eq!(cookies(&headers), vec![good]);
    }

    #[test]
    fn the_cookie_is_secure_only_over_https_and_follows_the_public_path() {
        let v = "ab";
        assert_eq!(
            set_cookie(v, "http://127.0.0.1:4242"),
            "vinr_csrf=ab; Path=/hosted; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            set_cookie(v, "https://pay.example.com/"),
            "vinr_csrf=ab; Path=/hosted; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set_cookie(v, "https://example.com/pay/"),
            "vinr_csrf=ab; Path=/pay/hosted; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
