//! A small client of the node's HTTP API, for the CLI (`por status`,
//! `por channel`, `por request`, `por files`, `por testnet`): one JSON call
//! per function with the node's token, non-2xx answers turned into the
//! API's own `error` text.
//!
//! [`NodeApi::resolve`] finds the API and its token the way every command
//! does: `--api`, else the config's `[api].listen`; the token from
//! `--token-file`, else `POR_API_TOKEN`, else the config's data directory
//! (`api-admin.token`). The config is `--config`, else `./por-data/por.toml`
//! if it exists (where `por init` puts it by default).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use near_token::NearToken;
use por_node::api::auth::{ADMIN_TOKEN_FILE, ApiToken, read_token_file};
use serde_json::Value;

/// Largest answer read from the API.
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The environment variable that gives the CLI a token (64 hex characters).
pub const TOKEN_ENV: &str = "POR_API_TOKEN";

/// The config the CLI reads when given none, `por init`'s default.
pub const DEFAULT_CONFIG: &str = "./por-data/por.toml";

/// A call to the API failed; the text says what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ApiCallError(pub String);

fn err(s: impl Into<String>) -> ApiCallError {
    ApiCallError(s.into())
}

/// A node's API as the CLI calls it: its base URL (like
/// `http://127.0.0.1:8080`) and the token sent with every call.
#[derive(Debug, Clone)]
pub struct NodeApi {
    /// The base URL, without a trailing `/`.
    pub base: String,
    /// The bearer token, if one was found.
    pub token: Option<ApiToken>,
}

impl NodeApi {
    /// The API at `base` with `token`.
    pub fn new(base: &str, token: Option<ApiToken>) -> Self {
        NodeApi { base: base.trim_end_matches('/').to_string(), token }
    }

    /// The API of the node whose data directory is `data_dir`, listening on
    /// `listen` (`host:port`), with its admin token.
    pub fn of_data_dir(listen: &str, data_dir: &Path) -> Result<Self, ApiCallError> {
        let token = read_token_file(&data_dir.join(ADMIN_TOKEN_FILE)).map_err(|e| err(e.to_string()))?;
        Ok(NodeApi::new(&format!("http://{listen}"), Some(token)))
    }

    /// The API and token from the CLI's flags (see the module doc):
    /// `env_token` is the value of [`TOKEN_ENV`], if set.
    pub fn resolve(
        api: Option<&str>,
        config: Option<&Path>,
        token_file: Option<&Path>,
        env_token: Option<&str>,
    ) -> Result<Self, ApiCallError> {
        let default = Path::new(DEFAULT_CONFIG);
        let config = config.or(default.exists().then_some(default));
        let cfg = match config {
            Some(path) => {
                // The file as the node reads it (paths relative to it, POR_ variables).
                let l = crate::config::load(Some(path), std::env::vars(), &crate::config::Flags::default())
                    .map_err(|e| err(e.to_string()))?;
                Some((l.config, path))
            }
            None => None,
        };
        let base = match (api, &cfg) {
            (Some(a), _) => a.to_string(),
            (None, Some((c, _))) => format!("http://{}", c.api.listen),
            (None, None) => "http://127.0.0.1:8080".into(),
        };
        let token = if let Some(f) = token_file {
            Some(read_token_file(f).map_err(|e| err(e.to_string()))?)
        } else if let Some(t) = env_token {
            Some(ApiToken::parse(t).ok_or_else(|| err(format!("{TOKEN_ENV} must be a token: 64 hex characters")))?)
        } else if let Some((c, path)) = &cfg {
            match token_in(&c.node.data_dir, path) {
                Some(f) => Some(read_token_file(&f).map_err(|e| err(e.to_string()))?),
                None => None,
            }
        } else {
            None
        };
        Ok(NodeApi::new(&base, token))
    }
}

impl NodeApi {
    /// The URL of the route `path` (`/status`): under the API's version
    /// prefix, `http://127.0.0.1:8080/v1/status`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.base, por_node::api::VERSION_PREFIX)
    }
}

impl std::fmt::Display for NodeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

/// The admin token file of the node whose config is at `config`: in its
/// `data_dir`, else beside the config (where `por init` writes both).
fn token_in(data_dir: &Path, config: &Path) -> Option<PathBuf> {
    let beside = config.parent().map(|d| d.join(ADMIN_TOKEN_FILE));
    Some(data_dir.join(ADMIN_TOKEN_FILE)).into_iter().chain(beside).find(|p| p.exists())
}

/// The one HTTP client of the CLI (connections are kept between calls).
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            // The node's API is local to the operator: no proxy from the
            // environment, no redirect elsewhere.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// One call; `path` with its query, like `/routes?to=…`.
pub async fn call(api: &NodeApi, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ApiCallError> {
    let base = &api.base;
    let url = reqwest::Url::parse(&api.url(path)).map_err(|e| err(format!("bad API URL {base:?}: {e}")))?;
    if url.host_str().is_none() {
        return Err(err(format!("bad API URL {base:?}: no host")));
    }
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| err(format!("bad HTTP method {method:?}: {e}")))?;
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut req = http().request(method, url).header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(t) = &api.token {
        req = req.header(reqwest::header::AUTHORIZATION, t.bearer());
    }
    let mut resp = req.body(bytes).send().await.map_err(|e| {
        if e.is_connect() {
            err(format!("cannot reach the node's API at {base}: {e} (is `por node run` running? see --api)"))
        } else {
            err(format!("API request failed: {e}"))
        }
    })?;
    let status = resp.status();
    let too_large = || err(format!("the API's answer exceeds {MAX_ANSWER} bytes"));
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(format!("cannot read the API's answer: {e}")))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| err(format!("the API answered {status} with non-JSON: {}", String::from_utf8_lossy(&body))))?;
    if !status.is_success() {
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED && api.token.is_none() {
            format!(
                " (no token found: give the node's --config, or --token-file, or set {TOKEN_ENV}; \
                 without --config the CLI reads {DEFAULT_CONFIG})"
            )
        } else {
            String::new()
        };
        return Err(err(format!("{status}: {}{hint}", v["error"].as_str().unwrap_or("no reason given"))));
    }
    Ok(v)
}

/// Parses an amount given as yocto (`1000`) or with a NEAR unit (`1.5NEAR`,
/// `2 NEAR`, `500 millinear`; near-token's units).
pub fn parse_amount(s: &str) -> Result<u128, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| format!("{s:?} is too large"));
    }
    if !t.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(format!("{s:?} is not an amount: give yocto (e.g. 1000) or NEAR (e.g. 1.5NEAR)"));
    }
    // near-token wants a digit before the point.
    let t = if t.starts_with('.') { format!("0{t}") } else { t.to_string() };
    t.parse::<NearToken>()
        .map(|n| n.as_yoctonear())
        .map_err(|e| format!("{s:?} is not an amount ({e}): at most 24 decimals of NEAR"))
}

/// An amount for people: NEAR with two decimals (near-token's rounding).
pub fn format_near(yocto: u128) -> String {
    NearToken::from_yoctonear(yocto).to_string()
}

#[cfg(test)]
mod tests {
    use super::{format_near, parse_amount};

    #[test]
    fn calls_go_to_the_versioned_routes() {
        let api = super::NodeApi::new("http://127.0.0.1:8080/", None);
        assert_eq!(api.url("/status"), "http://127.0.0.1:8080/v1/status");
    }

    #[test]
    fn amounts_in_yocto_and_near() {
        assert_eq!(parse_amount("1000"), Ok(1000));
        assert_eq!(parse_amount("1NEAR"), Ok(10u128.pow(24)));
        assert_eq!(parse_amount("1.5 NEAR"), Ok(15 * 10u128.pow(23)));
        assert_eq!(parse_amount(".01NEAR"), Ok(10u128.pow(22)));
        assert!(parse_amount("1.5").is_err());
        assert!(parse_amount("-1NEAR").is_err());
        assert!(parse_amount("NEAR").is_err());
        assert!(parse_amount("1.0000000000000000000000001NEAR").is_err());
        assert_eq!(parse_amount("500 millinear"), Ok(5 * 10u128.pow(23)));
        assert!(parse_amount("").is_err());
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("340282366920938463463374607431768211456").is_err(), "above u128");
    }

    #[test]
    fn amounts_printed_in_near() {
        assert_eq!(format_near(0), "0 NEAR");
        assert_eq!(format_near(5 * 10u128.pow(24)), "5.00 NEAR");
        assert_eq!(format_near(15 * 10u128.pow(23)), "1.50 NEAR");
    }
}
