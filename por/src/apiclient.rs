//! A small client of the node's HTTP API, for the CLI (`por status`,
//! `por channel`, `por request`, `por testnet`): one JSON call per function,
//! non-2xx answers turned into the API's own `error` text.

use std::sync::OnceLock;

use near_token::NearToken;
use serde_json::Value;

/// Largest answer read from the API.
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A call to the API failed; the text says what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ApiCallError(pub String);

fn err(s: impl Into<String>) -> ApiCallError {
    ApiCallError(s.into())
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

/// `base` like `http://127.0.0.1:8080`; `path` with its query, like `/routes?to=…`.
pub async fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ApiCallError> {
    let url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|e| err(format!("bad API URL {base:?}: {e}")))?;
    if url.host_str().is_none() {
        return Err(err(format!("bad API URL {base:?}: no host")));
    }
    let method =
        reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| err(format!("bad HTTP method {method:?}: {e}")))?;
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut resp = http()
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .send()
        .await
        .map_err(|e| {
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
        return Err(err(format!("{status}: {}", v["error"].as_str().unwrap_or("no reason given"))));
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
