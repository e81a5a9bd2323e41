//! `por files add | get | ls`: talks to a running node through its HTTP API
//! (`--api URL`, or the `[api] listen` of `--config`, default
//! `http://127.0.0.1:8080`), with the token found as every command finds it
//! ([`crate::apiclient::NodeApi::resolve`]).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::apiclient::NodeApi;
use crate::output::{Output, render};

/// `por files`.
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// The node's HTTP API, e.g. `http://127.0.0.1:8080` (default: from
    /// --config, else that).
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// The node's config file, to read `[api] listen` and the token in its
    /// data directory from (default: `./por-data/por.toml` if it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// A file holding the API token (default: `$POR_API_TOKEN`, else
    /// `api-admin.token` in the config's data directory).
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub cmd: FilesCmd,
}

/// The `por files` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum FilesCmd {
    /// Add a file or a directory; prints its content id.
    Add {
        /// The file or directory (on the node's machine, inside one of its
        /// share folders, `[files].share_dirs`).
        path: PathBuf,
    },
    /// Fetch a file or directory by content id, paying providers over PoR.
    Get {
        /// The content id (64 hex digits).
        id: String,
        /// Where to write it, in the node's download folder
        /// (`[files].download_dir`): a path relative to that folder, or an
        /// absolute path inside it. It must not exist.
        #[arg(short, long)]
        out: PathBuf,
        /// The most to spend, yocto.
        #[arg(long)]
        max_price: String,
        /// A provider's peer id to try besides the DHT's (repeatable).
        #[arg(long)]
        provider: Vec<String>,
        /// Keep a directory manifest as a file instead of fetching the tree.
        #[arg(long)]
        raw: bool,
    },
    /// List the files the node holds.
    Ls,
}

/// A CLI failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn err(s: impl Into<String>) -> CliError {
    CliError(s.into())
}

/// Runs `por files …`. With `--output table`, `add` prints the content id
/// alone on stdout (for scripts: `id=$(por files add F)`) and `ls` one line
/// per file; with `--output json`, the node's answers.
pub async fn run(args: FilesArgs, output: Output) -> Result<(), CliError> {
    let api = api_base(&args)?;
    match args.cmd {
        FilesCmd::Add { path } => {
            let path = absolute(path)?;
            let v = call(&api, "POST", "/files/add", Some(json!({ "path": path }))).await?;
            if output == Output::Json {
                print!("{}", render(output, &v));
                return Ok(());
            }
            println!("{}", v["id"].as_str().unwrap_or_default());
            let kind = if v["dir"].as_bool() == Some(true) { "directory" } else { "file" };
            eprintln!("added {kind} {} ({} file(s), {} bytes)", path.display(), v["files"], v["size"]);
        }
        FilesCmd::Ls => {
            let v = call(&api, "GET", "/files", None).await?;
            if output == Output::Json {
                print!("{}", render(output, &v));
                return Ok(());
            }
            let list = v["files"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                eprintln!("no files yet; add one with `por files add PATH`");
            }
            for f in list {
                let kind = if f["dir"].as_bool() == Some(true) { "dir " } else { "file" };
                println!(
                    "{} {kind} {:>14} {:>9} {}/{} {}",
                    f["id"].as_str().unwrap_or_default(),
                    f["size"],
                    f["state"].as_str().unwrap_or_default(),
                    f["verified_blocks"],
                    f["blocks"],
                    f["name"].as_str().unwrap_or("")
                );
            }
        }
        FilesCmd::Get { id, out, max_price, provider, raw } => {
            // Sent as given: the node resolves it in its download folder.
            let body = json!({ "id": id, "max_price": max_price, "out": out, "raw": raw, "providers": provider });
            let v = call(&api, "POST", "/files/get", Some(body)).await?;
            let out = v["out"].as_str().map(PathBuf::from).unwrap_or(out);
            let last = follow(&api, &id, &out).await?;
            if output == Output::Json {
                print!("{}", render(output, &last));
            }
        }
    }
    Ok(())
}

/// Polls a download and draws its progress bar until it ends.
async fn follow(api: &NodeApi, id: &str, out: &std::path::Path) -> Result<Value, CliError> {
    let bar = ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    loop {
        let v = call(api, "GET", &format!("/files/get/{id}"), None).await?;
        let p = &v["progress"];
        let size = p["size"].as_u64().unwrap_or(0);
        let verified = p["verified_blocks"].as_u64().unwrap_or(0);
        let blocks = p["blocks"].as_u64().unwrap_or(0).max(1);
        bar.set_length(size);
        bar.set_position(if verified >= blocks { size } else { verified * por_files::tree::BLOCK_SIZE });
        bar.set_message(format!(
            "{} | spent {} yocto | providers {} active, {} skipped, {} dropped",
            p["state"].as_str().unwrap_or_default(),
            p["spent"].as_str().unwrap_or("0"),
            p["providers_active"],
            p["providers_skipped"],
            p["providers_dropped"]
        ));
        match p["state"].as_str() {
            Some("done") => {
                bar.finish();
                eprintln!("fetched {id} to {} (spent {} yocto)", out.display(), p["spent"].as_str().unwrap_or("0"));
                return Ok(v);
            }
            Some("failed") => {
                bar.abandon();
                return Err(err(format!("download failed: {}", p["error"].as_str().unwrap_or("unknown reason"))));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn absolute(p: PathBuf) -> Result<PathBuf, CliError> {
    if p.is_absolute() {
        return Ok(p);
    }
    let cwd = std::env::current_dir().map_err(|e| err(format!("cannot read the current directory: {e}")))?;
    Ok(cwd.join(p))
}

fn api_base(args: &FilesArgs) -> Result<NodeApi, CliError> {
    let env = std::env::var(crate::apiclient::TOKEN_ENV).ok();
    NodeApi::resolve(args.api.as_deref(), args.config.as_deref(), args.token_file.as_deref(), env.as_deref())
        .map_err(|e| CliError(e.0))
}

/// One JSON call to the API (see [`crate::apiclient::call`]); a non-2xx
/// answer becomes its `error`.
pub async fn call(api: &NodeApi, method: &str, path: &str, body: Option<Value>) -> Result<Value, CliError> {
    crate::apiclient::call(api, method, path, body.as_ref()).await.map_err(|e| CliError(e.0))
}
