//! Headers every answer carries: `X-Content-Type-Options: nosniff` on all of them, so a browser
//! never reads JSON or CSV as a page; and on HTML (the docs, the printable voucher) a
//! `Content-Security-Policy` that allows only this origin's own scripts and no framing.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    Error,
};

/// Scripts and styles sheets from this origin only (the docs are Swagger UI's own files; the
/// voucher has none); inline styles because Swagger UI sets style attributes; QR codes inline.
pub const HTML_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn secure(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_POLICY),
        );
    }
    Ok(response)
}
