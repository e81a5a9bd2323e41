//! `por node run`: a node from its configuration file, with its services and
//! its HTTP API, until asked to stop.

use std::future::Future;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tracing::info;

use near_primitives::types::AccountId;

use crate::config::{ConfigError, FileConfig};
use por_node::agent::{self, AgentConfig};
use por_node::api::ChainCtl;
use por_node::api::GuardConfig;
use por_node::api::auth::{ADMIN_TOKEN_FILE, ApiTokens, READONLY_TOKEN_FILE, TokenError};
use por_node::chain::{ChainClient, NearRpcChain, PorContract, RpcMetrics, read_key_file};
use por_node::keys::{KeyError, load_or_create};
use por_node::metrics::ChainMetrics;
use por_node::runtime::{RunningNode, StartError, start};
use por_node::upstream::HttpUpstream;

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
    /// The chain could not be reached or refused what the node needs.
    #[error("chain: {0}")]
    Chain(String),
    /// File sharing could not start (its store under the data directory).
    #[error("file sharing: {0}")]
    Files(String),
    /// The API address could not be bound.
    #[error("cannot serve the HTTP API on {0}: {1}")]
    Api(String, std::io::Error),
    /// The metrics address could not be bound.
    #[error("cannot serve /metrics on {0} ([api].metrics_listen): {1}")]
    Metrics(String, std::io::Error),
    /// The API's token files could not be read or created.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A running node with its API.
pub struct Running {
    /// The node.
    pub node: RunningNode,
    /// Where the API listens.
    pub api_addr: std::net::SocketAddr,
    /// Where `/metrics` is served without a token, if `[api].metrics_listen` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The API's admin token file (the read-only one beside it).
    pub api_token: std::path::PathBuf,
    /// The chain agent, when `[chain].account` is set.
    pub agent: Option<tokio::task::JoinHandle<()>>,
}

/// The signing contract client of `[chain]` (account and key files under
/// `data_dir`): the full-access key of `account_key_file`, and the
/// function-call key of `function_key_file` if set, which makes the full
/// key optional.
pub fn chain_client(cfg: &FileConfig) -> Result<ChainCtl, RunError> {
    chain_client_with(cfg, None)
}

/// As [`chain_client`], counting which RPC endpoint answers in `registry`.
fn chain_client_with(cfg: &FileConfig, registry: Option<&mut Registry>) -> Result<ChainCtl, RunError> {
    let account: AccountId =
        cfg.chain.account.parse().map_err(|e| ConfigError::Chain(format!("account {:?}: {e}", cfg.chain.account)))?;
    let contract: AccountId = cfg
        .chain
        .contract
        .parse()
        .map_err(|e| ConfigError::Chain(format!("contract {:?}: {e}", cfg.chain.contract)))?;
    let read = |path: &std::path::Path| {
        let (key_account, secret) =
            read_key_file(path).map_err(|e| RunError::Chain(format!("key file {}: {e}", path.display())))?;
        if key_account != account {
            return Err(RunError::Chain(format!(
                "the key file {} is for {key_account}, but [chain].account is {account}",
                path.display()
            )));
        }
        Ok(secret)
    };
    let key_path = cfg.node.data_dir.join(&cfg.chain.account_key_file);
    let function = match &cfg.chain.function_key_file {
        Some(f) => Some(read(&cfg.node.data_dir.join(f))?),
        None => None,
    };
    let full = match function {
        // With a function-call key the full-access key may live elsewhere.
        Some(_) if !key_path.exists() => {
            info!(missing = %key_path.display(), "no full-access key: signing only calls without a deposit");
            None
        }
        _ => Some(read(&key_path)?),
    };
    let mut endpoints = cfg.rpc_endpoints()?;
    if let Some(r) = registry {
        endpoints = endpoints.with_metrics(RpcMetrics::new(r));
    }
    let chain = NearRpcChain::over(endpoints).signing(account, full, function);
    Ok(PorContract::new(Arc::new(chain), contract))
}

/// Starts the node and its API; `fresh_seed` is used only if no key file exists yet.
pub async fn launch(cfg: &FileConfig, fresh_seed: [u8; 32]) -> Result<Running, RunError> {
    let mut nc = cfg.node_config()?;
    let seed = load_or_create(&nc.data_dir.join("node.key"), fresh_seed)?;
    // The API's tokens: `por init` writes them; an older data directory gets
    // them now. Their bytes are drawn here: nothing depends on their value
    // but the files.
    let (tokens, created) = ApiTokens::load_or_create(&nc.data_dir, rand::random())?;
    let api_token = nc.data_dir.join(ADMIN_TOKEN_FILE);
    if created {
        info!(admin = %api_token.display(), readonly = %nc.data_dir.join(READONLY_TOKEN_FILE).display(), "created the API's token files");
    }
    let mut registry = Registry::default();
    let chain = if cfg.has_chain_account() {
        let c = chain_client_with(cfg, Some(&mut registry))?.with_metrics(ChainMetrics::new(&mut registry));
        // The late-fee terms are the contract's, uniform along every path.
        let terms = c.config().await.map_err(|e| RunError::Chain(format!("reading the contract's config: {e}")))?;
        nc.protocol.late_fee_per_sec = terms.late_fee_per_sec;
        nc.protocol.max_late_ms = terms.max_late_ms;
        Some(c)
    } else {
        None
    };
    let node = start(nc, seed, &mut registry).await?;
    let agent = match &chain {
        Some(c) => {
            let account = c.chain().signer_account().cloned().expect("a signing client");
            let ac = AgentConfig {
                poll: std::time::Duration::from_millis(cfg.chain.poll_ms),
                accept_deposit: cfg.accept_deposit()?,
                reconnect: cfg.reconnect_policy()?,
                settle_splits: cfg.chain.settle_splits,
                ..AgentConfig::default()
            };
            match c.node(&account).await {
                Ok(Some(v)) if v.node_key != node.key => {
                    return Err(RunError::Chain(format!(
                        "{account} is registered with node key {}, but this data directory's key is {}; \
                         use the data directory it was registered from",
                        v.node_key.to_hex(),
                        node.key.to_hex()
                    )));
                }
                Ok(None) => tracing::warn!(%account, "not registered on the contract yet: run `por init` to register"),
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!("cannot read this node's registration (continuing): {e}"),
            }
            Some(
                agent::spawn(c.clone(), account, node.handle.clone(), ac)
                    .await
                    .map_err(|_| RunError::Chain("the node stopped".into()))?,
            )
        }
        None => None,
    };
    for (name, url) in &cfg.services {
        let svc = HttpUpstream::new(url).map_err(|e| ConfigError::Service(name.clone(), e.to_string()))?;
        // The handle only fails if the node already stopped, which it cannot have.
        let _ = node.handle.serve(name.clone(), Arc::new(svc)).await;
    }
    let addr = cfg.api_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| RunError::Api(addr.to_string(), e))?;
    let api_addr = listener.local_addr().map_err(|e| RunError::Api(addr.to_string(), e))?;
    // File sharing: the `files` service, its store under the data directory,
    // and fetches routed over the chain's graph.
    let files = por_files::Files::start(cfg.files_config(), node.handle.clone(), Arc::new(node.handle.clone()))
        .await
        .map_err(|e| RunError::Files(e.to_string()))?;
    // `/metrics` alone on its own listener, without a token.
    let registry = Arc::new(registry);
    let metrics_addr = match cfg.metrics_addr()? {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| RunError::Metrics(addr.to_string(), e))?;
            let at = l.local_addr().map_err(|e| RunError::Metrics(addr.to_string(), e))?;
            let guard = GuardConfig { allowed_hosts: cfg.api.allowed_hosts.clone(), ..GuardConfig::listening_on(at) };
            let app = por_node::api::metrics_router(registry.clone(), guard);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!("metrics listener stopped: {e}");
                }
            });
            Some(at)
        }
        None => None,
    };
    // One guard over both routers, knowing the listen address, the
    // configured names and the tokens (Host allow-list, JSON bodies, body
    // limit, bearer tokens by scope).
    let guard = GuardConfig { allowed_hosts: cfg.api.allowed_hosts.clone(), ..GuardConfig::listening_on(api_addr) }
        .with_tokens(tokens);
    let app = por_node::api::guard(
        por_node::api::versioned(
            por_node::api::router_with_chain(node.handle.clone(), registry, chain)
                .merge(por_files::api::router(files))
                .merge(por_node::api::openapi::route(api_document())),
        ),
        guard,
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("HTTP API stopped: {e}");
        }
    });
    info!(peer_id = %node.peer_id, listen = ?node.listen_addrs, api = %api_addr, metrics = ?metrics_addr, "node running");
    Ok(Running { node, api_addr, metrics_addr, api_token, agent })
}

/// The OpenAPI document of everything `por node run` serves: the node's
/// routes and file sharing's (served at `/v1/openapi.json`).
pub fn api_document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    por_node::api::openapi::document([por_files::api::FilesRoutesDoc::openapi()])
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what systemd, Docker and
/// Kubernetes send to stop a service), whichever comes first.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping"),
                    _ = term.recv() => info!("SIGTERM: stopping"),
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs until `shutdown` completes, then stops the node cleanly. Once the
/// node runs it prints where it listens, in the form `output`.
pub async fn run(
    cfg: &FileConfig,
    fresh_seed: [u8; 32],
    output: crate::output::Output,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let r = launch(cfg, fresh_seed).await?;
    // Listen for the stop signals before saying where the node listens: a
    // supervisor (or a test) may signal as soon as it reads that, and a
    // signal with no handler yet would kill the process without a drain.
    tokio::pin!(shutdown);
    let stopped_early = tokio::select! {
        biased;
        _ = &mut shutdown => true,
        _ = std::future::ready(()) => false,
    };
    let peer = r.node.peer_id;
    let listen: Vec<String> = r.node.listen_addrs.iter().map(|a| format!("{a}/p2p/{peer}")).collect();
    let metrics = match r.metrics_addr {
        Some(m) => format!("http://{m}/metrics"),
        None => format!("http://{}/metrics (with a token)", r.api_addr),
    };
    let v = serde_json::json!({
        "peer_id": peer.to_string(),
        "listen": listen,
        "api": format!("http://{}/v1/status", r.api_addr),
        "token": format!("{} (read-only: {READONLY_TOKEN_FILE} beside it)", r.api_token.display()),
        "metrics": metrics,
    });
    print!("{}", crate::output::render(output, &v));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if !stopped_early {
        shutdown.await;
    }
    let within = std::time::Duration::from_secs(cfg.node.drain_timeout_secs);
    match r.node.handle.drain(within).await {
        Ok(0) => info!("drained: nothing in flight"),
        Ok(left) => tracing::warn!(left, "stopping with requests still in flight after {within:?}"),
        Err(_) => {}
    }
    r.node.handle.shutdown().await;
    let _ = r.node.task.await;
    Ok(())
}
