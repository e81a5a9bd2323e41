//! The `por` command line: its clap definitions and what each command does.
//! `init`, `node run`, `config show`, `contract deploy`, `testnet`,
//! `completions` and `man` run here; everything else talks to a running
//! node through its HTTP API ([`crate::apiclient`]).
//!
//! Every command prints its result with `--output table|json`
//! ([`crate::output`]); logs go to stderr (`-v`, `-q`, `--log-format`).
//! The settings flags of `node run` and `config show` carry the same
//! environment variables as the configuration layer ([`crate::config::layers`]),
//! which reads them; a flag given on the command line wins.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod settings;

pub use settings::load_config;
use settings::{SettingsArgs, check_placeholders, settings_from_env};

use crate::apiclient::{DEFAULT_CONFIG, NodeApi, TOKEN_ENV, call, parse_amount};
use crate::config::{FileConfig, Flags, Network};
use crate::init::{InitOptions, init};
use crate::output::{Output, render};
#[cfg(feature = "devnet")]
use crate::testnet::{self, TestnetOptions};
use anyhow::{Context, anyhow, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use near_primitives::types::AccountId;
use por_node::backup::ChannelBackup;
use por_node::chain::{ContractConfig, DeployOptions, deploy};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// Proof of Response: paid requests with a latency guarantee.
#[derive(Parser, Debug)]
#[command(name = "por", version)]
pub struct Cli {
    /// Logging and output, for every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
    /// Settings flags whose value clap took from the environment: the
    /// configuration layer reads those itself, under their variable's name.
    #[arg(skip)]
    from_env: BTreeSet<String>,
}

/// The options every command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// More log output on stderr: -v debug, -vv trace (RUST_LOG, when set, wins).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output: -q warnings and errors, -qq errors only.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// The log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "POR_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// How the command prints its result on stdout.
    #[arg(long, value_enum, default_value_t = Output::Table, env = "POR_OUTPUT", global = true)]
    pub output: Output,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event.
    Json,
}

impl GlobalArgs {
    /// The log filter: `RUST_LOG` if set, else `info` moved by `-v`/`-q`.
    pub fn log_filter(&self) -> EnvFilter {
        if let Ok(f) = EnvFilter::try_from_default_env() {
            return f;
        }
        let level = match (i16::from(self.verbose) - i16::from(self.quiet)).clamp(-2, 2) {
            -2 => "error",
            -1 => "warn",
            0 => "info",
            1 => "debug",
            _ => "trace",
        };
        EnvFilter::new(level)
    }

    /// Sets up logging on stderr as asked.
    pub fn init_logging(&self) {
        use std::io::IsTerminal;
        // Colours only for a person at a terminal, never into a log file.
        let b = tracing_subscriber::fmt()
            .with_env_filter(self.log_filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        match self.log_format {
            LogFormat::Text => b.init(),
            LogFormat::Json => b.json().init(),
        }
    }
}

impl Cli {
    /// Parses the process's arguments, noting which settings flags came
    /// from the environment.
    pub fn from_args() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.from_env = settings_from_env(&matches);
        cli
    }

    /// As [`from_args`](Self::from_args), from `args` (the first is the program name).
    pub fn try_from_iter<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.from_env = settings_from_env(&matches);
        Ok(cli)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node's data directory, key and config, and register it on the contract.
    Init(InitArgs),
    /// Run a node.
    #[command(subcommand)]
    Node(NodeCmd),
    /// A running node's status and channels.
    Status(ApiArgs),
    /// A running node's connected peers.
    Peers(ApiArgs),
    /// The network as a running node sees it (what its page at /ui draws):
    /// the graph, the servers it used ranked by responses within bound,
    /// recent chain events.
    Network {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        args: crate::network_cli::NetworkArgs,
    },
    /// Channels: list, open, confirm, close, sever.
    Channel {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        cmd: ChannelCmd,
    },
    /// Send a paid request to a node over the best route and print its outcome.
    Request(RequestArgs),
    /// File sharing over PoR.
    Files(crate::files_cli::FilesArgs),
    /// The PoR contract.
    #[command(subcommand)]
    Contract(ContractCmd),
    /// The node's configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `por man > por.1`.
    Man,
    /// A local network: devnet, nodes, channels, demo traffic and a status table.
    #[cfg(feature = "devnet")]
    Testnet(TestnetArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// The data directory (created).
    #[arg(long, default_value = "./por-data")]
    data_dir: PathBuf,
    /// A network preset (devnet: the local `por testnet`; testnet: NEAR
    /// testnet): fills in the contract, the RPC endpoints and the bootstrap
    /// peers unless given below.
    #[arg(long)]
    network: Option<String>,
    /// NEAR JSON-RPC URL (repeatable, in order of preference; default: the
    /// network's, else http://127.0.0.1:3030).
    #[arg(long)]
    rpc: Vec<String>,
    /// The PoR contract's account (default: the network's, else por.devnet).
    #[arg(long)]
    contract: Option<String>,
    /// The operator's NEAR account (registers the node with it).
    #[arg(long, requires = "account_key")]
    account: Option<String>,
    /// The account's NEAR key file (copied into the data directory).
    #[arg(long)]
    account_key: Option<PathBuf>,
    /// Stake, in yocto or NEAR (`5NEAR`).
    #[arg(long, default_value = "5NEAR")]
    stake: String,
    /// Promised service time, ms.
    #[arg(long, default_value_t = 0)]
    service_ms: u64,
    /// libp2p listen address (repeatable).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/4001")]
    listen: Vec<String>,
    /// HTTP API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: String,
    /// Serve /metrics alone, without a token, on this address too (for Prometheus).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Bootstrap peer, a multiaddr ending in `/p2p/<peer id>` (repeatable;
    /// default: the network's).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Confirm channels proposed to this node with this deposit (yocto or NEAR).
    #[arg(long)]
    accept_deposit: Option<String>,
    /// A service to serve, `name=http://host:port/path` (repeatable).
    #[arg(long)]
    service: Vec<String>,
    /// Write the files only; do not register on the contract.
    #[arg(long)]
    no_register: bool,
    /// Overwrite an existing por.toml.
    #[arg(long)]
    force: bool,
    /// Also create a function-call access key for the agent (function-key.json),
    /// limited to the contract's calls without a deposit, and add it on chain.
    #[arg(long, requires = "account")]
    function_key: bool,
}

#[derive(Subcommand, Debug)]
enum NodeCmd {
    /// Run the node of a config file until Ctrl-C or SIGTERM. Settings come
    /// from the defaults, the network preset, the file, POR_* variables and
    /// the flags below, a later one winning (`por config show` lists them).
    Run {
        /// The config file (see por/por.example.toml).
        #[arg(long, default_value = DEFAULT_CONFIG, env = "POR_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the effective configuration, each value with its source
    /// (default, network, file, env, flag).
    Show {
        /// The config file (default: ./por-data/por.toml if it exists, else none).
        #[arg(long, env = "POR_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Args, Debug)]
struct ApiArgs {
    /// The node's HTTP API, e.g. http://127.0.0.1:8080 (default: from the config, else that).
    #[arg(long, global = true)]
    api: Option<String>,
    /// The node's config file, to read [api] listen and the token in its data
    /// directory from (default: ./por-data/por.toml if it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A file holding the API token (default: $POR_API_TOKEN, else
    /// api-admin.token in the config's data directory).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ChannelCmd {
    /// The node's channels.
    List,
    /// Write a backup of the running node's channels (setups, best vouchers,
    /// credit) to FILE, mode 0600.
    Export {
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Bring a channel backup into the empty store of a stopped node (its
    /// data directory from --config, with its node.key in place).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Propose a channel to PEER (an account); the peer confirms it.
    Open {
        /// The peer's NEAR account.
        #[arg(long)]
        peer: String,
        /// Our deposit plus the contract's channel storage fee (yocto or NEAR).
        #[arg(long)]
        deposit: String,
        /// Promised one-way latency, ms.
        #[arg(long)]
        latency_ms: u64,
        /// Fee per message (yocto or NEAR).
        #[arg(long)]
        base_fee: String,
        /// Fee per byte (yocto or NEAR).
        #[arg(long, default_value = "0")]
        byte_fee: String,
    },
    /// Confirm a channel proposed to this node.
    Confirm {
        /// The channel id.
        id: u64,
        /// Our deposit (yocto or NEAR).
        #[arg(long)]
        deposit: String,
    },
    /// Propose a cooperative close (the peer's node confirms it).
    Close {
        /// The channel id.
        id: u64,
    },
    /// Cut a channel now (adversarial close, with the best voucher held).
    Sever {
        /// The channel id.
        id: u64,
    },
}

#[derive(Args, Debug)]
struct RequestArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The server: its NEAR account or node key (hex).
    #[arg(long)]
    to: String,
    /// The service at the server.
    #[arg(long)]
    service: String,
    /// The request body as text.
    #[arg(long, default_value = "")]
    body: String,
    /// The most response bytes to accept and pay for.
    #[arg(long, default_value_t = 65536)]
    max_response_bytes: u64,
    /// The most to pay over all attempts (yocto or NEAR; `none` for no
    /// limit). Default 0.01 NEAR.
    #[arg(long)]
    max_cost: Option<String>,
    /// The largest bound a route may have, ms.
    #[arg(long)]
    max_bound_ms: Option<u64>,
    /// Attempts over different routes.
    #[arg(long, default_value_t = 3)]
    attempts: u32,
}

#[derive(Subcommand, Debug)]
enum ContractCmd {
    /// Deploy the contract wasm on ACCOUNT and initialise it.
    Deploy {
        /// RPC URL (e.g. `https://rpc.testnet.near.org` or the devnet's URL).
        #[arg(long)]
        rpc: String,
        /// Account to deploy on.
        #[arg(long)]
        account: AccountId,
        /// NEAR key file of a full-access key of ACCOUNT.
        #[arg(long)]
        key: PathBuf,
        /// The contract wasm.
        #[arg(long, default_value = "artifacts/por_contract.wasm")]
        wasm: PathBuf,
        /// JSON file with the contract config (see contract/API.md); default:
        /// a public-network config owned by ACCOUNT.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Deploy only (upgrade an initialised contract): do not call `new`.
        #[arg(long)]
        no_init: bool,
    },
}

#[cfg(feature = "devnet")]
#[derive(Args, Debug)]
struct TestnetArgs {
    /// Nodes to run.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Where the state lives.
    #[arg(long, default_value = "testnet")]
    dir: PathBuf,
    /// The contract wasm.
    #[arg(long, default_value = "artifacts/por_contract.wasm")]
    wasm: PathBuf,
    /// The devnet's RPC port.
    #[arg(long, default_value_t = 3030)]
    rpc_port: u16,
    /// Node i listens for libp2p on this port + i.
    #[arg(long, default_value_t = 4101)]
    p2p_port: u16,
    /// Funded devnet accounts beyond the nodes' (node<N>.devnet on), for
    /// nodes you join with `por init --network devnet`.
    #[arg(long, default_value_t = 3)]
    spare_accounts: usize,
    /// Node i serves its API on this port + i.
    #[arg(long, default_value_t = 8081)]
    api_port: u16,
    /// Node i serves /metrics (no token) on this port + i.
    #[arg(long, default_value_t = 9181)]
    metrics_port: u16,
    /// The demo echo service's port.
    #[arg(long, default_value_t = 9100)]
    echo_port: u16,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    for_secs: Option<u64>,
}

fn api_base(a: &ApiArgs) -> anyhow::Result<NodeApi> {
    let env = std::env::var(TOKEN_ENV).ok();
    NodeApi::resolve(a.api.as_deref(), a.config.as_deref(), a.token_file.as_deref(), env.as_deref())
        .map_err(|e| anyhow!("{e}"))
}

fn amount(what: &str, s: &str) -> anyhow::Result<u128> {
    parse_amount(s).map_err(|e| anyhow!("--{what}: {e}"))
}

async fn api(base: &NodeApi, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    call(base, method, path, body.as_ref()).await.map_err(|e| anyhow!("{e}"))
}

fn print(output: Output, v: &Value) {
    print!("{}", render(output, v));
}

/// `por channel restore`: checks the backup against the data directory's
/// node key and the config's contract, then writes it into the node's
/// store, which must hold no channel (and must not be open: a running node
/// holds its lock).
fn restore_channels(config: Option<&std::path::Path>, file: &std::path::Path) -> anyhow::Result<usize> {
    let config = config.map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let cfg: FileConfig = load_config(Some(&config), &Flags::default())?.config;
    let data = &cfg.node.data_dir;
    let key_file = data.join("node.key");
    if !key_file.exists() {
        anyhow::bail!(
            "{} is missing: put the node's key back first (a backup belongs to one node key)",
            key_file.display()
        );
    }
    let seed = por_node::keys::load_or_create(&key_file, [0; 32])?;
    let node = por_core::Signer::public(&por_core::NodeSigner::from_seed(seed));
    let backup = ChannelBackup::read(file)?;
    backup
        .check(&node, &cfg.chain.contract, &por_core::Ed25519Verifier)
        .map_err(|e| anyhow!("{} cannot be restored: {e}", file.display()))?;
    let store = por_node::store::Store::open(&data.join("channels.redb"))
        .map_err(|e| anyhow!("{e} (is the node still running? stop it first)"))?;
    Ok(backup.restore_into(&store)?)
}

/// Carries out one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = cli.global.output;
    match cli.command {
        Command::Init(a) => {
            let mut o = InitOptions::new(&a.data_dir);
            o.network =
                a.network.as_deref().map(str::parse::<Network>).transpose().map_err(|e| anyhow!("--network: {e}"))?;
            o.rpc = a.rpc;
            o.contract = a.contract;
            o.account = a.account.zip(a.account_key);
            o.stake = amount("stake", &a.stake)?;
            o.service_ms = a.service_ms;
            o.listen = a.listen;
            o.api = a.api;
            o.metrics_listen = a.metrics_listen;
            o.bootstrap = a.bootstrap;
            o.accept_deposit = a.accept_deposit.as_deref().map(|d| amount("accept-deposit", d)).transpose()?;
            o.services = a
                .service
                .iter()
                .map(|s| {
                    s.split_once('=')
                        .map(|(n, u)| (n.to_string(), u.to_string()))
                        .ok_or_else(|| anyhow!("--service {s:?}: give name=http://host:port/path"))
                })
                .collect::<anyhow::Result<_>>()?;
            o.register = !a.no_register;
            o.force = a.force;
            o.function_key = a.function_key;
            let r = init(&o, rand::random()).await?;
            let registered = match (r.index, r.registered_now) {
                (Some(i), true) => format!("registered now as node {i}"),
                (Some(i), false) => format!("already registered as node {i}"),
                (None, _) => "not registered (no --account, or --no-register)".into(),
            };
            let mut v = json!({
                "node_key": r.key.to_hex(),
                "peer_id": r.key.peer_id().to_string(),
                "config": r.config.display().to_string(),
                "config_written": r.wrote_config,
                "registration": registered,
                "node_index": r.index,
                "api_token": r.api_token.display().to_string(),
                "api_token_readonly": r.api_token.with_file_name(por_node::api::auth::READONLY_TOKEN_FILE).display().to_string(),
                "next": format!("por node run --config {}", r.config.display()),
            });
            if let Some((key, added)) = &r.function_key {
                v["function_key"] =
                    json!({ "public_key": key, "added_now": added, "file": crate::init::FUNCTION_KEY_FILE });
            }
            print(out, &v);
        }
        Command::Node(NodeCmd::Run { config, settings }) => {
            let loaded = load_config(Some(&config), &settings.flags(&cli.from_env)?)?;
            check_placeholders(&loaded)?;
            crate::run::run(&loaded.config, rand::random(), out, crate::run::stop_signal()).await?;
        }
        Command::Config(ConfigCmd::Show { config, settings }) => {
            let default = Path::new(DEFAULT_CONFIG);
            let file = config.as_deref().or(default.exists().then_some(default));
            let loaded = load_config(file, &settings.flags(&cli.from_env)?)?;
            match out {
                Output::Json => print(
                    out,
                    &json!({
                        "file": loaded.file.as_ref().map(|f| f.display().to_string()),
                        "settings": crate::config::layers::show_json(&loaded),
                    }),
                ),
                Output::Table => {
                    if let Some(f) = &loaded.file {
                        println!("# {}", f.display());
                    }
                    print!("{}", crate::config::layers::show_table(&loaded));
                }
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "por", &mut std::io::stdout());
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).context("writing the man page")?;
        }
        Command::Status(a) => {
            let base = api_base(&a)?;
            let status = api(&base, "GET", "/status", None).await?;
            let channels = api(&base, "GET", "/channels", None).await?;
            print(out, &json!({ "status": status, "channels": channels["channels"] }));
        }
        Command::Peers(a) => print(out, &api(&api_base(&a)?, "GET", "/peers", None).await?),
        Command::Network { api: a, args } => {
            let v = crate::network_cli::fetch(&api_base(&a)?, args.events).await?;
            if args.json || out == Output::Json {
                print(Output::Json, &serde_json::to_value(&v)?);
            } else {
                print!("{}", crate::network_cli::render_tables(&v));
            }
        }
        Command::Channel { api: a, cmd: ChannelCmd::Restore { file } } => {
            let n = restore_channels(a.config.as_deref(), &file)?;
            print(out, &json!({ "restored": n, "from": file.display().to_string() }));
        }
        Command::Channel { api: a, cmd } => {
            let base = api_base(&a)?;
            let v = match cmd {
                ChannelCmd::List => api(&base, "GET", "/channels", None).await?,
                ChannelCmd::Export { out } => {
                    let v = api(&base, "GET", "/channels/backup", None).await?;
                    let b: ChannelBackup =
                        serde_json::from_value(v).map_err(|e| anyhow!("the node's backup does not parse: {e}"))?;
                    b.write(&out)?;
                    json!({ "written": out.display().to_string(), "channels": b.channels.len() })
                }
                // (Handled by the arm above: it needs no API.)
                ChannelCmd::Restore { .. } => bail!("restore works on a stopped node's data directory"),
                ChannelCmd::Open { peer, deposit, latency_ms, base_fee, byte_fee } => {
                    let body = json!({
                        "peer": peer,
                        "deposit": amount("deposit", &deposit)?.to_string(),
                        "latency_ms": latency_ms,
                        "base_fee": amount("base-fee", &base_fee)?.to_string(),
                        "byte_fee": amount("byte-fee", &byte_fee)?.to_string(),
                    });
                    api(&base, "POST", "/channels", Some(body)).await?
                }
                ChannelCmd::Confirm { id, deposit } => {
                    let body = json!({ "deposit": amount("deposit", &deposit)?.to_string() });
                    api(&base, "POST", &format!("/channels/{id}/confirm"), Some(body)).await?
                }
                ChannelCmd::Close { id } => api(&base, "POST", &format!("/channels/{id}/close"), None).await?,
                ChannelCmd::Sever { id } => api(&base, "POST", &format!("/channels/{id}/sever"), None).await?,
            };
            print(out, &v);
        }
        Command::Request(r) => {
            let base = api_base(&r.api)?;
            let mut body = json!({
                "to": r.to,
                "service": r.service,
                "body": r.body,
                "max_response_bytes": r.max_response_bytes,
                "attempts": r.attempts,
            });
            match r.max_cost.as_deref() {
                None => {}
                Some("none") => body["max_cost"] = json!("none"),
                Some(c) => body["max_cost"] = json!(amount("max-cost", c)?.to_string()),
            }
            if let Some(b) = r.max_bound_ms {
                body["max_bound_ms"] = json!(b);
            }
            let v = api(&base, "POST", "/send", Some(body)).await?;
            print(out, &v);
            if v["outcome"] != "response" {
                bail!("no response: outcome {}", v["outcome"]);
            }
        }
        Command::Files(a) => crate::files_cli::run(a, out).await.map_err(|e| anyhow!("{e}"))?,
        Command::Contract(ContractCmd::Deploy { rpc, account, key, wasm, config, no_init }) => {
            let config = if no_init {
                None
            } else if let Some(path) = config {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
                Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?)
            } else {
                Some(ContractConfig::public_default(account.clone()))
            };
            let d = deploy(&DeployOptions { rpc, account: account.clone(), key_file: key, wasm, config }).await?;
            print(
                out,
                &json!({ "deployed_on": account.to_string(), "transaction": d.tx_hash.to_string(), "gas_burnt": d.gas_burnt }),
            );
        }
        #[cfg(feature = "devnet")]
        Command::Testnet(t) => {
            let o = TestnetOptions {
                nodes: t.nodes,
                dir: t.dir,
                wasm: t.wasm,
                rpc_port: t.rpc_port,
                p2p_port: t.p2p_port,
                spare_accounts: t.spare_accounts,
                api_port: t.api_port,
                metrics_port: t.metrics_port,
                echo_port: t.echo_port,
                run_for: t.for_secs.map(std::time::Duration::from_secs),
                ..TestnetOptions::default()
            };
            // Listen for Ctrl-C from the start (a spawned task polls at
            // once), so that one during start-up still stops the nodes
            // started so far instead of killing this process alone.
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let ctrl_c = tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(());
            });
            let tally = testnet::run(&o, async {
                let _ = rx.await;
            })
            .await;
            ctrl_c.abort();
            let tally = tally?;
            match out {
                // The line `make testnet` and its test read.
                Output::Table => println!("demo requests by outcome: {:?}", tally.outcomes),
                Output::Json => {
                    print(out, &json!({ "outcomes": tally.outcomes, "late_fees": tally.late_fees.to_string() }))
                }
            }
        }
    }
    Ok(())
}
