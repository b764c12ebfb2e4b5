//! The trading page: static files served at `/` (the page) and `/static/…` (its
//! scripts, styles and vendored libraries). They are embedded in the binary from
//! `web/static/` at build time, so the node serves the page offline with nothing
//! installed; `--web-dir` serves a folder from disk instead (to work on the page without
//! rebuilding, or to serve an operator's own page).
//!
//! The page is not part of the API: these routes are not in [`crate::rest::ROUTES`] nor
//! in the OpenAPI document, and the page uses only the public REST and websocket API.

use std::borrow::Cow;
use std::path::PathBuf;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ApiError;
use crate::wire::ApiCode;

#[derive(rust_embed::Embed)]
#[folder = "../web/static/"]
struct Embedded;

/// Where the page's files come from.
#[derive(Clone, Debug, Default)]
pub enum WebSource {
    /// The files built into the binary.
    #[default]
    Embedded,
    /// A folder on disk, read on every request.
    Dir(PathBuf),
}

/// Longest file name the page asks for; anything longer is not ours.
const PATH_BYTES_MAX: usize = 256;

/// `GET /` and `GET /static/{*path}`.
pub fn router(source: WebSource) -> Router {
    let index_source = source.clone();
    Router::new()
        .route(
            "/",
            get(move || {
                let source = index_source.clone();
                async move { file(&source, "index.html").await }
            }),
        )
        .route(
            "/static/{*path}",
            get(move |Path(path): Path<String>| {
                let source = source.clone();
                async move { file(&source, &path).await }
            }),
        )
}

async fn file(source: &WebSource, path: &str) -> Response {
    // Only plain relative names: no `..`, no absolute paths, no backslashes.
    let plain = path.len() <= PATH_BYTES_MAX
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !plain {
        return not_found();
    }
    let bytes: Option<Cow<'static, [u8]>> = match source {
        WebSource::Embedded => Embedded::get(path).map(|f| f.data),
        WebSource::Dir(dir) => tokio::fs::read(dir.join(path)).await.ok().map(Cow::Owned),
    };
    let Some(bytes) = bytes else {
        return not_found();
    };
    let mime = content_type(path);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            // The page is small and changes with the binary: always revalidate.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes.into_owned(),
    )
        .into_response()
}

fn not_found() -> Response {
    ApiError::new(ApiCode::NotFound, "no such page file").into_response()
}

/// The page's few kinds of file.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_page_is_served_and_paths_stay_inside() {
        let index = file(&WebSource::Embedded, "index.html").await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        for bad in [
            "../Cargo.toml",
            "a/../../x",
            "/etc/passwd",
            "",
            "a//b",
            "nope.js",
        ] {
            let response = file(&WebSource::Embedded, bad).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
        }
        let dir = std::env::temp_dir();
        let outside = file(&WebSource::Dir(dir.join("sub")), "../passwd").await;
        assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    }
}
