//! `por node run`: a node from its configuration file, with its services and
//! its HTTP API, until asked to stop.

use std::future::Future;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tracing::info;

use crate::config::{ConfigError, FileConfig};
use crate::keys::{KeyError, load_or_create};
use crate::runtime::{RunningNode, StartError, start};
use crate::upstream::HttpUpstream;

/// The node could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The node did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The API address could not be bound.
    #[error("cannot serve the HTTP API on {0}: {1}")]
    Api(String, std::io::Error),
}

/// A running node with its API.
pub struct Running {
    /// The node.
    pub node: RunningNode,
    /// Where the API listens.
    pub api_addr: std::net::SocketAddr,
}

/// Starts the node and its API; `fresh_seed` is used only if no key file exists yet.
pub async fn launch(cfg: &FileConfig, fresh_seed: [u8; 32]) -> Result<Running, RunError> {
    let nc = cfg.node_config()?;
    let seed = load_or_create(&nc.data_dir.join("node.key"), fresh_seed)?;
    let mut registry = Registry::default();
    let node = start(nc, seed, &mut registry).await?;
    for (name, url) in &cfg.services {
        let svc = HttpUpstream::new(url).map_err(|e| ConfigError::Service(name.clone(), e.to_string()))?;
        // The handle only fails if the node already stopped, which it cannot have.
        let _ = node.handle.serve(name.clone(), Arc::new(svc)).await;
    }
    let addr = cfg.api_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| RunError::Api(addr.to_string(), e))?;
    let api_addr = listener.local_addr().map_err(|e| RunError::Api(addr.to_string(), e))?;
    let app = crate::api::router(node.handle.clone(), Arc::new(registry));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("HTTP API stopped: {e}");
        }
    });
    info!(peer_id = %node.peer_id, listen = ?node.listen_addrs, api = %api_addr, "node running");
    Ok(Running { node, api_addr })
}

/// Runs until `shutdown` completes, then stops the node cleanly.
pub async fn run(cfg: &FileConfig, fresh_seed: [u8; 32], shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let r = launch(cfg, fresh_seed).await?;
    println!("peer id  {}", r.node.peer_id);
    for a in &r.node.listen_addrs {
        println!("listen   {a}/p2p/{}", r.node.peer_id);
    }
    println!("api      http://{}/status", r.api_addr);
    println!("metrics  http://{}/metrics", r.api_addr);
    shutdown.await;
    r.node.handle.shutdown().await;
    let _ = r.node.task.await;
    Ok(())
}
