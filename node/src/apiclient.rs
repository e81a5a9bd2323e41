//! A small client of the node's HTTP API, for the CLI (`por status`,
//! `por channel`, `por request`, `por testnet`): one JSON call per function,
//! non-2xx answers turned into the API's own `error` text.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
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

/// `base` like `http://127.0.0.1:8080`; `path` with its query, like `/routes?to=…`.
pub async fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ApiCallError> {
    let uri: hyper::Uri = format!("{base}{path}").parse().map_err(|e| err(format!("bad API URL {base:?}: {e}")))?;
    let host = uri.host().ok_or_else(|| err(format!("bad API URL {base:?}: no host")))?.to_string();
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let stream = tokio::net::TcpStream::connect(&authority).await.map_err(|e| {
        err(format!("cannot reach the node's API at {base}: {e} (is `por node run` running? see --api)"))
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| err(format!("HTTP handshake with {base} failed: {e}")))?;
    tokio::spawn(conn);
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let req = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| err(format!("cannot build the request: {e}")))?;
    let resp = sender.send_request(req).await.map_err(|e| err(format!("API request failed: {e}")))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| err(format!("cannot read the API's answer: {e}")))?
        .to_bytes();
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| err(format!("the API answered {status} with non-JSON: {}", String::from_utf8_lossy(&body))))?;
    if !status.is_success() {
        return Err(err(format!("{status}: {}", v["error"].as_str().unwrap_or("no reason given"))));
    }
    Ok(v)
}

/// Parses an amount given as yocto (`1000`) or NEAR (`1.5NEAR`, `2 NEAR`).
pub fn parse_amount(s: &str) -> Result<u128, String> {
    let t = s.trim();
    let Some(near) = t.strip_suffix("NEAR").map(str::trim) else {
        return t.parse().map_err(|_| format!("{s:?} is not an amount: give yocto (e.g. 1000) or NEAR (e.g. 1.5NEAR)"));
    };
    let (whole, frac) = near.split_once('.').unwrap_or((near, ""));
    if frac.len() > 24 || whole.is_empty() && frac.is_empty() {
        return Err(format!("{s:?}: at most 24 decimals of NEAR"));
    }
    let w: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("{s:?} is not an amount"))? };
    let f: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u128>().map_err(|_| format!("{s:?} is not an amount"))? * 10u128.pow(24 - frac.len() as u32)
    };
    w.checked_mul(10u128.pow(24)).and_then(|x| x.checked_add(f)).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

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
    }
}
