//! The `/hosted` pages where buyers type their cards: server-rendered HTML that works without
//! JavaScript, with CSRF protection and strict security headers.
//!
//! | route | what |
//! | --- | --- |
//! | `GET/POST /hosted/setup/{seti}` | the card form of a setup |
//! | `GET/POST /hosted/pay/{pay}` | the card form of a payment (amount and description shown) |
//! | `GET/POST /hosted/authenticate/{seti or pay}` | the 3-D Secure challenge: one form, two buttons |
//! | `GET /hosted/assets/style.css` | the stylesheet |
//!
//! A `GET` renders the page of the object's stage (a setup waiting for its challenge shows the
//! challenge on its card URL too). A `POST` (form-urlencoded, at most 8 KiB, with a valid
//! `csrf_token`, see `csrf`) hands the typed card straight to the engine and answers its
//! [`HostedOutcome`]: `Redirect`/`Challenge` → `303 See Other`; `Retry` → `200` with the form
//! again and the reason in `role="alert"` (the number and CVC inputs empty); `Done` → `200` with
//! the message in `role="status"` and no form. A used, canceled or expired link is `410`, an
//! unknown id `404`, a refused CSRF check `403` (the engine is not called).
//!
//! Every response of these routes carries [`CONTENT_SECURITY_POLICY`], `X-Frame-Options: DENY`,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and
//! `X-Content-Type-Options: nosniff`. The card number and CVC are never logged, echoed or kept.
//!
//! Card testing: a link's own failed card attempts lock it at the engine's limit
//! (`EngineConfig::hosted_max_attempts`); a client address over its failed-attempt limit
//! ([`guard`]) locks the link it posts to. Either way the post is answered `410` with a plain
//! message (never the card), the setup or payment is `canceled` with `lastError.code =
//! "too_many_attempts"`, and `setup.canceled` or `payment.canceled` records it.
//!
//! One widening of the policy: a page whose form can end in a `303` to the merchant's
//! `returnUrl` lists that URL's origin in `form-action` too (`form-action 'self'
//! https://shop.example`). Chromium applies `form-action` to every redirect that follows a form
//! submission, so with `'self'` alone the buyer would be stopped on our page after paying
//! (the browser test shows it).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY as CSP, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_engine::{Engine, HostedLink};
use vinr_ports::api::{HostedApi, PaymentsApi, SetupsApi};
use vinr_ports::params::{CardEntry, ChallengeOutcome, HostedOutcome, HostedStage, HostedView};
use vinr_ports::{Error, Mode, RequestContext};

use self::guard::ClientAddr;
use self::render::{FormPage, Kept, Subject};
use super::AppState;

mod csrf;
pub mod guard;
mod render;

/// The `Content-Security-Policy` of every hosted response: nothing but the own stylesheet, no
/// scripts, forms post only to this origin, never framed, no `<base>`. (Form pages add the
/// `returnUrl`'s origin to `form-action`: see the module documentation.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a form page whose submission may be redirected to `return_origin`.
fn policy_for(return_origin: Option<&str>) -> String {
    match return_origin {
        Some(origin) => CONTENT_SECURITY_POLICY.replacen(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
            1,
        ),
        None => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// The origin of an absolute http(s) URL as a CSP source (`https://shop.example:8443`), or
/// `None` when it is anything else.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?.to_ascii_lowercase();
    let plausible = !host_port.is_empty()
        && host_port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plausible.then(|| format!("{scheme}://{host_port}"))
}

/// The largest form body accepted (`413` beyond).
pub const FORM_LIMIT: usize = 8 * 1024;

const STYLESHEET: &str = include_str!("style.css");
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// The `/hosted` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosted/setup/{id}", get(setup_get).post(setup_post))
        .route("/hosted/pay/{id}", get(pay_get).post(pay_post))
        .route(
            "/hosted/authenticate/{id}",
            get(authenticate_get).post(authenticate_post),
        )
        .route("/hosted/assets/style.css", get(stylesheet))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
}

/// Adds the security headers to every hosted response, whatever produced it.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(CSP) {
        h.insert(CSP, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn stylesheet() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response()
}

/// The setup or payment a page is about. Its id is the capability.
#[derive(Debug, Clone)]
enum Target {
    Setup(SetupId),
    Payment(PaymentId),
}

impl Target {
    /// The id of the path, for a card page of `subject`.
    fn parse(subject: Subject, raw: &str) -> Option<Self> {
        match subject {
            Subject::Setup => SetupId::parse(raw).ok().map(Target::Setup),
            Subject::Payment => PaymentId::parse(raw).ok().map(Target::Payment),
        }
    }

    /// The id of an authenticate path: `seti_…` or `pay_…`.
    fn parse_any(raw: &str) -> Option<Self> {
        if raw.starts_with("seti_") {
            Self::parse(Subject::Setup, raw)
        } else if raw.starts_with("pay_") {
            Self::parse(Subject::Payment, raw)
        } else {
            None
        }
    }

    fn subject(&self) -> Subject {
        match self {
            Target::Setup(_) => Subject::Setup,
            Target::Payment(_) => Subject::Payment,
        }
    }

    fn id(&self) -> &str {
        match self {
            Target::Setup(id) => id.as_str(),
            Target::Payment(id) => id.as_str(),
        }
    }

    async fn view(&self, engine: &Engine) -> Result<HostedView, Error> {
        match self {
            Target::Setup(id) => engine.setup_page(id).await,
            Target::Payment(id) => engine.payment_page(id).await,
        }
    }

    /// The link, as the engine names it.
    fn link(&self) -> HostedLink {
        match self {
            Target::Setup(id) => HostedLink::Setup(id.clone()),
            Target::Payment(id) => HostedLink::Payment(id.clone()),
        }
    }

    /// The origin of the object's `returnUrl`, read in the mode the page said it is in.
    async fn return_origin(&self, engine: &Engine, livemode: bool) -> Option<String> {
        let ctx = RequestContext {
            mode: if livemode { Mode::Live } else { Mode::Test },
            scope: "hosted".to_owned(),
            idempotency_key: None,
            replay: None,
        };
        let url = match self {
            Target::Setup(id) => Some(engine.retrieve_setup(&ctx, id).await.ok()?.return_url),
            Target::Payment(id) => engine.retrieve_payment(&ctx, id).await.ok()?.return_url,
        };
        origin_of(&url?)
    }

    /// The absolute URL of this object's page for `stage`.
    fn url(&self, state: &AppState, stage: HostedStage) -> String {
        let segment = match stage {
            HostedStage::CollectCard => self.subject().segment(),
            HostedStage::Authenticate => "authenticate",
        };
        format!(
            "{}/hosted/{segment}/{}",
            state.config().public_url.trim_end_matches('/'),
            self.id()
        )
    }
}

async fn setup_get(state: State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    page_get(&state, Target::parse(Subject::Setup, &id), &headers).await
}

async fn pay_get(state: State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    page_get(&state, Target::parse(Subject::Payment, &id), &headers).await
}

async fn authenticate_get(
    state: State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    page_get(&state, Target::parse_any(&id), &headers).await
}

async fn setup_post(
    state: State<AppState>,
    Path(id): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let target = Target::parse(Subject::Setup, &id);
    card_post(&state, target, client, &headers, body).await
}

async fn pay_post(
    state: State<AppState>,
    Path(id): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let target = Target::parse(Subject::Payment, &id);
    card_post(&state, target, client, &headers, body).await
}

/// The answer to a post from a client over its failed-attempt limit: the link it targets is
/// locked (if it still waited for the buyer) and the post is `410`; the card goes nowhere.
async fn refuse_over_limit(state: &AppState, target: &Target) -> Response {
    match state.engine().lock_hosted_link(&target.link()).await {
        Ok(locked) => {
            tracing::warn!(
                locked,
                "hosted page: a client over its failed card attempt limit"
            );
            gone(OVER_LIMIT)
        }
        Err(e) => error_page(&e, target),
    }
}

/// What a client over its failed-attempt limit reads.
const OVER_LIMIT: &str = "Too many failed card attempts from your network: this link is locked. Ask the merchant for a new one.";

/// Counts a failed card attempt against the client's address.
fn count_failure(state: &AppState, client: ClientAddr, failed: bool) {
    if let (true, Some(ip)) = (failed, client.0) {
        state.hosted_guard().record_failure(ip);
    }
}

/// Whether the client has used up its failed attempts.
fn over_limit(state: &AppState, client: ClientAddr) -> bool {
    client
        .0
        .is_some_and(|ip| state.hosted_guard().is_blocked(ip))
}

async fn authenticate_post(
    state: State<AppState>,
    Path(id): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(target) = Target::parse_any(&id) else {
        return not_found();
    };
    let form = match Form::read(&state, &target, &headers, body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let outcome = match form.get("outcome") {
        "complete" => ChallengeOutcome::Complete,
        "fail" => ChallengeOutcome::Fail,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Choose an outcome",
                "Choose whether the authentication completes or fails.",
                Some(target.id()),
            );
        }
    };
    if over_limit(&state, client) {
        return refuse_over_limit(&state, &target).await;
    }
    let step = state
        .engine()
        .answer_hosted_challenge(&target.link(), outcome)
        .await;
    count_failure(&state, client, step.failed_attempt);
    match step.outcome {
        Ok(outcome) => {
            answer_outcome(
                &state,
                &target,
                &form.cookie,
                Kept::default(),
                outcome,
                StatusCode::OK,
            )
            .await
        }
        // A second click, or a challenge already answered: send the buyer where the object
        // stands now, if it still takes a step.
        Err(Error::Gone { message }) => match target.view(state.engine()).await {
            Ok(view) if view.stage == HostedStage::CollectCard => {
                see_other(&target.url(&state, HostedStage::CollectCard))
            }
            _ => gone(&message),
        },
        Err(e) => error_page(&e, &target),
    }
}

/// `GET` of a page: the page of the object's stage, with a CSRF token bound to the browser's
/// cookie (set now when the browser has none).
async fn page_get(state: &AppState, target: Option<Target>, headers: &HeaderMap) -> Response {
    let Some(target) = target else {
        return not_found();
    };
    let view = match target.view(state.engine()).await {
        Ok(view) => view,
        Err(e) => return error_page(&e, &target),
    };
    let existing = csrf::cookies(headers).into_iter().next();
    let (cookie, set) = match existing {
        Some(c) => (c, None),
        None => {
            let c = csrf::new_cookie_value();
            let set = csrf::set_cookie(&c, &state.config().public_url);
            (c, Some(set))
        }
    };
    let token = csrf::token(&state.config().csrf_key, &cookie, target.id());
    let html = render::stage_page(&FormPage {
        subject: target.subject(),
        id: target.id(),
        csrf_token: &token,
        view: &view,
        alert: None,
        kept: &Kept::default(),
    });
    let origin = target.return_origin(state.engine(), view.livemode).await;
    let mut response = form_response(StatusCode::OK, html, origin.as_deref());
    if let Some(set) = set.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert(SET_COOKIE, set);
    }
    response
}

/// `POST` of a card form.
async fn card_post(
    state: &AppState,
    target: Option<Target>,
    client: ClientAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(target) = target else {
        return not_found();
    };
    let form = match Form::read(state, &target, headers, body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let kept = Kept::new(form.get("expiry"), form.get("name"));
    let name = form.get("name").trim();
    let card = CardEntry {
        number: form.get("number").to_owned(),
        expiry: form.get("expiry").to_owned(),
        cvc: form.get("cvc").to_owned(),
        name: (!name.is_empty()).then(|| name.to_owned()),
    };
    // The typed card lives on only in `card`, which the engine consumes.
    let Form { fields, cookie } = form;
    drop(fields);
    if over_limit(state, client) {
        drop(card);
        return refuse_over_limit(state, &target).await;
    }
    let step = state
        .engine()
        .submit_hosted_card(&target.link(), card)
        .await;
    count_failure(state, client, step.failed_attempt);
    match step.outcome {
        Ok(outcome) => answer_outcome(state, &target, &cookie, kept, outcome, StatusCode::OK).await,
        // A card refused as an error rather than as a `Retry`: the form again, with 402.
        Err(Error::Card { message, .. }) => {
            let retry = HostedOutcome::Retry { message };
            answer_outcome(
                state,
                &target,
                &cookie,
                kept,
                retry,
                StatusCode::PAYMENT_REQUIRED,
            )
            .await
        }
        // The buyer went back to the card form while a challenge waits: send them to it.
        Err(Error::Gone { message }) => match target.view(state.engine()).await {
            Ok(view) if view.stage == HostedStage::Authenticate => {
                see_other(&target.url(state, HostedStage::Authenticate))
            }
            _ => gone(&message),
        },
        Err(e) => error_page(&e, &target),
    }
}

/// The HTTP answer to what the engine decided.
async fn answer_outcome(
    state: &AppState,
    target: &Target,
    cookie: &str,
    kept: Kept,
    outcome: HostedOutcome,
    retry_status: StatusCode,
) -> Response {
    match outcome {
        HostedOutcome::Redirect { url } | HostedOutcome::Challenge { url } => see_other(&url),
        HostedOutcome::Done { message } => {
            html_response(StatusCode::OK, render::done_page(&message))
        }
        HostedOutcome::Retry { message } => {
            let view = match target.view(state.engine()).await {
                Ok(view) => view,
                Err(e) => return error_page(&e, target),
            };
            let token = csrf::token(&state.config().csrf_key, cookie, target.id());
            let html = render::stage_page(&FormPage {
                subject: target.subject(),
                id: target.id(),
                csrf_token: &token,
                view: &view,
                alert: Some(&message),
                kept: &kept,
            });
            let origin = target.return_origin(state.engine(), view.livemode).await;
            form_response(retry_status, html, origin.as_deref())
        }
    }
}

/// A posted form that passed the checks: its fields, and the CSRF cookie it was bound to.
struct Form {
    fields: Vec<(String, String)>,
    cookie: String,
}

impl Form {
    /// Reads and checks a posted form: size (`413`), type (`415`), encoding (`400`) and CSRF
    /// (`403`). Nothing has been done when it refuses.
    fn read(
        state: &AppState,
        target: &Target,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Self, Box<Response>> {
        let bytes = body.map_err(|rejection| {
            Box::new(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
            } else {
                plain(StatusCode::BAD_REQUEST, "The form could not be read.")
            })
        })?;
        let form_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(Box::new(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the form as application/x-www-form-urlencoded.",
            )));
        }
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            Box::new(plain(
                StatusCode::BAD_REQUEST,
                "The form could not be read.",
            ))
        })?;
        let token = fields
            .iter()
            .find(|(k, _)| k == csrf::FIELD)
            .map_or("", |(_, v)| v.as_str());
        let cookies = csrf::cookies(headers);
        if !csrf::verify(&state.config().csrf_key, &cookies, target.id(), token) {
            return Err(Box::new(problem(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "This form has expired or was not sent from this page. Reload the page and try again.",
                Some(target.id()),
            )));
        }
        let cookie = cookies
            .into_iter()
            .find(|c| {
                csrf::verify(
                    &state.config().csrf_key,
                    std::slice::from_ref(c),
                    target.id(),
                    token,
                )
            })
            .unwrap_or_default();
        Ok(Self { fields, cookie })
    }

    /// The first value of `name`, or `""`.
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    (status, [(CONTENT_TYPE, HTML)], html).into_response()
}

/// A page with a form, its `form-action` open to the `returnUrl`'s origin.
fn form_response(status: StatusCode, html: String, return_origin: Option<&str>) -> Response {
    let mut response = html_response(status, html);
    if let Ok(csp) = HeaderValue::from_str(&policy_for(return_origin)) {
        response.headers_mut().insert(CSP, csp);
    }
    response
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, [(CONTENT_TYPE, TEXT)], format!("{message}\n")).into_response()
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(LOCATION, location);
            response
        }
        Err(_) => {
            tracing::error!("hosted page: the engine answered a redirect that is no header value");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
        }
    }
}

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "No such page.")
}

fn gone(message: &str) -> Response {
    plain(StatusCode::GONE, message)
}

/// A refusal as a short page; `again` is the id of the page to reload, if any.
fn problem(status: StatusCode, title: &str, message: &str, again: Option<&str>) -> Response {
    html_response(status, render::problem_page(title, message, again))
}

/// An engine error as a page. Only the error's code is logged, never its message or input.
fn error_page(error: &Error, target: &Target) -> Response {
    match error {
        Error::NotFound { .. } => not_found(),
        Error::Gone { message } => gone(message),
        Error::InvalidRequest { .. } => problem(
            StatusCode::BAD_REQUEST,
            "Request refused",
            "This request could not be processed.",
            Some(target.id()),
        ),
        _ => {
            tracing::warn!(code = error.code(), "hosted page failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Please try again in a moment.",
                Some(target.id()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_return_url_is_a_csp_source() {
        assert_eq!(
            origin_of("https://Shop.Example/thanks?x=1#y").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080?a").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("https://user:pw@shop.example:8443/").as_deref(),
            Some("https://shop.example:8443")
        );
        assert_eq!(
            origin_of("https://[::1]:9/").as_deref(),
            Some("https://[::1]:9")
        );
        assert_eq!(origin_of("javascript://x"), None);
        assert_eq!(origin_of("https://shop.example;script-src *"), None);
        assert_eq!(origin_of("https:///path"), None);
    }

    #[test]
    fn only_form_action_widens() {
        assert_eq!(policy_for(None), CONTENT_SECURITY_POLICY);
        assert_eq!(
            policy_for(Some("https://shop.example")),
            "default-src 'none'; style-src 'self'; form-action 'self' https://shop.example; \
             frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
