//! The hosted pages played like a buyer's browser: `GET` the page, fill its form, `POST` it
//! form-urlencoded with the hidden inputs (the CSRF token) and an `Origin` header, keep the
//! cookies of the flow, and read the answer without following its redirect.
//!
//! What the answer means (`api.md` §3 and §5):
//! - `303` to `/hosted/authenticate/…` → [`HostedOutcome::Challenge`]; any other `303` →
//!   [`HostedOutcome::Redirect`] (URLs made absolute);
//! - a page with a `role="alert"` element → [`HostedOutcome::Retry`] with its text;
//! - a page with a `role="status"` element and no form → [`HostedOutcome::Done`];
//! - `410` → [`Error::Gone`], `404` → [`Error::NotFound`].
//!
//! A page view ([`HostedView`]) comes from the `data-stage`, `data-amount`,
//! `data-description` and `data-livemode` attributes of the page's `<main>` and from its alert.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_ports::Error;
use vinr_ports::api::HostedApi;
use vinr_ports::params::{CardEntry, ChallengeOutcome, HostedOutcome, HostedStage, HostedView};

use super::HttpClient;
use super::html::{Form, Page};

/// How many same-site redirects a page `GET` follows.
const MAX_REDIRECTS: usize = 5;

/// The cookies of each hosted page flow, keyed by the flow's object id (a setup or a payment:
/// its card page and its challenge page share them, as in a browser tab).
#[derive(Debug, Default)]
pub(super) struct CookieJar {
    flows: HashMap<String, BTreeMap<String, String>>,
}

impl CookieJar {
    /// The `Cookie` header for the flow, if it holds any cookie.
    fn header(&self, flow: &str) -> Option<String> {
        let cookies = self.flows.get(flow)?;
        let header = cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        (!header.is_empty()).then_some(header)
    }

    /// Keeps the `name=value` of every `Set-Cookie`; an empty value or `Max-Age<=0` removes
    /// the cookie.
    fn store(&mut self, flow: &str, headers: &HeaderMap) {
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(value) = value.to_str() else {
                continue;
            };
            let mut parts = value.split(';');
            let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, val) = (name.trim(), val.trim().trim_matches('"'));
            if name.is_empty() {
                continue;
            }
            let expired = parts.any(|attr| {
                attr.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("max-age")
                        && v.trim().parse::<i64>().is_ok_and(|secs| secs <= 0)
                })
            });
            let cookies = self.flows.entry(flow.to_owned()).or_default();
            if expired || val.is_empty() {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), val.to_owned());
            }
        }
    }

    /// Drops a finished flow's cookies.
    fn forget(&mut self, flow: &str) {
        self.flows.remove(flow);
    }
}

/// A page as fetched.
struct Fetched {
    url: Url,
    status: StatusCode,
    headers: HeaderMap,
    page: Page,
}

impl HttpClient {
    fn hosted_url(&self, path: &str) -> Result<Url, Error> {
        Url::parse(&self.url(path)).map_err(|e| Error::Internal {
            message: format!("bad hosted page URL: {e}"),
        })
    }

    fn with_jar<T>(&self, f: impl FnOnce(&mut CookieJar) -> T) -> T {
        // A panic elsewhere while holding the lock leaves cookies that are still valid.
        let mut jar = self
            .jar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut jar)
    }

    /// One request of the browser: the flow's cookies sent, its `Set-Cookie`s kept, no
    /// redirect followed.
    async fn browse(
        &self,
        flow: &str,
        method: Method,
        url: &Url,
        form: Option<String>,
    ) -> Result<Fetched, Error> {
        let mut request = self
            .browser
            .request(method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "text/html");
        if let Some(cookie) = self.with_jar(|jar| jar.header(flow)) {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        if let Some(form) = form {
            // Browsers send the page's origin with every form POST; the server's CSRF check
            // may look at it.
            request = request
                .header(reqwest::header::ORIGIN, url.origin().ascii_serialization())
                .header(reqwest::header::REFERER, url.as_str())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&method, url.as_str(), &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        self.with_jar(|jar| jar.store(flow, &headers));
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&method, url.as_str(), &e))?;
        Ok(Fetched {
            url: url.clone(),
            status,
            headers,
            page: Page::parse(&text),
        })
    }

    /// `GET`s a page, following redirects within the server (a page may send the buyer on to
    /// its challenge) and retrying network failures, 429 and 5xx like any `GET`; answers the
    /// page shown with 200, or the error its status means.
    async fn open(&self, flow: &str, url: Url) -> Result<Fetched, Error> {
        let mut url = url;
        for _ in 0..=MAX_REDIRECTS {
            let fetched = self.get_with_retries(flow, &url).await?;
            if fetched.status.is_redirection() {
                let next = location(&fetched)?;
                if next.origin() != self.base.origin() {
                    return Err(Error::Internal {
                        message: format!("the hosted page {} redirected off the server", url),
                    });
                }
                url = next;
                continue;
            }
            if fetched.status == StatusCode::OK {
                return Ok(fetched);
            }
            return Err(self.page_error(flow, &fetched));
        }
        Err(Error::Internal {
            message: format!("the hosted page {url} redirected too many times"),
        })
    }

    async fn get_with_retries(&self, flow: &str, url: &Url) -> Result<Fetched, Error> {
        let mut retries = 0;
        loop {
            let result = self.browse(flow, Method::GET, url, None).await;
            let retryable = match &result {
                Ok(f) => f.status == StatusCode::TOO_MANY_REQUESTS || f.status.is_server_error(),
                Err(_) => true,
            };
            if !retryable || retries >= self.options.max_retries {
                return result;
            }
            tokio::time::sleep(self.backoff(retries)).await;
            retries += 1;
        }
    }

    /// The error a page answer means (any status but 200 and redirects).
    fn page_error(&self, flow: &str, fetched: &Fetched) -> Error {
        let message = || {
            let text = fetched.page.text();
            if text.is_empty() {
                fetched
                    .status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .to_owned()
            } else {
                text.chars().take(300).collect()
            }
        };
        match fetched.status {
            StatusCode::GONE => {
                self.with_jar(|jar| jar.forget(flow));
                Error::Gone { message: message() }
            }
            StatusCode::NOT_FOUND => Error::NotFound {
                param: None,
                message: message(),
            },
            // The CSRF token or its cookie was refused: nothing changed.
            StatusCode::FORBIDDEN => Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "csrf_token",
                message(),
            ),
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: fetched
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok()),
            },
            status => Error::Internal {
                message: format!(
                    "the hosted page {} answered HTTP {}: {}",
                    fetched.url,
                    status.as_u16(),
                    message()
                ),
            },
        }
    }

    /// What the page at `path` shows.
    async fn view(&self, flow: &str, path: &str) -> Result<HostedView, Error> {
        let fetched = self.open(flow, self.hosted_url(path)?).await?;
        let page = &fetched.page;
        let main = page
            .first_with_attr("data-stage")
            .ok_or_else(|| Error::Internal {
                message: format!("the hosted page {} has no data-stage", fetched.url),
            })?;
        let stage = match main.attr("data-stage").map(str::trim) {
            Some("collect_card") => HostedStage::CollectCard,
            Some("authenticate") => HostedStage::Authenticate,
            other => {
                return Err(Error::Internal {
                    message: format!(
                        "the hosted page {} has an unknown data-stage {:?}",
                        fetched.url,
                        other.unwrap_or_default()
                    ),
                });
            }
        };
        let text = |name: &str| {
            main.attr(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(HostedView {
            stage,
            amount: text("data-amount"),
            description: text("data-description"),
            last_error: page.alert(),
            livemode: main
                .attr("data-livemode")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        })
    }

    /// Types the card into the page's card form and submits it.
    async fn submit_card(
        &self,
        flow: &str,
        path: &str,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error> {
        let fetched = self.open(flow, self.hosted_url(path)?).await?;
        let form = fetched
            .page
            .forms()
            .into_iter()
            .find(|f| f.has_control("number"))
            .ok_or_else(|| Error::Gone {
                message: "This page is not collecting a card.".to_owned(),
            })?;
        let mut typed = vec![
            ("number", card.number),
            ("expiry", card.expiry),
            ("cvc", card.cvc),
        ];
        if let Some(name) = card.name {
            typed.push(("name", name));
        }
        let mut fields = fill(&form, typed);
        fields.extend(form.buttons.first().cloned());
        self.submit(flow, &fetched.url, &form, &fields).await
    }

    /// Presses the `outcome` button of the page's challenge form.
    async fn answer_challenge(
        &self,
        flow: &str,
        path: &str,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error> {
        let fetched = self.open(flow, self.hosted_url(path)?).await?;
        let form = fetched
            .page
            .forms()
            .into_iter()
            .find(|f| f.has_control("outcome"))
            .ok_or_else(|| Error::Gone {
                message: "This page is not waiting for authentication.".to_owned(),
            })?;
        let button = match outcome {
            ChallengeOutcome::Complete => "complete",
            ChallengeOutcome::Fail => "fail",
        };
        let fields = fill(&form, vec![("outcome", button.to_owned())]);
        self.submit(flow, &fetched.url, &form, &fields).await
    }

    /// Posts the form and reads what the answer means.
    async fn submit(
        &self,
        flow: &str,
        page_url: &Url,
        form: &Form,
        fields: &[(String, String)],
    ) -> Result<HostedOutcome, Error> {
        let target = match form.action.as_deref().map(str::trim) {
            Some(action) if !action.is_empty() => {
                page_url.join(action).map_err(|e| Error::Internal {
                    message: format!("the form's action {action:?} is not a URL: {e}"),
                })?
            }
            _ => page_url.clone(),
        };
        let body = serde_urlencoded::to_string(fields).map_err(|e| Error::Internal {
            message: format!("could not encode the form: {e}"),
        })?;
        // Not retried: a card form post is not idempotent and its CSRF token may be spent.
        let answer = self.browse(flow, Method::POST, &target, Some(body)).await?;
        let outcome = self.outcome(flow, &answer)?;
        let finished = match &outcome {
            HostedOutcome::Redirect { url } => !url.contains("/hosted/"),
            HostedOutcome::Done { .. } => true,
            HostedOutcome::Challenge { .. } | HostedOutcome::Retry { .. } => false,
        };
        if finished {
            self.with_jar(|jar| jar.forget(flow));
        }
        Ok(outcome)
    }

    fn outcome(&self, flow: &str, answer: &Fetched) -> Result<HostedOutcome, Error> {
        if answer.status.is_redirection() {
            let url = location(answer)?.to_string();
            return Ok(if url.contains("/hosted/authenticate/") {
                HostedOutcome::Challenge { url }
            } else {
                HostedOutcome::Redirect { url }
            });
        }
        if matches!(
            answer.status,
            StatusCode::GONE
                | StatusCode::NOT_FOUND
                | StatusCode::FORBIDDEN
                | StatusCode::TOO_MANY_REQUESTS
        ) || answer.status.is_server_error()
        {
            return Err(self.page_error(flow, answer));
        }
        // 200 (or 402, or a 4xx validation page): the page itself says what happened.
        if let Some(message) = answer.page.alert() {
            return Ok(HostedOutcome::Retry { message });
        }
        if answer.page.forms().is_empty()
            && let Some(message) = answer.page.role_texts("status").into_iter().next()
        {
            return Ok(HostedOutcome::Done { message });
        }
        Err(self.page_error_unexplained(answer))
    }

    fn page_error_unexplained(&self, answer: &Fetched) -> Error {
        Error::Internal {
            message: format!(
                "the hosted page {} answered HTTP {} with neither an alert nor a status",
                answer.url,
                answer.status.as_u16()
            ),
        }
    }
}

/// The form's own controls (hidden inputs included) with the typed values put in.
fn fill(form: &Form, typed: Vec<(&str, String)>) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = form
        .fields
        .iter()
        .filter(|(name, _)| !typed.iter().any(|(t, _)| t == name))
        .cloned()
        .collect();
    fields.extend(typed.into_iter().map(|(n, v)| (n.to_owned(), v)));
    fields
}

/// The absolute URL of a redirect's `Location`.
fn location(answer: &Fetched) -> Result<Url, Error> {
    let location = answer
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .ok_or_else(|| Error::Internal {
            message: format!(
                "the hosted page {} redirected (HTTP {}) without a Location",
                answer.url,
                answer.status.as_u16()
            ),
        })?;
    answer
        .url
        .join(location.trim())
        .map_err(|e| Error::Internal {
            message: format!("the hosted page redirected to a bad URL {location:?}: {e}"),
        })
}

#[async_trait]
impl HostedApi for HttpClient {
    async fn setup_page(&self, id: &SetupId) -> Result<HostedView, Error> {
        self.view(id.as_str(), &format!("/hosted/setup/{id}")).await
    }

    async fn submit_setup_card(
        &self,
        id: &SetupId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error> {
        self.submit_card(id.as_str(), &format!("/hosted/setup/{id}"), card)
            .await
    }

    async fn authenticate_setup(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error> {
        self.answer_challenge(id.as_str(), &format!("/hosted/authenticate/{id}"), outcome)
            .await
    }

    async fn payment_page(&self, id: &PaymentId) -> Result<HostedView, Error> {
        self.view(id.as_str(), &format!("/hosted/pay/{id}")).await
    }

    async fn submit_payment_card(
        &self,
        id: &PaymentId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error> {
        self.submit_card(id.as_str(), &format!("/hosted/pay/{id}"), card)
            .await
    }

    async fn authenticate_payment(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error> {
        self.answer_challenge(id.as_str(), &format!("/hosted/authenticate/{id}"), outcome)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(
                reqwest::header::SET_COOKIE,
                HeaderValue::from_str(c).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_jar_keeps_cookies_per_flow_and_honours_removal() {
        let mut jar = CookieJar::default();
        jar.store(
            "seti_a",
            &headers(&[
                "vinr_csrf=abc; Path=/hosted; HttpOnly; SameSite=Strict",
                "other=\"q\"; Max-Age=60",
            ]),
        );
        jar.store("seti_b", &headers(&["vinr_csrf=zzz"]));
        assert_eq!(
            jar.header("seti_a").as_deref(),
            Some("other=q; vinr_csrf=abc")
        );
        assert_eq!(jar.header("seti_b").as_deref(), Some("vinr_csrf=zzz"));
        jar.store("seti_a", &headers(&["other=; Max-Age=0", "vinr_csrf=new"]));
        assert_eq!(jar.header("seti_a").as_deref(), Some("vinr_csrf=new"));
        jar.forget("seti_a");
        assert_eq!(jar.header("seti_a"), None);
        assert_eq!(jar.header("nobody"), None);
    }

    #[test]
    fn typed_values_replace_the_forms_own() {
        let form = Form {
            action: None,
            fields: vec![
                ("csrf_token".into(), "t".into()),
                ("number".into(), String::new()),
                ("name".into(), "prefilled".into()),
            ],
            buttons: vec![],
        };
        let filled = fill(&form, vec![("number", "4242".into()), ("cvc", "1".into())]);
        assert_eq!(
            filled,
            vec![
                ("csrf_token".to_owned(), "t".to_owned()),
                ("name".to_owned(), "prefilled".to_owned()),
                ("number".to_owned(), "4242".to_owned()),
                ("cvc".to_owned(), "1".to_owned()),
            ]
        );
    }
}
