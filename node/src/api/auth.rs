//! Who may call the API: bearer tokens with two scopes.
//!
//! A node has two tokens, each 32 random bytes as 64 hex characters in a
//! file of mode 0600 in its data directory, named after lnd's `admin` and
//! `readonly` macaroons:
//!
//! | file | scope | may |
//! |---|---|---|
//! | [`ADMIN_TOKEN_FILE`] (`api-admin.token`) | admin | every route: spend (`/send`, `/request`, `/files/get`), open, confirm, close and sever channels, share files, and read |
//! | [`READONLY_TOKEN_FILE`] (`api-readonly.token`) | read-only | the `GET` routes: status, channels, peers, routes, metrics, files and downloads |
//!
//! A request carries one as `Authorization: Bearer <hex>`. [`required`]
//! decides from the method and path what a request needs ([`SCOPES`], one
//! table: the probes need nothing, a `GET` the read-only token, anything
//! else the admin one). The guard ([`super::guard`]) checks it after its
//! browser checks and answers 401 `unauthorized` (no token, or not one of
//! the node's; with `WWW-Authenticate: Bearer`) or 403 `forbidden_scope`
//! (the read-only token where the admin one is needed). Tokens are compared
//! in constant time.
//!
//! What this leaves out: tokens do not expire and name no client; rotating
//! one is replacing its file (or deleting it: [`ApiTokens::load_or_create`]
//! makes a new one) and restarting the node. Transport security is the
//! listener's: the API speaks plain HTTP, so keep it on loopback or inside
//! a network the operator controls.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiError;

/// The admin token's file in the data directory: every route.
pub const ADMIN_TOKEN_FILE: &str = "api-admin.token";
/// The read-only token's file in the data directory: the `GET` routes.
pub const READONLY_TOKEN_FILE: &str = "api-readonly.token";

/// What a request needs to be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the probes, which supervisors call without credentials.
    Nothing,
    /// The read-only token or the admin token.
    ReadOnly,
    /// The admin token.
    Admin,
}

/// What each request needs, by method and path; the first row that matches
/// decides, `*` matching any method or path. Every method but `GET` and
/// `HEAD` needs the admin token unless a row above the last lists it (a
/// `POST` that only reads would be listed here as read-only; there is none).
pub const SCOPES: &[(&str, &str, Need)] = &[
    ("GET", "/livez", Need::Nothing),
    ("HEAD", "/livez", Need::Nothing),
    ("GET", "/readyz", Need::Nothing),
    ("HEAD", "/readyz", Need::Nothing),
    // The network page's files: no data in them (it reads `/network` with
    // the token the user gives it; see `super::network`).
    ("GET", "/ui", Need::Nothing),
    ("GET", "/ui/app.js", Need::Nothing),
    ("GET", "/ui/style.css", Need::Nothing),
    // Signed vouchers, enough to claim the node's money on chain: admin.
    ("GET", "/channels/backup", Need::Admin),
    ("GET", "*", Need::ReadOnly),
    ("HEAD", "*", Need::ReadOnly),
    ("*", "*", Need::Admin),
];

/// What a request of `method` on `path` needs (see [`SCOPES`]); a path
/// under the version prefix (`/v1/livez`) needs what its alias does.
pub fn required(method: &Method, path: &str) -> Need {
    let path = path.strip_prefix(super::VERSION_PREFIX).filter(|p| p.starts_with('/')).unwrap_or(path);
    SCOPES
        .iter()
        .find(|(m, p, _)| (*m == "*" || *m == method.as_str()) && (*p == "*" || *p == path))
        .map_or(Need::Admin, |row| row.2)
}

/// One API token: 32 bytes, kept as the 64 lowercase hex characters that
/// are its file's content and its bearer value. `Debug` does not show it.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// The token of 32 (random) bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ApiToken(hex::encode(bytes))
    }

    /// A token from its hex text (surrounding whitespace ignored); none if
    /// it is not 64 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| ApiToken(t.to_ascii_lowercase()))
    }

    /// The token as hex, what goes after `Bearer `.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `Bearer <hex>`, an `Authorization` header's value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// how much of it matches.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(…)")
    }
}

/// A token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or creating the file failed.
    #[error("API token file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex characters.
    #[error("API token file {0} must hold 64 hex characters; delete it and restart the node to get a new one")]
    Malformed(String),
    /// The file's group or others may read or write it.
    #[error("API token file {0} is open to its group or others (mode {1:o}); run `chmod 600 {0}`")]
    TooOpen(String, u32),
}

/// Reads a token file, refusing one that its group or others may access
/// (the node key's rule, [`crate::keys::loose_mode`]).
pub fn read_token_file(path: &Path) -> Result<ApiToken, TokenError> {
    let p = path.display().to_string();
    let io = |source| TokenError::Io { path: p.clone(), source };
    let text = std::fs::read_to_string(path).map_err(io)?;
    if let Some(mode) = crate::keys::loose_mode(path).map_err(io)? {
        return Err(TokenError::TooOpen(p, mode));
    }
    ApiToken::parse(&text).ok_or(TokenError::Malformed(p))
}

/// The node's two tokens.
#[derive(Debug, Clone)]
pub struct ApiTokens {
    /// Every route.
    pub admin: ApiToken,
    /// The `GET` routes.
    pub readonly: ApiToken,
}

impl ApiTokens {
    /// Tokens of the given bytes.
    pub fn from_bytes(admin: [u8; 32], readonly: [u8; 32]) -> Self {
        ApiTokens { admin: ApiToken::from_bytes(admin), readonly: ApiToken::from_bytes(readonly) }
    }

    /// Loads the tokens of the data directory `dir`, creating a missing
    /// file (mode 0600) from `fresh` (random bytes the caller drew: admin,
    /// read-only). Also answers whether it created one.
    pub fn load_or_create(dir: &Path, fresh: [[u8; 32]; 2]) -> Result<(ApiTokens, bool), TokenError> {
        let mut created = false;
        let mut one = |name: &str, bytes: [u8; 32]| -> Result<ApiToken, TokenError> {
            let path = dir.join(name);
            match write_new(&path, &ApiToken::from_bytes(bytes)) {
                Ok(t) => {
                    created = true;
                    Ok(t)
                }
                Err(TokenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                    read_token_file(&path)
                }
                Err(e) => Err(e),
            }
        };
        let admin = one(ADMIN_TOKEN_FILE, fresh[0])?;
        let readonly = one(READONLY_TOKEN_FILE, fresh[1])?;
        Ok((ApiTokens { admin, readonly }, created))
    }

    /// What `presented` (a bearer value) may do: `Some(true)` everything
    /// (the admin token), `Some(false)` read, `None` nothing.
    fn grant(&self, presented: &[u8]) -> Option<bool> {
        // Both compared, so the time does not tell which one is near.
        let (admin, read) = (self.admin.matches(presented), self.readonly.matches(presented));
        if admin {
            Some(true)
        } else if read {
            Some(false)
        } else {
            None
        }
    }
}

/// Writes `token` to a new file of mode 0600 (an existing one is an
/// `AlreadyExists` error).
fn write_new(path: &Path, token: &ApiToken) -> Result<ApiToken, TokenError> {
    let io = |source| TokenError::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(format!("{}\n", token.as_str()).as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(token.clone())
}

/// A request the token check refused: 401 (with `WWW-Authenticate`) or 403.
pub(super) struct Refused(ApiError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let challenge = self.0.status == StatusCode::UNAUTHORIZED;
        let mut resp = self.0.into_response();
        if challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// The guard's token check: lets the request through, or refuses it.
/// `tokens` none (a router served without tokens) lets only the probes through.
pub(super) fn authorize(
    tokens: Option<&ApiTokens>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), Refused> {
    let need = required(method, path);
    if need == Need::Nothing {
        return Ok(());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer ").or_else(|| v.as_bytes().strip_prefix(b"bearer ")))
        .map(|t| t.trim_ascii());
    let Some(tokens) = tokens else {
        return Err(unauthorized("this API was served without tokens: only /livez and /readyz answer"));
    };
    let Some(presented) = presented else {
        return Err(unauthorized(format!(
            "this route needs a token: send `Authorization: Bearer <token>` with the contents of {ADMIN_TOKEN_FILE} \
             (or, for GET routes, {READONLY_TOKEN_FILE}) from the node's data directory"
        )));
    };
    match tokens.grant(presented) {
        None => Err(unauthorized(format!(
            "the token is not one of this node's: use {ADMIN_TOKEN_FILE} or {READONLY_TOKEN_FILE} from its data \
             directory (they change when those files are replaced and the node restarted)"
        ))),
        Some(false) if need == Need::Admin => Err(Refused(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_scope",
            format!("the read-only token cannot {method} {path}: it spends or administers; use {ADMIN_TOKEN_FILE}"),
        ))),
        Some(_) => Ok(()),
    }
}

fn unauthorized(why: impl Into<String>) -> Refused {
    Refused(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn scopes_by_method_and_path() {
        for (m, p, need) in [
            (Method::GET, "/livez", Need::Nothing),
            (Method::HEAD, "/readyz", Need::Nothing),
            (Method::POST, "/livez", Need::Admin),
            (Method::GET, "/metrics", Need::ReadOnly),
            (Method::GET, "/files/get/ab", Need::ReadOnly),
            (Method::POST, "/send", Need::Admin),
            (Method::POST, "/files/get", Need::Admin),
            (Method::POST, "/channels/1/sever", Need::Admin),
            (Method::DELETE, "/status", Need::Admin),
            (Method::OPTIONS, "/send", Need::Admin),
            // Under the version prefix, the same.
            (Method::GET, "/v1/livez", Need::Nothing),
            (Method::GET, "/v1/channels/backup", Need::Admin),
            (Method::GET, "/v1/status", Need::ReadOnly),
            (Method::POST, "/v1/send", Need::Admin),
            (Method::GET, "/v1livez", Need::ReadOnly),
        ] {
            assert_eq!(required(&m, p), need, "{m} {p}");
        }
    }

    #[test]
    fn tokens_created_once_0600_and_loose_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = ApiTokens::load_or_create(dir.path(), [[1; 32], [2; 32]]).unwrap();
        assert!(created);
        let (b, created) = ApiTokens::load_or_create(dir.path(), [[3; 32], [4; 32]]).unwrap();
        assert!(!created, "the files win over fresh bytes");
        assert_eq!((a.admin.as_str(), a.readonly.as_str()), (b.admin.as_str(), b.readonly.as_str()));
        assert_eq!(a.admin.as_str(), hex::encode([1u8; 32]));
        for name in [ADMIN_TOKEN_FILE, READONLY_TOKEN_FILE] {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        let path = dir.path().join(READONLY_TOKEN_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = ApiTokens::load_or_create(dir.path(), [[0; 32]; 2]).unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()) && e.to_string().contains("chmod 600"), "{e}");
        std::fs::write(&path, "not hex").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_token_file(&path), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn grants_compare_the_whole_token() {
        let t = ApiTokens::from_bytes([0xaa; 32], [0xbb; 32]);
        assert_eq!(t.grant(t.admin.as_str().as_bytes()), Some(true));
        assert_eq!(t.grant(t.readonly.as_str().as_bytes()), Some(false));
        let mut near = t.admin.as_str().as_bytes().to_vec();
        near[63] = b'b';
        assert_eq!(t.grant(&near), None);
        assert_eq!(t.grant(&near[..63]), None);
        assert_eq!(t.grant(b""), None);
        assert_eq!(format!("{:?}", t.admin), "ApiToken(…)");
        assert_eq!(ApiToken::parse(&format!(" {}\n", "AB".repeat(32))).unwrap().as_str(), "ab".repeat(32));
    }
}
