use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::accounts::{add_expert, NewExpert};
use switchboard::config::Config;
use switchboard::store::model::Role;
use switchboard::store::{Store, StoreError};

/// mimalloc: per-thread free lists without glibc's arena locks (the message path allocates
/// on both workers and the flusher), and argon2's 19 MiB blocks go back to the system when
/// freed instead of staying pinned in an arena. Built without transparent huge pages, which
/// would back every touched arena page with 2 MiB and cost idle connections dearly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Self-hosted live chat for customer care")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Configuration file (default: config.toml in the working directory, if present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage expert accounts directly in the data directory (server stopped; while it runs,
    /// use the admin page or `POST /api/v1/experts`).
    Expert {
        #[command(subcommand)]
        action: ExpertCommand,
    },
    /// Write every record as JSON lines: from the data directory (server stopped), or with
    /// --server from a running server (an online backup).
    Export {
        #[arg(long, conflicts_with = "server")]
        config: Option<PathBuf>,
        /// Default: standard output. A file is written whole or not at all.
        #[arg(long)]
        output: Option<PathBuf>,
        /// A running server's base URL (http://HOST:PORT or https://HOST:PORT): back it up while it serves. The admin
        /// token comes from SWITCHBOARD_ADMIN_TOKEN or --token-file, never the command line.
        #[arg(long)]
        server: Option<String>,
        /// A file whose first line is the admin token, instead of SWITCHBOARD_ADMIN_TOKEN.
        #[arg(long, requires = "server")]
        token_file: Option<PathBuf>,
        /// For an https server: trust the certificates in this PEM file (its CA, or its own
        /// self-signed certificate) instead of the system's.
        #[arg(long, requires = "server")]
        ca_file: Option<PathBuf>,
    },
    /// Read an export into an empty data directory (server stopped).
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Default: standard input.
        #[arg(long)]
        input: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExpertCommand {
    /// Create an expert account.
    Add {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
        /// Read from the first line of standard input when omitted.
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        name: String,
        /// Comma-separated category ids.
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// Comma-separated certification names.
        #[arg(long, value_delimiter = ',')]
        certifications: Vec<String>,
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// Give the account the role `admin`: its login can do everything the admin token can.
        #[arg(long)]
        admin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(config),
        Command::Expert { action } => expert(action),
        Command::Export { config, output, server: None, .. } => export(config, output),
        Command::Export { output, server: Some(server), token_file, ca_file, .. } => {
            backup(&server, token_file, ca_file, output)
        }
        Command::Import { config, input } => import(config, input),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(path.as_deref())?)
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.server.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let listener = std::net::TcpListener::bind(config.server.bind)?;
    actix_web::rt::System::new().block_on(async {
        // Installed before the server prints that it is listening: a SIGTERM that follows the
        // line at once must shut it down gracefully, not end it with the signal's default.
        let shutdown = shutdown_signal()?;
        switchboard::run(config, listener, shutdown).await
    })?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT; both handlers are registered when this returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn expert(action: ExpertCommand) -> anyhow::Result<()> {
    let ExpertCommand::Add {
        config,
        username,
        password,
        name,
        categories,
        certifications,
        max_concurrent,
        admin,
    } = action;
    let config = load(config)?;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let store = match Store::configured(&config) {
        Ok(store) => store,
        Err(StoreError::Locked(dir)) => anyhow::bail!("{}", while_running(&dir, &config)),
        Err(e) => return Err(e.into()),
    };
    let known: Vec<String> = config.categories.iter().map(|c| c.id.clone()).collect();
    let roles = if admin { vec![Role::Admin] } else { Vec::new() };
    let new = NewExpert { username, password, name, categories, certifications, max_concurrent, roles };
    let expert = add_expert(&store, &known, new)?;
    // The store syncs as it drops: it must say so if that fails rather than report success.
    tokio::runtime::Builder::new_current_thread().build()?.block_on(store.sync())?;
    let role = if admin { " as an admin" } else { "" };
    println!("created expert {} ({}){role}", expert.id, expert.username);
    Ok(())
}

/// What to do instead when a running server holds the data directory: the server adds
/// experts itself, through the admin page or the API.
fn while_running(dir: &str, config: &Config) -> String {
    let bind = config.server.bind;
    let base = match (bind.ip().is_unspecified(), bind.port()) {
        (_, 0) => "http://SERVER".to_owned(),
        (true, port) => format!("http://localhost:{port}"),
        (false, _) => format!("http://{bind}"),
    };
    format!(
        "the data directory {dir} is in use by a running server.\n\
         To add an expert while it runs, use the admin page ({base}/admin, signed in as an admin \
         expert or with the admin token), or the API:\n  \
         curl -X POST {base}/api/v1/experts -H 'Authorization: Bearer ADMIN_TOKEN' \
         -H 'Content-Type: application/json' \
         -d '{{\"username\":\"ada\",\"password\":\"...\",\"name\":\"Ada\",\"roles\":[]}}'\n\
         where ADMIN_TOKEN is server.admin_token or an admin expert's login token \
         (POST {base}/api/v1/login). With no admin yet, open {base}/console and create the \
         first admin with the setup code the server printed at start.\n\
         Or stop the server and run this command again."
    )
}

fn export(config: Option<PathBuf>, output: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let dir = &config.server.data_dir;
    // Opening creates a missing directory: a mistyped path would export nothing, quietly.
    if !config.cluster.enabled() && !dir.is_dir() {
        anyhow::bail!("there is no data directory at {}", dir.display());
    }
    let store = Store::configured(&config).map_err(|e| match e {
        StoreError::Locked(_) => anyhow::anyhow!(
            "{e}; to back up a running server, use `switchboard export --server http://HOST:PORT`"
        ),
        e => e.into(),
    })?;
    let counts = write_output(output, |out| switchboard::export::export(&store, out))?;
    eprintln!("exported {counts}");
    Ok(())
}

/// `export --server`: the running server's online export.
fn backup(
    server: &str,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    use switchboard::export::fetch;
    let token = fetch::admin_token(token_file.as_deref())?;
    let records = write_output(output, |out| fetch::fetch(server, &token, ca_file.as_deref(), out))?;
    eprintln!("backed up {records} records from {server}");
    Ok(())
}

/// Runs `write` into `output` (stdout when `None`). A file is written beside its final name
/// and renamed once whole and on disk, so a failed run never leaves a partial file where the
/// last good one was, and nobody deletes an old data dir on the strength of half a file.
fn write_output<T>(
    output: Option<PathBuf>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let done = write(&mut out)?;
        out.flush()?;
        return Ok(done);
    };
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let written = write(&mut out).and_then(|done| {
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, &path)
            .map_err(|e| anyhow::anyhow!("renaming to {}: {e}", path.display()))?;
        // The rename itself on disk too.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
        Ok(done)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

fn import(config: Option<PathBuf>, input: Option<PathBuf>) -> anyhow::Result<()> {
    let store = Store::configured(&load(config)?)?;
    let counts = match input {
        Some(path) => {
            let file =
                std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
            switchboard::export::import(&store, &mut std::io::BufReader::new(file))?
        }
        None => switchboard::export::import(&store, &mut std::io::stdin().lock())?,
    };
    // Dropping the store would flush too, but silently: an import must say if it failed.
    tokio::runtime::Builder::new_current_thread().build()?.block_on(store.sync())?;
    eprintln!("imported {counts}");
    Ok(())
}
