//! Waiting for a condition in a test (shared by the node's and the CLI's
//! tests: `por/tests/chain_common` includes this file by path; the WebDriver
//! helper takes it from the test crate's root).

use std::time::Duration;

/// Polls `check` every 50 ms until it holds, or panics naming `what`.
pub async fn until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < end {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}
