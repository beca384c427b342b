//! Methods a path does not serve: `HEAD` is answered wherever `GET` is (the same answer without
//! its body), and a known path asked with a method it does not serve gets 405 with `Allow`
//! (RFC 9110 §15.5.6) instead of 404. Which methods a path serves is read from the OpenAPI
//! document, the same list clients are built from.

use std::sync::OnceLock;

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{header, Method},
    middleware::Next,
    Error, HttpRequest, HttpResponse,
};
use utoipa::OpenApi;

use crate::{
    error::{ApiError, ErrorCode},
    openapi::ApiDoc,
};

/// Each documented path template, split into segments (`None` for a `{parameter}`), with the
/// methods the document gives it.
type Operations = Vec<(Vec<Option<String>>, Vec<&'static str>)>;

fn operations() -> &'static Operations {
    static OPERATIONS: OnceLock<Operations> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, served)| served.then_some(name))
                .collect();
                (segments, methods)
            })
            .collect()
    })
}

/// The methods the document gives `path`, or `None` for a path it does not know.
pub fn allowed(path: &str) -> Option<Vec<&'static str>> {
    let asked: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<&'static str> = Vec::new();
    let mut known = false;
    for (segments, served) in operations() {
        let fits = segments.len() == asked.len()
            && segments
                .iter()
                .zip(&asked)
                .all(|(s, a)| s.as_deref().map_or(!a.is_empty(), |s| s == *a));
        if fits {
            known = true;
            methods.extend(served.iter().copied());
        }
    }
    methods.sort_unstable();
    methods.dedup();
    known.then_some(methods)
}

/// Answers `HEAD` as `GET` and drops the body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let response = next.call(req).await?;
    Ok(if head {
        response.map_body(|_, _| BoxBody::new(actix_web::body::None::new()))
    } else {
        response.map_into_boxed_body()
    })
}

/// What no route answered: 405 with `Allow` on a known path, else 404.
pub async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match allowed(req.path()) {
        Some(methods) if !methods.contains(&req.method().as_str()) => {
            let allow = methods.join(", ");
            let error = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not served here; allowed: {allow}", req.method()),
            );
            let mut response = actix_web::ResponseError::error_response(&error);
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            Ok(response)
        }
        _ => Err(ApiError::new(ErrorCode::NotFound, "no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_document() {
        assert_eq!(
            allowed("/api/v1/archives"),
            Some(vec!["GET", "HEAD", "POST"])
        );
        let loan = allowed("/api/v1/loans/0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20").unwrap();
        assert_eq!(loan, ["GET", "HEAD"]);
        assert_eq!(allowed("/api/v1/nothing-here"), None);
        assert_eq!(
            allowed("/api/v1/loans//sign"),
            None,
            "an empty parameter is no id"
        );
    }
}
