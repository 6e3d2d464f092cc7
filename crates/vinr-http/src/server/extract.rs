//! Extractors that answer with the contract's codes (api.md §1), and the JSON reply.
//!
//! - [`Ctx`]: the API key (401 first), the `Idempotency-Key` and the replay probe, as a
//!   [`RequestContext`].
//! - [`Body`]: a JSON body of at most [`BODY_LIMIT`] bytes (`413 body_too_large`), that parses
//!   (`400 body_invalid`), with only known fields (`400 unknown_parameter`), every required one
//!   (`400 parameter_missing`), each of the right type (`400 parameter_invalid`), and ids that
//!   are ids (`404 resource_missing`); `param` names the field (`address.country`).
//!   An empty body is `{}`.
//! - [`Query`]: the same for the query string.
//! - [`PathId`], [`PathIds`]: a path segment that is not an id of the right kind names nothing: 404.
//!
//! The `content-type` of a body is not checked: a body is read as JSON whatever it says
//! (`curl -d` sends `application/x-www-form-urlencoded`), and what is not JSON is `body_invalid`.
//! Error messages are built here from the field's name and what was expected, never from the
//! value sent, so nothing a client typed (a card number in the wrong field) is echoed.

use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vinr_domain::customer::Address;
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::ids::{
    CustomerId, EventId, IdError, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_ports::{Error, ReplayProbe, RequestContext};

use super::error::{ApiError, json_response};
use super::{AppState, BODY_LIMIT, auth, idempotency};

/// Who is asking: the authenticated context of an API call.
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate limiter, when on, already authenticated the key (extensions are set by the
        // server only, never by a client).
        let key = match parts.extensions.get::<vinr_ports::keys::ApiKeyRecord>() {
            Some(key) => key.clone(),
            None => auth::authenticate(&parts.headers, state.keys().as_ref()).await?,
        };
        let idempotency_key = idempotency::key(&parts.method, &parts.headers)?;
        let probe = parts
            .extensions
            .get::<ReplayProbe>()
            .cloned()
            .unwrap_or_default();
        Ok(Ctx(RequestContext {
            mode: key.mode,
            scope: key.id,
            idempotency_key,
            replay: Some(probe),
        }))
    }
}

/// A JSON request body, parsed strictly.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

/// The body of a `POST` that takes no parameters: empty or `{}`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|e| {
                let over = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if over {
                    too_large()
                } else {
                    body_invalid("The request body could not be read.")
                }
            })?;
        parse_body(&bytes).map(Body)
    }
}

/// Parses a JSON body into `T` with the contract's errors.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|_| body_invalid("The request body is not valid JSON."))?
    };
    if !value.is_object() {
        return Err(body_invalid("The request body must be a JSON object."));
    }
    reject_unknown_nested(&value)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        param_error(&path, &message_of(e.inner()))
    })
}

/// Objects nested in request bodies whose types do not refuse unknown fields themselves
/// (`vinr_domain::customer::Address` has no `deny_unknown_fields`): their known fields are
/// read off a serialized default, so this list cannot drift from the type.
fn reject_unknown_nested(body: &serde_json::Value) -> Result<(), ApiError> {
    let Some(serde_json::Value::Object(address)) = body.get("address") else {
        return Ok(());
    };
    let known = serde_json::to_value(Address::default()).unwrap_or_default();
    for key in address.keys() {
        if known.get(key).is_none() {
            return Err(param_error(
                &format!("address.{key}"),
                &format!("unknown field `{key}`"),
            ));
        }
    }
    Ok(())
}

/// A query string, parsed strictly (`unknown_parameter`, `parameter_invalid`, …).
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(Query)
    }
}

/// Parses a query string into `T` with the contract's errors.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        param_error(&path, &e.inner().to_string())
    })
}

/// The message of a data error, without serde_json's " at line 1 column 9".
fn message_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_owned(),
        _ => text,
    }
}

/// The text between the first pair of backticks.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Whether serde's message is the refusal of an id (wrong prefix or malformed body).
fn is_id_error(message: &str) -> bool {
    let prefixes = [
        CustomerId::PREFIX,
        PaymentMethodId::PREFIX,
        PaymentId::PREFIX,
        SetupId::PREFIX,
        EventId::PREFIX,
        WebhookEndpointId::PREFIX,
    ];
    message == IdError::MalformedBody.to_string()
        || prefixes
            .into_iter()
            .any(|expected| message == IdError::WrongPrefix { expected }.to_string())
}

/// A parameter name as it may be repeated in an answer: a card number sent as a field name
/// is hidden.
fn safe_param(param: &str) -> String {
    super::observe::redact_digit_runs(param)
}

/// The path of `field` given serde_path_to_error's path at the error: that path already ends
/// with an unknown field's name, and is the parent (`.` at the root) of a missing one.
fn child(path: &str, field: &str) -> String {
    if path == field || path.ends_with(&format!(".{field}")) {
        path.to_owned()
    } else if path == "." || path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Turns serde's complaint about `path` into the contract's error.
fn param_error(path: &str, message: &str) -> ApiError {
    let invalid = |code, param: String, text: String| {
        ApiError(Error::InvalidRequest {
            code,
            param: Some(param),
            message: text,
        })
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let param = safe_param(&child(path, quoted(rest).unwrap_or_default()));
        return invalid(
            InvalidRequestCode::UnknownParameter,
            param.clone(),
            format!("Received unknown parameter: {param}"),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let param = safe_param(&child(path, quoted(rest).unwrap_or_default()));
        return invalid(
            InvalidRequestCode::ParameterMissing,
            param.clone(),
            format!("Missing required param: {param}"),
        );
    }
    let param = safe_param(path);
    if path == "." || path.is_empty() {
        return body_invalid("The request body must be a JSON object.");
    }
    if is_id_error(message) {
        return ApiError(Error::NotFound {
            message: format!("No such object: the {param} given is not a valid id"),
            param: Some(param),
        });
    }
    // "invalid type: string \"…\", expected u32": keep only what was expected.
    let text = match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("Invalid {param}: expected {expected}"),
        None => format!("Invalid {param}"),
    };
    invalid(InvalidRequestCode::ParameterInvalid, param, text)
}

fn too_large() -> ApiError {
    ApiError(Error::InvalidRequest {
        code: InvalidRequestCode::BodyTooLarge,
        param: None,
        message: format!("The request body is larger than {} KiB.", BODY_LIMIT / 1024),
    })
}

fn body_invalid(message: &str) -> ApiError {
    ApiError(Error::InvalidRequest {
        code: InvalidRequestCode::BodyInvalid,
        param: None,
        message: message.to_owned(),
    })
}

/// An id type and the name of what it identifies, for the 404 of an id that names nothing.
pub trait IdKind: FromStr<Err = IdError> + Send {
    /// "customer", "payment method", …
    const KIND: &'static str;
}

macro_rules! id_kind {
    ($($id:ty => $kind:literal),+ $(,)?) => {
        $(impl IdKind for $id {
            const KIND: &'static str = $kind;
        })+
    };
}

id_kind!(
    CustomerId => "customer",
    PaymentMethodId => "payment method",
    PaymentId => "payment",
    SetupId => "setup",
    EventId => "event",
    WebhookEndpointId => "webhook endpoint",
);

/// An id from the path; one that is not an id of this kind names nothing (404, without
/// repeating what was sent).
pub(crate) fn path_id<I: IdKind>(raw: &str) -> Result<I, ApiError> {
    raw.parse().map_err(|_| {
        ApiError(Error::NotFound {
            param: None,
            message: format!("No such {}", I::KIND),
        })
    })
}

/// The path's parameters as text (percent-decoded); a path that cannot be read names
/// nothing.
async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Vec<String>, ApiError> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| {
            ApiError(Error::NotFound {
                param: None,
                message: "No such object".to_owned(),
            })
        })?;
    Ok(raw.iter().map(|(_, value)| value.to_owned()).collect())
}

/// The one id of a path like `/v1/customers/{id}`.
#[derive(Debug, Clone)]
pub struct PathId<A>(pub A);

impl<S: Send + Sync, A: IdKind> FromRequestParts<S> for PathId<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let a = params.first().map(String::as_str).unwrap_or_default();
        Ok(PathId(path_id(a)?))
    }
}

/// The two ids of a path like `/v1/customers/{id}/methods/{pm}`.
#[derive(Debug, Clone)]
pub struct PathIds<A, B>(pub A, pub B);

impl<S: Send + Sync, A: IdKind, B: IdKind> FromRequestParts<S> for PathIds<A, B> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let at = |i: usize| params.get(i).map(String::as_str).unwrap_or_default();
        Ok(PathIds(path_id(at(0))?, path_id(at(1))?))
    }
}

/// A successful answer: 200 with the object as JSON.
#[derive(Debug, Clone)]
pub struct Reply<T>(pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => json_response(StatusCode::OK, bytes),
            Err(_) => {
                ApiError(Error::internal("a response could not be serialized")).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_ports::params::{
        CreateCustomer, CreatePayment, ExpiringScan, ListCustomers, ListPayments, UpdateCustomer,
    };

    fn err<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> Answer {
        let e = parse_body::<T>(body.as_bytes()).unwrap_err();
        let status = super::super::error::status_of(&e.0).as_u16();
        let b = e.0.to_body();
        (status, b.error.code, b.error.param)
    }

    fn qerr<T: DeserializeOwned + std::fmt::Debug>(query: &str) -> Answer {
        let e = parse_query::<T>(query).unwrap_err();
        let status = super::super::error::status_of(&e.0).as_u16();
        let b = e.0.to_body();
        (status, b.error.code, b.error.param)
    }

    /// Status, code and param of an answer.
    type Answer = (u16, String, Option<String>);

    fn p(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn bodies_are_parsed_strictly_with_the_field_named() {
        assert_eq!(
            parse_body::<CreateCustomer>(b"").unwrap(),
            CreateCustomer::default()
        );
        assert_eq!(
            parse_body::<CreateCustomer>(b" \n").unwrap(),
            CreateCustomer::default()
        );
        let cases: Vec<(Answer, Answer)> = vec![
            (
                err::<CreateCustomer>("{"),
                (400, "body_invalid".to_owned(), None),
            ),
            (
                err::<CreateCustomer>("{} x"),
                (400, "body_invalid".to_owned(), None),
            ),
            (
                err::<CreateCustomer>("[]"),
                (400, "body_invalid".to_owned(), None),
            ),
            (
                err::<CreateCustomer>("null"),
                (400, "body_invalid".to_owned(), None),
            ),
            (
                err::<CreateCustomer>(r#"{"emial":"a@b.c"}"#),
                (400, "unknown_parameter".to_owned(), p("emial")),
            ),
            (
                err::<CreateCustomer>(r#"{"address":{"country":"FR","planet":"earth"}}"#),
                (400, "unknown_parameter".to_owned(), p("address.planet")),
            ),
            (
                err::<CreateCustomer>(r#"{"address":{"country":7}}"#),
                (400, "parameter_invalid".to_owned(), p("address.country")),
            ),
            (
                err::<CreateCustomer>(r#"{"metadata":{"k":1}}"#),
                (400, "parameter_invalid".to_owned(), p("metadata.k")),
            ),
            (
                err::<CreateCustomer>(r#"{"email":5}"#),
                (400, "parameter_invalid".to_owned(), p("email")),
            ),
            (
                err::<CreatePayment>(r#"{"currency":"eur"}"#),
                (400, "parameter_missing".to_owned(), p("amount")),
            ),
            (
                err::<CreatePayment>(r#"{"amount":"12","currency":"eur"}"#),
                (400, "parameter_invalid".to_owned(), p("amount")),
            ),
            (
                err::<CreatePayment>(r#"{"amount":1.5,"currency":"eur"}"#),
                (400, "parameter_invalid".to_owned(), p("amount")),
            ),
            (
                err::<CreatePayment>(r#"{"amount":100,"currency":"eur","customerId":"cust_nope"}"#),
                (404, "resource_missing".to_owned(), p("customerId")),
            ),
            (
                err::<CreatePayment>(
                    r#"{"amount":100,"currency":"eur","paymentMethodId":"cust_000000000000000000000000"}"#,
                ),
                (404, "resource_missing".to_owned(), p("paymentMethodId")),
            ),
            (
                err::<UpdateCustomer>(r#"{"defaultMethodId":"pm_x"}"#),
                (404, "resource_missing".to_owned(), p("defaultMethodId")),
            ),
            (
                err::<ExpiringScan>(r#"{"asOf":"2026-13-01"}"#),
                (400, "parameter_invalid".to_owned(), p("asOf")),
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
        }
        assert_eq!(
            parse_body::<UpdateCustomer>(br#"{"defaultMethodId":null}"#)
                .unwrap()
                .default_method_id,
            Some(None)
        );
    }

    #[test]
    fn queries_are_parsed_strictly() {
        let ok: ListCustomers = parse_query("email=a%40b.c&limit=3").unwrap();
        assert_eq!((ok.email.as_deref(), ok.limit), (Some("a@b.c"), Some(3)));
        assert_eq!(
            qerr::<ListCustomers>("limit=abc"),
            (400, "parameter_invalid".into(), p("limit"))
        );
        assert_eq!(
            qerr::<ListCustomers>("colour=red"),
            (400, "unknown_parameter".into(), p("colour"))
        );
        assert_eq!(
            qerr::<ListCustomers>("startingAfter=cust_1"),
            (404, "resource_missing".into(), p("startingAfter"))
        );
        assert_eq!(
            qerr::<ListPayments>("status=paid"),
            (400, "parameter_invalid".into(), p("status"))
        );
        assert_eq!(
            qerr::<ListPayments>("customerId=pay_000000000000000000000000"),
            (404, "resource_missing".into(), p("customerId"))
        );
    }

    #[test]
    fn messages_never_repeat_the_value_sent() {
        let number = "4242424242424242";
        for body in [
            format!(r#"{{"email":{number}}}"#),
            format!(r#"{{"{number}":1}}"#),
            format!(r#"{{"metadata":{{"{number}":1}}}}"#),
            format!(r#"{{"address":{{"line1":{number}}}}}"#),
        ] {
            let e = parse_body::<CreateCustomer>(body.as_bytes()).unwrap_err();
            let text = serde_json::to_string(&e.0.to_body()).unwrap();
            assert!(!text.contains(number), "{text}");
            assert!(!text.contains("4242 4242"), "{text}");
        }
        let e = parse_query::<ListCustomers>(&format!("limit={number}0000")).unwrap_err();
        assert!(
            !serde_json::to_string(&e.0.to_body())
                .unwrap()
                .contains(number)
        );
    }

    #[test]
    fn path_ids_of_the_wrong_kind_name_nothing() {
        let e = path_id::<CustomerId>("pm_000000000000000000000000").unwrap_err();
        assert_eq!(e.0.code(), "resource_missing");
        assert_eq!(e.0.to_string(), "No such customer");
        assert!(path_id::<CustomerId>("cust_000000000000000000000000").is_ok());
    }
}
