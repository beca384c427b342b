//! Request extractors whose every failure is a problem+json `ApiError`: JSON bodies (with the
//! exact field path of a type error, and validation), `If-Match`, and list paging.

use std::{future::Future, pin::Pin};

use actix_web::{
    dev::Payload,
    error::{QueryPayloadError, UrlencodedError},
    http::header,
    web, FromRequest, HttpRequest,
};
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};

/// A JSON body, parsed and checked against the schema the document publishes for it. Extraction itself never fails:
/// a handler calls `accept` after authorising the caller, so someone who may not call the
/// endpoint learns nothing from its validation errors (and gets 401/403, not 422).
#[derive(Debug)]
pub struct ValidJson<T>(Result<T, ApiError>);

impl<T> ValidJson<T> {
    pub fn accept(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + ToSchema + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload, false);
        Box::pin(async move { Ok(ValidJson(body.await)) })
    }
}

/// A `ValidJson` whose body may be left out: no body reads as `{}` (an action with only
/// optional fields, such as an approval with no comment).
#[derive(Debug)]
pub struct OptionalJson<T>(Result<T, ApiError>);

impl<T> OptionalJson<T> {
    pub fn accept(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + ToSchema + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json::<T>(req, payload, true);
        Box::pin(async move { Ok(OptionalJson(body.await)) })
    }
}

fn read_json<T: DeserializeOwned + ToSchema + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    optional: bool,
) -> impl Future<Output = Result<T, ApiError>> + 'static {
    {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let body = web::Bytes::from_request(req, payload);
        let unsupported = || {
            ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            )
        };
        async move {
            if !optional && !is_json {
                return Err(unsupported());
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        "the body is larger than this endpoint accepts",
                    )
                } else {
                    ApiError::bad_request(format!("could not read the body: {e}"))
                }
            })?;
            let bytes: &[u8] = match (optional && bytes.is_empty(), is_json) {
                (true, _) => b"{}",
                (false, true) => &bytes,
                (false, false) => return Err(unsupported()),
            };
            parse_checked::<T>(bytes)
        }
    }
}

/// Syntax errors are 400; a body that does not fit the schema the document publishes for `T` is
/// 422 with every missing or mistyped field at once, each under its path (`crate::shape`).
pub fn parse_checked<T: DeserializeOwned + ToSchema>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let errors = crate::shape::errors_of::<T>(&value);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    crate::shape::whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = strip_position(&error.into_inner().to_string());
        // What the schema cannot say (an unknown variant inside a tagged enum, say) still
        // names its field: a missing one by its own name rather than the whole body.
        let field = match (path.as_str(), missing_field(&message)) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "body".to_owned(),
            (path, Some(name)) => format!("{path}.{name}"),
            (path, None) => path.to_owned(),
        };
        ApiError::field(&field, message)
    })
}

/// The field serde's "missing field `x`" names.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 with the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::field(&field, strip_position(&inner.to_string()))
        } else {
            ApiError::bad_request(format!("malformed JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42", which means nothing beside a field path.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A form body that is no form (415) or does not read as the form asked for (400).
pub fn form_error(error: UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    match error {
        UrlencodedError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/x-www-form-urlencoded",
        ),
        UrlencodedError::Overflow { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the form is too large")
        }
        other => ApiError::bad_request(format!("invalid form: {other}")),
    }
    .into()
}

pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query: {error}")).into()
}

/// The version an `If-Match` header asks for; `None` when absent or `*`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i32>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let parsed = match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(value) => {
                let text = value.to_str().unwrap_or_default().trim();
                if text == "*" {
                    Ok(IfMatch(None))
                } else {
                    let tag = text.trim_start_matches("W/").trim_matches('"');
                    // An ETag we never issued cannot match the current one.
                    Ok(IfMatch(Some(tag.parse().unwrap_or(-1))))
                }
            }
        };
        std::future::ready(parsed)
    }
}

/// The strong ETag of a versioned resource.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}
