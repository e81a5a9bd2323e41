//! The files part of the HTTP API (JSON). Errors are `{"error": "<what is
//! wrong and what to do>"}` with a fitting status, like the rest of the API.
//!
//! | method and path | what |
//! |---|---|
//! | `POST /files/add` `{"path": "/abs/path"}` | add a file or directory on this machine; answers its id |
//! | `GET /files` | files held, complete and partial |
//! | `POST /files/get` `{"id", "max_price", "out"?, "raw"?, "providers"?}` | start a download (202); answers its progress |
//! | `GET /files/get/{id}` | a download's progress |
//!
//! The routes find the node's [`Files`] in an `axum::Extension`: the node
//! adds it with `router.layer(axum::Extension(files))`. Without it they
//! answer 503 with how to enable file sharing.

use std::path::PathBuf;

use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use por_core::NodeKey;
use serde::Deserialize;
use serde_json::json;

use super::{ContentId, FetchOptions, Files, FilesError, Progress};

/// The routes, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/files", get(list))
        .route("/files/add", post(add))
        .route("/files/get", post(start_get))
        .route("/files/get/{id}", get(progress))
}

/// The routes with `files` attached (a complete router).
pub fn router(files: Files) -> Router {
    routes().layer(Extension(files))
}

struct Error(StatusCode, String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn files(f: Option<Extension<Files>>) -> Result<Files, Error> {
    f.map(|Extension(f)| f).ok_or_else(|| {
        Error(
            StatusCode::SERVICE_UNAVAILABLE,
            "file sharing is not running on this node (it starts with `por node run`)".into(),
        )
    })
}

fn parse<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(raw).map_err(|e| Error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

fn absolute(p: &str, what: &str) -> Result<PathBuf, Error> {
    let path = PathBuf::from(p);
    if !path.is_absolute() {
        return Err(Error(
            StatusCode::BAD_REQUEST,
            format!("`{what}` must be an absolute path on the node's machine, got {p:?}"),
        ));
    }
    Ok(path)
}

/// `POST /files/add` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    path: String,
}

async fn add(f: Option<Extension<Files>>, raw: axum::body::Bytes) -> Result<Response, Error> {
    let files = files(f)?;
    let body: AddBody = parse(&raw)?;
    let path = absolute(&body.path, "path")?;
    match files.add(&path).await {
        Ok(a) => Ok(Json(json!({ "id": a.id, "size": a.size, "files": a.files, "dir": a.dir })).into_response()),
        Err(FilesError::Stopped) => Err(Error(StatusCode::SERVICE_UNAVAILABLE, "the node has stopped".into())),
        Err(e @ (FilesError::BadPath(_) | FilesError::Manifest(_))) => {
            Err(Error(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(e) => Err(Error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn list(f: Option<Extension<Files>>) -> Result<Response, Error> {
    let files = files(f)?;
    let list = tokio::task::spawn_blocking(move || files.list())
        .await
        .map_err(|e| Error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "files": list })).into_response())
}

/// `POST /files/get` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetBody {
    id: String,
    /// yocto, as a decimal string (amounts exceed JSON's safe integers).
    max_price: String,
    #[serde(default)]
    out: Option<String>,
    #[serde(default)]
    raw: bool,
    /// Peer ids of providers to try besides the DHT's.
    #[serde(default)]
    providers: Vec<String>,
}

fn progress_json(id: &ContentId, p: &Progress) -> serde_json::Value {
    json!({ "id": id, "progress": p })
}

async fn start_get(f: Option<Extension<Files>>, raw: axum::body::Bytes) -> Result<Response, Error> {
    let files = files(f)?;
    let body: GetBody = parse(&raw)?;
    let id: ContentId = body.id.parse().map_err(|e: super::id::BadId| Error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let max_price: u128 = body.max_price.trim().parse().map_err(|_| {
        Error(
            StatusCode::BAD_REQUEST,
            format!("`max_price` must be yocto as a decimal string, got {:?}", body.max_price),
        )
    })?;
    let out = body.out.as_deref().map(|o| absolute(o, "out")).transpose()?;
    if let Some(o) = &out
        && o.exists()
    {
        return Err(Error(StatusCode::CONFLICT, format!("{} exists; choose another output path", o.display())));
    }
    let mut opts = FetchOptions::new(max_price);
    for p in &body.providers {
        let k = NodeKey::from_peer_id(p).map_err(|e| Error(StatusCode::BAD_REQUEST, e.to_string()))?;
        opts.providers.push(k);
    }
    let job = files.start_get(id, out, body.raw, opts);
    let p = job.progress.borrow().clone();
    Ok((StatusCode::ACCEPTED, Json(progress_json(&id, &p))).into_response())
}

async fn progress(f: Option<Extension<Files>>, UrlPath(id): UrlPath<String>) -> Result<Response, Error> {
    let files = files(f)?;
    let id: ContentId = id.parse().map_err(|e: super::id::BadId| Error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let job = files.job(&id).ok_or_else(|| {
        Error(
            StatusCode::NOT_FOUND,
            format!("no download of {id} since the node started; start one with POST /files/get"),
        )
    })?;
    let p = job.progress.borrow().clone();
    Ok(Json(progress_json(&id, &p)).into_response())
}
