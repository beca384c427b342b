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

/// A documented path template: its text, its segments (`None` for a `{parameter}`) and the
/// methods the document gives it.
struct Template {
    text: String,
    segments: Vec<Option<String>>,
    methods: Vec<&'static str>,
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| Template {
                text: path.clone(),
                segments: path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                methods: [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, served)| served.then_some(name))
                .collect(),
            })
            .collect()
    })
}

/// The templates `path` fits, the most literal first: `/policies/resolve` is the path of that
/// name before it is a policy `{id}`, as actix routes it.
fn fitting(path: &str) -> Vec<&'static Template> {
    let asked: Vec<&str> = path.split('/').collect();
    let mut fits: Vec<&Template> = templates()
        .iter()
        .filter(|t| {
            t.segments.len() == asked.len()
                && t.segments
                    .iter()
                    .zip(&asked)
                    .all(|(s, a)| s.as_deref().map_or(!a.is_empty(), |s| s == *a))
        })
        .collect();
    fits.sort_by_key(|t| t.segments.iter().filter(|s| s.is_none()).count());
    fits
}

/// The methods the document gives `path` (its most literal template), or `None` for a path
/// it does not know.
pub fn allowed(path: &str) -> Option<Vec<&'static str>> {
    let mut methods = fitting(path).first()?.methods.clone();
    methods.sort_unstable();
    Some(methods)
}

/// The documented template of the operation that serves `method path`.
pub fn template(method: &str, path: &str) -> Option<&'static str> {
    let method = if method == "HEAD" { "GET" } else { method };
    fitting(path)
        .into_iter()
        .find(|t| t.methods.contains(&method))
        .map(|t| t.text.as_str())
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

/// 405 with `Allow` when `req`'s path is documented but not for its method.
pub fn not_allowed(req: &HttpRequest) -> Option<HttpResponse> {
    let methods = allowed(req.path())?;
    if methods.contains(&req.method().as_str()) {
        return None;
    }
    let allow = methods.join(", ");
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not served here; allowed: {allow}", req.method()),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Some(response)
}

/// What no route answered: 405 with `Allow` on a known path, else 404.
pub async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    not_allowed(&req).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such endpoint"))
}

/// A path that does not parse (e.g. an id that is no UUID) names nothing that exists, unless
/// it is another documented path asked with a method it does not serve (`PUT
/// /policies/resolve` reaches `PUT /policies/{id}`): that is 405.
pub fn path_error(_error: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    match not_allowed(req) {
        Some(response) => actix_web::error::InternalError::from_response("", response).into(),
        None => ApiError::not_found().into(),
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
        assert_eq!(
            allowed("/api/v1/policies/resolve"),
            Some(vec!["GET", "HEAD"]),
            "a literal segment is the path of that name, not an {{id}}"
        );
        assert_eq!(
            template(
                "PUT",
                "/api/v1/policies/0193a1c2-7b7e-7c4e-9a51-3f1f0a9d2c20"
            ),
            Some("/api/v1/policies/{id}")
        );
        assert_eq!(allowed("/api/v1/nothing-here"), None);
        assert_eq!(
            allowed("/api/v1/loans//sign"),
            None,
            "an empty parameter is no id"
        );
    }
}
