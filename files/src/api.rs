//! The files part of the HTTP API (JSON). Errors are `{"error": "<what is
//! wrong and what to do>", "code": "<stable code>"}` with a fitting status,
//! like the rest of the API, and the guard's ([`por_node::api::guard`],
//! which [`router`] is behind):
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `bad_request` | malformed JSON, unknown field, relative `path`, bad id or price, a path that does not exist |
//! | 403 | `path_not_allowed` | `path` outside the share folders, or inside (or containing) the data directory; `out` outside the download folder; no such folder configured |
//! | 404 | `not_found` | no download of that id since the node started |
//! | 409 | `exists` | `out` exists (nothing is overwritten) |
//! | 503 | `no_files`, `stopped` | file sharing is not running |
//! | 507 | `quota_exceeded`, `disk_full` | the store's quota, or the disk's free-space floor, would be passed |
//! | 500 | `failed` | anything else |
//!
//! A download that fails in the background says so in its progress:
//! `"state": "failed"`, `"error"` and a stable `"code"` (the same codes,
//! and the fetch's: see [`crate::FetchError::code`]).
//!
//! | method and path | what |
//! |---|---|
//! | `POST /files/add` `{"path": "/abs/path"}` | add a file or directory under a share folder; answers its id |
//! | `GET /files` | files held, complete and partial, and the store's use of its quota |
//! | `POST /files/get` `{"id", "max_price", "out"?, "raw"?, "providers"?}` | start a download (202); `out` is relative to the download folder or absolute inside it; answers its progress and where it will be written |
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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Added, ContentId, FetchOptions, Files, FilesError, Progress, StoredFile};

/// The files routes, for the API's OpenAPI document
/// (`por_node::api::openapi::document`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(add, list, start_get, progress), tags((name = "files", description = "file sharing over PoR")))]
pub struct FilesRoutesDoc;

/// An error of these routes (as every API error).
#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    /// What is wrong and what to do.
    pub error: String,
    /// The stable code.
    pub code: String,
}

/// The store's use of its disk.
#[derive(Serialize, ToSchema)]
pub struct SpaceView {
    /// Bytes the store holds.
    pub used_bytes: u64,
    /// Its quota, bytes.
    pub quota_bytes: u64,
    /// Free space it leaves on its disk, bytes.
    pub min_free_bytes: u64,
}

/// `GET /files`.
#[derive(Serialize, ToSchema)]
pub struct FilesList {
    /// Files held, complete and partial.
    pub files: Vec<StoredFile>,
    /// The store's use of its quota.
    pub space: SpaceView,
}

/// A download's progress.
#[derive(Serialize, ToSchema)]
pub struct ProgressView {
    /// The content id.
    pub id: String,
    /// How far it is.
    pub progress: Progress,
    /// Where it will be written (`POST /files/get` only; none: it stays in the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
}

/// The routes, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/files", get(list))
        .route("/files/add", post(add))
        .route("/files/get", post(start_get))
        .route("/files/get/{id}", get(progress))
}

/// The routes with `files` attached (a complete router), behind the API's
/// guard with its defaults (see [`por_node::api::guard`]).
pub fn router(files: Files) -> Router {
    por_node::api::guard(routes().layer(Extension(files)), por_node::api::GuardConfig::default())
}

/// An error: its status, stable code and reason.
struct Error(StatusCode, &'static str, String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorView { error: self.2, code: self.1.into() })).into_response()
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error(StatusCode::BAD_REQUEST, "bad_request", msg.into())
}

fn failed(msg: impl ToString) -> Error {
    Error(StatusCode::INTERNAL_SERVER_ERROR, "failed", msg.to_string())
}

/// A refusal of the files subsystem: its code, and the status that goes with it.
fn refused(e: FilesError) -> Error {
    let code = e.code();
    let status = match code {
        "bad_request" => StatusCode::BAD_REQUEST,
        "path_not_allowed" => StatusCode::FORBIDDEN,
        "exists" => StatusCode::CONFLICT,
        "quota_exceeded" | "disk_full" => StatusCode::INSUFFICIENT_STORAGE,
        "stopped" => StatusCode::SERVICE_UNAVAILABLE,
        _ => return failed(e),
    };
    Error(status, code, e.to_string())
}

fn files(f: Option<Extension<Files>>) -> Result<Files, Error> {
    f.map(|Extension(f)| f).ok_or_else(|| {
        Error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_files",
            "file sharing is not running on this node (it starts with `por node run`)".into(),
        )
    })
}

fn parse<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(raw).map_err(|e| bad(format!("malformed JSON: {e}")))
}

fn absolute(p: &str, what: &str) -> Result<PathBuf, Error> {
    let path = PathBuf::from(p);
    if !path.is_absolute() {
        return Err(bad(format!("`{what}` must be an absolute path on the node's machine, got {p:?}")));
    }
    Ok(path)
}

/// `POST /files/add` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    /// The file or directory, an absolute path on the node's machine inside a share folder.
    path: String,
}

/// Adds a file or a directory from a share folder; answers its content id.
#[utoipa::path(post, path = "/files/add", tag = "files", request_body = AddBody,
    responses((status = 200, body = Added), (status = 400, body = ErrorView), (status = 403, body = ErrorView),
        (status = 507, body = ErrorView)))]
async fn add(f: Option<Extension<Files>>, raw: axum::body::Bytes) -> Result<Response, Error> {
    let files = files(f)?;
    let body: AddBody = parse(&raw)?;
    let path = absolute(&body.path, "path")?;
    match files.add(&path).await {
        Ok(a) => Ok(Json(a).into_response()),
        Err(e) => Err(refused(e)),
    }
}

/// The files held and the store's use of its quota.
#[utoipa::path(get, path = "/files", tag = "files", responses((status = 200, body = FilesList), (status = 503, body = ErrorView)))]
async fn list(f: Option<Extension<Files>>) -> Result<Response, Error> {
    let files = files(f)?;
    let (list, used, limits) =
        tokio::task::spawn_blocking(move || (files.list(), files.store().used_bytes(), files.store().limits()))
            .await
            .map_err(failed)?;
    let space = SpaceView { used_bytes: used, quota_bytes: limits.quota_bytes, min_free_bytes: limits.min_free_bytes };
    Ok(Json(FilesList { files: list, space }).into_response())
}

/// `POST /files/get` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetBody {
    /// The content id (64 hex digits).
    id: String,
    /// yocto, as a decimal string (amounts exceed JSON's safe integers).
    max_price: String,
    /// Where to write it: relative to the download folder, or absolute inside it.
    #[serde(default)]
    out: Option<String>,
    /// Keep a directory manifest as a file instead of fetching the tree.
    #[serde(default)]
    raw: bool,
    /// Peer ids of providers to try besides the DHT's.
    #[serde(default)]
    providers: Vec<String>,
}

fn progress_view(id: &ContentId, p: &Progress) -> ProgressView {
    ProgressView { id: id.to_string(), progress: p.clone(), out: None }
}

/// Starts a download, paying providers over PoR; answers its progress.
#[utoipa::path(post, path = "/files/get", tag = "files", request_body = GetBody,
    responses((status = 202, body = ProgressView), (status = 400, body = ErrorView), (status = 403, body = ErrorView),
        (status = 409, body = ErrorView), (status = 507, body = ErrorView)))]
async fn start_get(f: Option<Extension<Files>>, raw: axum::body::Bytes) -> Result<Response, Error> {
    let files = files(f)?;
    let body: GetBody = parse(&raw)?;
    let id: ContentId = body.id.parse().map_err(|e: super::id::BadId| bad(e.to_string()))?;
    let max_price: u128 = body
        .max_price
        .trim()
        .parse()
        .map_err(|_| bad(format!("`max_price` must be yocto as a decimal string, got {:?}", body.max_price)))?;
    let out = body.out.as_deref().map(|o| files.resolve_out(std::path::Path::new(o))).transpose().map_err(refused)?;
    // A store with no room refuses now, before anything is paid.
    let store = files.store();
    if !store.has(&id) && store.partial_size(&id).is_none() {
        store.check_room().map_err(|e| refused(e.into()))?;
    }
    let mut opts = FetchOptions::new(max_price);
    for p in &body.providers {
        let k = NodeKey::from_peer_id(p).map_err(|e| bad(e.to_string()))?;
        opts.providers.push(k);
    }
    let job = files.start_get(id, out.clone(), body.raw, opts);
    let p = job.progress.borrow().clone();
    let mut answer = progress_view(&id, &p);
    answer.out = out.map(|o| o.display().to_string());
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// A download's progress.
#[utoipa::path(get, path = "/files/get/{id}", tag = "files", params(("id" = String, Path, description = "the content id")),
    responses((status = 200, body = ProgressView), (status = 404, body = ErrorView)))]
async fn progress(f: Option<Extension<Files>>, UrlPath(id): UrlPath<String>) -> Result<Response, Error> {
    let files = files(f)?;
    let id: ContentId = id.parse().map_err(|e: super::id::BadId| bad(e.to_string()))?;
    let job = files.job(&id).ok_or_else(|| {
        Error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no download of {id} since the node started; start one with POST /files/get"),
        )
    })?;
    let p = job.progress.borrow().clone();
    Ok(Json(progress_view(&id, &p)).into_response())
}
