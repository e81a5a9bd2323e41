//! The JSON-RPC server: a subset of NEAR's JSON-RPC over a shared [`Chain`],
//! in NEAR's own request and response formats (near-jsonrpc-primitives 0.38),
//! so near-jsonrpc-client 0.23 talks to it as to any NEAR node.
//!
//! Methods: `status`, `block`, `query` (`view_account`, `view_access_key`,
//! `view_access_key_list`, `view_code`, `call_function`), `send_tx`,
//! `broadcast_tx_commit`, `broadcast_tx_async`, `tx`, and the devnet-only
//! `devnet_advance_time` (`{"ms": u64}` → the new head), answered only when
//! [`ServerConfig::allow_time_travel`] is set and for at most
//! [`MAX_TIME_TRAVEL_MS`] a call. Queries always read
//! the latest block. A transaction is final as soon as it is accepted.
//!
//! Robustness: nothing a client sends can panic the server or go unanswered.
//! Every refusal is a JSON-RPC error object with the standard code:
//!
//! | code | when |
//! |---|---|
//! | -32700 parse error | not JSON, nested deeper than serde_json's limit (128), or a body over [`ServerConfig::max_body_bytes`] (with HTTP 413) |
//! | -32600 invalid request | valid JSON but not one request: a batch (refused unparsed), a notification, a response, a wrong shape |
//! | -32601 method not found | a method this devnet does not serve |
//! | -32602 invalid params | params of the wrong type or shape (the NEAR cause stays `PARSE_ERROR`) |
//! | -32000 server error | the method's own refusals (unknown block or account, invalid transaction, …) |
//!
//! At most [`ServerConfig::max_in_flight`] requests are read and served at
//! once. The chain runs on blocking threads behind a mutex (the VM is
//! synchronous); a block is produced every `block_ms` of wall time (and a transaction's
//! block adds only 1 ms: [`Chain::follow_wall_clock`]); changes
//! are written to the state file by one task, coalesced, atomically (see
//! [`crate::genesis::save_atomic`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use near_jsonrpc_primitives::errors::{RpcError, RpcErrorKind, RpcRequestValidationErrorKind};
use near_jsonrpc_primitives::message::{self, Broken, Message};
use near_jsonrpc_primitives::types::blocks::{RpcBlockError, RpcBlockRequest};
use near_jsonrpc_primitives::types::query::{QueryResponseKind, RpcQueryError, RpcQueryRequest, RpcQueryResponse};
use near_jsonrpc_primitives::types::transactions::{
    RpcSendTransactionRequest, RpcTransactionError, RpcTransactionResponse, RpcTransactionStatusRequest,
    TransactionInfo,
};
use near_primitives::errors::FunctionCallError;
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::SignedTransaction;
use near_primitives::types::{BlockId, BlockReference};
use near_primitives::views::{
    AccessKeyInfoView, AccessKeyList, AccessKeyView, BlockHeaderView, BlockView, CallResult, ContractCodeView,
    FinalExecutionOutcomeViewEnum, QueryRequest, TxExecutionStatus,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::engine::{Chain, EngineError, PROTOCOL_VERSION};
use crate::state::BlockInfo;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:0` (any free port).
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes. Default 8 MiB (a contract
    /// deploy carries the wasm, base64).
    pub max_body_bytes: usize,
    /// Requests read and served at once; more wait for a turn, so that many
    /// large bodies cannot all be in memory together. Default 32.
    pub max_in_flight: usize,
    /// Produce a block every `block_ms` of wall time. Default true.
    pub produce_blocks: bool,
    /// Where to persist the chain (none: in memory only). Default none.
    pub state_file: Option<PathBuf>,
    /// How long a transaction waits before it is applied (`send_tx`,
    /// `broadcast_tx_commit`), as on a chain whose finality is seconds
    /// away; for tests of what must not wait for finality. Default 0.
    pub finality_delay: Duration,
    /// Answer `devnet_advance_time` (tests that pass challenge windows).
    /// Whoever can reach the RPC can then make every challenge window pass
    /// at once. Default false.
    pub allow_time_travel: bool,
}

/// The most one `devnet_advance_time` call moves the clock: 30 days, in ms.
pub const MAX_TIME_TRAVEL_MS: u64 = 30 * 24 * 3600 * 1000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_body_bytes: 8 << 20,
            max_in_flight: 32,
            produce_blocks: true,
            state_file: None,
            finality_delay: Duration::ZERO,
            allow_time_travel: false,
        }
    }
}

/// Errors starting or stopping the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The state file could not be written.
    #[error("cannot write the state file {path}: {source}")]
    Persist {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A server task failed.
    #[error("server task failed: {0}")]
    Task(String),
}

/// The chain as the server shares it.
pub type SharedChain = Arc<Mutex<Chain>>;

#[derive(Clone)]
struct Shared {
    chain: SharedChain,
    dirty: mpsc::Sender<()>,
    max_body: usize,
    turns: Arc<tokio::sync::Semaphore>,
    finality_delay: Duration,
    allow_time_travel: bool,
    started: Instant,
    addr: SocketAddr,
}

/// A running devnet server. Dropping it without [`DevnetServer::shutdown`]
/// stops serving but may lose the last state changes.
#[derive(Debug)]
pub struct DevnetServer {
    addr: SocketAddr,
    chain: SharedChain,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    persister: Option<JoinHandle<Result<(), ServerError>>>,
}

fn lock(chain: &SharedChain) -> MutexGuard<'_, Chain> {
    // A panic while holding the lock leaves a chain we still prefer serving.
    chain.lock().unwrap_or_else(|p| p.into_inner())
}

impl DevnetServer {
    /// Starts serving `chain`.
    pub async fn start(chain: Chain, cfg: ServerConfig) -> Result<DevnetServer, ServerError> {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ServerError::Bind { addr: cfg.listen, source })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: cfg.listen, source })?;
        let block_ms = chain.block_ms().max(1);
        let mut chain = chain;
        chain.follow_wall_clock(cfg.produce_blocks);
        let chain = Arc::new(Mutex::new(chain));
        let (dirty_tx, dirty_rx) = mpsc::channel(1);
        let shared = Shared {
            chain: chain.clone(),
            dirty: dirty_tx,
            max_body: cfg.max_body_bytes,
            turns: Arc::new(tokio::sync::Semaphore::new(cfg.max_in_flight.max(1))),
            finality_delay: cfg.finality_delay,
            allow_time_travel: cfg.allow_time_travel,
            started: Instant::now(),
            addr,
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (stop_all_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let app = Router::new().route("/", post(handle)).with_state(shared.clone());
        let mut stop_srv = stop_all_tx.subscribe();
        let server = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_srv.recv().await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!("devnet rpc server stopped: {e}");
            }
        });
        let mut tasks = vec![server];
        if cfg.produce_blocks {
            let s = shared.clone();
            let mut stop_tick = stop_all_tx.subscribe();
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(block_ms));
                every.tick().await;
                loop {
                    tokio::select! {
                        _ = stop_tick.recv() => break,
                        _ = every.tick() => {
                            let c = s.chain.clone();
                            // Empty blocks are not worth a write of their own: the
                            // next change or the shutdown saves them.
                            let _ = tokio::task::spawn_blocking(move || lock(&c).produce_block()).await;
                        }
                    }
                }
            }));
        }
        let persister = cfg.state_file.clone().map(|path| {
            let chain = chain.clone();
            let stop_persist = stop_all_tx.subscribe();
            tokio::spawn(persist_loop(chain, path, dirty_rx, stop_persist))
        });
        // One stop signal fans out to every task.
        tasks.push(tokio::spawn(async move {
            let _ = stop_rx.await;
            let _ = stop_all_tx.send(());
        }));
        Ok(DevnetServer { addr, chain, stop: Some(stop_tx), tasks, persister })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The RPC URL (`http://addr`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The chain, for direct inspection in tests.
    pub fn chain(&self) -> SharedChain {
        self.chain.clone()
    }

    /// Stops serving, stops producing blocks and writes the state file one
    /// last time.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            t.await.map_err(|e| ServerError::Task(e.to_string()))?;
        }
        if let Some(p) = self.persister.take() {
            p.await.map_err(|e| ServerError::Task(e.to_string()))??;
        }
        Ok(())
    }
}

async fn persist_loop(
    chain: SharedChain,
    path: PathBuf,
    mut dirty: mpsc::Receiver<()>,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) -> Result<(), ServerError> {
    let save = |chain: SharedChain, path: PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            let bytes = lock(&chain).to_bytes();
            crate::genesis::save_atomic(&path, &bytes).map_err(|source| ServerError::Persist { path, source })
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?
    };
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            got = dirty.recv() => {
                if got.is_none() { break; }
                // Coalesce bursts: one write covers everything up to now.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Err(e) = save(chain.clone(), path.clone()).await {
                    tracing::error!("{e}");
                }
            }
        }
    }
    save(chain, path).await
}

async fn handle(State(s): State<Shared>, body: Body) -> Response {
    // At most `max_in_flight` requests are read and served at once; the
    // others wait for a turn (their bodies unread).
    let Ok(_turn) = s.turns.clone().acquire_owned().await else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            Message::error(RpcError::new_internal_error(None, "stopping".into())),
        );
    };
    let bytes = match axum::body::to_bytes(body, s.max_body).await {
        Ok(b) => b,
        Err(_) => {
            let e = RpcError::parse_error(format!(
                "request body unreadable or larger than {} bytes (ServerConfig::max_body_bytes)",
                s.max_body
            ));
            return reply(StatusCode::PAYLOAD_TOO_LARGE, Message::error(e));
        }
    };
    // A batch is refused before it is parsed: one request per HTTP request.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return reply(
            StatusCode::OK,
            Message::error(invalid_request(
                "batch requests are not served: send one JSON-RPC request per HTTP request",
            )),
        );
    }
    let msg = match message::from_slice(&bytes) {
        // Not JSON, or nested deeper than serde_json's recursion limit (128).
        Err(Broken::SyntaxError(e)) => Message::error(RpcError::parse_error(e)),
        Err(Broken::Unmatched(_)) => Message::error(invalid_request(
            "not a JSON-RPC 2.0 request: {\"jsonrpc\":\"2.0\",\"id\":…,\"method\":\"…\",\"params\":…} was expected",
        )),
        Ok(Message::Request(req)) => {
            let result = dispatch(&s, &req.method, req.params.clone()).await;
            Message::response(req.id.clone(), result)
        }
        Ok(Message::Notification(_)) => {
            Message::error(invalid_request("a request without an `id` (a notification) is not served"))
        }
        Ok(_) => Message::error(invalid_request("a single JSON-RPC request was expected")),
    };
    reply(StatusCode::OK, msg)
}

fn reply(status: StatusCode, msg: Message) -> Response {
    let body = serde_json::to_vec(&msg).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// -32600: valid JSON that is not one JSON-RPC request. The NEAR cause is a
/// `PARSE_ERROR`, so NEAR clients read it as a request they got wrong.
fn invalid_request(why: &str) -> RpcError {
    request_error(-32_600, "Invalid Request", why.to_string())
}

/// -32602: the method exists but its params are not what it takes.
fn invalid_params(why: String) -> RpcError {
    request_error(-32_602, "Invalid params", why)
}

fn request_error(code: i64, message: &str, why: String) -> RpcError {
    RpcError {
        code,
        message: message.into(),
        data: Some(Box::new(Value::String(why.clone()))),
        error_struct: Some(RpcErrorKind::RequestValidationError(RpcRequestValidationErrorKind::ParseError {
            error_message: why,
        })),
    }
}

fn parse<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params).map_err(|e| invalid_params(format!("Failed parsing args: {e}")))
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::serialization_error(e.to_string()))
}

/// Runs `f` on the chain on a blocking thread.
async fn with_chain<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&mut Chain) -> T + Send + 'static,
) -> Result<T, RpcError> {
    let c = s.chain.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&c)))
        .await
        .map_err(|e| RpcError::new_internal_error(None, format!("devnet worker failed: {e}")))
}

async fn dispatch(s: &Shared, method: &str, params: Value) -> Result<Value, RpcError> {
    match method {
        "status" => status(s).await,
        "block" => block(s, parse::<RpcBlockRequest>(params)?.block_reference).await,
        "query" => query(s, parse(params)?).await,
        "send_tx" => {
            let req: RpcSendTransactionRequest = parse(params)?;
            let wait = req.wait_until.clone();
            tokio::time::sleep(s.finality_delay).await;
            let view = submit(s, req.signed_transaction).await?;
            let resp = if wait == TxExecutionStatus::None {
                RpcTransactionResponse {
                    final_execution_outcome: None,
                    final_execution_status: TxExecutionStatus::None,
                }
            } else {
                RpcTransactionResponse {
                    final_execution_outcome: Some(FinalExecutionOutcomeViewEnum::FinalExecutionOutcome(view)),
                    final_execution_status: TxExecutionStatus::Final,
                }
            };
            to_value(resp)
        }
        "broadcast_tx_commit" => {
            let (tx,): (SignedTransaction,) = parse(params)?;
            tokio::time::sleep(s.finality_delay).await;
            to_value(submit(s, tx).await?)
        }
        "broadcast_tx_async" => {
            let (tx,): (SignedTransaction,) = parse(params)?;
            let hash = tx.get_hash();
            submit(s, tx).await?;
            to_value(hash)
        }
        "tx" => {
            let req: RpcTransactionStatusRequest = parse(params)?;
            let hash = match &req.transaction_info {
                TransactionInfo::Transaction { signed_tx } => signed_tx.get_hash(),
                TransactionInfo::TransactionId { tx_hash, .. } => *tx_hash,
            };
            let found = with_chain(s, move |c| c.tx(&hash).map(|r| r.to_view(c.gas_price()))).await?;
            match found {
                Some(view) => to_value(RpcTransactionResponse {
                    final_execution_outcome: Some(FinalExecutionOutcomeViewEnum::FinalExecutionOutcome(view)),
                    final_execution_status: TxExecutionStatus::Final,
                }),
                None => Err(RpcTransactionError::UnknownTransaction { requested_transaction_hash: hash }.into()),
            }
        }
        "devnet_advance_time" => {
            if !s.allow_time_travel {
                return Err(time_travel_off());
            }
            #[derive(serde::Deserialize)]
            struct Advance {
                ms: u64,
            }
            let ms = match params {
                Value::Array(ref a) if a.len() == 1 => parse::<(u64,)>(params)?.0,
                p => parse::<Advance>(p)?.ms,
            };
            if ms > MAX_TIME_TRAVEL_MS {
                return Err(RpcError::new_internal_or_handler_error(
                    Some(json!(format!(
                        "`ms` is at most {MAX_TIME_TRAVEL_MS} (30 days) per devnet_advance_time call, got {ms}"
                    ))),
                    json!({"name": "TIME_TRAVEL_TOO_FAR", "info": {"ms": ms, "max_ms": MAX_TIME_TRAVEL_MS}}),
                ));
            }
            let head = with_chain(s, move |c| c.advance_time(ms)).await?;
            let _ = s.dirty.try_send(());
            Ok(json!({"height": head.height, "timestamp_ns": head.timestamp_ns.to_string(), "hash": head.hash}))
        }
        other => Err(RpcError::method_not_found(other.to_string())),
    }
}

/// `devnet_advance_time` on a server without [`ServerConfig::allow_time_travel`]:
/// the method does not exist there, and the data says how to turn it on.
fn time_travel_off() -> RpcError {
    let mut e = RpcError::method_not_found("devnet_advance_time".into());
    e.data = Some(Box::new(json!(
        "devnet_advance_time is off on this devnet: start it with --allow-time-travel (ServerConfig::allow_time_travel)"
    )));
    e
}

async fn submit(
    s: &Shared,
    tx: SignedTransaction,
) -> Result<near_primitives::views::FinalExecutionOutcomeView, RpcError> {
    let r = with_chain(s, move |c| c.submit(tx).map(|r| r.to_view(c.gas_price()))).await?;
    let _ = s.dirty.try_send(());
    r.map_err(|context| RpcTransactionError::InvalidTransaction { context }.into())
}

async fn status(s: &Shared) -> Result<Value, RpcError> {
    let (chain_id, head, genesis) = with_chain(s, |c| (c.chain_id().to_string(), c.head(), c.genesis())).await?;
    Ok(json!({
        "version": {"version": env!("CARGO_PKG_VERSION"), "build": "por-devnet", "commit": "", "rustc_version": ""},
        "chain_id": chain_id,
        "protocol_version": PROTOCOL_VERSION,
        "latest_protocol_version": PROTOCOL_VERSION,
        "rpc_addr": s.addr.to_string(),
        "validators": [],
        "sync_info": {
            "latest_block_hash": head.hash,
            "latest_block_height": head.height,
            "latest_state_root": CryptoHash::default(),
            "latest_block_time": rfc3339(head.timestamp_ns),
            "syncing": false,
            "earliest_block_hash": genesis.hash,
            "earliest_block_height": genesis.height,
            "earliest_block_time": rfc3339(genesis.timestamp_ns),
            "epoch_id": CryptoHash::default(),
            "epoch_start_height": genesis.height,
        },
        "validator_account_id": null,
        "validator_public_key": null,
        "node_public_key": "ed25519:11111111111111111111111111111111",
        "node_key": null,
        "uptime_sec": s.started.elapsed().as_secs(),
        "genesis_hash": genesis.hash,
    }))
}

fn find_block(c: &Chain, r: &BlockReference) -> Option<BlockInfo> {
    match r {
        BlockReference::BlockId(BlockId::Height(h)) => c.block_at(*h),
        BlockReference::BlockId(BlockId::Hash(h)) => c.block_by_hash(h),
        _ => Some(c.head()),
    }
}

async fn block(s: &Shared, r: BlockReference) -> Result<Value, RpcError> {
    let (found, price) = with_chain(s, move |c| (find_block(c, &r), c.gas_price())).await?;
    let Some(b) = found else {
        return Err(RpcBlockError::UnknownBlock { error_message: "not a recent devnet block".into() }.into());
    };
    let header = BlockHeaderView {
        height: b.height,
        prev_height: b.height.checked_sub(1).filter(|h| *h > 0),
        hash: b.hash,
        prev_hash: b.prev_hash,
        timestamp: b.timestamp_ns,
        timestamp_nanosec: b.timestamp_ns,
        gas_price: near_primitives::types::Balance::from_yoctonear(price),
        latest_protocol_version: PROTOCOL_VERSION,
        last_final_block: b.hash,
        last_ds_final_block: b.hash,
        ..Default::default()
    };
    let author = "devnet".parse().map_err(|_| RpcError::serialization_error("author".into()))?;
    to_value(BlockView { author, header, chunks: vec![] })
}

async fn query(s: &Shared, req: RpcQueryRequest) -> Result<Value, RpcError> {
    let r = with_chain(s, move |c| query_on(c, req)).await?;
    to_value(r?)
}

fn query_on(c: &mut Chain, req: RpcQueryRequest) -> Result<RpcQueryResponse, RpcError> {
    let head = match &req.block_reference {
        r @ BlockReference::BlockId(_) => {
            find_block(c, r).ok_or(RpcQueryError::UnknownBlock { block_reference: r.clone() })?;
            c.head()
        }
        _ => c.head(),
    };
    let (block_height, block_hash) = (head.height, head.hash);
    let unknown = |id: &near_primitives::types::AccountId| RpcQueryError::UnknownAccount {
        requested_account_id: id.clone(),
        block_height,
        block_hash,
    };
    let kind = match req.request {
        QueryRequest::ViewAccount { account_id } => {
            QueryResponseKind::ViewAccount(c.account(&account_id).ok_or_else(|| unknown(&account_id))?.to_view())
        }
        QueryRequest::ViewAccessKey { account_id, public_key } => {
            c.account(&account_id).ok_or_else(|| unknown(&account_id))?;
            let ak = c.access_key(&account_id, &public_key).ok_or_else(|| RpcQueryError::UnknownAccessKey {
                public_key: public_key.clone(),
                block_height,
                block_hash,
            })?;
            QueryResponseKind::AccessKey(AccessKeyView::from(ak.clone()))
        }
        QueryRequest::ViewAccessKeyList { account_id, .. } => {
            let a = c.account(&account_id).ok_or_else(|| unknown(&account_id))?;
            let keys = a
                .keys
                .iter()
                .map(|(k, ak)| AccessKeyInfoView { public_key: k.clone().into(), access_key: ak.clone().into() })
                .collect();
            QueryResponseKind::AccessKeyList(AccessKeyList { keys, last_key: None })
        }
        QueryRequest::ViewCode { account_id } => {
            let a = c.account(&account_id).ok_or_else(|| unknown(&account_id))?;
            let hash = a.code_hash.unwrap_or_default();
            let code = c.code(&account_id).ok_or(RpcQueryError::NoContractCode {
                contract_account_id: account_id.clone(),
                block_height,
                block_hash,
            })?;
            QueryResponseKind::ViewCode(ContractCodeView { code: code.to_vec(), hash })
        }
        QueryRequest::CallFunction { account_id, method_name, args } => {
            match c.view(&account_id, &method_name, &args) {
                Ok(v) => QueryResponseKind::CallResult(CallResult { result: v.result, logs: v.logs }),
                Err(EngineError::UnknownAccount(a)) => return Err(unknown(&a).into()),
                Err(EngineError::NoCode(a)) => {
                    return Err(
                        RpcQueryError::NoContractCode { contract_account_id: a, block_height, block_hash }.into()
                    );
                }
                Err(e) => {
                    let vm_error = match &e {
                        EngineError::ViewFailed { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    return Err(RpcQueryError::ContractExecutionError {
                        error: FunctionCallError::ExecutionError(vm_error.clone()),
                        vm_error,
                        block_height,
                        block_hash,
                    }
                    .into());
                }
            }
        }
        other => {
            return Err(RpcQueryError::InternalError {
                error_message: format!("the PoR devnet does not serve this query: {other:?}"),
            }
            .into());
        }
    };
    Ok(RpcQueryResponse { kind, block_height, block_hash })
}

/// `2023-11-14T22:13:20.000000000Z` from nanoseconds since the epoch.
fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(super::rfc3339(1_700_000_000_000_000_001), "2023-11-14T22:13:20.000000001Z");
        assert_eq!(super::rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000000000Z");
    }
}
